//! Reorganisations deeper than the confirmation depth, against a real Ganache: `evm_snapshot`,
//! transactions the escrow follows, `evm_revert`, then other blocks mined at the same heights
//! (other hashes). The follower notices that the block it stopped at has another hash, rewinds
//! to the newest remembered block still on the chain and re-processes: a record committed by a
//! reorganised-out `RecordAdded` goes back to pending, a reorganised-out grant disappears, what
//! the new chain holds is indexed, and a shred is never undone. A record under a reorganised-out
//! root goes back to pending too, and is read again once the root is anchored on the new branch.

mod support;

use alloy_primitives::{Address, B256};
use medledger_escrow_api::db::Index;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::record_root::{NewRootedRecord, RootedBatch};
use serde_json::{json, Value};
use support::*;

async fn grantees_of(server: &Server, patient: &User) -> Vec<Address> {
    let v = server.get_ok(patient, "/api/grants").await;
    let address = |g: &Value| g["grantee"].as_str().expect("grantee").parse();
    let grants = v["asPatient"].as_array().expect("list");
    grants
        .iter()
        .map(|g| address(g).expect("address"))
        .collect()
}

async fn state_of(index: &Index, id: B256) -> String {
    let row = index.record(id).await.expect("index").expect("row");
    row.state.to_string()
}

async fn hash_at(w: &World, n: u64) -> Option<String> {
    let b = w
        .rpc("eth_getBlockByNumber", json!([format!("0x{n:x}"), false]))
        .await;
    b["hash"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorganisation_beyond_the_confirmation_depth_is_rewound_and_replayed() {
    let [mut patient, doctor, second] = users([PATIENT, DOCTOR, STRANGER_DOCTOR]);
    let (w, server) = World::serving(&[&patient], &[&doctor, &second], |_| {}).await;
    patient.sign_in(&server).await;
    let index = server.index().await;
    let expiry = w.chain_time().await + 86_400;
    let vitals = [Category::Vitals];

    // Before the fork point: a committed record, one to erase later, and a grant.
    let kept = w.record(&patient, Category::Vitals, vec![1; 300]);
    let erased = w.record(&patient, Category::Vitals, vec![2; 300]);
    for r in [&kept, &erased] {
        w.commit(&server, &patient, &[&patient], r).await;
    }
    w.grant(&patient, &doctor, &vitals, false, expiry).await;
    eventually("the first grant indexed", || async {
        (grantees_of(&server, &patient).await == vec![doctor.address()]).then_some(())
    })
    .await;

    // The fork point: no later than the snapshot's block (Ganache keeps mining every 100 ms).
    let fork_point = w.fork_point().await;
    let fork = fork_point.at;

    // On the branch that will disappear: a record anchored, a record under a root, a second
    // grant, an erasure.
    let orphan = w.record(&patient, Category::Vitals, vec![3; 300]);
    w.commit(&server, &patient, &[&patient], &orphan).await;
    let rooted = w.record(&patient, Category::Vitals, vec![4; 300]);
    let batch = RootedBatch::new(&[NewRootedRecord {
        record_id: rooted.id,
        ciphertext_hash: rooted.h1,
        category: rooted.category,
    }])
    .expect("a batch");
    let place = batch.place(0).expect("a place").encode();
    let upload = rooted.upload(&server, &patient, &rooted.wraps(&w.d, &[&patient]));
    let resp = upload
        .header("x-medledger-root", &place)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 201);
    w.send(&patient, batch.anchor_call(patient.address())).await;
    server.record_in_state(rooted.id, "committed").await;
    w.grant(&patient, &second, &vitals, false, expiry).await;
    w.erase(&patient, erased.id).await;
    eventually("the branch indexed", || async {
        let shredded = state_of(&index, erased.id).await == "shredded";
        let granted = grantees_of(&server, &patient).await.len() == 2;
        (shredded && granted).then_some(())
    })
    .await;
    // The escrow's confirmShredded mined on the branch (not in flight when the branch goes).
    w.shred_confirmed(erased.id).await;
    // Let the follower move past the branch's last transaction.
    let branch_head = w.head().await;
    eventually("the follower at the branch head", || async {
        let c = index.cursor().await.expect("cursor")?;
        (u64::try_from(c).ok()? > branch_head).then_some(())
    })
    .await;
    let old_hash = hash_at(&w, branch_head).await.expect("block");

    // The fork: back to the snapshot, then other blocks at the same heights (a different grant
    // in the first of them, then Ganache's interval mining).
    w.reorganise_to(fork_point).await;
    w.grant(
        &patient,
        &second,
        &[Category::Laboratory],
        false,
        expiry + 1,
    )
    .await;
    eventually("the new branch to pass the old height", || async {
        (w.head().await > branch_head + 2).then_some(())
    })
    .await;
    assert_ne!(
        hash_at(&w, branch_head).await,
        Some(old_hash),
        "a real fork"
    );

    // The follower rewinds and replays the new branch: the orphaned record is pending again, the
    // orphaned grant is replaced by the new branch's (laboratory, not vitals), the erased record
    // stays shredded although the new chain never erased it, and what precedes the fork stays.
    let g = eventually("the rewind", || async {
        let orphan_pending = state_of(&index, orphan.id).await == "pending"
            && state_of(&index, rooted.id).await == "pending";
        let r = patient.get(server.url("/api/grants")).send().await.ok()?;
        let v: Value = r.json().await.ok()?;
        let second_grant = v["asPatient"]
            .as_array()?
            .iter()
            .find(|g| g["grantee"] == second.address().to_checksum(None))?
            .clone();
        (orphan_pending
            && second_grant["categories"] == Category::mask([Category::Laboratory]).to_string())
        .then_some(second_grant)
    })
    .await;
    assert!(g["grantedBlock"].as_u64().expect("block") > fork);
    assert_eq!(g["expiry"], expiry + 1);
    assert_eq!(state_of(&index, kept.id).await, "committed");
    assert_eq!(state_of(&index, erased.id).await, "shredded");
    let erased_on_chain = w
        .call(MedLedger::isErasedCall {
            recordId: erased.id,
        })
        .await;
    assert!(!erased_on_chain, "the new chain never erased it");
    assert_eq!(
        grantees_of(&server, &patient).await,
        vec![doctor.address(), second.address()]
    );
    let r = server.read(&patient, erased.id).await;
    assert_eq!(r.status(), 410, "a shred is not undone");
    let root = index.root(batch.root()).await.expect("index");
    assert_eq!(root, None, "the reorganised-out root is forgotten");
    let r = server.read(&patient, rooted.id).await;
    assert_eq!(r.status(), 403, "the new chain holds no root for it");

    // Anchored again on the new branch, the orphaned record is committed again.
    w.anchor(&patient, &orphan).await;
    eventually("the record committed on the new branch", || async {
        (state_of(&index, orphan.id).await == "committed").then_some(())
    })
    .await;
    assert_eq!(server.read(&patient, orphan.id).await.status(), 200);
    w.send(&patient, batch.anchor_call(patient.address())).await;
    eventually("the root anchored on the new branch", || async {
        (state_of(&index, rooted.id).await == "committed").then_some(())
    })
    .await;
    assert_eq!(server.read(&patient, rooted.id).await.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_anchors_on_a_reorganised_out_branch_are_anchored_again() {
    let (w, server, [patient], []) =
        World::signed_in([PATIENT], [], |c| c.anchor_interval_secs = 1).await;
    let index = server.index().await;
    let ledger = w.ledger();
    let r = w.record(&patient, Category::Vitals, vec![4; 300]);
    w.commit(&server, &patient, &[&patient], &r).await;
    let read = || async {
        assert_eq!(server.read(&patient, r.id).await.status(), 200);
    };
    // Every entry anchored: the index's last anchor covers the last entry and is the chain's
    // last; with how many anchors the chain holds. The escrow anchors every second, so how many
    // batches some entries take depends on the machine's speed: the test counts from what it
    // finds, never a fixed number.
    let all_anchored = || {
        let (index, ledger) = (&index, &ledger);
        async move {
            let last = index.last_log().await.ok()??.seq;
            let anchor = index.last_anchor().await.ok()??;
            let on_chain = ledger.anchor_count().await.ok()?;
            (anchor.last_seq == u64::try_from(last).ok()? && anchor.anchor_index + 1 == on_chain)
                .then_some((anchor, on_chain))
        }
    };
    let anchored_beyond =
        |kept: u64| async move { all_anchored().await.filter(|(_, count)| *count > kept) };
    read().await;
    let (before, kept) = eventually("the entries so far anchored", all_anchored).await;
    let fork = w.fork_point().await;
    read().await;
    read().await;
    let (orphaned, _) = eventually("the new reads anchored", || anchored_beyond(kept)).await;
    // The new anchors' transactions go with the branch (no count of the chain's anchors is
    // asserted here: reorganise_to waits for blocks past the fork, in which the escrow may
    // already anchor again; the first anchor after the fork having index `kept`, below, shows
    // the branch's anchors went).
    w.reorganise_to(fork).await;
    // The escrow forgets them and anchors those entries again on the new branch (the same
    // transactions, nonces and data, so often the same hashes: Ganache may even answer a receipt
    // from the lost branch before mining it again).
    let started = std::time::Instant::now();
    let (again, count) = eventually("the entries anchored again", || anchored_beyond(kept)).await;
    eprintln!("anchored again after {:?}", started.elapsed());
    assert_eq!(again.last_seq, orphaned.last_seq);
    let first_new = index
        .anchor_covering(i64::try_from(before.last_seq + 1).expect("seq"))
        .await
        .expect("index")
        .expect("the first new entry anchored");
    assert_eq!(
        (first_new.anchor_index, first_new.first_seq),
        (kept, before.last_seq + 1),
        "anchored again right after the anchors the branch kept"
    );
    let report = medledger_escrow_api::follower::verify_log_with(&index, &ledger)
        .await
        .expect("verify");
    assert!(report.ok(), "{report}");
    assert_eq!(report.anchors, count);
    // Every entry the patient sees has a proof the contract accepts.
    for e in server.log_entries(&patient).await {
        let anchor = &e["anchor"];
        assert!(anchor.is_object(), "unanchored entry: {e}");
        let proof: Vec<B256> = e["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(|p| p.as_str().expect("hex").parse().expect("hash"))
            .collect();
        let ok = ledger
            .verify_log_entry(
                anchor["index"].as_u64().expect("index"),
                e["seq"].as_u64().expect("seq"),
                e["entryHash"]
                    .as_str()
                    .expect("hash")
                    .parse()
                    .expect("hash"),
                proof,
            )
            .await
            .expect("verifyLogEntry");
        assert!(ok, "{e}");
    }
    server.stop().await;
}
