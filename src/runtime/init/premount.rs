//! The root filesystem of a user-namespaced container, mounted by stage 1 while it is still
//! privileged on the host, in a private mount namespace that the container's own (owned by its
//! user namespace) is then copied from. Mounting it there rather than in stage 2 keeps
//! overlayfs's `trusted.overlay.*` marks (opaque directories, redirects) working: inside a user
//! namespace overlayfs could only read `user.overlay.*` ones.
//!
//! With idmapped layers, the lower layers and the bundle (upper/, work/ and the generated /etc
//! files) are each covered by an idmapped clone of themselves, and the overlay is mounted with
//! the file-system identity of the container's root: overlayfs does all its own work in the
//! upper layer (its work directory, copy-ups, whiteouts) with the mounter's credentials, and
//! host root has no id on an idmapped mount of this range. Without idmapped layers the lower
//! layers are shifted copies and the overlay is mounted as it is for any other container.

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid};

use super::capabilities;
use super::error::{Context, InitError, Result};
use super::mounts::{self, parse_options};
use super::rootfs;
use crate::runtime::spec::{IdMapping, MountKind, MountSpec, RootfsSpec};
use crate::runtime::userns::{holder, idmap};

/// Mounts `rootfs` at its `merged` path in a new private mount namespace of this process, and
/// makes it the working directory. `bundle` must hold upper/ and work/ (it is idmapped as a
/// whole).
pub fn mount_rootfs(rootfs: &RootfsSpec, bundle: &Path, mapping: &IdMapping) -> Result<()> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).context(|| "unshare(CLONE_NEWNS)".to_string())?;
    nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .context(|| "making / a recursive slave".to_string())?;
    if !rootfs.idmapped {
        rootfs::mount_overlay(rootfs)?;
        return enter_root(rootfs);
    }
    for dir in [&rootfs.upper, &rootfs.work, &rootfs.merged] {
        if dir.parent() != Some(bundle) {
            return Err(InitError::Setup(format!(
                "{} is not directly in the bundle {}",
                dir.display(),
                bundle.display()
            )));
        }
    }
    let userns = holder::user_namespace(mapping).map_err(|e| InitError::setup("making a user namespace", e))?;
    let mut seen = HashSet::new();
    for dir in rootfs.lower.iter().map(AsRef::as_ref).chain([bundle]) {
        // An image may hold the same layer twice; an idmapped mount cannot be idmapped again.
        if seen.insert(dir) {
            idmap::idmap_in_place(dir, std::os::fd::AsFd::as_fd(&userns)).map_err(InitError::Setup)?;
        }
    }
    {
        let _identity = ContainerRootIdentity::assume(mapping)?;
        rootfs::mount_overlay(rootfs)?;
    }
    enter_root(rootfs)
}

/// Makes the mounted overlay the working directory, which the next `unshare(CLONE_NEWNS)` carries
/// over to the copy of it in the new mount namespace: stage 2 opens its root as `.`.
fn enter_root(rootfs: &RootfsSpec) -> Result<()> {
    nix::unistd::chdir(&rootfs.merged).context(|| format!("entering {}", rootfs.merged.display()))
}

/// Detached copies of the bind sources of `mounts` (None for the other kinds), resolved now
/// with the host's privileges: the container's root, in stage 2, could not walk the daemon's
/// directories to them.
pub fn bind_sources(mounts: &[MountSpec]) -> Result<Vec<Option<OwnedFd>>> {
    mounts
        .iter()
        .map(|mount| match mount.kind {
            MountKind::Bind => {
                let recursive = parse_options(&mount.options).recursive;
                mounts::clone_tree(&mount.source, recursive)
                    .map(Some)
                    .context(|| format!("bind source {}", mount.source.display()))
            }
            MountKind::Tmpfs => Ok(None),
        })
        .collect()
}

/// The file-system uid and gid of the container's root, with every capability still effective,
/// for as long as it lives; host root again afterwards.
pub struct ContainerRootIdentity(());

impl ContainerRootIdentity {
    /// Switches the file-system ids to the mapping's root.
    pub fn assume(mapping: &IdMapping) -> Result<ContainerRootIdentity> {
        nix::unistd::setfsgid(Gid::from_raw(mapping.host_gid));
        nix::unistd::setfsuid(Uid::from_raw(mapping.host_uid));
        // The kernel drops the file capabilities from the effective set when the fsuid leaves 0.
        let identity = ContainerRootIdentity(());
        capabilities::raise_effective()?;
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
