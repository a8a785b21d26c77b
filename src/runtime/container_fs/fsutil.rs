//! Descriptor-based primitives shared by the container file system walkers: one `statx` per
//! entry, sorted directory listings, opens that never follow a symlink, and the detection of
//! kernel file systems (proc, sysfs, …) that a copy must neither read nor write.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::fcntl::{OFlag, openat, readlinkat};
use nix::sys::stat::Mode;

/// The xattr that carries file capabilities; the only one Docker puts in archives.
pub const CAPABILITY_XATTR: &str = "security.capability";

/// Sets access and modification time of `name` in `dir` (the empty name: `dir` itself) to
/// `stat`'s modification time, never following a symlink (copies keep their times).
pub fn set_times(dir: BorrowedFd<'_>, name: &OsStr, stat: &Stat) -> io::Result<()> {
    let time = libc::timespec { tv_sec: stat.mtime_sec, tv_nsec: i64::from(stat.mtime_nsec) };
    let times = [time, time];
    let path = CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut flags = libc::AT_SYMLINK_NOFOLLOW;
    if name.is_empty() {
        flags |= libc::AT_EMPTY_PATH;
    }
    // SAFETY: the path is NUL-terminated and times is an array of two timespecs.
    let rc = unsafe { libc::utimensat(dir.as_raw_fd(), path.as_ptr(), times.as_ptr(), flags) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Magic numbers (`statfs.f_type`) of file systems the kernel makes up: proc, sysfs, cgroup,
/// cgroup2, devpts, securityfs, debugfs, tracefs, bpf, pstore, mqueue, efivarfs, selinuxfs,
/// configfs, fusectl, binfmt_misc, nsfs.
const KERNEL_FS_MAGICS: [u64; 17] = [
    0x9fa0,
    0x6265_6572,
    0x0027_e0eb,
    0x6367_7270,
    0x1cd1,
    0x7363_6673,
    0x6462_6720,
    0x7472_6163,
    0xcafe_4a11,
    0x6165_676c,
    0x1980_0202,
    0xde5e_81e4,
    0xf97c_ff8c,
    0x6265_6570,
    0x6573_5543,
    0x4249_4e4d,
    0x6e73_6673,
];

/// What the walkers need to know of one file, from a single statx(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (the target's length for a symlink).
    pub size: u64,
    /// Modification time, seconds.
    pub mtime_sec: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Hard link count.
    pub nlink: u32,
    /// Inode number.
    pub ino: u64,
    /// Device of the file system holding the file.
    pub dev: u64,
    /// Device number of a character or block device.
    pub rdev_major: u32,
    /// Device number of a character or block device.
    pub rdev_minor: u32,
    /// The mount the file was reached through.
    pub mnt_id: u64,
}

impl Stat {
    /// The `S_IF*` type bits.
    pub fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    /// A symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }

    /// A regular file.
    pub fn is_regular(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }

    /// An overlayfs whiteout: a character device 0/0.
    pub fn is_whiteout(&self) -> bool {
        self.file_type() == libc::S_IFCHR && self.rdev_major == 0 && self.rdev_minor == 0
    }
}

/// statx of `name` inside `dir` (of `dir` itself when `name` is empty), never following a
/// final symlink.
pub fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Stat> {
    let path = CString::new(name.as_bytes()).map_err(|_| invalid_name(name))?;
    let mut flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_SYNC_AS_STAT;
    if name.is_empty() {
        flags |= libc::AT_EMPTY_PATH;
    }
    let mut buffer = MaybeUninit::<libc::statx>::zeroed();
    let mask = libc::STATX_BASIC_STATS | libc::STATX_MNT_ID;
    // SAFETY: the path is NUL-terminated and the buffer is a writable statx of the right size.
    let rc = unsafe { libc::statx(dir.as_raw_fd(), path.as_ptr(), flags, mask, buffer.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statx succeeded, so it filled the buffer (which started zeroed anyway).
    let sx = unsafe { buffer.assume_init() };
    Ok(Stat {
        mode: u32::from(sx.stx_mode),
        uid: sx.stx_uid,
        gid: sx.stx_gid,
        size: sx.stx_size,
        mtime_sec: sx.stx_mtime.tv_sec,
        mtime_nsec: sx.stx_mtime.tv_nsec,
        nlink: sx.stx_nlink,
        ino: sx.stx_ino,
        dev: libc::makedev(sx.stx_dev_major, sx.stx_dev_minor),
        rdev_major: sx.stx_rdev_major,
        rdev_minor: sx.stx_rdev_minor,
        mnt_id: sx.stx_mnt_id,
    })
}

/// The names in a directory, without `.` and `..`, sorted bytewise (Go's `filepath.Walk`
/// order, which Docker's archives and change lists follow).
pub fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut stream = nix::dir::Dir::openat(dir, ".", flags, Mode::empty())?;
    let mut names = Vec::new();
    for entry in stream.iter() {
        let bytes = entry?.file_name().to_bytes().to_vec();
        if bytes != b"." && bytes != b".." {
            names.push(OsString::from_vec(bytes));
        }
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Opens the directory `name` inside `dir` for reading; a symlink there is refused (ELOOP or
/// ENOTDIR), never followed.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(openat(dir, name, flags, Mode::empty())?)
}

/// Opens the regular file `name` inside `dir` for reading: a symlink is refused, a fifo swapped
/// in meanwhile does not block, and anything but a regular file is an error.
pub fn open_file_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let file = File::from(openat(dir, name, flags, Mode::empty())?);
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!("{} is no longer a regular file", name.to_string_lossy())));
    }
    Ok(file)
}

/// The target of the symlink `name` inside `dir`.
pub fn read_link_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OsString> {
    Ok(readlinkat(dir, name)?)
}

/// The file capabilities of `name` inside `dir`, if it has any. Read through `/proc/self/fd`,
/// so that only `dir` itself is ever resolved and a final symlink is not followed.
pub fn capability_at(dir: BorrowedFd<'_>, name: &OsStr) -> Option<Vec<u8>> {
    let mut path = OsString::from(format!("/proc/self/fd/{}/", dir.as_raw_fd()));
    path.push(name);
    xattr::get(&path, CAPABILITY_XATTR).ok().flatten()
}

/// Tells whether `fd` lives on a file system the kernel makes up (proc, sysfs, cgroup, …):
/// nothing a copy should read into an archive or write to.
pub fn is_kernel_fs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let stat = nix::sys::statfs::fstatfs(fd)?;
    let magic = stat.filesystem_type().0 as u64 & 0xffff_ffff;
    Ok(KERNEL_FS_MAGICS.contains(&magic))
}

/// The error for a file name the kernel cannot take (it holds a NUL byte).
fn invalid_name(name: &OsStr) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("invalid file name {:?}", name.to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn open(path: &std::path::Path) -> OwnedFd {
        nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
    }

    #[test]
    fn stats_without_following_and_lists_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), b"12345").unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("c")).unwrap();
        let fd = open(dir.path());
        assert_eq!(list_dir(fd.as_fd()).unwrap(), ["a", "b", "c"]);
        let file = stat_at(fd.as_fd(), OsStr::new("b")).unwrap();
        assert!(file.is_regular());
        assert_eq!(file.size, 5);
        let link = stat_at(fd.as_fd(), OsStr::new("c")).unwrap();
        assert!(link.is_symlink());
        assert_eq!(read_link_at(fd.as_fd(), OsStr::new("c")).unwrap(), "/etc/passwd");
        assert!(stat_at(fd.as_fd(), OsStr::new("")).unwrap().is_dir());
        assert!(open_file_at(fd.as_fd(), OsStr::new("c")).is_err());
        assert!(open_dir_at(fd.as_fd(), OsStr::new("c")).is_err());
        assert!(!is_kernel_fs(fd.as_fd()).unwrap());
    }

    #[test]
    fn proc_is_a_kernel_fs() {
        let fd = open(std::path::Path::new("/proc"));
        assert!(is_kernel_fs(fd.as_fd()).unwrap());
    }
}
