//! Refusals and failure modes against a real chain: forged, replayed and mismatched SIWE
//! sign-ins and session expiry; an expired grant; erase-everything; pending uploads that expire;
//! fail-closed reads when the chain is unreachable or the access log unwritable; a tampered blob
//! and a tampered log row detected.

mod support;

use std::time::Duration;

use alloy_primitives::{Address, B256};
use medledger_escrow_api::chain::{Ledger, RpcChain};
use medledger_escrow_api::db::Index;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::identity::format_rfc3339;
use serde_json::{json, Value};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refusals_and_session_expiry() {
    let w = World::new().await;
    let mut config = w.config();
    config.session_ttl_secs = 3;
    let config_ttl = config.session_ttl_secs;
    let server = Server::start(config).await;
    let mut patient = User::new(PATIENT);
    let stranger = User::new(STRANGER_DOCTOR);
    let now = medledger_escrow_api::now_secs();

    // A good sign-in, then the same signed message again: the nonce is spent.
    let msg = patient.siwe(&server).await.to_string();
    let signer = patient.signer.clone();
    assert_eq!(
        patient.post_siwe(&server, &msg, &signer).await.status(),
        200
    );
    let replay = patient.post_siwe(&server, &msg, &signer).await;
    assert_eq!(replay.status(), 403);
    let v: Value = replay.json().await.expect("json");
    assert_eq!(v["error"], "siwe-nonce");

    // Another domain, another chain, another signer, expired, a nonce never issued.
    let mut m = patient.siwe(&server).await;
    m.domain = "evil.example".into();
    assert_eq!(
        patient
            .post_siwe(&server, &m.to_string(), &signer)
            .await
            .status(),
        403
    );
    let mut m = patient.siwe(&server).await;
    m.chain_id = 1;
    assert_eq!(
        patient
            .post_siwe(&server, &m.to_string(), &signer)
            .await
            .status(),
        403
    );
    let m = patient.siwe(&server).await;
    let forged = patient
        .post_siwe(&server, &m.to_string(), &stranger.signer)
        .await;
    assert_eq!(
        forged.status(),
        403,
        "signed by someone else than the address"
    );
    let mut m = patient.siwe(&server).await;
    m.issued_at = format_rfc3339(now - 20);
    m.expiration_time = Some(format_rfc3339(now - 10));
    assert_eq!(
        patient
            .post_siwe(&server, &m.to_string(), &signer)
            .await
            .status(),
        403
    );
    let mut m = patient.siwe(&server).await;
    m.nonce = "abcdefgh12345678".into();
    assert_eq!(
        patient
            .post_siwe(&server, &m.to_string(), &signer)
            .await
            .status(),
        403
    );
    let bad = patient.post_siwe(&server, "hello", &signer).await;
    assert_eq!(bad.status(), 400);
    let resp = patient
        .http
        .post(server.url("/api/auth/verify"))
        .json(&json!({"message": patient.siwe(&server).await.to_string(), "signature": "0x1234"}))
        .send()
        .await
        .expect("verify");
    assert!(resp.status() == 403 || resp.status() == 400);

    // A forged cookie is no session.
    let mut fake = User::new(PATIENT);
    fake.cookie = Some(format!("medledger_session={}", "ab".repeat(32)));
    assert_eq!(
        fake.get(server.url("/api/auth/session"))
            .send()
            .await
            .expect("s")
            .status(),
        401
    );

    // Sessions expire. A session lives `session_ttl_secs` by the server's wall clock, so "still
    // valid" is only asserted of a look taken inside that window; then the test waits for the
    // expiry itself instead of sleeping past it.
    let ttl = Duration::from_secs(u64::try_from(config_ttl).expect("ttl"));
    let who: Value = within_window(ttl, "a sign-in and a look at the session", async || {
        patient.sign_in(&server).await;
        patient
            .get(server.url("/api/auth/session"))
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json")
    })
    .await;
    assert_eq!(
        who["address"]
            .as_str()
            .and_then(|a| a.parse::<Address>().ok()),
        Some(patient.address())
    );
    eventually("the session to expire", || async {
        let status = patient
            .get(server.url("/api/auth/session"))
            .send()
            .await
            .expect("s")
            .status();
        (status == 401).then_some(())
    })
    .await;
    server.stop().await;

    // Rate limits: per address once signed in, per IP for the sign-in steps.
    let mut config = Server::config(&w.tmp.path().join("limited"), &w.deployment_file, w.url());
    config.rate_limit_per_minute = 6;
    config.rate_limit_burst = 4;
    let server = Server::start(config).await;
    let mut limited = User::new(PATIENT);
    limited.sign_in(&server).await; // nonce + verify: two of this IP's four
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = limited
            .get(server.url("/api/auth/session"))
            .send()
            .await
            .expect("s");
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..4], &[200, 200, 200, 200], "{statuses:?}");
    assert_eq!(statuses[4], 429, "{statuses:?}");
    let other = User::new(DOCTOR);
    let n1 = other
        .get(server.url("/api/auth/nonce"))
        .send()
        .await
        .expect("n")
        .status();
    let n2 = other
        .get(server.url("/api/auth/nonce"))
        .send()
        .await
        .expect("n")
        .status();
    let n3 = other
        .get(server.url("/api/auth/nonce"))
        .send()
        .await
        .expect("n")
        .status();
    assert_eq!(
        (n1.as_u16(), n2.as_u16(), n3.as_u16()),
        (200, 200, 429),
        "the IP's sign-in budget"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_grant_erase_all_and_pending_ttl() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    w.register(&[&patient], &[&doctor]).await;
    let mut config = w.config();
    config.pending_ttl_secs = 2;
    let pending_ttl = config.pending_ttl_secs;
    let server = Server::start(config).await;
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;

    let chain_now = chain_time(w.url()).await;
    w.send(
        &patient,
        MedLedger::grantCall {
            grantee: doctor.address(),
            categories: Category::mask([Category::Vitals]),
            allowWrite: false,
            expiry: chain_now + 600,
        },
    )
    .await;
    let r1 = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        b"one".repeat(100),
    );
    let r2 = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        b"two".repeat(100),
    );
    w.upload_and_anchor(&server, &patient, &[&patient, &doctor], &r1)
        .await;
    w.upload_and_anchor(&server, &patient, &[&patient, &doctor], &r2)
        .await;
    let read = |who: &User, id: B256| who.get(server.url(&format!("/api/records/{id}"))).send();
    assert_eq!(read(&doctor, r1.id).await.expect("read").status(), 200);

    // The grant expires (chain time moves on): refused and logged.
    rpc(w.url(), "evm_increaseTime", json!([3600]))
        .await
        .expect("increase time");
    rpc(w.url(), "evm_mine", json!([])).await.expect("mine");
    assert_eq!(read(&doctor, r1.id).await.expect("read").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        doctor.address(),
        r1.id,
        "read",
        "no-read-consent",
    )
    .await;

    // A pending upload that is never anchored is removed after the TTL, blob included. The TTL
    // runs on the server's wall clock: that the blob was there is only asserted of a look taken
    // inside it.
    let index = Index::connect(&server.config.database_url())
        .await
        .expect("index");
    let ttl = Duration::from_secs(u64::try_from(pending_ttl).expect("ttl"));
    let (r3, blob_dir, stored) =
        within_window(ttl, "an upload and a look at its blob", async || {
            let r3 = Record::new(
                &w.d,
                patient.address(),
                Category::Vitals.number(),
                b"three".to_vec(),
            );
            let resp = r3
                .upload(&server, &patient, &r3.wraps(&w.d, &[&patient]))
                .send()
                .await
                .expect("upload");
            assert_eq!(resp.status(), 201);
            let blob_dir = w.data.join("blobs/c2").join(r3.id.to_string());
            let stored = blob_dir.exists();
            (r3, blob_dir, stored)
        })
        .await;
    assert!(stored, "the pending upload's blob was not stored");
    eventually("the pending upload to expire", || async {
        index
            .record(r3.id)
            .await
            .expect("row")
            .is_none()
            .then_some(())
    })
    .await;
    let left: Vec<_> = std::fs::read_dir(&blob_dir)
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "blob left after the TTL: {left:?}");

    // Erase everything: both records shredded and confirmed on chain.
    w.send(&patient, MedLedger::eraseAllCall {}).await;
    for r in [&r1, &r2] {
        eventually("the shred to be confirmed", || async {
            w.call(MedLedger::recordOfCall { recordId: r.id })
                .await
                .shredConfirmed
                .then_some(())
        })
        .await;
        let row = index.record(r.id).await.expect("row").expect("kept");
        assert_eq!(row.state.as_str(), "shredded");
        assert_eq!(row.wrapped_k2, None);
        assert_eq!(index.count_deks(r.id).await.expect("deks"), 0);
        assert_eq!(read(&patient, r.id).await.expect("read").status(), 410);
        assert_refusal_logged(&server, &patient, patient.address(), r.id, "read", "erased").await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_and_tampering_detected() {
    let mut w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let mut config = w.config();
    config.anchor_interval_secs = 0;
    let server = Server::start(config).await;
    patient.sign_in(&server).await;
    let r1 = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        b"intact".repeat(500),
    );
    let r2 = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        b"tamper".repeat(500),
    );
    w.upload_and_anchor(&server, &patient, &[&patient], &r1)
        .await;
    w.upload_and_anchor(&server, &patient, &[&patient], &r2)
        .await;
    let read = |id: B256| {
        patient
            .get(server.url(&format!("/api/records/{id}")))
            .send()
    };

    // A blob changed on disk fails tier-2 authentication: the release breaks off, never the
    // whole record with altered bytes.
    let dir = w.data.join("blobs/c2").join(r2.id.to_string());
    let file = std::fs::read_dir(&dir)
        .expect("blob dir")
        .next()
        .expect("a blob")
        .expect("entry")
        .path();
    let mut bytes = std::fs::read(&file).expect("blob");
    let at = bytes.len() - 20;
    bytes[at] ^= 1;
    std::fs::write(&file, &bytes).expect("tamper");
    // (A client of its own: the broken-off connection is not reused.)
    let mut isolated = User::new(PATIENT);
    isolated.cookie = patient.cookie.clone();
    // The response may break off before or after its head is sent, depending on buffering;
    // either way the record is never delivered whole.
    let sent = isolated
        .get(server.url(&format!("/api/records/{}", r2.id)))
        .send()
        .await;
    if let Ok(resp) = sent {
        let body = resp.bytes().await;
        assert!(
            body.is_err()
                || body
                    .as_ref()
                    .map(|b| b.len() < r2.c1.len())
                    .unwrap_or(false),
            "a tampered blob must not be released as the record"
        );
    }

    // The access log cannot be written: nothing is released.
    let pool = sqlx::AnyPool::connect(&server.config.database_url())
        .await
        .expect("pool");
    let postgres = server.config.database_url().starts_with("postgres");
    if postgres {
        sqlx::query("CREATE FUNCTION block_log() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'log disk full'; END $$ LANGUAGE plpgsql")
            .execute(&pool)
            .await
            .expect("function");
        sqlx::query("CREATE TRIGGER block_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION block_log()")
            .execute(&pool)
            .await
            .expect("trigger");
    } else {
        sqlx::query("CREATE TRIGGER block_log BEFORE INSERT ON access_log BEGIN SELECT RAISE(ABORT, 'log disk full'); END")
            .execute(&pool)
            .await
            .expect("trigger");
    }
    let resp = read(r1.id).await.expect("read");
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"], "log-unavailable");
    let drop = if postgres {
        "DROP TRIGGER block_log ON access_log"
    } else {
        "DROP TRIGGER block_log"
    };
    sqlx::query(drop)
        .execute(&pool)
        .await
        .expect("drop trigger");
    let resp = read(r1.id).await.expect("read");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.expect("body").to_vec(), r1.c1);

    // The log verifies; a changed row is found.
    let index = Index::connect(&server.config.database_url())
        .await
        .expect("index");
    let ledger = Ledger::new(std::sync::Arc::new(
        RpcChain::new(w.url(), w.d.address, w.d.chain_id, None).expect("chain"),
    ));
    let report = medledger_escrow_api::follower::verify_log_with(&index, &ledger)
        .await
        .expect("verify");
    assert!(report.ok(), "{report}");
    sqlx::query("UPDATE access_log SET reason = 'consent' WHERE seq = 1")
        .execute(&pool)
        .await
        .expect("tamper");
    let report = medledger_escrow_api::follower::verify_log_with(&index, &ledger)
        .await
        .expect("verify");
    assert!(!report.ok(), "a changed log row must be detected");
    assert!(report.to_string().contains("entry 1"), "{report}");
    sqlx::query("DELETE FROM access_log WHERE seq >= 1")
        .execute(&pool)
        .await
        .expect("truncate");

    // The chain is unreachable: nothing is released, and the refusal is logged.
    w.ganache.kill();
    let resp = read(r1.id).await.expect("read");
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"], "chain-unavailable");
    assert_refusal_logged(
        &server,
        &patient,
        patient.address(),
        r1.id,
        "read",
        "chain-unavailable",
    )
    .await;
    let health = reqwest::get(server.url("/health")).await.expect("health");
    assert_eq!(health.status(), 503);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wraps_for_a_new_grantee_only_by_the_patient_only_to_granted_readers() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    let mut stranger = User::new(STRANGER_DOCTOR);
    w.register(&[&patient], &[&doctor, &stranger]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;
    stranger.sign_in(&server).await;
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::Imaging.number(),
        b"scan".repeat(200),
    );
    w.upload_and_anchor(&server, &patient, &[&patient], &r)
        .await;
    let expiry = chain_time(w.url()).await + 86_400;
    w.send(
        &patient,
        MedLedger::grantCall {
            grantee: doctor.address(),
            categories: Category::mask([Category::Imaging]),
            allowWrite: false,
            expiry,
        },
    )
    .await;

    // Granted, but no key wrapped to the doctor yet: refused (logged), and listed as missing.
    let read = |u: &User| u.get(server.url(&format!("/api/records/{}", r.id))).send();
    assert_eq!(read(&doctor).await.expect("read").status(), 404);
    assert_refusal_logged(
        &server,
        &patient,
        doctor.address(),
        r.id,
        "read",
        "no-wrapped-key",
    )
    .await;
    let missing: Value = patient
        .get(server.url("/api/wraps/missing"))
        .send()
        .await
        .expect("missing")
        .json()
        .await
        .expect("json");
    let missing = missing["missing"].as_array().expect("list").clone();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(
        missing[0]["grantee"]
            .as_str()
            .and_then(|a| a.parse::<Address>().ok()),
        Some(doctor.address())
    );

    let add = |who: &User, wraps: Vec<String>| {
        who.post(server.url(&format!("/api/records/{}/wraps", r.id)))
            .json(&json!({ "wraps": wraps }))
            .send()
    };
    // Not the patient: refused and logged.
    let resp = add(&doctor, r.wraps(&w.d, &[&doctor])).await.expect("add");
    assert_eq!(resp.status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        doctor.address(),
        r.id,
        "add-wrap",
        "not-your-record",
    )
    .await;
    // To a reader without consent: refused and logged.
    let resp = add(&patient, r.wraps(&w.d, &[&stranger]))
        .await
        .expect("add");
    assert_eq!(resp.status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        patient.address(),
        r.id,
        "add-wrap",
        "reader-not-granted",
    )
    .await;
    assert_eq!(read(&stranger).await.expect("read").status(), 403);
    // To the grantee: accepted; the doctor reads and opens the record.
    let resp = add(&patient, r.wraps(&w.d, &[&doctor])).await.expect("add");
    assert_eq!(resp.status(), 200);
    let resp = read(&doctor).await.expect("read");
    assert_eq!(resp.status(), 200);
    let wrap = resp.headers()["x-medledger-wrapped-dek"]
        .to_str()
        .expect("ascii")
        .to_string();
    let c1 = resp.bytes().await.expect("body").to_vec();
    assert_eq!(r.open_release(&w.d, &doctor, &wrap, &c1), r.body);
    let missing: Value = patient
        .get(server.url("/api/wraps/missing"))
        .send()
        .await
        .expect("missing")
        .json()
        .await
        .expect("json");
    assert_eq!(missing["missing"].as_array().map(Vec::len), Some(0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_only_inside_an_open_emergency_window() {
    use medledger_protocol::wrap::{self, PublicKey, Purpose, WrapContext};
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    let mut stranger = User::new(STRANGER_DOCTOR);
    w.register(&[&patient], &[&doctor, &stranger]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;
    stranger.sign_in(&server).await;

    // The patient opts in; the app wraps the DEK to the escrow's break-glass key too.
    w.send(&patient, MedLedger::setEmergencyOptInCall { optedIn: true })
        .await;
    let cfg: Value = reqwest::get(server.url("/config.json"))
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
    let bg_key: B256 = cfg["breakGlassKey"]
        .as_str()
        .expect("key")
        .parse()
        .expect("hex");
    let bg_reader: Address = cfg["breakGlassReader"]
        .as_str()
        .expect("reader")
        .parse()
        .expect("address");
    assert_eq!(bg_reader, w.d.escrow);
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::History.number(),
        b"allergy: penicillin".repeat(50),
    );
    let bg_wrap = wrap::wrap_dek(
        &r.dek,
        &PublicKey(bg_key.0),
        &WrapContext {
            chain_id: w.d.chain_id,
            contract: w.d.address,
            record_id: r.id,
            reader: bg_reader,
            purpose: Purpose::BreakGlass,
        },
    )
    .expect("wrap");
    let mut wraps = r.wraps(&w.d, &[&patient]);
    wraps.push(format!(
        "{bg_reader}={}",
        alloy_primitives::hex::encode_prefixed(bg_wrap)
    ));
    let resp = r
        .upload(&server, &patient, &wraps)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 201);
    w.send(
        &patient,
        MedLedger::addRecordCall {
            recordId: r.id,
            patient: patient.address(),
            ciphertextHash: r.h1,
            category: r.category,
            supersedes: B256::ZERO,
        },
    )
    .await;
    let index = Index::connect(&server.config.database_url())
        .await
        .expect("index");
    eventually("commit", || async {
        (index.record(r.id).await.ok()??.state.as_str() == "committed").then_some(())
    })
    .await;
    let read = |u: &User| u.get(server.url(&format!("/api/records/{}", r.id))).send();

    // No window: refused and logged.
    assert_eq!(read(&doctor).await.expect("read").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        doctor.address(),
        r.id,
        "read",
        "no-read-consent",
    )
    .await;

    // The doctor opens a window: the escrow re-wraps to the doctor's registered key, flagged.
    w.send(
        &doctor,
        MedLedger::emergencyAccessCall {
            patient: patient.address(),
            reasonHash: B256::repeat_byte(0xee),
        },
    )
    .await;
    let resp = read(&doctor).await.expect("read");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-medledger-emergency"], "1");
    let wrap = resp.headers()["x-medledger-wrapped-dek"]
        .to_str()
        .expect("ascii")
        .to_string();
    let c1 = resp.bytes().await.expect("body").to_vec();
    assert_eq!(r.open_release(&w.d, &doctor, &wrap, &c1), r.body);
    let entries = log_entries(&server, &patient).await;
    assert!(
        entries
            .iter()
            .any(|e| e["reason"] == "emergency" && e["granted"] == true && e["scoreMilli"] == 1000),
        "an emergency release is logged and flagged: {entries:#?}"
    );
    // Another practitioner without a window is still refused.
    assert_eq!(read(&stranger).await.expect("read").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        stranger.address(),
        r.id,
        "read",
        "no-read-consent",
    )
    .await;

    // The patient ends the window: refused again, from the next block.
    w.send(
        &patient,
        MedLedger::endEmergencyAccessCall {
            practitioner: doctor.address(),
        },
    )
    .await;
    assert_eq!(read(&doctor).await.expect("read").status(), 403);
    let config = server.stop().await;

    // The index now holds a K2 and a break-glass wrap: a start whose key file is missing (a
    // restore that left it out, a wrong path) stops instead of making a new key that would open
    // neither, and makes no file; with the file back, it starts.
    for (file, what) in [
        (config.master_key_file(), "tier-2 keys"),
        (config.break_glass_key_file(), "break-glass wraps"),
    ] {
        let aside = file.with_extension("aside");
        std::fs::rename(&file, &aside).expect("move the key file away");
        let err = medledger_escrow_api::server::App::build(config.clone())
            .await
            .expect_err("a start without the key file is refused");
        let msg = err.to_string();
        assert!(msg.contains(what) && msg.contains("is missing"), "{msg}");
        assert!(!file.exists(), "no new key file was made");
        std::fs::rename(&aside, &file).expect("put the key file back");
    }
    let app = medledger_escrow_api::server::App::build(config)
        .await
        .expect("starts with both key files");
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_insurer_and_suspended_practitioner_follow_the_chain() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    let mut insurer = User::new(6);
    let mut admin = User::new(ADMIN);
    w.register(&[&patient], &[&doctor]).await;
    let profile = r#"{"name":"Acme Health","licenceNumber":"INS-42","organisation":"Acme Mutual"}"#;
    w.send(
        &insurer,
        MedLedger::applyAsInsurerCall {
            encryptionKey: insurer.encryption_key(),
            profileHash: alloy_primitives::keccak256(profile.as_bytes()),
        },
    )
    .await;
    w.send(
        &admin,
        MedLedger::verifyAccountCall {
            account: insurer.address(),
        },
    )
    .await;
    let server = Server::start(w.config()).await;
    for u in [&mut patient, &mut doctor, &mut insurer, &mut admin] {
        u.sign_in(&server).await;
    }
    let lab = Record::new(
        &w.d,
        patient.address(),
        Category::Laboratory.number(),
        b"hb 14".repeat(100),
    );
    let claim = Record::new(
        &w.d,
        patient.address(),
        Category::Claims.number(),
        b"invoice".repeat(100),
    );
    w.upload_and_anchor(&server, &patient, &[&patient, &doctor, &insurer], &lab)
        .await;
    w.upload_and_anchor(&server, &patient, &[&patient, &doctor, &insurer], &claim)
        .await;
    let read = |u: &User, r: &Record| u.get(server.url(&format!("/api/records/{}", r.id))).send();
    let expiry = chain_time(w.url()).await + 86_400;

    // An admin reads nothing without the patient's consent.
    assert_eq!(read(&admin, &lab).await.expect("read").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        admin.address(),
        lab.id,
        "read",
        "no-read-consent",
    )
    .await;

    // An insurer: nothing without consent; with a grant on claims, the claim document only.
    assert_eq!(read(&insurer, &claim).await.expect("read").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        insurer.address(),
        claim.id,
        "read",
        "no-read-consent",
    )
    .await;
    w.send(
        &patient,
        MedLedger::grantCall {
            grantee: insurer.address(),
            categories: Category::mask([Category::Claims]),
            allowWrite: false,
            expiry,
        },
    )
    .await;
    assert_eq!(read(&insurer, &claim).await.expect("read").status(), 200);
    assert_eq!(read(&insurer, &lab).await.expect("read").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        insurer.address(),
        lab.id,
        "read",
        "no-read-consent",
    )
    .await;
    // An insurer never writes, even with a grant.
    let by_insurer = Record::new(
        &w.d,
        patient.address(),
        Category::Claims.number(),
        b"x".repeat(10),
    );
    let resp = by_insurer
        .upload(
            &server,
            &insurer,
            &by_insurer.wraps(&w.d, &[&patient, &insurer]),
        )
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        insurer.address(),
        by_insurer.id,
        "upload",
        "no-write-consent",
    )
    .await;

    // A practitioner with a grant reads until an admin suspends them, and again once reinstated.
    w.send(
        &patient,
        MedLedger::grantCall {
            grantee: doctor.address(),
            categories: Category::mask([Category::Laboratory]),
            allowWrite: true,
            expiry,
        },
    )
    .await;
    assert_eq!(read(&doctor, &lab).await.expect("read").status(), 200);
    w.send(
        &admin,
        MedLedger::suspendAccountCall {
            account: doctor.address(),
            reasonHash: B256::repeat_byte(3),
        },
    )
    .await;
    assert_eq!(read(&doctor, &lab).await.expect("read").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        doctor.address(),
        lab.id,
        "read",
        "no-read-consent",
    )
    .await;
    let by_doctor = Record::new(
        &w.d,
        patient.address(),
        Category::Laboratory.number(),
        b"y".repeat(10),
    );
    let resp = by_doctor
        .upload(
            &server,
            &doctor,
            &by_doctor.wraps(&w.d, &[&patient, &doctor]),
        )
        .send()
        .await
        .expect("upload");
    assert_eq!(
        resp.status(),
        403,
        "a suspended practitioner writes nothing"
    );
    w.send(
        &admin,
        MedLedger::reinstateAccountCall {
            account: doctor.address(),
        },
    )
    .await;
    assert_eq!(read(&doctor, &lab).await.expect("read").status(), 200);

    // The console page, and its sign-in: the escrow composes the SIWE text for an address.
    let page = reqwest::get(server.url("/console")).await.expect("console");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("html")
        .contains("medledger escrow console"));
    let mut console_admin = User::new(ADMIN);
    let m: Value = console_admin
        .http
        .get(server.url(&format!(
            "/api/auth/message?address={}",
            console_admin.address().to_string().to_lowercase()
        )))
        .send()
        .await
        .expect("message")
        .json()
        .await
        .expect("json");
    let text = m["message"].as_str().expect("message").to_string();
    assert!(
        text.contains(&console_admin.address().to_checksum(None)),
        "{text}"
    );
    let resp = console_admin
        .post_siwe(&server, &text, &console_admin.signer.clone())
        .await;
    assert_eq!(resp.status(), 200);
    let pair = resp.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    console_admin.cookie = Some(pair);
    let resp = console_admin
        .get(server.url("/api/console/summary"))
        .send()
        .await
        .expect("summary");
    assert_eq!(resp.status(), 200);

    // Off-chain profiles: accepted only for the hash registered on chain; the console lists
    // applications with them, for admins only.
    let put = |u: &User, text: &str| {
        u.put(server.url("/api/profile"))
            .json(&serde_json::json!({ "profile": text }))
            .send()
    };
    let forged = r#"{"name":"Someone Else","licenceNumber":"X","organisation":"Y"}"#;
    assert_eq!(put(&insurer, forged).await.expect("profile").status(), 409);
    assert_eq!(put(&insurer, profile).await.expect("profile").status(), 200);
    assert_eq!(put(&patient, profile).await.expect("profile").status(), 409);
    let resp = doctor
        .get(server.url("/api/console/applications"))
        .send()
        .await
        .expect("apps");
    assert_eq!(resp.status(), 403);
    let apps: Value = eventually("the follower to see the reinstatement", || async {
        let v: Value = admin
            .get(server.url("/api/console/applications"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let doc = v["accounts"]
            .as_array()?
            .iter()
            .find(|a| {
                a["address"]
                    .as_str()
                    .and_then(|x| x.parse::<Address>().ok())
                    == Some(doctor.address())
            })?
            .clone();
        (doc["status"] == "active" && doc["kind"] == "practitioner").then_some(v)
    })
    .await;
    // One account of the console's list, by address.
    let account_of = |who: Address| -> Value {
        apps["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .find(|a| {
                a["address"]
                    .as_str()
                    .and_then(|x| x.parse::<Address>().ok())
                    == Some(who)
            })
            .expect("listed")
            .clone()
    };
    let ins = account_of(insurer.address());
    assert_eq!(ins["kind"], "insurer");
    assert_eq!(ins["status"], "active");
    assert_eq!(ins["profile"]["licenceNumber"], "INS-42");
    // Each account's history on chain, oldest first: the doctor's suspension shows even though
    // they are active again; the insurer was registered and verified.
    let history = |who: Address| -> Vec<(u64, String)> {
        account_of(who)["history"]
            .as_array()
            .expect("history")
            .iter()
            .map(|h| {
                let block = h["block"].as_u64().expect("block");
                (block, h["event"].as_str().expect("event").to_string())
            })
            .collect()
    };
    let doctor_history = history(doctor.address());
    let events: Vec<&str> = doctor_history.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        events,
        ["registered", "verified", "suspended", "reinstated"]
    );
    assert!(
        doctor_history.windows(2).all(|w| w[0].0 <= w[1].0),
        "{doctor_history:?}"
    );
    let insurer_events: Vec<String> = history(insurer.address())
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(insurer_events, ["registered", "verified"]);

    // The console's data: admins only (role checked on chain).
    let resp = doctor
        .get(server.url("/api/console/summary"))
        .send()
        .await
        .expect("console");
    assert_eq!(resp.status(), 403);
    let resp = patient
        .get(server.url("/api/console/log"))
        .send()
        .await
        .expect("console");
    assert_eq!(resp.status(), 403);
    let summary: Value = admin
        .get(server.url("/api/console/summary"))
        .send()
        .await
        .expect("console")
        .json()
        .await
        .expect("json");
    assert!(
        summary["accessLog"]["refused"].as_i64().expect("refused") >= 5,
        "{summary}"
    );
    assert_eq!(summary["records"]["committed"], 2, "{summary}");
    assert!(summary["followerLagBlocks"].as_i64().is_some(), "{summary}");
    let log: Value = admin
        .get(server.url("/api/console/log?attention=true&limit=50"))
        .send()
        .await
        .expect("console")
        .json()
        .await
        .expect("json");
    let entries = log["entries"].as_array().expect("entries");
    assert!(!entries.is_empty());
    assert!(entries
        .iter()
        .all(|e| e["granted"] == false || e["scoreMilli"].as_i64() >= Some(500)));
    server.stop().await;
}

#[tokio::test]
async fn a_break_glass_wrap_for_an_older_record_only_from_its_patient_while_opted_in() {
    use medledger_protocol::wrap::{self, PublicKey, Purpose, WrapContext};
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    w.register(&[&patient], &[&doctor]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;

    // A record uploaded before the patient opted in: no break-glass wrap.
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::Medication.number(),
        b"warfarin 5 mg".repeat(40),
    );
    w.upload_and_anchor(&server, &patient, &[&patient], &r)
        .await;
    let cfg: Value = reqwest::get(server.url("/config.json"))
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
    let bg_key: B256 = cfg["breakGlassKey"]
        .as_str()
        .expect("key")
        .parse()
        .expect("hex");
    let bg_reader = w.d.escrow;
    let bg_wrap = wrap::wrap_dek(
        &r.dek,
        &PublicKey(bg_key.0),
        &WrapContext {
            chain_id: w.d.chain_id,
            contract: w.d.address,
            record_id: r.id,
            reader: bg_reader,
            purpose: Purpose::BreakGlass,
        },
    )
    .expect("wrap");
    let item = format!(
        "{bg_reader}={}",
        alloy_primitives::hex::encode_prefixed(bg_wrap)
    );
    let add = |who: &User| {
        who.post(server.url(&format!("/api/records/{}/wraps", r.id)))
            .json(&json!({ "wraps": [item.clone()] }))
            .send()
    };

    // Not opted in: refused and logged.
    assert_eq!(add(&patient).await.expect("add").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        patient.address(),
        r.id,
        "add-wrap",
        "reader-not-granted",
    )
    .await;
    // Opted in, but from someone else than the patient: refused.
    w.send(&patient, MedLedger::setEmergencyOptInCall { optedIn: true })
        .await;
    assert_eq!(add(&doctor).await.expect("add").status(), 403);
    // The patient, opted in: added; a window then releases the older record to the doctor.
    let resp = add(&patient).await.expect("add");
    assert_eq!(resp.status(), 200);
    let read = || {
        doctor
            .get(server.url(&format!("/api/records/{}", r.id)))
            .send()
    };
    assert_eq!(read().await.expect("read").status(), 403);
    w.send(
        &doctor,
        MedLedger::emergencyAccessCall {
            patient: patient.address(),
            reasonHash: B256::repeat_byte(0xee),
        },
    )
    .await;
    let resp = read().await.expect("read");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-medledger-emergency"], "1");
    let wrap = resp.headers()["x-medledger-wrapped-dek"]
        .to_str()
        .expect("ascii")
        .to_string();
    let c1 = resp.bytes().await.expect("body").to_vec();
    assert_eq!(r.open_release(&w.d, &doctor, &wrap, &c1), r.body);
    server.stop().await;
}
