//! Nomad provider: functions as Nomad jobs through the Nomad HTTP API.
//!
//! This crate is filled by its own issue; until then it holds only this description.
