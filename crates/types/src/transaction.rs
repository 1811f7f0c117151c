use std::collections::BTreeMap;
use std::sync::OnceLock;

use alloy_consensus::{SignableTransaction, Signed, Transaction as _, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::U256;
use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Address, Hash, HashAlgorithm, PrivateKey, PublicKey, Signature, keccak256};

use crate::{TypesError, encode};

/// Domain separation for transaction signatures: a signed transaction can never be replayed
/// as a vote or any other signed object.
const TX_SIGNING_DOMAIN: &[u8] = b"consortia/tx/v1\0";

/// What a transaction asks the chain to do.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Payload {
    /// Write a notarization record (see the notary system contract in `consortia-execution`).
    Notarize(NotarizeRecord),
    /// Create or call an EVM contract.
    Evm(EvmCall),
}

/// A notarization record: who notarized what (by content hash), under an id chosen by the
/// client, with searchable key fields and free metadata. Write-once per id.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NotarizeRecord {
    pub id: String,
    pub fields: BTreeMap<String, String>,
    pub content_hash: Hash,
    pub metadata: String,
}

/// Size limits of a notarization record, checked statelessly at admission.
#[derive(Clone, Copy, Debug)]
pub struct NotaryLimits {
    pub max_id_len: usize,
    pub max_fields: usize,
    pub max_field_key_len: usize,
    pub max_field_value_len: usize,
    pub max_metadata_len: usize,
}

pub const NOTARY_LIMITS: NotaryLimits = NotaryLimits {
    max_id_len: 128,
    max_fields: 32,
    max_field_key_len: 64,
    max_field_value_len: 1024,
    max_metadata_len: 64 * 1024,
};

impl NotarizeRecord {
    /// Checks the limits of [`NOTARY_LIMITS`].
    pub fn check(&self) -> Result<(), TypesError> {
        let l = NOTARY_LIMITS;
        let bad = |m: String| Err(TypesError::InvalidPayload(m));
        if self.id.is_empty() || self.id.len() > l.max_id_len {
            return bad(format!("record id must be 1 to {} bytes", l.max_id_len));
        }
        if self.id.chars().any(char::is_control) {
            return bad("record id must not contain control characters".into());
        }
        if self.fields.len() > l.max_fields {
            return bad(format!("at most {} fields", l.max_fields));
        }
        for (k, v) in &self.fields {
            if k.is_empty() || k.len() > l.max_field_key_len {
                return bad(format!("field names must be 1 to {} bytes", l.max_field_key_len));
            }
            if v.len() > l.max_field_value_len {
                return bad(format!("field `{k}` is over {} bytes", l.max_field_value_len));
            }
        }
        if self.metadata.len() > l.max_metadata_len {
            return bad(format!("metadata is over {} bytes", l.max_metadata_len));
        }
        Ok(())
    }
}

/// An EVM call carried by a native envelope: the same call an Ethereum transaction makes, signed
/// with the chain's own schemes (ed25519, SM2, secp256k1). Native envelopes pay no gas price.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EvmCall {
    /// `None` creates a contract from `input` (its init code).
    pub to: Option<Address>,
    pub value: u128,
    pub input: Vec<u8>,
    pub gas_limit: u64,
}

/// The signed part of a native transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxBody {
    /// Binds the transaction to one chain (no cross-chain replay).
    pub chain_id: u64,
    /// The sender's sequence number: exactly one transaction per nonce is ever committed.
    pub nonce: u64,
    /// The sender's key; its scheme tag says how to verify `signature`.
    pub public_key: PublicKey,
    pub payload: Payload,
}

/// A transaction in the chain's own envelope: a body and its signature.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NativeTx {
    pub body: TxBody,
    pub signature: Signature,
}

/// The notary system contract's reserved address (`0x…1001`; the system contracts have
/// `0x…1000`–`0x…1fff`). Its events carry it, and notarizations are calls to it.
pub const NOTARY_ADDRESS: Address =
    Address([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x01]);

/// The governance system contract's address (`contracts/system/IGovernance.sol`).
pub const GOVERNANCE_ADDRESS: Address =
    Address([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00]);

/// The governance contract's proposal kinds by number (its ABI's `uint8 kind`), as the APIs
/// and the CLI name them.
pub const GOVERNANCE_KINDS: [&str; 13] = [
    "add_member",
    "remove_member",
    "add_node",
    "remove_node",
    "set_power",
    "set_policy",
    "approve_code",
    "upgrade",
    "freeze",
    "unfreeze",
    "revoke",
    "set_parameter",
    "rotate_ca",
];

/// The governance contract's policy rules by number (its ABI's `uint8 rule`), as the APIs and
/// the CLI name them.
pub const GOVERNANCE_RULES: [&str; 5] =
    ["majority", "two_thirds", "unanimous", "n_of_m", "leader_only"];

/// A transaction: the chain's own envelope, or an Ethereum transaction exactly as a web3
/// client signed it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Transaction {
    Native(NativeTx),
    Ethereum(EthTx),
}

impl Transaction {
    /// The bytes a native sender signs: a domain tag, then the canonical body.
    pub fn signing_bytes(body: &TxBody) -> Vec<u8> {
        let mut out = TX_SIGNING_DOMAIN.to_vec();
        body.serialize(&mut out).expect("writing into a Vec cannot fail");
        out
    }

    /// Signs a native transaction.
    pub fn sign(body: TxBody, key: &PrivateKey) -> Self {
        let signature = key.sign(&Self::signing_bytes(&body));
        Transaction::Native(NativeTx { body, signature })
    }

    /// The transaction's id: for a native one, the chain's hash of its canonical encoding; for
    /// an Ethereum one, keccak-256 of its raw bytes, as every Ethereum client computes it.
    pub fn hash(&self, algo: HashAlgorithm) -> Hash {
        match self {
            Transaction::Native(_) => algo.digest(&encode(self)),
            Transaction::Ethereum(tx) => keccak256(&tx.raw),
        }
    }

    /// Who sent it. For an Ethereum transaction this is the recovered signer, so call it only
    /// on transactions whose signature was verified ([`Transaction::verify_signature`]): one that
    /// recovers no signer reports the zero address, which holds nothing and signed nothing.
    pub fn sender(&self) -> Address {
        match self {
            Transaction::Native(tx) => tx.body.public_key.address(),
            Transaction::Ethereum(tx) => tx.sender().unwrap_or(Address([0; 20])),
        }
    }

    /// Who it calls: the contract (or account) of an EVM call, the notary system contract for
    /// a notarization, nothing for a contract creation.
    pub fn to(&self) -> Option<Address> {
        match self.evm_call() {
            Some(call) => call.to,
            None => Some(NOTARY_ADDRESS),
        }
    }

    pub fn nonce(&self) -> u64 {
        match self {
            Transaction::Native(tx) => tx.body.nonce,
            Transaction::Ethereum(tx) => tx.envelope.nonce(),
        }
    }

    /// The chain it is signed for (`None`: an Ethereum transaction without EIP-155 protection).
    pub fn chain_id(&self) -> Option<u64> {
        match self {
            Transaction::Native(tx) => Some(tx.body.chain_id),
            Transaction::Ethereum(tx) => tx.envelope.chain_id(),
        }
    }

    /// Decodes wire bytes, refusing anything over `max_bytes` before looking inside.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Self, TypesError> {
        if bytes.len() > max_bytes {
            return Err(TypesError::TooLarge { size: bytes.len(), limit: max_bytes });
        }
        crate::decode(bytes)
    }

    /// Every check that needs no state except the signature: chain id and payload limits.
    /// Signatures are checked separately (in batches) by the mempool.
    pub fn check_stateless(&self, chain_id: u64) -> Result<(), TypesError> {
        match self.chain_id() {
            Some(got) if got == chain_id => {}
            Some(got) => return Err(TypesError::WrongChain { expected: chain_id, got }),
            None => return Err(TypesError::Unprotected { chain_id }),
        }
        match self {
            Transaction::Native(tx) => match &tx.body.payload {
                Payload::Notarize(record) => record.check(),
                Payload::Evm(call) => {
                    check_evm(call.gas_limit, call.to.is_none(), call.input.len())
                }
            },
            Transaction::Ethereum(tx) => {
                let e = &tx.envelope;
                if e.value() > U256::from(u128::MAX) {
                    return Err(TypesError::InvalidPayload("value over 2^128 - 1".into()));
                }
                if e.max_priority_fee_per_gas().is_some_and(|p| p > e.max_fee_per_gas()) {
                    return Err(TypesError::InvalidPayload(
                        "max priority fee per gas is higher than max fee per gas".into(),
                    ));
                }
                check_evm(e.gas_limit(), e.is_create(), e.input().len())
            }
        }
    }

    pub fn verify_signature(&self) -> Result<(), TypesError> {
        match self {
            Transaction::Native(tx) => {
                Ok(tx.body.public_key.verify(&Self::signing_bytes(&tx.body), &tx.signature)?)
            }
            Transaction::Ethereum(tx) => tx.sender().map(|_| ()),
        }
    }

    /// The EVM call this transaction makes, if it makes one.
    pub fn evm_call(&self) -> Option<EvmCall> {
        match self {
            Transaction::Native(tx) => match &tx.body.payload {
                Payload::Evm(call) => Some(call.clone()),
                Payload::Notarize(_) => None,
            },
            Transaction::Ethereum(tx) => Some(tx.call()),
        }
    }
}

/// Largest init code a contract creation may carry (EIP-3860).
pub const MAX_INITCODE_BYTES: usize = 2 * 24_576;

fn check_evm(gas_limit: u64, create: bool, input_len: usize) -> Result<(), TypesError> {
    if gas_limit < 21_000 {
        return Err(TypesError::InvalidPayload(format!(
            "gas limit {gas_limit} is below the intrinsic 21000"
        )));
    }
    if create && input_len > MAX_INITCODE_BYTES {
        return Err(TypesError::InvalidPayload(format!(
            "init code is {input_len} bytes, over the {MAX_INITCODE_BYTES}-byte limit (EIP-3860)"
        )));
    }
    Ok(())
}

/// An Ethereum transaction (legacy with EIP-155, EIP-2930 or EIP-1559) kept as the raw
/// EIP-2718 bytes its sender signed; the encoding is those bytes, so its hash is the one
/// Ethereum tools compute. The signer is recovered once and remembered.
#[derive(Clone, Debug)]
pub struct EthTx {
    raw: Vec<u8>,
    envelope: Box<TxEnvelope>,
    sender: OnceLock<Result<Address, String>>,
}

impl EthTx {
    /// Decodes raw bytes as `eth_sendRawTransaction` receives them. Blob (EIP-4844) and
    /// set-code (EIP-7702) transactions are refused: a consortium chain has no blob market and
    /// no delegated accounts.
    pub fn decode(raw: &[u8]) -> Result<Self, TypesError> {
        let envelope = TxEnvelope::decode_2718_exact(raw)
            .map_err(|e| TypesError::Decode(format!("Ethereum transaction: {e}")))?;
        match envelope {
            TxEnvelope::Eip4844(_) => Err(TypesError::InvalidPayload(
                "blob transactions (EIP-4844) are not supported".into(),
            )),
            TxEnvelope::Eip7702(_) => Err(TypesError::InvalidPayload(
                "set-code transactions (EIP-7702) are not supported".into(),
            )),
            _ => Ok(EthTx {
                raw: raw.to_vec(),
                envelope: Box::new(envelope),
                sender: OnceLock::new(),
            }),
        }
    }

    /// Signs an unsigned Ethereum transaction (`TxLegacy` with a chain id, `TxEip2930`,
    /// `TxEip1559`) with a secp256k1 key, as a wallet does.
    pub fn sign<T>(tx: T, key: &PrivateKey) -> Result<Self, TypesError>
    where
        T: SignableTransaction<alloy_primitives::Signature>,
        TxEnvelope: From<Signed<T>>,
    {
        let PrivateKey::Secp256k1(k) = key else {
            return Err(TypesError::InvalidPayload(
                "Ethereum transactions are signed with secp256k1 keys".into(),
            ));
        };
        let (sig, recid) = k
            .sign_prehash_recoverable(tx.signature_hash().as_slice())
            .map_err(|e| TypesError::EthSignature(e.to_string()))?;
        let bytes = sig.to_bytes();
        let signature = alloy_primitives::Signature::new(
            U256::from_be_slice(&bytes[..32]),
            U256::from_be_slice(&bytes[32..]),
            recid.is_y_odd(),
        );
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        EthTx::decode(&envelope.encoded_2718())
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The call it makes (a value over 2^128 - 1, refused at admission, reads as the maximum).
    pub fn call(&self) -> EvmCall {
        let e = &self.envelope;
        EvmCall {
            to: e.to().map(|a| Address(a.0.0)),
            value: e.value().try_into().unwrap_or(u128::MAX),
            input: e.input().to_vec(),
            gas_limit: e.gas_limit(),
        }
    }

    pub fn envelope(&self) -> &TxEnvelope {
        &self.envelope
    }

    /// The signer (recovered on first use, with libsecp256k1: 45 µs here against k256's
    /// 222 µs, and recovery is most of a node's work per Ethereum transaction). A signature
    /// with a high `s` is refused (EIP-2), as Ethereum does.
    pub fn sender(&self) -> Result<Address, TypesError> {
        self.sender
            .get_or_init(|| {
                let signature = self.envelope.signature();
                if signature.normalize_s().is_some() {
                    return Err(
                        "signature s is in the upper half of the curve order (EIP-2)".into()
                    );
                }
                signature
                    .recover_address_from_prehash(&self.envelope.signature_hash())
                    .map(|a| Address(a.0.0))
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(TypesError::EthSignature)
    }

    /// Takes `sender` as the signer without recovering it. The caller vouches that it was
    /// recovered from these very bytes: e.g. the pool admitted a transaction with this hash
    /// (keccak of the bytes) and recovered its signer then.
    pub fn assume_sender(&self, sender: Address) {
        // Already recovered: the same answer.
        let _ = self.sender.set(Ok(sender));
    }
}

impl PartialEq for EthTx {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for EthTx {}

impl BorshSerialize for EthTx {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        self.raw.serialize(writer)
    }
}

impl BorshDeserialize for EthTx {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let raw = Vec::<u8>::deserialize_reader(reader)?;
        EthTx::decode(&raw)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use consortia_crypto::Scheme;
    use proptest::prelude::*;

    use super::*;

    fn sample(key: &PrivateKey) -> Transaction {
        Transaction::sign(
            TxBody {
                chain_id: 7,
                nonce: 0,
                public_key: key.public_key(),
                payload: Payload::Notarize(NotarizeRecord {
                    id: "doc-1".into(),
                    fields: BTreeMap::from([("owner".into(), "acme".into())]),
                    content_hash: HashAlgorithm::Sha256.digest(b"contract.pdf"),
                    metadata: "{}".into(),
                }),
            },
            key,
        )
    }

    #[test]
    fn round_trip_and_checks() {
        for scheme in Scheme::ALL {
            let key = PrivateKey::generate(scheme);
            let tx = sample(&key);
            let bytes = encode(&tx);
            let back = Transaction::decode(&bytes, 1 << 20).unwrap();
            assert_eq!(back, tx);
            back.verify_signature().unwrap();
            back.check_stateless(7).unwrap();
            assert_eq!(
                back.check_stateless(8),
                Err(TypesError::WrongChain { expected: 8, got: 7 })
            );
        }
    }

    #[test]
    fn refuses_oversized_trailing_and_tampered() {
        let key = PrivateKey::generate(Scheme::Ed25519);
        let tx = sample(&key);
        let mut bytes = encode(&tx);
        assert!(matches!(Transaction::decode(&bytes, 10), Err(TypesError::TooLarge { .. })));
        bytes.push(0);
        assert!(matches!(Transaction::decode(&bytes, 1 << 20), Err(TypesError::Decode(_))));
        let Transaction::Native(mut forged) = tx.clone() else { unreachable!() };
        forged.body.nonce = 1;
        assert!(Transaction::Native(forged).verify_signature().is_err());
    }

    #[test]
    fn payload_limits() {
        let key = PrivateKey::generate(Scheme::Ed25519);
        let with = |edit: &dyn Fn(&mut NotarizeRecord)| {
            let Transaction::Native(mut tx) = sample(&key) else { unreachable!() };
            let Payload::Notarize(record) = &mut tx.body.payload else { unreachable!() };
            edit(record);
            Transaction::Native(tx).check_stateless(7)
        };
        let invalid = |r| matches!(r, Err(TypesError::InvalidPayload(_)));
        assert!(invalid(with(&|r| r.id = String::new())));
        assert!(invalid(with(&|r| r.id = "x".repeat(129))));
        assert!(invalid(with(&|r| {
            r.fields = (0..33).map(|i| (format!("k{i}"), String::new())).collect()
        })));
        assert!(with(&|_| {}).is_ok());
    }

    fn eth_key() -> PrivateKey {
        PrivateKey::from_secret_bytes(Scheme::Secp256k1, &[0x46; 32]).unwrap()
    }

    fn eip1559(chain_id: u64) -> alloy_consensus::TxEip1559 {
        alloy_consensus::TxEip1559 {
            chain_id,
            nonce: 3,
            gas_limit: 50_000,
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
            to: alloy_primitives::TxKind::Call(alloy_primitives::Address::repeat_byte(7)),
            value: U256::from(5),
            access_list: Default::default(),
            input: vec![1, 2, 3].into(),
        }
    }

    #[test]
    fn ethereum_transactions_keep_their_bytes_hash_and_signer() {
        let key = eth_key();
        let eth = EthTx::sign(eip1559(7), &key).unwrap();
        let tx = Transaction::Ethereum(eth.clone());
        // The hash is keccak of the raw EIP-2718 bytes whatever the chain's hash algorithm.
        assert_eq!(tx.hash(HashAlgorithm::Sm3), keccak256(eth.raw()));
        assert_eq!(tx.sender(), key.public_key().address());
        assert_eq!((tx.nonce(), tx.chain_id()), (3, Some(7)));
        tx.verify_signature().unwrap();
        tx.check_stateless(7).unwrap();
        assert!(matches!(tx.check_stateless(8), Err(TypesError::WrongChain { .. })));
        let back = Transaction::decode(&encode(&tx), 1 << 20).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.sender(), key.public_key().address());
        let call = tx.evm_call().unwrap();
        assert_eq!((call.value, call.input, call.gas_limit), (5, vec![1, 2, 3], 50_000));
    }

    #[test]
    fn ethereum_transactions_that_cannot_run_here_are_refused() {
        let key = eth_key();
        // Legacy without EIP-155: replayable on any chain.
        let legacy = alloy_consensus::TxLegacy {
            chain_id: None,
            nonce: 0,
            gas_price: 0,
            gas_limit: 21_000,
            to: alloy_primitives::TxKind::Create,
            value: U256::ZERO,
            input: Default::default(),
        };
        let tx = Transaction::Ethereum(EthTx::sign(legacy, &key).unwrap());
        assert_eq!(tx.check_stateless(7), Err(TypesError::Unprotected { chain_id: 7 }));
        // Below intrinsic gas; a priority fee above the fee cap.
        let mut low = eip1559(7);
        low.gas_limit = 20_999;
        let low = Transaction::Ethereum(EthTx::sign(low, &key).unwrap());
        assert!(matches!(low.check_stateless(7), Err(TypesError::InvalidPayload(_))));
        let mut fees = eip1559(7);
        fees.max_priority_fee_per_gas = 2;
        fees.max_fee_per_gas = 1;
        let fees = Transaction::Ethereum(EthTx::sign(fees, &key).unwrap());
        assert!(matches!(fees.check_stateless(7), Err(TypesError::InvalidPayload(_))));
        // Garbage and trailing bytes.
        assert!(EthTx::decode(&[0x02, 0xc0]).is_err());
        let mut raw = EthTx::sign(eip1559(7), &key).unwrap().raw().to_vec();
        raw.push(0);
        assert!(EthTx::decode(&raw).is_err());
        // A signature that recovers another signer is a different sender, not this one; one
        // that recovers none is refused.
        let mut raw = EthTx::sign(eip1559(7), &key).unwrap().raw().to_vec();
        let n = raw.len();
        raw[n - 1] ^= 0xff;
        raw[n - 33] ^= 0xff;
        if let Ok(bad) = EthTx::decode(&raw) {
            assert_ne!(bad.sender().ok(), Some(key.public_key().address()));
        }
        // The malleable twin of a valid signature (s' = n - s, parity flipped) recovers the
        // same signer mathematically, and is refused (EIP-2).
        let signed = EthTx::sign(eip1559(7), &key).unwrap();
        let TxEnvelope::Eip1559(s) = signed.envelope() else { unreachable!() };
        let sig = s.signature();
        let n = U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .unwrap();
        let twin = alloy_primitives::Signature::new(sig.r(), n - sig.s(), !sig.v());
        let twin = TxEnvelope::from(s.tx().clone().into_signed(twin));
        let twin = EthTx::decode(&twin.encoded_2718()).unwrap();
        let err = twin.sender().unwrap_err().to_string();
        assert!(err.contains("EIP-2"), "{err}");
    }

    proptest! {
        // The decoder never panics on arbitrary bytes, and whatever it accepts re-encodes to
        // exactly the same bytes (the encoding is canonical).
        #[test]
        fn decoder_total_and_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(tx) = Transaction::decode(&bytes, 1 << 20) {
                prop_assert_eq!(encode(&tx), bytes);
            }
        }

        // Mutating any byte of a valid transaction either fails to decode or fails to verify
        // (or, if the flipped byte is in the content, changes the hash).
        #[test]
        fn mutations_are_caught(pos in 0usize..400, bit in 0u8..8) {
            let key = PrivateKey::from_secret_bytes(Scheme::Ed25519, &[3; 32]).unwrap();
            let tx = sample(&key);
            let mut bytes = encode(&tx);
            let pos = pos % bytes.len();
            bytes[pos] ^= 1 << bit;
            if let Ok(mutated) = Transaction::decode(&bytes, 1 << 20) {
                prop_assert!(mutated.verify_signature().is_err());
            }
        }
    }
}
