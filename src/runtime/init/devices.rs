//! The container's /dev: a fresh tmpfs filled with the standard device nodes and links (or, for
//! privileged containers, every device node of the host).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstat, major, makedev, minor, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, fchownat, symlinkat};

use super::error::{Context, InitError, Result};
use super::mounts;

/// The nodes every container gets: (name, major, minor), mode 0666, as Docker and runc make them.
const DEFAULT_DEVICES: &[(&str, u64, u64)] =
    &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// The standard links: (name, target).
const LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("core", "/proc/kcore"),
    ("ptmx", "pts/ptmx"),
];

/// Directories the later /dev mounts (devpts, shm, mqueue) go on.
pub const MOUNT_DIRS: &[&str] = &["pts", "shm", "mqueue"];

/// Host /dev entries a privileged container does not copy: mount points, links and the console,
/// which the container gets its own versions of.
const HOST_SKIP: &[&str] =
    &["pts", "shm", "mqueue", "fd", "console", "ptmx", "core", "stdin", "stdout", "stderr", ".lxc", ".udev"];

/// Fills a freshly mounted, empty /dev tmpfs (`dev`): nodes, links and mount-point directories.
/// In a user namespace, where mknod is refused, the host's nodes are bound onto empty files
/// instead (as runc does for rootless containers).
pub fn populate(dev: BorrowedFd<'_>, privileged: bool, user_namespace: bool) -> Result<()> {
    for &(name, major, minor) in DEFAULT_DEVICES {
        if user_namespace {
            bind_host_node(dev, name, major, minor)?;
            continue;
        }
        mknodat(dev, name, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(major, minor))
            .context(|| format!("creating /dev/{name}"))?;
    }
    for &(name, target) in LINKS {
        symlinkat(target, dev, name).context(|| format!("creating the link /dev/{name}"))?;
    }
    for &dir in MOUNT_DIRS {
        mkdirat(dev, dir, Mode::from_bits_truncate(0o755)).context(|| format!("creating /dev/{dir}"))?;
    }
    if privileged {
        copy_host_devices(Path::new("/dev"), "", dev)?;
    }
    Ok(())
}

/// Binds the host's `/dev/<name>` (checked to be the char device major:minor) onto a new empty
/// file `<name>` in `dev`.
fn bind_host_node(dev: BorrowedFd<'_>, name: &str, major_number: u64, minor_number: u64) -> Result<()> {
    let host = format!("/dev/{name}");
    let source = nix::fcntl::open(host.as_str(), OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
        .context(|| format!("opening the host's {host}"))?;
    let stat = fstat(&source).context(|| format!("inspecting the host's {host}"))?;
    let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
    if kind != SFlag::S_IFCHR || major(stat.st_rdev) != major_number || minor(stat.st_rdev) != minor_number {
        return Err(InitError::Setup(format!("the host's {host} is not the device {major_number}:{minor_number}")));
    }
    let target = openat(
        dev,
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o666),
    )
    .context(|| format!("creating /dev/{name}"))?;
    mounts::bind(source.as_fd(), target.as_fd(), false).context(|| format!("binding the host's {host}"))
}

/// Opens the container's /dev/null and checks it is really the null device (char 1:3), so masking
/// never binds some other file over a path (runc CVE-2025-31133).
pub fn open_null(dev: BorrowedFd<'_>) -> Result<OwnedFd> {
    let null = openat(dev, "null", OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
        .context(|| "opening /dev/null".to_string())?;
    let stat = fstat(&null).context(|| "inspecting /dev/null".to_string())?;
    let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
    if kind != SFlag::S_IFCHR || major(stat.st_rdev) != 1 || minor(stat.st_rdev) != 3 {
        return Err(InitError::Setup("/dev/null is not the null device".to_string()));
    }
    Ok(null)
}

/// Makes the container's terminal in its own devpts (`pts`): opens the pty master, unlocks it,
/// opens its slave (`/dev/pts/0` inside) as stdin, stdout and stderr and the controlling
/// terminal of this session. Returns the master, which goes to the shim.
pub fn open_terminal(pts: BorrowedFd<'_>) -> Result<OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let master =
        openat(pts, "ptmx", OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW, Mode::empty())
            .context(|| "opening /dev/pts/ptmx".to_string())?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, which outlives the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(rc).context(|| "unlocking the terminal".to_string())?;
    // SAFETY: TIOCGPTPEER opens the slave of this very master and returns a new fd; no pointers.
    let slave = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY) };
    let slave = Errno::result(slave).context(|| "opening the terminal's slave".to_string())?;
    // SAFETY: the ioctl returned a fresh fd that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard fds; both fds are valid.
        Errno::result(unsafe { libc::dup2(slave.as_raw_fd(), target) })
            .context(|| "making the terminal the container's stdio".to_string())?;
    }
    // SAFETY: TIOCSCTTY on fd 0 with argument 0 (do not steal); no pointers.
    let rc = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
    Errno::result(rc).context(|| "making the terminal the controlling one".to_string())?;
    Ok(master)
}

/// Binds the terminal on fd 0 (the pty slave) over /dev/console, as runc does for `-t`. Runs
/// before pivot_root: the slave is opened as `pts/<n>` below this /dev (`dev`), with `n` the
/// number of `master`'s slave, and checked to be the very device fd 0 is — so the bind source
/// is in this mount namespace and no host path is walked (which a user-namespaced container's
/// root could not).
pub fn bind_console(dev: BorrowedFd<'_>, master: BorrowedFd<'_>) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fd 0 is the container's stdin, open for the whole life of init.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    let terminal = fstat(stdin).context(|| "inspecting the terminal on stdin".to_string())?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, which outlives the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) };
    Errno::result(rc).context(|| "finding the terminal's number".to_string())?;
    let path = format!("pts/{number}");
    let source = openat(dev, path.as_str(), OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
        .context(|| format!("opening the terminal /dev/{path}"))?;
    let found = fstat(&source).context(|| format!("inspecting /dev/{path}"))?;
    let is_char = SFlag::from_bits_truncate(found.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_char || found.st_rdev != terminal.st_rdev {
        return Err(InitError::Setup(format!("/dev/{path} is not the terminal on stdin")));
    }
    let target = openat(
        dev,
        "console",
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .context(|| "creating /dev/console".to_string())?;
    mounts::bind(source.as_fd(), target.as_fd(), false).context(|| "binding the terminal over /dev/console".to_string())
}

/// Recreates every char/block device under `host_dir` (the host's /dev) below `dev` at the same
/// relative path (`relative`), with the host's mode and owner.
fn copy_host_devices(host_dir: &Path, relative: &str, dev: BorrowedFd<'_>) -> Result<()> {
    let entries = std::fs::read_dir(host_dir).context(|| format!("reading {}", host_dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if relative.is_empty() && HOST_SKIP.contains(&name.as_str()) {
            continue;
        }
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let path = if relative.is_empty() { name.clone() } else { format!("{relative}/{name}") };
        let kind = meta.file_type();
        if kind.is_dir() {
            match mkdirat(dev, path.as_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(errno) => return Err(errno).context(|| format!("creating /dev/{path}")),
            }
            copy_host_devices(&entry.path(), &path, dev)?;
            continue;
        }
        let sflag = if kind.is_char_device() {
            SFlag::S_IFCHR
        } else if kind.is_block_device() {
            SFlag::S_IFBLK
        } else {
            continue;
        };
        match mknodat(dev, path.as_str(), sflag, Mode::from_bits_truncate(meta.mode()), meta.rdev()) {
            Ok(()) => {}
            // The defaults (null, zero, …) are already there.
            Err(Errno::EEXIST) => continue,
            Err(errno) => return Err(errno).context(|| format!("creating /dev/{path}")),
        }
        fchownat(
            dev,
            path.as_str(),
            Some(Uid::from_raw(meta.uid())),
            Some(Gid::from_raw(meta.gid())),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .context(|| format!("setting the owner of /dev/{path}"))?;
    }
    Ok(())
}
