//! Address management: which subnet a new network gets, which address a container gets in it,
//! and the checks dockerd makes on a user's `--subnet` and `--gateway`. Pure functions; the
//! store keeps what is in use.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::runtime::network::routes::overlaps;

/// The pools a subnet is chosen from when none is given: 172.17.0.0/16 … 172.31.0.0/16 (the
/// default bridge's range under Docker), then 10.0.0.0/16 … 10.255.0.0/16.
pub fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let private = (17..=31u8).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let tens = (0..=255u8).map(|b| Ipv4Net::new(Ipv4Addr::new(10, b, 0, 0), 16));
    private.chain(tens).filter_map(Result::ok)
}

/// The first default pool clashing with none of `taken` (the host's routes and the other
/// networks' subnets).
pub fn choose_subnet(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    default_pools().find(|pool| !taken.iter().any(|t| overlaps(pool, t)))
}

/// A subnet's conventional gateway: its first host address (`.1`).
pub fn default_gateway(subnet: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()).saturating_add(1))
}

/// The lowest address of `subnet` that is neither the network, the broadcast, the gateway nor
/// in `used` (libnetwork hands out addresses in order, the lowest free first).
pub fn lowest_free(subnet: &Ipv4Net, gateway: Ipv4Addr, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    subnet.hosts().find(|ip| *ip != gateway && !used.contains(ip))
}

/// Checks a user's `--subnet` and `--gateway` the way dockerd words its refusals; the subnet
/// and gateway to use.
pub fn check_config(subnet: &str, gateway: &str) -> Result<(Ipv4Net, Ipv4Addr), String> {
    let net: Ipv4Net = subnet.parse().map_err(|_| format!("invalid subnet {subnet}: invalid CIDR address"))?;
    if net != net.trunc() {
        return Err(format!("invalid subnet {subnet}: it should be {}", net.trunc()));
    }
    if net.prefix_len() > 30 {
        return Err(format!("invalid subnet {subnet}: the subnet is too small for containers"));
    }
    let gateway = if gateway.is_empty() {
        default_gateway(&net)
    } else {
        let ip: Ipv4Addr =
            gateway.parse().map_err(|_| format!("invalid gateway {gateway}: ParseAddr({gateway:?}): unexpected"))?;
        if !net.contains(&ip) {
            return Err(format!("invalid gateway {gateway}: parent subnet {net} doesn't contain this address"));
        }
        if ip == net.network() || ip == net.broadcast() {
            return Err(format!("invalid gateway {gateway}: it is not a host address of {net}"));
        }
        ip
    };
    Ok((net, gateway))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn subnets_avoid_routes_and_other_networks() {
        assert_eq!(choose_subnet(&[]), Some(net("172.17.0.0/16")));
        let taken = [net("172.17.0.0/16"), net("172.18.5.0/24")];
        assert_eq!(choose_subnet(&taken), Some(net("172.19.0.0/16")));
        let all_172 = [net("172.16.0.0/12")];
        assert_eq!(choose_subnet(&all_172), Some(net("10.0.0.0/16")));
        let everything = [net("0.0.0.0/1"), net("128.0.0.0/1")];
        assert_eq!(choose_subnet(&everything), None);
    }

    #[test]
    fn addresses_are_handed_out_lowest_first() {
        let subnet = net("10.9.0.0/29");
        let gateway = default_gateway(&subnet);
        assert_eq!(gateway, Ipv4Addr::new(10, 9, 0, 1));
        let mut used = HashSet::new();
        assert_eq!(lowest_free(&subnet, gateway, &used), Some(Ipv4Addr::new(10, 9, 0, 2)));
        used.insert(Ipv4Addr::new(10, 9, 0, 2));
        used.insert(Ipv4Addr::new(10, 9, 0, 4));
        assert_eq!(lowest_free(&subnet, gateway, &used), Some(Ipv4Addr::new(10, 9, 0, 3)));
        for last in 3..=6 {
            used.insert(Ipv4Addr::new(10, 9, 0, last));
        }
        assert_eq!(lowest_free(&subnet, gateway, &used), None, "the broadcast address is never handed out");
    }

    #[test]
    fn user_configs_are_checked_like_dockerd() {
        assert_eq!(check_config("10.9.0.0/24", "").unwrap(), (net("10.9.0.0/24"), Ipv4Addr::new(10, 9, 0, 1)));
        assert_eq!(check_config("10.9.0.0/24", "10.9.0.254").unwrap().1, Ipv4Addr::new(10, 9, 0, 254));
        assert_eq!(
            check_config("10.9.0.1/24", "").unwrap_err(),
            "invalid subnet 10.9.0.1/24: it should be 10.9.0.0/24"
        );
        assert!(check_config("10.9.0.0/24", "10.10.0.1").unwrap_err().contains("doesn't contain this address"));
        assert!(check_config("nonsense", "").is_err());
        assert!(check_config("10.9.0.0/24", "10.9.0.255").is_err());
    }
}
