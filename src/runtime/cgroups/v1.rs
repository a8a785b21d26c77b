//! cgroup v1: one directory per controller hierarchy, each limit written in its controller's tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::CgroupError;
use super::files;
use super::resources::{CpuMax, Resources};
use super::stats::{self, CgroupStats, CpuStats, IoStats, MemoryStats, PidsStats};
use super::wait;

/// One container cgroup across the v1 hierarchies: `<mount of controller>/<relative>`.
#[derive(Debug, Clone, Copy)]
pub struct Dirs<'a> {
    /// Controller → hierarchy mount, from [`super::Layout::V1`].
    pub mounts: &'a BTreeMap<String, PathBuf>,
    /// The cgroup's path below each mount.
    pub relative: &'a Path,
}

impl Dirs<'_> {
    /// The cgroup's directory in `controller`'s hierarchy, if the host mounts that controller.
    pub fn get(&self, controller: &str) -> Option<PathBuf> {
        self.mounts.get(controller).map(|mount| mount.join(self.relative))
    }

    /// Like [`Dirs::get`], failing with `MissingController` naming `what` needed it.
    fn need(&self, controller: &'static str, what: &'static str) -> Result<PathBuf, CgroupError> {
        self.get(controller).ok_or(CgroupError::MissingController { controller, what })
    }

    /// Every distinct directory of the cgroup, one per hierarchy (co-mounts counted once).
    pub fn all(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.mounts.values().map(|m| m.join(self.relative)).collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }
}

/// Creates the cgroup in every hierarchy, level by level; new cpuset levels first get their
/// parent's cpus and mems, since an empty cpuset refuses tasks (runc and cgroups-rs do the same).
pub fn make_dirs(dirs: Dirs<'_>) -> Result<(), CgroupError> {
    let cpuset_mount = dirs.mounts.get("cpuset");
    let mut mounts: Vec<&PathBuf> = dirs.mounts.values().collect();
    mounts.sort();
    mounts.dedup();
    for mount in mounts {
        let mut dir = mount.clone();
        for component in dirs.relative.components() {
            let parent = dir.clone();
            dir.push(component);
            files::make_dir(&dir)?;
            if Some(mount) == cpuset_mount {
                inherit_cpuset(&parent, &dir)?;
            }
        }
    }
    Ok(())
}

/// Copies cpuset.cpus and cpuset.mems from `parent` into `dir` where `dir`'s are empty.
fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if files::read(&dir.join(file))?.trim().is_empty() {
            let value = files::read(&parent.join(file))?;
            files::write(&dir.join(file), value.trim())?;
        }
    }
    Ok(())
}

/// Writes the limits that `resources` gives, each into its controller's directory.
pub fn apply(dirs: Dirs<'_>, resources: &Resources) -> Result<(), CgroupError> {
    apply_memory(dirs, resources)?;
    if let Some(shares) = resources.shares() {
        let dir = dirs.need("cpu", "--cpu-shares")?;
        files::write(&dir.join("cpu.shares"), &shares.to_string())?;
    }
    if let Some(cpu_max) = resources.cpu_max() {
        apply_cfs(&dirs.need("cpu", "a CPU quota")?, cpu_max)?;
    }
    if let Some(cpus) = resources.cpus() {
        let dir = dirs.need("cpuset", "--cpuset-cpus")?;
        files::write(&dir.join("cpuset.cpus"), cpus)?;
    }
    if let Some(mems) = resources.mems() {
        let dir = dirs.need("cpuset", "--cpuset-mems")?;
        files::write(&dir.join("cpuset.mems"), mems)?;
    }
    if let Some(pids_max) = resources.pids_max() {
        let dir = dirs.need("pids", "--pids-limit")?;
        files::write(&dir.join("pids.max"), &pids_max)?;
    }
    if let Some(weight) = resources.blkio() {
        apply_blkio_weight(dirs, weight)?;
    }
    Ok(())
}

/// memory.limit_in_bytes, memory.memsw.limit_in_bytes (when swap accounting exists), soft limit.
fn apply_memory(dirs: Dirs<'_>, resources: &Resources) -> Result<(), CgroupError> {
    let memory = resources.memory_limit();
    let mut swap = resources.memory_swap_limit();
    let reservation = resources.memory_soft_limit();
    if memory.is_none() && swap.is_none() && reservation.is_none() {
        return Ok(());
    }
    let dir = dirs.need("memory", "a memory limit")?;
    if let (Some(memory), Some(swap)) = (memory, swap)
        && swap >= 0
        && (memory < 0 || memory > swap)
    {
        return Err(CgroupError::Invalid(format!("memory+swap limit {swap} is below the memory limit {memory}")));
    }
    let limit = dir.join("memory.limit_in_bytes");
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    let swap_accounting = memsw.exists();
    // Unlimited memory without a swap value lifts memsw too (as runc's fs/memory.go does).
    if memory == Some(-1) && swap.is_none() && swap_accounting {
        swap = Some(-1);
    }
    if swap.is_some() && !swap_accounting {
        tracing::warn!(path = %memsw.display(), "no swap accounting on this host; swap limit ignored");
        swap = None;
    }
    match (memory, swap) {
        (Some(memory), Some(swap)) => {
            // The kernel keeps memsw ≥ limit at every step. When the new total is at least the
            // current limit, raise memsw first; otherwise lower the limit first (runc's order).
            let current = files::read_u64(&limit)?;
            if swap < 0 || swap as u64 >= current {
                files::write(&memsw, &swap.to_string())?;
                files::write(&limit, &memory.to_string())?;
            } else {
                files::write(&limit, &memory.to_string())?;
                files::write(&memsw, &swap.to_string())?;
            }
        }
        (Some(memory), None) => files::write(&limit, &memory.to_string())?,
        (None, Some(swap)) => files::write(&memsw, &swap.to_string())?,
        (None, None) => {}
    }
    if let Some(reservation) = reservation {
        files::write(&dir.join("memory.soft_limit_in_bytes"), &reservation.to_string())?;
    }
    Ok(())
}

/// cpu.cfs_period_us then cpu.cfs_quota_us (-1 = unlimited).
///
/// A new period can be refused while the old quota is in force; then the quota goes first and
/// the period is retried (the order runc's fs/cpu.go falls back to).
fn apply_cfs(dir: &Path, cpu_max: CpuMax) -> Result<(), CgroupError> {
    let quota_path = dir.join("cpu.cfs_quota_us");
    let period_path = dir.join("cpu.cfs_period_us");
    let quota = cpu_max.quota.map(|quota| quota.max(-1).to_string());
    if let Some(period) = cpu_max.period {
        let period = period.to_string();
        if let Err(error) = files::write(&period_path, &period) {
            let Some(quota) = &quota else {
                return Err(error);
            };
            files::write(&quota_path, quota)?;
            return files::write(&period_path, &period);
        }
    }
    if let Some(quota) = &quota {
        files::write(&quota_path, quota)?;
    }
    Ok(())
}

/// blkio.weight (CFQ) when present, else blkio.bfq.weight (BFQ), else a warning (runc's detectWeightFilenames order).
fn apply_blkio_weight(dirs: Dirs<'_>, weight: u16) -> Result<(), CgroupError> {
    let dir = dirs.need("blkio", "--blkio-weight")?;
    for file in ["blkio.weight", "blkio.bfq.weight"] {
        match files::write(&dir.join(file), &weight.to_string()) {
            Err(error) if error.is_not_found() => continue,
            result => return result,
        }
    }
    tracing::warn!(dir = %dir.display(), "no blkio.weight or blkio.bfq.weight on this host; blkio weight ignored");
    Ok(())
}

/// The `oom_kill` count of memory.oom_control (kernel ≥ 4.13).
pub fn oom_kill_count(dirs: Dirs<'_>) -> Result<u64, CgroupError> {
    let path = dirs.need("memory", "the OOM kill count")?.join("memory.oom_control");
    let control = files::parse_flat_keyed(&path, &files::read(&path)?)?;
    Ok(control.get("oom_kill").copied().unwrap_or(0))
}

/// How long a freeze may take before we give up.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes FROZEN to freezer.state and waits until it reads FROZEN, not FREEZING.
///
/// A task in the middle of fork can keep a v1 freeze in FREEZING for good; like runc, every
/// 25 polls we thaw and freeze again to get past it.
pub fn freeze(dirs: Dirs<'_>) -> Result<(), CgroupError> {
    let state = dirs.need("freezer", "freezing")?.join("freezer.state");
    files::write(&state, "FROZEN")?;
    let mut polls = 0u32;
    let result = wait::until(&state, "FROZEN in freezer.state", FREEZE_TIMEOUT, || {
        if files::read(&state)?.trim() == "FROZEN" {
            return Ok(true);
        }
        polls += 1;
        if polls.is_multiple_of(25) {
            files::write(&state, "THAWED")?;
            files::write(&state, "FROZEN")?;
        }
        Ok(false)
    });
    if result.is_err() {
        let _ = files::write(&state, "THAWED");
    }
    result
}

/// Writes THAWED to freezer.state.
pub fn thaw(dirs: Dirs<'_>) -> Result<(), CgroupError> {
    files::write(&dirs.need("freezer", "thawing")?.join("freezer.state"), "THAWED")
}

/// The value at or above which v1 reports "no limit" (LONG_MAX rounded down to a page).
const V1_UNLIMITED: u64 = 1 << 62;

/// Reads the counters; controllers the host does not mount leave their part zero.
pub fn stats(dirs: Dirs<'_>) -> Result<CgroupStats, CgroupError> {
    let mut stats = CgroupStats::default();
    if let Some(dir) = dirs.get("cpuacct") {
        stats.cpu = cpu_usage(&dir)?;
    }
    if let Some(dir) = dirs.get("cpu") {
        let cpu_stat = files::read_flat_keyed(&dir.join("cpu.stat"))?;
        stats.cpu.periods = cpu_stat.get("nr_periods").copied().unwrap_or(0);
        stats.cpu.throttled_periods = cpu_stat.get("nr_throttled").copied().unwrap_or(0);
        stats.cpu.throttled_ns = cpu_stat.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(dir) = dirs.get("memory") {
        stats.memory = memory(&dir)?;
    }
    if let Some(dir) = dirs.get("pids") {
        let limit = files::read_u64_or_max(&dir.join("pids.max"))?;
        stats.pids = PidsStats { current: files::read_u64(&dir.join("pids.current"))?, limit };
    }
    if let Some(dir) = dirs.get("blkio") {
        stats.io = blkio(&dir)?;
    }
    Ok(stats)
}

/// cpuacct: total, user/system (ns files, else cpuacct.stat in USER_HZ ticks) and per CPU.
fn cpu_usage(dir: &Path) -> Result<CpuStats, CgroupError> {
    let usage_ns = files::read_u64(&dir.join("cpuacct.usage"))?;
    let user = files::read_optional(&dir.join("cpuacct.usage_user"))?;
    let system = files::read_optional(&dir.join("cpuacct.usage_sys"))?;
    let (user_ns, system_ns) = match (user, system) {
        (Some(user), Some(system)) => (
            files::parse_u64(&dir.join("cpuacct.usage_user"), user.trim())?,
            files::parse_u64(&dir.join("cpuacct.usage_sys"), system.trim())?,
        ),
        _ => {
            let stat = files::read_flat_keyed(&dir.join("cpuacct.stat"))?;
            // SAFETY: sysconf has no preconditions.
            let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
            let ns = |key: &str| stat.get(key).copied().unwrap_or(0) * (1_000_000_000 / ticks_per_second);
            (ns("user"), ns("system"))
        }
    };
    let per_cpu_path = dir.join("cpuacct.usage_percpu");
    let per_cpu_ns = match files::read_optional(&per_cpu_path)? {
        Some(text) => stats::parse_per_cpu(&per_cpu_path, &text)?,
        None => Vec::new(),
    };
    Ok(CpuStats { usage_ns, user_ns, system_ns, per_cpu_ns, ..Default::default() })
}

/// memory: usage, peak, limit (None when unlimited), memory.stat and the OOM kill count.
fn memory(dir: &Path) -> Result<MemoryStats, CgroupError> {
    let limit = files::read_u64(&dir.join("memory.limit_in_bytes"))?;
    let control = files::read_flat_keyed(&dir.join("memory.oom_control"))?;
    Ok(MemoryStats {
        usage: files::read_u64(&dir.join("memory.usage_in_bytes"))?,
        max_usage: Some(files::read_u64(&dir.join("memory.max_usage_in_bytes"))?),
        limit: (limit < V1_UNLIMITED).then_some(limit),
        stat: files::read_flat_keyed(&dir.join("memory.stat"))?,
        oom_kills: control.get("oom_kill").copied().unwrap_or(0),
    })
}

/// blkio bytes per device: the throttle counters (always kept), else BFQ's.
fn blkio(dir: &Path) -> Result<IoStats, CgroupError> {
    for file in ["blkio.throttle.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive"] {
        let path = dir.join(file);
        if let Some(text) = files::read_optional(&path)? {
            return stats::parse_blkio_service_bytes(&path, &text);
        }
    }
    Ok(IoStats::default())
}
