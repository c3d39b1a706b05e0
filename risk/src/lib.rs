//! Access risk (docs/risk.md): how unusual an access to a patient's records is.
//!
//! - [`access`]: an access attempt's raw fields, and the JSON Lines log format.
//! - [`features`]: its features, computed in time order from the reader's history.
//! - [`model`]: the k-nearest-neighbours anomaly score, calibrated to 0–1.
//! - [`synth`]: a seeded synthetic hospital log with labelled anomalies.
//! - [`explain`]: the score's main reasons, in words.
//! - [`eval`]: the score and two baselines measured against labels.
//! - [`plot`]: the ROC and precision–recall curves as SVG.
//!
//! The escrow scores every read attempt with this crate (escrow-api `risk`); `medledger-risk`
//! (this crate's binary) generates logs and evaluates the model.

pub mod access;
pub mod eval;
pub mod explain;
pub mod features;
pub mod model;
pub mod plot;
pub mod synth;
