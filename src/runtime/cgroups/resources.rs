//! The limits a container asks for, in Docker's terms, and their conversions to cgroup values.

use serde::{Deserialize, Serialize};

use super::error::CgroupError;

/// Limits as Docker's HostConfig states them (0/None = unset).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Memory limit in bytes (`--memory`); -1 = unlimited.
    pub memory: Option<i64>,
    /// Memory plus swap in bytes (`--memory-swap`); -1 = unlimited swap.
    pub memory_swap: Option<i64>,
    /// Soft memory limit in bytes (`--memory-reservation`).
    pub memory_reservation: Option<i64>,
    /// CPUs × 1e9 (`--cpus`); becomes a quota over a 100 ms period.
    pub nano_cpus: Option<i64>,
    /// Relative CPU weight in v1 units, 2..262144 (`--cpu-shares`).
    pub cpu_shares: Option<u64>,
    /// CFS quota in µs per period (`--cpu-quota`); -1 = unlimited.
    pub cpu_quota: Option<i64>,
    /// CFS period in µs (`--cpu-period`).
    pub cpu_period: Option<u64>,
    /// CPUs the container may run on, e.g. "0-1" (`--cpuset-cpus`).
    pub cpuset_cpus: Option<String>,
    /// NUMA nodes the container may allocate from (`--cpuset-mems`).
    pub cpuset_mems: Option<String>,
    /// Process limit (`--pids-limit`); 0 or -1 = unlimited, None = leave alone.
    pub pids_limit: Option<i64>,
    /// Block IO weight, 10..1000 (`--blkio-weight`).
    pub blkio_weight: Option<u16>,
}

/// The CFS bandwidth a container asks for; `None` fields are left as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMax {
    /// µs of CPU time per period; `Some(-1)` (any negative) = unlimited.
    pub quota: Option<i64>,
    /// The period in µs.
    pub period: Option<u64>,
}

/// The CFS period Docker uses for `--cpus`: 100 ms.
pub const NANO_CPUS_PERIOD_US: u64 = 100_000;

/// Docker's value 0 means "unset": keep only values that differ from the default.
fn given<T: Default + PartialEq>(value: Option<T>) -> Option<T> {
    value.filter(|value| *value != T::default())
}

impl Resources {
    /// The memory limit to apply, if one was given (-1 = unlimited).
    pub fn memory_limit(&self) -> Option<i64> {
        given(self.memory)
    }

    /// The memory+swap limit to apply, if one was given (-1 = unlimited).
    pub fn memory_swap_limit(&self) -> Option<i64> {
        given(self.memory_swap)
    }

    /// The soft memory limit to apply, if one was given.
    pub fn memory_soft_limit(&self) -> Option<i64> {
        given(self.memory_reservation)
    }

    /// The CPU shares to apply, if given.
    pub fn shares(&self) -> Option<u64> {
        given(self.cpu_shares)
    }

    /// The CFS quota and period, from `nano_cpus` when given, else from quota/period.
    ///
    /// `--cpus` wins over `--cpu-quota`/`--cpu-period` (Docker refuses to combine them). The
    /// conversion is moby's (daemon/daemon_unix.go, getCPUResources): period = 100 000 µs,
    /// quota = NanoCPUs × period / 1e9, so `--cpus 0.5` → "50000 100000".
    pub fn cpu_max(&self) -> Option<CpuMax> {
        if let Some(nano_cpus) = given(self.nano_cpus) {
            let quota = nano_cpus.saturating_mul(NANO_CPUS_PERIOD_US as i64) / 1_000_000_000;
            return Some(CpuMax { quota: Some(quota), period: Some(NANO_CPUS_PERIOD_US) });
        }
        let cpu_max = CpuMax { quota: given(self.cpu_quota), period: given(self.cpu_period) };
        (cpu_max.quota.is_some() || cpu_max.period.is_some()).then_some(cpu_max)
    }

    /// The cpuset CPU list to apply, if one was given.
    pub fn cpus(&self) -> Option<&str> {
        self.cpuset_cpus.as_deref().filter(|cpus| !cpus.is_empty())
    }

    /// The cpuset memory-node list to apply, if one was given.
    pub fn mems(&self) -> Option<&str> {
        self.cpuset_mems.as_deref().filter(|mems| !mems.is_empty())
    }

    /// The `pids.max` value to write: the number, or "max" for 0/-1; None leaves it alone.
    pub fn pids_max(&self) -> Option<String> {
        self.pids_limit.map(|limit| if limit > 0 { limit.to_string() } else { "max".to_owned() })
    }

    /// The block IO weight to apply, if one was given.
    pub fn blkio(&self) -> Option<u16> {
        given(self.blkio_weight)
    }
}

/// Formats a byte limit for v2 files, where unlimited is spelled "max".
pub fn v2_limit(bytes: i64) -> String {
    if bytes < 0 { "max".to_owned() } else { bytes.to_string() }
}

/// Converts v1 CPU shares (2..262144, default 1024) to a v2 `cpu.weight` (1..10000, default 100).
///
/// The curve is the one runc ≥ 1.3.2 (opencontainers/cgroups `ConvertCPUSharesToCgroupV2Value`,
/// runc PR #4785), crun ≥ 1.23 (`convert_shares_to_weight`) and youki (`convert_shares_to_cgroup2`)
/// switched to: with l = log2(shares), weight = ⌈10^((l² + 125·l)/612 − 7/34)⌉. It is quadratic in
/// log space and fits the three fixed points 2 → 1, 1024 → 100, 262144 → 10000, so Docker's
/// default shares map to v2's default weight (the older linear formula gave 1024 → 39).
/// 0 means "unset" and stays 0.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    const MAX_SHARES: u64 = 262_144;
    const MAX_WEIGHT: u64 = 10_000;
    match shares {
        0 => 0,
        1..=2 => 1,
        MAX_SHARES.. => MAX_WEIGHT,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            (10f64.powf(exponent).ceil() as u64).clamp(1, MAX_WEIGHT)
        }
    }
}

/// Converts a v1 blkio weight (10..1000) to a v2 `io.weight` (1..10000), linearly.
///
/// Same mapping as opencontainers/cgroups `ConvertBlkIOToIOWeightValue`: 1 + (w − 10)·9999/990,
/// so 10 → 1, 500 → 4950, 1000 → 10000. Only for `io.weight`; `io.bfq.weight` takes v1's scale.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let weight = u64::from(weight.clamp(10, 1000));
    1 + (weight - 10) * 9999 / 990
}

/// The v2 `memory.swap.max` value for Docker's memory+swap total.
///
/// v1's memsw counts memory plus swap, v2's swap.max counts swap alone, so subtract the memory
/// limit (rules as in opencontainers/cgroups `ConvertMemorySwapToCgroupV2Value`): -1 → "max";
/// otherwise a memory limit is required and total − memory must not be negative.
/// `memory` is the limit in force (given now or already set); `None` = unlimited.
pub fn v2_swap_max(memory_swap: i64, memory: Option<i64>) -> Result<String, CgroupError> {
    if memory_swap < 0 {
        return Ok("max".to_owned());
    }
    let Some(memory) = memory.filter(|memory| *memory > 0) else {
        return Err(CgroupError::Invalid("a memory+swap limit needs a memory limit".to_owned()));
    };
    if memory_swap < memory {
        return Err(CgroupError::Invalid(format!(
            "memory+swap limit {memory_swap} is below the memory limit {memory}"
        )));
    }
    Ok((memory_swap - memory).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_fixed_points() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(1), 1);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 100);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(1_000_000), 10_000);
        // Monotonic in between.
        let weights: Vec<u64> = [3, 512, 1024, 2048, 100_000, 262_143].into_iter().map(cpu_shares_to_weight).collect();
        assert!(weights.windows(2).all(|pair| pair[0] <= pair[1]), "{weights:?}");
    }

    #[test]
    fn blkio_weight_conversion() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn nano_cpus_become_quota_over_100ms() {
        let resources = Resources { nano_cpus: Some(500_000_000), cpu_quota: Some(1), ..Default::default() };
        let cpu_max = resources.cpu_max().unwrap();
        assert_eq!(cpu_max.quota, Some(50_000));
        assert_eq!(cpu_max.period, Some(100_000));
        assert_eq!(Resources::default().cpu_max(), None);
    }

    #[test]
    fn zero_means_unset() {
        let resources =
            Resources { memory: Some(0), cpu_shares: Some(0), cpuset_cpus: Some(String::new()), ..Default::default() };
        assert_eq!(resources.memory_limit(), None);
        assert_eq!(resources.shares(), None);
        assert_eq!(resources.cpus(), None);
        assert_eq!(resources.pids_max(), None);
    }

    #[test]
    fn pids_zero_and_minus_one_are_max() {
        for (limit, expected) in [(0, "max"), (-1, "max"), (64, "64")] {
            let resources = Resources { pids_limit: Some(limit), ..Default::default() };
            assert_eq!(resources.pids_max().as_deref(), Some(expected));
        }
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(v2_swap_max(-1, Some(100)).unwrap(), "max");
        assert_eq!(v2_swap_max(-1, None).unwrap(), "max");
        assert_eq!(v2_swap_max(300, Some(100)).unwrap(), "200");
        assert_eq!(v2_swap_max(100, Some(100)).unwrap(), "0");
        assert!(v2_swap_max(50, Some(100)).is_err());
        assert!(v2_swap_max(300, None).is_err());
    }
}
