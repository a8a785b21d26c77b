//! seccomp: which syscalls a container may make. The daemon resolves a profile (kapsel's
//! built-in one, Docker's default in substance, or a Docker-format JSON profile) against the
//! container's capabilities and compiles it to a BPF program once (`cache`); the program goes
//! to init inside the spec, and init installs it with one seccomp(2) call right before the
//! command runs (`program`).

pub mod builtin;
pub mod cache;
pub mod compile;
#[cfg(test)]
pub mod eval;
pub mod profile;
pub mod program;
pub mod syscalls;

pub use cache::{Cache, ProfileSource};
pub use program::SeccompProgram;

/// Whether the kernel can filter syscalls with seccomp BPF (Docker's test: PR_GET_SECCOMP
/// works, and PR_SET_SECCOMP in filter mode with no program fails with EFAULT, not EINVAL).
pub fn host_supports() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointers.
    if unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } < 0 {
        return false;
    }
    // SAFETY: a null program is refused with EFAULT before anything is installed.
    let rc = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, 0, 0, 0) };
    rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::EFAULT
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_kernel_filters() {
        // Every kernel kapsel supports has seccomp filters.
        assert!(super::host_supports());
    }
}
