//! Image registries: a thin client of the OCI distribution API over reqwest, with the pieces
//! Docker's pull and push need and nothing else.
//!
//! - [`credentials`]: the `X-Registry-Auth` header and `POST /auth` body, decoded per request and
//!   never stored;
//! - [`challenge`]: `WWW-Authenticate` challenges and the bearer-token exchange they ask for;
//! - [`endpoint`]: which URLs serve a registry (mirrors, plain HTTP for insecure registries);
//! - [`manifest`]: manifests, indexes, media types and platform selection;
//! - [`client`]: the HTTP conversation (ping, manifests, blobs, uploads, mounts);
//! - [`error`]: failures, worded the way dockerd words them.

pub mod challenge;
pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod manifest;

pub use client::RegistryClient;
pub use credentials::Credentials;
pub use endpoint::{Endpoint, RegistryOptions};
pub use error::RegistryError;
