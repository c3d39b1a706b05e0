//! Per-caller rate limits: a token bucket per signed-in address (every authenticated endpoint)
//! and per client IP (the two sign-in steps, and reads without a session). Over the limit the
//! answer is 429 with `Retry-After`. Buckets live in memory (one escrow process); idle buckets are
//! dropped.
//!
//! A flood is logged once, not once per request: the limiter remembers which callers are in a
//! refused episode ([`RateLimiter::first_of_episode`]), and an admitted request ends the episode.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: std::sync::Mutex<HashMap<String, (f64, Instant)>>,
    /// Callers refused since they were last admitted, whose refusal was already logged.
    episodes: std::sync::Mutex<HashSet<String>>,
}

impl RateLimiter {
    /// `per_minute` sustained requests with bursts of `burst`; 0 disables the limit.
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: std::sync::Mutex::new(HashMap::new()),
            episodes: std::sync::Mutex::new(HashSet::new()),
        }
    }

    /// Whether a refusal of `key` is the first since it was last admitted: true once per flood,
    /// so that the access log gets one entry for it rather than one per request.
    pub fn first_of_episode(&self, key: &str) -> bool {
        let Ok(mut episodes) = self.episodes.lock() else {
            return true;
        };
        if episodes.len() > 100_000 {
            episodes.clear();
        }
        episodes.insert(key.to_string())
    }

    fn end_episode(&self, key: &str) {
        if let Ok(mut episodes) = self.episodes.lock() {
            if !episodes.is_empty() {
                episodes.remove(key);
            }
        }
    }

    /// Takes one token for `key`; `Err(seconds)` says when to retry.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 100_000 {
            let full = self.burst / self.per_second;
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() < full);
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            drop(buckets);
            self.end_episode(key);
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refuses_per_key() {
        let l = RateLimiter::new(60, 3);
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        assert_eq!(l.check("a"), Err(1));
        assert!(l.check("b").is_ok(), "buckets are per caller");
        assert!(
            l.first_of_episode("a"),
            "the first refusal of a flood is logged"
        );
        assert!(!l.first_of_episode("a"), "the rest of it is not");
        assert!(l.first_of_episode("b"), "episodes are per caller");
        let slow = RateLimiter::new(60_000, 1);
        assert!(slow.check("c").is_ok());
        assert!(slow.first_of_episode("c"));
        // A token comes back within a millisecond (1000 a second): wait for the admission itself.
        while slow.check("c").is_err() {
            std::thread::yield_now();
        }
        assert!(slow.first_of_episode("c"), "an admission ends the episode");
        let off = RateLimiter::new(0, 0);
        for _ in 0..1000 {
            assert!(off.check("a").is_ok());
        }
    }
}
