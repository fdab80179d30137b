//! Function operations: deploy, update, delete, get, list, scale, resolve, wait_ready.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{Service, ServiceSpec, Task};
use bollard::query_parameters::{
    EventsOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    UpdateServiceOptionsBuilder,
};
use faas_core::{
    Endpoint, Error, FunctionDeployment, FunctionStatus, LABEL_SCALE_MIN, Result, ScaleRequest,
};
use futures::StreamExt;
use tokio::time::Instant;

use crate::config::ResolveMode;
use crate::error::DockerError;
use crate::names;
use crate::provider::Inner;
use crate::ready::{RunningTask, running_tasks, starting_task_ids};
use crate::translate::{self, FUNCTION_PORT, SpecContext};

/// How often an update that lost a race with another writer is retried.
const UPDATE_ATTEMPTS: usize = 5;

/// How long a scale-down waits for Swarm to mark the surplus tasks for removal before it
/// asks Swarm to reconcile again (see `Inner::confirm_scale_down`).
const SCALE_DOWN_CHECK: Duration = Duration::from_secs(1);

impl Inner {
    pub(crate) fn service_name(&self, name: &str, namespace: &str) -> Result<String, DockerError> {
        names::service_name(name, namespace, &self.config.default_namespace)
    }

    /// The managed service of function `name` in `namespace`, if there is one.
    pub(crate) async fn find_service(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<Option<Service>, DockerError> {
        let service_name = self.service_name(name, namespace)?;
        let docker = self.docker().await?;
        match docker.inspect_service(&service_name, None).await {
            Ok(service) => {
                let ours = translate::function_identity(&service, &self.keys)
                    .is_some_and(|(ns, n)| ns == namespace && n == name);
                Ok(ours.then_some(service))
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.engine.fail("inspect service", e)),
        }
    }

    /// [`Inner::find_service`], `NotFound` when absent.
    pub(crate) async fn service(&self, name: &str, namespace: &str) -> Result<Service> {
        faas_core::validate::function_name("name", name)?;
        self.find_service(name, namespace).await?.ok_or_else(|| {
            Error::not_found(format!(
                "function {name:?} not found in namespace {namespace:?}"
            ))
        })
    }

    async fn spec_for(
        &self,
        d: &FunctionDeployment,
        namespace: &str,
        replicas: u64,
    ) -> Result<ServiceSpec> {
        let secrets = self.secret_mounts(&d.secrets, namespace).await?;
        let service_name = self.service_name(&d.service, namespace)?;
        let ctx = SpecContext {
            keys: &self.keys,
            service_name: &service_name,
            namespace,
            network: &self.config.network,
            resolve_mode: self.config.resolve_mode,
            replicas,
            secrets: &secrets,
            stop_grace_period: self.config.stop_grace_period,
        };
        Ok(translate::to_service_spec(d, &ctx)?)
    }

    pub(crate) async fn deploy(&self, d: FunctionDeployment) -> Result<()> {
        d.validate()?;
        let namespace = self.namespace(&d.namespace)?;
        translate::check_reserved(&d, &self.keys)?;
        self.require_namespace(&namespace).await?;
        if self.find_service(&d.service, &namespace).await?.is_some() {
            return Err(Error::already_exists(format!(
                "function {:?} already exists in namespace {namespace:?}",
                d.service
            )));
        }
        let spec = self.spec_for(&d, &namespace, d.min_replicas()).await?;
        let docker = self.docker().await?;
        match docker
            .create_service(spec.clone(), self.credentials())
            .await
        {
            Ok(_) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {
                return Err(Error::already_exists(format!(
                    "function {:?} already exists in namespace {namespace:?}",
                    d.service
                )));
            }
            // The network may have been removed behind our back: recreate it once.
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("network") && message.contains("not found") =>
            {
                self.ensure_network().await?;
                docker
                    .create_service(spec, self.credentials())
                    .await
                    .map_err(|e| self.engine.fail("create service", e))?;
            }
            Err(e) => return Err(self.engine.fail("create service", e).into()),
        }
        tracing::info!(function = %d.service, %namespace, "deployed");
        Ok(())
    }

    /// Writes `spec` over `service` with its version index (`Conflict` when someone else
    /// wrote in between).
    pub(crate) async fn write_service(&self, service: &Service, spec: ServiceSpec) -> Result<()> {
        let id = service
            .id
            .clone()
            .ok_or_else(|| Error::internal("service without id"))?;
        let version = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let version = i32::try_from(version)
            .map_err(|_| Error::internal("service version index out of range"))?;
        let docker = self.docker().await?;
        docker
            .update_service(
                &id,
                spec,
                UpdateServiceOptionsBuilder::default()
                    .version(version)
                    .build(),
                self.credentials(),
            )
            .await
            .map_err(|e| self.engine.fail("update service", e))?;
        Ok(())
    }

    pub(crate) async fn update(&self, d: FunctionDeployment) -> Result<()> {
        d.validate()?;
        let namespace = self.namespace(&d.namespace)?;
        translate::check_reserved(&d, &self.keys)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let service = self.service(&d.service, &namespace).await?;
            let current = service
                .spec
                .as_ref()
                .map(translate::spec_replicas)
                .unwrap_or(0);
            let replicas = if d.labels.contains_key(LABEL_SCALE_MIN) {
                current.max(d.min_replicas())
            } else {
                current
            };
            let spec = self.spec_for(&d, &namespace, replicas).await?;
            match self.write_service(&service, spec).await {
                Ok(_) => break,
                Err(e)
                    if e.kind() == faas_core::ErrorKind::Conflict && attempt < UPDATE_ATTEMPTS =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        tracing::info!(function = %d.service, %namespace, "updated");
        Ok(())
    }

    pub(crate) async fn delete(&self, name: &str, namespace: &str) -> Result<()> {
        let namespace = self.namespace(namespace)?;
        let service = self.service(name, &namespace).await?;
        let id = service.id.unwrap_or_default();
        let docker = self.docker().await?;
        match docker.delete_service(&id).await {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Err(Error::not_found(format!(
                    "function {name:?} not found in namespace {namespace:?}"
                )));
            }
            Err(e) => return Err(self.engine.fail("delete service", e).into()),
        }
        tracing::info!(function = %name, %namespace, "deleted");
        Ok(())
    }

    pub(crate) async fn get(&self, name: &str, namespace: &str) -> Result<FunctionStatus> {
        let namespace = self.namespace(namespace)?;
        let service = self.service(name, &namespace).await?;
        self.status(&service).await
    }

    async fn status(&self, service: &Service) -> Result<FunctionStatus> {
        let mut status = translate::to_status(service, &self.keys)
            .ok_or_else(|| Error::internal("service is not a function"))?;
        status.available_replicas = self.endpoints(service).await?.len() as u64;
        Ok(status)
    }

    pub(crate) async fn list(&self, namespace: &str) -> Result<Vec<FunctionStatus>> {
        let namespace = self.namespace(namespace)?;
        self.require_namespace(&namespace).await?;
        let services = self.functions_in(Some(&namespace)).await?;
        let statuses = futures::future::join_all(services.iter().map(|s| self.status(s))).await;
        let mut out = statuses.into_iter().collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The managed function services, of one namespace or all.
    pub(crate) async fn functions_in(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<Service>, DockerError> {
        let extra: Vec<(String, &str)> = namespace
            .map(|ns| (self.keys.namespace(), ns))
            .into_iter()
            .collect();
        let filters = self.label_filter("function", &extra);
        let docker = self.docker().await?;
        docker
            .list_services(Some(
                ListServicesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.engine.fail("list services", e))
    }

    pub(crate) async fn scale(&self, request: ScaleRequest) -> Result<()> {
        faas_core::validate::scale_request(&request)?;
        let namespace = self.namespace(&request.namespace)?;
        let replicas = request.replicas;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let service = self.service(&request.service_name, &namespace).await?;
            let Some(mut spec) = service.spec.clone() else {
                return Err(Error::internal("service without spec"));
            };
            let current = translate::spec_replicas(&spec);
            if current == replicas {
                return Ok(());
            }
            translate::set_spec_replicas(&mut spec, replicas);
            match self.write_service(&service, spec).await {
                Ok(_) if replicas < current => {
                    self.confirm_scale_down(&request.service_name, &namespace, replicas)
                        .await;
                    return Ok(());
                }
                Ok(_) => return Ok(()),
                Err(e)
                    if e.kind() == faas_core::ErrorKind::Conflict && attempt < UPDATE_ATTEMPTS =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Swarm's orchestrator can lose a scale-down that races a task's own status update (a
    /// replica that just started, reported running at that moment): it logs "failed to update
    /// task to REMOVE … update out of sequence" and leaves the task running until the service
    /// changes again. So after a scale-down this checks, in short steps for at most
    /// [`SCALE_DOWN_CHECK`], that no more than `replicas` tasks are still meant to run (the
    /// orchestrator marks the rest within milliseconds), and otherwise writes the service once
    /// more, unchanged, which makes the orchestrator reconcile it again. Best effort: errors
    /// are logged, the scale itself already succeeded.
    async fn confirm_scale_down(&self, name: &str, namespace: &str, replicas: u64) {
        let deadline = Instant::now() + SCALE_DOWN_CHECK;
        let mut step = Duration::from_millis(5);
        let service = loop {
            let service = match self.find_service(name, namespace).await {
                Ok(Some(service)) => service,
                // Deleted meanwhile, or the engine is gone: nothing to confirm.
                _ => return,
            };
            match self.desired_running(&service).await {
                Ok(n) if n <= replicas => return,
                Ok(_) => {}
                Err(_) => return,
            }
            if Instant::now() >= deadline {
                break service;
            }
            tokio::time::sleep(step).await;
            step = (step * 2).min(Duration::from_millis(100));
        };
        tracing::warn!(function = %name, %namespace, replicas, "Swarm kept surplus tasks after a scale-down; asking it to reconcile again");
        if let Some(spec) = service.spec.clone()
            && let Err(e) = self.write_service(&service, spec).await
        {
            tracing::warn!(function = %name, %namespace, error = %e, "could not rewrite the service after a lost scale-down");
        }
    }

    /// How many tasks of a service Swarm means to run (desired state running, any actual
    /// state).
    async fn desired_running(&self, service: &Service) -> Result<u64, DockerError> {
        Ok(self.desired_tasks(service).await?.len() as u64)
    }

    /// The tasks of a service whose desired state is running (any actual state).
    async fn desired_tasks(&self, service: &Service) -> Result<Vec<Task>, DockerError> {
        let id = service.id.clone().unwrap_or_default();
        let filters = HashMap::from([
            ("service".to_owned(), vec![id]),
            ("desired-state".to_owned(), vec!["running".to_owned()]),
        ]);
        let docker = self.docker().await?;
        docker
            .list_tasks(Some(
                ListTasksOptionsBuilder::default().filters(&filters).build(),
            ))
            .await
            .map_err(|e| self.engine.fail("list tasks", e))
    }

    /// The running tasks of a service, and the starting ones whose container already answered
    /// its probe (found by `wait_ready` before the manager recorded them running).
    async fn tasks(&self, service: &Service) -> Result<Vec<RunningTask>, DockerError> {
        let tasks = self.desired_tasks(service).await?;
        let mut running = running_tasks(&tasks);
        // A replica `wait_ready` already found answering (from its container's start event)
        // counts before the manager records it running, so `resolve` and `availableReplicas`
        // agree with what `wait_ready` returned.
        for id in starting_task_ids(&tasks) {
            if let Some(port) = self.readiness.passed_port(&id) {
                running.push(RunningTask {
                    id,
                    port: Some(port),
                });
            }
        }
        running.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(running)
    }

    /// The ready endpoints of a service (see the crate docs on readiness).
    async fn endpoints(&self, service: &Service) -> Result<Vec<Endpoint>> {
        let tasks = self.tasks(service).await?;
        match self.config.resolve_mode {
            ResolveMode::Dns => {
                let name = service
                    .spec
                    .as_ref()
                    .and_then(|s| s.name.clone())
                    .unwrap_or_default();
                let port = u16::try_from(FUNCTION_PORT).unwrap_or(8080);
                Ok(if tasks.is_empty() {
                    vec![]
                } else {
                    vec![Endpoint::new(name, port, "")]
                })
            }
            ResolveMode::Published => {
                let checks =
                    tasks
                        .iter()
                        .filter_map(|t| Some((t, t.port?)))
                        .map(|(t, port)| async move {
                            self.readiness
                                .is_ready(&t.id, port)
                                .await
                                .then(|| Endpoint::new("127.0.0.1", port, t.id.clone()))
                        });
                Ok(futures::future::join_all(checks)
                    .await
                    .into_iter()
                    .flatten()
                    .collect())
            }
        }
    }

    pub(crate) async fn resolve(&self, name: &str, namespace: &str) -> Result<Vec<Endpoint>> {
        let namespace = self.namespace(namespace)?;
        let service = self.service(name, &namespace).await?;
        self.endpoints(&service).await
    }

    /// Waits for a ready endpoint: wakes on the engine's container events for the service and
    /// probes in short, growing steps while a task runs but does not answer yet.
    ///
    /// In published mode a container `start` event is followed at once: the container's
    /// published port is read from the container itself and probed, without waiting for Swarm
    /// to report the task running (the manager learns that tens of milliseconds later, more on
    /// a loaded node). The first such replica that answers is returned, with any other ready
    /// task; the task listing remains the fallback (and the only source in dns mode).
    pub(crate) async fn wait_ready(
        &self,
        name: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<Vec<Endpoint>> {
        let namespace = self.namespace(namespace)?;
        let deadline = Instant::now() + timeout;
        let service_name = self.service_name(name, &namespace)?;
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "label".to_owned(),
                vec![format!("com.docker.swarm.service.name={service_name}")],
            ),
        ]);
        let docker = self.docker().await?;
        let mut events = Box::pin(docker.events(Some(
            EventsOptionsBuilder::default().filters(&filters).build(),
        )));
        let published = self.config.resolve_mode == ResolveMode::Published;
        // Containers seen starting since the subscription, as (task id, published port).
        let mut started: Vec<(String, u16)> = Vec::new();
        let mut step = Duration::from_millis(10);
        let mut events_done = false;
        let mut list = true;
        loop {
            if !started.is_empty() {
                let ready = self.ready_among(&started).await;
                if !ready.is_empty() {
                    return Ok(self.with_ready_tasks(name, &namespace, ready).await);
                }
            }
            if list {
                let service = self.service(name, &namespace).await?;
                let endpoints = self.endpoints(&service).await?;
                if !endpoints.is_empty() {
                    return Ok(endpoints);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::timeout(format!(
                    "function {name:?} in namespace {namespace:?} had no ready replica within {timeout:?}"
                )));
            }
            // A container event (start, die, …) restarts the short probe steps; without one the
            // probe repeats at growing intervals up to 100 ms, for tasks that run but do not
            // answer yet and for engine state that lags the event.
            let until = (now + step).min(deadline);
            step = (step * 2).min(Duration::from_millis(100));
            list = true;
            tokio::select! {
                event = events.next(), if !events_done => match event {
                    Some(Ok(e)) => {
                        tracing::debug!(action = ?e.action, "container event");
                        step = Duration::from_millis(5);
                        if published && e.action.as_deref() == Some("start") {
                            let id = e.actor.and_then(|a| a.id).unwrap_or_default();
                            if let Some(found) = self.published_port(&id).await {
                                started.push(found);
                                // Probe it at once; the listing can wait for the next step.
                                step = Duration::from_millis(2);
                                list = false;
                            }
                        }
                    }
                    // The engine closed the stream (restart?): fall back to the probe steps.
                    Some(Err(_)) | None => events_done = true,
                },
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// The task id and published port 8080 of container `id`, from the container itself.
    async fn published_port(&self, id: &str) -> Option<(String, u16)> {
        let docker = self.docker().await.ok()?;
        let container = docker.inspect_container(id, None).await.ok()?;
        let task = container
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get("com.docker.swarm.task.id"))
            .cloned()?;
        let port = container
            .network_settings
            .as_ref()
            .and_then(|n| n.ports.as_ref())
            .and_then(published_host_port)?;
        Some((task, port))
    }

    /// The endpoints among `candidates` (task id, port) whose probe passes.
    async fn ready_among(&self, candidates: &[(String, u16)]) -> Vec<Endpoint> {
        let checks = candidates.iter().map(|(task, port)| async move {
            self.readiness
                .is_ready(task, *port)
                .await
                .then(|| Endpoint::new("127.0.0.1", *port, task.clone()))
        });
        futures::future::join_all(checks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// `ready` plus the tasks Swarm already reports ready (probes cached, so this costs a
    /// task listing), sorted by instance like [`Inner::endpoints`]. Listing errors leave
    /// `ready` as it is: it answers already.
    async fn with_ready_tasks(
        &self,
        name: &str,
        namespace: &str,
        mut ready: Vec<Endpoint>,
    ) -> Vec<Endpoint> {
        if let Ok(service) = self.service(name, namespace).await
            && let Ok(known) = self.endpoints(&service).await
        {
            for e in known {
                if !ready.iter().any(|r| r.port == e.port) {
                    ready.push(e);
                }
            }
        }
        ready.sort_by(|a, b| a.instance.cmp(&b.instance));
        ready
    }
}

/// The host port bound to the container's port 8080 (host-mode publishing appears as an
/// ordinary port binding), from a container's `NetworkSettings.Ports`.
fn published_host_port(ports: &bollard::models::PortMap) -> Option<u16> {
    let key = format!("{FUNCTION_PORT}/tcp");
    ports
        .get(&key)?
        .as_ref()?
        .iter()
        .find_map(|b| b.host_port.as_deref()?.parse().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bollard::models::{PortBinding, PortMap};

    use super::*;

    #[test]
    fn the_host_port_of_port_8080_is_read_from_the_bindings() {
        let binding = |port: &str| PortBinding {
            host_ip: Some("0.0.0.0".into()),
            host_port: Some(port.into()),
        };
        let ports: PortMap = [
            ("9090/tcp".to_owned(), Some(vec![binding("30001")])),
            (
                "8080/tcp".to_owned(),
                Some(vec![binding("30002"), binding("30002")]),
            ),
        ]
        .into();
        assert_eq!(published_host_port(&ports), Some(30002));
        let unbound: PortMap = [("8080/tcp".to_owned(), None)].into();
        assert_eq!(published_host_port(&unbound), None);
        assert_eq!(published_host_port(&PortMap::new()), None);
    }
}
