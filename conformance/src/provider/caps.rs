//! The capabilities checks depend on, by name ([`Cap`]).

use faas_core::Capabilities;

/// A capability of [`Capabilities`] that selects checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cap {
    /// `scale`
    Scale,
    /// `scale_can_zero`
    ScaleCanZero,
    /// `replicas_max` is set
    ReplicasMax,
    /// `secrets`
    Secrets,
    /// `secrets_can_update`
    SecretsCanUpdate,
    /// `namespaces`
    Namespaces,
    /// `namespaces_can_mutate`
    NamespacesCanMutate,
    /// `logs`
    Logs,
    /// `logs_can_follow`
    LogsCanFollow,
}

impl Cap {
    /// Every capability.
    pub const ALL: [Cap; 9] = [
        Cap::Scale,
        Cap::ScaleCanZero,
        Cap::ReplicasMax,
        Cap::Secrets,
        Cap::SecretsCanUpdate,
        Cap::Namespaces,
        Cap::NamespacesCanMutate,
        Cap::Logs,
        Cap::LogsCanFollow,
    ];

    /// The field name in [`Capabilities`].
    pub fn name(self) -> &'static str {
        match self {
            Cap::Scale => "scale",
            Cap::ScaleCanZero => "scale_can_zero",
            Cap::ReplicasMax => "replicas_max",
            Cap::Secrets => "secrets",
            Cap::SecretsCanUpdate => "secrets_can_update",
            Cap::Namespaces => "namespaces",
            Cap::NamespacesCanMutate => "namespaces_can_mutate",
            Cap::Logs => "logs",
            Cap::LogsCanFollow => "logs_can_follow",
        }
    }

    /// The capability named `name`.
    pub fn from_name(name: &str) -> Option<Cap> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether `caps` declares it.
    pub fn declared(self, caps: &Capabilities) -> bool {
        match self {
            Cap::Scale => caps.scale,
            Cap::ScaleCanZero => caps.scale_can_zero,
            Cap::ReplicasMax => caps.replicas_max.is_some(),
            Cap::Secrets => caps.secrets,
            Cap::SecretsCanUpdate => caps.secrets_can_update,
            Cap::Namespaces => caps.namespaces,
            Cap::NamespacesCanMutate => caps.namespaces_can_mutate,
            Cap::Logs => caps.logs,
            Cap::LogsCanFollow => caps.logs_can_follow,
        }
    }
}
