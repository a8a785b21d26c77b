//! A container's network counters, read from `/proc/<pid>/net/dev`: the file shows the
//! interfaces of the network namespace that process lives in.

use std::collections::BTreeMap;
use std::io;

/// One interface's counters, as `docker stats` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Packets dropped on send.
    pub tx_dropped: u64,
}

/// The interfaces (loopback excluded) of process `pid`'s network namespace.
pub fn read_interfaces(pid: i32) -> io::Result<BTreeMap<String, InterfaceCounters>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev"))?;
    Ok(parse_net_dev(&text))
}

/// Parses `/proc/net/dev`: two header lines, then `name: 8 receive counters 8 transmit
/// counters` per interface. `lo` and malformed lines are skipped.
pub fn parse_net_dev(text: &str) -> BTreeMap<String, InterfaceCounters> {
    let mut interfaces = BTreeMap::new();
    for line in text.lines() {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name == "lo" || name.contains('|') {
            continue;
        }
        let Ok(values) = counters.split_whitespace().map(str::parse::<u64>).collect::<Result<Vec<_>, _>>() else {
            continue;
        };
        if values.len() < 16 {
            continue;
        }
        interfaces.insert(
            name.to_string(),
            InterfaceCounters {
                rx_bytes: values[0],
                rx_packets: values[1],
                rx_errors: values[2],
                rx_dropped: values[3],
                tx_bytes: values[8],
                tx_packets: values[9],
                tx_errors: values[10],
                tx_dropped: values[11],
            },
        );
    }
    interfaces
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1296      16    0    0    0     0          0         0     1296      16    0    0    0     0       0          0
  eth0: 5418839    4023    1    2    0     0          0         0   309402    3012    3    4    0     0       0          0
veth1:7 8 0 0 0 0 0 0 9 10 0 0 0 0 0 0
 bad0: 1 2 3
";

    #[test]
    fn skips_loopback_and_headers() {
        let interfaces = parse_net_dev(NET_DEV);
        assert_eq!(interfaces.keys().collect::<Vec<_>>(), ["eth0", "veth1"]);
        let eth0 = interfaces["eth0"];
        assert_eq!((eth0.rx_bytes, eth0.rx_packets, eth0.rx_errors, eth0.rx_dropped), (5418839, 4023, 1, 2));
        assert_eq!((eth0.tx_bytes, eth0.tx_packets, eth0.tx_errors, eth0.tx_dropped), (309402, 3012, 3, 4));
        assert_eq!(interfaces["veth1"].tx_bytes, 9);
    }

    #[test]
    fn only_loopback_is_empty() {
        let text = "h1|\nh2|\n    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n";
        assert!(parse_net_dev(text).is_empty());
    }

    #[test]
    fn reads_this_process() {
        let interfaces = read_interfaces(std::process::id() as i32).unwrap();
        assert!(!interfaces.contains_key("lo"));
    }
}
