//! `--ulimit`: resource limits set on init before the exec, inherited by the command.

use nix::errno::Errno;

use super::error::{InitError, Result, errno_text};
use crate::runtime::spec::RlimitSpec;

/// The resource behind Docker's ulimit name (`nofile`, `nproc`, …).
pub fn resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    let resource = match name {
        "as" => libc::RLIMIT_AS,
        "core" => libc::RLIMIT_CORE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "locks" => libc::RLIMIT_LOCKS,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "rss" => libc::RLIMIT_RSS,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "stack" => libc::RLIMIT_STACK,
        _ => return None,
    };
    Some(resource)
}

/// Sets every limit, failing with a message that names the limit (and, for EPERM, why: raising
/// a hard limit needs CAP_SYS_RESOURCE, which some hosts keep out of the bounding set).
pub fn apply(limits: &[RlimitSpec]) -> Result<()> {
    for limit in limits {
        let name = limit.name.trim().to_ascii_lowercase();
        let name = name.strip_prefix("rlimit_").unwrap_or(&name);
        let resource =
            resource(name).ok_or_else(|| InitError::Setup(format!("unknown ulimit name {:?}", limit.name)))?;
        let value = libc::rlimit { rlim_cur: limit.soft, rlim_max: limit.hard };
        // SAFETY: value is a valid rlimit for the duration of the call.
        let rc = unsafe { libc::setrlimit(resource, &value) };
        if let Err(errno) = Errno::result(rc) {
            let hint = match errno {
                Errno::EPERM => " (raising a hard limit needs CAP_SYS_RESOURCE, which this host does not grant)",
                Errno::EINVAL if limit.soft > limit.hard => " (soft limit above hard limit)",
                _ => "",
            };
            return Err(InitError::Setup(format!(
                "setting ulimit {name}={}:{}: {}{hint}",
                limit.soft,
                limit.hard,
                errno_text(errno)
            )));
        }
    }
    Ok(())
}

/// Raises the hard limits `limits` ask beyond the current ones, leaving soft limits alone: done
/// while still privileged on the host, before entering a user namespace (where raising a hard
/// limit is refused); `apply` then sets the exact limits from inside, which only lowers.
pub fn raise_hard_limits(limits: &[RlimitSpec]) -> Result<()> {
    for limit in limits {
        let name = limit.name.trim().to_ascii_lowercase();
        let name = name.strip_prefix("rlimit_").unwrap_or(&name);
        let resource =
            resource(name).ok_or_else(|| InitError::Setup(format!("unknown ulimit name {:?}", limit.name)))?;
        let mut current = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: current is a valid, writable rlimit.
        Errno::result(unsafe { libc::getrlimit(resource, &mut current) })
            .map_err(|e| InitError::Setup(format!("reading ulimit {name}: {}", errno_text(e))))?;
        if limit.hard <= current.rlim_max {
            continue;
        }
        let value = libc::rlimit { rlim_cur: current.rlim_cur, rlim_max: limit.hard };
        // SAFETY: value is a valid rlimit for the duration of the call.
        Errno::result(unsafe { libc::setrlimit(resource, &value) }).map_err(|e| {
            InitError::Setup(format!(
                "raising the hard ulimit {name} to {}: {} (it needs CAP_SYS_RESOURCE)",
                limit.hard,
                errno_text(e)
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_docker_names() {
        assert_eq!(resource("nofile"), Some(libc::RLIMIT_NOFILE));
        assert_eq!(resource("nproc"), Some(libc::RLIMIT_NPROC));
        assert_eq!(resource("bogus"), None);
    }

    #[test]
    fn lowering_works_and_errors_name_the_limit() {
        // A soft limit above the hard one is always refused, without touching this process.
        let err = apply(&[RlimitSpec { name: "nofile".into(), soft: 10, hard: 5 }]).unwrap_err();
        assert!(err.to_string().starts_with("setting ulimit nofile=10:5:"), "{err}");
        assert!(apply(&[RlimitSpec { name: "nope".into(), soft: 1, hard: 1 }]).is_err());
    }

    #[test]
    fn hard_limits_at_or_below_the_current_ones_are_left_alone() {
        let mut current = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: current is a valid, writable rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) }, 0);
        raise_hard_limits(&[RlimitSpec { name: "nofile".into(), soft: 1, hard: current.rlim_max }]).unwrap();
        assert!(raise_hard_limits(&[RlimitSpec { name: "nope".into(), soft: 1, hard: 1 }]).is_err());
    }
}
