//! The durable state of the provider: namespaces and functions (spec, creation time, desired
//! replicas), one JSON document written atomically to `<data_dir>/state.json`.
//!
//! Secrets are kept apart (see [`crate::secrets`]); this file never holds secret values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use faas_core::{DEFAULT_NAMESPACE, FunctionDeployment, FunctionNamespace};
use serde::{Deserialize, Serialize};

use crate::error::{LocalError, LocalResult};
use crate::fsutil;

/// One function as recorded on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FunctionRecord {
    /// The spec as deployed (namespace filled in).
    pub(crate) deployment: FunctionDeployment,
    /// When it was first deployed.
    pub(crate) created_at: DateTime<Utc>,
    /// The desired replica count.
    pub(crate) replicas: u64,
}

/// Everything on disk except secrets and logs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    /// Format version.
    pub(crate) version: u32,
    /// Namespaces by name.
    pub(crate) namespaces: BTreeMap<String, FunctionNamespace>,
    /// Functions by namespace, then name.
    pub(crate) functions: BTreeMap<String, BTreeMap<String, FunctionRecord>>,
}

impl Default for State {
    fn default() -> Self {
        let mut namespaces = BTreeMap::new();
        namespaces.insert(
            DEFAULT_NAMESPACE.to_owned(),
            FunctionNamespace::new(DEFAULT_NAMESPACE),
        );
        Self {
            version: 1,
            namespaces,
            functions: BTreeMap::new(),
        }
    }
}

/// Reads and writes [`State`] in the data directory.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file inside `data_dir`.
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("state.json"),
        }
    }

    /// Loads the state, or the initial state when there is no file yet.
    pub(crate) fn load(&self) -> LocalResult<State> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let mut state: State =
                    serde_json::from_slice(&bytes).map_err(|source| LocalError::State {
                        path: self.path.clone(),
                        source,
                    })?;
                state
                    .namespaces
                    .entry(DEFAULT_NAMESPACE.to_owned())
                    .or_insert_with(|| FunctionNamespace::new(DEFAULT_NAMESPACE));
                Ok(state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(LocalError::io("reading", &self.path)(e)),
        }
    }

    /// Writes the state atomically (temp file, fsync, rename).
    pub(crate) fn save(&self, state: &State) -> LocalResult<()> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|source| LocalError::State {
            path: self.path.clone(),
            source,
        })?;
        fsutil::write_atomic(&self.path, &bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path());
        let mut state = file.load().unwrap();
        assert!(state.namespaces.contains_key(DEFAULT_NAMESPACE));
        state
            .functions
            .entry("openfaas-fn".into())
            .or_default()
            .insert(
                "echo".into(),
                FunctionRecord {
                    deployment: FunctionDeployment::new("echo", "img").with_env_process("cat"),
                    created_at: Utc::now(),
                    replicas: 2,
                },
            );
        file.save(&state).unwrap();
        let back = file.load().unwrap();
        assert_eq!(back.functions["openfaas-fn"]["echo"].replicas, 2);
        assert_eq!(
            back.functions["openfaas-fn"]["echo"].deployment.env_process,
            "cat"
        );
    }
}
