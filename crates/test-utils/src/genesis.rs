//! Genesis files for tests.

use consortia_crypto::{Address, PrivateKey, Scheme, Suite};
use consortia_types::{Genesis, GenesisAccount};

/// A solo chain's genesis (an Ed25519 validator) with `funded` accounts, and the validator's
/// key.
pub fn solo(chain_id: u64, funded: &[(Address, u128)]) -> (Genesis, PrivateKey) {
    let validator = PrivateKey::generate(Scheme::Ed25519);
    let mut genesis = Genesis::solo(chain_id, "test", Suite::Standard, validator.public_key(), 0);
    genesis.accounts = funded
        .iter()
        .map(|(address, balance)| GenesisAccount { address: *address, balance: *balance })
        .collect();
    (genesis, validator)
}
