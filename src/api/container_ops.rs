//! Day-two container operations: stats, top, pause, unpause and update.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiResult;
use super::json::JsonBody;
use super::params::Params;
use super::tenant::Tenant;
use crate::engine::containers::stats::{ContainerStats, StatsOptions};
use crate::engine::containers::top::ProcessList;
use crate::engine::containers::update::UpdateRequest;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/stats", get(container_stats))
        .route("/containers/{id}/top", get(container_top))
        .route("/containers/{id}/pause", post(pause_container))
        .route("/containers/{id}/unpause", post(unpause_container))
        .route("/containers/{id}/update", post(update_container))
}

/// A container's resource usage: one JSON document per line, about once a second while
/// streaming; without streaming, one document whose `precpu_stats` is from a second earlier.
#[utoipa::path(get, path = "/containers/{id}/stats", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("stream" = Option<bool>, Query, description = "Stream samples (default true)"),
           ("one-shot" = Option<bool>, Query, description = "Without streaming: one sample at once, precpu_stats zeroed")),
    responses((status = 200, description = "Samples as JSON, one per line, about once a second while `stream` (until the container stops); one sample otherwise", body = ContainerStats),
              (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn container_stats(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let options = StatsOptions { stream: params.bool_or("stream", true), one_shot: params.flag("one-shot") };
    let samples = state.engine.container_stats(&tenant.0, &id, options).await?;
    let body = samples.map(|sample| {
        let mut line = serde_json::to_vec(&sample).map_err(std::io::Error::other)?;
        line.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(line))
    });
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// The container's processes, as the host's `ps` shows them (host pids); 409 if not running.
#[utoipa::path(get, path = "/containers/{id}/top", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("ps_args" = Option<String>, Query, description = "Arguments for ps (default -ef)")),
    responses((status = 200, body = ProcessList), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody)))]
pub async fn container_top(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<ProcessList>> {
    Ok(Json(state.engine.top_container(&tenant.0, &id, params.get("ps_args")).await?))
}

/// Freezes every process of a running container.
#[utoipa::path(post, path = "/containers/{id}/pause", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix")),
    responses((status = 204, description = "Paused"), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody)))]
pub async fn pause_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.engine.pause_container(&tenant.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lets a paused container run again.
#[utoipa::path(post, path = "/containers/{id}/unpause", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix")),
    responses((status = 204, description = "Unpaused"), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody)))]
pub async fn unpause_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.engine.unpause_container(&tenant.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/update`'s reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateReply {
    /// Things the client should print.
    #[serde(rename = "Warnings")]
    pub warnings: Vec<String>,
}

/// Changes a container's limits (at once when it runs) and restart policy.
#[utoipa::path(post, path = "/containers/{id}/update", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix")),
    request_body = UpdateRequest,
    responses((status = 200, body = UpdateReply), (status = 400, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn update_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UpdateRequest>,
) -> ApiResult<Json<UpdateReply>> {
    let warnings = state.engine.update_container(&tenant.0, &id, request).await?;
    Ok(Json(UpdateReply { warnings }))
}
