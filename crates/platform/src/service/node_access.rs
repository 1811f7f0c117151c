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

/// `http://host:port` with `user:token@` after the scheme.
fn with_credentials(url: &str, user: &str, token: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{user}:{token}@{rest}"),
        None => format!("{user}:{token}@{url}"),
    }
}

impl Platform {
    /// The platform's token for the nodes of `chain` (a platform chain id): the consortium
    /// CA's, with the write role, minted again before it expires.
    pub(crate) async fn node_token(&self, chain: &str) -> Result<String> {
        let now = now_s();
        if let Some((token, renew_at)) = crate::lock(&self.node_tokens).get(chain)
            && now < *renew_at
        {
            return Ok(token.clone());
        }
        let (consortium, chain_id) = store::consortium_and_chain_id(&self.db, chain)
            .await?
            .ok_or_else(|| Error::NotFound(format!("chain {chain}")))?;
        let (_, _, sealed) = consortium_store::ca(&self.db, &consortium).await?;
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
        let renew_at = now + OWN_TOKEN_LIFETIME * 2 / 3;
        crate::lock(&self.node_tokens).insert(chain.to_owned(), (token.clone(), renew_at));
        Ok(token)
    }

    /// A client of a node of `chain` for status polls (1 s timeout), with the platform's token.
    pub(crate) async fn status_client(&self, chain: &str, url: &str) -> Result<NodeClient> {
        let token = self.node_token(chain).await?;
        Ok(NodeClient::with_client(url, self.status_http.clone()).with_token(token))
    }

    /// A client of a node of `chain` for reads and calls made on a user's behalf (10 s
    /// timeout), with the platform's token.
    pub(crate) async fn chain_client(&self, chain: &str, url: &str) -> Result<NodeClient> {
        let token = self.node_token(chain).await?;
        Ok(NodeClient::with_client(url, self.chain_http.clone()).with_token(token))
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
        let ca = self.org_ca(&chain.consortium_id, &org).await?;
        let key = PrivateKey::from_pem(ca.key_pem(), None).map_err(token_error)?;
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
