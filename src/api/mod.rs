//! The Docker Engine API over HTTP: axum routers, one file per resource. Handlers parse, call
//! the engine and shape the reply; behaviour lives in the engine.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use tower::Layer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::engine::Engine;

pub mod admin;
pub mod archive;
pub mod auth;
pub mod auth_registry;
pub mod commit;
pub mod container_ops;
pub mod containers;
pub mod distribution;
pub mod error;
pub mod events;
pub mod exec;
pub mod images;
pub mod json;
pub mod networks;
pub mod openapi;
pub mod params;
pub mod stream;
pub mod system;
pub mod tenant;
pub mod tls;
pub mod ui;
pub mod version;
pub mod volumes;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
}

/// Browser access to the API: the origins and extra headers a web front end may use.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Allowed origins; `*` for any; empty turns CORS off.
    pub origins: Vec<String>,
    /// Extra request headers allowed besides Authorization and Content-Type.
    pub headers: Vec<String>,
}

/// The whole HTTP service of one listener: routes, authentication (which depends on the
/// listener), CORS, request spans, and the version-prefix middleware around it all.
pub fn service(
    engine: Arc<Engine>,
    listener: auth::Listener,
    cors: &Cors,
) -> impl tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send> + Clone + Send + 'static
{
    let state = AppState { engine };
    let router = Router::new()
        .merge(system::routes())
        .merge(images::routes())
        .merge(auth_registry::routes())
        .merge(containers::routes())
        .merge(container_ops::routes())
        .merge(archive::routes())
        .merge(commit::routes())
        .merge(exec::routes())
        .merge(events::routes())
        .merge(networks::routes())
        .merge(volumes::routes())
        .merge(admin::routes())
        .merge(ui::routes())
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", openapi::ApiDoc::openapi()))
        .fallback(error::page_not_found)
        .method_not_allowed_fallback(error::page_not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(axum::Extension(listener))
        .layer(cors_layer(cors))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state);
    axum::middleware::from_fn(version::versioned).layer(router)
}

/// The CORS layer for the configured origins (none: no CORS headers at all).
fn cors_layer(cors: &Cors) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    if cors.origins.is_empty() {
        return CorsLayer::new();
    }
    let origin = if cors.origins.iter().any(|o| o == "*") {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::list(cors.origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let mut headers = vec![header::AUTHORIZATION, header::CONTENT_TYPE];
    headers.extend(cors.headers.iter().filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()));
    CorsLayer::new().allow_origin(origin).allow_methods(Any).allow_headers(headers)
}
