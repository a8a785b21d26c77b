//! Acting on a user-namespaced container's files from outside with the file-system identity of
//! its root: host root has no id on an idmapped mount of the container's range, so what it
//! creates there (overlayfs's work directory when the overlay is mounted, a file `docker cp`
//! writes into a running container) would fail with EOVERFLOW. The file-system uid and gid
//! switch to the range's root for as long as the guard lives, with every capability kept; both
//! are per-thread, so a multi-threaded daemon uses it on a thread of its own.

use nix::unistd::{Gid, Uid};

use super::IdMapping;
use crate::runtime::init::capabilities;

/// The file-system uid and gid of the container's root, with every capability still effective,
/// for as long as it lives; host root again afterwards.
pub struct ContainerRootIdentity(());

impl ContainerRootIdentity {
    /// Switches this thread's file-system ids to the mapping's root.
    pub fn assume(mapping: &IdMapping) -> std::io::Result<ContainerRootIdentity> {
        nix::unistd::setfsgid(Gid::from_raw(mapping.host_gid));
        nix::unistd::setfsuid(Uid::from_raw(mapping.host_uid));
        // Restored by drop even when raising fails.
        let identity = ContainerRootIdentity(());
        // The kernel drops the file capabilities from the effective set when the fsuid leaves 0.
        capabilities::raise_effective().map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(identity)
    }
}

impl Drop for ContainerRootIdentity {
    fn drop(&mut self) {
        nix::unistd::setfsuid(Uid::from_raw(0));
        nix::unistd::setfsgid(Gid::from_raw(0));
        let _ = capabilities::raise_effective();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_the_range_root_until_dropped() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root to change the file-system ids");
            return;
        }
        // On a thread of its own: file-system ids are per thread.
        std::thread::spawn(|| {
            let fs_uid = || {
                let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
                let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
                line.split_whitespace().nth(4).unwrap().parse::<u32>().unwrap()
            };
            {
                let _identity = ContainerRootIdentity::assume(&IdMapping::range(100_000, 65_536)).unwrap();
                assert_eq!(fs_uid(), 100_000);
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("f"), b"").unwrap();
                use std::os::unix::fs::MetadataExt;
                assert_eq!(std::fs::metadata(dir.path().join("f")).unwrap().uid(), 100_000);
            }
            assert_eq!(fs_uid(), 0);
        })
        .join()
        .unwrap();
    }
}
