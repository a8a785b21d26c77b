//! Usage counters of one cgroup, in units independent of the cgroup version (for `docker stats`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::CgroupError;
use super::files::parse_u64;

/// A snapshot of a container cgroup's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupStats {
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Memory use and limit.
    pub memory: MemoryStats,
    /// Process count and limit.
    pub pids: PidsStats,
    /// Block IO bytes per device.
    pub io: IoStats,
}

/// CPU time consumed, all in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time (v1 cpuacct.usage, v2 cpu.stat usage_usec × 1000).
    pub usage_ns: u64,
    /// Time in user mode.
    pub user_ns: u64,
    /// Time in kernel mode.
    pub system_ns: u64,
    /// Total time per CPU (v1 cpuacct.usage_percpu); empty on v2, which does not count it.
    pub per_cpu_ns: Vec<u64>,
    /// CFS periods that elapsed while the cgroup was runnable.
    pub periods: u64,
    /// Periods in which the quota ran out.
    pub throttled_periods: u64,
    /// Time spent throttled.
    pub throttled_ns: u64,
}

/// Memory use in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Current usage (v1 memory.usage_in_bytes, v2 memory.current).
    pub usage: u64,
    /// Peak usage, when the kernel keeps it (v1 memory.max_usage_in_bytes, v2 memory.peak).
    pub max_usage: Option<u64>,
    /// The hard limit; `None` when unlimited.
    pub limit: Option<u64>,
    /// memory.stat as is (v1 has `total_inactive_file`, v2 `inactive_file`, for Docker's "usage − cache").
    pub stat: BTreeMap<String, u64>,
    /// How many times the OOM killer killed a process of the cgroup.
    pub oom_kills: u64,
}

/// Process counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Processes and threads now in the cgroup (pids.current).
    pub current: u64,
    /// pids.max; `None` when unlimited.
    pub limit: Option<u64>,
}

/// Block IO counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IoStats {
    /// Bytes moved per device.
    pub devices: Vec<IoDeviceStats>,
}

/// Bytes read and written on one block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoDeviceStats {
    /// The device's major number.
    pub major: u64,
    /// The device's minor number.
    pub minor: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
}

impl IoStats {
    /// Bytes read over all devices.
    pub fn read_bytes(&self) -> u64 {
        self.devices.iter().map(|device| device.read_bytes).sum()
    }

    /// Bytes written over all devices.
    pub fn write_bytes(&self) -> u64 {
        self.devices.iter().map(|device| device.write_bytes).sum()
    }
}

/// Parses a "major:minor" device field.
fn parse_device(path: &Path, field: &str) -> Result<(u64, u64), CgroupError> {
    let Some((major, minor)) = field.split_once(':') else {
        return Err(CgroupError::Parse {
            path: path.to_owned(),
            detail: format!("expected major:minor, found {field:?}"),
        });
    };
    Ok((parse_u64(path, major)?, parse_u64(path, minor)?))
}

/// Parses v2 `io.stat`: `8:0 rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…` per device.
pub fn parse_io_stat(path: &Path, text: &str) -> Result<IoStats, CgroupError> {
    let mut devices = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(device) = fields.next() else {
            continue;
        };
        let (major, minor) = parse_device(path, device)?;
        let mut stats = IoDeviceStats { major, minor, ..Default::default() };
        for field in fields {
            match field.split_once('=') {
                Some(("rbytes", value)) => stats.read_bytes = parse_u64(path, value)?,
                Some(("wbytes", value)) => stats.write_bytes = parse_u64(path, value)?,
                _ => {}
            }
        }
        devices.push(stats);
    }
    Ok(IoStats { devices })
}

/// Parses v1 `blkio.*io_service_bytes_recursive`: `8:0 Read 123` lines and a final `Total 456`.
pub fn parse_blkio_service_bytes(path: &Path, text: &str) -> Result<IoStats, CgroupError> {
    let mut devices: Vec<IoDeviceStats> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [device, operation, value] = fields[..] else {
            continue; // "Total N" or a blank line.
        };
        let (major, minor) = parse_device(path, device)?;
        let value = parse_u64(path, value)?;
        let index = match devices.iter().position(|d| d.major == major && d.minor == minor) {
            Some(index) => index,
            None => {
                devices.push(IoDeviceStats { major, minor, ..Default::default() });
                devices.len() - 1
            }
        };
        match operation {
            "Read" => devices[index].read_bytes = value,
            "Write" => devices[index].write_bytes = value,
            _ => {}
        }
    }
    Ok(IoStats { devices })
}

/// Parses v1 `cpuacct.usage_percpu`: nanoseconds per CPU, space separated.
pub fn parse_per_cpu(path: &Path, text: &str) -> Result<Vec<u64>, CgroupError> {
    text.split_whitespace().map(|value| parse_u64(path, value)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_stat_v2() {
        let text = "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n\
                    253:1 rbytes=10 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n";
        let io = parse_io_stat(Path::new("io.stat"), text).unwrap();
        assert_eq!(io.devices.len(), 2);
        assert_eq!(io.devices[0].major, 8);
        assert_eq!(io.devices[1].minor, 1);
        assert_eq!(io.read_bytes(), 4106);
        assert_eq!(io.write_bytes(), 8192);
    }

    #[test]
    fn blkio_service_bytes_v1() {
        let text = "8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Async 0\n\
                    8:0 Discard 0\n8:0 Total 300\n8:16 Read 1\nTotal 301\n";
        let io = parse_blkio_service_bytes(Path::new("blkio"), text).unwrap();
        assert_eq!(
            io.devices,
            [
                IoDeviceStats { major: 8, minor: 0, read_bytes: 100, write_bytes: 200 },
                IoDeviceStats { major: 8, minor: 16, read_bytes: 1, write_bytes: 0 },
            ]
        );
        assert!(parse_blkio_service_bytes(Path::new("blkio"), "Total 0\n").unwrap().devices.is_empty());
    }

    #[test]
    fn per_cpu() {
        assert_eq!(parse_per_cpu(Path::new("cpuacct.usage_percpu"), "12 34 \n").unwrap(), [12, 34]);
    }
}
