//! End-to-end tests of Consortia across crates: each file drives the built `consortia` binary
//! (a dev node, a network, the platform and its console) with real clients. The harnesses are
//! `consortia_test_utils::process`; the CLI's own tests stay in `crates/cli/tests`.
