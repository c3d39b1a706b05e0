//! The relayer (docs/api.md "Sponsored transactions"): a patient whose account holds no ether
//! registers, grants and revokes through the escrow, which pays the gas, and the contract sees the
//! patient as the caller; the relayer refuses, sending nothing and counting nothing, a request
//! from another account, to another contract, of a function it does not sponsor, signed by another key, spent, expired,
//! or one the contract would refuse; at an account's quota it answers 429 and at all accounts'
//! together 503, each with `Retry-After`; an escrow
//! configured without a quota relays nothing; the console shows the relayer's balance and use.

mod support;

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;
use medledger_protocol::contract::MedLedger;
use medledger_protocol::forward::ForwardMessage;
use serde_json::{json, Value};
use support::*;

/// A forward request from `who` for `call` on the core.
async fn request<C: SolCall>(w: &World, who: &User, call: C) -> ForwardMessage {
    forward_request(w, who, w.d.address, call.abi_encode()).await
}

async fn balance(w: &World, who: Address) -> U256 {
    let raw = w.rpc("eth_getBalance", json!([who, "latest"])).await;
    raw.as_str().expect("balance").parse().expect("quantity")
}

async fn used(server: &Server, who: &User) -> u64 {
    server.get_ok(who, "/api/relay").await["used"]
        .as_u64()
        .expect("used")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_without_ether_registers_grants_and_revokes_through_the_relayer() {
    let doctor = User::new(DOCTOR);
    let mut patient = User::without_ether();
    let (w, server) = World::serving(&[], &[&doctor], |c| c.relay_quota = 3).await;
    patient.sign_in(&server).await;
    assert_eq!(balance(&w, patient.address()).await, U256::ZERO);

    let status = server.get_ok(&patient, "/api/relay").await;
    assert_eq!(status["available"], json!(true));
    assert_eq!(
        status["relayer"].as_str().map(str::to_lowercase),
        Some(format!("{:#x}", w.d.escrow))
    );
    assert_eq!(status["quota"], json!(3));
    assert_eq!(status["used"], json!(0));
    assert!(status["sponsored"]
        .as_array()
        .expect("list")
        .contains(&json!("registerPatient")));

    let register = MedLedger::registerPatientCall {
        encryptionKey: patient.encryption_key(),
    };
    let m = request(&w, &patient, register.clone()).await;
    let (code, relayed) = relay(&server, &patient, &relay_body(&m, &patient)).await;
    assert_eq!(code, 200, "{relayed}");
    assert_eq!(relayed["function"], json!("registerPatient"));
    assert_eq!(relayed["used"], json!(1));
    let account = w
        .call(MedLedger::accountOfCall {
            account: patient.address(),
        })
        .await;
    assert_eq!(account.kind, 1, "registered as a patient, as the signer");
    assert_eq!(account.encryptionKey, patient.encryption_key());
    assert_eq!(
        balance(&w, patient.address()).await,
        U256::ZERO,
        "paid by the relayer"
    );

    // Refusals: each sends nothing and counts nothing.
    let (code, e) = relay(&server, &patient, &relay_body(&m, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (409, Some("relay-nonce")),
        "a spent request: {e}"
    );
    let stranger = User::without_ether();
    let theirs = request(&w, &stranger, register.clone()).await;
    let (code, e) = relay(&server, &patient, &relay_body(&theirs, &stranger)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (403, Some("relay-not-yours")),
        "{e}"
    );
    let mut elsewhere = request(&w, &patient, register.clone()).await;
    elsewhere.to = w.d.insurance.address;
    let (code, e) = relay(&server, &patient, &relay_body(&elsewhere, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (400, Some("relay-target")),
        "{e}"
    );
    let admin_act = MedLedger::verifyAccountCall {
        account: doctor.address(),
    };
    let not_sponsored = request(&w, &patient, admin_act).await;
    let (code, e) = relay(&server, &patient, &relay_body(&not_sponsored, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (403, Some("relay-not-sponsored")),
        "{e}"
    );
    assert!(e["message"]
        .as_str()
        .expect("message")
        .contains("verifyAccount"));
    let again = request(&w, &patient, register).await;
    let (code, e) = relay(&server, &patient, &relay_body(&again, &stranger)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (400, Some("bad-signature")),
        "{e}"
    );
    let (code, e) = relay(&server, &patient, &relay_body(&again, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (422, Some("relay-reverted")),
        "{e}"
    );
    assert!(
        e["message"]
            .as_str()
            .expect("message")
            .contains("AlreadyRegistered"),
        "{e}"
    );
    let grant = MedLedger::grantCall {
        grantee: doctor.address(),
        categories: U256::from(1),
        allowWrite: false,
        expiry: w.chain_time().await + 86_400,
    };
    let mut expired = request(&w, &patient, grant.clone()).await;
    expired.deadline = w.chain_time().await - 1;
    let (code, e) = relay(&server, &patient, &relay_body(&expired, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (400, Some("relay-expired")),
        "{e}"
    );
    let mut soon = request(&w, &patient, grant.clone()).await;
    soon.deadline = w.chain_time().await + 10;
    let (code, e) = relay(&server, &patient, &relay_body(&soon, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (400, Some("relay-expired")),
        "too close: {e}"
    );
    let mut padded = request(&w, &patient, grant.clone()).await;
    let mut data = padded.data.to_vec();
    data.extend_from_slice(&[0u8; 64]);
    padded.data = data.into();
    let (code, e) = relay(&server, &patient, &relay_body(&padded, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (400, Some("relay-not-sponsored")),
        "trailing bytes: {e}"
    );
    let mut huge = request(&w, &patient, grant.clone()).await;
    huge.data = vec![0u8; medledger_escrow_api::relay::MAX_DATA + 1].into();
    let (code, e) = relay(&server, &patient, &relay_body(&huge, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (400, Some("relay-too-large")),
        "{e}"
    );
    let mut starved = request(&w, &patient, grant.clone()).await;
    starved.gas = 30_000;
    let (code, e) = relay(&server, &patient, &relay_body(&starved, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (400, Some("relay-gas")),
        "too little gas forwarded: {e}"
    );
    let mut greedy = request(&w, &patient, grant.clone()).await;
    greedy.gas = server.config.relay_max_gas + 1;
    let (code, e) = relay(&server, &patient, &relay_body(&greedy, &patient)).await;
    assert_eq!((code, e["error"].as_str()), (400, Some("relay-gas")), "{e}");
    assert_eq!(used(&server, &patient).await, 1, "refusals count nothing");

    let m = request(&w, &patient, grant).await;
    let (code, relayed) = relay(&server, &patient, &relay_body(&m, &patient)).await;
    assert_eq!(code, 200, "{relayed}");
    let granted = w
        .call(MedLedger::grantOfCall {
            patient: patient.address(),
            grantee: doctor.address(),
        })
        .await;
    assert_eq!(
        granted.categories,
        U256::from(1),
        "the grant is the signer's"
    );
    let revoke = MedLedger::revokeCall {
        grantee: doctor.address(),
    };
    let m = request(&w, &patient, revoke.clone()).await;
    let (code, relayed) = relay(&server, &patient, &relay_body(&m, &patient)).await;
    assert_eq!(code, 200, "{relayed}");
    assert_eq!(relayed["used"], json!(3));

    let m = request(&w, &patient, revoke).await;
    let resp = patient
        .post(server.url("/api/relay"))
        .json(&relay_body(&m, &patient))
        .send()
        .await
        .expect("relay");
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!(wait > 0 && wait <= server.config.relay_window_secs);
    let e: Value = resp.json().await.expect("json");
    assert_eq!(e["error"], json!("relay-quota"));
    assert_eq!(balance(&w, patient.address()).await, U256::ZERO);

    // The console shows the relayer: its account, what it holds, what it paid for.
    let mut admin = User::new(ADMIN);
    admin.sign_in(&server).await;
    let summary = server.get_ok(&admin, "/api/console/summary").await;
    let relayer = &summary["relayer"];
    assert_eq!(
        relayer["address"].as_str().map(str::to_lowercase),
        Some(format!("{:#x}", w.d.escrow))
    );
    assert_eq!(relayer["relayed"], json!(3));
    // None of the three was a recovery request, which has a quota of its own.
    assert_eq!(relayer["recoveryRequests"], json!(0));
    assert_eq!(
        relayer["recoveryQuota"],
        json!(server.config.relay_recovery_quota)
    );
    let held: U256 = relayer["balanceWei"]
        .as_str()
        .expect("wei")
        .parse()
        .expect("decimal");
    assert_eq!(held, balance(&w, w.d.escrow).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escrow_without_a_quota_relays_nothing() {
    let mut patient = User::without_ether();
    let (w, server) = World::serving(&[], &[], |c| c.relay_quota = 0).await;
    patient.sign_in(&server).await;
    let status = server.get_ok(&patient, "/api/relay").await;
    assert_eq!(status["available"], json!(false));
    let register = MedLedger::registerPatientCall {
        encryptionKey: patient.encryption_key(),
    };
    let m = request(&w, &patient, register).await;
    let (code, e) = relay(&server, &patient, &relay_body(&m, &patient)).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (503, Some("relay-unavailable")),
        "{e}"
    );
    let account = w
        .call(MedLedger::accountOfCall {
            account: patient.address(),
        })
        .await;
    assert_eq!(account.kind, 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relayer_stops_at_its_quota_for_all_accounts_together() {
    let mut first = User::without_ether();
    let mut second = User::without_ether();
    let (w, server) = World::serving(&[], &[], |c| c.relay_total_quota = 1).await;
    first.sign_in(&server).await;
    second.sign_in(&server).await;
    let register = |u: &User| MedLedger::registerPatientCall {
        encryptionKey: u.encryption_key(),
    };
    let m = request(&w, &first, register(&first)).await;
    let (code, relayed) = relay(&server, &first, &relay_body(&m, &first)).await;
    assert_eq!(code, 200, "{relayed}");
    let m = request(&w, &second, register(&second)).await;
    let resp = second
        .post(server.url("/api/relay"))
        .json(&relay_body(&m, &second))
        .send()
        .await
        .expect("relay");
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let e: Value = resp.json().await.expect("json");
    assert_eq!(e["error"], json!("relay-busy"));
    assert_eq!(used(&server, &second).await, 0, "a refusal counts nothing");
}
