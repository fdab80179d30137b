//! Conversions between the protocol messages ([`super::pb`]) and the model.
//!
//! Model → proto is infallible (`From`). Proto → model is `TryFrom` where the message can be
//! malformed (a missing required message, a timestamp out of range), failing with
//! `InvalidInput` that names the field.

use chrono::{DateTime, Utc};

use super::pb;
use crate::error::{Error, Result};
use crate::model;

// === timestamps and durations ===

/// A model time as a protobuf timestamp.
pub(crate) fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf timestamp as a model time; `InvalidInput` naming `field` when out of range.
pub(crate) fn time(field: &str, t: &prost_types::Timestamp) -> Result<DateTime<Utc>> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
        .ok_or_else(|| Error::invalid(field, "timestamp is out of range"))
}

/// A protobuf duration as a std duration; `InvalidInput` naming `field` when negative.
pub(crate) fn duration(field: &str, d: prost_types::Duration) -> Result<std::time::Duration> {
    std::time::Duration::try_from(d)
        .map_err(|_| Error::invalid(field, "duration must not be negative"))
}

/// A std duration as a protobuf duration (saturating).
pub(crate) fn proto_duration(d: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration::try_from(d).unwrap_or(prost_types::Duration {
        seconds: i64::MAX,
        nanos: 999_999_999,
    })
}

fn required<T>(field: &str, value: Option<T>) -> Result<T> {
    value.ok_or_else(|| Error::invalid(field, "is required"))
}

// === resources ===

impl From<model::FunctionResources> for pb::FunctionResources {
    fn from(r: model::FunctionResources) -> Self {
        Self {
            memory: r.memory,
            cpu: r.cpu,
            nvidia_gpu: r.nvidia_gpu,
            amd_gpu: r.amd_gpu,
            intel_gpu: r.intel_gpu,
        }
    }
}

impl From<pb::FunctionResources> for model::FunctionResources {
    fn from(r: pb::FunctionResources) -> Self {
        Self {
            memory: r.memory,
            cpu: r.cpu,
            nvidia_gpu: r.nvidia_gpu,
            amd_gpu: r.amd_gpu,
            intel_gpu: r.intel_gpu,
        }
    }
}

// === deployment ===

impl From<model::FunctionDeployment> for pb::FunctionDeployment {
    fn from(d: model::FunctionDeployment) -> Self {
        Self {
            service: d.service,
            image: d.image,
            namespace: d.namespace,
            env_process: d.env_process,
            env_vars: d.env_vars,
            constraints: d.constraints,
            secrets: d.secrets,
            labels: d.labels,
            annotations: d.annotations,
            limits: d.limits.map(Into::into),
            requests: d.requests.map(Into::into),
            read_only_root_filesystem: d.read_only_root_filesystem,
        }
    }
}

impl From<pb::FunctionDeployment> for model::FunctionDeployment {
    fn from(d: pb::FunctionDeployment) -> Self {
        Self {
            service: d.service,
            image: d.image,
            namespace: d.namespace,
            env_process: d.env_process,
            env_vars: d.env_vars,
            constraints: d.constraints,
            secrets: d.secrets,
            labels: d.labels,
            annotations: d.annotations,
            limits: d.limits.map(Into::into),
            requests: d.requests.map(Into::into),
            read_only_root_filesystem: d.read_only_root_filesystem,
        }
    }
}

/// The deployment a deploy or update request carries (`deployment` is required).
pub(crate) fn deployment(d: Option<pb::FunctionDeployment>) -> Result<model::FunctionDeployment> {
    required("deployment", d).map(Into::into)
}

// === status ===

impl From<model::FunctionStatus> for pb::FunctionStatus {
    fn from(s: model::FunctionStatus) -> Self {
        Self {
            name: s.name,
            image: s.image,
            namespace: s.namespace,
            env_process: s.env_process,
            env_vars: s.env_vars,
            constraints: s.constraints,
            secrets: s.secrets,
            labels: s.labels,
            annotations: s.annotations,
            limits: s.limits.map(Into::into),
            requests: s.requests.map(Into::into),
            read_only_root_filesystem: s.read_only_root_filesystem,
            invocation_count: s.invocation_count,
            replicas: s.replicas,
            available_replicas: s.available_replicas,
            created_at: Some(timestamp(s.created_at)),
            usage: s.usage.map(|u| pb::FunctionUsage {
                cpu: u.cpu,
                total_memory_bytes: u.total_memory_bytes,
            }),
        }
    }
}

impl TryFrom<pb::FunctionStatus> for model::FunctionStatus {
    type Error = Error;

    fn try_from(s: pb::FunctionStatus) -> Result<Self> {
        let created_at = time("createdAt", &required("createdAt", s.created_at)?)?;
        Ok(Self {
            name: s.name,
            image: s.image,
            namespace: s.namespace,
            env_process: s.env_process,
            env_vars: s.env_vars,
            constraints: s.constraints,
            secrets: s.secrets,
            labels: s.labels,
            annotations: s.annotations,
            limits: s.limits.map(Into::into),
            requests: s.requests.map(Into::into),
            read_only_root_filesystem: s.read_only_root_filesystem,
            invocation_count: s.invocation_count,
            replicas: s.replicas,
            available_replicas: s.available_replicas,
            created_at,
            usage: s.usage.map(|u| model::FunctionUsage {
                cpu: u.cpu,
                total_memory_bytes: u.total_memory_bytes,
            }),
        })
    }
}

// === endpoints ===

impl From<model::Endpoint> for pb::Endpoint {
    fn from(e: model::Endpoint) -> Self {
        Self {
            host: e.host,
            port: u32::from(e.port),
            instance: e.instance,
        }
    }
}

impl TryFrom<pb::Endpoint> for model::Endpoint {
    type Error = Error;

    fn try_from(e: pb::Endpoint) -> Result<Self> {
        let port = u16::try_from(e.port).map_err(|_| {
            Error::invalid("endpoints.port", format!("port {} is out of range", e.port))
        })?;
        Ok(Self {
            host: e.host,
            port,
            instance: e.instance,
        })
    }
}

/// A list of protocol endpoints as model endpoints.
pub(crate) fn endpoints(list: Vec<pb::Endpoint>) -> Result<Vec<model::Endpoint>> {
    list.into_iter().map(TryInto::try_into).collect()
}

// === logs ===

impl From<model::LogRequest> for pb::LogsRequest {
    fn from(r: model::LogRequest) -> Self {
        Self {
            name: r.name,
            namespace: r.namespace,
            instance: r.instance,
            since: r.since.map(timestamp),
            tail: r.tail,
            follow: r.follow,
        }
    }
}

impl TryFrom<pb::LogsRequest> for model::LogRequest {
    type Error = Error;

    fn try_from(r: pb::LogsRequest) -> Result<Self> {
        Ok(Self {
            name: r.name,
            namespace: r.namespace,
            instance: r.instance,
            since: r.since.as_ref().map(|t| time("since", t)).transpose()?,
            tail: r.tail,
            follow: r.follow,
        })
    }
}

impl From<model::LogEntry> for pb::LogEntry {
    fn from(e: model::LogEntry) -> Self {
        Self {
            name: e.name,
            namespace: e.namespace,
            instance: e.instance,
            timestamp: Some(timestamp(e.timestamp)),
            text: e.text,
        }
    }
}

impl TryFrom<pb::LogEntry> for model::LogEntry {
    type Error = Error;

    fn try_from(e: pb::LogEntry) -> Result<Self> {
        let timestamp = time("timestamp", &required("timestamp", e.timestamp)?)?;
        Ok(Self {
            name: e.name,
            namespace: e.namespace,
            instance: e.instance,
            timestamp,
            text: e.text,
        })
    }
}

// === secrets ===

impl From<model::Secret> for pb::Secret {
    fn from(s: model::Secret) -> Self {
        Self {
            name: s.name,
            namespace: s.namespace,
            value: s.value,
            raw_value: s.raw_value,
        }
    }
}

impl From<pb::Secret> for model::Secret {
    fn from(s: pb::Secret) -> Self {
        Self {
            name: s.name,
            namespace: s.namespace,
            value: s.value,
            raw_value: s.raw_value,
        }
    }
}

/// The secret a create or update request carries (`secret` is required).
pub(crate) fn secret(s: Option<pb::Secret>) -> Result<model::Secret> {
    required("secret", s).map(Into::into)
}

impl From<model::SecretInfo> for pb::SecretInfo {
    fn from(s: model::SecretInfo) -> Self {
        Self {
            name: s.name,
            namespace: s.namespace,
        }
    }
}

impl From<pb::SecretInfo> for model::SecretInfo {
    fn from(s: pb::SecretInfo) -> Self {
        Self {
            name: s.name,
            namespace: s.namespace,
        }
    }
}

// === namespaces ===

impl From<model::FunctionNamespace> for pb::Namespace {
    fn from(n: model::FunctionNamespace) -> Self {
        Self {
            name: n.name,
            labels: n.labels,
            annotations: n.annotations,
        }
    }
}

impl From<pb::Namespace> for model::FunctionNamespace {
    fn from(n: pb::Namespace) -> Self {
        Self {
            name: n.name,
            labels: n.labels,
            annotations: n.annotations,
        }
    }
}

/// The namespace a create or update request carries (`namespace` is required).
pub(crate) fn namespace(n: Option<pb::Namespace>) -> Result<model::FunctionNamespace> {
    required("namespace", n).map(Into::into)
}

// === info ===

impl From<model::Capabilities> for pb::Capabilities {
    fn from(c: model::Capabilities) -> Self {
        Self {
            scale: c.scale,
            scale_can_zero: c.scale_can_zero,
            replicas_max: c.replicas_max,
            secrets: c.secrets,
            secrets_can_update: c.secrets_can_update,
            namespaces: c.namespaces,
            namespaces_can_mutate: c.namespaces_can_mutate,
            logs: c.logs,
            logs_can_follow: c.logs_can_follow,
            deploy_with_limits: c.deploy_with_limits,
            deploy_with_constraints: c.deploy_with_constraints,
            deploy_with_read_only_root_filesystem: c.deploy_with_read_only_root_filesystem,
            usage: c.usage,
        }
    }
}

impl From<pb::Capabilities> for model::Capabilities {
    fn from(c: pb::Capabilities) -> Self {
        model::Capabilities {
            scale: c.scale,
            scale_can_zero: c.scale_can_zero,
            replicas_max: c.replicas_max,
            secrets: c.secrets,
            secrets_can_update: c.secrets_can_update,
            namespaces: c.namespaces,
            namespaces_can_mutate: c.namespaces_can_mutate,
            logs: c.logs,
            logs_can_follow: c.logs_can_follow,
            deploy_with_limits: c.deploy_with_limits,
            deploy_with_constraints: c.deploy_with_constraints,
            deploy_with_read_only_root_filesystem: c.deploy_with_read_only_root_filesystem,
            usage: c.usage,
        }
    }
}

impl From<model::ProviderInfo> for pb::ProviderInfo {
    fn from(i: model::ProviderInfo) -> Self {
        Self {
            provider: i.provider,
            version: Some(pb::VersionInfo {
                commit_message: i.version.commit_message,
                sha: i.version.sha,
                release: i.version.release,
            }),
            orchestration: i.orchestration,
            default_namespace: i.default_namespace,
            capabilities: Some(i.capabilities.into()),
        }
    }
}

impl From<pb::ProviderInfo> for model::ProviderInfo {
    fn from(i: pb::ProviderInfo) -> Self {
        let version = i.version.unwrap_or_default();
        Self {
            provider: i.provider,
            version: model::VersionInfo {
                commit_message: version.commit_message,
                sha: version.sha,
                release: version.release,
            },
            orchestration: i.orchestration,
            default_namespace: i.default_namespace,
            capabilities: i.capabilities.map(Into::into).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn status_round_trips_with_nanosecond_time() -> Result<()> {
        let mut d = model::FunctionDeployment::new("f", "img:1")
            .with_env("A", "b")
            .with_label("x", "y")
            .with_secret("s");
        d.limits = Some(model::FunctionResources {
            memory: "5Mi".into(),
            cpu: "100m".into(),
            ..Default::default()
        });
        let now = Utc::now();
        let mut status = model::FunctionStatus::from_deployment(&d, "ns", now);
        status.replicas = 2;
        status.usage = Some(model::FunctionUsage {
            cpu: 1.5,
            total_memory_bytes: 10.0,
        });
        let back = model::FunctionStatus::try_from(pb::FunctionStatus::from(status.clone()))?;
        assert_eq!(back, status);
        assert_eq!(
            model::FunctionDeployment::from(pb::FunctionDeployment::from(d.clone())),
            d
        );
        Ok(())
    }

    #[test]
    fn malformed_messages_name_the_field() {
        let status = pb::FunctionStatus {
            name: "f".into(),
            ..Default::default()
        };
        let err = model::FunctionStatus::try_from(status).err();
        assert_eq!(err.as_ref().map(Error::kind), Some(ErrorKind::InvalidInput));
        assert_eq!(err.as_ref().and_then(Error::field), Some("createdAt"));
        let bad_port = pb::Endpoint {
            host: "h".into(),
            port: 70_000,
            instance: String::new(),
        };
        assert_eq!(
            model::Endpoint::try_from(bad_port)
                .err()
                .as_ref()
                .and_then(Error::field),
            Some("endpoints.port")
        );
        assert_eq!(
            deployment(None).err().as_ref().and_then(Error::field),
            Some("deployment")
        );
        let bad_time = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(
            time("since", &bad_time)
                .err()
                .as_ref()
                .and_then(Error::field),
            Some("since")
        );
        let negative = prost_types::Duration {
            seconds: -1,
            nanos: 0,
        };
        assert_eq!(
            duration("timeout", negative)
                .err()
                .as_ref()
                .and_then(Error::field),
            Some("timeout")
        );
    }

    #[test]
    fn info_and_log_requests_round_trip() -> Result<()> {
        let mut caps = model::Capabilities::all();
        caps.replicas_max = Some(5);
        let info = model::ProviderInfo {
            provider: "p".into(),
            version: model::VersionInfo {
                commit_message: "m".into(),
                sha: "s".into(),
                release: "r".into(),
            },
            orchestration: "o".into(),
            default_namespace: "d".into(),
            capabilities: caps,
        };
        assert_eq!(
            model::ProviderInfo::from(pb::ProviderInfo::from(info.clone())),
            info
        );
        let mut req = model::LogRequest::new("f", "ns")
            .with_tail(3)
            .with_since(Utc::now())
            .with_follow(true);
        req.instance = Some("f-1".into());
        assert_eq!(
            model::LogRequest::try_from(pb::LogsRequest::from(req.clone()))?,
            req
        );
        Ok(())
    }
}
