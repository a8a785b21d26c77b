//! `docker update`: new limits and restart policy for a container. They are checked as dockerd
//! checks them, applied at once to the cgroup of a running (or paused) container, and always
//! kept in its HostConfig, so the next start uses them too.

use serde::Deserialize;
use utoipa::ToSchema;

use super::config::{HostConfig, RestartPolicy};
use crate::engine::{Engine, Error, Result};
use crate::runtime::cgroups::Resources;

/// The smallest memory limit or reservation dockerd accepts.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The largest pids limit the kernel takes (`PID_MAX_LIMIT` on 64-bit hosts); `pids.max`
/// refuses more.
const MAX_PIDS_LIMIT: i64 = 4 * 1024 * 1024;
/// The largest CFS quota in µs the kernel takes (`MAX_BW`, 2^44 - 1: about 203 days).
const MAX_CPU_QUOTA: i64 = (1 << 44) - 1;

/// The body of `POST /containers/{id}/update`: the live-changeable part of HostConfig's
/// resources, and the restart policy. Absent, null and 0 (or "") leave a value as it is.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateRequest {
    /// Memory limit in bytes (at least 6 MB).
    pub memory: Option<i64>,
    /// Memory plus swap in bytes; -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    /// Soft memory limit in bytes.
    pub memory_reservation: Option<i64>,
    /// CPUs × 1e9.
    pub nano_cpus: Option<i64>,
    /// Relative CPU weight.
    pub cpu_shares: Option<i64>,
    /// CFS period in µs (1000 to 1000000).
    pub cpu_period: Option<i64>,
    /// CFS quota in µs (at least 1000; -1 for none).
    pub cpu_quota: Option<i64>,
    /// CPUs allowed ("0-1").
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes; 0 or less for unlimited.
    pub pids_limit: Option<i64>,
    /// Block IO weight, 10 to 1000.
    pub blkio_weight: Option<i64>,
    /// The new restart policy (an empty name leaves it).
    pub restart_policy: Option<RestartPolicy>,
}

impl UpdateRequest {
    fn memory(&self) -> i64 {
        self.memory.unwrap_or(0)
    }
    fn memory_swap(&self) -> i64 {
        self.memory_swap.unwrap_or(0)
    }
    fn memory_reservation(&self) -> i64 {
        self.memory_reservation.unwrap_or(0)
    }
    fn nano_cpus(&self) -> i64 {
        self.nano_cpus.unwrap_or(0)
    }
    fn cpu_period(&self) -> i64 {
        self.cpu_period.unwrap_or(0)
    }
    fn cpu_quota(&self) -> i64 {
        self.cpu_quota.unwrap_or(0)
    }
    fn cpu_shares(&self) -> i64 {
        self.cpu_shares.unwrap_or(0)
    }
    fn blkio_weight(&self) -> i64 {
        self.blkio_weight.unwrap_or(0)
    }
    fn cpuset_cpus(&self) -> &str {
        self.cpuset_cpus.as_deref().unwrap_or("")
    }
    fn cpuset_mems(&self) -> &str {
        self.cpuset_mems.as_deref().unwrap_or("")
    }
    /// The restart policy, when one is given by name.
    fn restart_policy(&self) -> Option<&RestartPolicy> {
        self.restart_policy.as_ref().filter(|p| !p.name.is_empty())
    }
}

impl Engine {
    /// `docker update`: checks the request (400), merges it into the container's HostConfig
    /// (409 on a conflict with what is set), writes the new limits to the cgroup when the
    /// container runs, records the HostConfig and emits `update`. Returns the warnings.
    pub async fn update_container(&self, tenant: &str, name: &str, request: UpdateRequest) -> Result<Vec<String>> {
        validate_update(&request, self.host.ncpu).map_err(Error::InvalidArgument)?;
        let c = self.resolve_container(tenant, name).await?;
        let live = self.live.get(&c.row.id);
        let _op = live.op.lock().await;
        let c = self.resolve_container(tenant, &c.row.id).await?;
        let cannot = |message: String| format!("Cannot update container {}: {message}", c.row.id);
        if matches!(c.row.state.status.as_str(), "removing" | "dead") {
            return Err(Error::Conflict(cannot("container is marked for removal and cannot be \"update\"".into())));
        }
        let mut host_config = c.host_config.clone();
        let resources = merge_update(&mut host_config, &request).map_err(|m| Error::Conflict(cannot(m)))?;
        if matches!(c.row.state.status.as_str(), "running" | "paused") {
            let cgroup = self.container_cgroup(&c)?;
            tokio::task::spawn_blocking(move || cgroup.update(&resources))
                .await?
                .map_err(|e| Error::Internal(anyhow::anyhow!(cannot(e.to_string()))))?;
        }
        let text = serde_json::to_string(&host_config).map_err(anyhow::Error::from)?;
        self.store.set_container_host_config(&c.row.id, &text).await?;
        self.emit_container(&c, "update", &[]).await;
        Ok(Vec::new())
    }
}

/// The limits the kernel would refuse when they are written to the cgroup, checked up front so
/// that a create or an update answers 400 rather than a start failing later. 0 means unset.
pub fn check_kernel_limits(
    memory_swap: i64,
    memory_reservation: i64,
    pids_limit: i64,
    cpu_quota: i64,
) -> std::result::Result<(), String> {
    if memory_swap < -1 {
        return Err(format!("invalid memory swap limit {memory_swap}: use -1 for unlimited swap"));
    }
    if memory_reservation < 0 {
        return Err(format!("invalid memory reservation {memory_reservation}: must not be negative"));
    }
    if pids_limit > MAX_PIDS_LIMIT {
        return Err(format!("invalid pids limit {pids_limit}: the kernel allows at most {MAX_PIDS_LIMIT}"));
    }
    if cpu_quota > MAX_CPU_QUOTA {
        return Err(format!("CPU cfs quota can not be larger than {MAX_CPU_QUOTA}"));
    }
    Ok(())
}

/// The checks dockerd makes of an update on its own (`verifyContainerSettings`), with its
/// messages, and those the kernel would make.
pub fn validate_update(request: &UpdateRequest, ncpu: usize) -> std::result::Result<(), String> {
    let (memory, swap, reservation) = (request.memory(), request.memory_swap(), request.memory_reservation());
    check_kernel_limits(swap, reservation, request.pids_limit.unwrap_or(0), request.cpu_quota())?;
    if memory != 0 && memory < MIN_MEMORY {
        return Err("Minimum memory limit allowed is 6MB".into());
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err("Minimum memoryswap limit should be larger than memory limit, see usage".into());
    }
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err("Minimum memory reservation allowed is 6MB".into());
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err("Minimum memory limit can not be less than memory reservation limit, see usage".into());
    }
    let (nano_cpus, period, quota) = (request.nano_cpus(), request.cpu_period(), request.cpu_quota());
    if nano_cpus > 0 && period > 0 {
        return Err("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
    }
    if nano_cpus > 0 && quota > 0 {
        return Err("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
    }
    if nano_cpus != 0 && (nano_cpus < 0 || nano_cpus > ncpu as i64 * 1_000_000_000) {
        return Err(format!("range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"));
    }
    if request.cpu_shares() < 0 {
        return Err(format!("invalid CPU shares {}: must not be negative", request.cpu_shares()));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into());
    }
    if quota > 0 && quota < 1000 {
        return Err("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
    }
    check_cpuset_cpus(request.cpuset_cpus(), ncpu)?;
    check_cpuset_mems(request.cpuset_mems())?;
    let weight = request.blkio_weight();
    if weight != 0 && !(10..=1000).contains(&weight) {
        return Err("Range of blkio weight is from 10 to 1000".into());
    }
    if let Some(policy) = request.restart_policy() {
        validate_restart_policy(policy)?;
    }
    Ok(())
}

/// Checks a cpuset CPU list against the host's CPUs, with dockerd's messages.
pub fn check_cpuset_cpus(cpus: &str, ncpu: usize) -> std::result::Result<(), String> {
    if cpus.is_empty() {
        return Ok(());
    }
    let list =
        parse_cpu_list(cpus).ok_or_else(|| format!("Invalid value {cpus} for cpuset cpus: invalid format: {cpus}"))?;
    if list.iter().any(|&cpu| cpu as usize >= ncpu) {
        let available = if ncpu > 1 { format!("0-{}", ncpu - 1) } else { "0".into() };
        return Err(format!("Requested CPUs are not available - requested {cpus}, available: {available}"));
    }
    Ok(())
}

/// Checks a cpuset memory-node list against the host's online nodes (`cpuset.mems` refuses
/// others), with dockerd's messages.
pub fn check_cpuset_mems(mems: &str) -> std::result::Result<(), String> {
    if mems.is_empty() {
        return Ok(());
    }
    let list =
        parse_cpu_list(mems).ok_or_else(|| format!("Invalid value {mems} for cpuset mems: invalid format: {mems}"))?;
    let online = std::fs::read_to_string("/sys/devices/system/node/online").unwrap_or_else(|_| "0".into());
    let online = online.trim();
    let nodes = parse_cpu_list(online).unwrap_or_else(|| vec![0]);
    if list.iter().any(|node| !nodes.contains(node)) {
        return Err(format!("Requested memory nodes are not available - requested {mems}, available: {online}"));
    }
    Ok(())
}

/// dockerd's restart policy rules and messages.
fn validate_restart_policy(policy: &RestartPolicy) -> std::result::Result<(), String> {
    match policy.name.as_str() {
        "always" | "unless-stopped" | "no" if policy.maximum_retry_count != 0 => {
            let mut message =
                "invalid restart policy: maximum retry count can only be used with 'on-failure'".to_string();
            if policy.maximum_retry_count < 0 {
                message.push_str(" and cannot be negative");
            }
            Err(message)
        }
        "always" | "unless-stopped" | "no" | "" => Ok(()),
        "on-failure" if policy.maximum_retry_count < 0 => {
            Err("invalid restart policy: maximum retry count cannot be negative".into())
        }
        "on-failure" => Ok(()),
        other => Err(format!(
            "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        )),
    }
}

/// Parses a cpuset list ("0-2,4"); `None` when malformed.
fn parse_cpu_list(list: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((low, high)) => {
                let (low, high): (u32, u32) = (low.parse().ok()?, high.parse().ok()?);
                if low > high {
                    return None;
                }
                cpus.extend(low..=high.min(low.saturating_add(4096)));
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// Merges an update into `hc` as dockerd's `UpdateContainer` does, and returns what to write to
/// the cgroup: only what the request changes. `Err` holds the conflict's message.
///
/// A memory limit given without swap on a container whose swap was never set (0) gets the swap
/// a new container would get, twice the memory, so the common `docker update --memory 64m c`
/// works (dockerd refuses it since 0 < 64m; moby PR #47874 proposes the same fix). Unlimited
/// swap (-1) stays unlimited; a limit above a set swap limit is refused as dockerd does.
pub fn merge_update(hc: &mut HostConfig, request: &UpdateRequest) -> std::result::Result<Resources, String> {
    let (nano_cpus, period, quota) = (request.nano_cpus(), request.cpu_period(), request.cpu_quota());
    if nano_cpus > 0 && hc.cpu_period > 0 {
        return Err("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set".into());
    }
    if nano_cpus > 0 && hc.cpu_quota > 0 {
        return Err("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set".into());
    }
    if period > 0 && hc.nano_cpus > 0 {
        return Err("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set".into());
    }
    if quota > 0 && hc.nano_cpus > 0 {
        return Err("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set".into());
    }
    if let Some(policy) = request.restart_policy()
        && hc.auto_remove
        && policy.name != "no"
    {
        return Err("Restart policy cannot be updated because AutoRemove is enabled for the container".into());
    }
    let (memory, swap) = (request.memory(), request.memory_swap());
    let mut live = Resources::default();
    if memory != 0 {
        if swap == 0 {
            if hc.memory_swap == 0 {
                hc.memory_swap = memory.saturating_mul(2);
                live.memory_swap = Some(hc.memory_swap);
            } else if hc.memory_swap > 0 && memory > hc.memory_swap {
                return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into());
            }
        }
        hc.memory = memory;
        live.memory = Some(memory);
    }
    if swap != 0 {
        hc.memory_swap = swap;
        live.memory_swap = Some(swap);
    }
    if request.memory_reservation() != 0 {
        hc.memory_reservation = request.memory_reservation();
        live.memory_reservation = Some(hc.memory_reservation);
    }
    if nano_cpus != 0 {
        hc.nano_cpus = nano_cpus;
        live.nano_cpus = Some(nano_cpus);
    }
    if period != 0 {
        hc.cpu_period = period;
        live.cpu_period = Some(period as u64);
    }
    if quota != 0 {
        hc.cpu_quota = quota;
        live.cpu_quota = Some(quota);
    }
    if request.cpu_shares() > 0 {
        hc.cpu_shares = request.cpu_shares();
        live.cpu_shares = Some(hc.cpu_shares as u64);
    }
    if !request.cpuset_cpus().is_empty() {
        hc.cpuset_cpus = request.cpuset_cpus().to_string();
        live.cpuset_cpus = Some(hc.cpuset_cpus.clone());
    }
    if !request.cpuset_mems().is_empty() {
        hc.cpuset_mems = request.cpuset_mems().to_string();
        live.cpuset_mems = Some(hc.cpuset_mems.clone());
    }
    if let Some(limit) = request.pids_limit {
        // 0 and every negative value mean unlimited, as dockerd's API layer has it.
        let limit = limit.max(0);
        hc.pids_limit = Some(limit);
        live.pids_limit = Some(limit);
    }
    if request.blkio_weight() != 0 {
        hc.blkio_weight = request.blkio_weight() as u16;
        live.blkio_weight = Some(hc.blkio_weight);
    }
    if let Some(policy) = request.restart_policy() {
        hc.restart_policy = policy.clone();
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: i64 = 1024 * 1024;

    fn request(json: &str) -> UpdateRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn limits_the_kernel_refuses_are_a_400_not_a_failed_write() {
        let check = |json: &str| validate_update(&request(json), 2);
        assert!(check(r#"{"PidsLimit":9223372036854775806}"#).unwrap_err().contains("pids limit"));
        assert!(check(r#"{"PidsLimit":4194304}"#).is_ok());
        assert!(check(r#"{"PidsLimit":-1}"#).is_ok());
        assert!(check(r#"{"MemorySwap":-9223372036854775807}"#).unwrap_err().contains("memory swap"));
        assert!(check(r#"{"MemorySwap":-1}"#).is_ok());
        assert!(check(r#"{"MemoryReservation":-5}"#).unwrap_err().contains("reservation"));
        assert!(check(r#"{"CpuQuota":9223372036854775807}"#).unwrap_err().contains("quota"));
        assert!(check(r#"{"CpuQuota":-1}"#).is_ok());
    }

    #[test]
    fn the_cli_body_parses_with_nulls_and_zeros() {
        let body = r#"{"BlkioWeight":0,"BlkioWeightDevice":null,"CpuShares":0,"Memory":67108864,"NanoCpus":0,
            "CgroupParent":"","CpuPeriod":0,"CpuQuota":0,"CpusetCpus":"","CpusetMems":"","Devices":null,
            "MemoryReservation":0,"MemorySwap":0,"PidsLimit":null,"Ulimits":null,"RestartPolicy":{"Name":"","MaximumRetryCount":0}}"#;
        let update = request(body);
        assert_eq!(update.memory, Some(64 * MB));
        assert_eq!(update.pids_limit, None);
        assert!(update.restart_policy().is_none());
        assert_eq!(request(r#"{"Memory":null}"#), UpdateRequest::default());
    }

    #[test]
    fn memory_on_a_container_without_limits_gets_twice_as_much_swap() {
        let mut hc = HostConfig::default();
        let live = merge_update(&mut hc, &request(r#"{"Memory":67108864}"#)).unwrap();
        assert_eq!((hc.memory, hc.memory_swap), (64 * MB, 128 * MB));
        assert_eq!((live.memory, live.memory_swap), (Some(64 * MB), Some(128 * MB)));
        assert_eq!(live.nano_cpus, None);
        assert_eq!(live.pids_limit, None);
    }

    #[test]
    fn memory_above_the_set_swap_is_refused_but_unlimited_swap_is_fine() {
        let mut hc = HostConfig { memory: 32 * MB, memory_swap: 64 * MB, ..Default::default() };
        let live = merge_update(&mut hc, &request(r#"{"Memory":50331648}"#)).unwrap();
        assert_eq!((hc.memory, hc.memory_swap), (48 * MB, 64 * MB));
        assert_eq!(live.memory_swap, None);
        let error = merge_update(&mut hc, &request(r#"{"Memory":134217728}"#)).unwrap_err();
        assert!(error.starts_with("Memory limit should be smaller than already set memoryswap limit"));
        let live = merge_update(&mut hc, &request(r#"{"Memory":134217728,"MemorySwap":268435456}"#)).unwrap();
        assert_eq!(live.memory_swap, Some(256 * MB));
        let mut unlimited = HostConfig { memory: 32 * MB, memory_swap: -1, ..Default::default() };
        merge_update(&mut unlimited, &request(r#"{"Memory":134217728}"#)).unwrap();
        assert_eq!((unlimited.memory, unlimited.memory_swap), (128 * MB, -1));
    }

    #[test]
    fn cpu_settings_conflict_with_what_is_set() {
        let mut hc = HostConfig { nano_cpus: 500_000_000, ..Default::default() };
        assert!(merge_update(&mut hc, &request(r#"{"CpuQuota":50000}"#)).unwrap_err().contains("CPU Quota"));
        assert!(merge_update(&mut hc, &request(r#"{"CpuPeriod":50000}"#)).unwrap_err().contains("CPU Period"));
        let live = merge_update(&mut hc, &request(r#"{"NanoCpus":1500000000,"CpuShares":512}"#)).unwrap();
        assert_eq!((hc.nano_cpus, hc.cpu_shares), (1_500_000_000, 512));
        assert_eq!(live.cpu_max().unwrap().quota, Some(150_000));
        let mut quota = HostConfig { cpu_quota: 20000, ..Default::default() };
        assert!(merge_update(&mut quota, &request(r#"{"NanoCpus":1000000000}"#)).is_err());
    }

    #[test]
    fn pids_restart_policy_and_the_rest() {
        let mut hc = HostConfig { pids_limit: Some(10), ..Default::default() };
        let live = merge_update(
            &mut hc,
            &request(
                r#"{"PidsLimit":-1,"BlkioWeight":300,"CpusetCpus":"0","RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#,
            ),
        )
        .unwrap();
        assert_eq!(hc.pids_limit, Some(0));
        assert_eq!(live.pids_max().as_deref(), Some("max"));
        assert_eq!(hc.blkio_weight, 300);
        assert_eq!(hc.cpuset_cpus, "0");
        assert_eq!((hc.restart_policy.name.as_str(), hc.restart_policy.maximum_retry_count), ("on-failure", 3));
        let mut rm = HostConfig { auto_remove: true, ..Default::default() };
        let always = request(r#"{"RestartPolicy":{"Name":"always"}}"#);
        assert!(merge_update(&mut rm, &always).unwrap_err().contains("AutoRemove"));
    }

    #[test]
    fn validation_follows_dockerd() {
        let check = |json: &str| validate_update(&request(json), 2);
        assert!(check(r#"{"Memory":67108864}"#).is_ok());
        assert_eq!(check(r#"{"Memory":1024}"#).unwrap_err(), "Minimum memory limit allowed is 6MB");
        assert!(check(r#"{"Memory":67108864,"MemorySwap":1048576}"#).unwrap_err().contains("memoryswap"));
        assert!(check(r#"{"MemorySwap":134217728}"#).is_ok(), "swap alone is allowed in an update");
        assert!(check(r#"{"MemoryReservation":1024}"#).is_err());
        assert!(check(r#"{"NanoCpus":1000000000,"CpuPeriod":100000}"#).is_err());
        assert!(check(r#"{"NanoCpus":3000000000}"#).unwrap_err().starts_with("range of CPUs is from 0.01 to 2.00"));
        assert!(check(r#"{"CpuPeriod":100}"#).is_err());
        assert!(check(r#"{"CpuQuota":100}"#).is_err());
        assert!(check(r#"{"CpuQuota":-1}"#).is_ok());
        assert!(check(r#"{"CpusetCpus":"0-1"}"#).is_ok());
        assert!(check(r#"{"CpusetCpus":"0-5"}"#).unwrap_err().starts_with("Requested CPUs are not available"));
        assert!(check(r#"{"CpusetCpus":"x"}"#).unwrap_err().starts_with("Invalid value x for cpuset cpus"));
        assert!(check(r#"{"BlkioWeight":5}"#).is_err());
        assert!(check(r#"{"RestartPolicy":{"Name":"sometimes"}}"#).unwrap_err().contains("unknown policy 'sometimes'"));
        assert!(check(r#"{"RestartPolicy":{"Name":"always","MaximumRetryCount":2}}"#).is_err());
        assert!(check(r#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}"#).is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert_eq!(parse_cpu_list("3"), Some(vec![3]));
        assert_eq!(parse_cpu_list("2-1"), None);
        assert_eq!(parse_cpu_list("a"), None);
        assert_eq!(parse_cpu_list("1,"), None);
    }
}
