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
