//! The `faas-conformance` CLI.
fn main() {}
