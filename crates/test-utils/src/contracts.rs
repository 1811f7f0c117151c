//! Compiled contracts for tests: the Vyper ERC-20 of `tests/eth/contracts/Token.vy`, as the
//! load generator deploys it (`crates/cli/assets`).

/// The token's init code, hex without `0x`.
pub const ERC20_BYTECODE: &str = include_str!("../../cli/assets/erc20-token.hex");
/// The token's ABI (JSON).
pub const ERC20_ABI: &str = include_str!("../../cli/assets/erc20-token.abi.json");
