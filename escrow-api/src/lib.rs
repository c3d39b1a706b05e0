//! The medledger escrow API: ciphertext blobs, tier-2 keys, consent-checked release (an `eth_call`
//! to `canRead` per request), the contract-event follower, the hash-chained access log and the
//! admin console.
//!
//! Not built yet: this crate only holds its place in the workspace. It serves nothing and stores
//! nothing; the escrow issue fills it.
