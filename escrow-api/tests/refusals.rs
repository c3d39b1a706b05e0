//! Refusals and failure modes against a real chain: forged, replayed and mismatched SIWE
//! sign-ins and session expiry; an expired grant; erase-everything; pending uploads that expire;
//! fail-closed reads when the chain is unreachable or the access log unwritable; a tampered blob
//! and a tampered log row detected; uploads past the concurrency bound shed with 503 and
//! `Retry-After`, losing nothing.

mod support;

use std::time::Duration;

use alloy_primitives::{Address, B256};
use medledger_escrow_api::follower::verify_log_with;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::identity::{format_rfc3339, SiweMessage};
use serde_json::{json, Value};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refusals_and_session_expiry() {
    let w = World::new().await;
    let server = w.serve(|c| c.session_ttl_secs = 3).await;
    let config_ttl = server.config.session_ttl_secs;
    let mut patient = User::new(PATIENT);
    let stranger = User::new(STRANGER_DOCTOR);
    let now = medledger_escrow_api::now_secs();

    // A good sign-in, then the same signed message again: the nonce is spent.
    let msg = patient.siwe(&server).await.to_string();
    assert_eq!(patient.post_own_siwe(&server, &msg).await.status(), 200);
    let replay = patient.post_own_siwe(&server, &msg).await;
    assert_eq!(replay.status(), 403);
    let v: Value = replay.json().await.expect("json");
    assert_eq!(v["error"], "siwe-nonce");

    // Another domain, another chain, another signer, expired, a nonce never issued.
    let signed = |m: SiweMessage| {
        let (patient, server) = (&patient, &server);
        async move { patient.post_own_siwe(server, &m.to_string()).await.status() }
    };
    let mut m = patient.siwe(&server).await;
    m.domain = "evil.example".into();
    assert_eq!(signed(m).await, 403);
    let mut m = patient.siwe(&server).await;
    m.chain_id = 1;
    assert_eq!(signed(m).await, 403);
    let m = patient.siwe(&server).await.to_string();
    let forged = patient.post_siwe(&server, &m, &stranger.signer).await;
    let by_someone_else = "signed by someone else than the address";
    assert_eq!(forged.status(), 403, "{by_someone_else}");
    let mut m = patient.siwe(&server).await;
    m.issued_at = format_rfc3339(now - 20);
    m.expiration_time = Some(format_rfc3339(now - 10));
    assert_eq!(signed(m).await, 403);
    let mut m = patient.siwe(&server).await;
    m.nonce = "abcdefgh12345678".into();
    assert_eq!(signed(m).await, 403);
    assert_eq!(patient.post_own_siwe(&server, "hello").await.status(), 400);
    let message = patient.siwe(&server).await.to_string();
    let short_signature = json!({"message": message, "signature": "0x1234"});
    let resp = patient.verify(&server, short_signature).await;
    assert!(resp.status() == 403 || resp.status() == 400);

    // A forged cookie is no session.
    let mut fake = User::new(PATIENT);
    fake.cookie = Some(format!("medledger_session={}", "ab".repeat(32)));
    assert_eq!(server.get(&fake, "/api/auth/session").await.status(), 401);

    // Sessions expire. A session lives `session_ttl_secs` by the server's wall clock, so "still
    // valid" is only asserted of a look taken inside that window; then the test waits for the
    // expiry itself instead of sleeping past it.
    let ttl = Duration::from_secs(u64::try_from(config_ttl).expect("ttl"));
    let who: Value = within_window(ttl, "a sign-in and a look at the session", async || {
        patient.sign_in(&server).await;
        server.get_json(&patient, "/api/auth/session").await
    })
    .await;
    assert!(patient.is(&who["address"]), "{who}");
    eventually("the session to expire", || async {
        let status = server.get(&patient, "/api/auth/session").await.status();
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
    // nonce + verify: two of this IP's four. Only signed in: accepting the licence agreement
    // would take two of the address's tokens, and the session needs no acceptance.
    limited.sign_in_only(&server).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = server.get(&limited, "/api/auth/session").await;
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..4], &[200, 200, 200, 200], "{statuses:?}");
    assert_eq!(statuses[4], 429, "{statuses:?}");
    let other = User::new(DOCTOR);
    let mut nonces = Vec::new();
    for _ in 0..3 {
        let status = server.get(&other, "/api/auth/nonce").await.status();
        nonces.push(status.as_u16());
    }
    assert_eq!(nonces, [200, 200, 429], "the IP's sign-in budget");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_grant_erase_all_and_pending_ttl() {
    let (w, server, [patient], [doctor]) =
        World::signed_in([PATIENT], [DOCTOR], |c| c.pending_ttl_secs = 2).await;
    let pending_ttl = server.config.pending_ttl_secs;

    let chain_now = w.chain_time().await;
    w.grant(
        &patient,
        &doctor,
        &[Category::Vitals],
        false,
        chain_now + 600,
    )
    .await;
    let r1 = w.record(&patient, Category::Vitals, b"one".repeat(100));
    let r2 = w.record(&patient, Category::Vitals, b"two".repeat(100));
    for r in [&r1, &r2] {
        w.commit(&server, &patient, &[&patient, &doctor], r).await;
    }
    assert_eq!(server.read(&doctor, r1.id).await.status(), 200);

    // The grant expires (chain time moves on): refused and logged.
    w.pass_time(3600).await;
    assert_read_refused(&server, &patient, &doctor, r1.id, 403, NO_CONSENT).await;

    // A pending upload that is never anchored is removed after the TTL, blob included. The TTL
    // runs on the server's wall clock: that the blob was there is only asserted of a look taken
    // inside it.
    let index = server.index().await;
    let ttl = Duration::from_secs(u64::try_from(pending_ttl).expect("ttl"));
    let (r3, blob_file, stored) =
        within_window(ttl, "an upload and a look at its blob", async || {
            let r3 = w.record(&patient, Category::Vitals, b"three");
            let resp = w.upload(&server, &patient, &[&patient], &r3).await;
            assert_eq!(resp.status(), 201);
            let blob_file = server.blob_file(r3.id).await;
            let stored = blob_file.exists();
            (r3, blob_file, stored)
        })
        .await;
    assert!(stored, "the pending upload's blob was not stored");
    // The sweep removes the row first (only if still pending, so that an anchoring arriving
    // meanwhile keeps its blob) and then the blob: wait for both, not for the row alone.
    eventually("the pending upload and its blob to expire", || async {
        let row = index.record(r3.id).await.expect("row");
        (row.is_none() && !blob_file.exists()).then_some(())
    })
    .await;

    // Erase everything: both records shredded and confirmed on chain.
    w.send(&patient, MedLedger::eraseAllCall {}).await;
    for r in [&r1, &r2] {
        w.shred_confirmed(r.id).await;
        let row = index.record(r.id).await.expect("row").expect("kept");
        assert_eq!(row.state.as_str(), "shredded");
        assert_eq!(row.wrapped_k2, None);
        assert_eq!(index.count_deks(r.id).await.expect("deks"), 0);
        assert_read_refused(&server, &patient, &patient, r.id, 410, "erased").await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_and_tampering_detected() {
    let (mut w, server, [patient], []) =
        World::signed_in([PATIENT], [], |c| c.anchor_interval_secs = 0).await;
    let r1 = w.record(&patient, Category::Vitals, b"intact".repeat(500));
    let r2 = w.record(&patient, Category::Vitals, b"tamper".repeat(500));
    for r in [&r1, &r2] {
        w.commit(&server, &patient, &[&patient], r).await;
    }

    // A blob changed on disk fails tier-2 authentication: the release breaks off, never the
    // whole record with altered bytes.
    let file = server.blob_file(r2.id).await;
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
    let blockers: &[&str] = if postgres {
        &[
            "CREATE FUNCTION block_log() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'log disk full'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER block_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION block_log()",
        ]
    } else {
        &["CREATE TRIGGER block_log BEFORE INSERT ON access_log BEGIN SELECT RAISE(ABORT, 'log disk full'); END"]
    };
    for sql in blockers {
        sqlx::query(sql).execute(&pool).await.expect("trigger");
    }
    let resp = server.read(&patient, r1.id).await;
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
    let resp = server.read(&patient, r1.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.expect("body").to_vec(), r1.c1);

    // The log verifies; a changed row is found.
    let index = server.index().await;
    let ledger = w.ledger();
    let report = verify_log_with(&index, &ledger).await.expect("verify");
    assert!(report.ok(), "{report}");
    sqlx::query("UPDATE access_log SET reason = 'consent' WHERE seq = 1")
        .execute(&pool)
        .await
        .expect("tamper");
    let report = verify_log_with(&index, &ledger).await.expect("verify");
    assert!(!report.ok(), "a changed log row must be detected");
    assert!(report.to_string().contains("entry 1"), "{report}");
    sqlx::query("DELETE FROM access_log WHERE seq >= 1")
        .execute(&pool)
        .await
        .expect("truncate");

    // The chain is unreachable: nothing is released, and the refusal is logged.
    w.ganache.kill();
    let resp = server.read(&patient, r1.id).await;
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"], "chain-unavailable");
    let unavailable = "chain-unavailable";
    assert_refused(&server, &patient, &patient, r1.id, "read", unavailable).await;
    assert_eq!(server.public("/health").await.status(), 503);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wraps_for_a_new_grantee_only_by_the_patient_only_to_granted_readers() {
    let (w, server, [patient], [doctor, stranger]) =
        World::signed_in([PATIENT], [DOCTOR, STRANGER_DOCTOR], |_| {}).await;
    let r = w.record(&patient, Category::Imaging, b"scan".repeat(200));
    w.commit(&server, &patient, &[&patient], &r).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Imaging], false)
        .await;

    // Granted, but no key wrapped to the doctor yet: refused (logged), and listed as missing.
    assert_read_refused(&server, &patient, &doctor, r.id, 404, "no-wrapped-key").await;
    let missing = server.get_json(&patient, "/api/wraps/missing").await;
    let missing = missing["missing"].as_array().expect("list").clone();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(doctor.is(&missing[0]["grantee"]), "{missing:?}");

    // Not the patient: refused and logged.
    let to_doctor = r.wraps(&w.d, &[&doctor]);
    let resp = server.add_wraps(&doctor, r.id, &to_doctor).await;
    assert_eq!(resp.status(), 403);
    let (add, not_yours) = ("add-wrap", "not-your-record");
    assert_refused(&server, &patient, &doctor, r.id, add, not_yours).await;
    // To a reader without consent: refused and logged.
    let to_stranger = r.wraps(&w.d, &[&stranger]);
    let resp = server.add_wraps(&patient, r.id, &to_stranger).await;
    assert_eq!(resp.status(), 403);
    let not_granted = "reader-not-granted";
    assert_refused(&server, &patient, &patient, r.id, add, not_granted).await;
    assert_eq!(server.read(&stranger, r.id).await.status(), 403);
    // To the grantee: accepted; the doctor reads and opens the record.
    let resp = server.add_wraps(&patient, r.id, &to_doctor).await;
    assert_eq!(resp.status(), 200);
    let resp = server.read(&doctor, r.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(r.open(&w.d, &doctor, resp).await, r.body);
    let missing = server.get_json(&patient, "/api/wraps/missing").await;
    assert_eq!(missing["missing"].as_array().map(Vec::len), Some(0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_only_inside_an_open_emergency_window() {
    let (w, server, [patient], [doctor, stranger]) =
        World::signed_in([PATIENT], [DOCTOR, STRANGER_DOCTOR], |_| {}).await;

    // The patient opts in; the app wraps the DEK to the escrow's break-glass key too.
    w.opt_in_to_emergencies(&patient, true).await;
    let cfg = server.public_json("/config.json").await;
    let bg_reader: Address = cfg["breakGlassReader"]
        .as_str()
        .expect("reader")
        .parse()
        .expect("address");
    assert_eq!(bg_reader, w.d.escrow);
    let r = w.record(
        &patient,
        Category::History,
        b"allergy: penicillin".repeat(50),
    );
    let bg_key = cfg["breakGlassKey"].as_str().expect("key");
    let mut wraps = r.wraps(&w.d, &[&patient]);
    wraps.push(r.break_glass_wrap(&w.d, bg_key, bg_reader));
    let upload = r.upload(&server, &patient, &wraps).send();
    assert_eq!(upload.await.expect("upload").status(), 201);
    w.anchor(&patient, &r).await;
    server.record_in_state(r.id, "committed").await;

    // No window: refused and logged.
    assert_read_refused(&server, &patient, &doctor, r.id, 403, NO_CONSENT).await;

    // The doctor opens a window: the escrow re-wraps to the doctor's registered key, flagged.
    w.open_emergency(&doctor, &patient).await;
    let resp = server.read(&doctor, r.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-medledger-emergency"], "1");
    assert_eq!(r.open(&w.d, &doctor, resp).await, r.body);
    let entries = server.log_entries(&patient).await;
    assert!(
        entries
            .iter()
            .any(|e| e["reason"] == "emergency" && e["granted"] == true && e["flagged"] == true),
        "an emergency release is logged and flagged: {entries:#?}"
    );
    // Another practitioner without a window is still refused.
    assert_read_refused(&server, &patient, &stranger, r.id, 403, NO_CONSENT).await;

    // The patient ends the window: refused again, from the next block.
    w.end_emergency(&patient, &doctor).await;
    assert_eq!(server.read(&doctor, r.id).await.status(), 403);
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
    let [mut patient, mut doctor] = users([PATIENT, DOCTOR]);
    let [mut insurer, mut admin] = users([INSURER, ADMIN]);
    w.register(&[&patient], &[&doctor]).await;
    let profile = r#"{"name":"Acme Health","licenceNumber":"INS-42","organisation":"Acme Mutual"}"#;
    let profile_hash = alloy_primitives::keccak256(profile.as_bytes());
    w.register_insurer(&insurer, profile_hash).await;
    let server = w.serve(|_| {}).await;
    server
        .sign_in([&mut patient, &mut doctor, &mut insurer, &mut admin])
        .await;
    let lab = w.record(&patient, Category::Laboratory, b"hb 14".repeat(100));
    let claim = w.record(&patient, Category::Claims, b"invoice".repeat(100));
    for r in [&lab, &claim] {
        w.commit(&server, &patient, &[&patient, &doctor, &insurer], r)
            .await;
    }
    let expiry = w.chain_time().await + 86_400;

    // An admin reads nothing without the patient's consent.
    assert_read_refused(&server, &patient, &admin, lab.id, 403, NO_CONSENT).await;

    // An insurer: nothing without consent; with a grant on claims, the claim document only.
    assert_read_refused(&server, &patient, &insurer, claim.id, 403, NO_CONSENT).await;
    w.grant(&patient, &insurer, &[Category::Claims], false, expiry)
        .await;
    assert_eq!(server.read(&insurer, claim.id).await.status(), 200);
    assert_read_refused(&server, &patient, &insurer, lab.id, 403, NO_CONSENT).await;
    // An insurer never writes, even with a grant.
    let insurers = w.record(&patient, Category::Claims, b"x".repeat(10));
    let resp = w
        .upload(&server, &insurer, &[&patient, &insurer], &insurers)
        .await;
    assert_eq!(resp.status(), 403);
    let no_write = "no-write-consent";
    assert_refused(&server, &patient, &insurer, insurers.id, "upload", no_write).await;

    // A practitioner with a grant reads until an admin suspends them, and again once reinstated.
    w.grant(&patient, &doctor, &[Category::Laboratory], true, expiry)
        .await;
    assert_eq!(server.read(&doctor, lab.id).await.status(), 200);
    w.suspend(&doctor, B256::repeat_byte(3)).await;
    assert_read_refused(&server, &patient, &doctor, lab.id, 403, NO_CONSENT).await;
    let doctors = w.record(&patient, Category::Laboratory, b"y".repeat(10));
    let resp = w
        .upload(&server, &doctor, &[&patient, &doctor], &doctors)
        .await;
    assert_eq!(
        resp.status(),
        403,
        "a suspended practitioner writes nothing"
    );
    w.reinstate(&doctor).await;
    assert_eq!(server.read(&doctor, lab.id).await.status(), 200);

    // The console page, and its sign-in: the escrow composes the SIWE text for an address.
    let page = server.public("/console").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("medledger escrow console"));
    let mut console_admin = User::new(ADMIN);
    let lowercase = console_admin.address().to_string().to_lowercase();
    let about = format!("/api/auth/message?address={lowercase}");
    let m = server.get_json(&console_admin, &about).await;
    let text = m["message"].as_str().expect("message").to_string();
    let checksummed = console_admin.address().to_checksum(None);
    assert!(text.contains(&checksummed), "{text}");
    let resp = console_admin.post_own_siwe(&server, &text).await;
    assert_eq!(resp.status(), 200);
    console_admin.keep_cookie(&resp);
    let resp = server.get(&console_admin, "/api/console/summary").await;
    assert_eq!(resp.status(), 200);

    // Off-chain profiles: accepted only for the hash registered on chain; the console lists
    // applications with them, for admins only.
    let forged = r#"{"name":"Someone Else","licenceNumber":"X","organisation":"Y"}"#;
    assert_eq!(server.put_profile(&insurer, forged).await.status(), 409);
    assert_eq!(server.put_profile(&insurer, profile).await.status(), 200);
    assert_eq!(server.put_profile(&patient, profile).await.status(), 409);
    let resp = server.get(&doctor, "/api/console/applications").await;
    assert_eq!(resp.status(), 403);
    // One account of the console's list.
    let account_of = |apps: &Value, who: &User| -> Option<Value> {
        let accounts = apps["accounts"].as_array()?;
        accounts.iter().find(|a| who.is(&a["address"])).cloned()
    };
    let apps: Value = eventually("the follower to see the reinstatement", || async {
        let resp = server.get(&admin, "/api/console/applications").await;
        let v: Value = resp.json().await.ok()?;
        let doc = account_of(&v, &doctor)?;
        (doc["status"] == "active" && doc["kind"] == "practitioner").then_some(v)
    })
    .await;
    let ins = account_of(&apps, &insurer).expect("listed");
    assert_eq!(ins["kind"], "insurer");
    assert_eq!(ins["status"], "active");
    assert_eq!(ins["profile"]["licenceNumber"], "INS-42");
    // Each account's history on chain, oldest first: the doctor's suspension shows even though
    // they are active again; the insurer was registered and verified.
    let history = |who: &User| -> Vec<(u64, String)> {
        let account = account_of(&apps, who).expect("listed");
        let history = account["history"].as_array().expect("history");
        let event = |h: &Value| h["event"].as_str().expect("event").to_string();
        let block = |h: &Value| h["block"].as_u64().expect("block");
        history.iter().map(|h| (block(h), event(h))).collect()
    };
    let doctor_history = history(&doctor);
    let events: Vec<&str> = doctor_history.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        events,
        ["registered", "verified", "suspended", "reinstated"]
    );
    assert!(
        doctor_history.windows(2).all(|w| w[0].0 <= w[1].0),
        "{doctor_history:?}"
    );
    let insurer_events: Vec<String> = history(&insurer).into_iter().map(|(_, e)| e).collect();
    assert_eq!(insurer_events, ["registered", "verified"]);

    // The console's data: admins only (role checked on chain).
    let resp = server.get(&doctor, "/api/console/summary").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(server.get(&patient, "/api/console/log").await.status(), 403);
    let summary = server.get_json(&admin, "/api/console/summary").await;
    assert!(
        summary["accessLog"]["refused"].as_i64().expect("refused") >= 5,
        "{summary}"
    );
    assert_eq!(summary["records"]["committed"], 2, "{summary}");
    assert!(summary["followerLagBlocks"].as_i64().is_some(), "{summary}");
    let attention = "/api/console/log?attention=true&limit=50";
    let log = server.get_json(&admin, attention).await;
    let entries = log["entries"].as_array().expect("entries");
    assert!(!entries.is_empty());
    assert!(entries
        .iter()
        .all(|e| e["granted"] == false || e["flagged"] == true));
    server.stop().await;
}

#[tokio::test]
async fn a_break_glass_wrap_for_an_older_record_only_from_its_patient_while_opted_in() {
    let (w, server, [patient], [doctor]) = World::signed_in([PATIENT], [DOCTOR], |_| {}).await;

    // A record uploaded before the patient opted in: no break-glass wrap.
    let r = w.record(&patient, Category::Medication, b"warfarin 5 mg".repeat(40));
    w.commit(&server, &patient, &[&patient], &r).await;
    let cfg = server.public_json("/config.json").await;
    let bg_key = cfg["breakGlassKey"].as_str().expect("key");
    let item = [r.break_glass_wrap(&w.d, bg_key, w.d.escrow)];

    // Not opted in: refused and logged.
    assert_eq!(server.add_wraps(&patient, r.id, &item).await.status(), 403);
    let not_granted = "reader-not-granted";
    assert_refused(&server, &patient, &patient, r.id, "add-wrap", not_granted).await;
    // Opted in, but from someone else than the patient: refused.
    w.opt_in_to_emergencies(&patient, true).await;
    assert_eq!(server.add_wraps(&doctor, r.id, &item).await.status(), 403);
    // The patient, opted in: added; a window then releases the older record to the doctor.
    assert_eq!(server.add_wraps(&patient, r.id, &item).await.status(), 200);
    assert_eq!(server.read(&doctor, r.id).await.status(), 403);
    w.open_emergency(&doctor, &patient).await;
    let resp = server.read(&doctor, r.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-medledger-emergency"], "1");
    assert_eq!(r.open(&w.d, &doctor, resp).await, r.body);
    server.stop().await;
}

/// `medledger_escrow_uploads_in_progress` from `/metrics`.
async fn uploads_in_progress(server: &Server) -> Option<i64> {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("medledger_escrow_uploads_in_progress "))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_past_the_bound_is_shed_with_retry_after_and_nothing_is_lost() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (w, server, [patient], []) =
        World::signed_in([PATIENT], [], |c| c.max_concurrent_uploads = 1).await;
    // The one slot, held by an upload whose body is half sent (a raw connection).
    let first = w.record(&patient, Category::Vitals, vec![5u8; 200_000]);
    let head = first.raw_upload_head(server.addr, &patient, &first.wraps(&w.d, &[&patient]));
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("head");
    let half = first.c1.len() / 2;
    tcp.write_all(&first.c1[..half])
        .await
        .expect("half the body");
    tcp.flush().await.expect("flush");
    eventually("the first upload to hold its slot", || async {
        (uploads_in_progress(&server).await == Some(1)).then_some(())
    })
    .await;

    // A second upload meanwhile: shed before its body is read, told when to come back.
    let second = w.record(&patient, Category::Vitals, vec![6u8; 4096]);
    let wraps = second.wraps(&w.d, &[&patient]);
    let shed = second
        .upload(&server, &patient, &wraps)
        .send()
        .await
        .expect("send");
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_eq!(shed.headers()["connection"], "close");
    let body: Value = shed.json().await.expect("json");
    assert_eq!(body["error"], "busy", "{body}");

    // The first finishes and is acknowledged; the second, retried, is taken.
    tcp.write_all(&first.c1[half..]).await.expect("the rest");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("the answer");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let retried = second
        .upload(&server, &patient, &wraps)
        .send()
        .await
        .expect("send");
    assert_eq!(retried.status(), 201);
    for r in [&first, &second] {
        server.record_in_state(r.id, "pending").await;
    }
    assert_eq!(uploads_in_progress(&server).await, Some(0));
}
