//! Which URLs serve a registry: Docker Hub's API host and mirrors, and the registries that may
//! be spoken to over plain HTTP (`--insecure-registry`, and loopback ones always, as dockerd
//! allows `127.0.0.0/8` by default).

use std::net::IpAddr;

/// The domain references use for Docker Hub.
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";
/// Where Docker Hub's registry API actually lives.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// The daemon's registry settings.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries reachable over plain HTTP or TLS without verification: `host[:port]` or a CIDR.
    pub insecure: Vec<String>,
    /// Mirrors of Docker Hub, tried in order before it (URLs such as `https://mirror.example`).
    pub mirrors: Vec<String>,
}

/// One base URL to try for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`, `https://mirror/path`.
    pub base: String,
    /// TLS certificates are not verified (an insecure registry over HTTPS).
    pub skip_verify: bool,
    /// A mirror: any failure falls back to the next endpoint.
    pub mirror: bool,
}

impl RegistryOptions {
    /// The endpoints to try for a registry domain, best first: mirrors (for Docker Hub), then the
    /// registry over HTTPS, then, for an insecure registry, HTTPS without verification and plain
    /// HTTP (only the first that answers is used).
    pub fn endpoints(&self, domain: &str, with_mirrors: bool) -> Vec<Endpoint> {
        let mut endpoints = Vec::new();
        if domain == DOCKER_HUB_DOMAIN {
            if with_mirrors {
                for mirror in &self.mirrors {
                    let mirror = mirror.trim().trim_end_matches('/');
                    if mirror.is_empty() {
                        continue;
                    }
                    let base = if mirror.contains("://") { mirror.to_string() } else { format!("https://{mirror}") };
                    let skip_verify = self.is_insecure(host_of(&base));
                    endpoints.push(Endpoint { base, skip_verify, mirror: true });
                }
            }
            endpoints.push(Endpoint { base: format!("https://{DOCKER_HUB_API}"), skip_verify: false, mirror: false });
            return endpoints;
        }
        if self.is_insecure(domain) {
            endpoints.push(Endpoint { base: format!("https://{domain}"), skip_verify: true, mirror: false });
            endpoints.push(Endpoint { base: format!("http://{domain}"), skip_verify: false, mirror: false });
        } else {
            endpoints.push(Endpoint { base: format!("https://{domain}"), skip_verify: false, mirror: false });
        }
        endpoints
    }

    /// Whether a registry (`host[:port]`) may be reached without verified TLS: it is listed (by
    /// name, or by an address inside a listed CIDR), or it is on loopback.
    pub fn is_insecure(&self, domain: &str) -> bool {
        let host = strip_port(domain);
        let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        if host.eq_ignore_ascii_case("localhost") || ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.insecure.iter().map(|entry| entry.trim()).any(|entry| {
            let entry = entry.split_once("://").map_or(entry, |(_, rest)| rest).trim_end_matches('/');
            if entry.eq_ignore_ascii_case(domain) || entry.eq_ignore_ascii_case(host) {
                return true;
            }
            match (entry.parse::<ipnet::IpNet>(), ip) {
                (Ok(net), Some(ip)) => net.contains(&ip),
                _ => false,
            }
        })
    }
}

/// The registry domain a login's server address names: `https://index.docker.io/v1/` and other
/// Docker Hub spellings become `docker.io`; a scheme and path are dropped.
pub fn login_domain(server_address: &str) -> String {
    let address = server_address.trim();
    let address = address.split_once("://").map_or(address, |(_, rest)| rest);
    let host = address.split('/').next().unwrap_or_default().to_ascii_lowercase();
    match host.as_str() {
        "" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" | "docker.io" => {
            DOCKER_HUB_DOMAIN.to_string()
        }
        _ => host,
    }
}

/// `host` of `host:port` (IPv6 in brackets keeps its brackets).
fn strip_port(domain: &str) -> &str {
    if domain.starts_with('[') {
        return domain.split_once(']').map_or(domain, |(host, _)| &domain[..host.len() + 1]);
    }
    domain.rsplit_once(':').map_or(domain, |(host, _)| host)
}

/// `host[:port]` of a URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_insecure_by_default() {
        let options = RegistryOptions::default();
        for domain in ["127.0.0.1:5000", "localhost:5000", "127.1.2.3", "[::1]:5000", "localhost"] {
            assert!(options.is_insecure(domain), "{domain}");
        }
        for domain in ["registry.example.com", "10.0.0.1:5000", "docker.io"] {
            assert!(!options.is_insecure(domain), "{domain}");
        }
        let endpoints = options.endpoints("127.0.0.1:5000", true);
        assert_eq!(
            endpoints.iter().map(|e| e.base.as_str()).collect::<Vec<_>>(),
            ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
        );
        assert!(endpoints[0].skip_verify);
    }

    #[test]
    fn listed_registries_and_cidrs_are_insecure() {
        let options = RegistryOptions {
            insecure: vec!["registry.lan:5000".into(), "10.1.0.0/16".into(), "http://plain.example".into()],
            mirrors: Vec::new(),
        };
        assert!(options.is_insecure("registry.lan:5000"));
        assert!(!options.is_insecure("registry.lan:5001"));
        assert!(options.is_insecure("10.1.2.3:443"));
        assert!(!options.is_insecure("10.2.0.1"));
        assert!(options.is_insecure("plain.example"));
        assert_eq!(
            options.endpoints("registry.example.com", true),
            vec![Endpoint { base: "https://registry.example.com".into(), skip_verify: false, mirror: false }]
        );
    }

    #[test]
    fn docker_hub_goes_through_mirrors_first() {
        let options = RegistryOptions { insecure: Vec::new(), mirrors: vec!["mirror.example/".into()] };
        let endpoints = options.endpoints("docker.io", true);
        assert_eq!(endpoints.len(), 2);
        assert_eq!((endpoints[0].base.as_str(), endpoints[0].mirror), ("https://mirror.example", true));
        assert_eq!(endpoints[1].base, "https://registry-1.docker.io");
        assert_eq!(options.endpoints("docker.io", false).len(), 1);
    }

    #[test]
    fn login_addresses() {
        assert_eq!(login_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(login_domain(""), "docker.io");
        assert_eq!(login_domain("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(login_domain("http://Registry.Example:443/v2/"), "registry.example:443");
    }
}
