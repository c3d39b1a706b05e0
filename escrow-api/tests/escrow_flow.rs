//! The escrow against a real chain: Ganache from node_modules on a free loopback port, the
//! project's Truffle migration, the escrow in-process on 127.0.0.1:0, SIWE sign-in with Ganache's
//! deterministic keys, accounts and consents set up with real transactions. Walks upload →
//! addRecord → committed → read (patient, granted doctor, Range), every refusal with its status
//! and its access-log entry, revocation, a restart, erasure (blob and keys gone, shred confirmed
//! on chain) and the anchored access log with proofs the contract accepts.

mod support;

use alloy_primitives::{Address, B256};
use medledger_escrow_api::db::Index;
use medledger_protocol::contract::Category;
use serde_json::Value;
use support::*;

/// docs/api.md's entry hash, computed from one entry as `GET /api/access-log` returns it:
/// keccak256(abi.encode(uint64 seq, bytes32 prevHash, uint64 at, address actor, address patient,
/// bytes32 recordId, string action, bool granted, string reason, int64 scoreMilli)).
fn audited_entry_hash(e: &Value) -> Value {
    use alloy_sol_types::SolValue;
    let b32 = |k: &str| -> B256 { e[k].as_str().expect(k).parse().expect(k) };
    let addr = |k: &str| -> Address { e[k].as_str().expect(k).parse().expect(k) };
    let text = |k: &str| e[k].as_str().expect(k).to_string();
    let encoded = (
        e["seq"].as_u64().expect("seq"),
        b32("prevHash"),
        e["at"].as_u64().expect("at"),
        addr("actor"),
        addr("patient"),
        b32("recordId"),
        text("action"),
        e["granted"].as_bool().expect("granted"),
        text("reason"),
        e["scoreMilli"].as_i64().expect("scoreMilli"),
    )
        .abi_encode_params();
    Value::String(alloy_primitives::keccak256(encoded).to_string())
}

/// The state of record `id` as the patient's own listing shows it.
async fn record_state(server: &Server, patient: &User, id: B256) -> Option<String> {
    let v = server.get_json(patient, "/api/records").await;
    v["records"]
        .as_array()?
        .iter()
        .find(|r| r["recordId"].as_str().and_then(|s| s.parse::<B256>().ok()) == Some(id))
        .and_then(|r| r["state"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_commit_read_refuse_revoke_restart_erase_and_anchor() {
    let w = World::new().await;
    let (d, ledger) = (&w.d, w.d.address);

    // The deterministic keys are Ganache's accounts.
    let accounts = w.rpc("eth_accounts", serde_json::json!([])).await;
    for (i, k) in KEYS.iter().enumerate() {
        let s: alloy_signer_local::PrivateKeySigner = k.parse().expect("key");
        let a: Address = accounts[i]
            .as_str()
            .expect("address")
            .parse()
            .expect("address");
        assert_eq!(s.address(), a, "deterministic key {i}");
    }
    assert_eq!(d.escrow, User::new(1).address(), "account 1 is the escrow");

    let [mut patient, mut doctor] = users([PATIENT, DOCTOR]);
    let [mut stranger, mut other_patient] = users([STRANGER_DOCTOR, OTHER_PATIENT]);

    // On chain: two patients, two verified practitioners, a grant (vitals, write) to one.
    w.register(&[&patient, &other_patient], &[&doctor, &stranger])
        .await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], true)
        .await;
    let server = w.serve(|c| c.anchor_interval_secs = 1).await;

    // Public routes.
    let cfg = server.public_json("/config.json").await;
    assert_eq!(cfg["chainId"], 1337);
    assert_eq!(
        cfg["contract"]
            .as_str()
            .and_then(|a| a.parse::<Address>().ok()),
        Some(ledger)
    );
    assert_eq!(
        cfg["insurance"]
            .as_str()
            .and_then(|a| a.parse::<Address>().ok()),
        Some(d.insurance.address),
        "the app learns the insurance contract's address from the deployment"
    );
    assert_ne!(d.insurance.address, ledger);
    assert_eq!(server.public("/health").await.status(), 200);
    assert_eq!(
        server.public("/index.html").await.status(),
        404,
        "no app dir: a clean 404"
    );

    // No session: refused everywhere but sign-in.
    let anon = User::new(9);
    let r = w.record(
        &patient,
        Category::Vitals,
        b"{\"bp\":\"120/80\"}".repeat(400),
    );
    assert_eq!(w.upload(&server, &anon, &[], &r).await.status(), 401);
    assert_eq!(server.get(&anon, "/api/records").await.status(), 401);
    assert_eq!(server.get(&anon, "/api/access-log").await.status(), 401);

    server
        .sign_in([&mut patient, &mut doctor, &mut stranger, &mut other_patient])
        .await;

    // Upload by the patient: stored pending; retry is idempotent; another body under the id is refused.
    let resp = w.upload(&server, &patient, &[&patient, &doctor], &r).await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let resp = w.upload(&server, &patient, &[&patient, &doctor], &r).await;
    assert_eq!(resp.status(), 200, "same id and h1: idempotent");
    let other_body = b"other".to_vec();
    let clash = Record::with_id(d, patient.address(), r.category, other_body, r.id);
    assert_eq!(
        w.upload(&server, &patient, &[&patient], &clash)
            .await
            .status(),
        409
    );

    // Content checks: a declared h1 that is not the body's, a body that is not an envelope, too large.
    let bad = w.record(&patient, Category::Vitals, b"x");
    let resp = bad
        .upload(&server, &patient, &bad.wraps(d, &[&patient]))
        .header("x-medledger-h1", B256::repeat_byte(7).to_string())
        .send()
        .await
        .expect("bad h1");
    assert!(
        resp.status() == 422 || resp.status() == 400,
        "{}",
        resp.status()
    );
    let resp = patient
        .put(server.url(&format!("/api/records/{}", record_id(2))))
        .header("x-medledger-patient", patient.address().to_string())
        .header("x-medledger-category", "1")
        .header("x-medledger-h1", B256::repeat_byte(7).to_string())
        .header("x-medledger-wrapped-dek", &bad.wraps(d, &[&patient])[0])
        .body(vec![0u8; 300])
        .send()
        .await
        .expect("not an envelope");
    assert_eq!(resp.status(), 422);
    let big = w.record(&patient, Category::Vitals, vec![5u8; 1_100_000]);
    assert_eq!(
        w.upload(&server, &patient, &[&patient], &big)
            .await
            .status(),
        413
    );
    // Missing the patient's wrap.
    assert_eq!(w.upload(&server, &patient, &[], &bad).await.status(), 400);

    // Not yet anchored: canRead is false on chain, so even the patient is refused (and it is logged).
    assert_read_refused(&server, &patient, &patient, r.id, 403, NO_CONSENT).await;

    // addRecord by the patient's wallet; the follower commits the upload.
    w.anchor(&patient, &r).await;
    eventually("the upload to be committed", || async {
        (record_state(&server, &patient, r.id).await.as_deref() == Some("committed")).then_some(())
    })
    .await;

    // The patient reads: C1 byte for byte, a DEK wrapped to them that opens it.
    let resp = server.read(&patient, r.id).await;
    assert_eq!(resp.status(), 200);
    let wrap = resp.headers()["x-medledger-wrapped-dek"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(
        resp.headers()["x-medledger-h1"].to_str().expect("ascii"),
        r.h1.to_string()
    );
    let c1 = resp.bytes().await.expect("body").to_vec();
    assert_eq!(c1, r.c1);
    assert_eq!(r.open_release(d, &patient, &wrap, &c1), r.body);

    // Range: the bytes asked for, across a tier-2 chunk boundary.
    let resp = server.read_range(&patient, r.id, "bytes=1000-1100").await;
    assert_eq!(resp.status(), 206);
    let total = r.c1.len();
    assert_eq!(
        resp.headers()["content-range"].to_str().expect("ascii"),
        format!("bytes 1000-1100/{total}")
    );
    assert_eq!(
        resp.bytes().await.expect("body").to_vec(),
        r.c1[1000..=1100].to_vec()
    );
    let resp = server
        .read_range(&patient, r.id, &format!("bytes={total}-"))
        .await;
    assert_eq!(resp.status(), 416);

    // The granted doctor reads and opens with their own key.
    let resp = server.read(&doctor, r.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(r.open(d, &doctor, resp).await, r.body);

    // Refusals, each logged: a doctor without a grant, another patient, no session.
    for refused in [&stranger, &other_patient] {
        assert_read_refused(&server, &patient, refused, r.id, 403, NO_CONSENT).await;
    }
    assert_eq!(server.read(&anon, r.id).await.status(), 401);
    assert_refused(
        &server,
        &patient,
        &Address::ZERO,
        r.id,
        "read",
        "no-session",
    )
    .await;

    // Listing follows consent: the stranger sees none of the patient's records, the doctor sees this one.
    let listing = format!("/api/records?patient={}", patient.address());
    let v = server.get_json(&stranger, &listing).await;
    assert_eq!(v["records"].as_array().map(Vec::len), Some(0));
    let v = server.get_json(&doctor, &listing).await;
    assert_eq!(v["records"].as_array().map(Vec::len), Some(1));

    // Writes: the granted doctor may upload vitals for the patient; not another category; the
    // stranger not at all. Each refusal logged.
    let by_doctor = w.record(&patient, Category::Vitals, b"pulse 60");
    let resp = w
        .upload(&server, &doctor, &[&patient, &doctor], &by_doctor)
        .await;
    assert_eq!(resp.status(), 201);
    let lab = w.record(&patient, Category::Laboratory, b"hb 14");
    for writer in [&doctor, &stranger] {
        let resp = w.upload(&server, writer, &[&patient, writer], &lab).await;
        assert_eq!(resp.status(), 403);
        let no_write = "no-write-consent";
        assert_refused(&server, &patient, writer, lab.id, "upload", no_write).await;
    }
    // Another patient may not upload into this patient's records.
    let resp = w
        .upload(&server, &other_patient, &[&patient, &other_patient], &lab)
        .await;
    assert_eq!(resp.status(), 403);

    // A shred receipt and the access log are the patient's only.
    let receipt_path = format!("/api/records/{}/receipt", r.id);
    assert_eq!(server.get(&doctor, &receipt_path).await.status(), 403);
    assert!(
        server.log_entries(&doctor).await.is_empty(),
        "the doctor sees no one else's log"
    );

    // Revocation takes effect at the next block: the doctor is refused, and it is logged.
    w.revoke(&patient, &doctor).await;
    assert_read_refused(&server, &patient, &doctor, r.id, 403, NO_CONSENT).await;

    // Restart: keys, cursor and log survive; the session too (it is in the index).
    let config = server.stop().await;
    let index = Index::connect(&config.database_url()).await.expect("index");
    let cursor = index
        .cursor()
        .await
        .expect("cursor")
        .expect("a stored cursor");
    assert!(cursor > i64::try_from(d.deploy_block).expect("block"));
    let entries_before = log_entries_count(&index).await;
    drop(index);
    let server = Server::start(config).await;
    let resp = server.read(&patient, r.id).await;
    assert_eq!(
        resp.status(),
        200,
        "the master key and the session survive a restart"
    );
    assert_eq!(resp.bytes().await.expect("body").to_vec(), r.c1);

    // Erasure: canRead false from that block; the follower destroys keys and blob and confirms.
    let stored = server.index().await.record(r.id).await.expect("row");
    let key = stored.and_then(|row| row.blob_key).expect("a blob key");
    let blob_file = w.data.join("blobs").join(&key);
    assert!(blob_file.exists(), "the blob is on disk before erasure");
    w.erase(&patient, r.id).await;
    w.shred_confirmed(r.id).await;
    assert_read_refused(&server, &patient, &patient, r.id, 410, "erased").await;
    // The blob goes after the shred's transaction, which the confirmation may overtake.
    eventually("the erased record's blob deleted", || async {
        (!blob_file.exists()).then_some(())
    })
    .await;
    let index = server.index().await;
    let row = index
        .record(r.id)
        .await
        .expect("row")
        .expect("kept as shredded");
    assert_eq!(row.state.as_str(), "shredded");
    assert_eq!(row.wrapped_k2, None, "K2 destroyed");
    assert_eq!(row.blob_key, None);
    assert_eq!(
        index.count_deks(r.id).await.expect("deks"),
        0,
        "wrapped DEKs destroyed"
    );
    assert!(log_entries_count(&index).await > entries_before);
    // The receipt is there at once; its confirmShredded transaction once a block has mined it.
    let receipt = eventually("the shred confirmation to be mined", || async {
        let resp = server.get(&patient, &receipt_path).await;
        assert_eq!(resp.status(), 200);
        let receipt: Value = resp.json().await.expect("json body");
        receipt["confirmTx"].is_string().then_some(receipt)
    })
    .await;
    assert_eq!(
        receipt["receipt"]["recordId"].as_str(),
        Some(r.id.to_string().as_str())
    );

    // The access log is anchored; every anchored entry's proof is accepted by the contract.
    let entries = eventually("the patient's entries to be anchored", || async {
        let e = server.log_entries(&patient).await;
        e.iter().all(|e| !e["anchor"].is_null()).then_some(e)
    })
    .await;
    assert!(entries.len() >= 8, "{entries:#?}");
    for e in &entries {
        let ok = w.proof_accepted(e).await;
        assert!(ok, "the contract refuses the proof of {e}");
        // An auditor recomputes the entry's hash from the fields the API returns, by the
        // formula in docs/api.md, with no source code and no other data.
        assert_eq!(e["patient"], patient.address().to_checksum(None), "{e}");
        assert_eq!(audited_entry_hash(e), e["entryHash"], "{e}");
    }
    let report = medledger_escrow_api::follower::verify_log_with(&index, &w.ledger())
        .await
        .expect("verify");
    assert!(report.ok(), "{report}");

    // Sign-out ends the session.
    let resp = patient
        .post(server.url("/api/auth/signout"))
        .send()
        .await
        .expect("signout");
    assert_eq!(resp.status(), 200);
    assert_eq!(server.get(&patient, "/api/records").await.status(), 401);
    server.stop().await;
}

async fn log_entries_count(index: &Index) -> i64 {
    index
        .last_log()
        .await
        .expect("log")
        .map(|r| r.seq + 1)
        .unwrap_or(0)
}
