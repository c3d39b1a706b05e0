//! Reorganisations deeper than the confirmation depth, against a real Ganache: `evm_snapshot`,
//! transactions the escrow follows, `evm_revert`, then other blocks mined at the same heights
//! (other hashes). The follower notices that the block it stopped at has another hash, rewinds
//! to the newest remembered block still on the chain and re-processes: a record committed by a
//! reorganised-out `RecordAdded` goes back to pending, a reorganised-out grant disappears, what
//! the new chain holds is indexed, and a shred is never undone.

mod support;

use alloy_primitives::{Address, B256};
use medledger_escrow_api::db::Index;
use medledger_protocol::contract::{Category, MedLedger};
use serde_json::{json, Value};
use support::*;

async fn grantees_of(server: &Server, patient: &User) -> Vec<Address> {
    let r = patient
        .get(server.url("/api/grants"))
        .send()
        .await
        .expect("grants");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["asPatient"]
        .as_array()
        .expect("list")
        .iter()
        .map(|g| {
            g["grantee"]
                .as_str()
                .expect("grantee")
                .parse()
                .expect("address")
        })
        .collect()
}

async fn state_of(index: &Index, id: B256) -> String {
    index
        .record(id)
        .await
        .expect("index")
        .expect("row")
        .state
        .to_string()
}

async fn head(w: &World) -> u64 {
    let n = rpc(w.url(), "eth_blockNumber", json!([]))
        .await
        .expect("head");
    u64::from_str_radix(n.as_str().expect("hex").trim_start_matches("0x"), 16).expect("number")
}

async fn hash_at(w: &World, n: u64) -> Option<String> {
    let b = rpc(
        w.url(),
        "eth_getBlockByNumber",
        json!([format!("0x{n:x}"), false]),
    )
    .await
    .expect("block");
    b["hash"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorganisation_beyond_the_confirmation_depth_is_rewound_and_replayed() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let doctor = User::new(DOCTOR);
    let second = User::new(STRANGER_DOCTOR);
    w.register(&[&patient], &[&doctor, &second]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    let index = Index::connect(&server.config.database_url())
        .await
        .expect("index");
    let expiry = chain_time(w.url()).await + 86_400;
    let grant = |to: &User| MedLedger::grantCall {
        grantee: to.address(),
        categories: Category::mask([Category::Vitals]),
        allowWrite: false,
        expiry,
    };

    // Before the fork point: a committed record, one to erase later, and a grant.
    let kept = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        vec![1; 300],
    );
    let erased = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        vec![2; 300],
    );
    w.upload_and_anchor(&server, &patient, &[&patient], &kept)
        .await;
    w.upload_and_anchor(&server, &patient, &[&patient], &erased)
        .await;
    w.send(&patient, grant(&doctor)).await;
    eventually("the first grant indexed", || async {
        (grantees_of(&server, &patient).await == vec![doctor.address()]).then_some(())
    })
    .await;

    // The fork point: no later than the snapshot's block (Ganache keeps mining every 100 ms).
    let fork = head(&w).await;
    let snapshot = rpc(w.url(), "evm_snapshot", json!([]))
        .await
        .expect("snapshot");

    // On the branch that will disappear: a record anchored, a second grant, an erasure.
    let orphan = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        vec![3; 300],
    );
    w.upload_and_anchor(&server, &patient, &[&patient], &orphan)
        .await;
    w.send(&patient, grant(&second)).await;
    w.send(
        &patient,
        MedLedger::eraseRecordCall {
            recordId: erased.id,
        },
    )
    .await;
    eventually("the branch indexed", || async {
        let shredded = state_of(&index, erased.id).await == "shredded";
        let granted = grantees_of(&server, &patient).await.len() == 2;
        (shredded && granted).then_some(())
    })
    .await;
    // The escrow's confirmShredded mined on the branch (not in flight when the branch goes).
    eventually("the shred confirmed on the branch", || async {
        let r = w
            .call(MedLedger::recordOfCall {
                recordId: erased.id,
            })
            .await;
        r.shredConfirmed.then_some(())
    })
    .await;
    // Let the follower move past the branch's last transaction.
    let branch_head = head(&w).await;
    eventually("the follower at the branch head", || async {
        let c = index.cursor().await.expect("cursor")?;
        (u64::try_from(c).ok()? > branch_head).then_some(())
    })
    .await;
    let old_hash = hash_at(&w, branch_head).await.expect("block");

    // The fork: back to the snapshot, then other blocks at the same heights (a different grant
    // in the first of them, then Ganache's interval mining).
    assert_eq!(
        rpc(w.url(), "evm_revert", json!([snapshot]))
            .await
            .expect("revert"),
        json!(true)
    );
    w.send(
        &patient,
        MedLedger::grantCall {
            grantee: second.address(),
            categories: Category::mask([Category::Laboratory]),
            allowWrite: false,
            expiry: expiry + 1,
        },
    )
    .await;
    eventually("the new branch to pass the old height", || async {
        (head(&w).await > branch_head + 2).then_some(())
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
        let orphan_pending = state_of(&index, orphan.id).await == "pending";
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
    let r = patient
        .get(server.url(&format!("/api/records/{}", erased.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(r.status(), 410, "a shred is not undone");

    // Anchored again on the new branch, the orphaned record is committed again.
    w.send(
        &patient,
        MedLedger::addRecordCall {
            recordId: orphan.id,
            patient: orphan.patient,
            ciphertextHash: orphan.h1,
            category: orphan.category,
            supersedes: B256::ZERO,
        },
    )
    .await;
    eventually("the record committed on the new branch", || async {
        (state_of(&index, orphan.id).await == "committed").then_some(())
    })
    .await;
    let r = patient
        .get(server.url(&format!("/api/records/{}", orphan.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(r.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_anchors_on_a_reorganised_out_branch_are_anchored_again() {
    use medledger_escrow_api::chain::{Ledger, RpcChain};
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let mut config = w.config();
    config.anchor_interval_secs = 1;
    let server = Server::start(config).await;
    patient.sign_in(&server).await;
    let index = Index::connect(&server.config.database_url())
        .await
        .expect("index");
    let ledger = Ledger::new(std::sync::Arc::new(
        RpcChain::new(w.url(), w.d.address, w.d.chain_id, None).expect("client"),
    ));
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        vec![4; 300],
    );
    w.upload_and_anchor(&server, &patient, &[&patient], &r)
        .await;
    let read = || async {
        let resp = patient
            .get(server.url(&format!("/api/records/{}", r.id)))
            .send()
            .await
            .expect("read");
        assert_eq!(resp.status(), 200);
    };
    // Every entry anchored, in `count` batches on chain and in the index.
    let all_anchored = |count: u64| {
        let (index, ledger) = (&index, &ledger);
        async move {
            let last = index.last_log().await.ok()??.seq;
            let anchor = index.last_anchor().await.ok()??;
            let on_chain = ledger.anchor_count().await.ok()?;
            (anchor.last_seq == last
                && on_chain == count
                && anchor.anchor_index + 1 == i64::try_from(count).ok()?)
            .then_some(anchor)
        }
    };
    read().await;
    eventually("the first batch anchored", || all_anchored(1)).await;
    let snapshot = rpc(w.url(), "evm_snapshot", json!([]))
        .await
        .expect("snapshot");
    read().await;
    read().await;
    let orphaned = eventually("the second batch anchored", || all_anchored(2)).await;
    // The second anchor's transaction goes with the branch.
    assert_eq!(
        rpc(w.url(), "evm_revert", json!([snapshot]))
            .await
            .expect("revert"),
        json!(true)
    );
    assert_eq!(ledger.anchor_count().await.expect("count"), 1);
    // The escrow forgets it and anchors those entries again on the new branch (the same
    // transaction, nonce and data, so often the same hash: Ganache may even answer its receipt
    // from the lost branch before mining it again).
    let started = std::time::Instant::now();
    let again = eventually("the entries anchored again", || all_anchored(2)).await;
    eprintln!("anchored again after {:?}", started.elapsed());
    assert_eq!(again.first_seq, orphaned.first_seq);
    assert_eq!(again.last_seq, orphaned.last_seq);
    let report = medledger_escrow_api::follower::verify_log_with(&index, &ledger)
        .await
        .expect("verify");
    assert!(report.ok(), "{report}");
    assert_eq!(report.anchors, 2);
    // Every entry the patient sees has a proof the contract accepts.
    for e in log_entries(&server, &patient).await {
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
