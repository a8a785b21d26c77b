//! Linux: everything that reads or changes the host. The only layer that makes syscalls.

pub mod bundle;
pub mod cgroups;
pub mod container_fs;
pub mod host;
pub mod init;
pub mod lsm;
pub mod netstat;
pub mod network;
pub mod procstat;
pub mod ps;
pub mod seccomp;

pub mod shim;
pub mod spec;
pub mod userns;
pub mod volumes;

/// The current time in RFC 3339 with nanoseconds, as Docker stamps logs and states.
pub fn now_rfc3339_nanos() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
