//! What the contract extensions cost, called as a contract would (an `eth_call` through the
//! EVM), beside Ethereum's `ecrecover` (3,000 gas) and the identity precompile (the floor every
//! call pays). Their gas prices (`src/extensions`) are set at ecrecover's rate from these.

use alloy_sol_types::SolCall;
use consortia_crypto::{Address, Hash, PrivateKey, Scheme, Suite};
use consortia_execution::extensions::{self, IBase64, ICrypto, IJson};
use consortia_execution::{BlockContext, Executor};
use consortia_storage::{StateChanges, StateReader};
use consortia_types::{EvmCall, Genesis};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// The genesis state, in memory: these calls read no state but the chain's parameters.
struct Memory(StateChanges);

impl StateReader for Memory {
    fn get(&self, key: &[u8]) -> consortia_storage::Result<Option<Vec<u8>>> {
        Ok(self.0.get(key).cloned().flatten())
    }
}

fn precompile(n: u8) -> Address {
    let mut a = [0u8; 20];
    a[19] = n;
    Address(a)
}

fn calls() -> Vec<(&'static str, Address, Vec<u8>)> {
    let kib = vec![0x5a; 1024];
    let ecdsa = PrivateKey::generate(Scheme::Secp256k1);
    let signature = ecdsa.sign(b"x").0;
    let digest = consortia_crypto::keccak256(b"x");
    let mut ecrecover = digest.0.to_vec();
    ecrecover.extend([0u8; 31]);
    ecrecover.push(27 + signature[64]);
    ecrecover.extend(&signature[..64]);
    let sm2 = PrivateKey::generate(Scheme::Sm2);
    let ed = PrivateKey::generate(Scheme::Ed25519);
    let doc = format!(
        r#"{{"order":{{"items":[{}],"total":"12345"}}}}"#,
        vec![r#"{"sku":"A-1","qty":3,"note":"padding padding padding"}"#; 18].join(",")
    );
    vec![
        ("identity/32B", precompile(4), vec![0; 32]),
        ("ecrecover", precompile(1), ecrecover),
        (
            "sm3/1KiB",
            extensions::CRYPTO_ADDRESS,
            ICrypto::sm3Call { data: kib.clone().into() }.abi_encode(),
        ),
        (
            "sm2Verify/32B",
            extensions::CRYPTO_ADDRESS,
            ICrypto::sm2VerifyCall {
                publicKey: sm2.public_key().as_bytes().to_vec().into(),
                message: vec![1; 32].into(),
                signature: sm2.sign(&[1; 32]).0.into(),
            }
            .abi_encode(),
        ),
        (
            "ed25519Verify/32B",
            extensions::CRYPTO_ADDRESS,
            ICrypto::ed25519VerifyCall {
                publicKey: <[u8; 32]>::try_from(ed.public_key().as_bytes())
                    .expect("32 bytes")
                    .into(),
                message: vec![1; 32].into(),
                signature: ed.sign(&[1; 32]).0.into(),
            }
            .abi_encode(),
        ),
        (
            "rsaPkcs1v15Verify/2048",
            extensions::CRYPTO_ADDRESS,
            ICrypto::rsaPkcs1v15VerifyCall {
                modulus: hex(RSA_N).into(),
                exponent: vec![1, 0, 1].into(),
                hash: ICrypto::RsaHash::Sha256,
                message: b"consortia".to_vec().into(),
                signature: hex(RSA_PKCS1_SHA256).into(),
            }
            .abi_encode(),
        ),
        (
            "base64.encode/1KiB",
            extensions::BASE64_ADDRESS,
            IBase64::encodeCall { data: kib.into() }.abi_encode(),
        ),
        (
            "json.getUint/1KiB/3",
            extensions::JSON_ADDRESS,
            IJson::getUintCall { json: doc, pointer: "/order/items/17/qty".into() }.abi_encode(),
        ),
    ]
}

fn hex(s: &str) -> Vec<u8> {
    alloy_primitives::hex::decode(s).expect("hex")
}

// A 2048-bit key and a PKCS#1 v1.5 SHA-256 signature over "consortia" (the unit tests' vector).
const RSA_N: &str = "e2ad05b2da422b8095ce20da81d5263f3a5939b33eb89e72685cc5eb88c657b7e26df1cf64fff841b3da35b3c4dd88892f75a46a41f6fe621dca1c3d62838a0ee443903a2917f6c0fc8e68ec4ad743f9bbb96c0d00e6bf14114d95ee7d89e0bfe811aa5b566f3147c8f6c80639bcd43acd08d74b11c5c79ddf8c0c1e185966f9827b07029df3f61c9190d8c767b169ae54f2b62d49650e1450641098e49d9e22d4309768bac8399131078a54b9eb29dcb632ceaffbed571eaf81f37d4cb192c56c88024b82c37cc9d39174962e70956b2942197a88c1e0e18a8410fa54e50d6c1b00c11d2d8ff73b959f2c32e17cde7819b3fb3cbf2d3b0171a792eaca4abcb3";
const RSA_PKCS1_SHA256: &str = "3f559c27efa55ce2e296a6beb2842c149d93477ac6c498a850b2f1867af297bd1883a1b60ee66a1fa0f6e06f049e950210db2b0468c07ea682dd410ad9453fbdd342825f63ebdcd66ab4b6ecd64558070e16c5a481bd8860417c96c1a1be72206e1580aa9c20920ad20d43a49723e27443cf49915fbabfa0811362ba0784d2430bf280338a84d37bd2fdcf262a969633c5c2e4d0a90f8daf433704929dc0a7d64429673f3171ebcd80edeb8be7daccb9704d64f086a67352e4edc5c79912260be142e83f8f2a919bc22aaa31f1b9738b481f3443bf2139fbe3491e51e832431fae64c8a20e546bc027695d541c24a67228b57ce5eca61789472ba5eab51a3bfa";

fn bench(c: &mut Criterion) {
    let genesis = Genesis::solo(
        1,
        "bench",
        Suite::Standard,
        PrivateKey::generate(Scheme::Ed25519).public_key(),
        0,
    );
    let executor = Executor::new(&genesis);
    let state = Memory(Executor::genesis_state(&genesis));
    let ctx = BlockContext {
        height: 1,
        time_ms: 1,
        proposer: Address::default(),
        parent_hash: Hash::ZERO,
    };
    let mut group = c.benchmark_group("extensions");
    for (name, to, input) in calls() {
        let call = EvmCall { to: Some(to), value: 0, input, gas_limit: 1_000_000 };
        let outcome = executor.call(&state, ctx, Address::default(), call.clone()).expect("runs");
        assert!(
            matches!(outcome, consortia_execution::CallOutcome::Success { .. }),
            "{name} failed: {outcome:?}"
        );
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| executor.call(&state, ctx, Address::default(), call.clone()).expect("runs"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
