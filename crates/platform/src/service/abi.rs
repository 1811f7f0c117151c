//! A contract's JSON ABI at work: arguments parsed from strings, results and events decoded to
//! JSON (numbers as decimal strings, bytes and addresses as hex), so a form built from the ABI
//! is all a browser needs. Pure functions; the contract service and the explorer use them.

use alloy_dyn_abi::{DynSolType, DynSolValue, EventExt, JsonAbiExt, Specifier};
use alloy_json_abi::{Function, JsonAbi, Param, StateMutability};
use alloy_primitives::{B256, LogData};
use consortia_api::platform::{FunctionView, ParamView};
use serde_json::{Value, json};

use crate::error::{Error, Result};

pub(crate) fn params(list: &[Param]) -> Vec<ParamView> {
    list.iter()
        .map(|p| ParamView { name: p.name.clone(), ty: p.selector_type().into_owned() })
        .collect()
}

pub(crate) fn functions(abi: &JsonAbi) -> Vec<FunctionView> {
    abi.functions()
        .map(|f| FunctionView {
            name: f.name.clone(),
            signature: f.signature(),
            inputs: params(&f.inputs),
            outputs: params(&f.outputs),
            read_only: read_only(f),
        })
        .collect()
}

/// `view` and `pure` functions are queried, not sent.
pub(crate) fn read_only(f: &Function) -> bool {
    matches!(f.state_mutability, StateMutability::View | StateMutability::Pure)
}

/// A JSON ABI given as an array, or as a string holding one.
pub(crate) fn parse(abi: &Value) -> Result<JsonAbi> {
    let parsed = match abi {
        Value::String(s) => serde_json::from_str(s),
        other => serde_json::from_value(other.clone()),
    };
    parsed.map_err(|e| {
        Error::invalid("bad_abi", format!("the ABI is not a contract's JSON ABI: {e}"))
    })
}

/// Parses each argument string as its parameter's type.
pub(crate) fn arguments(inputs: &[Param], args: &[String]) -> Result<Vec<DynSolValue>> {
    if inputs.len() != args.len() {
        return Err(Error::invalid(
            "bad_arguments",
            format!("{} argument(s) expected, {} given", inputs.len(), args.len()),
        ));
    }
    inputs
        .iter()
        .zip(args)
        .map(|(p, a)| {
            let ty: DynSolType = p
                .resolve()
                .map_err(|e| Error::invalid("bad_abi", format!("parameter {}: {e}", p.name)))?;
            ty.coerce_str(a.trim()).map_err(|e| {
                Error::invalid(
                    "bad_arguments",
                    format!("argument `{}` is not a {}: {e}", p.name, p.selector_type()),
                )
            })
        })
        .collect()
}

/// A decoded value as JSON: numbers as decimal strings, bytes and addresses as hex.
pub(crate) fn to_json(v: &DynSolValue) -> Value {
    match v {
        DynSolValue::Bool(b) => json!(b),
        DynSolValue::Int(i, _) => json!(i.to_string()),
        DynSolValue::Uint(u, _) => json!(u.to_string()),
        DynSolValue::FixedBytes(w, size) => json!(format!("0x{}", hex::encode(&w[..*size]))),
        DynSolValue::Address(a) => json!(a.to_checksum(None)),
        DynSolValue::Function(f) => json!(format!("0x{}", hex::encode(f.as_slice()))),
        DynSolValue::Bytes(b) => json!(format!("0x{}", hex::encode(b))),
        DynSolValue::String(s) => json!(s),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
    }
}

/// Values with their parameters' names and types.
pub(crate) fn named(params: &[Param], values: &[DynSolValue]) -> Value {
    Value::Array(
        params
            .iter()
            .zip(values)
            .map(|(p, v)| json!({"name": p.name, "type": p.selector_type(), "value": to_json(v)}))
            .collect(),
    )
}

/// A log: its topics and data.
pub(crate) type Log = (Vec<B256>, Vec<u8>);

/// Decodes the logs an ABI knows (by their first topic); others are left out.
pub(crate) fn decode_events(abi: &JsonAbi, logs: &[Log]) -> Vec<Value> {
    let mut out = vec![];
    for (topics, data) in logs {
        let Some(first) = topics.first() else { continue };
        let Some(event) = abi.events().find(|e| !e.anonymous && e.selector() == *first) else {
            continue;
        };
        let Ok(decoded) =
            event.decode_log(&LogData::new_unchecked(topics.clone(), data.clone().into()))
        else {
            continue;
        };
        let (mut indexed, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
        let args: Vec<Value> = event
            .inputs
            .iter()
            .map(|p| {
                let v = if p.indexed { indexed.next() } else { body.next() };
                json!({"name": p.name, "type": p.ty, "value": v.as_ref().map(to_json)})
            })
            .collect();
        out.push(json!({"event": event.name, "signature": event.signature(), "args": args}));
    }
    out
}

/// Decodes a call's input against an ABI: the function and its arguments.
pub(crate) fn decode_input(abi: &JsonAbi, input: &[u8]) -> Option<Value> {
    let selector = input.get(..4)?;
    let f = abi.functions().find(|f| f.selector().as_slice() == selector)?;
    let args = f.abi_decode_input(&input[4..]).ok()?;
    Some(json!({"function": f.name, "signature": f.signature(), "args": named(&f.inputs, &args)}))
}

/// `0x…` hex as bytes (nothing if it is not hex).
pub(crate) fn hex_bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or("0x").trim_start_matches("0x")).unwrap_or_default()
}

/// A log's topics (`0x…` hashes) from JSON.
pub(crate) fn topics(v: &Value) -> Vec<B256> {
    v.as_array().into_iter().flatten().filter_map(|t| t.as_str()?.parse().ok()).collect()
}

/// The logs of a JSON-RPC receipt.
pub(crate) fn receipt_logs(receipt: &Value) -> Vec<Log> {
    receipt["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| (topics(&l["topics"]), hex_bytes(&l["data"])))
        .collect()
}

/// A JSON-RPC quantity (`0x1a`); 0 if absent or malformed.
pub(crate) fn qty(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap_or(0)
}
