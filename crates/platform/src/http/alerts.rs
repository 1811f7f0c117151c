//! `/v1/chains/{id}/alerts*`, `alert-rules`, `alert-receivers`, `alert-silences`: the alerts
//! the platform raises on a chain, where they go, and what holds them back.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::{
    ActingOrg, AlertQuery, AlertReceiverView, AlertRuleView, AlertView, CreateAlertReceiverRequest,
    CreateSilenceRequest, CreatedAlertReceiverView, SilenceView, UpdateAlertRuleRequest,
};
use consortia_api::server::{ApiResult, JsonBody, PathParams, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(acknowledge_alert))
        .routes(routes!(list_alert_rules))
        .routes(routes!(update_alert_rule))
        .routes(routes!(create_alert_receiver, list_alert_receivers))
        .routes(routes!(delete_alert_receiver))
        .routes(routes!(create_silence, list_silences))
        .routes(routes!(end_silence))
}

/// The chain's alerts: `state=active` (default) for those pending and firing, oldest first;
/// `state=all` for the history, newest first, paged with `before_ms`
#[utoipa::path(get, path = "/v1/chains/{id}/alerts", tag = "alerts",
    params(("id" = String, Path, description = "Chain id"), AlertQuery),
    responses(
        (status = 200, body = Vec<AlertView>),
        (status = 400, description = "Bad state", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn list_alerts(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<AlertQuery>,
) -> ApiResult<Json<Vec<AlertView>>> {
    Ok(Json(platform.alerts(&caller, &id, &q).await?))
}

/// Acknowledge a firing alert: someone is on it, so no reminders are sent (needs
/// `chain:alerts`)
#[utoipa::path(post, path = "/v1/chains/{id}/alerts/{alert}/acknowledge", tag = "alerts",
    params(("id" = String, Path, description = "Chain id"), ("alert" = String, Path, description = "Alert id")),
    request_body = ActingOrg,
    responses(
        (status = 200, body = AlertView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The alert is not firing", body = ErrorBody),
    ))]
async fn acknowledge_alert(
    Ctx { platform, caller }: Ctx,
    PathParams((id, alert)): PathParams<(String, String)>,
    JsonBody(req): JsonBody<ActingOrg>,
) -> ApiResult<Json<AlertView>> {
    Ok(Json(platform.acknowledge_alert(&caller, &id, &alert, req.org_id.as_deref()).await?))
}

/// The alert rules as the chain has them (enabled, `for`, threshold) and their active alerts
#[utoipa::path(get, path = "/v1/chains/{id}/alert-rules", tag = "alerts",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = Vec<AlertRuleView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_alert_rules(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<AlertRuleView>>> {
    Ok(Json(platform.alert_rules(&caller, &id).await?))
}

/// Change a rule on the chain: turn it off or on, its `for`, its threshold (needs
/// `chain:alerts`)
#[utoipa::path(put, path = "/v1/chains/{id}/alert-rules/{rule}", tag = "alerts",
    params(("id" = String, Path, description = "Chain id"), ("rule" = String, Path, description = "Rule, e.g. node_down")),
    request_body = UpdateAlertRuleRequest,
    responses(
        (status = 200, body = AlertRuleView),
        (status = 400, description = "A threshold for a rule without one, or `for` over a day", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "No such chain or rule", body = ErrorBody),
    ))]
async fn update_alert_rule(
    Ctx { platform, caller }: Ctx,
    PathParams((id, rule)): PathParams<(String, String)>,
    JsonBody(req): JsonBody<UpdateAlertRuleRequest>,
) -> ApiResult<Json<AlertRuleView>> {
    Ok(Json(platform.update_alert_rule(&caller, &id, &rule, &req).await?))
}

/// Send the chain's alerts somewhere: a webhook (Alertmanager's JSON, version 4, signed:
/// `X-Consortia-Signature: sha256=` HMAC-SHA256 of `<X-Consortia-Timestamp>.<body>` under the
/// secret this answer shows once) or an e-mail address (through the platform's SMTP server).
/// Each alert is sent when it fires, as a reminder every 4 hours until acknowledged, and when
/// it is resolved (needs `chain:alerts`)
#[utoipa::path(post, path = "/v1/chains/{id}/alert-receivers", tag = "alerts",
    params(("id" = String, Path, description = "Chain id")),
    request_body = CreateAlertReceiverRequest,
    responses(
        (status = 201, body = CreatedAlertReceiverView),
        (status = 400, description = "Bad URL or address", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "E-mail, and the platform has no SMTP server", body = ErrorBody),
        (status = 503, description = "The keystore is sealed", body = ErrorBody),
    ))]
async fn create_alert_receiver(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<CreateAlertReceiverRequest>,
) -> ApiResult<(StatusCode, Json<CreatedAlertReceiverView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_alert_receiver(&caller, &id, &req).await?)))
}

/// The chain's alert receivers of your organizations (an administrator sees all), with their
/// notifications delivered, waiting and given up on
#[utoipa::path(get, path = "/v1/chains/{id}/alert-receivers", tag = "alerts",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = Vec<AlertReceiverView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_alert_receivers(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<AlertReceiverView>>> {
    Ok(Json(platform.alert_receivers(&caller, &id).await?))
}

/// Delete an alert receiver and its notifications
#[utoipa::path(delete, path = "/v1/chains/{id}/alert-receivers/{receiver}", tag = "alerts",
    params(("id" = String, Path, description = "Chain id"), ("receiver" = String, Path, description = "Receiver id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_alert_receiver(
    Ctx { platform, caller }: Ctx,
    PathParams((id, receiver)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    platform.delete_alert_receiver(&caller, &id, &receiver).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Silence alerts for a while (a rule, a node, or everything on the chain): they still show,
/// they are not sent (needs `chain:alerts`)
#[utoipa::path(post, path = "/v1/chains/{id}/alert-silences", tag = "alerts",
    params(("id" = String, Path, description = "Chain id")),
    request_body = CreateSilenceRequest,
    responses(
        (status = 201, body = SilenceView),
        (status = 400, description = "Bad duration", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "No such chain, rule or node", body = ErrorBody),
    ))]
async fn create_silence(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<CreateSilenceRequest>,
) -> ApiResult<(StatusCode, Json<SilenceView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_silence(&caller, &id, &req).await?)))
}

/// The chain's silences that have not ended
#[utoipa::path(get, path = "/v1/chains/{id}/alert-silences", tag = "alerts",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = Vec<SilenceView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_silences(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<SilenceView>>> {
    Ok(Json(platform.silences(&caller, &id).await?))
}

/// End a silence now (needs `chain:alerts`)
#[utoipa::path(delete, path = "/v1/chains/{id}/alert-silences/{silence}", tag = "alerts",
    params(("id" = String, Path, description = "Chain id"), ("silence" = String, Path, description = "Silence id"), ActingOrgQuery),
    responses((status = 204, description = "Ended"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn end_silence(
    Ctx { platform, caller }: Ctx,
    PathParams((id, silence)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<ActingOrgQuery>,
) -> ApiResult<StatusCode> {
    platform.end_silence(&caller, &id, &silence, q.org_id.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization acting, as a query parameter (for a DELETE).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ActingOrgQuery {
    org_id: Option<String>,
}
