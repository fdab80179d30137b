//! Every provider check, grouped by topic, and [`all`]: the registry the runner and the
//! `provider_tests!` macro use.
//!
//! Each check is a plain `pub async fn check(ctx: &Ctx) -> CheckResult` whose doc comment cites
//! its SPEC.md clause. A provider crate can call any of them directly.

pub mod delete;
pub mod deploy;
pub mod info;
pub mod logs;
pub mod missing;
pub mod namespaces;
pub mod resolve;
pub mod scale;
pub mod secrets;
pub mod unsupported;
pub mod update;

use crate::provider::Case;
use crate::provider::caps::Cap;

macro_rules! registry {
    ($( $module:ident :: $func:ident, $clause:literal, [$($req:ident),*], $unless:expr, $stmt:literal; )*) => {
        vec![ $( Case {
            id: concat!(stringify!($module), "::", stringify!($func)),
            clause: $clause,
            statement: $stmt,
            requires: &[$(Cap::$req),*],
            unless: $unless,
            run: |ctx| Box::pin(async move { $module::$func(&ctx).await }),
        }, )* ]
    };
}

/// Every check, in the order the suite runs them.
pub fn all() -> Vec<Case> {
    registry! {
        info::identity, "INFO-1", [], None, "info() names the provider, its orchestration and default namespace";
        info::health, "INFO-2", [], None, "health() is Ok while the backend serves";
        deploy::get_shows_every_field, "DEP-1", [], None, "get shows every deployed field byte-exact";
        deploy::labels_include_faas_function, "DEP-2", [], None, "labels include faas_function=<name>";
        deploy::invents_nothing, "DEP-3", [], None, "fields that were not sent stay empty";
        deploy::list_matches_get, "DEP-4", [], None, "list shows the function as get does, sorted by name";
        deploy::existing_name_already_exists, "DEP-5", [], None, "deploy of an existing name is AlreadyExists and changes nothing";
        deploy::invalid_name_rejected, "DEP-6", [], None, "an invalid name is InvalidInput naming service";
        deploy::invalid_fields_rejected, "DEP-7", [], None, "an invalid field is InvalidInput naming it, nothing created";
        deploy::missing_secret_not_found, "DEP-8", [Secrets], None, "mounting a missing secret is NotFound";
        deploy::scale_min_label, "DEP-9", [Scale], None, "com.openfaas.scale.min sets the initial replicas";
        deploy::created_at_and_invocation_count_sane, "DEP-10", [], None, "createdAt is the deploy time; invocationCount is sane";
        deploy::concurrent_deploys, "DEP-11", [], None, "concurrent deploys of different names do not interfere";
        update::changes_spec_keeps_identity, "UPD-1", [], None, "update replaces image/env/labels, keeps name and createdAt";
        update::rolls_out, "UPD-2", [], None, "after update the function answers with the new env";
        update::invalid_keeps_function, "UPD-4", [], None, "an invalid update is InvalidInput and changes nothing";
        missing::get, "NF-1", [], None, "get of a missing function is NotFound";
        missing::delete, "NF-1", [], None, "delete of a missing function is NotFound";
        missing::scale, "NF-1", [Scale], None, "scale of a missing function is NotFound";
        missing::update, "UPD-3", [], None, "update of a missing function is NotFound and creates nothing";
        missing::resolve, "NF-1", [], None, "resolve of a missing function is NotFound";
        missing::wait_ready, "NF-1", [], None, "wait_ready of a missing function is NotFound";
        missing::logs, "NF-1", [Logs], None, "logs of a missing function is NotFound";
        delete::removes_everything, "DEL-1", [], None, "delete removes the function: get/resolve NotFound, list omits it";
        delete::twice_is_not_found, "DEL-2", [], None, "a second delete is NotFound and changes nothing";
        scale::to_n, "SCL-1", [Scale], None, "scale to N reaches N available replicas that answer";
        scale::to_zero_and_back, "SCL-2", [Scale, ScaleCanZero], None, "scale to 0 and back, then it answers again";
        scale::to_current_count, "SCL-3", [Scale], None, "scale to the current count succeeds and changes nothing";
        scale::above_limit_rejected, "SCL-4", [Scale], None, "scale above the limit is InvalidInput naming replicas";
        resolve::only_ready_endpoints, "RES-1", [], None, "resolve returns only ready endpoints; the function echoes";
        resolve::wait_ready_returns_answering_endpoints, "RES-2", [], None, "wait_ready returns endpoints that answer";
        resolve::wait_ready_times_out_at_zero, "RES-3", [Scale, ScaleCanZero], None, "wait_ready at zero replicas is Timeout";
        namespaces::listed, "NS-1", [], None, "list_namespaces includes the default and the suite's namespace, sorted";
        namespaces::isolation, "NS-2", [Namespaces], None, "a function in one namespace is invisible in another";
        namespaces::same_name_is_two_functions, "NS-3", [Namespaces], None, "the same name in two namespaces is two functions";
        namespaces::crud, "NS-4", [Namespaces, NamespacesCanMutate], None, "namespace create/get/update/delete";
        namespaces::delete_non_empty_conflicts, "NS-5", [Namespaces, NamespacesCanMutate], None, "deleting a namespace holding a function is Conflict";
        namespaces::deploy_into_missing_namespace, "NS-6", [], None, "deploy into a missing namespace is NotFound";
        secrets::crud, "SEC-1", [Secrets], None, "secret create/list/update/delete";
        secrets::function_reads_secret, "SEC-2", [Secrets], None, "a function reads its secret byte-exact";
        secrets::update_reaches_function, "SEC-3", [Secrets, SecretsCanUpdate], None, "an updated secret reaches the redeployed function";
        secrets::invalid_name_rejected, "SEC-4", [Secrets], None, "an invalid secret name is InvalidInput naming name";
        logs::contain_watchdog_lines, "LOG-1", [Logs], None, "logs hold the watchdog's lines for an invocation";
        logs::follow_streams_new_lines, "LOG-2", [Logs, LogsCanFollow], None, "a follow stream delivers new lines";
        logs::tail_limits_lines, "LOG-3", [Logs], None, "tail N returns at most N lines";
        logs::since_filters_older_lines, "LOG-4", [Logs], None, "since T returns only lines written at or after T";
        unsupported::scale, "CAP-1", [], Some(Cap::Scale), "without scale, scale is Unsupported";
        unsupported::scale_can_zero, "CAP-1", [], Some(Cap::ScaleCanZero), "without scale_can_zero, scale to 0 is Unsupported";
        unsupported::secrets, "CAP-1", [], Some(Cap::Secrets), "without secrets, secret operations are Unsupported";
        unsupported::secrets_can_update, "CAP-1", [], Some(Cap::SecretsCanUpdate), "without secrets_can_update, update_secret is Unsupported";
        unsupported::namespaces, "CAP-4", [], Some(Cap::Namespaces), "without namespaces, only the default is listed";
        unsupported::namespaces_can_mutate, "CAP-1", [], Some(Cap::NamespacesCanMutate), "without namespaces_can_mutate, create_namespace is Unsupported";
        unsupported::logs, "CAP-1", [], Some(Cap::Logs), "without logs, logs is Unsupported";
        unsupported::logs_can_follow, "CAP-1", [], Some(Cap::LogsCanFollow), "without logs_can_follow, follow is Unsupported";
    }
}
