//! Container endpoints: create, list, inspect, start, stop, restart, kill, wait, attach, logs,
//! resize, rename, remove and prune.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::json::JsonBody;
use super::params::Params;
use super::stream::{hijacked_response, output_content_type, pump_attach};
use super::tenant::{Caller, Tenant};
use crate::engine::containers::health::Health;
use crate::engine::containers::logs::{LogOptions, parse_log_time, timestamp_prefix};
use crate::engine::containers::{Config, Container, CreateRequest, HostConfig, ListOptions, WaitCondition};
use crate::engine::volumes::mounts::is_volume_bind;
use crate::runtime::shim::protocol::frame_header;
use crate::store::volumes::ContainerVolumeRow;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/create", post(create_container))
        .route("/containers/json", get(list_containers))
        .route("/containers/prune", post(prune_containers))
        .route("/containers/{id}/json", get(inspect_container))
        .route("/containers/{id}/start", post(start_container))
        .route("/containers/{id}/stop", post(stop_container))
        .route("/containers/{id}/restart", post(restart_container))
        .route("/containers/{id}/kill", post(kill_container))
        .route("/containers/{id}/wait", post(wait_container))
        .route("/containers/{id}/attach", post(attach_container))
        .route("/containers/{id}/logs", get(container_logs))
        .route("/containers/{id}/resize", post(resize_container))
        .route("/containers/{id}/rename", post(rename_container))
        .route("/containers/{id}", delete(remove_container))
}

/// `POST /containers/create`'s reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateReply {
    /// The new container's id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Things the client should print.
    #[serde(rename = "Warnings")]
    pub warnings: Vec<String>,
}

/// Creates a container.
#[utoipa::path(post, path = "/containers/create", tag = "Container",
    params(("name" = Option<String>, Query, description = "The container's name"),
           ("platform" = Option<String>, Query, description = "os/arch (accepted)")),
    request_body = CreateRequest,
    responses((status = 201, body = CreateReply), (status = 400, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody),
              (status = 501, body = super::openapi::ErrorBody), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn create_container(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
    Caller(principal): Caller,
    JsonBody(mut request): JsonBody<CreateRequest>,
) -> ApiResult<(StatusCode, Json<CreateReply>)> {
    let engine = &state.engine;
    engine.admit_container(&principal, &mut request.host_config).await?;
    let (id, warnings) = engine.queued(engine.create_container(&tenant.0, params.get("name"), request)).await?;
    Ok((StatusCode::CREATED, Json(CreateReply { id, warnings })))
}

/// One container in `docker ps`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    /// The id.
    pub id: String,
    /// `/name`.
    pub names: Vec<String>,
    /// The image as named at create.
    pub image: String,
    /// The image's id.
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// The command line.
    pub command: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// Published and exposed ports.
    pub ports: Vec<super::networks::SummaryPort>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// created, running, exited…
    pub state: String,
    /// "Up 5 seconds", "Exited (0) 1 second ago"…
    pub status: String,
    /// The network mode.
    pub host_config: SummaryHostConfig,
    /// Networks.
    pub network_settings: super::networks::SummaryNetworkSettings,
    /// Mounts (not listed: always empty).
    pub mounts: Vec<MountPoint>,
}

/// `HostConfig` in `docker ps`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryHostConfig {
    /// default, bridge, host, none, container:<id>, or a network name.
    pub network_mode: String,
}

/// Lists containers.
#[utoipa::path(get, path = "/containers/json", tag = "Container",
    params(("all" = Option<bool>, Query, description = "Include stopped containers"),
           ("limit" = Option<i64>, Query, description = "At most this many, newest first"),
           ("size" = Option<bool>, Query, description = "Include sizes (not computed)"),
           ("filters" = Option<String>, Query, description = "JSON: status, name, id, label, ancestor, exited, before, since")),
    responses((status = 200, body = [ContainerSummary]), (status = 400, body = super::openapi::ErrorBody)))]
pub async fn list_containers(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> ApiResult<Json<Vec<ContainerSummary>>> {
    let options = ListOptions {
        all: params.flag("all"),
        limit: params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(-1),
        filters: params.filters()?,
    };
    let containers = state.engine.list_containers(&tenant.0, &options).await?;
    let mut summaries = Vec::with_capacity(containers.len());
    for c in &containers {
        let networks = state.engine.container_networks(c).await?;
        summaries.push(summary(c, &networks));
    }
    Ok(Json(summaries))
}

fn summary(c: &Container, networks: &crate::engine::networks::view::ContainerNetworks) -> ContainerSummary {
    ContainerSummary {
        id: c.row.id.clone(),
        names: vec![format!("/{}", c.row.name)],
        image: c.row.image_ref.clone(),
        image_id: c.row.image_id.clone(),
        command: c.command().join(" "),
        created: seconds(&c.row.created_at),
        ports: super::networks::summary_ports(networks),
        labels: c.config.labels.clone(),
        state: c.row.state.status.clone(),
        status: status_text(c, time::OffsetDateTime::now_utc().unix_timestamp()),
        host_config: SummaryHostConfig { network_mode: c.host_config.network_mode.clone() },
        network_settings: super::networks::summary_network_settings(networks),
        mounts: Vec::new(),
    }
}

fn seconds(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
}

/// `docker ps`'s STATUS column.
fn status_text(c: &Container, now: i64) -> String {
    let state = &c.row.state;
    let ago = |t: &Option<String>| human_duration(now - t.as_deref().map(seconds).unwrap_or(now));
    match state.status.as_str() {
        "running" => match c.health().map(|h| h.status) {
            Some(status) if status == "starting" => format!("Up {} (health: starting)", ago(&state.started_at)),
            Some(status) => format!("Up {} ({status})", ago(&state.started_at)),
            None => format!("Up {}", ago(&state.started_at)),
        },
        "paused" => format!("Up {} (Paused)", ago(&state.started_at)),
        "restarting" => format!("Restarting ({}) {} ago", state.exit_code, ago(&state.finished_at)),
        "exited" => format!("Exited ({}) {} ago", state.exit_code, ago(&state.finished_at)),
        "created" => "Created".into(),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        other => other.to_string(),
    }
}

/// Go's `units.HumanDuration`, which the CLI's STATUS column uses.
fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (minutes, hours, days) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{days} days"),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", days / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", days / 30),
        _ => format!("{} years", days / 365),
    }
}

/// `GET /containers/{id}/json`: Docker's `ContainerJSON`, with non-null State, Config,
/// HostConfig and NetworkSettings, as the clients dereference them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    /// The full id.
    pub id: String,
    /// RFC 3339.
    pub created: String,
    /// The program: the first word of the entrypoint and command.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The run state.
    pub state: ContainerStateView,
    /// The image's id.
    pub image: String,
    /// The container's resolv.conf on the host.
    pub resolv_conf_path: String,
    /// The container's hostname file on the host.
    pub hostname_path: String,
    /// The container's hosts file on the host.
    pub hosts_path: String,
    /// The json-file log on the host.
    pub log_path: String,
    /// `/name`.
    pub name: String,
    /// Restarts by the restart policy.
    pub restart_count: i64,
    /// overlay2.
    pub driver: String,
    /// linux.
    pub platform: String,
    /// SELinux mount label (none).
    pub mount_label: String,
    /// SELinux process label (none).
    pub process_label: String,
    /// AppArmor profile (none).
    pub app_armor_profile: String,
    /// Always null: execs are listed by `/exec/{id}/json` only.
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    /// How the host runs it.
    pub host_config: HostConfig,
    /// The overlay's directories.
    pub graph_driver: super::images::GraphDriver,
    /// Binds, volumes and tmpfs mounts.
    pub mounts: Vec<MountPoint>,
    /// What runs (Labels always present).
    #[schema(value_type = Config)]
    pub config: Value,
    /// Networks and ports.
    pub network_settings: super::networks::NetworkSettings,
}

/// `State` in container inspect.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerStateView {
    /// created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    /// Running (or paused, or restarting).
    pub running: bool,
    /// Frozen.
    pub paused: bool,
    /// Between a policy restart's exit and start.
    pub restarting: bool,
    /// The last exit was an OOM kill.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Removal failed half way.
    pub dead: bool,
    /// Host pid of the first process, 0 when not running.
    pub pid: i64,
    /// The last exit code.
    pub exit_code: i64,
    /// Why the last start failed.
    pub error: String,
    /// RFC 3339; Go's zero time when never started.
    pub started_at: String,
    /// RFC 3339; Go's zero time when never ended.
    pub finished_at: String,
    /// The health check's state; absent without a health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// One entry of `Mounts` in container inspect.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// bind, volume, tmpfs.
    pub r#type: String,
    /// The volume's name (volumes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The host path ("" for tmpfs).
    pub source: String,
    /// The path inside.
    pub destination: String,
    /// The volume's driver (volumes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Options as given (`ro`, `z`…).
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// rprivate for binds, else "".
    pub propagation: String,
}

/// Inspects a container.
#[utoipa::path(get, path = "/containers/{id}/json", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"), ("size" = Option<bool>, Query, description = "Include sizes (not computed)")),
    responses((status = 200, description = "Docker's container JSON", body = ContainerInspect), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn inspect_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ContainerInspect>> {
    let c = state.engine.resolve_container(&tenant.0, &id).await?;
    let volumes = state.engine.container_volume_mounts(&c).await?;
    let networks = state.engine.container_networks(&c).await?;
    let bundle = state.engine.bundle_dir(&c.row.id);
    let path = |name: &str| bundle.join(name).to_string_lossy().into_owned();
    let argv = c.command();
    let zero = "0001-01-01T00:00:00Z".to_string();
    let s = &c.row.state;
    let mut config = serde_json::to_value(&c.config).unwrap_or_else(|_| json!({}));
    // Inspect shows the labels object even when empty.
    config["Labels"] = json!(c.config.labels);
    Ok(Json(ContainerInspect {
        id: c.row.id.clone(),
        created: c.row.created_at.clone(),
        path: argv.first().cloned().unwrap_or_default(),
        args: argv.iter().skip(1).cloned().collect(),
        state: ContainerStateView {
            status: s.status.clone(),
            running: c.is_running(),
            paused: s.status == "paused",
            restarting: s.status == "restarting",
            oom_killed: s.oom_killed,
            dead: s.status == "dead",
            pid: s.pid,
            exit_code: s.exit_code,
            error: s.error.clone(),
            started_at: s.started_at.clone().unwrap_or_else(|| zero.clone()),
            finished_at: s.finished_at.clone().unwrap_or_else(|| zero.clone()),
            // Docker omits State.Health without a health check (docker-py reads it with .get()).
            health: c.health(),
        },
        image: c.row.image_id.clone(),
        resolv_conf_path: path("resolv.conf"),
        hostname_path: path("hostname"),
        hosts_path: path("hosts"),
        log_path: path(crate::runtime::shim::protocol::LOG_FILE),
        name: format!("/{}", c.row.name),
        restart_count: s.restart_count,
        driver: "overlay2".into(),
        platform: "linux".into(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: None,
        host_config: c.host_config.clone(),
        graph_driver: super::images::GraphDriver {
            name: "overlay2".into(),
            data: [("UpperDir", path("upper")), ("WorkDir", path("work")), ("MergedDir", path("rootfs"))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        },
        mounts: mounts(&c, &volumes),
        config,
        network_settings: super::networks::network_settings(&c, &networks),
    }))
}

/// The Mounts section of inspect: binds, volumes and tmpfs mounts.
fn mounts(c: &Container, volumes: &[ContainerVolumeRow]) -> Vec<MountPoint> {
    let mount = |kind: &str, source: &str, destination: &str, mode: &str, rw: bool, propagation: &str| MountPoint {
        r#type: kind.to_string(),
        name: None,
        source: source.to_string(),
        destination: destination.to_string(),
        driver: None,
        mode: mode.to_string(),
        rw,
        propagation: propagation.to_string(),
    };
    let mut out = Vec::new();
    for bind in c.host_config.binds.iter().flatten().filter(|b| !is_volume_bind(b)) {
        let parts: Vec<&str> = bind.split(':').collect();
        if parts.len() >= 2 {
            let mode = parts.get(2).copied().unwrap_or("");
            let rw = !mode.split(',').any(|o| o == "ro");
            out.push(mount("bind", parts[0], parts[1], mode, rw, "rprivate"));
        }
    }
    for v in volumes {
        out.push(MountPoint {
            name: Some(v.volume_name.clone()),
            driver: Some(v.driver.clone()),
            ..mount("volume", &v.mountpoint, &v.destination, &v.mode, !v.read_only, "")
        });
    }
    for m in c.host_config.mounts.iter().flatten().filter(|m| m.r#type != "volume") {
        let propagation = if m.r#type == "bind" { "rprivate" } else { "" };
        out.push(mount(&m.r#type, &m.source, &m.target, "", !m.read_only, propagation));
    }
    for path in c.host_config.tmpfs.iter().flatten().map(|(p, _)| p) {
        out.push(mount("tmpfs", "", path, "", true, ""));
    }
    out
}

/// Starts a container; 304 if it runs already.
#[utoipa::path(post, path = "/containers/{id}/start", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix")),
    responses((status = 204, description = "Started"), (status = 304, description = "Already running"),
              (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody),
              (status = 503, body = super::openapi::ErrorBody)))]
pub async fn start_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let engine = &state.engine;
    engine.queued(engine.start_container(&tenant.0, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn timeout(params: &Params) -> Result<Option<i64>, ApiError> {
    match params.get("t").filter(|t| !t.is_empty()) {
        Some(t) => t.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid timeout {t:?}"))),
        None => Ok(None),
    }
}

/// Stops a container: its stop signal, then SIGKILL after `t` seconds; 304 if not running.
#[utoipa::path(post, path = "/containers/{id}/stop", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("t" = Option<i64>, Query, description = "Seconds before SIGKILL (-1: wait for ever)"),
           ("signal" = Option<String>, Query, description = "Signal to send first")),
    responses((status = 204, description = "Stopped"), (status = 304, description = "Not running"),
              (status = 404, body = super::openapi::ErrorBody),
              (status = 400, body = super::openapi::ErrorBody), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn stop_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let engine = &state.engine;
    engine.queued(engine.stop_container(&tenant.0, &id, timeout(&params)?, params.get("signal"))).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restarts a container.
#[utoipa::path(post, path = "/containers/{id}/restart", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("t" = Option<i64>, Query, description = "Seconds before SIGKILL"),
           ("signal" = Option<String>, Query, description = "Signal to send first")),
    responses((status = 204, description = "Restarted"), (status = 404, body = super::openapi::ErrorBody),
              (status = 400, body = super::openapi::ErrorBody), (status = 503, body = super::openapi::ErrorBody)))]
pub async fn restart_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let engine = &state.engine;
    engine.queued(engine.restart_container(&tenant.0, &id, timeout(&params)?, params.get("signal"))).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a signal (SIGKILL by default); 409 if not running.
#[utoipa::path(post, path = "/containers/{id}/kill", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("signal" = Option<String>, Query, description = "Name (TERM, SIGTERM) or number")),
    responses((status = 204, description = "Signalled"), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody)))]
pub async fn kill_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    state.engine.kill_container(&tenant.0, &id, params.get("signal")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `wait`'s reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitReply {
    /// The exit code.
    #[serde(rename = "StatusCode")]
    pub status_code: i64,
    /// Set when the wait itself failed.
    #[serde(rename = "Error")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
}

/// Waits for a condition; the headers are sent at once, the body (one JSON line) when it holds.
#[utoipa::path(post, path = "/containers/{id}/wait", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("condition" = Option<String>, Query, description = "not-running (default), next-exit, removed")),
    responses((status = 200, body = WaitReply), (status = 400, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn wait_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let condition: WaitCondition = params.get("condition").unwrap_or("").parse()?;
    let wait = state.engine.wait_container(&tenant.0, &id, condition).await?;
    let body = futures::stream::once(async move {
        let code = wait.await;
        let mut line = serde_json::to_vec(&WaitReply { status_code: code, error: None }).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::io::Error>(axum::body::Bytes::from(line))
    });
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// Attaches to a container's streams over a hijacked connection (101), before or after start.
#[utoipa::path(post, path = "/containers/{id}/attach", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("stream" = Option<bool>, Query, description = "Stream output"),
           ("stdin" = Option<bool>, Query, description = "Forward stdin"),
           ("stdout" = Option<bool>, Query, description = "Send stdout"),
           ("stderr" = Option<bool>, Query, description = "Send stderr"),
           ("Upgrade" = Option<String>, Header, description = "`tcp`: the connection is hijacked"),
           ("Connection" = Option<String>, Header, description = "`Upgrade`")),
    responses((status = 101, description = "Hijacked: raw stdin in; multiplexed frames (raw with a TTY) out, as `Content-Type` says, until the container stops",
               headers(("Connection" = String, description = "Upgrade"), ("Upgrade" = String, description = "tcp"))),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn attach_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
    mut request: Request,
) -> ApiResult<Response> {
    let streams = (params.flag("stdin"), params.flag("stdout"), params.flag("stderr"));
    let (c, source) = state.engine.attach_container(&tenant.0, &id, streams).await?;
    let tty = c.config.tty;
    let forward_stdin = streams.0 && c.config.open_stdin;
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let client = hyper_util::rt::TokioIo::new(upgraded);
        match source.await {
            Some(shim) => pump_attach(client, shim, tty, forward_stdin, async {}).await,
            None => drop(client),
        }
    });
    Ok(hijacked_response(tty))
}

/// A container's logs, multiplexed (raw with a TTY); with `follow` until it stops.
#[utoipa::path(get, path = "/containers/{id}/logs", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("follow" = Option<bool>, Query, description = "Keep streaming until the container stops"),
           ("stdout" = Option<bool>, Query, description = "Include stdout"),
           ("stderr" = Option<bool>, Query, description = "Include stderr"),
           ("since" = Option<String>, Query, description = "Unix time (fraction allowed) or RFC 3339"),
           ("until" = Option<String>, Query, description = "Unix time (fraction allowed) or RFC 3339"),
           ("timestamps" = Option<bool>, Query, description = "Prefix each line with its time"),
           ("tail" = Option<String>, Query, description = "Number of lines from the end, or all")),
    responses((status = 200, description = "The log stream: frames of an 8-byte header (stream, 0, 0, 0, big-endian u32 length) and the text; raw text for a TTY container. Ends at once unless `follow`",
               content((super::openapi::Binary = "application/vnd.docker.multiplexed-stream"),
                       (super::openapi::Binary = "application/vnd.docker.raw-stream"))),
              (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn container_logs(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let (stdout, stderr) = (params.flag("stdout"), params.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let tail = match params.get("tail").filter(|t| !t.is_empty() && *t != "all") {
        Some(t) => {
            Some(t.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid tail {t:?}")))?.max(0) as usize)
        }
        None => None,
    };
    let since = params.get("since").and_then(parse_log_time).filter(|&s| s > 0);
    let until = params.get("until").and_then(parse_log_time).filter(|&u| u > 0);
    let options = LogOptions { stdout, stderr, since, until, tail, follow: params.flag("follow") };
    let timestamps = params.flag("timestamps");
    let (c, mut lines) = state.engine.container_logs(&tenant.0, &id, options).await?;
    let tty = c.config.tty;
    let body = async_stream::stream! {
        while let Some(line) = lines.recv().await {
            let mut payload = Vec::with_capacity(line.text.len() + 32);
            if timestamps {
                payload.extend_from_slice(timestamp_prefix(&line.time).as_bytes());
                payload.push(b' ');
            }
            payload.extend_from_slice(line.text.as_bytes());
            let mut chunk = Vec::with_capacity(payload.len() + 8);
            if !tty {
                chunk.extend_from_slice(&frame_header(line.stream, payload.len()));
            }
            chunk.extend_from_slice(&payload);
            yield Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk));
        }
    };
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(output_content_type(tty)));
    Ok(response)
}

/// Sets the terminal size of a TTY container.
#[utoipa::path(post, path = "/containers/{id}/resize", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("h" = u16, Query, description = "Rows"), ("w" = u16, Query, description = "Columns")),
    responses((status = 200, description = "Resized"), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody),
              (status = 400, body = super::openapi::ErrorBody)))]
pub async fn resize_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let (h, w) = params.terminal_size()?;
    state.engine.resize_container(&tenant.0, &id, h, w).await?;
    Ok(StatusCode::OK)
}

/// Renames a container.
#[utoipa::path(post, path = "/containers/{id}/rename", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"), ("name" = String, Query, description = "The new name")),
    responses((status = 204, description = "Renamed"), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody),
              (status = 400, body = super::openapi::ErrorBody)))]
pub async fn rename_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let name = params.string("name").ok_or_else(|| ApiError::bad_request("name is required"))?;
    state.engine.rename_container(&tenant.0, &id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a container (`force` kills a running one first).
#[utoipa::path(delete, path = "/containers/{id}", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("force" = Option<bool>, Query, description = "Kill it first if it runs"),
           ("v" = Option<bool>, Query, description = "Remove its anonymous volumes too")),
    responses((status = 204, description = "Removed"), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody),
              (status = 503, body = super::openapi::ErrorBody)))]
pub async fn remove_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let engine = &state.engine;
    engine.queued(engine.remove_container(&tenant.0, &id, params.flag("force"), params.flag("v"))).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `docker container prune`'s reply.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerPruneReply {
    /// Ids removed.
    pub containers_deleted: Vec<String>,
    /// Bytes freed (not computed).
    pub space_reclaimed: u64,
}

/// Removes every stopped container.
#[utoipa::path(post, path = "/containers/prune", tag = "Container",
    params(("filters" = Option<String>, Query, description = "JSON: label, until")),
    responses((status = 200, body = ContainerPruneReply), (status = 400, body = super::openapi::ErrorBody)))]
pub async fn prune_containers(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> ApiResult<Json<ContainerPruneReply>> {
    let deleted = state.engine.prune_containers(&tenant.0, &params.filters()?).await?;
    Ok(Json(ContainerPruneReply { containers_deleted: deleted, space_reclaimed: 0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }
}
