//! Records under a Merkle root, end to end on a real chain: a bulk import uploads records naming
//! their place under a root and anchors the root with one `anchorRecordRoot`; the escrow commits
//! what proves a leaf (uploads before the root by the follower, uploads after it at once), refuses
//! what does not, releases each record by `canReadRooted` (to the patient, to a grantee of its
//! category, never to a grantee of another category or a stranger), and shreds on
//! `eraseRootedRecord` with the receipt confirmed on chain by `confirmRootedShredded`, and on
//! `eraseAll` with the rest confirmed by one `confirmRootShredded`.

mod support;

use alloy_primitives::{hex, B256};
use alloy_sol_types::{SolCall, SolError};
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::record_root::{NewRootedRecord, RootedBatch};
use support::*;

/// The upload of `r` as `who`, naming `place` (or `raw` text) as its place under a root.
async fn upload_under(
    w: &World,
    server: &Server,
    who: &User,
    r: &Record,
    place: &str,
) -> reqwest::Response {
    r.upload(server, who, &r.wraps(&w.d, &[who]))
        .header("x-medledger-root", place)
        .send()
        .await
        .expect("upload")
}

async fn state_of(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_import_under_one_root_decided_by_the_consent_index() {
    bulk_import_under_one_root(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_import_under_one_root_decided_by_the_chain() {
    bulk_import_under_one_root(false).await;
}

/// The whole journey, with every consent question answered by the index (`consent_index`) or
/// by `eth_call` (`canReadRooted`, the index off).
async fn bulk_import_under_one_root(consent_index: bool) {
    let (w, server, [patient], [doctor, stranger]) =
        World::signed_in([PATIENT], [DOCTOR, STRANGER_DOCTOR], |c| {
            c.consent_index = consent_index
        })
        .await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Laboratory], false)
        .await;
    let lab = Category::Laboratory;
    let records: Vec<Record> = [lab, lab, Category::Imaging, lab]
        .into_iter()
        .enumerate()
        .map(|(i, c)| w.record(&patient, c, format!("result {i}")))
        .collect();
    let items: Vec<NewRootedRecord> = records
        .iter()
        .map(|r| NewRootedRecord {
            record_id: r.id,
            ciphertext_hash: r.h1,
            category: r.category,
        })
        .collect();
    let batch = RootedBatch::new(&items).expect("a batch");
    let place = |i: u32| batch.place(i).expect("a place").encode();

    // Bad places are refused before a byte is stored.
    let (status, body) =
        state_of(upload_under(&w, &server, &patient, &records[0], "0x12:0:0x").await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad-root")),
        "{body}"
    );

    // Two uploads before the root is anchored: stored pending.
    for (i, r) in (0u32..).zip(&records[..2]) {
        let (status, body) =
            state_of(upload_under(&w, &server, &patient, r, &place(i)).await).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (201, Some("pending")),
            "{body}"
        );
    }
    w.send(&patient, batch.anchor_call(patient.address())).await;
    for r in &records[..2] {
        server.record_in_state(r.id, "committed").await;
    }
    let stored = server
        .index()
        .await
        .record(records[0].id)
        .await
        .expect("index");
    assert_eq!(stored.and_then(|r| r.rooted), batch.place(0));

    // After the root: committed at once when the leaf proves, refused when it does not.
    let (status, body) =
        state_of(upload_under(&w, &server, &patient, &records[2], &place(2)).await).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (201, Some("committed")),
        "{body}"
    );
    let wrong_leaf = upload_under(&w, &server, &patient, &records[3], &place(2)).await;
    let (status, body) = state_of(wrong_leaf).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("not-under-root")),
        "{body}"
    );
    let (status, _) =
        state_of(upload_under(&w, &server, &patient, &records[3], &place(3)).await).await;
    assert_eq!(status, 201);

    // Reads: canReadRooted decides, record by record.
    for (i, r) in (0u32..).zip(&records) {
        let resp = server.read(&patient, r.id).await;
        assert_eq!(resp.status(), 200, "the patient reads record {}", r.id);
        let named = resp
            .headers()
            .get("x-medledger-root")
            .and_then(|v| v.to_str().ok());
        assert_eq!(
            named,
            Some(place(i).as_str()),
            "the read names the record's place"
        );
        assert_eq!(resp.bytes().await.expect("body").as_ref(), r.c1.as_slice());
    }
    let wrap = records[0].wraps(&w.d, &[&doctor]);
    let added = server.add_wraps(&patient, records[0].id, &wrap).await;
    assert_eq!(
        added.status(),
        200,
        "a grantee of laboratory may hold a wrap"
    );
    assert_eq!(server.read(&doctor, records[0].id).await.status(), 200);
    let imaging = records[2].wraps(&w.d, &[&doctor]);
    let refused = server.add_wraps(&patient, records[2].id, &imaging).await;
    assert_eq!(refused.status(), 403, "imaging is not granted: no wrap");
    assert_read_refused(&server, &patient, &doctor, records[2].id, 403, NO_CONSENT).await;
    assert_read_refused(&server, &patient, &stranger, records[0].id, 403, NO_CONSENT).await;
    let listed = server.listed_records(&doctor, patient.address()).await;
    let ids: Vec<B256> = listed
        .iter()
        .filter_map(|r| r["recordId"].as_str()?.parse().ok())
        .collect();
    let lab_ids: Vec<B256> = [0, 1, 3].map(|i| records[i].id).to_vec();
    assert_eq!(
        ids.len(),
        3,
        "the doctor lists the laboratory records only: {listed:#?}"
    );
    assert!(ids.iter().all(|id| lab_ids.contains(id)));
    let first = listed
        .iter()
        .find(|r| r["recordId"] == records[0].id.to_string());
    assert_eq!(
        first.map(|r| r["rooted"].clone()),
        Some(place(0).into()),
        "{listed:#?}"
    );

    // Erasure of one record under the root: shredded, refused, its receipt confirmed on chain.
    let erase = MedLedger::eraseRootedRecordCall {
        root: batch.root(),
        recordId: records[1].id,
    };
    w.send(&patient, erase).await;
    server.record_in_state(records[1].id, "shredded").await;
    assert_eq!(server.read(&patient, records[1].id).await.status(), 410);
    assert_eq!(
        server.read(&patient, records[0].id).await.status(),
        200,
        "its sibling lives"
    );
    let receipt_path = format!("/api/records/{}/receipt", records[1].id);
    eventually("the rooted shred to be confirmed on chain", || async {
        let v = server.get_json(&patient, &receipt_path).await;
        v["confirmTx"].as_str().map(str::to_owned)
    })
    .await;
    // The chain holds the confirmation: a second one is refused with ShredAlreadyConfirmed.
    let again = MedLedger::confirmRootedShreddedCall {
        root: batch.root(),
        recordId: records[1].id,
        receiptHash: B256::repeat_byte(1),
    };
    let call = serde_json::json!([{
        "from": w.d.escrow,
        "to": w.d.address,
        "data": hex::encode_prefixed(SolCall::abi_encode(&again)),
    }, "latest"]);
    let refused = rpc(w.url(), "eth_call", call)
        .await
        .expect_err("a second confirmation");
    let selector = hex::encode(MedLedger::ShredAlreadyConfirmed::SELECTOR);
    assert!(refused.to_string().contains(&selector), "{refused}");
    // eraseAll reaches records under a root too.
    w.send(&patient, MedLedger::eraseAllCall {}).await;
    for i in [0, 2, 3] {
        server.record_in_state(records[i].id, "shredded").await;
    }
    // The three are confirmed together, by one confirmRootShredded for the whole root.
    let mut txs = Vec::new();
    for i in [0, 2, 3] {
        let path = format!("/api/records/{}/receipt", records[i].id);
        let tx = eventually("the root's shred confirmed on chain", || async {
            let v = server.get_json(&patient, &path).await;
            v["confirmTx"].as_str().map(str::to_owned)
        })
        .await;
        txs.push(tx);
    }
    assert!(txs.iter().all(|t| *t == txs[0]), "one transaction: {txs:?}");
    let on_chain = w
        .call(MedLedger::recordRootOfCall { root: batch.root() })
        .await;
    assert!(
        on_chain.shredConfirmed,
        "the root's shred is confirmed on chain"
    );
}
