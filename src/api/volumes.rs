//! Volume endpoints: list, create, inspect, remove and prune.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiResult;
use super::json::JsonBody;
use super::params::Params;
use super::tenant::Tenant;
use crate::engine::volumes::CreateVolume;
use crate::store::volumes::VolumeRow;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list_volumes))
        .route("/volumes/create", post(create_volume))
        .route("/volumes/prune", post(prune_volumes))
        .route("/volumes/{name}", get(inspect_volume).delete(remove_volume))
}

/// A volume as Docker shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// The name.
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// The host directory holding the data.
    pub mountpoint: String,
    /// RFC 3339.
    pub created_at: String,
    /// User labels (and `com.docker.volume.anonymous` on anonymous volumes).
    pub labels: BTreeMap<String, String>,
    /// Always `local`.
    pub scope: String,
    /// The driver options it was created with.
    pub options: BTreeMap<String, String>,
}

impl From<VolumeRow> for Volume {
    fn from(v: VolumeRow) -> Volume {
        Volume {
            name: v.name,
            driver: v.driver,
            mountpoint: v.mountpoint,
            created_at: v.created_at,
            labels: v.labels,
            scope: "local".into(),
            options: v.options,
        }
    }
}

/// `GET /volumes`'s reply.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeList {
    /// The volumes.
    pub volumes: Vec<Volume>,
    /// Always null.
    pub warnings: Option<Vec<String>>,
}

/// Lists volumes.
#[utoipa::path(get, path = "/volumes", tag = "Volume",
    params(("filters" = Option<String>, Query, description = "JSON: dangling, driver, label, name")),
    responses((status = 200, body = VolumeList), (status = 400, body = super::openapi::ErrorBody)))]
pub async fn list_volumes(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> ApiResult<Json<VolumeList>> {
    let volumes = state.engine.list_volumes(&tenant.0, &params.filters()?).await?;
    Ok(Json(VolumeList { volumes: volumes.into_iter().map(Volume::from).collect(), warnings: None }))
}

/// `POST /volumes/create`'s body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateRequest {
    /// Empty or null: a random name.
    pub name: Option<String>,
    /// Empty, null or `local`.
    pub driver: Option<String>,
    /// `type`, `device`, `o` (the local driver's).
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// User labels.
    pub labels: Option<BTreeMap<String, String>>,
}

/// Creates a volume (or returns the existing one of that name).
#[utoipa::path(post, path = "/volumes/create", tag = "Volume",
    request_body = VolumeCreateRequest,
    responses((status = 201, body = Volume), (status = 400, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn create_volume(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(request): JsonBody<VolumeCreateRequest>,
) -> ApiResult<(StatusCode, Json<Volume>)> {
    let request = CreateVolume {
        name: request.name.unwrap_or_default(),
        driver: request.driver.unwrap_or_default(),
        driver_opts: request.driver_opts.unwrap_or_default(),
        labels: request.labels.unwrap_or_default(),
    };
    let volume = state.engine.create_volume(&tenant.0, request).await?;
    Ok((StatusCode::CREATED, Json(volume.into())))
}

/// Inspects a volume.
#[utoipa::path(get, path = "/volumes/{name}", tag = "Volume",
    params(("name" = String, Path, description = "The volume's name")),
    responses((status = 200, body = Volume), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn inspect_volume(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(name): Path<String>,
) -> ApiResult<Json<Volume>> {
    Ok(Json(state.engine.inspect_volume(&tenant.0, &name).await?.into()))
}

/// Removes a volume; 409 while a container uses it.
#[utoipa::path(delete, path = "/volumes/{name}", tag = "Volume",
    params(("name" = String, Path, description = "The volume's name"),
           ("force" = Option<bool>, Query, description = "No error if it does not exist")),
    responses((status = 204, description = "Removed"), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody)))]
pub async fn remove_volume(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    state.engine.remove_volume(&tenant.0, &name, params.flag("force")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune`'s reply.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct VolumePruneReply {
    /// Names removed.
    pub volumes_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// Removes unused anonymous volumes (every unused one with `all=true`).
#[utoipa::path(post, path = "/volumes/prune", tag = "Volume",
    params(("filters" = Option<String>, Query, description = "JSON: all, label, label!")),
    responses((status = 200, body = VolumePruneReply), (status = 400, body = super::openapi::ErrorBody)))]
pub async fn prune_volumes(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> ApiResult<Json<VolumePruneReply>> {
    let (volumes_deleted, space_reclaimed) = state.engine.prune_volumes(&tenant.0, &params.filters()?).await?;
    Ok(Json(VolumePruneReply { volumes_deleted, space_reclaimed }))
}
