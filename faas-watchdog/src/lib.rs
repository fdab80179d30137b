//! The function runtime shim: HTTP on :8080 in front of a forked process (classic/streaming) or a long-running HTTP server (http mode).
//!
//! This crate is filled by its own issue; until then it holds only this description.
