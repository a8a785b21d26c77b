//! Docker's seccomp profile format (what `--security-opt seccomp=<file>` sends, and what the
//! built-in profile is written in), and its resolution for one container: the `includes` and
//! `excludes` conditions (capabilities, architectures, kernel version) are decided here, by the
//! daemon, against the container's capabilities, as dockerd does before runc sees the profile.

use serde::{Deserialize, Serialize};

use super::syscalls;

/// A profile as Docker writes it (`defaultAction`, `syscalls`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// What a syscall that no rule names gets; an empty value with no rules means "no filter".
    #[serde(default)]
    pub default_action: Option<Action>,
    /// The errno of an `SCMP_ACT_ERRNO` default action (EPERM when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// The old form of the architecture list (`SCMP_ARCH_X86_64`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// The architectures and their sub-architectures the profile covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMapEntry>,
    /// The rules, in order.
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
    /// seccomp(2) flags: `SECCOMP_FILTER_FLAG_LOG`, `SECCOMP_FILTER_FLAG_SPEC_ALLOW`,
    /// `SECCOMP_FILTER_FLAG_TSYNC`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// A seccomp-notify listener (SCMP_ACT_NOTIFY), which kapsel does not offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
}

/// One architecture and the sub-architectures that share its rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    /// E.g. `SCMP_ARCH_X86_64`.
    pub architecture: String,
    /// E.g. `SCMP_ARCH_X86`, `SCMP_ARCH_X32`.
    #[serde(default)]
    pub sub_architectures: Vec<String>,
}

/// One rule: these syscalls get this action (when the arguments match).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    /// The old single-name form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The syscalls' names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// What they get.
    pub action: Action,
    /// The errno of an `SCMP_ACT_ERRNO` action (EPERM when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCondition>,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The rule applies only when all of these hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<RuleFilter>,
    /// The rule is dropped when any of these holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<RuleFilter>,
}

/// A condition on one syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgCondition {
    /// The argument (0–5).
    pub index: u32,
    /// The value compared with (the mask, for `SCMP_CMP_MASKED_EQ`).
    pub value: u64,
    /// For `SCMP_CMP_MASKED_EQ`: what the masked argument must equal.
    #[serde(default)]
    pub value_two: u64,
    /// The comparison.
    pub op: CmpOp,
}

/// When a rule applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleFilter {
    /// Capabilities (`CAP_SYS_ADMIN`…) of the container's bounding set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    /// Architectures in libseccomp's naming (`amd64`, `x32`, `x86`, `arm64`, `arm`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// The lowest kernel, `"<major>.<minor>"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// What a syscall gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// It runs.
    #[default]
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    /// It fails with an errno.
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    /// The thread is killed (libseccomp's `SCMP_ACT_KILL`).
    #[serde(rename = "SCMP_ACT_KILL", alias = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    /// The whole process is killed.
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    /// SIGSYS.
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    /// A ptrace tracer is told.
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    /// It runs and is logged.
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    /// A user-space listener decides (not offered by kapsel).
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

/// An argument comparison, as libseccomp names them; all compare the full 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `arg != value`.
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
    /// `arg < value`.
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    /// `arg <= value`.
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    /// `arg == value`.
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    /// `arg >= value`.
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    /// `arg > value`.
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    /// `arg & value == value_two`.
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
}

/// An action with its data resolved: the errno of `Errno` and `Trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// It runs.
    Allow,
    /// It fails with this errno.
    Errno(u32),
    /// The thread is killed.
    KillThread,
    /// The process is killed.
    KillProcess,
    /// SIGSYS.
    Trap,
    /// The tracer is told, with this value.
    Trace(u32),
    /// It runs and is logged.
    Log,
}

/// What a profile is resolved against.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// libseccomp's name of the native architecture (`amd64`, `arm64`).
    pub arch: &'a str,
    /// The container's bounding set (`CAP_…` names).
    pub capabilities: &'a [String],
    /// The host kernel's (major, minor).
    pub kernel: (u32, u32),
}

impl Target<'_> {
    /// libseccomp's name of the architecture kapsel was built for.
    pub fn native_arch() -> &'static str {
        match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "x86",
            "arm" => "arm",
            other => other,
        }
    }
}

/// One rule of a resolved profile: a syscall number, its conditions and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRule {
    /// The syscall number on the native architecture.
    pub syscall: i64,
    /// All must hold (none: the rule always matches).
    pub args: Vec<ArgCondition>,
    /// What the syscall gets when they do.
    pub verdict: Verdict,
}

/// A profile decided for one container: the rules that apply, in the profile's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// What every other syscall gets.
    pub default: Verdict,
    /// The rules; for one syscall the first that matches wins.
    pub rules: Vec<ResolvedRule>,
    /// seccomp(2) filter flags.
    pub flags: u32,
}

impl Profile {
    /// Reads a profile from its JSON text (what the docker CLI sends for `seccomp=<file>`).
    pub fn parse(json: &str) -> Result<Profile, String> {
        serde_json::from_str(json).map_err(|e| format!("decoding seccomp profile failed: {e}"))
    }

    /// Docker's rule: a profile with no default action and no rules asks for no filter at all.
    pub fn is_unconfined(&self) -> bool {
        self.default_action.is_none() && self.syscalls.is_empty()
    }

    /// Decides the profile for one container. Syscall names this architecture does not have
    /// are skipped; arguments, actions and fields kapsel cannot honour are errors.
    pub fn resolve(&self, target: &Target<'_>) -> Result<Resolved, String> {
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err("both 'architectures' and 'archMap' are specified in the seccomp profile, use either \
                        'architectures' or 'archMap'"
                .into());
        }
        if self.listener_path.as_deref().is_some_and(|p| !p.is_empty()) {
            return Err("seccomp listeners (listenerPath) are not supported".into());
        }
        let default_action =
            self.default_action.ok_or("the seccomp profile has rules but no defaultAction".to_string())?;
        let default = verdict(default_action, self.default_errno_ret)?;
        let mut rules = Vec::new();
        for rule in &self.syscalls {
            if !applies(rule, target)? {
                continue;
            }
            let names: Vec<&str> = match (&rule.name, rule.names.is_empty()) {
                (Some(_), false) => {
                    return Err("both 'name' and 'names' are specified in the seccomp profile, use either 'name' \
                                or 'names'"
                        .into());
                }
                (Some(name), true) => vec![name.as_str()],
                (None, _) => rule.names.iter().map(String::as_str).collect(),
            };
            let verdict = verdict(rule.action, rule.errno_ret)?;
            // Like runc: a rule that repeats the default action changes nothing.
            if verdict == default {
                continue;
            }
            for arg in &rule.args {
                if arg.index > 5 {
                    return Err(format!("seccomp rule for {names:?}: argument index {} is out of range", arg.index));
                }
            }
            for name in names {
                let Some(syscall) = syscalls::number(name) else {
                    continue;
                };
                rules.push(ResolvedRule { syscall, args: rule.args.clone(), verdict });
            }
        }
        let mut flags = 0;
        for flag in &self.flags {
            flags |= match flag.as_str() {
                "SECCOMP_FILTER_FLAG_TSYNC" => libc::SECCOMP_FILTER_FLAG_TSYNC as u32,
                "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG as u32,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32,
                other => return Err(format!("seccomp flag {other:?} is not supported")),
            };
        }
        Ok(Resolved { default, rules, flags })
    }
}

/// An action with its errno (EPERM unless given), as runc reads it.
fn verdict(action: Action, errno: Option<u32>) -> Result<Verdict, String> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match action {
        Action::Allow => Verdict::Allow,
        Action::Errno => Verdict::Errno(errno),
        Action::KillThread => Verdict::KillThread,
        Action::KillProcess => Verdict::KillProcess,
        Action::Trap => Verdict::Trap,
        Action::Trace => Verdict::Trace(errno),
        Action::Log => Verdict::Log,
        Action::Notify => return Err("the seccomp action SCMP_ACT_NOTIFY is not supported".into()),
    })
}

/// dockerd's `includes`/`excludes` test: excluded when any exclusion holds, included when
/// every inclusion holds.
fn applies(rule: &SyscallRule, target: &Target<'_>) -> Result<bool, String> {
    let has_cap = |cap: &String| target.capabilities.iter().any(|c| c == cap);
    if let Some(ex) = &rule.excludes {
        if ex.arches.iter().any(|a| a == target.arch) || ex.caps.iter().any(has_cap) {
            return Ok(false);
        }
        if let Some(min) = &ex.min_kernel
            && target.kernel >= parse_kernel(min)?
        {
            return Ok(false);
        }
    }
    if let Some(inc) = &rule.includes {
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == target.arch) {
            return Ok(false);
        }
        if !inc.caps.iter().all(has_cap) {
            return Ok(false);
        }
        if let Some(min) = &inc.min_kernel
            && target.kernel < parse_kernel(min)?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `"4.8"` → (4, 8).
fn parse_kernel(text: &str) -> Result<(u32, u32), String> {
    let invalid = || format!("invalid kernel version: {text:?}, expected \"<kernel>.<major>\"");
    let (major, minor) = text.split_once('.').ok_or_else(invalid)?;
    let version = (major.parse().map_err(|_| invalid())?, minor.parse().map_err(|_| invalid())?);
    if version == (0, 0) {
        return Err(invalid());
    }
    Ok(version)
}

/// The (major, minor) of a kernel release string such as `6.18.44-fc`; (0, 0) when unreadable.
pub fn kernel_version(release: &str) -> (u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(caps: &[String]) -> Target<'_> {
        Target { arch: Target::native_arch(), capabilities: caps, kernel: (6, 1) }
    }

    #[test]
    fn parses_docker_json_with_conditions() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [
                {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"name": "ptrace", "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}
            ]
        }"#;
        let profile = Profile::parse(json).unwrap();
        let plain = profile.resolve(&target(&[])).unwrap();
        assert_eq!(plain.default, Verdict::Errno(1));
        let names: Vec<&str> = plain.rules.iter().map(|r| syscalls::name(r.syscall).unwrap()).collect();
        // Unknown names are skipped; mount needs CAP_SYS_ADMIN; getpid repeats the default.
        assert_eq!(names, ["read", "write", "personality", "clone3", "ptrace"]);
        assert_eq!(plain.rules[2].args, [ArgCondition { index: 0, value: 8, value_two: 0, op: CmpOp::Eq }]);
        assert_eq!(plain.rules[3].verdict, Verdict::Errno(38));

        let admin = profile.resolve(&target(&["CAP_SYS_ADMIN".to_string()])).unwrap();
        let names: Vec<&str> = admin.rules.iter().map(|r| syscalls::name(r.syscall).unwrap()).collect();
        assert_eq!(names, ["read", "write", "personality", "mount", "ptrace"]);

        let old = Target { kernel: (4, 4), ..target(&[]) };
        assert!(!profile.resolve(&old).unwrap().rules.iter().any(|r| Some(r.syscall) == syscalls::number("ptrace")));
    }

    #[test]
    fn arch_conditions_use_libseccomp_names() {
        let rule = |includes: &[&str]| SyscallRule {
            names: vec!["read".into()],
            action: Action::Allow,
            includes: Some(RuleFilter {
                arches: includes.iter().map(|a| a.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let caps = [];
        assert!(applies(&rule(&[Target::native_arch()]), &target(&caps)).unwrap());
        assert!(!applies(&rule(&["s390x"]), &target(&caps)).unwrap());
    }

    #[test]
    fn refuses_what_kapsel_cannot_honour() {
        let bad = |json: &str| Profile::parse(json).and_then(|p| p.resolve(&target(&[]))).unwrap_err();
        assert!(bad("{not json").contains("decoding seccomp profile failed"));
        assert!(bad(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).contains("NOTIFY"));
        assert!(bad(r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#).contains("decoding"));
        assert!(bad(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#).contains("both"));
        assert!(bad(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ERRNO"}]}"#).contains("both"));
        assert!(bad(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#).contains("out of range"));
        assert!(
            bad(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}"#).contains("flag")
        );
        assert!(bad(r#"{"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#).contains("defaultAction"));
    }

    #[test]
    fn an_empty_profile_means_unconfined() {
        assert!(Profile::parse("{}").unwrap().is_unconfined());
        assert!(!Profile::parse(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap().is_unconfined());
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v769"), (6, 18));
        assert_eq!(kernel_version("5.4"), (5, 4));
        assert_eq!(kernel_version("garbage"), (0, 0));
        assert_eq!(parse_kernel("4.8").unwrap(), (4, 8));
        assert!(parse_kernel("4").is_err() && parse_kernel("0.0").is_err());
    }
}
