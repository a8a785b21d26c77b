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

use super::error::{Context, InitError, Result};
use super::mounts::{self, parse_options};
use super::rootfs;
use crate::runtime::spec::{IdMapping, MountKind, MountSpec, RootfsSpec};
use crate::runtime::userns::identity::ContainerRootIdentity;
use crate::runtime::userns::{holder, idmap};

/// Mounts `rootfs` at its `merged` path in a new private mount namespace of this process, and
/// makes it the working directory. `bundle` must hold upper/ and work/ (it is idmapped as a
/// whole).
pub fn mount_rootfs(rootfs: &RootfsSpec, bundle: &Path, mapping: &IdMapping) -> Result<()> {
    let idmapped = idmapped_dirs(rootfs, bundle)?;
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).context(|| "unshare(CLONE_NEWNS)".to_string())?;
    nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .context(|| "making / a recursive slave".to_string())?;
    if idmapped.is_empty() {
        rootfs::mount_overlay(rootfs)?;
        return enter_root(rootfs);
    }
    let userns = holder::user_namespace(mapping).map_err(|e| InitError::setup("making a user namespace", e))?;
    for dir in idmapped {
        idmap::idmap_in_place(dir, std::os::fd::AsFd::as_fd(&userns)).map_err(InitError::Setup)?;
    }
    {
        let _identity = ContainerRootIdentity::assume(mapping).map_err(|e| InitError::setup("switching ids", e))?;
        rootfs::mount_overlay(rootfs)?;
    }
    enter_root(rootfs)
}

/// The directories to cover with idmapped clones, each once (an image may hold the same layer
/// twice, and an idmapped mount cannot be idmapped again): every lower layer, then the bundle,
/// which must hold upper/, work/ and the mount point. None without idmapped layers.
pub fn idmapped_dirs<'a>(rootfs: &'a RootfsSpec, bundle: &'a Path) -> Result<Vec<&'a Path>> {
    if !rootfs.idmapped {
        return Ok(Vec::new());
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
    let mut seen = HashSet::new();
    Ok(rootfs.lower.iter().map(AsRef::as_ref).chain([bundle]).filter(|dir| seen.insert(*dir)).collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn rootfs(lower: &[&str], idmapped: bool) -> RootfsSpec {
        RootfsSpec {
            lower: lower.iter().map(PathBuf::from).collect(),
            upper: "/b/upper".into(),
            work: "/b/work".into(),
            merged: "/b/rootfs".into(),
            readonly: false,
            idmapped,
        }
    }

    #[test]
    fn every_layer_once_then_the_bundle() {
        let spec = rootfs(&["/l/top", "/l/empty", "/l/base", "/l/empty"], true);
        let dirs = idmapped_dirs(&spec, Path::new("/b")).unwrap();
        assert_eq!(dirs, [Path::new("/l/top"), Path::new("/l/empty"), Path::new("/l/base"), Path::new("/b")]);
        assert!(idmapped_dirs(&rootfs(&["/l/a"], false), Path::new("/b")).unwrap().is_empty(), "shifted copies");
    }

    #[test]
    fn the_writable_layer_must_be_in_the_bundle() {
        let mut spec = rootfs(&["/l/a"], true);
        spec.work = "/elsewhere/work".into();
        let err = idmapped_dirs(&spec, Path::new("/b")).unwrap_err().to_string();
        assert!(err.contains("/elsewhere/work is not directly in the bundle /b"), "{err}");
    }
}
