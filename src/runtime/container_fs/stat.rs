//! `docker cp`'s view of one path in a container: how the path the client sent is read
//! (dockerd's rules for a trailing `/` and `/.`), the stat that travels in the
//! `X-Docker-Container-Path-Stat` header, and the in-root evaluation of symlinks behind its
//! `linkTarget`.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use serde::Serialize;

use super::fsutil::{Stat, read_link_at, stat_at};
use crate::runtime::init::paths::{clean_components, open_in_root};

/// Go's `os.ModeDir`.
pub const GO_MODE_DIR: u32 = 1 << 31;
/// Go's `os.ModeSymlink`.
pub const GO_MODE_SYMLINK: u32 = 1 << 27;
/// Go's `os.ModeDevice`.
pub const GO_MODE_DEVICE: u32 = 1 << 26;
/// Go's `os.ModeNamedPipe`.
pub const GO_MODE_NAMED_PIPE: u32 = 1 << 25;
/// Go's `os.ModeSocket`.
pub const GO_MODE_SOCKET: u32 = 1 << 24;
/// Go's `os.ModeSetuid`.
pub const GO_MODE_SETUID: u32 = 1 << 23;
/// Go's `os.ModeSetgid`.
pub const GO_MODE_SETGID: u32 = 1 << 22;
/// Go's `os.ModeCharDevice`.
pub const GO_MODE_CHAR_DEVICE: u32 = 1 << 21;
/// Go's `os.ModeSticky`.
pub const GO_MODE_STICKY: u32 = 1 << 20;

/// How many symlinks an evaluation follows before giving up (Go's `FollowSymlinkInScope`).
const MAX_SYMLINKS: usize = 255;

/// The stat of a path in a container, as dockerd's `container.PathStat` serializes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStat {
    /// The path's last element (`/` for the root, `.` for `dir/.`).
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Go `os.FileMode` bits: type bits high, permission bits low.
    pub mode: u32,
    /// Modification time, RFC 3339.
    pub mtime: String,
    /// For a symlink: where it leads, fully evaluated inside the container; else empty.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    /// The path is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & GO_MODE_DIR != 0
    }
}

/// A path as `docker cp` sent it, read the way dockerd reads it: made absolute and clean, but
/// keeping a trailing `/` or `/.` — which make the last element followed if it is a symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPath {
    /// The clean components below `/` (`..` applied lexically, clamped at the root).
    pub components: Vec<String>,
    /// The last element is followed if it is a symlink (trailing `/` or `/.`, or the root).
    pub follow_last: bool,
    /// dockerd's `absPath`: `/` + components, with the trailing `/` or `/.` kept.
    pub absolute: String,
}

impl ContainerPath {
    /// Reads a client's path (`archive.PreserveTrailingDotOrSeparator(filepath.Join("/", p), p)`).
    pub fn parse(path: &str) -> ContainerPath {
        let components = clean_components(path);
        let mut absolute = format!("/{}", components.join("/"));
        if go_base(&absolute) != "." && go_base(path) == "." {
            if !absolute.ends_with('/') {
                absolute.push('/');
            }
            absolute.push('.');
        }
        if !absolute.ends_with('/') && path.ends_with('/') {
            absolute.push('/');
        }
        let follow_last = components.is_empty() || absolute.ends_with('/') || absolute.ends_with("/.");
        ContainerPath { components, follow_last, absolute }
    }

    /// The name archives and stats give the path (Go's `filepath.Base(absPath)`).
    pub fn base_name(&self) -> String {
        go_base(&self.absolute)
    }

    /// The components joined, relative to the root (`.` for the root itself).
    pub fn relative(&self) -> String {
        if self.components.is_empty() { ".".to_string() } else { self.components.join("/") }
    }

    /// Opens the path inside `root` with `flags` (plus `O_NOFOLLOW` when the last element is
    /// not to be followed).
    pub fn open(&self, root: BorrowedFd<'_>, flags: OFlag) -> Result<OwnedFd, Errno> {
        let flags = if self.follow_last { flags } else { flags | OFlag::O_NOFOLLOW };
        open_in_root(root, &self.relative(), flags)
    }
}

/// Go's `filepath.Base`: the last element, with trailing slashes dropped; `/` for a path of
/// slashes and `.` for an empty one.
pub fn go_base(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Stats `path` inside `root` as dockerd does (`lstat` of the absolute path, so a trailing `/`
/// follows a final symlink), evaluating a symlink's target inside the root.
pub fn stat_path(root: BorrowedFd<'_>, path: &ContainerPath) -> io::Result<PathStat> {
    let fd = path.open(root, OFlag::O_PATH)?;
    let stat = stat_at(fd.as_fd(), OsStr::new(""))?;
    if path.follow_last && !path.components.is_empty() && !stat.is_dir() {
        // `lstat("file/")` fails: a trailing separator names a directory.
        return Err(Errno::ENOTDIR.into());
    }
    let link_target = if stat.is_symlink() { resolve_in_root(root, &path.components)? } else { String::new() };
    Ok(PathStat {
        name: path.base_name(),
        size: stat.size as i64,
        mode: go_file_mode(stat.mode),
        mtime: rfc3339(stat.mtime_sec, stat.mtime_nsec),
        link_target,
    })
}

/// The stat of an already-statted file, named `name`.
pub fn path_stat_of(name: &str, stat: &Stat) -> PathStat {
    PathStat {
        name: name.to_string(),
        size: stat.size as i64,
        mode: go_file_mode(stat.mode),
        mtime: rfc3339(stat.mtime_sec, stat.mtime_nsec),
        link_target: String::new(),
    }
}

/// Go's `os.FileMode` for a Linux `st_mode`, as `os.Lstat` reports it.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    match st_mode & libc::S_IFMT {
        libc::S_IFBLK => mode |= GO_MODE_DEVICE,
        libc::S_IFCHR => mode |= GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE,
        libc::S_IFDIR => mode |= GO_MODE_DIR,
        libc::S_IFIFO => mode |= GO_MODE_NAMED_PIPE,
        libc::S_IFLNK => mode |= GO_MODE_SYMLINK,
        libc::S_IFSOCK => mode |= GO_MODE_SOCKET,
        _ => {}
    }
    if st_mode & libc::S_ISUID != 0 {
        mode |= GO_MODE_SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        mode |= GO_MODE_SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        mode |= GO_MODE_STICKY;
    }
    mode
}

/// A Unix time as RFC 3339 with nanoseconds, UTC.
pub fn rfc3339(seconds: i64, nanos: u32) -> String {
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    time::OffsetDateTime::from_unix_timestamp_nanos(total)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Where `components` lead inside `root` with every symlink followed (absolute targets
/// restart at the root, `..` never climbs above it), as an absolute container path. Missing
/// components are kept as they are, like Go's `symlink.FollowSymlinkInScope`.
pub fn resolve_in_root(root: BorrowedFd<'_>, components: &[String]) -> io::Result<String> {
    let mut pending: Vec<String> = components.iter().rev().cloned().collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut followed = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let parent = if resolved.is_empty() { ".".to_string() } else { resolved.join("/") };
        // `resolved` holds no symlinks, so this opens exactly that directory.
        let target = match open_in_root(root, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(dir) => match read_link_at(dir.as_fd(), OsStr::new(&part)) {
                Ok(target) => Some(target),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT | libc::ENOTDIR)) => None,
                Err(e) => return Err(e),
            },
            Err(Errno::ENOENT | Errno::ENOTDIR) => None,
            Err(errno) => return Err(errno.into()),
        };
        let Some(target) = target else {
            resolved.push(part);
            continue;
        };
        followed += 1;
        if followed > MAX_SYMLINKS {
            return Err(io::Error::other(format!("too many symlinks in /{}", components.join("/"))));
        }
        let target = target.to_string_lossy().into_owned();
        if target.starts_with('/') {
            resolved.clear();
        }
        pending.extend(target.split('/').rev().map(str::to_string));
    }
    Ok(format!("/{}", resolved.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;
    use std::os::unix::fs::symlink;

    fn open_root(dir: &std::path::Path) -> OwnedFd {
        nix::fcntl::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
    }

    #[test]
    fn paths_keep_trailing_separators_and_dots() {
        let p = ContainerPath::parse("/etc/");
        assert_eq!((p.absolute.as_str(), p.follow_last, p.base_name().as_str()), ("/etc/", true, "etc"));
        let p = ContainerPath::parse("etc/.");
        assert_eq!((p.absolute.as_str(), p.follow_last, p.base_name().as_str()), ("/etc/.", true, "."));
        let p = ContainerPath::parse("/bin/sh");
        assert_eq!((p.absolute.as_str(), p.follow_last, p.base_name().as_str()), ("/bin/sh", false, "sh"));
        let p = ContainerPath::parse("/");
        assert_eq!((p.absolute.as_str(), p.follow_last, p.base_name().as_str()), ("/", true, "/"));
        let p = ContainerPath::parse(".");
        assert_eq!((p.absolute.as_str(), p.base_name().as_str()), ("/.", "."));
        let p = ContainerPath::parse("/a/../../b/./");
        assert_eq!((p.absolute.as_str(), p.components.clone()), ("/b/./", vec!["b".to_string()]));
    }

    #[test]
    fn go_base_matches_filepath_base() {
        for (path, base) in [("", "."), ("/", "/"), ("///", "/"), ("/a/b", "b"), ("/a/b//", "b"), ("a", "a")] {
            assert_eq!(go_base(path), base, "{path:?}");
        }
    }

    #[test]
    fn file_modes_are_go_file_modes() {
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), GO_MODE_DIR | 0o755);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), 134_218_239);
        assert_eq!(go_file_mode(libc::S_IFREG | 0o4755), GO_MODE_SETUID | 0o755);
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o1777), GO_MODE_DIR | GO_MODE_STICKY | 0o777);
        assert_eq!(go_file_mode(libc::S_IFCHR | 0o666), GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE | 0o666);
    }

    #[test]
    fn stat_serializes_like_dockerd() {
        let stat = PathStat {
            name: "sh".into(),
            size: 12,
            mode: 134_218_239,
            mtime: rfc3339(1_571_665_173, 0),
            link_target: "/bin/busybox".into(),
        };
        assert_eq!(
            serde_json::to_string(&stat).unwrap(),
            r#"{"name":"sh","size":12,"mode":134218239,"mtime":"2019-10-21T13:39:33Z","linkTarget":"/bin/busybox"}"#
        );
    }

    #[test]
    fn stats_symlinks_and_resolves_them_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("bin")).unwrap();
        std::fs::write(base.join("bin/busybox"), b"#!").unwrap();
        symlink("busybox", base.join("bin/sh")).unwrap();
        symlink("/", base.join("escape")).unwrap();
        symlink("../../../../missing/x", base.join("dangling")).unwrap();
        let root = open_root(base);

        let sh = stat_path(root.as_fd(), &ContainerPath::parse("/bin/sh")).unwrap();
        assert_eq!((sh.name.as_str(), sh.mode & GO_MODE_SYMLINK != 0), ("sh", true));
        assert_eq!(sh.link_target, "/bin/busybox");

        let escape = stat_path(root.as_fd(), &ContainerPath::parse("/escape")).unwrap();
        assert_eq!(escape.link_target, "/");
        let through = stat_path(root.as_fd(), &ContainerPath::parse("/escape/bin/")).unwrap();
        assert!(through.is_dir());
        assert_eq!(through.name, "bin");

        let dangling = stat_path(root.as_fd(), &ContainerPath::parse("/dangling")).unwrap();
        assert_eq!(dangling.link_target, "/missing/x");

        let missing = stat_path(root.as_fd(), &ContainerPath::parse("/nope")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
