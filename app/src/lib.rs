//! The medledger single-page app: Leptos (CSR) compiled to WASM. All client-side cryptography runs
//! in the browser through `medledger-protocol` (envelope v1 through WebCrypto, HPKE wraps, the key
//! derived from the wallet's signature); every transaction and sign-in is signed by the user's
//! injected wallet.
//!
//! Two halves: the modules here (the licence agreement's text and acceptance, structured entries, formatting, error explanations, names and the access log in words, reads held for the patient's approval, who a record is shared with, which records a list shows, the pages and their addresses, how a bulk import is cut into roots, FHIR resources to store and a vital's chart, a key rotation's words, sponsored transactions' gas and words, the pace of requests to the escrow) compile
//! natively too and are unit-tested with `cargo test`; [`web`] (views, wallet bridge, escrow
//! client, record protocols) exists only on wasm32 and is built by `scripts/build-app.sh`.

pub mod agreement;
pub mod claim;
pub mod entry;
pub mod explain;
pub mod fhir;
pub mod filter;
pub mod format;
pub mod holds;
pub mod import;
pub mod labels;
pub mod licence;
pub mod log_ranges;
pub mod pace;
pub mod people;
pub mod rotation;
pub mod route;
pub mod sharing;
pub mod sponsored;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod web;
