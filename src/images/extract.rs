//! Unpacks one image layer (an uncompressed tar stream) into an empty directory, in the form
//! overlayfs reads as a `lowerdir`, without ever writing outside that directory.
//!
//! Layers come from clients and registries, so every tarball is treated as hostile:
//!
//! - an entry whose path is absolute or has a `..` component is refused;
//! - every parent directory is opened one component at a time with `O_NOFOLLOW`, relative to the
//!   directory before it, and the entry is created relative to that descriptor; an entry whose
//!   path would pass through a symlink on disk (`link -> /etc`, then `link/passwd`) is refused;
//! - the final component is never followed: files are created with `O_EXCL | O_NOFOLLOW` after
//!   removing whatever was there, and owners, modes, times and xattrs are set through the file's
//!   own descriptor or with the no-follow calls (`AT_SYMLINK_NOFOLLOW`, `lsetxattr`);
//! - a hardlink's target gets the same checks as an entry's path.
//!
//! Symlink targets themselves may be anything: `/bin/sh -> /bin/busybox` is normal and resolves
//! inside the container later. They are only never written through here.
//!
//! Whiteouts are turned into what overlayfs expects: `dir/.wh.name` becomes a 0/0 character
//! device at `dir/name`, and `dir/.wh..wh..opq` sets `trusted.overlay.opaque=y` on `dir`.
//! `trusted.overlay.*` xattrs carried by the tarball itself are dropped, so a layer cannot steer
//! overlayfs (redirects, metacopy) on its own.
//!
//! A few calls use a path under the destination rather than a descriptor (removing a directory
//! that an entry replaces, xattrs on symlinks and device nodes). Their parents were just checked
//! to be real directories, and nothing else writes into the destination while this runs (it is a
//! fresh staging directory), so these paths resolve to the same files.
//!
//! On error the destination is left half-written: the caller deletes it.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmodat, fstatat, futimens, makedev, mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, linkat, symlinkat, unlinkat};
use tar::EntryType;
use xattr::FileExt;

/// The name prefix that marks a whiteout entry in a layer tarball.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The name prefix of whiteout metadata entries (only the opaque marker is meaningful).
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
/// The entry name that marks its directory as opaque.
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// The xattr overlayfs reads to treat a directory as opaque.
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The PAX record prefix that carries one xattr of the entry.
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";
/// The xattr namespace overlayfs owns; a tarball may not set these itself.
const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";

/// What one extraction wrote, for image size accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Bytes of regular file content written.
    pub size: u64,
    /// Tar entries applied (files, dirs, links, whiteouts, ...).
    pub entries: u64,
}

/// Why a layer could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// An entry that would write outside the layer or through a symlink: the layer is hostile
    /// or broken, and nothing of it should be used.
    #[error("refusing layer entry {entry:?}: {reason}")]
    Unsafe {
        /// The entry's path as written in the tarball.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry of a type a layer cannot hold.
    #[error("refusing layer entry {entry:?}: unsupported tar entry type {kind:?}")]
    Unsupported {
        /// The entry's path as written in the tarball.
        entry: String,
        /// The type flag byte, as a character.
        kind: char,
    },
    /// The tar stream itself could not be read or parsed.
    #[error("reading layer tar: {0}")]
    Tar(#[source] io::Error),
    /// A filesystem operation for one entry failed.
    #[error("extracting layer entry {entry:?}: {action}: {source}")]
    Io {
        /// The entry's path as written in the tarball.
        entry: String,
        /// What was being done.
        action: &'static str,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },
}

/// Unpacks the layer tar read from `reader` into `dest`, a fresh empty directory.
///
/// On error `dest` may hold part of the layer: the caller must delete it.
pub fn extract_layer<R: Read>(reader: R, dest: &Path) -> Result<ExtractStats, ExtractError> {
    let root = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(dest).map_err(
        |source| ExtractError::Io { entry: ".".to_string(), action: "opening the destination directory", source },
    )?;
    let mut extractor =
        Extractor { root, dest: dest.to_path_buf(), dir_times: Vec::new(), stats: ExtractStats::default() };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(ExtractError::Tar)? {
        let mut entry = entry.map_err(ExtractError::Tar)?;
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            continue;
        }
        extractor.entry(&mut entry)?;
        extractor.stats.entries += 1;
    }
    extractor.finish_dir_times()?;
    Ok(extractor.stats)
}

/// The state of one extraction: the destination and the work left for the end.
struct Extractor {
    /// The destination directory, opened once; every entry is reached from it.
    root: File,
    /// The destination path, for the few path-based calls.
    dest: PathBuf,
    /// Directory mtimes, set after everything inside them has been written.
    dir_times: Vec<(Vec<OsString>, TimeSpec)>,
    /// What has been written so far.
    stats: ExtractStats,
}

/// The metadata of one entry, read from its header and PAX records.
struct Meta {
    /// Permission bits, including setuid, setgid and sticky.
    mode: u32,
    /// Numeric owner.
    uid: u32,
    /// Numeric group.
    gid: u32,
    /// Modification time, also used as access time.
    mtime: TimeSpec,
    /// Extended attributes from `SCHILY.xattr.*` records, minus overlayfs' own.
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Extractor {
    /// Applies one tar entry.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ExtractError> {
        let raw_path = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        let components = clean_path(&raw_path).map_err(|reason| unsafe_entry(&name, reason))?;
        let meta = read_meta(entry).map_err(ExtractError::Tar)?;
        let kind = entry.header().entry_type();

        let Some((last, parents)) = components.split_last() else {
            if kind != EntryType::Directory {
                return Err(unsafe_entry(&name, "only a directory may be the layer root"));
            }
            return self.root_dir(&name, &meta);
        };
        let last_bytes = last.as_bytes();
        if last_bytes == OPAQUE_MARKER {
            return self.opaque(&name, parents);
        }
        if last_bytes.starts_with(WHITEOUT_META_PREFIX) {
            return Ok(());
        }
        if let Some(hidden) = last_bytes.strip_prefix(WHITEOUT_PREFIX) {
            let hidden = OsStr::from_bytes(hidden);
            check_component(hidden).map_err(|reason| unsafe_entry(&name, reason))?;
            return self.whiteout(&name, parents, hidden, &meta);
        }

        let slot = Slot {
            name: &name,
            parent: self.open_dir(&name, parents, true, "path")?,
            last,
            full: self.full_path(&components),
        };
        match kind {
            EntryType::Directory => self.directory(&slot, &components, meta),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => self.file(&slot, entry, &meta),
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                symlink(&slot, &target, &meta)
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                self.hardlink(&slot, &components, &target)
            }
            EntryType::Char => node(&slot, SFlag::S_IFCHR, device_number(entry)?, &meta),
            EntryType::Block => node(&slot, SFlag::S_IFBLK, device_number(entry)?, &meta),
            EntryType::Fifo => node(&slot, SFlag::S_IFIFO, 0, &meta),
            other => Err(ExtractError::Unsupported { entry: name.clone(), kind: char::from(other.as_byte()) }),
        }
    }

    /// Applies a `.` entry: the metadata of the layer's root directory.
    fn root_dir(&mut self, name: &str, meta: &Meta) -> Result<(), ExtractError> {
        set_fd_meta(&self.root, meta).map_err(io_err(name, "setting metadata"))?;
        self.dir_times.push((Vec::new(), meta.mtime));
        Ok(())
    }

    /// Marks `parents` (created if missing) opaque, so lower layers' contents are hidden.
    fn opaque(&mut self, name: &str, parents: &[OsString]) -> Result<(), ExtractError> {
        let dir = self.open_dir(name, parents, true, "path")?;
        dir.set_xattr(OPAQUE_XATTR, b"y").map_err(io_err(name, "marking the directory opaque"))
    }

    /// Hides `parents/hidden` of lower layers with a 0/0 character device, as overlayfs wants.
    fn whiteout(&mut self, name: &str, parents: &[OsString], hidden: &OsStr, meta: &Meta) -> Result<(), ExtractError> {
        let mut components = parents.to_vec();
        components.push(hidden.to_os_string());
        let slot = Slot {
            name,
            parent: self.open_dir(name, parents, true, "path")?,
            last: hidden,
            full: self.full_path(&components),
        };
        slot.clear(false)?;
        mknodat(&slot.parent, hidden, SFlag::S_IFCHR, Mode::empty(), 0)
            .map_err(errno_err(name, "creating the whiteout device"))?;
        chown_at(&slot.parent, hidden, meta).map_err(io_err(name, "setting the whiteout owner"))
    }

    /// Creates (or keeps) a directory and sets its metadata; its mtime is set at the end.
    fn directory(&mut self, slot: &Slot<'_>, components: &[OsString], meta: Meta) -> Result<(), ExtractError> {
        let kept = slot.clear(true)?;
        if !kept {
            mkdirat(&slot.parent, slot.last, Mode::from_bits_truncate(0o700))
                .map_err(errno_err(slot.name, "creating the directory"))?;
        }
        let dir = open_child_dir(&slot.parent, slot.last).map_err(errno_err(slot.name, "opening the directory"))?;
        set_fd_meta(&dir, &meta).map_err(io_err(slot.name, "setting metadata"))?;
        self.dir_times.push((components.to_vec(), meta.mtime));
        Ok(())
    }

    /// Creates a regular file with the entry's content and metadata.
    fn file<R: Read>(
        &mut self,
        slot: &Slot<'_>,
        content: &mut tar::Entry<'_, R>,
        meta: &Meta,
    ) -> Result<(), ExtractError> {
        let name = slot.name;
        slot.clear(false)?;
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&slot.parent, slot.last, flags, Mode::from_bits_truncate(0o600))
            .map_err(errno_err(name, "creating the file"))?;
        let mut writer = BufWriter::with_capacity(128 * 1024, File::from(fd));
        let written = io::copy(content, &mut writer).map_err(io_err(name, "writing the file"))?;
        let file = writer.into_inner().map_err(|err| io_err(name, "writing the file")(err.into_error()))?;
        set_fd_meta(&file, meta).map_err(io_err(name, "setting metadata"))?;
        futimens(&file, &meta.mtime, &meta.mtime).map_err(errno_err(name, "setting times"))?;
        self.stats.size += written;
        Ok(())
    }

    /// Links to a file already extracted in this layer.
    fn hardlink(&mut self, slot: &Slot<'_>, components: &[OsString], target: &[u8]) -> Result<(), ExtractError> {
        let name = slot.name;
        let what = format!("hardlink target {:?}", String::from_utf8_lossy(target));
        let target_components = clean_path(target).map_err(|reason| unsafe_entry(name, format!("{what}: {reason}")))?;
        let Some((target_last, target_parents)) = target_components.split_last() else {
            return Err(unsafe_entry(name, format!("{what} is the layer root")));
        };
        if target_components == components {
            return Err(unsafe_entry(name, format!("{what} is the entry itself")));
        }
        let target_parent = self.open_dir(name, target_parents, false, &what)?;
        let target_stat = fstatat(&target_parent, target_last.as_os_str(), nofollow())
            .map_err(errno_err(name, "looking up the hardlink target"))?;
        if is_type(target_stat.st_mode, libc::S_IFDIR) {
            return Err(unsafe_entry(name, format!("{what} is a directory")));
        }
        slot.clear(false)?;
        linkat(&target_parent, target_last.as_os_str(), &slot.parent, slot.last, AtFlags::empty())
            .map_err(errno_err(name, "creating the hardlink"))
    }

    /// Opens `dest/components` as a directory, one component at a time, never through a
    /// symlink; missing directories are created (0755) when `create` is set.
    fn open_dir(&self, name: &str, components: &[OsString], create: bool, what: &str) -> Result<File, ExtractError> {
        let mut dir = self.root.try_clone().map_err(io_err(name, "opening the root"))?;
        for (index, component) in components.iter().enumerate() {
            dir = match open_child_dir(&dir, component) {
                Ok(child) => child,
                Err(Errno::ENOENT) if create => {
                    mkdirat(&dir, component.as_os_str(), Mode::from_bits_truncate(0o755))
                        .map_err(errno_err(name, "creating a parent directory"))?;
                    open_child_dir(&dir, component).map_err(errno_err(name, "opening a parent directory"))?
                }
                Err(errno @ (Errno::ELOOP | Errno::ENOTDIR)) => {
                    let stat = fstatat(&dir, component.as_os_str(), nofollow())
                        .map_err(errno_err(name, "looking up a parent directory"))?;
                    if is_type(stat.st_mode, libc::S_IFLNK) {
                        let through = self.display_path(&components[..=index]);
                        return Err(unsafe_entry(name, format!("{what} passes through symlink {through:?}")));
                    }
                    return Err(errno_err(name, "opening a parent directory")(errno));
                }
                Err(errno) => return Err(errno_err(name, "opening a parent directory")(errno)),
            };
        }
        Ok(dir)
    }

    /// Sets the deferred directory mtimes, now that nothing more is written inside them.
    fn finish_dir_times(&mut self) -> Result<(), ExtractError> {
        for (components, mtime) in std::mem::take(&mut self.dir_times) {
            let name = self.display_path(&components);
            // A directory later replaced by something else keeps no time of its own.
            let Some(dir) = self.find_dir(&components) else {
                continue;
            };
            futimens(&dir, &mtime, &mtime).map_err(errno_err(&name, "setting times"))?;
        }
        Ok(())
    }

    /// Opens `dest/components` if it is still a directory reached without symlinks.
    fn find_dir(&self, components: &[OsString]) -> Option<File> {
        let mut dir = self.root.try_clone().ok()?;
        for component in components {
            dir = open_child_dir(&dir, component).ok()?;
        }
        Some(dir)
    }

    /// The on-disk path of an entry, for the few path-based calls.
    fn full_path(&self, components: &[OsString]) -> PathBuf {
        let mut path = self.dest.clone();
        path.extend(components);
        path
    }

    /// An entry's cleaned path for messages.
    fn display_path(&self, components: &[OsString]) -> String {
        let joined: Vec<_> = components.iter().map(|c| c.to_string_lossy()).collect();
        if joined.is_empty() { ".".to_string() } else { joined.join("/") }
    }
}

/// Where one entry goes: its parent directory, opened safely, and its name there.
struct Slot<'a> {
    /// The entry's path as written in the tarball, for messages.
    name: &'a str,
    /// The parent directory, reached without symlinks.
    parent: File,
    /// The entry's final component.
    last: &'a OsStr,
    /// The on-disk path, for the few path-based calls.
    full: PathBuf,
}

impl Slot<'_> {
    /// Makes room for the entry: an existing non-directory is removed; an existing directory
    /// is kept when the new entry is a directory too (returns true), and removed otherwise.
    fn clear(&self, want_dir: bool) -> Result<bool, ExtractError> {
        let fail = || io_err(self.name, "replacing an existing entry");
        let stat = match fstatat(&self.parent, self.last, nofollow()) {
            Ok(stat) => stat,
            Err(Errno::ENOENT) => return Ok(false),
            Err(errno) => return Err(fail()(errno.into())),
        };
        if is_type(stat.st_mode, libc::S_IFDIR) {
            if want_dir {
                return Ok(true);
            }
            // remove_dir_all does not follow symlinks inside the tree it removes.
            std::fs::remove_dir_all(&self.full).map_err(fail())?;
        } else {
            unlinkat(&self.parent, self.last, UnlinkatFlags::NoRemoveDir).map_err(|errno| fail()(errno.into()))?;
        }
        Ok(false)
    }
}

/// Creates a symlink; its target is stored as is and never followed here.
fn symlink(slot: &Slot<'_>, target: &[u8], meta: &Meta) -> Result<(), ExtractError> {
    if target.is_empty() {
        return Err(unsafe_entry(slot.name, "symlink has an empty target"));
    }
    slot.clear(false)?;
    symlinkat(OsStr::from_bytes(target), &slot.parent, slot.last)
        .map_err(errno_err(slot.name, "creating the symlink"))?;
    set_slot_meta(slot, meta, true)
}

/// Creates a device node or fifo.
fn node(slot: &Slot<'_>, file_type: SFlag, dev: libc::dev_t, meta: &Meta) -> Result<(), ExtractError> {
    slot.clear(false)?;
    mknodat(&slot.parent, slot.last, file_type, Mode::from_bits_truncate(0o600), dev)
        .map_err(errno_err(slot.name, "creating the node"))?;
    set_slot_meta(slot, meta, false)
}

/// Sets owner, mode (not on symlinks), xattrs and times of a symlink, device or fifo without
/// following it.
fn set_slot_meta(slot: &Slot<'_>, meta: &Meta, is_symlink: bool) -> Result<(), ExtractError> {
    let (name, parent, last) = (slot.name, &slot.parent, slot.last);
    chown_at(parent, last, meta).map_err(io_err(name, "setting the owner"))?;
    if !is_symlink {
        let mode = Mode::from_bits_truncate(meta.mode);
        fchmodat(parent, last, mode, FchmodatFlags::NoFollowSymlink).map_err(errno_err(name, "setting the mode"))?;
    }
    for (key, value) in &meta.xattrs {
        // xattr::set is lsetxattr: it never follows the final symlink.
        let result = xattr::set(&slot.full, key, value);
        skip_unstorable_xattr(result, true).map_err(io_err(name, "setting an xattr"))?;
    }
    let flag = UtimensatFlags::NoFollowSymlink;
    utimensat(parent, last, &meta.mtime, &meta.mtime, flag).map_err(errno_err(name, "setting times"))
}

/// Splits a tar path into its components, dropping `.` and empty ones; refuses absolute paths
/// and `..`.
fn clean_path(raw: &[u8]) -> Result<Vec<OsString>, &'static str> {
    if raw.starts_with(b"/") {
        return Err("path is absolute");
    }
    let mut components = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        if part.is_empty() || part == b"." {
            continue;
        }
        check_component(OsStr::from_bytes(part))?;
        components.push(OsString::from_vec(part.to_vec()));
    }
    Ok(components)
}

/// Refuses a single path component that is not a plain name.
fn check_component(component: &OsStr) -> Result<(), &'static str> {
    match component.as_bytes() {
        b"" | b"." => Err("path names no file"),
        b".." => Err("path escapes the layer"),
        bytes if bytes.contains(&0) => Err("path contains a NUL byte"),
        _ => Ok(()),
    }
}

/// Reads the mode, owner, mtime and xattrs of an entry from its header and PAX records.
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let header = entry.header();
    let raw = header.as_old();
    let mode = (blank_as_zero(&raw.mode, header.mode().map(u64::from))? & 0o7777) as u32;
    // The tar crate already applied PAX `uid`/`gid` records to the header.
    let uid = blank_as_zero(&raw.uid, header.uid())?;
    let uid = u32::try_from(uid).map_err(|_| invalid_data("uid out of range"))?;
    let gid = blank_as_zero(&raw.gid, header.gid())?;
    let gid = u32::try_from(gid).map_err(|_| invalid_data("gid out of range"))?;
    let seconds = blank_as_zero(&raw.mtime, header.mtime())?;
    let seconds = i64::try_from(seconds).map_err(|_| invalid_data("mtime out of range"))?;
    let mut mtime = TimeSpec::new(seconds, 0);
    let mut xattrs = Vec::new();
    if let Some(records) = entry.pax_extensions()? {
        for record in records {
            let record = record?;
            let Ok(key) = record.key() else {
                continue;
            };
            if key == "mtime" {
                if let Some(precise) = parse_pax_time(record.value_bytes()) {
                    mtime = precise;
                }
            } else if let Some(xattr) = key.strip_prefix(PAX_XATTR_PREFIX)
                && !xattr.starts_with(OVERLAY_XATTR_PREFIX)
            {
                xattrs.push((OsString::from(xattr), record.value_bytes().to_vec()));
            }
        }
    }
    Ok(Meta { mode, uid, gid, mtime, xattrs })
}

/// Reads a blank numeric header field as 0, as Go's archive/tar (and so dockerd) does.
fn blank_as_zero(field: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    if field.iter().all(|&b| b == 0 || b == b' ') { Ok(0) } else { parsed }
}

/// Parses a PAX time (`seconds[.fraction]`), which is more precise than the header's.
fn parse_pax_time(value: &[u8]) -> Option<TimeSpec> {
    let text = std::str::from_utf8(value).ok()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i64 = whole.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = fraction.chars().chain("000000000".chars()).take(9).collect();
    let nanos: i64 = digits.parse().ok()?;
    if whole.starts_with('-') && nanos > 0 {
        return Some(TimeSpec::new(seconds - 1, 1_000_000_000 - nanos));
    }
    Some(TimeSpec::new(seconds, nanos))
}

/// The device number of a char or block device entry.
fn device_number<R: Read>(entry: &tar::Entry<'_, R>) -> Result<libc::dev_t, ExtractError> {
    let header = entry.header();
    let major = header.device_major().map_err(ExtractError::Tar)?;
    let minor = header.device_minor().map_err(ExtractError::Tar)?;
    Ok(makedev(u64::from(major.unwrap_or(0)), u64::from(minor.unwrap_or(0))))
}

/// Opens a child directory of `parent`, failing rather than following a symlink.
fn open_child_dir(parent: &File, name: &OsStr) -> Result<File, Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(parent, name, flags, Mode::empty()).map(File::from)
}

/// Sets owner, then mode (chown clears setuid bits), then xattrs (chown clears
/// `security.capability`) through an open file or directory.
fn set_fd_meta(file: &File, meta: &Meta) -> io::Result<()> {
    std::os::unix::fs::fchown(file, Some(meta.uid), Some(meta.gid))?;
    file.set_permissions(Permissions::from_mode(meta.mode))?;
    for (key, value) in &meta.xattrs {
        skip_unstorable_xattr(file.set_xattr(key, value), false)?;
    }
    Ok(())
}

/// Sets the owner of `parent/last` without following it.
fn chown_at(parent: &File, last: &OsStr, meta: &Meta) -> io::Result<()> {
    let owner = Some(Uid::from_raw(meta.uid));
    let group = Some(Gid::from_raw(meta.gid));
    fchownat(parent, last, owner, group, nofollow())?;
    Ok(())
}

/// Ignores the xattr failures dockerd ignores too: a filesystem without xattr support, and
/// (on symlinks and device nodes) the kernel refusing `user.*` xattrs there.
fn skip_unstorable_xattr(result: io::Result<()>, special_file: bool) -> io::Result<()> {
    match result {
        Err(err) if err.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
        Err(err) if special_file && err.raw_os_error() == Some(libc::EPERM) => Ok(()),
        other => other,
    }
}

/// The flag that makes the `*at` calls act on a symlink itself.
fn nofollow() -> AtFlags {
    AtFlags::AT_SYMLINK_NOFOLLOW
}

/// Tells whether a `st_mode` is of the given file type.
fn is_type(mode: libc::mode_t, file_type: libc::mode_t) -> bool {
    mode & libc::S_IFMT == file_type
}

/// Builds the error for an entry refused as unsafe.
fn unsafe_entry(name: &str, reason: impl Into<String>) -> ExtractError {
    ExtractError::Unsafe { entry: name.to_string(), reason: reason.into() }
}

/// Wraps an io error of one entry with what was being done.
fn io_err(name: &str, action: &'static str) -> impl FnOnce(io::Error) -> ExtractError {
    let entry = name.to_string();
    move |source| ExtractError::Io { entry, action, source }
}

/// Wraps an errno of one entry with what was being done.
fn errno_err(name: &str, action: &'static str) -> impl FnOnce(Errno) -> ExtractError {
    let wrap = io_err(name, action);
    move |errno| wrap(errno.into())
}

/// Builds an error for a malformed header field.
fn invalid_data(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// Builds layer tarballs with raw headers, so hostile names get through unchanged.
    struct LayerTar(tar::Builder<Vec<u8>>);

    impl LayerTar {
        fn new() -> LayerTar {
            LayerTar(tar::Builder::new(Vec::new()))
        }

        fn header(path: &str, kind: EntryType, mode: u32) -> tar::Header {
            let mut header = tar::Header::new_ustar();
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(1_600_000_000);
            header
        }

        fn append(&mut self, mut header: tar::Header, data: &[u8]) {
            header.set_size(data.len() as u64);
            header.set_cksum();
            self.0.append(&header, data).unwrap();
        }

        fn pax(&mut self, records: &[(&str, &[u8])]) {
            let mut data = Vec::new();
            for (key, value) in records {
                let body_len = key.len() + value.len() + 3;
                let mut len = body_len + 1;
                while len != body_len + len.to_string().len() {
                    len = body_len + len.to_string().len();
                }
                data.extend_from_slice(format!("{len} {key}=").as_bytes());
                data.extend_from_slice(value);
                data.push(b'\n');
            }
            self.append(Self::header("pax", EntryType::XHeader, 0o644), &data);
        }

        fn dir(&mut self, path: &str) {
            self.append(Self::header(path, EntryType::Directory, 0o755), b"");
        }

        fn file(&mut self, path: &str, data: &[u8]) {
            self.append(Self::header(path, EntryType::Regular, 0o644), data);
        }

        fn link(&mut self, path: &str, kind: EntryType, target: &str) {
            let mut header = Self::header(path, kind, 0o777);
            header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            self.append(header, b"");
        }

        fn finish(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    fn extract(tar: LayerTar, dest: &Path) -> Result<ExtractStats, ExtractError> {
        extract_layer(&tar.finish()[..], dest)
    }

    fn assert_refused(result: Result<ExtractStats, ExtractError>, entry: &str) {
        match result {
            Err(ExtractError::Unsafe { entry: refused, .. }) => assert_eq!(refused, entry),
            other => panic!("expected {entry:?} to be refused, got {other:?}"),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn extracts_a_normal_tree_with_metadata() {
        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        let mut root = LayerTar::header("./", EntryType::Directory, 0o751);
        root.set_mtime(1_000);
        tar.append(root, b"");
        let mut bin = LayerTar::header("./bin/", EntryType::Directory, 0o755);
        bin.set_mtime(2_000);
        tar.append(bin, b"");
        tar.pax(&[("SCHILY.xattr.user.foo", b"bar"), ("mtime", b"3000.5")]);
        let mut busybox = LayerTar::header("./bin/busybox", EntryType::Regular, 0o4755);
        busybox.set_uid(1234);
        busybox.set_gid(4321);
        tar.append(busybox, b"#!hello");
        tar.link("./bin/sh", EntryType::Symlink, "/bin/busybox");
        tar.link("./bin/ls", EntryType::Link, "bin/busybox");
        tar.append(LayerTar::header("dev/fifo", EntryType::Fifo, 0o600), b"");
        let mut null = LayerTar::header("dev/null", EntryType::Char, 0o666);
        null.set_device_major(1).unwrap();
        null.set_device_minor(3).unwrap();
        tar.append(null, b"");
        tar.dir("tmp/");
        tar.append(LayerTar::header("tmp/", EntryType::Directory, 0o1777), b"");

        let stats = extract(tar, dest.path()).unwrap();
        assert_eq!(stats, ExtractStats { size: 7, entries: 9 });

        let d = dest.path();
        let meta = fs::symlink_metadata(d.join("bin/busybox")).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.mode() & 0o7777, 0o4755);
        assert_eq!((meta.uid(), meta.gid()), (1234, 4321));
        assert_eq!((meta.mtime(), meta.mtime_nsec()), (3000, 500_000_000));
        assert_eq!(fs::read(d.join("bin/busybox")).unwrap(), b"#!hello");
        let foo = xattr::get(d.join("bin/busybox"), "user.foo").unwrap();
        assert_eq!(foo.as_deref(), Some(&b"bar"[..]));

        assert_eq!(fs::read_link(d.join("bin/sh")).unwrap(), Path::new("/bin/busybox"));
        let ls = fs::symlink_metadata(d.join("bin/ls")).unwrap();
        assert_eq!((ls.ino(), ls.nlink()), (meta.ino(), 2));

        assert!(fs::symlink_metadata(d.join("dev/fifo")).unwrap().file_type().is_fifo());
        let null = fs::symlink_metadata(d.join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), makedev(1, 3));
        assert_eq!(null.mode() & 0o7777, 0o666);

        let tmp = fs::symlink_metadata(d.join("tmp")).unwrap();
        assert_eq!(tmp.mode() & 0o7777, 0o1777);
        // Directory times are set after their contents were written.
        let bin = fs::symlink_metadata(d.join("bin")).unwrap();
        assert_eq!(bin.mtime(), 2_000);
        let root = fs::symlink_metadata(d).unwrap();
        assert_eq!((root.mtime(), root.mode() & 0o7777), (1_000, 0o751));
    }

    #[test]
    fn turns_whiteouts_into_overlay_form() {
        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        tar.dir("a/");
        tar.file("a/.wh.gone", b"");
        tar.file("b/.wh..wh..opq", b"");
        tar.file(".wh..wh.plnk", b"");
        tar.file(".wh.top", b"");
        extract(tar, dest.path()).unwrap();

        let d = dest.path();
        for hidden in ["a/gone", "top"] {
            let meta = fs::symlink_metadata(d.join(hidden)).unwrap();
            assert!(meta.file_type().is_char_device(), "{hidden}");
            assert_eq!(meta.rdev(), 0, "{hidden}");
        }
        let opaque = xattr::get(d.join("b"), OPAQUE_XATTR).unwrap();
        assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
        assert_eq!(names(d), ["a", "b", "top"]);
        assert_eq!(names(&d.join("a")), ["gone"]);
        assert!(names(&d.join("b")).is_empty());
    }

    #[test]
    fn drops_overlay_xattrs_carried_by_the_tar() {
        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        tar.pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")]);
        tar.dir("d/");
        extract(tar, dest.path()).unwrap();
        let redirect = xattr::get(dest.path().join("d"), "trusted.overlay.redirect").unwrap();
        assert_eq!(redirect, None);
    }

    #[test]
    fn refuses_paths_that_escape() {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("dest");
        let absolute = outer.path().join("abs-evil");
        let absolute = absolute.to_str().unwrap();
        for hostile in ["../evil", "a/../../evil", "./../evil", absolute, "a/.wh..."] {
            fs::create_dir(&dest).unwrap();
            let mut tar = LayerTar::new();
            tar.file(hostile, b"pwned");
            assert_refused(extract(tar, &dest), hostile);
            fs::remove_dir_all(&dest).unwrap();
            assert!(names(outer.path()).is_empty(), "{hostile}");
        }
    }

    #[test]
    fn names_the_entry_in_the_message() {
        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        tar.file("../x", b"");
        let err = extract(tar, dest.path()).unwrap_err();
        assert_eq!(err.to_string(), r#"refusing layer entry "../x": path escapes the layer"#);
    }

    #[test]
    fn refuses_writing_through_a_symlink() {
        let outside = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        tar.link("s", EntryType::Symlink, outside.path().to_str().unwrap());
        tar.file("s/pwned", b"pwned");
        assert_refused(extract(tar, dest.path()), "s/pwned");
        assert!(names(outside.path()).is_empty());

        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        tar.dir("inner/");
        tar.link("inner/up", EntryType::Symlink, "..");
        tar.link("inner/up/up", EntryType::Symlink, "..");
        assert_refused(extract(tar, dest.path()), "inner/up/up");

        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        tar.link("s", EntryType::Symlink, "..");
        tar.file("s/x", b"pwned");
        assert_refused(extract(tar, dest.path()), "s/x");

        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        tar.link("s", EntryType::Symlink, outside.path().to_str().unwrap());
        tar.file("s/.wh..wh..opq", b"");
        assert_refused(extract(tar, dest.path()), "s/.wh..wh..opq");
        assert_eq!(xattr::get(outside.path(), OPAQUE_XATTR).unwrap(), None);
    }

    #[test]
    fn refuses_hostile_hardlinks() {
        for target in ["../../etc/passwd", "/etc/passwd", "s/secret", "."] {
            let outside = tempfile::tempdir().unwrap();
            fs::write(outside.path().join("secret"), b"secret").unwrap();
            let dest = tempfile::tempdir().unwrap();
            let mut tar = LayerTar::new();
            tar.link("s", EntryType::Symlink, outside.path().to_str().unwrap());
            tar.link("h", EntryType::Link, target);
            assert_refused(extract(tar, dest.path()), "h");
            let secret = fs::metadata(outside.path().join("secret")).unwrap();
            assert_eq!(secret.nlink(), 1, "{target}");
        }
    }

    #[test]
    fn replaces_entries_without_following_them() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, b"original").unwrap();
        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        // A file over a symlink replaces the link, never writes to its target.
        tar.link("f", EntryType::Symlink, victim.to_str().unwrap());
        tar.file("f", b"new");
        // A directory over a symlink replaces the link too.
        tar.link("d", EntryType::Symlink, outside.path().to_str().unwrap());
        tar.dir("d/");
        tar.file("d/inside", b"inside");
        // A directory over a directory keeps its contents; a file over a directory replaces it.
        tar.dir("keep/");
        tar.file("keep/a", b"a");
        tar.append(LayerTar::header("keep/", EntryType::Directory, 0o700), b"");
        tar.dir("gone/");
        tar.file("gone/a", b"a");
        tar.file("gone", b"file now");
        extract(tar, dest.path()).unwrap();

        let d = dest.path();
        assert_eq!(fs::read(&victim).unwrap(), b"original");
        assert_eq!(names(outside.path()), ["victim"]);
        assert_eq!(fs::read(d.join("f")).unwrap(), b"new");
        assert!(fs::symlink_metadata(d.join("d")).unwrap().is_dir());
        assert_eq!(fs::read(d.join("d/inside")).unwrap(), b"inside");
        assert_eq!(fs::read(d.join("keep/a")).unwrap(), b"a");
        let keep = fs::symlink_metadata(d.join("keep")).unwrap();
        assert_eq!(keep.mode() & 0o7777, 0o700);
        assert_eq!(fs::read(d.join("gone")).unwrap(), b"file now");
    }

    #[test]
    fn refuses_a_non_directory_root() {
        let dest = tempfile::tempdir().unwrap();
        let mut tar = LayerTar::new();
        tar.file("./", b"x");
        assert_refused(extract(tar, dest.path()), "./");
    }

    #[test]
    fn parses_pax_times() {
        assert_eq!(parse_pax_time(b"12"), Some(TimeSpec::new(12, 0)));
        assert_eq!(parse_pax_time(b"12.25"), Some(TimeSpec::new(12, 250_000_000)));
        assert_eq!(parse_pax_time(b"-1.5"), Some(TimeSpec::new(-2, 500_000_000)));
        assert_eq!(parse_pax_time(b"x"), None);
    }
}
