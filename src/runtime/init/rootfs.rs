//! The container's filesystem, built in stage 2 inside the new mount namespace: propagation cut
//! from the host, the overlay root, /proc, /dev, /sys, /sys/fs/cgroup, the spec's mounts, then
//! pivot_root. Every target is resolved inside the new root (see `paths`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;

use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};

use super::cgroupfs;
use super::devices;
use super::error::{Context, InitError, Result};
use super::mounts::{self, parse_options};
use super::paths::{Create, ensure_in_root, file_type, open_in_root, refuse_symlink};
use crate::runtime::spec::{ContainerSpec, MountKind, MountSpec, RootfsSpec};

/// /dev/shm's size when the spec says 0: Docker's default of 64 MiB.
const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;
/// The longest data string legacy mount(2) takes: one page, including the NUL.
const MAX_MOUNT_DATA: usize = 4095;

/// What stage 2 keeps from the build for the steps after pivot_root.
#[derive(Debug)]
pub struct PreparedRoot {
    /// The new root (the overlay mount).
    pub root: OwnedFd,
    /// The container's fresh procfs, for sysctl and oom_score_adj writes.
    pub proc: OwnedFd,
    /// The container's verified /dev/null, for masking files.
    pub dev_null: OwnedFd,
    /// With a tty: the master of the container's terminal, for the shim.
    pub console: Option<OwnedFd>,
}

/// Builds every mount of the container below `spec.rootfs.merged`, in Docker's order.
/// `sources` holds, for a user-namespaced container, the detached bind source of each of the
/// spec's mounts (see `premount`); it is empty otherwise.
pub fn build(spec: &ContainerSpec, sources: &[Option<OwnedFd>]) -> Result<PreparedRoot> {
    // Nothing mounted from here on may propagate back to the host (its "/" may be shared).
    nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .context(|| "making / a recursive slave".to_string())?;
    // The host's view, read before any container mount changes it.
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").context(|| "reading /proc/self/mountinfo".to_string())?;
    let self_cgroup =
        std::fs::read_to_string("/proc/self/cgroup").context(|| "reading /proc/self/cgroup".to_string())?;

    let root = if spec.user_namespace.is_some() {
        // Mounted by stage 1 (see `premount`), which left it as the working directory: the
        // container's root may not walk the daemon's directories to it.
        premounted_root(&spec.rootfs)?
    } else {
        mount_overlay(&spec.rootfs)?;
        open_root(&spec.rootfs)?
    };
    let proc = mount_proc(root.as_fd())?;
    let (dev_null, console) = mount_dev(root.as_fd(), spec)?;
    mount_sys(root.as_fd(), spec.privileged)?;
    cgroupfs::mount(
        root.as_fd(),
        &cgroupfs::parse_mountinfo(&mountinfo),
        &self_cgroup,
        spec.namespaces.host_cgroup,
        !spec.privileged,
    )?;
    for (index, mount) in spec.mounts.iter().enumerate() {
        let source = sources.get(index).and_then(Option::as_ref).map(AsFd::as_fd);
        mount_one(root.as_fd(), mount, source)?;
    }
    Ok(PreparedRoot { root, proc, dev_null, console })
}

/// overlayfs's mount data for a rootfs: `lowerdir=top:…:bottom,upperdir=…,workdir=…`.
pub fn overlay_options(rootfs: &RootfsSpec) -> Result<String> {
    if rootfs.lower.is_empty() {
        return Err(InitError::Setup("rootfs has no lower layers".to_string()));
    }
    let mut dirs = Vec::new();
    for path in rootfs.lower.iter().chain([&rootfs.upper, &rootfs.work]) {
        let text = path.to_str().unwrap_or_default();
        if !path.is_absolute() || text.is_empty() || text.contains([',', ':', '\\']) {
            return Err(InitError::Setup(format!(
                "overlay directory {} must be an absolute path without ',', ':' or '\\'",
                path.display()
            )));
        }
        dirs.push(text);
    }
    let (upper, work) = (dirs[dirs.len() - 2], dirs[dirs.len() - 1]);
    let lower = dirs[..dirs.len() - 2].join(":");
    let data = format!("lowerdir={lower},upperdir={upper},workdir={work}");
    if data.len() > MAX_MOUNT_DATA {
        return Err(InitError::Setup(format!(
            "overlay options for {} layers exceed a page ({} bytes)",
            rootfs.lower.len(),
            data.len()
        )));
    }
    Ok(data)
}

/// Mounts the overlay at `merged` (a daemon-owned host path).
pub fn mount_overlay(rootfs: &RootfsSpec) -> Result<()> {
    let data = overlay_options(rootfs)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&rootfs.merged)
        .context(|| format!("creating {}", rootfs.merged.display()))?;
    nix::mount::mount(Some("overlay"), &rootfs.merged, Some("overlay"), MsFlags::empty(), Some(data.as_str()))
        .context(|| format!("mounting the overlay rootfs ({data})"))
}

/// The overlay stage 1 mounted, which is this process's working directory. Having come from
/// stage 1's more privileged mount namespace it is locked here, and pivot_root refuses a locked
/// mount: it is bound onto itself, and the bind (this namespace's own) is the root. The bind is
/// found again through the overlay's parent directory (`..` of its root), never through the
/// daemon's directories above it.
fn premounted_root(rootfs: &RootfsSpec) -> Result<OwnedFd> {
    let directory = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let locked =
        nix::fcntl::open(".", directory, Mode::empty()).context(|| "opening the root filesystem".to_string())?;
    check_overlay(locked.as_fd())?;
    mounts::bind(locked.as_fd(), locked.as_fd(), false)
        .context(|| "binding the root filesystem onto itself".to_string())?;
    let parent = nix::fcntl::openat(locked.as_fd(), "..", directory, Mode::empty())
        .context(|| "opening the root filesystem's parent".to_string())?;
    let name = rootfs.merged.file_name().ok_or_else(|| InitError::Setup("the rootfs has no name".to_string()))?;
    let root = nix::fcntl::openat(parent.as_fd(), name, directory, Mode::empty())
        .context(|| "reopening the root filesystem".to_string())?;
    check_overlay(root.as_fd())?;
    Ok(root)
}

/// Refuses anything but an overlay as the premounted root.
fn check_overlay(root: BorrowedFd<'_>) -> Result<()> {
    let fs = nix::sys::statfs::fstatfs(root).context(|| "inspecting the root filesystem".to_string())?;
    if fs.filesystem_type() != nix::sys::statfs::OVERLAYFS_SUPER_MAGIC {
        return Err(InitError::Setup("the root filesystem stage 1 mounted is not an overlay".to_string()));
    }
    Ok(())
}

/// Opens the mounted overlay as the new root.
fn open_root(rootfs: &RootfsSpec) -> Result<OwnedFd> {
    nix::fcntl::open(&rootfs.merged, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .context(|| format!("opening {}", rootfs.merged.display()))
}

/// A directory for a system mount (/proc, /dev, /sys): created when missing, never a symlink.
fn system_mount_point(root: BorrowedFd<'_>, path: &str) -> Result<OwnedFd> {
    refuse_symlink(root, path).context(|| format!("refusing to mount over {path}"))?;
    let target = ensure_in_root(root, path, Create::Dir).context(|| format!("creating {path}"))?;
    if file_type(target.as_fd()).context(|| format!("inspecting {path}"))? != SFlag::S_IFDIR {
        return Err(InitError::Setup(format!("{path} is not a directory")));
    }
    Ok(target)
}

/// Reopens a path after something was mounted on it, to get the new mount's root.
fn reopen(root: BorrowedFd<'_>, path: &str) -> Result<OwnedFd> {
    open_in_root(root, path, OFlag::O_PATH).context(|| format!("reopening {path}"))
}

/// A fresh procfs (stage 2 is already in the new PID namespace) on /proc.
fn mount_proc(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let target = system_mount_point(root, "/proc")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    mounts::mount_fs("proc", "proc", target.as_fd(), flags, "").context(|| "mounting /proc".to_string())?;
    let proc = reopen(root, "/proc")?;
    let fs = nix::sys::statfs::fstatfs(&proc).context(|| "inspecting /proc".to_string())?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(InitError::Setup("/proc is not a procfs after mounting it".to_string()));
    }
    Ok(proc)
}

/// /dev: a tmpfs with the device nodes and links, devpts, shm, mqueue and (with a tty) the
/// console. Returns the verified /dev/null and, with a tty, the terminal's master.
fn mount_dev(root: BorrowedFd<'_>, spec: &ContainerSpec) -> Result<(OwnedFd, Option<OwnedFd>)> {
    let target = system_mount_point(root, "/dev")?;
    mounts::mount_fs(
        "tmpfs",
        "tmpfs",
        target.as_fd(),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        "mode=755,size=65536k",
    )
    .context(|| "mounting a tmpfs on /dev".to_string())?;
    let dev = reopen(root, "/dev")?;
    devices::populate(dev.as_fd(), spec.privileged, spec.user_namespace.is_some())?;
    let dev_null = devices::open_null(dev.as_fd())?;

    let sub = |name: &str| {
        nix::fcntl::openat(
            dev.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .context(|| format!("opening /dev/{name}"))
    };
    let quiet = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    mounts::mount_fs(
        "devpts",
        "devpts",
        sub("pts")?.as_fd(),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    )
    .context(|| "mounting /dev/pts".to_string())?;
    let shm_size = if spec.shm_size == 0 { DEFAULT_SHM_SIZE } else { spec.shm_size };
    mounts::mount_fs("tmpfs", "shm", sub("shm")?.as_fd(), quiet, &format!("mode=1777,size={shm_size}"))
        .context(|| "mounting /dev/shm".to_string())?;
    mounts::mount_fs("mqueue", "mqueue", sub("mqueue")?.as_fd(), quiet, "")
        .context(|| "mounting /dev/mqueue".to_string())?;
    let console = if spec.process.tty {
        let master = devices::open_terminal(sub("pts")?.as_fd())?;
        devices::bind_console(dev.as_fd(), master.as_fd())?;
        Some(master)
    } else {
        None
    };
    Ok((dev_null, console))
}

/// sysfs on /sys, read-only unless privileged.
fn mount_sys(root: BorrowedFd<'_>, privileged: bool) -> Result<()> {
    let target = system_mount_point(root, "/sys")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    mounts::mount_fs("sysfs", "sysfs", target.as_fd(), flags, "").context(|| "mounting /sys".to_string())?;
    if !privileged {
        let sys = reopen(root, "/sys")?;
        mounts::set_attributes(sys.as_fd(), MsFlags::MS_RDONLY, false)
            .context(|| "making /sys read-only".to_string())?;
    }
    Ok(())
}

/// One mount of the spec: a bind of a host path (or of `tree`, its detached copy) or a tmpfs.
fn mount_one(root: BorrowedFd<'_>, mount: &MountSpec, tree: Option<BorrowedFd<'_>>) -> Result<()> {
    let dest = mount.destination.as_str();
    if !dest.starts_with('/') {
        return Err(InitError::Setup(format!("mount destination {dest:?} is not absolute")));
    }
    let options = parse_options(&mount.options);
    let mut flags = options.flags;
    if mount.readonly {
        flags |= MsFlags::MS_RDONLY;
    }
    match mount.kind {
        MountKind::Bind => {
            let opened;
            let source = match tree {
                Some(tree) => tree,
                None => {
                    opened = nix::fcntl::open(&mount.source, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                        .context(|| format!("bind source {}", mount.source.display()))?;
                    opened.as_fd()
                }
            };
            let is_dir =
                file_type(source).context(|| format!("bind source {}", mount.source.display()))? == SFlag::S_IFDIR;
            let create = if is_dir { Create::Dir } else { Create::File };
            let target = ensure_in_root(root, dest, create).context(|| format!("mount destination {dest}"))?;
            match tree {
                Some(tree) => mounts::attach(tree, target.as_fd()),
                None => mounts::bind(source, target.as_fd(), options.recursive),
            }
            .context(|| format!("binding {} on {dest}", mount.source.display()))?;
            let mounted = reopen(root, dest)?;
            let attributes = flags & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
            mounts::set_attributes(mounted.as_fd(), attributes, options.recursive)
                .context(|| format!("setting {attributes:?} on {dest}"))?;
            let propagation = options.propagation.unwrap_or(MsFlags::MS_PRIVATE | MsFlags::MS_REC);
            mounts::set_propagation(mounted.as_fd(), propagation)
                .context(|| format!("setting the propagation of {dest}"))?;
        }
        MountKind::Tmpfs => {
            let target = ensure_in_root(root, dest, Create::Dir).context(|| format!("mount destination {dest}"))?;
            mounts::mount_fs("tmpfs", "tmpfs", target.as_fd(), flags, &options.data)
                .context(|| format!("mounting a tmpfs on {dest}"))?;
            if let Some(propagation) = options.propagation {
                let mounted = reopen(root, dest)?;
                mounts::set_propagation(mounted.as_fd(), propagation)
                    .context(|| format!("setting the propagation of {dest}"))?;
            }
        }
    }
    Ok(())
}

/// Makes `root` the process's root: pivot_root(".", ".") stacks the old root on the new one,
/// which is then made a slave (so the detach cannot propagate to the host) and detached.
/// Returns a fresh fd of the new "/".
pub fn pivot(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let old_root = nix::fcntl::open("/", OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .context(|| "opening the old root".to_string())?;
    nix::unistd::fchdir(root).context(|| "entering the new root".to_string())?;
    nix::unistd::pivot_root(".", ".").context(|| "pivot_root".to_string())?;
    nix::unistd::fchdir(&old_root).context(|| "entering the old root".to_string())?;
    nix::mount::mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .context(|| "making the old root a slave".to_string())?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).context(|| "detaching the old root".to_string())?;
    nix::unistd::chdir("/").context(|| "entering /".to_string())?;
    nix::fcntl::open("/", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .context(|| "opening the new root".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn rootfs(lower: &[&str]) -> RootfsSpec {
        RootfsSpec {
            lower: lower.iter().map(PathBuf::from).collect(),
            upper: "/data/c/upper".into(),
            work: "/data/c/work".into(),
            merged: "/data/c/rootfs".into(),
            readonly: false,
            idmapped: false,
        }
    }

    #[test]
    fn overlay_lowerdir_keeps_top_first() {
        assert_eq!(
            overlay_options(&rootfs(&["/l/top", "/l/base"])).unwrap(),
            "lowerdir=/l/top:/l/base,upperdir=/data/c/upper,workdir=/data/c/work"
        );
    }

    #[test]
    fn overlay_refuses_bad_paths_and_no_layers() {
        assert!(overlay_options(&rootfs(&[])).is_err());
        assert!(overlay_options(&rootfs(&["/l/a:b"])).is_err());
        assert!(overlay_options(&rootfs(&["relative"])).is_err());
        let many: Vec<String> = (0..200).map(|i| format!("/very/long/layer/path/{i:040}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(overlay_options(&rootfs(&many)).is_err());
    }
}
