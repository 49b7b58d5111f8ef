//! The client-side request rate limit: LookupEvents allows 2 requests per second per account and region,
//! and a scan that exceeds it is throttled and slowed far more than by waiting its turn.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces request starts at least `1 / rate` apart; the first goes at once.
pub struct RateLimiter {
    interval: Duration,
    next_slot: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn new(per_second: f64) -> RateLimiter {
        RateLimiter { interval: Duration::from_secs_f64(1.0 / per_second), next_slot: Mutex::new(None) }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next_slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
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
}
