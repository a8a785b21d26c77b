//! After pivot_root: the paths Docker hides (masked) or freezes (read-only), and the read-only
//! root of `--read-only`. Missing paths are skipped, as runc does.

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::SFlag;

use super::error::{Context, Result};
use super::mounts;
use super::paths::{file_type, open_in_root};

/// Binds each path onto itself and makes the bind (with everything below it) read-only.
pub fn readonly_paths(root: BorrowedFd<'_>, paths: &[String]) -> Result<()> {
    for path in paths {
        let Some(target) = open_existing(root, path)? else {
            continue;
        };
        mounts::bind(target.as_fd(), target.as_fd(), true).context(|| format!("binding {path} onto itself"))?;
        let mounted = open_in_root(root, path, OFlag::O_PATH).context(|| format!("reopening {path}"))?;
        mounts::set_attributes(mounted.as_fd(), MsFlags::MS_RDONLY, true)
            .context(|| format!("making {path} read-only"))?;
    }
    Ok(())
}

/// Hides each path: /dev/null (the verified `dev_null`) over a file, an empty read-only tmpfs
/// over a directory.
pub fn masked_paths(root: BorrowedFd<'_>, paths: &[String], dev_null: BorrowedFd<'_>) -> Result<()> {
    for path in paths {
        let Some(target) = open_existing(root, path)? else {
            continue;
        };
        if file_type(target.as_fd()).context(|| format!("inspecting {path}"))? == SFlag::S_IFDIR {
            let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mounts::mount_fs("tmpfs", "tmpfs", target.as_fd(), flags, "").context(|| format!("masking {path}"))?;
        } else {
            mounts::bind(dev_null, target.as_fd(), false).context(|| format!("masking {path}"))?;
        }
    }
    Ok(())
}

/// `--read-only`: the root mount itself becomes read-only (the mounts on it keep their own mode).
pub fn readonly_root(root: BorrowedFd<'_>) -> Result<()> {
    mounts::set_attributes(root, MsFlags::MS_RDONLY, false)
        .context(|| "making the root filesystem read-only".to_string())
}

/// An O_PATH fd of a path inside root, or None when it does not exist.
fn open_existing(root: BorrowedFd<'_>, path: &str) -> Result<Option<std::os::fd::OwnedFd>> {
    match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Ok(None),
        Err(errno) => Err(errno).context(|| format!("resolving {path}")),
    }
}
