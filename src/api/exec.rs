//! Exec endpoints: create an exec in a running container, start it (hijacked, or detached),
//! inspect it for its exit code, resize its terminal.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::json::{JsonBody, parse};
use super::params::Params;
use super::stream::{hijacked_response, output_content_type, pump_attach};
use super::tenant::{Caller, Tenant};
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
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(config): JsonBody<ExecConfig>,
) -> ApiResult<(StatusCode, Json<IdReply>)> {
    if config.privileged && !caller.is_admin() {
        return Err(crate::engine::Error::Forbidden("--privileged is not allowed for tenants".into()).into());
    }
    let id = state.engine.create_exec(caller.tenant_id(), &id, config).await?;
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

/// Starts an exec. With `Upgrade: tcp` the connection is hijacked (101): the client's bytes go
/// to the process's stdin, its output comes back as multiplexed frames (raw with a TTY) until it
/// exits. Without the upgrade the output is the body of a 200; detached, the 200 is empty.
#[utoipa::path(post, path = "/exec/{id}/start", tag = "Exec",
    params(("id" = String, Path, description = "Exec id"),
           ("Upgrade" = Option<String>, Header, description = "`tcp` to hijack the connection"),
           ("Connection" = Option<String>, Header, description = "`Upgrade` to hijack the connection")),
    request_body = ExecStartConfig,
    responses((status = 101, description = "Hijacked: raw stdin in; multiplexed frames (or raw with a TTY) out until the process exits",
               headers(("Connection" = String, description = "Upgrade"), ("Upgrade" = String, description = "tcp"))),
              (status = 200, description = "Detached: started, empty body. Otherwise the output stream as the body until the process exits",
               content((super::openapi::Binary = "application/vnd.docker.multiplexed-stream"),
                       (super::openapi::Binary = "application/vnd.docker.raw-stream"))),
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
    let (Some(upgrade), true) = (upgrade, wants_upgrade) else {
        // No hijack asked for: run it and stream the output as the body.
        let started = engine.start_exec(&tenant.0, &id, false).await?;
        let (client, server) = tokio::io::duplex(64 * 1024);
        if let Some(shim) = started.stream {
            tokio::spawn(pump_attach(server, shim, tty, false, started.finished));
        }
        let mut response = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(client)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(output_content_type(tty)));
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
    Ok(hijacked_response(tty))
}

/// `GET /exec/{id}/json`'s reply.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    /// The exec's id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Started and not yet exited.
    pub running: bool,
    /// The exit code; null until it exits.
    pub exit_code: Option<i64>,
    /// Host pid while running, else 0.
    pub pid: i64,
    /// The container it runs in.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// stdin is forwarded.
    pub open_stdin: bool,
    /// stdout is sent.
    pub open_stdout: bool,
    /// stderr is sent.
    pub open_stderr: bool,
    /// Always false.
    pub can_remove: bool,
    /// Client-side detach keys.
    pub detach_keys: String,
    /// The process.
    pub process_config: ExecProcessConfig,
}

/// `ProcessConfig` of an exec.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecProcessConfig {
    /// A pseudo-terminal.
    pub tty: bool,
    /// The program.
    pub entrypoint: String,
    /// Its arguments.
    pub arguments: Vec<String>,
    /// Every capability the host allows.
    pub privileged: bool,
    /// The user, as asked ("" for the container's).
    pub user: String,
}

/// An exec's state; `ExitCode` is null while it runs.
#[utoipa::path(get, path = "/exec/{id}/json", tag = "Exec",
    params(("id" = String, Path, description = "Exec id")),
    responses((status = 200, body = ExecInspect), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn inspect_exec(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ExecInspect>> {
    let r = state.engine.inspect_exec(&tenant.0, &id)?;
    let cmd = r.config.cmd.clone().unwrap_or_default();
    Ok(Json(ExecInspect {
        id: r.id,
        running: r.running,
        exit_code: r.exit_code,
        pid: r.pid,
        container_id: r.container_id,
        open_stdin: r.config.attach_stdin,
        open_stdout: r.config.attach_stdout,
        open_stderr: r.config.attach_stderr,
        can_remove: false,
        detach_keys: r.config.detach_keys,
        process_config: ExecProcessConfig {
            tty: r.config.tty,
            entrypoint: cmd.first().cloned().unwrap_or_default(),
            arguments: cmd.iter().skip(1).cloned().collect(),
            privileged: r.config.privileged,
            user: r.config.user,
        },
    }))
}

/// Sets an exec's terminal size.
#[utoipa::path(post, path = "/exec/{id}/resize", tag = "Exec",
    params(("id" = String, Path, description = "Exec id"),
           ("h" = u16, Query, description = "Rows"), ("w" = u16, Query, description = "Columns")),
    responses((status = 200, description = "Resized"), (status = 404, body = super::openapi::ErrorBody),
              (status = 400, body = super::openapi::ErrorBody)))]
pub async fn resize_exec(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let (h, w) = params.terminal_size()?;
    state.engine.resize_exec(&tenant.0, &id, h, w).await?;
    Ok(StatusCode::OK)
}
