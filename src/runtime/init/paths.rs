//! Resolving paths inside the container's root without ever leaving it.
//!
//! The image and the volumes are untrusted: a symlink such as `etc -> /` or `x -> ../../..` must
//! resolve against the container's root, not the host's (runc CVE-2021-30465, CVE-2025-31133 and
//! friends). Every lookup here goes through `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! relative to a root fd, creation happens with `mkdirat`/`openat` on an fd of the already
//! resolved parent, and mounts target the resulting fd through `/proc/self/fd/<n>`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{Mode, SFlag, fstat, mkdirat};

/// How many symlinks a creating walk follows before giving up, as the kernel's limit.
const MAX_SYMLINKS: usize = 40;

/// What to create when a path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Nothing: a missing path is ENOENT.
    Nothing,
    /// Missing directories all the way down.
    Dir,
    /// Missing parent directories, then an empty file as the last component.
    File,
}

/// The normal components of a container path: "." dropped, ".." applied lexically (and clamped
/// at the root), as Go's filepath.Clean does before Docker resolves a mount destination.
pub fn clean_components(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name.to_string()),
        }
    }
    parts
}

/// The `/proc/self/fd/<n>` path of an fd, through which mount(2) reaches exactly that inode.
pub fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Opens `path` as if `root` were `/`: symlinks (absolute or with `..`) stay inside root and
/// magic links (/proc/*/fd, /proc/*/root) are refused. `flags` gains O_CLOEXEC.
pub fn open_in_root(root: BorrowedFd<'_>, path: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
    let relative = clean_components(path).join("/");
    let relative = if relative.is_empty() { "." } else { relative.as_str() };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    loop {
        match openat2(root, relative, how) {
            // openat2 asks to retry when a rename raced with the lookup.
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// An O_PATH fd of `path` inside root, creating what is missing as `create` says: each missing
/// component is made with mkdirat (or openat O_CREAT|O_EXCL for a final file) on the fd of its
/// resolved parent; a dangling symlink is followed (inside root) and its target created.
pub fn ensure_in_root(root: BorrowedFd<'_>, path: &str, create: Create) -> Result<OwnedFd, Errno> {
    ensure_components(root, clean_components(path), create, 0)
}

/// The type bits (S_IFDIR, S_IFREG, …) of an open fd.
pub fn file_type(fd: BorrowedFd<'_>) -> Result<SFlag, Errno> {
    let stat = fstat(fd)?;
    Ok(SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT)
}

/// Fails with ELOOP when the last component of `path` inside root is a symlink (proc, sysfs and
/// /dev must be real directories, never redirected by the image).
pub fn refuse_symlink(root: BorrowedFd<'_>, path: &str) -> Result<(), Errno> {
    match open_in_root(root, path, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) if file_type(fd.as_fd())? == SFlag::S_IFLNK => Err(Errno::ELOOP),
        Ok(_) | Err(Errno::ENOENT) => Ok(()),
        Err(errno) => Err(errno),
    }
}

fn ensure_components(root: BorrowedFd<'_>, parts: Vec<String>, create: Create, depth: usize) -> Result<OwnedFd, Errno> {
    let path_of = |n: usize| parts[..n].join("/");
    match open_in_root(root, &path_of(parts.len()), OFlag::O_PATH) {
        Err(Errno::ENOENT) if create != Create::Nothing => {}
        other => return other,
    }
    let mut parent = open_in_root(root, ".", OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    for (index, name) in parts.iter().enumerate() {
        let prefix = path_of(index + 1);
        match open_in_root(root, &prefix, OFlag::O_PATH) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(errno) => return Err(errno),
        }
        // The component is missing, or it is a symlink whose target is missing.
        match readlinkat(parent.as_fd(), name.as_str()) {
            Ok(target) => {
                if depth >= MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = target.to_string_lossy();
                let base = if target.starts_with('/') { String::new() } else { path_of(index) };
                let rest = parts[index + 1..].join("/");
                let followed = format!("{base}/{target}/{rest}");
                return ensure_components(root, clean_components(&followed), create, depth + 1);
            }
            Err(Errno::ENOENT) => {}
            // It exists and is not a symlink: something raced with us.
            Err(Errno::EINVAL) => return Err(Errno::ENOENT),
            Err(errno) => return Err(errno),
        }
        let last = index + 1 == parts.len();
        if last && create == Create::File {
            let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
            match openat(parent.as_fd(), name.as_str(), flags, Mode::from_bits_truncate(0o644)) {
                Ok(_) | Err(Errno::EEXIST) => {}
                Err(errno) => return Err(errno),
            }
        } else {
            match mkdirat(parent.as_fd(), name.as_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(errno) => return Err(errno),
            }
        }
        parent = open_in_root(root, &prefix, OFlag::O_PATH)?;
    }
    Ok(parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::{Path, PathBuf};

    fn open_root(dir: &Path) -> OwnedFd {
        nix::fcntl::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
    }

    fn real_path(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(fd_path(fd.as_fd())).unwrap()
    }

    #[test]
    fn cleans_lexically_and_clamps_at_root() {
        assert_eq!(clean_components("/a/./b//c/"), ["a", "b", "c"]);
        assert_eq!(clean_components("/../../etc/../x"), ["x"]);
        assert!(clean_components("/").is_empty());
    }

    #[test]
    fn absolute_symlinks_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().canonicalize().unwrap();
        symlink("/", root_path.join("evil")).unwrap();
        symlink("/etc", root_path.join("etc-link")).unwrap();
        let root = open_root(&root_path);

        let fd = ensure_in_root(root.as_fd(), "/evil/created/deep", Create::Dir).unwrap();
        assert_eq!(real_path(&fd), root_path.join("created/deep"));

        let fd = ensure_in_root(root.as_fd(), "/etc-link/passwd", Create::File).unwrap();
        assert_eq!(real_path(&fd), root_path.join("etc/passwd"));
        assert!(root_path.join("etc/passwd").is_file());
    }

    #[test]
    fn dot_dot_symlinks_are_clamped() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root_path.join("a")).unwrap();
        symlink("../../../../../../tmp", root_path.join("a/up")).unwrap();
        let root = open_root(&root_path);
        let fd = ensure_in_root(root.as_fd(), "a/up/x", Create::Dir).unwrap();
        assert_eq!(real_path(&fd), root_path.join("tmp/x"));
    }

    #[test]
    fn dangling_symlinks_are_created_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root_path.join("etc")).unwrap();
        symlink("../run/resolve/stub.conf", root_path.join("etc/resolv.conf")).unwrap();
        symlink("/hostfile", root_path.join("abs")).unwrap();
        let root = open_root(&root_path);

        let fd = ensure_in_root(root.as_fd(), "/etc/resolv.conf", Create::File).unwrap();
        assert_eq!(real_path(&fd), root_path.join("run/resolve/stub.conf"));
        let fd = ensure_in_root(root.as_fd(), "/abs", Create::File).unwrap();
        assert_eq!(real_path(&fd), root_path.join("hostfile"));
    }

    #[test]
    fn magic_links_and_loops_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().canonicalize().unwrap();
        symlink("loop", root_path.join("loop")).unwrap();
        let root = open_root(&root_path);
        assert_eq!(ensure_in_root(root.as_fd(), "/loop/x", Create::Dir).unwrap_err(), Errno::ELOOP);
        // /proc inside this root is a plain missing directory, never the host's procfs.
        let fd = ensure_in_root(root.as_fd(), "/proc/self/root", Create::Dir).unwrap();
        assert_eq!(real_path(&fd), root_path.join("proc/self/root"));
    }

    #[test]
    fn refuses_symlinked_system_mount_points() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().canonicalize().unwrap();
        symlink("/", root_path.join("proc")).unwrap();
        std::fs::create_dir(root_path.join("sys")).unwrap();
        let root = open_root(&root_path);
        assert_eq!(refuse_symlink(root.as_fd(), "/proc"), Err(Errno::ELOOP));
        assert_eq!(refuse_symlink(root.as_fd(), "/sys"), Ok(()));
        assert_eq!(refuse_symlink(root.as_fd(), "/dev"), Ok(()));
    }

    #[test]
    fn missing_paths_without_create_are_enoent() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(dir.path());
        assert_eq!(ensure_in_root(root.as_fd(), "/nope", Create::Nothing).unwrap_err(), Errno::ENOENT);
        assert!(!dir.path().join("nope").exists());
    }
}
