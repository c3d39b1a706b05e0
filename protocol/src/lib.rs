//! What the medledger browser app and the escrow API agree on. This crate is the one place where a
//! format or a signed message of medledger is defined; it builds for `wasm32-unknown-unknown` (the
//! app) and natively (escrow API, CLI, tests).
//!
//! - [`contract`]: the MedLedger contract's ABI bound with alloy's `sol!`, from the committed
//!   artifact in `protocol/abi/`.
//! - [`deployment`]: the `deployments/<network>.json` file the migration writes and the escrow and
//!   the app read.

pub mod contract;
pub mod deployment;
