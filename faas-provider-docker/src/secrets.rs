//! Secrets as Swarm secrets: immutable, so an update creates the next version, moves every
//! function that mounts the secret onto it with a rolling update, and removes the old one.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bollard::models::{SecretSpec, TaskSpecContainerSpecSecrets};
use bollard::query_parameters::ListSecretsOptionsBuilder;
use faas_core::{Error, Result, Secret, SecretInfo};
use std::sync::Arc;

use crate::error::DockerError;
use crate::names;
use crate::provider::Inner;
use crate::translate::{self, SecretMount};

/// One stored version of a secret.
#[derive(Debug, Clone)]
struct Version {
    id: String,
    swarm_name: String,
    version: u64,
}

impl Inner {
    /// The stored versions of secret `name` in `namespace`, newest last.
    async fn versions(&self, name: &str, namespace: &str) -> Result<Vec<Version>, DockerError> {
        let filters = self.label_filter(
            "secret",
            &[(self.keys.namespace(), namespace), (self.keys.name(), name)],
        );
        let docker = self.docker().await?;
        let secrets = docker
            .list_secrets(Some(
                ListSecretsOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.engine.fail("list secrets", e))?;
        let mut out: Vec<Version> = secrets
            .into_iter()
            .filter_map(|s| {
                let spec = s.spec?;
                let labels = spec.labels.unwrap_or_default();
                Some(Version {
                    id: s.id?,
                    swarm_name: spec.name?,
                    version: labels.get(&self.keys.secret_version())?.parse().ok()?,
                })
            })
            .collect();
        out.sort_by_key(|v| v.version);
        Ok(out)
    }

    /// The current version of each named secret, as mounts; `NotFound` naming `secrets`.
    pub(crate) async fn secret_mounts(
        &self,
        names: &[String],
        namespace: &str,
    ) -> Result<Vec<SecretMount>> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let current = self.versions(name, namespace).await?.pop().ok_or_else(|| {
                Error::not_found(format!(
                    "secret {name:?} not found in namespace {namespace:?}"
                ))
                .with_field("secrets")
            })?;
            out.push(SecretMount {
                name: name.clone(),
                id: current.id,
                swarm_name: current.swarm_name,
            });
        }
        Ok(out)
    }

    async fn create_version(
        &self,
        secret: &Secret,
        namespace: &str,
        version: u64,
    ) -> Result<Version> {
        let swarm_name = names::secret_name(&secret.name, namespace, version);
        let mut labels = self.label_filter_labels("secret");
        labels.insert(self.keys.namespace(), namespace.to_owned());
        labels.insert(self.keys.name(), secret.name.clone());
        labels.insert(self.keys.secret_version(), version.to_string());
        labels.insert("com.openfaas.owner".to_owned(), "openfaas".to_owned());
        let spec = SecretSpec {
            name: Some(swarm_name.clone()),
            labels: Some(labels),
            data: Some(STANDARD.encode(secret.bytes())),
            ..Default::default()
        };
        let docker = self.docker().await?;
        match docker.create_secret(spec).await {
            Ok(id) => Ok(Version {
                id: id.id,
                swarm_name,
                version,
            }),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Err(Error::already_exists(format!(
                "secret {:?} already exists in namespace {namespace:?}",
                secret.name
            ))),
            Err(e) => Err(self.engine.fail("create secret", e).into()),
        }
    }

    pub(crate) async fn list_secrets(&self, namespace: &str) -> Result<Vec<SecretInfo>> {
        let namespace = self.namespace(namespace)?;
        self.require_namespace(&namespace).await?;
        let filters = self.label_filter("secret", &[(self.keys.namespace(), &namespace)]);
        let docker = self.docker().await?;
        let secrets = docker
            .list_secrets(Some(
                ListSecretsOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.engine.fail("list secrets", e))?;
        let mut names: Vec<String> = secrets
            .into_iter()
            .filter_map(|s| s.spec?.labels?.get(&self.keys.name()).cloned())
            .collect();
        names.sort();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|name| SecretInfo {
                name,
                namespace: namespace.clone(),
            })
            .collect())
    }

    pub(crate) async fn create_secret(&self, secret: Secret) -> Result<()> {
        faas_core::validate::secret(&secret)?;
        let namespace = self.namespace(&secret.namespace)?;
        self.require_namespace(&namespace).await?;
        if !self.versions(&secret.name, &namespace).await?.is_empty() {
            return Err(Error::already_exists(format!(
                "secret {:?} already exists in namespace {namespace:?}",
                secret.name
            )));
        }
        self.create_version(&secret, &namespace, 1).await?;
        Ok(())
    }

    pub(crate) async fn update_secret(self: Arc<Self>, secret: Secret) -> Result<()> {
        faas_core::validate::secret(&secret)?;
        let namespace = self.namespace(&secret.namespace)?;
        let old = self.versions(&secret.name, &namespace).await?;
        let Some(current) = old.last().cloned() else {
            return Err(Error::not_found(format!(
                "secret {:?} not found in namespace {namespace:?}",
                secret.name
            )));
        };
        let next = self
            .create_version(&secret, &namespace, current.version + 1)
            .await?;
        let old_ids: Vec<String> = old.iter().map(|v| v.id.clone()).collect();
        // Move every function that mounts an old version onto the new one (rolling, start-first).
        for service in self.functions_in(Some(&namespace)).await? {
            let Some(spec) = service.spec.as_ref() else {
                continue;
            };
            if !translate::spec_secret_ids(spec)
                .iter()
                .any(|id| old_ids.contains(id))
            {
                continue;
            }
            let mut spec = spec.clone();
            if let Some(refs) = spec
                .task_template
                .as_mut()
                .and_then(|t| t.container_spec.as_mut())
                .and_then(|c| c.secrets.as_mut())
            {
                for r in refs.iter_mut() {
                    if r.secret_id.as_ref().is_some_and(|id| old_ids.contains(id)) {
                        *r = TaskSpecContainerSpecSecrets {
                            secret_id: Some(next.id.clone()),
                            secret_name: Some(next.swarm_name.clone()),
                            ..r.clone()
                        };
                    }
                }
            }
            self.write_service(&service, spec).await?;
        }
        // The engine refuses to remove a secret while a service spec still names it; the specs
        // were just rewritten, so this normally succeeds at once. Retry in the background for a
        // little while in case a concurrent update still held the old version.
        let inner = self.clone();
        tokio::spawn(async move {
            for v in old {
                inner.remove_secret_with_retry(&v.id).await;
            }
        });
        Ok(())
    }

    async fn remove_secret_with_retry(&self, id: &str) {
        let mut delay = Duration::from_millis(100);
        for _ in 0..8 {
            match self.remove_secret(id).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!(error = %e, secret_id = %id, "old secret version not removed yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        tracing::warn!(secret_id = %id, "could not remove an old secret version; it is unused and can be removed by hand");
    }

    async fn remove_secret(&self, id: &str) -> Result<(), DockerError> {
        let docker = self.docker().await?;
        match docker.delete_secret(id).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(self.engine.fail("delete secret", e)),
        }
    }

    pub(crate) async fn delete_secret(&self, name: &str, namespace: &str) -> Result<()> {
        faas_core::validate::secret_name("name", name)?;
        let namespace = self.namespace(namespace)?;
        let versions = self.versions(name, &namespace).await?;
        if versions.is_empty() {
            return Err(Error::not_found(format!(
                "secret {name:?} not found in namespace {namespace:?}"
            )));
        }
        let ids: Vec<&String> = versions.iter().map(|v| &v.id).collect();
        let users: Vec<String> = self
            .functions_in(Some(&namespace))
            .await?
            .iter()
            .filter(|s| {
                s.spec.as_ref().is_some_and(|spec| {
                    translate::spec_secret_ids(spec)
                        .iter()
                        .any(|id| ids.contains(&id))
                })
            })
            .filter_map(|s| translate::function_identity(s, &self.keys).map(|(_, n)| n))
            .collect();
        if !users.is_empty() {
            return Err(Error::new(
                faas_core::ErrorKind::Conflict,
                format!(
                    "secret {name:?} is mounted by function(s) {}; remove it from them first",
                    users.join(", ")
                ),
            ));
        }
        for v in versions {
            self.remove_secret(&v.id).await?;
        }
        Ok(())
    }
}
