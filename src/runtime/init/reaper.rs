//! `docker run --init`: PID 1 stays a minimal init. It runs the command as its child, forwards
//! the signals it receives to it, reaps every orphan that gets reparented to it, and exits with
//! the command's status (128+signal when the command was killed).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, pipe2, setpgid};

use super::error::{Context, InitError, Result};
use super::exec::Command;
use super::sync::SyncChannel;

/// Forks the command and supervises it: on success closes the sync channel (the shim sees EOF,
/// as after a plain exec) and returns the command's exit status once it has exited; on failure
/// reports it on the channel and returns init's exit status.
pub fn run(sync: SyncChannel, command: &Command, tty: bool) -> i32 {
    match start(command, tty) {
        Ok(child) => {
            drop(sync);
            supervise(child)
        }
        Err(err) => {
            let _ = sync.send(&err.sync_message());
            err.exit_code()
        }
    }
}

/// Forks the command and waits for its exec report: its pid once it runs, the failure (after
/// reaping it) otherwise.
fn start(command: &Command, tty: bool) -> Result<Pid> {
    if getpid() != Pid::from_raw(1) {
        // Outside a new PID namespace, orphans of the command come back to us only this way.
        // SAFETY: PR_SET_CHILD_SUBREAPER takes a boolean and no pointers.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        Errno::result(rc).context(|| "becoming a child subreaper".to_string())?;
    }
    // PID 1 keeps running kapsel's binary inside the container: non-dumpable, its /proc/1/exe
    // (a way to the host binary, CVE-2019-5736) is out of reach without CAP_SYS_PTRACE. The
    // command's exec resets the flag for itself.
    // SAFETY: PR_SET_DUMPABLE takes a boolean and no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    Errno::result(rc).context(|| "making init non-dumpable".to_string())?;
    // Block everything before the fork: signals then wait, queued, for sigwaitinfo below (even
    // those a PID 1 would otherwise drop). The child unblocks them as it execs.
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), None).context(|| "blocking signals".to_string())?;
    let (report_read, report_write) =
        pipe2(OFlag::O_CLOEXEC).context(|| "creating the exec report pipe".to_string())?;

    // SAFETY: init is single-threaded, so the child may run any code.
    match unsafe { fork() }.context(|| "forking the command".to_string())? {
        ForkResult::Child => {
            drop(report_read);
            run_child(command, tty, report_write)
        }
        ForkResult::Parent { child } => {
            drop(report_write);
            let mut report = String::new();
            std::fs::File::from(report_read)
                .read_to_string(&mut report)
                .context(|| "reading the exec report".to_string())?;
            if let Some((code, message)) = report.split_once(' ') {
                let _ = waitpid(child, None);
                return Err(InitError::Exec { message: message.to_string(), code: code.parse().unwrap_or(1) });
            }
            Ok(child)
        }
    }
}

/// The child: its own process group (the terminal's foreground one with a tty), then exec; on
/// failure writes "<code> <message>" to the report pipe and exits with that code.
fn run_child(command: &Command, tty: bool, report: OwnedFd) -> ! {
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    if tty {
        // Signals are still blocked, so SIGTTOU cannot stop us here.
        // SAFETY: plain tcsetpgrp on fd 0 (the terminal); no pointers.
        unsafe {
            libc::tcsetpgrp(0, libc::getpid());
        }
    }
    let failure = command.exec();
    let code = failure.exit_code();
    let _ = std::fs::File::from(report).write_all(format!("{code} {failure}").as_bytes());
    // SAFETY: leaving the forked child without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

/// Waits for signals: SIGCHLD reaps every zombie, everything else goes to the command. Returns
/// the command's exit status when it exits.
fn supervise(child: Pid) -> i32 {
    let all = SigSet::all();
    loop {
        // SAFETY: siginfo is plain data filled by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call.
        let signal = unsafe { libc::sigwaitinfo(all.as_ref(), &mut info) };
        if signal < 0 {
            continue;
        }
        if signal == libc::SIGCHLD {
            if let Some(status) = reap(child) {
                return status;
            }
            continue;
        }
        if let Ok(signal) = Signal::try_from(signal) {
            let _ = kill(child, signal);
        }
    }
}

/// Reaps every exited child; the command's exit status once it is among them.
fn reap(command: Pid) -> Option<i32> {
    let mut command_status = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => command_status = Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == command => command_status = Some(128 + signal as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return command_status,
            Ok(_) => {}
        }
    }
}
