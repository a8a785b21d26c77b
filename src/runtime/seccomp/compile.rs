//! A resolved profile → one BPF program, with seccompiler. seccompiler gives a filter a single
//! match action; Docker's profiles mix actions (ALLOW for most, ERRNO(ENOSYS) for clone3, any
//! action in a user's profile). So the filter is built with a placeholder match action, and
//! each rule's `RET placeholder` — seccompiler emits exactly one per rule, in rule order — is
//! then given that rule's own verdict. For one syscall the rules are tried in order and the
//! first that matches decides; a syscall no rule matches gets the default, as with libseccomp.
//!
//! On x86_64 two instructions follow seccompiler's prologue: x32-ABI syscall numbers (bit 30)
//! get the default action (EPERM when the default allows), so a profile's rules cannot be
//! sidestepped through the x32 numbers. Other architectures (i386, arm32) are killed by
//! seccompiler's architecture check.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

use super::profile::{ArgCondition, CmpOp, Resolved, ResolvedRule, Verdict};
use super::program::{Instruction, SeccompProgram};

/// BPF instruction codes (linux/bpf_common.h) the compiler inspects or adds.
const BPF_RET_K: u16 = 0x06;
const BPF_JGE_K: u16 = 0x35;
/// The longest program the kernel accepts (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;
/// x32 syscall numbers carry this bit (`__X32_SYSCALL_BIT`).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// seccompiler's prologue: load arch, compare, kill; then the syscall number is loaded.
const PROLOGUE_LEN: usize = 4;

/// Compiles a resolved profile for the architecture kapsel was built for.
pub fn compile(resolved: &Resolved) -> Result<SeccompProgram, String> {
    let arch = target_arch()?;
    let default = action(resolved.default);
    let placeholder = if default == SeccompAction::Allow { SeccompAction::KillProcess } else { SeccompAction::Allow };

    // Per syscall, its rules in profile order; rules after one without conditions never match.
    let mut by_syscall: BTreeMap<i64, Vec<&ResolvedRule>> = BTreeMap::new();
    for rule in &resolved.rules {
        let group = by_syscall.entry(rule.syscall).or_default();
        if !group.last().is_some_and(|last| last.args.is_empty()) {
            group.push(rule);
        }
    }
    let mut chains: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    // The verdicts in the order seccompiler emits their RETs: by syscall number, then rule order.
    let mut verdicts = Vec::new();
    for (syscall, group) in &by_syscall {
        let chain = if let [only] = group.as_slice()
            && only.args.is_empty()
        {
            Vec::new()
        } else {
            group.iter().map(|rule| seccomp_rule(&rule.args)).collect::<Result<_, _>>()?
        };
        chains.insert(*syscall, chain);
        verdicts.extend(group.iter().map(|rule| rule.verdict));
    }

    let filter = SeccompFilter::new(chains, default.clone(), placeholder.clone(), arch).map_err(|e| e.to_string())?;
    let mut bpf: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
    if !verdicts.is_empty() {
        let placeholder = u32::from(placeholder);
        let mut next = verdicts.iter();
        for ins in bpf.iter_mut().skip(PROLOGUE_LEN) {
            if ins.code == BPF_RET_K && ins.k == placeholder {
                let verdict = next.next().ok_or("seccomp: the compiled filter has more rules than the profile")?;
                ins.k = u32::from(action(*verdict));
            }
        }
        if next.next().is_some() {
            return Err("seccomp: the compiled filter has fewer rules than the profile".into());
        }
    }
    let mut instructions: Vec<Instruction> =
        bpf.iter().map(|i| Instruction { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
    if arch == TargetArch::x86_64 && !verdicts.is_empty() {
        let x32 = match resolved.default {
            Verdict::Allow | Verdict::Log => Verdict::Errno(libc::EPERM as u32),
            other => other,
        };
        let guard = [
            Instruction { code: BPF_JGE_K, jt: 0, jf: 1, k: X32_SYSCALL_BIT },
            Instruction { code: BPF_RET_K, jt: 0, jf: 0, k: u32::from(action(x32)) },
        ];
        instructions.splice(PROLOGUE_LEN..PROLOGUE_LEN, guard);
    }
    if instructions.len() > MAX_INSTRUCTIONS {
        return Err(format!(
            "seccomp: the filter needs {} instructions, more than the kernel's {MAX_INSTRUCTIONS}",
            instructions.len()
        ));
    }
    Ok(SeccompProgram { flags: resolved.flags, instructions })
}

/// seccompiler's name for the architecture kapsel was built for; only those whose syscall
/// numbers kapsel knows.
fn target_arch() -> Result<TargetArch, String> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(TargetArch::x86_64),
        "aarch64" => Ok(TargetArch::aarch64),
        other => Err(format!("seccomp filters are not supported on {other}")),
    }
}

/// The kernel's return value of a verdict.
fn action(verdict: Verdict) -> SeccompAction {
    match verdict {
        Verdict::Allow => SeccompAction::Allow,
        Verdict::Errno(errno) => SeccompAction::Errno(errno),
        Verdict::KillThread => SeccompAction::KillThread,
        Verdict::KillProcess => SeccompAction::KillProcess,
        Verdict::Trap => SeccompAction::Trap,
        Verdict::Trace(data) => SeccompAction::Trace(data),
        Verdict::Log => SeccompAction::Log,
    }
}

/// A rule of seccompiler's: every condition must hold. A rule without conditions (inside a
/// chain that has others) gets one that always holds, `arg0 & 0 == 0`.
fn seccomp_rule(args: &[ArgCondition]) -> Result<SeccompRule, String> {
    let conditions = if args.is_empty() {
        SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::MaskedEq(0), 0).map(|always| vec![always])
    } else {
        args.iter()
            .map(|arg| {
                let (op, value) = match arg.op {
                    CmpOp::Ne => (SeccompCmpOp::Ne, arg.value),
                    CmpOp::Lt => (SeccompCmpOp::Lt, arg.value),
                    CmpOp::Le => (SeccompCmpOp::Le, arg.value),
                    CmpOp::Eq => (SeccompCmpOp::Eq, arg.value),
                    CmpOp::Ge => (SeccompCmpOp::Ge, arg.value),
                    CmpOp::Gt => (SeccompCmpOp::Gt, arg.value),
                    CmpOp::MaskedEq => (SeccompCmpOp::MaskedEq(arg.value), arg.value_two),
                };
                SeccompCondition::new(arg.index as u8, SeccompCmpArgLen::Qword, op, value)
            })
            .collect::<Result<Vec<_>, _>>()
    }
    .map_err(|e| e.to_string())?;
    SeccompRule::new(conditions).map_err(|e| e.to_string())
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::super::builtin;
    use super::super::eval::{Outcome, run};
    use super::super::profile::{Profile, Target};
    use super::super::syscalls::number;
    use super::*;

    const EPERM: u32 = libc::EPERM as u32;

    fn compiled(profile: &Profile, caps: &[&str]) -> SeccompProgram {
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        let target = Target { arch: Target::native_arch(), capabilities: &caps, kernel: (6, 1) };
        compile(&profile.resolve(&target).unwrap()).unwrap()
    }

    fn call(program: &SeccompProgram, name: &str, args: [u64; 6]) -> Outcome {
        run(program, number(name).unwrap_or_else(|| panic!("no syscall {name}")) as u32, args)
    }

    #[test]
    fn the_builtin_profile_allows_read_and_denies_kexec_load() {
        let program = compiled(&builtin::profile(), &["CAP_CHOWN", "CAP_SETUID"]);
        assert!(program.instructions.len() < MAX_INSTRUCTIONS);
        for allowed in ["read", "write", "execve", "exit_group", "futex", "setresuid", "capset", "prctl"] {
            assert_eq!(call(&program, allowed, [0; 6]), Outcome::Allow, "{allowed}");
        }
        for denied in ["kexec_load", "keyctl", "mount", "unshare", "setns", "reboot", "init_module", "add_key"] {
            assert_eq!(call(&program, denied, [0; 6]), Outcome::Errno(EPERM), "{denied}");
        }
        // A number no table knows.
        assert_eq!(run(&program, 1000, [0; 6]), Outcome::Errno(EPERM));
    }

    #[test]
    fn clone_is_allowed_only_without_namespace_flags() {
        let program = compiled(&builtin::profile(), &[]);
        let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
        let thread_flags =
            (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_SIGHAND | libc::CLONE_THREAD) as u64;
        assert_eq!(call(&program, "clone", [fork_flags, 0, 0, 0, 0, 0]), Outcome::Allow);
        assert_eq!(call(&program, "clone", [thread_flags, 0, 0, 0, 0, 0]), Outcome::Allow);
        for ns in
            [libc::CLONE_NEWUSER, libc::CLONE_NEWNS, libc::CLONE_NEWNET, libc::CLONE_NEWPID, libc::CLONE_NEWCGROUP]
        {
            assert_eq!(call(&program, "clone", [fork_flags | ns as u64, 0, 0, 0, 0, 0]), Outcome::Errno(EPERM));
        }
        // Bits above 32 do not hide a flag (the comparison is on 64 bits).
        assert_eq!(
            call(&program, "clone", [(1 << 40) | libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]),
            Outcome::Errno(EPERM)
        );
        assert_eq!(call(&program, "clone3", [0; 6]), Outcome::Errno(libc::ENOSYS as u32));

        let admin = compiled(&builtin::profile(), &["CAP_SYS_ADMIN"]);
        assert_eq!(call(&admin, "clone", [fork_flags | libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]), Outcome::Allow);
        assert_eq!(call(&admin, "clone3", [0; 6]), Outcome::Allow);
        assert_eq!(call(&admin, "mount", [0; 6]), Outcome::Allow);
    }

    #[test]
    fn personality_and_socket_depend_on_their_first_argument() {
        let program = compiled(&builtin::profile(), &[]);
        for persona in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
            assert_eq!(call(&program, "personality", [persona, 0, 0, 0, 0, 0]), Outcome::Allow, "{persona:#x}");
        }
        assert_eq!(call(&program, "personality", [0x0040000, 0, 0, 0, 0, 0]), Outcome::Errno(EPERM));
        for family in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK, 39, 41, 44] {
            assert_eq!(call(&program, "socket", [family as u64, 1, 0, 0, 0, 0]), Outcome::Allow, "family {family}");
        }
        for family in [38, 40] {
            assert_eq!(call(&program, "socket", [family, 1, 0, 0, 0, 0]), Outcome::Errno(EPERM), "family {family}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_numbers_and_foreign_architectures_do_not_get_through() {
        let program = compiled(&builtin::profile(), &[]);
        assert_eq!(run(&program, X32_SYSCALL_BIT, [0; 6]), Outcome::Errno(EPERM), "x32 read");
        let allow_all = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        let program = compiled(&allow_all, &[]);
        let mkdir = number("mkdir").unwrap() as u32;
        assert_eq!(run(&program, mkdir, [0; 6]), Outcome::Errno(EPERM));
        assert_eq!(run(&program, mkdir | X32_SYSCALL_BIT, [0; 6]), Outcome::Errno(EPERM), "x32 mkdir");
        assert_eq!(call(&program, "read", [0; 6]), Outcome::Allow);
        let i386 = super::super::eval::run_arch(&program, 0x4000_0003, 39, [0; 6]);
        assert_eq!(i386, Outcome::KillProcess);
    }

    #[test]
    fn rules_keep_their_own_actions_and_order() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["fchmod"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 25,
                 "args": [{"index": 1, "value": 21505, "op": "SCMP_CMP_EQ"}]},
                {"names": ["ioctl"], "action": "SCMP_ACT_TRAP",
                 "args": [{"index": 1, "value": 4096, "op": "SCMP_CMP_GE"}]},
                {"names": ["ioctl"], "action": "SCMP_ACT_LOG"},
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7,
                 "args": [{"index": 0, "value": 255, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"},
                          {"index": 2, "value": 10, "op": "SCMP_CMP_LT"}]}
            ]
        }"#;
        let program = compiled(&Profile::parse(json).unwrap(), &[]);
        assert_eq!(call(&program, "mkdirat", [0; 6]), Outcome::Errno(13));
        assert_eq!(call(&program, "fchmod", [0; 6]), Outcome::KillProcess);
        assert_eq!(call(&program, "ioctl", [0, 21505, 0, 0, 0, 0]), Outcome::Errno(25));
        assert_eq!(call(&program, "ioctl", [0, 5000, 0, 0, 0, 0]), Outcome::Trap);
        assert_eq!(call(&program, "ioctl", [0, 1, 0, 0, 0, 0]), Outcome::Log);
        assert_eq!(call(&program, "getpid", [0x103, 0, 9, 0, 0, 0]), Outcome::Errno(7));
        assert_eq!(call(&program, "getpid", [0x103, 0, 10, 0, 0, 0]), Outcome::Allow);
        assert_eq!(call(&program, "getpid", [0x104, 0, 9, 0, 0, 0]), Outcome::Allow);
        assert_eq!(call(&program, "read", [0; 6]), Outcome::Allow);
    }

    #[test]
    fn an_allow_everything_profile_compiles_to_a_trivial_filter() {
        let program = compiled(&Profile::parse(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap(), &[]);
        assert_eq!(call(&program, "kexec_load", [0; 6]), Outcome::Allow);
        assert!(program.instructions.len() <= PROLOGUE_LEN);
    }
}
