//! Nodes' certificates over their lifetime. The platform makes them valid for
//! [`NODE_CERT_DAYS`] and renews them, for the same node keys (peers admit a node by its key),
//! at two thirds of that: an hourly job, or an operator at any time (after a compromise of the
//! old ones, say). The host driver replaces the files; the nodes present the new certificates
//! from their next connection, without a restart.
//!
//! A member organization's CA rotates by vote ([`Platform::rotate_member_ca`]): the platform
//! makes a new CA, keeps the one it replaced while any chain trusts only that one, proposes the
//! new one on each running chain the organization takes part in, and reissues the
//! organization's node certificates on a chain once its proposal executed. The chain trusts
//! the replaced CA beside the new one for the overlap the proposal names, so no peer refuses a
//! node between the vote and the reissue.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use alloy_sol_types::SolCall;
use consortia_api::node::ProposalView;
use consortia_api::platform::{
    CaRotationRequest, CaRotationView, CertificateRenewalView, ChainNodeView, ChainProposalRef,
    ChainStatus, ChainView,
};
use consortia_crypto::pki::Ca;

use super::chains::spec_name;
use super::governance::IGovernance;
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::provision::{HTTPS_CERT, NODE_CERT, https_certificate, p2p_certificate};
use crate::store::{chains as store, consortiums as consortium_store, now_ms};

/// How long the certificates the platform issues to nodes are valid for.
pub const NODE_CERT_DAYS: u32 = 365;

/// How often the renewal job looks for certificates past two thirds of their lifetime.
const RENEWAL_CHECK: Duration = Duration::from_secs(3600);

const DAY_MS: i64 = 86_400_000;

/// How long chains trust a replaced member CA unless the rotation names its overlap.
const DEFAULT_CA_OVERLAP_MS: u64 = DAY_MS as u64;

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
            if self.may(caller, &node.org_id, "node:renew", &resource).await {
                mine.push(node);
            }
        }
        if mine.is_empty() {
            return Err(Error::Forbidden(format!(
                "you may renew the certificates of no node of chain {}",
                chain.name
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
            let issuer = self.chain_org_ca(chain, &node.org_id).await?;
            let plan_error = |e: crate::provision::PlanError| Error::internal(e.to_string());
            let days = Some(NODE_CERT_DAYS);
            let p2p =
                p2p_certificate(&issuer, &ca_cert, &node.name, key, days).map_err(plan_error)?;
            let driver = self.driver(&node.host_id).await?;
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

impl Platform {
    /// Rotates `org`'s CA in `consortium` (`consortium:rotate-ca`, an organization admin's):
    /// a new CA, proposed on every running chain the organization takes part in. Asked again
    /// while a chain still trusts only the replaced CA (its proposal was rejected or expired),
    /// it proposes the current CA there again instead of making another.
    pub async fn rotate_member_ca(
        self: &Arc<Self>,
        caller: &Caller,
        consortium: &str,
        org: &str,
        req: &CaRotationRequest,
    ) -> Result<CaRotationView> {
        let resource = format!("org/{org}/consortiums/{consortium}");
        self.authorize(caller, org, "consortium:rotate-ca", &resource).await?;
        self.consortium_member(consortium, org).await?;
        let overlap_ms = req.overlap_ms.unwrap_or(DEFAULT_CA_OVERLAP_MS);
        let mut chains = vec![];
        for id in store::running_chains_of(&self.db, consortium, org).await? {
            chains.push(self.load_chain(&id).await?);
        }
        let previous = consortium_store::previous_member_ca(&self.db, consortium, org).await?;
        let mut behind = vec![];
        if let Some((previous_cert, _)) = &previous {
            for chain in &chains {
                if self.listed_ca(chain, org).await?.as_deref() == Some(previous_cert.as_str()) {
                    behind.push(chain);
                }
            }
        }
        let ca_cert = if behind.is_empty() {
            behind = chains.iter().collect();
            self.replace_member_ca(consortium, org).await?
        } else {
            consortium_store::member_ca(&self.db, consortium, org).await?.1
        };
        let mut proposals = vec![];
        for chain in behind {
            let input = IGovernance::proposeRotateMemberCaCall {
                org: org.to_owned(),
                caCert: ca_cert.clone(),
                overlapMs: overlap_ms,
            }
            .abi_encode();
            let proposal = self.propose_as(chain, org, input).await?;
            proposals.push(ChainProposalRef {
                chain_id: chain.id.clone(),
                proposal_id: proposal.id,
                status: proposal.status.clone(),
            });
            let (platform, chain, org) = (self.clone(), chain.id.clone(), org.to_owned());
            tokio::spawn(async move {
                if let Err(e) = platform.move_to_new_ca(&chain, proposal, &org).await {
                    tracing::warn!(target: "platform::certificates", chain = %chain, org = %org, error = %e, "moving nodes to the new CA failed; renew their certificates (`consortia chain renew-certs`)");
                }
            });
        }
        Ok(CaRotationView { ca_cert_pem: ca_cert, overlap_ms, proposals })
    }

    /// Makes a new CA for `org`, keeping the current one as the previous: its certificate.
    async fn replace_member_ca(&self, consortium: &str, org: &str) -> Result<String> {
        let keys = self.keys()?;
        let (name, root_cert, root_key) = consortium_store::ca(&self.db, consortium).await?;
        let root_key =
            keys.open(&Secret::ConsortiumCa { consortium: consortium.into() }, &root_key)?;
        let root = Ca::load(&name, &root_cert, &root_key).map_err(ca_error)?;
        let (org_name, _, old_key) = consortium_store::member_ca(&self.db, consortium, org).await?;
        let member = Secret::MemberCa { consortium: consortium.into(), org: org.into() };
        let old_key = keys.open(&member, &old_key)?;
        let previous = Secret::PreviousMemberCa { consortium: consortium.into(), org: org.into() };
        let previous_key = keys.seal(&previous, &old_key)?;
        let new = root.issue_member(&name, &org_name).map_err(ca_error)?;
        let new_key = keys.seal(&member, new.key_pem())?;
        consortium_store::rotate_member_ca(
            &self.db,
            consortium,
            org,
            (new.cert_pem(), &new_key),
            &previous_key,
        )
        .await?;
        tracing::info!(target: "platform::certificates", consortium, org, "made a new CA for the organization");
        Ok(new.cert_pem().to_owned())
    }

    /// Once `proposal` (a rotation of `org`'s CA) executed on `chain`: reissues the
    /// organization's node certificates there from the new CA, and forgets the replaced CA
    /// when no chain trusts only it any more.
    async fn move_to_new_ca(&self, chain: &str, proposal: ProposalView, org: &str) -> Result<()> {
        if self.executed(chain, proposal).await?.is_none() {
            return Ok(());
        }
        let view = self.load_chain(chain).await?;
        let nodes: Vec<&ChainNodeView> = view.nodes.iter().filter(|n| n.org_id == org).collect();
        self.renew(&view, &nodes).await?;
        let consortium = &view.consortium_id;
        let Some((previous, _)) =
            consortium_store::previous_member_ca(&self.db, consortium, org).await?
        else {
            return Ok(());
        };
        for id in store::running_chains_of(&self.db, consortium, org).await? {
            let other = self.load_chain(&id).await?;
            if self.listed_ca(&other, org).await?.as_deref() == Some(previous.as_str()) {
                return Ok(());
            }
        }
        consortium_store::forget_previous_member_ca(&self.db, consortium, org).await
    }

    /// The CA certificate `chain`'s governance lists for `org` now (none if not a member).
    async fn listed_ca(&self, chain: &ChainView, org: &str) -> Result<Option<String>> {
        let members = self.governance_read(chain, |n| async move { n.members().await }).await?;
        Ok(members.into_iter().find(|m| m.id == org).map(|m| m.ca_cert))
    }

    /// The CA of `org` that `chain` trusts now, which its certificates and credentials come
    /// from: the current one, or during a rotation not yet executed there, the replaced one.
    pub(crate) async fn chain_org_ca(&self, chain: &ChainView, org: &str) -> Result<Ca> {
        let consortium = &chain.consortium_id;
        let previous = consortium_store::previous_member_ca(&self.db, consortium, org).await?;
        if let Some((cert, key)) = previous
            && chain.status == ChainStatus::Running
            && self.listed_ca(chain, org).await?.as_deref() == Some(cert.as_str())
        {
            let (name, _, _) = consortium_store::member_ca(&self.db, consortium, org).await?;
            let secret =
                Secret::PreviousMemberCa { consortium: consortium.clone(), org: org.into() };
            return self.load_org_ca(consortium, &name, &cert, &secret, &key).await;
        }
        self.org_ca(consortium, org).await
    }
}

fn ca_error(e: consortia_crypto::CryptoError) -> Error {
    Error::internal(format!("certificate authority: {e}"))
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
