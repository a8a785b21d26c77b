//! A container's definition as the Docker API carries it: `Config` (what runs) and `HostConfig`
//! (how the host runs it). Stored as JSON and echoed by inspect. Every field is optional with a
//! default, because the CLI sends the full struct while docker-py sends only what is set, with
//! explicit nulls.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Docker's `Config`: the process and its metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    /// Host name inside; empty means the short id.
    pub hostname: String,
    /// Domain name inside.
    pub domainname: String,
    /// uid[:gid] or a name from the container's /etc/passwd.
    pub user: String,
    /// The client will attach stdin.
    pub attach_stdin: bool,
    /// The client will attach stdout.
    pub attach_stdout: bool,
    /// The client will attach stderr.
    pub attach_stderr: bool,
    /// Ports the container listens on (`80/tcp`).
    #[schema(value_type = Option<Object>)]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    /// A pseudo-terminal is the process's stdio.
    pub tty: bool,
    /// Keep stdin open for attach clients.
    pub open_stdin: bool,
    /// Close stdin when the first attached client's stdin ends.
    pub stdin_once: bool,
    /// `KEY=value` entries.
    #[serde(deserialize_with = "nullable")]
    pub env: Vec<String>,
    /// The command (or the entrypoint's arguments).
    #[serde(deserialize_with = "string_or_list")]
    pub cmd: Option<Vec<String>>,
    /// The health check.
    #[schema(value_type = Option<Object>)]
    pub healthcheck: Option<Value>,
    /// Windows only; kept for round trips.
    pub args_escaped: Option<bool>,
    /// The image as the user named it.
    pub image: String,
    /// Anonymous volume mount points.
    #[schema(value_type = Option<Object>)]
    pub volumes: Option<BTreeMap<String, Value>>,
    /// Working directory inside.
    pub working_dir: String,
    /// The entrypoint.
    #[serde(deserialize_with = "string_or_list")]
    pub entrypoint: Option<Vec<String>>,
    /// Disable networking.
    pub network_disabled: Option<bool>,
    /// Build triggers, from the image.
    pub on_build: Option<Vec<String>>,
    /// Labels.
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// The signal `docker stop` sends first.
    pub stop_signal: Option<String>,
    /// Seconds `docker stop` waits before SIGKILL.
    pub stop_timeout: Option<i64>,
    /// The shell for shell-form commands.
    pub shell: Option<Vec<String>>,
}

/// Docker's `HostConfig`: limits, mounts, networking and security.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `-v src:dst[:opts]`.
    pub binds: Option<Vec<String>>,
    /// Where the CLI writes the id (client side).
    pub container_id_file: String,
    /// The log driver and its options (max-size, max-file).
    pub log_config: LogConfig,
    /// default, bridge, host, none, container:<id>, or a network name.
    pub network_mode: String,
    /// `-p` bindings by container port.
    #[schema(value_type = Option<Object>)]
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
    /// `--restart`.
    pub restart_policy: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    /// The volume driver.
    pub volume_driver: String,
    /// `--volumes-from`.
    pub volumes_from: Option<Vec<String>>,
    /// Initial terminal size [rows, cols].
    pub console_size: Option<Vec<u16>>,
    /// Capabilities to add (`CAP_NET_ADMIN`, `NET_ADMIN`, `ALL`).
    pub cap_add: Option<Vec<String>>,
    /// Capabilities to drop.
    pub cap_drop: Option<Vec<String>>,
    /// private or host.
    pub cgroupns_mode: String,
    /// `--dns`.
    pub dns: Option<Vec<String>>,
    /// `--dns-option`.
    pub dns_options: Option<Vec<String>>,
    /// `--dns-search`.
    pub dns_search: Option<Vec<String>>,
    /// `--add-host host:ip`.
    pub extra_hosts: Option<Vec<String>>,
    /// `--group-add`.
    pub group_add: Option<Vec<String>>,
    /// private, shareable, host, container:<id>.
    pub ipc_mode: String,
    /// The cgroup to use (Windows/legacy).
    pub cgroup: String,
    /// Legacy links.
    pub links: Option<Vec<String>>,
    /// oom_score_adj.
    pub oom_score_adj: i64,
    /// host or container:<id>.
    pub pid_mode: String,
    /// `--privileged`.
    pub privileged: bool,
    /// `-P`.
    pub publish_all_ports: bool,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--security-opt`.
    pub security_opt: Option<Vec<String>>,
    /// Storage driver options.
    #[schema(value_type = Option<Object>)]
    pub storage_opt: Option<BTreeMap<String, String>>,
    /// `--tmpfs path:opts`.
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// host or "".
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    /// host or "".
    pub userns_mode: String,
    /// /dev/shm size in bytes (default 64 MiB).
    pub shm_size: i64,
    /// Namespaced sysctls.
    pub sysctls: Option<BTreeMap<String, String>>,
    /// The runtime name.
    pub runtime: String,
    /// Windows isolation.
    pub isolation: String,
    /// Relative CPU weight (1024 default).
    pub cpu_shares: i64,
    /// Memory limit in bytes.
    pub memory: i64,
    /// CPUs × 1e9.
    pub nano_cpus: i64,
    /// A parent cgroup.
    pub cgroup_parent: String,
    /// Block I/O weight 10–1000.
    pub blkio_weight: u16,
    /// Per-device weights.
    #[schema(value_type = Option<Object>)]
    pub blkio_weight_device: Option<Value>,
    /// Per-device read bps.
    #[schema(value_type = Option<Object>)]
    pub blkio_device_read_bps: Option<Value>,
    /// Per-device write bps.
    #[schema(value_type = Option<Object>)]
    pub blkio_device_write_bps: Option<Value>,
    /// Per-device read iops.
    #[serde(rename = "BlkioDeviceReadIOps")]
    #[schema(value_type = Option<Object>)]
    pub blkio_device_read_iops: Option<Value>,
    /// Per-device write iops.
    #[serde(rename = "BlkioDeviceWriteIOps")]
    #[schema(value_type = Option<Object>)]
    pub blkio_device_write_iops: Option<Value>,
    /// CFS period in µs.
    pub cpu_period: i64,
    /// CFS quota in µs.
    pub cpu_quota: i64,
    /// Realtime period.
    pub cpu_realtime_period: i64,
    /// Realtime runtime.
    pub cpu_realtime_runtime: i64,
    /// Allowed CPUs ("0-1").
    pub cpuset_cpus: String,
    /// Allowed memory nodes.
    pub cpuset_mems: String,
    /// Host devices to add.
    #[schema(value_type = Option<Object>)]
    pub devices: Option<Value>,
    /// Device cgroup rules.
    pub device_cgroup_rules: Option<Vec<String>>,
    /// GPU requests.
    #[schema(value_type = Option<Object>)]
    pub device_requests: Option<Value>,
    /// Soft memory limit in bytes.
    pub memory_reservation: i64,
    /// Memory plus swap in bytes; -1 unlimited.
    pub memory_swap: i64,
    /// Swappiness, -1 for the default.
    pub memory_swappiness: Option<i64>,
    /// Disable the OOM killer.
    pub oom_kill_disable: Option<bool>,
    /// Maximum pids; 0 or -1 unlimited.
    pub pids_limit: Option<i64>,
    /// `--ulimit`.
    pub ulimits: Option<Vec<Ulimit>>,
    /// Windows.
    pub cpu_count: i64,
    /// Windows.
    pub cpu_percent: i64,
    /// Windows.
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: i64,
    /// Windows.
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: i64,
    /// `--mount`.
    pub mounts: Option<Vec<Mount>>,
    /// Paths to hide (null: Docker's defaults).
    pub masked_paths: Option<Vec<String>>,
    /// Paths to make read-only (null: Docker's defaults).
    pub readonly_paths: Option<Vec<String>>,
    /// `--init`.
    pub init: Option<bool>,
}

/// `--log-driver` and `--log-opt`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// json-file (the only driver; "" means it).
    pub r#type: String,
    /// max-size, max-file.
    #[serde(deserialize_with = "nullable")]
    pub config: BTreeMap<String, String>,
}

/// One `-p` binding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Host address ("" for all).
    pub host_ip: String,
    /// Host port ("" for a random one).
    pub host_port: String,
}

/// `--restart`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// "", no, always, unless-stopped, on-failure.
    pub name: String,
    /// For on-failure.
    pub maximum_retry_count: i64,
}

/// One `--ulimit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    /// nofile, nproc…
    pub name: String,
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// One `--mount`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// bind, volume, tmpfs.
    pub r#type: String,
    /// Host path or volume name.
    pub source: String,
    /// Path inside.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
    /// Ignored on Linux.
    pub consistency: String,
    /// Bind options.
    #[schema(value_type = Option<Object>)]
    pub bind_options: Option<Value>,
    /// Volume options.
    #[schema(value_type = Option<Object>)]
    pub volume_options: Option<Value>,
    /// tmpfs options.
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// tmpfs size and mode for `--mount type=tmpfs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Bytes.
    pub size_bytes: i64,
    /// Permission bits.
    pub mode: u32,
}

/// The body of `POST /containers/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    /// The process.
    #[serde(flatten)]
    pub config: Config,
    /// The host side.
    #[serde(deserialize_with = "nullable")]
    pub host_config: HostConfig,
    /// Network endpoints.
    #[schema(value_type = Option<Object>)]
    pub networking_config: Option<Value>,
}

/// Treats an explicit `null` as the default value.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Accepts a command as a list, or (older clients) as one string.
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Command {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Command>::deserialize(d)? {
        None => None,
        Some(Command::One(s)) => Some(vec![s]),
        Some(Command::Many(v)) => Some(v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_py_partial_body_with_nulls_parses() {
        let body = r#"{"Image":"busybox","Cmd":"true","Env":null,"Labels":null,
            "HostConfig":{"NetworkMode":"default","Memory":67108864,"Binds":null,"LogConfig":{"Type":"","Config":null}}}"#;
        let request: CreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(request.config.image, "busybox");
        assert_eq!(request.config.cmd, Some(vec!["true".to_string()]));
        assert!(request.config.env.is_empty());
        assert_eq!(request.host_config.memory, 67108864);
        assert_eq!(request.host_config.network_mode, "default");
    }

    #[test]
    fn cli_body_with_everything_parses() {
        let body = r#"{"Hostname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,
            "OpenStdin":false,"StdinOnce":false,"Env":[],"Cmd":["echo","hi"],"Image":"busybox","Volumes":{},"WorkingDir":"",
            "Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
            "NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,
            "ConsoleSize":[0,0],"PidsLimit":0,"Ulimits":[],"Mounts":[{"Type":"tmpfs","Target":"/scratch"}],"MaskedPaths":null},
            "NetworkingConfig":{"EndpointsConfig":{"default":{}}}}"#;
        let request: CreateRequest = serde_json::from_str(body).unwrap();
        assert!(request.host_config.auto_remove);
        assert_eq!(request.host_config.mounts.unwrap()[0].r#type, "tmpfs");
        assert_eq!(request.host_config.pids_limit, Some(0));
    }
}
