//! Stage 1 entering the container's user namespace, before any other namespace is created so
//! that they all belong to it (which is what lets stage 2 mount proc, sysfs, mqueue and cgroup
//! file systems): `unshare(CLONE_NEWUSER)`, then the shim — privileged outside — writes the
//! id maps (`map-ids` / `ids-mapped`), then stage 1 becomes root inside.
//!
//! A container that joins another container's network namespace (`--network container:…`)
//! joins that container's user namespace instead, whose mapping must be the same: a network
//! namespace owned by another user namespace would refuse the new sysfs.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use super::error::{Context, InitError, Result};
use super::sync::{self, SyncChannel};
use crate::runtime::spec::{IdMapping, NamespacesSpec, NetworkNamespace};

/// `NS_GET_USERNS` (linux/nsfs.h): the user namespace that owns a namespace, as a new fd.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

/// Enters the container's user namespace and becomes root (0:0, no supplementary groups) in it.
pub fn enter(sync: &SyncChannel, mapping: &IdMapping, namespaces: &NamespacesSpec) -> Result<()> {
    match joined_owner(namespaces)? {
        Some(owner) => {
            setns(owner.as_fd(), CloneFlags::CLONE_NEWUSER)
                .context(|| "joining the user namespace of the joined network namespace".to_string())?;
            let map = std::fs::read_to_string("/proc/self/uid_map").context(|| "reading uid_map".to_string())?;
            if !mapping.matches_uid_map(&map) {
                return Err(InitError::Setup(
                    "the joined network namespace belongs to a container with another id mapping".to_string(),
                ));
            }
        }
        None => {
            unshare(CloneFlags::CLONE_NEWUSER).context(|| "unshare(CLONE_NEWUSER)".to_string())?;
            sync.send(sync::MAP_IDS)?;
            sync.expect(sync::IDS_MAPPED)?;
        }
    }
    nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .context(|| "becoming group 0 in the user namespace".to_string())?;
    nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .context(|| "becoming root in the user namespace".to_string())?;
    nix::unistd::setgroups(&[]).context(|| "dropping the host's groups".to_string())
}

/// The user namespace owning a joined network namespace, when it is not this process's own
/// (the host's): another user-namespaced container's.
fn joined_owner(namespaces: &NamespacesSpec) -> Result<Option<OwnedFd>> {
    let NetworkNamespace::Join(path) = &namespaces.network else {
        return Ok(None);
    };
    let netns = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .context(|| format!("opening network namespace {}", path.display()))?;
    // SAFETY: NS_GET_USERNS takes no argument and returns a new fd.
    let fd = unsafe { libc::ioctl(netns.as_raw_fd(), NS_GET_USERNS as _) };
    let fd = Errno::result(fd).context(|| format!("finding the owner of {}", path.display()))?;
    // SAFETY: the ioctl returned a fresh fd nothing else owns.
    let owner = unsafe { OwnedFd::from_raw_fd(fd) };
    let theirs = nix::sys::stat::fstat(&owner).context(|| "inspecting a user namespace".to_string())?;
    let ours = std::fs::metadata("/proc/self/ns/user").context(|| "inspecting /proc/self/ns/user".to_string())?;
    Ok((theirs.st_ino != ours.ino()).then_some(owner))
}
