//! Reaching a container's merged root filesystem from the daemon.
//!
//! - **Running:** the container's root is `/proc/<pid>/root`. The pid is checked to still be
//!   the container's (its `/proc/<pid>/cgroup` names the container) through the same
//!   `/proc/<pid>` descriptor the root is opened from, so a recycled pid is never mistaken for
//!   the container. A tenant's container (in a user namespace) is worked on from a thread of
//!   its own with the file-system identity of the container's root (see `RootAccess::Running`).
//! - **Stopped:** no merged view exists anywhere, so a dedicated thread unshares its mount
//!   namespace (only that thread moves; never a tokio worker), makes `/` private so nothing
//!   propagates to the host, mounts the overlay and binds the container's volumes on it, runs
//!   the work and exits. The mounts die with the thread's namespace; the host never sees them. The caller must make sure the container is
//!   not started meanwhile (overlayfs must not have the same upper directory mounted twice).

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{OFlag, openat};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use crate::runtime::init::mounts::{bind, set_attributes};
use crate::runtime::init::paths::{Create, ensure_in_root, open_in_root};
use crate::runtime::init::rootfs::overlay_options;
use crate::runtime::spec::RootfsSpec;
use crate::runtime::userns::IdMapping;
use crate::runtime::userns::identity::ContainerRootIdentity;

/// How to reach one container's merged root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootAccess {
    /// The container runs: through its init process's root.
    Running {
        /// The container's init process, as the host sees it.
        pid: i32,
        /// Text that must appear in `/proc/<pid>/cgroup` (the container id).
        marker: String,
        /// A user-namespaced container: the work runs (on a thread of its own) with the
        /// file-system identity of the container's root, since host root has no id on its
        /// idmapped layers and could create nothing there.
        identity: Option<IdMapping>,
    },
    /// The container does not run: mount its overlay privately.
    Stopped {
        /// Image layer directories, top layer first (overlayfs `lowerdir` order).
        lower: Vec<PathBuf>,
        /// The container's writable layer.
        upper: PathBuf,
        /// overlayfs's work directory (same file system as upper).
        work: PathBuf,
        /// An empty directory to mount on (the bundle's `rootfs/`).
        mount_point: PathBuf,
        /// The container's volumes, parents first, bound where the container has them.
        volumes: Vec<VolumeBind>,
    },
}

/// A volume of a stopped container, for its private view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeBind {
    /// The volume's data directory on the host.
    pub source: PathBuf,
    /// Where the container has it (created in the container's layer when missing, as a start
    /// would).
    pub destination: String,
    /// Mounted read-only.
    pub readonly: bool,
}

/// Runs `work` with a descriptor of the container's root directory and returns what it
/// returns. Blocking: call it from a blocking thread. For a stopped container the work runs on
/// a dedicated thread inside a private mount namespace; it must not keep descriptors beyond its
/// return.
pub fn with_container_root<T, E, F>(access: &RootAccess, work: F) -> Result<T, E>
where
    T: Send,
    E: From<io::Error> + Send,
    F: FnOnce(BorrowedFd<'_>) -> Result<T, E> + Send,
{
    match access {
        RootAccess::Running { pid, marker, identity: None } => {
            let root = open_process_root(*pid, marker)?;
            work(root.as_fd())
        }
        RootAccess::Running { pid, marker, identity: Some(mapping) } => {
            let root = open_process_root(*pid, marker)?;
            std::thread::scope(|scope| {
                let worker =
                    std::thread::Builder::new().name("kapsel-userns-root".into()).spawn_scoped(scope, || {
                        let _identity = ContainerRootIdentity::assume(mapping)?;
                        work(root.as_fd())
                    })?;
                worker.join().map_err(|_| E::from(io::Error::other("the root filesystem worker panicked")))?
            })
        }
        RootAccess::Stopped { lower, upper, work: workdir, mount_point, volumes } => {
            let rootfs = RootfsSpec {
                lower: lower.clone(),
                upper: upper.clone(),
                work: workdir.clone(),
                merged: mount_point.clone(),
                readonly: false,
                idmapped: false,
            };
            std::thread::scope(|scope| {
                let worker = std::thread::Builder::new()
                    .name("kapsel-rootfs".into())
                    .spawn_scoped(scope, move || in_private_mount(&rootfs, volumes, work))?;
                worker.join().map_err(|_| E::from(io::Error::other("the root filesystem worker panicked")))?
            })
        }
    }
}

/// Opens `/proc/<pid>/root` after checking, through the same `/proc/<pid>` descriptor, that the
/// process belongs to the container.
fn open_process_root(pid: i32, marker: &str) -> io::Result<OwnedFd> {
    let gone = || io::Error::other(format!("the container's process {pid} is gone; is the container still running?"));
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let proc_dir = nix::fcntl::open(format!("/proc/{pid}").as_str(), dir_flags, Mode::empty()).map_err(|_| gone())?;
    let mut cgroup = String::new();
    let file = openat(&proc_dir, "cgroup", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|_| gone())?;
    std::fs::File::from(file).read_to_string(&mut cgroup).map_err(|_| gone())?;
    if marker.is_empty() || !cgroup.contains(marker) {
        return Err(gone());
    }
    openat(&proc_dir, "root", dir_flags, Mode::empty()).map_err(|_| gone())
}

/// On the calling (dedicated) thread: a private mount namespace, the overlay and the volumes
/// in it, the work.
fn in_private_mount<T, E, F>(rootfs: &RootfsSpec, volumes: &[VolumeBind], work: F) -> Result<T, E>
where
    E: From<io::Error>,
    F: FnOnce(BorrowedFd<'_>) -> Result<T, E>,
{
    let context = |what: &str| {
        let what = what.to_string();
        move |errno: nix::errno::Errno| io::Error::new(io::Error::from(errno).kind(), format!("{what}: {errno}"))
    };
    // Only this thread moves (it gets its own fs_struct); the daemon's other threads stay.
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(context("unsharing the mount namespace"))?;
    nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(context("making / private"))?;
    let data = overlay_options(rootfs).map_err(|e| io::Error::other(e.to_string()))?;
    nix::mount::mount(Some("overlay"), &rootfs.merged, Some("overlay"), MsFlags::empty(), Some(data.as_str()))
        .map_err(context("mounting the container's root filesystem"))?;
    let opened = nix::fcntl::open(&rootfs.merged, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(context("opening the container's root filesystem"));
    let result = match opened {
        Ok(root) => match bind_volumes(root.as_fd(), volumes) {
            Ok(()) => work(root.as_fd()),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    };
    // The namespace (and the mount) dies with this thread anyway; detaching now frees the
    // overlay as soon as the last descriptor closes.
    let _ = nix::mount::umount2(&rootfs.merged, MntFlags::MNT_DETACH);
    result
}

/// Binds each volume on its destination inside the private root (resolved in the root, so a
/// symlink in the container cannot aim the bind at the host's files).
fn bind_volumes(root: BorrowedFd<'_>, volumes: &[VolumeBind]) -> io::Result<()> {
    let failed =
        |what: String| move |e: nix::errno::Errno| io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"));
    for volume in volumes {
        let source =
            nix::fcntl::open(&volume.source, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(failed(format!("opening the volume {}", volume.source.display())))?;
        let target = ensure_in_root(root, &volume.destination, Create::Dir)
            .map_err(failed(format!("the volume's mount point {}", volume.destination)))?;
        bind(source.as_fd(), target.as_fd(), false)
            .map_err(failed(format!("binding the volume on {}", volume.destination)))?;
        if volume.readonly {
            let mounted = open_in_root(root, &volume.destination, OFlag::O_PATH)
                .map_err(failed(format!("reopening {}", volume.destination)))?;
            set_attributes(mounted.as_fd(), MsFlags::MS_RDONLY, false)
                .map_err(failed(format!("making {} read-only", volume.destination)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_mounts_of(dir: &std::path::Path) -> usize {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = dir.to_string_lossy().into_owned();
        text.lines().filter(|l| l.contains(dir.as_str())).count()
    }

    #[test]
    fn stopped_root_is_mounted_privately_and_gone_afterwards() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("note: skipped, mounting an overlay needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        for sub in ["lower", "upper", "work", "rootfs"] {
            std::fs::create_dir(base.join(sub)).unwrap();
        }
        std::fs::write(base.join("lower/from-image"), b"image").unwrap();
        let access = RootAccess::Stopped {
            lower: vec![base.join("lower")],
            upper: base.join("upper"),
            work: base.join("work"),
            mount_point: base.join("rootfs"),
            volumes: Vec::new(),
        };
        let seen = with_container_root(&access, |root| -> io::Result<Vec<String>> {
            // Inside the worker the overlay is mounted; the daemon's other threads don't see it.
            let names = crate::runtime::container_fs::fsutil::list_dir(root)?;
            let file = openat(root, "written", OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::S_IRUSR)?;
            drop(file);
            Ok(names.into_iter().map(|n| n.to_string_lossy().into_owned()).collect())
        })
        .unwrap();
        assert_eq!(seen, ["from-image"]);
        assert!(base.join("upper/written").exists(), "writes land in the upper dir");
        assert!(!base.join("rootfs/from-image").exists(), "the host never sees the merged view");
        assert_eq!(host_mounts_of(&base), 0);
    }

    #[test]
    fn a_process_outside_the_container_is_refused() {
        let me = std::process::id() as i32;
        let err = with_container_root(
            &RootAccess::Running { pid: me, marker: "no-such-container".into(), identity: None },
            |_| Ok::<_, io::Error>(()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
