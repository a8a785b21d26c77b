//! What can go wrong talking to a registry, worded as dockerd words it so that users (and
//! scripts grepping for `manifest unknown` or `no basic auth credentials`) see the same text.

use serde::Deserialize;

/// A registry failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The request never got an HTTP answer (connection refused, TLS, timeout…).
    #[error("{method} \"{url}\": {message}")]
    Transport {
        /// `Get`, `Head`… as Go's `url.Error` prints it.
        method: String,
        /// The URL asked for.
        url: String,
        /// What failed.
        message: String,
    },
    /// The registry wants basic authentication and the client sent no credentials.
    #[error("{method} \"{url}\": no basic auth credentials")]
    NoBasicCredentials {
        /// `Get`, `Head`…
        method: String,
        /// The URL asked for.
        url: String,
    },
    /// The registry (or its token server) answered with an error.
    #[error("{}", describe(.errors, *.status))]
    Status {
        /// The HTTP status.
        status: u16,
        /// The errors of the distribution spec's error body (may be empty).
        errors: Vec<ErrorEntry>,
    },
    /// A login the registry refused.
    #[error("login attempt to {url} failed with status: {status}")]
    LoginFailed {
        /// The URL of the registry's `/v2/`.
        url: String,
        /// `401 Unauthorized`, as Go prints a status.
        status: String,
    },
    /// Content did not match its digest.
    #[error("{what} verification failed for digest {digest}")]
    DigestMismatch {
        /// `filesystem layer`, `manifest`, `image config`.
        what: &'static str,
        /// The digest that was expected.
        digest: String,
    },
    /// A manifest or index kapsel cannot use.
    #[error("{0}")]
    Unsupported(String),
    /// The index has no manifest for the platform, or the image is another platform's.
    #[error("{0}")]
    NoMatchingPlatform(String),
    /// An answer that breaks the protocol (bad JSON, missing headers…).
    #[error("{0}")]
    Protocol(String),
    /// The client went away, so the work stopped.
    #[error("context canceled")]
    Canceled,
    /// A local file operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// One error of a registry's `{"errors":[…]}` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorEntry {
    /// `MANIFEST_UNKNOWN`, `UNAUTHORIZED`, `DENIED`…
    #[serde(default)]
    pub code: String,
    /// The registry's message.
    #[serde(default)]
    pub message: String,
}

/// The error body of the distribution spec.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
    /// Docker Hub's token server says `{"details":"incorrect username or password"}`.
    #[serde(default)]
    details: String,
}

impl RegistryError {
    /// The error for an HTTP error reply, from its status and body.
    pub fn from_reply(status: u16, body: &[u8]) -> RegistryError {
        let mut errors = Vec::new();
        if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
            errors = parsed.errors;
            if errors.is_empty() && !parsed.details.is_empty() {
                let code = if status == 401 { "UNAUTHORIZED" } else { "UNKNOWN" };
                errors.push(ErrorEntry { code: code.into(), message: parsed.details });
            }
        }
        RegistryError::Status { status, errors }
    }

    /// The first error code of a registry reply, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            RegistryError::Status { errors, .. } => errors.first().map(|e| e.code.as_str()),
            _ => None,
        }
    }

    /// The HTTP status of a registry reply, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The registry does not have the manifest, or will not say (dockerd's "not found" class).
    pub fn is_not_found(&self) -> bool {
        matches!(self.code(), Some("MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "DENIED"))
            || (self.code().is_none() && self.status() == Some(404))
    }

    /// Trying the next endpoint may help: the registry could not be reached at all.
    pub fn is_transport(&self) -> bool {
        matches!(self, RegistryError::Transport { .. })
    }
}

/// `manifest unknown: manifest unknown`, the Go `errcode.Error` form: the code lower-cased with
/// spaces, then the message.
fn describe(errors: &[ErrorEntry], status: u16) -> String {
    match errors.first() {
        Some(error) => {
            let code = error.code.to_ascii_lowercase().replace('_', " ");
            match (code.is_empty(), error.message.is_empty()) {
                (true, _) => error.message.clone(),
                (false, true) => code,
                (false, false) => format!("{code}: {}", error.message),
            }
        }
        None => match status {
            401 => "unauthorized: authentication required".into(),
            403 => "denied: requested access to the resource is denied".into(),
            404 => "not found".into(),
            _ => format!("received unexpected HTTP status: {status} {}", status_text(status)),
        },
    }
}

/// The reason phrase Go prints after a status code.
pub fn status_text(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_read_like_dockerd() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#;
        let error = RegistryError::from_reply(404, body);
        assert_eq!(error.to_string(), "manifest unknown: manifest unknown");
        assert!(error.is_not_found());
        let error = RegistryError::from_reply(
            401,
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
        );
        assert_eq!(error.to_string(), "unauthorized: authentication required");
        assert!(!error.is_not_found());
        let error = RegistryError::from_reply(401, br#"{"details":"incorrect username or password"}"#);
        assert_eq!(error.to_string(), "unauthorized: incorrect username or password");
        assert_eq!(
            RegistryError::from_reply(502, b"<html>").to_string(),
            "received unexpected HTTP status: 502 Bad Gateway"
        );
        assert!(RegistryError::from_reply(404, b"").is_not_found());
    }

    #[test]
    fn other_messages() {
        let missing = RegistryError::NoBasicCredentials {
            method: "Head".into(),
            url: "http://127.0.0.1:5000/v2/busybox/manifests/latest".into(),
        };
        assert_eq!(
            missing.to_string(),
            "Head \"http://127.0.0.1:5000/v2/busybox/manifests/latest\": no basic auth credentials"
        );
        let digest = RegistryError::DigestMismatch { what: "filesystem layer", digest: "sha256:ab".into() };
        assert_eq!(digest.to_string(), "filesystem layer verification failed for digest sha256:ab");
    }
}
