//! The container's /sys/fs/cgroup. With a private cgroup namespace it gets fresh cgroup mounts,
//! which show the container's own cgroup as their root: one cgroup2 mount on a pure-v2 host, or a
//! tmpfs holding one mount per v1 hierarchy (and the hybrid `unified` cgroup2) otherwise. With the
//! host's cgroup namespace each hierarchy's directory of the container is bound instead, as runc
//! does, so the container still sees only its own subtree.

use std::os::fd::{AsFd, BorrowedFd};

use nix::fcntl::OFlag;
use nix::mount::MsFlags;

use super::error::{Context, InitError, Result};
use super::mounts;
use super::paths::{Create, ensure_in_root, open_in_root};

/// Where cgroups live, on the host and inside.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One cgroup filesystem mounted on the host, from /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// The directory of the hierarchy that is mounted (field 4; "/" unless namespaced).
    pub root: String,
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: String,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: String,
    /// Superblock options: `rw,memory`, `rw,xattr,name=systemd`, …
    pub super_options: String,
}

impl CgroupMount {
    /// The options to mount this v1 hierarchy again: its controllers and `name=`, never `rw`/`ro`
    /// or the `release_agent` (refused inside a cgroup namespace).
    pub fn v1_options(&self) -> String {
        self.super_options
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent="))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The name of its directory under /sys/fs/cgroup (`memory`, `cpu,cpuacct`, `unified`).
    pub fn dir_name(&self) -> &str {
        self.mount_point.strip_prefix(CGROUP_ROOT).unwrap_or("").trim_start_matches('/')
    }
}

/// The cgroup mounts at or below /sys/fs/cgroup in a mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut found = Vec::new();
    for line in text.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = before.split(' ').collect();
        let tail: Vec<&str> = after.split(' ').collect();
        if fields.len() < 5 || tail.len() < 3 {
            continue;
        }
        let fstype = tail[0];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let mount_point = unescape(fields[4]);
        if mount_point != CGROUP_ROOT && !mount_point.starts_with("/sys/fs/cgroup/") {
            continue;
        }
        found.push(CgroupMount {
            root: unescape(fields[3]),
            mount_point,
            fstype: fstype.to_string(),
            super_options: tail[2].to_string(),
        });
    }
    found
}

/// The cgroup path of this process in the hierarchy `mount` shows, from /proc/self/cgroup.
pub fn own_path(proc_self_cgroup: &str, mount: &CgroupMount) -> Option<String> {
    let options = mount.v1_options();
    let wanted: Vec<&str> = if mount.fstype == "cgroup2" {
        Vec::new()
    } else {
        let mut list: Vec<&str> = options
            .split(',')
            .filter(|o| !o.is_empty() && (o.starts_with("name=") || !o.contains('=')))
            .filter(|o| !matches!(*o, "xattr" | "noprefix" | "clone_children" | "cpuset_v2_mode"))
            .collect();
        list.sort_unstable();
        list
    };
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let mut have: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
        have.sort_unstable();
        (have == wanted).then(|| path.to_string())
    })
}

/// Mounts the container's /sys/fs/cgroup inside `root` (before pivot_root, while the host's
/// cgroup directories are still reachable). `host_mounts` (from mountinfo) and
/// `proc_self_cgroup` are the host's view, read before any container mount.
pub fn mount(
    root: BorrowedFd<'_>,
    host_mounts: &[CgroupMount],
    proc_self_cgroup: &str,
    host_namespace: bool,
    readonly: bool,
) -> Result<()> {
    if host_mounts.is_empty() {
        return Ok(());
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let pure_v2 = host_mounts.iter().find(|m| m.mount_point == CGROUP_ROOT && m.fstype == "cgroup2");
    if let Some(unified) = pure_v2 {
        mount_hierarchy(root, CGROUP_ROOT, unified, proc_self_cgroup, host_namespace)?;
    } else {
        let target = ensure_in_root(root, CGROUP_ROOT, Create::Dir).context(|| format!("resolving {CGROUP_ROOT}"))?;
        mounts::mount_fs("tmpfs", "tmpfs", target.as_fd(), flags, "mode=755")
            .context(|| format!("mounting a tmpfs on {CGROUP_ROOT}"))?;
        for hierarchy in host_mounts.iter().filter(|m| !m.dir_name().is_empty()) {
            let dest = format!("{CGROUP_ROOT}/{}", hierarchy.dir_name());
            mount_hierarchy(root, &dest, hierarchy, proc_self_cgroup, host_namespace)?;
            link_comounted(root, hierarchy)?;
        }
    }
    if readonly {
        let mounted = open_in_root(root, CGROUP_ROOT, OFlag::O_PATH).context(|| format!("reopening {CGROUP_ROOT}"))?;
        mounts::set_attributes(mounted.as_fd(), MsFlags::MS_RDONLY, true)
            .context(|| format!("making {CGROUP_ROOT} read-only"))?;
    }
    Ok(())
}

/// Mounts one hierarchy at `dest` inside root: fresh in a private cgroup namespace, else a bind
/// of the container's own directory of it.
fn mount_hierarchy(
    root: BorrowedFd<'_>,
    dest: &str,
    hierarchy: &CgroupMount,
    proc_self_cgroup: &str,
    host_namespace: bool,
) -> Result<()> {
    let target = ensure_in_root(root, dest, Create::Dir).context(|| format!("resolving {dest}"))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if !host_namespace {
        let (fstype, options) =
            if hierarchy.fstype == "cgroup2" { ("cgroup2", String::new()) } else { ("cgroup", hierarchy.v1_options()) };
        return mounts::mount_fs(fstype, fstype, target.as_fd(), flags, &options)
            .context(|| format!("mounting {fstype} ({options}) on {dest}"));
    }
    let own = own_path(proc_self_cgroup, hierarchy)
        .ok_or_else(|| InitError::Setup(format!("no entry for {} in /proc/self/cgroup", hierarchy.mount_point)))?;
    let relative = own.strip_prefix(hierarchy.root.trim_end_matches('/')).unwrap_or(&own);
    let source_path = format!("{}/{}", hierarchy.mount_point, relative.trim_start_matches('/'));
    let source = nix::fcntl::open(
        source_path.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context(|| format!("opening {source_path}"))?;
    mounts::bind(source.as_fd(), target.as_fd(), false).context(|| format!("binding {source_path} on {dest}"))
}

/// For a co-mounted hierarchy such as `cpu,cpuacct`, the links `cpu` and `cpuacct` to it.
fn link_comounted(root: BorrowedFd<'_>, hierarchy: &CgroupMount) -> Result<()> {
    let name = hierarchy.dir_name();
    if !name.contains(',') {
        return Ok(());
    }
    let dir = open_in_root(root, CGROUP_ROOT, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .context(|| format!("reopening {CGROUP_ROOT}"))?;
    for part in name.split(',') {
        match nix::unistd::symlinkat(name, dir.as_fd(), part) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(errno) => {
                return Err(errno).context(|| format!("linking {CGROUP_ROOT}/{part}"));
            }
        }
    }
    Ok(())
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(digits)) = (bytes[i], octal) {
            let value = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(value as u8);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 27 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
";

    const SELF_CGROUP: &str = "\
12:memory:/kapsel/abc
11:cpu,cpuacct:/kapsel/abc
1:name=systemd:/kapsel/abc
0::/kapsel/abc
";

    #[test]
    fn finds_the_hierarchies() {
        let mounts = parse_mountinfo(HYBRID);
        let names: Vec<&str> = mounts.iter().map(|m| m.dir_name()).collect();
        assert_eq!(names, ["cpu,cpuacct", "memory", "systemd", "unified"]);
        assert_eq!(mounts[0].v1_options(), "cpu,cpuacct");
        assert_eq!(mounts[2].v1_options(), "xattr,name=systemd");
        assert_eq!(mounts[3].fstype, "cgroup2");
    }

    #[test]
    fn finds_own_paths() {
        let mounts = parse_mountinfo(HYBRID);
        for mount in &mounts {
            assert_eq!(own_path(SELF_CGROUP, mount).as_deref(), Some("/kapsel/abc"), "{}", mount.mount_point);
        }
    }

    #[test]
    fn pure_v2_is_one_mount() {
        let mounts = parse_mountinfo("30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].dir_name(), "");
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/mnt/with\\040space"), "/mnt/with space");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\"), "/end\\");
    }
}
