//! Fixtures for other crates' tests (feature `test-utils`, never in the release binary): a
//! tiny hand-assembled contract, so EVM tests need no compiler.

use consortia_crypto::Address;

/// The topic the echo contract logs under.
pub const ECHO_TOPIC: u8 = 0xaa;

/// Runtime code of the "echo" contract: with 32 bytes of calldata, stores them in slot 0, logs them under one topic and
/// returns them; with none, reverts with `Error("nope")`.
pub fn echo_runtime() -> Vec<u8> {
    let mut code = vec![
        0x36, 0x15, 0x60, 0x00, 0x57, // CALLDATASIZE ISZERO PUSH1 <revert> JUMPI
        0x60, 0x00, 0x35, 0x80, 0x60, 0x00, 0x55, // x = CALLDATALOAD(0); SSTORE(0, x)
        0x60, 0x00, 0x52, // MSTORE(0, x)
        0x60, ECHO_TOPIC, 0x60, 0x20, 0x60, 0x00, 0xa1, // LOG1(0, 32, TOPIC)
        0x60, 0x20, 0x60, 0x00, 0xf3, // RETURN(0, 32)
    ];
    code[3] = code.len() as u8;
    code.push(0x5b); // JUMPDEST
    let mut selector = [0u8; 32];
    selector[..4].copy_from_slice(&[0x08, 0xc3, 0x79, 0xa0]);
    let mut reason = [0u8; 32];
    reason[..4].copy_from_slice(b"nope");
    code.push(0x7f);
    code.extend_from_slice(&selector);
    code.extend_from_slice(&[0x60, 0x00, 0x52]); // MSTORE(0, selector)
    code.extend_from_slice(&[0x60, 0x20, 0x60, 0x04, 0x52]); // MSTORE(4, 0x20)
    code.extend_from_slice(&[0x60, 0x04, 0x60, 0x24, 0x52]); // MSTORE(36, 4)
    code.push(0x7f);
    code.extend_from_slice(&reason);
    code.extend_from_slice(&[0x60, 0x44, 0x52]); // MSTORE(68, "nope")
    code.extend_from_slice(&[0x60, 0x64, 0x60, 0x00, 0xfd]); // REVERT(0, 100)
    code
}

/// Init code that deploys `runtime`.
pub fn init_code(runtime: &[u8]) -> Vec<u8> {
    let len = runtime.len() as u8;
    let mut code = vec![0x60, len, 0x80, 0x60, 11, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3];
    code.extend_from_slice(runtime);
    code
}

/// Runtime that forwards its calldata to `target` with CALL, then returns (or reverts) empty.
pub fn forwarder(target: Address, then_revert: bool) -> Vec<u8> {
    let mut code = vec![0x36, 0x5f, 0x5f, 0x37]; // CALLDATACOPY(0, 0, CALLDATASIZE)
    code.extend_from_slice(&[0x5f, 0x5f, 0x36, 0x5f, 0x5f, 0x73]); // ret 0 0, args 0 size, value 0
    code.extend_from_slice(&target.0); // PUSH20 target
    code.extend_from_slice(&[0x5a, 0xf1, 0x50]); // GAS CALL POP
    code.extend_from_slice(&[0x5f, 0x5f, if then_revert { 0xfd } else { 0xf3 }]);
    code
}

/// Runtime of the "reader" contract: returns slot 0 (what an echo contract stored), so an echo
/// upgraded to it shows that its storage stayed.
pub fn reader_runtime() -> Vec<u8> {
    // SLOAD(0); MSTORE(0, v); RETURN(0, 32)
    vec![0x60, 0x00, 0x54, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]
}
