//! The client-side request rate limit: LookupEvents allows 2 requests per second per account and region,
//! and a scan that exceeds it is throttled and slowed far more than by waiting its turn.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The longest spacing throttling can push the limiter to.
const SLOWEST: Duration = Duration::from_secs(8);

/// Spaces request starts at least `1 / rate` apart; the first goes at once. Throttling answers widen the
/// spacing (the account's budget may be shared with other callers), successes bring it back.
pub struct RateLimiter {
    base: Duration,
    state: Mutex<State>,
}

struct State {
    interval: Duration,
    next_slot: Option<Instant>,
}

impl RateLimiter {
    pub fn new(per_second: f64) -> RateLimiter {
        let base = Duration::from_secs_f64(1.0 / per_second);
        RateLimiter { base, state: Mutex::new(State { interval: base, next_slot: None }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Halves the rate after a throttling answer.
    pub fn slow_down(&self) {
        let mut state = self.state();
        state.interval = (state.interval * 2).min(SLOWEST);
    }

    /// Moves a tenth of the way back to the configured rate after a success.
    pub fn recover(&self) {
        let mut state = self.state();
        state.interval = (state.interval.mul_f64(0.9)).max(self.base);
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let slot = {
            let mut state = self.state();
            let now = Instant::now();
            let slot = state.next_slot.map_or(now, |n| n.max(now));
            state.next_slot = Some(slot + state.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests() {
        let limiter = RateLimiter::new(2.0);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(2000));
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_slows_and_success_recovers() {
        let limiter = RateLimiter::new(2.0);
        limiter.acquire().await;
        limiter.slow_down();
        let start = Instant::now();
        limiter.acquire().await; // the slot booked before the slow-down
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
        for _ in 0..20 {
            limiter.recover();
        }
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(1500), "one slot still at the slow spacing");
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(2000));
    }
}
