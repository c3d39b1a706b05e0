//! Per-caller rate limits: a token bucket per signed-in address (every authenticated endpoint)
//! and per client IP (the two sign-in steps, and reads without a session). Over the limit the
//! answer is 429 with `Retry-After`. Buckets live in memory (one escrow process); idle buckets are
//! dropped.
//!
//! A flood is logged once, not once per request: the limiter remembers which callers are in a
//! refused episode ([`RateLimiter::first_of_episode`]), and an admitted request ends the episode.
//!
//! Each signed-in address has a bucket of its own, so a client could multiply its allowance with
//! fresh wallets: [`AccountsPerClient`] bounds how many distinct accounts sign in from one client
//! address within an hour (a hospital behind one NAT raises it, or puts its proxy in
//! `trusted_proxies`).

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
    /// The bound on accounts signing in from one client address.
    pub accounts: AccountsPerClient,
}

impl RateLimiter {
    /// `per_minute` sustained requests with bursts of `burst`; 0 disables the limit.
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: std::sync::Mutex::new(HashMap::new()),
            episodes: std::sync::Mutex::new(HashSet::new()),
            accounts: AccountsPerClient::new(0),
        }
    }

    /// With at most `accounts` distinct accounts signing in from one client address an hour.
    pub fn with_accounts_per_client(mut self, accounts: u32) -> RateLimiter {
        self.accounts = AccountsPerClient::new(accounts);
        self
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

/// How many distinct accounts may sign in from one client address within an hour.
#[derive(Debug)]
pub struct AccountsPerClient {
    limit: usize,
    window: std::time::Duration,
    /// Per client: the accounts that signed in from it, with when each last did.
    seen: std::sync::Mutex<HashMap<std::net::IpAddr, Vec<(alloy_primitives::Address, Instant)>>>,
}

impl AccountsPerClient {
    /// At most `limit` accounts per client address an hour; 0 disables the bound.
    pub fn new(limit: u32) -> AccountsPerClient {
        AccountsPerClient {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window: std::time::Duration::from_secs(3600),
            seen: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Admits `account` signing in from `client`: an account seen from it within the hour always
    /// is; a new one only while fewer than the limit were. `Err(seconds)` says when a place frees.
    pub fn admit(
        &self,
        client: std::net::IpAddr,
        account: alloy_primitives::Address,
    ) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return Ok(());
        };
        if seen.len() > 100_000 {
            seen.retain(|_, accounts| {
                accounts
                    .iter()
                    .any(|(_, at)| now.duration_since(*at) < self.window)
            });
        }
        let accounts = seen.entry(client).or_default();
        accounts.retain(|(_, at)| now.duration_since(*at) < self.window);
        if let Some(known) = accounts.iter_mut().find(|(a, _)| *a == account) {
            known.1 = now;
            return Ok(());
        }
        if accounts.len() >= self.limit {
            let oldest = accounts.iter().map(|(_, at)| *at).min().unwrap_or(now);
            let free_in = self.window.saturating_sub(now.duration_since(oldest));
            return Err(free_in.as_secs().max(1));
        }
        accounts.push((account, now));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_address_signs_in_a_bounded_number_of_accounts() {
        use alloy_primitives::Address;
        let bound = AccountsPerClient::new(2);
        let (here, there) = (
            "203.0.113.7".parse().expect("ip"),
            "198.51.100.1".parse().expect("ip"),
        );
        let (a, b, c) = (
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(3),
        );
        assert!(bound.admit(here, a).is_ok());
        assert!(bound.admit(here, b).is_ok());
        let retry = bound
            .admit(here, c)
            .expect_err("a third account from one address");
        assert!((1..=3600).contains(&retry), "{retry}");
        assert!(
            bound.admit(here, a).is_ok(),
            "a known account signs in again"
        );
        assert!(
            bound.admit(there, c).is_ok(),
            "the bound is per client address"
        );
        let off = AccountsPerClient::new(0);
        for n in 0..100u8 {
            assert!(off.admit(here, Address::repeat_byte(n)).is_ok());
        }
    }

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
