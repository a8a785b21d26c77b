//! `docker stats`: samples of a container's cgroup counters, the host's CPU time and the
//! container's network counters, in the JSON document dockerd sends (its field names, order
//! and omissions), one sample or a stream of one a second.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Container;
use crate::engine::{Engine, Error, Result};
use crate::runtime::cgroups::{Cgroup, CgroupStats, container_cgroup_path};
use crate::runtime::netstat::{self, InterfaceCounters};
use crate::runtime::procstat::{self, SystemCpu};

/// How often a stream samples, as dockerd's collector.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Go's zero `time.Time`, which dockerd sends for a missing read time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// How the client wants its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsOptions {
    /// One sample a second until the client leaves (the default).
    pub stream: bool,
    /// Without streaming: one sample at once, with `precpu_stats` zeroed, instead of two a
    /// second apart.
    pub one_shot: bool,
}

/// Samples, as the handler writes them, one JSON document per line.
pub type StatsStream = Pin<Box<dyn Stream<Item = ContainerStats> + Send>>;

/// One sample: Docker's `StatsResponse`. Every counter is a u64, which the Go client's
/// decoder needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContainerStats {
    /// `/name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The container's id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// When this sample was taken (RFC 3339).
    pub read: String,
    /// When the previous sample was taken (Go's zero time when there is none).
    pub preread: String,
    /// Processes.
    pub pids_stats: StatsPids,
    /// Block IO.
    pub blkio_stats: StatsBlkio,
    /// Windows only; always 0.
    pub num_procs: u32,
    /// Windows only; always empty.
    pub storage_stats: StatsStorage,
    /// CPU time now.
    pub cpu_stats: StatsCpu,
    /// CPU time at the previous sample.
    pub precpu_stats: StatsCpu,
    /// Memory.
    pub memory_stats: StatsMemory,
    /// Counters per network interface (loopback excluded); absent when not running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, StatsNetwork>>,
}

/// `pids_stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsPids {
    /// Tasks in the cgroup.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// The pids limit; absent when unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// `blkio_stats`: only the bytes per device are counted; the other lists are null, as
/// dockerd sends them on cgroup v2.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsBlkio {
    /// Bytes read and written per device.
    pub io_service_bytes_recursive: Option<Vec<StatsBlkioEntry>>,
    /// Not counted.
    pub io_serviced_recursive: Option<Vec<StatsBlkioEntry>>,
    /// Not counted.
    pub io_queue_recursive: Option<Vec<StatsBlkioEntry>>,
    /// Not counted.
    pub io_service_time_recursive: Option<Vec<StatsBlkioEntry>>,
    /// Not counted.
    pub io_wait_time_recursive: Option<Vec<StatsBlkioEntry>>,
    /// Not counted.
    pub io_merged_recursive: Option<Vec<StatsBlkioEntry>>,
    /// Not counted.
    pub io_time_recursive: Option<Vec<StatsBlkioEntry>>,
    /// Not counted.
    pub sectors_recursive: Option<Vec<StatsBlkioEntry>>,
}

/// One block IO counter of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatsBlkioEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// `Read`/`Write` (cgroup v1) or `read`/`write` (v2), as dockerd names them.
    pub op: String,
    /// Bytes.
    pub value: u64,
}

/// `storage_stats`: Windows only, always `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsStorage {}

/// `cpu_stats` and `precpu_stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsCpu {
    /// The container's CPU time.
    pub cpu_usage: StatsCpuUsage,
    /// The host's CPU time over all CPUs, in ns (from /proc/stat).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub system_cpu_usage: u64,
    /// The host's online CPUs.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub online_cpus: u32,
    /// CFS throttling.
    pub throttling_data: StatsThrottling,
}

/// `cpu_usage`, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsCpuUsage {
    /// Total CPU time.
    pub total_usage: u64,
    /// Per CPU (cgroup v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    /// Time in kernel mode.
    pub usage_in_kernelmode: u64,
    /// Time in user mode.
    pub usage_in_usermode: u64,
}

/// `throttling_data`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsThrottling {
    /// CFS periods elapsed.
    pub periods: u64,
    /// Periods in which the quota ran out.
    pub throttled_periods: u64,
    /// Time throttled, in ns.
    pub throttled_time: u64,
}

/// `memory_stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsMemory {
    /// Bytes in use, page cache included.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage, where the kernel keeps it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_usage: u64,
    /// memory.stat as is: v1 has `total_inactive_file`, v2 `inactive_file`, which the CLI
    /// subtracts from `usage`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    /// The limit: the cgroup's, or the host's memory when lower or unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One interface's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatsNetwork {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Packets dropped on send.
    pub tx_dropped: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_zero_u32(value: &u32) -> bool {
    *value == 0
}

impl ContainerStats {
    /// The sample of a container that is not running: its name and id, and zeros.
    pub fn empty(c: &Container) -> ContainerStats {
        ContainerStats {
            name: format!("/{}", c.row.name),
            id: c.row.id.clone(),
            read: ZERO_TIME.into(),
            preread: ZERO_TIME.into(),
            ..Default::default()
        }
    }

    /// Makes `previous` the sample this one is compared with (`preread`, `precpu_stats`).
    fn follow(&mut self, previous: &ContainerStats) {
        self.preread = previous.read.clone();
        self.precpu_stats = previous.cpu_stats.clone();
    }
}

/// What one sample is made of, read from the host at about the same moment.
#[derive(Debug, Clone, Default)]
pub struct RawSample {
    /// When it was read (RFC 3339).
    pub read: String,
    /// The cgroup's counters.
    pub cgroup: CgroupStats,
    /// The host's CPU time.
    pub system: SystemCpu,
    /// The container's interfaces.
    pub networks: BTreeMap<String, InterfaceCounters>,
    /// The host's memory in bytes (0 when unknown).
    pub host_memory: u64,
    /// The host's cgroup version, which decides how block IO operations are spelled.
    pub cgroup_version: u8,
}

/// Builds dockerd's document from one raw sample (no previous sample yet).
pub fn shape(c: &Container, raw: RawSample) -> ContainerStats {
    let memory = &raw.cgroup.memory;
    let mut limit = memory.limit.unwrap_or(raw.host_memory);
    if raw.host_memory > 0 {
        limit = limit.min(raw.host_memory);
    }
    let (read_op, write_op) = if raw.cgroup_version == 1 { ("Read", "Write") } else { ("read", "write") };
    let io = raw
        .cgroup
        .io
        .devices
        .iter()
        .flat_map(|device| {
            [(read_op, device.read_bytes), (write_op, device.write_bytes)].map(|(op, value)| StatsBlkioEntry {
                major: device.major,
                minor: device.minor,
                op: op.into(),
                value,
            })
        })
        .collect();
    let cpu = &raw.cgroup.cpu;
    ContainerStats {
        name: format!("/{}", c.row.name),
        id: c.row.id.clone(),
        read: raw.read,
        preread: ZERO_TIME.into(),
        pids_stats: StatsPids { current: raw.cgroup.pids.current, limit: raw.cgroup.pids.limit.unwrap_or(0) },
        blkio_stats: StatsBlkio { io_service_bytes_recursive: Some(io), ..Default::default() },
        num_procs: 0,
        storage_stats: StatsStorage {},
        cpu_stats: StatsCpu {
            cpu_usage: StatsCpuUsage {
                total_usage: cpu.usage_ns,
                percpu_usage: cpu.per_cpu_ns.clone(),
                usage_in_kernelmode: cpu.system_ns,
                usage_in_usermode: cpu.user_ns,
            },
            system_cpu_usage: raw.system.total_ns,
            online_cpus: raw.system.online_cpus,
            throttling_data: StatsThrottling {
                periods: cpu.periods,
                throttled_periods: cpu.throttled_periods,
                throttled_time: cpu.throttled_ns,
            },
        },
        precpu_stats: StatsCpu::default(),
        memory_stats: StatsMemory {
            usage: memory.usage,
            max_usage: memory.max_usage.unwrap_or(0),
            stats: memory.stat.clone(),
            limit,
        },
        networks: Some(
            raw.networks
                .into_iter()
                .map(|(name, n)| {
                    let network = StatsNetwork {
                        rx_bytes: n.rx_bytes,
                        rx_packets: n.rx_packets,
                        rx_errors: n.rx_errors,
                        rx_dropped: n.rx_dropped,
                        tx_bytes: n.tx_bytes,
                        tx_packets: n.tx_packets,
                        tx_errors: n.tx_errors,
                        tx_dropped: n.tx_dropped,
                    };
                    (name, network)
                })
                .collect(),
        ),
    }
}

/// Whether the container's processes can be measured (paused ones can).
fn measurable(c: &Container) -> bool {
    matches!(c.row.state.status.as_str(), "running" | "paused")
}

impl Engine {
    /// `docker stats`: resolves the container now (so an unknown one is a 404 before any
    /// body), then yields its samples.
    ///
    /// Without streaming: a container that is not running gives one empty sample; `one_shot`
    /// one sample at once; otherwise two samples a second apart, so `precpu_stats` holds the
    /// first. Streaming: a sample at once and one every second (empty while the container is
    /// not running, as dockerd's collector sends them) until the client leaves or the container
    /// is removed. Streaming and `one_shot` together are refused.
    pub async fn container_stats(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
        options: StatsOptions,
    ) -> Result<StatsStream> {
        let c = self.resolve_container(tenant, name).await?;
        if options.stream && options.one_shot {
            return Err(Error::InvalidArgument("cannot have stream=true and one-shot=true".into()));
        }
        let engine = self.clone();
        let tenant = tenant.to_string();
        if !options.stream {
            return Ok(Box::pin(async_stream::stream! {
                if !measurable(&c) {
                    yield ContainerStats::empty(&c);
                    return;
                }
                let first = engine.stats_sample(&c).await;
                if options.one_shot {
                    yield first;
                    return;
                }
                tokio::time::sleep(SAMPLE_INTERVAL).await;
                let c = engine.resolve_container(&tenant, &c.row.id).await.unwrap_or(c);
                let mut second = engine.stats_sample(&c).await;
                second.follow(&first);
                yield second;
            }));
        }
        Ok(Box::pin(async_stream::stream! {
            let mut previous: Option<ContainerStats> = None;
            loop {
                // Read the state again each time: the container may have stopped, started or gone.
                let Ok(Some(row)) = engine.store.container(&tenant, &c.row.id).await else {
                    return;
                };
                let Ok(current) = Container::from_row(row) else {
                    return;
                };
                let mut sample = engine.stats_sample(&current).await;
                if let Some(previous) = &previous {
                    sample.follow(previous);
                }
                previous = Some(sample.clone());
                yield sample;
                tokio::time::sleep(SAMPLE_INTERVAL).await;
            }
        }))
    }

    /// One sample of a container now; the empty sample when it is not running or its cgroup
    /// can't be read (it just stopped).
    async fn stats_sample(&self, c: &Container) -> ContainerStats {
        let Some(layout) = self.cgroups.clone().filter(|_| measurable(c)) else {
            return ContainerStats::empty(c);
        };
        let id = c.row.id.clone();
        let pid = c.row.state.pid as i32;
        let host_network = c.host_config.network_mode == "host";
        let host_memory = self.host.mem_total;
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<RawSample> {
            let cgroup = Cgroup::open(&layout, &container_cgroup_path(&id))
                .stats()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let system = procstat::read_system_cpu()?;
            // The host's interfaces are not the container's: dockerd reports none for them.
            let networks = if host_network || pid <= 0 { BTreeMap::new() } else { netstat::read_interfaces(pid)? };
            Ok(RawSample {
                read: crate::runtime::now_rfc3339_nanos(),
                cgroup,
                system,
                networks,
                host_memory,
                cgroup_version: layout.version(),
            })
        })
        .await;
        match read {
            Ok(Ok(raw)) => shape(c, raw),
            Ok(Err(e)) => {
                tracing::debug!(container = %c.row.id, error = %e, "no stats: the container is probably stopping");
                ContainerStats::empty(c)
            }
            Err(e) => {
                tracing::warn!(container = %c.row.id, error = %e, "reading stats failed");
                ContainerStats::empty(c)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cgroups::{CpuStats, IoDeviceStats, IoStats, MemoryStats, PidsStats};
    use crate::store::containers::{ContainerRow, ContainerState};

    fn container() -> Container {
        let row = ContainerRow {
            id: "ab".repeat(32),
            name: "web".into(),
            config: "{}".into(),
            host_config: "{}".into(),
            state: ContainerState { status: "running".into(), pid: 42, ..Default::default() },
            ..Default::default()
        };
        Container::from_row(row).unwrap()
    }

    fn raw(usage_ns: u64, system_ns: u64) -> RawSample {
        RawSample {
            read: "2025-01-01T00:00:01.5Z".into(),
            cgroup: CgroupStats {
                cpu: CpuStats { usage_ns, user_ns: usage_ns / 2, system_ns: usage_ns / 2, ..Default::default() },
                memory: MemoryStats {
                    usage: 10 << 20,
                    limit: None,
                    stat: [("total_inactive_file".to_string(), 2 << 20)].into_iter().collect(),
                    ..Default::default()
                },
                pids: PidsStats { current: 3, limit: None },
                io: IoStats { devices: vec![IoDeviceStats { major: 8, minor: 0, read_bytes: 4096, write_bytes: 512 }] },
            },
            system: SystemCpu { total_ns: system_ns, online_cpus: 2 },
            networks: BTreeMap::new(),
            host_memory: 4 << 30,
            cgroup_version: 1,
        }
    }

    /// The docker CLI's CPU % (cli/command/container/stats_helpers.go).
    fn cli_cpu_percent(stats: &ContainerStats) -> f64 {
        let cpu = stats.cpu_stats.cpu_usage.total_usage as f64 - stats.precpu_stats.cpu_usage.total_usage as f64;
        let system = stats.cpu_stats.system_cpu_usage as f64 - stats.precpu_stats.system_cpu_usage as f64;
        if cpu > 0.0 && system > 0.0 { cpu / system * f64::from(stats.cpu_stats.online_cpus) * 100.0 } else { 0.0 }
    }

    #[test]
    fn a_spinning_container_reads_about_one_cpu() {
        let c = container();
        let first = shape(&c, raw(5_000_000_000, 1_000_000_000_000));
        // One second later on a 2-CPU host: the host counted 2 s, the container 1 s.
        let mut second = shape(&c, raw(6_000_000_000, 1_002_000_000_000));
        second.follow(&first);
        assert_eq!(second.preread, first.read);
        let percent = cli_cpu_percent(&second);
        assert!((percent - 100.0).abs() < 0.01, "{percent}");
        // With precpu_stats zeroed (one-shot), the CLI averages over the counters' whole life.
        assert!((cli_cpu_percent(&first) - 1.0).abs() < 0.01);
    }

    #[test]
    fn unlimited_memory_reads_as_host_memory() {
        let c = container();
        let stats = shape(&c, raw(1, 1));
        assert_eq!(stats.memory_stats.limit, 4 << 30);
        let mut limited = raw(1, 1);
        limited.cgroup.memory.limit = Some(64 << 20);
        assert_eq!(shape(&c, limited).memory_stats.limit, 64 << 20);
        let mut above_host = raw(1, 1);
        above_host.cgroup.memory.limit = Some(8 << 30);
        assert_eq!(shape(&c, above_host).memory_stats.limit, 4 << 30);
    }

    #[test]
    fn json_has_dockerd_names_and_omissions() {
        let c = container();
        let value = serde_json::to_value(shape(&c, raw(7, 9))).unwrap();
        assert_eq!(value["name"], "/web");
        assert_eq!(value["id"], "ab".repeat(32));
        assert_eq!(value["preread"], ZERO_TIME);
        assert_eq!(value["cpu_stats"]["cpu_usage"]["total_usage"], 7);
        assert_eq!(value["cpu_stats"]["system_cpu_usage"], 9);
        assert_eq!(value["cpu_stats"]["online_cpus"], 2);
        assert!(value["cpu_stats"]["cpu_usage"].get("percpu_usage").is_none());
        assert!(value["precpu_stats"].get("system_cpu_usage").is_none());
        assert_eq!(value["precpu_stats"]["throttling_data"]["periods"], 0);
        assert_eq!(value["memory_stats"]["usage"], 10 << 20);
        assert_eq!(value["memory_stats"]["stats"]["total_inactive_file"], 2 << 20);
        assert_eq!(value["pids_stats"], serde_json::json!({"current": 3}));
        let io = &value["blkio_stats"]["io_service_bytes_recursive"];
        assert_eq!(io[0], serde_json::json!({"major": 8, "minor": 0, "op": "Read", "value": 4096}));
        assert_eq!(io[1]["op"], "Write");
        assert!(value["blkio_stats"]["io_serviced_recursive"].is_null());
        assert_eq!(value["networks"], serde_json::json!({}));
        assert_eq!(value["storage_stats"], serde_json::json!({}));
        // dockerd's order of keys, which `docker stats --format json` users may see.
        let text = serde_json::to_string(&shape(&c, raw(7, 9))).unwrap();
        let position = |key: &str| text.find(&format!("\"{key}\"")).unwrap();
        assert!(position("name") < position("read") && position("read") < position("pids_stats"));
        assert!(position("cpu_stats") < position("precpu_stats") && position("memory_stats") < position("networks"));
    }

    #[test]
    fn v2_spells_operations_in_lower_case() {
        let mut v2 = raw(1, 1);
        v2.cgroup_version = 2;
        let stats = shape(&container(), v2);
        let ops: Vec<&str> =
            stats.blkio_stats.io_service_bytes_recursive.iter().flatten().map(|e| e.op.as_str()).collect();
        assert_eq!(ops, ["read", "write"]);
    }

    #[test]
    fn a_stopped_container_gives_name_id_and_zeros() {
        let value = serde_json::to_value(ContainerStats::empty(&container())).unwrap();
        assert_eq!(value["read"], ZERO_TIME);
        assert_eq!(value["memory_stats"], serde_json::json!({}));
        assert_eq!(value["pids_stats"], serde_json::json!({}));
        assert_eq!(value["cpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert!(value.get("networks").is_none());
        assert!(value["blkio_stats"]["io_service_bytes_recursive"].is_null());
        assert_eq!(value["num_procs"], 0);
    }
}
