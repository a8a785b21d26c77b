//! A container's files: `docker cp` both ways (`HEAD|GET|PUT /containers/{id}/archive`),
//! `docker export` and `docker diff` (`/containers/{id}/changes`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::stream::{BodyWriter, spool_body};
use super::tenant::Tenant;
use crate::engine::containers::archive::{ArchiveSink, ExtractRequest, PathStat};

/// The header that carries a path's stat: base64 of its JSON.
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/archive", get(get_archive).head(head_archive).put(put_archive))
        .route("/containers/{id}/export", get(export_container))
        .route("/containers/{id}/changes", get(container_changes))
}

impl ArchiveSink for BodyWriter {
    fn fail(self, error: std::io::Error) {
        BodyWriter::fail(self, error);
    }
}

/// One line of `docker diff`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerChange {
    /// The changed path.
    pub path: String,
    /// 0 modified, 1 added, 2 deleted.
    pub kind: u8,
}

/// The stat of a path in a container, in the `X-Docker-Container-Path-Stat` header.
#[utoipa::path(head, path = "/containers/{id}/archive", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("path" = String, Query, description = "The path in the container")),
    responses((status = 200, description = "Stat in the header",
               headers(("X-Docker-Container-Path-Stat" = String, description = "base64 of {name,size,mode,mtime,linkTarget}"))),
              (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn head_archive(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let path = params.get("path").unwrap_or_default();
    let stat = state.engine.stat_container_path(&tenant.0, &id, path).await?;
    let mut response = StatusCode::OK.into_response();
    insert_stat(&mut response, &stat)?;
    Ok(response)
}

/// A tar of a path in a container (a directory recursively, under its own name), with the
/// path's stat in the `X-Docker-Container-Path-Stat` header.
#[utoipa::path(get, path = "/containers/{id}/archive", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("path" = String, Query, description = "The path in the container; `dir/.` archives the contents")),
    responses((status = 200, description = "The archive", content_type = "application/x-tar", body = super::openapi::Binary,
               headers(("X-Docker-Container-Path-Stat" = String, description = "base64 of {name,size,mode,mtime,linkTarget}"))),
              (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn get_archive(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let path = params.get("path").unwrap_or_default();
    let (writer, body) = BodyWriter::new();
    let stat = state.engine.archive_container_path(&tenant.0, &id, path, writer).await?;
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    insert_stat(&mut response, &stat)?;
    Ok(response)
}

/// Extracts a tar (plain or compressed) into a directory of the container.
#[utoipa::path(put, path = "/containers/{id}/archive", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix"),
           ("path" = String, Query, description = "An existing directory in the container"),
           ("noOverwriteDirNonDir" = Option<bool>, Query, description = "Refuse to replace a directory with a non-directory and vice versa"),
           ("copyUIDGID" = Option<bool>, Query, description = "Own the files by the container's user")),
    request_body(content = super::openapi::Binary, content_type = "application/x-tar", description = "A tar archive, plain or compressed"),
    responses((status = 200, description = "Extracted"), (status = 400, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn put_archive(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    params: Params,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = params.get("path").unwrap_or_default().to_string();
    let request = ExtractRequest {
        no_overwrite_dir_non_dir: params.flag("noOverwriteDirNonDir"),
        copy_uid_gid: params.flag("copyUIDGID"),
    };
    let upload = spool_body(body, &state.engine.staging_dir()).await?;
    state.engine.extract_to_container(&tenant.0, &id, &path, &upload, request).await?;
    Ok(StatusCode::OK)
}

/// The container's whole root file system as a tar stream.
#[utoipa::path(get, path = "/containers/{id}/export", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix")),
    responses((status = 200, description = "The root file system as a tar stream", content_type = "application/x-tar", body = super::openapi::Binary),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn export_container(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (writer, body) = BodyWriter::new();
    state.engine.export_container(&tenant.0, &id, writer).await?;
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(response)
}

/// What the container changed over its image, sorted by path.
#[utoipa::path(get, path = "/containers/{id}/changes", tag = "Container",
    params(("id" = String, Path, description = "Id, name or id prefix")),
    responses((status = 200, body = [ContainerChange]), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn container_changes(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ContainerChange>>> {
    let changes = state.engine.container_changes(&tenant.0, &id).await?;
    Ok(Json(changes.into_iter().map(|c| ContainerChange { path: c.path(), kind: c.kind as u8 }).collect()))
}

/// Puts the stat header on a reply.
fn insert_stat(response: &mut Response, stat: &PathStat) -> ApiResult<()> {
    let value = HeaderValue::from_str(&stat_header(stat)).map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("encoding the path stat: {e}"),
    })?;
    response.headers_mut().insert(PATH_STAT_HEADER, value);
    Ok(())
}

/// The header's value: standard base64 of the stat's JSON, as dockerd writes it.
pub fn stat_header(stat: &PathStat) -> String {
    base64(&serde_json::to_vec(stat).unwrap_or_default())
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, expected) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")]
        {
            assert_eq!(base64(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn stat_header_is_base64_of_dockerds_json() {
        let stat = PathStat {
            name: "etc".into(),
            size: 4096,
            mode: 2_147_484_141,
            mtime: "2024-01-02T03:04:05Z".into(),
            link_target: String::new(),
        };
        assert_eq!(
            stat_header(&stat),
            base64(br#"{"name":"etc","size":4096,"mode":2147484141,"mtime":"2024-01-02T03:04:05Z","linkTarget":""}"#)
        );
        assert!(stat_header(&stat).starts_with("eyJuYW1lIjoiZXRjIiwic2l6ZSI6NDA5Niwi"));
    }
}
