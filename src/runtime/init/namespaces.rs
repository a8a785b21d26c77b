//! Stage 1's namespace work: join the namespaces the spec names by path, then unshare the new
//! ones. The PID namespace only applies to children, which is why stage 1 forks stage 2 after.
//!
//! Order, as runc's nsexec: joins (setns) first, then — for tenants' containers —
//! `unshare(CLONE_NEWUSER)` plus the shim writing the id maps (see `userns`), then everything
//! else, so the new namespaces are owned by the new user namespace.

use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::stat::Mode;

use super::error::{Context, Result};
use crate::runtime::spec::{NamespacesSpec, NetworkNamespace};

/// The namespaces to create for a spec: always mount; UTS, IPC, cgroup and PID unless the host's;
/// network only when isolated (a joined one is entered with setns instead).
pub fn unshare_flags(namespaces: &NamespacesSpec) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWNS;
    if !namespaces.host_uts {
        flags |= CloneFlags::CLONE_NEWUTS;
    }
    if !namespaces.host_ipc {
        flags |= CloneFlags::CLONE_NEWIPC;
    }
    if namespaces.network == NetworkNamespace::Isolated {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if !namespaces.host_cgroup {
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
    if !namespaces.host_pid {
        flags |= CloneFlags::CLONE_NEWPID;
    }
    flags
}

/// Enters the namespaces the spec names by path (today: a network namespace to join).
pub fn join(namespaces: &NamespacesSpec) -> Result<()> {
    if let NetworkNamespace::Join(path) = &namespaces.network {
        let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .context(|| format!("opening network namespace {}", path.display()))?;
        setns(&fd, CloneFlags::CLONE_NEWNET).context(|| format!("joining network namespace {}", path.display()))?;
    }
    Ok(())
}

/// Creates the new namespaces (the PID one takes effect for the next fork).
pub fn create(flags: CloneFlags) -> Result<()> {
    unshare(flags).context(|| format!("unshare({flags:?})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_creates_everything() {
        let flags = unshare_flags(&NamespacesSpec::default());
        for flag in [
            CloneFlags::CLONE_NEWNS,
            CloneFlags::CLONE_NEWUTS,
            CloneFlags::CLONE_NEWIPC,
            CloneFlags::CLONE_NEWNET,
            CloneFlags::CLONE_NEWCGROUP,
            CloneFlags::CLONE_NEWPID,
        ] {
            assert!(flags.contains(flag), "{flag:?}");
        }
        assert!(!flags.contains(CloneFlags::CLONE_NEWUSER));
    }

    #[test]
    fn host_namespaces_are_kept() {
        let flags = unshare_flags(&NamespacesSpec {
            network: NetworkNamespace::Join("/proc/1/ns/net".into()),
            host_pid: true,
            host_ipc: true,
            host_uts: true,
            host_cgroup: true,
        });
        assert_eq!(flags, CloneFlags::CLONE_NEWNS);
        let host_net = unshare_flags(&NamespacesSpec { network: NetworkNamespace::Host, ..Default::default() });
        assert!(!host_net.contains(CloneFlags::CLONE_NEWNET));
    }
}
