//! The OpenFaaS-compatible gateway: routes, streaming reverse proxy, auth, async queue, metrics.
//!
//! This crate is filled by its own issue; until then it holds only this description.
