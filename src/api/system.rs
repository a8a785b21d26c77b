//! System endpoints: `/_ping`, `/version` and `/info`, which every client calls first.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiResult;
use super::tenant::Tenant;
use super::version::{MAX_API_VERSION, MIN_API_VERSION};

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new().route("/_ping", get(ping).head(ping_head)).route("/version", get(version)).route("/info", get(info))
}

/// Whether the daemon answers; the CLI negotiates the API version from these headers.
#[utoipa::path(get, path = "/_ping", tag = "System", security(()),
    responses((status = 200, description = "The daemon is up; the body is OK", body = String, content_type = "text/plain",
               headers(("Api-Version" = String, description = "The newest API version spoken"),
                       ("Ostype" = String, description = "linux"), ("Swarm" = String, description = "inactive")))))]
pub async fn ping() -> Response {
    let mut response = "OK".into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert("Swarm", HeaderValue::from_static("inactive"));
    response
}

/// `HEAD /_ping`: the same headers as `GET /_ping`, without the body (the CLI's first call).
#[utoipa::path(head, path = "/_ping", tag = "System", security(()),
    responses((status = 200, description = "The daemon is up",
               headers(("Api-Version" = String, description = "The newest API version spoken"),
                       ("Ostype" = String, description = "linux"), ("Swarm" = String, description = "inactive")))))]
pub async fn ping_head() -> Response {
    ping().await
}

/// `/version`'s reply; docker-py needs `ApiVersion`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct VersionReply {
    /// The engine's version.
    pub version: String,
    /// The newest API version spoken.
    pub api_version: String,
    /// The oldest API version accepted.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// The source revision.
    pub git_commit: String,
    /// The toolchain (Go for dockerd; Rust here).
    pub go_version: String,
    /// linux.
    pub os: String,
    /// amd64, arm64…
    pub arch: String,
    /// The host kernel.
    pub kernel_version: String,
    /// When the binary was built.
    pub build_time: String,
    /// Always false.
    pub experimental: bool,
    /// The product.
    pub platform: Platform,
    /// Engine components.
    pub components: Vec<Component>,
}

/// The product name in `/version`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Platform {
    /// "kapsel".
    #[serde(rename = "Name")]
    pub name: String,
}

/// One component in `/version`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Component {
    /// Engine.
    pub name: String,
    /// Its version.
    pub version: String,
    /// ApiVersion, MinAPIVersion, Os, Arch…
    pub details: std::collections::BTreeMap<String, String>,
}

/// The engine's version and the API versions it speaks.
#[utoipa::path(get, path = "/version", tag = "System", responses((status = 200, body = VersionReply)))]
pub async fn version(State(state): State<AppState>) -> Json<VersionReply> {
    let host = state.engine.host();
    let version = env!("CARGO_PKG_VERSION").to_string();
    let details = [
        ("ApiVersion", MAX_API_VERSION.to_string()),
        ("MinAPIVersion", MIN_API_VERSION.to_string()),
        ("Os", "linux".to_string()),
        ("Arch", host.architecture.clone()),
        ("KernelVersion", host.kernel_version.clone()),
        ("GitCommit", git_commit().to_string()),
        ("GoVersion", rust_version().to_string()),
        ("BuildTime", String::new()),
        ("Experimental", "false".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Json(VersionReply {
        version: version.clone(),
        api_version: MAX_API_VERSION.to_string(),
        min_api_version: MIN_API_VERSION.to_string(),
        git_commit: git_commit().to_string(),
        go_version: rust_version().to_string(),
        os: "linux".to_string(),
        arch: host.architecture.clone(),
        kernel_version: host.kernel_version.clone(),
        build_time: String::new(),
        experimental: false,
        platform: Platform { name: "kapsel".to_string() },
        components: vec![Component { name: "Engine".to_string(), version, details }],
    })
}

/// The source revision, when the build recorded one.
fn git_commit() -> &'static str {
    option_env!("KAPSEL_GIT_COMMIT").unwrap_or("unknown")
}

/// What `docker version` shows as "Go version": kapsel is Rust.
fn rust_version() -> &'static str {
    concat!("rust (kapsel ", env!("CARGO_PKG_VERSION"), ")")
}

/// `/info`'s reply: real figures of the host and the caller's objects.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct InfoReply {
    /// The daemon's identity.
    #[serde(rename = "ID")]
    pub id: String,
    /// All containers.
    pub containers: i64,
    /// Running ones.
    pub containers_running: i64,
    /// Paused ones.
    pub containers_paused: i64,
    /// Stopped ones.
    pub containers_stopped: i64,
    /// Images.
    pub images: i64,
    /// The storage driver.
    pub driver: String,
    /// The storage driver's facts.
    pub driver_status: Vec<[String; 2]>,
    /// The default log driver.
    pub logging_driver: String,
    /// cgroupfs.
    pub cgroup_driver: String,
    /// "1" or "2".
    pub cgroup_version: String,
    /// The host kernel.
    pub kernel_version: String,
    /// The distribution.
    pub operating_system: String,
    /// Its version.
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    /// linux.
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// x86_64, aarch64 (uname's naming, as dockerd).
    pub architecture: String,
    /// Online CPUs.
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    /// Bytes of RAM.
    pub mem_total: u64,
    /// Where kapsel keeps its data.
    pub docker_root_dir: String,
    /// The host name.
    pub name: String,
    /// The engine's version.
    pub server_version: String,
    /// Security features in force.
    pub security_options: Vec<String>,
    /// Runtimes (kapsel is its own).
    pub runtimes: std::collections::BTreeMap<String, serde_json::Value>,
    /// The default runtime.
    pub default_runtime: String,
    /// Swarm is not supported.
    pub swarm: serde_json::Value,
    /// Labels of the daemon.
    pub labels: Vec<String>,
    /// Always false.
    pub experimental_build: bool,
    /// Things the operator should know.
    pub warnings: Vec<String>,
    /// Memory limits are enforced.
    pub memory_limit: bool,
    /// Swap limits are enforced.
    pub swap_limit: bool,
    /// Kernel memory limits (never, as current Docker).
    pub kernel_memory: bool,
    /// CFS period limits.
    pub cpu_cfs_period: bool,
    /// CFS quota limits.
    pub cpu_cfs_quota: bool,
    /// CPU shares.
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    /// cpusets.
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    /// pids limits.
    pub pids_limit: bool,
    /// Disabling the OOM killer (not offered).
    pub oom_kill_disable: bool,
    /// IP forwarding on the host.
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
}

/// The host and the daemon: CPUs, memory, kernel, cgroups, counts of containers and images.
#[utoipa::path(get, path = "/info", tag = "System", responses((status = 200, body = InfoReply)))]
pub async fn info(State(state): State<AppState>, tenant: Tenant) -> ApiResult<Json<InfoReply>> {
    let engine = &state.engine;
    let host = engine.host();
    let counts = engine.object_counts(&tenant.0).await?;
    let features = engine.cgroup_features();
    Ok(Json(InfoReply {
        id: engine.daemon_id().to_string(),
        containers: counts.containers,
        containers_running: counts.running,
        containers_paused: counts.paused,
        containers_stopped: counts.stopped,
        images: counts.images,
        driver: "overlay2".into(),
        driver_status: vec![["Backing Filesystem".into(), "extfs".into()]],
        logging_driver: "json-file".into(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: host.cgroup_version.as_str().into(),
        kernel_version: host.kernel_version.clone(),
        operating_system: host.operating_system.clone(),
        os_version: host.os_version.clone(),
        os_type: "linux".into(),
        architecture: std::env::consts::ARCH.into(),
        ncpu: host.ncpu,
        mem_total: host.mem_total,
        docker_root_dir: engine.data_root().display().to_string(),
        name: host.hostname.clone(),
        server_version: env!("CARGO_PKG_VERSION").into(),
        security_options: engine.security_options(),
        runtimes: [("kapsel".to_string(), serde_json::json!({ "path": "kapsel" }))].into_iter().collect(),
        default_runtime: "kapsel".into(),
        swarm: serde_json::json!({ "LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false }),
        labels: Vec::new(),
        experimental_build: false,
        warnings: Vec::new(),
        memory_limit: features.memory,
        swap_limit: features.swap,
        kernel_memory: false,
        cpu_cfs_period: features.cpu_cfs,
        cpu_cfs_quota: features.cpu_cfs,
        cpu_shares: features.cpu_shares,
        cpu_set: features.cpuset,
        pids_limit: features.pids,
        oom_kill_disable: false,
        ipv4_forwarding: host.ipv4_forwarding,
    }))
}
