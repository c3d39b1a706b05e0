//! Per-caller rate limits: a token bucket per signed-in address (every authenticated endpoint)
//! and per client IP (the two sign-in steps, and reads without a session). Over the limit the
//! answer is 429 with `Retry-After`. Buckets live in memory (one escrow process); idle buckets are
//! dropped.
//!
//! A flood is logged once, not once per request: the limiter remembers which callers are in a
//! refused episode ([`RateLimiter::first_of_episode`]), and an admitted request ends the episode.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// The client's address for the per-address limits: the connection's, or, when the connection
/// comes from a trusted proxy, the right-most address in `header` that is not itself a trusted
/// proxy (a client can put anything at the left of `X-Forwarded-For`; only what the proxies
/// appended is believed).
pub fn client_ip(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    header: &str,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get_all(header)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .filter_map(|hop| hop.parse::<std::net::IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

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
    fn the_client_address_is_believed_only_from_a_trusted_proxy() {
        use axum::http::HeaderMap;
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let proxy = ip("10.0.0.2");
        let inner_proxy = ip("10.0.0.3");
        let trusted = [proxy, inner_proxy];
        let mut headers = HeaderMap::new();
        // The client forged the left-most entry; the proxies appended the real one, then theirs.
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.7, 10.0.0.3".parse().expect("header"),
        );
        let client = |peer| client_ip(peer, &headers, "x-forwarded-for", &trusted);
        assert_eq!(client(proxy), ip("203.0.113.7"));
        assert_eq!(
            client(ip("198.51.100.1")),
            ip("198.51.100.1"),
            "an untrusted peer is itself"
        );
        assert_eq!(
            client_ip(proxy, &HeaderMap::new(), "x-forwarded-for", &trusted),
            proxy,
            "no header: the proxy's own address"
        );
    }

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
