//! The escrow against a real chain: Ganache from node_modules on a free loopback port, the
//! project's Truffle migration, the escrow in-process on 127.0.0.1:0, SIWE sign-in with Ganache's
//! deterministic keys, accounts and consents set up with real transactions. Walks upload →
//! addRecord → committed → read (patient, granted doctor, Range), every refusal with its status
//! and its access-log entry, revocation, a restart, erasure (blob and keys gone, shred confirmed
//! on chain) and the anchored access log with proofs the contract accepts.

mod support;

use alloy_primitives::{Address, B256};
use alloy_sol_types::SolCall;
use medledger_escrow_api::db::Index;
use medledger_protocol::contract::{Category, MedLedger};
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

async fn json(r: reqwest::Response) -> Value {
    r.json().await.expect("json body")
}

async fn record_state(server: &Server, patient: &User, id: B256) -> Option<String> {
    let r = patient
        .get(server.url("/api/records"))
        .send()
        .await
        .expect("list");
    let v = json(r).await;
    v["records"]
        .as_array()?
        .iter()
        .find(|r| r["recordId"].as_str().and_then(|s| s.parse::<B256>().ok()) == Some(id))
        .and_then(|r| r["state"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_commit_read_refuse_revoke_restart_erase_and_anchor() {
    let ganache = start_ganache().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let deploy_dir = tmp.path().join("deployments");
    std::fs::create_dir_all(&deploy_dir).expect("dir");
    let (d, deployment_file) = migrate(&ganache, &deploy_dir);
    let url = ganache.url.clone();
    let ledger = d.address;

    // The deterministic keys are Ganache's accounts.
    let accounts = rpc(&url, "eth_accounts", serde_json::json!([]))
        .await
        .expect("accounts");
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

    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    let mut stranger = User::new(STRANGER_DOCTOR);
    let mut other_patient = User::new(OTHER_PATIENT);
    let admin = User::new(ADMIN);

    // On chain: two patients, two verified practitioners, a grant (vitals, write) to one.
    for p in [&patient, &other_patient] {
        send(
            &url,
            p.address(),
            ledger,
            MedLedger::registerPatientCall {
                encryptionKey: p.encryption_key(),
            }
            .abi_encode(),
        )
        .await;
    }
    for doc in [&doctor, &stranger] {
        send(
            &url,
            doc.address(),
            ledger,
            MedLedger::applyAsPractitionerCall {
                encryptionKey: doc.encryption_key(),
                profileHash: B256::repeat_byte(1),
            }
            .abi_encode(),
        )
        .await;
        send(
            &url,
            admin.address(),
            ledger,
            MedLedger::verifyAccountCall {
                account: doc.address(),
            }
            .abi_encode(),
        )
        .await;
    }
    let expiry = chain_time(&url).await + 86_400;
    send(
        &url,
        patient.address(),
        ledger,
        MedLedger::grantCall {
            grantee: doctor.address(),
            categories: Category::mask([Category::Vitals]),
            allowWrite: true,
            expiry,
        }
        .abi_encode(),
    )
    .await;

    let data = tmp.path().join("escrow-data");
    let mut config = Server::config(&data, &deployment_file, &url);
    config.anchor_interval_secs = 1;
    let server = Server::start(config).await;

    // Public routes.
    let cfg: Value = json(
        reqwest::get(server.url("/config.json"))
            .await
            .expect("config"),
    )
    .await;
    assert_eq!(cfg["chainId"], 1337);
    assert_eq!(
        cfg["contract"]
            .as_str()
            .and_then(|a| a.parse::<Address>().ok()),
        Some(ledger)
    );
    assert_eq!(
        reqwest::get(server.url("/health"))
            .await
            .expect("health")
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(server.url("/index.html"))
            .await
            .expect("app")
            .status(),
        404,
        "no app dir: a clean 404"
    );

    // No session: refused everywhere but sign-in.
    let anon = User::new(9);
    let r = Record::new(
        &d,
        patient.address(),
        Category::Vitals.number(),
        b"{\"bp\":\"120/80\"}".repeat(400),
    );
    assert_eq!(
        r.upload(&server, &anon, &[])
            .send()
            .await
            .expect("upload")
            .status(),
        401
    );
    assert_eq!(
        anon.get(server.url("/api/records"))
            .send()
            .await
            .expect("list")
            .status(),
        401
    );
    assert_eq!(
        anon.get(server.url("/api/access-log"))
            .send()
            .await
            .expect("log")
            .status(),
        401
    );

    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;
    stranger.sign_in(&server).await;
    other_patient.sign_in(&server).await;

    // Upload by the patient: stored pending; retry is idempotent; another body under the id is refused.
    let wraps = r.wraps(&d, &[&patient, &doctor]);
    let resp = r
        .upload(&server, &patient, &wraps)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let resp = r
        .upload(&server, &patient, &wraps)
        .send()
        .await
        .expect("retry");
    assert_eq!(resp.status(), 200, "same id and h1: idempotent");
    let clash = Record::with_id(
        &d,
        patient.address(),
        Category::Vitals.number(),
        b"other".to_vec(),
        r.id,
    );
    let resp = clash
        .upload(&server, &patient, &clash.wraps(&d, &[&patient]))
        .send()
        .await
        .expect("clash");
    assert_eq!(resp.status(), 409);

    // Content checks: a declared h1 that is not the body's, a body that is not an envelope, too large.
    let bad = Record::new(
        &d,
        patient.address(),
        Category::Vitals.number(),
        b"x".to_vec(),
    );
    let resp = bad
        .upload(&server, &patient, &bad.wraps(&d, &[&patient]))
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
        .header("x-medledger-wrapped-dek", &bad.wraps(&d, &[&patient])[0])
        .body(vec![0u8; 300])
        .send()
        .await
        .expect("not an envelope");
    assert_eq!(resp.status(), 422);
    let big = Record::new(
        &d,
        patient.address(),
        Category::Vitals.number(),
        vec![5u8; 1_100_000],
    );
    let resp = big
        .upload(&server, &patient, &big.wraps(&d, &[&patient]))
        .send()
        .await
        .expect("big");
    assert_eq!(resp.status(), 413);
    // Missing the patient's wrap.
    let resp = bad
        .upload(&server, &patient, &[])
        .send()
        .await
        .expect("no wraps");
    assert_eq!(resp.status(), 400);

    // Not yet anchored: canRead is false on chain, so even the patient is refused (and it is logged).
    let resp = patient
        .get(server.url(&format!("/api/records/{}", r.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(resp.status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        patient.address(),
        r.id,
        "read",
        "no-read-consent",
    )
    .await;

    // addRecord by the patient's wallet; the follower commits the upload.
    send(
        &url,
        patient.address(),
        ledger,
        MedLedger::addRecordCall {
            recordId: r.id,
            patient: patient.address(),
            ciphertextHash: r.h1,
            category: r.category,
            supersedes: B256::ZERO,
        }
        .abi_encode(),
    )
    .await;
    eventually("the upload to be committed", || async {
        (record_state(&server, &patient, r.id).await.as_deref() == Some("committed")).then_some(())
    })
    .await;

    // The patient reads: C1 byte for byte, a DEK wrapped to them that opens it.
    let resp = patient
        .get(server.url(&format!("/api/records/{}", r.id)))
        .send()
        .await
        .expect("read");
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
    assert_eq!(r.open_release(&d, &patient, &wrap, &c1), r.body);

    // Range: the bytes asked for, across a tier-2 chunk boundary.
    let resp = patient
        .get(server.url(&format!("/api/records/{}", r.id)))
        .header("range", "bytes=1000-1100")
        .send()
        .await
        .expect("range");
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
    let resp = patient
        .get(server.url(&format!("/api/records/{}", r.id)))
        .header("range", format!("bytes={total}-"))
        .send()
        .await
        .expect("range");
    assert_eq!(resp.status(), 416);

    // The granted doctor reads and opens with their own key.
    let resp = doctor
        .get(server.url(&format!("/api/records/{}", r.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(resp.status(), 200);
    let wrap = resp.headers()["x-medledger-wrapped-dek"]
        .to_str()
        .expect("ascii")
        .to_string();
    let c1 = resp.bytes().await.expect("body").to_vec();
    assert_eq!(r.open_release(&d, &doctor, &wrap, &c1), r.body);

    // Refusals, each logged: a doctor without a grant, another patient, no session.
    let resp = stranger
        .get(server.url(&format!("/api/records/{}", r.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(resp.status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        stranger.address(),
        r.id,
        "read",
        "no-read-consent",
    )
    .await;
    let resp = other_patient
        .get(server.url(&format!("/api/records/{}", r.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(resp.status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        other_patient.address(),
        r.id,
        "read",
        "no-read-consent",
    )
    .await;
    let resp = anon
        .get(server.url(&format!("/api/records/{}", r.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(resp.status(), 401);
    assert_refusal_logged(&server, &patient, Address::ZERO, r.id, "read", "no-session").await;

    // Listing follows consent: the stranger sees none of the patient's records, the doctor sees this one.
    let v = json(
        stranger
            .get(server.url(&format!("/api/records?patient={}", patient.address())))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(v["records"].as_array().map(Vec::len), Some(0));
    let v = json(
        doctor
            .get(server.url(&format!("/api/records?patient={}", patient.address())))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(v["records"].as_array().map(Vec::len), Some(1));

    // Writes: the granted doctor may upload vitals for the patient; not another category; the
    // stranger not at all. Each refusal logged.
    let by_doctor = Record::new(
        &d,
        patient.address(),
        Category::Vitals.number(),
        b"pulse 60".to_vec(),
    );
    let resp = by_doctor
        .upload(&server, &doctor, &by_doctor.wraps(&d, &[&patient, &doctor]))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 201);
    let lab = Record::new(
        &d,
        patient.address(),
        Category::Laboratory.number(),
        b"hb 14".to_vec(),
    );
    let resp = lab
        .upload(&server, &doctor, &lab.wraps(&d, &[&patient, &doctor]))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        doctor.address(),
        lab.id,
        "upload",
        "no-write-consent",
    )
    .await;
    let resp = lab
        .upload(&server, &stranger, &lab.wraps(&d, &[&patient, &stranger]))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        stranger.address(),
        lab.id,
        "upload",
        "no-write-consent",
    )
    .await;
    // Another patient may not upload into this patient's records.
    let resp = lab
        .upload(
            &server,
            &other_patient,
            &lab.wraps(&d, &[&patient, &other_patient]),
        )
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 403);

    // A shred receipt and the access log are the patient's only.
    let resp = doctor
        .get(server.url(&format!("/api/records/{}/receipt", r.id)))
        .send()
        .await
        .expect("receipt");
    assert_eq!(resp.status(), 403);
    assert!(
        log_entries(&server, &doctor).await.is_empty(),
        "the doctor sees no one else's log"
    );

    // Revocation takes effect at the next block: the doctor is refused, and it is logged.
    send(
        &url,
        patient.address(),
        ledger,
        MedLedger::revokeCall {
            grantee: doctor.address(),
        }
        .abi_encode(),
    )
    .await;
    let resp = doctor
        .get(server.url(&format!("/api/records/{}", r.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(resp.status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        doctor.address(),
        r.id,
        "read",
        "no-read-consent",
    )
    .await;

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
    let resp = patient
        .get(server.url(&format!("/api/records/{}", r.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(
        resp.status(),
        200,
        "the master key and the session survive a restart"
    );
    assert_eq!(resp.bytes().await.expect("body").to_vec(), r.c1);

    // Erasure: canRead false from that block; the follower destroys keys and blob and confirms.
    let blob_dir = data.join("blobs").join("c2").join(r.id.to_string());
    assert!(blob_dir.exists(), "the blob is on disk before erasure");
    send(
        &url,
        patient.address(),
        ledger,
        MedLedger::eraseRecordCall { recordId: r.id }.abi_encode(),
    )
    .await;
    eventually("the shred to be confirmed on chain", || async {
        let rec = call(&url, ledger, MedLedger::recordOfCall { recordId: r.id }).await;
        rec.shredConfirmed.then_some(())
    })
    .await;
    let resp = patient
        .get(server.url(&format!("/api/records/{}", r.id)))
        .send()
        .await
        .expect("read");
    assert_eq!(resp.status(), 410);
    assert_refusal_logged(&server, &patient, patient.address(), r.id, "read", "erased").await;
    let leftover: Vec<_> = std::fs::read_dir(&blob_dir)
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(leftover.is_empty(), "blob files left: {leftover:?}");
    let index = Index::connect(&server.config.database_url())
        .await
        .expect("index");
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
        let resp = patient
            .get(server.url(&format!("/api/records/{}/receipt", r.id)))
            .send()
            .await
            .expect("receipt");
        assert_eq!(resp.status(), 200);
        let receipt = json(resp).await;
        receipt["confirmTx"].is_string().then_some(receipt)
    })
    .await;
    assert_eq!(
        receipt["receipt"]["recordId"].as_str(),
        Some(r.id.to_string().as_str())
    );

    // The access log is anchored; every anchored entry's proof is accepted by the contract.
    let entries = eventually("the patient's entries to be anchored", || async {
        let e = log_entries(&server, &patient).await;
        e.iter().all(|e| !e["anchor"].is_null()).then_some(e)
    })
    .await;
    assert!(entries.len() >= 8, "{entries:#?}");
    for e in &entries {
        let ok = proof_accepted(&url, ledger, e).await;
        assert!(ok, "the contract refuses the proof of {e}");
        // An auditor recomputes the entry's hash from the fields the API returns, by the
        // formula in docs/api.md, with no source code and no other data.
        assert_eq!(e["patient"], patient.address().to_checksum(None), "{e}");
        assert_eq!(audited_entry_hash(e), e["entryHash"], "{e}");
    }
    let report = medledger_escrow_api::follower::verify_log_with(
        &index,
        &medledger_escrow_api::chain::Ledger::new(std::sync::Arc::new(
            medledger_escrow_api::chain::RpcChain::new(&url, ledger, d.chain_id, None)
                .expect("chain"),
        )),
    )
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
    let resp = patient
        .get(server.url("/api/records"))
        .send()
        .await
        .expect("list");
    assert_eq!(resp.status(), 401);
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
