//! The embedded default provider: functions run as local processes under the watchdog, state kept in a data directory.
//!
//! This crate is filled by its own issue; until then it holds only this description.
