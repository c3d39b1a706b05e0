//! What the medledger browser app and the escrow API agree on. This crate is the one place where a
//! format or a signed message of medledger is defined; it builds for `wasm32-unknown-unknown` (the
//! app) and natively (escrow API, CLI, tests).
//!
//! - [`api`]: shapes of the escrow's HTTP API shared by the escrow and its clients.
//! - [`contract`]: the MedLedger contract's ABI bound with alloy's `sol!`, from the committed
//!   artifact in `protocol/abi/`.
//! - [`deployment`]: the `deployments/<network>.json` file the migration writes and the escrow and
//!   the app read.
//! - [`envelope`]: envelope v1, the chunked AES-256-GCM record ciphertext and its hash `h1`
//!   (docs/formats.md section 2).
//! - [`fhir`]: FHIR R4 in and out: reading a Bundle, a resource or NDJSON into records, the
//!   export Bundle, the clinical summary.
//! - [`wrap`]: HPKE wrapping of a record's data key to a reader's X25519 key (section 3).
//! - [`label`]: a record's title and summary, sealed under a key derived from its DEK, for lists.
//! - [`tier2`]: the escrow's per-record key K2, its chunked layer over `C1` with range reads, and
//!   K2 wrapped under a versioned master key (section 4).
//! - [`identity`]: the EIP-712 key-derivation message and the X25519 key it seeds, SIWE sign-in
//!   messages, and EIP-712 escrow requests (section 6).
//! - [`forward`]: sponsored transactions (ERC-2771): the forward request a wallet signs for a
//!   relayer, and which of the core's functions a relayer pays for (section 6.7).
//! - [`merkle`]: the sorted-pair keccak256 trees the contract's proofs use (access-log anchors,
//!   records under a root).
//! - [`record_root`]: records anchored many at a time under one root: a record's leaf, a bulk
//!   import's batch, its proofs.
//! - [`recovery`]: an account's key seed split among guardians (Shamir over GF(256)), each share
//!   sealed to its guardian, and recovered from enough of them (section 9).
//! - [`cipher`] and [`stream`]: the AEAD seam (natively `ring`'s AES-256-GCM, on wasm32 the
//!   portable `aes-gcm`) and the chunk stream that envelope and tier 2 share.
//! - `webcrypto` (wasm32 only): envelope v1 sealed, opened and hashed chunk by chunk through the
//!   browser's WebCrypto, byte for byte the same format as [`envelope`].

pub mod api;
pub mod cipher;
pub mod contract;
pub mod deployment;
pub mod envelope;
pub mod fhir;
pub mod forward;
pub mod identity;
pub mod label;
pub mod merkle;
pub mod record_root;
pub mod recovery;
pub mod stream;
pub mod tier2;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod webcrypto;
pub mod wrap;
