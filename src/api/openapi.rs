//! The OpenAPI document, generated from the handlers' annotations, served at `/openapi.json`
//! and committed under `openapi/` (a test fails when the committed copy is stale).

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// Every error reply of the Docker API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, as the client prints it.
    pub message: String,
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
        super::system::ping, super::system::version, super::system::info,
        super::images::list_images, super::images::create_image, super::images::load_images,
        super::images::save_images, super::images::prune_images, super::images::inspect_image,
        super::images::image_history, super::images::tag_image, super::images::delete_image,
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
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags((name = "System"), (name = "Image"), (name = "Container"), (name = "Exec"), (name = "Network"), (name = "Volume"), (name = "Kapsel", description = "kapsel's own API: tenants, tokens, quotas, audit")),
)]
pub struct ApiDoc;

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
