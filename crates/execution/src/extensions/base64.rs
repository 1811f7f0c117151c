//! [`IBase64`] (`contracts/system/IBase64.sol`): Base64 in the standard and URL-safe alphabets.

use ::base64::Engine;
use ::base64::alphabet;
use ::base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use alloy_sol_types::SolCall;
use revm::primitives::Bytes;

use super::{Extension, words};

alloy_sol_types::sol!("../../contracts/system/IBase64.sol");

use IBase64::IBase64Calls as Call;

const BASE_GAS: u64 = 100;
const GAS_PER_WORD: u64 = 3;

const STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(super) struct Base64;

impl Extension for Base64 {
    const NAME: &'static str = "IBase64";
    type Call = Call;

    fn gas(call: &Call) -> u64 {
        let len = match call {
            Call::encode(c) => c.data.len(),
            Call::encodeUrl(c) => c.data.len(),
            Call::decode(c) => c.text.len(),
            Call::decodeUrl(c) => c.text.len(),
        };
        BASE_GAS + GAS_PER_WORD * words(len)
    }

    fn answer(call: Call) -> Result<Vec<u8>, String> {
        let not_base64 = |e: ::base64::DecodeError| format!("not Base64: {e}");
        Ok(match call {
            Call::encode(c) => IBase64::encodeCall::abi_encode_returns(&STANDARD.encode(&c.data)),
            Call::encodeUrl(c) => {
                IBase64::encodeUrlCall::abi_encode_returns(&URL_SAFE.encode(&c.data))
            }
            Call::decode(c) => {
                let bytes = STANDARD.decode(c.text).map_err(not_base64)?;
                IBase64::decodeCall::abi_encode_returns(&Bytes::from(bytes))
            }
            Call::decodeUrl(c) => {
                let bytes = URL_SAFE.decode(c.text).map_err(not_base64)?;
                IBase64::decodeUrlCall::abi_encode_returns(&Bytes::from(bytes))
            }
        })
    }
}
