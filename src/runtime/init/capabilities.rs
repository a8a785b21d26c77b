//! Capability sets: names to bits, the bounding set, and the permitted/effective sets that
//! survive the switch to the container's user.

use nix::errno::Errno;

use super::error::{Context, InitError, Result};

/// Capability names by number (linux/capability.h), the index being the capability.
pub const NAMES: &[&str] = crate::runtime::spec::ALL_CAPABILITIES;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// capget/capset's header.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// capget/capset's per-word data.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The number of a capability given as `CAP_NET_ADMIN`, `NET_ADMIN` or `net_admin`.
pub fn parse(name: &str) -> std::result::Result<u32, String> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    NAMES
        .iter()
        .position(|n| *n == full)
        .map(|index| index as u32)
        .ok_or_else(|| format!("unknown capability {name:?}"))
}

/// A set of capabilities as a bit mask.
pub fn parse_set(names: &[String]) -> std::result::Result<u64, String> {
    names.iter().try_fold(0u64, |mask, name| Ok(mask | 1 << parse(name)?))
}

/// The names of the capabilities in a mask, for messages.
pub fn names_of(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|cap| mask & (1 << cap) != 0)
        .map(|cap| NAMES.get(cap).map(|n| n.to_string()).unwrap_or_else(|| format!("CAP_{cap}")))
        .collect()
}

/// Drops every capability not in `keep` from the bounding set, so no exec can regain it.
pub fn drop_bounding(keep: u64) -> Result<()> {
    for cap in 0..64u32 {
        // SAFETY: PR_CAPBSET_READ takes a capability number and has no pointers.
        let present = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if present < 0 {
            // EINVAL: past the kernel's last capability.
            break;
        }
        if present == 1 && keep & (1 << cap) == 0 {
            // SAFETY: PR_CAPBSET_DROP takes a capability number and has no pointers.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            Errno::result(rc).context(|| format!("dropping {} from the bounding set", names_of(1 << cap)[0]))?;
        }
    }
    Ok(())
}

/// Keeps (or stops keeping) the permitted set across the setuid to a non-root user.
pub fn keep_across_setuid(keep: bool) -> Result<()> {
    // SAFETY: PR_SET_KEEPCAPS takes a boolean and has no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, keep as libc::c_ulong, 0, 0, 0) };
    Errno::result(rc).map(drop).context(|| "setting PR_SET_KEEPCAPS".to_string())
}

/// Sets permitted and effective to exactly `caps` and empties the inheritable set (as Docker does
/// since CVE-2022-24769); fails naming the capabilities this process does not hold.
pub fn apply(caps: u64) -> Result<()> {
    let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
    let mut current = [CapData::default(); 2];
    // SAFETY: header and two data words are what capget v3 reads and writes.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, current.as_mut_ptr()) };
    Errno::result(rc).context(|| "reading the capability sets".to_string())?;
    let permitted = u64::from(current[0].permitted) | u64::from(current[1].permitted) << 32;
    let missing = caps & !permitted;
    if missing != 0 {
        return Err(InitError::Setup(format!(
            "capabilities not available on this host (missing from its bounding set): {}",
            names_of(missing).join(", ")
        )));
    }
    let low = caps as u32;
    let high = (caps >> 32) as u32;
    let data = [
        CapData { effective: low, permitted: low, inheritable: 0 },
        CapData { effective: high, permitted: high, inheritable: 0 },
    ];
    // SAFETY: header and two data words are what capset v3 reads.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    Errno::result(rc).map(drop).context(|| "setting the capability sets".to_string())
}

/// Makes every permitted capability effective again (after a switch of the file-system uid away
/// from 0, which the kernel answers by clearing the file capabilities from the effective set).
pub fn raise_effective() -> Result<()> {
    let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and two data words are what capget v3 reads and writes.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    Errno::result(rc).context(|| "reading the capability sets".to_string())?;
    for word in &mut data {
        word.effective = word.permitted;
    }
    // SAFETY: header and two data words are what capset v3 reads.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    Errno::result(rc).map(drop).context(|| "raising the effective capabilities".to_string())
}

/// Empties the ambient set: nothing is raised automatically across exec.
pub fn clear_ambient() -> Result<()> {
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL has no pointers.
    let rc = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
    Errno::result(rc).map(drop).context(|| "clearing the ambient capabilities".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_in_docker_forms() {
        assert_eq!(parse("CAP_CHOWN"), Ok(0));
        assert_eq!(parse("NET_ADMIN"), Ok(12));
        assert_eq!(parse("sys_admin"), Ok(21));
        assert_eq!(parse("CAP_CHECKPOINT_RESTORE"), Ok(40));
        assert_eq!(parse("CAP_NOPE"), Err("unknown capability \"CAP_NOPE\"".into()));
    }

    #[test]
    fn sets_round_trip() {
        let names: Vec<String> = ["CAP_KILL", "CAP_SETUID", "CAP_BPF"].iter().map(|s| s.to_string()).collect();
        let mask = parse_set(&names).unwrap();
        assert_eq!(mask, 1 << 5 | 1 << 7 | 1 << 39);
        assert_eq!(names_of(mask), ["CAP_KILL", "CAP_SETUID", "CAP_BPF"]);
    }

    #[test]
    fn docker_defaults_parse() {
        let defaults: Vec<String> = crate::runtime::spec::DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
        assert_eq!(parse_set(&defaults).unwrap().count_ones(), 14);
    }
}
