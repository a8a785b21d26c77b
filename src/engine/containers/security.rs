//! `--security-opt` and what confines a container: its seccomp filter (built-in profile, a
//! Docker-format JSON profile, or none) and its AppArmor profile or SELinux label (see `lsm`),
//! decided from the options, `--privileged`, the capabilities and what the host offers.

use crate::engine::{Error, Result};
use crate::runtime::host::HostInfo;
use crate::runtime::lsm::HostLsm;
use crate::runtime::seccomp::{self, ProfileSource, SeccompProgram};

use super::lsm::{self, LsmChoice, McsAllocator};

/// What `--security-opt` asked for.
#[derive(Debug, Default, PartialEq)]
pub struct SecurityOptions {
    /// `no-new-privileges[=true]`.
    pub no_new_privileges: bool,
    /// `seccomp=…`.
    pub seccomp: SeccompChoice,
    /// `apparmor=<profile>`.
    pub apparmor: Option<String>,
    /// `label=…` options (`disable`, `type:T`, `level:L`, `user:U`, `role:R`, `filetype:T`).
    pub labels: Vec<String>,
}

/// The seccomp profile asked for.
#[derive(Debug, Default, PartialEq)]
pub enum SeccompChoice {
    /// kapsel's built-in profile (also `seccomp=builtin`).
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// `seccomp=<json>`: the docker CLI sends the profile file's content.
    Profile(String),
}

/// Reads `--security-opt` as dockerd does (`key=value`, the old `key:value`, and the bare
/// `no-new-privileges` and `disable`).
pub fn parse(options: &[String]) -> Result<SecurityOptions> {
    let mut security = SecurityOptions::default();
    for option in options {
        if option == "no-new-privileges" {
            security.no_new_privileges = true;
            continue;
        }
        if option == "disable" {
            security.labels.push("disable".into());
            continue;
        }
        let invalid = || Error::InvalidArgument(format!("invalid --security-opt: {option:?}"));
        let (key, value) = option.split_once(['=', ':']).ok_or_else(invalid)?;
        match key {
            "no-new-privileges" => {
                security.no_new_privileges = match value {
                    "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                    "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                    _ => return Err(Error::InvalidArgument(format!("invalid --security-opt 2: {option:?}"))),
                }
            }
            "seccomp" => {
                security.seccomp = match value {
                    "unconfined" => SeccompChoice::Unconfined,
                    "builtin" | "" => SeccompChoice::Default,
                    json => {
                        seccomp::profile::Profile::parse(json).map_err(Error::InvalidArgument)?;
                        SeccompChoice::Profile(json.to_string())
                    }
                }
            }
            "apparmor" => {
                lsm::check_apparmor_name(value).map_err(Error::InvalidArgument)?;
                security.apparmor = Some(value.to_string());
            }
            "label" => {
                lsm::check_label_option(value).map_err(Error::InvalidArgument)?;
                security.labels.push(value.to_string());
            }
            _ => return Err(invalid()),
        }
    }
    Ok(security)
}

/// What a tenant may not ask for (the admin may): anything that loosens the confinement
/// kapsel chooses. A custom seccomp profile counts, since it may allow everything.
pub fn tenant_refusal(security: &SecurityOptions) -> Option<&'static str> {
    match security.seccomp {
        SeccompChoice::Unconfined => return Some("--security-opt seccomp=unconfined"),
        SeccompChoice::Profile(_) => return Some("--security-opt seccomp=<profile>"),
        SeccompChoice::Default => {}
    }
    if security.apparmor.is_some() {
        return Some("--security-opt apparmor=…");
    }
    if !security.labels.is_empty() {
        return Some("--security-opt label=…");
    }
    None
}

/// The host's confinement facilities and the daemon's compiled filters.
#[derive(Debug, Default)]
pub struct Confinement {
    /// The kernel filters syscalls with seccomp.
    pub seccomp_supported: bool,
    /// The host kernel's (major, minor), for profiles' `minKernel`.
    pub kernel: (u32, u32),
    /// The active LSMs.
    pub lsm: HostLsm,
    /// Compiled seccomp filters.
    pub filters: seccomp::Cache,
    /// SELinux MCS levels in use.
    pub mcs: McsAllocator,
}

/// A container's confinement, as init applies it.
#[derive(Debug, Default, PartialEq)]
pub struct Decided {
    /// The seccomp filter; None: unconfined.
    pub seccomp: Option<SeccompProgram>,
    /// The AppArmor profile and SELinux labels.
    pub lsm: LsmChoice,
}

/// What else besides the options decides a container's confinement.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContainerFacts<'a> {
    /// The container id (its MCS level is kept under it).
    pub id: &'a str,
    /// `--privileged`.
    pub privileged: bool,
    /// `--pid host` or `--ipc host` (SELinux labels are off then, as in Docker).
    pub shares_host_namespaces: bool,
    /// Its bounding set.
    pub capabilities: &'a [String],
}

impl Confinement {
    /// Probes the host at daemon start: seccomp support, the kernel version and the LSMs; on an
    /// AppArmor host, loads kapsel's default profile when the kernel lacks it.
    pub fn start(host: &HostInfo) -> Confinement {
        let mut confinement = Confinement {
            seccomp_supported: seccomp::host_supports(),
            kernel: seccomp::profile::kernel_version(&host.kernel_version),
            lsm: HostLsm::probe(),
            ..Default::default()
        };
        if !confinement.seccomp_supported {
            tracing::warn!("the kernel has no seccomp filters: containers run without the default profile");
        }
        if confinement.lsm.apparmor
            && let Err(e) = crate::runtime::lsm::ensure_default_apparmor_profile(lsm::DEFAULT_APPARMOR_PROFILE)
        {
            // Without kapsel's profile in the kernel, containers could not start under it: treat
            // AppArmor as unavailable rather than fail every start.
            tracing::warn!(
                error = %e,
                profile = lsm::DEFAULT_APPARMOR_PROFILE,
                "loading the default AppArmor profile failed; containers run without AppArmor"
            );
            confinement.lsm.apparmor = false;
        }
        tracing::info!(
            seccomp = confinement.seccomp_supported,
            apparmor = confinement.lsm.apparmor,
            selinux = confinement.lsm.selinux,
            "confinement available on this host"
        );
        confinement
    }

    /// Decides a container's seccomp filter and LSM labels. `--privileged` runs unconfined, as
    /// in Docker; a kernel without seccomp runs the default profile unconfined but refuses a
    /// custom one.
    pub fn decide(&self, security: &SecurityOptions, facts: ContainerFacts<'_>) -> Result<Decided> {
        let source = match (&security.seccomp, facts.privileged) {
            (_, true) | (SeccompChoice::Unconfined, _) => None,
            (SeccompChoice::Default, _) => Some(ProfileSource::Builtin),
            (SeccompChoice::Profile(json), _) => Some(ProfileSource::Json(json.clone())),
        };
        let seccomp = match source {
            None => None,
            Some(ProfileSource::Builtin) if !self.seccomp_supported => None,
            Some(_) if !self.seccomp_supported => {
                return Err(Error::InvalidArgument(
                    "seccomp is not enabled in your kernel, cannot run a custom seccomp profile".into(),
                ));
            }
            Some(source) => self
                .filters
                .program(&source, facts.capabilities, self.kernel)
                .map_err(Error::InvalidArgument)?
                .map(|program| (*program).clone()),
        };
        let lsm = lsm::select(
            self.lsm,
            &lsm::Request {
                apparmor: security.apparmor.as_deref(),
                labels: &security.labels,
                privileged: facts.privileged,
                shares_host_namespaces: facts.shares_host_namespaces,
            },
            || self.mcs.reserve(facts.id),
        )
        .map_err(Error::InvalidArgument)?;
        Ok(Decided { seccomp, lsm })
    }

    /// `/info`'s SecurityOptions entries for the confinement kapsel applies, in dockerd's order
    /// (AppArmor, seccomp, SELinux); other features add theirs after.
    pub fn info_options(&self) -> Vec<String> {
        let mut options = Vec::new();
        if self.lsm.apparmor {
            options.push("name=apparmor".to_string());
        }
        if self.seccomp_supported {
            options.push("name=seccomp,profile=builtin".to_string());
        }
        if self.lsm.selinux {
            options.push("name=selinux".to_string());
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_dockers_forms() {
        let s = parse(&opts(&["no-new-privileges"])).unwrap();
        assert!(s.no_new_privileges && s.seccomp == SeccompChoice::Default);
        assert!(!parse(&opts(&["no-new-privileges=false"])).unwrap().no_new_privileges);
        assert!(parse(&opts(&["no-new-privileges:true"])).unwrap().no_new_privileges);
        assert!(parse(&opts(&["no-new-privileges=maybe"])).is_err());
        assert_eq!(parse(&opts(&["seccomp=unconfined"])).unwrap().seccomp, SeccompChoice::Unconfined);
        assert_eq!(parse(&opts(&["seccomp:unconfined"])).unwrap().seccomp, SeccompChoice::Unconfined);
        assert_eq!(parse(&opts(&["seccomp=builtin"])).unwrap().seccomp, SeccompChoice::Default);
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
        assert_eq!(parse(&[format!("seccomp={json}")]).unwrap().seccomp, SeccompChoice::Profile(json.into()));
        assert!(parse(&opts(&["seccomp={broken"])).is_err());
        let s =
            parse(&opts(&["apparmor=my-profile", "label=type:svirt_t", "label=level:s0:c1,c2", "disable"])).unwrap();
        assert_eq!(s.apparmor.as_deref(), Some("my-profile"));
        assert_eq!(s.labels, ["type:svirt_t", "level:s0:c1,c2", "disable"]);
        assert!(parse(&opts(&["label=bogus:x"])).is_err());
        assert!(parse(&opts(&["unknown=1"])).is_err());
        assert!(parse(&opts(&["noequals"])).is_err());
    }

    #[test]
    fn tenants_may_not_loosen_confinement() {
        let refusal = |list: &[&str]| tenant_refusal(&parse(&opts(list)).unwrap());
        assert_eq!(refusal(&["no-new-privileges"]), None);
        assert_eq!(refusal(&["seccomp=builtin"]), None);
        assert!(refusal(&["seccomp=unconfined"]).is_some());
        assert!(refusal(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]).is_some());
        assert!(refusal(&["apparmor=unconfined"]).is_some());
        assert!(refusal(&["label=disable"]).is_some());
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn privileged_and_unconfined_get_no_filter() {
        let c = Confinement { seccomp_supported: true, kernel: (6, 1), ..Default::default() };
        let caps = opts(&["CAP_CHOWN"]);
        let facts = ContainerFacts { id: "c1", capabilities: &caps, ..Default::default() };
        assert!(c.decide(&SecurityOptions::default(), facts).unwrap().seccomp.is_some());
        let privileged = ContainerFacts { privileged: true, ..facts };
        assert!(c.decide(&SecurityOptions::default(), privileged).unwrap().seccomp.is_none());
        let unconfined = SecurityOptions { seccomp: SeccompChoice::Unconfined, ..Default::default() };
        assert!(c.decide(&unconfined, facts).unwrap().seccomp.is_none());
        let empty = SecurityOptions { seccomp: SeccompChoice::Profile("{}".into()), ..Default::default() };
        assert!(c.decide(&empty, facts).unwrap().seccomp.is_none(), "Docker reads {{}} as no filter");
    }

    #[test]
    fn without_kernel_support_only_the_default_profile_is_dropped() {
        let c = Confinement { seccomp_supported: false, ..Default::default() };
        let facts = ContainerFacts { id: "c1", ..Default::default() };
        assert!(c.decide(&SecurityOptions::default(), facts).unwrap().seccomp.is_none());
        let custom = SecurityOptions { seccomp: SeccompChoice::Profile("{}".into()), ..Default::default() };
        assert!(c.decide(&custom, facts).is_err());
        assert_eq!(c.info_options(), Vec::<String>::new());
    }

    #[test]
    fn info_lists_what_is_active() {
        let mut c = Confinement { seccomp_supported: true, ..Default::default() };
        assert_eq!(c.info_options(), ["name=seccomp,profile=builtin"]);
        c.lsm = HostLsm { apparmor: true, selinux: true };
        assert_eq!(c.info_options(), ["name=apparmor", "name=seccomp,profile=builtin", "name=selinux"]);
    }
}
