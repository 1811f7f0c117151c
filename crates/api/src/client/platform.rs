//! A typed client of the platform's REST API: every call, with login and a transparent
//! refresh of an expired access token.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ClientError, ClientResult, Http};
use crate::platform::*;

/// How a client proves who it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credentials {
    /// From a login: a short-lived access token and the single-use refresh token that renews
    /// it.
    Tokens { access_token: String, refresh_token: String },
    /// An API key (`ck1.…`), for automation.
    ApiKey(String),
}

/// A client of the platform (`http://host:port`).
#[derive(Debug)]
pub struct PlatformClient {
    http: Http,
    credentials: Mutex<Option<Credentials>>,
}

fn path_of(segments: &[&str]) -> String {
    segments.concat()
}

impl PlatformClient {
    /// A client with no credentials yet: [`PlatformClient::login`] next.
    pub fn new(base: &str) -> PlatformClient {
        PlatformClient::with_credentials(base, None)
    }

    pub fn with_credentials(base: &str, credentials: Option<Credentials>) -> PlatformClient {
        PlatformClient {
            http: Http::new(base, reqwest::Client::new()),
            credentials: Mutex::new(credentials),
        }
    }

    /// The platform's base URL.
    pub fn base(&self) -> &str {
        &self.http.base
    }

    /// The credentials now in use (a refresh replaces them: save them again after calls when
    /// they are kept between runs).
    pub fn credentials(&self) -> Option<Credentials> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Credentials>> {
        self.credentials.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bearer(&self) -> Option<String> {
        match &*self.lock() {
            Some(Credentials::Tokens { access_token, .. }) => Some(access_token.clone()),
            Some(Credentials::ApiKey(key)) => Some(key.clone()),
            None => None,
        }
    }

    /// Sends `request` with the bearer credential; an access token refused as expired is
    /// refreshed once and the request sent again.
    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> ClientResult<T> {
        let retry = request.try_clone();
        let authed = |r: RequestBuilder| match self.bearer() {
            Some(b) => r.bearer_auth(b),
            None => r,
        };
        let (status, bytes) = self.http.exchange(authed(request)).await?;
        let refreshable = matches!(&*self.lock(), Some(Credentials::Tokens { .. }));
        match retry {
            Some(again) if status == StatusCode::UNAUTHORIZED && refreshable => {
                self.refresh().await?;
                self.http.send(authed(again)).await
            }
            _ => self.http.decode(status, &bytes),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.client.request(method, self.http.url(path))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        self.send(self.request(Method::GET, path)).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> ClientResult<T> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// A POST without a body.
    async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        self.send(self.request(Method::POST, path)).await
    }

    async fn delete<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        self.send(self.request(Method::DELETE, path)).await
    }

    // ---- identity ------------------------------------------------------------------------

    /// Liveness.
    pub async fn health(&self) -> ClientResult<Health> {
        self.get("/v1/health").await
    }

    /// Logs in; the client keeps the tokens for the calls that follow.
    pub async fn login(&self, username: &str, password: &str) -> ClientResult<TokenResponse> {
        let body = LoginRequest { username: username.to_owned(), password: password.to_owned() };
        let tokens: TokenResponse =
            self.http.send(self.request(Method::POST, "/v1/auth/login").json(&body)).await?;
        self.keep(&tokens);
        Ok(tokens)
    }

    fn keep(&self, tokens: &TokenResponse) {
        *self.lock() = Some(Credentials::Tokens {
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
        });
    }

    /// Trades the refresh token for a new pair (done on its own when an access token expires).
    pub async fn refresh(&self) -> ClientResult<TokenResponse> {
        let refresh_token = match &*self.lock() {
            Some(Credentials::Tokens { refresh_token, .. }) => refresh_token.clone(),
            _ => return Err(ClientError::NotLoggedIn("no refresh token: log in".into())),
        };
        let body = RefreshRequest { refresh_token };
        let tokens: TokenResponse =
            self.http.send(self.request(Method::POST, "/v1/auth/refresh").json(&body)).await?;
        self.keep(&tokens);
        Ok(tokens)
    }

    /// Ends the session (its access and refresh tokens stop working) and forgets the
    /// credentials.
    pub async fn logout(&self) -> ClientResult<()> {
        let refresh_token = match &*self.lock() {
            Some(Credentials::Tokens { refresh_token, .. }) => refresh_token.clone(),
            _ => return Err(ClientError::NotLoggedIn("no session to log out of".into())),
        };
        let request = LogoutRequest { refresh_token: Some(refresh_token) };
        self.post::<()>("/v1/auth/logout", &request).await?;
        *self.lock() = None;
        Ok(())
    }

    pub async fn create_user(&self, request: &CreateUserRequest) -> ClientResult<UserView> {
        self.post("/v1/users", request).await
    }

    pub async fn users(&self) -> ClientResult<Vec<UserView>> {
        self.get("/v1/users").await
    }

    pub async fn me(&self) -> ClientResult<UserView> {
        self.get("/v1/users/me").await
    }

    /// A new API key of the caller's, expiring in `expires_in_days` (default 90; 0: never).
    pub async fn create_api_key(
        &self,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> ClientResult<ApiKeyView> {
        let request = ApiKeyRequest { name: name.to_owned(), expires_in_days };
        self.post("/v1/users/me/api-keys", &request).await
    }

    /// The caller's API keys (without their secrets).
    pub async fn api_keys(&self) -> ClientResult<Vec<ApiKeyInfo>> {
        self.get("/v1/users/me/api-keys").await
    }

    /// Revokes one of the caller's API keys: it stops working at once.
    pub async fn revoke_api_key(&self, id: &str) -> ClientResult<()> {
        self.delete(&path_of(&["/v1/users/me/api-keys/", id])).await
    }

    /// Changes the caller's password; their other sessions end.
    pub async fn change_password(&self, current: &str, new: &str) -> ClientResult<()> {
        let request = ChangePasswordRequest {
            current_password: current.to_owned(),
            new_password: new.to_owned(),
        };
        self.post("/v1/users/me/password", &request).await
    }

    /// The caller's live sessions (logins).
    pub async fn sessions(&self) -> ClientResult<Vec<SessionView>> {
        self.get("/v1/users/me/sessions").await
    }

    /// Ends one of the caller's sessions: its tokens stop working at once.
    pub async fn revoke_session(&self, id: &str) -> ClientResult<()> {
        self.delete(&path_of(&["/v1/users/me/sessions/", id])).await
    }

    /// Disables or enables a user (an administrator, or a sub-user's parent).
    pub async fn set_user_disabled(&self, id: &str, disabled: bool) -> ClientResult<UserView> {
        let request = UpdateUserRequest { disabled };
        self.send(self.request(Method::PATCH, &path_of(&["/v1/users/", id])).json(&request)).await
    }

    /// Deletes a user for good (an administrator, or a sub-user's parent).
    pub async fn delete_user(&self, id: &str) -> ClientResult<()> {
        self.delete(&path_of(&["/v1/users/", id])).await
    }

    pub async fn audit(&self, query: &AuditQuery) -> ClientResult<Vec<AuditEntry>> {
        self.send(self.request(Method::GET, "/v1/audit").query(query)).await
    }

    // ---- the keystore ---------------------------------------------------------------------

    /// Whether the platform is sealed, and an unseal's progress (no credentials needed).
    pub async fn seal_status(&self) -> ClientResult<SealStatus> {
        self.http.send(self.request(Method::GET, "/v1/sys/seal-status")).await
    }

    /// Gives one share towards unsealing (no credentials needed: the share is the credential).
    pub async fn unseal(&self, share: &str) -> ClientResult<SealStatus> {
        let body = UnsealRequest { share: Some(share.to_owned()), reset: false };
        self.http.send(self.request(Method::POST, "/v1/sys/unseal").json(&body)).await
    }

    /// Seals the platform: its keys leave memory until M holders unseal it (administrators).
    pub async fn seal(&self) -> ClientResult<SealStatus> {
        self.post_empty("/v1/sys/seal").await
    }

    /// Begins a rekey to a new share set (administrators).
    pub async fn rekey(&self, shares: u8, threshold: u8) -> ClientResult<RekeyStatus> {
        self.post("/v1/sys/rekey", &RekeyRequest { shares, threshold }).await
    }

    /// Gives one current share towards the rekey `nonce` (no credentials needed).
    pub async fn rekey_share(&self, nonce: &str, share: &str) -> ClientResult<RekeyStatus> {
        let body = RekeyShareRequest { nonce: nonce.to_owned(), share: share.to_owned() };
        self.http.send(self.request(Method::POST, "/v1/sys/rekey/shares").json(&body)).await
    }

    // ---- organizations -------------------------------------------------------------------

    pub async fn create_org(&self, name: &str) -> ClientResult<OrgView> {
        self.post("/v1/orgs", &CreateOrgRequest { name: name.to_owned() }).await
    }

    pub async fn orgs(&self) -> ClientResult<Vec<OrgView>> {
        self.get("/v1/orgs").await
    }

    pub async fn org(&self, org: &str) -> ClientResult<OrgView> {
        self.get(&path_of(&["/v1/orgs/", org])).await
    }

    /// Which of `query.actions` the caller may do in `org`.
    pub async fn permissions(
        &self,
        org: &str,
        query: &PermissionsQuery,
    ) -> ClientResult<PermissionsView> {
        self.send(
            self.request(Method::GET, &path_of(&["/v1/orgs/", org, "/permissions"])).query(query),
        )
        .await
    }

    /// Deletes an organization that is a member of no consortium in service.
    pub async fn delete_org(&self, org: &str) -> ClientResult<()> {
        self.delete(&path_of(&["/v1/orgs/", org])).await
    }

    pub async fn members(&self, org: &str) -> ClientResult<Vec<MemberView>> {
        self.get(&path_of(&["/v1/orgs/", org, "/members"])).await
    }

    pub async fn add_member(
        &self,
        org: &str,
        request: &AddMemberRequest,
    ) -> ClientResult<MemberView> {
        self.post(&path_of(&["/v1/orgs/", org, "/members"]), request).await
    }

    pub async fn set_member_role(&self, org: &str, user: &str, role: Role) -> ClientResult<()> {
        let path = path_of(&["/v1/orgs/", org, "/members/", user]);
        self.send(self.request(Method::PUT, &path).json(&RoleRequest { role })).await
    }

    pub async fn remove_member(&self, org: &str, user: &str) -> ClientResult<()> {
        self.delete(&path_of(&["/v1/orgs/", org, "/members/", user])).await
    }

    pub async fn create_policy(
        &self,
        org: &str,
        request: &PolicyRequest,
    ) -> ClientResult<PolicyView> {
        self.post(&path_of(&["/v1/orgs/", org, "/policies"]), request).await
    }

    pub async fn policies(&self, org: &str) -> ClientResult<Vec<PolicyView>> {
        self.get(&path_of(&["/v1/orgs/", org, "/policies"])).await
    }

    pub async fn attach_policy(&self, org: &str, policy: &str, user: &str) -> ClientResult<()> {
        let path = path_of(&["/v1/orgs/", org, "/policies/", policy, "/attachments"]);
        self.post(&path, &AttachRequest { user_id: user.to_owned() }).await
    }

    pub async fn detach_policy(&self, org: &str, policy: &str, user: &str) -> ClientResult<()> {
        let path = path_of(&["/v1/orgs/", org, "/policies/", policy, "/attachments/", user]);
        self.delete(&path).await
    }

    // ---- consortiums ---------------------------------------------------------------------

    pub async fn create_consortium(
        &self,
        request: &CreateConsortiumRequest,
    ) -> ClientResult<ConsortiumView> {
        self.post("/v1/consortiums", request).await
    }

    pub async fn consortiums(&self) -> ClientResult<Vec<ConsortiumView>> {
        self.get("/v1/consortiums").await
    }

    pub async fn consortium(&self, id: &str) -> ClientResult<ConsortiumView> {
        self.get(&path_of(&["/v1/consortiums/", id])).await
    }

    /// Dissolves a consortium whose chains are all archived.
    /// Dissolves the consortium (leader policy), or votes to as the caller's member
    /// organization (majority policy; see [`DissolveQuery`]).
    pub async fn dissolve_consortium(&self, id: &str) -> ClientResult<ConsortiumView> {
        self.dissolve_consortium_as(id, &DissolveQuery::default()).await
    }

    pub async fn dissolve_consortium_as(
        &self,
        id: &str,
        query: &DissolveQuery,
    ) -> ClientResult<ConsortiumView> {
        let path = path_of(&["/v1/consortiums/", id, "/dissolve"]);
        self.send(self.request(Method::POST, &path).query(query)).await
    }

    /// `org` leaves the consortium (once it takes part in none of its chains in service).
    pub async fn leave_consortium(&self, consortium: &str, org: &str) -> ClientResult<()> {
        self.delete(&path_of(&["/v1/consortiums/", consortium, "/members/", org])).await
    }

    pub async fn invite(
        &self,
        consortium: &str,
        request: &InviteRequest,
    ) -> ClientResult<InvitationView> {
        self.post(&path_of(&["/v1/consortiums/", consortium, "/invitations"]), request).await
    }

    /// Invitations addressed to the caller.
    /// The invitations sent to join a consortium (for its members).
    pub async fn consortium_invitations(
        &self,
        consortium: &str,
    ) -> ClientResult<Vec<InvitationView>> {
        self.get(&path_of(&["/v1/consortiums/", consortium, "/invitations"])).await
    }

    pub async fn invitations(&self) -> ClientResult<Vec<InvitationView>> {
        self.get("/v1/invitations").await
    }

    pub async fn accept_invitation(&self, invitation: &str) -> ClientResult<InvitationView> {
        self.post_empty(&path_of(&["/v1/invitations/", invitation, "/accept"])).await
    }

    pub async fn decline_invitation(&self, invitation: &str) -> ClientResult<InvitationView> {
        self.post_empty(&path_of(&["/v1/invitations/", invitation, "/decline"])).await
    }

    pub async fn request_join(
        &self,
        consortium: &str,
        request: &JoinRequest,
    ) -> ClientResult<JoinRequestView> {
        self.post(&path_of(&["/v1/consortiums/", consortium, "/join-requests"]), request).await
    }

    pub async fn join_requests(&self, consortium: &str) -> ClientResult<Vec<JoinRequestView>> {
        self.get(&path_of(&["/v1/consortiums/", consortium, "/join-requests"])).await
    }

    /// A member organization's vote on a join request: the request, decided once its policy
    /// is met.
    pub async fn vote(
        &self,
        consortium: &str,
        request: &str,
        vote: &VoteRequest,
    ) -> ClientResult<JoinRequestView> {
        let path = path_of(&["/v1/consortiums/", consortium, "/join-requests/", request, "/votes"]);
        self.post(&path, vote).await
    }

    // ---- hosts and chains ----------------------------------------------------------------

    pub async fn create_host(&self, request: &CreateHostRequest) -> ClientResult<HostView> {
        self.post("/v1/hosts", request).await
    }

    /// Checks that a host can run nodes now (`POST /v1/hosts/{id}/check`).
    pub async fn check_host(&self, id: &str) -> ClientResult<HostCheckView> {
        self.post_empty(&path_of(&["/v1/hosts/", id, "/check"])).await
    }

    pub async fn hosts(&self) -> ClientResult<Vec<HostView>> {
        self.get("/v1/hosts").await
    }

    pub async fn create_chain(&self, request: &CreateChainRequest) -> ClientResult<ChainView> {
        self.post("/v1/chains", request).await
    }

    pub async fn chains(&self) -> ClientResult<Vec<ChainView>> {
        self.get("/v1/chains").await
    }

    pub async fn chain(&self, id: &str) -> ClientResult<ChainView> {
        self.get(&path_of(&["/v1/chains/", id])).await
    }

    pub async fn invite_org(&self, chain: &str, org: &str) -> ClientResult<ChainView> {
        let body = InviteOrgRequest { org_id: org.to_owned(), as_org_id: None };
        self.post(&path_of(&["/v1/chains/", chain, "/orgs"]), &body).await
    }

    /// Invites `org` onto a running chain, proposed by `as_org` (see [`InviteOrgRequest`]).
    pub async fn invite_org_as(
        &self,
        chain: &str,
        org: &str,
        as_org: &str,
    ) -> ClientResult<ChainView> {
        let body = InviteOrgRequest { org_id: org.to_owned(), as_org_id: Some(as_org.to_owned()) };
        self.post(&path_of(&["/v1/chains/", chain, "/orgs"]), &body).await
    }

    /// A running chain's governance proposals, newest first (`status`: `open` or `all`).
    pub async fn chain_proposals(
        &self,
        chain: &str,
        query: &ChainProposalsQuery,
    ) -> ClientResult<crate::node::ProposalListView> {
        let path = path_of(&["/v1/chains/", chain, "/proposals"]);
        self.send(self.request(Method::GET, &path).query(query)).await
    }

    pub async fn chain_proposal(
        &self,
        chain: &str,
        id: u64,
    ) -> ClientResult<crate::node::ProposalView> {
        self.get(&format!("{}/{id}", path_of(&["/v1/chains/", chain, "/proposals"]))).await
    }

    /// Proposes a change, signed for `request.org_id` by the platform.
    pub async fn propose(
        &self,
        chain: &str,
        request: &ProposeRequest,
    ) -> ClientResult<crate::node::ProposalView> {
        self.post(&path_of(&["/v1/chains/", chain, "/proposals"]), request).await
    }

    /// Votes on proposal `id`, signed for `request.org_id` by the platform.
    pub async fn vote_on_proposal(
        &self,
        chain: &str,
        id: u64,
        request: &ProposalVoteRequest,
    ) -> ClientResult<crate::node::ProposalView> {
        let path = format!("{}/{id}/votes", path_of(&["/v1/chains/", chain, "/proposals"]));
        self.post(&path, request).await
    }

    pub async fn add_node(&self, chain: &str, request: &AddNodeRequest) -> ClientResult<ChainView> {
        self.post(&path_of(&["/v1/chains/", chain, "/nodes"]), request).await
    }

    pub async fn remove_node(&self, chain: &str, node: &str) -> ClientResult<ChainView> {
        self.delete(&path_of(&["/v1/chains/", chain, "/nodes/", node])).await
    }

    /// Sends wei from an organization's account to an address (`POST /v1/chains/{id}/faucet`).
    pub async fn faucet(&self, chain: &str, request: &FaucetRequest) -> ClientResult<FaucetView> {
        self.post(&path_of(&["/v1/chains/", chain, "/faucet"]), request).await
    }

    /// Rotates a member organization's CA
    /// (`POST /v1/consortiums/{id}/members/{org}/ca-rotation`).
    pub async fn rotate_member_ca(
        &self,
        consortium: &str,
        org: &str,
        req: &CaRotationRequest,
    ) -> ClientResult<CaRotationView> {
        let path = path_of(&["/v1/consortiums/", consortium, "/members/", org, "/ca-rotation"]);
        self.send(self.request(Method::POST, &path).json(req)).await
    }

    /// Renews the certificates of the chain's nodes the caller may manage
    /// (`POST /v1/chains/{id}/certificates/renew`).
    pub async fn renew_certificates(
        &self,
        chain: &str,
    ) -> ClientResult<Vec<CertificateRenewalView>> {
        let path = path_of(&["/v1/chains/", chain, "/certificates/renew"]);
        self.send(self.request(Method::POST, &path)).await
    }

    /// A credential for the chain's node APIs (`POST /v1/chains/{id}/credentials`): shown once.
    pub async fn issue_node_credential(
        &self,
        chain: &str,
        request: &CreateNodeCredentialRequest,
    ) -> ClientResult<NodeCredentialView> {
        self.post(&path_of(&["/v1/chains/", chain, "/credentials"]), request).await
    }

    /// Starts a chain: with `wait`, answers once block 1 is committed; without, at once (the
    /// chain is `starting`; follow it with [`PlatformClient::chain`]).
    pub async fn start_chain(&self, chain: &str, wait: bool) -> ClientResult<ChainView> {
        let path = path_of(&["/v1/chains/", chain, "/start"]);
        let query = StartQuery { wait: Some(wait) };
        self.send(self.request(Method::POST, &path).query(&query)).await
    }

    /// Archives a chain: its nodes stopped and removed, its records kept.
    pub async fn archive_chain(&self, chain: &str) -> ClientResult<ChainView> {
        self.post_empty(&path_of(&["/v1/chains/", chain, "/archive"])).await
    }

    /// Starts a chain in the background and follows it until it runs, calling `on_progress`
    /// whenever the progress changes; the platform's reason if it does not start.
    pub async fn start_and_follow(
        &self,
        chain: &str,
        timeout: Duration,
        mut on_progress: impl FnMut(&StartProgress),
    ) -> ClientResult<ChainView> {
        let deadline = Instant::now() + timeout;
        let mut view = self.start_chain(chain, false).await?;
        let mut seen: Option<(StartStep, usize)> = None;
        loop {
            match view.status {
                ChainStatus::Running => return Ok(view),
                ChainStatus::Starting => {}
                ChainStatus::Archived => {
                    return Err(ClientError::Refused {
                        url: self.http.base.clone(),
                        status: 409,
                        body: crate::ErrorBody::new(
                            "illegal_step",
                            format!("chain {chain} is archived"),
                        ),
                    });
                }
                ChainStatus::Configuring => {
                    return Err(ClientError::Refused {
                        url: self.http.base.clone(),
                        status: 502,
                        body: crate::ErrorBody::new(
                            "start_failed",
                            format!(
                                "the chain did not start: {}",
                                view.failure.as_deref().unwrap_or("see the node logs")
                            ),
                        ),
                    });
                }
            }
            if let Some(p) = &view.progress
                && seen != Some((p.step, p.done))
            {
                on_progress(p);
                seen = Some((p.step, p.done));
            }
            if Instant::now() > deadline {
                return Err(ClientError::Timeout(format!(
                    "chain {chain} still starting after {} s",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            view = self.chain(chain).await?;
        }
    }

    // ---- nodes ---------------------------------------------------------------------------

    pub async fn nodes(&self, chain: &str) -> ClientResult<Vec<NodeStatusView>> {
        self.get(&path_of(&["/v1/chains/", chain, "/nodes"])).await
    }

    /// A node's log lines that pass `query`'s filters, oldest first.
    pub async fn node_logs(
        &self,
        chain: &str,
        node: &str,
        query: &LogQuery,
    ) -> ClientResult<Vec<LogEntry>> {
        let path = path_of(&["/v1/chains/", chain, "/nodes/", node, "/logs"]);
        self.send(self.request(Method::GET, &path).query(query)).await
    }

    /// The log lines of the chain's nodes (those the caller may read) that pass `query`'s
    /// filters, merged in time order.
    pub async fn chain_logs(&self, chain: &str, query: &LogQuery) -> ClientResult<Vec<LogEntry>> {
        let path = path_of(&["/v1/chains/", chain, "/logs"]);
        self.send(self.request(Method::GET, &path).query(query)).await
    }

    /// The platform's own last log lines that pass `query`'s filters (platform
    /// administrators).
    pub async fn platform_logs(&self, query: &LogQuery) -> ClientResult<Vec<LogEntry>> {
        self.send(self.request(Method::GET, "/v1/platform/logs").query(query)).await
    }

    /// Stops, starts or restarts a node of a running chain.
    pub async fn control_node(
        &self,
        chain: &str,
        node: &str,
        action: NodeAction,
    ) -> ClientResult<NodeStatusView> {
        self.post_empty(&path_of(&["/v1/chains/", chain, "/nodes/", node, "/", action.as_str()]))
            .await
    }

    pub async fn stop_node(&self, chain: &str, node: &str) -> ClientResult<NodeStatusView> {
        self.control_node(chain, node, NodeAction::Stop).await
    }

    pub async fn start_node(&self, chain: &str, node: &str) -> ClientResult<NodeStatusView> {
        self.control_node(chain, node, NodeAction::Start).await
    }

    pub async fn restart_node(&self, chain: &str, node: &str) -> ClientResult<NodeStatusView> {
        self.control_node(chain, node, NodeAction::Restart).await
    }

    /// Moves the chain's nodes of the caller's organizations to another build, one at a time.
    pub async fn upgrade_chain(
        &self,
        chain: &str,
        request: &UpgradeRequest,
    ) -> ClientResult<UpgradeView> {
        self.post(&path_of(&["/v1/chains/", chain, "/upgrade"]), request).await
    }

    // ---- contracts -----------------------------------------------------------------------

    pub async fn upload_contract(
        &self,
        chain: &str,
        request: &UploadRequest,
    ) -> ClientResult<ContractView> {
        self.post(&path_of(&["/v1/chains/", chain, "/contracts"]), request).await
    }

    pub async fn contracts(&self, chain: &str) -> ClientResult<Vec<ContractView>> {
        self.get(&path_of(&["/v1/chains/", chain, "/contracts"])).await
    }

    pub async fn contract(&self, chain: &str, contract: &str) -> ClientResult<ContractView> {
        self.get(&path_of(&["/v1/chains/", chain, "/contracts/", contract])).await
    }

    pub async fn deploy(
        &self,
        chain: &str,
        contract: &str,
        request: &DeployRequest,
    ) -> ClientResult<DeployView> {
        self.post(&path_of(&["/v1/chains/", chain, "/contracts/", contract, "/deploy"]), request)
            .await
    }

    pub async fn call(
        &self,
        chain: &str,
        contract: &str,
        request: &CallRequest,
    ) -> ClientResult<CallView> {
        self.post(&path_of(&["/v1/chains/", chain, "/contracts/", contract, "/call"]), request)
            .await
    }

    /// A call that sends a transaction, answered once final, with an `Idempotency-Key` if
    /// given (a retry with it returns the first call).
    pub async fn call_idempotent(
        &self,
        chain: &str,
        contract: &str,
        request: &CallRequest,
        idempotency_key: &str,
    ) -> ClientResult<CallView> {
        let path = path_of(&["/v1/chains/", chain, "/contracts/", contract, "/call"]);
        let built = self.request(Method::POST, &path).header("Idempotency-Key", idempotency_key);
        self.send(built.json(request)).await
    }

    /// A call that sends a transaction, answered at once (202) with the call's status.
    pub async fn call_async(
        &self,
        chain: &str,
        contract: &str,
        request: &CallRequest,
        idempotency_key: Option<&str>,
    ) -> ClientResult<GatewayCallView> {
        let path = path_of(&["/v1/chains/", chain, "/contracts/", contract, "/call?wait=false"]);
        let mut built = self.request(Method::POST, &path);
        if let Some(key) = idempotency_key {
            built = built.header("Idempotency-Key", key);
        }
        self.send(built.json(request)).await
    }

    /// Several calls signed by one key, in order; waited for unless `wait` is false.
    pub async fn batch_call(
        &self,
        chain: &str,
        request: &BatchCallRequest,
        wait: bool,
    ) -> ClientResult<BatchCallView> {
        let path =
            path_of(&["/v1/chains/", chain, "/calls", if wait { "" } else { "?wait=false" }]);
        self.post(&path, request).await
    }

    /// A gateway call and where it stands.
    pub async fn gateway_call(&self, chain: &str, call: &str) -> ClientResult<GatewayCallView> {
        self.get(&path_of(&["/v1/chains/", chain, "/calls/", call])).await
    }

    /// The caller's gateway calls on a chain, newest first (at most `limit`).
    pub async fn gateway_calls(
        &self,
        chain: &str,
        limit: u32,
    ) -> ClientResult<Vec<GatewayCallView>> {
        self.get(&format!("{}?limit={limit}", path_of(&["/v1/chains/", chain, "/calls"]))).await
    }

    // ---- webhooks --------------------------------------------------------------------------

    pub async fn create_webhook(
        &self,
        chain: &str,
        request: &CreateWebhookRequest,
    ) -> ClientResult<CreatedWebhookView> {
        self.post(&path_of(&["/v1/chains/", chain, "/webhooks"]), request).await
    }

    pub async fn webhooks(&self, chain: &str) -> ClientResult<Vec<WebhookView>> {
        self.get(&path_of(&["/v1/chains/", chain, "/webhooks"])).await
    }

    pub async fn webhook(&self, chain: &str, webhook: &str) -> ClientResult<WebhookView> {
        self.get(&path_of(&["/v1/chains/", chain, "/webhooks/", webhook])).await
    }

    pub async fn webhook_dead_letters(
        &self,
        chain: &str,
        webhook: &str,
    ) -> ClientResult<Vec<DeadLetterView>> {
        self.get(&path_of(&["/v1/chains/", chain, "/webhooks/", webhook, "/dead-letters"])).await
    }

    // ---- app browser -------------------------------------------------------------------

    /// Sets a contract's business views (checked against its ABI).
    pub async fn set_contract_display(
        &self,
        chain: &str,
        contract: &str,
        spec: &DisplaySpec,
    ) -> ClientResult<ContractView> {
        let path = path_of(&["/v1/chains/", chain, "/contracts/", contract, "/display"]);
        self.send(self.request(Method::PUT, &path).json(spec)).await
    }

    /// A deployed contract's events, newest first.
    pub async fn contract_events(
        &self,
        chain: &str,
        contract: &str,
        query: &ContractEventQuery,
    ) -> ClientResult<ContractEventsPage> {
        let path = path_of(&["/v1/chains/", chain, "/contracts/", contract, "/events"]);
        self.send(self.request(Method::GET, &path).query(query)).await
    }

    // ---- alerts --------------------------------------------------------------------------

    /// The chain's alerts (active by default; `state: "all"` for the history).
    pub async fn alerts(&self, chain: &str, query: &AlertQuery) -> ClientResult<Vec<AlertView>> {
        let path = path_of(&["/v1/chains/", chain, "/alerts"]);
        self.send(self.request(Method::GET, &path).query(query)).await
    }

    pub async fn acknowledge_alert(&self, chain: &str, alert: &str) -> ClientResult<AlertView> {
        let path = path_of(&["/v1/chains/", chain, "/alerts/", alert, "/acknowledge"]);
        self.post(&path, &ActingOrg::default()).await
    }

    pub async fn alert_rules(&self, chain: &str) -> ClientResult<Vec<AlertRuleView>> {
        self.get(&path_of(&["/v1/chains/", chain, "/alert-rules"])).await
    }

    pub async fn update_alert_rule(
        &self,
        chain: &str,
        rule: &str,
        request: &UpdateAlertRuleRequest,
    ) -> ClientResult<AlertRuleView> {
        let path = path_of(&["/v1/chains/", chain, "/alert-rules/", rule]);
        self.send(self.request(Method::PUT, &path).json(request)).await
    }

    pub async fn create_alert_receiver(
        &self,
        chain: &str,
        request: &CreateAlertReceiverRequest,
    ) -> ClientResult<CreatedAlertReceiverView> {
        self.post(&path_of(&["/v1/chains/", chain, "/alert-receivers"]), request).await
    }

    pub async fn alert_receivers(&self, chain: &str) -> ClientResult<Vec<AlertReceiverView>> {
        self.get(&path_of(&["/v1/chains/", chain, "/alert-receivers"])).await
    }

    pub async fn create_silence(
        &self,
        chain: &str,
        request: &CreateSilenceRequest,
    ) -> ClientResult<SilenceView> {
        self.post(&path_of(&["/v1/chains/", chain, "/alert-silences"]), request).await
    }

    /// Ends a silence now.
    pub async fn end_silence(&self, chain: &str, silence: &str) -> ClientResult<()> {
        self.delete(&path_of(&["/v1/chains/", chain, "/alert-silences/", silence])).await
    }

    // ---- managed signing keys ------------------------------------------------------------

    pub async fn create_signing_key(
        &self,
        org: &str,
        request: &CreateSigningKeyRequest,
    ) -> ClientResult<SigningKeyView> {
        self.post(&path_of(&["/v1/orgs/", org, "/signing-keys"]), request).await
    }

    pub async fn signing_keys(&self, org: &str) -> ClientResult<Vec<SigningKeyView>> {
        self.get(&path_of(&["/v1/orgs/", org, "/signing-keys"])).await
    }

    pub async fn signing_key(&self, org: &str, key: &str) -> ClientResult<SigningKeyView> {
        self.get(&path_of(&["/v1/orgs/", org, "/signing-keys/", key])).await
    }

    /// `rotate`, `disable` or `enable` a signing key.
    pub async fn signing_key_action(
        &self,
        org: &str,
        key: &str,
        action: &str,
    ) -> ClientResult<SigningKeyView> {
        self.post_empty(&path_of(&["/v1/orgs/", org, "/signing-keys/", key, "/", action])).await
    }

    // ---- digital assets and the shared ledger --------------------------------------------

    pub async fn issue_asset(
        &self,
        chain: &str,
        request: &IssueAssetRequest,
    ) -> ClientResult<AssetView> {
        self.post(&path_of(&["/v1/chains/", chain, "/assets"]), request).await
    }

    pub async fn assets(&self, chain: &str) -> ClientResult<Vec<AssetView>> {
        self.get(&path_of(&["/v1/chains/", chain, "/assets"])).await
    }

    pub async fn asset(&self, chain: &str, asset: &str) -> ClientResult<AssetView> {
        self.get(&path_of(&["/v1/chains/", chain, "/assets/", asset])).await
    }

    /// Issues, transfers, burns, freezes or unfreezes, waiting until final.
    pub async fn asset_action(
        &self,
        chain: &str,
        asset: &str,
        action: AssetAction,
        request: &AssetActionRequest,
    ) -> ClientResult<CallView> {
        let action = action.to_string();
        self.post(&path_of(&["/v1/chains/", chain, "/assets/", asset, "/", &action]), request).await
    }

    /// Holders and the latest `limit` transfers.
    pub async fn asset_holders(
        &self,
        chain: &str,
        asset: &str,
        query: &AssetLedgerQuery,
    ) -> ClientResult<AssetLedgerView> {
        let path = path_of(&["/v1/chains/", chain, "/assets/", asset, "/holders"]);
        self.send(self.request(Method::GET, &path).query(query)).await
    }

    pub async fn post_entry(
        &self,
        chain: &str,
        request: &PostEntryRequest,
    ) -> ClientResult<EntryView> {
        self.post(&path_of(&["/v1/chains/", chain, "/shared-ledger/entries"]), request).await
    }

    pub async fn entries(&self, chain: &str) -> ClientResult<Vec<EntryView>> {
        self.get(&path_of(&["/v1/chains/", chain, "/shared-ledger/entries"])).await
    }

    /// Confirms (`confirm`) or disputes (`dispute`) an entry as its counterparty.
    pub async fn settle_entry(
        &self,
        chain: &str,
        entry: u64,
        answer: &str,
        request: &SettleEntryRequest,
    ) -> ClientResult<EntryView> {
        let entry = entry.to_string();
        let path = path_of(&["/v1/chains/", chain, "/shared-ledger/entries/", &entry, "/", answer]);
        self.post(&path, request).await
    }

    pub async fn party_balances(&self, chain: &str) -> ClientResult<Vec<PartyBalance>> {
        self.get(&path_of(&["/v1/chains/", chain, "/shared-ledger/balances"])).await
    }

    pub async fn reconciliation(&self, chain: &str, org: &str) -> ClientResult<ReconciliationView> {
        self.get(&path_of(&["/v1/chains/", chain, "/shared-ledger/reconciliation?org=", org])).await
    }

    /// Where the platform's MySQL gateway listens (404 when it serves none).
    pub async fn sql_gateway(&self) -> ClientResult<SqlGatewayView> {
        self.get("/v1/sql/gateway").await
    }

    // ---- notarization certificates and genesis -------------------------------------------

    /// The genesis the platform launched the chain with (to check proofs against).
    pub async fn chain_genesis(&self, chain: &str) -> ClientResult<Value> {
        self.get(&path_of(&["/v1/chains/", chain, "/genesis"])).await
    }

    /// A notarization record's proof bundle.
    pub async fn notary_proof(
        &self,
        chain: &str,
        record: &str,
    ) -> ClientResult<crate::notary_proof::NotaryBundle> {
        self.get(&path_of(&["/v1/chains/", chain, "/notary/records/", record, "/proof"])).await
    }

    /// A notarization record's certificate (PDF bytes, the bundle attached).
    pub async fn notary_certificate(&self, chain: &str, record: &str) -> ClientResult<Vec<u8>> {
        let path = path_of(&["/v1/chains/", chain, "/notary/records/", record, "/certificate"]);
        let mut request = self.request(Method::GET, &path);
        if let Some(bearer) = self.bearer() {
            request = request.bearer_auth(bearer);
        }
        let (status, bytes) = self.http.exchange(request).await?;
        if status.is_success() {
            return Ok(bytes);
        }
        self.http.decode(status, &bytes)
    }

    // ---- explorer and monitoring ---------------------------------------------------------

    /// A node API read through the platform (`blocks?order=desc`, `transactions`,
    /// `stats/volume`, …: the path after `/v1/`, with its query).
    pub async fn explorer(&self, chain: &str, path: &str) -> ClientResult<Value> {
        self.get(&path_of(&["/v1/chains/", chain, "/explorer/", path])).await
    }

    /// A transaction, with `decoded` when a contract of the chain is involved, its `kind`,
    /// `fee` and `block_time_ms`.
    pub async fn chain_transaction(&self, chain: &str, hash: &str) -> ClientResult<Value> {
        self.get(&path_of(&["/v1/chains/", chain, "/transactions/", hash])).await
    }

    /// The names the platform knows for the chain's addresses.
    pub async fn address_book(&self, chain: &str) -> ClientResult<Vec<AddressName>> {
        self.get(&path_of(&["/v1/chains/", chain, "/address-book"])).await
    }

    pub async fn chain_metrics(&self, chain: &str) -> ClientResult<Vec<NodeMetrics>> {
        self.get(&path_of(&["/v1/chains/", chain, "/metrics"])).await
    }

    pub async fn prometheus_targets(&self, chain: &str) -> ClientResult<Vec<ScrapeTargets>> {
        self.get(&path_of(&["/v1/chains/", chain, "/prometheus-targets"])).await
    }
}
