//! SEC: secret CRUD, and functions read their secrets.

use faas_core::{ErrorKind, Secret};

use crate::failure::{CheckResult, OrFail, ensure, fail};
use crate::provider::Ctx;
use crate::provider::cases::deploy::names_field;
use crate::provider::ctx::{expect_kind, truncate};

/// SEC-1: create, list (names only, sorted), create again, update/delete of missing, delete.
pub async fn crud(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    let before = ctx
        .provider
        .list_secrets(&ctx.namespace)
        .await
        .or_fail("SEC-1", "list_secrets")?;
    ensure!(
        !before.iter().any(|s| s.name == name),
        "SEC-1",
        "list_secrets shows {name} before it was created"
    );
    ctx.create_secret(Secret::new(&name, &ctx.namespace, "first"))
        .await
        .or_fail("SEC-1", "create_secret")?;
    let list = ctx
        .provider
        .list_secrets(&ctx.namespace)
        .await
        .or_fail("SEC-1", "list_secrets")?;
    ensure!(
        list.iter().any(|s| s.name == name),
        "SEC-1",
        "list_secrets {list:?} lacks {name}"
    );
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    ensure!(
        names == sorted,
        "SEC-1",
        "list_secrets is not sorted: {names:?}"
    );
    expect_kind(
        ctx.provider
            .create_secret(Secret::new(&name, &ctx.namespace, "again"))
            .await,
        ErrorKind::AlreadyExists,
        "SEC-1",
        "second create_secret",
    )?;
    let missing = ctx.fixture.name();
    ctx.fixture.secret(&missing, ctx.ns());
    if ctx.caps.secrets_can_update {
        expect_kind(
            ctx.provider
                .update_secret(Secret::new(&missing, &ctx.namespace, "x"))
                .await,
            ErrorKind::NotFound,
            "SEC-1",
            "update_secret of a missing secret",
        )?;
        ctx.provider
            .update_secret(Secret::new(&name, &ctx.namespace, "second"))
            .await
            .or_fail("SEC-1", "update_secret")?;
    }
    ctx.provider
        .delete_secret(&name, &ctx.namespace)
        .await
        .or_fail("SEC-1", "delete_secret")?;
    let list = ctx
        .provider
        .list_secrets(&ctx.namespace)
        .await
        .or_fail("SEC-1", "list_secrets after delete")?;
    ensure!(
        !list.iter().any(|s| s.name == name),
        "SEC-1",
        "list_secrets still has {name} after delete"
    );
    expect_kind(
        ctx.provider.delete_secret(&name, &ctx.namespace).await,
        ErrorKind::NotFound,
        "SEC-1",
        "second delete_secret",
    )?;
    Ok(())
}

/// SEC-2: a function that mounts a secret reads its value byte-exact (text and binary).
pub async fn function_reads_secret(ctx: &Ctx) -> CheckResult {
    let text = ctx.fixture.name();
    let raw = ctx.fixture.name();
    let raw_value: Vec<u8> = b"bytes:\x00\x01\x7f line\nend".to_vec();
    let text_value = format!("s3cr3t value for {text}");
    ctx.create_secret(Secret::new(&text, &ctx.namespace, &text_value))
        .await
        .or_fail("SEC-2", "create_secret (text)")?;
    ctx.create_secret(Secret::raw(&raw, &ctx.namespace, raw_value.clone()))
        .await
        .or_fail("SEC-2", "create_secret (rawValue)")?;
    for (secret, want) in [(&text, text_value.into_bytes()), (&raw, raw_value)] {
        let d = ctx
            .function(&ctx.options.functions.secret_reader_for(secret))
            .with_secret(secret.as_str());
        let eps = ctx.deploy_ready(d, "SEC-2").await?;
        match ctx.invoke(&eps[0], "POST", "/", "").await {
            Ok(r) if r.status == 200 && r.body == want => {}
            Ok(r) => fail!(
                "SEC-2",
                "the reader of {secret} answered {} {:?}, expected {:?}",
                r.status,
                truncate(&r.text()),
                String::from_utf8_lossy(&want)
            ),
            Err(e) => fail!("SEC-2", "invoking the reader of {secret}: {e}"),
        }
    }
    Ok(())
}

/// SEC-3: after update_secret and an update of the function, the function reads the new value.
pub async fn update_reaches_function(ctx: &Ctx) -> CheckResult {
    let name = ctx.fixture.name();
    ctx.create_secret(Secret::new(&name, &ctx.namespace, "value-one"))
        .await
        .or_fail("SEC-3", "create_secret")?;
    let d = ctx
        .function(&ctx.options.functions.secret_reader_for(&name))
        .with_secret(&name);
    let eps = ctx.deploy_ready(d.clone(), "SEC-3").await?;
    ctx.expect_answer(&eps[0], "/", "", "value-one", "SEC-3")
        .await?;
    ctx.provider
        .update_secret(Secret::new(&name, &ctx.namespace, "value-two"))
        .await
        .or_fail("SEC-3", "update_secret")?;
    ctx.provider
        .update(d.clone().with_annotation("secret-hash", "two"))
        .await
        .or_fail("SEC-3", "update (redeploy)")?;
    ctx.eventually_answers(
        &d.service,
        &ctx.namespace,
        "",
        "value-two",
        ctx.options.ready_timeout,
        "SEC-3",
    )
    .await
}

/// SEC-4: a secret with an invalid name is `InvalidInput` naming `name`.
pub async fn invalid_name_rejected(ctx: &Ctx) -> CheckResult {
    for bad in ["Bad_Name", "", "-lead"] {
        let e = expect_kind(
            ctx.provider
                .create_secret(Secret::new(bad, &ctx.namespace, "x"))
                .await,
            ErrorKind::InvalidInput,
            "SEC-4",
            &format!("create_secret named {bad:?}"),
        )?;
        ensure!(
            names_field(&e, "name"),
            "SEC-4",
            "create_secret named {bad:?}: error does not name `name`: {e}"
        );
    }
    Ok(())
}
