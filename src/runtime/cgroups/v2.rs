//! cgroup v2 (unified): one directory per container, controllers delegated via `subtree_control`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::CgroupError;
use super::files;
use super::resources::{self, CpuMax, Resources};
use super::stats::{self, CgroupStats, CpuStats, MemoryStats, PidsStats};
use super::wait;

/// The controllers kapsel enables for container cgroups.
pub const CONTROLLERS: [&str; 5] = ["cpuset", "cpu", "io", "memory", "pids"];

/// Creates `root/relative` level by level, enabling [`CONTROLLERS`] in every ancestor's
/// `cgroup.subtree_control` (root included, leaf excluded) before creating its child.
pub fn make_dirs(root: &Path, relative: &Path) -> Result<PathBuf, CgroupError> {
    let mut dir = root.to_owned();
    for component in relative.components() {
        enable_controllers(&dir)?;
        dir.push(component);
        files::make_dir(&dir)?;
    }
    Ok(dir)
}

/// Enables in `dir`'s children those of [`CONTROLLERS`] that `dir` itself has and has not enabled yet.
fn enable_controllers(dir: &Path) -> Result<(), CgroupError> {
    let available = files::read(&dir.join("cgroup.controllers"))?;
    let subtree_control = dir.join("cgroup.subtree_control");
    let enabled = files::read(&subtree_control)?;
    let missing: Vec<&str> = CONTROLLERS
        .into_iter()
        .filter(|controller| available.split_whitespace().any(|c| c == *controller))
        .filter(|controller| !enabled.split_whitespace().any(|c| c == *controller))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    if files::write(&subtree_control, &all.join(" ")).is_ok() {
        return Ok(());
    }
    // The kernel rejects the whole write when one controller can't be enabled; enable the others
    // one by one (runc does the same). A limit that needs a missing one fails later, naming its file.
    for controller in missing {
        if let Err(error) = files::write(&subtree_control, &format!("+{controller}")) {
            tracing::warn!(%error, controller, "cannot enable cgroup controller");
        }
    }
    Ok(())
}

/// Writes the limits that `resources` gives into the container directory `dir`.
pub fn apply(dir: &Path, resources: &Resources) -> Result<(), CgroupError> {
    apply_memory(dir, resources)?;
    if let Some(shares) = resources.shares() {
        let weight = resources::cpu_shares_to_weight(shares);
        files::write(&dir.join("cpu.weight"), &weight.to_string())?;
    }
    if let Some(cpu_max) = resources.cpu_max() {
        apply_cpu_max(dir, cpu_max)?;
    }
    if let Some(cpus) = resources.cpus() {
        files::write(&dir.join("cpuset.cpus"), cpus)?;
    }
    if let Some(mems) = resources.mems() {
        files::write(&dir.join("cpuset.mems"), mems)?;
    }
    if let Some(pids_max) = resources.pids_max() {
        files::write(&dir.join("pids.max"), &pids_max)?;
    }
    if let Some(weight) = resources.blkio() {
        apply_io_weight(dir, weight)?;
    }
    Ok(())
}

/// memory.max, memory.swap.max (only when a swap value is asked for) and memory.low.
fn apply_memory(dir: &Path, resources: &Resources) -> Result<(), CgroupError> {
    let memory = resources.memory_limit();
    // Computed first so an invalid request changes nothing. Unlimited memory without a swap
    // value also lifts swap, as runc does; otherwise swap.max is never touched unless asked
    // (cgroups-rs writes 0 there, which silently disables swap).
    let swap = match (resources.memory_swap_limit(), memory) {
        (Some(swap), _) => {
            let memory_in_force = match memory {
                Some(memory) => Some(memory),
                None => files::read_u64_or_max(&dir.join("memory.max"))?.map(|m| m as i64),
            };
            Some(resources::v2_swap_max(swap, memory_in_force)?)
        }
        (None, Some(memory)) if memory < 0 => Some("max".to_owned()),
        (None, _) => None,
    };
    if let Some(memory) = memory {
        files::write(&dir.join("memory.max"), &resources::v2_limit(memory))?;
    }
    if let Some(swap) = swap {
        match files::write(&dir.join("memory.swap.max"), &swap) {
            Err(error) if error.is_not_found() => {
                tracing::warn!(%error, "no swap accounting on this host; swap limit ignored");
            }
            result => result?,
        }
    }
    if let Some(reservation) = resources.memory_soft_limit() {
        // memory.low's "no protection" is 0 (v1's unlimited soft limit is -1).
        let low = reservation.max(0).to_string();
        files::write(&dir.join("memory.low"), &low)?;
    }
    Ok(())
}

/// cpu.max = "<quota> <period>" (quota "max" when unlimited); a part not given keeps its current value.
fn apply_cpu_max(dir: &Path, cpu_max: CpuMax) -> Result<(), CgroupError> {
    let path = dir.join("cpu.max");
    let (quota, period) = match (cpu_max.quota, cpu_max.period) {
        (Some(quota), Some(period)) => (quota_text(quota), period.to_string()),
        (quota, period) => {
            let current = files::read(&path)?;
            let mut fields = current.split_whitespace();
            let (Some(current_quota), Some(current_period)) = (fields.next(), fields.next()) else {
                return Err(CgroupError::Parse {
                    path,
                    detail: format!("expected \"<quota> <period>\", found {current:?}"),
                });
            };
            (
                quota.map_or(current_quota.to_owned(), quota_text),
                period.map_or(current_period.to_owned(), |p| p.to_string()),
            )
        }
    };
    files::write(&path, &format!("{quota} {period}"))
}

/// A CFS quota as cpu.max spells it.
fn quota_text(quota: i64) -> String {
    if quota < 0 { "max".to_owned() } else { quota.to_string() }
}

/// io.bfq.weight (v1 scale) when BFQ is there, else io.weight (converted), as runc's fs2/io.go.
fn apply_io_weight(dir: &Path, weight: u16) -> Result<(), CgroupError> {
    match files::write(&dir.join("io.bfq.weight"), &weight.to_string()) {
        Err(error) if error.is_not_found() => {}
        result => return result,
    }
    let io_weight = resources::blkio_weight_to_io_weight(weight);
    match files::write(&dir.join("io.weight"), &io_weight.to_string()) {
        Err(error) if error.is_not_found() => {
            tracing::warn!(%error, "no io.weight or io.bfq.weight on this host; blkio weight ignored");
            Ok(())
        }
        result => result,
    }
}

/// How many times the OOM killer fired in the cgroup: `oom_kill` of memory.events.
pub fn oom_kill_count(dir: &Path) -> Result<u64, CgroupError> {
    let events = files::parse_flat_keyed(&dir.join("memory.events"), &files::read(&dir.join("memory.events"))?)?;
    Ok(events.get("oom_kill").copied().unwrap_or(0))
}

/// Freezes every process of the cgroup and waits until the kernel reports `frozen 1`.
pub fn freeze(dir: &Path) -> Result<(), CgroupError> {
    files::write(&dir.join("cgroup.freeze"), "1")?;
    let events = dir.join("cgroup.events");
    wait::until(&events, "frozen 1 in cgroup.events", FREEZE_TIMEOUT, || {
        let text = files::read(&events)?;
        Ok(files::parse_flat_keyed(&events, &text)?.get("frozen") == Some(&1))
    })
}

/// How long a freeze may take before we give up.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Lets the cgroup's processes run again.
pub fn thaw(dir: &Path) -> Result<(), CgroupError> {
    files::write(&dir.join("cgroup.freeze"), "0")
}

/// SIGKILLs the whole cgroup through cgroup.kill; `Ok(false)` when the kernel has none (< 5.14).
pub fn kill_via_cgroup_kill(dir: &Path) -> Result<bool, CgroupError> {
    match files::write(&dir.join("cgroup.kill"), "1") {
        Ok(()) => Ok(true),
        Err(error) if error.is_not_found() && dir.exists() => Ok(false),
        Err(error) => Err(error),
    }
}

/// Reads the counters of the container directory `dir`; files of controllers not enabled give zeros.
pub fn stats(dir: &Path) -> Result<CgroupStats, CgroupError> {
    if !dir.is_dir() {
        return Err(CgroupError::Read { path: dir.to_owned(), source: std::io::ErrorKind::NotFound.into() });
    }
    let cpu_stat = files::read_flat_keyed(&dir.join("cpu.stat"))?;
    let usec = |key: &str| cpu_stat.get(key).copied().unwrap_or(0).saturating_mul(1000);
    let cpu = CpuStats {
        usage_ns: usec("usage_usec"),
        user_ns: usec("user_usec"),
        system_ns: usec("system_usec"),
        per_cpu_ns: Vec::new(),
        periods: cpu_stat.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: cpu_stat.get("nr_throttled").copied().unwrap_or(0),
        throttled_ns: usec("throttled_usec"),
    };
    let events = files::read_flat_keyed(&dir.join("memory.events"))?;
    let memory = MemoryStats {
        usage: optional_u64(&dir.join("memory.current"))?.unwrap_or(0),
        max_usage: optional_u64(&dir.join("memory.peak"))?,
        limit: optional_u64_or_max(&dir.join("memory.max"))?,
        stat: files::read_flat_keyed(&dir.join("memory.stat"))?,
        oom_kills: events.get("oom_kill").copied().unwrap_or(0),
    };
    let pids = PidsStats {
        current: optional_u64(&dir.join("pids.current"))?.unwrap_or(0),
        limit: optional_u64_or_max(&dir.join("pids.max"))?,
    };
    let io_path = dir.join("io.stat");
    let io = match files::read_optional(&io_path)? {
        Some(text) => stats::parse_io_stat(&io_path, &text)?,
        None => Default::default(),
    };
    Ok(CgroupStats { cpu, memory, pids, io })
}

/// A one-number file, or `None` when it does not exist.
fn optional_u64(path: &Path) -> Result<Option<u64>, CgroupError> {
    match files::read_optional(path)? {
        Some(text) => files::parse_u64(path, text.trim()).map(Some),
        None => Ok(None),
    }
}

/// A number-or-"max" file; `None` when "max" or absent.
fn optional_u64_or_max(path: &Path) -> Result<Option<u64>, CgroupError> {
    match files::read_optional(path)? {
        Some(text) if text.trim() != "max" => files::parse_u64(path, text.trim()).map(Some),
        _ => Ok(None),
    }
}
