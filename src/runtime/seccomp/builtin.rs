//! The built-in profile: Docker's default semantics written as kapsel's own table. Unlisted
//! syscalls fail with EPERM; about 350 are always allowed; the rest depend on the
//! container's capabilities (CAP_SYS_ADMIN opens mount, unshare, setns…; CAP_SYS_PTRACE
//! opens ptrace…), on the architecture, or on their arguments (`clone` without namespace
//! flags, `personality` with the harmless personas, `socket` without AF_ALG and AF_VSOCK),
//! and `clone3` fails with ENOSYS so that libc falls back to the `clone` the filter can check.

use super::profile::{Action, ArgCondition, CmpOp, Profile, RuleFilter, SyscallRule};

/// Allowed whatever the capabilities (names missing on an architecture are skipped).
const ALWAYS: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "riscv_hwprobe",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Allowed on kernels from 4.8 on, where seccomp can no longer be bypassed with ptrace.
const FROM_KERNEL_4_8: &[&str] = &["process_vm_readv", "process_vm_writev", "ptrace"];

/// Allowed only on some architectures (libseccomp's names).
const BY_ARCH: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (
        &["arm", "arm64"],
        &["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (&["s390", "s390x"], &["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"]),
    (&["riscv64"], &["riscv_flush_icache"]),
];

/// Allowed when the container holds the capability.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// The personas `personality` may set: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32,
/// and 0xffffffff (which only queries).
const PERSONAS: &[u64] = &[0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

/// The namespace flags `clone` may not carry without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// The socket families refused: AF_ALG (38, kernel crypto) and AF_VSOCK (40, the hypervisor).
const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;

/// The built-in profile, in Docker's format, before resolution.
pub fn profile() -> Profile {
    let allow = |names: &[&str]| SyscallRule {
        names: names.iter().map(|n| n.to_string()).collect(),
        action: Action::Allow,
        ..Default::default()
    };
    let arg0 = |op: CmpOp, value: u64| vec![ArgCondition { index: 0, value, value_two: 0, op }];
    let includes = |caps: &[&str], arches: &[&str], min_kernel: Option<&str>| {
        Some(RuleFilter {
            caps: caps.iter().map(|c| c.to_string()).collect(),
            arches: arches.iter().map(|a| a.to_string()).collect(),
            min_kernel: min_kernel.map(str::to_string),
        })
    };

    let mut rules = vec![allow(ALWAYS)];
    rules.push(SyscallRule { includes: includes(&[], &[], Some("4.8")), ..allow(FROM_KERNEL_4_8) });
    for (op, family) in [(CmpOp::Lt, AF_ALG), (CmpOp::Eq, AF_ALG + 1), (CmpOp::Gt, AF_VSOCK)] {
        rules.push(SyscallRule { args: arg0(op, family), ..allow(&["socket"]) });
    }
    for persona in PERSONAS {
        rules.push(SyscallRule { args: arg0(CmpOp::Eq, *persona), ..allow(&["personality"]) });
    }
    for (arches, names) in BY_ARCH {
        rules.push(SyscallRule { includes: includes(&[], arches, None), ..allow(names) });
    }
    for (cap, names) in BY_CAPABILITY {
        rules.push(SyscallRule { includes: includes(&[cap], &[], None), ..allow(names) });
    }
    let without_sys_admin = |arches: &[&str]| {
        Some(RuleFilter {
            caps: vec!["CAP_SYS_ADMIN".into()],
            arches: arches.iter().map(|a| a.to_string()).collect(),
            min_kernel: None,
        })
    };
    // clone's flags are its first argument, except on s390 where they are the second.
    rules.push(SyscallRule {
        args: vec![ArgCondition { index: 0, value: CLONE_NAMESPACE_FLAGS, value_two: 0, op: CmpOp::MaskedEq }],
        excludes: without_sys_admin(&["s390", "s390x"]),
        ..allow(&["clone"])
    });
    rules.push(SyscallRule {
        args: vec![ArgCondition { index: 1, value: CLONE_NAMESPACE_FLAGS, value_two: 0, op: CmpOp::MaskedEq }],
        includes: includes(&[], &["s390", "s390x"], None),
        excludes: without_sys_admin(&[]),
        ..allow(&["clone"])
    });
    // clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc use clone.
    rules.push(SyscallRule {
        names: vec!["clone3".into()],
        action: Action::Errno,
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: without_sys_admin(&[]),
        ..Default::default()
    });
    Profile {
        default_action: Some(Action::Errno),
        default_errno_ret: Some(libc::EPERM as u32),
        syscalls: rules,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::{Target, Verdict};
    use super::super::syscalls;
    use super::*;

    fn resolve(caps: &[&str]) -> super::super::profile::Resolved {
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        profile().resolve(&Target { arch: Target::native_arch(), capabilities: &caps, kernel: (6, 1) }).unwrap()
    }

    fn allowed(resolved: &super::super::profile::Resolved, name: &str) -> bool {
        let nr = syscalls::number(name).unwrap();
        resolved.rules.iter().any(|r| r.syscall == nr && r.verdict == Verdict::Allow && r.args.is_empty())
    }

    #[test]
    fn the_default_set_denies_by_default_and_gates_on_capabilities() {
        let plain = resolve(&["CAP_CHOWN"]);
        assert_eq!(plain.default, Verdict::Errno(libc::EPERM as u32));
        assert!(allowed(&plain, "read") && allowed(&plain, "execve") && allowed(&plain, "ptrace"));
        for denied in ["mount", "unshare", "setns", "keyctl", "kexec_load", "reboot", "init_module", "bpf"] {
            assert!(!allowed(&plain, denied), "{denied}");
        }
        let clone3 = syscalls::number("clone3").unwrap();
        assert!(plain.rules.iter().any(|r| r.syscall == clone3 && r.verdict == Verdict::Errno(libc::ENOSYS as u32)));

        let admin = resolve(&["CAP_SYS_ADMIN", "CAP_SYS_BOOT"]);
        assert!(allowed(&admin, "mount") && allowed(&admin, "unshare") && allowed(&admin, "clone3"));
        assert!(allowed(&admin, "reboot"));
        assert!(!admin.rules.iter().any(|r| r.syscall == clone3 && r.verdict != Verdict::Allow));
    }

    #[test]
    fn every_always_allowed_name_is_unique() {
        let mut names = ALWAYS.to_vec();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(n > 330, "{n} names");
    }
}
