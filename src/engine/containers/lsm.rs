//! Which AppArmor profile or SELinux label a container gets. Docker's rules: on an AppArmor
//! host a container runs under `apparmor=<profile>`, or the daemon's default profile, or
//! `unconfined` when privileged; on an SELinux host each container gets its own MCS level
//! (`s0:cA,cB`, unique among the daemon's containers) in `container_t`, with `label=` options
//! overriding parts, and no label at all when privileged, sharing the host's PID or IPC
//! namespace, or with `label=disable`. Where the host runs neither, `label=` options are
//! accepted and have no effect (as with Docker), and asking for an AppArmor profile is an
//! error, since it could not be enforced.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::runtime::lsm::HostLsm;

/// The AppArmor profile containers run under unless they name another.
pub const DEFAULT_APPARMOR_PROFILE: &str = "kapsel-default";
/// The SELinux parts of a container's process label: user, role, type.
const PROCESS_LABEL: (&str, &str, &str) = ("system_u", "system_r", "container_t");
/// The SELinux parts of a container's files' label.
const FILE_LABEL: (&str, &str, &str) = ("system_u", "object_r", "container_file_t");
/// MCS categories run from c0 to c1023.
const CATEGORIES: u16 = 1024;

/// A container's LSM settings, as init applies them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LsmChoice {
    /// The AppArmor profile to exec the command under.
    pub apparmor_profile: Option<String>,
    /// The SELinux label of the command's process.
    pub selinux_process_label: Option<String>,
    /// The SELinux label of the container's root filesystem.
    pub selinux_mount_label: Option<String>,
}

/// What a container asks for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `--security-opt apparmor=<profile>`.
    pub apparmor: Option<&'a str>,
    /// `--security-opt label=…` options.
    pub labels: &'a [String],
    /// `--privileged`.
    pub privileged: bool,
    /// `--pid host` or `--ipc host`.
    pub shares_host_namespaces: bool,
}

/// Chooses the container's profile and labels; `reserve_level` gives it a unique MCS level
/// (called only when one is needed).
pub fn select(
    host: HostLsm,
    request: &Request<'_>,
    reserve_level: impl FnOnce() -> String,
) -> Result<LsmChoice, String> {
    let mut choice = LsmChoice::default();
    if host.apparmor {
        let profile = match request.apparmor {
            Some(profile) => profile,
            None if request.privileged => "unconfined",
            None => DEFAULT_APPARMOR_PROFILE,
        };
        choice.apparmor_profile = Some(profile.to_string());
    } else if request.apparmor.is_some_and(|p| p != "unconfined") {
        return Err("AppArmor is not enabled on the host".into());
    }

    let mut parts = LabelParts::default();
    for option in request.labels {
        check_label_option(option)?;
        match option.split_once(':') {
            None => parts.disable |= option == "disable",
            Some(("user", v)) => parts.user = Some(v),
            Some(("role", v)) => parts.role = Some(v),
            Some(("type", v)) => parts.process_type = Some(v),
            Some(("level", v)) => parts.level = Some(v),
            Some(("filetype", v)) => parts.file_type = Some(v),
            Some(_) => {}
        }
    }
    if host.selinux && !parts.disable && !request.privileged && !request.shares_host_namespaces {
        let level = match parts.level {
            Some(level) => level.to_string(),
            None => reserve_level(),
        };
        choice.selinux_process_label = Some(format!(
            "{}:{}:{}:{level}",
            parts.user.unwrap_or(PROCESS_LABEL.0),
            parts.role.unwrap_or(PROCESS_LABEL.1),
            parts.process_type.unwrap_or(PROCESS_LABEL.2),
        ));
        choice.selinux_mount_label =
            Some(format!("{}:{}:{}:{level}", FILE_LABEL.0, FILE_LABEL.1, parts.file_type.unwrap_or(FILE_LABEL.2)));
    }
    Ok(choice)
}

/// The parts of a label that `label=` options set.
#[derive(Default)]
struct LabelParts<'a> {
    disable: bool,
    user: Option<&'a str>,
    role: Option<&'a str>,
    process_type: Option<&'a str>,
    level: Option<&'a str>,
    file_type: Option<&'a str>,
}

/// A `label=` option: `disable`, `nested`, or `user|role|type|level|filetype:<value>`.
pub fn check_label_option(option: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "bad label option {option:?}, valid options 'disable' or 'user, role, level, type, filetype' followed by \
             ':' and a value"
        )
    };
    match option.split_once(':') {
        None if option == "disable" || option == "nested" => Ok(()),
        None => Err(bad()),
        Some((key, value)) => {
            let known = matches!(key, "user" | "role" | "type" | "level" | "filetype");
            let clean = !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c.is_control());
            if known && clean { Ok(()) } else { Err(bad()) }
        }
    }
}

/// An AppArmor profile name: non-empty, no whitespace (it is written as `exec <name>`).
pub fn check_apparmor_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("invalid AppArmor profile name {name:?}"));
    }
    Ok(())
}

/// The MCS levels in use, one per container, each a distinct pair of categories.
#[derive(Debug, Default)]
pub struct McsAllocator {
    levels: Mutex<HashMap<String, (u16, u16)>>,
}

impl McsAllocator {
    /// The container's level, `s0:cA,cB` with A < B: the one it has, or a new pair no other
    /// container holds.
    pub fn reserve(&self, id: &str) -> String {
        let mut levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&(a, b)) = levels.get(id) {
            return format_level(a, b);
        }
        let taken: std::collections::HashSet<(u16, u16)> = levels.values().copied().collect();
        let random_pair = || {
            let (a, b) = (rand::random_range(0..CATEGORIES), rand::random_range(0..CATEGORIES));
            (a.min(b), a.max(b))
        };
        let pair = (0..1000)
            .map(|_| random_pair())
            .find(|&(a, b)| a != b && !taken.contains(&(a, b)))
            .or_else(|| {
                (0..CATEGORIES)
                    .flat_map(|a| (a + 1..CATEGORIES).map(move |b| (a, b)))
                    .find(|pair| !taken.contains(pair))
            })
            // Every pair in use (over half a million containers): share one.
            .unwrap_or((0, 1));
        levels.insert(id.to_string(), pair);
        format_level(pair.0, pair.1)
    }

    /// Frees a removed container's level.
    pub fn release(&self, id: &str) {
        self.levels.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

fn format_level(a: u16, b: u16) -> String {
    format!("s0:c{a},c{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: HostLsm = HostLsm { apparmor: false, selinux: false };
    const APPARMOR: HostLsm = HostLsm { apparmor: true, selinux: false };
    const SELINUX: HostLsm = HostLsm { apparmor: false, selinux: true };

    fn request<'a>(apparmor: Option<&'a str>, labels: &'a [String]) -> Request<'a> {
        Request { apparmor, labels, privileged: false, shares_host_namespaces: false }
    }

    fn labels(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn level() -> String {
        "s0:c1,c2".to_string()
    }

    #[test]
    fn without_an_lsm_nothing_is_applied_and_apparmor_profiles_are_refused() {
        assert_eq!(select(NONE, &request(None, &[]), level).unwrap(), LsmChoice::default());
        let l = labels(&["type:spc_t", "level:s0:c5,c6"]);
        assert_eq!(select(NONE, &request(None, &l), level).unwrap(), LsmChoice::default(), "label= is a no-op");
        assert_eq!(select(NONE, &request(Some("unconfined"), &[]), level).unwrap(), LsmChoice::default());
        assert_eq!(
            select(NONE, &request(Some("my-profile"), &[]), level).unwrap_err(),
            "AppArmor is not enabled on the host"
        );
        assert!(select(NONE, &request(None, &labels(&["bogus"])), level).is_err(), "options are still checked");
    }

    #[test]
    fn apparmor_default_named_and_privileged() {
        let profile = |req: Request<'_>| select(APPARMOR, &req, level).unwrap().apparmor_profile;
        assert_eq!(profile(request(None, &[])).as_deref(), Some(DEFAULT_APPARMOR_PROFILE));
        assert_eq!(profile(request(Some("custom"), &[])).as_deref(), Some("custom"));
        assert_eq!(profile(request(Some("unconfined"), &[])).as_deref(), Some("unconfined"));
        let privileged = Request { privileged: true, ..request(None, &[]) };
        assert_eq!(profile(privileged).as_deref(), Some("unconfined"));
        let privileged_named = Request { privileged: true, ..request(Some("custom"), &[]) };
        assert_eq!(profile(privileged_named).as_deref(), Some("custom"), "an explicit profile wins, as in Docker");
        assert_eq!(select(APPARMOR, &request(None, &[]), level).unwrap().selinux_process_label, None);
    }

    #[test]
    fn selinux_gets_a_level_and_honours_overrides() {
        let choice = select(SELINUX, &request(None, &[]), level).unwrap();
        assert_eq!(choice.selinux_process_label.as_deref(), Some("system_u:system_r:container_t:s0:c1,c2"));
        assert_eq!(choice.selinux_mount_label.as_deref(), Some("system_u:object_r:container_file_t:s0:c1,c2"));
        assert_eq!(choice.apparmor_profile, None);

        let l = labels(&["type:svirt_lxc_net_t", "level:s0:c100,c200", "user:u", "role:r", "filetype:ft_t"]);
        let choice = select(SELINUX, &request(None, &l), || panic!("an explicit level needs no reservation")).unwrap();
        assert_eq!(choice.selinux_process_label.as_deref(), Some("u:r:svirt_lxc_net_t:s0:c100,c200"));
        assert_eq!(choice.selinux_mount_label.as_deref(), Some("system_u:object_r:ft_t:s0:c100,c200"));
    }

    #[test]
    fn selinux_labels_are_off_when_disabled_privileged_or_sharing_host_namespaces() {
        let disabled = labels(&["disable"]);
        assert_eq!(select(SELINUX, &request(None, &disabled), level).unwrap(), LsmChoice::default());
        let privileged = Request { privileged: true, ..request(None, &[]) };
        assert_eq!(select(SELINUX, &privileged, level).unwrap(), LsmChoice::default());
        let host_pid = Request { shares_host_namespaces: true, ..request(None, &[]) };
        assert_eq!(select(SELINUX, &host_pid, level).unwrap(), LsmChoice::default());
    }

    #[test]
    fn both_lsms_at_once() {
        let both = HostLsm { apparmor: true, selinux: true };
        let choice = select(both, &request(None, &[]), level).unwrap();
        assert!(choice.apparmor_profile.is_some() && choice.selinux_process_label.is_some());
    }

    #[test]
    fn option_checks() {
        for ok in ["disable", "nested", "type:container_t", "level:s0:c1,c2", "user:system_u", "filetype:x_t"] {
            assert!(check_label_option(ok).is_ok(), "{ok}");
        }
        for bad in ["", "type:", "colour:red", "type:has space", "enable"] {
            assert!(check_label_option(bad).is_err(), "{bad}");
        }
        assert!(check_apparmor_name("docker-default").is_ok());
        assert!(check_apparmor_name("").is_err() && check_apparmor_name("a b").is_err());
    }

    #[test]
    fn levels_are_unique_stable_and_released() {
        let mcs = McsAllocator::default();
        let first = mcs.reserve("a");
        assert_eq!(mcs.reserve("a"), first, "a container keeps its level");
        let mut seen = std::collections::HashSet::new();
        for i in 0..2000 {
            let level = mcs.reserve(&format!("c{i}"));
            let (a, b) = level.strip_prefix("s0:c").unwrap().split_once(",c").unwrap();
            let (a, b): (u16, u16) = (a.parse().unwrap(), b.parse().unwrap());
            assert!(a < b && b < CATEGORIES, "{level}");
            assert!(seen.insert(level.clone()), "{level} given twice");
        }
        assert!(!seen.contains(&first));
        mcs.release("a");
        assert_eq!(mcs.levels.lock().unwrap().len(), 2000);
    }
}
