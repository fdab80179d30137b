//! Input validation shared by every provider and the gateway.
//!
//! Each check returns [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) with the
//! field named, so an API user sees which part of the request to fix. The rules are the
//! portable subset of what Kubernetes, Swarm and Nomad accept, so a function valid on one
//! provider is valid on all:
//!
//! | input | rule |
//! |---|---|
//! | function and namespace names | DNS-1123 label: 1–63 chars of `a-z`, `0-9`, `-`, alphanumeric at both ends (no dots: `.` separates name and namespace in `/function/name.ns`) |
//! | secret names | DNS-1123 subdomain: 1–253 chars of `a-z`, `0-9`, `-`, `.`, alphanumeric at both ends, no `..` |
//! | label and annotation keys | Kubernetes qualified names: optional DNS-1123 subdomain prefix and `/`, then 1–63 chars of `A-Za-z0-9-_.`, alphanumeric at both ends |
//! | label values | at most 63 chars of `A-Za-z0-9-_.`, alphanumeric at both ends, or empty |
//! | annotation values | any text; all annotations together at most 256 KiB |
//! | env var names | 1–255 chars of `A-Za-z0-9_.-`, not starting with a digit |
//! | images | a Docker reference: `[host[:port]/]path[:tag][@algo:hex]`, lowercase path |
//! | resource quantities | Kubernetes quantities (`128Mi`, `100m`, `0.5`, `1e3`) |
//! | replicas | 0 to [`MAX_REPLICAS`]; `com.openfaas.scale.min` ≤ `com.openfaas.scale.max` |

use crate::error::{Error, Result};
use crate::model::{
    FunctionDeployment, FunctionNamespace, FunctionResources, LABEL_SCALE_FACTOR, LABEL_SCALE_MAX,
    LABEL_SCALE_MIN, ScaleRequest, Secret, StringMap,
};

/// The most replicas any request may ask for (providers may declare a lower
/// `replicas_max`).
pub const MAX_REPLICAS: u64 = 1000;
/// The longest DNS-1123 label (function and namespace names).
pub const MAX_NAME_LEN: usize = 63;
/// The longest DNS-1123 subdomain (secret names, label key prefixes).
pub const MAX_SUBDOMAIN_LEN: usize = 253;
/// The total size of all annotation keys and values of one function.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;
/// The largest secret value.
pub const MAX_SECRET_BYTES: usize = 1024 * 1024;
/// The longest image reference.
pub const MAX_IMAGE_LEN: usize = 4096;

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns1123_label_problem(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Some("is required".into());
    }
    if b.len() > MAX_NAME_LEN {
        return Some(format!(
            "must be at most {MAX_NAME_LEN} characters (got {})",
            b.len()
        ));
    }
    if !b.iter().all(|&c| is_lower_alnum(c) || c == b'-') {
        return Some(
            "must contain only lowercase letters, digits and '-' (a DNS-1123 label)".into(),
        );
    }
    if !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return Some("must start and end with a lowercase letter or digit".into());
    }
    None
}

fn dns1123_subdomain_problem(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Some("is required".into());
    }
    if b.len() > MAX_SUBDOMAIN_LEN {
        return Some(format!(
            "must be at most {MAX_SUBDOMAIN_LEN} characters (got {})",
            b.len()
        ));
    }
    if !b
        .iter()
        .all(|&c| is_lower_alnum(c) || c == b'-' || c == b'.')
    {
        return Some("must contain only lowercase letters, digits, '-' and '.'".into());
    }
    if !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return Some("must start and end with a lowercase letter or digit".into());
    }
    if s.contains("..") || s.contains(".-") || s.contains("-.") {
        return Some("must be dot-separated DNS-1123 labels".into());
    }
    None
}

/// A function name: a DNS-1123 label.
pub fn function_name(field: &str, name: &str) -> Result<()> {
    match dns1123_label_problem(name) {
        Some(p) => Err(Error::invalid(field, format!("function name {name:?} {p}"))),
        None => Ok(()),
    }
}

/// A namespace name: a DNS-1123 label; `""` (the provider's default) is accepted.
pub fn namespace(field: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Ok(());
    }
    match dns1123_label_problem(name) {
        Some(p) => Err(Error::invalid(field, format!("namespace {name:?} {p}"))),
        None => Ok(()),
    }
}

/// A secret name: a DNS-1123 subdomain.
pub fn secret_name(field: &str, name: &str) -> Result<()> {
    match dns1123_subdomain_problem(name) {
        Some(p) => Err(Error::invalid(field, format!("secret name {name:?} {p}"))),
        None => Ok(()),
    }
}

fn qualified_name_part_problem(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Some("must not be empty".into());
    }
    if b.len() > MAX_NAME_LEN {
        return Some(format!(
            "name part must be at most {MAX_NAME_LEN} characters"
        ));
    }
    let ok = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
    if !b.iter().all(|&c| ok(c)) {
        return Some("must contain only letters, digits, '-', '_' and '.'".into());
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Some("must start and end with a letter or digit".into());
    }
    None
}

/// A label or annotation key: a Kubernetes qualified name (`prefix/name` or `name`).
pub fn metadata_key(field: &str, key: &str) -> Result<()> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && let Some(p) = dns1123_subdomain_problem(prefix)
    {
        return Err(Error::invalid(field, format!("key {key:?}: prefix {p}")));
    }
    match qualified_name_part_problem(name) {
        Some(p) => Err(Error::invalid(field, format!("key {key:?} {p}"))),
        None => Ok(()),
    }
}

/// A label value: empty, or up to 63 characters of `A-Za-z0-9-_.` with alphanumeric ends.
pub fn label_value(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    match qualified_name_part_problem(value) {
        Some(p) => Err(Error::invalid(field, format!("label value {value:?} {p}"))),
        None => Ok(()),
    }
}

/// An environment variable name.
pub fn env_name(field: &str, name: &str) -> Result<()> {
    let b = name.as_bytes();
    let problem = if b.is_empty() {
        Some("must not be empty")
    } else if b.len() > 255 {
        Some("must be at most 255 characters")
    } else if b[0].is_ascii_digit() {
        Some("must not start with a digit")
    } else if !b
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
    {
        Some("must contain only letters, digits, '_', '.' and '-'")
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::invalid(field, format!("env var name {name:?} {p}"))),
        None => Ok(()),
    }
}

fn path_component_ok(c: &str) -> bool {
    // [a-z0-9]+ separated by one '.', one or two '_', or any number of '-'.
    let b = c.as_bytes();
    if b.is_empty() || !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let valid = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !valid {
            return false;
        }
    }
    true
}

fn domain_ok(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// An image reference in Docker's grammar: `[domain[:port]/]path[:tag][@algorithm:hex]`.
pub fn image(field: &str, image: &str) -> Result<()> {
    let fail = |p: &str| Err(Error::invalid(field, format!("image {image:?} {p}")));
    if image.is_empty() {
        return fail("is required");
    }
    if image.len() > MAX_IMAGE_LEN {
        return fail("is too long");
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else {
            return fail("has a digest without 'algorithm:hex'");
        };
        let algo_ok = !algo.is_empty()
            && algo
                .bytes()
                .all(|c| is_lower_alnum(c) || matches!(c, b'+' | b'.' | b'_' | b'-'));
        if !algo_ok || hex.len() < 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return fail("has an invalid digest");
        }
    }
    // A tag is what follows the last ':' after the last '/'.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let b = tag.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !ok {
            return fail("has an invalid tag");
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        let looks_like_domain = first.contains('.') || first.contains(':') || first == "localhost";
        if looks_like_domain {
            if !domain_ok(first) {
                return fail("has an invalid registry host");
            }
            parts.remove(0);
        }
    }
    if parts.is_empty() || !parts.iter().all(|p| path_component_ok(p)) {
        return fail(
            "must be lowercase path components of letters and digits separated by '.', '_', '__' or '-'",
        );
    }
    Ok(())
}

/// A Kubernetes resource quantity: a decimal number with an optional suffix
/// (`n u m k M G T P E`, `Ki Mi Gi Ti Pi Ei`) or exponent (`e3`).
pub fn quantity(field: &str, value: &str) -> Result<()> {
    let fail = || {
        Err(Error::invalid(
            field,
            format!("quantity {value:?} is not a valid resource quantity (e.g. 128Mi, 100m, 0.5)"),
        ))
    };
    let s = value.strip_prefix('+').unwrap_or(value);
    let digits_end = s
        .bytes()
        .position(|c| !(c.is_ascii_digit() || c == b'.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return fail();
    }
    let suffix_ok = match suffix {
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => true,
        exp => {
            let rest = exp.strip_prefix(['e', 'E']);
            match rest {
                Some(r) => {
                    let r = r.strip_prefix(['+', '-']).unwrap_or(r);
                    !r.is_empty() && r.bytes().all(|c| c.is_ascii_digit())
                }
                None => false,
            }
        }
    };
    if suffix_ok { Ok(()) } else { fail() }
}

fn resources(field: &str, r: &FunctionResources) -> Result<()> {
    for (name, value) in [
        ("memory", &r.memory),
        ("cpu", &r.cpu),
        ("nvidia.com/gpu", &r.nvidia_gpu),
        ("amd.com/gpu", &r.amd_gpu),
        ("intel.com/gpu", &r.intel_gpu),
    ] {
        if !value.is_empty() {
            quantity(&format!("{field}.{name}"), value)?;
        }
    }
    Ok(())
}

/// A replica count: at most [`MAX_REPLICAS`].
pub fn replicas(field: &str, n: u64) -> Result<()> {
    if n > MAX_REPLICAS {
        return Err(Error::invalid(
            field,
            format!("{n} replicas is more than the maximum of {MAX_REPLICAS}"),
        ));
    }
    Ok(())
}

fn scaling_labels(labels: &StringMap) -> Result<()> {
    let parse = |key: &str| -> Result<Option<u64>> {
        match labels.get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                Error::invalid(
                    format!("labels.{key}"),
                    format!("{v:?} is not a whole number"),
                )
            }),
        }
    };
    let min = parse(LABEL_SCALE_MIN)?;
    let max = parse(LABEL_SCALE_MAX)?;
    let factor = parse(LABEL_SCALE_FACTOR)?;
    if let Some(min) = min {
        replicas(&format!("labels.{LABEL_SCALE_MIN}"), min)?;
    }
    if let Some(max) = max {
        replicas(&format!("labels.{LABEL_SCALE_MAX}"), max)?;
        if max == 0 {
            return Err(Error::invalid(
                format!("labels.{LABEL_SCALE_MAX}"),
                "must be at least 1",
            ));
        }
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(Error::invalid(
            format!("labels.{LABEL_SCALE_MIN}"),
            format!("minimum {min} is greater than maximum {max}"),
        ));
    }
    if let Some(f) = factor
        && f > 100
    {
        return Err(Error::invalid(
            format!("labels.{LABEL_SCALE_FACTOR}"),
            "must be between 0 and 100",
        ));
    }
    Ok(())
}

/// Every field of a deployment.
pub fn deployment(d: &FunctionDeployment) -> Result<()> {
    function_name("service", &d.service)?;
    image("image", &d.image)?;
    namespace("namespace", &d.namespace)?;
    for key in d.env_vars.keys() {
        env_name(&format!("envVars.{key}"), key)?;
    }
    for (i, c) in d.constraints.iter().enumerate() {
        if c.trim().is_empty() {
            return Err(Error::invalid(
                format!("constraints[{i}]"),
                "must not be empty",
            ));
        }
    }
    for (i, s) in d.secrets.iter().enumerate() {
        secret_name(&format!("secrets[{i}]"), s)?;
    }
    for (k, v) in &d.labels {
        metadata_key(&format!("labels.{k}"), k)?;
        label_value(&format!("labels.{k}"), v)?;
    }
    let mut annotation_bytes = 0;
    for (k, v) in &d.annotations {
        metadata_key(&format!("annotations.{k}"), k)?;
        annotation_bytes += k.len() + v.len();
    }
    if annotation_bytes > MAX_ANNOTATIONS_BYTES {
        return Err(Error::invalid(
            "annotations",
            format!("{annotation_bytes} bytes in total is more than {MAX_ANNOTATIONS_BYTES}"),
        ));
    }
    scaling_labels(&d.labels)?;
    if let Some(l) = &d.limits {
        resources("limits", l)?;
    }
    if let Some(r) = &d.requests {
        resources("requests", r)?;
    }
    Ok(())
}

/// A scale request (the function name, namespace and replica bound).
pub fn scale_request(r: &ScaleRequest) -> Result<()> {
    function_name("serviceName", &r.service_name)?;
    namespace("namespace", &r.namespace)?;
    replicas("replicas", r.replicas)
}

/// A secret to create or update: name, namespace and a value within [`MAX_SECRET_BYTES`].
pub fn secret(s: &Secret) -> Result<()> {
    secret_name("name", &s.name)?;
    namespace("namespace", &s.namespace)?;
    if s.bytes().len() > MAX_SECRET_BYTES {
        return Err(Error::invalid(
            "value",
            format!("secret is larger than {MAX_SECRET_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// A namespace to create or update.
pub fn function_namespace(ns: &FunctionNamespace) -> Result<()> {
    if ns.name.is_empty() {
        return Err(Error::invalid("name", "namespace name is required"));
    }
    namespace("name", &ns.name)?;
    for (k, v) in &ns.labels {
        metadata_key(&format!("labels.{k}"), k)?;
        label_value(&format!("labels.{k}"), v)?;
    }
    for k in ns.annotations.keys() {
        metadata_key(&format!("annotations.{k}"), k)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// The field an invalid input names, or `None` when accepted.
    fn field(r: Result<()>) -> Option<String> {
        r.err().map(|e| {
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
            e.field().unwrap_or("<none>").to_owned()
        })
    }

    #[test]
    fn function_names_are_dns_labels_at_their_edges() {
        let ok = ["a", "0", "my-fn", "fn-2", &"a".repeat(63)];
        for name in ok {
            assert_eq!(field(function_name("service", name)), None, "{name}");
        }
        let bad = [
            "",
            &"a".repeat(64),
            "MyFn",
            "-fn",
            "fn-",
            "my.fn",
            "my_fn",
            "fn name",
            "é",
        ];
        for name in bad {
            assert_eq!(
                field(function_name("service", name)).as_deref(),
                Some("service"),
                "{name:?}"
            );
        }
    }

    #[test]
    fn namespaces_accept_empty_as_the_default() {
        assert_eq!(field(namespace("namespace", "")), None);
        assert_eq!(field(namespace("namespace", &"n".repeat(63))), None);
        for bad in [&"n".repeat(64), "Dev", "-dev", "dev-", "dev.team"] {
            assert_eq!(
                field(namespace("namespace", bad)).as_deref(),
                Some("namespace"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn secret_names_are_dns_subdomains() {
        for ok in ["api-key", "a.b.c", &"s".repeat(253)] {
            assert_eq!(field(secret_name("name", ok)), None, "{ok}");
        }
        for bad in ["", &"s".repeat(254), "Api", "a..b", "a.-b", ".a", "a."] {
            assert_eq!(
                field(secret_name("name", bad)).as_deref(),
                Some("name"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn label_keys_may_have_a_dns_prefix() {
        for ok in [
            "app",
            "com.openfaas.scale.min",
            "example.com/team",
            "a/B_c-d.e",
            "faas_function",
        ] {
            assert_eq!(field(metadata_key("labels.k", ok)), None, "{ok}");
        }
        let long_name = format!("example.com/{}", "n".repeat(64));
        for bad in [
            "",
            "/name",
            "Example.com/name",
            "a/",
            "-app",
            "app-",
            "a b",
            &long_name,
            "a/b/c",
        ] {
            assert_eq!(
                field(metadata_key("labels.k", bad)).as_deref(),
                Some("labels.k"),
                "{bad:?}"
            );
        }
        assert_eq!(field(label_value("labels.k", "")), None);
        assert_eq!(field(label_value("labels.k", "Value_1.x")), None);
        assert!(field(label_value("labels.k", &"v".repeat(64))).is_some());
        assert!(field(label_value("labels.k", "has space")).is_some());
    }

    #[test]
    fn env_names() {
        for ok in ["PATH", "write_debug", "a.b-c", "_x"] {
            assert_eq!(field(env_name("envVars", ok)), None, "{ok}");
        }
        for bad in ["", "1ABC", "A=B", "A B", &"E".repeat(256)] {
            assert!(field(env_name("envVars", bad)).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn image_references() {
        let digest = format!("alpine@sha256:{}", "a".repeat(64));
        let full = format!(
            "localhost:5000/team/fn:1.0@sha256:{}",
            "0123456789abcdef".repeat(4)
        );
        for ok in [
            "alpine",
            "alpine:3.20",
            "ghcr.io/openfaas/nodeinfo:latest",
            "registry.example.com:5000/team/fn:v1",
            "localhost:5000/fn",
            "localhost/fn",
            "my_org/my__fn-x.y",
            &digest,
            &full,
        ] {
            assert_eq!(field(image("image", ok)), None, "{ok}");
        }
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine:-tag",
            "alpine@sha256:short",
            "alpine@sha256",
            "registry.example.com:port/fn",
            "reg..io/fn",
            "/fn",
            "fn/",
            "a___b",
            "fn:tag with space",
        ] {
            assert_eq!(
                field(image("image", bad)).as_deref(),
                Some("image"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn quantities() {
        for ok in [
            "5Mi", "100m", "0.5", "1", "128M", "1Gi", "1e3", "1E-2", "+2", "2Ki",
        ] {
            assert_eq!(field(quantity("limits.memory", ok)), None, "{ok}");
        }
        for bad in ["", "Mi", "5MB", "1.2.3", ".", "5 Mi", "-1", "1e", "abc"] {
            assert_eq!(
                field(quantity("limits.memory", bad)).as_deref(),
                Some("limits.memory"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn replicas_and_scaling_labels() {
        assert_eq!(field(replicas("replicas", MAX_REPLICAS)), None);
        assert_eq!(
            field(replicas("replicas", MAX_REPLICAS + 1)).as_deref(),
            Some("replicas")
        );
        let with = |k: &str, v: &str| FunctionDeployment::new("f", "img").with_label(k, v);
        assert_eq!(
            field(deployment(
                &with(LABEL_SCALE_MIN, "2").with_label(LABEL_SCALE_MAX, "2")
            )),
            None
        );
        let min_over_max = with(LABEL_SCALE_MIN, "3").with_label(LABEL_SCALE_MAX, "2");
        assert_eq!(
            field(deployment(&min_over_max)).as_deref(),
            Some("labels.com.openfaas.scale.min")
        );
        assert_eq!(
            field(deployment(&with(LABEL_SCALE_MIN, "x"))).as_deref(),
            Some("labels.com.openfaas.scale.min")
        );
        assert_eq!(
            field(deployment(&with(LABEL_SCALE_MIN, "1001"))).as_deref(),
            Some("labels.com.openfaas.scale.min")
        );
        assert_eq!(
            field(deployment(&with(LABEL_SCALE_MAX, "0"))).as_deref(),
            Some("labels.com.openfaas.scale.max")
        );
        assert_eq!(
            field(deployment(&with(LABEL_SCALE_FACTOR, "101"))).as_deref(),
            Some("labels.com.openfaas.scale.factor")
        );
        let scale = ScaleRequest::new("f", "", MAX_REPLICAS + 1);
        assert_eq!(field(scale_request(&scale)).as_deref(), Some("replicas"));
        assert_eq!(
            field(scale_request(&ScaleRequest::new("F", "", 1))).as_deref(),
            Some("serviceName")
        );
    }

    #[test]
    fn deployments_name_the_nested_field() {
        let base = || FunctionDeployment::new("f", "img");
        assert_eq!(field(deployment(&base())), None);
        assert_eq!(
            field(deployment(&base().with_env("1X", "v"))).as_deref(),
            Some("envVars.1X")
        );
        assert_eq!(
            field(deployment(&base().with_secret("Bad"))).as_deref(),
            Some("secrets[0]")
        );
        assert_eq!(
            field(deployment(&base().with_label("-x", "v"))).as_deref(),
            Some("labels.-x")
        );
        assert_eq!(
            field(deployment(&base().with_annotation("a b", "v"))).as_deref(),
            Some("annotations.a b")
        );
        let huge = base().with_annotation("big", "x".repeat(MAX_ANNOTATIONS_BYTES));
        assert_eq!(field(deployment(&huge)).as_deref(), Some("annotations"));
        let mut limited = base();
        limited.limits = Some(FunctionResources {
            cpu: "lots".into(),
            ..Default::default()
        });
        assert_eq!(field(deployment(&limited)).as_deref(), Some("limits.cpu"));
        let mut constrained = base();
        constrained.constraints = vec![" ".into()];
        assert_eq!(
            field(deployment(&constrained)).as_deref(),
            Some("constraints[0]")
        );
        assert_eq!(
            field(deployment(&base().with_namespace("Dev"))).as_deref(),
            Some("namespace")
        );
    }

    #[test]
    fn secrets_and_namespaces() {
        assert_eq!(field(secret(&Secret::new("s", "", "v"))), None);
        let big = Secret::raw("s", "", vec![0u8; MAX_SECRET_BYTES + 1]);
        assert_eq!(field(secret(&big)).as_deref(), Some("value"));
        assert_eq!(
            field(secret(&Secret::new("s", "-ns", "v"))).as_deref(),
            Some("namespace")
        );
        assert_eq!(
            field(function_namespace(&FunctionNamespace::new(""))).as_deref(),
            Some("name")
        );
        let mut ns = FunctionNamespace::new("dev");
        ns.labels.insert("openfaas".into(), "bad value".into());
        assert_eq!(
            field(function_namespace(&ns)).as_deref(),
            Some("labels.openfaas")
        );
    }
}
