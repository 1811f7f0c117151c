//! Notarization certificates: a record's proof bundle (`consortia_api::notary_proof`), made by
//! following the chain's certified headers from the genesis the platform launched it with, and
//! the same bundle as a printable PDF certificate with a QR code, carrying the bundle attached
//! so the PDF alone can be checked offline (`consortia notary verify certificate.pdf`).

use consortia_api::node::{CertifiedHeaderView, HeightQuery};
use consortia_api::notary_proof::{FORMAT, NotaryBundle, VerifiedRecord, verify_bundle};
use consortia_api::{ClientError, NodeClient};
use consortia_types::notary::record_key;
use consortia_types::{Genesis, validators_hash};
use sha2::{Digest, Sha256};

use super::identity::Caller;
use super::ledger_verify::{VerifyError, follow_headers};
use crate::Platform;
use crate::error::{Error, Result};
use crate::pdf::{self, Attachment, Font, Page};

/// A record's bundle through `node`: the record, the headers where the validator set changed
/// and the latest one, and the record's state proof at that height.
async fn bundle_through(
    node: &NodeClient,
    genesis: &Genesis,
    id: &str,
) -> std::result::Result<NotaryBundle, VerifyError> {
    let record = match node.notary_record(id).await {
        Err(e) if e.status() == Some(404) => {
            return Err(VerifyError::Absent(format!("no notarization record `{id}`")));
        }
        other => other?,
    };
    let height = node.status().await?.height;
    let algo = genesis.suite.hash();
    let mut headers: Vec<CertifiedHeaderView> = vec![];
    let (_, last) = follow_headers(node, genesis, height, |chain, view, certified| {
        if certified.header.next_validators_hash != validators_hash(algo, chain.next_set()) {
            headers.push(view.clone());
        }
    })
    .await?;
    if headers.last().map(|h| h.height) != Some(last.height) {
        headers.push(last.clone());
    }
    let key = format!("0x{}", hex::encode(record_key(id)));
    let state_proof = node.state(&key, &HeightQuery { height: Some(last.height) }).await?;
    Ok(NotaryBundle {
        format: FORMAT.into(),
        chain_id: genesis.chain_id,
        suite: genesis.suite,
        consensus: genesis.params.consensus,
        genesis_validators: genesis.validators.clone(),
        record,
        state_proof,
        headers,
    })
}

impl Platform {
    /// The proof bundle of record `id` on `chain`, checked before it is handed out.
    pub async fn notary_bundle(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
    ) -> Result<(NotaryBundle, VerifiedRecord)> {
        let chain = self.readable_chain(caller, chain).await?;
        let genesis =
            &self.launched_genesis(&chain, "fetch the record and check it on a node").await?;
        let bundle = self
            .on_any_node(&chain, |node| async move {
                match bundle_through(&node, genesis, id).await {
                    Err(VerifyError::Node(e)) => Err(e),
                    other => Ok(other),
                }
            })
            .await?
            .map_err(|e: ClientError| Error::Upstream {
                code: "chain_failed",
                message: e.to_string(),
            })?
            .map_err(|e| match e {
                VerifyError::Absent(message) => Error::NotFound(message),
                e => Error::conflict("not_verified", e.to_string()),
            })?;
        let proven = verify_bundle(&bundle, Some(&genesis.validators))
            .map_err(|e| Error::conflict("not_verified", e.to_string()))?;
        Ok((bundle, proven))
    }

    /// Record `id`'s certificate: a one-page PDF with the bundle attached.
    pub async fn notary_certificate(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
    ) -> Result<Vec<u8>> {
        let name = self.visible_chain(caller, chain).await?.name;
        let (bundle, proven) = self.notary_bundle(caller, chain, id).await?;
        certificate_pdf(&name, &bundle, &proven)
    }
}

/// The text a certificate's QR code carries: what identifies the record and its bundle.
fn qr_text(bundle: &NotaryBundle, digest: &str) -> String {
    format!(
        "consortia-notary:chain={};record={};content={};block={};bundle=sha256:{digest}",
        bundle.chain_id, bundle.record.id, bundle.record.content_hash, bundle.state_proof.height
    )
}

/// `ms` since the Unix epoch as a UTC time (to the second).
fn utc(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| format!("{ms} ms"), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// The certificate: a title, the record, where it is proven, a QR code and how to verify.
fn certificate_pdf(
    chain_name: &str,
    bundle: &NotaryBundle,
    proven: &VerifiedRecord,
) -> Result<Vec<u8>> {
    let json = serde_json::to_vec_pretty(bundle).map_err(Error::internal)?;
    let digest = hex::encode(Sha256::digest(&json));
    let record = &bundle.record;
    let algo = bundle.suite.hash();
    let mut page = Page::default();
    let left = 50.0;
    page.text(left, 780.0, Font::Bold, 22.0, "Notarization certificate");
    page.text(
        left,
        758.0,
        Font::Regular,
        11.0,
        &format!("Chain {chain_name} (chain id {})", bundle.chain_id),
    );
    page.rule(left, pdf::WIDTH - left, 745.0);
    let fields =
        record.fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let rows = [
        ("Record", record.id.clone()),
        ("Content hash", record.content_hash.clone()),
        ("Owner", record.owner.clone()),
        ("Fields", fields),
        ("Metadata", record.metadata.clone()),
        ("Transaction", record.tx_hash.clone()),
        ("Notarized", format!("block {}, {}", record.height, utc(record.time_ms))),
        ("Proven in block", format!("{} (state root below)", proven.height)),
        ("State root", proven.state_root.to_hex()),
        (
            "Certified by",
            format!(
                "{} validators (set changed {} times since the genesis)",
                proven.validators.len(),
                proven.set_changes
            ),
        ),
        ("Validator set", validators_hash(algo, &proven.validators).to_hex()),
        ("Bundle SHA-256", digest.clone()),
    ];
    let mut y = 720.0;
    for (label, value) in rows {
        page.text(left, y, Font::Bold, 9.5, label);
        // A long value wraps at 78 characters of the monospaced font.
        let chars: Vec<char> = value.chars().collect();
        for chunk in chars.chunks(78) {
            page.text(left + 95.0, y, Font::Mono, 8.5, &chunk.iter().collect::<String>());
            y -= 13.0;
        }
        if chars.is_empty() {
            y -= 13.0;
        }
        y -= 4.0;
    }
    let qr = qrcode::QrCode::new(qr_text(bundle, &digest).as_bytes()).map_err(Error::internal)?;
    let width = qr.width();
    let dark: Vec<bool> = qr.to_colors().into_iter().map(|c| c == qrcode::Color::Dark).collect();
    let module = 150.0 / width as f32;
    page.matrix(left, y - 10.0, module, width, &dark);
    let note_x = left + 170.0;
    let lines = [
        "The QR code names the chain, the record, its content hash,",
        "the block that proves it and this certificate's bundle (SHA-256).",
        "",
        "The proof bundle is attached to this PDF (proof.json): the record,",
        "its state proof, the certified block headers and the validator sets",
        "from the genesis. Check it offline, trusting no server:",
        "",
        "  consortia notary verify certificate.pdf --genesis genesis.json",
        "  consortia notary verify certificate.pdf --file <the document>",
    ];
    let mut ny = y - 20.0;
    for line in lines {
        page.text(note_x, ny, Font::Regular, 9.0, line);
        ny -= 13.0;
    }
    let attachment = Attachment { name: "proof.json", mime: "application/json", data: &json };
    Ok(pdf::document(&page, &format!("Notarization certificate: {}", record.id), &[attachment]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_796_349_600_000), "2026-12-04 02:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
