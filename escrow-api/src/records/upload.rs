//! The streamed upload: headers parsed and checked, `canWrite` asked of the chain, h1 checked
//! while streaming, tier 2 added on the fly, the record stored pending with its wraps and its
//! access-log entry in one transaction.

use super::*;
use medledger_protocol::record_root::Place;

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
    /// Its place under a Merkle root, for a record of a bulk import (`x-medledger-root`).
    pub rooted: Option<Place>,
}

/// Parses the optional place under a root (`protocol::record_root::Place`).
fn parse_root(headers: &HeaderMap) -> Result<Option<Place>, ApiError> {
    if headers.get(H_ROOT).is_none() {
        return Ok(None);
    }
    Place::parse(one_header(headers, H_ROOT)?)
        .map(Some)
        .map_err(|e| ApiError::bad_request("bad-root", format!("{H_ROOT}: {e}")))
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
        rooted: parse_root(headers)?,
    })
}

fn upload_nonce() -> Result<String, ApiError> {
    let mut b = [0u8; 8];
    fill_random(&mut b).map_err(|_| ApiError::internal("randomness", &"no system randomness"))?;
    Ok(hex::encode(b))
}

/// `PUT /api/records/{id}`: streamed upload of C1.
/// What a shed upload is told to wait before it tries again, seconds.
pub const UPLOAD_RETRY_AFTER_SECS: u64 = 1;

pub async fn upload(
    State(st): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Shed before anything is read: each upload in progress holds its buffered parts, so their
    // number bounds the memory uploads take (`max_concurrent_uploads`).
    let result = match st.upload_slots.clone().try_acquire_owned() {
        Ok(slot) => {
            let result = upload_inner(&st, &session, &id, &headers, body).await;
            drop(slot);
            result
        }
        Err(_) => Err(ApiError::busy("uploads", UPLOAD_RETRY_AFTER_SECS)),
    };
    let label = match &result {
        Err(e) if e.code == "busy" => "shed",
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
) -> Result<(StatusCode, api::StoredRecord), ApiError> {
    let record_id = parse_record_id(id)?;
    let meta = parse_upload_headers(record_id, headers)?;
    let limit = match admit(st, session.address, &meta, headers).await? {
        Admission::Admitted(limit) => limit,
        Admission::AlreadyStored(existing) => return duplicate(&existing, &meta),
    };
    let blob = store_blob(st, &meta, body, limit).await?;
    record_pending(st, session.address, &meta, blob).await
}

/// Whether an upload may be streamed in.
enum Admission {
    /// Yes, with at most this many bytes.
    Admitted(UploadLimit),
    /// The id is taken: the answer is the stored record's (or a conflict), without the body.
    AlreadyStored(Box<RecordRow>),
}

/// The checks before a byte is read: the declared length, the uploader's own wrap, `canWrite`
/// on chain (refusals logged), the id not taken, and the uploader's pending quota.
async fn admit(
    st: &AppState,
    uploader: Address,
    meta: &UploadMeta,
    headers: &HeaderMap,
) -> Result<Admission, ApiError> {
    let max = st.config.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("uploads are limited to {max} bytes"),
        ));
    }
    if meta.wraps.iter().all(|(r, _)| *r != uploader) {
        return Err(ApiError::bad_request(
            "missing-author-wrap",
            "the DEK must also be wrapped to the uploader",
        ));
    }
    let attempt =
        Attempt::new(st, uploader, meta.record_id, AccessAction::Upload).of_patient(meta.patient);
    // Authorisation: the chain decides (the patient, or a writer the patient granted), at its
    // head: from the consent index when it holds the head, else by `eth_call`.
    match st
        .consent
        .can_write_now(meta.patient, uploader, meta.category)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let err = ApiError::forbidden(
                "no-write-consent",
                "canWrite(patient, you, category) is false on chain",
            );
            let who = (meta.patient, uploader, meta.category);
            let err = super::consent_refusal(st, who, err).await;
            return Err(attempt.refuse_coded(err).await);
        }
        Err(e) => return Err(attempt.chain_failed(e).await),
    }
    if let Some(existing) = st.index.record(meta.record_id).await? {
        return Ok(Admission::AlreadyStored(Box::new(existing)));
    }
    if let Err(err) = fits_its_root(st, meta).await? {
        return Err(attempt.refuse_coded(err).await);
    }
    match upload_allowance(st, uploader, headers).await? {
        Ok(limit) => Ok(Admission::Admitted(limit)),
        Err(refusal) => Err(attempt.refuse("pending-quota", refusal).await),
    }
}

/// For an upload under a root the chain already holds: `Ok(Err(_))` unless its declared leaf
/// (id, h1, category, index) proves under that root, for that patient, within its count and
/// categories. A root not anchored yet is checked when it is (the follower commits what proves).
async fn fits_its_root(st: &AppState, meta: &UploadMeta) -> Result<Result<(), ApiError>, ApiError> {
    let Some(place) = &meta.rooted else {
        return Ok(Ok(()));
    };
    let Some(root) = st.index.root(place.root).await? else {
        return Ok(Ok(()));
    };
    let leaf = place.leaf(meta.record_id, meta.h1, meta.category);
    if root.admits_leaf(meta.patient, place, &leaf) {
        return Ok(Ok(()));
    }
    Ok(Err(ApiError::bad_request(
        "not-under-root",
        "the record's id, h1, category and index do not prove under that root as the chain anchored it",
    )))
}

/// C2 as stored: where, its K2 wrapped under the master key, and the sizes of C1 and C2.
struct StoredBlob {
    key: String,
    wrapped_k2: Vec<u8>,
    size: u64,
    c2_size: u64,
}

/// Streams C1 in: h1 checked over it, tier 2 added on the fly under a fresh K2, C2 written to
/// the blob store. A failure at any point aborts the blob: nothing half-written stays.
async fn store_blob(
    st: &AppState,
    meta: &UploadMeta,
    body: Body,
    limit: UploadLimit,
) -> Result<StoredBlob, ApiError> {
    let record_id = meta.record_id;
    let key = crate::blobs::c2_key(record_id, &upload_nonce()?);
    let k2 = SecretKey::generate()
        .map_err(|_| ApiError::internal("randomness", &"no system randomness"))?;
    let wrapped_k2 = tier2::wrap_k2(&st.master, &record_id, &k2)
        .map_err(|e| ApiError::internal("k2 wrap", &e))?;
    let (mut enc, header2) = Tier2Encryptor::new(&k2, record_id, st.config.tier2_chunk_size)
        .map_err(|e| ApiError::internal("tier 2", &e))?;
    drop(k2);
    let mut writer = st.blobs.writer(&key).await?;
    let written = async {
        let (size, c2_size) = stream_in(meta, body, limit, &mut enc, &mut writer, &header2).await?;
        let mut out = Vec::new();
        enc.finish(&mut out)
            .map_err(|e| ApiError::internal("tier 2", &e))?;
        writer.write(&out).await?;
        Ok::<_, ApiError>((size, c2_size + out.len() as u64))
    }
    .await;
    let (size, c2_size) = match written {
        Ok(sizes) => sizes,
        Err(e) => {
            let _ = writer.abort().await;
            return Err(e);
        }
    };
    writer.finish().await?;
    Ok(StoredBlob {
        key,
        wrapped_k2: wrapped_k2.to_vec(),
        size,
        c2_size,
    })
}

/// Stores the record pending with its wraps and its access-log entry, in one transaction: an
/// upload is never acknowledged, nor stored, without its entry. When that fails, the blob goes.
async fn record_pending(
    st: &AppState,
    uploader: Address,
    meta: &UploadMeta,
    blob: StoredBlob,
) -> Result<(StatusCode, api::StoredRecord), ApiError> {
    let record_id = meta.record_id;
    let row = RecordRow {
        record_id,
        patient: meta.patient,
        author: uploader,
        category: meta.category,
        h1: meta.h1,
        size: blob.size,
        blob_key: Some(blob.key.clone()),
        c2_size: blob.c2_size,
        wrapped_k2: Some(hex::encode_prefixed(&blob.wrapped_k2)),
        state: RecordState::Pending,
        created: now_secs(),
        committed_block: None,
        label: meta.label.as_deref().map(hex::encode_prefixed),
        rooted: meta.rooted.clone(),
    };
    let deks: Vec<DekRow> = meta
        .wraps
        .iter()
        .map(|(reader, wrap)| DekRow {
            reader: *reader,
            wrap: hex::encode_prefixed(wrap),
        })
        .collect();
    let entry = NewEntry {
        actor: uploader,
        patient: meta.patient,
        record_id,
        action: AccessAction::Upload,
        granted: true,
        reason: "stored-pending".into(),
        risk: Default::default(),
    };
    let err = match st.log.append_upload(entry, &row, &deks).await {
        Ok(logged) => {
            st.metrics.log_entries.set(logged.seq + 1);
            None
        }
        Err(err) => Some(err),
    };
    if let Some(err) = err {
        // Nothing was written. A concurrent upload of the same id may have won the race: keep
        // its blob, drop ours.
        st.blobs.delete(&blob.key).await?;
        return match st.index.record(record_id).await? {
            Some(existing) => duplicate(&existing, meta),
            None => {
                tracing::error!(error = %err, "upload not stored: index or access log unwritable");
                Err(ApiError::unavailable(
                    "log-unavailable",
                    "the upload and its access-log entry cannot be written; nothing was stored",
                ))
            }
        };
    }
    let state = commit_if_root_anchored(st, &row).await?;
    tracing::info!(size = blob.size, state = state.as_str(), "record stored");
    let stored = api::StoredRecord {
        record_id,
        h1: meta.h1,
        size: blob.size,
        state,
    };
    Ok((StatusCode::CREATED, stored))
}

/// A record under a root anchored before its upload is committed at once (the follower commits
/// those whose root comes later); the state it is stored in.
async fn commit_if_root_anchored(st: &AppState, row: &RecordRow) -> Result<RecordState, ApiError> {
    let Some(place) = &row.rooted else {
        return Ok(RecordState::Pending);
    };
    let Some(root) = st.index.root(place.root).await? else {
        return Ok(RecordState::Pending);
    };
    if st.index.commit_under_root(&root, row).await? {
        return Ok(RecordState::Committed);
    }
    // The follower may have committed it in between.
    let now = st.index.record(row.record_id).await?;
    Ok(now.map_or(RecordState::Pending, |r| r.state))
}

fn duplicate(
    existing: &RecordRow,
    meta: &UploadMeta,
) -> Result<(StatusCode, api::StoredRecord), ApiError> {
    let same = existing.h1 == meta.h1
        && existing.patient == meta.patient
        && existing.state != RecordState::Shredded;
    if same {
        let stored = api::StoredRecord {
            record_id: meta.record_id,
            h1: meta.h1,
            size: existing.size,
            state: existing.state,
        };
        Ok((StatusCode::OK, stored))
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
    let pending = st.index.pending_bytes_of(uploader).await?;
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

#[cfg(test)]
mod tests {
    //! The upload's admission on a scripted chain: the chain's `canWrite` decides, and each
    //! refusal reaches the patient's log before a byte of the body is read.
    use super::*;
    use crate::chain::scripted::{escrow_on, Script};

    const PATIENT: Address = Address::repeat_byte(0x0a);
    const WRITER: Address = Address::repeat_byte(0x0b);

    fn meta(wrapped_to: Address) -> UploadMeta {
        UploadMeta {
            record_id: B256::repeat_byte(0x51),
            patient: PATIENT,
            category: 2,
            h1: B256::repeat_byte(0x61),
            wraps: vec![(wrapped_to, [7u8; WRAPPED_LEN])],
            label: None,
            rooted: None,
        }
    }

    async fn refusal(st: &AppState, m: &UploadMeta) -> (StatusCode, &'static str) {
        match admit(st, WRITER, m, &HeaderMap::new()).await {
            Ok(_) => panic!("admitted"),
            Err(e) => (e.status, e.code),
        }
    }

    async fn last_reason(st: &AppState) -> Option<(String, bool)> {
        let log = st
            .index
            .log_of_patient(&PATIENT.to_checksum(None))
            .await
            .expect("log");
        log.last().map(|e| (e.reason.clone(), e.granted))
    }

    #[tokio::test]
    async fn the_chain_decides_who_writes_and_every_refusal_is_logged() {
        let (_dir, chain, st) = escrow_on(Script::default()).await;
        // Without the uploader's own wrap: a malformed request, refused before the chain is asked.
        let unwrapped = meta(PATIENT);
        assert_eq!(
            refusal(&st, &unwrapped).await,
            (StatusCode::BAD_REQUEST, "missing-author-wrap")
        );
        assert_eq!(last_reason(&st).await, None);

        let m = meta(WRITER);
        assert_eq!(
            refusal(&st, &m).await,
            (StatusCode::FORBIDDEN, "no-write-consent")
        );
        assert_eq!(
            last_reason(&st).await,
            Some(("no-write-consent".into(), false))
        );

        chain.edit(|s| s.reachable = false);
        assert_eq!(
            refusal(&st, &m).await,
            (StatusCode::SERVICE_UNAVAILABLE, "chain-unavailable")
        );
        assert_eq!(
            last_reason(&st).await,
            Some(("chain-unavailable".into(), false))
        );

        chain.edit(|s| {
            s.reachable = true;
            s.writable.insert((PATIENT, WRITER, 2));
        });
        let admitted = admit(&st, WRITER, &m, &HeaderMap::new()).await;
        assert!(matches!(admitted, Ok(Admission::Admitted(_))));
        // A grant for another category is no grant for this one.
        let mut other = meta(WRITER);
        other.category = 3;
        assert_eq!(
            refusal(&st, &other).await,
            (StatusCode::FORBIDDEN, "no-write-consent")
        );
    }
}
