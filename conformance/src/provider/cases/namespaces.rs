//! NS: namespaces are listed and respected.

use faas_core::{ErrorKind, FunctionNamespace};

use crate::failure::{CheckResult, OrFail, ensure};
use crate::provider::Ctx;
use crate::provider::ctx::expect_kind;

/// NS-1: list_namespaces includes the default and the suite's namespace, sorted.
pub async fn listed(ctx: &Ctx) -> CheckResult {
    let all = ctx
        .provider
        .list_namespaces()
        .await
        .or_fail("NS-1", "list_namespaces")?;
    for want in [ctx.info.default_namespace.as_str(), ctx.ns()] {
        ensure!(
            all.iter().any(|n| n == want),
            "NS-1",
            "list_namespaces {all:?} lacks {want:?}"
        );
    }
    let mut sorted = all.clone();
    sorted.sort();
    ensure!(
        all == sorted,
        "NS-1",
        "list_namespaces is not sorted: {all:?}"
    );
    Ok(())
}

/// NS-2: a function in one namespace is invisible from another.
pub async fn isolation(ctx: &Ctx) -> CheckResult {
    let other = ctx.other_namespace("NS-2").await?;
    let d = ctx.echo_function();
    ctx.deploy(d.clone()).await.or_fail("NS-2", "deploy")?;
    expect_kind(
        ctx.provider.get(&d.service, &other).await,
        ErrorKind::NotFound,
        "NS-2",
        &format!("get of {} from namespace {other}", d.service),
    )?;
    let list = ctx
        .provider
        .list(&other)
        .await
        .or_fail("NS-2", "list of the other namespace")?;
    ensure!(
        !list.iter().any(|s| s.name == d.service),
        "NS-2",
        "list({other}) shows {} from {}",
        d.service,
        ctx.ns()
    );
    let e = ctx.echo_function().with_namespace(&other);
    ctx.deploy(e.clone())
        .await
        .or_fail("NS-2", "deploy into the other namespace")?;
    expect_kind(
        ctx.provider.get(&e.service, &ctx.namespace).await,
        ErrorKind::NotFound,
        "NS-2",
        &format!("get of {} from namespace {}", e.service, ctx.ns()),
    )?;
    let got = ctx.get(&e.service, &other, "NS-2").await?;
    ensure!(
        got.namespace == other,
        "NS-2",
        "function deployed to {other} reports namespace {:?}",
        got.namespace
    );
    Ok(())
}

/// NS-3: the same name in two namespaces is two functions.
pub async fn same_name_is_two_functions(ctx: &Ctx) -> CheckResult {
    let other = ctx.other_namespace("NS-3").await?;
    let here = ctx.echo_function().with_label("home", "here");
    let there = here
        .clone()
        .with_namespace(&other)
        .with_label("home", "there");
    ctx.deploy(there.clone())
        .await
        .or_fail("NS-3", "deploy into the other namespace")?;
    let eps = ctx.deploy_ready(here.clone(), "NS-3").await?;
    let a = ctx.get(&here.service, &ctx.namespace, "NS-3").await?;
    let b = ctx.get(&here.service, &other, "NS-3").await?;
    ensure!(
        a.labels.get("home").map(String::as_str) == Some("here"),
        "NS-3",
        "{} in {} has labels {:?}",
        here.service,
        ctx.ns(),
        a.labels
    );
    ensure!(
        b.labels.get("home").map(String::as_str) == Some("there"),
        "NS-3",
        "{} in {other} has labels {:?}",
        here.service,
        b.labels
    );
    ctx.provider
        .delete(&here.service, &other)
        .await
        .or_fail("NS-3", "delete in the other namespace")?;
    let a = ctx.get(&here.service, &ctx.namespace, "NS-3").await?;
    ensure!(
        a.labels.get("home").map(String::as_str) == Some("here"),
        "NS-3",
        "deleting the other copy changed this one: {:?}",
        a.labels
    );
    ctx.expect_answer(&eps[0], "/", "survivor", "survivor", "NS-3")
        .await?;
    Ok(())
}

/// NS-4: namespace create, get, update and delete.
pub async fn crud(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    let mut ns = FunctionNamespace::new(&name);
    ns.labels.insert("team".into(), "conformance".into());
    ns.annotations.insert("note".into(), "multi\nline".into());
    ctx.create_namespace(ns.clone())
        .await
        .or_fail("NS-4", "create_namespace")?;
    let all = ctx
        .provider
        .list_namespaces()
        .await
        .or_fail("NS-4", "list_namespaces")?;
    ensure!(
        all.contains(&name),
        "NS-4",
        "list_namespaces {all:?} lacks the created {name}"
    );
    let got = ctx
        .provider
        .get_namespace(&name)
        .await
        .or_fail("NS-4", "get_namespace")?;
    ensure!(
        got.labels.get("team") == ns.labels.get("team")
            && got.annotations.get("note") == ns.annotations.get("note"),
        "NS-4",
        "get_namespace returned {got:?}, created {ns:?}"
    );
    expect_kind(
        ctx.provider.create_namespace(ns.clone()).await,
        ErrorKind::AlreadyExists,
        "NS-4",
        "second create_namespace",
    )?;
    let mut next = FunctionNamespace::new(&name);
    next.labels.insert("team".into(), "updated".into());
    ctx.provider
        .update_namespace(next)
        .await
        .or_fail("NS-4", "update_namespace")?;
    let got = ctx
        .provider
        .get_namespace(&name)
        .await
        .or_fail("NS-4", "get_namespace after update")?;
    ensure!(
        got.labels.get("team").map(String::as_str) == Some("updated"),
        "NS-4",
        "update_namespace not applied: {got:?}"
    );
    ctx.provider
        .delete_namespace(&name)
        .await
        .or_fail("NS-4", "delete_namespace")?;
    let all = ctx
        .provider
        .list_namespaces()
        .await
        .or_fail("NS-4", "list_namespaces after delete")?;
    ensure!(
        !all.contains(&name),
        "NS-4",
        "list_namespaces still has {name} after delete"
    );
    expect_kind(
        ctx.provider.delete_namespace(&name).await,
        ErrorKind::NotFound,
        "NS-4",
        "second delete_namespace",
    )?;
    expect_kind(
        ctx.provider.get_namespace(&name).await,
        ErrorKind::NotFound,
        "NS-4",
        "get_namespace after delete",
    )?;
    Ok(())
}

/// NS-5: deleting a namespace that holds a function is `Conflict`, and the function stays.
pub async fn delete_non_empty_conflicts(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    ctx.create_namespace(FunctionNamespace::new(&name))
        .await
        .or_fail("NS-5", "create_namespace")?;
    let d = ctx.echo_function().with_namespace(&name);
    ctx.deploy(d.clone()).await.or_fail("NS-5", "deploy")?;
    expect_kind(
        ctx.provider.delete_namespace(&name).await,
        ErrorKind::Conflict,
        "NS-5",
        "delete_namespace of a namespace holding a function",
    )?;
    ctx.get(&d.service, &name, "NS-5").await?;
    Ok(())
}

/// NS-6: deploy into a namespace that does not exist is `NotFound`.
pub async fn deploy_into_missing_namespace(ctx: &Ctx) -> CheckResult {
    let ns = ctx.fixture.name();
    let d = ctx.echo_function().with_namespace(&ns);
    ctx.fixture.function(&d.service, &ns);
    expect_kind(
        ctx.provider.deploy(d).await,
        ErrorKind::NotFound,
        "NS-6",
        &format!("deploy into missing namespace {ns}"),
    )?;
    Ok(())
}
