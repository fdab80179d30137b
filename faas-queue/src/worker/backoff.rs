//! Exponential backoff with jitter.

use std::time::Duration;

/// Delay before retry `n` (1-based): `initial · multiplier^(n-1)`, capped at `max`, then
/// scaled by a random factor in `[0.5, 1.0]` when `jitter` is on ("equal jitter", so retries
/// of many calls that failed together spread out but never wait less than half the step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay (default 500 ms).
    pub initial: Duration,
    /// The longest delay (default 30 s).
    pub max: Duration,
    /// Growth per attempt (default 2.0).
    pub multiplier: f64,
    /// Randomise each delay (default on).
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: true,
        }
    }
}

impl Backoff {
    /// The delay after failed attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(62) as i32;
        let raw = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exp);
        let capped = raw.min(self.max.as_secs_f64()).max(0.0);
        let factor = if self.jitter {
            rand::random_range(0.5..=1.0)
        } else {
            1.0
        };
        Duration::from_secs_f64(capped * factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let b = Backoff {
            jitter: false,
            ..Backoff::default()
        };
        assert_eq!(b.delay(1), Duration::from_millis(500));
        assert_eq!(b.delay(2), Duration::from_secs(1));
        assert_eq!(b.delay(3), Duration::from_secs(2));
        assert_eq!(b.delay(100), Duration::from_secs(30));
        let j = Backoff::default();
        for _ in 0..100 {
            let d = j.delay(3);
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_secs(2),
                "{d:?}"
            );
        }
    }
}
