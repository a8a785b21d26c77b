//! Who is calling. Every object belongs to a tenant; until tokens arrive every caller is the
//! default tenant, but handlers already pass the tenant down so that isolation is one change.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::store::DEFAULT_TENANT;

/// The calling tenant's id.
#[derive(Debug, Clone)]
pub struct Tenant(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Tenant(DEFAULT_TENANT.to_string()))
    }
}
