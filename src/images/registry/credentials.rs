//! Registry credentials as clients send them: the base64url JSON of the `X-Registry-Auth` header
//! (the CLI sends `e30=`, i.e. `{}`, when it has none) and the JSON body of `POST /auth`.
//!
//! Like dockerd, kapsel keeps no credentials: they arrive with each pull, push or login, live
//! for that request only, and are never logged (`Debug` hides the secrets).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;

/// Decodes with or without `=` padding, as clients differ.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
/// The URL-safe alphabet the docker CLI and docker-py use.
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
/// The standard alphabet some older clients use.
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);

/// Credentials for one registry, from one request.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// The password (or a personal access token).
    #[serde(default)]
    pub password: String,
    /// `base64(username:password)`, which some clients send instead of the two fields.
    #[serde(default)]
    pub auth: String,
    /// The registry the credentials are for (`127.0.0.1:5000`, `https://index.docker.io/v1/`).
    #[serde(default, rename = "serveraddress")]
    pub server_address: String,
    /// An OAuth refresh token from an earlier login.
    #[serde(default, rename = "identitytoken")]
    pub identity_token: String,
    /// A bearer token to send to the registry as is.
    #[serde(default, rename = "registrytoken")]
    pub registry_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("server_address", &self.server_address)
            .field("has_password", &!self.password.is_empty())
            .finish_non_exhaustive()
    }
}

/// Why an `X-Registry-Auth` header or `/auth` body was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid registry credentials: {0}")]
pub struct CredentialsError(String);

impl Credentials {
    /// Decodes an `X-Registry-Auth` header; `None` when it carries no credentials (`e30=`, empty).
    pub fn from_header(value: &str) -> Result<Option<Credentials>, CredentialsError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let json = URL_SAFE
            .decode(value)
            .or_else(|_| STANDARD.decode(value))
            .map_err(|e| CredentialsError(format!("not base64: {e}")))?;
        Credentials::from_json(&json)
    }

    /// Decodes the JSON of an auth config (the `/auth` body, or a decoded header); `None` when it
    /// carries no credentials.
    pub fn from_json(json: &[u8]) -> Result<Option<Credentials>, CredentialsError> {
        let mut credentials: Credentials =
            serde_json::from_slice(json).map_err(|e| CredentialsError(format!("not an auth config: {e}")))?;
        if credentials.username.is_empty()
            && !credentials.auth.is_empty()
            && let Ok(pair) = STANDARD.decode(credentials.auth.trim())
            && let Ok(pair) = String::from_utf8(pair)
            && let Some((username, password)) = pair.split_once(':')
        {
            credentials.username = username.to_string();
            credentials.password = password.to_string();
        }
        credentials.auth.clear();
        Ok((!credentials.is_empty()).then_some(credentials))
    }

    /// True when there is nothing to authenticate with.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }

    /// The user name and password for HTTP basic authentication, when there are both (or a
    /// user name alone).
    pub fn basic(&self) -> Option<(&str, &str)> {
        (!self.username.is_empty()).then_some((self.username.as_str(), self.password.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    #[test]
    fn the_cli_empty_header_means_no_credentials() {
        assert_eq!(Credentials::from_header("e30=").unwrap(), None);
        assert_eq!(Credentials::from_header("e30").unwrap(), None);
        assert_eq!(Credentials::from_header("").unwrap(), None);
    }

    #[test]
    fn decodes_username_password_and_server() {
        let header = encode(r#"{"username":"u","password":"p?>~","serveraddress":"127.0.0.1:5000"}"#);
        let credentials = Credentials::from_header(&header).unwrap().unwrap();
        assert_eq!(credentials.basic(), Some(("u", "p?>~")));
        assert_eq!(credentials.server_address, "127.0.0.1:5000");
        // The standard alphabet and missing padding are accepted too.
        let standard = base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(r#"{"username":"u","password":"p?>~","serveraddress":"127.0.0.1:5000"}"#);
        assert_eq!(Credentials::from_header(&standard).unwrap().unwrap(), credentials);
    }

    #[test]
    fn decodes_the_auth_field() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:with:colons");
        let header = encode(&format!(r#"{{"auth":"{auth}","email":"a@b"}}"#));
        let credentials = Credentials::from_header(&header).unwrap().unwrap();
        assert_eq!(credentials.basic(), Some(("alice", "s3cret:with:colons")));
        assert!(credentials.auth.is_empty());
    }

    #[test]
    fn refuses_garbage_and_hides_secrets() {
        assert!(Credentials::from_header("!!!").is_err());
        assert!(Credentials::from_header(&encode("[1,2]")).is_err());
        let credentials = Credentials { username: "u".into(), password: "hunter2".into(), ..Default::default() };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}
