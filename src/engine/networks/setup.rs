//! The host side of the networks over the daemon's life: at start the predefined networks,
//! every bridge, the iptables rules and the DNS servers; after recovery the proxies and names
//! of containers still running; at stop, with no container left running, the bridges and the
//! rules go away. Between those, `refresh_rules` and `refresh_names` rebuild the rules and a
//! network's name table from the store whenever endpoints or networks change.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};

use super::{Network, attach};
use crate::engine::{Engine, Result};
use crate::runtime::network::Proto;
use crate::runtime::network::dns::{self, DnsServer};
use crate::runtime::network::iptables::{self, BridgeRules, PortRule, RuleSet};
use crate::runtime::network::netlink::{Netlink, gateway_net};
use crate::runtime::network::proxy::PortProxy;

impl Engine {
    /// At daemon start: the predefined networks, every bridge network's bridge and DNS
    /// server, and the rules. A host where bridges or iptables cannot work keeps the daemon
    /// running: containers on bridge networks then fail to start with the reason.
    pub async fn start_networks(&self) -> Result<()> {
        let bridge = self.ensure_predefined_networks().await?;
        self.forget_stale_endpoints().await?;
        let state = &self.networks;
        match Netlink::connect() {
            Ok(netlink) => *state.netlink.lock().unwrap_or_else(|e| e.into_inner()) = Some(netlink),
            Err(e) => {
                tracing::error!(error = %e, "no netlink: bridge networks are unavailable");
                *state.unavailable.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("netlink: {e}"));
                return Ok(());
            }
        }
        *state.unavailable.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Err(e) = enable_forwarding() {
            tracing::warn!(error = %e, "could not enable IPv4 forwarding: containers may not reach the outside");
        }
        if let Some(subnet) = bridge.subnet {
            tracing::info!(bridge = %bridge.row.bridge, %subnet, "default bridge network");
        }
        let mut failure = None;
        for row in self.store.all_networks().await? {
            let network = Network::from_row(row);
            if !network.is_bridge() {
                continue;
            }
            if let Err(e) = self.bring_up_network(&network).await {
                tracing::error!(network = %network.row.name, error = %e, "could not set up the network's bridge");
                if network.row.predefined {
                    failure = Some(e.to_string());
                }
            }
        }
        match self.refresh_rules().await {
            Ok(()) => {}
            Err(crate::engine::Error::Internal(e))
                if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
            {
                // A minimal host (a test VM, say): containers still get bridges, addresses,
                // published ports on the proxy and DNS, but nothing NATs or isolates them.
                tracing::error!(error = %e, "no iptables: bridge networks run without NAT, DNAT or isolation");
                state.no_firewall.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, "could not install the iptables rules");
                failure = Some(e.to_string());
            }
        }
        if let Some(reason) = failure {
            *state.unavailable.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        }
        Ok(())
    }

    /// After the running containers were found again: their published ports' proxies and
    /// the DNS names of their endpoints.
    pub async fn restore_endpoints(&self) -> Result<()> {
        if self.networks.netlink().is_err() {
            return Ok(());
        }
        let mut by_container: BTreeMap<String, Vec<crate::store::networks::PublishedPort>> = BTreeMap::new();
        for port in self.store.all_published_ports().await? {
            by_container.entry(port.container_id.clone()).or_default().push(port);
        }
        let targets = self.port_targets().await?;
        for (container_id, ports) in by_container {
            let Some((ip, _)) = targets.get(&container_id) else { continue };
            let mut proxies = Vec::new();
            for port in ports {
                let (Ok(host_ip), Some(proto)) = (port.host_ip.parse::<Ipv4Addr>(), Proto::parse(&port.proto)) else {
                    continue;
                };
                let target = SocketAddrV4::new(*ip, port.container_port);
                match PortProxy::bind(host_ip, port.host_port, proto, target).await {
                    Ok(proxy) => proxies.push(proxy),
                    Err(e) => tracing::warn!(container = %container_id, port = port.host_port, error = %e,
                        "could not listen on a published port again"),
                }
            }
            self.networks.proxies.lock().unwrap_or_else(|e| e.into_inner()).insert(container_id, proxies);
        }
        for row in self.store.all_networks().await? {
            let network = Network::from_row(row);
            if network.has_dns() {
                self.refresh_names(&network).await?;
            }
        }
        self.refresh_rules().await
    }

    /// At daemon stop: the proxies and DNS servers end; the rules and bridges go too when no
    /// container runs (running ones keep their network until the daemon is back).
    pub async fn stop_networks(&self) {
        let state = &self.networks;
        state.proxies.lock().unwrap_or_else(|e| e.into_inner()).clear();
        state.dns.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let Ok(netlink) = state.netlink() else { return };
        match self.store.live_containers().await {
            Ok(live) if live.is_empty() => {}
            Ok(_) => {
                tracing::info!("containers still run: their bridges and rules stay");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not list running containers; leaving networks in place");
                return;
            }
        }
        let _rules = state.rules.lock().await;
        if !state.no_firewall.load(std::sync::atomic::Ordering::Relaxed)
            && let Err(e) = iptables::remove(&state.chains).await
        {
            tracing::warn!(error = %e, "removing the iptables rules failed");
        }
        if let Ok(networks) = self.store.all_networks().await {
            for network in networks.into_iter().map(Network::from_row).filter(Network::is_bridge) {
                if let Err(e) = netlink.delete_link(&network.row.bridge).await {
                    tracing::warn!(bridge = %network.row.bridge, error = %e, "removing a bridge failed");
                }
            }
        }
    }

    /// Clears endpoints recorded for containers that do not run (a daemon that died between
    /// reserving addresses and starting), so that their addresses are free again.
    async fn forget_stale_endpoints(&self) -> Result<()> {
        let live: std::collections::HashSet<String> =
            self.store.live_containers().await?.into_iter().map(|c| c.id).collect();
        for a in self.store.live_attachments().await? {
            if !live.contains(&a.container_id) {
                self.store.clear_endpoint(&a.network_id, &a.container_id).await?;
                self.store.set_published_ports(&a.container_id, &[]).await?;
            }
        }
        Ok(())
    }

    /// Makes a bridge network's bridge (with its gateway) and, for user networks, starts its
    /// DNS server.
    pub(super) async fn bring_up_network(&self, network: &Network) -> Result<()> {
        let netlink = self.networks.netlink()?;
        let (subnet, gateway) = network.addressing()?;
        netlink.ensure_bridge(&network.row.bridge, gateway_net(gateway, &subnet)).await?;
        if network.has_dns() {
            let names = self.networks.names_of(&network.row.id);
            match DnsServer::bind(gateway, names, dns::host_upstreams()).await {
                Ok(server) => {
                    self.networks.dns.lock().unwrap_or_else(|e| e.into_inner()).insert(network.row.id.clone(), server);
                }
                Err(e) => {
                    tracing::warn!(network = %network.row.name, error = %e, "no DNS server for the network's names")
                }
            }
        }
        Ok(())
    }

    /// Stops a network's DNS server and deletes its bridge. Best effort.
    pub(super) async fn tear_down_network(&self, network: &Network) {
        let state = &self.networks;
        state.dns.lock().unwrap_or_else(|e| e.into_inner()).remove(&network.row.id);
        state.names.lock().unwrap_or_else(|e| e.into_inner()).remove(&network.row.id);
        if let Ok(netlink) = state.netlink()
            && let Err(e) = netlink.delete_link(&network.row.bridge).await
        {
            tracing::warn!(bridge = %network.row.bridge, error = %e, "removing a bridge failed");
        }
    }

    /// For each container with published ports: the address its ports lead to and the bridge
    /// it is reached through (its first running endpoint on a network that is not internal).
    async fn port_targets(&self) -> Result<HashMap<String, (Ipv4Addr, String)>> {
        let networks: HashMap<String, Network> =
            self.store.all_networks().await?.into_iter().map(|n| (n.id.clone(), Network::from_row(n))).collect();
        let mut targets = HashMap::new();
        for a in self.store.live_attachments().await? {
            let (Some(endpoint), Some(network)) = (&a.endpoint, networks.get(&a.network_id)) else { continue };
            if network.row.internal || targets.contains_key(&a.container_id) {
                continue;
            }
            if let Ok(ip) = endpoint.ip.parse() {
                targets.insert(a.container_id.clone(), (ip, network.row.bridge.clone()));
            }
        }
        Ok(targets)
    }

    /// Rebuilds kapsel's iptables chains from the store: every bridge network and every
    /// published port of a running container.
    pub(super) async fn refresh_rules(&self) -> Result<()> {
        let state = &self.networks;
        let _rules = state.rules.lock().await;
        if state.netlink().is_err() || state.no_firewall.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let mut rules = RuleSet { default_bridge: state.options.bridge_name.clone(), ..Default::default() };
        for row in self.store.all_networks().await? {
            let network = Network::from_row(row);
            if let (true, Some(subnet)) = (network.is_bridge(), network.subnet) {
                rules.networks.push(BridgeRules {
                    bridge: network.row.bridge.clone(),
                    subnet,
                    internal: network.row.internal,
                });
            }
        }
        let targets = self.port_targets().await?;
        for port in self.store.all_published_ports().await? {
            let Some((container_ip, bridge)) = targets.get(&port.container_id) else { continue };
            let (Ok(host_ip), Some(proto)) = (port.host_ip.parse(), Proto::parse(&port.proto)) else { continue };
            rules.ports.push(PortRule {
                bridge: bridge.clone(),
                host_ip,
                host_port: port.host_port,
                proto,
                container_ip: *container_ip,
                container_port: port.container_port,
            });
        }
        iptables::apply(&state.chains, &rules).await?;
        Ok(())
    }

    /// Rebuilds the name table of a user network from its running endpoints: each container
    /// answers to its name, its aliases, its short id and its host name.
    pub(super) async fn refresh_names(&self, network: &Network) -> Result<()> {
        let mut table: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
        for a in self.store.network_attachments(&network.row.id).await? {
            let Some(endpoint) = &a.endpoint else { continue };
            let (Ok(ip), Some(row)) =
                (endpoint.ip.parse::<Ipv4Addr>(), self.store.container(&network.row.tenant_id, &a.container_id).await?)
            else {
                continue;
            };
            let Ok(c) = crate::engine::containers::Container::from_row(row) else { continue };
            for name in attach::dns_names(&c, &attach::aliases_of(&a)) {
                let entry = table.entry(name.to_ascii_lowercase()).or_default();
                if !entry.contains(&ip) {
                    entry.push(ip);
                }
            }
        }
        let names = self.networks.names_of(&network.row.id);
        *names.write().unwrap_or_else(|e| e.into_inner()) = table;
        Ok(())
    }
}

/// Turns on IPv4 forwarding, as dockerd does, when it is off.
fn enable_forwarding() -> std::io::Result<()> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(path)?.trim() != "1" {
        std::fs::write(path, "1")?;
    }
    Ok(())
}
