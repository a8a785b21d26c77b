//! Where the host's cgroup hierarchies are: one cgroup2 tree, or one v1 mount per controller.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// The cgroup hierarchies kapsel places containers in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Legacy (or hybrid) host: each v1 controller's hierarchy mount; co-mounted controllers share one path.
    V1 {
        /// Controller name → the mount point of its hierarchy.
        mounts: BTreeMap<String, PathBuf>,
    },
    /// Unified host: the cgroup2 mount.
    V2 {
        /// The cgroup2 mount point, normally /sys/fs/cgroup.
        root: PathBuf,
    },
}

/// The v1 controllers kapsel knows; other mount options (name=systemd, xattr, …) are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

impl Layout {
    /// Finds the host's layout: V2 when /sys/fs/cgroup is itself cgroup2, else V1 from mountinfo.
    ///
    /// A hybrid host (v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified) is V1: the
    /// unified mount holds no controller kapsel limits with.
    pub fn detect() -> io::Result<Layout> {
        let root = Path::new("/sys/fs/cgroup");
        let fs = nix::sys::statfs::statfs(root).map_err(io::Error::from)?;
        if fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC {
            return Ok(Layout::V2 { root: root.to_owned() });
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        let mounts = v1_mounts(&mountinfo);
        if mounts.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no cgroup2 at /sys/fs/cgroup and no cgroup v1 controller mounted",
            ));
        }
        Ok(Layout::V1 { mounts })
    }

    /// 1 or 2, as Docker's /info reports `CgroupVersion`.
    pub fn version(&self) -> u8 {
        match self {
            Layout::V1 { .. } => 1,
            Layout::V2 { .. } => 2,
        }
    }

    /// v1: each distinct hierarchy mount once, with the controllers it carries.
    pub fn v1_hierarchies(&self) -> Vec<(PathBuf, Vec<String>)> {
        let Layout::V1 { mounts } = self else {
            return Vec::new();
        };
        let mut by_mount: BTreeMap<&PathBuf, Vec<String>> = BTreeMap::new();
        for (controller, mount) in mounts {
            by_mount.entry(mount).or_default().push(controller.clone());
        }
        by_mount.into_iter().map(|(mount, controllers)| (mount.clone(), controllers)).collect()
    }
}

/// Parses /proc/self/mountinfo into controller → hierarchy mount point for v1 controllers.
///
/// Line format (proc(5)): `id parent major:minor root mount-point options [optional…] - fstype
/// source super-options`. v1 hierarchies have fstype `cgroup` and list their controllers in the
/// super options (`rw,cpu,cpuacct`). Named hierarchies without controllers (name=systemd) are
/// skipped; the first mount of a controller wins when a hierarchy is mounted twice.
pub fn v1_mounts(mountinfo: &str) -> BTreeMap<String, PathBuf> {
    let known: BTreeSet<&str> = V1_CONTROLLERS.iter().copied().collect();
    let mut mounts = BTreeMap::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let mut tail = after.split_whitespace();
        let (Some("cgroup"), Some(_source), Some(super_options)) = (tail.next(), tail.next(), tail.next()) else {
            continue;
        };
        let Some(mount_point) = before.split_whitespace().nth(4) else {
            continue;
        };
        let mount_point = PathBuf::from(unescape_octal(mount_point));
        for option in super_options.split(',') {
            if known.contains(option) {
                mounts.entry(option.to_owned()).or_insert_with(|| mount_point.clone());
            }
        }
    }
    mounts
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011` tab, `\012` newline, `\134` backslash).
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 4);
        match escape {
            Some(digits) if bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)) => {
                let value = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This development host's /proc/self/mountinfo (hybrid: v1 controllers + cgroup2 "unified").
    const HYBRID: &str = "\
22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_host_gives_eight_v1_controllers() {
        let mounts = v1_mounts(HYBRID);
        let names: Vec<&str> = mounts.keys().map(String::as_str).collect();
        assert_eq!(names, ["blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"]);
        assert_eq!(mounts["memory"], Path::new("/sys/fs/cgroup/memory"));
        assert!(!mounts.values().any(|m| m.ends_with("systemd") || m.ends_with("unified")));
        let layout = Layout::V1 { mounts };
        assert_eq!(layout.version(), 1);
        assert_eq!(layout.v1_hierarchies().len(), 8);
    }

    #[test]
    fn co_mounted_controllers_share_one_hierarchy() {
        let mountinfo = "\
25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:10 - cgroup cgroup rw,net_cls,net_prio
27 24 0:24 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory
28 24 0:25 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory
";
        let mounts = v1_mounts(mountinfo);
        assert_eq!(mounts["cpu"], mounts["cpuacct"]);
        assert_eq!(mounts["cpu"], Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        let hierarchies = Layout::V1 { mounts }.v1_hierarchies();
        assert_eq!(hierarchies.len(), 3);
        let cpu = hierarchies.iter().find(|(mount, _)| mount.ends_with("cpu,cpuacct")).unwrap();
        assert_eq!(cpu.1, ["cpu", "cpuacct"]);
    }

    #[test]
    fn escaped_mount_points_and_pure_v2() {
        let mountinfo = "30 24 0:26 / /mnt/my\\040cgroups rw - cgroup none rw,pids\n";
        assert_eq!(v1_mounts(mountinfo)["pids"], Path::new("/mnt/my cgroups"));
        let v2_only = "30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert!(v1_mounts(v2_only).is_empty());
    }

    #[test]
    fn detect_on_this_host() {
        let layout = Layout::detect().unwrap();
        match &layout {
            Layout::V2 { root } => assert_eq!(root, Path::new("/sys/fs/cgroup")),
            Layout::V1 { mounts } => assert!(!mounts.contains_key("name=systemd")),
        }
    }
}
