//! Contract extensions: pure functions that contracts call at reserved addresses, each with a
//! Solidity interface in `contracts/system/` — cryptography ([`ICrypto`]: SM3, SM2, ed25519,
//! RSA), Base64 ([`IBase64`]) and JSON field extraction ([`IJson`]). The seed's platforms offer
//! them (Ant's contract APIs for RSA, Base64 and JSON; FISCO's SM precompiles) because these
//! are what off-chain partners sign and send, and are ruinous to compute in EVM bytecode.
//!
//! Unlike the notary and governance, they touch no state: an extension is a function from its
//! ABI call to a gas cost and an answer ([`Extension`]). The cost is charged before the work,
//! so a caller without the gas pays nothing but its call. Costs are priced at the rate of
//! Ethereum's `ecrecover` (3,000 gas) as measured on the reference machine
//! (`cargo bench -p consortia-execution --bench extensions`; docs/benchmarks.md).

mod base64;
mod crypto;
mod json;

use alloy_sol_types::SolInterface;
use consortia_crypto::Address;
use revm::context_interface::ContextTr;
use revm::interpreter::{CallInputs, Gas, InterpreterResult};

pub use self::base64::IBase64;
pub use self::crypto::ICrypto;
pub use self::json::IJson;
use crate::evm::from_revm;
use crate::system::{done, out_of_gas, revert, unknown_selector};

/// [`ICrypto`]'s address, `0x…1100`.
pub const CRYPTO_ADDRESS: Address = reserved(0x00);
/// [`IBase64`]'s address, `0x…1101`.
pub const BASE64_ADDRESS: Address = reserved(0x01);
/// [`IJson`]'s address, `0x…1102`.
pub const JSON_ADDRESS: Address = reserved(0x02);

/// Every extension's address (they start warm, as Ethereum's precompiles do).
pub const ADDRESSES: [Address; 3] = [CRYPTO_ADDRESS, BASE64_ADDRESS, JSON_ADDRESS];

const fn reserved(low: u8) -> Address {
    let mut bytes = [0u8; 20];
    bytes[18] = 0x11;
    bytes[19] = low;
    Address(bytes)
}

/// One extension: its ABI, what a call costs, and what it answers.
trait Extension {
    /// The name its reverts start with (the Solidity interface's).
    const NAME: &'static str;
    type Call: SolInterface;
    /// Gas of `call`, known before any work is done.
    fn gas(call: &Self::Call) -> u64;
    /// The ABI-encoded answer, or why the call reverts.
    fn answer(call: Self::Call) -> Result<Vec<u8>, String>;
}

/// Runs one extension's call: its input and gas limit in, its result out.
type Runner = fn(&[u8], u64) -> InterpreterResult;

/// Runs a call to an extension; `None` if `inputs` does not call one.
pub(crate) fn run<CTX: ContextTr>(
    context: &mut CTX,
    inputs: &CallInputs,
) -> Option<InterpreterResult> {
    let address = from_revm(inputs.bytecode_address);
    let (name, run): (&str, Runner) = if address == CRYPTO_ADDRESS {
        (crypto::Crypto::NAME, run_one::<crypto::Crypto>)
    } else if address == BASE64_ADDRESS {
        (base64::Base64::NAME, run_one::<base64::Base64>)
    } else if address == JSON_ADDRESS {
        (json::Json::NAME, run_one::<json::Json>)
    } else {
        return None;
    };
    if inputs.transfers_value() {
        return Some(revert(Gas::new(inputs.gas_limit), format!("{name}: takes no value")));
    }
    Some(run(&inputs.input.bytes(context), inputs.gas_limit))
}

fn run_one<E: Extension>(input: &[u8], gas_limit: u64) -> InterpreterResult {
    let mut gas = Gas::new(gas_limit);
    let Some(selector) = input.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()) else {
        return revert(
            gas,
            format!("{}: no function selector; see its Solidity interface", E::NAME),
        );
    };
    if !E::Call::valid_selector(selector) {
        return unknown_selector(gas, E::NAME, selector);
    }
    let Ok(call) = E::Call::abi_decode_raw(selector, &input[4..]) else {
        return revert(
            gas,
            format!("{}: malformed arguments; see its Solidity interface", E::NAME),
        );
    };
    if !gas.record_regular_cost(E::gas(&call)) {
        return out_of_gas(gas);
    }
    match E::answer(call) {
        Ok(output) => done(gas, output),
        Err(reason) => revert(gas, format!("{}: {reason}", E::NAME)),
    }
}

/// 32-byte words of `len` bytes, rounded up (what Ethereum's precompiles charge by).
fn words(len: usize) -> u64 {
    (len as u64).div_ceil(32)
}

#[cfg(test)]
mod tests;
