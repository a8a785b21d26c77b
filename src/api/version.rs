//! API versions: every route is served unprefixed and under `/vX.YY`. The prefix is stripped
//! before routing (this middleware wraps the router; a `Router::layer` would run too late), the
//! version is kept in the request's extensions, and the headers the clients negotiate with are
//! added to every response, as dockerd's middleware does.

use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The newest API version kapsel speaks (docker CLI 28.2 speaks 1.50).
pub const MAX_API_VERSION: ApiVersion = ApiVersion { major: 1, minor: 50 };
/// The oldest API version kapsel accepts, as dockerd.
pub const MIN_API_VERSION: ApiVersion = ApiVersion { major: 1, minor: 24 };
/// What the `Server` header says, in the form the Go client parses (`Docker/<ver> (<os>)`).
pub const SERVER_HEADER: &str = concat!("Docker/", env!("CARGO_PKG_VERSION"), "-kapsel (linux)");

/// The API version a request was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    /// Always 1 so far.
    pub major: u32,
    /// 24 … 50.
    pub minor: u32,
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl ApiVersion {
    /// Parses `1.41`.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (major, minor) = s.split_once('.')?;
        Some(ApiVersion { major: major.parse().ok()?, minor: minor.parse().ok()? })
    }
}

/// Splits `/v1.41/images/json` into the version text and the rest of the path.
fn split_version_prefix(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some((version, &rest[end..]))
}

/// Checks a path version against the supported range, with dockerd's wording.
fn check_version(text: &str) -> Result<ApiVersion, ApiError> {
    let version =
        ApiVersion::parse(text).ok_or_else(|| ApiError::bad_request(format!("invalid API version {text:?}")))?;
    if version < MIN_API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {text} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if version > MAX_API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {text} is too new. Maximum supported API version is {MAX_API_VERSION}"
        )));
    }
    Ok(version)
}

/// The middleware: strip and check the version prefix, then stamp the response headers.
pub async fn versioned(mut request: Request, next: Next) -> Response {
    let mut version = MAX_API_VERSION;
    if let Some((text, rest)) = split_version_prefix(request.uri().path()) {
        match check_version(text) {
            Ok(v) => version = v,
            Err(e) => return stamp(e.into_response()),
        }
        let rest = if rest.is_empty() { "/" } else { rest };
        let path_and_query = match request.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        let mut parts = request.uri().clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request.extensions_mut().insert(version);
    stamp(next.run(request).await)
}

fn stamp(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(version) = HeaderValue::from_str(&MAX_API_VERSION.to_string()) {
        headers.insert("Api-Version", version);
    }
    headers.insert("Ostype", HeaderValue::from_static("linux"));
    headers.insert("Server", HeaderValue::from_static(SERVER_HEADER));
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_split_and_versions_check() {
        assert_eq!(split_version_prefix("/v1.41/images/json"), Some(("1.41", "/images/json")));
        assert_eq!(split_version_prefix("/v1.50"), Some(("1.50", "")));
        assert_eq!(split_version_prefix("/version"), None);
        assert_eq!(split_version_prefix("/volumes"), None);
        assert!(check_version("1.24").is_ok());
        assert!(check_version("1.50").is_ok());
        assert_eq!(
            check_version("1.51").unwrap_err().message,
            "client version 1.51 is too new. Maximum supported API version is 1.50"
        );
        assert!(
            check_version("1.12").unwrap_err().message.contains("is too old. Minimum supported API version is 1.24")
        );
        assert!(check_version("1.x").is_err());
    }
}
