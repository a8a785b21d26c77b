//! A user namespace with a given mapping, held by descriptor only: idmapped mounts need one
//! (they keep a reference to the namespace, not to any process in it). A child is forked into a
//! new user namespace, its maps are written, its namespace is opened, and it exits.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;

use super::IdMapping;
use super::maps::write_id_maps;

/// Opens a new user namespace mapped as `mapping`. Forks: call it only from a single-threaded
/// process (init's stage 1, the probe), never from the daemon.
pub fn user_namespace(mapping: &IdMapping) -> Result<OwnedFd, String> {
    let (ready_read, ready_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (done_read, done_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the caller is single-threaded; the child makes raw syscalls only and _exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("forking a user-namespace holder: {e}"))? {
        ForkResult::Child => {
            drop((ready_read, done_write));
            let status = match unshare(CloneFlags::CLONE_NEWUSER) {
                Ok(()) => 0u8,
                Err(errno) => errno as i32 as u8,
            };
            let _ = nix::unistd::write(&ready_write, &[status]);
            // Until the parent has opened the namespace (it closes its end).
            let _ = nix::unistd::read(done_read.as_fd(), &mut [0u8; 1]);
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop((ready_write, done_read));
            let mut status = [0u8; 1];
            let got = nix::unistd::read(ready_read.as_fd(), &mut status);
            let result = match got {
                Ok(1) if status[0] == 0 => {
                    write_id_maps(child.as_raw(), mapping).map_err(|e| e.to_string()).and_then(|()| {
                        let path = format!("/proc/{child}/ns/user");
                        nix::fcntl::open(path.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                            .map_err(|e| format!("opening {path}: {e}"))
                    })
                }
                Ok(1) => Err(format!("unshare(CLONE_NEWUSER): {}", Errno::from_raw(i32::from(status[0])))),
                _ => Err("the user-namespace holder died".to_string()),
            };
            drop(done_write);
            let _ = waitpid(child, None);
            result
        }
    }
}
