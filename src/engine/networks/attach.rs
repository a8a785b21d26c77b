//! Containers on networks. At create, the networks a container joins are recorded (an unknown
//! one is a 404). At start, each attachment gets an endpoint: an address from the network's
//! subnet reserved in the store before the bundle is written (/etc/hosts names it), then, once
//! the container's process exists in its new network namespace and before it executes, a veth
//! pair whose container end is created inside that namespace and configured from there, and
//! the published ports' proxies and rules. At exit (or a failed start) all of it is undone and
//! the addresses are released, as dockerd releases them at stop. `docker network connect` and
//! `disconnect` do the same for one network of a running container.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ports::{self, PortRequest};
use super::{Network, ipam, no_such_network};
use crate::engine::containers::spec::{NetworkChoice, network_mode};
use crate::engine::containers::{Container, HostConfig};
use crate::engine::{Engine, Error, Result};
use crate::runtime::bundle::EtcFiles;
use crate::runtime::network::netns::{self, InsideInterface};
use crate::runtime::network::proxy::PortProxy;
use crate::runtime::network::{format_mac, mac_for};
use crate::store::UniqueError;
use crate::store::networks::{AttachmentRow, Endpoint, PublishedPort};

/// A network a new container joins, as planned at create.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlannedAttachment {
    network_id: String,
    aliases: Vec<String>,
    requested_ip: String,
}

/// One endpoint reserved for a start.
#[derive(Debug, Clone)]
struct Planned {
    network: Network,
    ip: Ipv4Addr,
    mac: [u8; 6],
    endpoint_id: String,
    ifname: String,
    host_ifname: String,
    default_route: bool,
}

/// The endpoints and ports reserved for one start of a container.
#[derive(Debug, Clone, Default)]
pub(crate) struct Endpoints {
    list: Vec<Planned>,
    ports: Vec<PortRequest>,
}

impl Endpoints {
    /// The address /etc/hosts gives the container's host name: its first endpoint's.
    fn primary_ip(&self) -> Option<Ipv4Addr> {
        self.list.first().map(|p| p.ip)
    }
}

/// The aliases of an attachment.
pub(super) fn aliases_of(a: &AttachmentRow) -> Vec<String> {
    serde_json::from_str(&a.aliases).unwrap_or_default()
}

/// dockerd's DNS names of an endpoint: the container's name, its aliases, its short id and its
/// host name, without repeats.
pub(super) fn dns_names(c: &Container, aliases: &[String]) -> Vec<String> {
    let mut names = vec![c.row.name.clone()];
    names.extend(aliases.iter().cloned());
    names.push(c.short_id().to_string());
    if !c.config.hostname.is_empty() {
        names.push(c.config.hostname.clone());
    }
    let mut seen = HashSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
    names
}

/// The host end of a container's veth pair on a network: `veth` and 7 hex digits of a hash of
/// both ids, so it is known again after a daemon restart without being stored anywhere else.
fn host_ifname(container_id: &str, network_id: &str) -> String {
    let digest = Sha256::digest(format!("{container_id}/{network_id}").as_bytes());
    format!("veth{}", &hex::encode(digest)[..7])
}

/// The endpoint settings the create request carries for a network (by name or id).
fn endpoint_config<'a>(networking: Option<&'a Value>, network: &Network, term: &str) -> Option<&'a Value> {
    let endpoints = networking?.get("EndpointsConfig")?.as_object()?;
    endpoints.get(term).or_else(|| endpoints.get(&network.row.name)).or_else(|| endpoints.get(&network.row.id))
}

fn aliases_in(config: Option<&Value>) -> Vec<String> {
    config
        .and_then(|c| c.get("Aliases"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn ip_in(config: Option<&Value>) -> String {
    config.and_then(|c| c.pointer("/IPAMConfig/IPv4Address")).and_then(Value::as_str).unwrap_or_default().to_string()
}

impl Engine {
    /// `docker create`: the networks the container will join — its NetworkMode's, then any
    /// other in NetworkingConfig — with their endpoint options checked. As with dockerd, a
    /// network that does not exist (yet) is no error here: the start fails if it is still
    /// missing then (a 404 at create would make the CLI try to pull the image).
    pub(crate) async fn plan_attachments(
        &self,
        tenant: &str,
        hc: &HostConfig,
        networking: Option<&Value>,
    ) -> Result<Vec<PlannedAttachment>> {
        let primary = match network_mode(&hc.network_mode) {
            NetworkChoice::Host | NetworkChoice::Container(_) => return Ok(Vec::new()),
            NetworkChoice::Isolated if hc.network_mode == "none" => return Ok(Vec::new()),
            NetworkChoice::Isolated => "bridge".to_string(),
            NetworkChoice::Named(name) => name.to_string(),
        };
        let mut terms = vec![primary];
        if let Some(endpoints) = networking.and_then(|n| n.get("EndpointsConfig")).and_then(Value::as_object) {
            terms.extend(endpoints.keys().filter(|k| *k != "default").cloned());
        }
        let mut planned: Vec<PlannedAttachment> = Vec::new();
        for term in terms {
            let network = match self.resolve_network(tenant, &term).await {
                Ok(network) => network,
                Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if planned.iter().any(|p| p.network_id == network.row.id) {
                continue;
            }
            if !network.is_bridge() {
                return Err(Error::InvalidArgument(format!(
                    "container cannot be connected to network {} together with others",
                    network.row.name
                )));
            }
            let config = endpoint_config(networking, &network, &term);
            let aliases = aliases_in(config);
            let requested_ip = ip_in(config);
            check_endpoint_options(&network, &aliases, &requested_ip)?;
            planned.push(PlannedAttachment { network_id: network.row.id.clone(), aliases, requested_ip });
        }
        Ok(planned)
    }

    /// Records what `plan_attachments` planned, once the container exists.
    pub(crate) async fn record_attachments(&self, container_id: &str, planned: &[PlannedAttachment]) -> Result<()> {
        for p in planned {
            let aliases = serde_json::to_string(&p.aliases).map_err(anyhow::Error::from)?;
            match self.store.add_attachment(&p.network_id, container_id, &aliases, &p.requested_ip).await {
                Ok(()) | Err(UniqueError::Taken) => {}
                Err(UniqueError::Database(e)) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Start, before the bundle is written: an address on each of the container's networks,
    /// recorded in the store (so never handed out twice), and the ports to publish.
    pub(crate) async fn reserve_endpoints(&self, c: &Container) -> Result<Endpoints> {
        match network_mode(&c.host_config.network_mode) {
            NetworkChoice::Host | NetworkChoice::Container(_) => return Ok(Endpoints::default()),
            NetworkChoice::Isolated if c.host_config.network_mode == "none" => return Ok(Endpoints::default()),
            NetworkChoice::Isolated | NetworkChoice::Named(_) => {}
        }
        // The NetworkMode's network must exist now; it joins first if it was made after the
        // container (or the container before kapsel had networks).
        let term = if c.host_config.network_mode == "bridge" { "bridge" } else { c.host_config.network_mode.as_str() };
        let primary = match self.resolve_network(&c.row.tenant_id, term).await {
            Ok(network) => network,
            Err(Error::NotFound(_)) => {
                return Err(Error::NotFound(format!(
                    "failed to set up container networking: network {term} not found"
                )));
            }
            Err(e) => return Err(e),
        };
        let mut attachments = self.store.container_attachments(&c.row.id).await?;
        if !attachments.iter().any(|a| a.network_id == primary.row.id) && primary.is_bridge() {
            self.record_attachments(
                &c.row.id,
                &[PlannedAttachment {
                    network_id: primary.row.id.clone(),
                    aliases: Vec::new(),
                    requested_ip: String::new(),
                }],
            )
            .await?;
            attachments = self.store.container_attachments(&c.row.id).await?;
        }
        if attachments.is_empty() {
            return Ok(Endpoints::default());
        }
        self.networks.netlink()?;
        let mut list = Vec::new();
        let reserved = self.reserve(c, &attachments, &mut list, true).await;
        if let Err(e) = reserved {
            for p in &list {
                let _ = self.store.clear_endpoint(&p.network.row.id, &c.row.id).await;
            }
            return Err(e);
        }
        let ports = if list.iter().any(|p| p.default_route) { ports::requested(c)? } else { Vec::new() };
        Ok(Endpoints { list, ports })
    }

    /// Reserves an address for each attachment in `attachments`, appending to `list`. The
    /// interfaces are named after the ones the container already has.
    async fn reserve(
        &self,
        c: &Container,
        attachments: &[AttachmentRow],
        list: &mut Vec<Planned>,
        fresh_start: bool,
    ) -> Result<()> {
        let _ipam = self.networks.ipam.lock().await;
        let existing = if fresh_start { Vec::new() } else { self.store.container_attachments(&c.row.id).await? };
        let mut taken_names: HashSet<String> =
            existing.iter().filter_map(|a| a.endpoint.as_ref().map(|e| e.ifname.clone())).collect();
        let mut has_route = false;
        for a in &existing {
            if a.endpoint.is_some()
                && let Some(row) = self.store.network(&a.network_id).await?
            {
                has_route |= !row.internal;
            }
        }
        for a in attachments {
            let Some(row) = self.store.network(&a.network_id).await? else { continue };
            let network = Network::from_row(row);
            if !network.is_bridge() {
                continue;
            }
            let (subnet, gateway) = network.addressing()?;
            let used: HashSet<Ipv4Addr> =
                self.store.used_addresses(&network.row.id).await?.iter().filter_map(|ip| ip.parse().ok()).collect();
            let ip = if a.requested_ip.is_empty() {
                ipam::lowest_free(&subnet, gateway, &used).ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!(
                        "no available IPv4 addresses on this network's address pools: {} ({})",
                        network.row.name,
                        network.row.id
                    ))
                })?
            } else {
                let ip: Ipv4Addr = a
                    .requested_ip
                    .parse()
                    .map_err(|_| Error::InvalidArgument(format!("invalid IPv4 address: {}", a.requested_ip)))?;
                if !subnet.contains(&ip) || ip == gateway || ip == subnet.network() || ip == subnet.broadcast() {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid address {ip}: It does not belong to any of this network's subnets"
                    )));
                }
                if used.contains(&ip) {
                    return Err(Error::Forbidden(format!("Address already in use: {ip}")));
                }
                ip
            };
            let index = (0..).find(|i| !taken_names.contains(&format!("eth{i}"))).unwrap_or(0);
            let ifname = format!("eth{index}");
            taken_names.insert(ifname.clone());
            let default_route = !network.row.internal && !has_route;
            has_route |= default_route;
            let planned = Planned {
                ip,
                mac: mac_for(ip),
                endpoint_id: hex::encode(rand::random::<[u8; 32]>()),
                ifname,
                host_ifname: host_ifname(&c.row.id, &network.row.id),
                default_route,
                network,
            };
            let endpoint = Endpoint {
                endpoint_id: planned.endpoint_id.clone(),
                ip: ip.to_string(),
                mac: format_mac(&planned.mac),
                ifname: planned.ifname.clone(),
                host_ifname: planned.host_ifname.clone(),
            };
            match self.store.set_endpoint(&planned.network.row.id, &c.row.id, &endpoint).await {
                Ok(()) => {}
                Err(UniqueError::Taken) => return Err(Error::Forbidden(format!("Address already in use: {ip}"))),
                Err(UniqueError::Database(e)) => return Err(e.into()),
            }
            list.push(planned);
        }
        Ok(())
    }

    /// The /etc files' network parts: the container's address for its host name, and the
    /// network's DNS server for a container on a user network (unless `--dns` names others).
    pub(crate) fn network_etc_files(&self, c: &Container, endpoints: &Endpoints, etc: &mut EtcFiles) {
        if let Some(ip) = endpoints.primary_ip() {
            let hostname = etc.hostname.trim().to_string();
            etc.hosts = etc.hosts.replace(&format!("127.0.1.1\t{hostname}\n"), &format!("{ip}\t{hostname}\n"));
        }
        let user_dns = c.host_config.dns.as_deref().is_some_and(|d| !d.is_empty());
        if let Some(gateway) = endpoints.list.iter().find(|p| p.network.has_dns()).and_then(|p| p.network.gateway)
            && !user_dns
        {
            let mut resolv: String = etc
                .resolv_conf
                .lines()
                .filter(|l| !l.trim_start().starts_with("nameserver"))
                .map(|l| format!("{l}\n"))
                .collect();
            resolv.insert_str(0, &format!("nameserver {gateway}\n"));
            etc.resolv_conf = resolv;
        }
        if let Some(search) = c.host_config.dns_search.as_deref().filter(|s| !s.is_empty()) {
            etc.resolv_conf.retain_lines_without("search");
            etc.resolv_conf.push_str(&format!("search {}\n", search.join(" ")));
        }
        if let Some(options) = c.host_config.dns_options.as_deref().filter(|s| !s.is_empty()) {
            etc.resolv_conf.retain_lines_without("options");
            etc.resolv_conf.push_str(&format!("options {}\n", options.join(" ")));
        }
    }

    /// Start, once the container's process exists in its new network namespace and before it
    /// executes: the veth pairs, the addresses and routes inside, the DNS names, the published
    /// ports. On failure the caller releases everything (`release_endpoints`).
    pub(crate) async fn wire_endpoints(&self, c: &Container, pid: i32, endpoints: &Endpoints) -> Result<()> {
        if endpoints.list.is_empty() {
            return Ok(());
        }
        self.wire_interfaces(pid, &endpoints.list).await?;
        for p in endpoints.list.iter().filter(|p| p.network.has_dns()) {
            self.refresh_names(&p.network).await?;
        }
        // The rules change only with published ports (and networks).
        if let Some(target) = endpoints.list.iter().find(|p| p.default_route)
            && !endpoints.ports.is_empty()
        {
            self.publish_ports(c, target, &endpoints.ports).await?;
            self.refresh_rules().await?;
        }
        for p in &endpoints.list {
            self.network_event(&c.row.tenant_id, "connect", &p.network, &c.row.id).await;
        }
        Ok(())
    }

    /// A `network connect` or `disconnect` event, as dockerd emits them when a container
    /// joins or leaves a network (also at start and stop).
    async fn network_event(&self, tenant: &str, action: &str, network: &Network, container_id: &str) {
        let attributes = [("container", container_id), ("name", network.row.name.as_str()), ("type", "bridge")];
        self.events.emit(tenant, "network", action, &network.row.id, &attributes).await;
    }

    async fn wire_interfaces(&self, pid: i32, list: &[Planned]) -> Result<()> {
        let netlink = self.networks.netlink()?;
        let netns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        for p in list {
            let (subnet, gateway) = p.network.addressing()?;
            let _ = netlink.delete_link(&p.host_ifname).await;
            netlink.create_veth(&p.host_ifname, &p.network.row.bridge, &netns, &p.ifname, p.mac).await?;
            let address = Ipv4Net::new(p.ip, subnet.prefix_len()).map_err(anyhow::Error::from)?;
            let interface = InsideInterface {
                name: p.ifname.clone(),
                address,
                default_gateway: p.default_route.then_some(gateway),
            };
            netns::configure(pid, interface).await?;
        }
        Ok(())
    }

    /// Binds a proxy for each requested port (the proxies are kept as they are bound, so a
    /// later failure releases the earlier ones) and records the ports held.
    async fn publish_ports(&self, c: &Container, target: &Planned, requests: &[PortRequest]) -> Result<()> {
        let mut held = Vec::new();
        for request in requests {
            let destination = SocketAddrV4::new(target.ip, request.container_port);
            let mut last_error = None;
            let mut bound = None;
            for host_port in request.host_ports.clone() {
                match PortProxy::bind(request.host_ip, host_port, request.proto, destination).await {
                    Ok(proxy) => {
                        bound = Some(proxy);
                        break;
                    }
                    Err(e) => last_error = Some((host_port, e)),
                }
            }
            let proxy = match (bound, last_error) {
                (Some(proxy), _) => proxy,
                (None, Some((port, e))) => {
                    let detail = if e.kind() == std::io::ErrorKind::AddrInUse {
                        format!("Bind for {}:{port} failed: port is already allocated", request.host_ip)
                    } else {
                        format!("listen {} {}:{port}: {e}", request.proto.as_str(), request.host_ip)
                    };
                    return Err(Error::Internal(anyhow::anyhow!(
                        "driver failed programming external connectivity on endpoint {} ({}): {detail}",
                        c.row.name,
                        target.endpoint_id
                    )));
                }
                (None, None) => continue,
            };
            held.push(PublishedPort {
                container_id: c.row.id.clone(),
                proto: request.proto.as_str().into(),
                container_port: request.container_port,
                host_ip: request.host_ip.to_string(),
                host_port: proxy.host.port(),
            });
            self.networks
                .proxies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(c.row.id.clone())
                .or_default()
                .push(proxy);
        }
        self.store.set_published_ports(&c.row.id, &held).await?;
        Ok(())
    }

    /// Exit, failed start, removal: the container's proxies, veths, addresses, DNS names and
    /// port rules go. Best effort and idempotent.
    pub(crate) async fn release_endpoints(&self, c: &Container) {
        if let Err(e) = self.try_release_endpoints(c).await {
            tracing::warn!(container = %c.row.id, error = %e, "releasing the container's network endpoints failed");
        }
    }

    async fn try_release_endpoints(&self, c: &Container) -> Result<()> {
        let container_id = c.row.id.as_str();
        let proxies = self.networks.proxies.lock().unwrap_or_else(|e| e.into_inner()).remove(container_id);
        drop(proxies);
        let live: Vec<AttachmentRow> = self
            .store
            .container_attachments(container_id)
            .await?
            .into_iter()
            .filter(|a| a.endpoint.is_some())
            .collect();
        let ports = self.store.published_ports(container_id).await?;
        if live.is_empty() && ports.is_empty() {
            return Ok(());
        }
        let netlink = self.networks.netlink().ok();
        for a in &live {
            if let (Some(netlink), Some(endpoint)) = (&netlink, &a.endpoint)
                && let Err(e) = netlink.delete_link(&endpoint.host_ifname).await
            {
                tracing::warn!(link = %endpoint.host_ifname, error = %e, "removing a veth failed");
            }
            self.store.clear_endpoint(&a.network_id, container_id).await?;
        }
        self.store.set_published_ports(container_id, &[]).await?;
        for a in &live {
            if let Some(row) = self.store.network(&a.network_id).await? {
                let network = Network::from_row(row);
                if network.has_dns() {
                    self.refresh_names(&network).await?;
                }
                self.network_event(&c.row.tenant_id, "disconnect", &network, container_id).await;
            }
        }
        if ports.is_empty() { Ok(()) } else { self.refresh_rules().await }
    }

    /// `docker network connect`: records the attachment and, for a running container, adds
    /// the interface now (eth1, eth2…).
    pub async fn connect_network(
        &self,
        tenant: &str,
        network: &str,
        container: &str,
        endpoint_config: Option<&Value>,
    ) -> Result<()> {
        let network = self.resolve_network(tenant, network).await?;
        let c = self.resolve_container(tenant, container).await?;
        if !network.is_bridge() {
            return Err(Error::InvalidArgument(format!(
                "container cannot be disconnected from host network or connected to {} network",
                network.row.name
            )));
        }
        match network_mode(&c.host_config.network_mode) {
            NetworkChoice::Host | NetworkChoice::Container(_) => {
                return Err(Error::InvalidArgument(
                    "container sharing network namespace with another container or host cannot be connected to any other network"
                        .into(),
                ));
            }
            NetworkChoice::Isolated if c.host_config.network_mode == "none" => {
                return Err(Error::InvalidArgument(
                    "container cannot be connected to multiple networks with one of the networks in private (none) mode"
                        .into(),
                ));
            }
            _ => {}
        }
        let aliases = aliases_in(endpoint_config);
        let requested_ip = ip_in(endpoint_config);
        check_endpoint_options(&network, &aliases, &requested_ip)?;
        let live = self.live.get(&c.row.id);
        let _op = live.op.lock().await;
        let c = self.resolve_container(tenant, &c.row.id).await?;
        let aliases_json = serde_json::to_string(&aliases).map_err(anyhow::Error::from)?;
        match self.store.add_attachment(&network.row.id, &c.row.id, &aliases_json, &requested_ip).await {
            Ok(()) => {}
            Err(UniqueError::Taken) => {
                return Err(Error::Forbidden(format!(
                    "endpoint with name {} already exists in network {}",
                    c.row.name, network.row.name
                )));
            }
            Err(UniqueError::Database(e)) => return Err(e.into()),
        }
        if c.is_running()
            && let Err(e) = self.connect_running(&c, &network).await
        {
            if let Some(a) =
                self.store.container_attachments(&c.row.id).await?.iter().find(|a| a.network_id == network.row.id)
                && let Some(endpoint) = &a.endpoint
                && let Ok(netlink) = self.networks.netlink()
            {
                let _ = netlink.delete_link(&endpoint.host_ifname).await;
            }
            let _ = self.store.remove_attachment(&network.row.id, &c.row.id).await;
            let _ = self.refresh_names(&network).await;
            return Err(e);
        }
        self.network_event(tenant, "connect", &network, &c.row.id).await;
        Ok(())
    }

    async fn connect_running(&self, c: &Container, network: &Network) -> Result<()> {
        let attachment = self
            .store
            .container_attachments(&c.row.id)
            .await?
            .into_iter()
            .find(|a| a.network_id == network.row.id)
            .ok_or_else(|| no_such_network(&network.row.name))?;
        let mut list = Vec::new();
        self.reserve(c, std::slice::from_ref(&attachment), &mut list, false).await?;
        self.wire_interfaces(c.row.state.pid as i32, &list).await?;
        if network.has_dns() {
            self.refresh_names(network).await?;
        }
        Ok(())
    }

    /// Rebuilds the DNS names of a container's user networks (after a rename).
    pub(crate) async fn refresh_container_names(&self, container_id: &str) {
        let Ok(attachments) = self.store.container_attachments(container_id).await else { return };
        for a in attachments.iter().filter(|a| a.endpoint.is_some()) {
            if let Ok(Some(row)) = self.store.network(&a.network_id).await {
                let network = Network::from_row(row);
                if network.has_dns() {
                    let _ = self.refresh_names(&network).await;
                }
            }
        }
    }

    /// `docker network disconnect`: removes the attachment and, for a running container, its
    /// interface.
    pub async fn disconnect_network(&self, tenant: &str, network: &str, container: &str, force: bool) -> Result<()> {
        let network = self.resolve_network(tenant, network).await?;
        if !network.is_bridge() {
            return Err(Error::InvalidArgument(format!(
                "container cannot be disconnected from host network or connected to {} network",
                network.row.name
            )));
        }
        let c = match self.resolve_container(tenant, container).await {
            Ok(c) => c,
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let live = self.live.get(&c.row.id);
        let _op = live.op.lock().await;
        let attachments = self.store.container_attachments(&c.row.id).await?;
        let Some(attachment) = attachments.iter().find(|a| a.network_id == network.row.id) else {
            return Err(Error::Forbidden(format!(
                "container {} is not connected to network {}",
                c.row.id, network.row.name
            )));
        };
        if let Some(endpoint) = &attachment.endpoint {
            if let Ok(netlink) = self.networks.netlink() {
                let _ = netlink.delete_link(&endpoint.host_ifname).await;
            }
            // The ports lead to the first running endpoint on a network that is not internal.
            let mut carried_ports = None;
            for a in attachments.iter().filter(|a| a.endpoint.is_some()) {
                if self.store.network(&a.network_id).await?.is_some_and(|n| !n.internal) {
                    carried_ports = Some(a.network_id.clone());
                    break;
                }
            }
            if carried_ports.as_deref() == Some(network.row.id.as_str()) {
                self.networks.proxies.lock().unwrap_or_else(|e| e.into_inner()).remove(&c.row.id);
                self.store.set_published_ports(&c.row.id, &[]).await?;
            }
        }
        self.store.remove_attachment(&network.row.id, &c.row.id).await?;
        if network.has_dns() {
            self.refresh_names(&network).await?;
        }
        self.refresh_rules().await?;
        self.network_event(tenant, "disconnect", &network, &c.row.id).await;
        Ok(())
    }
}

/// dockerd's refusals of endpoint options on the default bridge.
fn check_endpoint_options(network: &Network, aliases: &[String], requested_ip: &str) -> Result<()> {
    if network.row.predefined && !aliases.is_empty() {
        return Err(Error::InvalidArgument(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    if network.row.predefined && !requested_ip.is_empty() {
        return Err(Error::InvalidArgument(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    Ok(())
}

/// Line filtering on resolv.conf text.
trait ResolvLines {
    /// Drops the lines starting with `keyword`.
    fn retain_lines_without(&mut self, keyword: &str);
}

impl ResolvLines for String {
    fn retain_lines_without(&mut self, keyword: &str) {
        *self =
            self.lines().filter(|l| l.split_whitespace().next() != Some(keyword)).map(|l| format!("{l}\n")).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::containers::ContainerRow;

    #[test]
    fn dns_names_follow_dockerd() {
        let c = Container {
            row: ContainerRow { id: "35de8003b19e".repeat(5) + "abcd", name: "myctr".into(), ..Default::default() },
            config: crate::engine::containers::Config { hostname: "35de8003b19e".into(), ..Default::default() },
            host_config: Default::default(),
        };
        assert_eq!(dns_names(&c, &["foobar".into(), "myctr".into()]), vec!["myctr", "foobar", "35de8003b19e"]);
    }

    #[test]
    fn veth_names_are_stable_and_short() {
        let name = host_ifname("c1", "n1");
        assert_eq!(name, host_ifname("c1", "n1"));
        assert_ne!(name, host_ifname("c1", "n2"));
        assert!(name.len() <= 15 && name.starts_with("veth"));
    }

    #[test]
    fn endpoint_settings_are_read_from_networking_config() {
        let networking = serde_json::json!({"EndpointsConfig": {"appnet": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.9.0.9"}}}});
        let config = networking.pointer("/EndpointsConfig/appnet");
        assert_eq!(aliases_in(config), vec!["web"]);
        assert_eq!(ip_in(config), "10.9.0.9");
        let mut text = "search a\nnameserver 1.1.1.1\noptions ndots:1\n".to_string();
        text.retain_lines_without("search");
        assert_eq!(text, "nameserver 1.1.1.1\noptions ndots:1\n");
    }
}
