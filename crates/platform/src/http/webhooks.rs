//! `/v1/chains/{id}/webhooks*`: event delivery to webhook subscriptions.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use consortia_api::ErrorBody;
use consortia_api::platform::{
    CreateWebhookRequest, CreatedWebhookView, DeadLetterView, EventStreamQuery,
    WebhookCursorRequest, WebhookView,
};
use consortia_api::server::{ApiResult, JsonBody, PathParams, QueryParams};
use futures_util::{Stream, StreamExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(show_webhook, delete_webhook))
        .routes(routes!(disable_webhook))
        .routes(routes!(enable_webhook))
        .routes(routes!(move_webhook_cursor))
        .routes(routes!(webhook_dead_letters))
        .routes(routes!(stream_events))
}

/// The chain's events as they are committed, as Server-Sent Events (`event: log`, `id:
/// height:index`, `data:` the event as webhooks carry it); a reconnecting client sends
/// `Last-Event-ID` and resumes after it
#[utoipa::path(get, path = "/v1/chains/{id}/events", tag = "webhooks",
    params(
        ("id" = String, Path, description = "Chain id"),
        EventStreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (`height:index`)"),
    ),
    responses(
        (status = 200, description = "A stream of events", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad event signature, unknown contract, or a bad Last-Event-ID", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain is not running", body = ErrorBody),
    ))]
async fn stream_events(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<EventStreamQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let events = platform.event_stream(&caller, &id, &query, resume).await?;
    let events = events
        .map(|(id, payload)| Ok(Event::default().id(id).event("log").data(payload.to_string())));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Subscribe a URL to the chain's events (a contract's, one event's, topic filters): each is
/// POSTed at least once, in block order, signed (`X-Consortia-Signature: sha256=` HMAC-SHA256
/// of `<X-Consortia-Timestamp>.<body>` under the secret this answer shows once); failures are
/// retried with doubling waits, then kept as dead letters
#[utoipa::path(post, path = "/v1/chains/{id}/webhooks", tag = "webhooks",
    params(("id" = String, Path, description = "Chain id")),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, body = CreatedWebhookView),
        (status = 400, description = "Bad URL, event signature or topic, or an unknown contract", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain is not running", body = ErrorBody),
        (status = 502, description = "No node of the chain answers", body = ErrorBody),
        (status = 503, description = "The keystore is sealed", body = ErrorBody),
    ))]
async fn create_webhook(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWebhookView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_webhook(&caller, &id, &req).await?)))
}

/// The chain's webhook subscriptions of your organizations (an administrator sees all) and
/// how their delivery stands
#[utoipa::path(get, path = "/v1/chains/{id}/webhooks", tag = "webhooks",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = Vec<WebhookView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_webhooks(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<WebhookView>>> {
    Ok(Json(platform.webhooks(&caller, &id).await?))
}

/// A webhook subscription: its cursor, deliveries, and the last failure
#[utoipa::path(get, path = "/v1/chains/{id}/webhooks/{webhook}", tag = "webhooks",
    params(("id" = String, Path, description = "Chain id"), ("webhook" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_webhook(
    Ctx { platform, caller }: Ctx,
    PathParams((id, webhook)): PathParams<(String, String)>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(platform.webhook(&caller, &id, &webhook).await?))
}

/// Delete a webhook subscription and its dead letters
#[utoipa::path(delete, path = "/v1/chains/{id}/webhooks/{webhook}", tag = "webhooks",
    params(("id" = String, Path, description = "Chain id"), ("webhook" = String, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_webhook(
    Ctx { platform, caller }: Ctx,
    PathParams((id, webhook)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    platform.delete_webhook(&caller, &id, &webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pause delivery (the cursor stays: resuming delivers what came meanwhile)
#[utoipa::path(post, path = "/v1/chains/{id}/webhooks/{webhook}/disable", tag = "webhooks",
    params(("id" = String, Path, description = "Chain id"), ("webhook" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn disable_webhook(
    Ctx { platform, caller }: Ctx,
    PathParams((id, webhook)): PathParams<(String, String)>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(platform.set_webhook_enabled(&caller, &id, &webhook, false).await?))
}

/// Resume delivery
#[utoipa::path(post, path = "/v1/chains/{id}/webhooks/{webhook}/enable", tag = "webhooks",
    params(("id" = String, Path, description = "Chain id"), ("webhook" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable_webhook(
    Ctx { platform, caller }: Ctx,
    PathParams((id, webhook)): PathParams<(String, String)>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(platform.set_webhook_enabled(&caller, &id, &webhook, true).await?))
}

/// Move the cursor: delivery resumes after the event named (replay from an earlier block, or
/// skip ahead); failures are cleared
#[utoipa::path(post, path = "/v1/chains/{id}/webhooks/{webhook}/cursor", tag = "webhooks",
    params(("id" = String, Path, description = "Chain id"), ("webhook" = String, Path, description = "Webhook id")),
    request_body = WebhookCursorRequest,
    responses(
        (status = 200, body = WebhookView),
        (status = 400, description = "Bad cursor", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn move_webhook_cursor(
    Ctx { platform, caller }: Ctx,
    PathParams((id, webhook)): PathParams<(String, String)>,
    JsonBody(req): JsonBody<WebhookCursorRequest>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(platform.set_webhook_cursor(&caller, &id, &webhook, &req).await?))
}

/// Events given up on after the last retry, in block order
#[utoipa::path(get, path = "/v1/chains/{id}/webhooks/{webhook}/dead-letters", tag = "webhooks",
    params(("id" = String, Path, description = "Chain id"), ("webhook" = String, Path, description = "Webhook id")),
    responses((status = 200, body = Vec<DeadLetterView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn webhook_dead_letters(
    Ctx { platform, caller }: Ctx,
    PathParams((id, webhook)): PathParams<(String, String)>,
) -> ApiResult<Json<Vec<DeadLetterView>>> {
    Ok(Json(platform.webhook_dead_letters(&caller, &id, &webhook).await?))
}
