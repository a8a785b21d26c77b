//! `POST /auth`: `docker login` against a registry. The credentials are checked with the
//! registry and forgotten; the CLI keeps them and sends them with each pull and push. (Not to
//! be confused with `auth.rs`, the API's own authentication of its callers.)

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::tenant::Tenant;
use crate::images::registry::Credentials;

/// The routes of this file.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/auth", post(login))
}

/// What `docker login` sends.
#[derive(Debug, ToSchema)]
pub struct AuthConfigBody {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
    /// The registry: `host[:port]`, or Docker Hub's `https://index.docker.io/v1/`.
    pub serveraddress: String,
}

/// `docker login`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthReply {
    /// `Login Succeeded`.
    #[serde(rename = "Status")]
    pub status: String,
    /// Always empty: kapsel hands out no refresh tokens.
    #[serde(rename = "IdentityToken")]
    pub identity_token: String,
}

/// Checks registry credentials (nothing is stored).
#[utoipa::path(post, path = "/auth", tag = "System",
    request_body(content = AuthConfigBody, content_type = "application/json"),
    responses((status = 200, body = AuthReply),
              (status = 401, description = "The registry refused the credentials", body = super::openapi::ErrorBody),
              (status = 400, body = super::openapi::ErrorBody)))]
pub async fn login(State(state): State<AppState>, _tenant: Tenant, body: Bytes) -> ApiResult<Json<AuthReply>> {
    let credentials = Credentials::from_json(&body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .ok_or_else(|| ApiError::bad_request("a user name and password are required"))?;
    state.engine.registry_login(&credentials).await?;
    Ok(Json(AuthReply { status: "Login Succeeded".into(), identity_token: String::new() }))
}
