//! Pure translation between OpenFaaS functions and Swarm services (no IO).
//!
//! A [`FunctionDeployment`] becomes a replicated [`ServiceSpec`]:
//!
//! | OpenFaaS | Swarm |
//! |---|---|
//! | `service`, `namespace` | service name (see [`crate::names`]) and labels `<prefix>name`, `<prefix>namespace` |
//! | `image` | `ContainerSpec.Image` |
//! | `envProcess`, `envVars` | `ContainerSpec.Env` (`fprocess=…` plus the rest, sorted) |
//! | `labels` | service labels, verbatim |
//! | `annotations` | service labels `com.openfaas.annotations.<key>` |
//! | `constraints` | `Placement.Constraints`, verbatim (`node.role == manager`, …) |
//! | `limits` / `requests` | `Resources.Limits` / `Reservations` (bytes, NanoCPUs); the strings as sent are kept in labels |
//! | `readOnlyRootFilesystem` | `ContainerSpec.ReadOnly` plus a tmpfs at `/tmp` |
//! | `secrets` | secret references mounted at `/var/openfaas/secrets/<name>` (mode 0444) |
//! | `com.openfaas.scale.min` | initial replicas |
//!
//! Every service attaches to the function network, restarts on any exit, and updates
//! start-first one task at a time. In `published` resolve mode port 8080 is published in host
//! mode on a port the engine picks.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, Limit, Mount, MountType, NetworkAttachmentConfig,
    ResourceObject, Service, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecSecrets, TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use chrono::{DateTime, Utc};
use faas_core::{
    ENV_FPROCESS, FunctionDeployment, FunctionResources, FunctionStatus, SECRETS_MOUNT_PATH,
    StringMap,
};

use crate::config::ResolveMode;
use crate::error::DockerError;
use crate::quantity;

/// The prefix under which annotations are kept as service labels (as faasd and faas-swarm do).
pub const ANNOTATION_PREFIX: &str = "com.openfaas.annotations.";
/// The smallest memory reservation Swarm accepts.
pub const SWARM_MIN_MEMORY: i64 = 4 << 20;
/// The port functions listen on.
pub const FUNCTION_PORT: i64 = 8080;

/// The label keys this provider keeps for itself, all under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (e.g. `faas.swarm.`).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// `true` on every object this provider manages.
    pub fn managed(&self) -> String {
        self.key("managed")
    }
    /// The OpenFaaS namespace of the object.
    pub fn namespace(&self) -> String {
        self.key("namespace")
    }
    /// The OpenFaaS name of the function or secret.
    pub fn name(&self) -> String {
        self.key("name")
    }
    /// The version of a secret.
    pub fn secret_version(&self) -> String {
        self.key("secret-version")
    }
    /// What kind of object: `function`, `secret` or `namespace`.
    pub fn kind(&self) -> String {
        self.key("kind")
    }
    /// Marks a function whose command came from `envVars.fprocess` rather than `envProcess`.
    pub fn fprocess_in_env(&self) -> String {
        self.key("fprocess-in-env")
    }
    fn resource(&self, which: &str, what: &str) -> String {
        self.key(&format!("{which}.{what}"))
    }
    /// A namespace label kept on its config record.
    pub fn ns_label(&self, key: &str) -> String {
        self.key(&format!("ns-label.{key}"))
    }
    /// A namespace annotation kept on its config record.
    pub fn ns_annotation(&self, key: &str) -> String {
        self.key(&format!("ns-annotation.{key}"))
    }
    /// Whether `key` is one of ours (never a user label).
    pub fn is_reserved(&self, key: &str) -> bool {
        key.starts_with(&self.prefix) || key.starts_with(ANNOTATION_PREFIX)
    }
    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// A secret as a service mounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMount {
    /// The OpenFaaS secret name (the file name under `/var/openfaas/secrets`).
    pub name: String,
    /// The Swarm secret id.
    pub id: String,
    /// The Swarm secret name.
    pub swarm_name: String,
}

/// Everything besides the deployment that shapes a service spec.
#[derive(Debug, Clone)]
pub struct SpecContext<'a> {
    /// Label keys.
    pub keys: &'a Keys,
    /// The Swarm service name.
    pub service_name: &'a str,
    /// The resolved namespace.
    pub namespace: &'a str,
    /// The function network.
    pub network: &'a str,
    /// How endpoints are resolved.
    pub resolve_mode: ResolveMode,
    /// Desired replicas.
    pub replicas: u64,
    /// The secrets to mount, in the deployment's order.
    pub secrets: &'a [SecretMount],
    /// SIGTERM-to-SIGKILL grace.
    pub stop_grace_period: Duration,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Checks what only this provider forbids: labels under its own prefixes.
pub fn check_reserved(d: &FunctionDeployment, keys: &Keys) -> Result<(), DockerError> {
    for key in d.labels.keys() {
        if keys.is_reserved(key) {
            return Err(DockerError::invalid(
                format!("labels.{key}"),
                format!(
                    "label keys starting with {:?} or {ANNOTATION_PREFIX:?} are reserved by the Docker provider",
                    keys.prefix()
                ),
            ));
        }
    }
    Ok(())
}

/// Bytes of memory and NanoCPUs, each when set.
type MemoryAndCpu = (Option<i64>, Option<i64>);

fn limit(field: &str, r: Option<&FunctionResources>) -> Result<Option<MemoryAndCpu>, DockerError> {
    let Some(r) = r else { return Ok(None) };
    let memory = match r.memory.as_str() {
        "" => None,
        m => Some(quantity::memory_bytes(&format!("{field}.memory"), m)?),
    };
    let cpu = match r.cpu.as_str() {
        "" => None,
        c => Some(quantity::nano_cpus(&format!("{field}.cpu"), c)?),
    };
    if memory.is_none() && cpu.is_none() {
        Ok(None)
    } else {
        Ok(Some((memory, cpu)))
    }
}

/// The Swarm service spec of a deployment.
pub fn to_service_spec(
    d: &FunctionDeployment,
    ctx: &SpecContext<'_>,
) -> Result<ServiceSpec, DockerError> {
    let keys = ctx.keys;
    check_reserved(d, keys)?;
    let mut labels: HashMap<String, String> = d.labels.clone().into_iter().collect();
    for (k, v) in &d.annotations {
        labels.insert(format!("{ANNOTATION_PREFIX}{k}"), v.clone());
    }
    labels.insert(keys.managed(), "true".to_owned());
    labels.insert(keys.kind(), "function".to_owned());
    labels.insert(keys.namespace(), ctx.namespace.to_owned());
    labels.insert(keys.name(), d.service.clone());
    for (which, r) in [("limits", &d.limits), ("requests", &d.requests)] {
        if let Some(r) = r {
            for (what, v) in [("memory", &r.memory), ("cpu", &r.cpu)] {
                if !v.is_empty() {
                    labels.insert(keys.resource(which, what), v.clone());
                }
            }
        }
    }

    let mut env: BTreeMap<String, String> = d.env_vars.clone();
    if !d.env_process.is_empty() {
        env.insert(ENV_FPROCESS.to_owned(), d.env_process.clone());
    } else if env.contains_key(ENV_FPROCESS) {
        labels.insert(keys.fprocess_in_env(), "true".to_owned());
    }
    let env: Vec<String> = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();

    let limits = limit("limits", d.limits.as_ref())?;
    let reservations = limit("requests", d.requests.as_ref())?;
    let resources = (limits.is_some() || reservations.is_some()).then(|| TaskSpecResources {
        limits: limits.map(|(memory_bytes, nano_cpus)| Limit {
            memory_bytes,
            nano_cpus,
            pids: None,
        }),
        // Swarm rejects memory reservations under 4 MiB; a smaller request is reserved as 4 MiB
        // (the status still reports the request as sent).
        reservations: reservations.map(|(memory_bytes, nano_cpus)| ResourceObject {
            memory_bytes: memory_bytes.map(|m| m.max(SWARM_MIN_MEMORY)),
            nano_cpus,
            generic_resources: None,
        }),
        ..Default::default()
    });

    let secrets: Vec<TaskSpecContainerSpecSecrets> = ctx
        .secrets
        .iter()
        .map(|s| TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(format!("{SECRETS_MOUNT_PATH}/{}", s.name)),
                uid: Some("0".to_owned()),
                gid: Some("0".to_owned()),
                mode: Some(0o444),
            }),
            secret_id: Some(s.id.clone()),
            secret_name: Some(s.swarm_name.clone()),
        })
        .collect();

    let mounts = d.read_only_root_filesystem.then(|| {
        vec![Mount {
            target: Some("/tmp".to_owned()),
            typ: Some(MountType::TMPFS),
            ..Default::default()
        }]
    });

    let container = TaskSpecContainerSpec {
        image: Some(d.image.clone()),
        env: Some(env),
        labels: Some(HashMap::from([
            (keys.namespace(), ctx.namespace.to_owned()),
            (keys.name(), d.service.clone()),
        ])),
        read_only: Some(d.read_only_root_filesystem),
        mounts,
        secrets: (!secrets.is_empty()).then_some(secrets),
        stop_grace_period: Some(nanos(ctx.stop_grace_period)),
        ..Default::default()
    };

    let endpoint_spec = match ctx.resolve_mode {
        ResolveMode::Published => EndpointSpec {
            mode: Some(EndpointSpecModeEnum::VIP),
            ports: Some(vec![EndpointPortConfig {
                protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                target_port: Some(FUNCTION_PORT),
                publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                ..Default::default()
            }]),
        },
        ResolveMode::Dns => EndpointSpec {
            mode: Some(EndpointSpecModeEnum::VIP),
            ports: None,
        },
    };

    Ok(ServiceSpec {
        name: Some(ctx.service_name.to_owned()),
        labels: Some(labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources,
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                delay: Some(nanos(Duration::from_millis(200))),
                ..Default::default()
            }),
            placement: (!d.constraints.is_empty()).then(|| TaskSpecPlacement {
                constraints: Some(d.constraints.clone()),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(ctx.network.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::try_from(ctx.replicas).unwrap_or(i64::MAX)),
            }),
            ..Default::default()
        }),
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            order: Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE),
            ..Default::default()
        }),
        endpoint_spec: Some(endpoint_spec),
        ..Default::default()
    })
}

/// The desired replicas of a service spec.
pub fn spec_replicas(spec: &ServiceSpec) -> u64 {
    spec.mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .and_then(|r| u64::try_from(r).ok())
        .unwrap_or(0)
}

/// Sets the desired replicas of a service spec.
pub fn set_spec_replicas(spec: &mut ServiceSpec, replicas: u64) {
    spec.mode = Some(ServiceSpecMode {
        replicated: Some(ServiceSpecModeReplicated {
            replicas: Some(i64::try_from(replicas).unwrap_or(i64::MAX)),
        }),
        ..Default::default()
    });
}

/// The Swarm secret ids a service spec references.
pub fn spec_secret_ids(spec: &ServiceSpec) -> Vec<String> {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.secrets.as_ref())
        .map(|s| s.iter().filter_map(|s| s.secret_id.clone()).collect())
        .unwrap_or_default()
}

/// The OpenFaaS namespace and name of a service this provider manages, if it is one.
pub fn function_identity(service: &Service, keys: &Keys) -> Option<(String, String)> {
    let labels = service.spec.as_ref()?.labels.as_ref()?;
    if labels.get(&keys.kind()).map(String::as_str) != Some("function") {
        return None;
    }
    Some((
        labels.get(&keys.namespace())?.clone(),
        labels.get(&keys.name())?.clone(),
    ))
}

/// The function status of a managed service (replica counts: desired from the spec,
/// available left at 0 for the caller to fill in).
pub fn to_status(service: &Service, keys: &Keys) -> Option<FunctionStatus> {
    let (namespace, name) = function_identity(service, keys)?;
    let spec = service.spec.as_ref()?;
    let all_labels = spec.labels.clone().unwrap_or_default();
    let container = spec
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.clone())
        .unwrap_or_default();

    let mut labels = StringMap::new();
    let mut annotations = StringMap::new();
    for (k, v) in &all_labels {
        if let Some(a) = k.strip_prefix(ANNOTATION_PREFIX) {
            annotations.insert(a.to_owned(), v.clone());
        } else if !keys.is_reserved(k) {
            labels.insert(k.clone(), v.clone());
        }
    }
    labels.insert(faas_core::LABEL_FUNCTION_NAME.to_owned(), name.clone());

    let mut env_vars = StringMap::new();
    for entry in container.env.unwrap_or_default() {
        let (k, v) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        env_vars.insert(k.to_owned(), v.to_owned());
    }
    let env_process = if all_labels.contains_key(&keys.fprocess_in_env()) {
        String::new()
    } else {
        env_vars.remove(ENV_FPROCESS).unwrap_or_default()
    };

    let resources = |which: &str| {
        let r = FunctionResources {
            memory: all_labels
                .get(&keys.resource(which, "memory"))
                .cloned()
                .unwrap_or_default(),
            cpu: all_labels
                .get(&keys.resource(which, "cpu"))
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        };
        (!r.is_empty()).then_some(r)
    };

    let secrets = container
        .secrets
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.file?.name)
        .map(|path| path.rsplit('/').next().unwrap_or(&path).to_owned())
        .collect();

    let constraints = spec
        .task_template
        .as_ref()
        .and_then(|t| t.placement.as_ref())
        .and_then(|p| p.constraints.clone())
        .unwrap_or_default();

    let created_at: DateTime<Utc> = service.created_at.unwrap_or_else(Utc::now);
    Some(FunctionStatus {
        name,
        image: container
            .image
            .map(|i| strip_digest(&i))
            .unwrap_or_default(),
        namespace,
        env_process,
        env_vars,
        constraints,
        secrets,
        labels,
        annotations,
        limits: resources("limits"),
        requests: resources("requests"),
        read_only_root_filesystem: container.read_only.unwrap_or(false),
        invocation_count: 0.0,
        replicas: spec_replicas(spec),
        available_replicas: 0,
        created_at,
        usage: None,
    })
}

/// The image as deployed: Swarm pins `image:tag@sha256:…` when it can resolve a digest.
fn strip_digest(image: &str) -> String {
    match image.split_once('@') {
        Some((name, _)) => name.to_owned(),
        None => image.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new("faas.swarm.")
    }

    fn deployment() -> FunctionDeployment {
        let mut d = FunctionDeployment::new("echo", "fixture:1")
            .with_env_process("/fixture echo")
            .with_env("A", "1")
            .with_label("team", "blue")
            .with_annotation("topic", "orders\nand more")
            .with_secret("api-key");
        d.constraints = vec!["node.role == manager".into()];
        d.limits = Some(FunctionResources {
            memory: "128Mi".into(),
            cpu: "100m".into(),
            ..Default::default()
        });
        d.requests = Some(FunctionResources {
            memory: "64Mi".into(),
            ..Default::default()
        });
        d.read_only_root_filesystem = true;
        d
    }

    fn spec(d: &FunctionDeployment, mode: ResolveMode) -> ServiceSpec {
        let keys = keys();
        let secrets = [SecretMount {
            name: "api-key".into(),
            id: "sid".into(),
            swarm_name: "ns_api-key_v1".into(),
        }];
        let ctx = SpecContext {
            keys: &keys,
            service_name: "team-a_echo",
            namespace: "team-a",
            network: "func_functions",
            resolve_mode: mode,
            replicas: 2,
            secrets: &secrets,
            stop_grace_period: Duration::from_secs(5),
        };
        to_service_spec(d, &ctx).unwrap()
    }

    #[test]
    fn deployment_becomes_a_service_spec() {
        let s = spec(&deployment(), ResolveMode::Published);
        assert_eq!(s.name.as_deref(), Some("team-a_echo"));
        assert_eq!(spec_replicas(&s), 2);
        let labels = s.labels.as_ref().unwrap();
        assert_eq!(labels["team"], "blue");
        assert_eq!(labels["com.openfaas.annotations.topic"], "orders\nand more");
        assert_eq!(labels["faas.swarm.namespace"], "team-a");
        let task = s.task_template.as_ref().unwrap();
        let c = task.container_spec.as_ref().unwrap();
        assert_eq!(
            c.env.as_ref().unwrap(),
            &vec!["A=1".to_owned(), "fprocess=/fixture echo".to_owned()]
        );
        assert_eq!(c.read_only, Some(true));
        assert_eq!(
            c.mounts.as_ref().unwrap()[0].target.as_deref(),
            Some("/tmp")
        );
        let secret = &c.secrets.as_ref().unwrap()[0];
        assert_eq!(
            secret.file.as_ref().unwrap().name.as_deref(),
            Some("/var/openfaas/secrets/api-key")
        );
        assert_eq!(secret.secret_id.as_deref(), Some("sid"));
        let res = task.resources.as_ref().unwrap();
        assert_eq!(res.limits.as_ref().unwrap().memory_bytes, Some(128 << 20));
        assert_eq!(res.limits.as_ref().unwrap().nano_cpus, Some(100_000_000));
        assert_eq!(
            res.reservations.as_ref().unwrap().memory_bytes,
            Some(64 << 20)
        );
        assert_eq!(res.reservations.as_ref().unwrap().nano_cpus, None);
        assert_eq!(
            task.placement
                .as_ref()
                .unwrap()
                .constraints
                .as_ref()
                .unwrap()[0],
            "node.role == manager"
        );
        let port = &s.endpoint_spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!(
            port.publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        assert_eq!(port.target_port, Some(8080));
        assert_eq!(port.published_port, None);
        let dns = spec(&deployment(), ResolveMode::Dns);
        assert!(dns.endpoint_spec.as_ref().unwrap().ports.is_none());
    }

    #[test]
    fn service_reads_back_as_the_deployment() {
        let d = deployment();
        let service = Service {
            spec: Some(spec(&d, ResolveMode::Published)),
            ..Default::default()
        };
        let status = to_status(&service, &keys()).unwrap();
        assert_eq!(status.name, "echo");
        assert_eq!(status.namespace, "team-a");
        assert_eq!(status.replicas, 2);
        assert_eq!(status.labels["faas_function"], "echo");
        let mut back = status.to_deployment();
        back.namespace = String::new();
        assert_eq!(back, d);
    }

    #[test]
    fn tiny_memory_requests_are_reserved_at_the_swarm_minimum() {
        let mut d = FunctionDeployment::new("f", "img");
        d.requests = Some(FunctionResources {
            memory: "1Mi".into(),
            ..Default::default()
        });
        let s = spec(&d, ResolveMode::Published);
        let r = s
            .task_template
            .unwrap()
            .resources
            .unwrap()
            .reservations
            .unwrap();
        assert_eq!(r.memory_bytes, Some(SWARM_MIN_MEMORY));
        let status = to_status(
            &Service {
                spec: Some(spec(&d, ResolveMode::Published)),
                ..Default::default()
            },
            &keys(),
        )
        .unwrap();
        assert_eq!(status.requests.unwrap().memory, "1Mi");
    }

    #[test]
    fn fprocess_given_in_env_vars_stays_there() {
        let d = FunctionDeployment::new("f", "img").with_env("fprocess", "cat");
        let service = Service {
            spec: Some(spec(&d, ResolveMode::Published)),
            ..Default::default()
        };
        let status = to_status(&service, &keys()).unwrap();
        assert_eq!(status.env_process, "");
        assert_eq!(status.env_vars["fprocess"], "cat");
    }

    #[test]
    fn reserved_labels_and_bad_quantities_are_rejected() {
        let d = FunctionDeployment::new("f", "img").with_label("faas.swarm.namespace", "x");
        assert!(matches!(
            check_reserved(&d, &keys()),
            Err(DockerError::Invalid { .. })
        ));
        let mut d = FunctionDeployment::new("f", "img");
        d.limits = Some(FunctionResources {
            cpu: "lots".into(),
            ..Default::default()
        });
        let keys = keys();
        let ctx = SpecContext {
            keys: &keys,
            service_name: "f",
            namespace: "n",
            network: "net",
            resolve_mode: ResolveMode::Published,
            replicas: 1,
            secrets: &[],
            stop_grace_period: Duration::from_secs(1),
        };
        match to_service_spec(&d, &ctx) {
            Err(DockerError::Invalid { field, .. }) => assert_eq!(field, "limits.cpu"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn foreign_services_are_not_functions() {
        let service = Service {
            spec: Some(ServiceSpec::default()),
            ..Default::default()
        };
        assert!(to_status(&service, &keys()).is_none());
    }
}
