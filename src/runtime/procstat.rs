//! The host's CPU time from `/proc/stat`, the denominator of `docker stats`' CPU %.

use std::io;

/// The host's CPU time, as dockerd reports it beside each container sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemCpu {
    /// Time all CPUs spent in user, nice, system, idle, iowait, irq and softirq, in nanoseconds.
    pub total_ns: u64,
    /// The number of `cpuN` lines: the CPUs online.
    pub online_cpus: u32,
}

/// Reads `/proc/stat` now.
pub fn read_system_cpu() -> io::Result<SystemCpu> {
    let text = std::fs::read_to_string("/proc/stat")?;
    parse_proc_stat(&text, clock_ticks_per_second())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "/proc/stat has no usable `cpu ` line"))
}

/// USER_HZ: the unit of the tick counts in `/proc/stat`.
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// Parses `/proc/stat`: the first seven numbers of the aggregate `cpu ` line (in ticks of
/// `ticks_per_second`) become nanoseconds, and the `cpuN` lines are counted. Like dockerd, only
/// the `cpu` lines at the top of the file are read. `None` without an aggregate line.
pub fn parse_proc_stat(text: &str, ticks_per_second: u64) -> Option<SystemCpu> {
    let ticks_per_second = ticks_per_second.max(1);
    let mut total_ns = None;
    let mut online_cpus = 0u32;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            break;
        };
        if rest.starts_with(' ') {
            let fields: Vec<u64> = rest.split_whitespace().take(7).map(str::parse).collect::<Result<_, _>>().ok()?;
            if fields.len() < 7 {
                return None;
            }
            let ticks = fields.iter().fold(0u64, |sum, value| sum.saturating_add(*value));
            // Ticks → ns without overflowing for any tick count a host reaches.
            let ns = (u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_second)).min(u128::from(u64::MAX));
            total_ns = Some(ns as u64);
        } else if rest.starts_with(|c: char| c.is_ascii_digit()) {
            online_cpus += 1;
        }
    }
    total_ns.map(|total_ns| SystemCpu { total_ns, online_cpus })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_STAT: &str = "\
cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0
cpu0 1393280 32966 572056 13366730 13860 0 24980 0 0 0
cpu1 1335834 32566 422347 13441211 2823 0 215 0 0 0
intr 1462898 0 0
ctxt 13016574
cpu9 1 1 1 1 1 1 1
";

    #[test]
    fn sums_seven_fields_and_counts_cpus() {
        let cpu = parse_proc_stat(PROC_STAT, 100).unwrap();
        let ticks: u64 = 10132153 + 290696 + 3084719 + 46828483 + 16683 + 25195;
        assert_eq!(cpu.total_ns, ticks * 10_000_000);
        // The stray cpu9 after other keys is not counted, as in dockerd and glibc.
        assert_eq!(cpu.online_cpus, 2);
    }

    #[test]
    fn other_tick_rates_and_garbage() {
        let cpu = parse_proc_stat("cpu  1 1 1 1 1 1 1 9 9\ncpu0 1\n", 1000).unwrap();
        assert_eq!(cpu.total_ns, 7 * 1_000_000);
        assert_eq!(cpu.online_cpus, 1);
        assert_eq!(parse_proc_stat("cpu  1 2 3\n", 100), None);
        assert_eq!(parse_proc_stat("cpu  a b c d e f g\n", 100), None);
        assert_eq!(parse_proc_stat("intr 1\n", 100), None);
        let huge = format!("cpu  {} 0 0 0 0 0 0\n", u64::MAX);
        assert_eq!(parse_proc_stat(&huge, 100).unwrap().total_ns, u64::MAX);
    }

    #[test]
    fn reads_this_host() {
        let cpu = read_system_cpu().unwrap();
        assert!(cpu.total_ns > 0);
        assert!(cpu.online_cpus >= 1);
    }
}
