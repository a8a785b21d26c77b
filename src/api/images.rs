//! Image endpoints: list, inspect, import, pull and push (see `distribution`), load, save, tag,
//! remove, prune and history. Image names contain `/`, so the per-image routes take the rest of
//! the path and split off the action.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::stream::{BodyWriter, json_lines, spool_body};
use super::tenant::Tenant;
use crate::engine::images::{DeleteItem, ImageRecord, ImportRequest};
use crate::images::config::ContainerConfig;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list_images))
        .route("/images/create", post(create_image))
        .route("/images/load", post(load_images))
        .route("/images/get", get(save_images))
        .route("/images/prune", post(prune_images))
        .route("/images/{*rest}", get(get_image_action).post(post_image_action).delete(delete_image))
}

/// One image in `docker images`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// The parent image (none for imported and loaded images).
    pub parent_id: String,
    /// Tags in familiar form.
    pub repo_tags: Vec<String>,
    /// Registry digests (`repo@sha256:…`) from pulls and pushes.
    pub repo_digests: Vec<String>,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Bytes of content.
    pub size: i64,
    /// Not computed: -1.
    pub shared_size: i64,
    /// Same as Size; older clients read it.
    pub virtual_size: i64,
    /// The image's labels.
    pub labels: BTreeMap<String, String>,
    /// Not computed: -1.
    pub containers: i64,
}

/// `docker image inspect`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// Tags in familiar form.
    pub repo_tags: Vec<String>,
    /// Registry digests.
    pub repo_digests: Vec<String>,
    /// The parent image id, or "".
    pub parent: String,
    /// The config's comment.
    pub comment: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// The builder's version, or "".
    pub docker_version: String,
    /// The author.
    pub author: String,
    /// The container config the image carries (Cmd, Env, Entrypoint…).
    #[schema(value_type = Object)]
    pub config: Value,
    /// amd64, arm64…
    pub architecture: String,
    /// The CPU variant, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// linux.
    pub os: String,
    /// Bytes of content.
    pub size: i64,
    /// Same as Size; older clients read it.
    pub virtual_size: i64,
    /// Where the layers live.
    pub graph_driver: GraphDriver,
    /// The layers' diff-ids.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFsReply,
    /// Local facts.
    pub metadata: Metadata,
}

/// The storage driver and its paths.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// overlay2.
    pub name: String,
    /// LowerDir…
    pub data: BTreeMap<String, String>,
}

/// The layers of an image.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RootFsReply {
    /// layers.
    pub r#type: String,
    /// Diff-ids, bottom first.
    pub layers: Vec<String>,
}

/// Local facts about an image.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    /// When it was last tagged.
    pub last_tag_time: String,
}

/// One step of `docker history`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryItem {
    /// The image id for the top step, else `<missing>`.
    pub id: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// The instruction that made the step.
    pub created_by: String,
    /// Tags, on the top step.
    pub tags: Vec<String>,
    /// Bytes the step added.
    pub size: i64,
    /// The step's comment.
    pub comment: String,
}

/// One line of `docker rmi`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteResponseItem {
    /// A removed tag.
    #[serde(rename = "Untagged", skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    /// A deleted image.
    #[serde(rename = "Deleted", skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// `docker image prune`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ImagePruneReply {
    /// What was untagged and deleted.
    pub images_deleted: Vec<DeleteResponseItem>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// A newline-delimited JSON progress message (import, load).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressMessage {
    /// A status line (import prints the image id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Output text (load prints `Loaded image: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
}

/// Lists images.
#[utoipa::path(get, path = "/images/json", tag = "Image",
    params(
        ("all" = Option<bool>, Query, description = "Show intermediate images too (kapsel has none)"),
        ("filters" = Option<String>, Query, description = "JSON: dangling, reference, label, before, since"),
        ("digests" = Option<bool>, Query, description = "Include digests"),
    ),
    responses((status = 200, body = [ImageSummary]), (status = 400, body = super::openapi::ErrorBody)))]
pub async fn list_images(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> ApiResult<Json<Vec<ImageSummary>>> {
    let images = state.engine.list_images(&tenant.0, &params.filters()?).await?;
    let mut digests = state.engine.repo_digests_by_image(&tenant.0).await?;
    Ok(Json(images.iter().map(|i| summary(i, digests.remove(&i.row.id).unwrap_or_default())).collect()))
}

fn summary(image: &ImageRecord, repo_digests: Vec<String>) -> ImageSummary {
    ImageSummary {
        id: image.row.id.clone(),
        parent_id: String::new(),
        repo_tags: image.repo_tags(),
        repo_digests,
        created: created_seconds(image),
        size: image.row.size,
        shared_size: -1,
        virtual_size: image.row.size,
        labels: image.config.config.labels.clone().into_iter().collect(),
        containers: -1,
    }
}

fn created_seconds(image: &ImageRecord) -> i64 {
    let created = image.config.created.as_deref().unwrap_or(&image.row.added_at);
    time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
}

/// Pulls an image from a registry (`fromImage`), or imports a rootfs tarball from the body
/// (`fromSrc=-`).
#[utoipa::path(post, path = "/images/create", tag = "Image",
    params(
        ("fromSrc" = Option<String>, Query, description = "`-` to import the request body"),
        ("fromImage" = Option<String>, Query, description = "Image to pull; `tag` is then its tag or digest"),
        ("X-Registry-Auth" = Option<String>, Header, description = "Pull: base64url JSON {username,password,serveraddress}"),
        ("repo" = Option<String>, Query, description = "Repository (may include the tag) for the import"),
        ("tag" = Option<String>, Query, description = "Tag (or, for a pull, digest)"),
        ("message" = Option<String>, Query, description = "Commit message"),
        ("changes" = Option<Vec<String>>, Query, description = "Dockerfile instructions to apply (repeatable)"),
        ("platform" = Option<String>, Query, description = "os/arch[/variant]"),
    ),
    request_body(content = Option<super::openapi::Binary>, content_type = "application/x-tar", description = "A rootfs tarball, plain or compressed (import only)"),
    responses((status = 200, description = "JSON progress lines (a pull's end with `Status: …`; an import's last has the image id)", body = ProgressMessage),
              (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody),
              (status = 501, body = super::openapi::ErrorBody)))]
pub async fn create_image(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if params.string("fromImage").is_some() {
        return super::distribution::pull(state, tenant, params, &headers).await;
    }
    let source = params.string("fromSrc").ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?;
    if source != "-" {
        return Err(ApiError {
            status: StatusCode::NOT_IMPLEMENTED,
            message: "importing from a URL is not supported yet".into(),
        });
    }
    let upload = spool_body(body, &state.engine.staging_dir()).await?;
    let request = ImportRequest {
        repo: params.string("repo"),
        tag: params.string("tag"),
        message: params.string("message"),
        changes: params.all("changes"),
        platform: params.string("platform"),
        source,
    };
    let id = state.engine.import_image(&tenant.0, &upload, request).await?;
    Ok(json_lines(&[json!({ "status": id })], "\r\n"))
}

/// Loads images from a docker-archive or OCI layout tarball in the body.
#[utoipa::path(post, path = "/images/load", tag = "Image",
    params(("quiet" = Option<bool>, Query, description = "Suppress progress")),
    request_body(content = super::openapi::Binary, content_type = "application/x-tar", description = "A docker-archive or OCI layout tarball"),
    responses((status = 200, description = "JSON lines with `Loaded image: …`", body = ProgressMessage),
              (status = 400, body = super::openapi::ErrorBody)))]
pub async fn load_images(State(state): State<AppState>, tenant: Tenant, body: Body) -> ApiResult<Response> {
    let upload = spool_body(body, &state.engine.staging_dir()).await?;
    let lines = state.engine.load_images(&tenant.0, &upload).await?;
    let messages: Vec<Value> = lines.into_iter().map(|l| json!({ "stream": format!("{l}\n") })).collect();
    Ok(json_lines(&messages, "\n"))
}

/// Saves one or more images (`names=` repeated) as a tarball both old and new clients load.
#[utoipa::path(get, path = "/images/get", tag = "Image",
    params(("names" = Vec<String>, Query, description = "Image names or ids (repeatable)")),
    responses((status = 200, description = "The archive (docker-archive with an OCI layout)", content_type = "application/x-tar", body = super::openapi::Binary),
              (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn save_images(State(state): State<AppState>, tenant: Tenant, params: Params) -> ApiResult<Response> {
    save(&state, &tenant, &params.all("names")).await
}

async fn save(state: &AppState, tenant: &Tenant, names: &[String]) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no images named"));
    }
    let plan = state.engine.plan_save(&tenant.0, names).await?;
    let (mut writer, body) = BodyWriter::new();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = plan.write_to(&mut writer) {
            tracing::warn!(error = %e, "docker save failed mid-stream");
            writer.fail(e);
        }
    });
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(response)
}

/// Removes dangling images (all unused ones with `dangling=false`).
#[utoipa::path(post, path = "/images/prune", tag = "Image",
    params(("filters" = Option<String>, Query, description = "JSON: dangling, label, until")),
    responses((status = 200, body = ImagePruneReply), (status = 400, body = super::openapi::ErrorBody)))]
pub async fn prune_images(
    State(state): State<AppState>,
    tenant: Tenant,
    params: Params,
) -> ApiResult<Json<ImagePruneReply>> {
    let (items, space_reclaimed) = state.engine.prune_images(&tenant.0, &params.filters()?).await?;
    Ok(Json(ImagePruneReply { images_deleted: items.into_iter().map(delete_item).collect(), space_reclaimed }))
}

/// Splits `busybox:latest/json` into (`busybox:latest`, `json`).
fn split_action(rest: &str) -> (&str, &str) {
    rest.rsplit_once('/').unwrap_or((rest, ""))
}

/// GET `/images/{name}/json|history|get`.
pub async fn get_image_action(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    match split_action(&rest) {
        (name, "json") => inspect_image(state, tenant, name).await.map(IntoResponse::into_response),
        (name, "history") => image_history(state, tenant, name).await.map(IntoResponse::into_response),
        (name, "get") => save_image(state, tenant, name).await,
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Saves one image as a tarball, like `GET /images/get?names=…`.
#[utoipa::path(get, path = "/images/{name}/get", tag = "Image",
    params(("name" = String, Path, description = "Name, id or id prefix")),
    responses((status = 200, description = "The archive (docker-archive with an OCI layout)", content_type = "application/x-tar", body = super::openapi::Binary),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn save_image(state: AppState, tenant: Tenant, name: &str) -> ApiResult<Response> {
    save(&state, &tenant, &[name.to_string()]).await
}

/// Inspects an image.
#[utoipa::path(get, path = "/images/{name}/json", tag = "Image",
    params(("name" = String, Path, description = "Name, id or id prefix")),
    responses((status = 200, body = ImageInspect), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn inspect_image(state: AppState, tenant: Tenant, name: &str) -> ApiResult<Json<ImageInspect>> {
    let image = state.engine.inspect_image(&tenant.0, name).await?;
    let mut lower = Vec::new();
    for layer in image.row.layers.iter().rev() {
        lower.push(state.engine.layer_dir(&layer.diff_id)?.display().to_string());
    }
    let config = &image.config;
    let repo_digests = state.engine.image_repo_digests(&tenant.0, &image.row.id).await?;
    Ok(Json(ImageInspect {
        id: image.row.id.clone(),
        repo_tags: image.repo_tags(),
        repo_digests,
        parent: String::new(),
        comment: config.comment.clone().unwrap_or_default(),
        created: config.created.clone().unwrap_or_else(|| image.row.added_at.clone()),
        docker_version: String::new(),
        author: config.author.clone().unwrap_or_default(),
        config: container_config_json(&config.config),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
        os: config.os.clone(),
        size: image.row.size,
        virtual_size: image.row.size,
        graph_driver: GraphDriver {
            name: "overlay2".into(),
            data: [("LowerDir".to_string(), lower.join(":"))].into_iter().collect(),
        },
        root_fs: RootFsReply {
            r#type: "layers".into(),
            layers: image.row.layers.iter().map(|l| l.diff_id.clone()).collect(),
        },
        metadata: Metadata { last_tag_time: image.row.added_at.clone() },
    }))
}

/// The image config as dockerd shows it: every standard key present, so that templates such
/// as `{{.Config.Cmd}}` print a value rather than `<no value>`.
fn container_config_json(config: &ContainerConfig) -> Value {
    let mut value = serde_json::to_value(config).unwrap_or_else(|_| json!({}));
    let defaults = json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
        "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": null,
        "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "", "Entrypoint": null,
        "OnBuild": null, "Labels": null,
    });
    if let (Some(map), Value::Object(defaults)) = (value.as_object_mut(), defaults) {
        for (key, default) in defaults {
            map.entry(key).or_insert(default);
        }
    }
    value
}

/// An image's history, newest step first.
#[utoipa::path(get, path = "/images/{name}/history", tag = "Image",
    params(("name" = String, Path, description = "Name, id or id prefix")),
    responses((status = 200, body = [HistoryItem]), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn image_history(state: AppState, tenant: Tenant, name: &str) -> ApiResult<Json<Vec<HistoryItem>>> {
    let image = state.engine.inspect_image(&tenant.0, name).await?;
    let seconds = |t: Option<&str>| {
        t.and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
            .map(|t| t.unix_timestamp())
            .unwrap_or(0)
    };
    let mut layers = image.row.layers.iter();
    let mut items: Vec<HistoryItem> = if image.config.history.is_empty() {
        layers
            .map(|l| HistoryItem {
                id: "<missing>".into(),
                created: created_seconds(&image),
                created_by: String::new(),
                tags: Vec::new(),
                size: l.size,
                comment: String::new(),
            })
            .collect()
    } else {
        image
            .config
            .history
            .iter()
            .map(|h| HistoryItem {
                id: "<missing>".into(),
                created: seconds(h.created.as_deref()),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size: if h.empty_layer { 0 } else { layers.next().map(|l| l.size).unwrap_or(0) },
                comment: h.comment.clone().unwrap_or_default(),
            })
            .collect()
    };
    items.reverse();
    if let Some(top) = items.first_mut() {
        top.id = image.row.id.clone();
        top.tags = image.repo_tags();
    }
    Ok(Json(items))
}

/// POST `/images/{name}/tag|push`.
pub async fn post_image_action(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(rest): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    match split_action(&rest) {
        (name, "tag") => tag_image(state, tenant, name, params).await.map(IntoResponse::into_response),
        (name, "push") => super::distribution::push(state, tenant, name, params, &headers).await,
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// Tags an image.
#[utoipa::path(post, path = "/images/{name}/tag", tag = "Image",
    params(("name" = String, Path, description = "Source image"),
           ("repo" = String, Query, description = "Target repository (may include the tag)"),
           ("tag" = Option<String>, Query, description = "Target tag")),
    responses((status = 201, description = "Tagged"), (status = 400, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn tag_image(state: AppState, tenant: Tenant, name: &str, params: Params) -> ApiResult<StatusCode> {
    let repo = params
        .string("repo")
        .ok_or_else(|| ApiError::bad_request("repository name must have at least one component"))?;
    state.engine.tag_image(&tenant.0, name, &repo, params.get("tag")).await?;
    Ok(StatusCode::CREATED)
}

/// Removes an image or one of its tags.
#[utoipa::path(delete, path = "/images/{name}", tag = "Image",
    params(("name" = String, Path, description = "Name, id or id prefix"),
           ("force" = Option<bool>, Query, description = "Remove even if tagged several times or used by a stopped container"),
           ("noprune" = Option<bool>, Query, description = "Accepted for compatibility")),
    responses((status = 200, body = [DeleteResponseItem]), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody)))]
pub async fn delete_image(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<Json<Vec<DeleteResponseItem>>> {
    let items = state.engine.remove_image(&tenant.0, &name, params.flag("force")).await?;
    Ok(Json(items.into_iter().map(delete_item).collect()))
}

fn delete_item(item: DeleteItem) -> DeleteResponseItem {
    match item {
        DeleteItem::Untagged(name) => DeleteResponseItem { untagged: Some(name), deleted: None },
        DeleteItem::Deleted(id) => DeleteResponseItem { untagged: None, deleted: Some(id) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_split_off_names_with_slashes() {
        assert_eq!(split_action("myrepo/bb:v1/json"), ("myrepo/bb:v1", "json"));
        assert_eq!(
            split_action("docker.io/library/busybox:latest/history"),
            ("docker.io/library/busybox:latest", "history")
        );
        assert_eq!(split_action("busybox"), ("busybox", ""));
    }

    #[test]
    fn config_json_has_every_standard_key() {
        let value = container_config_json(&ContainerConfig::default());
        assert_eq!(value["Cmd"], Value::Null);
        assert_eq!(value["WorkingDir"], "");
    }
}
