//! Kubernetes provider: functions as Deployments and Services through kube-rs.
//!
//! This crate is filled by its own issue; until then it holds only this description.
