//! A typed client of one node's REST API and Ethereum JSON-RPC.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ClientError, ClientResult, Http};
use crate::jsonrpc;
use crate::node::*;

/// How often a wait polls.
const POLL: Duration = Duration::from_millis(50);

/// A client of one node (`http://host:port`).
#[derive(Debug)]
pub struct NodeClient {
    http: Http,
    /// The access token sent with every request, if the node takes members only.
    token: Option<String>,
    rpc_ids: AtomicU64,
}

impl Clone for NodeClient {
    fn clone(&self) -> Self {
        NodeClient {
            http: self.http.clone(),
            token: self.token.clone(),
            rpc_ids: AtomicU64::new(1),
        }
    }
}

impl NodeClient {
    pub fn new(base: &str) -> NodeClient {
        NodeClient::with_client(base, reqwest::Client::new())
    }

    /// Over a client of the caller's (its timeouts and connection pool).
    pub fn with_client(base: &str, client: reqwest::Client) -> NodeClient {
        NodeClient { http: Http::new(base, client), token: None, rpc_ids: AtomicU64::new(1) }
    }

    /// Sends `token` (an access token for the node's chain) with every request, as
    /// `Authorization: Bearer`. A base URL with the token as its password (`http://app:TOKEN@
    /// host:port`) works as well: it is sent as basic auth.
    pub fn with_token(mut self, token: impl Into<String>) -> NodeClient {
        self.token = Some(token.into());
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.client.request(method, self.http.url(path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    fn get_request(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    fn post_request(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.http.base
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        self.http.send(self.get_request(path)).await
    }

    async fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl serde::Serialize,
    ) -> ClientResult<T> {
        self.http.send(self.get_request(path).query(query)).await
    }

    /// Chain and node status.
    pub async fn status(&self) -> ClientResult<StatusView> {
        self.get("/v1/status").await
    }

    /// A block by height.
    pub async fn block(&self, height: u64) -> ClientResult<BlockView> {
        self.get(&format!("/v1/blocks/{height}")).await
    }

    /// A block by hash (`0x…`).
    pub async fn block_by_hash(&self, hash: &str) -> ClientResult<BlockView> {
        self.get(&format!("/v1/blocks/{hash}")).await
    }

    pub async fn latest_block(&self) -> ClientResult<BlockView> {
        self.get("/v1/blocks/latest").await
    }

    /// Blocks in a time range.
    pub async fn blocks(&self, query: &BlocksQuery) -> ClientResult<BlockListView> {
        self.get_query("/v1/blocks", query).await
    }

    /// Certified headers from a height, for following the chain from its genesis.
    pub async fn headers(&self, query: &HeadersQuery) -> ClientResult<Vec<CertifiedHeaderView>> {
        self.get_query("/v1/headers", query).await
    }

    /// A transaction by hash, committed or pending.
    pub async fn transaction(&self, hash: &str) -> ClientResult<TxLookupView> {
        self.get(&format!("/v1/transactions/{hash}")).await
    }

    /// Submits one encoded transaction (its canonical bytes, sent as
    /// `application/octet-stream`).
    pub async fn submit(&self, raw: &[u8]) -> ClientResult<SubmitResponse> {
        let request = self
            .post_request("/v1/transactions")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(raw.to_vec());
        self.http.send(request).await
    }

    /// Submits one transaction as JSON (`{"tx": "0x…"}`).
    pub async fn submit_json(&self, request: &SubmitRequest) -> ClientResult<SubmitResponse> {
        self.http.send(self.post_request("/v1/transactions").json(request)).await
    }

    /// Submits a batch of encoded transactions in the binary form (the borsh list of them):
    /// one result per transaction, in order.
    pub async fn submit_batch(&self, raws: &[Vec<u8>]) -> ClientResult<SubmitBatchResponse> {
        let body = borsh::to_vec(raws).map_err(|e| ClientError::Unexpected {
            url: self.http.base.clone(),
            status: 0,
            detail: format!("cannot encode the batch: {e}"),
        })?;
        let request = self
            .post_request("/v1/transactions/batch")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        self.http.send(request).await
    }

    /// Submits a batch as JSON (`{"txs": ["0x…", …]}`).
    pub async fn submit_batch_json(
        &self,
        request: &SubmitBatchRequest,
    ) -> ClientResult<SubmitBatchResponse> {
        let url = "/v1/transactions/batch";
        self.http.send(self.post_request(url).json(request)).await
    }

    /// Waits until the transaction is committed on this node, at most `timeout`. A node that
    /// does not know it yet (it was submitted elsewhere) or cannot be reached for a moment (it
    /// is restarting) is asked again.
    pub async fn wait_committed(
        &self,
        hash: &str,
        timeout: Duration,
    ) -> ClientResult<TxLookupView> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.transaction(hash).await {
                Ok(lookup) if lookup.status == TxStatus::Committed => return Ok(lookup),
                Ok(lookup) if lookup.status == TxStatus::Dropped => {
                    return Err(ClientError::Dropped(format!(
                        "transaction {hash} was dropped without a block: {}",
                        lookup.reason.unwrap_or_default()
                    )));
                }
                Ok(lookup) => lookup.status.to_string(),
                Err(e) if e.status() == Some(404) => "unknown to the node".to_owned(),
                Err(ClientError::Unreachable { .. }) => "unreachable".to_owned(),
                Err(e) => return Err(e),
            };
            if Instant::now() > deadline {
                return Err(ClientError::Timeout(format!(
                    "transaction {hash} not committed after {} s (it is {last} on {})",
                    timeout.as_secs_f32(),
                    self.http.base
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Submits a transaction and waits until it is committed.
    pub async fn submit_and_wait(
        &self,
        raw: &[u8],
        timeout: Duration,
    ) -> ClientResult<TxLookupView> {
        let submitted = self.submit(raw).await?;
        self.wait_committed(&submitted.hash, timeout).await
    }

    /// Waits until the node has committed `height`, at most `timeout`.
    pub async fn wait_height(&self, height: u64, timeout: Duration) -> ClientResult<StatusView> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.status().await {
                Ok(status) if status.height >= height => return Ok(status),
                Ok(status) => format!("at height {}", status.height),
                Err(ClientError::Unreachable { .. }) => "unreachable".to_owned(),
                Err(e) => return Err(e),
            };
            if Instant::now() > deadline {
                return Err(ClientError::Timeout(format!(
                    "{} did not reach height {height} in {} s (it is {last})",
                    self.http.base,
                    timeout.as_secs_f32()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// An account's next nonce and balance (`0x…` or Base58Check address).
    pub async fn account(&self, address: &str) -> ClientResult<AccountView> {
        self.get(&format!("/v1/accounts/{address}")).await
    }

    /// A state value with its Merkle proof (`key`: `0x` hex or UTF-8 text).
    pub async fn state(&self, key: &str, query: &HeightQuery) -> ClientResult<StateProofView> {
        self.get_query(&format!("/v1/state/{key}"), query).await
    }

    /// The chain's member organizations.
    pub async fn members(&self) -> ClientResult<Vec<MemberView>> {
        self.get("/v1/governance/members").await
    }

    /// The chain's node list (validators and observers).
    pub async fn governance_nodes(&self) -> ClientResult<Vec<GovNodeView>> {
        self.get("/v1/governance/nodes").await
    }

    /// The validator set that signs `height` (default: the next height to commit).
    pub async fn validators(&self, height: Option<u64>) -> ClientResult<ValidatorSetView> {
        self.get_query("/v1/validators", &ValidatorsQuery { height }).await
    }

    /// Governance proposals, newest first.
    pub async fn proposals(&self, query: &ProposalsQuery) -> ClientResult<ProposalListView> {
        self.get_query("/v1/governance/proposals", query).await
    }

    pub async fn proposal(&self, id: u64) -> ClientResult<ProposalView> {
        self.get(&format!("/v1/governance/proposals/{id}")).await
    }

    /// The chain parameters governance keeps.
    pub async fn params(&self) -> ClientResult<ParamsView> {
        self.get("/v1/governance/params").await
    }

    /// A contract's governance status (active, frozen, revoked) and upgrades.
    pub async fn contract_status(&self, address: &str) -> ClientResult<ContractStatusView> {
        self.get(&format!("/v1/governance/contracts/{address}")).await
    }

    /// Whether init code with keccak-256 hash `hash` is approved for deployment.
    pub async fn code_approval(&self, hash: &str) -> ClientResult<CodeApprovalView> {
        self.get(&format!("/v1/governance/code/{hash}")).await
    }

    /// A dry run of a call or a deployment on the latest state.
    pub async fn simulate(&self, request: &SimulateRequest) -> ClientResult<SimulationView> {
        self.http.send(self.post_request("/v1/simulate").json(request)).await
    }

    /// Runs a read-only SQL query over the chain's ledger tables.
    pub async fn sql_query(&self, query: &SqlQuery) -> ClientResult<SqlResult> {
        self.http.send(self.post_request("/v1/sql/query").json(query)).await
    }

    /// The chain's ledger tables, in the order they were created.
    pub async fn sql_tables(&self) -> ClientResult<Vec<SqlTableView>> {
        self.get("/v1/sql/tables").await
    }

    pub async fn notary_record(&self, id: &str) -> ClientResult<RecordView> {
        self.get(&format!("/v1/notary/records/{id}")).await
    }

    pub async fn notary_by_hash(
        &self,
        content_hash: &str,
        query: &LimitQuery,
    ) -> ClientResult<RecordsByHashView> {
        self.get_query(&format!("/v1/notary/by-hash/{content_hash}"), query).await
    }

    /// The latest committed transactions, newest first.
    pub async fn recent_transactions(&self, query: &PageQuery) -> ClientResult<TxListView> {
        self.get_query("/v1/transactions", query).await
    }

    /// Transactions an address sent, called or created, newest first.
    pub async fn address_transactions(
        &self,
        address: &str,
        query: &PageQuery,
    ) -> ClientResult<TxListView> {
        self.get_query(&format!("/v1/addresses/{address}/transactions"), query).await
    }

    /// A token contract as its `Transfer` events add up.
    pub async fn token(&self, address: &str) -> ClientResult<TokenView> {
        self.get(&format!("/v1/tokens/{address}")).await
    }

    /// A page of a token's holders, largest balance first.
    pub async fn token_holders(
        &self,
        address: &str,
        query: &TokenHoldersQuery,
    ) -> ClientResult<TokenHoldersView> {
        self.get_query(&format!("/v1/tokens/{address}/holders"), query).await
    }

    /// A page of a token's transfers, newest first.
    pub async fn token_transfers(
        &self,
        address: &str,
        query: &PageQuery,
    ) -> ClientResult<TokenTransfersView> {
        self.get_query(&format!("/v1/tokens/{address}/transfers"), query).await
    }

    pub async fn volume(&self, query: &VolumeQuery) -> ClientResult<VolumeView> {
        self.get_query("/v1/stats/volume", query).await
    }

    /// The node's Prometheus metrics, as text.
    pub async fn metrics(&self) -> ClientResult<String> {
        let (status, bytes) = self.http.exchange(self.get_request("/metrics")).await?;
        if !status.is_success() {
            return self.http.decode(status, &bytes);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A GET of any path of the node's API, answered as status and JSON (`null` if the answer
    /// is not JSON): for proxies that pass the node's answer on.
    pub async fn get_raw(&self, path_and_query: &str) -> ClientResult<(u16, Value)> {
        let (status, bytes) = self.http.exchange(self.get_request(path_and_query)).await?;
        Ok((status.as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// A JSON-RPC batch at `/rpc`: one outcome per call, in the calls' order (the node may
    /// answer in any order; a call it did not answer gets an internal error).
    pub async fn rpc_batch(
        &self,
        calls: &[(&str, Value)],
    ) -> ClientResult<Vec<Result<Value, jsonrpc::ErrorObject>>> {
        let requests: Vec<jsonrpc::Request> = calls
            .iter()
            .enumerate()
            .map(|(i, (method, params))| jsonrpc::Request::new(i as u64, method, params.clone()))
            .collect();
        let answers: Vec<jsonrpc::Response> =
            self.http.send(self.post_request("/rpc").json(&requests)).await?;
        let mut out: Vec<Result<Value, jsonrpc::ErrorObject>> = calls
            .iter()
            .map(|_| {
                Err(jsonrpc::ErrorObject {
                    code: jsonrpc::INTERNAL_ERROR,
                    message: "the node did not answer this call of the batch".into(),
                    data: None,
                })
            })
            .collect();
        for answer in answers {
            if let Some(slot) = answer.id.as_u64().and_then(|i| out.get_mut(i as usize)) {
                *slot = answer.into_result();
            }
        }
        Ok(out)
    }

    /// One Ethereum JSON-RPC call at `/rpc`: its result, or the node's error object as
    /// [`ClientError::JsonRpc`].
    pub async fn rpc(&self, method: &str, params: Value) -> ClientResult<Value> {
        let id = self.rpc_ids.fetch_add(1, Ordering::Relaxed);
        let request = jsonrpc::Request::new(id, method, params);
        let response: jsonrpc::Response =
            self.http.send(self.post_request("/rpc").json(&request)).await?;
        Ok(response.into_result()?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A node that answers every transaction lookup `committed`, on `listener`.
    async fn committing_node(listener: tokio::net::TcpListener) {
        let answer = |axum::extract::Path(hash): axum::extract::Path<String>| async move {
            let mut lookup = TxLookupView::pending(hash);
            lookup.status = TxStatus::Committed;
            axum::Json(lookup)
        };
        let app = axum::Router::new().route("/v1/transactions/{hash}", axum::routing::get(answer));
        axum::serve(listener, app).await.unwrap();
    }

    #[tokio::test]
    async fn waiting_for_a_commit_outlasts_a_node_that_is_not_up_yet() {
        let address = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let node = NodeClient::new(&format!("http://{address}"));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            committing_node(tokio::net::TcpListener::bind(address).await.unwrap()).await;
        });
        let lookup = node.wait_committed("0xab", Duration::from_secs(10)).await.unwrap();
        assert_eq!(lookup.status, TxStatus::Committed);
    }

    /// Every request of a client with a token carries it: the server answers 418 to those
    /// that do and 401 to those that do not.
    #[tokio::test]
    async fn a_token_goes_with_every_kind_of_request() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let check = |headers: axum::http::HeaderMap| async move {
            let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
            let (status, code) = match bearer {
                Some("Bearer t0ken") => (axum::http::StatusCode::IM_A_TEAPOT, "seen"),
                _ => (axum::http::StatusCode::UNAUTHORIZED, "unauthorized"),
            };
            (status, axum::Json(crate::ErrorBody::new(code, "")))
        };
        tokio::spawn(async move {
            axum::serve(listener, axum::Router::new().fallback(check)).await.unwrap();
        });
        let node = NodeClient::new(&format!("http://{address}")).with_token("t0ken");
        let seen = |r: Result<(), ClientError>| r.unwrap_err().status() == Some(418);
        assert!(seen(node.status().await.map(drop)), "status");
        assert!(seen(node.submit(b"x").await.map(drop)), "submit");
        assert!(seen(node.submit_batch(&[vec![1]]).await.map(drop)), "batch");
        assert!(seen(node.metrics().await.map(drop)), "metrics");
        assert!(seen(node.rpc("eth_chainId", Value::Null).await.map(drop)), "rpc");
        let (status, _) = node.get_raw("/v1/blocks/1").await.unwrap();
        assert_eq!(status, 418, "raw");
    }

    #[tokio::test]
    async fn waiting_for_a_commit_gives_up_at_its_timeout() {
        let address = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let node = NodeClient::new(&format!("http://{address}"));
        let e = node.wait_committed("0xab", Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(e, ClientError::Timeout(_)), "{e}");
        assert!(e.to_string().contains("unreachable"), "{e}");
    }
}
