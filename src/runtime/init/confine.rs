//! The last confinement steps before the command runs: the AppArmor profile or SELinux label
//! for its execve, and the seccomp filter. The filter goes on as late as possible: right before
//! the exec when no_new_privs is set; otherwise before the user and capability switch, since
//! installing a filter without no_new_privs needs CAP_SYS_ADMIN (runc's order). Either way the
//! syscalls init still makes (setgroups, setresuid, capset, prctl, the sync channel, execve)
//! are ones Docker's profile allows.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::error::{InitError, Result, errno_text};
use super::procfs;
use crate::runtime::spec::ProcessSpec;

/// Writes the exec labels through the procfs at `proc`.
pub fn exec_labels(proc: BorrowedFd<'_>, process: &ProcessSpec) -> Result<()> {
    crate::runtime::lsm::apply_exec_labels(
        process.apparmor_profile.as_deref(),
        process.selinux_label.as_deref(),
        |path, value| procfs::write_own(proc, path, value),
    )
    .map_err(InitError::Setup)
}

/// [`exec_labels`] for a process joining a running container (`docker exec`): through the
/// container's `/proc`, opened only when there is a label to write.
pub fn exec_labels_when_joining(process: &ProcessSpec) -> Result<()> {
    if process.apparmor_profile.is_none() && process.selinux_label.is_none() {
        return Ok(());
    }
    exec_labels(open_procfs()?.as_fd(), process)
}

/// Opens `/proc`, refusing anything but a real procfs there.
fn open_procfs() -> Result<OwnedFd> {
    let fd = nix::fcntl::open("/proc", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| InitError::setup("opening /proc", errno_text(e)))?;
    let fs = nix::sys::statfs::fstatfs(fd.as_fd()).map_err(|e| InitError::setup("inspecting /proc", errno_text(e)))?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(InitError::Setup("/proc in the container is not a procfs".into()));
    }
    Ok(fd)
}

/// Installs the filter now if no_new_privs is off (call before the capabilities are dropped).
pub fn seccomp_before_user_switch(process: &ProcessSpec) -> Result<()> {
    if process.no_new_privileges { Ok(()) } else { install(process) }
}

/// Installs the filter now if no_new_privs is on (call right before the exec).
pub fn seccomp_before_exec(process: &ProcessSpec) -> Result<()> {
    if process.no_new_privileges { install(process) } else { Ok(()) }
}

fn install(process: &ProcessSpec) -> Result<()> {
    match &process.seccomp {
        Some(program) => {
            program.install().map_err(|e| InitError::setup("installing the seccomp filter", errno_text(e)))
        }
        None => Ok(()),
    }
}
