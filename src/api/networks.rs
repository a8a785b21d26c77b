//! Network endpoints: list, create, inspect, remove, prune, connect and disconnect; and the
//! network parts of container inspect and `docker ps` (`NetworkSettings`, `Ports`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiResult;
use super::json::JsonBody;
use super::params::Params;
use super::tenant::Tenant;
use crate::engine::containers::Container;
use crate::engine::networks::view::{ContainerNetworks, EndpointView, NetworkMember};
use crate::engine::networks::{CreateNetwork, Network};

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list_networks))
        .route("/networks/create", post(create_network))
        .route("/networks/prune", post(prune_networks))
        .route("/networks/{id}", get(inspect_network).delete(remove_network))
        .route("/networks/{id}/connect", post(connect_network))
        .route("/networks/{id}/disconnect", post(disconnect_network))
}

/// Docker's `NetworkResource`: a network as list and inspect show it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResource {
    /// The name.
    pub name: String,
    /// The id.
    pub id: String,
    /// RFC 3339.
    pub created: String,
    /// Always `local`.
    pub scope: String,
    /// bridge, host, null.
    pub driver: String,
    /// IPv4 addressing (bridge networks).
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    /// Always false.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Addressing.
    #[serde(rename = "IPAM")]
    pub ipam: IpamView,
    /// No route outside (`--internal`).
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// Always false.
    pub ingress: bool,
    /// Always `{"Network": ""}`.
    pub config_from: ConfigFrom,
    /// Always false.
    pub config_only: bool,
    /// Running members by container id (inspect only; empty in lists).
    pub containers: BTreeMap<String, NetworkContainer>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A network's addressing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct IpamView {
    /// Always `default`.
    pub driver: String,
    /// Null for bridge networks, `{}` otherwise (as dockerd).
    pub options: Option<BTreeMap<String, String>>,
    /// The subnet and gateway, when the network has one.
    pub config: Vec<IpamConfigView>,
}

/// One subnet of a network.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfigView {
    /// CIDR.
    pub subnet: String,
    /// The bridge's address.
    pub gateway: String,
}

/// `ConfigFrom` of a network.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigFrom {
    /// Always "".
    pub network: String,
}

/// A container on a network, in network inspect.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkContainer {
    /// The container's name.
    pub name: String,
    /// The endpoint's id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Its MAC address.
    pub mac_address: String,
    /// `address/prefix`.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// Always "".
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// Docker's network JSON (`NetworkResource`); `Containers` is filled by inspect only.
fn network_json(
    n: &Network,
    members: &[NetworkMember],
    default_bridge_options: &BTreeMap<String, String>,
) -> NetworkResource {
    let config = match (&n.subnet, &n.gateway) {
        (Some(subnet), Some(gateway)) => {
            vec![IpamConfigView { subnet: subnet.to_string(), gateway: gateway.to_string() }]
        }
        _ => Vec::new(),
    };
    let containers = members
        .iter()
        .map(|m| {
            (
                m.container_id.clone(),
                NetworkContainer {
                    name: m.name.clone(),
                    endpoint_id: m.endpoint_id.clone(),
                    mac_address: m.mac.clone(),
                    ipv4_address: m.ipv4.clone(),
                    ipv6_address: String::new(),
                },
            )
        })
        .collect();
    let options = if n.row.predefined && n.is_bridge() { default_bridge_options } else { &n.options };
    NetworkResource {
        name: n.row.name.clone(),
        id: n.row.id.clone(),
        created: n.row.created_at.clone(),
        scope: "local".into(),
        driver: n.row.driver.clone(),
        enable_ipv4: n.is_bridge(),
        enable_ipv6: false,
        ipam: IpamView {
            driver: "default".into(),
            options: if n.is_bridge() { None } else { Some(BTreeMap::new()) },
            config,
        },
        internal: n.row.internal,
        attachable: n.row.attachable,
        ingress: false,
        config_from: ConfigFrom { network: String::new() },
        config_only: false,
        containers,
        options: options.clone(),
        labels: n.labels.clone(),
    }
}

/// Lists networks.
#[utoipa::path(get, path = "/networks", tag = "Network",
    params(("filters" = Option<String>, Query, description = "JSON: name, id, driver, label, type (custom, builtin), scope, dangling")),
    responses((status = 200, description = "The networks", body = [NetworkResource]),
              (status = 400, body = super::openapi::ErrorBody)))]
pub async fn list_networks(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> ApiResult<Json<Vec<NetworkResource>>> {
    let engine = &state.engine;
    let networks = engine.list_networks(&tenant.0, &params.filters()?).await?;
    let options = engine.default_bridge_options();
    Ok(Json(networks.iter().map(|n| network_json(n, &[], &options)).collect()))
}

/// Inspects a network, with its running containers.
#[utoipa::path(get, path = "/networks/{id}", tag = "Network",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("verbose" = Option<bool>, Query, description = "Accepted"), ("scope" = Option<String>, Query, description = "Accepted")),
    responses((status = 200, description = "The network with its running containers", body = NetworkResource),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn inspect_network(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<NetworkResource>> {
    let engine = &state.engine;
    let network = engine.resolve_network(&tenant.0, &id).await?;
    let members = engine.network_members(&network).await?;
    Ok(Json(network_json(&network, &members, &engine.default_bridge_options())))
}

/// One IPAM configuration of a create request.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    /// CIDR.
    pub subnet: Option<String>,
    /// Accepted; addresses come from the whole subnet.
    pub ip_range: Option<String>,
    /// The bridge's address; default: the subnet's first.
    pub gateway: Option<String>,
}

/// The IPAM part of a create request.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    /// Empty or `default`.
    pub driver: Option<String>,
    /// At most one IPv4 subnet.
    pub config: Option<Vec<IpamConfig>>,
}

/// `POST /networks/create`'s body, as the CLI sends it.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateRequest {
    /// The name.
    pub name: String,
    /// Empty or `bridge`.
    pub driver: Option<String>,
    /// `--internal`.
    pub internal: Option<bool>,
    /// `--attachable`.
    pub attachable: Option<bool>,
    /// `--ipv6` (not supported).
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: Option<bool>,
    /// `--subnet`, `--gateway`.
    #[serde(rename = "IPAM")]
    pub ipam: Option<Ipam>,
    /// `-o` driver options.
    pub options: Option<BTreeMap<String, String>>,
    /// `--label`.
    pub labels: Option<BTreeMap<String, String>>,
}

/// `POST /networks/create`'s reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkCreateReply {
    /// The new network's id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Always empty.
    #[serde(rename = "Warning")]
    pub warning: String,
}

/// Creates a bridge network.
#[utoipa::path(post, path = "/networks/create", tag = "Network",
    request_body = NetworkCreateRequest,
    responses((status = 201, body = NetworkCreateReply), (status = 400, body = super::openapi::ErrorBody),
              (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody),
              (status = 501, body = super::openapi::ErrorBody), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn create_network(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(request): JsonBody<NetworkCreateRequest>,
) -> ApiResult<(StatusCode, Json<NetworkCreateReply>)> {
    let ipam = request.ipam.unwrap_or_default();
    if let Some(driver) = ipam.driver.as_deref().filter(|d| !d.is_empty() && *d != "default") {
        return Err(crate::engine::Error::NotFound(format!("plugin \"{driver}\" not found")).into());
    }
    let request = CreateNetwork {
        name: request.name,
        driver: request.driver.unwrap_or_default(),
        internal: request.internal.unwrap_or(false),
        attachable: request.attachable.unwrap_or(false),
        enable_ipv6: request.enable_ipv6.unwrap_or(false),
        ipam: ipam
            .config
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| Some((c.subnet.filter(|s| !s.is_empty())?, c.gateway.unwrap_or_default())))
            .collect(),
        labels: request.labels.unwrap_or_default(),
        options: request.options.unwrap_or_default(),
    };
    let engine = &state.engine;
    let id = engine.queued(engine.create_network(&tenant.0, request)).await?;
    Ok((StatusCode::CREATED, Json(NetworkCreateReply { id, warning: String::new() })))
}

/// Removes a network; 403 for a predefined one or one with running containers.
#[utoipa::path(delete, path = "/networks/{id}", tag = "Network",
    params(("id" = String, Path, description = "Id, name or id prefix")),
    responses((status = 204, description = "Removed"), (status = 403, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody),
              (status = 503, body = super::openapi::ErrorBody)))]
pub async fn remove_network(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let engine = &state.engine;
    engine.queued(engine.remove_network(&tenant.0, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `docker network prune`'s reply.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkPruneReply {
    /// Names removed.
    pub networks_deleted: Vec<String>,
}

/// Removes the user networks no running container uses.
#[utoipa::path(post, path = "/networks/prune", tag = "Network",
    params(("filters" = Option<String>, Query, description = "JSON: label, label!, until")),
    responses((status = 200, body = NetworkPruneReply), (status = 400, body = super::openapi::ErrorBody),
              (status = 503, body = super::openapi::ErrorBody)))]
pub async fn prune_networks(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> ApiResult<Json<NetworkPruneReply>> {
    let engine = &state.engine;
    let deleted = engine.queued(engine.prune_networks(&tenant.0, &params.filters()?)).await?;
    Ok(Json(NetworkPruneReply { networks_deleted: deleted }))
}

/// `POST /networks/{id}/connect`'s body.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectRequest {
    /// The container: id, name or id prefix.
    pub container: String,
    /// Aliases (`--alias`) and `IPAMConfig.IPv4Address` (`--ip`).
    #[schema(value_type = Option<Object>)]
    pub endpoint_config: Option<Value>,
}

/// Connects a container to a network (a running one gets the interface at once).
#[utoipa::path(post, path = "/networks/{id}/connect", tag = "Network",
    params(("id" = String, Path, description = "Id, name or id prefix")),
    request_body = ConnectRequest,
    responses((status = 200, description = "Connected"), (status = 400, body = super::openapi::ErrorBody),
              (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody),
              (status = 503, body = super::openapi::ErrorBody)))]
pub async fn connect_network(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ConnectRequest>,
) -> ApiResult<StatusCode> {
    let engine = &state.engine;
    engine.queued(engine.connect_network(&tenant.0, &id, &request.container, request.endpoint_config.as_ref())).await?;
    Ok(StatusCode::OK)
}

/// `POST /networks/{id}/disconnect`'s body.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct DisconnectRequest {
    /// The container: id, name or id prefix.
    pub container: String,
    /// Succeed even when the container is gone.
    pub force: bool,
}

/// Disconnects a container from a network.
#[utoipa::path(post, path = "/networks/{id}/disconnect", tag = "Network",
    params(("id" = String, Path, description = "Id, name or id prefix")),
    request_body = DisconnectRequest,
    responses((status = 200, description = "Disconnected"), (status = 403, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody),
              (status = 503, body = super::openapi::ErrorBody)))]
pub async fn disconnect_network(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<DisconnectRequest>,
) -> ApiResult<StatusCode> {
    let engine = &state.engine;
    engine.queued(engine.disconnect_network(&tenant.0, &id, &request.container, request.force)).await?;
    Ok(StatusCode::OK)
}

/// One entry of `NetworkSettings.Networks` (Docker's `EndpointSettings`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    /// Always null.
    #[serde(rename = "IPAMConfig")]
    #[schema(value_type = Option<Object>)]
    pub ipam_config: Option<Value>,
    /// Always null.
    pub links: Option<Vec<String>>,
    /// `--network-alias` values.
    pub aliases: Option<Vec<String>>,
    /// The container's MAC address (while running).
    pub mac_address: String,
    /// Always null.
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Always 0.
    pub gw_priority: i64,
    /// The network's id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Empty while the container does not run.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The network's gateway (while running).
    pub gateway: String,
    /// The container's address (while running).
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// The subnet's prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// Always "".
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    /// Always "".
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    /// Always 0.
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    /// The names the network's DNS answers for it (user networks).
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

fn endpoint_json(e: &EndpointView) -> EndpointSettings {
    EndpointSettings {
        ipam_config: None,
        links: None,
        aliases: e.aliases.clone(),
        mac_address: e.mac.clone(),
        driver_opts: None,
        gw_priority: 0,
        network_id: e.network_id.clone(),
        endpoint_id: e.endpoint_id.clone(),
        gateway: e.gateway.clone(),
        ip_address: e.ip.clone(),
        ip_prefix_len: e.prefix_len,
        ipv6_gateway: String::new(),
        global_ipv6_address: String::new(),
        global_ipv6_prefix_len: 0,
        dns_names: e.dns_names.clone(),
    }
}

/// One host binding of a published port.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HostPort {
    /// The host address.
    pub host_ip: String,
    /// The host port.
    pub host_port: String,
}

/// Container inspect's `NetworkSettings`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// Always "".
    pub bridge: String,
    /// The container's id while it runs, else "".
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// `/proc/<pid>/ns/net` while it runs with its own network namespace, else "".
    pub sandbox_key: String,
    /// By `port/proto`: the host bindings, or null for a port only exposed.
    pub ports: BTreeMap<String, Option<Vec<HostPort>>>,
    /// Always false.
    pub hairpin_mode: bool,
    /// Always "".
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    /// Always 0.
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: u8,
    /// Always null.
    #[serde(rename = "SecondaryIPAddresses")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub secondary_ip_addresses: Option<Vec<Value>>,
    /// Always null.
    #[serde(rename = "SecondaryIPv6Addresses")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub secondary_ipv6_addresses: Option<Vec<Value>>,
    /// The default bridge's endpoint id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The default bridge's gateway.
    pub gateway: String,
    /// Always "".
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    /// Always 0.
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    /// The address on the default bridge.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Its prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// Always "".
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    /// The MAC address on the default bridge.
    pub mac_address: String,
    /// The container's networks by name.
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// Container inspect's `NetworkSettings`: the networks, the ports, and the default bridge's
/// endpoint repeated at the top level, as dockerd fills it.
pub fn network_settings(c: &Container, view: &ContainerNetworks) -> NetworkSettings {
    let networks = view.endpoints.iter().map(|e| (e.network_name.clone(), endpoint_json(e))).collect();
    let ports = view
        .ports
        .iter()
        .map(|(key, bindings)| {
            let value = bindings.as_ref().map(|list| {
                list.iter().map(|(ip, port)| HostPort { host_ip: ip.clone(), host_port: port.clone() }).collect()
            });
            (key.clone(), value)
        })
        .collect();
    let bridge = view.default_bridge().cloned().unwrap_or_default();
    let running = c.is_running() && c.row.state.pid > 0;
    let sandbox_key = if running && c.host_config.network_mode != "host" {
        format!("/proc/{}/ns/net", c.row.state.pid)
    } else {
        String::new()
    };
    NetworkSettings {
        bridge: String::new(),
        sandbox_id: if running { c.row.id.clone() } else { String::new() },
        sandbox_key,
        ports,
        hairpin_mode: false,
        link_local_ipv6_address: String::new(),
        link_local_ipv6_prefix_len: 0,
        secondary_ip_addresses: None,
        secondary_ipv6_addresses: None,
        endpoint_id: bridge.endpoint_id,
        gateway: bridge.gateway,
        global_ipv6_address: String::new(),
        global_ipv6_prefix_len: 0,
        ip_address: bridge.ip,
        ip_prefix_len: bridge.prefix_len,
        ipv6_gateway: String::new(),
        mac_address: bridge.mac,
        networks,
    }
}

/// `docker ps`'s `NetworkSettings`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryNetworkSettings {
    /// The container's networks by name.
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// `docker ps`'s `NetworkSettings` (`{"Networks": …}`).
pub fn summary_network_settings(view: &ContainerNetworks) -> SummaryNetworkSettings {
    SummaryNetworkSettings {
        networks: view.endpoints.iter().map(|e| (e.network_name.clone(), endpoint_json(e))).collect(),
    }
}

/// One port in `docker ps`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SummaryPort {
    /// The host address (published ports only).
    #[serde(rename = "IP", skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The container's port.
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    /// The host port (published ports only).
    #[serde(rename = "PublicPort", skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    /// tcp, udp.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// `docker ps`'s `Ports`: `{IP, PrivatePort, PublicPort, Type}`, the host side left out for
/// a port only exposed.
pub fn summary_ports(view: &ContainerNetworks) -> Vec<SummaryPort> {
    view.summary_ports
        .iter()
        .map(|(ip, private, public, kind)| match (ip, public) {
            (Some(ip), Some(public)) => SummaryPort {
                ip: Some(ip.clone()),
                private_port: *private,
                public_port: Some(*public),
                kind: kind.clone(),
            },
            _ => SummaryPort { ip: None, private_port: *private, public_port: None, kind: kind.clone() },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_bodies_are_read_as_the_cli_sends_them() {
        let body = br#"{"Name":"appnet","Driver":"bridge","Scope":"","EnableIPv4":null,"EnableIPv6":null,
            "IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.254"}]},
            "Internal":true,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,
            "Options":{},"Labels":{"team":"a"}}"#;
        let request: NetworkCreateRequest = serde_json::from_slice(body).unwrap();
        assert_eq!(request.name, "appnet");
        assert_eq!(request.internal, Some(true));
        let config = &request.ipam.unwrap().config.unwrap()[0];
        assert_eq!(config.subnet.as_deref(), Some("10.9.0.0/24"));
        assert_eq!(config.gateway.as_deref(), Some("10.9.0.254"));
        assert_eq!(request.labels.unwrap()["team"], "a");
    }

    #[test]
    fn ps_ports_have_docker_shapes() {
        let view = ContainerNetworks {
            summary_ports: vec![
                (Some("0.0.0.0".into()), 80, Some(8080), "tcp".into()),
                (None, 7000, None, "tcp".into()),
            ],
            ..Default::default()
        };
        let ports = serde_json::to_value(summary_ports(&view)).unwrap();
        assert_eq!(ports[0], json!({"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}));
        assert_eq!(ports[1], json!({"PrivatePort": 7000, "Type": "tcp"}));
    }
}
