//! DEP: deploy, and what get and list show afterwards.

use chrono::Utc;
use faas_core::{
    ErrorKind, FunctionDeployment, FunctionResources, FunctionStatus, LABEL_FUNCTION_NAME,
    LABEL_SCALE_MAX, LABEL_SCALE_MIN, Secret,
};
use futures::future::join_all;

use crate::failure::{CheckResult, Failure, OrFail, ensure, fail};
use crate::provider::Ctx;
use crate::provider::ctx::expect_kind;
use crate::provider::fields::{diff_fields, invented};
use crate::wait::{Probe, eventually};

/// A multi-line JSON document, as the certifier's `some-json` annotation.
pub(crate) const SOME_JSON: &str = "{\n  \"name\": \"conformance\",\n  \"nested\": {\n    \"list\": [1, 2, 3],\n    \"quote\": \"a \\\"b\\\" c\"\n  }\n}\n";

/// A deployment with every field the provider should keep (secrets only when supported,
/// constraints and read-only root only when declared).
pub(crate) async fn full_deployment(
    ctx: &Ctx,
    clause: &'static str,
) -> Result<FunctionDeployment, Failure> {
    let mut d = ctx
        .echo_function()
        .with_env("custom_env", "custom_env_value")
        .with_env("SPACED", "a b=c:d")
        .with_label("upstream_uri", "example.com")
        .with_label("canary_build", "true")
        .with_annotation("important-date", "Wed, 01 Jan 2025 12:34:56 +0000")
        .with_annotation("some-json", SOME_JSON);
    d.limits = Some(FunctionResources {
        memory: "5Mi".into(),
        cpu: "100m".into(),
        ..Default::default()
    });
    d.requests = Some(FunctionResources {
        memory: "1Mi".into(),
        cpu: "50m".into(),
        ..Default::default()
    });
    if ctx.caps.secrets {
        let secret = ctx.fixture.name();
        ctx.create_secret(Secret::new(
            &secret,
            &ctx.namespace,
            "full-deployment-secret",
        ))
        .await
        .or_fail(clause, "create_secret")?;
        d = d.with_secret(secret);
    }
    if ctx.caps.deploy_with_constraints {
        d.constraints = vec!["node.platform.os == linux".into()];
    }
    if ctx.caps.deploy_with_read_only_root_filesystem {
        d.read_only_root_filesystem = true;
    }
    Ok(d)
}

/// DEP-1: after deploy, get returns every field given, byte-exact (env, labels, multi-line
/// annotations, secrets, constraints, `5Mi`/`100m` limits, requests).
pub async fn get_shows_every_field(ctx: &Ctx) -> CheckResult {
    let d = full_deployment(ctx, "DEP-1").await?;
    ctx.deploy(d.clone()).await.or_fail("DEP-1", "deploy")?;
    let got = ctx.get(&d.service, &ctx.namespace, "DEP-1").await?;
    let diffs = diff_fields(&d, &got, ctx.ns());
    ensure!(
        diffs.is_empty(),
        "DEP-1",
        "get({}) differs from what was deployed: {}",
        d.service,
        diffs.join("; ")
    );
    Ok(())
}

/// DEP-2: the labels include `faas_function=<name>`.
pub async fn labels_include_faas_function(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function().with_label("team", "conformance");
    ctx.deploy(d.clone()).await.or_fail("DEP-2", "deploy")?;
    let got = ctx.get(&d.service, &ctx.namespace, "DEP-2").await?;
    ensure!(
        got.labels.get(LABEL_FUNCTION_NAME) == Some(&d.service),
        "DEP-2",
        "labels {:?} lack {LABEL_FUNCTION_NAME}={}",
        got.labels,
        d.service
    );
    Ok(())
}

/// DEP-3: nothing is invented: fields not sent stay empty (no defaulted requests or limits, no
/// env vars, secrets or constraints), extra labels only under `faas.`/`com.openfaas.`.
pub async fn invents_nothing(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    ctx.deploy(d.clone()).await.or_fail("DEP-3", "deploy")?;
    let got = ctx.get(&d.service, &ctx.namespace, "DEP-3").await?;
    let extra = invented(&d, &got);
    ensure!(
        extra.is_empty(),
        "DEP-3",
        "get({}) shows fields that were not sent: {}",
        d.service,
        extra.join("; ")
    );
    Ok(())
}

/// DEP-4: list includes the function with the same fields as get, sorted by name.
pub async fn list_matches_get(ctx: &Ctx) -> CheckResult {
    let a = full_deployment(ctx, "DEP-4").await?;
    let b = ctx.echo_function().with_label("which", "b");
    for d in [&a, &b] {
        ctx.deploy(d.clone()).await.or_fail("DEP-4", "deploy")?;
    }
    let list = ctx
        .provider
        .list(&ctx.namespace)
        .await
        .or_fail("DEP-4", "list")?;
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    ensure!(
        names == sorted,
        "DEP-4",
        "list is not sorted by name: {names:?}"
    );
    for d in [&a, &b] {
        let Some(listed) = list.iter().find(|s| s.name == d.service) else {
            fail!(
                "DEP-4",
                "list({}) does not include {} (it has {names:?})",
                ctx.ns(),
                d.service
            );
        };
        let diffs = diff_fields(d, listed, ctx.ns());
        ensure!(
            diffs.is_empty(),
            "DEP-4",
            "list entry of {} differs from what was deployed: {}",
            d.service,
            diffs.join("; ")
        );
        let got = ctx.get(&d.service, &ctx.namespace, "DEP-4").await?;
        ensure!(
            got.to_deployment() == listed.to_deployment() && got.created_at == listed.created_at,
            "DEP-4",
            "list and get disagree about {}: list {listed:?}, get {got:?}",
            d.service
        );
    }
    Ok(())
}

/// DEP-5: deploy of an existing name is `AlreadyExists` and leaves the function unchanged.
pub async fn existing_name_already_exists(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function().with_label("generation", "first");
    ctx.deploy(d.clone())
        .await
        .or_fail("DEP-5", "first deploy")?;
    let mut again = d
        .clone()
        .with_label("generation", "second")
        .with_env("added", "yes");
    again.image = ctx.options.functions.update_image.clone();
    expect_kind(
        ctx.provider.deploy(again).await,
        ErrorKind::AlreadyExists,
        "DEP-5",
        "second deploy of the same name",
    )?;
    let got = ctx.get(&d.service, &ctx.namespace, "DEP-5").await?;
    let diffs = diff_fields(&d, &got, ctx.ns());
    ensure!(
        diffs.is_empty(),
        "DEP-5",
        "the rejected deploy changed the function: {}",
        diffs.join("; ")
    );
    Ok(())
}

/// Whether an error names `field` (as its field, or in its message for providers behind a
/// transport that flattens it).
pub(crate) fn names_field(e: &faas_core::Error, field: &str) -> bool {
    e.field() == Some(field) || e.to_string().contains(field)
}

/// DEP-6: an invalid name is `InvalidInput` naming `service`, and nothing is created.
pub async fn invalid_name_rejected(ctx: &Ctx) -> CheckResult {
    let long = "a".repeat(64);
    for name in [
        "",
        "Upper",
        "has.dot",
        "-lead",
        "trail-",
        "under_score",
        long.as_str(),
    ] {
        let d = FunctionDeployment::new(name, &ctx.options.functions.image)
            .with_namespace(&ctx.namespace)
            .with_env_process(&ctx.options.functions.echo);
        let e = expect_kind(
            ctx.provider.deploy(d).await,
            ErrorKind::InvalidInput,
            "DEP-6",
            &format!("deploy of name {name:?}"),
        )?;
        ensure!(
            names_field(&e, "service"),
            "DEP-6",
            "deploy of name {name:?}: error does not name `service`: {e}"
        );
    }
    let list = ctx
        .provider
        .list(&ctx.namespace)
        .await
        .or_fail("DEP-6", "list")?;
    let bad: Vec<&str> = list
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| n.contains('_') || n.contains('.') || *n == "Upper")
        .collect();
    ensure!(
        bad.is_empty(),
        "DEP-6",
        "rejected deploys left functions behind: {bad:?}"
    );
    Ok(())
}

/// DEP-7: an invalid field is `InvalidInput` naming the field, and nothing is created.
pub async fn invalid_fields_rejected(ctx: &Ctx) -> CheckResult {
    type Mutate = fn(&mut FunctionDeployment);
    let cases: [(&str, Mutate); 8] = [
        ("image", |d| d.image = String::new()),
        ("image", |d| d.image = "Not A/Valid:Image!".into()),
        ("envVars.1BAD", |d| {
            d.env_vars.insert("1BAD".into(), "x".into());
        }),
        ("labels.bad key", |d| {
            d.labels.insert("bad key".into(), "x".into());
        }),
        ("annotations.bad key!", |d| {
            d.annotations.insert("bad key!".into(), "x".into());
        }),
        ("limits.memory", |d| {
            d.limits = Some(FunctionResources {
                memory: "lots".into(),
                ..Default::default()
            })
        }),
        ("secrets[0]", |d| d.secrets = vec!["Bad_Secret".into()]),
        ("labels.com.openfaas.scale.min", |d| {
            d.labels.insert(LABEL_SCALE_MIN.into(), "5".into());
            d.labels.insert(LABEL_SCALE_MAX.into(), "2".into());
        }),
    ];
    for (field, mutate) in cases {
        let mut d = ctx.echo_function();
        mutate(&mut d);
        let name = d.service.clone();
        ctx.fixture.function(&name, ctx.ns());
        let e = expect_kind(
            ctx.provider.deploy(d).await,
            ErrorKind::InvalidInput,
            "DEP-7",
            &format!("deploy with a bad {field}"),
        )?;
        ensure!(
            names_field(&e, field),
            "DEP-7",
            "deploy with a bad {field}: error does not name `{field}`: {e}"
        );
        expect_kind(
            ctx.provider.get(&name, &ctx.namespace).await,
            ErrorKind::NotFound,
            "DEP-7",
            &format!("get after the rejected deploy with a bad {field}"),
        )?;
    }
    Ok(())
}

/// DEP-8: deploy that mounts a missing secret is `NotFound` and creates nothing.
pub async fn missing_secret_not_found(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function().with_secret(ctx.fixture.name());
    let name = d.service.clone();
    ctx.fixture.function(&name, ctx.ns());
    expect_kind(
        ctx.provider.deploy(d).await,
        ErrorKind::NotFound,
        "DEP-8",
        "deploy mounting a secret that does not exist",
    )?;
    expect_kind(
        ctx.provider.get(&name, &ctx.namespace).await,
        ErrorKind::NotFound,
        "DEP-8",
        "get after the rejected deploy",
    )?;
    Ok(())
}

/// DEP-9: `com.openfaas.scale.min=2` gives `replicas == 2` at once and 2 available in time.
pub async fn scale_min_label(ctx: &Ctx) -> CheckResult {
    if ctx.caps.replicas_max.is_some_and(|m| m < 2) {
        return Err(Failure::skipped("replicas_max is below 2"));
    }
    let d = ctx.echo_function().with_label(LABEL_SCALE_MIN, "2");
    ctx.deploy(d.clone()).await.or_fail("DEP-9", "deploy")?;
    let got = ctx.get(&d.service, &ctx.namespace, "DEP-9").await?;
    ensure!(
        got.replicas == 2,
        "DEP-9",
        "replicas right after deploy is {}, expected 2",
        got.replicas
    );
    available(ctx, &d.service, &ctx.namespace, 2, "DEP-9").await
}

/// Waits until `availableReplicas == n`; failures cite `clause`.
pub(crate) async fn available(
    ctx: &Ctx,
    name: &str,
    ns: &str,
    n: u64,
    clause: &'static str,
) -> CheckResult {
    eventually(ctx.options.scale_timeout, || async {
        match ctx.provider.get(name, ns).await {
            Ok(s) if s.available_replicas == n => Probe::Done(()),
            Ok(s) => Probe::Pending(format!(
                "replicas={} availableReplicas={}",
                s.replicas, s.available_replicas
            )),
            Err(e) => Probe::Pending(format!("get failed: {e}")),
        }
    })
    .await
    .map_err(|e| {
        Failure::failed(
            clause,
            format!("{name} never had {n} available replicas: {e}"),
        )
    })
}

/// DEP-10: `createdAt` lies within the deploy call (±1 s) and `invocationCount` is sane.
pub async fn created_at_and_invocation_count_sane(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    let before = Utc::now() - chrono::Duration::seconds(1);
    ctx.deploy(d.clone()).await.or_fail("DEP-10", "deploy")?;
    let after = Utc::now() + chrono::Duration::seconds(1);
    let got = ctx.get(&d.service, &ctx.namespace, "DEP-10").await?;
    ensure!(
        got.created_at >= before && got.created_at <= after,
        "DEP-10",
        "createdAt {} is outside the deploy call [{before}, {after}]",
        got.created_at
    );
    ensure!(
        got.invocation_count.is_finite() && got.invocation_count >= 0.0,
        "DEP-10",
        "invocationCount is {}",
        got.invocation_count
    );
    let again = ctx.get(&d.service, &ctx.namespace, "DEP-10").await?;
    ensure!(
        again.created_at == got.created_at,
        "DEP-10",
        "createdAt changed between two gets: {} then {}",
        got.created_at,
        again.created_at
    );
    Ok(())
}

/// DEP-11: concurrent deploys of different names all succeed and keep their own fields.
pub async fn concurrent_deploys(ctx: &Ctx) -> CheckResult {
    let ds: Vec<FunctionDeployment> = (0..6)
        .map(|i| {
            ctx.echo_function()
                .with_label("index", i.to_string())
                .with_env("INDEX", i.to_string())
        })
        .collect();
    let results = join_all(ds.iter().map(|d| ctx.deploy(d.clone()))).await;
    for (d, r) in ds.iter().zip(results) {
        r.or_fail("DEP-11", &format!("concurrent deploy of {}", d.service))?;
    }
    let got: Vec<faas_core::Result<FunctionStatus>> = join_all(
        ds.iter()
            .map(|d| ctx.provider.get(&d.service, &ctx.namespace)),
    )
    .await;
    for (d, g) in ds.iter().zip(got) {
        let g = g.or_fail("DEP-11", &format!("get({})", d.service))?;
        let diffs = diff_fields(d, &g, ctx.ns());
        ensure!(
            diffs.is_empty(),
            "DEP-11",
            "{} after concurrent deploys: {}",
            d.service,
            diffs.join("; ")
        );
    }
    Ok(())
}
