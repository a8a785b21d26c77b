//! Published ports: what a container asks for (`-p`, `-P` with its exposed ports) read from
//! HostConfig and Config, and the shapes inspect and `docker ps` show them in.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use crate::engine::containers::Container;
use crate::engine::{Error, Result};
use crate::runtime::network::Proto;
use crate::store::networks::PublishedPort;

/// One host port to hold for a container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    /// The container's port.
    pub container_port: u16,
    /// tcp or udp.
    pub proto: Proto,
    /// The host address (UNSPECIFIED: all).
    pub host_ip: Ipv4Addr,
    /// Acceptable host ports; `0..=0` for an ephemeral one.
    pub host_ports: RangeInclusive<u16>,
}

/// Reads a port key: `80/tcp`, `53/udp`, `80` (tcp).
pub fn parse_port_key(key: &str) -> Option<(u16, Proto)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((port.parse().ok().filter(|p| *p > 0)?, Proto::parse(proto)?))
}

/// Reads a HostPort: empty (ephemeral), `8080`, or `8000-8010`.
fn parse_host_ports(text: &str) -> Result<RangeInclusive<u16>> {
    let bad = || Error::InvalidArgument(format!("invalid port specification: \"{text}\""));
    let text = text.trim();
    if text.is_empty() {
        return Ok(0..=0);
    }
    match text.split_once('-') {
        Some((low, high)) => {
            let (low, high): (u16, u16) = (low.parse().map_err(|_| bad())?, high.parse().map_err(|_| bad())?);
            if low == 0 || high < low {
                return Err(bad());
            }
            Ok(low..=high)
        }
        None => {
            let port: u16 = text.parse().map_err(|_| bad())?;
            Ok(port..=port)
        }
    }
}

/// The host ports a container asks for: its `PortBindings`, and with `PublishAllPorts` an
/// ephemeral port on all addresses for every exposed port not bound otherwise. Bindings on
/// IPv6 addresses are left out (kapsel's networks are IPv4).
pub fn requested(c: &Container) -> Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    let bindings = c.host_config.port_bindings.clone().unwrap_or_default();
    for (key, list) in &bindings {
        let (container_port, proto) = parse_port_key(key)
            .ok_or_else(|| Error::InvalidArgument(format!("invalid port specification: {key:?}")))?;
        for binding in list.iter().flatten() {
            let host_ip = match binding.host_ip.trim() {
                "" => Ipv4Addr::UNSPECIFIED,
                ip => match ip.parse::<Ipv4Addr>() {
                    Ok(ip) => ip,
                    Err(_) if ip.contains(':') => continue,
                    Err(_) => return Err(Error::InvalidArgument(format!("invalid host IP address: {ip}"))),
                },
            };
            out.push(PortRequest { container_port, proto, host_ip, host_ports: parse_host_ports(&binding.host_port)? });
        }
    }
    if c.host_config.publish_all_ports {
        for key in c.config.exposed_ports.iter().flat_map(|p| p.keys()) {
            let Some((container_port, proto)) = parse_port_key(key) else { continue };
            if out.iter().any(|r| r.container_port == container_port && r.proto == proto) {
                continue;
            }
            out.push(PortRequest { container_port, proto, host_ip: Ipv4Addr::UNSPECIFIED, host_ports: 0..=0 });
        }
    }
    Ok(out)
}

/// `NetworkSettings.Ports` of a running container: every exposed or published port, with the
/// host bindings held (null for a port only exposed).
pub fn inspect_ports(c: &Container, held: &[PublishedPort]) -> BTreeMap<String, Option<Vec<(String, String)>>> {
    let mut ports: BTreeMap<String, Option<Vec<(String, String)>>> = BTreeMap::new();
    for key in c.config.exposed_ports.iter().flat_map(|p| p.keys()) {
        if let Some((port, proto)) = parse_port_key(key) {
            ports.entry(format!("{port}/{}", proto.as_str())).or_insert(None);
        }
    }
    for p in held {
        ports
            .entry(format!("{}/{}", p.container_port, p.proto))
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push((p.host_ip.clone(), p.host_port.to_string()));
    }
    ports
}

/// `Ports` of `docker ps` for a running container: (IP, private, public, type); the bindings
/// first, then the ports only exposed (no IP, no public port).
pub fn summary_ports(c: &Container, held: &[PublishedPort]) -> Vec<(Option<String>, u16, Option<u16>, String)> {
    let mut out: Vec<(Option<String>, u16, Option<u16>, String)> =
        held.iter().map(|p| (Some(p.host_ip.clone()), p.container_port, Some(p.host_port), p.proto.clone())).collect();
    for key in c.config.exposed_ports.iter().flat_map(|p| p.keys()) {
        let Some((port, proto)) = parse_port_key(key) else { continue };
        if !held.iter().any(|p| p.container_port == port && p.proto == proto.as_str()) {
            out.push((None, port, None, proto.as_str().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::containers::config::{Config, HostConfig, PortBinding};
    use crate::store::containers::ContainerRow;

    fn container(bindings: &[(&str, &str, &str)], exposed: &[&str], all: bool) -> Container {
        let mut port_bindings: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
        for (key, ip, port) in bindings {
            port_bindings
                .entry(key.to_string())
                .or_default()
                .get_or_insert_with(Vec::new)
                .push(PortBinding { host_ip: ip.to_string(), host_port: port.to_string() });
        }
        Container {
            row: ContainerRow::default(),
            config: Config {
                exposed_ports: Some(exposed.iter().map(|p| (p.to_string(), serde_json::json!({}))).collect()),
                ..Default::default()
            },
            host_config: HostConfig {
                port_bindings: Some(port_bindings),
                publish_all_ports: all,
                ..Default::default()
            },
        }
    }

    #[test]
    fn bindings_and_publish_all() {
        let c =
            container(&[("80/tcp", "", "8080"), ("53/udp", "127.0.0.1", "")], &["80/tcp", "53/udp", "7000/tcp"], true);
        let requests = requested(&c).unwrap();
        assert_eq!(
            requests,
            vec![
                PortRequest { container_port: 53, proto: Proto::Udp, host_ip: Ipv4Addr::LOCALHOST, host_ports: 0..=0 },
                PortRequest {
                    container_port: 80,
                    proto: Proto::Tcp,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_ports: 8080..=8080
                },
                PortRequest {
                    container_port: 7000,
                    proto: Proto::Tcp,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_ports: 0..=0
                },
            ]
        );
        let ranged = container(&[("80/tcp", "::", "8080"), ("81/tcp", "", "9000-9005")], &[], false);
        let requests = requested(&ranged).unwrap();
        assert_eq!(requests.len(), 1, "IPv6 bindings are left out");
        assert_eq!(requests[0].host_ports, 9000..=9005);
        assert!(requested(&container(&[("80/tcp", "", "x")], &[], false)).is_err());
        assert!(requested(&container(&[("80/sctp", "", "1")], &[], false)).is_err());
    }

    #[test]
    fn inspect_and_ps_shapes() {
        let c = container(&[("80/tcp", "", "8080")], &["80/tcp", "7000/tcp"], false);
        let held = vec![PublishedPort {
            container_id: String::new(),
            proto: "tcp".into(),
            container_port: 80,
            host_ip: "0.0.0.0".into(),
            host_port: 8080,
        }];
        let ports = inspect_ports(&c, &held);
        assert_eq!(ports["80/tcp"], Some(vec![("0.0.0.0".to_string(), "8080".to_string())]));
        assert_eq!(ports["7000/tcp"], None);
        let summary = summary_ports(&c, &held);
        assert_eq!(summary[0], (Some("0.0.0.0".into()), 80, Some(8080), "tcp".into()));
        assert_eq!(summary[1], (None, 7000, None, "tcp".into()));
    }
}
