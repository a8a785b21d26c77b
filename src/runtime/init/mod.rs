//! `kapsel init`: the process that becomes the container. The shim starts it as
//! `/proc/self/exe init <bundle>` with the container's stdio on fds 0–2 and the sync channel on
//! fd 3; it reads `<bundle>/spec.json` and decides nothing itself. It runs single-threaded
//! (no tokio, no threads), so it may fork and unshare freely.
//!
//! Stage 1 (the process the shim spawned) waits for `cgroup-ok`, enters the namespaces and forks
//! stage 2, reports `pid <n>` and exits. With a user namespace (tenants' containers), stage 1
//! first mounts the root filesystem while still privileged (`premount`), then enters the user
//! namespace (`userns`) before it creates the others, so that they belong to it. Stage 2 — PID 1 of the new PID namespace — builds the
//! root filesystem, pivots into it, applies the limits and the user and capabilities, reports
//! `ready`, waits for `go` and execs the command (or, with `--init`, supervises it as a child).
//! Any failure is reported as `error <message>` or `exec-error <message>` (see `sync`).

pub mod capabilities;
pub mod cgroupfs;
pub mod confine;
pub mod devices;
pub mod error;
pub mod exec;
pub mod join;
pub mod masking;
pub mod mounts;
pub mod namespaces;
pub mod network;
pub mod paths;
pub mod premount;
pub mod procfs;
pub mod reaper;
pub mod rlimits;
pub mod rootfs;
pub mod sync;
pub mod user;
pub mod userns;

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{ForkResult, Gid, Uid};

use crate::runtime::spec::{ContainerSpec, NetworkNamespace, SPEC_FILE};
use error::{Context, InitError, Result};
use exec::Command;
use paths::{Create, file_type, open_in_root};
use sync::SyncChannel;

/// Runs init with the process's argv (`<exe> init <bundle>`) and exits with its status; returns
/// only by replacing the process with the container's command.
pub fn main(args: &[String]) -> ! {
    std::process::exit(run(args))
}

/// Where a process stands after stage 1.
enum Stage {
    /// Stage 1 itself, done: it reported stage 2's pid and exits 0.
    Reported,
    /// Stage 2, inside the new namespaces: builds and runs the container, with the bind
    /// sources stage 1 resolved (a user-namespaced container's; empty otherwise).
    Container(Vec<Option<std::os::fd::OwnedFd>>),
}

/// Init from the top; the exit status when init does not exec.
fn run(args: &[String]) -> i32 {
    let sync = match SyncChannel::inherit() {
        Ok(sync) => sync,
        Err(err) => {
            eprintln!("kapsel init: {err}");
            return 1;
        }
    };
    // Nothing but stdio and the sync channel may reach the container.
    // SAFETY: close_range only sets flags on fds; no pointers.
    unsafe {
        libc::close_range(sync::SYNC_FD as u32 + 1, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32);
    }
    let spec = match load_spec(args) {
        Ok(spec) => spec,
        Err(err) => return report(&sync, err),
    };
    match stage1(&sync, &spec) {
        Ok(Stage::Reported) => 0,
        Ok(Stage::Container(sources)) => stage2(sync, &spec, sources),
        Err(err) => report(&sync, err),
    }
}

/// Reads `<bundle>/spec.json`, the bundle being the argument after `init`.
fn load_spec(args: &[String]) -> Result<ContainerSpec> {
    let bundle = args
        .iter()
        .skip_while(|arg| *arg != "init")
        .nth(1)
        .ok_or_else(|| InitError::Setup("usage: kapsel init <bundle-dir>".to_string()))?;
    let path = Path::new(bundle).join(SPEC_FILE);
    let text = std::fs::read(&path).context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).map_err(|err| InitError::setup(format!("parsing {}", path.display()), err))
}

/// Sends a failure to the shim; the exit status that goes with it.
pub(crate) fn report(sync: &SyncChannel, err: InitError) -> i32 {
    let _ = sync.send(&err.sync_message());
    err.exit_code()
}

/// Stage 1: wait until the shim has put us in the cgroup, enter the namespaces, fork stage 2 and
/// report its pid. The fork is needed because a new PID namespace applies to children only.
fn stage1(sync: &SyncChannel, spec: &ContainerSpec) -> Result<Stage> {
    sync.expect(sync::CGROUP_OK)?;
    namespaces::join(&spec.namespaces)?;
    let mut sources = Vec::new();
    if let Some(mapping) = &spec.user_namespace {
        // Inside the user namespace a hard limit can no longer be raised: make room first.
        rlimits::raise_hard_limits(&spec.process.rlimits)?;
        premount::mount_rootfs(&spec.rootfs, &spec.bundle, mapping)?;
        sources = premount::bind_sources(&spec.mounts)?;
        // Before the other namespaces are created, so that they belong to it.
        userns::enter(sync, mapping, &spec.namespaces)?;
    }
    namespaces::create(namespaces::unshare_flags(&spec.namespaces))?;

    // Stage 2 waits on this pipe until stage 1 has sent its pid, so `pid` always comes first.
    let (gate_read, gate_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).context(|| "creating the stage pipe".to_string())?;
    // SAFETY: init is single-threaded, so the child may run any code.
    match unsafe { nix::unistd::fork() }.context(|| "forking stage 2".to_string())? {
        ForkResult::Parent { child } => {
            drop(gate_read);
            sync.send(&sync::InitMessage::Pid(child.as_raw()).encode())?;
            drop(gate_write);
            Ok(Stage::Reported)
        }
        ForkResult::Child => {
            drop(gate_write);
            // EOF once stage 1 sent the pid and closed its end (or died).
            let _ = std::fs::File::from(gate_read).read(&mut [0u8; 1]);
            Ok(Stage::Container(sources))
        }
    }
}

/// Stage 2: build the container, wait for `go`, run the command; the exit status when the
/// command could not be started (or, with `--init`, the command's own status).
fn stage2(sync: SyncChannel, spec: &ContainerSpec, sources: Vec<Option<std::os::fd::OwnedFd>>) -> i32 {
    let built = build(&sync, spec, &sources);
    // Attached by now: nothing of them may stay open in an `--init` reaper.
    drop(sources);
    let command = match built {
        Ok(command) => command,
        Err(err) => return report(&sync, err),
    };
    if spec.process.init {
        return reaper::run(sync, &command, spec.process.tty);
    }
    let failure = command.exec();
    report(&sync, failure)
}

/// Everything between the fork and the exec, in runc's order; returns the command to run once
/// the shim said `go`.
fn build(sync: &SyncChannel, spec: &ContainerSpec, sources: &[Option<std::os::fd::OwnedFd>]) -> Result<Command> {
    let process = &spec.process;
    let caps = capabilities::parse_set(&process.capabilities).map_err(InitError::Setup)?;
    nix::unistd::setsid().context(|| "setsid".to_string())?;
    // Modes of what init creates are exact; the container's umask comes right before the exec.
    nix::sys::stat::umask(Mode::empty());

    let rootfs::PreparedRoot { root: new_root, proc, dev_null, console } = rootfs::build(spec, sources)?;
    if let Some(master) = console {
        sync.send_fd(sync::CONSOLE, master.as_fd())?;
    }
    let root = rootfs::pivot(new_root.as_fd())?;
    drop(new_root);

    procfs::write_sysctls(proc.as_fd(), &spec.sysctls)?;
    masking::readonly_paths(root.as_fd(), &spec.readonly_paths)?;
    masking::masked_paths(root.as_fd(), &spec.masked_paths, dev_null.as_fd())?;
    if !spec.namespaces.host_uts {
        set_names(&spec.hostname, &spec.domainname)?;
    }
    if spec.namespaces.network == NetworkNamespace::Isolated {
        network::loopback_up()?;
    }
    rlimits::apply(&process.rlimits)?;
    if let Some(adj) = process.oom_score_adj {
        procfs::write_oom_score_adj(proc.as_fd(), adj)?;
    }
    confine::exec_labels(proc.as_fd(), process)?;
    let passwd = read_etc_file(root.as_fd(), "/etc/passwd")?;
    let group = read_etc_file(root.as_fd(), "/etc/group")?;
    let user = user::resolve(&process.user, &process.additional_groups, passwd.as_deref(), group.as_deref())
        .map_err(InitError::Setup)?;
    let cwd = if process.cwd.is_empty() { "/" } else { process.cwd.as_str() };
    paths::ensure_in_root(root.as_fd(), cwd, Create::Dir)
        .context(|| format!("creating the working directory {cwd}"))?;
    if spec.rootfs.readonly {
        masking::readonly_root(root.as_fd())?;
    }
    drop((proc, dev_null, root));

    nix::sys::stat::umask(Mode::from_bits_truncate(process.umask as libc::mode_t));
    let env = exec::command_env(&process.env, &user.home);
    // As root first (runc does the same); again as the user when root could not (e.g. EACCES on
    // root-squashed storage), so the user's own permissions decide.
    let entered = nix::unistd::chdir(cwd).is_ok();
    confine::seccomp_before_user_switch(process)?;
    switch_user(&user, caps)?;
    if !entered {
        nix::unistd::chdir(cwd).context(|| format!("chdir to {cwd}"))?;
    }
    if process.no_new_privileges {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes a boolean and no pointers.
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        Errno::result(rc).context(|| "setting no_new_privs".to_string())?;
    }

    sync.send(sync::READY)?;
    sync.expect(sync::GO)?;
    let command = Command::prepare(&process.args, &env)?;
    confine::seccomp_before_exec(process)?;
    Ok(command)
}

/// Host and domain name in the container's own UTS namespace (empty: left as inherited).
fn set_names(hostname: &str, domainname: &str) -> Result<()> {
    if !hostname.is_empty() {
        nix::unistd::sethostname(hostname).context(|| format!("setting hostname {hostname:?}"))?;
    }
    if !domainname.is_empty() {
        // SAFETY: the pointer and length describe domainname's bytes.
        let rc = unsafe { libc::setdomainname(domainname.as_ptr().cast(), domainname.len()) };
        Errno::result(rc).context(|| format!("setting domainname {domainname:?}"))?;
    }
    Ok(())
}

/// The bounding set, groups, gid, uid, then permitted/effective/ambient, in that order: keepcaps
/// carries the permitted set across setuid, capset then narrows it to exactly `caps`.
pub(crate) fn switch_user(user: &user::ExecUser, caps: u64) -> Result<()> {
    capabilities::drop_bounding(caps)?;
    capabilities::keep_across_setuid(true)?;
    let groups: Vec<Gid> = user.groups.iter().copied().map(Gid::from_raw).collect();
    nix::unistd::setgroups(&groups).context(|| format!("setgroups({:?})", user.groups))?;
    let gid = Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).context(|| format!("setgid({})", user.gid))?;
    let uid = Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).context(|| format!("setuid({})", user.uid))?;
    capabilities::keep_across_setuid(false)?;
    capabilities::apply(caps)?;
    capabilities::clear_ambient()
}

/// The text of a regular file inside the container (e.g. /etc/passwd), None when missing. Never
/// blocks on a FIFO and never leaves the root.
fn read_etc_file(root: BorrowedFd<'_>, path: &str) -> Result<Option<String>> {
    let fd = match open_in_root(root, path, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
        Err(errno) => return Err(errno).context(|| format!("opening {path}")),
    };
    if file_type(fd.as_fd()).context(|| format!("inspecting {path}"))? != SFlag::S_IFREG {
        return Err(InitError::Setup(format!("{path} is not a regular file")));
    }
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text).context(|| format!("reading {path}"))?;
    Ok(Some(text))
}
