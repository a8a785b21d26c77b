//! The loopback interface of a new network namespace, which starts down. One ioctl on an
//! AF_INET socket raises it; everything else about the network is the daemon's job.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use super::error::{Context, Result};

/// Brings `lo` up in the current network namespace.
pub fn loopback_up() -> Result<()> {
    // SAFETY: plain socket(2) call; the fd is owned right below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    Errno::result(raw).context(|| "opening a socket to configure lo".to_string())?;
    // SAFETY: raw is a fresh fd nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };

    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: request is a valid ifreq naming lo; SIOCGIFFLAGS fills its flags.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) };
    Errno::result(rc).context(|| "reading the flags of lo".to_string())?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe {
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: request is a valid ifreq naming lo with the new flags.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) };
    Errno::result(rc).map(drop).context(|| "bringing lo up".to_string())
}
