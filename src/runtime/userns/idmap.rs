//! Idmapped mounts (Linux 5.12; overlayfs accepts them as layers since 5.19): a detached clone
//! of a directory's mount (`open_tree(OPEN_TREE_CLONE)`) gets a user namespace's mapping
//! (`mount_setattr(MOUNT_ATTR_IDMAP)`) and is attached over that same directory, in the
//! caller's (private) mount namespace. Files owned by k on disk then show as the namespace's
//! host uid for k, and files written through it are stored as k.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::runtime::init::mounts::{attach, clone_tree};

/// `mount_setattr(2)` attribute: idmap the mount with `userns_fd`'s mapping (linux/mount.h).
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Puts an idmapped clone of the mount at `path` (just that directory's subtree, not the
/// mounts below it) over `path` itself, mapped through the user namespace `userns`.
pub fn idmap_in_place(path: &Path, userns: BorrowedFd<'_>) -> Result<(), String> {
    let tree = clone_tree(path, false).map_err(|e| format!("cloning the mount of {}: {e}", path.display()))?;
    let attr =
        MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
    // SAFETY: an empty C path with AT_EMPTY_PATH, and a valid mount_attr of the given size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc).map_err(|e| format!("idmapping {}: {e}", path.display()))?;
    let target = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    attach(tree.as_fd(), target.as_fd()).map_err(|e| format!("attaching the idmapped {}: {e}", path.display()))
}
