//! Who is calling, decided once per request: a bearer token names a tenant (or the admin);
//! without one, a verified TLS client certificate names one (see [`super::tls::peer`]), the
//! unix socket is the admin's (as Docker's socket is root's) and a TCP listener answers 401
//! unless it was opened with `--insecure-no-auth` on loopback. `/_ping` and the API's
//! documentation stay open. Tenants are held to their request rate (429). Every
//! mutating call is recorded in the audit log with its outcome.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::tls::TlsPeer;
use crate::engine::Error;
use crate::engine::tenants::Principal;
use crate::store::tenants::AuditRow;

/// Which listener a request came in on, set per listener by the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// The unix socket (the admin's, as Docker's socket is root's).
    pub unix: bool,
    /// A TCP listener opened with `--insecure-no-auth`: no token needed, the caller is admin.
    pub open: bool,
}

/// Paths anyone may read: liveness and the API's own documentation.
fn is_public(path: &str) -> bool {
    path == "/_ping"
        || path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/")
        || path == "/ui"
        || path.starts_with("/ui/")
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The middleware: authenticate, rate-limit, run, audit.
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let listener = request.extensions().get::<Listener>().copied().unwrap_or(Listener { unix: false, open: false });
    let path = request.uri().path().to_string();
    let principal = match bearer(request.headers()) {
        Some(token) => match state.engine.authenticate(token).await {
            Ok(principal) => Some(principal),
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => match request.extensions().get::<TlsPeer>() {
            Some(peer) => match peer.principal(&state.engine).await {
                Ok(principal) => Some(principal),
                Err(_) if is_public(&path) => None,
                Err(e) => return ApiError::from(e).into_response(),
            },
            None if listener.unix || listener.open => Some(Principal::Admin),
            None if is_public(&path) => None,
            None => {
                return ApiError::from(Error::Unauthorized(
                    "authentication required: send Authorization: Bearer <token> (see kapsel token create)".into(),
                ))
                .into_response();
            }
        },
    };
    let Some(principal) = principal else {
        return next.run(request).await;
    };
    if let Principal::Tenant { id, .. } = &principal {
        let rate = match state.engine.tenant(id).await {
            Ok(tenant) => tenant.quotas.requests_per_second.unwrap_or(state.engine.default_tenant_rate),
            Err(_) => state.engine.default_tenant_rate,
        };
        if let Err(wait) = state.engine.rate_limiter.take(id, rate) {
            let mut response = ApiError::from(Error::TooManyRequests(format!(
                "too many requests: this tenant may make {rate} per second; retry in {} ms",
                wait.as_millis().max(1)
            )))
            .into_response();
            let seconds = wait.as_secs().max(1).to_string();
            if let Ok(value) = seconds.parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
    }
    let method = request.method().clone();
    request.extensions_mut().insert(principal.clone());
    let response = next.run(request).await;
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        record(&state, &principal, &method, &path, response.status().as_u16()).await;
    }
    response
}

/// Writes the audit record of a mutating call.
async fn record(state: &AppState, principal: &Principal, method: &Method, path: &str, status: u16) {
    let (action, object) = describe(method, path);
    let row = AuditRow {
        seq: 0,
        time: crate::store::now_rfc3339(),
        tenant_id: principal.tenant_id().to_string(),
        principal: principal.label().to_string(),
        method: method.to_string(),
        path: path.to_string(),
        action,
        object,
        status: i64::from(status),
    };
    if let Err(e) = state.engine.record_audit(&row).await {
        tracing::warn!(error = %e, "could not write an audit record");
    }
}

/// `container.start` and the object's id or name from a path like `/containers/web/start`.
fn describe(method: &Method, path: &str) -> (String, String) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (kind, rest) = match parts.as_slice() {
        ["kapsel", "v1", kind, rest @ ..] => (*kind, rest),
        [kind, rest @ ..] => (*kind, rest),
        [] => ("", &[][..]),
    };
    let kind = kind.trim_end_matches('s');
    let verb = match rest {
        [] | ["create"] if *method == Method::POST => "create".to_string(),
        [] => method.as_str().to_ascii_lowercase(),
        [_, verb] if !verb.is_empty() => verb.to_string(),
        [verb] if *method == Method::POST => verb.to_string(),
        _ if *method == Method::DELETE => "delete".to_string(),
        _ => method.as_str().to_ascii_lowercase(),
    };
    let object = match rest {
        [object, ..] if !matches!(*object, "create" | "prune" | "load") => object.to_string(),
        _ => String::new(),
    };
    (format!("{kind}.{verb}"), object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_and_public_paths() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer kps_abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("kps_abc"));
        headers.insert(header::AUTHORIZATION, "Basic xyz".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        assert!(is_public("/_ping") && is_public("/docs/index.html") && !is_public("/containers/json"));
    }

    #[test]
    fn audit_descriptions() {
        assert_eq!(describe(&Method::POST, "/containers/create"), ("container.create".into(), String::new()));
        assert_eq!(describe(&Method::POST, "/containers/web/start"), ("container.start".into(), "web".into()));
        assert_eq!(describe(&Method::DELETE, "/containers/web"), ("container.delete".into(), "web".into()));
        assert_eq!(describe(&Method::POST, "/kapsel/v1/tenants"), ("tenant.create".into(), String::new()));
        assert_eq!(describe(&Method::POST, "/images/load"), ("image.load".into(), String::new()));
    }
}
