//! Test vectors for each extension, from the standards (SM3, SM2, RFC 8032) or made by another
//! implementation (RSA: Python's `cryptography`), called through their ABI as a contract does.

use alloy_primitives::{B256, Bytes, FixedBytes, I256, U256, hex};
use alloy_sol_types::SolCall;
use revm::interpreter::InstructionResult;

use super::base64::{Base64, IBase64};
use super::crypto::{Crypto, ICrypto};
use super::json::{IJson, Json};
use super::{Extension, run_one};
use crate::revert_reason;

const GAS: u64 = 1_000_000;

/// Runs `call` on extension `E`: its decoded answer, or its revert reason.
fn call<E: Extension, C: SolCall>(call: C) -> Result<C::Return, String> {
    let result = run_one::<E>(&call.abi_encode(), GAS);
    match result.result {
        InstructionResult::Return => Ok(C::abi_decode_returns(&result.output).unwrap()),
        InstructionResult::Revert => Err(revert_reason(&result.output).unwrap()),
        other => Err(format!("{other:?}")),
    }
}

fn bytes(hex: &str) -> Bytes {
    hex::decode(hex).unwrap().into()
}

// --- ICrypto ---

#[test]
fn sm3_matches_the_standards_abc_vector() {
    let digest = call::<Crypto, _>(ICrypto::sm3Call { data: b"abc".to_vec().into() }).unwrap();
    assert_eq!(
        digest,
        B256::from(hex!("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"))
    );
}

// GB/T 32918.2 example on the recommended curve: key, message "message digest", default id.
const SM2_X: &str = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020";
const SM2_Y: &str = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
const SM2_SIG: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3\
                       B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";

fn sm2_verify(key: Bytes, message: &[u8]) -> Result<bool, String> {
    call::<Crypto, _>(ICrypto::sm2VerifyCall {
        publicKey: key,
        message: message.to_vec().into(),
        signature: bytes(SM2_SIG),
    })
}

#[test]
fn sm2_verify_accepts_the_standard_vector_with_a_raw_or_uncompressed_key() {
    let raw = bytes(&format!("{SM2_X}{SM2_Y}"));
    let uncompressed = bytes(&format!("04{SM2_X}{SM2_Y}"));
    // y is odd (…13), so the compressed form starts with 03.
    let compressed = bytes(&format!("03{SM2_X}"));
    for key in [raw, uncompressed, compressed] {
        assert_eq!(sm2_verify(key, b"message digest"), Ok(true));
    }
}

#[test]
fn sm2_verify_answers_false_for_another_message() {
    let key = bytes(&format!("{SM2_X}{SM2_Y}"));
    assert_eq!(sm2_verify(key, b"message digesT"), Ok(false));
}

#[test]
fn sm2_verify_reverts_on_a_key_that_is_not_a_point() {
    let reason = sm2_verify(bytes(&"07".repeat(64)), b"message digest").unwrap_err();
    assert!(
        reason.starts_with("ICrypto: sm2Verify: the public key is not an SM2 point"),
        "{reason}"
    );
}

// RFC 8032 §7.1, tests 1 and 2.
fn ed25519_verify(key: &str, message: &str, signature: &str) -> Result<bool, String> {
    call::<Crypto, _>(ICrypto::ed25519VerifyCall {
        publicKey: FixedBytes::from_slice(&hex::decode(key).unwrap()),
        message: bytes(message),
        signature: bytes(signature),
    })
}
const ED_KEY_1: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const ED_SIG_1: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
const ED_KEY_2: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const ED_SIG_2: &str = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

#[test]
fn ed25519_verify_accepts_the_rfc8032_vectors() {
    assert_eq!(ed25519_verify(ED_KEY_1, "", ED_SIG_1), Ok(true));
    assert_eq!(ed25519_verify(ED_KEY_2, "72", ED_SIG_2), Ok(true));
}

#[test]
fn ed25519_verify_answers_false_for_a_wrong_message_key_or_signature_length() {
    assert_eq!(ed25519_verify(ED_KEY_2, "73", ED_SIG_2), Ok(false));
    assert_eq!(ed25519_verify(ED_KEY_1, "72", ED_SIG_2), Ok(false));
    assert_eq!(ed25519_verify(ED_KEY_2, "72", &ED_SIG_2[..126]), Ok(false));
}

// A 2048-bit key (e = 65537) and signatures over "consortia" made by Python's `cryptography`.
const RSA_N: &str = "e2ad05b2da422b8095ce20da81d5263f3a5939b33eb89e72685cc5eb88c657b7e26df1cf64fff841b3da35b3c4dd88892f75a46a41f6fe621dca1c3d62838a0ee443903a2917f6c0fc8e68ec4ad743f9bbb96c0d00e6bf14114d95ee7d89e0bfe811aa5b566f3147c8f6c80639bcd43acd08d74b11c5c79ddf8c0c1e185966f9827b07029df3f61c9190d8c767b169ae54f2b62d49650e1450641098e49d9e22d4309768bac8399131078a54b9eb29dcb632ceaffbed571eaf81f37d4cb192c56c88024b82c37cc9d39174962e70956b2942197a88c1e0e18a8410fa54e50d6c1b00c11d2d8ff73b959f2c32e17cde7819b3fb3cbf2d3b0171a792eaca4abcb3";
const RSA_PKCS1_SHA256: &str = "3f559c27efa55ce2e296a6beb2842c149d93477ac6c498a850b2f1867af297bd1883a1b60ee66a1fa0f6e06f049e950210db2b0468c07ea682dd410ad9453fbdd342825f63ebdcd66ab4b6ecd64558070e16c5a481bd8860417c96c1a1be72206e1580aa9c20920ad20d43a49723e27443cf49915fbabfa0811362ba0784d2430bf280338a84d37bd2fdcf262a969633c5c2e4d0a90f8daf433704929dc0a7d64429673f3171ebcd80edeb8be7daccb9704d64f086a67352e4edc5c79912260be142e83f8f2a919bc22aaa31f1b9738b481f3443bf2139fbe3491e51e832431fae64c8a20e546bc027695d541c24a67228b57ce5eca61789472ba5eab51a3bfa";
const RSA_PKCS1_SHA384: &str = "decea0790418cce82a7b7ad1e5783853e7a9d44efc02c07b7efcb40d2d3b00d9734650c3fa45d14f4c9b5b971ba0bda8024720707c3b9297d096fd6bb44124528ad1ad11a9183aa81aaf56763d052501db7ef20412f3452a83ff063a88813040784c30f8aad608982757d25dd4419248a50af9a143c391636361132e3579257efe5255142d734c844d25ff0488d307cccba8a17561ff482749940a33cd1dae16af1ba4a966eb796d835b440266d7e74588bfbf9557b7650f00eccda0e5549c97d39bd8ff145536cb03a2b2bed256b39cfae1909b92e3b74f8eb89562fbe3d08fda543939d50f904f7817fa7d4c98b3966b384575d8a3119c9311ecdd8b1f6388";
const RSA_PSS_SHA256_SALT32: &str = "580fcdb40df3ecc574934d74ab8d0bde2df2a34cb37913235ac2cc70c0f95895c25f9fa4cd90f9ca3b902a593087aa8d4f6499bca6791ebaa3bc988bb1ddc30e04fda3d4e815cdfc53b095bab9913931464296b03e0dab01cf1a36c54ec3cd0ecfb42293301142a31528d899a0518f979e503eda7d7b39496b8e53e0ed552a54399f08dcfe43576ce1d5c10536592eea7a2c24830e88f1af74129671a1b3b8e2c413253f5073bd2858f0fa57d924ece386f5c1d1b6bb89c949cb82a69c6e1a117ccf5a40e6c9c34e6bb7b86b09f422ec14187fea19c4910deb9ace6d9937e3808ebbf6ded565050521a39e3b2e9fa0410a9bf966f5cc2c8f4960afff9f66c821";
/// SHA-512 with the largest salt (256 - 64 - 2 = 190 bytes), `cryptography`'s PSS.MAX_LENGTH.
const RSA_PSS_SHA512_MAX: &str = "41e43b3ef4d8823cbfc2308a94b35d830b006d64e14f0750228847123edacf77c8d36e5a50912f4fc0515bd634034a264bdf423e5a71f59ff536f8938dc0543c6003d26ada91649180ec6bbbf775e5059a72e90306b266513b33a028c402491fee63a164f87154b4a2e66ad9e71efc7e3851334545421871ba5177df1ed38edd17e851970d6dfd57cb14ba52236d390ccdb9dc2b07f1e2d6368dd336e4fc2e1da31d0205944963ad6fedaf53c3df56588766ec0548294b61dfbd4dd613ea1562f8f6ebd521bba4f30b82806bbc2c9b5f22b585798fa6233b20580e85066a0911c585f70e6746e77c8f96bf1098ece0cdf45805ad861f0cfbede7cf06781a75bc";

fn pkcs1(modulus: &str, hash: ICrypto::RsaHash, message: &[u8], sig: &str) -> Result<bool, String> {
    call::<Crypto, _>(ICrypto::rsaPkcs1v15VerifyCall {
        modulus: bytes(modulus),
        exponent: bytes("010001"),
        hash,
        message: message.to_vec().into(),
        signature: bytes(sig),
    })
}

fn pss(hash: ICrypto::RsaHash, salt: u64, message: &[u8], sig: &str) -> Result<bool, String> {
    call::<Crypto, _>(ICrypto::rsaPssVerifyCall {
        modulus: bytes(RSA_N),
        exponent: bytes("010001"),
        hash,
        saltLength: U256::from(salt),
        message: message.to_vec().into(),
        signature: bytes(sig),
    })
}

#[test]
fn rsa_pkcs1v15_verifies_signatures_of_another_implementation() {
    use ICrypto::RsaHash::{Sha256, Sha384};
    assert_eq!(pkcs1(RSA_N, Sha256, b"consortia", RSA_PKCS1_SHA256), Ok(true));
    assert_eq!(pkcs1(RSA_N, Sha384, b"consortia", RSA_PKCS1_SHA384), Ok(true));
}

#[test]
fn rsa_pkcs1v15_answers_false_for_a_wrong_message_or_hash() {
    use ICrypto::RsaHash::{Sha256, Sha384};
    assert_eq!(pkcs1(RSA_N, Sha256, b"Consortia", RSA_PKCS1_SHA256), Ok(false));
    assert_eq!(pkcs1(RSA_N, Sha384, b"consortia", RSA_PKCS1_SHA256), Ok(false));
    assert_eq!(pkcs1(RSA_N, Sha256, b"consortia", &RSA_PKCS1_SHA256[2..]), Ok(false));
}

#[test]
fn rsa_pss_verifies_with_the_signers_salt_length() {
    use ICrypto::RsaHash::{Sha256, Sha512};
    assert_eq!(pss(Sha256, 32, b"consortia", RSA_PSS_SHA256_SALT32), Ok(true));
    assert_eq!(pss(Sha512, 190, b"consortia", RSA_PSS_SHA512_MAX), Ok(true));
    assert_eq!(pss(Sha256, 20, b"consortia", RSA_PSS_SHA256_SALT32), Ok(false));
    assert_eq!(pss(Sha256, 32, b"consortiA", RSA_PSS_SHA256_SALT32), Ok(false));
    assert_eq!(pss(Sha256, u64::MAX, b"consortia", RSA_PSS_SHA256_SALT32), Ok(false));
}

#[test]
fn rsa_refuses_moduli_outside_1024_to_4096_bits() {
    use ICrypto::RsaHash::Sha256;
    let small = "ff".repeat(127); // 1016 bits
    let reason = pkcs1(&small, Sha256, b"x", RSA_PKCS1_SHA256).unwrap_err();
    assert!(reason.contains("the modulus has 1016 bits; 1024 to 4096"), "{reason}");
    let large = "ff".repeat(513);
    let reason = pkcs1(&large, Sha256, b"x", RSA_PKCS1_SHA256).unwrap_err();
    assert!(reason.contains("longer than 4096 bits"), "{reason}");
}

#[test]
fn rsa_gas_grows_with_the_square_of_the_modulus() {
    let gas = |bits: usize| {
        Crypto::gas(&ICrypto::ICryptoCalls::rsaPssVerify(ICrypto::rsaPssVerifyCall {
            modulus: vec![0xff; bits / 8].into(),
            exponent: Bytes::new(),
            hash: ICrypto::RsaHash::Sha256,
            saltLength: U256::ZERO,
            message: Bytes::new(),
            signature: Bytes::new(),
        }))
    };
    assert_eq!(gas(2048), super::crypto::RSA_2048_GAS);
    assert_eq!(gas(4096), 4 * super::crypto::RSA_2048_GAS);
    assert_eq!(gas(8192), gas(4096), "refused before any work, so charged as the largest");
}

// --- IBase64 ---

#[test]
fn base64_round_trips_in_both_alphabets() {
    let data: Bytes = vec![0xfb, 0xff, 0xbf, 0x00, 0x61].into();
    let text = call::<Base64, _>(IBase64::encodeCall { data: data.clone() }).unwrap();
    assert_eq!(text, "+/+/AGE=");
    assert_eq!(call::<Base64, _>(IBase64::decodeCall { text }), Ok(data.clone()));
    let text = call::<Base64, _>(IBase64::encodeUrlCall { data: data.clone() }).unwrap();
    assert_eq!(text, "-_-_AGE");
    assert_eq!(call::<Base64, _>(IBase64::decodeUrlCall { text }), Ok(data));
}

#[test]
fn base64_decode_takes_text_with_or_without_padding() {
    for text in ["aGk=", "aGk"] {
        let decoded = call::<Base64, _>(IBase64::decodeCall { text: text.into() });
        assert_eq!(decoded, Ok(Bytes::from(b"hi".to_vec())));
    }
}

#[test]
fn base64_decode_reverts_naming_the_bad_character() {
    let reason = call::<Base64, _>(IBase64::decodeCall { text: "aG!k".into() }).unwrap_err();
    assert!(reason.starts_with("IBase64: not Base64: Invalid symbol 33, offset 2"), "{reason}");
    assert!(call::<Base64, _>(IBase64::decodeUrlCall { text: "a+b/".into() }).is_err());
}

// --- IJson ---

const ORDER: &str = r#"{"id":"po-7","paid":true,"total":12.5,"qty":3,"debt":-4,
    "wei":"115792089237316195423570985008687907853269984665640564039457584007913129639935",
    "items":[{"sku":"A-1"},{"sku":"B\"2"}],"a/b":{"~c":"esc"},"none":null}"#;

fn get(pointer: &str) -> Result<String, String> {
    call::<Json, _>(IJson::getCall { json: ORDER.into(), pointer: pointer.into() })
}

#[test]
fn json_get_unquotes_strings_and_gives_other_values_as_written() {
    assert_eq!(get("/id").as_deref(), Ok("po-7"));
    assert_eq!(get("/items/1/sku").as_deref(), Ok("B\"2"));
    assert_eq!(get("/total").as_deref(), Ok("12.5"));
    assert_eq!(get("/none").as_deref(), Ok("null"));
    assert_eq!(get("/items/0").as_deref(), Ok(r#"{"sku":"A-1"}"#));
}

#[test]
fn json_pointer_escapes_name_slashes_and_tildes() {
    assert_eq!(get("/a~1b/~0c").as_deref(), Ok("esc"));
    let reason = get("/a~2b").unwrap_err();
    assert!(reason.contains("has a `~` not followed by 0 or 1"), "{reason}");
}

#[test]
fn json_get_reverts_for_what_the_pointer_does_not_name() {
    for pointer in ["/missing", "/items/2", "/items/01", "/items/-", "/id/0"] {
        assert_eq!(get(pointer), Err(format!("IJson: no value at `{pointer}`")));
    }
    let reason = get("id").unwrap_err();
    assert!(reason.contains("must be empty or start with `/`"), "{reason}");
}

#[test]
fn json_get_uint_reads_numbers_and_digit_strings_exactly() {
    let uint = |pointer: &str| {
        call::<Json, _>(IJson::getUintCall { json: ORDER.into(), pointer: pointer.into() })
    };
    assert_eq!(uint("/qty"), Ok(U256::from(3)));
    assert_eq!(uint("/wei"), Ok(U256::MAX));
    for refused in ["/total", "/debt", "/id"] {
        assert!(uint(refused).is_err(), "{refused}");
    }
    let too_big =
        r#"{"n":115792089237316195423570985008687907853269984665640564039457584007913129639936}"#;
    let reason = call::<Json, _>(IJson::getUintCall { json: too_big.into(), pointer: "/n".into() })
        .unwrap_err();
    assert!(reason.contains("is not a uint256"), "{reason}");
}

#[test]
fn json_get_int_reads_negative_numbers() {
    let int = call::<Json, _>(IJson::getIntCall { json: ORDER.into(), pointer: "/debt".into() });
    assert_eq!(int, Ok(I256::try_from(-4).unwrap()));
}

#[test]
fn json_get_bool_and_length_check_the_value_type() {
    let flag =
        |p: &str| call::<Json, _>(IJson::getBoolCall { json: ORDER.into(), pointer: p.into() });
    assert_eq!(flag("/paid"), Ok(true));
    assert!(flag("/none").unwrap_err().contains("is not a boolean: null"));
    let len =
        |p: &str| call::<Json, _>(IJson::lengthCall { json: ORDER.into(), pointer: p.into() });
    assert_eq!(len("/items"), Ok(U256::from(2)));
    assert_eq!(len(""), Ok(U256::from(9)));
    assert!(len("/qty").unwrap_err().contains("is not an array or an object"));
}

#[test]
fn json_has_answers_without_reverting_for_missing_values() {
    let has = |p: &str| call::<Json, _>(IJson::hasCall { json: ORDER.into(), pointer: p.into() });
    assert_eq!(has("/items/1/sku"), Ok(true));
    assert_eq!(has("/items/1/price"), Ok(false));
}

#[test]
fn json_reverts_on_a_document_that_is_not_json_or_nests_too_deep() {
    let has = |json: String| call::<Json, _>(IJson::hasCall { json, pointer: String::new() });
    assert!(has("{\"a\":".into()).unwrap_err().starts_with("IJson: not JSON: "));
    assert!(has("{} {}".into()).unwrap_err().starts_with("IJson: not JSON: "));
    let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
    assert!(has(deep).unwrap_err().contains("nests deeper than 128 levels"));
    let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert_eq!(has(ok), Ok(true));
}

#[test]
fn json_gas_charges_the_document_once_per_segment_walked() {
    let gas = |pointer: &str| {
        Json::gas(&IJson::IJsonCalls::get(IJson::getCall {
            json: "x".repeat(64),
            pointer: pointer.into(),
        }))
    };
    assert_eq!(gas(""), 200 + 3 * 2);
    assert_eq!(gas("/a/b"), 200 + 3 * 2 * 3);
}

// --- calling conventions ---

#[test]
fn an_unknown_selector_reverts_naming_it() {
    let result = run_one::<Json>(&[1, 2, 3, 4], GAS);
    assert_eq!(
        revert_reason(&result.output).unwrap(),
        "IJson: unknown function selector 0x01020304; see its Solidity interface"
    );
}

#[test]
fn malformed_arguments_revert_without_charging() {
    let mut input = ICrypto::sm3Call { data: b"abc".to_vec().into() }.abi_encode();
    input.truncate(40);
    let result = run_one::<Crypto>(&input, GAS);
    assert_eq!(result.result, InstructionResult::Revert);
    assert_eq!(result.gas.total_gas_spent(), 0);
    assert!(revert_reason(&result.output).unwrap().contains("malformed arguments"));
}

#[test]
fn a_call_without_the_gas_runs_out_before_any_work() {
    let input = ICrypto::sm2VerifyCall {
        publicKey: Bytes::new(),
        message: Bytes::new(),
        signature: Bytes::new(),
    }
    .abi_encode();
    let result = run_one::<Crypto>(&input, super::crypto::SM2_GAS - 1);
    assert_eq!(result.result, InstructionResult::PrecompileOOG);
    let result = run_one::<Crypto>(&input, super::crypto::SM2_GAS);
    assert_eq!(result.gas.total_gas_spent(), super::crypto::SM2_GAS, "reverts, charged its cost");
}
