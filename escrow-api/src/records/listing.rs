//! What a caller lists: a patient's records (those the caller may read), a shred receipt, and a
//! patient's access log with its anchors and Merkle proofs.

use medledger_protocol::api::{self, AccessAction, RecordState};

use super::*;
use crate::access_log::MerkleTree;
use crate::db::{db_int, AnchorRow, LogRow};

/// Query of `GET /api/records`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Whose records (default: the caller's own).
    pub patient: Option<String>,
}

/// `GET /api/records?patient=…`: a patient's records the caller may read (the patient sees all
/// of theirs, pending included; anyone else only committed ones `canRead` allows now, asked of
/// the chain in one `canReadMany` call per 256 records rather than one call per record).
pub async fn list(
    State(st): State<AppState>,
    session: Session,
    crate::error::QueryParams(q): crate::error::QueryParams<ListQuery>,
) -> Result<Json<api::RecordList>, ApiError> {
    let patient: Address = match q.patient {
        Some(p) => p
            .parse()
            .map_err(|_| ApiError::bad_request("bad-patient", "patient is not an address"))?,
        None => session.address,
    };
    Ok(Json(records_for(&st, session.address, patient).await?))
}

/// What `caller` lists of `patient`'s records (see [`list`]).
async fn records_for(
    st: &AppState,
    caller: Address,
    patient: Address,
) -> Result<api::RecordList, ApiError> {
    let mut rows = st.index.records_of(patient).await?;
    if caller != patient {
        rows.retain(|r| r.state == RecordState::Committed);
        let allowed = readable(st, caller, patient, &rows).await?;
        let mut allowed = allowed.into_iter();
        rows.retain(|_| allowed.next().unwrap_or(false));
    }
    // The caller's own wrap and the sealed label: together they name the record in the caller's
    // browser (protocol::label); neither opens its content, which only a logged read releases.
    let mut wraps = st.index.wrapped_deks_of(patient, caller).await?;
    let records = rows
        .into_iter()
        .map(|r| {
            let wrap = wraps.remove(&r.record_id);
            api::RecordSummary {
                record_id: r.record_id,
                patient: r.patient,
                author: r.author,
                category: r.category,
                h1: r.h1,
                size: r.size,
                state: r.state,
                created: u64::try_from(r.created).unwrap_or(0),
                wrapped_to_you: wrap.is_some(),
                label: wrap.as_ref().and(r.label),
                wrapped_dek: wrap,
                rooted: r.rooted,
            }
        })
        .collect();
    Ok(api::RecordList { records })
}

/// Whether `caller` may read each of `patient`'s `rows`, index for index: the records anchored
/// alone by one `canReadMany`, the records under roots by `canReadRooted` each, both in one look
/// at the consent index when it holds the head.
async fn readable(
    st: &AppState,
    caller: Address,
    patient: Address,
    rows: &[RecordRow],
) -> Result<Vec<bool>, ApiError> {
    let mut alone = Vec::new();
    let mut rooted = Vec::new();
    for r in rows {
        match &r.rooted {
            None => alone.push(r.record_id),
            Some(p) => rooted.push((
                p.root,
                p.leaf(r.record_id, r.h1, r.category),
                p.proof.clone(),
            )),
        }
    }
    let consent = &st.consent;
    let mut alone = match alone.is_empty() {
        true => Vec::new(),
        false => consent.can_read_many_now(patient, caller, &alone).await?,
    }
    .into_iter();
    let mut rooted = match rooted.is_empty() {
        true => Vec::new(),
        false => {
            consent
                .can_read_rooted_many_now(patient, caller, &rooted)
                .await?
        }
    }
    .into_iter();
    let mut next = |r: &RecordRow| match r.rooted {
        None => alone.next(),
        Some(_) => rooted.next(),
    };
    Ok(rows.iter().map(|r| next(r).unwrap_or(false)).collect())
}

/// `GET /api/records/{id}/receipt`: the signed shred receipt of an erased record, for its
/// patient.
pub async fn receipt(
    State(st): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record_id = parse_record_id(&id)?;
    let Some(record) = st.index.record(record_id).await? else {
        return Err(ApiError::not_found("unknown-record", "no such record"));
    };
    if record.patient != session.address {
        let refusal = ApiError::forbidden(
            "not-your-record",
            "only the record's patient sees its receipt",
        );
        let attempt = Attempt::new(&st, session.address, record_id, AccessAction::Receipt);
        return Err(attempt
            .of_patient(record.patient)
            .refuse_coded(refusal)
            .await);
    }
    let Some((receipt, signature, hash, tx)) = st.index.receipt(record_id).await? else {
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
) -> Result<Json<api::AccessLog>, ApiError> {
    let rows = st
        .index
        .log_of_patient(&session.address.to_checksum(None))
        .await?;
    let mut batches = Batches::default();
    let mut entries = Vec::with_capacity(rows.len());
    for r in rows {
        let mut entry = log_entry_of(&r)?;
        if let Some((anchor, tree)) = batches.covering(&st, r.seq).await? {
            let i = u64::try_from(r.seq)
                .unwrap_or(0)
                .saturating_sub(anchor.first_seq);
            entry.proof = tree
                .as_ref()
                .map(|t| t.proof(usize::try_from(i).unwrap_or(0)));
            entry.anchor = Some(log_anchor_of(anchor));
        }
        entries.push(entry);
    }
    let gaps = log_gaps(&st).await?;
    Ok(Json(api::AccessLog { entries, gaps }))
}

/// The anchored batches an access-log listing has met, each with its Merkle tree (none when the
/// batch lost entries in a restore: it then proves none of the rest).
#[derive(Default)]
struct Batches {
    trees: BTreeMap<u64, (AnchorRow, Option<MerkleTree>)>,
}

impl Batches {
    /// The batch covering entry `seq`, built on first use.
    async fn covering(
        &mut self,
        st: &AppState,
        seq: i64,
    ) -> Result<Option<&(AnchorRow, Option<MerkleTree>)>, ApiError> {
        let Some(a) = st.index.anchor_covering(seq).await? else {
            return Ok(None);
        };
        if let std::collections::btree_map::Entry::Vacant(slot) = self.trees.entry(a.anchor_index) {
            let (first, last) = (db_int(a.first_seq), db_int(a.last_seq));
            let batch = st.index.log_range(first, last).await?;
            let tree = crate::access_log::tree_of(&batch)
                .map_err(|e| ApiError::internal("access log", &e))?
                .ok_or_else(|| ApiError::internal("access log", &"empty anchored batch"))?;
            let whole = tree.root() == a.root;
            slot.insert((a.clone(), whole.then_some(tree)));
        }
        Ok(self.trees.get(&a.anchor_index))
    }
}

/// An index row as the API's log entry (no anchor or proof yet).
pub fn log_entry_of(r: &LogRow) -> Result<api::LogEntry, ApiError> {
    let corrupt = |what: &str| ApiError::internal("index", &format!("access log {what}"));
    let b256 = |s: &str, what| s.parse::<B256>().map_err(|_| corrupt(what));
    let address = |s: &str, what| s.parse::<Address>().map_err(|_| corrupt(what));
    Ok(api::LogEntry {
        seq: u64::try_from(r.seq).map_err(|_| corrupt("seq"))?,
        at: u64::try_from(r.at).unwrap_or(0),
        actor: address(&r.actor, "actor")?,
        patient: address(&r.patient, "patient")?,
        record_id: b256(&r.record_id, "record id")?,
        action: AccessAction::parse(&r.action).ok_or_else(|| corrupt("action"))?,
        granted: r.granted,
        reason: r.reason.clone(),
        score_milli: r.score_milli,
        flagged: r.flagged,
        // Words beside the entry: a malformed list is shown as none rather than failing the log.
        reasons: r
            .reasons
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default(),
        prev_hash: Some(b256(&r.prev_hash, "previous hash")?),
        entry_hash: b256(&r.entry_hash, "entry hash")?,
        anchor: None,
        proof: None,
    })
}

/// An anchor row as the API shows it.
pub fn log_anchor_of(a: &AnchorRow) -> api::LogAnchor {
    api::LogAnchor {
        index: a.anchor_index,
        root: a.root,
        first_seq: a.first_seq,
        last_seq: a.last_seq,
        tx: a.tx_hash,
    }
}

/// The access log's declared gaps (entries a restore lost), for everyone who reads a log: the
/// lost entries may have been anyone's.
pub async fn log_gaps(st: &AppState) -> Result<Vec<api::LogGap>, ApiError> {
    let rows = st.index.log_gaps().await?;
    let number = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(rows
        .iter()
        .filter_map(|r| {
            let (first, last) = crate::access_log::declared_gap(r)?;
            Some(api::LogGap {
                first_seq: number(first),
                last_seq: number(last),
                declared_at: number(r.at),
                seq: number(r.seq),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    mod listing {
        //! A listing on a scripted chain: one `canReadMany` per 256 records decides, pending
        //! uploads are the patient's alone, and each row carries the caller's own wrap.
        use super::super::*;
        use crate::chain::scripted::{escrow_on, Script};
        use crate::db::{DekRow, RecordRow};

        const PATIENT: Address = Address::repeat_byte(0x0a);
        const READER: Address = Address::repeat_byte(0x0b);

        fn id(n: u16) -> B256 {
            let mut b = [0x33u8; 32];
            b[..2].copy_from_slice(&n.to_be_bytes());
            B256::from(b)
        }

        async fn stored(st: &AppState, n: u16, state: RecordState, wrapped_to: &[Address]) {
            let row = RecordRow {
                record_id: id(n),
                patient: PATIENT,
                author: PATIENT,
                category: 1,
                h1: B256::repeat_byte(0x61),
                size: 10,
                blob_key: Some(format!("c2/{n}")),
                c2_size: 10,
                wrapped_k2: Some("0x00".into()),
                state,
                created: i64::from(n),
                committed_block: None,
                label: None,
                rooted: None,
            };
            let deks: Vec<DekRow> = wrapped_to
                .iter()
                .map(|reader| DekRow {
                    reader: *reader,
                    wrap: format!("0x{n:04x}"),
                })
                .collect();
            st.index.insert_pending(&row, &deks).await.expect("insert");
        }

        #[tokio::test]
        async fn a_reader_lists_exactly_what_the_chain_lets_them_read_with_their_own_wraps() {
            let (_dir, chain, st) = escrow_on(Script::default()).await;
            // 300 committed records: more than one canReadMany batch.
            for n in 0..300 {
                stored(&st, n, RecordState::Committed, &[PATIENT, READER]).await;
            }
            stored(&st, 300, RecordState::Pending, &[PATIENT, READER]).await;
            let readable = [3u16, 255, 256, 299, 300];
            chain.edit(|s| {
                for n in readable {
                    s.readable.insert((PATIENT, READER, id(n)));
                }
            });
            let seen = records_for(&st, READER, PATIENT).await.expect("listed");
            let ids: Vec<B256> = seen.records.iter().map(|r| r.record_id).collect();
            // Newest first, as the index lists them; the pending upload is not listed to a
            // reader, whatever the chain would say.
            assert_eq!(ids, [299u16, 256, 255, 3].map(id));
            for r in &seen.records {
                assert!(r.wrapped_to_you);
                let n = u16::from_be_bytes([r.record_id[0], r.record_id[1]]);
                assert_eq!(
                    r.wrapped_dek.as_deref(),
                    Some(format!("0x{n:04x}").as_str())
                );
            }

            let stranger = Address::repeat_byte(0x0c);
            let none = records_for(&st, stranger, PATIENT).await.expect("listed");
            assert!(none.records.is_empty(), "no consent, nothing listed");

            let own = records_for(&st, PATIENT, PATIENT).await.expect("listed");
            assert_eq!(
                own.records.len(),
                301,
                "the patient sees all, pending included"
            );
            assert!(own.records.iter().all(|r| r.wrapped_to_you));

            chain.edit(|s| s.reachable = false);
            let err = records_for(&st, READER, PATIENT)
                .await
                .expect_err("no chain, no listing");
            assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        }
    }

    fn anchor(tx_hash: Option<B256>) -> AnchorRow {
        AnchorRow {
            anchor_index: 2,
            first_seq: 10,
            last_seq: 19,
            root: B256::repeat_byte(0x33),
            tx_hash,
        }
    }

    // A stored transaction that is neither empty nor a hash is refused where the row is read
    // (db::tests, `anchors_are_stored_typed_and_a_batch_without_its_transaction_still_reads`).
    #[test]
    fn an_anchor_found_on_chain_after_a_restore_has_no_transaction_and_is_still_shown() {
        let tx = B256::repeat_byte(0x44);
        let seen = log_anchor_of(&anchor(Some(tx)));
        assert_eq!((seen.index, seen.first_seq, seen.last_seq), (2, 10, 19));
        assert_eq!(seen.root, B256::repeat_byte(0x33));
        assert_eq!(seen.tx, Some(tx));
        // Reconciled from the chain: the escrow never saw the transaction.
        assert_eq!(log_anchor_of(&anchor(None)).tx, None);
    }
}
