//! Conformance suite that certifies any faas Provider (in-process or over gRPC) and any gateway over HTTP.
//!
//! This crate is filled by its own issue; until then it holds only this description.
