//! The medledger escrow API, the only server: ciphertext blobs under a tier-2 layer with per-record
//! keys (K2) wrapped by a master key, consent-checked release (`canRead` at the chain's head on
//! every request, from the consent index or by `eth_call`), the contract-event follower that commits uploads and shreds erased records, and the
//! hash-chained access log whose batches are anchored on chain.
//!
//! - [`config`]: the one typed configuration (defaults, TOML file, environment, flags).
//! - [`keys`]: the master-key file (0600) and the escrow's signing key.
//! - [`console`]: the admin console's data (admins only, role checked on chain).
//! - [`db`]: the index (sqlx; SQLite by default, PostgreSQL by URL) and its migrations.
//! - [`blobs`]: the blob store seam over `object_store`.
//! - [`chain`]: the chain seam (JSON-RPC `eth_call`, logs, the escrow's own transactions).
//! - [`consent`]: the consent index (`canRead` and `canWrite` from memory at the head, the chain
//!   when unsure).
//! - [`auth`]: SIWE sign-in, sessions and the session extractor.
//! - [`access_log`]: the hash-chained access log, its Merkle batches and proofs.
//! - [`records`]: streamed upload and consent-checked, streamed read.
//! - [`risk`]: every read attempt scored by the kNN access-risk model; the flag/hold policy.
//! - [`holds`]: reads held for the patient's approval, and the patient's signed decisions.
//! - [`relay`]: the relayer of sponsored transactions (ERC-2771): it pays the gas of an
//!   account's own transactions to the core, within a quota.
//! - [`indexed`]: what the follower indexed besides records (grants), for the caller.
//! - [`follower`]: the event follower (commit, shred, pending TTL) and the anchoring task.
//! - [`limits`]: per-address and per-IP rate limits.
//! - [`maintenance`]: offline operations (master-key rotation).
//! - [`server`]: the router, `/config.json`, health, metrics and the app's static files.
//! - [`listen`]: the connection loop (idle timeout, bounded read buffer, graceful stop).
//! - [`web`]: the origin rule for state-changing requests, security headers and content-security
//!   policies.
//! - [`error`]: the API's error responses.

pub mod access_log;
pub mod agreement;
pub mod auth;
pub mod blobs;
pub mod chain;
pub mod config;
pub mod consent;
pub mod console;
pub mod db;
pub mod error;
pub mod follower;
pub mod holds;
pub mod indexed;
pub mod keys;
pub mod licensing;
pub mod limits;
pub mod listen;
pub mod maintenance;
pub mod metrics;
pub mod records;
pub mod recovery;
pub mod relay;
pub mod risk;
pub mod server;
pub mod web;

/// Unix time in seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
