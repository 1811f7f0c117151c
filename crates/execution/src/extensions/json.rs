//! [`IJson`] (`contracts/system/IJson.sol`): fields of a JSON document, found by JSON Pointer.
//!
//! The document is never turned into a tree: each pointer segment parses only the value it
//! steps into, keeping the members' text ([`RawValue`]), so numbers are read from their text
//! exactly and a lookup allocates little more than the path it walks.

use std::collections::HashMap;

use alloy_primitives::I256;
use alloy_sol_types::SolCall;
use revm::primitives::U256;
use serde_json::value::RawValue;

use super::{Extension, words};

alloy_sol_types::sol!("../../contracts/system/IJson.sol");

use IJson::IJsonCalls as Call;

const BASE_GAS: u64 = 200;
/// Per 32-byte word of the document, for each segment walked plus one (the first parse).
const GAS_PER_WORD: u64 = 3;
/// Nesting deeper than this is refused before parsing (serde_json's own limit is the same).
const MAX_DEPTH: usize = 128;
/// How much of an offending value a revert reason quotes.
const QUOTE_CHARS: usize = 64;

pub(super) struct Json;

impl Extension for Json {
    const NAME: &'static str = "IJson";
    type Call = Call;

    fn gas(call: &Call) -> u64 {
        let (json, pointer) = match call {
            Call::get(c) => (&c.json, &c.pointer),
            Call::getUint(c) => (&c.json, &c.pointer),
            Call::getInt(c) => (&c.json, &c.pointer),
            Call::getBool(c) => (&c.json, &c.pointer),
            Call::length(c) => (&c.json, &c.pointer),
            Call::has(c) => (&c.json, &c.pointer),
        };
        let passes = pointer.matches('/').count() as u64 + 1;
        BASE_GAS + GAS_PER_WORD * words(json.len()) * passes
    }

    fn answer(call: Call) -> Result<Vec<u8>, String> {
        Ok(match call {
            Call::get(c) => {
                let value = find(&c.json, &c.pointer)?;
                let text = if value.get().starts_with('"') {
                    serde_json::from_str(value.get()).map_err(|e| e.to_string())?
                } else {
                    value.get().to_owned()
                };
                IJson::getCall::abi_encode_returns(&text)
            }
            Call::getUint(c) => {
                let digits = integer(find(&c.json, &c.pointer)?, &c.pointer)?;
                let n = if digits.starts_with('-') {
                    None
                } else {
                    U256::from_str_radix(&digits, 10).ok()
                };
                let n = n.ok_or_else(|| {
                    format!("the value at `{}` is not a uint256: {}", c.pointer, quote(&digits))
                })?;
                IJson::getUintCall::abi_encode_returns(&n)
            }
            Call::getInt(c) => {
                let digits = integer(find(&c.json, &c.pointer)?, &c.pointer)?;
                let n = I256::from_dec_str(&digits).map_err(|_| {
                    format!("the value at `{}` is not an int256: {}", c.pointer, quote(&digits))
                })?;
                IJson::getIntCall::abi_encode_returns(&n)
            }
            Call::getBool(c) => {
                let value = find(&c.json, &c.pointer)?;
                let flag = match value.get() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(format!(
                            "the value at `{}` is not a boolean: {}",
                            c.pointer,
                            quote(other)
                        ));
                    }
                };
                IJson::getBoolCall::abi_encode_returns(&flag)
            }
            Call::length(c) => {
                let value = find(&c.json, &c.pointer)?;
                let len = match value.get().as_bytes().first() {
                    Some(b'[') => items(value)?.len(),
                    Some(b'{') => members(value)?.len(),
                    _ => {
                        return Err(format!(
                            "the value at `{}` is not an array or an object: {}",
                            c.pointer,
                            quote(value.get())
                        ));
                    }
                };
                IJson::lengthCall::abi_encode_returns(&U256::from(len))
            }
            Call::has(c) => {
                IJson::hasCall::abi_encode_returns(&lookup(&c.json, &c.pointer)?.is_some())
            }
        })
    }
}

/// The value `pointer` names, or why there is none.
fn find<'a>(json: &'a str, pointer: &str) -> Result<&'a RawValue, String> {
    lookup(json, pointer)?.ok_or_else(|| format!("no value at `{pointer}`"))
}

/// The value `pointer` names in `json`, `None` if it names nothing; `Err` if `json` is not
/// JSON or `pointer` is not a JSON Pointer.
fn lookup<'a>(json: &'a str, pointer: &str) -> Result<Option<&'a RawValue>, String> {
    let tokens = tokens(pointer)?;
    check_depth(json)?;
    let mut value: &RawValue = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    for token in tokens {
        let next = match value.get().as_bytes().first() {
            Some(b'{') => members(value)?.get(&token).copied(),
            Some(b'[') => index(&token).and_then(|i| items(value).ok()?.get(i).copied()),
            _ => None,
        };
        match next {
            Some(next) => value = next,
            None => return Ok(None),
        }
    }
    Ok(Some(value))
}

/// A pointer's reference tokens, unescaped (RFC 6901 §4: `~1` is `/`, then `~0` is `~`).
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("the pointer `{pointer}` must be empty or start with `/`"));
    };
    rest.split('/')
        .map(|token| {
            let bad_escape = token
                .match_indices('~')
                .any(|(at, _)| !matches!(token.as_bytes().get(at + 1), Some(b'0' | b'1')));
            if bad_escape {
                return Err(format!("the pointer `{pointer}` has a `~` not followed by 0 or 1"));
            }
            Ok(token.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

/// An array index token: `0` or digits without a leading zero (`-`, past the end, names nothing).
fn index(token: &str) -> Option<usize> {
    let digits = token.bytes().all(|b| b.is_ascii_digit());
    if !digits || token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

fn members(object: &RawValue) -> Result<HashMap<String, &RawValue>, String> {
    serde_json::from_str(object.get()).map_err(|e| e.to_string())
}

fn items(array: &RawValue) -> Result<Vec<&RawValue>, String> {
    serde_json::from_str(array.get()).map_err(|e| e.to_string())
}

/// The decimal text of an integer value: a JSON number without fraction or exponent, or a
/// string of decimal digits with an optional leading `-`.
fn integer(value: &RawValue, pointer: &str) -> Result<String, String> {
    let raw = value.get();
    let (text, leading_zero_ok) = if raw.starts_with('"') {
        (serde_json::from_str::<String>(raw).map_err(|e| e.to_string())?, true)
    } else {
        (raw.to_owned(), false)
    };
    let digits = text.strip_prefix('-').unwrap_or(&text);
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (leading_zero_ok || digits == "0" || !digits.starts_with('0'));
    if !well_formed {
        return Err(format!("the value at `{pointer}` is not an integer: {}", quote(raw)));
    }
    Ok(text)
}

/// Refuses nesting deeper than [`MAX_DEPTH`], counting brackets outside strings.
fn check_depth(json: &str) -> Result<(), String> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!("the document nests deeper than {MAX_DEPTH} levels"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// `text`, cut to [`QUOTE_CHARS`] characters for a revert reason.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
