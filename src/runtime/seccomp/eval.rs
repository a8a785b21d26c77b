//! A classic-BPF interpreter for the instructions seccomp filters use, so that tests can ask a
//! compiled program what a syscall gets without installing it.

use super::program::SeccompProgram;

/// What the filter returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// SECCOMP_RET_ALLOW.
    Allow,
    /// SECCOMP_RET_ERRNO with its errno.
    Errno(u32),
    /// SECCOMP_RET_KILL_PROCESS.
    KillProcess,
    /// SECCOMP_RET_KILL_THREAD.
    KillThread,
    /// SECCOMP_RET_TRAP.
    Trap,
    /// SECCOMP_RET_TRACE with its data.
    Trace(u32),
    /// SECCOMP_RET_LOG.
    Log,
}

/// The native architecture's AUDIT_ARCH value.
fn native_audit_arch() -> u32 {
    match std::env::consts::ARCH {
        "x86_64" => 0xc000_003e,
        "aarch64" => 0xc000_00b7,
        other => panic!("no audit arch for {other}"),
    }
}

/// Runs the program for syscall `nr` of the native architecture.
pub fn run(program: &SeccompProgram, nr: u32, args: [u64; 6]) -> Outcome {
    run_arch(program, native_audit_arch(), nr, args)
}

/// Runs the program for a syscall of any architecture.
pub fn run_arch(program: &SeccompProgram, arch: u32, nr: u32, args: [u64; 6]) -> Outcome {
    // struct seccomp_data: nr, arch, instruction_pointer, args[6], in native byte order.
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for arg in args {
        data.extend_from_slice(&arg.to_ne_bytes());
    }
    let word = |offset: u32| {
        let o = offset as usize;
        u32::from_ne_bytes(data[o..o + 4].try_into().expect("load inside seccomp_data"))
    };
    let code = &program.instructions;
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let ins = code.get(pc).unwrap_or_else(|| panic!("ran off the end of the program at {pc}"));
        pc += 1;
        match ins.code {
            0x20 => acc = word(ins.k),    // BPF_LD | BPF_W | BPF_ABS
            0x54 => acc &= ins.k,         // BPF_ALU | BPF_AND | BPF_K
            0x05 => pc += ins.k as usize, // BPF_JMP | BPF_JA
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match ins.code {
                    0x15 => acc == ins.k,  // JEQ
                    0x25 => acc > ins.k,   // JGT
                    0x35 => acc >= ins.k,  // JGE
                    _ => acc & ins.k != 0, // JSET
                };
                pc += if taken { ins.jt } else { ins.jf } as usize;
            }
            0x06 => return outcome(ins.k), // BPF_RET | BPF_K
            other => panic!("instruction {other:#x} is not interpreted"),
        }
    }
}

fn outcome(ret: u32) -> Outcome {
    let data = ret & libc::SECCOMP_RET_DATA;
    match ret & libc::SECCOMP_RET_ACTION_FULL {
        libc::SECCOMP_RET_ALLOW => Outcome::Allow,
        libc::SECCOMP_RET_ERRNO => Outcome::Errno(data),
        libc::SECCOMP_RET_KILL_PROCESS => Outcome::KillProcess,
        libc::SECCOMP_RET_KILL_THREAD => Outcome::KillThread,
        libc::SECCOMP_RET_TRAP => Outcome::Trap,
        libc::SECCOMP_RET_TRACE => Outcome::Trace(data),
        libc::SECCOMP_RET_LOG => Outcome::Log,
        other => panic!("unknown return {other:#x}"),
    }
}
