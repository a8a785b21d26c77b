//! Volumes on the host, as Docker's `local` driver keeps them: a directory
//! `<data-root>/volumes/<name>/` whose `_data/` holds the files and is what containers bind.
//! A volume made with driver options (`type=tmpfs`, `type=none,o=bind,device=/src`) has its
//! file system mounted on `_data` while a container uses it.
//!
//! Seeding copies an image's content at a mount path into an empty volume, preserving owners,
//! modes, times and file capabilities. It walks descriptors only: directories are opened with
//! `O_NOFOLLOW` and every file is made with `*at` calls relative to a directory this walk made,
//! so a symlink planted in the volume meanwhile cannot lead the copy onto the host's files.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag, mkdirat};
use nix::unistd::{Gid, Uid, fchownat};

use super::container_fs::fsutil::{CAPABILITY_XATTR, Stat, capability_at, list_dir, open_dir_at, set_times, stat_at};
use super::init::mounts::parse_options;
use super::userns::IdMapping;

/// The directory below a volume's own that holds its files.
pub const DATA_DIR: &str = "_data";

/// A file system a volume's driver options ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMount {
    /// `type`: tmpfs, none (with `o=bind`), ext4…
    pub fs_type: String,
    /// `device`: what is mounted (a path for binds, `tmpfs` for tmpfs).
    pub device: String,
    /// `o`: comma-separated options (`size=100m`, `bind`, `ro`, `uid=1000`).
    pub options: String,
}

/// Makes a volume's directory and its empty `_data`.
pub fn create(volume_dir: &Path) -> io::Result<()> {
    if let Some(parent) = volume_dir.parent() {
        // Only root may list which volumes exist (dockerd's volumes/ is 0701).
        std::fs::DirBuilder::new().recursive(true).mode(0o701).create(parent)?;
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o755).create(volume_dir.join(DATA_DIR))
}

/// Removes a volume's directory with its data. A file system still mounted on `_data` is
/// unmounted first; if it stays mounted nothing is removed (a bind volume's `_data` is the
/// user's own directory).
pub fn remove(volume_dir: &Path) -> io::Result<()> {
    let data = volume_dir.join(DATA_DIR);
    if is_mounted(&data)? {
        unmount(&data)?;
    }
    if is_mounted(&data)? {
        return Err(io::Error::other(format!("{} is still mounted", data.display())));
    }
    match std::fs::remove_dir_all(volume_dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Mounts a volume's file system on its `_data`.
pub fn mount(device: &DeviceMount, data: &Path) -> io::Result<()> {
    let words: Vec<String> = device.options.split(',').map(str::to_string).collect();
    let parsed = parse_options(&words);
    let bind = words.iter().any(|w| w == "bind" || w == "rbind");
    let failed = |e: nix::errno::Errno| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!(
                "failed to mount local volume: mount {}:{}, type {}, options {:?}: {e}",
                device.device,
                data.display(),
                device.fs_type,
                device.options
            ),
        )
    };
    if bind {
        let mut flags = MsFlags::MS_BIND;
        if parsed.recursive {
            flags |= MsFlags::MS_REC;
        }
        nix::mount::mount(Some(device.device.as_str()), data, None::<&str>, flags, None::<&str>).map_err(failed)?;
        if !parsed.flags.is_empty() {
            let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | parsed.flags;
            if let Err(e) = nix::mount::mount(None::<&str>, data, None::<&str>, remount, None::<&str>) {
                let _ = nix::mount::umount2(data, MntFlags::MNT_DETACH);
                return Err(failed(e));
            }
        }
    } else {
        let extra = (!parsed.data.is_empty()).then_some(parsed.data.as_str());
        nix::mount::mount(Some(device.device.as_str()), data, Some(device.fs_type.as_str()), parsed.flags, extra)
            .map_err(failed)?;
    }
    Ok(())
}

/// Unmounts what is mounted on a volume's `_data` (lazily, as a container may still be
/// letting go of it).
pub fn unmount(data: &Path) -> io::Result<()> {
    match nix::mount::umount2(data, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(io::Error::new(io::Error::from(e).kind(), format!("unmounting {}: {e}", data.display()))),
    }
}

/// Whether something is mounted exactly on `path` in the daemon's mount namespace.
pub fn is_mounted(path: &Path) -> io::Result<bool> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mount_points(&mountinfo).any(|point| Path::new(&point) == path))
}

/// The mount points of a mountinfo text, unescaped (`\040` is a space).
fn mount_points(mountinfo: &str) -> impl Iterator<Item = String> + '_ {
    mountinfo.lines().filter_map(|line| line.split(' ').nth(4)).map(unescape_octal)
}

fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let value = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a directory has no entries (a missing one counts as empty).
pub fn is_empty(dir: &Path) -> io::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

/// The bytes of the regular files below `dir`, each inode counted once, without following
/// symlinks or crossing into other file systems: what removing the directory frees.
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.dev() != top.dev() {
                continue;
            }
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() && seen.insert(meta.ino()) {
                total += meta.len();
            }
        }
    }
    total
}

/// Copies the tree below `source` (an image's directory, seen through the container's root)
/// into the volume directory `target`, then gives `target` the source's owner and mode, as
/// dockerd's `copyExistingContents` does. Hard links are copied as separate files. With
/// `shift` (a tenant's volume, bound into its user namespace as it is) every owner is moved
/// into the namespace's host range.
pub fn seed(source: BorrowedFd<'_>, target: BorrowedFd<'_>, shift: Option<&IdMapping>) -> io::Result<()> {
    copy_entries(source, target, shift)?;
    let stat = shifted(stat_at(source, OsStr::new(""))?, shift);
    chown_at(target, OsStr::new(""), &stat)?;
    nix::sys::stat::fchmod(target, Mode::from_bits_truncate(stat.mode & 0o7777))?;
    set_times(target, OsStr::new(""), &stat)
}

/// Seeds the volume directory `data` from `path` inside a container's root, when that is a
/// directory and the volume is empty; anything else leaves the volume as it is. `shift` as for
/// `seed`.
pub fn seed_from_root(root: BorrowedFd<'_>, path: &str, data: &Path, shift: Option<&IdMapping>) -> io::Result<()> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
    let source = match super::init::paths::open_in_root(root, path, flags) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let target = open_dir(data)?;
    if !list_dir(target.as_fd())?.is_empty() {
        return Ok(());
    }
    seed(source.as_fd(), target.as_fd(), shift)
}

/// Opens a directory to seed from or into (read-only, never through a final symlink).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(nix::fcntl::open(path, flags, Mode::empty())?)
}

/// A stat with its owner moved into `shift`'s host range, when there is one.
fn shifted(mut stat: Stat, shift: Option<&IdMapping>) -> Stat {
    if let Some(mapping) = shift {
        (stat.uid, stat.gid) = mapping.shift_owner(stat.uid, stat.gid);
    }
    stat
}

/// Gives a volume's data directory (or the root of the file system mounted on it) to a
/// tenant's container root, for whom a fresh volume must be writable as it is for root.
pub fn give_data_to(data: &Path, mapping: &IdMapping) -> io::Result<()> {
    std::os::unix::fs::lchown(data, Some(mapping.host_uid), Some(mapping.host_gid))
}

fn copy_entries(source: BorrowedFd<'_>, target: BorrowedFd<'_>, shift: Option<&IdMapping>) -> io::Result<()> {
    for name in list_dir(source)? {
        let name = name.as_os_str();
        let stat = shifted(stat_at(source, name)?, shift);
        match stat.file_type() {
            libc::S_IFDIR => {
                mkdirat(target, name, Mode::S_IRWXU)?;
                let from = open_dir_at(source, name)?;
                let to = open_dir_at(target, name)?;
                copy_entries(from.as_fd(), to.as_fd(), shift)?;
                chown_at(to.as_fd(), OsStr::new(""), &stat)?;
                nix::sys::stat::fchmod(&to, Mode::from_bits_truncate(stat.mode & 0o7777))?;
                set_times(to.as_fd(), OsStr::new(""), &stat)?;
            }
            libc::S_IFREG => copy_file(source, target, name, &stat)?,
            libc::S_IFLNK => {
                let link = nix::fcntl::readlinkat(source, name)?;
                nix::unistd::symlinkat(link.as_os_str(), target, name)?;
                chown_at(target, name, &stat)?;
                set_times(target, name, &stat)?;
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                if stat.is_whiteout() {
                    continue;
                }
                let kind = SFlag::from_bits_truncate(stat.file_type());
                let device = libc::makedev(stat.rdev_major, stat.rdev_minor);
                nix::sys::stat::mknodat(target, name, kind, Mode::from_bits_truncate(stat.mode & 0o7777), device)?;
                chown_at(target, name, &stat)?;
                set_times(target, name, &stat)?;
            }
            // Sockets belong to the process that made them.
            _ => {}
        }
    }
    Ok(())
}

fn copy_file(source: BorrowedFd<'_>, target: BorrowedFd<'_>, name: &OsStr, stat: &Stat) -> io::Result<()> {
    let mut from = super::container_fs::fsutil::open_file_at(source, name)?;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut to = File::from(openat(target, name, flags, Mode::S_IRUSR | Mode::S_IWUSR)?);
    io::copy(&mut from, &mut to)?;
    std::os::unix::fs::fchown(&to, Some(stat.uid), Some(stat.gid))?;
    // After the chown, which clears setuid and setgid.
    nix::sys::stat::fchmod(&to, Mode::from_bits_truncate(stat.mode & 0o7777))?;
    if let Some(capability) = capability_at(source, name) {
        let path = format!("/proc/self/fd/{}", to.as_raw_fd());
        match xattr::set(&path, CAPABILITY_XATTR, &capability) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EPERM)) => {}
            other => other?,
        }
    }
    set_times(to.as_fd(), OsStr::new(""), stat)
}

fn chown_at(dir: BorrowedFd<'_>, name: &OsStr, stat: &Stat) -> io::Result<()> {
    let mut flags = AtFlags::AT_SYMLINK_NOFOLLOW;
    if name.is_empty() {
        flags |= AtFlags::AT_EMPTY_PATH;
    }
    Ok(fchownat(dir, name, Some(Uid::from_raw(stat.uid)), Some(Gid::from_raw(stat.gid)), flags)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn mountinfo_points_are_unescaped() {
        let info = "36 35 98:0 / /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:5 / /data/volumes/v/_data rw - tmpfs tmpfs rw,size=100k\n";
        let points: Vec<String> = mount_points(info).collect();
        assert_eq!(points, ["/mnt/with space", "/data/volumes/v/_data"]);
    }

    #[test]
    fn create_remove_and_usage() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("volumes/v1");
        create(&volume).unwrap();
        let data = volume.join(DATA_DIR);
        assert!(is_empty(&data).unwrap());
        std::fs::write(data.join("a"), b"12345").unwrap();
        std::fs::create_dir(data.join("sub")).unwrap();
        std::fs::write(data.join("sub/b"), b"123").unwrap();
        std::fs::hard_link(data.join("a"), data.join("a2")).unwrap();
        assert!(!is_empty(&data).unwrap());
        assert_eq!(disk_usage(&data), 8);
        remove(&volume).unwrap();
        assert!(!volume.exists());
        remove(&volume).unwrap();
    }

    #[test]
    fn seeding_copies_the_tree_with_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("sub/file"), b"hello").unwrap();
        std::fs::set_permissions(from.join("sub/file"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::set_permissions(from.join("sub"), std::fs::Permissions::from_mode(0o710)).unwrap();
        std::fs::set_permissions(&from, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("link")).unwrap();
        std::fs::create_dir(&to).unwrap();
        seed(open_dir(&from).unwrap().as_fd(), open_dir(&to).unwrap().as_fd(), None).unwrap();
        assert_eq!(std::fs::read(to.join("sub/file")).unwrap(), b"hello");
        assert_eq!(std::fs::metadata(to.join("sub/file")).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(std::fs::metadata(to.join("sub")).unwrap().mode() & 0o7777, 0o710);
        assert_eq!(std::fs::metadata(&to).unwrap().mode() & 0o7777, 0o750);
        assert_eq!(std::fs::read_link(to.join("link")).unwrap(), Path::new("/etc/passwd"));
        let (a, b) =
            (std::fs::metadata(from.join("sub/file")).unwrap(), std::fs::metadata(to.join("sub/file")).unwrap());
        assert_eq!(a.mtime(), b.mtime());
        assert!(
            seed(open_dir(&from).unwrap().as_fd(), open_dir(&to).unwrap().as_fd(), None).is_err(),
            "never overwrites"
        );
    }
}
