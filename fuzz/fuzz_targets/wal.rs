//! A consensus WAL file as a restarting node reads it: torn or corrupt records are cut, and
//! what is kept reads back the same when written again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    consortia_node::fuzzing::parse_wal(data);
});
