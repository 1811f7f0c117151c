//! Shared test fixtures for Consortia's crates, a dev-dependency only (never in the release binary): transaction builders for every envelope and scheme, genesis files, the simulators' fault model, compiled contracts, and (feature `process`) the harnesses that drive the built binary.
//!
//! Tests build their transactions here instead of each keeping a copy: [`tx`] signs native
//! envelopes (a notarization, an EVM call; with any of the key's schemes) and Ethereum ones
//! (legacy with EIP-155, EIP-2930, EIP-1559) and gives the unsigned Ethereum bodies to adjust;
//! [`genesis`] makes a solo chain's genesis with funded accounts, or a BFT chain's of N
//! validators with keys derived from their index; [`sim`] is the fault model (a seeded
//! generator, Byzantine behaviors, partitions, crashes) both deterministic simulators draw from;
//! [`process`] (feature `process`) drives the built binary: a dev node, a network, the CLI;
//! [`contracts`] holds compiled contracts; [`ledger`] a ledger table's schema.

pub mod contracts;
pub mod genesis;
pub mod ledger;
#[cfg(feature = "process")]
pub mod process;
pub mod sim;
pub mod tx;
