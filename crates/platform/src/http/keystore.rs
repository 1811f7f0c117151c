//! `/v1/sys/*`: the sealed keystore. Its status and unsealing need no credentials (the shares
//! are the credential, and a sealed platform cannot check tokens); sealing and beginning a
//! rekey are for platform administrators.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use consortia_api::ErrorBody;
use consortia_api::platform::{
    RekeyRequest, RekeyShareRequest, RekeyStatus, SealStatus, UnsealRequest,
};
use consortia_api::server::{ApiResult, JsonBody};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

/// Paths a sealed platform still answers (beside health and the console's static files).
pub(super) const WHILE_SEALED: [&str; 2] = ["/v1/sys/seal-status", "/v1/sys/unseal"];
/// Paths that take no bearer credential.
pub(super) const PUBLIC: [&str; 3] =
    ["/v1/sys/seal-status", "/v1/sys/unseal", "/v1/sys/rekey/shares"];

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(seal_status))
        .routes(routes!(unseal))
        .routes(routes!(seal))
        .routes(routes!(rekey))
        .routes(routes!(rekey_share))
}

/// Whether the platform is sealed, and how far an unseal has come
#[utoipa::path(get, path = "/v1/sys/seal-status", tag = "keystore", security(()),
    responses((status = 200, body = SealStatus)))]
async fn seal_status(State(platform): State<Arc<Platform>>) -> Json<SealStatus> {
    Json(platform.seal_status())
}

/// Give one key share towards unsealing
///
/// Each holder sends their share; the one that reaches the threshold unseals, and the platform
/// starts serving (and supervising its nodes). `reset: true` forgets the shares given so far.
/// Shares that together do not open the keystore are all forgotten (400 `wrong_share`).
#[utoipa::path(post, path = "/v1/sys/unseal", tag = "keystore", security(()),
    request_body = UnsealRequest,
    responses(
        (status = 200, body = SealStatus),
        (status = 400, description = "Not a share, another set's share, or shares that do not open the keystore", body = ErrorBody),
    ))]
async fn unseal(
    State(platform): State<Arc<Platform>>,
    JsonBody(req): JsonBody<UnsealRequest>,
) -> ApiResult<Json<SealStatus>> {
    Ok(Json(platform.unseal(req.share.as_deref(), req.reset).await?))
}

/// Seal the platform: its keys leave memory until key holders unseal it
#[utoipa::path(post, path = "/v1/sys/seal", tag = "keystore",
    responses(
        (status = 200, body = SealStatus),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
    ))]
async fn seal(Ctx { platform, caller }: Ctx) -> ApiResult<Json<SealStatus>> {
    Ok(Json(platform.seal(&caller)?))
}

/// Begin a rekey: a new share set, once current holders give their shares
///
/// The data key stays, so nothing sealed is re-encrypted and the platform keeps serving.
/// Answers the rekey's `nonce`, which holders name with their shares.
#[utoipa::path(post, path = "/v1/sys/rekey", tag = "keystore",
    request_body = RekeyRequest,
    responses(
        (status = 200, body = RekeyStatus),
        (status = 400, description = "A threshold of 0 or above the share count", body = ErrorBody),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
    ))]
async fn rekey(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<RekeyRequest>,
) -> ApiResult<Json<RekeyStatus>> {
    Ok(Json(platform.begin_rekey(&caller, req.shares, req.threshold)?))
}

/// Give one current share towards a rekey
///
/// The share that reaches the current threshold completes the rekey: the answer carries the
/// new shares, shown this once, and the old ones no longer unseal.
#[utoipa::path(post, path = "/v1/sys/rekey/shares", tag = "keystore", security(()),
    request_body = RekeyShareRequest,
    responses(
        (status = 200, body = RekeyStatus),
        (status = 400, description = "Not a share of the current set, or shares that do not open the keystore", body = ErrorBody),
        (status = 404, description = "No rekey with that nonce under way", body = ErrorBody),
    ))]
async fn rekey_share(
    State(platform): State<Arc<Platform>>,
    JsonBody(req): JsonBody<RekeyShareRequest>,
) -> ApiResult<Json<RekeyStatus>> {
    Ok(Json(platform.rekey_share(&req.nonce, &req.share).await?))
}
