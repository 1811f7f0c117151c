//! The Rust SDK: typed async clients of a node ([`NodeClient`]) and of the platform
//! ([`PlatformClient`]), over the wire types of this crate.

mod node;
mod platform;

pub use node::NodeClient;
pub use platform::{Credentials, PlatformClient};

use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use crate::ErrorBody;
use crate::jsonrpc::ErrorObject;

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached (not running, wrong address, connection cut).
    #[error("cannot reach {url} (is it running? is the address right?): {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server refused the call with its `{code, message}`.
    #[error("{url} refused ({status}): {body}")]
    Refused { url: String, status: u16, body: ErrorBody },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from {url} ({status}): {detail}")]
    Unexpected { url: String, status: u16, detail: String },
    /// A JSON-RPC error object.
    #[error(transparent)]
    JsonRpc(#[from] ErrorObject),
    /// A wait ran out (a transaction not committed, a chain not started).
    #[error("{0}")]
    Timeout(String),
    /// The transaction waited for was dropped without a block: it will never commit.
    #[error("{0}")]
    Dropped(String),
    /// The call needs a login first.
    #[error("not logged in: {0}")]
    NotLoggedIn(String),
}

impl ClientError {
    /// The HTTP status of a refusal or unexpected answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The API's error code of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { body, .. } => Some(&body.code),
            _ => None,
        }
    }

    /// The error body of a refusal.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            ClientError::Refused { body, .. } => Some(body),
            _ => None,
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// A base URL and a connection pool.
#[derive(Clone, Debug)]
struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    fn new(base: &str, client: reqwest::Client) -> Http {
        Http { base: base.trim_end_matches('/').to_owned(), client }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and reads its status and body (a transport failure is an error).
    async fn exchange(&self, request: RequestBuilder) -> ClientResult<(StatusCode, Vec<u8>)> {
        let unreachable = |source| ClientError::Unreachable { url: self.base.clone(), source };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        Ok((status, bytes.to_vec()))
    }

    /// A success's JSON body as `T` (an empty body reads as `null`: `()` takes it), a refusal's
    /// error body as [`ClientError::Refused`].
    fn decode<T: DeserializeOwned>(&self, status: StatusCode, bytes: &[u8]) -> ClientResult<T> {
        let url = self.base.clone();
        let bytes = if bytes.is_empty() { b"null".as_slice() } else { bytes };
        if status.is_success() {
            return serde_json::from_slice(bytes).map_err(|e| ClientError::Unexpected {
                url,
                status: status.as_u16(),
                detail: e.to_string(),
            });
        }
        match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(body) => Err(ClientError::Refused { url, status: status.as_u16(), body }),
            Err(_) => Err(ClientError::Unexpected {
                url,
                status: status.as_u16(),
                detail: String::from_utf8_lossy(bytes).chars().take(200).collect(),
            }),
        }
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> ClientResult<T> {
        let (status, bytes) = self.exchange(request).await?;
        self.decode(status, &bytes)
    }
}
