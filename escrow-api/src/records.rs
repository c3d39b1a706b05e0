//! Records: the streamed upload (h1 checked while streaming with `H1Hasher`, a fresh K2, tier 2
//! added on the fly, stored *pending* with the wrapped DEKs) and the consent-checked read (an
//! `eth_call` to `canRead` on every request, the access appended to the log before a byte leaves,
//! C1 streamed with tier 2 stripped on the fly, HTTP Range served from the right tier-2 chunk).
//! Also the record list, shred receipts and a patient's access log with Merkle proofs.
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
use crate::db::{state, DekRow, RecordRow};
use crate::error::ApiError;
use crate::now_secs;
use crate::server::AppState;

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

/// What an upload declares besides its body.
#[derive(Debug, Clone)]
pub struct UploadMeta {
    /// The record.
    pub record_id: B256,
    /// Whose.
    pub patient: Address,
    /// Category number.
    pub category: u8,
    /// Declared h1.
    pub h1: B256,
    /// Wrapped DEKs by reader.
    pub wraps: Vec<(Address, [u8; WRAPPED_LEN])>,
    /// The sealed label, when sent.
    pub label: Option<Vec<u8>>,
}

/// Parses the optional sealed label: hex, versioned, no longer than a label can be.
fn parse_label(headers: &HeaderMap) -> Result<Option<Vec<u8>>, ApiError> {
    if headers.get(H_LABEL).is_none() {
        return Ok(None);
    }
    let bad = |why: &str| ApiError::bad_request("bad-label", format!("{H_LABEL}: {why}"));
    let bytes = hex::decode(one_header(headers, H_LABEL)?).map_err(|_| bad("not hex"))?;
    if bytes.len() > label::MAX_SEALED_LABEL || bytes.len() < 1 + 12 + 16 {
        return Err(bad(&format!(
            "a sealed label is 29 to {} bytes",
            label::MAX_SEALED_LABEL
        )));
    }
    if bytes[0] != label::LABEL_VERSION {
        return Err(bad("unsupported label version"));
    }
    Ok(Some(bytes))
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
    Ok((reader, wrap))
}

/// Parses and checks the upload headers.
pub fn parse_upload_headers(record_id: B256, headers: &HeaderMap) -> Result<UploadMeta, ApiError> {
    let patient: Address = one_header(headers, H_PATIENT)?
        .parse()
        .map_err(|_| ApiError::bad_request("bad-patient", "patient is not an address"))?;
    if patient == Address::ZERO {
        return Err(ApiError::bad_request(
            "bad-patient",
            "patient must not be zero",
        ));
    }
    let category: u8 = one_header(headers, H_CATEGORY)?
        .parse()
        .map_err(|_| ApiError::bad_request("bad-category", "category must be a number 0..=255"))?;
    let h1: B256 = one_header(headers, H_H1)?
        .parse()
        .map_err(|_| ApiError::bad_request("bad-h1", "h1 must be 0x and 64 hex digits"))?;
    let mut wraps = Vec::new();
    let mut seen = HashSet::new();
    for v in headers.get_all(H_WRAPPED_DEK) {
        let v = v.to_str().map_err(|_| {
            ApiError::bad_request("bad-wrapped-dek", "wrapped DEK header is not ASCII")
        })?;
        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (reader, wrap) = parse_wrap_item(item)?;
            if !seen.insert(reader) {
                return Err(ApiError::bad_request(
                    "bad-wrapped-dek",
                    "one wrapped DEK per reader",
                ));
            }
            wraps.push((reader, wrap));
        }
    }
    if wraps.len() > MAX_WRAPS {
        return Err(ApiError::bad_request(
            "too-many-wraps",
            format!("at most {MAX_WRAPS} wrapped DEKs"),
        ));
    }
    if !seen.contains(&patient) {
        return Err(ApiError::bad_request(
            "missing-patient-wrap",
            "the DEK must be wrapped to the patient",
        ));
    }
    Ok(UploadMeta {
        record_id,
        patient,
        category,
        h1,
        wraps,
        label: parse_label(headers)?,
    })
}

async fn log_entry(st: &AppState, e: NewEntry) -> Result<crate::db::LogRow, ApiError> {
    match st.log.append(e).await {
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

/// Logs a refusal and returns the refusal (or a 503 when even the log is unwritable).
async fn refuse(
    st: &AppState,
    actor: Address,
    patient: Address,
    record_id: B256,
    action: &'static str,
    reason: &str,
    err: ApiError,
) -> ApiError {
    let entry = NewEntry {
        actor,
        patient,
        record_id,
        action,
        granted: false,
        reason: reason.to_string(),
        score_milli: 0,
    };
    match log_entry(st, entry).await {
        Ok(_) => err,
        Err(log_err) => log_err,
    }
}

fn upload_nonce() -> Result<String, ApiError> {
    let mut b = [0u8; 8];
    fill_random(&mut b).map_err(|_| ApiError::internal("randomness", &"no system randomness"))?;
    Ok(hex::encode(b))
}

/// `PUT /api/records/{id}`: streamed upload of C1.
pub async fn upload(
    State(st): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let result = upload_inner(&st, &session, &id, &headers, body).await;
    let label = match &result {
        Ok((StatusCode::CREATED, _)) => "stored",
        Ok(_) => "duplicate",
        Err(e) if e.status == StatusCode::FORBIDDEN => "refused",
        Err(e) if e.status.is_client_error() => "invalid",
        Err(_) => "error",
    };
    st.metrics.uploads.with_label_values(&[label]).inc();
    match result {
        Ok((StatusCode::CREATED, body)) => Ok((StatusCode::CREATED, Json(body)).into_response()),
        // A duplicate is answered without reading the body: the connection cannot be reused.
        Ok((status, body)) => {
            let mut response = (status, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(response)
        }
        // The body may be unread: the connection cannot be reused.
        Err(e) => {
            let mut response = e.into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(response)
        }
    }
}

async fn upload_inner(
    st: &AppState,
    session: &Session,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, Value), ApiError> {
    let record_id = parse_record_id(id)?;
    let meta = parse_upload_headers(record_id, headers)?;
    let max = st.config.max_upload_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("uploads are limited to {max} bytes"),
            ));
        }
    }
    let uploader = session.address;
    if meta.wraps.iter().all(|(r, _)| *r != uploader) {
        return Err(ApiError::bad_request(
            "missing-author-wrap",
            "the DEK must also be wrapped to the uploader",
        ));
    }
    // Authorisation: the chain decides (the patient, or a writer the patient granted).
    let allowed = match st
        .ledger
        .can_write(meta.patient, uploader, meta.category)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            let api: ApiError = e.into();
            return Err(refuse(
                st,
                uploader,
                meta.patient,
                record_id,
                "upload",
                "chain-unavailable",
                api,
            )
            .await);
        }
    };
    if !allowed {
        return Err(refuse(
            st,
            uploader,
            meta.patient,
            record_id,
            "upload",
            "no-write-consent",
            ApiError::forbidden(
                "no-write-consent",
                "canWrite(patient, you, category) is false on chain",
            ),
        )
        .await);
    }
    let rid_hex = record_id.to_string();
    if let Some(existing) = st.index.record(&rid_hex).await? {
        return duplicate(&existing, &meta);
    }
    let limit = match upload_allowance(st, uploader, headers).await? {
        Ok(limit) => limit,
        Err(refusal) => {
            let (patient, reason) = (meta.patient, "pending-quota");
            return Err(refuse(st, uploader, patient, record_id, "upload", reason, refusal).await);
        }
    };

    // Stream: h1 over C1, tier 2 on the fly into the blob store.
    let blob_key = format!("c2/{rid_hex}/{}", upload_nonce()?);
    let k2 = SecretKey::generate()
        .map_err(|_| ApiError::internal("randomness", &"no system randomness"))?;
    let wrapped_k2 = tier2::wrap_k2(&st.master, &record_id, &k2)
        .map_err(|e| ApiError::internal("k2 wrap", &e))?;
    let (mut enc, header2) = Tier2Encryptor::new(&k2, record_id, st.config.tier2_chunk_size)
        .map_err(|e| ApiError::internal("tier 2", &e))?;
    drop(k2);
    let mut writer = st.blobs.writer(&blob_key).await?;
    let streamed = stream_in(&meta, body, limit, &mut enc, &mut writer, &header2).await;
    let (size, c2_size) = match streamed {
        Ok(v) => v,
        Err(e) => {
            let _ = writer.abort().await;
            return Err(e);
        }
    };
    let mut out = Vec::new();
    if let Err(e) = enc.finish(&mut out) {
        let _ = writer.abort().await;
        return Err(ApiError::internal("tier 2", &e));
    }
    let c2_size = c2_size + out.len() as u64;
    if let Err(e) = writer.write(&out).await {
        let _ = writer.abort().await;
        return Err(e.into());
    }
    writer.finish().await?;

    let row = RecordRow {
        record_id: rid_hex.clone(),
        patient: meta.patient.to_checksum(None),
        author: uploader.to_checksum(None),
        category: i64::from(meta.category),
        h1: meta.h1.to_string(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        blob_key: Some(blob_key.clone()),
        c2_size: i64::try_from(c2_size).unwrap_or(i64::MAX),
        wrapped_k2: Some(hex::encode_prefixed(wrapped_k2)),
        state: state::PENDING.into(),
        created: now_secs(),
        committed_block: None,
        label: meta.label.as_deref().map(hex::encode_prefixed),
    };
    let deks: Vec<DekRow> = meta
        .wraps
        .iter()
        .map(|(reader, wrap)| DekRow {
            reader: reader.to_checksum(None),
            wrap: hex::encode_prefixed(wrap),
        })
        .collect();
    let entry = NewEntry {
        actor: uploader,
        patient: meta.patient,
        record_id,
        action: "upload",
        granted: true,
        reason: "stored-pending".into(),
        score_milli: 0,
    };
    // The record, its wraps and its access-log entry are one transaction: an upload is never
    // acknowledged, nor stored, without its entry.
    match st.log.append_upload(entry, &row, &deks).await {
        Ok(logged) => st.metrics.log_entries.set(logged.seq + 1),
        Err(err) => {
            // Nothing was written. A concurrent upload of the same id may have won the race:
            // keep its blob, drop ours.
            st.blobs.delete(&blob_key).await?;
            return match st.index.record(&rid_hex).await? {
                Some(existing) => duplicate(&existing, &meta),
                None => {
                    tracing::error!(error = %err, "upload not stored: index or access log unwritable");
                    Err(ApiError::unavailable(
                        "log-unavailable",
                        "the upload and its access-log entry cannot be written; nothing was stored",
                    ))
                }
            };
        }
    }
    tracing::info!(size, "record stored pending");
    Ok((
        StatusCode::CREATED,
        json!({"recordId": record_id, "h1": meta.h1, "size": size, "state": state::PENDING}),
    ))
}

fn duplicate(existing: &RecordRow, meta: &UploadMeta) -> Result<(StatusCode, Value), ApiError> {
    let same = existing.h1 == meta.h1.to_string()
        && existing.patient == meta.patient.to_checksum(None)
        && existing.state != state::SHREDDED;
    if same {
        Ok((
            StatusCode::OK,
            json!({"recordId": meta.record_id, "h1": meta.h1, "size": existing.size, "state": existing.state}),
        ))
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "record-exists",
            "a different record with this id is already stored",
        ))
    }
}

/// How many bytes this upload may have: the upload limit, or less when the uploader's unanchored
/// uploads already hold most of their pending quota. `Ok(Err(refusal))` when the quota is used up
/// or the declared length does not fit (nothing has been read or stored).
async fn upload_allowance(
    st: &AppState,
    uploader: Address,
    headers: &HeaderMap,
) -> Result<Result<UploadLimit, ApiError>, ApiError> {
    let pending = st
        .index
        .pending_bytes_of(&uploader.to_checksum(None))
        .await?;
    let quota = st.config.pending_quota_bytes;
    let left = quota.saturating_sub(pending);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if left == 0 || declared.is_some_and(|len| len > left) {
        return Ok(Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "pending-quota",
            format!(
                "{pending} bytes of your uploads await anchoring on chain, of {quota} allowed: anchor them (or let them expire) first"
            ),
        )));
    }
    let max = st.config.max_upload_bytes;
    Ok(Ok(if left < max {
        UploadLimit {
            bytes: left,
            code: "pending-quota",
        }
    } else {
        UploadLimit {
            bytes: max,
            code: "too-large",
        }
    }))
}

/// The most bytes a body may have, and the error code when it has more.
struct UploadLimit {
    bytes: u64,
    code: &'static str,
}

async fn stream_in(
    meta: &UploadMeta,
    body: Body,
    limit: UploadLimit,
    enc: &mut Tier2Encryptor,
    writer: &mut crate::blobs::BlobWriter,
    header2: &[u8],
) -> Result<(u64, u64), ApiError> {
    let max = limit.bytes;
    writer.write(header2).await?;
    let mut c2_size = header2.len() as u64;
    let mut hasher = H1Hasher::new();
    let mut header_checked = false;
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|_| {
            ApiError::bad_request("body-interrupted", "the upload body ended with an error")
        })?;
        if hasher.total_len() + frame.len() as u64 > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                limit.code,
                format!("this upload is limited to {max} bytes ({})", limit.code),
            ));
        }
        hasher.push(&frame).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not-an-envelope",
                format!("the body is not an envelope v1: {e}"),
            )
        })?;
        if !header_checked {
            if let Some(h) = hasher.header() {
                if h.record_id != meta.record_id {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "wrong-record",
                        "the envelope header names another record id",
                    ));
                }
                header_checked = true;
            }
        }
        enc.push(&frame, &mut out)
            .map_err(|e| ApiError::internal("tier 2", &e))?;
        if !out.is_empty() {
            c2_size += out.len() as u64;
            writer.write(&out).await?;
            out.clear();
        }
    }
    let size = hasher.total_len();
    let h1 = hasher.finish().map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-an-envelope",
            format!("the body is not a complete envelope v1: {e}"),
        )
    })?;
    if h1 != meta.h1 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "h1-mismatch",
            "h1 of the body is not the declared h1",
        ));
    }
    Ok((size, c2_size))
}

/// A byte position or suffix length of a `Range` header: ASCII digits only (`u64::from_str` would
/// also take a `+`). A number too large for `u64` means "beyond any record", which `u64::MAX`
/// says as well, since no record is that long.
fn range_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// A parsed `Range: bytes=…` request on C1 of `size` bytes: `None` without a `Range` header, the
/// half-open byte range otherwise, 416 for anything but one satisfiable range. Every bound is
/// computed with checked or saturating arithmetic: the numbers are the client's.
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<Range<u64>>, ApiError> {
    let Some(v) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let unsatisfiable = || {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "bad-range",
            "only one range `bytes=a-b`, `bytes=a-` or `bytes=-n` inside the record is served",
        )
    };
    let spec = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().strip_prefix("bytes="))
        .filter(|s| !s.contains(','))
        .ok_or_else(unsatisfiable)?;
    let (a, b) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let range = match (a.trim(), b.trim()) {
        ("", n) => {
            // A suffix longer than the record is the whole record (RFC 9110 14.1.2).
            let n = range_number(n).ok_or_else(unsatisfiable)?;
            if n == 0 {
                return Err(unsatisfiable());
            }
            size.saturating_sub(n)..size
        }
        (a, "") => range_number(a).ok_or_else(unsatisfiable)?..size,
        (a, b) => {
            let a = range_number(a).ok_or_else(unsatisfiable)?;
            let b = range_number(b).ok_or_else(unsatisfiable)?;
            if b < a {
                return Err(unsatisfiable());
            }
            // A last position at or past the end means "to the end"; `b + 1` overflows at u64::MAX.
            let end = b.checked_add(1).map_or(size, |end| end.min(size));
            a..end
        }
    };
    if range.start >= size || range.is_empty() {
        return Err(unsatisfiable());
    }
    Ok(Some(range))
}

/// `GET /api/records/{id}`: consent-checked, logged, streamed release of C1.
pub async fn read(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    session: Result<Session, ApiError>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let result = match session {
        Ok(session) => read_inner(&st, &session, &id, &headers).await,
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
            Err(refuse_over_limit(&st, &id, &headers, e).await)
        }
        Err(e) => Err(refuse_unauthenticated(&st, &id, st.client_ip(peer, &headers), e).await),
    };
    let label = match &result {
        Ok(_) => "released",
        Err(e) if e.status.is_client_error() => "refused",
        Err(_) => "error",
    };
    st.metrics.reads.with_label_values(&[label]).inc();
    result
}

/// The patient of a record id, as far as the index knows (zero for an unknown record).
async fn patient_of(st: &AppState, record_id: B256) -> Address {
    match st.index.record(&record_id.to_string()).await {
        Ok(Some(r)) => r.patient.parse().unwrap_or(Address::ZERO),
        _ => Address::ZERO,
    }
}

/// A read without a valid session is refused and logged with a zero actor, so the patient sees
/// the attempt. Reads without a session are rate-limited per client address before anything is
/// written: a flood gets 429s and one `no-session-flood` entry, not a row per request (which
/// filled the patient's log and starved every other read behind the log's lock).
async fn refuse_unauthenticated(
    st: &AppState,
    id: &str,
    ip: std::net::IpAddr,
    err: ApiError,
) -> ApiError {
    let Ok(record_id) = parse_record_id(id) else {
        return err;
    };
    let key = format!("anon-read:{ip}");
    let (err, reason) = match st.limits.check(&key) {
        Ok(()) => (err, "no-session"),
        Err(retry) if st.limits.first_of_episode(&key) => {
            (ApiError::too_many(retry), "no-session-flood")
        }
        Err(retry) => return ApiError::too_many(retry),
    };
    let patient = patient_of(st, record_id).await;
    refuse(st, Address::ZERO, patient, record_id, "read", reason, err).await
}

/// A signed-in reader over their rate limit: refused, and logged under their own address once
/// per flood (the first refusal after an admitted request).
async fn refuse_over_limit(
    st: &AppState,
    id: &str,
    headers: &HeaderMap,
    err: ApiError,
) -> ApiError {
    let (Ok(record_id), Some(reader)) = (
        parse_record_id(id),
        crate::auth::caller_of(st, headers).await,
    ) else {
        return err;
    };
    if !st.limits.first_of_episode(&reader.to_string()) {
        return err;
    }
    let patient = patient_of(st, record_id).await;
    refuse(st, reader, patient, record_id, "read", "rate-limited", err).await
}

/// On what the chain released a read to its reader, decided before a wrapped DEK is chosen: a
/// stored wrap says nothing about why the reader may read now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    /// The reader is the patient, or holds an unexpired grant covering the record's category.
    Consent,
    /// Only an emergency window the reader opened on the patient lets them read: flagged.
    Emergency,
}

/// Logs a refused read and returns the refusal.
async fn refuse_read(
    st: &AppState,
    reader: Address,
    patient: Address,
    record_id: B256,
    reason: &str,
    err: ApiError,
) -> ApiError {
    refuse(st, reader, patient, record_id, "read", reason, err).await
}

/// A chain error during a read, logged as `chain-unavailable` (fail closed).
async fn chain_refusal(
    st: &AppState,
    reader: Address,
    patient: Address,
    record_id: B256,
    e: crate::chain::ChainError,
) -> ApiError {
    refuse_read(
        st,
        reader,
        patient,
        record_id,
        "chain-unavailable",
        e.into(),
    )
    .await
}

fn no_read_consent() -> ApiError {
    ApiError::forbidden(
        "no-read-consent",
        "canRead(patient, you, record) is false on chain",
    )
}

/// Why `canRead` holds: the patient or a covering unexpired grant is consent; otherwise it must be
/// an open emergency window. When neither holds any more (the chain moved on between the calls),
/// the read is refused: the escrow never releases on a basis it cannot name.
async fn release_basis(
    st: &AppState,
    patient: Address,
    reader: Address,
    category: i64,
) -> Result<Option<Basis>, crate::chain::ChainError> {
    if reader == patient {
        return Ok(Some(Basis::Consent));
    }
    let now = st.ledger.head_timestamp().await?;
    let (categories, expiry) = st.ledger.grant_of(patient, reader).await?;
    let covered = usize::try_from(category).is_ok_and(|bit| bit < 256 && categories.bit(bit));
    if covered && expiry > now {
        return Ok(Some(Basis::Consent));
    }
    let until = st.ledger.emergency_until(patient, reader).await?;
    Ok((until > now).then_some(Basis::Emergency))
}

/// The record, its patient and the basis of a read by `reader`, or the logged refusal: in the
/// index, not erased, `canRead` on chain (asked on every request), a pending record's anchored h1
/// the stored one.
async fn authorise_read(
    st: &AppState,
    reader: Address,
    record_id: B256,
) -> Result<(RecordRow, Address, Basis), ApiError> {
    let Some(record) = st.index.record(&record_id.to_string()).await? else {
        let err = ApiError::not_found("unknown-record", "no such record");
        return Err(refuse_read(st, reader, Address::ZERO, record_id, "unknown-record", err).await);
    };
    let patient: Address = record
        .patient
        .parse()
        .map_err(|_| ApiError::internal("index", &"stored patient is malformed"))?;
    if record.state == state::SHREDDED {
        let err = ApiError::new(
            StatusCode::GONE,
            "erased",
            "the record was erased and its keys destroyed",
        );
        return Err(refuse_read(st, reader, patient, record_id, "erased", err).await);
    }
    // The chain decides, on every request.
    match st.ledger.can_read(patient, reader, record_id).await {
        Ok(true) => {}
        Ok(false) => {
            let err = no_read_consent();
            return Err(refuse_read(st, reader, patient, record_id, "no-read-consent", err).await);
        }
        Err(e) => return Err(chain_refusal(st, reader, patient, record_id, e).await),
    }
    if record.state != state::COMMITTED {
        // Anchored on chain but not yet seen by the follower: release only the anchored h1.
        let anchor = match st.ledger.record_of(record_id).await {
            Ok(a) => a,
            Err(e) => return Err(chain_refusal(st, reader, patient, record_id, e).await),
        };
        if anchor.h1.to_string() != record.h1 || anchor.patient != patient {
            let err = ApiError::new(
                StatusCode::CONFLICT,
                "h1-mismatch",
                "the stored ciphertext is not the one anchored on chain",
            );
            return Err(refuse_read(st, reader, patient, record_id, "h1-mismatch", err).await);
        }
    }
    match release_basis(st, patient, reader, record.category).await {
        Ok(Some(basis)) => Ok((record, patient, basis)),
        Ok(None) => {
            let err = no_read_consent();
            Err(refuse_read(st, reader, patient, record_id, "no-read-consent", err).await)
        }
        Err(e) => Err(chain_refusal(st, reader, patient, record_id, e).await),
    }
}

/// The DEK wrapped to `reader`, and whether the release is an emergency one: the reader's stored
/// wrap when there is one, else the break-glass re-wrap (only inside an open window). A release on
/// an emergency basis is one whichever wrap it uses, and so is any use of the break-glass key.
async fn choose_wrap(
    st: &AppState,
    record: &RecordRow,
    patient: Address,
    reader: Address,
    basis: Basis,
) -> Result<(String, bool), ApiError> {
    let record_id: B256 = record
        .record_id
        .parse()
        .map_err(|_| ApiError::internal("index", &"stored record id is malformed"))?;
    let stored = st
        .index
        .wrapped_dek(&record.record_id, &reader.to_checksum(None))
        .await?;
    if let Some(wrap) = stored {
        return Ok((wrap, basis == Basis::Emergency));
    }
    match break_glass_wrap(st, record, patient, reader, record_id).await {
        Ok(Some(wrap)) => Ok((wrap, true)),
        Ok(None) => {
            let err = ApiError::not_found(
                "no-wrapped-key",
                "no data key is wrapped to you for this record yet",
            );
            Err(refuse_read(st, reader, patient, record_id, "no-wrapped-key", err).await)
        }
        Err(e) => {
            let reason = if e.status == StatusCode::SERVICE_UNAVAILABLE {
                "chain-unavailable"
            } else {
                "break-glass-failed"
            };
            Err(refuse_read(st, reader, patient, record_id, reason, e).await)
        }
    }
}

/// C1 of `record` (all of it, or `range`) with tier 2 stripped on the fly: the body, its status,
/// `Content-Range` and length. Prepared before the release is logged, so that a missing blob is
/// not logged as a release.
async fn release_body(
    st: &AppState,
    record: &RecordRow,
    record_id: B256,
    range: Option<Range<u64>>,
) -> Result<(Body, StatusCode, Option<String>, u64), ApiError> {
    let (Some(blob_key), Some(wrapped_k2)) =
        (record.blob_key.as_deref(), record.wrapped_k2.as_deref())
    else {
        return Err(ApiError::internal(
            "index",
            &"committed record without blob or K2",
        ));
    };
    let size = u64::try_from(record.size).unwrap_or(0);
    let wrapped_k2 = hex::decode(wrapped_k2).map_err(|e| ApiError::internal("index", &e))?;
    let k2 = tier2::unwrap_k2(&st.master, &record_id, &wrapped_k2)
        .map_err(|e| ApiError::internal("k2 unwrap", &e))?;
    let c2_size = u64::try_from(record.c2_size).unwrap_or(0);
    let Some(r) = range else {
        let dec = Tier2Decryptor::new(&k2, record_id);
        let stream = st.blobs.read(blob_key, None).await?;
        return Ok((strip(stream, dec, size), StatusCode::OK, None, size));
    };
    let head = st
        .blobs
        .read_range(blob_key, 0..tier2::HEADER_LEN as u64)
        .await?;
    let (dec, start) = Tier2Decryptor::for_range(&k2, record_id, &head, c2_size, r.start)
        .map_err(|e| ApiError::internal("tier 2", &e))?;
    drop(k2);
    let chunk = u64::from(st_chunk_size(&head)?);
    // `r` is not empty (parse_range), and the product is bounded by the stored C2 size.
    let last_chunk = r.end.saturating_sub(1) / chunk;
    let c2_end = (last_chunk.saturating_add(1))
        .saturating_mul(chunk + 16)
        .saturating_add(tier2::HEADER_LEN as u64)
        .min(c2_size);
    let stream = st
        .blobs
        .read(blob_key, Some(start.c2_offset..c2_end))
        .await?;
    let len = r.end - r.start;
    let content_range = format!("bytes {}-{}/{}", r.start, r.end - 1, size);
    Ok((
        strip(stream, dec, len),
        StatusCode::PARTIAL_CONTENT,
        Some(content_range),
        len,
    ))
}

async fn read_inner(
    st: &AppState,
    session: &Session,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let reader = session.address;
    let record_id = parse_record_id(id)?;
    let (record, patient, basis) = authorise_read(st, reader, record_id).await?;
    let (wrap, emergency) = choose_wrap(st, &record, patient, reader, basis).await?;
    let size = u64::try_from(record.size).unwrap_or(0);
    // Refusals after consent was established are the patient's to see too: a range the record
    // cannot satisfy, a blob store that fails.
    let range = match parse_range(headers, size) {
        Ok(range) => range,
        Err(e) => return Err(refuse_read(st, reader, patient, record_id, e.code, e).await),
    };
    let ranged = range.is_some();
    let (body, status, content_range, len) = match release_body(st, &record, record_id, range).await
    {
        Ok(released) => released,
        Err(e) => return Err(refuse_read(st, reader, patient, record_id, e.code, e).await),
    };
    // Fail closed: no log entry, no release.
    log_entry(
        st,
        NewEntry {
            actor: reader,
            patient,
            record_id,
            action: "read",
            granted: true,
            reason: match (emergency, ranged) {
                (true, _) => "emergency",
                (false, true) => "consent-range",
                (false, false) => "consent",
            }
            .into(),
            // Emergency releases are flagged for the patient's review.
            score_milli: if emergency { 1000 } else { 0 },
        },
    )
    .await?;
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cr) = content_range {
        h.insert(header::CONTENT_RANGE, hv(&cr)?);
    }
    h.insert(
        H_WRAPPED_DEK,
        hv(&format!("{}={}", reader.to_checksum(None), wrap))?,
    );
    h.insert(H_H1, hv(&record.h1)?);
    h.insert(H_PATIENT, hv(&record.patient)?);
    h.insert(H_CATEGORY, HeaderValue::from(record.category));
    if emergency {
        h.insert("x-medledger-emergency", HeaderValue::from_static("1"));
    }
    Ok(response)
}

fn hv(s: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(s).map_err(|e| ApiError::internal("header", &e))
}

fn st_chunk_size(head: &[u8]) -> Result<u32, ApiError> {
    tier2::Header::parse(head)
        .map(|h| h.chunk_size)
        .map_err(|e| ApiError::internal("tier 2", &e))
}

/// Strips tier 2 from a C2 stream, yielding at most `limit` C1 bytes.
fn strip(
    c2: futures_util::stream::BoxStream<'static, Result<Bytes, crate::blobs::BlobError>>,
    dec: Tier2Decryptor,
    limit: u64,
) -> Body {
    struct S {
        c2: futures_util::stream::BoxStream<'static, Result<Bytes, crate::blobs::BlobError>>,
        dec: Option<Tier2Decryptor>,
        left: u64,
    }
    fn cut(out: Vec<u8>, left: &mut u64) -> Bytes {
        let take = (out.len() as u64).min(*left) as usize;
        *left -= take as u64;
        let mut out = out;
        out.truncate(take);
        Bytes::from(out)
    }
    let init = S {
        c2,
        dec: Some(dec),
        left: limit,
    };
    let stream = futures_util::stream::unfold(init, |mut s| async move {
        loop {
            let dec = s.dec.as_mut()?;
            if s.left == 0 {
                return None;
            }
            match s.c2.next().await {
                Some(Ok(piece)) => {
                    let mut out = Vec::new();
                    if let Err(e) = dec.push(&piece, &mut out) {
                        tracing::error!(error = %e, "stored blob failed tier-2 authentication");
                        s.dec = None;
                        return Some((Err(std::io::Error::other("blob integrity")), s));
                    }
                    if !out.is_empty() {
                        let b = cut(out, &mut s.left);
                        return Some((Ok(b), s));
                    }
                }
                Some(Err(e)) => {
                    tracing::error!(error = %e, "blob read failed mid-stream");
                    s.dec = None;
                    return Some((Err(std::io::Error::other("blob read")), s));
                }
                None => {
                    let dec = s.dec.take()?;
                    let mut out = Vec::new();
                    if let Err(e) = dec.finish(&mut out) {
                        tracing::error!(error = %e, "stored blob failed tier-2 authentication");
                        return Some((Err(std::io::Error::other("blob integrity")), s));
                    }
                    let b = cut(out, &mut s.left);
                    return Some((Ok(b), s));
                }
            }
        }
    });
    Body::from_stream(stream_boxed(stream))
}

fn stream_boxed(
    s: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) -> futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>> {
    s.boxed()
}

/// Query of `GET /api/records`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Whose records (default: the caller's own).
    pub patient: Option<String>,
}

/// `GET /api/records?patient=…`: a patient's records the caller may read (the patient sees all
/// of theirs, pending included; anyone else only those `canRead` allows now).
pub async fn list(
    State(st): State<AppState>,
    session: Session,
    crate::error::QueryParams(q): crate::error::QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let patient: Address = match q.patient {
        Some(p) => p
            .parse()
            .map_err(|_| ApiError::bad_request("bad-patient", "patient is not an address"))?,
        None => session.address,
    };
    let rows = st.index.records_of(&patient.to_checksum(None)).await?;
    let me = session.address.to_checksum(None);
    let mut out = Vec::new();
    for r in rows {
        let rid: B256 = r
            .record_id
            .parse()
            .map_err(|_| ApiError::internal("index", &"stored record id is malformed"))?;
        if session.address != patient {
            if r.state != state::COMMITTED {
                continue;
            }
            if !st.ledger.can_read(patient, session.address, rid).await? {
                continue;
            }
        }
        // The caller's own wrap and the sealed label: together they name the record in the
        // caller's browser (protocol::label); neither opens its content, which only a logged
        // read releases.
        let wrap = st.index.wrapped_dek(&r.record_id, &me).await?;
        let label = wrap.as_ref().and(r.label.as_ref());
        out.push(json!({
            "recordId": r.record_id, "patient": r.patient, "author": r.author,
            "category": r.category, "h1": r.h1, "size": r.size, "state": r.state,
            "created": r.created, "wrappedToYou": wrap.is_some(),
            "wrappedDek": wrap, "label": label,
        }));
    }
    Ok(Json(json!({ "records": out })))
}

/// `GET /api/records/{id}/receipt`: the signed shred receipt of an erased record, for its
/// patient.
pub async fn receipt(
    State(st): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record_id = parse_record_id(&id)?;
    let Some(record) = st.index.record(&record_id.to_string()).await? else {
        return Err(ApiError::not_found("unknown-record", "no such record"));
    };
    if record.patient != session.address.to_checksum(None) {
        let patient: Address = record
            .patient
            .parse()
            .map_err(|_| ApiError::internal("index", &"stored patient is malformed"))?;
        let refusal = ApiError::forbidden(
            "not-your-record",
            "only the record's patient sees its receipt",
        );
        let actor = session.address;
        let reason = "not-your-record";
        return Err(refuse(&st, actor, patient, record_id, "receipt", reason, refusal).await);
    }
    let Some((receipt, signature, hash, tx)) = st.index.receipt(&record.record_id).await? else {
        return Err(ApiError::not_found(
            "no-receipt",
            "the record has not been shredded",
        ));
    };
    let receipt: Value =
        serde_json::from_str(&receipt).map_err(|e| ApiError::internal("receipt", &e))?;
    Ok(Json(json!({
        "receipt": receipt, "signature": signature, "receiptHash": hash, "confirmTx": tx,
    })))
}

/// `GET /api/access-log`: the caller's entries as a patient, each with its anchor and Merkle
/// proof once anchored (verifiable with the contract's `verifyLogEntry`).
pub async fn access_log(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<Value>, ApiError> {
    let rows = st
        .index
        .log_of_patient(&session.address.to_checksum(None))
        .await?;
    type Batch = (crate::db::AnchorRow, Option<crate::access_log::MerkleTree>);
    let mut trees: BTreeMap<i64, Batch> = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let anchor = match st.index.anchor_covering(r.seq).await? {
            Some(a) => {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    trees.entry(a.anchor_index)
                {
                    let batch = st.index.log_range(a.first_seq, a.last_seq).await?;
                    let tree = crate::access_log::tree_of(&batch)
                        .map_err(|e| ApiError::internal("access log", &e))?
                        .ok_or_else(|| ApiError::internal("access log", &"empty anchored batch"))?;
                    // A batch that lost entries in a restore proves none of the rest.
                    let whole = tree.root().to_string() == a.root;
                    slot.insert((a.clone(), whole.then_some(tree)));
                }
                trees.get(&a.anchor_index)
            }
            None => None,
        };
        let (anchor_json, proof) = match anchor {
            Some((a, tree)) => {
                let i = usize::try_from(r.seq - a.first_seq).unwrap_or(0);
                (
                    json!({"index": a.anchor_index, "root": a.root, "firstSeq": a.first_seq, "lastSeq": a.last_seq, "tx": a.tx_hash}),
                    tree.as_ref().map_or(Value::Null, |t| json!(t.proof(i))),
                )
            }
            None => (Value::Null, Value::Null),
        };
        out.push(json!({
            "seq": r.seq, "at": r.at, "actor": r.actor, "patient": r.patient, "recordId": r.record_id,
            "action": r.action, "granted": r.granted, "reason": r.reason,
            "scoreMilli": r.score_milli, "prevHash": r.prev_hash, "entryHash": r.entry_hash,
            "anchor": anchor_json, "proof": proof,
        }));
    }
    Ok(Json(
        json!({ "entries": out, "gaps": log_gaps(&st).await? }),
    ))
}

/// The access log's declared gaps (entries a restore lost), for everyone who reads a log: the
/// lost entries may have been anyone's.
pub async fn log_gaps(st: &AppState) -> Result<Vec<Value>, ApiError> {
    Ok(st
        .index
        .log_gaps()
        .await?
        .iter()
        .filter_map(|r| {
            let (first, last) = crate::access_log::declared_gap(r)?;
            Some(json!({"firstSeq": first, "lastSeq": last, "declaredAt": r.at, "seq": r.seq}))
        })
        .collect())
}

/// Body of `POST /api/records/{id}/wraps`.
#[derive(Debug, Deserialize)]
pub struct AddWraps {
    /// `<reader address>=0x<81-byte hex>` items.
    pub wraps: Vec<String>,
}

/// `POST /api/records/{id}/wraps`: the record's patient adds DEKs wrapped to readers who may read
/// it now (a new grantee). Only the patient, only their own record, only to readers for whom
/// `canRead` holds on chain.
pub async fn add_wraps(
    State(st): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    crate::error::JsonBody(req): crate::error::JsonBody<AddWraps>,
) -> Result<Json<Value>, ApiError> {
    let record_id = parse_record_id(&id)?;
    let actor = session.address;
    let Some(record) = st.index.record(&record_id.to_string()).await? else {
        return Err(ApiError::not_found("unknown-record", "no such record"));
    };
    let patient: Address = record
        .patient
        .parse()
        .map_err(|_| ApiError::internal("index", &"stored patient is malformed"))?;
    if actor != patient {
        return Err(refuse(
            &st,
            actor,
            patient,
            record_id,
            "add-wrap",
            "not-your-record",
            ApiError::forbidden(
                "not-your-record",
                "only the record's patient adds wrapped keys",
            ),
        )
        .await);
    }
    if record.state == state::SHREDDED {
        let gone = ApiError::new(StatusCode::GONE, "erased", "the record was erased");
        return Err(refuse(&st, actor, patient, record_id, "add-wrap", "erased", gone).await);
    }
    let mut wraps = Vec::new();
    let mut seen = HashSet::new();
    for item in &req.wraps {
        let (reader, wrap) = parse_wrap_item(item)?;
        if reader == patient || !seen.insert(reader) {
            return Err(ApiError::bad_request(
                "bad-wrapped-dek",
                "one wrap per reader, and none to the patient (theirs is set at upload)",
            ));
        }
        wraps.push((reader, wrap));
    }
    if wraps.is_empty() || wraps.len() > MAX_WRAPS {
        return Err(ApiError::bad_request(
            "bad-wrapped-dek",
            format!("1..={MAX_WRAPS} wraps to readers other than the patient"),
        ));
    }
    for (reader, _) in &wraps {
        // A wrap to the break-glass reader (the escrow account) is the patient preparing an older
        // record for emergency access: allowed only while the patient is opted in on chain. It
        // releases nothing by itself; a practitioner still needs an open emergency window.
        let allowed = if *reader == st.deployment.escrow {
            st.ledger.emergency_opt_in(patient).await
        } else {
            st.ledger.can_read(patient, *reader, record_id).await
        };
        let allowed = match allowed {
            Ok(a) => a,
            Err(e) => {
                let unavailable = ApiError::from(e);
                let reason = unavailable.code;
                return Err(refuse(
                    &st,
                    actor,
                    patient,
                    record_id,
                    "add-wrap",
                    reason,
                    unavailable,
                )
                .await);
            }
        };
        if !allowed {
            return Err(refuse(
                &st,
                actor,
                patient,
                record_id,
                "add-wrap",
                "reader-not-granted",
                ApiError::forbidden(
                    "reader-not-granted",
                    format!("canRead(patient, {reader}, record) is false on chain"),
                ),
            )
            .await);
        }
    }
    let deks: Vec<DekRow> = wraps
        .iter()
        .map(|(reader, wrap)| DekRow {
            reader: reader.to_checksum(None),
            wrap: hex::encode_prefixed(wrap),
        })
        .collect();
    st.index.put_wraps(&record.record_id, &deks).await?;
    for (reader, _) in &wraps {
        log_entry(
            &st,
            NewEntry {
                actor,
                patient,
                record_id,
                action: "add-wrap",
                granted: true,
                reason: format!("reader:{reader}"),
                score_milli: 0,
            },
        )
        .await?;
    }
    Ok(Json(json!({"added": wraps.len()})))
}

/// `GET /api/wraps/missing`: for the caller as a patient, each (record, current grantee) whose
/// grant covers the record's category but who has no wrapped DEK yet.
pub async fn missing_wraps(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<Value>, ApiError> {
    let patient = session.address;
    let grants = st.ledger.active_grants(patient).await?;
    let mut out = Vec::new();
    for r in st.index.records_of(&patient.to_checksum(None)).await? {
        if r.state != state::COMMITTED {
            continue;
        }
        let readers = st.index.readers_of(&r.record_id).await?;
        let bit = usize::try_from(r.category).unwrap_or(usize::MAX);
        for (grantee, mask) in &grants {
            let covered = bit < 256 && mask.bit(bit);
            if covered && !readers.contains(&grantee.to_checksum(None)) {
                out.push(
                    json!({"recordId": r.record_id, "grantee": grantee, "category": r.category}),
                );
            }
        }
    }
    Ok(Json(json!({ "missing": out })))
}

/// Inside an emergency window opened on chain by `reader` (a verified practitioner) on `patient`,
/// and only then: opens the DEK the patient's app wrapped to the escrow's break-glass key
/// (`purpose = break-glass`, reader = the escrow account) and re-wraps it (`purpose = reader`) to
/// the practitioner's key registered on chain. `None` when there is no window or no such wrap.
async fn break_glass_wrap(
    st: &AppState,
    record: &RecordRow,
    patient: Address,
    reader: Address,
    record_id: B256,
) -> Result<Option<String>, ApiError> {
    use medledger_protocol::wrap::{self, PublicKey, Purpose, WrapContext};
    let escrow = st.deployment.escrow;
    let Some(bg) = st
        .index
        .wrapped_dek(&record.record_id, &escrow.to_checksum(None))
        .await?
    else {
        return Ok(None);
    };
    let until = st.ledger.emergency_until(patient, reader).await?;
    if until == 0 || until <= st.ledger.head_timestamp().await? {
        return Ok(None);
    }
    let key = st.ledger.encryption_key_of(reader).await?;
    if key == B256::ZERO {
        return Ok(None);
    }
    let bg = hex::decode(&bg).map_err(|e| ApiError::internal("index", &e))?;
    let ctx = |reader, purpose| WrapContext {
        chain_id: st.deployment.chain_id,
        contract: st.deployment.address,
        record_id,
        reader,
        purpose,
    };
    let dek = wrap::unwrap_dek(&bg, &st.break_glass, &ctx(escrow, Purpose::BreakGlass)).map_err(
        |_| {
            ApiError::new(
                StatusCode::CONFLICT,
                "break-glass-failed",
                "the record's emergency wrap does not open with the escrow's break-glass key",
            )
        },
    )?;
    let rewrapped = wrap::wrap_dek(&dek, &PublicKey(key.0), &ctx(reader, Purpose::Reader))
        .map_err(|e| ApiError::internal("break-glass re-wrap", &e))?;
    drop(dek);
    Ok(Some(hex::encode_prefixed(rewrapped)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Result<Option<Range<u64>>, StatusCode> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::RANGE,
            HeaderValue::from_str(value).expect("a header value"),
        );
        parse_range(&headers, size).map_err(|e| e.status)
    }

    const MAX: u64 = u64::MAX;
    const NOT_SATISFIABLE: StatusCode = StatusCode::RANGE_NOT_SATISFIABLE;

    #[test]
    fn no_range_header_is_the_whole_record() {
        assert_eq!(parse_range(&HeaderMap::new(), 10), Ok(None));
    }

    #[test]
    fn satisfiable_ranges_including_the_edges_of_u64() {
        let max = MAX.to_string();
        let cases: &[(String, u64, Range<u64>)] = &[
            ("bytes=0-0".into(), 10, 0..1),
            ("bytes=0-9".into(), 10, 0..10),
            ("bytes=2-5".into(), 10, 2..6),
            ("bytes=9-9".into(), 10, 9..10),
            ("bytes=3-".into(), 10, 3..10),
            ("bytes=0-".into(), 1, 0..1),
            ("bytes=-1".into(), 10, 9..10),
            ("bytes=-10".into(), 10, 0..10),
            // The last position past the end, up to u64::MAX (b + 1 overflowed), is "to the end".
            ("bytes=5-100".into(), 10, 5..10),
            (format!("bytes=0-{max}"), 10, 0..10),
            (format!("bytes=9-{max}"), 10, 9..10),
            (format!("bytes=0-{}", MAX - 1), 10, 0..10),
            // A number longer than u64 holds is past the end too.
            ("bytes=0-99999999999999999999999".into(), 10, 0..10),
            // A suffix larger than the body is the whole body.
            ("bytes=-11".into(), 10, 0..10),
            (format!("bytes=-{max}"), 10, 0..10),
            ("bytes=-99999999999999999999999".into(), 10, 0..10),
            // Whitespace around the numbers, and a record of u64::MAX - 1 bytes.
            (" bytes= 1 - 2 ".into(), 10, 1..3),
            (format!("bytes={}-", MAX - 2), MAX - 1, (MAX - 2)..(MAX - 1)),
            (format!("bytes=0-{max}"), MAX - 1, 0..(MAX - 1)),
        ];
        for (value, size, want) in cases {
            assert_eq!(
                range(value, *size),
                Ok(Some(want.clone())),
                "{value} on {size} bytes"
            );
        }
    }

    #[test]
    fn unsatisfiable_and_malformed_ranges_are_416() {
        let max = MAX.to_string();
        let cases: &[(String, u64)] = &[
            // Starting at or past the end, up to u64::MAX.
            ("bytes=10-".into(), 10),
            ("bytes=10-20".into(), 10),
            (format!("bytes={max}-"), 10),
            (format!("bytes={max}-{max}"), 10),
            (format!("bytes={}-{max}", MAX - 1), 10),
            ("bytes=99999999999999999999999-".into(), 10),
            // An empty record has no satisfiable range.
            ("bytes=0-0".into(), 0),
            ("bytes=0-".into(), 0),
            ("bytes=-1".into(), 0),
            // Reversed, empty suffix, several ranges.
            ("bytes=5-4".into(), 10),
            (format!("bytes={max}-0"), 10),
            ("bytes=-0".into(), 10),
            ("bytes=0-1,3-4".into(), 10),
            // Malformed.
            ("bytes=".into(), 10),
            ("bytes=-".into(), 10),
            ("bytes=5".into(), 10),
            ("bytes=a-b".into(), 10),
            ("bytes=1-b".into(), 10),
            ("bytes=+1-2".into(), 10),
            ("bytes=1-+2".into(), 10),
            ("bytes=-+2".into(), 10),
            ("bytes=--1".into(), 10),
            ("bytes=1--2".into(), 10),
            ("bytes=0x1-2".into(), 10),
            ("bytes=1.5-2".into(), 10),
            ("bytes=1 2-3".into(), 10),
            ("items=0-1".into(), 10),
            ("0-1".into(), 10),
            ("".into(), 10),
        ];
        for (value, size) in cases {
            assert_eq!(
                range(value, *size),
                Err(NOT_SATISFIABLE),
                "{value:?} on {size} bytes"
            );
        }
    }

    #[test]
    fn a_range_header_that_is_not_ascii_is_416() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::RANGE,
            HeaderValue::from_bytes(b"bytes=0-\xff").expect("opaque bytes"),
        );
        assert_eq!(
            parse_range(&headers, 10).map_err(|e| e.status),
            Err(NOT_SATISFIABLE)
        );
    }

    #[test]
    fn every_small_range_is_inside_the_record_or_refused() {
        // Exhaustive over small sizes and positions: a served range is never empty, never starts
        // at or past the end and never ends past it.
        for size in 0..6u64 {
            for a in 0..8u64 {
                for b in 0..8u64 {
                    for value in [
                        format!("bytes={a}-{b}"),
                        format!("bytes={a}-"),
                        format!("bytes=-{b}"),
                    ] {
                        match range(&value, size) {
                            Ok(Some(r)) => {
                                assert!(
                                    r.start < r.end && r.end <= size,
                                    "{value} on {size}: {r:?}"
                                )
                            }
                            Ok(None) => panic!("{value}: a Range header is never ignored"),
                            Err(status) => assert_eq!(status, NOT_SATISFIABLE, "{value}"),
                        }
                    }
                }
            }
        }
    }
}
