//! Facts about the host that `/info` and `/version` report: CPUs, memory, kernel, OS, cgroups.

use std::path::Path;

/// Which cgroup hierarchy containers will be placed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// v1 controllers (possibly beside a cgroup2 mount: the hybrid layout).
    V1,
    /// The unified hierarchy only.
    V2,
}

impl CgroupVersion {
    /// "1" or "2", as `/info` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "1",
            CgroupVersion::V2 => "2",
        }
    }
}

/// What the host is, read once at start.
#[derive(Debug, Clone)]
pub struct HostInfo {
    /// Online CPUs.
    pub ncpu: usize,
    /// Bytes of RAM.
    pub mem_total: u64,
    /// `uname -r`.
    pub kernel_version: String,
    /// The distribution's pretty name.
    pub operating_system: String,
    /// The OS version (VERSION_ID).
    pub os_version: String,
    /// `uname -m`, in Go's naming (amd64, arm64).
    pub architecture: String,
    /// The host name.
    pub hostname: String,
    /// The cgroup layout.
    pub cgroup_version: CgroupVersion,
    /// IPv4 forwarding is on.
    pub ipv4_forwarding: bool,
}

impl HostInfo {
    /// Reads the host's facts from uname, /proc and /etc/os-release.
    pub fn probe() -> HostInfo {
        let uname = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uname.as_ref().map(|u| f(u).to_string_lossy().into_owned()).unwrap_or_default()
        };
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        HostInfo {
            ncpu: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            mem_total: std::fs::read_to_string("/proc/meminfo").map(|m| parse_mem_total(&m)).unwrap_or(0),
            kernel_version: field(|u| u.release()),
            operating_system: os_release_value(&os_release, "PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
            os_version: os_release_value(&os_release, "VERSION_ID").unwrap_or_default(),
            architecture: go_arch(&field(|u| u.machine())).to_string(),
            hostname: field(|u| u.nodename()),
            cgroup_version: cgroup_version(Path::new("/sys/fs/cgroup")),
            ipv4_forwarding: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1"),
        }
    }
}

/// Go's name for a machine architecture, as image configs and Docker use it.
pub fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7l" => "arm",
        "i686" | "i386" => "386",
        other => other,
    }
}

/// The host's architecture in Go's naming, for new image configs.
pub fn host_arch() -> &'static str {
    go_arch(std::env::consts::ARCH)
}

fn parse_mem_total(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(|v| v.trim().trim_matches('"').to_string())
}

/// v2 when the cgroup mount point is itself a cgroup2 filesystem, else v1.
fn cgroup_version(mount_point: &Path) -> CgroupVersion {
    match nix::sys::statfs::statfs(mount_point) {
        Ok(fs) if fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => CgroupVersion::V2,
        _ => CgroupVersion::V1,
    }
}

/// The capabilities in this process's bounding set (what a privileged container may have),
/// read from `CapBnd` in /proc/self/status.
pub fn bounding_capabilities() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    crate::runtime::spec::ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// Writes a file only root may read (mode 0600 from creation on), replacing any old one.
pub fn write_private_file(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_and_os_release() {
        assert_eq!(parse_mem_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"), 16384 * 1024);
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n";
        assert_eq!(os_release_value(os, "PRETTY_NAME").unwrap(), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(os_release_value(os, "VERSION_ID").unwrap(), "12");
        assert_eq!(go_arch("x86_64"), "amd64");
    }

    #[test]
    fn probe_reads_real_figures() {
        let host = HostInfo::probe();
        assert!(host.ncpu >= 1);
        assert!(host.mem_total > 0);
        assert!(!host.kernel_version.is_empty());
    }
}
