//! Exec endpoints: create an exec in a running container, start it (hijacked, or detached),
//! inspect it for its exit code, resize its terminal.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::json::{JsonBody, parse};
use super::params::Params;
use super::stream::pump_attach;
use super::tenant::Tenant;
use crate::engine::containers::exec::ExecConfig;

/// How long a hijacked stream stays quiet after the 101: docker-py reads the raw socket under
/// its HTTP reader and loses bytes that arrive together with the response head
/// (docker/docker-py#3332).
const QUIET_AFTER_UPGRADE: std::time::Duration = std::time::Duration::from_millis(30);

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create_exec))
        .route("/exec/{id}/start", post(start_exec))
        .route("/exec/{id}/json", get(inspect_exec))
        .route("/exec/{id}/resize", post(resize_exec))
}

/// `POST /containers/{id}/exec`'s reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdReply {
    /// The new object's id.
    #[serde(rename = "Id")]
    pub id: String,
}

/// Creates an exec in a running container (409 otherwise).
#[utoipa::path(post, path = "/containers/{id}/exec", tag = "Exec",
    params(("id" = String, Path, description = "Container id, name or id prefix")),
    request_body = ExecConfig,
    responses((status = 201, body = IdReply), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody)))]
pub async fn create_exec(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(config): JsonBody<ExecConfig>,
) -> ApiResult<(StatusCode, Json<IdReply>)> {
    let id = state.engine.create_exec(&tenant.0, &id, config).await?;
    Ok((StatusCode::CREATED, Json(IdReply { id })))
}

/// The body of `POST /exec/{id}/start`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartConfig {
    /// Run in the background; no stream.
    pub detach: bool,
    /// Whether the exec has a TTY (as created).
    pub tty: bool,
    /// Initial terminal size.
    pub console_size: Option<Vec<u16>>,
}

/// Starts an exec: a hijacked stream (101) until it exits, or 200 at once when detached.
#[utoipa::path(post, path = "/exec/{id}/start", tag = "Exec",
    params(("id" = String, Path, description = "Exec id")),
    request_body = ExecStartConfig,
    responses((status = 101, description = "Hijacked: raw stdin in; multiplexed frames (or raw with a TTY) out"),
              (status = 200, description = "Started detached"),
              (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn start_exec(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    mut request: Request,
) -> ApiResult<Response> {
    let upgrade = request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
    let wants_upgrade = request.headers().contains_key(header::UPGRADE);
    let body = axum::body::to_bytes(request.into_body(), 1024 * 1024)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let start: ExecStartConfig = parse(&body)?;
    let engine = state.engine.clone();
    let record = engine.inspect_exec(&tenant.0, &id)?;
    if record.started {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!("Error: Exec command {id} has already run"),
        });
    }
    if start.detach {
        engine.start_exec(&tenant.0, &id, true).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let tty = record.config.tty;
    let stdin = record.config.attach_stdin;
    let content_type =
        if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    let (Some(upgrade), true) = (upgrade, wants_upgrade) else {
        // No hijack asked for: run it and stream the output as the body.
        let started = engine.start_exec(&tenant.0, &id, false).await?;
        let (client, server) = tokio::io::duplex(64 * 1024);
        if let Some(shim) = started.stream {
            tokio::spawn(pump_attach(server, shim, tty, false, started.finished));
        }
        let mut response = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(client)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        return Ok(response);
    };
    let tenant = tenant.0.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut client = hyper_util::rt::TokioIo::new(upgraded);
        tokio::time::sleep(QUIET_AFTER_UPGRADE).await;
        match engine.start_exec(&tenant, &id, false).await {
            Ok(started) => match started.stream {
                Some(shim) => pump_attach(client, shim, tty, stdin, started.finished).await,
                None => started.finished.await,
            },
            Err(e) => {
                // As dockerd: the error text on the output stream (a stdout frame without a TTY).
                let text = format!("{e}\r\n");
                if !tty {
                    let _ = client.write_all(&crate::runtime::shim::protocol::frame_header(1, text.len())).await;
                }
                let _ = client.write_all(text.as_bytes()).await;
                let _ = client.shutdown().await;
            }
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    Ok(response)
}

/// An exec's state; `ExitCode` is null while it runs.
#[utoipa::path(get, path = "/exec/{id}/json", tag = "Exec",
    params(("id" = String, Path, description = "Exec id")),
    responses((status = 200, description = "Docker's exec JSON", body = Object), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn inspect_exec(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = state.engine.inspect_exec(&tenant.0, &id)?;
    let cmd = r.config.cmd.clone().unwrap_or_default();
    Ok(Json(json!({
        "ID": r.id,
        "Running": r.running,
        "ExitCode": r.exit_code,
        "Pid": r.pid,
        "ContainerID": r.container_id,
        "OpenStdin": r.config.attach_stdin,
        "OpenStdout": r.config.attach_stdout,
        "OpenStderr": r.config.attach_stderr,
        "CanRemove": false,
        "DetachKeys": r.config.detach_keys,
        "ProcessConfig": {
            "tty": r.config.tty,
            "entrypoint": cmd.first().cloned().unwrap_or_default(),
            "arguments": cmd.iter().skip(1).collect::<Vec<_>>(),
            "privileged": r.config.privileged,
            "user": r.config.user,
        },
    })))
}

/// Sets an exec's terminal size.
#[utoipa::path(post, path = "/exec/{id}/resize", tag = "Exec",
    params(("id" = String, Path, description = "Exec id"),
           ("h" = u16, Query, description = "Rows"), ("w" = u16, Query, description = "Columns")),
    responses((status = 200, description = "Resized"), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn resize_exec(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let size = |key: &str| {
        params
            .get(key)
            .and_then(|v| v.parse::<u16>().ok())
            .ok_or_else(|| ApiError::bad_request(format!("invalid {key}")))
    };
    state.engine.resize_exec(&tenant.0, &id, size("h")?, size("w")?).await?;
    Ok(StatusCode::OK)
}
