//! The app's own pace of requests to the escrow: a token bucket like the escrow's per-account rate
//! limit (`rate_limit_per_minute`, `rate_limit_burst`, from `/config.json`), a little slower, so
//! that a long run of requests (a FHIR import of thousands of records, a summary opening them)
//! waits in the browser instead of being refused with 429. Each refusal costs a request, a wait
//! of at least a second and, at the escrow, a `rate-limited` entry in the patient's access log for
//! every run of refusals; paced, there are next to none. A 429 that still comes (another tab of
//! the same account) is sent again after its `Retry-After`, as before.

/// The share of the escrow's rate and burst the app allows itself: the two buckets are not in
/// step (requests in flight, clocks), and running exactly at the limit would still meet it.
const MARGIN: f64 = 0.9;

/// A token bucket over the browser's clock (milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Pacer {
    /// Tokens a millisecond; 0: no limit.
    per_ms: f64,
    burst: f64,
    /// May go below zero: requests already promised a later turn.
    tokens: f64,
    at_ms: Option<f64>,
}

impl Pacer {
    /// The pace for an escrow that allows `per_minute` requests with bursts of `burst` (0: no
    /// limit, as the escrow reads it).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let burst = (f64::from(burst) * MARGIN).floor().max(1.0);
        Pacer {
            per_ms: f64::from(per_minute) * MARGIN / 60_000.0,
            burst,
            tokens: burst,
            at_ms: None,
        }
    }

    /// Takes a turn at `now_ms`; how long to wait before sending (0: at once). Turns are handed
    /// out in order: a request asking while others wait is given the turn after theirs.
    pub fn take(&mut self, now_ms: f64) -> f64 {
        if self.per_ms <= 0.0 {
            return 0.0;
        }
        // A clock set back counts as no time passing, and the bucket's time never goes back:
        // what it refilled up to stays counted.
        let now_ms = self.at_ms.map_or(now_ms, |at| now_ms.max(at));
        let elapsed = self.at_ms.map_or(0.0, |at| now_ms - at);
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.burst);
        self.at_ms = Some(now_ms);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            0.0
        } else {
            -self.tokens / self.per_ms
        }
    }
}

impl Default for Pacer {
    /// No limit, until the escrow's configuration is known.
    fn default() -> Self {
        Pacer::new(0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_and_the_rest_at_the_rate() {
        // 600 a minute with bursts of 120: 540 a minute (9 a second) and 108 at once.
        let mut p = Pacer::new(600, 120);
        for _ in 0..108 {
            assert_eq!(p.take(0.0), 0.0);
        }
        let waits: Vec<f64> = (0..3).map(|_| p.take(0.0)).collect();
        let step = 1000.0 / 9.0;
        for (i, w) in waits.iter().enumerate() {
            assert!((w - step * (i + 1) as f64).abs() < 1e-6, "{waits:?}");
        }
        // A second later nine turns have come back: the next asker waits for the three promised
        // ones and its own, less the second that passed.
        let w = p.take(1000.0);
        assert!((w - (4.0 * step - 1000.0).max(0.0)).abs() < 1e-6, "{w}");
    }

    #[test]
    fn an_idle_bucket_fills_up_to_the_burst_only() {
        let mut p = Pacer::new(60, 10);
        for _ in 0..9 {
            p.take(0.0);
        }
        assert!(p.take(0.0) > 0.0, "the tenth waits: the burst allowed is 9");
        // An hour idle gives back the burst, not an hour's worth.
        for _ in 0..9 {
            assert_eq!(p.take(3_600_000.0), 0.0);
        }
        assert!(p.take(3_600_000.0) > 0.0);
    }

    #[test]
    fn no_limit_means_no_wait_and_a_clock_going_back_gives_nothing() {
        let mut off = Pacer::default();
        for _ in 0..10_000 {
            assert_eq!(off.take(0.0), 0.0);
        }
        let mut p = Pacer::new(60, 1);
        assert_eq!(p.take(10_000.0), 0.0);
        let w = p.take(5_000.0);
        assert!((w - 1000.0 / 0.9).abs() < 1e-6, "{w}");
        // Back at 10 s the time before it is not counted again: two turns are still owed.
        let w = p.take(10_000.0);
        assert!((w - 2000.0 / 0.9).abs() < 1e-6, "{w}");
    }
}
