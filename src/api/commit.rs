//! `POST /commit`: a new image from a container's changes (`docker commit`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::tenant::Tenant;
use crate::engine::containers::Config;
use crate::engine::containers::commit::CommitRequest;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new().route("/commit", post(commit_container))
}

/// `POST /commit`'s reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommitReply {
    /// The new image's id.
    #[serde(rename = "Id")]
    pub id: String,
}

/// Makes an image of a container: its image's layers plus one with its changes.
#[utoipa::path(post, path = "/commit", tag = "Image",
    params(("container" = String, Query, description = "Id, name or id prefix of the container"),
           ("repo" = Option<String>, Query, description = "Repository to tag the image with"),
           ("tag" = Option<String>, Query, description = "Tag"),
           ("comment" = Option<String>, Query, description = "Commit message (in the history)"),
           ("author" = Option<String>, Query, description = "Author"),
           ("pause" = Option<bool>, Query, description = "Pause a running container meanwhile (default true)"),
           ("changes" = Option<Vec<String>>, Query, description = "Dockerfile instructions to apply (repeatable)")),
    request_body(content = Option<Config>, description = "A config to use instead of the container's"),
    responses((status = 201, body = CommitReply), (status = 400, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn commit_container(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CommitReply>)> {
    // The CLI sends `null` when no config is given; docker-py sends nothing.
    let config: Option<Config> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let request = CommitRequest {
        container: params.get("container").unwrap_or_default().to_string(),
        repo: params.string("repo"),
        tag: params.string("tag"),
        comment: params.get("comment").unwrap_or_default().to_string(),
        author: params.get("author").unwrap_or_default().to_string(),
        changes: params.all("changes"),
        pause: params.bool_or("pause", true),
        config,
    };
    let id = state.engine.commit_container(&tenant.0, request).await?;
    Ok((StatusCode::CREATED, Json(CommitReply { id })))
}
