//! A P2P frame's content as the node's driver decodes it (status, consensus message with its
//! block, gossiped transactions, sync requests and blocks).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    consortia_node::fuzzing::decode_frame(data);
});
