//! Docker's networks: the predefined `bridge`, `host` and `none`, and user-defined bridge
//! networks (`docker network create/ls/inspect/rm/prune/connect/disconnect`). A bridge network
//! is a row in the store and a Linux bridge with the gateway address; containers join it
//! through veth pairs with an address from the network's subnet (see `attach`), published
//! ports are held by the userland proxy and DNAT rules, and user networks answer their
//! containers' names through an embedded DNS server (see `setup`).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use ipnet::Ipv4Net;

use super::filters::Filters;
use super::{Engine, Error, Result};
use crate::runtime::network::dns::{DnsServer, NameTable};
use crate::runtime::network::iptables::{Chains, DEFAULT_BRIDGE, USER_BRIDGE_PREFIX};
use crate::runtime::network::netlink::Netlink;
use crate::runtime::network::proxy::PortProxy;
use crate::store::DEFAULT_TENANT;
use crate::store::UniqueError;
use crate::store::networks::NetworkRow;

mod attach;
pub mod ipam;
pub mod ports;
mod setup;
pub mod view;

/// The networks Docker always has.
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

/// Daemon flags about networking.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// The default bridge's Linux name (`kapsel0`).
    pub bridge_name: String,
    /// The default bridge's subnet; None: chosen clear of the host's routes at first start.
    pub bridge_subnet: Option<Ipv4Net>,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions { bridge_name: DEFAULT_BRIDGE.into(), bridge_subnet: None }
    }
}

/// The networks' in-memory state: the netlink connection, the userland proxies of running
/// containers, the DNS servers and name tables of user networks.
pub(crate) struct NetworkState {
    options: NetworkOptions,
    chains: Chains,
    netlink: Mutex<Option<Netlink>>,
    /// Why bridge networking cannot work on this host, when it cannot.
    unavailable: Mutex<Option<String>>,
    /// Set on a host without the iptables tools: bridges, addresses, the proxies and DNS work,
    /// but there is no outbound NAT, no DNAT and no isolation between networks.
    no_firewall: std::sync::atomic::AtomicBool,
    /// Serializes address allocation and network creation and removal.
    ipam: tokio::sync::Mutex<()>,
    /// Serializes rebuilding the iptables rules.
    rules: tokio::sync::Mutex<()>,
    /// Published-port proxies by container id.
    proxies: Mutex<HashMap<String, Vec<PortProxy>>>,
    /// DNS servers by network id.
    dns: Mutex<HashMap<String, DnsServer>>,
    /// Name tables by network id (shared with the DNS servers).
    names: Mutex<HashMap<String, NameTable>>,
}

impl NetworkState {
    /// The state for these flags; nothing touches the host until the daemon starts networks.
    pub fn new(options: NetworkOptions) -> NetworkState {
        NetworkState {
            chains: Chains::for_daemon(&options.bridge_name),
            options,
            netlink: Mutex::new(None),
            unavailable: Mutex::new(Some("networking has not been set up yet".into())),
            no_firewall: std::sync::atomic::AtomicBool::new(false),
            ipam: tokio::sync::Mutex::new(()),
            rules: tokio::sync::Mutex::new(()),
            proxies: Mutex::new(HashMap::new()),
            dns: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        }
    }

    /// The netlink connection; an error saying why bridge networking is unavailable.
    fn netlink(&self) -> Result<Netlink> {
        if let Some(reason) = self.unavailable.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(Error::Internal(anyhow::anyhow!("bridge networking is unavailable: {reason}")));
        }
        self.netlink
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("bridge networking is unavailable")))
    }

    /// The name table of a network, made on first use.
    fn names_of(&self, network_id: &str) -> NameTable {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).entry(network_id.to_string()).or_default().clone()
    }
}

/// A network with its definition parsed.
#[derive(Debug, Clone)]
pub struct Network {
    /// The stored row.
    pub row: NetworkRow,
    /// The subnet (bridge networks).
    pub subnet: Option<Ipv4Net>,
    /// The bridge's address (bridge networks).
    pub gateway: Option<Ipv4Addr>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options, as given at create (the default bridge's are Docker's).
    pub options: BTreeMap<String, String>,
}

impl Network {
    /// Parses a stored row.
    pub fn from_row(row: NetworkRow) -> Network {
        Network {
            subnet: row.subnet.parse().ok(),
            gateway: row.gateway.parse().ok(),
            labels: serde_json::from_str(&row.labels).unwrap_or_default(),
            options: serde_json::from_str(&row.options).unwrap_or_default(),
            row,
        }
    }

    /// A bridge network (as opposed to host and none).
    pub fn is_bridge(&self) -> bool {
        self.row.driver == "bridge"
    }

    /// A user-defined bridge network: its containers resolve each other by name.
    pub fn has_dns(&self) -> bool {
        self.is_bridge() && !self.row.predefined
    }

    /// The subnet and gateway of a bridge network.
    fn addressing(&self) -> Result<(Ipv4Net, Ipv4Addr)> {
        match (self.subnet, self.gateway) {
            (Some(subnet), Some(gateway)) => Ok((subnet, gateway)),
            _ => Err(Error::Internal(anyhow::anyhow!("network {} has no usable subnet", self.row.name))),
        }
    }
}

/// `POST /networks/create`'s request, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateNetwork {
    /// The name.
    pub name: String,
    /// Empty or `bridge`.
    pub driver: String,
    /// `--internal`.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// `--ipv6`.
    pub enable_ipv6: bool,
    /// `--subnet`, `--gateway` pairs (IPAM Config).
    pub ipam: Vec<(String, String)>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `-o`.
    pub options: BTreeMap<String, String>,
}

/// dockerd's 404 for a network that does not exist.
pub fn no_such_network(name: &str) -> Error {
    Error::NotFound(format!("network {name} not found"))
}

impl Engine {
    /// Finds a network the way dockerd does: full id, then exact name, then unique id prefix.
    pub async fn resolve_network(&self, tenant: &str, term: &str) -> Result<Network> {
        if term.is_empty() {
            return Err(no_such_network(term));
        }
        let networks = self.store.networks(tenant).await?;
        if let Some(row) = networks.iter().find(|n| n.id == term) {
            return Ok(Network::from_row(row.clone()));
        }
        if let Some(row) = networks.iter().find(|n| n.name == term) {
            return Ok(Network::from_row(row.clone()));
        }
        let by_prefix: Vec<&NetworkRow> = networks.iter().filter(|n| n.id.starts_with(term)).collect();
        match by_prefix.as_slice() {
            [row] => Ok(Network::from_row((*row).clone())),
            [] => Err(no_such_network(term)),
            more => Err(Error::InvalidArgument(format!(
                "network {term} is ambiguous ({} matches found based on ID prefix)",
                more.len()
            ))),
        }
    }

    /// `docker network create`: the new network's id.
    pub async fn create_network(&self, tenant: &str, request: CreateNetwork) -> Result<String> {
        let name = request.name.trim().to_string();
        if name.is_empty() {
            return Err(Error::InvalidArgument("network name must not be empty".into()));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        {
            return Err(Error::InvalidArgument(format!(
                "invalid network name \"{name}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if PREDEFINED.contains(&name.as_str()) {
            return Err(Error::Forbidden(format!("operation is not permitted on predefined {name} network ")));
        }
        match request.driver.as_str() {
            "" | "bridge" => {}
            "host" | "null" => {
                return Err(Error::Forbidden(format!(
                    "only one instance of \"{}\" network is allowed",
                    request.driver
                )));
            }
            "overlay" | "macvlan" | "ipvlan" => {
                return Err(Error::NotImplemented(format!(
                    "the {} driver is not supported: kapsel networks use the bridge driver",
                    request.driver
                )));
            }
            other => return Err(Error::NotFound(format!("plugin \"{other}\" not found"))),
        }
        if request.enable_ipv6 {
            return Err(Error::NotImplemented("IPv6 networks are not supported by kapsel".into()));
        }
        let mut ipv4 = request.ipam.iter().filter(|(subnet, _)| !subnet.contains(':'));
        let requested = ipv4.next().cloned();
        if ipv4.next().is_some() {
            return Err(Error::InvalidArgument("kapsel supports one IPv4 subnet per network".into()));
        }
        if request.ipam.iter().any(|(subnet, _)| subnet.contains(':')) {
            return Err(Error::NotImplemented("IPv6 subnets are not supported by kapsel".into()));
        }
        let _ipam = self.networks.ipam.lock().await;
        if self.store.networks(tenant).await?.iter().any(|n| n.name == name) {
            return Err(Error::Conflict(format!("network with name {name} already exists")));
        }
        let others: Vec<Ipv4Net> =
            self.store.all_networks().await?.iter().filter_map(|n| n.subnet.parse().ok()).collect();
        let (subnet, gateway) = match requested {
            Some((subnet, gateway)) => {
                let (subnet, gateway) = ipam::check_config(&subnet, &gateway)
                    .map_err(|e| Error::InvalidArgument(format!("invalid network config:\n{e}")))?;
                if others.iter().any(|o| crate::runtime::network::routes::overlaps(o, &subnet)) {
                    return Err(Error::Forbidden(
                        "invalid pool request: Pool overlaps with other one on this address space".into(),
                    ));
                }
                (subnet, gateway)
            }
            None => {
                let mut taken = crate::runtime::network::routes::host_routes();
                taken.extend(others);
                let subnet = ipam::choose_subnet(&taken).ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
                    ))
                })?;
                (subnet, ipam::default_gateway(&subnet))
            }
        };
        let id = hex::encode(rand::random::<[u8; 32]>());
        let row = NetworkRow {
            tenant_id: tenant.to_string(),
            bridge: format!("{USER_BRIDGE_PREFIX}{}", &id[..11]),
            id: id.clone(),
            name: name.clone(),
            driver: "bridge".into(),
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            internal: request.internal,
            attachable: request.attachable,
            predefined: false,
            labels: serde_json::to_string(&request.labels).map_err(anyhow::Error::from)?,
            options: serde_json::to_string(&request.options).map_err(anyhow::Error::from)?,
            created_at: crate::runtime::now_rfc3339_nanos(),
        };
        match self.store.insert_network(&row).await {
            Ok(()) => {}
            Err(UniqueError::Taken) => return Err(Error::Conflict(format!("network with name {name} already exists"))),
            Err(UniqueError::Database(e)) => return Err(e.into()),
        }
        let network = Network::from_row(row);
        if let Err(e) = self.bring_up_network(&network).await {
            self.tear_down_network(&network).await;
            let _ = self.store.delete_network(&id).await;
            return Err(e);
        }
        drop(_ipam);
        self.refresh_rules().await?;
        self.events.emit(tenant, "network", "create", &id, &[("name", &name), ("type", "bridge")]).await;
        Ok(id)
    }

    /// `docker network ls`, with Docker's filters (name, id, driver, label, type, scope,
    /// dangling).
    pub async fn list_networks(&self, tenant: &str, filters: &Filters) -> Result<Vec<Network>> {
        filters
            .validate(&["name", "id", "driver", "label", "type", "scope", "dangling"])
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        for kind in filters.values("type") {
            if kind != "custom" && kind != "builtin" {
                return Err(Error::InvalidArgument(format!("invalid filter: 'type'='{kind}'")));
            }
        }
        let dangling = filters.bool_value("dangling").map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut out = Vec::new();
        for row in self.store.networks(tenant).await? {
            let n = Network::from_row(row);
            let keep = filters.match_any("name", |v| n.row.name.contains(v))
                && filters.match_any("id", |v| n.row.id.starts_with(v))
                && filters.match_any("driver", |v| n.row.driver == v)
                && filters.match_any("scope", |v| v == "local")
                && filters.match_any("type", |v| (v == "builtin") == n.row.predefined)
                && filters.match_labels(&n.labels);
            if !keep {
                continue;
            }
            if let Some(dangling) = dangling {
                let used = n.row.predefined || !self.store.network_attachments(&n.row.id).await?.is_empty();
                if dangling == used {
                    continue;
                }
            }
            out.push(n);
        }
        Ok(out)
    }

    /// `docker network rm`: refuses the predefined networks and a network with running
    /// containers (403, as dockerd).
    pub async fn remove_network(&self, tenant: &str, term: &str) -> Result<()> {
        let network = self.resolve_network(tenant, term).await?;
        if network.row.predefined {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                network.row.name
            )));
        }
        let _ipam = self.networks.ipam.lock().await;
        let attachments = self.store.network_attachments(&network.row.id).await?;
        let mut active = Vec::new();
        for a in &attachments {
            if let Some(endpoint) = &a.endpoint {
                let name = self.store.container(&network.row.tenant_id, &a.container_id).await?.map(|c| c.name);
                active.push(format!(
                    "name:\"{}\" id:\"{}\"",
                    name.unwrap_or_default(),
                    &endpoint.endpoint_id[..12.min(endpoint.endpoint_id.len())]
                ));
            }
        }
        if !active.is_empty() {
            return Err(Error::Forbidden(format!(
                "error while removing network: network {} has active endpoints ({})",
                network.row.name,
                active.join(", ")
            )));
        }
        self.tear_down_network(&network).await;
        self.store.delete_network(&network.row.id).await?;
        drop(_ipam);
        self.refresh_rules().await?;
        self.events
            .emit(tenant, "network", "destroy", &network.row.id, &[("name", &network.row.name), ("type", "bridge")])
            .await;
        Ok(())
    }

    /// `docker network prune`: removes the user networks no running container uses; their
    /// names.
    pub async fn prune_networks(&self, tenant: &str, filters: &Filters) -> Result<Vec<String>> {
        filters.validate(&["label", "label!", "until"]).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let until = match filters.values("until").first() {
            Some(u) => Some(
                super::containers::logs::parse_log_time(u)
                    .ok_or_else(|| Error::InvalidArgument(format!("invalid filter 'until={u}'")))?,
            ),
            None => None,
        };
        let mut removed = Vec::new();
        for row in self.store.networks(tenant).await? {
            let n = Network::from_row(row);
            if n.row.predefined || n.row.tenant_id != tenant || !filters.match_labels(&n.labels) {
                continue;
            }
            if filters.contains("label!") && filters.match_labels_key("label!", &n.labels) {
                continue;
            }
            let created =
                time::OffsetDateTime::parse(&n.row.created_at, &time::format_description::well_known::Rfc3339)
                    .map(|t| t.unix_timestamp_nanos())
                    .unwrap_or(0);
            if until.is_some_and(|u| created >= u) {
                continue;
            }
            if self.store.network_attachments(&n.row.id).await?.iter().any(|a| a.endpoint.is_some()) {
                continue;
            }
            match self.remove_network(tenant, &n.row.id).await {
                Ok(()) => removed.push(n.row.name.clone()),
                Err(Error::Forbidden(_)) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Makes sure the predefined networks exist, with the default bridge's name and subnet
    /// from the flags (or a subnet clear of the host's routes).
    async fn ensure_predefined_networks(&self) -> Result<Network> {
        let now = crate::runtime::now_rfc3339_nanos();
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            if self.store.predefined_network(name).await?.is_some() {
                continue;
            }
            let row = NetworkRow {
                tenant_id: DEFAULT_TENANT.into(),
                id: hex::encode(rand::random::<[u8; 32]>()),
                name: name.into(),
                driver: driver.into(),
                predefined: true,
                labels: "{}".into(),
                options: "{}".into(),
                created_at: now.clone(),
                ..Default::default()
            };
            match self.store.insert_network(&row).await {
                Ok(()) | Err(UniqueError::Taken) => {}
                Err(UniqueError::Database(e)) => return Err(e.into()),
            }
        }
        let bridge = self.store.predefined_network("bridge").await?.ok_or_else(|| no_such_network("bridge"))?;
        let options = &self.networks.options;
        if bridge.bridge != options.bridge_name {
            self.store.set_network_bridge(&bridge.id, &options.bridge_name).await?;
        }
        let current: Option<Ipv4Net> = bridge.subnet.parse().ok();
        let wanted = match (options.bridge_subnet, current) {
            (Some(flag), Some(current)) if flag == current => None,
            (Some(flag), _) => Some(flag),
            (None, Some(_)) => None,
            (None, None) => {
                let mut taken = crate::runtime::network::routes::host_routes();
                taken.extend(self.store.all_networks().await?.iter().filter_map(|n| n.subnet.parse::<Ipv4Net>().ok()));
                Some(ipam::choose_subnet(&taken).ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!("no free subnet for the default bridge; use --bridge-subnet"))
                })?)
            }
        };
        if let Some(subnet) = wanted {
            let live = self.store.network_attachments(&bridge.id).await?.iter().any(|a| a.endpoint.is_some());
            if live && current.is_some() {
                tracing::warn!(
                    "the default bridge keeps its subnet {} while containers use it (asked for {subnet})",
                    bridge.subnet
                );
            } else {
                let gateway = ipam::default_gateway(&subnet);
                self.store.set_network_subnet(&bridge.id, &subnet.to_string(), &gateway.to_string()).await?;
            }
        }
        let row = self.store.predefined_network("bridge").await?.ok_or_else(|| no_such_network("bridge"))?;
        Ok(Network::from_row(row))
    }

    /// The options inspect shows for the default bridge (Docker's).
    pub fn default_bridge_options(&self) -> BTreeMap<String, String> {
        [
            ("com.docker.network.bridge.default_bridge", "true"),
            ("com.docker.network.bridge.enable_icc", "true"),
            ("com.docker.network.bridge.enable_ip_masquerade", "true"),
            ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
            ("com.docker.network.bridge.name", self.networks.options.bridge_name.as_str()),
            ("com.docker.network.driver.mtu", "1500"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}
