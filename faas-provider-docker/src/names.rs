//! How OpenFaaS names and namespaces map onto Swarm objects, which have no namespaces.
//!
//! Function and namespace names are DNS-1123 labels (`a-z`, `0-9`, `-`) and secret names
//! DNS-1123 subdomains (plus `.`): none of them can contain `_`, which Swarm names allow. So:
//!
//! - a function `name` in the default namespace is the service `name` (as faas-swarm named
//!   it), and in any other namespace `ns` the service `ns_name`. A name holds at most one `_`
//!   and only when it is not in the default namespace, so the mapping is one-to-one and no two
//!   functions can collide. Swarm limits service names to 63 characters: a function whose
//!   `ns_name` is longer is rejected (`InvalidInput` on `service`).
//! - a secret `name` of namespace `ns` at version `v` is the Swarm secret `ns_name_v<v>`
//!   (secrets are immutable in Swarm, so an update creates the next version).
//! - a namespace other than the default is recorded as a Swarm config `faas-namespace_ns`.
//!
//! Every object also carries labels (`<prefix>namespace`, `<prefix>name`, …) and lookups go
//! by those labels, so the names only need to be unique.

use crate::error::DockerError;

/// Swarm's limit on service names.
pub const MAX_SERVICE_NAME: usize = 63;

/// The Swarm service name of function `name` in `namespace`.
pub fn service_name(
    name: &str,
    namespace: &str,
    default_namespace: &str,
) -> Result<String, DockerError> {
    let full = if namespace == default_namespace {
        name.to_owned()
    } else {
        format!("{namespace}_{name}")
    };
    if full.len() > MAX_SERVICE_NAME {
        return Err(DockerError::invalid(
            "service",
            format!(
                "function {name:?} in namespace {namespace:?} needs the Swarm service name {full:?}, longer than Swarm's {MAX_SERVICE_NAME} characters"
            ),
        ));
    }
    Ok(full)
}

/// The Swarm secret name of version `version` of secret `name` in `namespace`.
pub fn secret_name(name: &str, namespace: &str, version: u64) -> String {
    format!("{namespace}_{name}_v{version}")
}

/// The Swarm config name that records namespace `namespace`.
pub fn namespace_config_name(namespace: &str) -> String {
    format!("faas-namespace_{namespace}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_namespace_keeps_the_plain_name_and_others_are_prefixed() {
        assert_eq!(
            service_name("echo", "openfaas-fn", "openfaas-fn").unwrap(),
            "echo"
        );
        assert_eq!(
            service_name("echo", "team-a", "openfaas-fn").unwrap(),
            "team-a_echo"
        );
    }

    #[test]
    fn names_that_look_alike_do_not_collide() {
        // `a--b` + `c` and `a` + `b--c` would collide under a `--` separator.
        let one = service_name("c", "a--b", "d").unwrap();
        let two = service_name("b--c", "a", "d").unwrap();
        assert_ne!(one, two);
        // A default-namespace name never holds `_`, a namespaced one always does.
        assert_ne!(
            service_name("a-b", "d", "d").unwrap(),
            service_name("b", "a", "d").unwrap()
        );
    }

    #[test]
    fn too_long_names_are_rejected_on_the_service_field() {
        let ns = "n".repeat(40);
        let name = "f".repeat(30);
        match service_name(&name, &ns, "openfaas-fn") {
            Err(DockerError::Invalid { field, .. }) => assert_eq!(field, "service"),
            other => panic!("{other:?}"),
        }
        assert!(service_name(&"f".repeat(63), "openfaas-fn", "openfaas-fn").is_ok());
    }

    #[test]
    fn secret_versions_are_distinct() {
        assert_eq!(
            secret_name("api-key", "openfaas-fn", 2),
            "openfaas-fn_api-key_v2"
        );
        assert_ne!(secret_name("a", "b", 1), secret_name("a", "b", 2));
    }
}
