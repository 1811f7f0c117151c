//! JSON-RPC 2.0 shapes, as the node's Ethereum API (`POST /rpc`, `/ws`) speaks them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The parse error code: the body is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// The request is not a JSON-RPC request.
pub const INVALID_REQUEST: i64 = -32600;
/// The method is not one the node serves.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The parameters do not fit the method.
pub const INVALID_PARAMS: i64 = -32602;
/// The server failed.
pub const INTERNAL_ERROR: i64 = -32603;
/// A refused transaction or a failed call (geth's generic server error).
pub const SERVER_ERROR: i64 = -32000;
/// A transaction refused for what its sender's account or its gas cannot cover: nonce too low,
/// insufficient funds, intrinsic gas too low (EIP-1474's "transaction rejected"; wallets match
/// the message words, as they do geth's).
pub const TRANSACTION_REJECTED: i64 = -32003;
/// A read of blocks, transactions, receipts or logs this node pruned from its history (geth's
/// "pruned history unavailable"); `data.firstBlock` is the first block it still holds.
pub const PRUNED_HISTORY: i64 = 4444;
/// A reverted call; `data` holds the revert data (as geth reports it).
pub const EXECUTION_REVERTED: i64 = 3;

/// A request (a notification when `id` is absent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub jsonrpc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    pub method: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
}

impl Request {
    pub fn new(id: u64, method: &str, params: Value) -> Request {
        Request { jsonrpc: "2.0".into(), id: Some(id.into()), method: method.to_owned(), params }
    }
}

/// An error object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (JSON-RPC error {code})")]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A response: `result` or `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub jsonrpc: String,
    pub id: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

impl Response {
    pub fn success(id: Value, result: Value) -> Response {
        Response { jsonrpc: "2.0".into(), id, result: Some(result), error: None }
    }

    pub fn failure(id: Value, error: ErrorObject) -> Response {
        Response { jsonrpc: "2.0".into(), id, result: None, error: Some(error) }
    }

    /// The result, or the error the server answered.
    pub fn into_result(self) -> Result<Value, ErrorObject> {
        match (self.error, self.result) {
            (Some(e), _) => Err(e),
            (None, r) => Ok(r.unwrap_or(Value::Null)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn responses_round_trip_as_geth_writes_them() {
        let ok: Response =
            serde_json::from_value(json!({"jsonrpc": "2.0", "id": 1, "result": "0x1"})).unwrap();
        assert_eq!(ok.into_result(), Ok(json!("0x1")));
        let null: Response =
            serde_json::from_value(json!({"jsonrpc": "2.0", "id": 2, "result": null})).unwrap();
        assert_eq!(null.into_result(), Ok(Value::Null));
        let err = json!({"jsonrpc": "2.0", "id": 3,
            "error": {"code": 3, "message": "execution reverted", "data": "0x08c379a0"}});
        let err: Response = serde_json::from_value(err).unwrap();
        let e = err.into_result().unwrap_err();
        assert_eq!((e.code, e.data), (EXECUTION_REVERTED, Some(json!("0x08c379a0"))));
        let written = serde_json::to_value(Response::success(json!(7), json!(true))).unwrap();
        assert_eq!(written, json!({"jsonrpc": "2.0", "id": 7, "result": true}));
        let request = serde_json::to_value(Request::new(1, "eth_chainId", Value::Null)).unwrap();
        assert_eq!(request, json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}));
    }
}
