//! Notarization certificates: `/v1/chains/{id}/notary/records/{record}/{proof,certificate}`.

use std::sync::Arc;

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use consortia_api::ErrorBody;
use consortia_api::notary_proof::NotaryBundle;
use consortia_api::server::{ApiResult, PathParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new().routes(routes!(record_proof)).routes(routes!(record_certificate))
}

/// A notarization record's proof bundle: the record, its state proof at the latest block, the
/// certified headers from the genesis' validator set (only those where the set changed, and
/// the latest) and the genesis validators. Check it offline with `consortia notary verify`
#[utoipa::path(get, path = "/v1/chains/{id}/notary/records/{record}/proof", tag = "notary",
    params(("id" = String, Path, description = "Chain id"), ("record" = String, Path, description = "Record id")),
    responses(
        (status = 200, body = NotaryBundle),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such chain or record", body = ErrorBody),
        (status = 409, description = "The chain is not running, or what its nodes serve does not verify", body = ErrorBody),
        (status = 502, description = "No node of the chain answers", body = ErrorBody),
    ))]
async fn record_proof(
    Ctx { platform, caller }: Ctx,
    PathParams((id, record)): PathParams<(String, String)>,
) -> ApiResult<Json<NotaryBundle>> {
    Ok(Json(platform.notary_bundle(&caller, &id, &record).await?.0))
}

/// A notarization record's certificate: a one-page PDF (the record, the block that proves
/// it, a QR code) with the proof bundle attached as `proof.json`
#[utoipa::path(get, path = "/v1/chains/{id}/notary/records/{record}/certificate", tag = "notary",
    params(("id" = String, Path, description = "Chain id"), ("record" = String, Path, description = "Record id")),
    responses(
        (status = 200, description = "The certificate", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such chain or record", body = ErrorBody),
        (status = 409, description = "The chain is not running, or what its nodes serve does not verify", body = ErrorBody),
        (status = 502, description = "No node of the chain answers", body = ErrorBody),
    ))]
async fn record_certificate(
    Ctx { platform, caller }: Ctx,
    PathParams((id, record)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let pdf = platform.notary_certificate(&caller, &id, &record).await?;
    let name: String = record
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    let disposition = format!("attachment; filename=\"certificate-{name}.pdf\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    )
        .into_response())
}
