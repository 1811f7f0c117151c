//! The HTTP layer: the platform's REST API. One file per area, each with its routes and thin
//! handlers (typed extractors, the caller from [`auth::Ctx`], one service call, the answer);
//! [`error`] maps domain errors to answers. Routes and their OpenAPI operations are
//! registered together (`utoipa_axum::routes!`), so a route cannot go undocumented.

pub mod auth;
mod chains;
mod consortiums;
mod contracts;
pub mod error;
mod explorer;
mod hosts;
mod identity;
mod monitoring;
mod nodes;
mod orgs;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, Uri};
use consortia_api::ErrorBody;
use consortia_api::server::ApiError;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
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
    paths(explorer::read),
    components(schemas(ErrorBody)),
    security(("bearer" = []))
)]
struct ApiDoc;

/// The routes with their OpenAPI document.
fn api() -> (Router<Arc<Platform>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(identity::routes())
        .merge(orgs::routes())
        .merge(consortiums::routes())
        .merge(hosts::routes())
        .merge(chains::routes())
        .merge(nodes::routes())
        .merge(contracts::routes())
        .merge(explorer::routes())
        .merge(monitoring::routes())
        .split_for_parts();
    complete(&mut doc);
    (router.route(explorer::READ_ROUTE, axum::routing::get(explorer::read)), doc)
}

/// The platform's OpenAPI document (served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The answers every operation can give without saying so itself: 401 unless it is public,
/// 400 and 413 for a body that is not JSON or too large, 500 for an internal failure. And the
/// bearer scheme.
fn complete(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations =
            [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
        for op in operations.into_iter().flatten() {
            let public = op.security.as_ref().is_some_and(|s| {
                s.iter().all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
            });
            let mut add = |status: &str, description: &str| {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description).into());
            };
            if !public {
                add("401", "No credential, or one that does not hold (expired, revoked, forged)");
            }
            add("500", "An internal failure: `request_id` names the log entry with the detail");
            if op.request_body.is_some() {
                add("400", "The body is not the JSON this operation takes (`malformed_body`)");
                add("413", "The body is too large (`body_too_large`)");
            }
        }
    }
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}; see /docs for the API", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take that method; see /docs for the API",
    )
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
