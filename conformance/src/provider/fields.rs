//! Field-by-field comparison of what was deployed with what a provider reports.

use std::collections::BTreeMap;
use std::fmt::Debug;

use faas_core::{FunctionDeployment, FunctionStatus, LABEL_FUNCTION_NAME};

/// Keys a provider may add to labels and annotations of its own accord.
fn provider_owned(key: &str) -> bool {
    key == LABEL_FUNCTION_NAME || key.starts_with("faas.") || key.starts_with("com.openfaas.")
}

fn same<T: PartialEq + Debug>(out: &mut Vec<String>, field: &str, sent: &T, got: &T) {
    if sent != got {
        out.push(format!("{field}: sent {sent:?}, got {got:?}"));
    }
}

/// Every sent key must come back with the same value, byte-exact.
fn superset(
    out: &mut Vec<String>,
    field: &str,
    sent: &BTreeMap<String, String>,
    got: &BTreeMap<String, String>,
) {
    for (k, v) in sent {
        match got.get(k) {
            Some(g) if g == v => {}
            Some(g) => out.push(format!("{field}.{k}: sent {v:?}, got {g:?}")),
            None => out.push(format!("{field}.{k}: sent {v:?}, missing")),
        }
    }
}

/// The differences between `sent` and `got` (empty when every field came back as sent).
///
/// Labels and annotations may hold more than was sent (see [`invented`] for what is allowed);
/// everything else must be equal. `namespace` is the effective namespace deployed to.
pub fn diff_fields(
    sent: &FunctionDeployment,
    got: &FunctionStatus,
    namespace: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    same(&mut out, "name", &sent.service, &got.name);
    same(&mut out, "namespace", &namespace.to_owned(), &got.namespace);
    same(&mut out, "image", &sent.image, &got.image);
    same(&mut out, "envProcess", &sent.env_process, &got.env_process);
    same(&mut out, "envVars", &sent.env_vars, &got.env_vars);
    same(&mut out, "secrets", &sent.secrets, &got.secrets);
    same(&mut out, "constraints", &sent.constraints, &got.constraints);
    same(&mut out, "limits", &sent.limits, &got.limits);
    same(&mut out, "requests", &sent.requests, &got.requests);
    same(
        &mut out,
        "readOnlyRootFilesystem",
        &sent.read_only_root_filesystem,
        &got.read_only_root_filesystem,
    );
    superset(&mut out, "labels", &sent.labels, &got.labels);
    superset(&mut out, "annotations", &sent.annotations, &got.annotations);
    out.extend(
        invented(sent, got)
            .into_iter()
            .filter(|d| d.starts_with("labels") || d.starts_with("annotations")),
    );
    out
}

/// Fields `got` shows that `sent` did not have and a provider may not add (DEP-3).
pub fn invented(sent: &FunctionDeployment, got: &FunctionStatus) -> Vec<String> {
    let mut out = Vec::new();
    if sent.requests.is_none() && got.requests.is_some() {
        out.push(format!("requests: not sent, got {:?}", got.requests));
    }
    if sent.limits.is_none() && got.limits.is_some() {
        out.push(format!("limits: not sent, got {:?}", got.limits));
    }
    for k in got
        .env_vars
        .keys()
        .filter(|k| !sent.env_vars.contains_key(*k))
    {
        out.push(format!("envVars.{k}: not sent"));
    }
    for s in got.secrets.iter().filter(|s| !sent.secrets.contains(s)) {
        out.push(format!("secrets: {s:?} not sent"));
    }
    for c in got
        .constraints
        .iter()
        .filter(|c| !sent.constraints.contains(c))
    {
        out.push(format!("constraints: {c:?} not sent"));
    }
    for k in got
        .labels
        .keys()
        .filter(|k| !sent.labels.contains_key(*k) && !provider_owned(k))
    {
        out.push(format!("labels.{k}: not sent"));
    }
    for k in got
        .annotations
        .keys()
        .filter(|k| !sent.annotations.contains_key(*k) && !provider_owned(k))
    {
        out.push(format!("annotations.{k}: not sent"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faithful_status_has_no_differences() {
        let d = FunctionDeployment::new("f", "img")
            .with_label("a", "1")
            .with_annotation("n", "x\ny");
        let s = FunctionStatus::from_deployment(&d, "ns", chrono::Utc::now());
        assert!(diff_fields(&d, &s, "ns").is_empty());
        assert!(invented(&d, &s).is_empty());
    }

    #[test]
    fn lost_labels_and_invented_requests_are_reported() {
        let d = FunctionDeployment::new("f", "img").with_label("a", "1");
        let mut s = FunctionStatus::from_deployment(&d, "ns", chrono::Utc::now());
        s.labels.remove("a");
        s.labels.insert("extra".into(), "x".into());
        s.requests = Some(Default::default());
        let diffs = diff_fields(&d, &s, "ns");
        assert!(diffs.iter().any(|d| d.starts_with("labels.a")), "{diffs:?}");
        assert!(
            diffs.iter().any(|d| d.starts_with("labels.extra")),
            "{diffs:?}"
        );
        assert!(invented(&d, &s).iter().any(|d| d.starts_with("requests")));
    }
}
