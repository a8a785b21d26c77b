//! What inspect, `docker ps` and `docker network inspect` show of networks and endpoints,
//! gathered from the store; the API shapes it into Docker's JSON.

use std::collections::BTreeMap;

use super::{Network, attach, ports};
use crate::engine::containers::Container;
use crate::engine::containers::spec::{NetworkChoice, network_mode};
use crate::engine::{Engine, Result};

/// One of a container's networks, as `NetworkSettings.Networks` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointView {
    /// The network's name (the key in `Networks`).
    pub network_name: String,
    /// The network's id.
    pub network_id: String,
    /// Empty while the container does not run.
    pub endpoint_id: String,
    /// The network's gateway (while running).
    pub gateway: String,
    /// The container's address (while running).
    pub ip: String,
    /// The subnet's prefix length (while running).
    pub prefix_len: u8,
    /// The container's MAC address (while running).
    pub mac: String,
    /// `--network-alias` values; None when there are none.
    pub aliases: Option<Vec<String>>,
    /// The names the network's DNS answers for it (user networks).
    pub dns_names: Option<Vec<String>>,
    /// The container's interface (eth0…), while running.
    pub ifname: String,
}

/// A container's networking as inspect shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerNetworks {
    /// Its networks, in attachment order.
    pub endpoints: Vec<EndpointView>,
    /// `NetworkSettings.Ports` (empty unless running).
    pub ports: BTreeMap<String, Option<Vec<(String, String)>>>,
    /// `docker ps`'s ports (empty unless running).
    pub summary_ports: Vec<(Option<String>, u16, Option<u16>, String)>,
}

impl ContainerNetworks {
    /// The endpoint on the default bridge, whose values Docker repeats at the top level of
    /// `NetworkSettings`.
    pub fn default_bridge(&self) -> Option<&EndpointView> {
        self.endpoints.iter().find(|e| e.network_name == "bridge" && !e.endpoint_id.is_empty())
    }
}

/// A running container on a network, as `docker network inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkMember {
    /// The container's id.
    pub container_id: String,
    /// The container's name.
    pub name: String,
    /// The endpoint's id.
    pub endpoint_id: String,
    /// Its MAC address.
    pub mac: String,
    /// `address/prefix`.
    pub ipv4: String,
}

impl Engine {
    /// A container's networks and ports.
    pub async fn container_networks(&self, c: &Container) -> Result<ContainerNetworks> {
        let mut view = ContainerNetworks::default();
        let mode = &c.host_config.network_mode;
        match network_mode(mode) {
            NetworkChoice::Container(_) => return Ok(view),
            NetworkChoice::Host => {
                if let Some(row) = self.store.predefined_network("host").await? {
                    view.endpoints.push(EndpointView {
                        network_name: row.name,
                        network_id: row.id,
                        ..Default::default()
                    });
                }
                return Ok(view);
            }
            NetworkChoice::Isolated if mode == "none" => {
                if let Some(row) = self.store.predefined_network("none").await? {
                    view.endpoints.push(EndpointView {
                        network_name: row.name,
                        network_id: row.id,
                        ..Default::default()
                    });
                }
                return Ok(view);
            }
            _ => {}
        }
        for a in self.store.container_attachments(&c.row.id).await? {
            let Some(row) = self.store.network(&a.network_id).await? else { continue };
            let network = Network::from_row(row);
            let aliases = attach::aliases_of(&a);
            let mut e = EndpointView {
                network_name: network.row.name.clone(),
                network_id: network.row.id.clone(),
                aliases: (!aliases.is_empty()).then(|| aliases.clone()),
                dns_names: network.has_dns().then(|| attach::dns_names(c, &aliases)),
                ..Default::default()
            };
            if let Some(endpoint) = &a.endpoint {
                e.endpoint_id = endpoint.endpoint_id.clone();
                e.ip = endpoint.ip.clone();
                e.mac = endpoint.mac.clone();
                e.ifname = endpoint.ifname.clone();
                e.gateway = network.row.gateway.clone();
                e.prefix_len = network.subnet.map(|s| s.prefix_len()).unwrap_or(0);
            }
            view.endpoints.push(e);
        }
        if c.is_running() {
            let held = self.store.published_ports(&c.row.id).await?;
            view.ports = ports::inspect_ports(c, &held);
            view.summary_ports = ports::summary_ports(c, &held);
        }
        Ok(view)
    }

    /// Whether a container is attached to any of `terms` (network names or ids, ps's
    /// `network` filter).
    pub async fn container_on_networks(&self, c: &Container, terms: &[String]) -> Result<bool> {
        let view = self.container_networks(c).await?;
        Ok(view.endpoints.iter().any(|e| terms.iter().any(|t| *t == e.network_name || *t == e.network_id)))
    }

    /// The running containers on a network.
    pub async fn network_members(&self, network: &Network) -> Result<Vec<NetworkMember>> {
        let mut members = Vec::new();
        let prefix = network.subnet.map(|s| s.prefix_len()).unwrap_or(0);
        for a in self.store.network_attachments(&network.row.id).await? {
            let Some(endpoint) = a.endpoint else { continue };
            let name = match self.store.container(&network.row.tenant_id, &a.container_id).await? {
                Some(row) => row.name,
                None => continue,
            };
            members.push(NetworkMember {
                container_id: a.container_id,
                name,
                endpoint_id: endpoint.endpoint_id,
                mac: endpoint.mac,
                ipv4: format!("{}/{prefix}", endpoint.ip),
            });
        }
        Ok(members)
    }
}
