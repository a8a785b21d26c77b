//! The host side of Docker's bridge networks: Linux bridges and veth pairs over netlink, the
//! addresses inside a container's network namespace, iptables rules (NAT, published ports,
//! isolation), the userland port proxy and the embedded DNS responder of user networks.
//!
//! Rule for this module: no namespace syscall ever runs on a tokio worker or blocking-pool
//! thread; work inside a container's network namespace happens on a short-lived thread of its
//! own ([`netns`]).

pub mod dns;
pub mod iptables;
pub mod netlink;
pub mod netns;
pub mod proxy;
pub mod routes;

use std::net::Ipv4Addr;

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as Docker writes them.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// Reads `tcp` or `udp` (any case); None for anything else.
    pub fn parse(text: &str) -> Option<Proto> {
        match text.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

/// The MAC address Docker gave containers for years: 02:42 followed by the IPv4 address, so
/// that it is unique wherever the address is.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Reads `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = text.split(':').map(|p| u8::from_str_radix(p, 16)).collect::<Result<_, _>>().ok()?;
    parts.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_follow_the_address() {
        let mac = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&mac), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02"), Some(mac));
        assert_eq!(parse_mac("02:42"), None);
        assert_eq!(Proto::parse("UDP"), Some(Proto::Udp));
        assert_eq!(Proto::parse("sctp"), None);
    }
}
