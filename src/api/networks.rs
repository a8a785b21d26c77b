//! Network endpoints: list, create, inspect, remove, prune, connect and disconnect; and the
//! network parts of container inspect and `docker ps` (`NetworkSettings`, `Ports`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
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

/// Docker's network JSON (`NetworkResource`); `Containers` is filled by inspect only.
fn network_json(n: &Network, members: &[NetworkMember], default_bridge_options: &BTreeMap<String, String>) -> Value {
    let config: Vec<Value> = match (&n.subnet, &n.gateway) {
        (Some(subnet), Some(gateway)) => vec![json!({"Subnet": subnet.to_string(), "Gateway": gateway.to_string()})],
        _ => Vec::new(),
    };
    let containers: BTreeMap<&str, Value> = members
        .iter()
        .map(|m| {
            (
                m.container_id.as_str(),
                json!({"Name": m.name, "EndpointID": m.endpoint_id, "MacAddress": m.mac, "IPv4Address": m.ipv4, "IPv6Address": ""}),
            )
        })
        .collect();
    let options = if n.row.predefined && n.is_bridge() { default_bridge_options } else { &n.options };
    json!({
        "Name": n.row.name,
        "Id": n.row.id,
        "Created": n.row.created_at,
        "Scope": "local",
        "Driver": n.row.driver,
        "EnableIPv4": n.is_bridge(),
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": if n.is_bridge() { Value::Null } else { json!({}) }, "Config": config},
        "Internal": n.row.internal,
        "Attachable": n.row.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": n.labels,
    })
}

/// Lists networks.
#[utoipa::path(get, path = "/networks", tag = "Network",
    params(("filters" = Option<String>, Query, description = "JSON: name, id, driver, label, type (custom, builtin), scope, dangling")),
    responses((status = 200, description = "Docker's NetworkResource list", body = Vec<Object>),
              (status = 400, body = super::openapi::ErrorBody)))]
pub async fn list_networks(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> ApiResult<Json<Vec<Value>>> {
    let engine = &state.engine;
    let networks = engine.list_networks(&tenant.0, &params.filters()?).await?;
    let options = engine.default_bridge_options();
    Ok(Json(networks.iter().map(|n| network_json(n, &[], &options)).collect()))
}

/// Inspects a network, with its running containers.
#[utoipa::path(get, path = "/networks/{id}", tag = "Network",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("verbose" = Option<bool>, Query, description = "Accepted"), ("scope" = Option<String>, Query, description = "Accepted")),
    responses((status = 200, description = "Docker's NetworkResource", body = Object),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn inspect_network(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
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
              (status = 409, body = super::openapi::ErrorBody)))]
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
              (status = 404, body = super::openapi::ErrorBody)))]
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
    responses((status = 200, body = NetworkPruneReply), (status = 400, body = super::openapi::ErrorBody)))]
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
              (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)))]
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
              (status = 404, body = super::openapi::ErrorBody)))]
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
fn endpoint_json(e: &EndpointView) -> Value {
    json!({
        "IPAMConfig": null,
        "Links": null,
        "Aliases": e.aliases,
        "MacAddress": e.mac,
        "DriverOpts": null,
        "GwPriority": 0,
        "NetworkID": e.network_id,
        "EndpointID": e.endpoint_id,
        "Gateway": e.gateway,
        "IPAddress": e.ip,
        "IPPrefixLen": e.prefix_len,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": e.dns_names,
    })
}

/// Container inspect's `NetworkSettings`: the networks, the ports, and the default bridge's
/// endpoint repeated at the top level, as dockerd fills it.
pub fn network_settings(c: &Container, view: &ContainerNetworks) -> Value {
    let networks: serde_json::Map<String, Value> =
        view.endpoints.iter().map(|e| (e.network_name.clone(), endpoint_json(e))).collect();
    let ports: BTreeMap<&String, Value> = view
        .ports
        .iter()
        .map(|(key, bindings)| {
            let value = match bindings {
                Some(list) => {
                    json!(list.iter().map(|(ip, port)| json!({"HostIp": ip, "HostPort": port})).collect::<Vec<_>>())
                }
                None => Value::Null,
            };
            (key, value)
        })
        .collect();
    let bridge = view.default_bridge().cloned().unwrap_or_default();
    let running = c.is_running() && c.row.state.pid > 0;
    let sandbox_key = if running && c.host_config.network_mode != "host" {
        format!("/proc/{}/ns/net", c.row.state.pid)
    } else {
        String::new()
    };
    json!({
        "Bridge": "",
        "SandboxID": if running { c.row.id.clone() } else { String::new() },
        "SandboxKey": sandbox_key,
        "Ports": ports,
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": bridge.endpoint_id,
        "Gateway": bridge.gateway,
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge.ip,
        "IPPrefixLen": bridge.prefix_len,
        "IPv6Gateway": "",
        "MacAddress": bridge.mac,
        "Networks": networks,
    })
}

/// `docker ps`'s `NetworkSettings` (`{"Networks": …}`).
pub fn summary_network_settings(view: &ContainerNetworks) -> Value {
    let networks: serde_json::Map<String, Value> =
        view.endpoints.iter().map(|e| (e.network_name.clone(), endpoint_json(e))).collect();
    json!({ "Networks": networks })
}

/// `docker ps`'s `Ports`: `{IP, PrivatePort, PublicPort, Type}`, the host side left out for
/// a port only exposed.
pub fn summary_ports(view: &ContainerNetworks) -> Vec<Value> {
    view.summary_ports
        .iter()
        .map(|(ip, private, public, kind)| match (ip, public) {
            (Some(ip), Some(public)) => json!({"IP": ip, "PrivatePort": private, "PublicPort": public, "Type": kind}),
            _ => json!({"PrivatePort": private, "Type": kind}),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ports = summary_ports(&view);
        assert_eq!(ports[0], json!({"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}));
        assert_eq!(ports[1], json!({"PrivatePort": 7000, "Type": "tcp"}));
    }
}
