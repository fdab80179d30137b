//! Docker Swarm provider: functions as Swarm services through the Docker Engine API (bollard).
//!
//! This crate is filled by its own issue; until then it holds only this description.
