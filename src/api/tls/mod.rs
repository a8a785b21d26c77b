//! TLS on TCP listeners, as dockerd's `--tls`, `--tlsverify`, `--tlscacert`, `--tlscert` and
//! `--tlskey` (they apply to every `-H tcp://…` listener; the unix socket stays plain).
//!
//! - `--tls --tlscert F --tlskey F` serves TLS without asking for client certificates; callers
//!   authenticate with bearer tokens as on a plain TCP listener. With `--tlscacert` too, a client
//!   certificate is asked for but optional, and one that is sent must be signed by that CA.
//! - `--tlsverify --tlscacert F --tlscert F --tlskey F` (implies `--tls`) requires a client
//!   certificate signed by the CA: a client without one fails the handshake.
//! - A plain HTTP request on a TLS listener is answered `400 Client sent an HTTP request to an
//!   HTTPS server.` and the connection closed, as dockerd does.
//!
//! Who a verified client certificate names (see [`peer`]): the subject's common name (CN)
//! `kapsel-admin` is the admin; a CN equal to a tenant's name is that tenant (the built-in
//! `default` tenant is the admin's and is never named by a certificate); any other verified
//! certificate is answered 403 (except on the public paths such as `/_ping`). A bearer token
//! sent on the same request takes precedence over the certificate.

pub mod config;
pub mod peer;
pub mod serve;

pub use config::{TlsOptions, server_config};
pub use peer::{ADMIN_COMMON_NAME, TlsPeer};
pub use serve::serve;
