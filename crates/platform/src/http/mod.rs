//! The HTTP layer: the platform's REST API. One file per area, each with its routes and thin
//! handlers (typed extractors, the caller from [`auth::Ctx`], one service call, the answer);
//! [`error`] maps domain errors to answers. Routes and their OpenAPI operations are
//! registered together (`utoipa_axum::routes!`), so a route cannot go undocumented.

mod alerts;
mod assets;
pub mod auth;
mod chains;
mod consortiums;
mod contracts;
pub mod error;
mod explorer;
mod gateway;
mod governance;
mod hosts;
mod identity;
mod keystore;
mod ledger;
mod monitoring;
mod nodes;
mod notary;
mod orgs;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use consortia_api::ErrorBody;
use consortia_api::server::{document_common_answers, method_not_allowed, no_route};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::Platform;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Consortia platform API",
        description = "The control plane: users, organizations, roles and policies, consortiums \
            (invitations, join requests, votes), hosts, chains (the wizard and the start), nodes, \
            contracts, the explorer, monitoring and the audit log. Authenticate with \
            `POST /v1/auth/login`, then send `Authorization: Bearer <access_token>` (or an API \
            key). Every error is `{\"code\", \"message\"}`; an internal one (500) adds \
            `request_id`, under which the platform's log holds the detail."
    ),
    paths(explorer::explorer_read),
    components(schemas(ErrorBody)),
    security(("bearer" = []))
)]
struct ApiDoc;

/// The routes with their OpenAPI document.
fn api() -> (Router<Arc<Platform>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(identity::routes())
        .merge(keystore::routes())
        .merge(orgs::routes())
        .merge(consortiums::routes())
        .merge(hosts::routes())
        .merge(chains::routes())
        .merge(nodes::routes())
        .merge(contracts::routes())
        .merge(gateway::routes())
        .merge(webhooks::routes())
        .merge(alerts::routes())
        .merge(assets::routes())
        .merge(notary::routes())
        .merge(explorer::routes())
        .merge(governance::routes())
        .merge(ledger::routes())
        .merge(monitoring::routes())
        .split_for_parts();
    document_common_answers(&mut doc, true);
    (router.route(explorer::READ_ROUTE, axum::routing::get(explorer::explorer_read)), doc)
}

/// The platform's OpenAPI document (served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The platform's HTTP API, with the console at `/` and Swagger UI at `/docs`.
pub fn router(platform: Arc<Platform>) -> Router {
    let (api, doc) = api();
    Router::new()
        .merge(consortia_console::router())
        .merge(api)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(platform.clone(), auth::middleware))
        .with_state(platform)
}
