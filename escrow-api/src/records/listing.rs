//! What a caller lists: a patient's records (those the caller may read), a shred receipt, and a
//! patient's access log with its anchors and Merkle proofs.

use super::*;

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
        let attempt = Attempt::new(&st, session.address, record_id, "receipt");
        return Err(attempt.of_patient(patient).refuse_coded(refusal).await);
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
