//! kapsel's own API under `/kapsel/v1`: tenants and their tokens (the admin's), the audit log
//! (the admin's), and a tenant's view of its own quotas and usage.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiResult;
use super::json::JsonBody;
use super::params::Params;
use super::tenant::{Admin, Tenant};
use crate::engine::tenants::{Defaults, Quotas, TenantInfo, UsageInfo};

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/kapsel/v1/tenants", post(create_tenant).get(list_tenants))
        .route("/kapsel/v1/tenants/{name}", get(get_tenant).put(update_tenant).delete(delete_tenant))
        .route("/kapsel/v1/tenants/{name}/tokens", post(create_token))
        .route("/kapsel/v1/tokens/{id}", delete(revoke_token))
        .route("/kapsel/v1/tenant", get(own_tenant))
        .route("/kapsel/v1/audit", get(audit))
}

/// The body of `POST /kapsel/v1/tenants`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewTenant {
    /// The tenant's name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
    pub name: String,
    /// Its quotas; absent fields are unlimited.
    pub quotas: Quotas,
    /// Limits for containers that name none.
    pub defaults: Defaults,
}

/// The body of `PUT /kapsel/v1/tenants/{name}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TenantChange {
    /// New quotas (absent: kept).
    pub quotas: Option<Quotas>,
    /// New defaults (absent: kept).
    pub defaults: Option<Defaults>,
}

/// A tenant with its usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// The tenant.
    #[serde(flatten)]
    pub tenant: TenantInfo,
    /// What it uses now.
    pub usage: UsageInfo,
}

/// A token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewToken {
    /// The token's id, for revocation.
    pub id: String,
    /// The token: send it as `Authorization: Bearer <token>`. It is not stored and cannot be
    /// shown again.
    pub token: String,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Order.
    pub seq: i64,
    /// RFC 3339.
    pub time: String,
    /// The tenant acted for.
    pub tenant_id: String,
    /// admin, or the tenant's name.
    pub principal: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// What was done, e.g. container.create.
    pub action: String,
    /// The object the path names.
    pub object: String,
    /// HTTP status of the answer.
    pub status: i64,
}

async fn view(state: &AppState, tenant: TenantInfo) -> ApiResult<TenantView> {
    let usage = state.engine.tenant_usage(&tenant.id).await?;
    Ok(TenantView { tenant, usage })
}

/// Creates a tenant (admin).
#[utoipa::path(post, path = "/kapsel/v1/tenants", tag = "Kapsel", request_body = NewTenant,
    security(("bearer" = [])),
    responses((status = 201, body = TenantView), (status = 400, body = super::openapi::ErrorBody),
              (status = 403, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    _: Admin,
    JsonBody(body): JsonBody<NewTenant>,
) -> ApiResult<(StatusCode, Json<TenantView>)> {
    let tenant = state.engine.create_tenant(&body.name, body.quotas, body.defaults).await?;
    Ok((StatusCode::CREATED, Json(view(&state, tenant).await?)))
}

/// Lists tenants with their usage (admin).
#[utoipa::path(get, path = "/kapsel/v1/tenants", tag = "Kapsel", security(("bearer" = [])),
    responses((status = 200, body = [TenantView]), (status = 403, body = super::openapi::ErrorBody)))]
pub async fn list_tenants(State(state): State<AppState>, _: Admin) -> ApiResult<Json<Vec<TenantView>>> {
    let mut out = Vec::new();
    for tenant in state.engine.list_tenants().await? {
        out.push(view(&state, tenant).await?);
    }
    Ok(Json(out))
}

/// One tenant with its usage (admin).
#[utoipa::path(get, path = "/kapsel/v1/tenants/{name}", tag = "Kapsel", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    responses((status = 200, body = TenantView), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn get_tenant(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<TenantView>> {
    let tenant = state.engine.tenant_by_name(&name).await?;
    Ok(Json(view(&state, tenant).await?))
}

/// Changes a tenant's quotas or defaults (admin).
#[utoipa::path(put, path = "/kapsel/v1/tenants/{name}", tag = "Kapsel", request_body = TenantChange,
    security(("bearer" = [])), params(("name" = String, Path, description = "The tenant's name")),
    responses((status = 200, body = TenantView), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn update_tenant(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
    JsonBody(change): JsonBody<TenantChange>,
) -> ApiResult<Json<TenantView>> {
    let tenant = state.engine.update_tenant(&name, change.quotas, change.defaults).await?;
    Ok(Json(view(&state, tenant).await?))
}

/// Deletes a tenant that owns nothing (admin); its tokens go with it.
#[utoipa::path(delete, path = "/kapsel/v1/tenants/{name}", tag = "Kapsel", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = super::openapi::ErrorBody),
              (status = 409, body = super::openapi::ErrorBody)))]
pub async fn delete_tenant(State(state): State<AppState>, _: Admin, Path(name): Path<String>) -> ApiResult<StatusCode> {
    state.engine.delete_tenant(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a token for a tenant (admin); the token is in this answer only.
#[utoipa::path(post, path = "/kapsel/v1/tenants/{name}/tokens", tag = "Kapsel", security(("bearer" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    responses((status = 201, body = NewToken), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    let (id, token) = state.engine.issue_token(&name).await?;
    Ok((StatusCode::CREATED, Json(NewToken { id, token })))
}

/// Revokes a token (admin).
#[utoipa::path(delete, path = "/kapsel/v1/tokens/{id}", tag = "Kapsel", security(("bearer" = [])),
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn revoke_token(State(state): State<AppState>, _: Admin, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.engine.revoke_token(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own tenant: quotas, defaults and usage.
#[utoipa::path(get, path = "/kapsel/v1/tenant", tag = "Kapsel", security(("bearer" = [])),
    responses((status = 200, body = TenantView), (status = 401, body = super::openapi::ErrorBody)))]
pub async fn own_tenant(State(state): State<AppState>, Tenant(id): Tenant) -> ApiResult<Json<TenantView>> {
    let tenant = state.engine.tenant(&id).await?;
    Ok(Json(view(&state, tenant).await?))
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/kapsel/v1/audit", tag = "Kapsel", security(("bearer" = [])),
    params(("tenant" = Option<String>, Query, description = "Only this tenant's records (by name)"),
           ("limit" = Option<i64>, Query, description = "At most this many (default 100)")),
    responses((status = 200, body = [AuditEntry]), (status = 403, body = super::openapi::ErrorBody),
              (status = 404, body = super::openapi::ErrorBody)))]
pub async fn audit(State(state): State<AppState>, _: Admin, params: Params) -> ApiResult<Json<Vec<AuditEntry>>> {
    let limit = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100).clamp(1, 10_000);
    let rows = state.engine.audit(params.get("tenant"), limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditEntry {
                seq: r.seq,
                time: r.time,
                tenant_id: r.tenant_id,
                principal: r.principal,
                method: r.method,
                path: r.path,
                action: r.action,
                object: r.object,
                status: r.status,
            })
            .collect(),
    ))
}
