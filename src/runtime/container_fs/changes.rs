//! What a container changed, from its writable layer alone: `docker diff` and the layer
//! `docker commit` makes.
//!
//! The result is what dockerd's naive diff reports (`archive.ChangesDirs` of the container's
//! view against the image's), computed without mounting either: only `upper/` is walked, and
//! each entry found there is looked up in the image's layers merged as overlayfs merges them
//! (whiteouts and opaque directories hide what is below):
//!
//! - an entry the image does not have is **added** (and so is everything below it);
//! - an entry the image has is **modified** when its type, permissions, owner or device number
//!   differ, or, for a non-directory, its size or modification time, or its file capabilities;
//!   an unchanged directory is not reported, unless something inside it changed;
//! - a whiteout (character device 0/0) is a **deletion** of what the image had there, and so is
//!   every entry of the image hidden by an opaque directory.
//!
//! The mount points kapsel creates in the writable layer when the image lacks them (empty
//! `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`; empty `/proc`, `/sys`, `/dev`) are left
//! out, as Docker keeps its equivalents in a separate init layer. Every walk opens each
//! directory with `O_NOFOLLOW` from the one above it; nothing in the layers is followed.

use std::collections::{BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use xattr::FileExt;

use super::fsutil::{Stat, capability_at, list_dir, open_dir_at, stat_at};
use super::pack::TarWriter;

/// The xattr overlayfs sets on a directory that hides the layers below.
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The prefix that marks a deleted path in a layer tarball.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Files kapsel creates (empty) as bind mount points for its generated /etc files.
const ETC_MOUNT_POINTS: [&str; 3] = ["hostname", "hosts", "resolv.conf"];
/// Directories kapsel creates (empty) as mount points when the image lacks them.
const SYSTEM_MOUNT_POINTS: [&str; 3] = ["proc", "sys", "dev"];

/// How a path changed, with Docker's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Changed (0, `C`).
    Modified = 0,
    /// Added (1, `A`).
    Added = 1,
    /// Deleted (2, `D`).
    Deleted = 2,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The path's components below `/`.
    pub components: Vec<OsString>,
    /// How it changed.
    pub kind: ChangeKind,
}

impl Change {
    /// The absolute path, `/`-separated (lossy for names that are not UTF-8).
    pub fn path(&self) -> String {
        let parts: Vec<_> = self.components.iter().map(|c| c.to_string_lossy()).collect();
        format!("/{}", parts.join("/"))
    }

    /// The absolute path as bytes, for sorting and archive names.
    fn path_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for component in &self.components {
            bytes.push(b'/');
            bytes.extend_from_slice(component.as_bytes());
        }
        bytes
    }
}

/// The changes in the writable layer `upper` over the image layers `lower` (top layer first),
/// sorted by path.
pub fn upper_changes(upper: &Path, lower: &[PathBuf]) -> io::Result<Vec<Change>> {
    let view = LowerView::open(lower)?;
    let upper_dir = open_path_dir(upper)?;
    let mut differ = Differ { lower: view, changes: Vec::new() };
    let opaque = is_opaque(upper_dir.as_fd());
    differ.walk(upper_dir.as_fd(), &mut Vec::new(), true, opaque)?;
    let mut changes = differ.changes;
    changes.sort_by_key(Change::path_bytes);
    changes.dedup();
    Ok(changes)
}

/// Writes the changes as a layer tarball: added and modified entries from `upper` (a
/// directory's header without its contents: those that changed are changes of their own),
/// deleted ones as `.wh.` whiteout files. `changes` must be sorted (parents first).
pub fn write_layer<W: Write>(
    upper: &Path,
    changes: &[Change],
    out: W,
    owners: Option<crate::runtime::userns::IdMapping>,
) -> io::Result<W> {
    let upper_dir = open_path_dir(upper)?;
    let mut writer = TarWriter::new(out).with_owners(owners);
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    for change in changes {
        let Some((last, parents)) = change.components.split_last() else {
            continue;
        };
        let mut name = Vec::new();
        for parent in parents {
            name.extend_from_slice(parent.as_bytes());
            name.push(b'/');
        }
        if change.kind == ChangeKind::Deleted {
            name.extend_from_slice(WHITEOUT_PREFIX);
            name.extend_from_slice(last.as_bytes());
            writer.append_whiteout(&name, now)?;
            continue;
        }
        name.extend_from_slice(last.as_bytes());
        let parent = open_components(upper_dir.as_fd(), parents)?;
        let stat = stat_at(parent.as_fd(), last)?;
        writer.append(parent.as_fd(), last, &stat, &name, true)?;
    }
    writer.finish()
}

/// The walk over the writable layer.
struct Differ {
    /// The image's layers, merged.
    lower: LowerView,
    /// What was found so far.
    changes: Vec<Change>,
}

/// What a directory's walk found besides changes.
#[derive(Debug, Default)]
struct DirSummary {
    /// Entries that are not kapsel's mount points.
    real_entries: usize,
    /// kapsel's mount points, left out.
    mount_points: usize,
}

impl Differ {
    /// Walks the upper directory `dir` at `path`; `lower_dir` tells whether the image has a
    /// directory there, `opaque` whether `dir` hides the image's contents.
    fn walk(
        &mut self,
        dir: BorrowedFd<'_>,
        path: &mut Vec<OsString>,
        lower_dir: bool,
        opaque: bool,
    ) -> io::Result<DirSummary> {
        let mut summary = DirSummary::default();
        let names = list_dir(dir)?;
        for name in &names {
            let stat = match stat_at(dir, name) {
                Ok(stat) => stat,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            path.push(name.clone());
            let result = self.entry(dir, name, &stat, path, lower_dir, &mut summary);
            path.pop();
            result?;
        }
        if opaque && lower_dir {
            let present: HashSet<&OsString> = names.iter().collect();
            for hidden in self.lower.children(path)? {
                if !present.contains(&hidden) {
                    let mut components = path.clone();
                    components.push(hidden);
                    self.changes.push(Change { components, kind: ChangeKind::Deleted });
                    summary.real_entries += 1;
                }
            }
        }
        Ok(summary)
    }

    /// Classifies one upper entry (`path` ends with `name`) and walks below it.
    fn entry(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        stat: &Stat,
        path: &mut Vec<OsString>,
        lower_dir: bool,
        summary: &mut DirSummary,
    ) -> io::Result<()> {
        if stat.is_whiteout() {
            if lower_dir && self.lower.lookup(path)?.is_some() {
                self.changes.push(Change { components: path.clone(), kind: ChangeKind::Deleted });
                summary.real_entries += 1;
            }
            return Ok(());
        }
        let old = if lower_dir { self.lower.lookup(path)? } else { None };
        if old.is_none() && is_mount_point(path, stat, dir, name)? {
            summary.mount_points += 1;
            return Ok(());
        }
        summary.real_entries += 1;
        let start = self.changes.len();
        let recorded = match &old {
            None => Some(ChangeKind::Added),
            Some(old) if differs(old, stat) || self.capabilities_differ(old, stat, dir, name, path)? => {
                Some(ChangeKind::Modified)
            }
            Some(_) => None,
        };
        if let Some(kind) = recorded {
            self.changes.push(Change { components: path.clone(), kind });
        }
        if !stat.is_dir() {
            return Ok(());
        }
        let child = match open_dir_at(dir, name) {
            Ok(child) => child,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP | libc::ENOTDIR)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let child_lower_dir = old.as_ref().is_some_and(Stat::is_dir);
        let opaque = is_opaque(child.as_fd());
        let inner = self.walk(child.as_fd(), path, child_lower_dir, opaque)?;
        if recorded == Some(ChangeKind::Added) && inner.real_entries == 0 && inner.mount_points > 0 {
            // A directory made only to hold kapsel's mount points (/etc in an image without it).
            self.changes.truncate(start);
            summary.real_entries -= 1;
            summary.mount_points += 1;
        } else if recorded.is_none() && self.changes.len() > start {
            // Something inside changed: the directory is reported too, as dockerd does.
            self.changes.insert(start, Change { components: path.clone(), kind: ChangeKind::Modified });
        }
        Ok(())
    }

    /// Compares file capabilities of two otherwise equal regular files.
    fn capabilities_differ(
        &self,
        old: &Stat,
        new: &Stat,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &[OsString],
    ) -> io::Result<bool> {
        if !old.is_regular() || !new.is_regular() {
            return Ok(false);
        }
        Ok(capability_at(dir, name) != self.lower.capability(path)?)
    }
}

/// dockerd's `statDifferent`: type and permissions, owner, device number; for non-directories
/// also size and modification time (equal, or equal seconds when one side has no nanoseconds).
fn differs(old: &Stat, new: &Stat) -> bool {
    if old.mode != new.mode
        || old.uid != new.uid
        || old.gid != new.gid
        || (old.rdev_major, old.rdev_minor) != (new.rdev_major, new.rdev_minor)
    {
        return true;
    }
    if old.is_dir() {
        return false;
    }
    let same_time = (old.mtime_sec, old.mtime_nsec) == (new.mtime_sec, new.mtime_nsec)
        || (old.mtime_sec == new.mtime_sec && (old.mtime_nsec == 0 || new.mtime_nsec == 0));
    !same_time || old.size != new.size
}

/// Tells whether an entry the image lacks is one of kapsel's mount points.
fn is_mount_point(path: &[OsString], stat: &Stat, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<bool> {
    match path {
        [etc, file] if etc == "etc" && ETC_MOUNT_POINTS.iter().any(|m| file == m) => {
            Ok(stat.is_regular() && stat.size == 0)
        }
        [top] if SYSTEM_MOUNT_POINTS.iter().any(|m| top == m) && stat.is_dir() => {
            let child = open_dir_at(dir, name)?;
            Ok(list_dir(child.as_fd())?.is_empty())
        }
        _ => Ok(false),
    }
}

/// The image's layers, merged the way overlayfs merges them.
struct LowerView {
    /// Each layer's root directory, top layer first.
    layers: Vec<OwnedFd>,
}

/// What one layer says about a path.
enum LayerLookup {
    /// The layer has something there (maybe a whiteout), opened when it is a directory and
    /// the caller asked.
    Found(Stat, Option<OwnedFd>),
    /// The layer hides the path: a parent is a whiteout or not a directory.
    Hidden,
    /// The layer has nothing there; `opaque` when a parent in this layer hides the layers below.
    Missing {
        /// A parent directory in this layer is opaque.
        opaque: bool,
    },
}

impl LowerView {
    /// Opens the layer directories.
    fn open(layers: &[PathBuf]) -> io::Result<LowerView> {
        Ok(LowerView { layers: layers.iter().map(|l| open_path_dir(l)).collect::<io::Result<_>>()? })
    }

    /// The file the image has at `path`, if any.
    fn lookup(&self, path: &[OsString]) -> io::Result<Option<Stat>> {
        for layer in &self.layers {
            match walk_layer(layer.as_fd(), path, false)? {
                LayerLookup::Found(stat, _) if stat.is_whiteout() => return Ok(None),
                LayerLookup::Found(stat, _) => return Ok(Some(stat)),
                LayerLookup::Hidden | LayerLookup::Missing { opaque: true } => return Ok(None),
                LayerLookup::Missing { opaque: false } => {}
            }
        }
        Ok(None)
    }

    /// The file capabilities of the image's regular file at `path`.
    fn capability(&self, path: &[OsString]) -> io::Result<Option<Vec<u8>>> {
        let Some((last, parents)) = path.split_last() else {
            return Ok(None);
        };
        for layer in &self.layers {
            match walk_layer(layer.as_fd(), path, false)? {
                LayerLookup::Found(stat, _) if stat.is_whiteout() => return Ok(None),
                LayerLookup::Found(_, _) => {
                    let parent = open_components(layer.as_fd(), parents)?;
                    return Ok(capability_at(parent.as_fd(), last));
                }
                LayerLookup::Hidden | LayerLookup::Missing { opaque: true } => return Ok(None),
                LayerLookup::Missing { opaque: false } => {}
            }
        }
        Ok(None)
    }

    /// The names in the image's directory at `path` (whiteouts and hidden entries left out).
    fn children(&self, path: &[OsString]) -> io::Result<BTreeSet<OsString>> {
        let mut seen = HashSet::new();
        let mut names = BTreeSet::new();
        for layer in &self.layers {
            let dir = match walk_layer(layer.as_fd(), path, true)? {
                LayerLookup::Found(stat, Some(dir)) if stat.is_dir() => dir,
                LayerLookup::Missing { opaque: false } => continue,
                _ => break,
            };
            for name in list_dir(dir.as_fd())? {
                if !seen.insert(name.clone()) {
                    continue;
                }
                if !stat_at(dir.as_fd(), &name).is_ok_and(|s| s.is_whiteout()) {
                    names.insert(name);
                }
            }
            if is_opaque(dir.as_fd()) {
                break;
            }
        }
        Ok(names)
    }
}

/// Looks `path` up in one layer, one no-follow component at a time.
fn walk_layer(layer: BorrowedFd<'_>, path: &[OsString], open_dir: bool) -> io::Result<LayerLookup> {
    let Some((last, parents)) = path.split_last() else {
        let stat = stat_at(layer, OsStr::new(""))?;
        let dir = if open_dir { Some(reopen_dir(layer)?) } else { None };
        return Ok(LayerLookup::Found(stat, dir));
    };
    let mut opaque = false;
    let mut current: Option<OwnedFd> = None;
    for component in parents {
        let at = current.as_ref().map_or(layer, |fd| fd.as_fd());
        let stat = match stat_at(at, component) {
            Ok(stat) => stat,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LayerLookup::Missing { opaque }),
            Err(e) => return Err(e),
        };
        if !stat.is_dir() {
            return Ok(LayerLookup::Hidden);
        }
        let child = open_dir_at(at, component)?;
        opaque |= is_opaque(child.as_fd());
        current = Some(child);
    }
    let at = current.as_ref().map_or(layer, |fd| fd.as_fd());
    match stat_at(at, last) {
        Ok(stat) => {
            let dir = if open_dir && stat.is_dir() { Some(open_dir_at(at, last)?) } else { None };
            Ok(LayerLookup::Found(stat, dir))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LayerLookup::Missing { opaque }),
        Err(e) => Err(e),
    }
}

/// Opens the directories `components` below `dir`, one no-follow step at a time.
fn open_components(dir: BorrowedFd<'_>, components: &[OsString]) -> io::Result<OwnedFd> {
    let mut current = reopen_dir(dir)?;
    for component in components {
        current = open_dir_at(current.as_fd(), component)?;
    }
    Ok(current)
}

/// A new readable descriptor of the directory `dir`.
fn reopen_dir(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    Ok(nix::fcntl::openat(dir, ".", flags, Mode::empty())?)
}

/// Opens a daemon-owned directory (a layer, the upper dir) by its host path.
fn open_path_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    nix::fcntl::open(path, flags, Mode::empty())
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("opening {}: {e}", path.display())))
}

/// Tells whether a directory is marked opaque for overlayfs.
fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let Ok(fd) = dir.try_clone_to_owned() else {
        return false;
    };
    matches!(File::from(fd).get_xattr(OPAQUE_XATTR), Ok(Some(value)) if value == b"y")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// A fake image (two layers) and writable layer, in overlay form.
    struct Layers {
        dir: tempfile::TempDir,
    }

    impl Layers {
        fn new() -> Layers {
            let dir = tempfile::tempdir().unwrap();
            for sub in ["bottom", "top", "upper"] {
                std::fs::create_dir(dir.path().join(sub)).unwrap();
            }
            Layers { dir }
        }

        fn at(&self, layer: &str, path: &str) -> PathBuf {
            self.dir.path().join(layer).join(path)
        }

        fn file(&self, layer: &str, path: &str, content: &str) {
            let full = self.at(layer, path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, content).unwrap();
            let time = filetime::FileTime::from_unix_time(1_600_000_000, 0);
            filetime::set_symlink_file_times(&full, time, time).unwrap();
        }

        fn dir(&self, layer: &str, path: &str) {
            std::fs::create_dir_all(self.at(layer, path)).unwrap();
        }

        fn whiteout(&self, layer: &str, path: &str) -> bool {
            let full = self.at(layer, path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            nix::sys::stat::mknod(&full, nix::sys::stat::SFlag::S_IFCHR, Mode::empty(), 0).is_ok()
        }

        fn opaque(&self, layer: &str, path: &str) -> bool {
            xattr::set(self.at(layer, path), OPAQUE_XATTR, b"y").is_ok()
        }

        fn changes(&self) -> Vec<(String, ChangeKind)> {
            let lower = [self.at("top", ""), self.at("bottom", "")];
            upper_changes(&self.at("upper", ""), &lower).unwrap().into_iter().map(|c| (c.path(), c.kind)).collect()
        }
    }

    use ChangeKind::{Added as A, Deleted as D, Modified as C};

    fn expect(list: &[(&str, ChangeKind)]) -> Vec<(String, ChangeKind)> {
        list.iter().map(|(p, k)| (p.to_string(), *k)).collect()
    }

    #[test]
    fn classifies_added_modified_and_unchanged() {
        let l = Layers::new();
        l.file("bottom", "etc/passwd", "root");
        l.file("bottom", "etc/group", "root");
        l.file("top", "bin/sh", "sh");
        // Copied up and rewritten.
        l.file("upper", "etc/passwd", "root\nuser");
        // Copied up, unchanged (same size and time): not a change.
        l.file("upper", "etc/group", "root");
        l.file("upper", "new/dir/file", "x");
        l.file("upper", "bin/added", "y");
        std::fs::set_permissions(l.at("upper", "etc"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(l.at("bottom", "etc"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            l.changes(),
            expect(&[
                ("/bin", C),
                ("/bin/added", A),
                ("/etc", C),
                ("/etc/passwd", C),
                ("/new", A),
                ("/new/dir", A),
                ("/new/dir/file", A)
            ])
        );
    }

    #[test]
    fn whiteouts_and_opaque_directories_are_deletions() {
        let l = Layers::new();
        l.file("bottom", "etc/motd", "hi");
        l.file("bottom", "var/cache/a", "a");
        l.file("bottom", "var/cache/b", "b");
        l.file("top", "var/cache/c", "c");
        l.file("top", "etc/issue", "x");
        l.dir("upper", "etc");
        if !l.whiteout("upper", "etc/motd") {
            eprintln!("note: skipped, creating whiteouts needs CAP_MKNOD");
            return;
        }
        // A whiteout of something the image never had is not a change.
        assert!(l.whiteout("upper", "etc/never"));
        l.file("upper", "var/cache/b", "new b");
        if !l.opaque("upper", "var/cache") {
            eprintln!("note: skipped, trusted xattrs need CAP_SYS_ADMIN");
            return;
        }
        assert_eq!(
            l.changes(),
            expect(&[
                ("/etc", C),
                ("/etc/motd", D),
                ("/var", C),
                ("/var/cache", C),
                ("/var/cache/a", D),
                ("/var/cache/b", C),
                ("/var/cache/c", D),
            ])
        );
    }

    #[test]
    fn lower_layers_merge_like_overlayfs() {
        let l = Layers::new();
        l.file("bottom", "gone/file", "x");
        l.file("bottom", "hidden/old", "x");
        if !l.whiteout("top", "gone") {
            eprintln!("note: skipped, creating whiteouts needs CAP_MKNOD");
            return;
        }
        l.dir("top", "hidden");
        if !l.opaque("top", "hidden") {
            eprintln!("note: skipped, trusted xattrs need CAP_SYS_ADMIN");
            return;
        }
        // Deleted in the image, then made again by the container: an addition.
        l.file("upper", "gone/file", "x");
        l.file("upper", "hidden/old", "x");
        let changes = l.changes();
        assert!(changes.contains(&("/gone".to_string(), A)), "{changes:?}");
        assert!(changes.contains(&("/hidden/old".to_string(), A)), "{changes:?}");
    }

    #[test]
    fn kapsels_mount_points_are_left_out() {
        let l = Layers::new();
        l.file("bottom", "bin/sh", "sh");
        l.file("upper", "etc/hostname", "");
        l.file("upper", "etc/hosts", "");
        l.dir("upper", "proc");
        l.dir("upper", "sys");
        assert_eq!(l.changes(), []);
        // The same files with content are real changes.
        l.file("upper", "etc/hosts", "127.0.0.1 x");
        l.file("upper", "proc/x", "");
        assert_eq!(l.changes(), expect(&[("/etc", A), ("/etc/hosts", A), ("/proc", A), ("/proc/x", A)]));
    }

    #[test]
    fn symlinks_in_the_upper_layer_are_not_followed() {
        let l = Layers::new();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        symlink(outside.path(), l.at("upper", "link")).unwrap();
        assert_eq!(l.changes(), expect(&[("/link", A)]));
    }

    #[test]
    fn layer_tarballs_carry_changes_and_whiteouts() {
        let l = Layers::new();
        l.file("bottom", "etc/motd", "hi");
        l.file("upper", "etc/new", "new");
        let mut changes = upper_changes(&l.at("upper", ""), &[l.at("bottom", "")]).unwrap();
        changes.push(Change { components: vec!["etc".into(), "motd".into()], kind: ChangeKind::Deleted });
        changes.sort_by_key(Change::path_bytes);
        let tar = write_layer(&l.at("upper", ""), &changes, Vec::new(), None).unwrap();
        let names: Vec<String> = super::super::pack::entry_names(&tar[..])
            .unwrap()
            .into_iter()
            .map(|(n, _)| n.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["etc/", "etc/.wh.motd", "etc/new"]);
    }
}
