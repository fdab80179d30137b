//! Namespaces, which Swarm lacks: each one but the default is a labelled Swarm config
//! (`faas-namespace_<name>`) whose labels also hold the namespace's labels and annotations.
//! The default namespace always exists; it gets a config only to hold metadata.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bollard::models::{Config, ConfigSpec};
use bollard::query_parameters::{ListConfigsOptionsBuilder, UpdateConfigOptionsBuilder};
use faas_core::{Error, ErrorKind, FunctionNamespace, Result, StringMap};

use crate::error::DockerError;
use crate::names;
use crate::provider::Inner;

impl Inner {
    /// `managed` and `kind` labels for a new object.
    pub(crate) fn label_filter_labels(&self, kind: &str) -> HashMap<String, String> {
        HashMap::from([
            (self.keys.managed(), "true".to_owned()),
            (self.keys.kind(), kind.to_owned()),
        ])
    }

    async fn namespace_configs(&self, name: Option<&str>) -> Result<Vec<Config>, DockerError> {
        let extra: Vec<(String, &str)> = name
            .map(|n| (self.keys.namespace(), n))
            .into_iter()
            .collect();
        let filters = self.label_filter("namespace", &extra);
        let docker = self.docker().await?;
        docker
            .list_configs(Some(
                ListConfigsOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.engine.fail("list configs", e))
    }

    async fn namespace_config(&self, name: &str) -> Result<Option<Config>, DockerError> {
        Ok(self.namespace_configs(Some(name)).await?.into_iter().next())
    }

    /// `NotFound` unless `namespace` (already defaulted) exists.
    pub(crate) async fn require_namespace(&self, namespace: &str) -> Result<()> {
        if namespace == self.config.default_namespace
            || self.namespace_config(namespace).await?.is_some()
        {
            Ok(())
        } else {
            Err(Error::not_found(format!(
                "namespace {namespace:?} not found"
            )))
        }
    }

    fn config_labels(&self, ns: &FunctionNamespace) -> HashMap<String, String> {
        let mut labels = self.label_filter_labels("namespace");
        labels.insert(self.keys.namespace(), ns.name.clone());
        for (k, v) in &ns.labels {
            labels.insert(self.keys.ns_label(k), v.clone());
        }
        for (k, v) in &ns.annotations {
            labels.insert(self.keys.ns_annotation(k), v.clone());
        }
        labels
    }

    fn namespace_from_config(&self, name: &str, config: Option<&Config>) -> FunctionNamespace {
        let mut out = FunctionNamespace::new(name);
        let labels = config
            .and_then(|c| c.spec.as_ref())
            .and_then(|s| s.labels.clone())
            .unwrap_or_default();
        let label_prefix = self.keys.ns_label("");
        let annotation_prefix = self.keys.ns_annotation("");
        let (mut l, mut a) = (StringMap::new(), StringMap::new());
        for (k, v) in labels {
            if let Some(key) = k.strip_prefix(&label_prefix) {
                l.insert(key.to_owned(), v);
            } else if let Some(key) = k.strip_prefix(&annotation_prefix) {
                a.insert(key.to_owned(), v);
            }
        }
        out.labels = l;
        out.annotations = a;
        out
    }

    pub(crate) async fn list_namespaces(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .namespace_configs(None)
            .await?
            .into_iter()
            .filter_map(|c| c.spec?.labels?.get(&self.keys.namespace()).cloned())
            .collect();
        names.push(self.config.default_namespace.clone());
        names.sort();
        names.dedup();
        Ok(names)
    }

    pub(crate) async fn get_namespace(&self, name: &str) -> Result<FunctionNamespace> {
        faas_core::validate::namespace("name", name)?;
        let name = self.namespace(name)?;
        let config = self.namespace_config(&name).await?;
        if config.is_none() && name != self.config.default_namespace {
            return Err(Error::not_found(format!("namespace {name:?} not found")));
        }
        Ok(self.namespace_from_config(&name, config.as_ref()))
    }

    async fn create_config(&self, ns: &FunctionNamespace) -> Result<()> {
        let spec = ConfigSpec {
            name: Some(names::namespace_config_name(&ns.name)),
            labels: Some(self.config_labels(ns)),
            data: Some(STANDARD.encode(b"faas namespace")),
            ..Default::default()
        };
        let docker = self.docker().await?;
        match docker.create_config(spec).await {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Err(Error::already_exists(format!(
                "namespace {:?} already exists",
                ns.name
            ))),
            Err(e) => Err(self.engine.fail("create config", e).into()),
        }
    }

    pub(crate) async fn create_namespace(&self, ns: FunctionNamespace) -> Result<()> {
        faas_core::validate::function_namespace(&ns)?;
        if ns.name.is_empty() {
            return Err(Error::invalid("name", "namespace name is required"));
        }
        if ns.name == self.config.default_namespace
            || self.namespace_config(&ns.name).await?.is_some()
        {
            return Err(Error::already_exists(format!(
                "namespace {:?} already exists",
                ns.name
            )));
        }
        self.create_config(&ns).await
    }

    pub(crate) async fn update_namespace(&self, ns: FunctionNamespace) -> Result<()> {
        faas_core::validate::function_namespace(&ns)?;
        if ns.name.is_empty() {
            return Err(Error::invalid("name", "namespace name is required"));
        }
        let Some(config) = self.namespace_config(&ns.name).await? else {
            if ns.name == self.config.default_namespace {
                return self.create_config(&ns).await;
            }
            return Err(Error::not_found(format!(
                "namespace {:?} not found",
                ns.name
            )));
        };
        let id = config.id.clone().unwrap_or_default();
        let version = config.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let mut spec = config.spec.clone().unwrap_or_default();
        spec.labels = Some(self.config_labels(&ns));
        let docker = self.docker().await?;
        let version =
            i64::try_from(version).map_err(|_| Error::internal("config version out of range"))?;
        docker
            .update_config(
                &id,
                spec,
                UpdateConfigOptionsBuilder::default()
                    .version(version)
                    .build(),
            )
            .await
            .map_err(|e| self.engine.fail("update config", e))?;
        Ok(())
    }

    pub(crate) async fn delete_namespace(&self, name: &str) -> Result<()> {
        faas_core::validate::namespace("name", name)?;
        if name.is_empty() || name == self.config.default_namespace {
            return Err(Error::new(
                ErrorKind::Conflict,
                "the default namespace cannot be deleted",
            ));
        }
        let Some(config) = self.namespace_config(name).await? else {
            return Err(Error::not_found(format!("namespace {name:?} not found")));
        };
        if !self.functions_in(Some(name)).await?.is_empty()
            || !self.list_secrets(name).await?.is_empty()
        {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("namespace {name:?} still holds functions or secrets"),
            ));
        }
        let docker = self.docker().await?;
        match docker.delete_config(&config.id.unwrap_or_default()).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Err(Error::not_found(format!("namespace {name:?} not found"))),
            Err(e) => Err(self.engine.fail("delete config", e).into()),
        }
    }
}
