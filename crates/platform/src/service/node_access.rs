//! Credentials for chains' node APIs (`consortia_crypto::token`): the platform's own, with
//! which it reads and writes through the nodes (signed by the consortium CA), and those it
//! issues to members (signed by the member organization's CA, which the chain's governance
//! lists, so a member voted out takes its credentials with it). Nodes check them offline.
//! The platform keeps no copy of a member's credential: it is shown once.

use std::time::{SystemTime, UNIX_EPOCH};

use consortia_api::NodeClient;
use consortia_api::platform::{
    ChainView, CreateNodeCredentialRequest, CredentialRole, MAX_CREDENTIAL_DAYS, NodeCredentialView,
};
use consortia_crypto::PrivateKey;
use consortia_crypto::token::{self, CONSORTIUM_ISSUER, Claims, Role};

use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::{chains as store, consortiums as consortium_store, new_id};

/// How long the platform's own tokens live; it mints a new one after two thirds of that.
const OWN_TOKEN_LIFETIME: u64 = 3600;

/// How long a member's credential lives unless asked otherwise, in days.
const DEFAULT_CREDENTIAL_DAYS: u32 = 30;

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn token_error(e: consortia_crypto::CryptoError) -> Error {
    Error::internal(format!("signing a node token: {e}"))
}

/// The 32 bytes of an `ed25519:BASE64` public key (400 `bad_public_key` otherwise).
fn ed25519_public_key(text: &str) -> Result<[u8; 32]> {
    let bad = |why: String| Error::invalid("bad_public_key", why);
    let key = consortia_crypto::PublicKey::from_base64(text)
        .map_err(|e| bad(format!("public_key `{text}`: {e}")))?;
    if key.scheme() != consortia_crypto::Scheme::Ed25519 {
        return Err(bad(
            "client certificates are for Ed25519 keys (consortia keygen --scheme ed25519)".into(),
        ));
    }
    key.as_bytes().try_into().map_err(|_| bad("an Ed25519 key is 32 bytes".into()))
}

/// `http://host:port` with `user:token@` after the scheme.
fn with_credentials(url: &str, user: &str, token: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{user}:{token}@{rest}"),
        None => format!("{user}:{token}@{url}"),
    }
}

/// How the platform calls one chain's nodes: its own token, and clients that trust the
/// consortium CA (the root of the nodes' HTTPS certificates).
#[derive(Clone, Debug)]
pub(crate) struct NodeCalls {
    token: String,
    /// When to mint the next token (seconds since the epoch).
    renew_at: u64,
    /// For status polls: 1 s timeouts.
    status_http: reqwest::Client,
    /// For calls on a user's behalf (explorer reads, contract calls): 10 s timeouts.
    chain_http: reqwest::Client,
}

/// A client trusting `root` (PEM) that gives up after `timeout_s`.
fn http_client(root: &reqwest::Certificate, timeout_s: u64) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(timeout_s))
        .add_root_certificate(root.clone())
        .build()
        .map_err(|e| Error::internal(format!("HTTP client: {e}")))
}

impl Platform {
    /// How to call the nodes of `chain` (a platform chain id): the platform's token, the
    /// consortium CA's with the write role, minted again before it expires.
    async fn node_calls(&self, chain: &str) -> Result<NodeCalls> {
        let now = now_s();
        if let Some(calls) = crate::lock(&self.node_calls).get(chain)
            && now < calls.renew_at
        {
            return Ok(calls.clone());
        }
        let (consortium, chain_id) = store::consortium_and_chain_id(&self.db, chain)
            .await?
            .ok_or_else(|| Error::NotFound(format!("chain {chain}")))?;
        let (_, cert, sealed) = consortium_store::ca(&self.db, &consortium).await?;
        let pem = self.keys()?.open(&Secret::ConsortiumCa { consortium }, &sealed)?;
        let key = PrivateKey::from_pem(&pem, None).map_err(token_error)?;
        let claims = Claims {
            iss: CONSORTIUM_ISSUER.into(),
            sub: "platform".into(),
            aud: chain_id.to_string(),
            role: Role::Write,
            iat: now,
            exp: now + OWN_TOKEN_LIFETIME,
            jti: new_id("ntok"),
        };
        let token = token::issue(&claims, &key).map_err(token_error)?;
        let root = reqwest::Certificate::from_pem(cert.as_bytes())
            .map_err(|e| Error::internal(format!("the consortium CA certificate: {e}")))?;
        let calls = NodeCalls {
            token,
            renew_at: now + OWN_TOKEN_LIFETIME * 2 / 3,
            status_http: http_client(&root, 1)?,
            chain_http: http_client(&root, 10)?,
        };
        crate::lock(&self.node_calls).insert(chain.to_owned(), calls.clone());
        Ok(calls)
    }

    /// A client of a node of `chain` for status polls (1 s timeout), with the platform's token.
    pub(crate) async fn status_client(&self, chain: &str, url: &str) -> Result<NodeClient> {
        let calls = self.node_calls(chain).await?;
        Ok(NodeClient::with_client(url, calls.status_http).with_token(calls.token))
    }

    /// A client of a node of `chain` for reads and calls made on a user's behalf (10 s
    /// timeout), with the platform's token.
    pub(crate) async fn chain_client(&self, chain: &str, url: &str) -> Result<NodeClient> {
        let calls = self.node_calls(chain).await?;
        Ok(NodeClient::with_client(url, calls.chain_http).with_token(calls.token))
    }

    /// A credential for the nodes of `chain`, signed by the organization's CA.
    pub async fn issue_node_credential(
        &self,
        caller: &Caller,
        chain: &str,
        req: &CreateNodeCredentialRequest,
    ) -> Result<NodeCredentialView> {
        let days = req.expires_in_days.unwrap_or(DEFAULT_CREDENTIAL_DAYS);
        if !(1..=MAX_CREDENTIAL_DAYS).contains(&days) {
            return Err(Error::invalid(
                "bad_expiry",
                format!("expires_in_days is 1 to {MAX_CREDENTIAL_DAYS}"),
            ));
        }
        let name = match &req.name {
            Some(n) => super::check_name("credential", n)?.to_owned(),
            None => caller.username.clone(),
        };
        let chain: ChainView = self.readable_chain(caller, chain).await?;
        let (action, role) = match req.role {
            CredentialRole::Read => ("chain:get", Role::Read),
            CredentialRole::Write => ("chain:write", Role::Write),
        };
        let org = self
            .acting_on_chain(caller, &chain, req.org_id.as_deref(), action, "credentials")
            .await?;
        let holder_key = req.public_key.as_deref().map(ed25519_public_key).transpose()?;
        let ca = self.chain_org_ca(&chain, &org).await?;
        let key = PrivateKey::from_pem(ca.key_pem(), None).map_err(token_error)?;
        let certificate = holder_key
            .map(|public| ca.issue_client(&name, role.as_str(), &public, days))
            .transpose()
            .map_err(|e| Error::internal(format!("issuing a client certificate: {e}")))?;
        let now = now_s();
        let claims = Claims {
            iss: org.clone(),
            sub: name,
            aud: chain.chain_id.to_string(),
            role,
            iat: now,
            exp: now + u64::from(days) * 86_400,
            jti: new_id("ncred"),
        };
        let token = token::issue(&claims, &key).map_err(token_error)?;
        let url = chain.nodes.iter().find_map(|n| n.http_url.clone());
        let rpc_url = url.as_deref().map(|u| format!("{}/", with_credentials(u, &org, &token)));
        let ws_url = url
            .as_deref()
            .map(|u| with_credentials(&u.replacen("http", "ws", 1), &org, &token) + "/ws");
        Ok(NodeCredentialView {
            id: claims.jti,
            token,
            org_id: org,
            role: req.role,
            expires_ms: (claims.exp * 1000) as i64,
            rpc_url,
            ws_url,
            certificate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_between_the_scheme_and_the_host() {
        assert_eq!(
            with_credentials("http://127.0.0.1:8545", "org-a", "t.o.k"),
            "http://org-a:t.o.k@127.0.0.1:8545"
        );
    }
}
