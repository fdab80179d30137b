//! Conformance suite that certifies any faas [`Provider`](faas_core::Provider) (in-process or
//! over gRPC) and any gateway over HTTP, the way the OpenFaaS certifier certifies OpenFaaS, but
//! reusable as a library.
//!
//! The contract is written as prose first, in `conformance/SPEC.md`: numbered MUST/SHOULD
//! clauses per operation (`DEP-1`, `DEL-2`, …). Every check is a plain `pub async fn` that cites
//! its clause in its doc comment and in its failure message.
//!
//! # Running the provider suite
//!
//! Whole, from any async code:
//!
//! ```no_run
//! # async fn demo(provider: std::sync::Arc<faas_core::DynProvider>) {
//! use faas_conformance::provider::{self, Options, Target};
//!
//! let report = provider::run(
//!     || { let p = provider.clone(); async move { Ok(Target::new(p)) } },
//!     &Options::default(),
//! ).await;
//! print!("{}", report.table());
//! assert!(report.is_success());
//! # }
//! ```
//!
//! Or as one `#[test]` per check in a provider crate's `tests/conformance.rs`, so
//! `cargo test -p my-provider scale::` runs only the scale checks:
//!
//! ```no_run
//! use std::sync::Arc;
//! use faas_conformance::provider::{FactoryResult, Target};
//!
//! async fn factory() -> FactoryResult {
//!     // Your provider here; MemoryProvider is the reference implementation.
//!     Ok(Target::new(Arc::new(faas_core::memory::MemoryProvider::new())))
//! }
//! faas_conformance::provider_tests!(factory);
//! # fn main() {}
//! ```
//!
//! Checks for capabilities `info()` declares absent are reported SKIPPED with the reason; the
//! `unsupported::*` checks assert that those operations return `Unsupported`. The suite deletes
//! what it creates (names `conf-<run>-<case>-<n>`), even after a failure. It is not API-stable.
//!
//! # Running the gateway suite
//!
//! [`gateway::run`] drives a running gateway over HTTP with the OpenFaaS certifier's scenarios
//! and ours; the `faas-conformance gateway` command does the same from the shell.
//!
//! # Layout
//!
//! - [`provider`]: the provider suite: [`provider::run`], options, fixture, context.
//!   - [`provider::cases`]: the checks, one module per topic (deploy, update, missing, delete,
//!     scale, resolve, namespaces, secrets, logs, unsupported).
//! - [`gateway`]: the gateway suite over HTTP.
//! - [`report`]: results, rendered as a table or JUnit XML.
//! - [`wait`]: `eventually(deadline, probe)`, polling with backoff and last-state reporting.
//! - [`failure`]: how a check fails (citing its clause) or skips.
//! - `src/main.rs`: the `faas-conformance` CLI.

pub mod failure;
pub mod gateway;
pub mod provider;
pub mod report;
pub mod wait;

pub use failure::{CheckResult, Failure};
pub use report::{CaseReport, Outcome, Report};

/// Expands into one `#[test]` per provider check, each building its provider with `factory`
/// (an `async fn() -> Result<Target, E>` where `E` converts into a boxed error).
///
/// The tests live in `mod conformance::<topic>`, so `cargo test conformance::scale` runs one
/// topic. A generated `every_check_has_a_test` test fails if the suite has a check this macro
/// does not list. Set `FAAS_TEST_CAPABILITY_OVERRIDES=logs=false,…` to switch capabilities off.
#[macro_export]
macro_rules! provider_tests {
    ($factory:path) => {
        $crate::__provider_tests_impl! { $factory;
            info { identity, health }
            deploy {
                get_shows_every_field, labels_include_faas_function, invents_nothing, list_matches_get,
                existing_name_already_exists, invalid_name_rejected, invalid_fields_rejected,
                missing_secret_not_found, scale_min_label, created_at_and_invocation_count_sane,
                concurrent_deploys
            }
            update { changes_spec_keeps_identity, rolls_out, invalid_keeps_function }
            missing { get, delete, scale, update, resolve, wait_ready, logs }
            delete { removes_everything, twice_is_not_found }
            scale { to_n, to_zero_and_back, to_current_count, above_limit_rejected }
            resolve { only_ready_endpoints, wait_ready_returns_answering_endpoints, wait_ready_times_out_at_zero }
            namespaces {
                listed, isolation, same_name_is_two_functions, crud, delete_non_empty_conflicts,
                deploy_into_missing_namespace
            }
            secrets { crud, function_reads_secret, update_reaches_function, invalid_name_rejected }
            logs { contain_watchdog_lines, follow_streams_new_lines, tail_limits_lines, since_filters_older_lines }
            unsupported {
                scale, scale_can_zero, secrets, secrets_can_update, namespaces, namespaces_can_mutate,
                logs, logs_can_follow
            }
        }
    };
}

/// The body of [`provider_tests!`]; not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __provider_tests_impl {
    ($factory:path; $( $module:ident { $($case:ident),* $(,)? } )*) => {
        async fn __faas_conformance_factory() -> $crate::provider::FactoryResult {
            $factory().await.map_err(::core::convert::Into::into)
        }

        mod conformance {
            $(
                mod $module {
                    $(
                        #[test]
                        fn $case() {
                            $crate::provider::run_test(
                                super::super::__faas_conformance_factory,
                                concat!(stringify!($module), "::", stringify!($case)),
                            );
                        }
                    )*
                }
            )*

            #[test]
            fn every_check_has_a_test() {
                let listed: &[&str] = &[$($(concat!(stringify!($module), "::", stringify!($case))),*),*];
                let missing: Vec<&str> = $crate::provider::all_cases()
                    .iter()
                    .map(|c| c.id)
                    .filter(|id| !listed.contains(id))
                    .collect();
                assert!(missing.is_empty(), "provider_tests! lacks checks: {missing:?}");
            }
        }
    };
}
