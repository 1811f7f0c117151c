//! Genesis files for tests.

use consortia_crypto::{Address, PrivateKey, Scheme, Suite};
use consortia_types::{ConsensusKind, Genesis, GenesisAccount, Validator};

/// A solo chain's genesis (an Ed25519 validator) with `funded` accounts, and the validator's
/// key.
pub fn solo(chain_id: u64, funded: &[(Address, u128)]) -> (Genesis, PrivateKey) {
    let validator = PrivateKey::generate(Scheme::Ed25519);
    let mut genesis = Genesis::solo(chain_id, "test", Suite::Standard, validator.public_key(), 0);
    genesis
        .accounts
        .extend(funded.iter().map(|(address, balance)| GenesisAccount::funded(*address, *balance)));
    (genesis, validator)
}

/// The key of validator `index` in [`bft`]'s chains: derived from the index, so a run's
/// blocks and signatures are the same every time.
pub fn validator_key(index: usize) -> PrivateKey {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&(index as u64 + 1).to_le_bytes());
    PrivateKey::from_secret_bytes(Scheme::Ed25519, &secret).expect("a valid Ed25519 secret")
}

/// A BFT chain's genesis with `n` validators of power 1 (keys from [`validator_key`]), and the
/// keys.
pub fn bft(chain_id: u64, n: usize) -> (Genesis, Vec<PrivateKey>) {
    let keys: Vec<PrivateKey> = (0..n).map(validator_key).collect();
    let mut genesis = Genesis::solo(chain_id, "test", Suite::Standard, keys[0].public_key(), 0);
    genesis.params.consensus = ConsensusKind::Bft;
    genesis.validators = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Validator {
            name: format!("validator-{i}"),
            public_key: k.public_key(),
            power: 1,
        })
        .collect();
    (genesis, keys)
}

/// A header of chain `chain_id` at `height` with `state_root` and `time_ms`, zero elsewhere:
/// what store and executor tests and benchmarks commit blocks under.
pub fn header(
    chain_id: u64,
    height: u64,
    state_root: consortia_crypto::Hash,
    time_ms: u64,
) -> consortia_types::Header {
    use consortia_crypto::{Address, Hash};
    consortia_types::Header {
        chain_id,
        height,
        parent_hash: Hash::ZERO,
        time_ms,
        proposer: Address::default(),
        tx_count: 0,
        tx_root: Hash::ZERO,
        state_root,
        receipts_root: Hash::ZERO,
        next_validators_hash: Hash::ZERO,
    }
}
