//! Wrapped DEKs after upload: a patient adding wraps for new grantees, the list of wraps still
//! missing, a reader moving their own wraps to their rotated key, and the break-glass re-wrap
//! for an open emergency window.

use super::*;
use crate::access_log::{AppendError, Write};
use api::{
    AddWraps, MissingWrap, MissingWraps, MoveWrapsBody, MyWrap, MyWraps, WrapsAdded, WrapsMoved,
    MY_WRAPS_PAGE,
};
use medledger_protocol::identity::MoveWrapsMessage;

/// `POST /api/records/{id}/wraps`: the record's patient adds DEKs wrapped to readers who may read
/// it now (a new grantee). Only the patient, only their own record, only to readers for whom
/// `canRead` holds on chain.
pub async fn add_wraps(
    State(st): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    crate::error::JsonBody(req): crate::error::JsonBody<AddWraps>,
) -> Result<Json<WrapsAdded>, ApiError> {
    let record_id = parse_record_id(&id)?;
    let actor = session.address;
    let Some(record) = st.index.record(record_id).await? else {
        return Err(ApiError::not_found("unknown-record", "no such record"));
    };
    let patient = record.patient;
    let attempt = Attempt::new(&st, actor, record_id, AccessAction::AddWrap).of_patient(patient);
    if actor != patient {
        let err = ApiError::forbidden(
            "not-your-record",
            "only the record's patient adds wrapped keys",
        );
        return Err(attempt.refuse_coded(err).await);
    }
    if record.state == RecordState::Shredded {
        let gone = ApiError::new(StatusCode::GONE, "erased", "the record was erased");
        return Err(attempt.refuse_coded(gone).await);
    }
    let wraps = new_wraps(&req, patient)?;
    for (reader, _) in &wraps {
        may_hold_a_wrap(&attempt, &record, *reader).await?;
    }
    let deks: Vec<DekRow> = wraps
        .iter()
        .map(|(reader, wrap)| DekRow {
            reader: *reader,
            wrap: hex::encode_prefixed(wrap),
        })
        .collect();
    let entries = wraps
        .iter()
        .map(|(reader, _)| NewEntry {
            actor,
            patient,
            record_id,
            action: AccessAction::AddWrap,
            granted: true,
            reason: format!("reader:{reader}"),
            risk: Default::default(),
        })
        .collect();
    // The wraps and their entries in one transaction: never a wrap without its entry.
    let appended = st
        .log
        .append_all_with(entries, Write::Wraps(record_id, deks))
        .await;
    logged_all(&st, appended)?;
    let added = u64::try_from(wraps.len()).unwrap_or(u64::MAX);
    Ok(Json(WrapsAdded { added }))
}

/// The request's wraps: well formed, one per reader, none to the patient, 1..=MAX_WRAPS.
fn new_wraps(
    req: &AddWraps,
    patient: Address,
) -> Result<Vec<(Address, [u8; WRAPPED_LEN])>, ApiError> {
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
    Ok(wraps)
}

/// Whether the chain lets `reader` hold a wrap of the attempt's record now; a refusal is logged.
/// A wrap to the break-glass reader (the escrow account) is the patient preparing an older record
/// for emergency access: allowed only while the patient is opted in on chain. It releases
/// nothing by itself; a practitioner still needs an open emergency window.
async fn may_hold_a_wrap(
    attempt: &Attempt<'_>,
    record: &RecordRow,
    reader: Address,
) -> Result<(), ApiError> {
    let (st, patient) = (attempt.st, attempt.patient);
    let allowed = if reader == st.deployment.escrow {
        st.consent.emergency_opt_in_now(patient).await
    } else {
        read_basis_of(st, record, reader).await.map(|b| b.is_some())
    };
    match allowed {
        Ok(true) => Ok(()),
        Ok(false) => {
            let err = ApiError::forbidden(
                "reader-not-granted",
                format!("canRead(patient, {reader}, record) is false on chain"),
            );
            Err(attempt.refuse_coded(err).await)
        }
        Err(e) => Err(attempt.refuse_coded(ApiError::from(e)).await),
    }
}

/// `GET /api/wraps/missing`: for the caller as a patient, each (record, current grantee) whose
/// grant covers the record's category but who has no wrapped DEK yet.
pub async fn missing_wraps(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<MissingWraps>, ApiError> {
    let patient = session.address;
    let grants = st.ledger.active_grants(patient).await?;
    let mut missing = Vec::new();
    for r in st.index.records_of(patient).await? {
        if r.state != RecordState::Committed {
            continue;
        }
        let readers = st.index.readers_of(r.record_id).await?;
        for (grantee, mask) in &grants {
            if mask.bit(usize::from(r.category)) && !readers.contains(grantee) {
                missing.push(MissingWrap {
                    record_id: r.record_id,
                    grantee: *grantee,
                    category: r.category,
                });
            }
        }
    }
    Ok(Json(MissingWraps { missing }))
}

/// Query of `GET /api/wraps/mine`.
#[derive(Debug, Deserialize)]
pub struct MyWrapsQuery {
    /// The last record id of the previous page.
    pub after: Option<String>,
}

/// `GET /api/wraps/mine?after=…`: the DEKs the escrow holds wrapped to the caller, of records
/// not erased, [`MY_WRAPS_PAGE`] at a time by record id: what an app re-wraps when its account
/// rotates its encryption key.
pub async fn my_wraps(
    State(st): State<AppState>,
    session: Session,
    crate::error::QueryParams(q): crate::error::QueryParams<MyWrapsQuery>,
) -> Result<Json<MyWraps>, ApiError> {
    let after = q.after.as_deref().map(parse_record_id).transpose()?;
    let mut rows = st
        .index
        .wraps_held_by(session.address, after, MY_WRAPS_PAGE + 1)
        .await?;
    let more = rows.len() > MY_WRAPS_PAGE;
    rows.truncate(MY_WRAPS_PAGE);
    let wraps: Vec<MyWrap> = rows
        .into_iter()
        .map(|(record_id, patient, wrapped_dek)| MyWrap {
            record_id,
            patient,
            wrapped_dek,
        })
        .collect();
    let next = more.then(|| wraps.last().map(|w| w.record_id)).flatten();
    Ok(Json(MyWraps { wraps, next }))
}

/// The request's wraps, each well formed, one per record, 1..=[`MY_WRAPS_PAGE`] of them.
fn moved_wraps(req: &MoveWrapsBody) -> Result<Vec<(B256, String)>, ApiError> {
    if req.wraps.is_empty() || req.wraps.len() > MY_WRAPS_PAGE {
        return Err(ApiError::bad_request(
            "bad-wrapped-dek",
            format!("1..={MY_WRAPS_PAGE} wraps at a time"),
        ));
    }
    let mut seen = HashSet::new();
    req.wraps
        .iter()
        .map(|w| {
            if !seen.insert(w.record_id) {
                return Err(ApiError::bad_request(
                    "bad-wrapped-dek",
                    format!("record {} appears twice", w.record_id),
                ));
            }
            let wrap = parse_wrap(&w.wrapped_dek)?;
            Ok((w.record_id, hex::encode_prefixed(wrap)))
        })
        .collect()
}

/// Longest a `MoveWraps` signature may serve: a rotation's batches go within minutes, and a
/// signature seen once (a log, a proxy) must not serve for long.
const MOVE_SIGNATURE_MAX_SECS: u64 = 86_400;

/// Whether the wallet of `account` (the session's, which controls it) signed its consent to
/// moving its wraps to `key` before `deadline` (not yet passed, at most a day ahead), and `key` is
/// the account's encryption key on chain now (so the wraps replaced are those of the key the
/// chain names).
async fn may_move_to(
    st: &AppState,
    (account, wallet): (Address, Address),
    req: &MoveWrapsBody,
) -> Result<(), ApiError> {
    let (key, deadline, signature) = (req.encryption_key, req.deadline, &req.signature);
    let bad = |why: String| {
        ApiError::bad_request(
            "bad-signature",
            format!("not this account's signature over moving its wraps to this key: {why}"),
        )
    };
    let signature = hex::decode(signature.trim()).map_err(|e| bad(e.to_string()))?;
    let now = now_secs();
    let too_far = u64::try_from(now).unwrap_or(0) + MOVE_SIGNATURE_MAX_SECS;
    if deadline > too_far {
        return Err(bad(format!(
            "its deadline is more than {MOVE_SIGNATURE_MAX_SECS} s ahead"
        )));
    }
    let message = MoveWrapsMessage {
        chain_id: st.deployment.chain_id,
        contract: st.deployment.address,
        account,
        encryption_key: key,
        deadline,
    };
    message
        .verify_by(&signature, wallet, now)
        .map_err(|e| bad(e.to_string()))?;
    let on_chain = st.ledger.encryption_key_of(account).await?;
    if on_chain != key || key == B256::ZERO {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "key-not-current",
            "the key is not this account's encryption key on chain: rotate it on chain first",
        ));
    }
    Ok(())
}

/// `PUT /api/wraps/mine`: the caller's wraps of the named records replaced by wraps to their
/// rotated key (the same reader, a new key; docs/api.md). All or nothing; each record's patient
/// finds a `rewrap` entry in their log, and a refused move (a bad signature, a key not the one on
/// chain, a record erased or without the caller's wrap) a refused one. The old wraps are gone
/// afterwards: a key that leaked before the rotation opens nothing the escrow releases from then
/// on.
pub async fn move_my_wraps(
    State(st): State<AppState>,
    session: Session,
    crate::error::JsonBody(req): crate::error::JsonBody<MoveWrapsBody>,
) -> Result<Json<WrapsMoved>, ApiError> {
    let reader = session.address;
    // A malformed request names no record it could be logged against.
    let wraps = moved_wraps(&req)?;
    match move_wraps(&st, (reader, session.wallet), &req, &wraps).await {
        Err(e) if e.status.is_client_error() => Err(log_refused_move(&st, reader, &wraps, e).await),
        other => other,
    }
}

/// Logs a refused move against each named record (under its patient, when the index knows it)
/// and returns the refusal.
async fn log_refused_move(
    st: &AppState,
    reader: Address,
    wraps: &[(B256, String)],
    err: ApiError,
) -> ApiError {
    for (record_id, _) in wraps {
        let patient = match st.index.record(*record_id).await {
            Ok(Some(r)) => r.patient,
            _ => Address::ZERO,
        };
        let attempt =
            Attempt::new(st, reader, *record_id, AccessAction::Rewrap).of_patient(patient);
        let logged = attempt.refuse_coded(err.clone()).await;
        if logged != err {
            return logged; // the log is unwritable: that is the answer
        }
    }
    err
}

/// The move itself, once the request is well formed: for the account `reader`, signed by its
/// session's `wallet`.
async fn move_wraps(
    st: &AppState,
    (reader, wallet): (Address, Address),
    req: &MoveWrapsBody,
    wraps: &[(B256, String)],
) -> Result<Json<WrapsMoved>, ApiError> {
    may_move_to(st, (reader, wallet), req).await?;
    let mut patients = Vec::with_capacity(wraps.len());
    for (record_id, _) in wraps {
        match st.index.record(*record_id).await? {
            None => {
                let why = format!("no record {record_id}; nothing was replaced");
                return Err(ApiError::not_found("unknown-record", why));
            }
            Some(r) if r.state == RecordState::Shredded => {
                let why = format!("record {record_id} was erased; nothing was replaced");
                return Err(ApiError::new(StatusCode::GONE, "erased", why));
            }
            Some(r) => patients.push(r.patient),
        }
    }
    let entries = wraps
        .iter()
        .zip(patients)
        .map(|((record_id, _), patient)| NewEntry {
            actor: reader,
            patient,
            record_id: *record_id,
            action: AccessAction::Rewrap,
            granted: true,
            reason: "key-rotated".into(),
            risk: Default::default(),
        })
        .collect();
    // The new wraps and their entries in one transaction: all of them, or nothing replaced.
    let moving = Write::Rewraps(reader, wraps.to_vec());
    match st.log.append_all_with(entries, moving).await {
        Err(AppendError::Db(crate::db::DbError::Stale(_))) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no-wrap-to-move",
                "you hold no wrap of one of these records, or it was erased meanwhile; nothing was replaced",
            ))
        }
        other => logged_all(st, other)?,
    };
    let moved = u64::try_from(wraps.len()).unwrap_or(u64::MAX);
    Ok(Json(WrapsMoved { moved }))
}

/// Inside an emergency window opened on chain by `reader` (a verified practitioner) on `patient`,
/// and only then: opens the DEK the patient's app wrapped to the escrow's break-glass key
/// (`purpose = break-glass`, reader = the escrow account) and re-wraps it (`purpose = reader`) to
/// the practitioner's key registered on chain. `None` when there is no window or no such wrap.
pub(super) async fn break_glass_wrap(
    st: &AppState,
    record: &RecordRow,
    patient: Address,
    reader: Address,
    record_id: B256,
) -> Result<Option<String>, ApiError> {
    use medledger_protocol::wrap::{self, PublicKey, Purpose, WrapContext};
    let escrow = st.deployment.escrow;
    let Some(bg) = st.index.wrapped_dek(record.record_id, escrow).await? else {
        return Ok(None);
    };
    if !st.consent.emergency_open_now(patient, reader).await? {
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
