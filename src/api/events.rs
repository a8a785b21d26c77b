//! `GET /events`: recorded events since a time, then live ones, as newline-delimited JSON. The
//! headers go out at once (the CLI blocks until they arrive).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::tenant::Tenant;
use crate::engine::containers::logs::parse_log_time;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

/// Streams events: replays those since `since` (until `until`), then follows live ones unless
/// `until` has passed.
#[utoipa::path(get, path = "/events", tag = "System",
    params(("since" = Option<String>, Query, description = "Unix time (fraction allowed) or RFC 3339"),
           ("until" = Option<String>, Query, description = "Unix time (fraction allowed) or RFC 3339; the stream ends then"),
           ("filters" = Option<String>, Query, description = "JSON: type, event, container, image, label, network, volume, scope")),
    responses((status = 200, description = "A stream of JSON events, one a line: the recorded ones since `since`, then live ones; it ends at `until`, or never without it", content_type = "application/json", body = crate::engine::events::Event),
              (status = 400, body = super::openapi::ErrorBody)))]
pub async fn events(State(state): State<AppState>, tenant: Tenant, params: Params) -> ApiResult<Response> {
    let time = |key: &str| -> Result<Option<i64>, ApiError> {
        match params.get(key).filter(|v| !v.is_empty()) {
            Some(v) => parse_log_time(v)
                .map(|t| Some(t as i64))
                .ok_or_else(|| ApiError::bad_request(format!("invalid {key} {v:?}"))),
            None => Ok(None),
        }
    };
    let (since, until) = (time("since")?, time("until")?);
    let mut events = state.engine.events(&tenant.0, since, until, params.filters()?).await?;
    let body = async_stream::stream! {
        while let Some(event) = events.recv().await {
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            yield Ok::<_, std::io::Error>(Bytes::from(line));
        }
    };
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
