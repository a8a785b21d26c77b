//! The OpenAPI document, generated from the handlers' annotations, served at `/openapi.json`
//! and committed under `openapi/` (a test fails when the committed copy is stale).

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{OpenApi, PartialSchema, ToSchema};

/// Every error reply of the Docker API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, as the client prints it.
    pub message: String,
}

/// Raw bytes in a request or response body: a tar archive, a log or attach stream.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("Raw bytes"))
            .into()
    }
}

impl ToSchema for Binary {}

/// What `GET /openapi.json` answers: this document. The route itself is the Swagger UI
/// router's (see `api::service`); this function gives the document its entry.
#[utoipa::path(get, path = "/openapi.json", tag = "System", security(()),
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object)))]
pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// Declares the bearer-token scheme: tenants (and the admin over TCP) send
/// `Authorization: Bearer <token>`; the unix socket needs none.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(title = "kapsel", description = "The Docker Engine API as kapsel serves it. Every path is also served under /v1.24 … /v1.50."),
    paths(
        super::system::ping, super::system::ping_head, super::system::version, super::system::info, openapi_json,
        super::images::list_images, super::images::create_image, super::images::load_images,
        super::images::save_images, super::images::prune_images, super::images::inspect_image,
        super::images::image_history, super::images::save_image, super::images::tag_image, super::images::delete_image,
        super::distribution::push, super::auth_registry::login,
        super::containers::create_container, super::containers::list_containers, super::containers::prune_containers,
        super::containers::inspect_container, super::containers::start_container, super::containers::stop_container,
        super::containers::restart_container, super::containers::kill_container, super::containers::wait_container,
        super::containers::attach_container, super::containers::container_logs, super::containers::resize_container,
        super::containers::rename_container, super::containers::remove_container,
        super::container_ops::container_stats, super::container_ops::container_top,
        super::container_ops::pause_container, super::container_ops::unpause_container,
        super::container_ops::update_container,
        super::archive::head_archive, super::archive::get_archive, super::archive::put_archive,
        super::archive::export_container, super::archive::container_changes, super::commit::commit_container,
        super::exec::create_exec, super::exec::start_exec, super::exec::inspect_exec, super::exec::resize_exec,
        super::events::events,
        super::networks::list_networks, super::networks::create_network, super::networks::inspect_network,
        super::networks::remove_network, super::networks::prune_networks, super::networks::connect_network,
        super::networks::disconnect_network,
        super::volumes::list_volumes, super::volumes::create_volume, super::volumes::inspect_volume,
        super::volumes::remove_volume, super::volumes::prune_volumes,
        super::admin::create_tenant, super::admin::list_tenants, super::admin::get_tenant, super::admin::update_tenant,
        super::admin::delete_tenant, super::admin::create_token, super::admin::revoke_token, super::admin::own_tenant,
        super::admin::audit,
        super::ui::index, super::ui::asset,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth, &Conventions),
    security(("bearer" = [])),
    tags((name = "System"), (name = "Image"), (name = "Container"), (name = "Exec"), (name = "Network"), (name = "Volume"), (name = "Kapsel", description = "kapsel's own API: tenants, tokens, quotas, audit"), (name = "Dashboard", description = "The web dashboard: public pages that call the API with the user's token")),
)]
pub struct ApiDoc;

/// What every operation shares, added after the annotations: the error replies the middleware
/// and the extractors can give anywhere (all with [`ErrorBody`]), and a description on every
/// response (OpenAPI requires one).
struct Conventions;

impl utoipa::Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            for operation in operations(item) {
                let public =
                    operation.security.as_ref().is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
                let mut errors =
                    vec![StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS, StatusCode::INTERNAL_SERVER_ERROR];
                if !public {
                    errors.push(StatusCode::FORBIDDEN);
                }
                if operation.request_body.is_some() {
                    errors.push(StatusCode::BAD_REQUEST);
                }
                if has_path_params {
                    errors.push(StatusCode::NOT_FOUND);
                }
                let responses = &mut operation.responses.responses;
                for status in errors {
                    responses.entry(status.as_str().to_string()).or_insert_with(|| error_response(status).into());
                }
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        response.description = default_description(status);
                    }
                }
            }
        }
    }
}

/// Every operation of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// An error reply: `{"message": …}` as `application/json`, with `Retry-After` where it applies.
fn error_response(status: StatusCode) -> Response {
    let code = status.as_str();
    let mut builder = ResponseBuilder::new()
        .description(default_description(code))
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build());
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        builder = builder.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    builder.build()
}

/// What a status means in this API, for responses the annotations leave undescribed.
fn default_description(status: &str) -> String {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no content",
        "304" => "Nothing to do: already in that state",
        "400" => "Bad parameter or body",
        "401" => "No credentials, or an invalid or revoked token",
        "403" => "Not allowed: the admin's API, a quota, a tenant's confinement, or a predefined object",
        "404" => "No such object",
        "409" => "Conflict with the object's state or name",
        "429" => "Over the tenant's request rate",
        "500" => "Server error",
        "501" => "Not supported by kapsel",
        "503" => "Busy: too many queued operations, or shutting down",
        _ => "See the operation's description",
    }
    .to_string()
}

/// The document as pretty JSON, with a trailing newline (the committed form).
pub fn document() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_document_is_current() {
        let committed =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap_or_default();
        assert!(
            committed == super::document(),
            "openapi/openapi.json is stale: run `cargo run -q -- openapi > openapi/openapi.json`"
        );
    }
}
