//! Linux security modules on the host: whether AppArmor or SELinux is active, kapsel's default
//! AppArmor profile (loaded with `apparmor_parser` when missing), and how init puts the
//! command under a profile or label: it writes them to its procfs `attr` files, and the kernel
//! applies them at the command's execve.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Which LSMs confine processes on this host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostLsm {
    /// AppArmor is enabled and its securityfs is mounted.
    pub apparmor: bool,
    /// SELinux is enabled (selinuxfs is mounted and processes carry labels).
    pub selinux: bool,
}

impl HostLsm {
    /// Probes the running host.
    pub fn probe() -> HostLsm {
        HostLsm::probe_in(Path::new("/"))
    }

    /// Probes a host whose /sys and /proc are under `root` (tests use a directory tree).
    pub fn probe_in(root: &Path) -> HostLsm {
        let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_default();
        let apparmor = read("sys/module/apparmor/parameters/enabled").starts_with('Y')
            && root.join("sys/kernel/security/apparmor").is_dir();
        let current = read("proc/self/attr/current");
        let selinux = root.join("sys/fs/selinux/enforce").is_file()
            && !current.trim_end_matches(['\0', '\n']).is_empty()
            && current.trim_end_matches(['\0', '\n']) != "kernel";
        HostLsm { apparmor, selinux }
    }
}

/// The name of kapsel's default AppArmor profile's source, for `apparmor_parser` messages.
const PROFILE_SOURCE_NAME: &str = "kapsel-default";

/// kapsel's default AppArmor profile: everything a container normally does, minus mounting,
/// writing kernel knobs under /proc and /sys, and reading the kernel's memory or its security
/// filesystems.
fn default_profile_text(name: &str) -> String {
    format!(
        r#"#include <tunables/global>

profile {name} flags=(attach_disconnected,mediate_deleted) {{
  #include <abstractions/base>

  network,
  capability,
  file,
  umount,
  signal,
  ptrace (read, readby, trace, tracedby) peer={name},

  deny mount,
  deny pivot_root,
  deny @{{PROC}}/sysrq-trigger rwklx,
  deny @{{PROC}}/kcore rwklx,
  deny @{{PROC}}/kmem rwklx,
  deny @{{PROC}}/mem rwklx,
  deny @{{PROC}}/sys/kernel/core_pattern w,
  deny @{{PROC}}/sys/kernel/modprobe w,
  deny @{{PROC}}/sys/vm/** w,
  deny @{{PROC}}/sys/fs/** w,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
  deny /sys/kernel/debug/** rwklx,
  deny /sys/power/** w,
  deny /sys/module/** w,
}}
"#
    )
}

/// Loads kapsel's default profile unless the kernel has it already. Needs `apparmor_parser`.
pub fn ensure_default_apparmor_profile(name: &str) -> Result<(), String> {
    let loaded = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap_or_default();
    if loaded.lines().any(|line| line.split(" (").next() == Some(name)) {
        return Ok(());
    }
    let mut child = Command::new("apparmor_parser")
        .args(["-Kr", "--name", PROFILE_SOURCE_NAME])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running apparmor_parser: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(default_profile_text(name).as_bytes()).map_err(|e| format!("writing the profile: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("running apparmor_parser: {e}"))?;
    if !out.status.success() {
        return Err(format!("apparmor_parser: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

/// What init writes for the command's execve: AppArmor's `exec <profile>` and SELinux's exec
/// label, through `write(path relative to /proc/<own pid>, value)` (init passes a writer
/// confined to the container's procfs). Nothing is written for what is None.
pub fn apply_exec_labels(
    apparmor_profile: Option<&str>,
    selinux_label: Option<&str>,
    mut write: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    if let Some(profile) = apparmor_profile {
        let value = format!("exec {profile}");
        // Kernels with LSM stacking have AppArmor's own directory; older ones only the shared file.
        write("attr/apparmor/exec", &value)
            .or_else(|_| write("attr/exec", &value))
            .map_err(|e| format!("applying AppArmor profile {profile:?}: {e}"))?;
    }
    if let Some(label) = selinux_label {
        write("attr/exec", label).map_err(|e| format!("applying SELinux label {label:?}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_apparmor_and_selinux_from_sysfs_and_procfs() {
        let root = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        assert_eq!(HostLsm::probe_in(root.path()), HostLsm::default());
        put("sys/module/apparmor/parameters/enabled", "Y\n");
        assert!(!HostLsm::probe_in(root.path()).apparmor, "securityfs is not mounted");
        std::fs::create_dir_all(root.path().join("sys/kernel/security/apparmor")).unwrap();
        assert!(HostLsm::probe_in(root.path()).apparmor);
        put("sys/module/apparmor/parameters/enabled", "N\n");
        assert!(!HostLsm::probe_in(root.path()).apparmor);

        put("sys/fs/selinux/enforce", "1");
        put("proc/self/attr/current", "kernel\0");
        assert!(!HostLsm::probe_in(root.path()).selinux, "unlabeled processes: SELinux is off");
        put("proc/self/attr/current", "system_u:system_r:container_runtime_t:s0\0");
        assert!(HostLsm::probe_in(root.path()).selinux);
    }

    #[test]
    fn exec_labels_go_to_the_attr_files() {
        let mut written = Vec::new();
        apply_exec_labels(Some("kapsel-default"), Some("system_u:system_r:container_t:s0:c1,c2"), |path, value| {
            written.push((path.to_string(), value.to_string()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            written,
            [
                ("attr/apparmor/exec".to_string(), "exec kapsel-default".to_string()),
                ("attr/exec".to_string(), "system_u:system_r:container_t:s0:c1,c2".to_string()),
            ]
        );

        let mut paths = Vec::new();
        apply_exec_labels(Some("p"), None, |path, _| {
            paths.push(path.to_string());
            if path.contains("apparmor") { Err("no such file".into()) } else { Ok(()) }
        })
        .unwrap();
        assert_eq!(paths, ["attr/apparmor/exec", "attr/exec"], "falls back to the old file");

        let err = apply_exec_labels(None, Some("l"), |_, _| Err("permission denied".into())).unwrap_err();
        assert!(err.contains("SELinux") && err.contains("permission denied"));
        apply_exec_labels(None, None, |_, _| panic!("nothing to write")).unwrap();
    }

    #[test]
    fn the_default_profile_names_itself() {
        let text = default_profile_text("kapsel-default");
        assert!(text.contains("profile kapsel-default flags="));
        assert!(text.contains("deny mount,"));
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }
}
