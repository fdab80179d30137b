//! Isolation and cleanup: [`Fixture`] hands out unique names (`conf-<run>-<n>`), records what a
//! check created, and deletes it afterwards, even when the check failed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use faas_core::{DynProvider, ErrorKind};
use rand::Rng as _;

/// Something a check created.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Created {
    Function { name: String, namespace: String },
    Secret { name: String, namespace: String },
    Namespace { name: String },
}

/// Unique names for one check, and the record of what it created.
#[derive(Debug)]
pub struct Fixture {
    run_id: String,
    prefix: String,
    counter: AtomicU64,
    created: Mutex<Vec<Created>>,
}

/// A fresh random run id: six lowercase hex digits.
pub fn new_run_id() -> String {
    format!("{:06x}", rand::rng().random_range(0..0x100_0000u32))
}

impl Fixture {
    /// A fixture for the run `run_id`; `case_no` keeps names of different checks apart.
    pub fn new(run_id: &str, case_no: usize) -> Self {
        Self {
            run_id: run_id.to_owned(),
            prefix: format!("conf-{run_id}-{case_no}"),
            counter: AtomicU64::new(0),
            created: Mutex::new(Vec::new()),
        }
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// A name no other check of any run uses: `conf-<run>-<case>-<n>`, a DNS-1123 label.
    pub fn name(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
    }

    fn record(&self, c: Created) {
        if let Ok(mut created) = self.created.lock()
            && !created.contains(&c)
        {
            created.push(c);
        }
    }

    /// Records a function to delete at the end.
    pub fn function(&self, name: &str, namespace: &str) {
        self.record(Created::Function {
            name: name.into(),
            namespace: namespace.into(),
        });
    }

    /// Records a secret to delete at the end.
    pub fn secret(&self, name: &str, namespace: &str) {
        self.record(Created::Secret {
            name: name.into(),
            namespace: namespace.into(),
        });
    }

    /// Records a namespace to delete at the end (after its functions and secrets).
    pub fn namespace(&self, name: &str) {
        self.record(Created::Namespace { name: name.into() });
    }

    /// Deletes everything recorded: functions, then secrets, then namespaces. `NotFound` is
    /// fine (the check deleted it itself); other errors are returned as descriptions.
    pub async fn cleanup(&self, provider: &DynProvider) -> Vec<String> {
        let created = match self.created.lock() {
            Ok(mut c) => std::mem::take(&mut *c),
            Err(_) => return vec!["fixture record poisoned by a panic".into()],
        };
        let mut problems = Vec::new();
        let mut note = |what: String, r: faas_core::Result<()>| {
            if let Err(e) = r
                && e.kind() != ErrorKind::NotFound
            {
                problems.push(format!("cleanup of {what}: {e}"));
            }
        };
        for c in &created {
            if let Created::Function { name, namespace } = c {
                note(
                    format!("function {name}.{namespace}"),
                    provider.delete(name, namespace).await,
                );
            }
        }
        for c in &created {
            if let Created::Secret { name, namespace } = c {
                note(
                    format!("secret {name}.{namespace}"),
                    provider.delete_secret(name, namespace).await,
                );
            }
        }
        for c in &created {
            if let Created::Namespace { name } = c {
                note(
                    format!("namespace {name}"),
                    provider.delete_namespace(name).await,
                );
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_dns_labels() {
        let f = Fixture::new(&new_run_id(), 12);
        let a = f.name();
        let b = f.name();
        assert_ne!(a, b);
        for n in [a, b] {
            assert!(
                faas_core::validate::function_name("service", &n).is_ok(),
                "{n}"
            );
            assert!(n.starts_with("conf-"));
        }
    }
}
