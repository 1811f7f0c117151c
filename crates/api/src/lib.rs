//! Wire types of every Consortia HTTP API, and a typed async Rust SDK.
//!
//! What a server writes and a client reads is defined once, here: the node's REST views
//! ([`node`]), the platform's requests and views by area ([`platform`]), the JSON-RPC 2.0
//! shapes of the node's Ethereum API ([`jsonrpc`]) and the one error body of every API
//! ([`ErrorBody`]). The SDK ([`NodeClient`], [`PlatformClient`]) speaks them; the CLI, the
//! platform (towards nodes) and the tests use it. With the `server` feature, [`server`] adds
//! the servers' side: the error as an axum response and extractors that answer with it. With
//! `proofs` (on by default), [`proof`] checks the nodes' state proofs against a trusted root.
//!
//! This crate holds no logic of either server: no database, no chain, no policy.

pub mod client;
mod error;
pub mod jsonrpc;
pub mod node;
pub mod notary_proof;
pub mod platform;
#[cfg(feature = "proofs")]
pub mod proof;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod serving;
mod wire_enum;

pub use client::{ClientError, ClientResult, Credentials, NodeClient, PlatformClient};
pub use error::ErrorBody;
pub use wire_enum::UnknownVariant;
