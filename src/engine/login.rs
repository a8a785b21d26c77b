//! `docker login`: check a user's credentials with a registry. Nothing is kept: the CLI stores
//! them itself and sends them again with every pull and push.

use super::{Engine, Error, Result};
use crate::images::registry::endpoint::login_domain;
use crate::images::registry::{Credentials, RegistryClient, RegistryError};

impl Engine {
    /// Verifies credentials with the registry their server address names (Docker Hub when it
    /// names none); a refusal is a 401 with dockerd's wording.
    pub async fn registry_login(&self, credentials: &Credentials) -> Result<()> {
        if credentials.is_empty() {
            return Err(Error::InvalidArgument("a user name and password are required".into()));
        }
        let domain = login_domain(&credentials.server_address);
        let endpoints = self.registry.endpoints(&domain, false);
        RegistryClient::login(&endpoints, credentials).await.map_err(|e| match e {
            RegistryError::LoginFailed { .. } => Error::Unauthorized(e.to_string()),
            RegistryError::Status { status: 401 | 403, .. } => Error::Unauthorized(e.to_string()),
            other => Error::Internal(anyhow::anyhow!("{other}")),
        })
    }
}
