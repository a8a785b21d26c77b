//! Mount primitives that act on fds obtained by in-root resolution (see `paths`), plus the
//! parsing of Docker-style mount option lists.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::paths::fd_path;

/// mount_setattr(2) attribute bits (linux/mount.h); libc does not carry them yet.
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Mounts a fresh filesystem of `fstype` onto the inode `target` refers to.
pub fn mount_fs(fstype: &str, source: &str, target: BorrowedFd<'_>, flags: MsFlags, data: &str) -> Result<(), Errno> {
    let data = (!data.is_empty()).then_some(data);
    nix::mount::mount(Some(source), fd_path(target).as_str(), Some(fstype), flags, data)
}

/// Bind-mounts `source` onto `target` (both fds), with every mount below source when recursive.
pub fn bind(source: BorrowedFd<'_>, target: BorrowedFd<'_>, recursive: bool) -> Result<(), Errno> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    nix::mount::mount(Some(fd_path(source).as_str()), fd_path(target).as_str(), None::<&str>, flags, None::<&str>)
}

/// `open_tree(2)` flag: clone the mount instead of opening it (linux/mount.h).
const OPEN_TREE_CLONE: libc::c_uint = 0x1;
/// `move_mount(2)` flags: the source, and the target, are the descriptors themselves.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// A detached copy of the mount at `path` (the subtree below it, with every mount below it too
/// when recursive), as a descriptor: a bind whose source is resolved now, with this process's
/// privileges and in its mount namespace, and attached later with `attach`, possibly from
/// another mount namespace.
pub fn clone_tree(path: &std::path::Path, recursive: bool) -> Result<OwnedFd, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: a valid C string; the returned fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c_path.as_ptr(), flags) };
    let fd = Errno::result(fd)?;
    // SAFETY: open_tree returned a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches a detached tree (from `clone_tree`) onto the inode `target` refers to.
pub fn attach(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: valid descriptors and empty C strings.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(rc).map(drop)
}

/// Sets read-only/nosuid/nodev/noexec (as MsFlags) on the mount whose root `mount_root` is, and
/// on every mount below it when recursive. Unlike a remount, this touches no other flag, so locked
/// flags never make it fail.
pub fn set_attributes(mount_root: BorrowedFd<'_>, flags: MsFlags, recursive: bool) -> Result<(), Errno> {
    let mut attr_set = 0;
    for (flag, attr) in [
        (MsFlags::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
    ] {
        if flags.contains(flag) {
            attr_set |= attr;
        }
    }
    if attr_set == 0 {
        return Ok(());
    }
    let attr = MountAttr { attr_set, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let mut at_flags = libc::AT_EMPTY_PATH;
    if recursive {
        at_flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the path is a valid empty C string, attr a valid mount_attr of the given size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount_root.as_raw_fd(),
            c"".as_ptr(),
            at_flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// Changes the propagation type (MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE, maybe | MS_REC)
/// of the mount at `target`.
pub fn set_propagation(target: BorrowedFd<'_>, propagation: MsFlags) -> Result<(), Errno> {
    nix::mount::mount(None::<&str>, fd_path(target).as_str(), None::<&str>, propagation, None::<&str>)
}

/// A Docker-style option list (`["ro", "nosuid", "size=64m", "rshared"]`) split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC and the atime/sync flags.
    pub flags: MsFlags,
    /// The propagation type asked for, if any.
    pub propagation: Option<MsFlags>,
    /// `rbind`/`recursive`: bind every mount below the source too.
    pub recursive: bool,
    /// Everything the filesystem itself takes (`size=…`, `mode=…`), comma-joined.
    pub data: String,
}

impl Default for MountOptions {
    fn default() -> MountOptions {
        MountOptions { flags: MsFlags::empty(), propagation: None, recursive: false, data: String::new() }
    }
}

/// Splits an option list into flags, propagation and filesystem data.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut parsed = MountOptions::default();
    let mut data = Vec::new();
    for option in options.iter().flat_map(|o| o.split(',')) {
        let option = option.trim();
        match option {
            "" | "rw" | "bind" => {}
            "ro" => parsed.flags |= MsFlags::MS_RDONLY,
            "nosuid" => parsed.flags |= MsFlags::MS_NOSUID,
            "suid" => parsed.flags &= !MsFlags::MS_NOSUID,
            "nodev" => parsed.flags |= MsFlags::MS_NODEV,
            "dev" => parsed.flags &= !MsFlags::MS_NODEV,
            "noexec" => parsed.flags |= MsFlags::MS_NOEXEC,
            "exec" => parsed.flags &= !MsFlags::MS_NOEXEC,
            "sync" => parsed.flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => parsed.flags |= MsFlags::MS_DIRSYNC,
            "noatime" => parsed.flags |= MsFlags::MS_NOATIME,
            "nodiratime" => parsed.flags |= MsFlags::MS_NODIRATIME,
            "relatime" => parsed.flags |= MsFlags::MS_RELATIME,
            "strictatime" => parsed.flags |= MsFlags::MS_STRICTATIME,
            "rbind" | "recursive" => parsed.recursive = true,
            "private" => parsed.propagation = Some(MsFlags::MS_PRIVATE),
            "rprivate" => parsed.propagation = Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            "shared" => parsed.propagation = Some(MsFlags::MS_SHARED),
            "rshared" => parsed.propagation = Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
            "slave" => parsed.propagation = Some(MsFlags::MS_SLAVE),
            "rslave" => parsed.propagation = Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "unbindable" => parsed.propagation = Some(MsFlags::MS_UNBINDABLE),
            "runbindable" => parsed.propagation = Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            other => data.push(other.to_string()),
        }
    }
    parsed.data = data.join(",");
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn splits_tmpfs_options() {
        let parsed = parse_options(&strings(&["size=65536k", "mode=1777", "noexec,nosuid"]));
        assert_eq!(parsed.flags, MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID);
        assert_eq!(parsed.data, "size=65536k,mode=1777");
        assert_eq!(parsed.propagation, None);
        assert!(!parsed.recursive);
    }

    #[test]
    fn splits_bind_options() {
        let parsed = parse_options(&strings(&["rbind", "rshared", "ro", "exec"]));
        assert!(parsed.recursive);
        assert_eq!(parsed.propagation, Some(MsFlags::MS_SHARED | MsFlags::MS_REC));
        assert_eq!(parsed.flags, MsFlags::MS_RDONLY);
        assert_eq!(parsed.data, "");
    }
}
