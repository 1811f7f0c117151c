//! Nodes' certificates over their lifetime. The platform makes them valid for
//! [`NODE_CERT_DAYS`] and renews them, for the same node keys (peers admit a node by its key),
//! at two thirds of that: an hourly job, or an operator at any time (after a compromise of the
//! old ones, say). The host driver replaces the files; the nodes present the new certificates
//! from their next connection, without a restart.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use consortia_api::platform::{CertificateRenewalView, ChainNodeView, ChainView};

use super::chains::spec_name;
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::provision::{HTTPS_CERT, NODE_CERT, https_certificate, p2p_certificate};
use crate::store::{chains as store, consortiums as consortium_store, now_ms};

/// How long the certificates the platform issues to nodes are valid for.
pub const NODE_CERT_DAYS: u32 = 365;

/// How often the renewal job looks for certificates past two thirds of their lifetime.
const RENEWAL_CHECK: Duration = Duration::from_secs(3600);

const DAY_MS: i64 = 86_400_000;

/// When certificates issued now for `days` expire: they run from the start of today (UTC).
pub(crate) fn expiry_ms(days: u32) -> i64 {
    let now = now_ms();
    now - now % DAY_MS + i64::from(days) * DAY_MS
}

impl Platform {
    /// Renews the certificates of the nodes of `chain` the caller may manage (`node:renew` in
    /// their organization): P2P, and HTTPS where the chain serves it.
    pub async fn renew_certificates(
        &self,
        caller: &Caller,
        chain: &str,
    ) -> Result<Vec<CertificateRenewalView>> {
        let chain = self.readable_chain(caller, chain).await?;
        let mut mine = vec![];
        for node in &chain.nodes {
            let resource = format!("org/{}/chains/{}/nodes/{}", node.org_id, chain.id, node.id);
            if self.authorize(caller, &node.org_id, "node:renew", &resource).await.is_ok() {
                mine.push(node);
            }
        }
        if mine.is_empty() {
            return Err(Error::Forbidden(format!(
                "you may renew the certificates of no node of chain {}",
                chain.id
            )));
        }
        self.renew(&chain, &mine).await
    }

    /// Renews the certificates of `nodes` of the running `chain`.
    async fn renew(
        &self,
        chain: &ChainView,
        nodes: &[&ChainNodeView],
    ) -> Result<Vec<CertificateRenewalView>> {
        let listed =
            self.governance_read(chain, |n| async move { n.governance_nodes().await }).await?;
        let keys: HashMap<String, [u8; 32]> = listed
            .into_iter()
            .filter_map(|n| {
                let key = consortia_crypto::PublicKey::from_base64(n.tls_key.as_deref()?).ok()?;
                Some((n.name, key.as_bytes().try_into().ok()?))
            })
            .collect();
        let (_, ca_cert, _) = consortium_store::ca(&self.db, &chain.consortium_id).await?;
        let expires_ms = expiry_ms(NODE_CERT_DAYS);
        let mut renewed = vec![];
        for node in nodes {
            let key = keys.get(&node.name).ok_or_else(|| {
                Error::illegal_step(format!("node {} is not on the chain's node list", node.name))
            })?;
            let issuer = self.org_ca(&chain.consortium_id, &node.org_id).await?;
            let plan_error = |e: crate::provision::PlanError| Error::internal(e.to_string());
            let days = Some(NODE_CERT_DAYS);
            let p2p =
                p2p_certificate(&issuer, &ca_cert, &node.name, key, days).map_err(plan_error)?;
            let driver = self.driver(&node.host_id)?;
            let name = spec_name(&chain.id, &node.name);
            let failed = |e: consortia_hosts::HostError| Error::Upstream {
                code: "renewal_failed",
                message: format!("node {}: {e}", node.name),
            };
            driver.replace_file(&name, NODE_CERT, p2p.into_bytes()).await.map_err(failed)?;
            if chain.node_https {
                let address = node
                    .http_url
                    .as_deref()
                    .and_then(|u| u.rsplit_once("://")?.1.parse::<std::net::SocketAddr>().ok())
                    .map(|a| a.ip())
                    .ok_or_else(|| Error::internal(format!("node {} has no address", node.name)))?;
                let https = https_certificate(&issuer, &ca_cert, &node.name, key, address, days)
                    .map_err(plan_error)?;
                driver.replace_file(&name, HTTPS_CERT, https.into_bytes()).await.map_err(failed)?;
            }
            store::set_cert_expiry(&self.db, &node.id, expires_ms).await?;
            tracing::info!(target: "platform::certificates", chain = %chain.id, node = %node.name, "renewed the node's certificates");
            renewed.push(CertificateRenewalView {
                node_id: node.id.clone(),
                name: node.name.clone(),
                expires_ms,
            });
        }
        Ok(renewed)
    }

    /// Renews every certificate past two thirds of its lifetime (the job's round).
    pub(crate) async fn renew_due_certificates(&self) -> Result<()> {
        let lifetime_ms = i64::from(NODE_CERT_DAYS) * DAY_MS;
        let due_before = now_ms() + lifetime_ms / 3;
        for id in store::chains_with_certificates_due(&self.db, due_before).await? {
            let chain = self.load_chain(&id).await?;
            let nodes: Vec<&ChainNodeView> = chain.nodes.iter().collect();
            if let Err(e) = self.renew(&chain, &nodes).await {
                tracing::warn!(target: "platform::certificates", chain = %id, error = %e, "cannot renew the nodes' certificates; retrying in an hour");
            }
        }
        Ok(())
    }
}

/// Runs the renewal round every hour while the platform lives (and is unsealed).
pub(crate) async fn renewal_job(platform: Weak<Platform>) {
    loop {
        tokio::time::sleep(RENEWAL_CHECK).await;
        let Some(platform) = platform.upgrade() else { return };
        if platform.seal_status().sealed {
            continue;
        }
        if let Err(e) = platform.renew_due_certificates().await {
            tracing::warn!(target: "platform::certificates", error = %e, "certificate renewal round failed");
        }
    }
}
