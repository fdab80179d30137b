//! Shared helpers of the real-engine tests: everything in `faas_provider_docker::test_support`
//! (skip switch, fixture image, HTTP client, leftovers) plus the provider as the tests use it.

#![allow(dead_code, unreachable_pub, missing_docs, unused_imports)]

pub use faas_provider_docker::test_support::{
    Cleanup, FIXTURE, enabled, http, leftovers, leftovers_labelled, unique,
};
use faas_provider_docker::{DockerConfig, DockerProvider};

/// The test function images `(image, update_image)` (see `test_support::fixture_images`).
pub fn fixture_images() -> (String, String) {
    let images = faas_provider_docker::test_support::fixture_images().expect("fixture image");
    (images.image, images.update_image)
}

/// The test function image.
pub fn fixture_image() -> String {
    fixture_images().0
}

/// The provider as the tests use it: defaults (published resolve mode, the default socket or
/// `DOCKER_HOST`).
pub async fn provider() -> DockerProvider {
    let config = DockerConfig::from_lookup(|k| std::env::var(k).ok()).expect("config");
    DockerProvider::new(config).await.expect("docker provider")
}
