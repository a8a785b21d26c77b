//! Container cgroups on v1 (legacy/hybrid) and v2 (unified) hosts, written straight to cgroupfs.

mod cgroup;
mod error;
mod files;
mod layout;
mod resources;
mod stats;
mod v1;
mod v2;
mod wait;

#[cfg(test)]
mod tests_real;
#[cfg(test)]
mod tests_v2;

pub use cgroup::Cgroup;
pub use error::CgroupError;
pub use layout::Layout;
pub use resources::{CpuMax, Resources, cpu_shares_to_weight};
pub use stats::{CgroupStats, CpuStats, IoDeviceStats, IoStats, MemoryStats, PidsStats};

/// The parent of all container cgroups in every hierarchy: containers live at `<hierarchy>/kapsel/<id>`.
pub const KAPSEL_CGROUP_PARENT: &str = "kapsel";

/// The cgroup path of container `id` below each hierarchy root: "kapsel/<id>".
pub fn container_cgroup_path(id: &str) -> String {
    format!("{KAPSEL_CGROUP_PARENT}/{id}")
}

/// Removes the shared `kapsel` parent from every hierarchy when no container cgroup is left in
/// it, so a stopped daemon leaves the cgroup tree as it found it; a busy parent stays.
pub fn remove_empty_parent(layout: &Layout) {
    let roots: Vec<std::path::PathBuf> = match layout {
        Layout::V1 { .. } => layout.v1_hierarchies().into_iter().map(|(mount, _)| mount).collect(),
        Layout::V2 { root } => vec![root.clone()],
    };
    for root in roots {
        let parent = root.join(KAPSEL_CGROUP_PARENT);
        let has_children = std::fs::read_dir(&parent)
            .map(|entries| entries.flatten().any(|e| e.file_type().is_ok_and(|t| t.is_dir())))
            .unwrap_or(true);
        if !has_children {
            let _ = std::fs::remove_dir(&parent);
        }
    }
}

/// Which limits the host's cgroups can enforce, as `/info` reports them (MemoryLimit,
/// SwapLimit, CpuCfsQuota…).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// Memory limits.
    pub memory: bool,
    /// Swap limits.
    pub swap: bool,
    /// CFS quota and period.
    pub cpu_cfs: bool,
    /// CPU shares (v1) or weight (v2).
    pub cpu_shares: bool,
    /// cpusets.
    pub cpuset: bool,
    /// pids limits.
    pub pids: bool,
}

/// Reads what the layout's controllers offer.
pub fn features(layout: &Layout) -> Features {
    match layout {
        Layout::V1 { mounts } => {
            let has = |controller: &str, file: &str| mounts.get(controller).is_some_and(|m| m.join(file).exists());
            Features {
                memory: has("memory", "memory.limit_in_bytes"),
                swap: has("memory", "memory.memsw.limit_in_bytes"),
                cpu_cfs: has("cpu", "cpu.cfs_quota_us"),
                cpu_shares: has("cpu", "cpu.shares"),
                cpuset: has("cpuset", "cpuset.cpus"),
                pids: mounts.contains_key("pids"),
            }
        }
        Layout::V2 { root } => {
            let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            let has = |name: &str| controllers.split_whitespace().any(|c| c == name);
            Features {
                memory: has("memory"),
                swap: has("memory"),
                cpu_cfs: has("cpu"),
                cpu_shares: has("cpu"),
                cpuset: has("cpuset"),
                pids: has("pids"),
            }
        }
    }
}
