//! The fallback to idmapped mounts: a copy of an extracted image layer whose every owner is
//! moved into a tenant's range (see `IdMapping::shift_owner`). Everything else is kept: modes
//! (setuid bits included), times, extended attributes (overlayfs's opaque and redirect marks,
//! file capabilities), device nodes and whiteouts, and hard links as hard links. A copy is
//! needed because hard links share their inode, and so their owner, with the original.
//!
//! The copy is made under a temporary name and renamed into place, so a layer directory that
//! exists is always complete.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, fchownat, linkat, symlinkat};
use xattr::FileExt;

use super::IdMapping;
use crate::runtime::container_fs::fsutil::{
    Stat, list_dir, open_dir_at, open_file_at, read_link_at, set_times, stat_at,
};

/// Makes `target` a copy of the tree `source` with owners shifted by `mapping`, unless
/// `target` already exists. Safe to race with itself: the first rename wins.
pub fn shifted_copy(source: &Path, target: &Path, mapping: &IdMapping) -> io::Result<()> {
    if target.is_dir() {
        return Ok(());
    }
    let parent = target.parent().ok_or_else(|| io::Error::other("a shifted layer needs a parent directory"))?;
    std::fs::create_dir_all(parent)?;
    let staging = parent.join(format!(
        ".tmp-{}-{}",
        target.file_name().unwrap_or_default().to_string_lossy(),
        hex::encode(rand::random::<[u8; 6]>())
    ));
    std::fs::create_dir(&staging)?;
    let copied = copy_root(source, &staging, mapping);
    let renamed = copied.and_then(|()| std::fs::rename(&staging, target));
    match renamed {
        Ok(()) => Ok(()),
        // Another copy of the same layer won the race.
        Err(_) if target.is_dir() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(io::Error::new(e.kind(), format!("copying {} into {}: {e}", source.display(), target.display())))
        }
    }
}

/// Copies the contents of `source` into the empty directory `target`, then `source`'s own
/// owner, mode, attributes and times onto `target`.
fn copy_root(source: &Path, target: &Path, mapping: &IdMapping) -> io::Result<()> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let from = nix::fcntl::open(source, flags, Mode::empty())?;
    let to = nix::fcntl::open(target, flags, Mode::empty())?;
    let mut copy = Copy { mapping, root: to.as_fd(), links: HashMap::new() };
    copy.entries(from.as_fd(), to.as_fd(), Path::new(""))?;
    let stat = stat_at(from.as_fd(), OsStr::new(""))?;
    copy.finish(from.as_fd(), to.as_fd(), OsStr::new(""), &stat)
}

/// One copy in progress.
struct Copy<'a> {
    mapping: &'a IdMapping,
    /// The target's root, which hard links are made relative to.
    root: BorrowedFd<'a>,
    /// (device, inode) of a multiply linked source file → its first copy, relative to root.
    links: HashMap<(u64, u64), PathBuf>,
}

impl Copy<'_> {
    /// Copies every entry of the directory `from` into `to` (`relative` is `to` below root).
    fn entries(&mut self, from: BorrowedFd<'_>, to: BorrowedFd<'_>, relative: &Path) -> io::Result<()> {
        for name in list_dir(from)? {
            let name = name.as_os_str();
            let stat = stat_at(from, name)?;
            let path = relative.join(name);
            match stat.file_type() {
                libc::S_IFDIR => {
                    mkdirat(to, name, Mode::S_IRWXU)?;
                    let source = open_dir_at(from, name)?;
                    let target = open_dir_at(to, name)?;
                    self.entries(source.as_fd(), target.as_fd(), &path)?;
                    self.finish(source.as_fd(), target.as_fd(), OsStr::new(""), &stat)?;
                }
                libc::S_IFREG => {
                    let key = (stat.dev, stat.ino);
                    if stat.nlink > 1
                        && let Some(first) = self.links.get(&key)
                    {
                        linkat(self.root, first.as_path(), to, name, AtFlags::empty())?;
                        continue;
                    }
                    let mut source = open_file_at(from, name)?;
                    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                    let mut target = File::from(openat(to, name, flags, Mode::S_IRUSR | Mode::S_IWUSR)?);
                    io::copy(&mut source, &mut target)?;
                    drop(target);
                    self.finish(from, to, name, &stat)?;
                    if stat.nlink > 1 {
                        self.links.insert(key, path);
                    }
                }
                libc::S_IFLNK => {
                    let link = read_link_at(from, name)?;
                    symlinkat(link.as_os_str(), to, name)?;
                    self.finish(from, to, name, &stat)?;
                }
                libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                    let kind = SFlag::from_bits_truncate(stat.file_type());
                    let device = libc::makedev(stat.rdev_major, stat.rdev_minor);
                    mknodat(to, name, kind, Mode::from_bits_truncate(stat.mode & 0o7777), device)?;
                    self.finish(from, to, name, &stat)?;
                }
                // Sockets belong to the process that made them.
                _ => {}
            }
        }
        Ok(())
    }

    /// Owner (shifted), then mode (a chown clears setuid bits), then extended attributes (a
    /// chown drops file capabilities), then times, of `name` in `to` (`to` itself when empty).
    fn finish(&self, from: BorrowedFd<'_>, to: BorrowedFd<'_>, name: &OsStr, stat: &Stat) -> io::Result<()> {
        let (uid, gid) = self.mapping.shift_owner(stat.uid, stat.gid);
        let mut flags = AtFlags::AT_SYMLINK_NOFOLLOW;
        if name.is_empty() {
            flags |= AtFlags::AT_EMPTY_PATH;
        }
        fchownat(to, name, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)), flags)?;
        let symlink = stat.file_type() == libc::S_IFLNK;
        let mode = Mode::from_bits_truncate(stat.mode & 0o7777);
        if name.is_empty() {
            nix::sys::stat::fchmod(to, mode)?;
        } else if !symlink {
            // Not a symlink (checked just above on the source, made by this copy in the target).
            nix::sys::stat::fchmodat(to, name, mode, nix::sys::stat::FchmodatFlags::FollowSymlink)?;
        }
        if name.is_empty() {
            // The directories themselves, through their descriptors.
            let (source, target) = (File::from(from.try_clone_to_owned()?), File::from(to.try_clone_to_owned()?));
            for key in source.list_xattr()? {
                if let Some(value) = source.get_xattr(&key)? {
                    target.set_xattr(&key, &value)?;
                }
            }
        } else {
            let (source, target) = (fd_path(from, name), fd_path(to, name));
            for key in xattr::list(&source)? {
                if let Some(value) = xattr::get(&source, &key)? {
                    match xattr::set(&target, &key, &value) {
                        // user.* attributes cannot be set on symlinks and devices.
                        Err(e) if e.raw_os_error() == Some(libc::EPERM) && symlink => {}
                        other => other?,
                    }
                }
            }
        }
        set_times(to, name, stat)
    }
}

/// `name` in `dir` as a path through `/proc/self/fd`, so that only the descriptor is resolved
/// and the final name is not followed by the xattr calls (which never follow).
fn fd_path(dir: BorrowedFd<'_>, name: &OsStr) -> OsString {
    let mut path = OsString::from(format!("/proc/self/fd/{}/", dir.as_raw_fd()));
    path.push(name);
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn copies_shift_owners_and_keep_the_rest() {
        if !root() {
            eprintln!("skipped: needs root to chown");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("layer"), dir.path().join("shifted/100000/layer"));
        std::fs::create_dir_all(from.join("etc/opaque")).unwrap();
        std::fs::write(from.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        std::os::unix::fs::chown(from.join("etc/passwd"), Some(1000), Some(50)).unwrap();
        std::fs::hard_link(from.join("etc/passwd"), from.join("etc/passwd.link")).unwrap();
        std::fs::write(from.join("su"), b"#!").unwrap();
        std::fs::set_permissions(from.join("su"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("etc/passwd", from.join("link")).unwrap();
        xattr::set(from.join("etc/opaque"), "trusted.overlay.opaque", b"y").unwrap();
        nix::sys::stat::mknod(&from.join("gone"), SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
        std::os::unix::fs::lchown(from.join("link"), Some(70_000), Some(3)).unwrap();

        let mapping = IdMapping::range(100_000, 65_536);
        shifted_copy(&from, &to, &mapping).unwrap();
        let meta = |p: &str| std::fs::symlink_metadata(to.join(p)).unwrap();
        assert_eq!((meta("").uid(), meta("").gid()), (100_000, 100_000));
        assert_eq!((meta("etc/passwd").uid(), meta("etc/passwd").gid()), (101_000, 100_050));
        assert_eq!(meta("etc/passwd").ino(), meta("etc/passwd.link").ino(), "hard links stay linked");
        assert_eq!(meta("su").mode() & 0o7777, 0o4755);
        assert_eq!(std::fs::read_link(to.join("link")).unwrap(), Path::new("etc/passwd"));
        assert_eq!((meta("link").uid(), meta("link").gid()), (165_534, 100_003));
        assert_eq!(xattr::get(to.join("etc/opaque"), "trusted.overlay.opaque").unwrap().as_deref(), Some(&b"y"[..]));
        assert_eq!(meta("gone").rdev(), 0);
        assert_eq!(meta("etc/passwd").mtime(), std::fs::metadata(from.join("etc/passwd")).unwrap().mtime());
        // The original is untouched, and a second copy is a no-op.
        assert_eq!(std::fs::metadata(from.join("etc/passwd")).unwrap().uid(), 1000);
        shifted_copy(&from, &to, &mapping).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(to.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging directory is left");
    }
}
