//! `kapsel exec <dir>`: a process that becomes part of a running container (`docker exec`).
//! The shim starts it exactly as it starts `kapsel init`, with the same sync protocol; instead
//! of creating namespaces it joins the container's (every one but mount first, mount next, as
//! runc does, and a tenant's user namespace last: joining it first would leave no privilege
//! over the namespaces the host owns), forks so that the process is inside the PID namespace,
//! and then applies the same user, capabilities and no_new_privs as the container before it
//! execs. In a user namespace that user is mapped, so the process runs as the tenant's host
//! uid outside.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, setns};
use nix::sys::stat::Mode;
use nix::unistd::ForkResult;

use super::error::{Context, InitError, Result};
use super::exec::{self, Command};
use super::sync::{self, SyncChannel};
use super::{capabilities, confine, devices, report, rlimits, switch_user, user};
use crate::runtime::spec::{EXEC_SPEC_FILE, ExecSpec};

/// The namespaces an exec joins, in order: mount after the others (joining it changes the root
/// to the container's), user last (after it, nothing the host owns could be joined).
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("user", CloneFlags::CLONE_NEWUSER),
];

/// Runs an exec with the process's argv (`<exe> exec <dir>`); returns only by exec'ing.
pub fn main(args: &[String]) -> ! {
    std::process::exit(run(args))
}

fn run(args: &[String]) -> i32 {
    let sync = match SyncChannel::inherit() {
        Ok(sync) => sync,
        Err(err) => {
            eprintln!("kapsel exec: {err}");
            return 1;
        }
    };
    // SAFETY: close_range only sets flags on fds; no pointers.
    unsafe {
        libc::close_range(sync::SYNC_FD as u32 + 1, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32);
    }
    let spec = match load(args) {
        Ok(spec) => spec,
        Err(err) => return report(&sync, err),
    };
    match enter(&sync, &spec) {
        Ok(false) => 0,
        Ok(true) => match build(&sync, &spec) {
            Ok(command) => report(&sync, command.exec()),
            Err(err) => report(&sync, err),
        },
        Err(err) => report(&sync, err),
    }
}

fn load(args: &[String]) -> Result<ExecSpec> {
    let dir = args
        .iter()
        .skip_while(|arg| *arg != "exec")
        .nth(1)
        .ok_or_else(|| InitError::Setup("usage: kapsel exec <dir>".to_string()))?;
    let path = Path::new(dir).join(EXEC_SPEC_FILE);
    let text = std::fs::read(&path).context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).map_err(|err| InitError::setup(format!("parsing {}", path.display()), err))
}

/// Joins the container's namespaces and forks; true in the child (the exec's process), false
/// in the parent once it reported the child's pid.
fn enter(sync: &SyncChannel, spec: &ExecSpec) -> Result<bool> {
    sync.expect(sync::CGROUP_OK)?;
    // Open every namespace first: once the mount namespace is joined, /proc is the container's.
    let mut targets: Vec<(OwnedFd, CloneFlags)> = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{}/ns/{name}", spec.container_pid);
        let ours = format!("/proc/self/ns/{name}");
        let same = match (std::fs::metadata(&theirs), std::fs::metadata(&ours)) {
            (Ok(a), Ok(b)) => std::os::unix::fs::MetadataExt::ino(&a) == std::os::unix::fs::MetadataExt::ino(&b),
            (Err(e), _) => return Err(InitError::setup(format!("the container is not running ({theirs})"), e)),
            _ => false,
        };
        if !same {
            let fd = nix::fcntl::open(theirs.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .context(|| format!("opening {theirs}"))?;
            targets.push((fd, *flag));
        }
    }
    // Inside a user namespace a hard limit can no longer be raised: make room first.
    rlimits::raise_hard_limits(&spec.process.rlimits)?;
    for (fd, flag) in &targets {
        setns(fd.as_fd(), *flag).context(|| format!("joining the container's {flag:?} namespace"))?;
    }
    // The child waits on this pipe until the parent has sent its pid, so `pid` is always the
    // shim's first message (the child's `console` or `ready` must not overtake it).
    let (gate_read, gate_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).context(|| "creating the stage pipe".to_string())?;
    // SAFETY: this process is single-threaded, so the child may run any code.
    match unsafe { nix::unistd::fork() }.context(|| "forking into the PID namespace".to_string())? {
        ForkResult::Parent { child } => {
            drop(gate_read);
            sync.send(&sync::InitMessage::Pid(child.as_raw()).encode())?;
            drop(gate_write);
            Ok(false)
        }
        ForkResult::Child => {
            drop(gate_write);
            // EOF once the parent sent the pid and closed its end (or died).
            let _ = std::io::Read::read(&mut std::fs::File::from(gate_read), &mut [0u8; 1]);
            Ok(true)
        }
    }
}

/// Inside the container: terminal, user, working directory, capabilities; then `ready`, `go`.
fn build(sync: &SyncChannel, spec: &ExecSpec) -> Result<Command> {
    let process = &spec.process;
    let caps = capabilities::parse_set(&process.capabilities).map_err(InitError::Setup)?;
    nix::unistd::setsid().context(|| "setsid".to_string())?;
    nix::unistd::chdir("/").context(|| "entering the container's root".to_string())?;
    if process.tty {
        let pts = nix::fcntl::open("/dev/pts", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .context(|| "opening /dev/pts".to_string())?;
        let master = devices::open_terminal(pts.as_fd())?;
        sync.send_fd(sync::CONSOLE, master.as_fd())?;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let group = std::fs::read_to_string("/etc/group").ok();
    let user = user::resolve(&process.user, &process.additional_groups, passwd.as_deref(), group.as_deref())
        .map_err(InitError::Setup)?;
    rlimits::apply(&process.rlimits)?;
    let cwd = if process.cwd.is_empty() { "/" } else { process.cwd.as_str() };
    nix::sys::stat::umask(Mode::from_bits_truncate(process.umask as libc::mode_t));
    let env = exec::command_env(&process.env, &user.home);
    let entered = nix::unistd::chdir(cwd).is_ok();
    confine::exec_labels_when_joining(process)?;
    confine::seccomp_before_user_switch(process)?;
    switch_user(&user, caps)?;
    if !entered {
        nix::unistd::chdir(cwd).context(|| format!("chdir to cwd (\"{cwd}\") set in config.json failed"))?;
    }
    if process.no_new_privileges {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes a boolean and no pointers.
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        nix::errno::Errno::result(rc).context(|| "setting no_new_privs".to_string())?;
    }
    sync.send(sync::READY)?;
    sync.expect(sync::GO)?;
    let command = Command::prepare(&process.args, &env)?;
    confine::seccomp_before_exec(process)?;
    Ok(command)
}
