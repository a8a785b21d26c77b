//! Who the handlers act for: the principal the authentication middleware found, as the tenant
//! whose objects a call sees, or as the admin for the admin API.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::engine::Error;
use crate::engine::tenants::Principal;

/// The calling tenant's id.
#[derive(Debug, Clone)]
pub struct Tenant(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal = parts.extensions.get::<Principal>().ok_or_else(unauthenticated)?;
        Ok(Tenant(principal.tenant_id().to_string()))
    }
}

/// The caller, for handlers that treat the admin and tenants differently.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(parts.extensions.get::<Principal>().cloned().ok_or_else(unauthenticated)?))
    }
}

/// The admin, for the admin API; a tenant gets 403.
#[derive(Debug, Clone)]
pub struct Admin;

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::Admin) => Ok(Admin),
            Some(_) => Err(Error::Forbidden("this is the admin's API".into()).into()),
            None => Err(unauthenticated()),
        }
    }
}

fn unauthenticated() -> ApiError {
    Error::Unauthorized("authentication required".into()).into()
}
