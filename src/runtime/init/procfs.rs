//! Writes through the container's fresh procfs: sysctls and oom_score_adj. Every write opens its
//! file beneath the procfs root fd init mounted itself, refusing symlinks and mount crossings, so
//! nothing the image or a volume placed there can redirect it (runc CVE-2025-52881).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};

use super::error::{InitError, Result, errno_text, io_text};

/// The file under /proc of a sysctl key: `net.core.somaxconn` → `sys/net/core/somaxconn`.
pub fn sysctl_path(key: &str) -> std::result::Result<String, String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty() || *p == ".." || p.contains('/')) {
        return Err(format!("invalid sysctl name {key:?}"));
    }
    Ok(format!("sys/{}", parts.join("/")))
}

/// Writes each sysctl under /proc/sys.
pub fn write_sysctls(proc: BorrowedFd<'_>, sysctls: &BTreeMap<String, String>) -> Result<()> {
    for (key, value) in sysctls {
        let path = sysctl_path(key).map_err(InitError::Setup)?;
        write_beneath(proc, &path, value)
            .map_err(|cause| InitError::setup(format!("setting sysctl {key}={value}"), cause))?;
    }
    Ok(())
}

/// Sets init's own oom_score_adj (inherited by the command).
pub fn write_oom_score_adj(proc: BorrowedFd<'_>, value: i32) -> Result<()> {
    let path = format!("{}/oom_score_adj", std::process::id());
    write_beneath(proc, &path, &value.to_string()).map_err(|cause| {
        let hint = if value < 0 { " (lowering it needs CAP_SYS_RESOURCE, which this host does not grant)" } else { "" };
        InitError::Setup(format!("setting oom_score_adj to {value}: {cause}{hint}"))
    })
}

/// Writes one of init's own files under `/proc/<pid>/` (e.g. `attr/exec`).
pub fn write_own(proc: BorrowedFd<'_>, relative: &str, value: &str) -> std::result::Result<(), String> {
    write_beneath(proc, &format!("{}/{relative}", std::process::id()), value)
}

/// Opens `relative` beneath the procfs root without symlinks or mount crossings and writes
/// `value` in one write.
fn write_beneath(proc: BorrowedFd<'_>, relative: &str, value: &str) -> std::result::Result<(), String> {
    let how = OpenHow::new()
        .flags(OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_XDEV);
    let fd = loop {
        match openat2(proc, relative, how) {
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            other => break other.map_err(errno_text)?,
        }
    };
    std::fs::File::from(fd).write_all(value.as_bytes()).map_err(|err| io_text(&err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_map_to_paths() {
        assert_eq!(sysctl_path("net.core.somaxconn").unwrap(), "sys/net/core/somaxconn");
        assert!(sysctl_path("net..x").is_err());
        assert!(sysctl_path("kernel/../x").is_err());
    }
}
