//! Eventual consistency with deadlines: [`eventually`] polls a probe with backoff until it
//! reports success, and on timeout fails with the last state it observed.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// What one probe saw: done with a value, or not yet with a description of the state.
#[derive(Debug)]
pub enum Probe<T> {
    /// The condition holds.
    Done(T),
    /// Not yet; the string describes what was observed (reported on timeout).
    Pending(String),
}

/// Polls `probe` until it returns [`Probe::Done`] or `deadline` passes.
///
/// The first poll is immediate; later polls back off from 10 ms, doubling to at most 500 ms, and
/// never sleep past the deadline. On timeout the error is the last observed state.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    let end = Instant::now() + deadline;
    let mut delay = Duration::from_millis(10);
    loop {
        let last = match probe().await {
            Probe::Done(value) => return Ok(value),
            Probe::Pending(state) => state,
        };
        let now = Instant::now();
        if now >= end {
            return Err(format!(
                "not reached within {deadline:?}; last observed: {last}"
            ));
        }
        tokio::time::sleep(delay.min(end - now)).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_value_once_the_probe_succeeds() {
        let mut n = 0;
        let got = eventually(Duration::from_secs(5), || {
            n += 1;
            let n = n;
            async move {
                if n >= 3 {
                    Probe::Done(n)
                } else {
                    Probe::Pending(format!("n={n}"))
                }
            }
        })
        .await;
        assert_eq!(got, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_with_the_last_observed_state() {
        let mut n = 0;
        let got: Result<(), String> = eventually(Duration::from_secs(1), || {
            n += 1;
            let n = n;
            async move { Probe::Pending(format!("n={n}")) }
        })
        .await;
        let Err(err) = got else {
            panic!("expected a timeout")
        };
        assert!(err.contains("last observed: n="), "{err}");
        assert!(n > 3 && n < 50, "polled {n} times");
    }
}
