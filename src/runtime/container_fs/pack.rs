//! Tar archives of a container's files, entry by entry from open descriptors, in the form
//! dockerd writes them: names exactly as Go's tarballer makes them (`etc/`, `./passwd`,
//! `/bin/` — the CLI rebases on these strings), numeric owners, second-precision times,
//! hardlinks as link entries, symlinks as symlinks (never followed), `security.capability`
//! as a PAX record, sockets left out.
//!
//! Two walks are built on it: the archive of one path for `docker cp` (which does not descend
//! into kernel file systems such as a running container's /proc and /sys) and the export of a
//! whole root for `docker export` (which stays on the root's own mount, as dockerd exports the
//! container's root file system without what is mounted on it).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::OFlag;
use tar::{EntryType, Header};

use super::fsutil::{self, Stat, capability_at, is_kernel_fs, list_dir, open_dir_at, open_file_at, stat_at};
use super::stat::{ContainerPath, PathStat};
use crate::runtime::init::paths::open_in_root;
use crate::runtime::userns::IdMapping;

/// Bytes a ustar/GNU header holds for a name or link target.
const NAME_FIELD: usize = 100;
/// The name GNU tar gives its long-name and long-link entries.
const GNU_LONG_NAME: &[u8] = b"././@LongLink";
/// The name of a PAX extended header entry.
const PAX_HEADER_NAME: &[u8] = b"././@PaxHeader";

/// Which directories a walk enters besides those on the root's own file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// Every mount except kernel file systems (proc, sysfs, cgroup, devpts, …).
    SkipKernelFs,
    /// Only the mount with this id; what is mounted below appears as an empty directory or file.
    Mount(u64),
}

/// Writes tar entries the way dockerd's tar appender does.
pub struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    /// (device, inode) of files with several links → the name they were first archived under.
    hardlinks: HashMap<(u64, u64), Vec<u8>>,
    /// A user-namespaced container's mapping: owners are recorded as the container sees them.
    owners: Option<IdMapping>,
}

impl<W: Write> TarWriter<W> {
    /// A writer onto `out`.
    pub fn new(out: W) -> TarWriter<W> {
        TarWriter { builder: tar::Builder::new(out), hardlinks: HashMap::new(), owners: None }
    }

    /// Records owners as a user-namespaced container with `mapping` sees them (host ids of its
    /// range become its own), when there is a mapping.
    pub fn with_owners(mut self, mapping: Option<IdMapping>) -> TarWriter<W> {
        self.owners = mapping;
        self
    }

    /// Appends the file `name` in `dir` (`dir` itself when `name` is empty), already statted as
    /// `stat`, under `archive_name` (a `/` is added for directories). A regular file's content
    /// follows its header, unless `with_content` is false (the file then appears empty).
    /// Sockets are skipped.
    pub fn append(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        stat: &Stat,
        archive_name: &[u8],
        with_content: bool,
    ) -> io::Result<()> {
        let mut archive_name = archive_name.to_vec();
        if stat.is_dir() && !archive_name.ends_with(b"/") {
            archive_name.push(b'/');
        }
        let mut header = base_header(stat, self.owners.as_ref());
        let kind = match stat.file_type() {
            libc::S_IFDIR => EntryType::Directory,
            libc::S_IFREG => EntryType::Regular,
            libc::S_IFLNK => EntryType::Symlink,
            libc::S_IFCHR => EntryType::Char,
            libc::S_IFBLK => EntryType::Block,
            libc::S_IFIFO => EntryType::Fifo,
            _ => return Ok(()),
        };
        header.set_entry_type(kind);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            header.set_device_major(stat.rdev_major)?;
            header.set_device_minor(stat.rdev_minor)?;
        }
        if !stat.is_dir() && stat.nlink > 1 {
            if let Some(first) = self.hardlinks.get(&(stat.dev, stat.ino)) {
                let first = first.clone();
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                return self.write(header, &archive_name, Some(&first), &mut io::empty());
            }
            self.hardlinks.insert((stat.dev, stat.ino), archive_name.clone());
        }
        match kind {
            EntryType::Symlink => {
                let target = fsutil::read_link_at(dir, name)?;
                self.write(header, &archive_name, Some(target.as_bytes()), &mut io::empty())
            }
            EntryType::Regular if with_content && !name.is_empty() => {
                let file = open_file_at(dir, name)?;
                let size = file.metadata()?.len();
                header.set_size(size);
                if let Some(caps) = capability_at(dir, name) {
                    self.write_pax(&[(format!("SCHILY.xattr.{}", fsutil::CAPABILITY_XATTR).as_bytes(), &caps)])?;
                }
                // Exactly `size` bytes, even if the file changes while it is read.
                let mut content = file.take(size).chain(io::repeat(0)).take(size);
                self.write(header, &archive_name, None, &mut content)
            }
            _ => self.write(header, &archive_name, None, &mut io::empty()),
        }
    }

    /// Appends an empty regular file: how layers mark a deleted path (`dir/.wh.name`).
    pub fn append_whiteout(&mut self, archive_name: &[u8], mtime: u64) -> io::Result<()> {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_size(0);
        self.write(header, archive_name, None, &mut io::empty())
    }

    /// Writes the end-of-archive marker and returns the output.
    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }

    /// Writes a header with its exact name (and link target), preceded by GNU long-name
    /// entries when they do not fit, then the content.
    fn write(
        &mut self,
        mut header: Header,
        name: &[u8],
        link: Option<&[u8]>,
        content: &mut dyn Read,
    ) -> io::Result<()> {
        if let Some(link) = link {
            if link.len() > NAME_FIELD {
                self.write_long(EntryType::GNULongLink, link)?;
            }
            let field = &mut header.as_old_mut().linkname;
            field.fill(0);
            field[..link.len().min(NAME_FIELD)].copy_from_slice(&link[..link.len().min(NAME_FIELD)]);
        }
        if name.len() > NAME_FIELD {
            self.write_long(EntryType::GNULongName, name)?;
        }
        let field = &mut header.as_old_mut().name;
        field.fill(0);
        field[..name.len().min(NAME_FIELD)].copy_from_slice(&name[..name.len().min(NAME_FIELD)]);
        header.set_cksum();
        self.builder.append(&header, content)
    }

    /// A GNU `L` (long name) or `K` (long link target) entry carrying `value`.
    fn write_long(&mut self, kind: EntryType, value: &[u8]) -> io::Result<()> {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(value.len() as u64 + 1);
        header.as_old_mut().name[..GNU_LONG_NAME.len()].copy_from_slice(GNU_LONG_NAME);
        header.set_cksum();
        let mut data = value.to_vec();
        data.push(0);
        self.builder.append(&header, &data[..])
    }

    /// A PAX extended header with `records` for the next entry.
    fn write_pax(&mut self, records: &[(&[u8], &[u8])]) -> io::Result<()> {
        let mut data = Vec::new();
        for (key, value) in records {
            let body = key.len() + value.len() + 3;
            let mut length = body + 1;
            while length != body + length.to_string().len() {
                length = body + length.to_string().len();
            }
            data.extend_from_slice(format!("{length} ").as_bytes());
            data.extend_from_slice(key);
            data.push(b'=');
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::XHeader);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.as_old_mut().name[..PAX_HEADER_NAME.len()].copy_from_slice(PAX_HEADER_NAME);
        header.set_cksum();
        self.builder.append(&header, &data[..])
    }
}

/// A header with the metadata every entry type shares.
fn base_header(stat: &Stat, owners: Option<&IdMapping>) -> Header {
    let (uid, gid) = owners.map_or((stat.uid, stat.gid), |m| m.unshift_owner(stat.uid, stat.gid));
    let mut header = Header::new_gnu();
    header.set_mode(stat.mode & 0o7777);
    header.set_uid(u64::from(uid));
    header.set_gid(u64::from(gid));
    header.set_mtime(stat.mtime_sec.max(0) as u64);
    header.set_size(0);
    header
}

/// Archives what `path` names inside `root`, as dockerd answers `GET /containers/{id}/archive`:
/// a directory recursively under its base name (`etc/…`, or `./…` for `dir/.`, `/…` for the
/// root), anything else as a single entry. `stat` is the path's stat, taken just before.
pub fn write_path_archive<W: Write>(
    root: BorrowedFd<'_>,
    path: &ContainerPath,
    stat: &PathStat,
    out: W,
    owners: Option<IdMapping>,
) -> io::Result<W> {
    let mut writer = TarWriter::new(out).with_owners(owners);
    let base = path.base_name();
    let base = if base == "/" { String::new() } else { base };
    if stat.is_dir() {
        let dir = path.open(root, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let dir_stat = stat_at(dir.as_fd(), OsStr::new(""))?;
        let prefix = format!("{base}/").into_bytes();
        writer.append(dir.as_fd(), OsStr::new(""), &dir_stat, &prefix, false)?;
        if !is_kernel_fs(dir.as_fd())? {
            walk(&mut writer, dir.as_fd(), &prefix, Boundary::SkipKernelFs)?;
        }
    } else {
        let (last, parents) =
            path.components.split_last().ok_or_else(|| io::Error::other("the root is a directory"))?;
        let parent = open_in_root(root, &parents.join("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let last = OsStr::new(last.as_str());
        let entry_stat = stat_at(parent.as_fd(), last)?;
        let readable = !is_kernel_fs(parent.as_fd())?;
        writer.append(parent.as_fd(), last, &entry_stat, base.as_bytes(), readable)?;
    }
    writer.finish()
}

/// Archives the whole root for `docker export`: every entry named relative to the root
/// (`bin/`, `bin/sh`), without the root itself, and nothing of the mounts below it.
pub fn write_export<W: Write>(root: BorrowedFd<'_>, out: W, owners: Option<IdMapping>) -> io::Result<W> {
    let mut writer = TarWriter::new(out).with_owners(owners);
    let root_stat = stat_at(root, OsStr::new(""))?;
    walk(&mut writer, root, b"", Boundary::Mount(root_stat.mnt_id))?;
    writer.finish()
}

/// Appends everything below `dir`, sorted, each name prefixed by `prefix`.
fn walk<W: Write>(writer: &mut TarWriter<W>, dir: BorrowedFd<'_>, prefix: &[u8], boundary: Boundary) -> io::Result<()> {
    for name in list_dir(dir)? {
        let stat = match stat_at(dir, &name) {
            Ok(stat) => stat,
            // Removed while the walk ran: the archive is a snapshot of a live tree.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut archive_name = prefix.to_vec();
        archive_name.extend_from_slice(name.as_bytes());
        let foreign = matches!(boundary, Boundary::Mount(id) if stat.mnt_id != id);
        if !stat.is_dir() {
            writer.append(dir, &name, &stat, &archive_name, !foreign)?;
            continue;
        }
        writer.append(dir, &name, &stat, &archive_name, false)?;
        if foreign {
            continue;
        }
        let child = match open_dir_at(dir, &name) {
            Ok(child) => child,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP | libc::ENOTDIR)) => continue,
            Err(e) => return Err(e),
        };
        if boundary == Boundary::SkipKernelFs && is_kernel_fs(child.as_fd())? {
            continue;
        }
        archive_name.push(b'/');
        walk(writer, child.as_fd(), &archive_name, boundary)?;
    }
    Ok(())
}

/// The names of an archive's entries with their types, for tests and checks.
pub fn entry_names<R: Read>(archive: R) -> io::Result<Vec<(OsString, EntryType)>> {
    let mut archive = tar::Archive::new(archive);
    let mut names = Vec::new();
    for entry in archive.entries()? {
        let entry = entry?;
        let name = OsStr::from_bytes(&entry.path_bytes()).to_os_string();
        names.push((name, entry.header().entry_type()));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::symlink;

    fn open_root(dir: &std::path::Path) -> OwnedFd {
        nix::fcntl::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("etc/conf.d")).unwrap();
        std::fs::write(base.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        std::fs::write(base.join("etc/conf.d/a.conf"), b"a").unwrap();
        std::fs::hard_link(base.join("etc/passwd"), base.join("etc/passwd-")).unwrap();
        symlink("/", base.join("escape")).unwrap();
        symlink("/etc", base.join("etc/self")).unwrap();
        std::fs::write(base.join("x".repeat(150)), b"long").unwrap();
        dir
    }

    fn archive(root: &OwnedFd, path: &str) -> Vec<(String, EntryType)> {
        let path = ContainerPath::parse(path);
        let stat = super::super::stat::stat_path(root.as_fd(), &path).unwrap();
        let bytes = write_path_archive(root.as_fd(), &path, &stat, Vec::new(), None).unwrap();
        entry_names(&bytes[..]).unwrap().into_iter().map(|(n, k)| (n.to_string_lossy().into_owned(), k)).collect()
    }

    fn names(entries: &[(String, EntryType)]) -> Vec<&str> {
        entries.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn directories_are_named_like_dockerd_names_them() {
        let dir = tree();
        let root = open_root(dir.path());
        let etc = archive(&root, "/etc");
        assert_eq!(names(&etc), ["etc/", "etc/conf.d/", "etc/conf.d/a.conf", "etc/passwd", "etc/passwd-", "etc/self"]);
        assert_eq!(etc[4].1, EntryType::Link, "the second name of a file is a hardlink");
        assert_eq!(etc[5].1, EntryType::Symlink);
        let contents = archive(&root, "/etc/.");
        assert_eq!(names(&contents)[..3], ["./", "./conf.d/", "./conf.d/a.conf"]);
        let trailing = archive(&root, "/etc/");
        assert_eq!(names(&trailing)[0], "etc/");
        let whole = archive(&root, "/");
        assert_eq!(names(&whole)[..3], ["/", "/escape", "/etc/"]);
        assert!(names(&whole).contains(&format!("/{}", "x".repeat(150)).as_str()), "long names survive");
    }

    #[test]
    fn symlinks_are_archived_not_followed() {
        let dir = tree();
        let root = open_root(dir.path());
        assert_eq!(archive(&root, "/escape"), [("escape".to_string(), EntryType::Symlink)]);
        // A trailing slash follows the link, but only inside the root.
        let through = archive(&root, "/escape/etc/");
        assert_eq!(names(&through)[0], "etc/");
        assert_eq!(through.len(), 6);
        let file = archive(&root, "/etc/self/passwd");
        assert_eq!(file, [("passwd".to_string(), EntryType::Regular)]);
    }

    #[test]
    fn file_content_and_metadata_round_trip() {
        let dir = tree();
        let root = open_root(dir.path());
        let path = ContainerPath::parse("/etc/passwd");
        let stat = super::super::stat::stat_path(root.as_fd(), &path).unwrap();
        let bytes = write_path_archive(root.as_fd(), &path, &stat, Vec::new(), None).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        assert_eq!(text, "root:x:0:0::/root:/bin/sh\n");
        assert_eq!(entry.header().mode().unwrap(), 0o644);
    }

    #[test]
    fn export_names_entries_relative_to_the_root() {
        let dir = tree();
        let root = open_root(dir.path());
        let bytes = write_export(root.as_fd(), Vec::new(), None).unwrap();
        let entries = entry_names(&bytes[..]).unwrap();
        let names: Vec<String> = entries.iter().map(|(n, _)| n.to_string_lossy().into_owned()).collect();
        assert_eq!(names[..3], ["escape", "etc/", "etc/conf.d/"]);
        assert!(!names.iter().any(|n| n.starts_with('/') || n.starts_with("./")));
    }
}
