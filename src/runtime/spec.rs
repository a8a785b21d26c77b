//! The container spec: everything `kapsel init` needs to become the container, decided by the
//! daemon (which knows the image, the request and the host) and written as `spec.json` into the
//! container's bundle directory before the shim starts. Init reads it and decides nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::userns::IdMapping;

/// The file name of the spec inside a bundle.
pub const SPEC_FILE: &str = "spec.json";

/// One container, as init builds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The container id (64 hex).
    pub id: String,
    /// `<data-root>/containers/<id>`: holds upper/, work/, rootfs/, the etc files, logs, sockets.
    pub bundle: PathBuf,
    /// The root filesystem.
    pub rootfs: RootfsSpec,
    /// The process to run.
    pub process: ProcessSpec,
    /// The host name inside (UTS namespace).
    pub hostname: String,
    /// The domain name inside, usually empty.
    pub domainname: String,
    /// Which namespaces are new and which are the host's.
    pub namespaces: NamespacesSpec,
    /// Mounts on top of the rootfs, in order (binds, tmpfs, the generated /etc files).
    pub mounts: Vec<MountSpec>,
    /// Paths hidden inside (a file gets /dev/null bound over it, a directory an empty read-only
    /// tmpfs); empty for privileged containers.
    pub masked_paths: Vec<String>,
    /// Paths remounted read-only inside; empty for privileged containers.
    pub readonly_paths: Vec<String>,
    /// Every capability, all host devices, /sys writable, no masks.
    pub privileged: bool,
    /// Size of /dev/shm in bytes.
    pub shm_size: u64,
    /// Namespaced sysctls to write under /proc/sys (e.g. net.core.somaxconn).
    pub sysctls: BTreeMap<String, String>,
    /// Where the container's cgroup is; the shim places init in it before init forks.
    pub cgroup: CgroupSpec,
    /// A user namespace of its own with this mapping (tenants' containers); None: the host's,
    /// as Docker runs containers by default (the admin's).
    #[serde(default)]
    pub user_namespace: Option<IdMapping>,
}

/// The overlay root filesystem.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootfsSpec {
    /// Extracted image layers, TOP layer first (overlayfs `lowerdir` order).
    pub lower: Vec<PathBuf>,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// overlayfs's work dir (same filesystem as upper).
    pub work: PathBuf,
    /// Where the overlay is mounted (inside init's mount namespace only).
    pub merged: PathBuf,
    /// `--read-only`.
    pub readonly: bool,
    /// With a user namespace: present the lower layers and the bundle through idmapped mounts
    /// (the layers are the shared ones). When false the lower layers are copies already shifted
    /// into the namespace's range and the upper layer holds host ids (see `runtime::userns`).
    #[serde(default)]
    pub idmapped: bool,
}

/// The process to execute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// argv; args[0] is looked up in the container's PATH when it has no `/`.
    pub args: Vec<String>,
    /// `KEY=value` entries; PATH and HOME are already defaulted by the daemon, except HOME
    /// which init sets from /etc/passwd when the daemon left it out.
    pub env: Vec<String>,
    /// Working directory inside; created when missing, as Docker does.
    pub cwd: String,
    /// `--user`: "", "uid", "uid:gid", "name", "name:group"; resolved by init against the
    /// container's /etc/passwd and /etc/group.
    pub user: String,
    /// `--group-add`: extra groups (names or gids).
    pub additional_groups: Vec<String>,
    /// A pseudo-terminal is the process's stdio (the shim holds the master).
    pub tty: bool,
    /// Capability names (`CAP_CHOWN`…) for the bounding, permitted, effective and inheritable
    /// sets; ambient stays empty (as runc does for Docker).
    pub capabilities: Vec<String>,
    /// Set PR_SET_NO_NEW_PRIVS before exec.
    pub no_new_privileges: bool,
    /// `--ulimit`s.
    pub rlimits: Vec<RlimitSpec>,
    /// `--init`: PID 1 is a minimal reaper that runs args as its child and forwards signals.
    pub init: bool,
    /// The umask, Docker's default 0022.
    pub umask: u32,
    /// oom_score_adj to write for the process, when set.
    pub oom_score_adj: Option<i32>,
    /// The seccomp filter, compiled by the daemon, installed right before the command runs;
    /// None: unconfined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<crate::runtime::seccomp::SeccompProgram>,
    /// The AppArmor profile the command is executed under (only on AppArmor hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    /// The SELinux label the command is executed with (only on SELinux hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux_label: Option<String>,
}

/// One resource limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RlimitSpec {
    /// Docker's name without RLIMIT_: nofile, nproc, core, memlock, stack…
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Namespaces: each is new unless marked as the host's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamespacesSpec {
    /// The network namespace.
    pub network: NetworkNamespace,
    /// `--pid host`.
    pub host_pid: bool,
    /// `--ipc host`.
    pub host_ipc: bool,
    /// `--uts host`.
    pub host_uts: bool,
    /// `--cgroupns host` (default: a private cgroup namespace).
    pub host_cgroup: bool,
}

/// How the container is networked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkNamespace {
    /// A new namespace with only `lo`, brought up by init.
    #[default]
    Isolated,
    /// The host's namespace.
    Host,
    /// Join an existing namespace (`--network container:<id>`, or one prepared by the daemon).
    Join(PathBuf),
}

/// One mount on top of the rootfs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountSpec {
    /// bind or tmpfs.
    pub kind: MountKind,
    /// Host path for binds; ignored for tmpfs.
    pub source: PathBuf,
    /// Absolute path inside the container; resolved inside the rootfs without following
    /// symlinks out of it.
    pub destination: String,
    /// Mounted read-only.
    pub readonly: bool,
    /// For tmpfs: size= and mode= style options, e.g. ["size=65536k", "mode=1777"]; for binds:
    /// propagation such as "rprivate", "rshared", "rslave" (default rprivate), and "recursive".
    pub options: Vec<String>,
}

/// The kinds of mounts init makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// A bind mount of a host path.
    Bind,
    /// A fresh tmpfs.
    Tmpfs,
}

/// The container's cgroup, one directory per v1 hierarchy or one unified directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupSpec {
    /// Absolute directories whose `cgroup.procs` the shim writes init's pid into.
    pub procs_dirs: Vec<PathBuf>,
}

/// Docker's default capability set (moby daemon/pkg/oci/caps/defaults.go).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's masked /proc and /sys paths (moby daemon/pkg/oci/defaults.go).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only /proc paths.
pub const DEFAULT_READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Every capability Linux knows, by number (`CAP_CHOWN` is 0).
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The file name of an exec's spec inside its directory.
pub const EXEC_SPEC_FILE: &str = "exec.json";

/// A process to run inside a running container (`docker exec`): `kapsel exec <dir>` joins the
/// container's namespaces and becomes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecSpec {
    /// Host pid of the container's first process, whose namespaces are joined.
    pub container_pid: i32,
    /// The process, with the container's capabilities and no_new_privs.
    pub process: ProcessSpec,
}
