//! LOG: logs hold what the function's watchdog wrote; follow streams new lines; tail limits;
//! since filters by time.

use std::time::Duration;

use faas_core::{LogEntry, LogRequest};
use futures::StreamExt as _;

use crate::failure::{CheckResult, Failure, OrFail, ensure};
use crate::provider::Ctx;
use crate::wait::{Probe, eventually};

/// Reads a non-following log stream to its end (bounded by `deadline`).
async fn read_all(ctx: &Ctx, req: LogRequest, deadline: Duration) -> Result<Vec<LogEntry>, String> {
    let mut stream = ctx
        .provider
        .logs(req)
        .await
        .map_err(|e| format!("logs failed: {e}"))?;
    let mut out = Vec::new();
    let read = async {
        while let Some(item) = stream.next().await {
            out.push(item.map_err(|e| format!("log stream item failed: {e}"))?);
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(r) => r.map(|()| out),
        Err(_) => Err(format!(
            "a non-follow log stream did not end within {deadline:?}"
        )),
    }
}

fn has(entries: &[LogEntry], needle: &str) -> bool {
    entries.iter().any(|e| e.text.contains(needle))
}

/// LOG-1: after an invocation, logs hold `Forking fprocess` and `Wrote <N> Bytes`, and each
/// entry names the function and its namespace.
pub async fn contain_watchdog_lines(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    let eps = ctx.deploy_ready(d.clone(), "LOG-1").await?;
    let body = format!("log-me-{}", d.service);
    ctx.expect_answer(&eps[0], "/", &body, &body, "LOG-1")
        .await?;
    let wrote = format!("Wrote {} Bytes", body.len());
    let entries = eventually(ctx.options.log_timeout, || async {
        match read_all(
            ctx,
            LogRequest::new(&d.service, &ctx.namespace),
            ctx.options.log_timeout,
        )
        .await
        {
            Ok(es) if has(&es, "Forking fprocess") && has(&es, &wrote) => Probe::Done(es),
            Ok(es) => Probe::Pending(format!(
                "{} lines, last: {:?}",
                es.len(),
                es.iter().rev().take(3).map(|e| &e.text).collect::<Vec<_>>()
            )),
            Err(e) => Probe::Pending(e),
        }
    })
    .await
    .map_err(|e| {
        Failure::failed(
            "LOG-1",
            format!("logs never held `Forking fprocess` and {wrote:?}: {e}"),
        )
    })?;
    for e in &entries {
        ensure!(
            e.name == d.service,
            "LOG-1",
            "log entry names function {:?}, expected {}",
            e.name,
            d.service
        );
        ensure!(
            e.namespace.is_empty() || e.namespace == ctx.ns(),
            "LOG-1",
            "log entry names namespace {:?}, expected {}",
            e.namespace,
            ctx.ns()
        );
    }
    Ok(())
}

/// LOG-2: a follow stream delivers lines written after it was opened.
pub async fn follow_streams_new_lines(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    let eps = ctx.deploy_ready(d.clone(), "LOG-2").await?;
    let mut stream = ctx
        .provider
        .logs(LogRequest::new(&d.service, &ctx.namespace).with_follow(true))
        .await
        .or_fail("LOG-2", "logs(follow)")?;
    let body = format!("followed-line-for-{}-xyz", d.service);
    ctx.expect_answer(&eps[0], "/", &body, &body, "LOG-2")
        .await?;
    let wrote = format!("Wrote {} Bytes", body.len());
    let mut seen = Vec::new();
    let found = tokio::time::timeout(ctx.options.log_timeout, async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(e) if e.text.contains(&wrote) => return Ok(()),
                Ok(e) => seen.push(e.text),
                Err(e) => return Err(format!("follow stream failed: {e}")),
            }
        }
        Err("the follow stream ended".to_owned())
    })
    .await;
    match found {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::failed(
            "LOG-2",
            format!("{e} before {wrote:?} arrived (saw {} lines)", seen.len()),
        )),
        Err(_) => Err(Failure::failed(
            "LOG-2",
            format!(
                "{wrote:?} did not arrive within {:?} (saw {} lines)",
                ctx.options.log_timeout,
                seen.len()
            ),
        )),
    }
}

/// LOG-3: `tail: N` returns at most N lines.
pub async fn tail_limits_lines(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    let eps = ctx.deploy_ready(d.clone(), "LOG-3").await?;
    for i in 0..3 {
        let body = format!("tail-{i}");
        ctx.expect_answer(&eps[0], "/", &body, &body, "LOG-3")
            .await?;
    }
    eventually(ctx.options.log_timeout, || async {
        match read_all(
            ctx,
            LogRequest::new(&d.service, &ctx.namespace),
            ctx.options.log_timeout,
        )
        .await
        {
            Ok(es) if es.len() >= 3 => Probe::Done(()),
            Ok(es) => Probe::Pending(format!("{} lines", es.len())),
            Err(e) => Probe::Pending(e),
        }
    })
    .await
    .map_err(|e| {
        Failure::failed(
            "LOG-3",
            format!("three invocations never gave 3 log lines: {e}"),
        )
    })?;
    let tail = read_all(
        ctx,
        LogRequest::new(&d.service, &ctx.namespace).with_tail(1),
        ctx.options.log_timeout,
    )
    .await
    .map_err(|e| Failure::failed("LOG-3", e))?;
    ensure!(
        tail.len() <= 1,
        "LOG-3",
        "tail 1 returned {} lines",
        tail.len()
    );
    Ok(())
}

/// LOG-4: `since: T` returns only lines written at or after `T`: the lines of an invocation
/// before `T` are left out, those of an invocation after it come back. `T` is taken from the
/// provider's own timestamps (just after the last line of the first invocation), so a clock
/// offset between the suite and the provider does not matter.
pub async fn since_filters_older_lines(ctx: &Ctx) -> CheckResult {
    let d = ctx.echo_function();
    let eps = ctx.deploy_ready(d.clone(), "LOG-4").await?;
    // Bodies of different lengths, so their `Wrote <N> Bytes` lines differ.
    let before = format!("b-{}", d.service);
    let after = format!("after-the-cut-{}", d.service);
    let wrote_before = format!("Wrote {} Bytes", before.len());
    let wrote_after = format!("Wrote {} Bytes", after.len());
    ctx.expect_answer(&eps[0], "/", &before, &before, "LOG-4")
        .await?;
    let backlog = eventually(ctx.options.log_timeout, || async {
        match read_all(
            ctx,
            LogRequest::new(&d.service, &ctx.namespace),
            ctx.options.log_timeout,
        )
        .await
        {
            Ok(es) if has(&es, &wrote_before) => Probe::Done(es),
            Ok(es) => Probe::Pending(format!("{} lines, none with {wrote_before:?}", es.len())),
            Err(e) => Probe::Pending(e),
        }
    })
    .await
    .map_err(|e| Failure::failed("LOG-4", format!("logs never held {wrote_before:?}: {e}")))?;
    let Some(last) = backlog.iter().map(|e| e.timestamp).max() else {
        return Err(Failure::failed("LOG-4", "the backlog is empty"));
    };
    let cut = last + chrono::Duration::nanoseconds(1);
    // Let the provider's clock move past the cut before the second invocation.
    tokio::time::sleep(Duration::from_millis(100)).await;
    ctx.expect_answer(&eps[0], "/", &after, &after, "LOG-4")
        .await?;
    let since = eventually(ctx.options.log_timeout, || async {
        match read_all(
            ctx,
            LogRequest::new(&d.service, &ctx.namespace).with_since(cut),
            ctx.options.log_timeout,
        )
        .await
        {
            Ok(es) => {
                if let Some(old) = es.iter().find(|e| e.timestamp < cut) {
                    return Probe::Done(Err(format!(
                        "logs(since {cut:?}) returned a line from {:?}: {:?}",
                        old.timestamp, old.text
                    )));
                }
                if let Some(old) = es.iter().find(|e| e.text.contains(&wrote_before)) {
                    return Probe::Done(Err(format!(
                        "logs(since {cut:?}) returned the earlier invocation's line {:?} (stamped {:?}; the last line before the cut was stamped {last:?})",
                        old.text, old.timestamp
                    )));
                }
                if has(&es, &wrote_after) {
                    Probe::Done(Ok(()))
                } else {
                    Probe::Pending(format!(
                        "logs(since {cut:?}): {} lines, none with {wrote_after:?}",
                        es.len()
                    ))
                }
            }
            Err(e) => Probe::Pending(e),
        }
    })
    .await
    .map_err(|e| {
        Failure::failed(
            "LOG-4",
            format!("the later invocation's {wrote_after:?} never came back: {e}"),
        )
    })?;
    since.map_err(|e| Failure::failed("LOG-4", e))
}
