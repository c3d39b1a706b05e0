//! The consent-checked read: the chain's `canRead` on every request, the basis of the release
//! (consent or emergency), the wrap to hand out, the access appended to the log before a byte
//! leaves, and C1 streamed with tier 2 stripped on the fly (HTTP Range from the right chunk).

use super::wraps::break_glass_wrap;
use super::*;
use crate::consent::Basis;

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
        Err(e) if e.code == "agreement-required" => {
            Err(refuse_without_agreement(&st, &id, &headers, e).await)
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
    match st.index.record(record_id).await {
        Ok(Some(r)) => r.patient,
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
    let attempt =
        Attempt::new(st, Address::ZERO, record_id, AccessAction::Read).of_patient(patient);
    attempt.refuse(reason, err).await
}

/// A signed-in reader who has not accepted the current licence agreement: refused, and logged
/// under their own address (they are signed in: not an anonymous attempt).
async fn refuse_without_agreement(
    st: &AppState,
    id: &str,
    headers: &HeaderMap,
    err: ApiError,
) -> ApiError {
    refuse_signed_in(st, id, headers, "agreement-required", err, |_| true).await
}

/// A signed-in reader over their rate limit: refused, and logged under their own address once
/// per flood (the first refusal after an admitted request).
async fn refuse_over_limit(
    st: &AppState,
    id: &str,
    headers: &HeaderMap,
    err: ApiError,
) -> ApiError {
    let first = |reader: Address| st.limits.first_of_episode(&reader.to_string());
    refuse_signed_in(st, id, headers, "rate-limited", err, first).await
}

/// The refusal `err` of a read of record `id` by the session's account, logged with `reason`
/// when `log` says so of the reader; unlogged when the id or the session does not parse.
async fn refuse_signed_in(
    st: &AppState,
    id: &str,
    headers: &HeaderMap,
    reason: &'static str,
    err: ApiError,
    log: impl FnOnce(Address) -> bool,
) -> ApiError {
    let (Ok(record_id), Some(reader)) = (
        parse_record_id(id),
        crate::auth::caller_of(st, headers).await,
    ) else {
        return err;
    };
    if !log(reader) {
        return err;
    }
    let patient = patient_of(st, record_id).await;
    let attempt = Attempt::new(st, reader, record_id, AccessAction::Read).of_patient(patient);
    attempt.refuse(reason, err).await
}

fn no_read_consent() -> ApiError {
    ApiError::forbidden(
        "no-read-consent",
        "canRead(patient, you, record) is false on chain",
    )
}

/// The record, its patient and the basis of a read by `reader`, or the logged refusal: in the
/// index, not erased, `canRead` (or `canReadRooted`) at the chain's head on every request, a
/// pending record's anchored h1 the stored one.
async fn authorise_read<'a>(
    st: &'a AppState,
    reader: Address,
    record_id: B256,
) -> Result<(RecordRow, Attempt<'a>, Basis), ApiError> {
    let attempt = Attempt::new(st, reader, record_id, AccessAction::Read);
    let Some(record) = st.index.record(record_id).await? else {
        let err = ApiError::not_found("unknown-record", "no such record");
        return Err(attempt.refuse_coded(err).await);
    };
    let patient = record.patient;
    let attempt = attempt.of_record(&record);
    if record.state == RecordState::Shredded {
        let err = ApiError::new(
            StatusCode::GONE,
            "erased",
            "the record was erased and its keys destroyed",
        );
        return Err(attempt.refuse_coded(err).await);
    }
    // The chain decides, on every request: its canRead at the head, with the basis it holds on
    // (a stored wrap says nothing about why the reader may read now).
    let basis = match read_basis_of(st, &record, reader).await {
        Ok(Some(basis)) => basis,
        Ok(None) => {
            let who = (patient, reader, record.category);
            let err = super::consent_refusal(st, who, no_read_consent()).await;
            return Err(attempt.refuse_coded(err).await);
        }
        Err(e) => return Err(attempt.chain_failed(e).await),
    };
    // A record under a root needs no second look: canReadRooted proved its leaf, h1 included.
    if record.state != RecordState::Committed && record.rooted.is_none() {
        // Anchored on chain but not yet seen by the follower: release only the anchored h1.
        let anchor = match st.ledger.record_of(record_id).await {
            Ok(a) => a,
            Err(e) => return Err(attempt.chain_failed(e).await),
        };
        if anchor.h1 != record.h1 || anchor.patient != patient {
            let err = ApiError::new(
                StatusCode::CONFLICT,
                "h1-mismatch",
                "the stored ciphertext is not the one anchored on chain",
            );
            return Err(attempt.refuse_coded(err).await);
        }
    }
    Ok((record, attempt, basis))
}

/// The DEK wrapped to `reader`, and whether the release is an emergency one: the reader's stored
/// wrap when there is one, else the break-glass re-wrap (only inside an open window). A release on
/// an emergency basis is one whichever wrap it uses, and so is any use of the break-glass key.
async fn choose_wrap(
    record: &RecordRow,
    attempt: &Attempt<'_>,
    basis: Basis,
) -> Result<(String, bool), ApiError> {
    let (st, reader) = (attempt.st, attempt.actor);
    let stored = st.index.wrapped_dek(record.record_id, reader).await?;
    if let Some(wrap) = stored {
        return Ok((wrap, basis == Basis::Emergency));
    }
    let (patient, record_id) = (attempt.patient, attempt.record_id);
    match break_glass_wrap(st, record, patient, reader, record_id).await {
        Ok(Some(wrap)) => Ok((wrap, true)),
        Ok(None) => {
            let err = ApiError::not_found(
                "no-wrapped-key",
                "no data key is wrapped to you for this record yet",
            );
            Err(attempt.refuse_coded(err).await)
        }
        Err(e) => {
            let reason = if e.status == StatusCode::SERVICE_UNAVAILABLE {
                "chain-unavailable"
            } else {
                "break-glass-failed"
            };
            Err(attempt.refuse(reason, e).await)
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
    let size = record.size;
    let wrapped_k2 = hex::decode(wrapped_k2).map_err(|e| ApiError::internal("index", &e))?;
    let k2 = tier2::unwrap_k2(&st.master, &record_id, &wrapped_k2)
        .map_err(|e| ApiError::internal("k2 unwrap", &e))?;
    let c2_size = record.c2_size;
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
    let (record, attempt, basis) = authorise_read(st, reader, record_id).await?;
    let patient = attempt.patient;
    let (wrap, emergency) = choose_wrap(&record, &attempt, basis).await?;
    let gate = super::risk_gate::gate(&attempt, emergency).await?;
    let size = record.size;
    // Refusals after consent was established are the patient's to see too: a range the record
    // cannot satisfy, a blob store that fails. The attempt was scored once, by the gate: the
    // refusal carries that score (and its raw fields, which the risk engine already observed).
    let refuse = |e: ApiError| {
        let note = gate.note.clone();
        async move { super::risk_gate::refuse_scored(&attempt, e.code, note, e).await }
    };
    let range = match parse_range(headers, size) {
        Ok(range) => range,
        Err(e) => return Err(refuse(e).await),
    };
    let ranged = range.is_some();
    let (body, status, content_range, len) = match release_body(st, &record, record_id, range).await
    {
        Ok(released) => released,
        Err(e) => return Err(refuse(e).await),
    };
    // Fail closed: no log entry, no release.
    log_entry(
        st,
        NewEntry {
            actor: reader,
            patient,
            record_id,
            action: AccessAction::Read,
            granted: true,
            reason: match (emergency, gate.approved, ranged) {
                (true, _, _) => "emergency",
                (false, true, _) => "consent-approved",
                (false, false, true) => "consent-range",
                (false, false, false) => "consent",
            }
            .into(),
            // Emergency releases are flagged for the patient's review whatever they score.
            risk: gate.note,
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
    h.insert(H_H1, hv(&record.h1.to_string())?);
    h.insert(H_PATIENT, hv(&record.patient.to_checksum(None))?);
    h.insert(H_CATEGORY, HeaderValue::from(u16::from(record.category)));
    if let Some(place) = &record.rooted {
        h.insert(H_ROOT, hv(&place.encode())?);
    }
    if emergency {
        h.insert("x-medledger-emergency", HeaderValue::from_static("1"));
    }
    Ok(response)
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

    mod decision {
        //! The read decision on a scripted chain: what the chain answers decides, and every
        //! refusal reaches the patient's log with its reason.
        use super::super::*;
        use crate::chain::scripted::{escrow_on, Script};
        use crate::consent::Basis;
        use alloy_primitives::U256;
        use medledger_protocol::contract::MedLedger;

        const PATIENT: Address = Address::repeat_byte(0x0a);
        const READER: Address = Address::repeat_byte(0x0b);
        const CATEGORY: u8 = 3;

        fn record_id() -> B256 {
            B256::repeat_byte(0x51)
        }

        fn h1() -> B256 {
            B256::repeat_byte(0x61)
        }

        async fn stored(st: &AppState, record_state: RecordState) {
            let row = RecordRow {
                record_id: record_id(),
                patient: PATIENT,
                author: PATIENT,
                category: CATEGORY,
                h1: h1(),
                size: 10,
                blob_key: Some("c2/x".into()),
                c2_size: 10,
                wrapped_k2: Some("0x00".into()),
                state: record_state,
                created: 0,
                committed_block: None,
                label: None,
                rooted: None,
            };
            st.index.insert_pending(&row, &[]).await.expect("insert");
        }

        /// The refusal's status and code, and the reason the log holds for it.
        async fn refused(st: &AppState, patient: Address) -> (StatusCode, &'static str, String) {
            let err = match authorise_read(st, READER, record_id()).await {
                Ok(_) => panic!("the read was authorised"),
                Err(e) => e,
            };
            let log = st
                .index
                .log_of_patient(&patient.to_checksum(None))
                .await
                .expect("log");
            let last = log.last().expect("the refusal is logged");
            assert_eq!(last.actor, READER.to_checksum(None));
            assert_eq!((last.action.as_str(), last.granted), ("read", false));
            (err.status, err.code, last.reason.clone())
        }

        async fn basis(st: &AppState) -> Basis {
            match authorise_read(st, READER, record_id()).await {
                Ok((_, attempt, basis)) => {
                    assert_eq!(attempt.patient, PATIENT);
                    basis
                }
                Err(e) => panic!("refused: {} {}", e.code, e.message),
            }
        }

        fn consent(s: &mut Script) {
            s.readable.insert((PATIENT, READER, record_id()));
        }

        #[tokio::test]
        async fn the_chain_decides_every_read_and_names_its_basis() {
            let (_dir, chain, st) = escrow_on(Script::default()).await;
            stored(&st, RecordState::Committed).await;
            let no = (
                StatusCode::FORBIDDEN,
                "no-read-consent",
                "no-read-consent".into(),
            );
            assert_eq!(refused(&st, PATIENT).await, no);

            let now = 1_700_000_000;
            chain.edit(|s| {
                consent(s);
                let mask = U256::from(1u64) << usize::from(CATEGORY);
                s.grants.insert((PATIENT, READER), (mask, now + 60));
            });
            assert_eq!(basis(&st).await, Basis::Consent);

            // Only an open emergency window: released, flagged as an emergency.
            chain.edit(|s| {
                s.grants.clear();
                s.emergency.insert((PATIENT, READER), now + 60);
            });
            assert_eq!(basis(&st).await, Basis::Emergency);

            // canRead holds but neither basis does any more (the chain moved between the calls):
            // nothing is released on a basis the escrow cannot name.
            chain.edit(|s| {
                s.emergency.insert((PATIENT, READER), now);
            });
            assert_eq!(refused(&st, PATIENT).await, no);

            // A grant that does not cover the category is no basis either.
            chain.edit(|s| {
                let other = U256::from(1u64) << usize::from(CATEGORY + 1);
                s.grants.insert((PATIENT, READER), (other, now + 60));
            });
            assert_eq!(refused(&st, PATIENT).await, no);

            chain.edit(|s| s.reachable = false);
            let (status, code, reason) = refused(&st, PATIENT).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                (code, reason.as_str()),
                ("chain-unavailable", "chain-unavailable")
            );
        }

        #[tokio::test]
        async fn the_patient_reads_on_consent_without_a_grant() {
            let (_dir, chain, st) = escrow_on(Script::default()).await;
            stored(&st, RecordState::Committed).await;
            chain.edit(|s| {
                s.readable.insert((PATIENT, PATIENT, record_id()));
            });
            let (_, attempt, basis) = authorise_read(&st, PATIENT, record_id())
                .await
                .expect("the patient reads");
            assert_eq!((attempt.actor, basis), (PATIENT, Basis::Consent));
        }

        #[tokio::test]
        async fn unknown_and_erased_records_are_refused_and_logged() {
            let (_dir, chain, st) = escrow_on(Script::default()).await;
            chain.edit(consent);
            let (status, code, reason) = refused(&st, Address::ZERO).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(
                (code, reason.as_str()),
                ("unknown-record", "unknown-record")
            );

            stored(&st, RecordState::Shredded).await;
            let (status, code, reason) = refused(&st, PATIENT).await;
            assert_eq!(status, StatusCode::GONE);
            assert_eq!((code, reason.as_str()), ("erased", "erased"));
        }

        #[tokio::test]
        async fn a_pending_record_is_released_only_as_anchored() {
            let (_dir, chain, st) = escrow_on(Script::default()).await;
            stored(&st, RecordState::Pending).await;
            chain.edit(|s| {
                consent(s);
                s.emergency.insert((PATIENT, READER), u64::MAX);
            });
            // Not anchored at all: the chain's revert is a chain refusal, fail closed.
            let (status, _, reason) = refused(&st, PATIENT).await;
            assert_eq!(
                (status, reason.as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, "chain-unavailable")
            );

            let anchor = |h1: B256| MedLedger::Record {
                patient: PATIENT,
                author: PATIENT,
                ciphertextHash: h1,
                supersedes: B256::ZERO,
                createdAt: 0,
                epoch: 0,
                category: CATEGORY,
                erased: false,
                shredConfirmed: false,
            };
            chain.edit(|s| {
                s.records
                    .insert(record_id(), anchor(B256::repeat_byte(0x99)));
            });
            let (status, code, _) = refused(&st, PATIENT).await;
            assert_eq!((status, code), (StatusCode::CONFLICT, "h1-mismatch"));

            chain.edit(|s| {
                s.records.insert(record_id(), anchor(h1()));
            });
            assert_eq!(basis(&st).await, Basis::Emergency);
        }
    }
}
