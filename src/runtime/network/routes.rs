//! The host's IPv4 routes, read from `/proc/net/route`, so that a new network's subnet can be
//! chosen where it does not clash with a network the host already reaches.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The destinations of the host's IPv4 routes (the default route excluded: it overlaps
/// everything and clashes with nothing).
pub fn host_routes() -> Vec<Ipv4Net> {
    std::fs::read_to_string("/proc/net/route").map(|text| parse_proc_route(&text)).unwrap_or_default()
}

/// Parses `/proc/net/route`: addresses are hex in host (little-endian) byte order.
pub fn parse_proc_route(text: &str) -> Vec<Ipv4Net> {
    let mut routes = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            continue;
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(|v| Ipv4Addr::from(v.to_ne_bytes()));
        let (Some(destination), Some(mask)) = (hex(fields[1]), hex(fields[7])) else {
            continue;
        };
        let prefix = u32::from(mask).count_ones() as u8;
        if prefix == 0 {
            continue;
        }
        if let Ok(net) = Ipv4Net::new(destination, prefix) {
            routes.push(net.trunc());
        }
    }
    routes
}

/// Whether two networks share an address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_route_is_little_endian_hex() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    br0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let routes = parse_proc_route(text);
        assert_eq!(routes, vec!["192.0.2.0/24".parse().unwrap(), "172.17.0.0/16".parse::<Ipv4Net>().unwrap()]);
    }

    #[test]
    fn overlap_either_way() {
        let a: Ipv4Net = "10.0.0.0/8".parse().unwrap();
        let b: Ipv4Net = "10.9.0.0/24".parse().unwrap();
        let c: Ipv4Net = "10.10.0.0/24".parse().unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&b, &c));
    }
}
