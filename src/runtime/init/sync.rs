//! The sync channel between the shim and init: a `SOCK_SEQPACKET` unix socket on fd 3 carrying
//! one short text message per packet.
//!
//! shim → init: `cgroup-ok`, later `go`. init → shim: `pid <host pid of stage 2>`, `ready`,
//! `error <message>` or `exec-error <message>`. A successful `execve` closes init's end (it is
//! close-on-exec), so the shim reads EOF once the command runs.
//!
//! A container with a user namespace adds one exchange between `cgroup-ok` and `pid`: stage 1
//! unshares its user namespace and sends `map-ids`; the shim, privileged outside, writes stage
//! 1's `uid_map` and `gid_map` (the mapping comes from the shim's own options, never from init)
//! and answers `ids-mapped`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::stat::{SFlag, fstat};

use super::error::{Context, InitError, Result};

/// The fd number the shim hands init its end of the channel on.
pub const SYNC_FD: RawFd = 3;
/// shim → init: init's pid is in the container's cgroup; init may now fork.
pub const CGROUP_OK: &str = "cgroup-ok";
/// init → shim: stage 1 is in its new user namespace; write its id maps.
pub const MAP_IDS: &str = "map-ids";
/// shim → init: the id maps are written.
pub const IDS_MAPPED: &str = "ids-mapped";
/// init → shim: the container is built and waits for `go`.
pub const READY: &str = "ready";
/// shim → init: run the command now.
pub const GO: &str = "go";
/// init → shim, with the pty master attached (SCM_RIGHTS): the container's terminal, made in
/// the container's own devpts so that the command sees `/dev/pts/0`.
pub const CONSOLE: &str = "console";

/// The largest message either side sends.
const MAX_MESSAGE: usize = 64 * 1024;

/// A message from init to the shim, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitMessage {
    /// `pid <n>`: the host pid of stage 2, the container's PID 1.
    Pid(i32),
    /// `ready`: everything but the exec is done.
    Ready,
    /// `error <message>`: building the container failed.
    Error(String),
    /// `exec-error <message>`: the command could not be found or executed.
    ExecError(String),
}

impl InitMessage {
    /// Parses one packet's text; None for anything unknown.
    pub fn parse(text: &str) -> Option<InitMessage> {
        if text == READY {
            return Some(InitMessage::Ready);
        }
        if let Some(pid) = text.strip_prefix("pid ") {
            return pid.trim().parse().ok().map(InitMessage::Pid);
        }
        if let Some(message) = text.strip_prefix("exec-error ") {
            return Some(InitMessage::ExecError(message.to_string()));
        }
        if let Some(message) = text.strip_prefix("error ") {
            return Some(InitMessage::Error(message.to_string()));
        }
        None
    }

    /// The packet text for this message.
    pub fn encode(&self) -> String {
        match self {
            InitMessage::Pid(pid) => format!("pid {pid}"),
            InitMessage::Ready => READY.to_string(),
            InitMessage::Error(message) => format!("error {message}"),
            InitMessage::ExecError(message) => format!("exec-error {message}"),
        }
    }
}

/// One end of the sync channel.
#[derive(Debug)]
pub struct SyncChannel {
    fd: OwnedFd,
}

impl SyncChannel {
    /// Takes over fd 3 as init's end of the channel and marks it close-on-exec.
    pub fn inherit() -> Result<SyncChannel> {
        // Check fd 3 is open before taking ownership of it.
        fcntl(unsafe { BorrowedFd::borrow_raw(SYNC_FD) }, FcntlArg::F_GETFD)
            .context(|| format!("sync channel fd {SYNC_FD}"))?;
        // SAFETY: fd 3 is open (checked above) and handed to init by contract; nothing else in
        // this process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(SYNC_FD) };
        let stat = fstat(&fd).context(|| format!("sync channel fd {SYNC_FD}"))?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
            return Err(InitError::Setup(format!("sync channel fd {SYNC_FD} is not a socket")));
        }
        fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
            .context(|| "marking the sync channel close-on-exec".to_string())?;
        Ok(SyncChannel { fd })
    }

    /// Wraps an already open socket (the shim's end, or a test's).
    pub fn from_fd(fd: OwnedFd) -> SyncChannel {
        SyncChannel { fd }
    }

    /// Sends one message.
    pub fn send(&self, text: &str) -> Result<()> {
        let sent = loop {
            // SAFETY: the buffer is valid for its length; MSG_NOSIGNAL avoids SIGPIPE.
            let n = unsafe { libc::send(self.fd.as_raw_fd(), text.as_ptr().cast(), text.len(), libc::MSG_NOSIGNAL) };
            match Errno::result(n) {
                Err(Errno::EINTR) => continue,
                other => break other,
            }
        };
        sent.context(|| format!("sending {:?} to the shim", first_word(text)))?;
        Ok(())
    }

    /// Sends one message with a file descriptor attached.
    pub fn send_fd(&self, text: &str, fd: BorrowedFd<'_>) -> Result<()> {
        use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
        let fds = [fd.as_raw_fd()];
        let iov = [std::io::IoSlice::new(text.as_bytes())];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
            .context(|| format!("sending {:?} to the shim", first_word(text)))?;
        Ok(())
    }

    /// Receives one message; None when the other side closed the channel.
    pub fn recv(&self) -> Result<Option<String>> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let n = loop {
            // SAFETY: the buffer is valid and writable for its length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            match Errno::result(n) {
                Err(Errno::EINTR) => continue,
                other => break other.context(|| "reading the sync channel".to_string())?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n as usize);
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    /// Waits for one exact message from the shim.
    pub fn expect(&self, want: &str) -> Result<()> {
        match self.recv()? {
            Some(got) if got == want => Ok(()),
            Some(got) => Err(InitError::Setup(format!("sync channel: expected {want:?}, got {got:?}"))),
            None => Err(InitError::Setup(format!("sync channel closed while waiting for {want:?}"))),
        }
    }
}

impl AsFd for SyncChannel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The first word of a message, to name it in errors without repeating its payload.
fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors socketpair writes.
        let rc =
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
        assert_eq!(rc, 0);
        // SAFETY: both fds were just created and are owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn messages_round_trip() {
        for message in [
            InitMessage::Pid(4242),
            InitMessage::Ready,
            InitMessage::Error("mounting /proc: permission denied".into()),
            InitMessage::ExecError("exec: \"x\": executable file not found in $PATH".into()),
        ] {
            assert_eq!(InitMessage::parse(&message.encode()), Some(message));
        }
        assert_eq!(InitMessage::parse("hello"), None);
        assert_eq!(InitMessage::parse("pid x"), None);
    }

    #[test]
    fn packets_keep_their_boundaries() {
        let (a, b) = seqpacket_pair();
        let (a, b) = (SyncChannel::from_fd(a), SyncChannel::from_fd(b));
        a.send(CGROUP_OK).unwrap();
        a.send(GO).unwrap();
        b.expect(CGROUP_OK).unwrap();
        assert_eq!(b.recv().unwrap().as_deref(), Some(GO));
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
        assert!(b.expect(GO).is_err());
    }
}
