//! From a container's definition to what the runtime needs to run it: the init spec, the cgroup
//! resources and the shim's options. Pure functions of their inputs, so every Docker rule here
//! (capabilities, mounts, limits, namespaces) is unit-tested without root.

use std::path::{Path, PathBuf};

use super::Container;
use super::security::{self, Confinement, ContainerFacts};
use crate::engine::volumes::mounts::is_volume_bind;
use crate::engine::{Error, Result};
use crate::runtime::bundle::EtcFiles;
use crate::runtime::cgroups::Resources;
use crate::runtime::shim::protocol::ShimOptions;
use crate::runtime::spec::{
    ALL_CAPABILITIES, ContainerSpec, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, IdMapping,
    MountKind, MountSpec, NamespacesSpec, NetworkNamespace, ProcessSpec, RlimitSpec, RootfsSpec,
};

/// The PATH a container gets when its image sets none (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the spec is built from besides the container itself.
pub struct SpecInputs<'a> {
    /// The bundle directory.
    pub bundle: &'a Path,
    /// Extracted image layers, bottom first.
    pub layers: Vec<PathBuf>,
    /// The capabilities of the host's bounding set (for privileged containers and `ALL`).
    pub host_capabilities: &'a [String],
    /// The network namespace to join for `--network container:<id>`.
    pub joined_network: Option<PathBuf>,
    /// The cgroup directories the shim places init in.
    pub cgroup_dirs: Vec<PathBuf>,
    /// The cgroup file holding the OOM counter.
    pub oom_file: Option<PathBuf>,
    /// Binds of the container's volumes (see `engine::volumes::mounts`).
    pub volumes: Vec<MountSpec>,
    /// A tenant's container: its user namespace's mapping (None: the host's).
    pub user_namespace: Option<IdMapping>,
    /// With a user namespace: `layers` are the shared ones, seen through idmapped mounts
    /// (false: they are the tenant's shifted copies).
    pub idmapped: bool,
    /// The host's confinement facilities and the compiled seccomp filters.
    pub confinement: &'a Confinement,
}

/// Builds the init spec.
pub fn container_spec(c: &Container, inputs: &SpecInputs<'_>) -> Result<ContainerSpec> {
    let hc = &c.host_config;
    let bundle = inputs.bundle;
    let tty = c.config.tty;
    let hostname = if c.config.hostname.is_empty() { c.short_id().to_string() } else { c.config.hostname.clone() };
    let mut env = c.config.env.clone();
    let has = |env: &[String], key: &str| env.iter().any(|e| e.split('=').next() == Some(key));
    if !has(&env, "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") {
        env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    }
    if tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    let args = c.command();
    if args.is_empty() {
        return Err(Error::InvalidArgument("no command specified".into()));
    }
    let network = match network_mode(&hc.network_mode) {
        // A namespace of its own; the daemon wires bridge networks into it before the
        // process executes (engine::networks).
        NetworkChoice::Isolated | NetworkChoice::Named(_) => NetworkNamespace::Isolated,
        NetworkChoice::Host => NetworkNamespace::Host,
        NetworkChoice::Container(_) => match &inputs.joined_network {
            Some(path) => NetworkNamespace::Join(path.clone()),
            None => {
                return Err(Error::InvalidArgument(format!("cannot join the network of {}", hc.network_mode)));
            }
        },
    };
    let security = security::parse(hc.security_opt.as_deref().unwrap_or_default())?;
    let capabilities = if hc.privileged {
        inputs.host_capabilities.to_vec()
    } else {
        capabilities(
            hc.cap_add.as_deref().unwrap_or_default(),
            hc.cap_drop.as_deref().unwrap_or_default(),
            inputs.host_capabilities,
        )?
    };
    let confined = inputs.confinement.decide(
        &security,
        ContainerFacts {
            id: &c.row.id,
            privileged: hc.privileged,
            shares_host_namespaces: hc.pid_mode == "host" || hc.ipc_mode == "host",
            capabilities: &capabilities,
        },
    )?;
    let (masked_paths, readonly_paths) = if hc.privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            hc.masked_paths.clone().unwrap_or_else(|| DEFAULT_MASKED_PATHS.iter().map(|p| p.to_string()).collect()),
            hc.readonly_paths.clone().unwrap_or_else(|| DEFAULT_READONLY_PATHS.iter().map(|p| p.to_string()).collect()),
        )
    };
    let mut mounts = etc_mounts(bundle, &network);
    mounts.extend(user_mounts(c)?);
    mounts.extend(inputs.volumes.iter().cloned());
    // Parents before children (`/data` before `/data/logs`), as dockerd sorts them.
    mounts.sort_by_key(|m| m.destination.split('/').filter(|p| !p.is_empty() && *p != ".").count());
    Ok(ContainerSpec {
        id: c.row.id.clone(),
        bundle: bundle.to_path_buf(),
        rootfs: RootfsSpec {
            lower: inputs.layers.iter().rev().cloned().collect(),
            upper: bundle.join("upper"),
            work: bundle.join("work"),
            merged: bundle.join("rootfs"),
            readonly: hc.readonly_rootfs,
            idmapped: inputs.user_namespace.is_some() && inputs.idmapped,
        },
        process: ProcessSpec {
            args,
            env,
            cwd: if c.config.working_dir.is_empty() { "/".into() } else { c.config.working_dir.clone() },
            user: c.config.user.clone(),
            additional_groups: hc.group_add.clone().unwrap_or_default(),
            tty,
            capabilities,
            no_new_privileges: security.no_new_privileges,
            rlimits: rlimits(hc.ulimits.as_deref().unwrap_or_default())?,
            init: hc.init.unwrap_or(false),
            umask: 0o022,
            oom_score_adj: (hc.oom_score_adj != 0).then_some(hc.oom_score_adj as i32),
            seccomp: confined.seccomp,
            apparmor_profile: confined.lsm.apparmor_profile,
            // Applied once the root filesystem carries the matching mount label (overlay
            // `context=`); a process label alone would lock the container out of its files.
            selinux_label: None,
        },
        hostname,
        domainname: c.config.domainname.clone(),
        namespaces: NamespacesSpec {
            network,
            host_pid: hc.pid_mode == "host",
            host_ipc: hc.ipc_mode == "host",
            host_uts: hc.uts_mode == "host",
            host_cgroup: hc.cgroupns_mode == "host",
        },
        mounts,
        masked_paths,
        readonly_paths,
        privileged: hc.privileged,
        shm_size: hc.shm_size.max(0) as u64,
        sysctls: hc.sysctls.clone().unwrap_or_default(),
        cgroup: crate::runtime::spec::CgroupSpec { procs_dirs: inputs.cgroup_dirs.clone() },
        user_namespace: inputs.user_namespace,
    })
}

/// The network a container asked for.
#[derive(Debug, PartialEq)]
pub enum NetworkChoice<'a> {
    /// A namespace of its own: none, or the default bridge network.
    Isolated,
    /// The host's.
    Host,
    /// Another container's.
    Container(&'a str),
    /// A user-defined network.
    Named(&'a str),
}

/// Reads HostConfig.NetworkMode.
pub fn network_mode(mode: &str) -> NetworkChoice<'_> {
    match mode {
        "" | "default" | "bridge" | "none" => NetworkChoice::Isolated,
        "host" => NetworkChoice::Host,
        other => match other.strip_prefix("container:") {
            Some(id) => NetworkChoice::Container(id),
            None => NetworkChoice::Named(other),
        },
    }
}

/// The cgroup limits of a HostConfig.
pub fn resources(c: &Container) -> Resources {
    let hc = &c.host_config;
    let positive = |v: i64| (v > 0).then_some(v);
    Resources {
        memory: positive(hc.memory),
        memory_swap: if hc.memory > 0 && hc.memory_swap != 0 { Some(hc.memory_swap) } else { None },
        memory_reservation: positive(hc.memory_reservation),
        nano_cpus: positive(hc.nano_cpus),
        cpu_shares: (hc.cpu_shares > 0).then_some(hc.cpu_shares as u64),
        cpu_quota: positive(hc.cpu_quota),
        cpu_period: (hc.cpu_period > 0).then_some(hc.cpu_period as u64),
        cpuset_cpus: Some(hc.cpuset_cpus.clone()).filter(|s| !s.is_empty()),
        cpuset_mems: Some(hc.cpuset_mems.clone()).filter(|s| !s.is_empty()),
        pids_limit: hc.pids_limit.filter(|&p| p > 0),
        blkio_weight: (hc.blkio_weight > 0).then_some(hc.blkio_weight),
    }
}

/// The shim's options: what to start, stdio, terminal and log rotation.
pub fn shim_options(c: &Container, inputs: &SpecInputs<'_>) -> Result<ShimOptions> {
    let log = &c.host_config.log_config.config;
    let log_max_size = match log.get("max-size") {
        Some(size) => parse_size(size).ok_or_else(|| Error::InvalidArgument(format!("invalid max-size {size:?}")))?,
        None => 0,
    };
    let log_max_files = match log.get("max-file") {
        Some(n) => n
            .parse::<u32>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| Error::InvalidArgument(format!("invalid max-file {n:?}")))?,
        None => 1,
    };
    let console_size = match c.host_config.console_size.as_deref() {
        Some([rows, cols]) if *rows > 0 && *cols > 0 => Some((*rows, *cols)),
        _ => None,
    };
    Ok(ShimOptions {
        init_args: vec!["init".into(), inputs.bundle.display().to_string()],
        cgroup_dirs: inputs.cgroup_dirs.clone(),
        log: true,
        open_stdin: c.config.open_stdin,
        stdin_once: c.config.stdin_once,
        tty: c.config.tty,
        console_size,
        log_max_size,
        log_max_files,
        oom_file: inputs.oom_file.clone(),
        user_namespace: inputs.user_namespace,
    })
}

/// The generated /etc files.
pub fn etc_files(c: &Container, host_resolv_conf: String) -> EtcFiles {
    let hostname = if c.config.hostname.is_empty() { c.short_id().to_string() } else { c.config.hostname.clone() };
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    hosts.push_str(&format!("127.0.1.1\t{hostname}\n"));
    for entry in c.host_config.extra_hosts.as_deref().unwrap_or_default() {
        if let Some((name, ip)) = entry.split_once(':').or_else(|| entry.split_once('=')) {
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    let mut resolv_conf = host_resolv_conf;
    if let Some(servers) = c.host_config.dns.as_deref().filter(|d| !d.is_empty()) {
        resolv_conf = servers.iter().map(|s| format!("nameserver {s}\n")).collect();
    }
    EtcFiles { hostname: format!("{hostname}\n"), hosts, resolv_conf }
}

fn etc_mounts(bundle: &Path, network: &NetworkNamespace) -> Vec<MountSpec> {
    let mut files = vec!["hostname", "hosts"];
    if *network != NetworkNamespace::Host {
        files.push("resolv.conf");
    }
    files
        .into_iter()
        .map(|name| MountSpec {
            kind: MountKind::Bind,
            source: bundle.join(name),
            destination: format!("/etc/{name}"),
            readonly: false,
            options: vec!["rprivate".into()],
        })
        .collect()
}

/// Binds, `--mount` and `--tmpfs`.
fn user_mounts(c: &Container) -> Result<Vec<MountSpec>> {
    let hc = &c.host_config;
    let mut mounts = Vec::new();
    for bind in hc.binds.as_deref().unwrap_or_default() {
        // Named and anonymous volumes come from the store, through SpecInputs.
        if !is_volume_bind(bind) {
            mounts.push(parse_bind(bind)?);
        }
    }
    for m in hc.mounts.as_deref().unwrap_or_default() {
        if !m.target.starts_with('/') {
            return Err(Error::InvalidArgument(format!(
                "invalid mount config: mount path must be absolute: {:?}",
                m.target
            )));
        }
        match m.r#type.as_str() {
            "bind" => {
                let source = PathBuf::from(&m.source);
                if !source.is_absolute() {
                    return Err(Error::InvalidArgument(format!(
                        "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                        m.source
                    )));
                }
                if !source.exists() {
                    return Err(Error::InvalidArgument(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
                let propagation = m
                    .bind_options
                    .as_ref()
                    .and_then(|o| o.get("Propagation"))
                    .and_then(|p| p.as_str())
                    .filter(|p| !p.is_empty())
                    .unwrap_or("rprivate");
                mounts.push(MountSpec {
                    kind: MountKind::Bind,
                    source,
                    destination: m.target.clone(),
                    readonly: m.read_only,
                    options: vec![propagation.to_string()],
                });
            }
            "tmpfs" => {
                let mut options = Vec::new();
                if let Some(t) = &m.tmpfs_options {
                    if t.size_bytes > 0 {
                        options.push(format!("size={}", t.size_bytes));
                    }
                    if t.mode > 0 {
                        options.push(format!("mode={:o}", t.mode));
                    }
                }
                mounts.push(MountSpec {
                    kind: MountKind::Tmpfs,
                    source: PathBuf::from("tmpfs"),
                    destination: m.target.clone(),
                    readonly: m.read_only,
                    options,
                });
            }
            // Through SpecInputs, like named volumes in Binds.
            "volume" => {}
            other => {
                return Err(Error::InvalidArgument(format!("mount type unknown: {other:?}")));
            }
        }
    }
    for (path, opts) in hc.tmpfs.iter().flatten() {
        let options: Vec<String> = opts.split(',').filter(|o| !o.is_empty()).map(str::to_string).collect();
        let readonly = options.iter().any(|o| o == "ro");
        mounts.push(MountSpec {
            kind: MountKind::Tmpfs,
            source: PathBuf::from("tmpfs"),
            destination: path.clone(),
            readonly,
            options: options.into_iter().filter(|o| o != "ro" && o != "rw").collect(),
        });
    }
    Ok(mounts)
}

/// `-v /host:/path[:ro,…]`.
fn parse_bind(bind: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (source, destination, options) = match parts.as_slice() {
        [source, destination] => (*source, *destination, ""),
        [source, destination, options] => (*source, *destination, *options),
        _ => {
            return Err(Error::InvalidArgument(format!("invalid volume specification: '{bind}'")));
        }
    };
    if !source.starts_with('/') {
        return Err(Error::InvalidArgument(format!("invalid volume specification: '{bind}': not a host path")));
    }
    if !destination.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid volume specification: '{bind}': invalid mount config: mount path must be absolute"
        )));
    }
    let mut readonly = false;
    let mut propagation = "rprivate".to_string();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => readonly = true,
            "rw" | "z" | "Z" | "nocopy" => {}
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => propagation = option.to_string(),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "invalid volume specification: '{bind}': invalid mode: {other}"
                )));
            }
        }
    }
    Ok(MountSpec {
        kind: MountKind::Bind,
        source: PathBuf::from(source),
        destination: destination.to_string(),
        readonly,
        options: vec![propagation],
    })
}

/// Docker's capability arithmetic: default set, plus adds, minus drops, with `ALL`.
pub fn capabilities(add: &[String], drop: &[String], host: &[String]) -> Result<Vec<String>> {
    let normalize = |name: &String| -> Result<String> {
        let upper = name.trim().to_ascii_uppercase();
        if upper == "ALL" {
            return Ok(upper);
        }
        let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
        if ALL_CAPABILITIES.contains(&full.as_str()) {
            Ok(full)
        } else {
            Err(Error::InvalidArgument(format!("unknown capability: {full:?}")))
        }
    };
    let add: Vec<String> = add.iter().map(normalize).collect::<Result<_>>()?;
    let drop: Vec<String> = drop.iter().map(normalize).collect::<Result<_>>()?;
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else if add.iter().any(|c| c == "ALL") {
        host.to_vec()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    for cap in add.iter().filter(|c| *c != "ALL") {
        if !caps.contains(cap) {
            caps.push(cap.clone());
        }
    }
    if !drop.iter().any(|c| c == "ALL") {
        caps.retain(|c| !drop.contains(c));
    }
    Ok(caps)
}

fn rlimits(ulimits: &[super::config::Ulimit]) -> Result<Vec<RlimitSpec>> {
    const KNOWN: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    ulimits
        .iter()
        .map(|u| {
            if !KNOWN.contains(&u.name.as_str()) {
                return Err(Error::InvalidArgument(format!("invalid ulimit type: {}", u.name)));
            }
            if u.soft > u.hard && u.hard >= 0 {
                return Err(Error::InvalidArgument(format!(
                    "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                    u.soft, u.hard
                )));
            }
            let value = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
            Ok(RlimitSpec { name: u.name.clone(), soft: value(u.soft), hard: value(u.hard) })
        })
        .collect()
}

/// Sizes as Docker's `RAMInBytes` reads them: `10m`, `1g`, `512k`, `100`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let digits_end = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: f64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim_end_matches(['b', 'i']) {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    Some((number * multiplier as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::containers::config::{Config, HostConfig, Mount, Ulimit};
    use crate::store::containers::ContainerRow;

    fn container(hc: HostConfig) -> Container {
        Container {
            row: ContainerRow { id: "ab".repeat(32), ..Default::default() },
            config: Config { cmd: Some(vec!["sh".into()]), ..Default::default() },
            host_config: hc,
        }
    }

    fn inputs(bundle: &Path) -> SpecInputs<'_> {
        SpecInputs {
            bundle,
            layers: vec![PathBuf::from("/l/bottom"), PathBuf::from("/l/top")],
            host_capabilities: &[],
            joined_network: None,
            cgroup_dirs: Vec::new(),
            oom_file: None,
            volumes: Vec::new(),
            user_namespace: None,
            idmapped: false,
            confinement: &CONFINEMENT,
        }
    }

    static CONFINEMENT: std::sync::LazyLock<Confinement> =
        std::sync::LazyLock::new(|| Confinement { seccomp_supported: true, kernel: (6, 1), ..Default::default() });

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn seccomp_follows_the_security_options_and_privileged() {
        let spec = |hc: HostConfig| container_spec(&container(hc), &inputs(Path::new("/b"))).unwrap();
        assert!(spec(HostConfig::default()).process.seccomp.is_some(), "the built-in profile by default");
        let unconfined = HostConfig { security_opt: Some(vec!["seccomp=unconfined".into()]), ..Default::default() };
        assert!(spec(unconfined).process.seccomp.is_none());
        assert!(spec(HostConfig { privileged: true, ..Default::default() }).process.seccomp.is_none());
        let nnp = spec(HostConfig { security_opt: Some(vec!["no-new-privileges".into()]), ..Default::default() });
        assert!(nnp.process.no_new_privileges && nnp.process.seccomp.is_some());
        // No LSM on the test host's Confinement: nothing to apply.
        assert_eq!(spec(HostConfig::default()).process.apparmor_profile, None);
        let apparmor = HostConfig { security_opt: Some(vec!["apparmor=custom".into()]), ..Default::default() };
        assert!(container_spec(&container(apparmor), &inputs(Path::new("/b"))).is_err());
    }

    #[test]
    fn defaults_follow_docker() {
        let c = container(HostConfig::default());
        let spec = container_spec(&c, &inputs(Path::new("/b"))).unwrap();
        assert_eq!(spec.rootfs.lower, vec![PathBuf::from("/l/top"), PathBuf::from("/l/bottom")]);
        assert_eq!(spec.hostname, "abababababab");
        assert!(spec.process.env[0].starts_with("PATH="));
        assert_eq!(spec.process.capabilities.len(), DEFAULT_CAPABILITIES.len());
        assert!(spec.masked_paths.contains(&"/proc/kcore".to_string()));
        assert!(spec.readonly_paths.contains(&"/proc/sysrq-trigger".to_string()));
        assert_eq!(spec.namespaces.network, NetworkNamespace::Isolated);
        assert_eq!(spec.mounts.iter().filter(|m| m.destination.starts_with("/etc/")).count(), 3);
    }

    #[test]
    fn privileged_gets_host_caps_and_no_masks() {
        let host = vec!["CAP_SYS_ADMIN".to_string(), "CAP_CHOWN".to_string()];
        let c = container(HostConfig { privileged: true, ..Default::default() });
        let bundle = PathBuf::from("/b");
        let mut i = inputs(&bundle);
        i.host_capabilities = &host;
        let spec = container_spec(&c, &i).unwrap();
        assert_eq!(spec.process.capabilities, host);
        assert!(spec.masked_paths.is_empty() && spec.readonly_paths.is_empty());
    }

    #[test]
    fn capability_arithmetic() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let caps = capabilities(&s(&["net_admin"]), &s(&["CAP_CHOWN"]), &[]).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()) && !caps.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(capabilities(&s(&["NET_ADMIN"]), &s(&["ALL"]), &[]).unwrap(), s(&["CAP_NET_ADMIN"]));
        assert_eq!(capabilities(&s(&["ALL"]), &[], &s(&["CAP_BPF"])).unwrap(), s(&["CAP_BPF"]));
        assert!(capabilities(&s(&["NOPE"]), &[], &[]).is_err());
    }

    #[test]
    fn binds_mounts_and_tmpfs() {
        let hc = HostConfig {
            binds: Some(vec!["/srv:/data:ro".into()]),
            mounts: Some(vec![Mount { r#type: "tmpfs".into(), target: "/scratch".into(), ..Default::default() }]),
            tmpfs: Some([("/run".to_string(), "size=64m,mode=1777".to_string())].into_iter().collect()),
            ..Default::default()
        };
        let mounts = user_mounts(&container(hc)).unwrap();
        assert_eq!(mounts[0].destination, "/data");
        assert!(mounts[0].readonly);
        assert_eq!(mounts[1].kind, MountKind::Tmpfs);
        assert_eq!(mounts[2].options, vec!["size=64m", "mode=1777"]);
        assert!(parse_bind("named:/data").is_err());
        let named = HostConfig { binds: Some(vec!["named:/data".into(), "/anonymous".into()]), ..Default::default() };
        assert!(user_mounts(&container(named)).unwrap().is_empty(), "volumes come through SpecInputs");
        assert!(parse_bind("/a:relative").is_err());
    }

    #[test]
    fn volumes_join_the_mounts_parents_first() {
        let c = container(HostConfig { binds: Some(vec!["/srv:/data".into()]), ..Default::default() });
        let bundle = PathBuf::from("/b");
        let mut i = inputs(&bundle);
        i.volumes = vec![MountSpec {
            kind: MountKind::Bind,
            source: "/v/_data".into(),
            destination: "/data/sub".into(),
            readonly: true,
            options: vec!["rprivate".into()],
        }];
        let spec = container_spec(&c, &i).unwrap();
        let order: Vec<&str> = spec.mounts.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(order, ["/data", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/data/sub"]);
    }

    #[test]
    fn limits_and_log_options() {
        let mut hc = HostConfig {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            nano_cpus: 500_000_000,
            pids_limit: Some(0),
            ..Default::default()
        };
        hc.log_config.config.insert("max-size".into(), "10k".into());
        hc.log_config.config.insert("max-file".into(), "3".into());
        hc.ulimits = Some(vec![Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 }]);
        let c = container(hc);
        let r = resources(&c);
        assert_eq!(
            (r.memory, r.memory_swap, r.nano_cpus, r.pids_limit),
            (Some(64 << 20), Some(128 << 20), Some(500_000_000), None)
        );
        let shim = shim_options(&c, &inputs(Path::new("/b"))).unwrap();
        assert_eq!((shim.log_max_size, shim.log_max_files), (10 * 1024, 3));
        assert_eq!(parse_size("1.5g"), Some(1610612736));
        assert_eq!(parse_size("x"), None);
        assert_eq!(rlimits(c.host_config.ulimits.as_deref().unwrap()).unwrap()[0].hard, 2048);
    }

    #[test]
    fn tenant_containers_get_their_user_namespace() {
        let c = container(HostConfig::default());
        let bundle = PathBuf::from("/b");
        let admin = container_spec(&c, &inputs(&bundle)).unwrap();
        assert_eq!((admin.user_namespace, admin.rootfs.idmapped), (None, false));
        assert_eq!(shim_options(&c, &inputs(&bundle)).unwrap().user_namespace, None);
        let mut i = inputs(&bundle);
        i.user_namespace = Some(IdMapping::range(100_000, 65_536));
        i.idmapped = true;
        let tenant = container_spec(&c, &i).unwrap();
        assert_eq!(tenant.user_namespace, Some(IdMapping::range(100_000, 65_536)));
        assert!(tenant.rootfs.idmapped);
        assert_eq!(shim_options(&c, &i).unwrap().user_namespace, Some(IdMapping::range(100_000, 65_536)));
        i.idmapped = false;
        assert!(!container_spec(&c, &i).unwrap().rootfs.idmapped, "shifted copies");
    }

    #[test]
    fn network_modes() {
        assert_eq!(network_mode("default"), NetworkChoice::Isolated);
        assert_eq!(network_mode("host"), NetworkChoice::Host);
        assert_eq!(network_mode("container:abc"), NetworkChoice::Container("abc"));
        assert_eq!(network_mode("appnet"), NetworkChoice::Named("appnet"));
    }
}
