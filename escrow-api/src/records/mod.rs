//! Records over HTTP, one module per task: `upload` (the streamed upload: h1 checked while
//! streaming, a fresh K2, tier 2 added on the fly, stored *pending* with its wrapped DEKs), `read`
//! (the consent-checked read: `canRead` asked of the chain on every request, the access appended
//! to the log before a byte leaves, C1 streamed with tier 2 stripped, HTTP Range served from the
//! right tier-2 chunk), `wraps` (wraps added after upload, and the break-glass re-wrap) and
//! `listing` (the record list, shred receipts and a patient's access log with Merkle proofs).
//! A record anchored under a Merkle root (`x-medledger-root` at upload) is decided by
//! `canReadRooted` with its stored place wherever another is decided by `canRead`.
//!
//! This module holds what they share: the headers, id and wrap parsing, and [`Attempt`], which
//! logs every refusal under the attempt's actor, patient, record and action.
//!
//! The request and response headers are documented in docs/api.md.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use alloy_primitives::{hex, Address, B256};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use medledger_protocol::cipher::{fill_random, SecretKey};
use medledger_protocol::envelope::H1Hasher;
use medledger_protocol::label;
use medledger_protocol::tier2::{self, Tier2Decryptor, Tier2Encryptor};
use medledger_protocol::wrap::WRAPPED_LEN;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::access_log::NewEntry;
use crate::auth::Session;
use crate::consent::Basis;
use crate::db::{DekRow, RecordRow};
use crate::error::ApiError;
use crate::now_secs;
use crate::server::AppState;
use medledger_protocol::api::{self, AccessAction, RecordState};

mod listing;
mod read;
mod risk_gate;
mod upload;
mod wraps;

pub use listing::{access_log, list, log_anchor_of, log_entry_of, log_gaps, receipt, ListQuery};
pub use read::read;
pub use upload::{parse_upload_headers, upload, UploadMeta};
pub use wraps::{add_wraps, missing_wraps, move_my_wraps, my_wraps};

/// Header: the record's patient (upload).
pub const H_PATIENT: &str = "x-medledger-patient";

/// Header: the record's category number (upload).
pub const H_CATEGORY: &str = "x-medledger-category";

/// Header: h1 of C1, `0x` hex (upload, and on reads).
pub const H_H1: &str = "x-medledger-h1";

/// Header: a wrapped DEK `<reader address>=<0x hex of 81 bytes>`; repeated per reader on
/// upload, the caller's own on a read.
pub const H_WRAPPED_DEK: &str = "x-medledger-wrapped-dek";

/// Header: the record's sealed label, `0x` hex (upload; optional). See `protocol::label`.
pub const H_LABEL: &str = "x-medledger-label";

/// Header: the record's place under a Merkle root, `0x<root>:<leaf index>:0x<proof hashes>`
/// (upload; optional, for records a bulk import anchors with one `anchorRecordRoot`). See
/// `protocol::record_root::Place`.
pub const H_ROOT: &str = "x-medledger-root";

/// Most wrapped DEKs one upload may carry.
pub const MAX_WRAPS: usize = 256;

fn parse_record_id(s: &str) -> Result<B256, ApiError> {
    let id: B256 = s.parse().map_err(|_| {
        ApiError::bad_request("bad-record-id", "record id must be 0x and 64 hex digits")
    })?;
    if id == B256::ZERO {
        return Err(ApiError::bad_request(
            "bad-record-id",
            "record id must not be zero",
        ));
    }
    Ok(id)
}

fn one_header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, ApiError> {
    let mut values = headers.get_all(name).iter();
    let v = values.next().ok_or_else(|| {
        ApiError::bad_request("missing-header", format!("header {name} is required"))
    })?;
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "duplicate-header",
            format!("header {name} must appear once"),
        ));
    }
    v.to_str()
        .map(str::trim)
        .map_err(|_| ApiError::bad_request("bad-header", format!("header {name} is not ASCII")))
}

/// Parses one `<reader address>=0x<81-byte hex>` item.
pub fn parse_wrap_item(item: &str) -> Result<(Address, [u8; WRAPPED_LEN]), ApiError> {
    let (reader, wrap) = item.split_once('=').ok_or_else(|| {
        ApiError::bad_request("bad-wrapped-dek", "a wrapped DEK must be <address>=<hex>")
    })?;
    let reader: Address = reader.trim().parse().map_err(|_| {
        ApiError::bad_request(
            "bad-wrapped-dek",
            "a wrapped DEK's reader is not an address",
        )
    })?;
    Ok((reader, parse_wrap(wrap)?))
}

/// A wrapped DEK from its hex: [`WRAPPED_LEN`] bytes of a version this escrow knows.
pub fn parse_wrap(wrap: &str) -> Result<[u8; WRAPPED_LEN], ApiError> {
    let bytes = hex::decode(wrap.trim())
        .map_err(|_| ApiError::bad_request("bad-wrapped-dek", "a wrapped DEK is not hex"))?;
    let wrap: [u8; WRAPPED_LEN] = bytes.as_slice().try_into().map_err(|_| {
        ApiError::bad_request(
            "bad-wrapped-dek",
            format!("a wrapped DEK must be {WRAPPED_LEN} bytes"),
        )
    })?;
    if wrap[0] != 1 {
        return Err(ApiError::bad_request(
            "bad-wrapped-dek",
            "unsupported wrapped DEK version",
        ));
    }
    Ok(wrap)
}

async fn log_entry(st: &AppState, e: NewEntry) -> Result<crate::db::LogRow, ApiError> {
    logged(st, st.log.append(e).await)
}

/// [`logged`] for an append of several entries: their rows, or 503 `log-unavailable`.
fn logged_all(
    st: &AppState,
    appended: Result<Vec<crate::db::LogRow>, crate::access_log::AppendError>,
) -> Result<Vec<crate::db::LogRow>, ApiError> {
    match appended {
        Ok(rows) => {
            if let Some(last) = rows.last() {
                logged(st, Ok(last.clone()))?;
            }
            Ok(rows)
        }
        Err(err) => logged(st, Err(err)).map(|_| Vec::new()),
    }
}

/// The answer to an append: its row (counted), or 503 `log-unavailable` when the log could not
/// be written (fail closed: nothing is released or decided).
pub fn logged(
    st: &AppState,
    appended: Result<crate::db::LogRow, crate::access_log::AppendError>,
) -> Result<crate::db::LogRow, ApiError> {
    match appended {
        Ok(row) => {
            st.metrics.log_entries.set(row.seq + 1);
            Ok(row)
        }
        Err(err) => {
            tracing::error!(error = %err, "access log unwritable");
            Err(ApiError::unavailable(
                "log-unavailable",
                "the access log cannot be written; nothing is released",
            ))
        }
    }
}

/// One caller's attempt at one action on one record, as the access log names it. Every refusal
/// of the attempt is logged under the same actor, patient, record and action before it is
/// returned, so the patient sees refused attempts as well as releases.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    st: &'a AppState,
    actor: Address,
    patient: Address,
    record_id: B256,
    action: AccessAction,
    /// The record, once known: a refused read of a known record is scored like a release.
    record: Option<risk_gate::RecordFacts>,
}

impl<'a> Attempt<'a> {
    /// An attempt whose patient is not known yet (logged with the zero address until
    /// [`Attempt::of_patient`] names it).
    fn new(st: &'a AppState, actor: Address, record_id: B256, action: AccessAction) -> Self {
        Attempt {
            st,
            actor,
            patient: Address::ZERO,
            record_id,
            action,
            record: None,
        }
    }

    /// The same attempt, on a record whose patient is now known.
    fn of_patient(self, patient: Address) -> Self {
        Attempt { patient, ..self }
    }

    /// The same attempt, on a record now found in the index.
    fn of_record(self, record: &RecordRow) -> Self {
        Attempt {
            patient: record.patient,
            record: Some(risk_gate::RecordFacts::of(record)),
            ..self
        }
    }

    /// The same attempt, no longer scored on refusal (it was scored once already).
    fn without_record(self) -> Self {
        Attempt {
            record: None,
            ..self
        }
    }

    /// Logs the refusal with `reason` and returns `err` (or a 503 when even the log is
    /// unwritable: then nothing is refused silently either).
    async fn refuse(&self, reason: &str, err: ApiError) -> ApiError {
        let entry = NewEntry {
            actor: self.actor,
            patient: self.patient,
            record_id: self.record_id,
            action: self.action,
            granted: false,
            reason: reason.to_string(),
            risk: risk_gate::refusal_note(self).await,
        };
        match log_entry(self.st, entry).await {
            Ok(_) => err,
            Err(log_err) => log_err,
        }
    }

    /// Logs the refusal under its own error code.
    async fn refuse_coded(&self, err: ApiError) -> ApiError {
        self.refuse(err.code, err).await
    }

    /// A chain error: the attempt fails closed, logged as `chain-unavailable`.
    async fn chain_failed(&self, e: crate::chain::ChainError) -> ApiError {
        self.refuse("chain-unavailable", e.into()).await
    }
}

/// Whether, and on what basis, `reader` may read `record` now, as the chain decides it: `canRead`
/// for a record anchored alone, `canReadRooted` with its stored place for one under a root (from
/// the consent index when it holds the head, else by `eth_call`).
async fn read_basis_of(
    st: &AppState,
    record: &RecordRow,
    reader: Address,
) -> Result<Option<Basis>, crate::chain::ChainError> {
    let (patient, record_id) = (record.patient, record.record_id);
    match &record.rooted {
        None => {
            let category = record.category;
            st.consent
                .read_basis_now(patient, reader, record_id, category)
                .await
        }
        Some(place) => {
            let leaf = place.leaf(record_id, record.h1, record.category);
            let (root, proof) = (place.root, &place.proof);
            st.consent
                .rooted_read_basis_now(patient, reader, root, &leaf, proof)
                .await
        }
    }
}

fn hv(s: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(s).map_err(|e| ApiError::internal("header", &e))
}

/// The refusal of a read or write the chain's consent does not allow: `licence-inactive` when
/// the patient granted the actor the category and the actor is a practitioner of an organisation
/// whose licence has lapsed or was terminated (the contract refuses every such practitioner,
/// whatever the patient granted), so that they are told the reason that stands in their way;
/// `otherwise` when not (without a grant, renewing the licence would not help), or when the chain
/// cannot say.
pub(crate) async fn consent_refusal(
    st: &AppState,
    (patient, actor, category): (Address, Address, u8),
    otherwise: ApiError,
) -> ApiError {
    use medledger_protocol::api::licensing::LicenceStatus;
    let granted = match st.ledger.grant_of(patient, actor).await {
        Ok((categories, _)) => categories.bit(usize::from(category)),
        Err(_) => false,
    };
    if !granted {
        return otherwise;
    }
    match st.ledger.inactive_licence_of(actor).await {
        Ok(Some(status)) => ApiError::forbidden(
            "licence-inactive",
            format!(
                "your organisation's licence to use medledger {}: its practitioners read and write nothing until it is {}",
                if status == LicenceStatus::Terminated { "was terminated" } else { "has lapsed" },
                if status == LicenceStatus::Terminated { "reinstated" } else { "renewed" },
            ),
        ),
        Ok(None) | Err(_) => otherwise,
    }
}
