//! Extracting a client's tar into a directory of a container, as `docker cp` into a container
//! does (`PUT /containers/{id}/archive`), without ever writing outside the container:
//!
//! - the destination directory is resolved inside the container's root, every symlink followed
//!   but none able to leave it (`RESOLVE_IN_ROOT`), and must be a directory;
//! - every entry is cleaned as dockerd cleans it (a leading `/` dropped, `.` and `..` applied);
//!   an entry that still climbs above the destination is refused;
//! - an entry's parent is resolved with the destination as the root (`RESOLVE_IN_ROOT`, as
//!   dockerd's `os.Root` does), so symlinks on the way — in the container or made by earlier
//!   entries — stay inside it; missing parents are created there;
//! - the entry itself is never followed: whatever is in its place is removed (without following
//!   anything) and it is created with `O_EXCL | O_NOFOLLOW` or the `*at` calls on the parent;
//! - kernel file systems (a running container's /proc, /sys) are never written to.
//!
//! With `no_overwrite_dir_non_dir` (the CLI's default) a directory is never replaced by a
//! non-directory or the other way round, as dockerd refuses.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmodat, makedev, mkdirat, mknodat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, linkat, symlinkat, unlinkat};
use tar::EntryType;
use xattr::FileExt;

use super::fsutil::{is_kernel_fs, list_dir, open_dir_at, stat_at};
use crate::runtime::init::paths::{Create, ensure_in_root, open_in_root};

/// The xattr namespace overlayfs owns; an archive may not set these.
const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
/// The PAX record prefix that carries one xattr.
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// How to extract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackOptions {
    /// Refuse to replace a directory with a non-directory and the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Own every entry by this uid and gid instead of the archive's (`docker cp -a`).
    pub owner: Option<(u32, u32)>,
    /// A user-namespaced container whose files are seen with host ids: owners (the archive's,
    /// or `owner`) are the container's and are moved into its host range.
    pub shift: Option<crate::runtime::userns::IdMapping>,
}

/// Why an extraction failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The destination does not exist.
    #[error("the destination does not exist")]
    DestinationMissing,
    /// The destination is not a directory.
    #[error("extraction point is not a directory")]
    NotADirectory,
    /// The archive asks for something refused (an escaping entry, an overwrite across types).
    #[error("{0}")]
    Refused(String),
    /// The archive could not be read or written.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<Errno> for UnpackError {
    fn from(errno: Errno) -> UnpackError {
        UnpackError::Io(errno.into())
    }
}

/// Extracts the tar read from `archive` into the directory `dir` of the container whose root
/// is `root` (symlinks in `dir` followed inside the root).
pub fn unpack_into<R: Read>(
    root: BorrowedFd<'_>,
    dir: &str,
    archive: R,
    options: &UnpackOptions,
) -> Result<(), UnpackError> {
    let dest = match open_in_root(root, dir, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Err(UnpackError::DestinationMissing),
        Err(Errno::ENOTDIR) => return Err(UnpackError::NotADirectory),
        Err(errno) => return Err(errno.into()),
    };
    if !stat_at(dest.as_fd(), OsStr::new(""))?.is_dir() {
        return Err(UnpackError::NotADirectory);
    }
    refuse_kernel_fs(dest.as_fd(), dir)?;
    let mut unpacker = Unpacker { dest, dest_name: dir.to_string(), options: *options, dirs: Vec::new() };
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            continue;
        }
        unpacker.entry(&mut entry)?;
    }
    unpacker.finish_dir_times()
}

/// The state of one extraction.
struct Unpacker {
    /// The destination directory (an `O_PATH` descriptor), the root every entry resolves in.
    dest: OwnedFd,
    /// The destination as the client named it, for messages.
    dest_name: String,
    /// What the client asked for.
    options: UnpackOptions,
    /// Directories extracted, with their times, set once nothing more is written inside.
    dirs: Vec<(String, TimeSpec)>,
}

impl Unpacker {
    /// Applies one entry.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let Some(name) = clean_entry_name(&raw) else {
            return Err(UnpackError::Refused(format!(
                "refusing to extract {shown:?}: the entry's path leaves the destination directory"
            )));
        };
        if name.is_empty() {
            // The destination itself: dockerd leaves it as it is.
            return Ok(());
        }
        let kind = entry.header().entry_type();
        let (parent_path, last) = match name.rsplit_once('/') {
            Some((parent, last)) => (parent.to_string(), last.to_string()),
            None => (String::new(), name.clone()),
        };
        let parent = self.parent_dir(&parent_path, &shown)?;
        let last = OsString::from(last);

        let is_dir_entry = kind == EntryType::Directory;
        let mut keep_dir = false;
        match stat_at(parent.as_fd(), &last) {
            Ok(existing) => {
                if self.options.no_overwrite_dir_non_dir && existing.is_dir() && !is_dir_entry {
                    return Err(UnpackError::Refused(format!(
                        "cannot overwrite directory {:?} with non-directory {:?}",
                        self.display(&name),
                        shown
                    )));
                }
                if self.options.no_overwrite_dir_non_dir && !existing.is_dir() && is_dir_entry {
                    return Err(UnpackError::Refused(format!(
                        "cannot overwrite non-directory {:?} with directory {:?}",
                        self.display(&name),
                        shown
                    )));
                }
                if existing.is_dir() && is_dir_entry {
                    keep_dir = true;
                } else {
                    remove_all_at(parent.as_fd(), &last)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }

        let xattrs = pax_xattrs(entry)?;
        let header = entry.header().clone();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) = match self.options.owner {
            Some(owner) => owner,
            None => (header.uid().unwrap_or(0) as u32, header.gid().unwrap_or(0) as u32),
        };
        let (uid, gid) = self.options.shift.map_or((uid, gid), |m| m.shift_owner(uid, gid));
        let mtime = TimeSpec::new(header.mtime().unwrap_or(0) as i64, 0);
        let perm = Mode::from_bits_truncate(mode & 0o777);
        match kind {
            EntryType::Directory => {
                if !keep_dir {
                    mkdirat(parent.as_fd(), last.as_os_str(), perm)?;
                }
                let dir = File::from(open_dir_at(parent.as_fd(), &last)?);
                set_owner_mode_xattrs(&dir, uid, gid, mode, &xattrs)?;
                self.dirs.push((name.clone(), mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let mut file =
                    File::from(openat(parent.as_fd(), last.as_os_str(), flags, Mode::S_IRUSR | Mode::S_IWUSR)?);
                io::copy(entry, &mut file)?;
                set_owner_mode_xattrs(&file, uid, gid, mode, &xattrs)?;
                nix::sys::stat::futimens(&file, &mtime, &mtime)?;
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                if target.is_empty() {
                    return Err(UnpackError::Refused(format!("refusing to extract {shown:?}: empty symlink target")));
                }
                symlinkat(OsStr::from_bytes(&target), parent.as_fd(), last.as_os_str())?;
                chown_at(parent.as_fd(), &last, uid, gid)?;
                set_times_at(parent.as_fd(), &last, mtime)?;
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                let (target_parent, target_last) = self.hardlink_target(&target, &shown)?;
                linkat(
                    target_parent.as_fd(),
                    target_last.as_os_str(),
                    parent.as_fd(),
                    last.as_os_str(),
                    AtFlags::empty(),
                )?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (file_type, dev) = match kind {
                    EntryType::Char => (SFlag::S_IFCHR, device_number(&header)),
                    EntryType::Block => (SFlag::S_IFBLK, device_number(&header)),
                    _ => (SFlag::S_IFIFO, 0),
                };
                mknodat(parent.as_fd(), last.as_os_str(), file_type, perm, dev)?;
                chown_at(parent.as_fd(), &last, uid, gid)?;
                fchmodat(
                    parent.as_fd(),
                    last.as_os_str(),
                    Mode::from_bits_truncate(mode),
                    FchmodatFlags::NoFollowSymlink,
                )?;
                set_times_at(parent.as_fd(), &last, mtime)?;
            }
            other => {
                return Err(UnpackError::Refused(format!(
                    "refusing to extract {shown:?}: unsupported entry type {:?}",
                    char::from(other.as_byte())
                )));
            }
        }
        Ok(())
    }

    /// The parent directory of an entry, resolved with the destination as the root; missing
    /// directories are created (0755, owned by root) inside it.
    fn parent_dir(&self, parent: &str, shown: &str) -> Result<OwnedFd, UnpackError> {
        let fd = match open_in_root(self.dest.as_fd(), parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => ensure_in_root(self.dest.as_fd(), parent, Create::Dir)?,
            Err(Errno::ENOTDIR) => {
                return Err(UnpackError::Refused(format!(
                    "cannot extract {shown:?}: a parent of it is not a directory"
                )));
            }
            Err(errno) => return Err(errno.into()),
        };
        if !stat_at(fd.as_fd(), OsStr::new(""))?.is_dir() {
            return Err(UnpackError::Refused(format!("cannot extract {shown:?}: a parent of it is not a directory")));
        }
        refuse_kernel_fs(fd.as_fd(), shown)?;
        Ok(fd)
    }

    /// Where a hardlink points: a path of this extraction (a leading `/` means the
    /// destination), resolved inside the destination; never a directory.
    fn hardlink_target(&self, target: &[u8], shown: &str) -> Result<(OwnedFd, OsString), UnpackError> {
        let refused = |why: &str| {
            UnpackError::Refused(format!(
                "refusing to extract {shown:?}: hardlink target {:?} {why}",
                String::from_utf8_lossy(target)
            ))
        };
        let Some(name) = clean_entry_name(target).filter(|n| !n.is_empty()) else {
            return Err(refused("leaves the destination directory"));
        };
        let (parent, last) = match name.rsplit_once('/') {
            Some((parent, last)) => (parent.to_string(), last.to_string()),
            None => (String::new(), name.clone()),
        };
        let parent = match open_in_root(self.dest.as_fd(), &parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Err(refused("does not exist")),
            Err(errno) => return Err(errno.into()),
        };
        let last = OsString::from(last);
        match stat_at(parent.as_fd(), &last) {
            Ok(stat) if stat.is_dir() => Err(refused("is a directory")),
            Ok(_) => Ok((parent, last)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(refused("does not exist")),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets the directories' times, deepest last written first, now that their contents are in.
    fn finish_dir_times(&mut self) -> Result<(), UnpackError> {
        let mut done = HashSet::new();
        for (name, mtime) in std::mem::take(&mut self.dirs).into_iter().rev() {
            if !done.insert(name.clone()) {
                continue;
            }
            let (parent, last) = match name.rsplit_once('/') {
                Some((parent, last)) => (parent.to_string(), last.to_string()),
                None => (String::new(), name.clone()),
            };
            let Ok(parent) = open_in_root(self.dest.as_fd(), &parent, OFlag::O_PATH | OFlag::O_DIRECTORY) else {
                continue;
            };
            let last = OsString::from(last);
            if stat_at(parent.as_fd(), &last).is_ok_and(|s| s.is_dir()) {
                set_times_at(parent.as_fd(), &last, mtime)?;
            }
        }
        Ok(())
    }

    /// An entry's path in messages: under the destination as the client named it.
    fn display(&self, name: &str) -> String {
        format!("{}/{name}", self.dest_name.trim_end_matches('/'))
    }
}

/// The uid and gid of the container's configured user (`docker cp -a`), looked up in the
/// container's own /etc/passwd and /etc/group as `docker run --user` is.
pub fn resolve_owner(root: BorrowedFd<'_>, user: &str) -> Result<(u32, u32), UnpackError> {
    let read = |path: &str| -> Option<String> {
        let fd = open_in_root(root, path, OFlag::O_RDONLY).ok()?;
        let mut text = String::new();
        File::from(fd).take(4 << 20).read_to_string(&mut text).ok()?;
        Some(text)
    };
    let (passwd, group) = (read("/etc/passwd"), read("/etc/group"));
    let resolved = crate::runtime::init::user::resolve(user, &[], passwd.as_deref(), group.as_deref())
        .map_err(UnpackError::Refused)?;
    Ok((resolved.uid, resolved.gid))
}

/// An entry's path as dockerd reads it (`path.Clean` after dropping leading slashes): `""` for
/// the destination itself, None when it climbs above the destination (or holds a NUL).
pub fn clean_entry_name(raw: &[u8]) -> Option<String> {
    if raw.contains(&0) {
        return None;
    }
    let text = String::from_utf8_lossy(raw);
    let mut parts: Vec<&str> = Vec::new();
    for part in text.trim_start_matches('/').split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(parts.join("/"))
}

/// Fails when `fd` is on a kernel file system (a running container's /proc or /sys).
fn refuse_kernel_fs(fd: BorrowedFd<'_>, shown: &str) -> Result<(), UnpackError> {
    if is_kernel_fs(fd)? {
        return Err(UnpackError::Refused(format!("cannot copy to {shown:?}: it is on a kernel file system")));
    }
    Ok(())
}

/// Removes `name` inside `dir` and, for a directory, everything below it, never following a
/// symlink.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let stat = stat_at(dir, name)?;
    if stat.is_dir() {
        let child = open_dir_at(dir, name)?;
        for entry in list_dir(child.as_fd())? {
            remove_all_at(child.as_fd(), &entry)?;
        }
        unlinkat(dir, name, UnlinkatFlags::RemoveDir)?;
    } else {
        unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?;
    }
    Ok(())
}

/// Owner, then mode (chown clears setuid bits), then xattrs, through an open file.
fn set_owner_mode_xattrs(file: &File, uid: u32, gid: u32, mode: u32, xattrs: &[(OsString, Vec<u8>)]) -> io::Result<()> {
    std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    for (key, value) in xattrs {
        match file.set_xattr(key, value) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EPERM)) => {}
            other => other?,
        }
    }
    Ok(())
}

/// Sets the owner of `name` inside `dir` without following it.
fn chown_at(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    let flags = AtFlags::AT_SYMLINK_NOFOLLOW;
    Ok(fchownat(dir, name, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)), flags)?)
}

/// Sets the access and modification times of `name` inside `dir` without following it.
fn set_times_at(dir: BorrowedFd<'_>, name: &OsStr, mtime: TimeSpec) -> io::Result<()> {
    Ok(utimensat(dir, name, &mtime, &mtime, UtimensatFlags::NoFollowSymlink)?)
}

/// The device number of a character or block entry.
fn device_number(header: &tar::Header) -> libc::dev_t {
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    makedev(u64::from(major), u64::from(minor))
}

/// The entry's `SCHILY.xattr.*` records, minus overlayfs' own.
fn pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let mut xattrs = Vec::new();
    if let Some(records) = entry.pax_extensions()? {
        for record in records {
            let record = record?;
            if let Ok(key) = record.key()
                && let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX)
                && !name.starts_with(OVERLAY_XATTR_PREFIX)
            {
                xattrs.push((OsString::from(name), record.value_bytes().to_vec()));
            }
        }
    }
    Ok(xattrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};

    /// Builds tarballs with raw headers, so that hostile names get through unchanged.
    struct RawTar(tar::Builder<Vec<u8>>);

    impl RawTar {
        fn new() -> RawTar {
            RawTar(tar::Builder::new(Vec::new()))
        }

        fn add(&mut self, path: &str, kind: EntryType, link: &str, data: &[u8]) {
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            header.set_entry_type(kind);
            header.set_mode(if kind == EntryType::Directory { 0o755 } else { 0o644 });
            header.set_uid(1234);
            header.set_gid(4321);
            header.set_mtime(1_600_000_000);
            header.set_size(data.len() as u64);
            header.set_cksum();
            self.0.append(&header, data).unwrap();
        }

        fn file(mut self, path: &str, data: &[u8]) -> RawTar {
            self.add(path, EntryType::Regular, "", data);
            self
        }

        fn dir(mut self, path: &str) -> RawTar {
            self.add(path, EntryType::Directory, "", b"");
            self
        }

        fn symlink(mut self, path: &str, target: &str) -> RawTar {
            self.add(path, EntryType::Symlink, target, b"");
            self
        }

        fn hardlink(mut self, path: &str, target: &str) -> RawTar {
            self.add(path, EntryType::Link, target, b"");
            self
        }

        fn bytes(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    /// A fake container root under a host directory that holds a "host" file next to it.
    struct Fixture {
        dir: tempfile::TempDir,
        root: OwnedFd,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().canonicalize().unwrap();
            std::fs::create_dir_all(base.join("root/tmp")).unwrap();
            std::fs::create_dir_all(base.join("host")).unwrap();
            let root = nix::fcntl::open(
                &base.join("root"),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            Fixture { dir, root }
        }

        fn base(&self) -> std::path::PathBuf {
            self.dir.path().canonicalize().unwrap()
        }

        fn unpack(&self, dir: &str, tar: RawTar) -> Result<(), UnpackError> {
            let options = UnpackOptions { no_overwrite_dir_non_dir: true, owner: None, shift: None };
            unpack_into(self.root.as_fd(), dir, &tar.bytes()[..], &options)
        }

        fn host_untouched(&self) -> bool {
            std::fs::read_dir(self.base().join("host")).unwrap().next().is_none()
        }
    }

    #[test]
    fn entry_names_are_cleaned_like_dockerd() {
        assert_eq!(clean_entry_name(b"./a//b/./c/").as_deref(), Some("a/b/c"));
        assert_eq!(clean_entry_name(b"/etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(clean_entry_name(b"a/../b").as_deref(), Some("b"));
        assert_eq!(clean_entry_name(b"./").as_deref(), Some(""));
        assert_eq!(clean_entry_name(b"../x"), None);
        assert_eq!(clean_entry_name(b"a/../../x"), None);
        assert_eq!(clean_entry_name(b"a\0b"), None);
    }

    #[test]
    fn extracts_files_dirs_and_links_with_their_metadata() {
        let f = Fixture::new();
        let tar = RawTar::new()
            .dir("d/")
            .file("d/f", b"hello")
            .symlink("d/s", "/etc/passwd")
            .hardlink("d/h", "d/f")
            .file("implied/deep/x", b"x");
        f.unpack("/tmp", tar).unwrap();
        let tmp = f.base().join("root/tmp");
        assert_eq!(std::fs::read(tmp.join("d/f")).unwrap(), b"hello");
        let meta = std::fs::metadata(tmp.join("d/f")).unwrap();
        assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777, meta.nlink()), (1234, 4321, 0o644, 2));
        assert_eq!(std::fs::read_link(tmp.join("d/s")).unwrap(), std::path::Path::new("/etc/passwd"));
        assert_eq!(std::fs::metadata(tmp.join("d")).unwrap().mtime(), 1_600_000_000);
        assert!(tmp.join("implied/deep/x").is_file());
    }

    #[test]
    fn refuses_entries_that_climb_out() {
        let f = Fixture::new();
        let err = f.unpack("/tmp", RawTar::new().file("../../host/pwned", b"x")).unwrap_err();
        assert!(matches!(err, UnpackError::Refused(_)), "{err}");
        assert!(f.host_untouched());
        let err = f.unpack("/tmp", RawTar::new().hardlink("h", "../../host/x")).unwrap_err();
        assert!(matches!(err, UnpackError::Refused(_)), "{err}");
    }

    #[test]
    fn symlinks_never_lead_out_of_the_root() {
        let f = Fixture::new();
        let host = f.base().join("host");
        // A symlink already in the container, pointing at the host's path.
        symlink(&host, f.base().join("root/tmp/link")).unwrap();
        f.unpack("/tmp", RawTar::new().file("link/pwned", b"x")).unwrap();
        assert!(f.host_untouched());
        let inside = f.base().join("root/tmp").join(host.strip_prefix("/").unwrap()).join("pwned");
        assert!(inside.is_file(), "the write landed inside the destination: {}", inside.display());

        // A symlink made by the archive itself, then written through.
        let f = Fixture::new();
        let host = f.base().join("host");
        f.unpack("/tmp", RawTar::new().symlink("esc", "../../../../../..").file("esc/pwned", b"x")).unwrap();
        assert!(f.host_untouched());
        assert!(f.base().join("root/tmp/pwned").is_file());

        // The destination itself through a symlink to /: stays in the container's root.
        let f = Fixture::new();
        symlink("/", f.base().join("root/escape")).unwrap();
        f.unpack("/escape/tmp/", RawTar::new().file("f", b"x")).unwrap();
        assert!(f.base().join("root/tmp/f").is_file());
        assert!(!host.join("f").exists());

        // A file entry over an existing symlink replaces the link, never writes its target.
        let f = Fixture::new();
        let victim = f.base().join("host/victim");
        std::fs::write(&victim, b"original").unwrap();
        symlink(&victim, f.base().join("root/tmp/v")).unwrap();
        f.unpack("/tmp", RawTar::new().file("v", b"new")).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"original");
        assert_eq!(std::fs::read(f.base().join("root/tmp/v")).unwrap(), b"new");
    }

    #[test]
    fn destination_must_be_an_existing_directory() {
        let f = Fixture::new();
        std::fs::write(f.base().join("root/file"), b"x").unwrap();
        assert!(matches!(f.unpack("/nope", RawTar::new()), Err(UnpackError::DestinationMissing)));
        assert!(matches!(f.unpack("/file", RawTar::new()), Err(UnpackError::NotADirectory)));
    }

    #[test]
    fn no_overwrite_dir_non_dir_is_enforced() {
        let f = Fixture::new();
        std::fs::create_dir(f.base().join("root/tmp/d")).unwrap();
        std::fs::write(f.base().join("root/tmp/f"), b"x").unwrap();
        let err = f.unpack("/tmp", RawTar::new().file("d", b"x")).unwrap_err();
        assert!(err.to_string().contains("cannot overwrite directory"), "{err}");
        let err = f.unpack("/tmp", RawTar::new().dir("f/")).unwrap_err();
        assert!(err.to_string().contains("cannot overwrite non-directory"), "{err}");
        let allowed = UnpackOptions { no_overwrite_dir_non_dir: false, owner: Some((7, 8)), shift: None };
        unpack_into(f.root.as_fd(), "/tmp", &RawTar::new().file("d", b"now a file").bytes()[..], &allowed).unwrap();
        let meta = std::fs::metadata(f.base().join("root/tmp/d")).unwrap();
        assert!(meta.is_file());
        assert_eq!((meta.uid(), meta.gid()), (7, 8));
    }
}
