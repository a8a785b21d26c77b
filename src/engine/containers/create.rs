//! `docker create`: validate the request, merge it with the image's config the way dockerd
//! does, and record the container.

use super::Container;
use super::config::{Config, CreateRequest, HostConfig};
use super::names::{random_name, validate_name};
use crate::engine::{Engine, Error, Result};
use crate::images::config::ContainerConfig as ImageContainerConfig;
use crate::store::UniqueError;
use crate::store::containers::{ContainerRow, ContainerState};

/// /dev/shm's size when the request names none, as Docker's.
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;
/// The smallest memory limit dockerd accepts.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

impl Engine {
    /// Creates a container; returns its id and any warnings for the client.
    pub async fn create_container(
        &self,
        tenant: &str,
        name: Option<&str>,
        request: CreateRequest,
    ) -> Result<(String, Vec<String>)> {
        let generated = name.filter(|n| !n.is_empty()).is_none();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(name) => validate_name(name).map_err(Error::InvalidArgument)?.to_string(),
            None => self.unused_random_name(tenant).await?,
        };
        if request.config.image.is_empty() {
            return Err(Error::InvalidArgument("config cannot be empty in order to create a container".into()));
        }
        let image = self.inspect_image(tenant, &request.config.image).await?;
        let mut host_config = request.host_config;
        let warnings = normalize_host_config(&mut host_config)?;
        self.inherit_volumes(tenant, &mut host_config).await?;
        let id = hex::encode(rand::random::<[u8; 32]>());
        let config = merge_config(request.config, &image.config.config, &id)?;
        let volumes = crate::engine::volumes::mounts::volume_requests(&config, &host_config)?;
        // [networks] An unknown network is a 404 before anything is made.
        let networks = self.plan_attachments(tenant, &host_config, request.networking_config.as_ref()).await?;
        let mut row = ContainerRow {
            tenant_id: tenant.to_string(),
            id: id.clone(),
            name,
            image_id: image.row.id.clone(),
            image_ref: config.image.clone(),
            config: serde_json::to_string(&config).map_err(anyhow::Error::from)?,
            host_config: serde_json::to_string(&host_config).map_err(anyhow::Error::from)?,
            created_at: crate::runtime::now_rfc3339_nanos(),
            state: ContainerState { status: "created".into(), ..Default::default() },
            health: None,
        };
        let mut clashes = 0;
        loop {
            match self.store.insert_container(&row).await {
                Ok(()) => break,
                // A concurrent create took the generated name between the check and the insert.
                Err(UniqueError::Taken) if generated && clashes < 5 => {
                    clashes += 1;
                    row.name = self.unused_random_name(tenant).await?;
                }
                Err(UniqueError::Taken) => {
                    let holder =
                        self.store.container_by_name(tenant, &row.name).await?.map(|c| c.id).unwrap_or_default();
                    return Err(Error::Conflict(format!(
                        "Conflict. The container name \"/{}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name.",
                        row.name
                    )));
                }
                Err(UniqueError::Database(e)) => return Err(e.into()),
            }
        }
        if let Err(e) = self.record_attachments(&id, &networks).await {
            let _ = self.store.delete_container(&id).await;
            return Err(e);
        }
        let container = Container::from_row(row)?;
        if let Err(e) = self.prepare_bundle(&container).await {
            let _ = self.store.delete_container(&id).await;
            return Err(e);
        }
        if let Err(e) = self.attach_volumes(&container, volumes).await {
            let _ = self.store.delete_container(&id).await;
            let dir = self.bundle_dir(&id);
            let _ = tokio::task::spawn_blocking(move || crate::runtime::bundle::remove(&dir)).await;
            return Err(e);
        }
        self.emit_container(&container, "create", &[]).await;
        Ok((id, warnings))
    }
}

impl Engine {
    /// Makes the container's bundle with its empty writable layer, so that `docker diff` and
    /// `docker cp` work before the first start.
    async fn prepare_bundle(&self, c: &Container) -> Result<()> {
        let dir = self.bundle_dir(&c.row.id);
        tokio::task::spawn_blocking(move || crate::runtime::bundle::create(&dir)).await??;
        Ok(())
    }
}

impl Engine {
    /// A generated name no container of the tenant has; after a few clashes a number is added,
    /// as dockerd does, so the names never run out.
    async fn unused_random_name(&self, tenant: &str) -> Result<String> {
        for attempt in 0..20 {
            let mut name = random_name();
            if attempt >= 3 {
                name = format!("{name}{}", rand::random::<u16>() % 1000);
            }
            if self.store.container_by_name(tenant, &name).await?.is_none() {
                return Ok(name);
            }
        }
        Ok(format!("{}_{}", random_name(), hex::encode(rand::random::<[u8; 4]>())))
    }
}

/// Fills the defaults dockerd fills and refuses what it refuses.
fn normalize_host_config(hc: &mut HostConfig) -> Result<Vec<String>> {
    let warnings = Vec::new();
    if hc.network_mode.is_empty() || hc.network_mode == "default" {
        hc.network_mode = "bridge".into();
    }
    if hc.log_config.r#type.is_empty() {
        hc.log_config.r#type = "json-file".into();
    }
    if hc.log_config.r#type != "json-file" && hc.log_config.r#type != "none" {
        return Err(Error::InvalidArgument(format!(
            "logging driver {:?} is not supported; kapsel writes json-file logs",
            hc.log_config.r#type
        )));
    }
    match hc.restart_policy.name.as_str() {
        "" => hc.restart_policy.name = "no".into(),
        "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => {
            return Err(Error::InvalidArgument(format!("invalid restart policy '{other}'")));
        }
    }
    if hc.restart_policy.maximum_retry_count < 0 {
        return Err(Error::InvalidArgument("invalid restart policy: maximum retry count cannot be negative".into()));
    }
    if hc.restart_policy.name != "on-failure" && hc.restart_policy.maximum_retry_count != 0 {
        return Err(Error::InvalidArgument(format!(
            "invalid restart policy: maximum retry count can only be used with 'on-failure', not '{}'",
            hc.restart_policy.name
        )));
    }
    if hc.auto_remove && hc.restart_policy.name != "no" {
        return Err(Error::InvalidArgument("can't create 'AutoRemove' container with restart policy".into()));
    }
    if hc.memory > 0 && hc.memory < MIN_MEMORY {
        return Err(Error::InvalidArgument("Minimum memory limit allowed is 6MB".into()));
    }
    super::update::check_kernel_limits(hc.memory_swap, hc.memory_reservation, hc.pids_limit.unwrap_or(0), hc.cpu_quota)
        .map_err(Error::InvalidArgument)?;
    let ncpu = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    super::update::check_cpuset_cpus(&hc.cpuset_cpus, ncpu).map_err(Error::InvalidArgument)?;
    super::update::check_cpuset_mems(&hc.cpuset_mems).map_err(Error::InvalidArgument)?;
    if hc.memory > 0 && hc.memory_swap > 0 && hc.memory_swap < hc.memory {
        return Err(Error::InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if hc.memory_swap > 0 && hc.memory == 0 {
        return Err(Error::InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    if hc.memory > 0 && hc.memory_swap == 0 {
        hc.memory_swap = 2 * hc.memory;
    }
    if hc.nano_cpus > 0 && hc.cpu_period > 0 {
        return Err(Error::InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set".into()));
    }
    if hc.nano_cpus > 0 && hc.cpu_quota > 0 {
        return Err(Error::InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into()));
    }
    if hc.nano_cpus < 0 {
        return Err(Error::InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available".into()));
    }
    if hc.blkio_weight > 0 && !(10..=1000).contains(&hc.blkio_weight) {
        return Err(Error::InvalidArgument("Range of blkio weight is from 10 to 1000".into()));
    }
    if hc.shm_size < 0 {
        return Err(Error::InvalidArgument("SHM size can not be less than 0".into()));
    }
    if hc.shm_size == 0 {
        hc.shm_size = DEFAULT_SHM_SIZE;
    }
    if hc.ipc_mode.is_empty() {
        hc.ipc_mode = "private".into();
    }
    if hc.cgroupns_mode.is_empty() {
        hc.cgroupns_mode = "private".into();
    }
    super::security::parse(hc.security_opt.as_deref().unwrap_or_default())?;
    Ok(warnings)
}

/// Merges the request's Config over the image's, as dockerd's `merge` does.
fn merge_config(mut config: Config, image: &ImageContainerConfig, id: &str) -> Result<Config> {
    if config.hostname.is_empty() {
        config.hostname = id[..12].to_string();
    }
    if config.user.is_empty() {
        config.user = image.user.clone();
    }
    let mut env = image.env.clone();
    for entry in std::mem::take(&mut config.env) {
        set_env(&mut env, &entry);
    }
    config.env = env;
    match &config.entrypoint {
        // `--entrypoint ""` resets the image's entrypoint.
        Some(e) if e.is_empty() || (e.len() == 1 && e[0].is_empty()) => {
            config.entrypoint = None;
        }
        Some(_) => {}
        None => {
            config.entrypoint = image.entrypoint.clone();
            if config.cmd.is_none() {
                config.cmd = image.cmd.clone();
            }
        }
    }
    if config.command_is_empty() {
        return Err(Error::InvalidArgument("no command specified".into()));
    }
    if config.working_dir.is_empty() {
        config.working_dir = image.working_dir.clone();
    }
    let mut labels = image.labels.clone();
    labels.extend(std::mem::take(&mut config.labels));
    config.labels = labels;
    for port in image.exposed_ports.keys() {
        config
            .exposed_ports
            .get_or_insert_with(Default::default)
            .entry(port.clone())
            .or_insert_with(|| serde_json::json!({}));
    }
    for volume in image.volumes.keys() {
        config
            .volumes
            .get_or_insert_with(Default::default)
            .entry(volume.clone())
            .or_insert_with(|| serde_json::json!({}));
    }
    if config.stop_signal.as_deref().is_none_or(str::is_empty) && !image.stop_signal.is_empty() {
        config.stop_signal = Some(image.stop_signal.clone());
    }
    if config.healthcheck.is_none() {
        config.healthcheck = image.healthcheck.clone();
    }
    if config.on_build.is_none() && !image.on_build.is_empty() {
        config.on_build = Some(image.on_build.clone());
    }
    Ok(config)
}

/// dockerd's `ReplaceOrAppendEnvValues`: `K=V` replaces or appends; a bare `K` unsets `K`.
fn set_env(env: &mut Vec<String>, entry: &str) {
    let key = entry.split_once('=').map_or(entry, |(k, _)| k);
    let position = env.iter().position(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key);
    match (entry.contains('='), position) {
        (true, Some(i)) => env[i] = entry.to_string(),
        (true, None) => env.push(entry.to_string()),
        (false, Some(i)) => {
            env.remove(i);
        }
        (false, None) => {}
    }
}

impl Config {
    /// Neither an entrypoint nor a command.
    fn command_is_empty(&self) -> bool {
        self.entrypoint.as_ref().is_none_or(Vec::is_empty) && self.cmd.as_ref().is_none_or(Vec::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageContainerConfig {
        ImageContainerConfig {
            env: vec!["PATH=/usr/bin:/bin".into(), "A=image".into()],
            cmd: Some(vec!["sh".into()]),
            working_dir: "/srv".into(),
            labels: [("from".to_string(), "image".to_string())].into_iter().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn request_overrides_image_defaults() {
        let id = "0123456789abcdef".repeat(4);
        let config = Config {
            env: vec!["A=mine".into(), "B=2".into(), "PATH".into()],
            cmd: Some(vec!["echo".into(), "hi".into()]),
            labels: [("k".to_string(), "v".to_string())].into_iter().collect(),
            ..Default::default()
        };
        let merged = merge_config(config, &image(), &id).unwrap();
        assert_eq!(merged.env, vec!["A=mine", "B=2"]);
        assert_eq!(merged.cmd.unwrap(), vec!["echo", "hi"]);
        assert_eq!(merged.working_dir, "/srv");
        assert_eq!(merged.hostname, "0123456789ab");
        assert_eq!(merged.labels.len(), 2);
    }

    #[test]
    fn entrypoint_drops_the_image_cmd_and_empty_is_refused() {
        let id = "a".repeat(64);
        let config = Config { entrypoint: Some(vec!["/bin/true".into()]), ..Default::default() };
        let merged = merge_config(config, &image(), &id).unwrap();
        assert_eq!(merged.cmd, None);
        let nothing = ImageContainerConfig::default();
        assert!(merge_config(Config::default(), &nothing, &id).is_err());
    }

    #[test]
    fn host_config_defaults_and_conflicts() {
        let mut hc = HostConfig { memory: 64 << 20, ..Default::default() };
        normalize_host_config(&mut hc).unwrap();
        assert_eq!(hc.memory_swap, 128 << 20);
        assert_eq!(hc.network_mode, "bridge");
        assert_eq!(hc.restart_policy.name, "no");
        assert_eq!(hc.shm_size, DEFAULT_SHM_SIZE);
        let mut bad = HostConfig { nano_cpus: 1, cpu_period: 100000, ..Default::default() };
        assert!(normalize_host_config(&mut bad).is_err());
        let mut tiny = HostConfig { memory: 1024, ..Default::default() };
        assert!(normalize_host_config(&mut tiny).is_err());
        let mut rm = HostConfig { auto_remove: true, ..Default::default() };
        rm.restart_policy.name = "always".into();
        assert!(normalize_host_config(&mut rm).is_err());
    }
}
