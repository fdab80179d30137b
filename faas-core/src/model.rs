//! The OpenFaaS domain model, with the JSON field names faas-cli and the certifier use.
//!
//! Serialisation follows Go's `omitempty` rules of the OpenFaaS types so responses are
//! byte-compatible: empty strings, maps, lists, zero numbers and `false` are omitted, while
//! `createdAt` is always present. Unknown fields are ignored on input (faas-cli still sends
//! `network` and `registryAuth`), and `null` is accepted wherever a map or list is expected.
//! Maps are `BTreeMap`s so output is sorted, as Go's encoder sorts map keys.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// A string-to-string map with sorted keys (labels, annotations, env vars).
pub type StringMap = BTreeMap<String, String>;

/// The label every function carries with its own name, as faas-netes sets it.
pub const LABEL_FUNCTION_NAME: &str = "faas_function";
/// The minimum replica count label (initial replicas and scale-from-zero target).
pub const LABEL_SCALE_MIN: &str = "com.openfaas.scale.min";
/// The maximum replica count label.
pub const LABEL_SCALE_MAX: &str = "com.openfaas.scale.max";
/// The scaling step label (percent of max per step, 1..=100).
pub const LABEL_SCALE_FACTOR: &str = "com.openfaas.scale.factor";
/// The env var that carries the function's command (`envProcess`).
pub const ENV_FPROCESS: &str = "fprocess";
/// Where OpenFaaS functions read their secrets: `<dir>/<secret name>`.
pub const SECRETS_MOUNT_PATH: &str = "/var/openfaas/secrets";
/// The namespace functions go to when none is given, unless a provider says otherwise.
pub const DEFAULT_NAMESPACE: &str = "openfaas-fn";

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero_f64(n: &f64) -> bool {
    *n == 0.0
}

/// Deserialises `null` as the type's default, as Go does for maps and slices.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A function to deploy or update: the body of `POST`/`PUT /system/functions`.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeployment {
    /// The function name (a DNS-1123 label).
    pub service: String,
    /// The OCI image reference (metadata only for the local provider).
    pub image: String,
    /// The namespace; empty means the provider's default.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub namespace: String,
    /// The command the watchdog runs (env var `fprocess` in the container).
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub env_process: String,
    /// Extra environment variables.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub env_vars: StringMap,
    /// Provider-specific placement constraints.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub constraints: Vec<String>,
    /// Names of secrets mounted at `/var/openfaas/secrets/<name>`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub secrets: Vec<String>,
    /// Labels (identity and scaling: `com.openfaas.scale.min`, …).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub labels: StringMap,
    /// Annotations (free-form metadata; values may hold newlines).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub annotations: StringMap,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<FunctionResources>,
    /// Resource requests (reservations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<FunctionResources>,
    /// Whether the root filesystem is mounted read-only (with a writable `/tmp`).
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "null_default"
    )]
    pub read_only_root_filesystem: bool,
}

impl fmt::Debug for FunctionDeployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Env values may hold credentials: print the keys only.
        f.debug_struct("FunctionDeployment")
            .field("service", &self.service)
            .field("namespace", &self.namespace)
            .field("image", &self.image)
            .field("env_process", &self.env_process)
            .field("env_vars", &self.env_vars.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets)
            .field("labels", &self.labels)
            .field("annotations", &self.annotations.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl FunctionDeployment {
    /// A deployment of `service` from `image`, everything else empty.
    pub fn new(service: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            image: image.into(),
            ..Self::default()
        }
    }

    /// Sets the namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets the command (`envProcess`).
    pub fn with_env_process(mut self, command: impl Into<String>) -> Self {
        self.env_process = command.into();
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env_vars.insert(key.into(), value.into());
        self
    }

    /// Adds a label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds an annotation.
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Adds a secret to mount.
    pub fn with_secret(mut self, name: impl Into<String>) -> Self {
        self.secrets.push(name.into());
        self
    }

    /// Checks every field (see [`crate::validate::deployment`]).
    pub fn validate(&self) -> crate::Result<()> {
        crate::validate::deployment(self)
    }

    /// The command to run: `envProcess`, else `envVars.fprocess`, else `None`.
    pub fn fprocess(&self) -> Option<&str> {
        if !self.env_process.is_empty() {
            return Some(&self.env_process);
        }
        self.env_vars
            .get(ENV_FPROCESS)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The minimum replica count from `com.openfaas.scale.min` (default 1; validated input
    /// always parses).
    pub fn min_replicas(&self) -> u64 {
        scale_min(&self.labels)
    }
}

/// The minimum replicas a function with these labels is deployed with and scaled from zero
/// to: `com.openfaas.scale.min`, at least 1, default 1.
pub fn scale_min(labels: &StringMap) -> u64 {
    labels
        .get(LABEL_SCALE_MIN)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .max(1)
}

/// Resource quantities as Kubernetes quantity strings (`128Mi`, `100m`), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FunctionResources {
    /// Memory, e.g. `128Mi`.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub memory: String,
    /// CPU, e.g. `100m` or `0.5`.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub cpu: String,
    /// NVIDIA GPUs.
    #[serde(
        rename = "nvidia.com/gpu",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub nvidia_gpu: String,
    /// AMD GPUs.
    #[serde(
        rename = "amd.com/gpu",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub amd_gpu: String,
    /// Intel GPUs.
    #[serde(
        rename = "intel.com/gpu",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub intel_gpu: String,
}

impl FunctionResources {
    /// Whether no quantity is set.
    pub fn is_empty(&self) -> bool {
        self.memory.is_empty()
            && self.cpu.is_empty()
            && self.nvidia_gpu.is_empty()
            && self.amd_gpu.is_empty()
            && self.intel_gpu.is_empty()
    }
}

/// Resource usage summed over a function's replicas.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUsage {
    /// CPU used since the last sample, in millicores.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub cpu: f64,
    /// Resident memory in bytes.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub total_memory_bytes: f64,
}

/// A deployed function as the provider reports it: the response of `GET /system/functions`
/// (a list) and `GET /system/function/{name}`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStatus {
    /// The function name.
    pub name: String,
    /// The image it was deployed from.
    pub image: String,
    /// Its namespace.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub namespace: String,
    /// Its command.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub env_process: String,
    /// Its environment variables as deployed.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub env_vars: StringMap,
    /// Its placement constraints.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub constraints: Vec<String>,
    /// The secrets it mounts.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub secrets: Vec<String>,
    /// Its labels, including `faas_function=<name>`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub labels: StringMap,
    /// Its annotations.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub annotations: StringMap,
    /// Its limits, exactly as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<FunctionResources>,
    /// Its requests, exactly as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<FunctionResources>,
    /// Read-only root filesystem.
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "null_default"
    )]
    pub read_only_root_filesystem: bool,
    /// Invocations counted by the gateway (providers report 0).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub invocation_count: f64,
    /// Desired replicas (absent in JSON when 0).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub replicas: u64,
    /// Ready replicas (absent in JSON when 0).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub available_replicas: u64,
    /// When the function was first deployed.
    pub created_at: DateTime<Utc>,
    /// Resource usage, when the provider measures it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<FunctionUsage>,
}

impl fmt::Debug for FunctionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionStatus")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("image", &self.image)
            .field("replicas", &self.replicas)
            .field("available_replicas", &self.available_replicas)
            .field("env_vars", &self.env_vars.keys().collect::<Vec<_>>())
            .field("labels", &self.labels)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl FunctionStatus {
    /// The status of `deployment` in `namespace`, with the `faas_function` label added and
    /// zero replicas; the provider fills in replica counts and usage.
    pub fn from_deployment(
        deployment: &FunctionDeployment,
        namespace: &str,
        created_at: DateTime<Utc>,
    ) -> Self {
        let mut labels = deployment.labels.clone();
        labels.insert(LABEL_FUNCTION_NAME.to_owned(), deployment.service.clone());
        Self {
            name: deployment.service.clone(),
            image: deployment.image.clone(),
            namespace: namespace.to_owned(),
            env_process: deployment.env_process.clone(),
            env_vars: deployment.env_vars.clone(),
            constraints: deployment.constraints.clone(),
            secrets: deployment.secrets.clone(),
            labels,
            annotations: deployment.annotations.clone(),
            limits: deployment.limits.clone(),
            requests: deployment.requests.clone(),
            read_only_root_filesystem: deployment.read_only_root_filesystem,
            invocation_count: 0.0,
            replicas: 0,
            available_replicas: 0,
            created_at,
            usage: None,
        }
    }

    /// The deployment this status describes (the `faas_function` label is left out).
    pub fn to_deployment(&self) -> FunctionDeployment {
        let mut labels = self.labels.clone();
        if labels.get(LABEL_FUNCTION_NAME) == Some(&self.name) {
            labels.remove(LABEL_FUNCTION_NAME);
        }
        FunctionDeployment {
            service: self.name.clone(),
            image: self.image.clone(),
            namespace: self.namespace.clone(),
            env_process: self.env_process.clone(),
            env_vars: self.env_vars.clone(),
            constraints: self.constraints.clone(),
            secrets: self.secrets.clone(),
            labels,
            annotations: self.annotations.clone(),
            limits: self.limits.clone(),
            requests: self.requests.clone(),
            read_only_root_filesystem: self.read_only_root_filesystem,
        }
    }
}

/// The body of `POST /system/scale-function/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRequest {
    /// The function name.
    #[serde(default, deserialize_with = "null_default")]
    pub service_name: String,
    /// The desired replica count (0 allowed where the provider can scale to zero).
    #[serde(default, deserialize_with = "null_default")]
    pub replicas: u64,
    /// The namespace; empty means the provider's default.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub namespace: String,
}

impl ScaleRequest {
    /// Scale `service_name` in `namespace` to `replicas`.
    pub fn new(
        service_name: impl Into<String>,
        namespace: impl Into<String>,
        replicas: u64,
    ) -> Self {
        Self {
            service_name: service_name.into(),
            replicas,
            namespace: namespace.into(),
        }
    }
}

/// The body of `DELETE /system/functions`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteFunctionRequest {
    /// The function name.
    #[serde(default, deserialize_with = "null_default")]
    pub function_name: String,
    /// The namespace; empty means the provider's default.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub namespace: String,
}

/// A secret: the body of `POST`/`PUT`/`DELETE /system/secrets`.
///
/// `value` is text; `rawValue` is bytes (base64 in JSON) and is used when `value` is empty.
/// `Debug` never prints either.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// The secret name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The namespace; empty means the provider's default.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub namespace: String,
    /// A text value.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub value: String,
    /// A binary value, base64 in JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "base64_bytes")]
    pub raw_value: Vec<u8>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl Secret {
    /// A text secret.
    pub fn new(
        name: impl Into<String>,
        namespace: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            value: value.into(),
            raw_value: Vec::new(),
        }
    }

    /// A binary secret.
    pub fn raw(
        name: impl Into<String>,
        namespace: impl Into<String>,
        value: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            value: String::new(),
            raw_value: value.into(),
        }
    }

    /// The bytes a function reads from its secret file: `value` if set, else `rawValue`.
    pub fn bytes(&self) -> &[u8] {
        if self.value.is_empty() {
            &self.raw_value
        } else {
            self.value.as_bytes()
        }
    }

    /// The name and namespace only, as secrets are listed.
    pub fn info(&self) -> SecretInfo {
        SecretInfo {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

/// A secret as listed by `GET /system/secrets`: never its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct SecretInfo {
    /// The secret name.
    pub name: String,
    /// Its namespace.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub namespace: String,
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// A namespace with its metadata (`/system/namespace/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FunctionNamespace {
    /// The namespace name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Its annotations.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub annotations: StringMap,
    /// Its labels.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub labels: StringMap,
}

impl FunctionNamespace {
    /// A namespace with no metadata.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// What to read from a function's logs (`GET /system/logs`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogRequest {
    /// The function name.
    pub name: String,
    /// The namespace; empty means the provider's default.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Only this replica (instance id), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Only lines written at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Only the last `tail` lines (before following); `None` means all that are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<u64>,
    /// Keep the stream open and send new lines as they are written.
    #[serde(default)]
    pub follow: bool,
}

impl LogRequest {
    /// All kept lines of `name` in `namespace`, not following.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            ..Self::default()
        }
    }

    /// Follow new lines.
    pub fn with_follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }

    /// Only the last `n` lines.
    pub fn with_tail(mut self, n: u64) -> Self {
        self.tail = Some(n);
        self
    }

    /// Only lines since `since`.
    pub fn with_since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }
}

/// One log line: one NDJSON object of `/system/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The function name.
    pub name: String,
    /// Its namespace.
    #[serde(default)]
    pub namespace: String,
    /// The replica that wrote it.
    #[serde(default)]
    pub instance: String,
    /// When it was written (RFC 3339 with nanoseconds).
    pub timestamp: DateTime<Utc>,
    /// The line, without its newline.
    pub text: String,
}

/// The provider's version (`version` in `/system/info`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The commit message, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commit_message: String,
    /// The commit sha.
    #[serde(default)]
    pub sha: String,
    /// The release version.
    #[serde(default)]
    pub release: String,
}

/// What a provider is and can do: `provider` of `/system/info`, plus our capability set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    /// The provider's name (`faas-local`, `faas-swarm`, …).
    pub provider: String,
    /// Its version.
    pub version: VersionInfo,
    /// The orchestration it drives (`process`, `swarm`, `kubernetes`, `nomad`, `memory`).
    pub orchestration: String,
    /// The namespace used when a request names none.
    #[serde(default)]
    pub default_namespace: String,
    /// What it supports; the conformance suite skips (and reports) what is declared absent.
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// What a provider supports. Names follow OpenDAL's rule: a bare verb for an operation
/// (`scale`), `verb_can_x` for a variant (`scale_can_zero`), `verb_with_x` for an option
/// (`deploy_with_limits`), `*_max` for a limit.
///
/// An operation declared `false` MUST fail with `ErrorKind::Unsupported`; one declared `true`
/// MUST work. Build one with `Capabilities::default()` (everything off) and set fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Capabilities {
    /// `scale` works.
    pub scale: bool,
    /// `scale` to 0 replicas works (and scale from zero back up).
    pub scale_can_zero: bool,
    /// The highest replica count accepted, if limited.
    pub replicas_max: Option<u64>,
    /// `list_secrets`, `create_secret`, `delete_secret` work and functions can mount secrets.
    pub secrets: bool,
    /// `update_secret` works.
    pub secrets_can_update: bool,
    /// More than one namespace can hold functions (`list_namespaces` lists them).
    pub namespaces: bool,
    /// `create_namespace`, `update_namespace`, `delete_namespace` work.
    pub namespaces_can_mutate: bool,
    /// `logs` works.
    pub logs: bool,
    /// `logs` with `follow` streams new lines.
    pub logs_can_follow: bool,
    /// `limits` are enforced, not only stored.
    pub deploy_with_limits: bool,
    /// `constraints` are honoured.
    pub deploy_with_constraints: bool,
    /// `readOnlyRootFilesystem` is enforced.
    pub deploy_with_read_only_root_filesystem: bool,
    /// `usage` is reported in function status.
    pub usage: bool,
}

impl Capabilities {
    /// Every capability on, with no replica limit.
    pub fn all() -> Self {
        Self {
            scale: true,
            scale_can_zero: true,
            replicas_max: None,
            secrets: true,
            secrets_can_update: true,
            namespaces: true,
            namespaces_can_mutate: true,
            logs: true,
            logs_can_follow: true,
            deploy_with_limits: true,
            deploy_with_constraints: true,
            deploy_with_read_only_root_filesystem: true,
            usage: true,
        }
    }
}

/// Where one ready replica of a function answers HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The replica's id (as in log entries).
    #[serde(default)]
    pub instance: String,
}

impl Endpoint {
    /// An endpoint at `host:port` for replica `instance`.
    pub fn new(host: impl Into<String>, port: u16, instance: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            instance: instance.into(),
        }
    }

    /// `host:port`, bracketing IPv6 addresses, for a URI authority.
    pub fn authority(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `http://host:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.authority())
    }
}
