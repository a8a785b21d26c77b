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

pub mod archive;
pub mod commit;
pub mod container_ops;
pub mod containers;
pub mod error;
pub mod events;
pub mod exec;
pub mod images;
pub mod json;
pub mod openapi;
pub mod params;
pub mod stream;
pub mod system;
pub mod tenant;
pub mod version;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
}

/// The whole HTTP service: routes, the version-prefix middleware around them, request spans.
pub fn service(
    engine: Arc<Engine>,
) -> impl tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send> + Clone + Send + 'static
{
    let router = Router::new()
        .merge(system::routes())
        .merge(images::routes())
        .merge(containers::routes())
        .merge(container_ops::routes())
        .merge(archive::routes())
        .merge(commit::routes())
        .merge(exec::routes())
        .merge(events::routes())
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", openapi::ApiDoc::openapi()))
        .fallback(error::page_not_found)
        .method_not_allowed_fallback(error::page_not_found)
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(AppState { engine });
    axum::middleware::from_fn(version::versioned).layer(router)
}
