//! `kapsel shim <bundle>`: one small process per running container. It starts `kapsel init`,
//! holds the container's stdio, writes its log, serves attach streams, signals and waits over
//! `<bundle>/shim.sock`, reaps the container and records its exit durably in `exit.json`.
//! It detaches from the daemon at once (double fork, own session) so that a daemon killed with
//! SIGKILL leaves every container running and logging.
//!
//! The shim is single-threaded and synchronous (one poll loop, no async runtime): it is paid
//! once per running container, so it must stay small.
//!
//! Start-up, with init (see `init::sync` for the messages): the shim puts init in the cgroup and
//! sends `cgroup-ok`; for a container with a user namespace init answers `map-ids`, and the
//! shim — root on the host — writes init's uid and gid maps from its own options and answers
//! `ids-mapped`; then init reports `pid <n>` (stage 2), maybe `console` (with the terminal),
//! and `ready`.

pub mod client;
pub mod log;
pub mod protocol;
mod server;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};
use nix::unistd::{ForkResult, Pid, fork, setsid};

use self::protocol::{Handshake, OPTIONS_FILE, SOCKET_FILE, ShimOptions};

/// The shim's entry point; `args` is the whole argv (`kapsel shim <bundle>`).
pub fn main(args: &[String]) -> ExitCode {
    let Some(bundle) = args.get(2).map(PathBuf::from) else {
        eprintln!("usage: kapsel shim <bundle>");
        return ExitCode::from(2);
    };
    // Detach: the daemon waits for this first process, which exits at once; the grandchild is
    // adopted by the host's init (or a subreaper) and outlives the daemon.
    // SAFETY: the shim is single-threaded here (dispatched from main before anything started).
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => return ExitCode::SUCCESS,
        Ok(ForkResult::Child) => {}
        Err(e) => {
            report(&Handshake::Failed { message: format!("shim: fork: {e}") });
            return ExitCode::FAILURE;
        }
    }
    let _ = setsid();
    match prepare(&bundle) {
        Ok(prepared) => {
            report(&Handshake::Ready { pid: prepared.container_pid.as_raw() });
            detach_stdio();
            server::run(prepared)
        }
        Err(message) => {
            report(&Handshake::Failed { message });
            ExitCode::FAILURE
        }
    }
}

/// Everything the poll loop needs once the container is prepared.
pub(crate) struct Prepared {
    bundle: PathBuf,
    options: ShimOptions,
    container_pid: Pid,
    listener: UnixListener,
    sync: OwnedFd,
    /// stdout, or the pty master with a TTY.
    stdout: OwnedFd,
    /// stderr; none with a TTY.
    stderr: Option<OwnedFd>,
    /// Where stdin bytes go: a pipe, the pty master (a dup), or nothing.
    stdin: Option<OwnedFd>,
    signals: nix::sys::signalfd::SignalFd,
}

/// Starts init and takes it to the point where only `go` is missing.
fn prepare(bundle: &Path) -> Result<Prepared, String> {
    std::env::set_current_dir(bundle).map_err(|e| format!("shim: entering {}: {e}", bundle.display()))?;
    let options: ShimOptions = read_json(&bundle.join(OPTIONS_FILE))?;
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("shim: becoming a subreaper: {e}"))?;
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).map_err(|e| format!("shim: sigprocmask: {e}"))?;
    let signals = nix::sys::signalfd::SignalFd::with_flags(
        &mask,
        nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
    )
    .map_err(|e| format!("shim: signalfd: {e}"))?;

    let stdio = server::ContainerStdio::create(&options)?;
    let (sync, sync_child) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| format!("shim: socketpair: {e}"))?;
    let sync_child_fd = sync_child.as_raw_fd();
    let exe = std::env::current_exe().map_err(|e| format!("shim: finding the kapsel binary: {e}"))?;
    let mut command = std::process::Command::new(exe);
    command
        .args(&options.init_args)
        .stdin(stdio.child_stdin()?)
        .stdout(stdio.child_stdout()?)
        .stderr(stdio.child_stderr()?);
    // SAFETY: the shim is single-threaded; the closure only makes raw syscalls.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(sync_child_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The container must not inherit the shim's blocked SIGCHLD nor Rust's ignored SIGPIPE.
            let empty = SigSet::empty();
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&empty), None);
            let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| format!("shim: starting init: {e}"))?;
    drop(sync_child);
    let stage1 = Pid::from_raw(child.id() as i32);
    let fail = |message: String| {
        let _ = nix::sys::signal::kill(stage1, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(stage1, None);
        message
    };

    for dir in &options.cgroup_dirs {
        std::fs::write(dir.join("cgroup.procs"), stage1.as_raw().to_string())
            .map_err(|e| fail(format!("joining the cgroup {}: {e}", dir.display())))?;
    }
    send_message(&sync, "cgroup-ok").map_err(fail)?;
    let container_pid = loop {
        match receive_message(&sync).map_err(fail)? {
            Some(m) if m == "map-ids" => {
                let mapping = options
                    .user_namespace
                    .ok_or_else(|| fail("init asked for id maps, but the container has no user namespace".into()))?;
                crate::runtime::userns::maps::write_id_maps(stage1.as_raw(), &mapping)
                    .map_err(|e| fail(format!("writing the container's id maps: {e}")))?;
                send_message(&sync, "ids-mapped").map_err(fail)?;
            }
            Some(m) if m.starts_with("pid ") => {
                break m[4..]
                    .trim()
                    .parse::<i32>()
                    .map(Pid::from_raw)
                    .map_err(|_| fail(format!("init sent a bad pid: {m}")))?;
            }
            Some(m) => return Err(fail(init_failure(&m))),
            None => return Err(fail("init exited before starting the container".into())),
        }
    };
    // Stage 1 exits once it has forked the container process; reap it.
    let _ = nix::sys::wait::waitpid(stage1, None);
    let kill_container = |message: String| {
        let _ = nix::sys::signal::kill(container_pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(container_pid, None);
        message
    };
    let mut console = None;
    loop {
        match receive_message_with_fd(&sync).map_err(kill_container)? {
            (Some(m), Some(fd)) if m == "console" => console = Some(fd),
            (Some(m), _) if m == "ready" => break,
            (Some(m), _) => return Err(kill_container(init_failure(&m))),
            (None, _) => return Err(kill_container("init exited while preparing the container".into())),
        }
    }
    let (stdout, stderr, stdin) = stdio.into_shim_ends(console).map_err(kill_container)?;
    if let (true, Some((rows, cols))) = (options.tty, options.console_size) {
        server::set_terminal_size(&stdout, rows, cols);
    }
    // Relative to the bundle (the shim's working directory): a unix socket path is limited to
    // 108 bytes, and a data root plus ids can be longer.
    let _ = std::fs::remove_file(SOCKET_FILE);
    let listener = UnixListener::bind(SOCKET_FILE)
        .map_err(|e| kill_container(format!("shim: listening on {}: {e}", bundle.join(SOCKET_FILE).display())))?;
    Ok(Prepared {
        bundle: bundle.to_path_buf(),
        options,
        container_pid,
        listener,
        sync,
        stdout,
        stderr,
        stdin,
        signals,
    })
}

/// The text of an `error …` or `exec-error …` message from init.
pub(crate) fn init_failure(message: &str) -> String {
    let text = message.strip_prefix("exec-error ").or_else(|| message.strip_prefix("error ")).unwrap_or(message);
    format!("unable to start container process: {text}")
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read(path).map_err(|e| format!("shim: reading {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("shim: parsing {}: {e}", path.display()))
}

/// Sends one message on the sync channel.
pub(crate) fn send_message(sync: &OwnedFd, text: &str) -> Result<(), String> {
    send(sync.as_raw_fd(), text.as_bytes(), MsgFlags::empty())
        .map(|_| ())
        .map_err(|e| format!("shim: talking to init: {e}"))
}

/// Receives one message; `None` when init closed its end.
pub(crate) fn receive_message(sync: &OwnedFd) -> Result<Option<String>, String> {
    let mut buffer = [0u8; 4096];
    loop {
        match recv(sync.as_raw_fd(), &mut buffer, MsgFlags::empty()) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some(String::from_utf8_lossy(&buffer[..n]).into_owned())),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::ECONNRESET) => return Ok(None),
            Err(e) => return Err(format!("shim: listening to init: {e}")),
        }
    }
}

/// Receives one message and the file descriptor sent with it, if any.
fn receive_message_with_fd(sync: &OwnedFd) -> Result<(Option<String>, Option<OwnedFd>), String> {
    use nix::sys::socket::{ControlMessageOwned, recvmsg};
    use std::os::fd::FromRawFd;
    let mut buffer = [0u8; 4096];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buffer)];
        match recvmsg::<()>(sync.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(message) => {
                let mut fd = None;
                for cmsg in message.cmsgs().map_err(|e| format!("shim: reading init's message: {e}"))? {
                    if let ControlMessageOwned::ScmRights(fds) = cmsg {
                        // SAFETY: the kernel just installed these fds in this process for us.
                        fd = fds.first().map(|&raw| unsafe { OwnedFd::from_raw_fd(raw) });
                    }
                }
                let n = message.bytes;
                if n == 0 {
                    return Ok((None, fd));
                }
                return Ok((Some(String::from_utf8_lossy(&buffer[..n]).into_owned()), fd));
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::ECONNRESET) => return Ok((None, None)),
            Err(e) => return Err(format!("shim: listening to init: {e}")),
        }
    }
}

/// Writes the handshake line to the daemon (the shim's stdout).
fn report(handshake: &Handshake) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, handshake);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Points stdin and stdout at /dev/null once the daemon has its answer, so the daemon's pipe
/// closes; stderr stays on the shim's log file.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
    }
}

/// Reads the shim's handshake line from its stdout (daemon side, blocking).
pub fn read_handshake<R: std::io::Read>(stdout: R) -> Result<Handshake, String> {
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).map_err(|e| format!("reading the shim's answer: {e}"))?;
    if line.trim().is_empty() {
        return Err("the shim exited without an answer".into());
    }
    serde_json::from_str(line.trim()).map_err(|e| format!("the shim's answer is garbled ({e}): {line}"))
}
