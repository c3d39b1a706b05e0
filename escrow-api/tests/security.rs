//! The security issue's regressions (issue 12), against a real chain and escrow: an emergency
//! release through a stored wrap is flagged as one; erasure leaves no key material in the index
//! file or its journal; the SIWE URI and the request origin are checked; security headers; high-s
//! signatures are refused.

mod support;

use alloy_primitives::{Address, B256};
use medledger_protocol::contract::{Category, MedLedger};
use serde_json::Value;
use support::*;

/// The patient's access-log entries for `record` by `actor` with `action`.
async fn entries_of(
    server: &Server,
    patient: &User,
    actor: Address,
    record: B256,
    action: &str,
) -> Vec<Value> {
    log_entries(server, patient)
        .await
        .into_iter()
        .filter(|e| {
            e["actor"].as_str().and_then(|a| a.parse::<Address>().ok()) == Some(actor)
                && e["recordId"].as_str().and_then(|r| r.parse::<B256>().ok()) == Some(record)
                && e["action"] == action
        })
        .collect()
}

/// A practitioner whose grant was revoked still holds a stored DEK wrap; inside an emergency
/// window the read is released through that wrap, and it must be logged and flagged as the
/// emergency release it is, not as an ordinary consent read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_release_through_a_stored_wrap_is_flagged() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    let mut stranger = User::new(STRANGER_DOCTOR);
    w.register(&[&patient], &[&doctor, &stranger]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;
    stranger.sign_in(&server).await;
    w.send(&patient, MedLedger::setEmergencyOptInCall { optedIn: true })
        .await;
    let expiry = chain_time(w.url()).await + 86_400;
    w.send(
        &patient,
        MedLedger::grantCall {
            grantee: doctor.address(),
            categories: Category::mask([Category::History]),
            allowWrite: false,
            expiry,
        },
    )
    .await;
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::History.number(),
        b"allergy: penicillin".repeat(20),
    );
    // The doctor's wrap is stored at upload (a current grantee).
    w.upload_and_anchor(&server, &patient, &[&patient, &doctor], &r)
        .await;
    let read = |u: &User| u.get(server.url(&format!("/api/records/{}", r.id))).send();

    // Under the grant: an ordinary consent read, not flagged.
    let resp = read(&doctor).await.expect("read");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-medledger-emergency").is_none());
    let first = entries_of(&server, &patient, doctor.address(), r.id, "read").await;
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0]["reason"], "consent");
    assert_eq!(first[0]["scoreMilli"], 0);

    // Revoked: refused, though the wrap is still stored.
    w.send(
        &patient,
        MedLedger::revokeCall {
            grantee: doctor.address(),
        },
    )
    .await;
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

    // Inside an emergency window: released through the stored wrap, and flagged as emergency.
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
    assert_eq!(
        resp.headers()
            .get("x-medledger-emergency")
            .map(|v| v.as_bytes()),
        Some(&b"1"[..]),
        "an emergency release carries the emergency header"
    );
    let wrap = resp.headers()["x-medledger-wrapped-dek"]
        .to_str()
        .expect("ascii")
        .to_string();
    let c1 = resp.bytes().await.expect("body").to_vec();
    assert_eq!(r.open_release(&w.d, &doctor, &wrap, &c1), r.body);
    let granted: Vec<Value> = entries_of(&server, &patient, doctor.address(), r.id, "read")
        .await
        .into_iter()
        .filter(|e| e["granted"] == true)
        .collect();
    assert_eq!(granted.len(), 2, "{granted:#?}");
    assert_eq!(granted[1]["reason"], "emergency", "{granted:#?}");
    assert_eq!(granted[1]["scoreMilli"], 1000, "{granted:#?}");

    // The wrong party (no grant, no window, no wrap) is still refused.
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

    // The patient ends the window: refused again although the wrap is still stored.
    w.send(
        &patient,
        MedLedger::endEmergencyAccessCall {
            practitioner: doctor.address(),
        },
    )
    .await;
    assert_eq!(read(&doctor).await.expect("read").status(), 403);
    server.stop().await;
}
