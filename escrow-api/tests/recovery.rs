//! A patient's identity moved to a new wallet by the guardians' recovery (MedLedgerRecovery), as
//! the escrow sees it: the new wallet signs in as the patient's account and opens the patient's
//! records; the old wallet's session ends at the IdentityMoved event, and the old wallet cannot
//! sign in again.

mod support;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolCall;
use medledger_protocol::contract::{Category, MedLedger, MedLedgerRecovery};
use serde_json::json;
use support::*;

/// Sends `c` from `who` to the recovery contract.
async fn send_recovery<C: SolCall>(w: &World, recovery: Address, who: &User, c: C) {
    send(w.url(), who.address(), recovery, c.abi_encode(), U256::ZERO).await;
}

/// Each of `guardians` approves the open request of `new_wallet` to take `patient`'s identity
/// over (by its request number, read from the recovery contract).
async fn approve_all(
    w: &World,
    recovery: Address,
    patient: &User,
    new_wallet: &User,
    guardians: &[&User],
) {
    let request = call(
        w.url(),
        recovery,
        MedLedgerRecovery::recoveryOfCall {
            identity: patient.address(),
            newWallet: new_wallet.address(),
        },
    )
    .await;
    assert!(request.open, "the new wallet has asked");
    for guardian in guardians {
        let approve = MedLedgerRecovery::approveRecoveryCall {
            identity: patient.address(),
            newWallet: new_wallet.address(),
            requestId: request.requestId,
        };
        send_recovery(w, recovery, guardian, approve).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_wallet_signs_in_as_the_patient_and_the_old_one_is_shut_out() {
    let (mut patient, doctor, relative) = (
        User::new(PATIENT),
        User::new(DOCTOR),
        User::new(OTHER_PATIENT),
    );
    let mut new_wallet = User::new(8);
    let (w, server) = World::serving(&[&patient, &relative], &[&doctor], |_| {}).await;
    patient.sign_in(&server).await;
    let r = w.record(&patient, Category::Laboratory, b"potassium 4.1".to_vec());
    w.commit(&server, &patient, &[&patient], &r).await;

    let recovery = w.call(MedLedger::recoveryCall {}).await;
    let guardians = vec![doctor.address(), relative.address()];
    let set = MedLedgerRecovery::setGuardiansCall {
        guardians,
        threshold: 2,
        delay: 0,
    };
    send_recovery(&w, recovery, &patient, set).await;
    let ask = MedLedgerRecovery::requestRecoveryCall {
        identity: patient.address(),
        transportKey: B256::repeat_byte(7),
    };
    send_recovery(&w, recovery, &new_wallet, ask).await;
    approve_all(&w, recovery, &patient, &new_wallet, &[&doctor, &relative]).await;
    let complete = MedLedgerRecovery::completeRecoveryCall {
        identity: patient.address(),
    };
    send_recovery(&w, recovery, &new_wallet, complete).await;

    // The new wallet signs in as the patient's account at once, whether or not the escrow's
    // consent index has seen the move yet (sign-in asks the chain): the agreement the patient
    // accepted is the account's, its records are the account's, and its session lasts.
    let session = new_wallet.sign_in_only(&server).await;
    assert!(patient.is(&session["address"]), "{session}");
    assert!(new_wallet.is(&session["wallet"]), "{session}");
    assert_eq!(
        session["agreement"]["accepted"], session["agreement"]["current"],
        "{session}"
    );
    let listed = server.listed_records(&new_wallet, patient.address()).await;
    assert_eq!(listed.len(), 1, "{listed:?}");

    // The old wallet's session ends once the consent index or the follower has seen the move.
    eventually("the old wallet's session to end", || async {
        (server.get(&patient, "/api/auth/session").await.status() == 401).then_some(())
    })
    .await;
    let msg = patient.siwe(&server).await.to_string();
    let refused = patient.post_own_siwe(&server, &msg).await;
    assert_eq!(refused.status(), 403);
    let e: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(e["error"], json!("wallet-retired"), "{e}");

    // By now the index has seen the move, and the new wallet's session still stands.
    let read = server.read(&new_wallet, r.id).await;
    assert_eq!(
        read.status(),
        200,
        "the patient's record, opened by the new wallet"
    );
    let still = server.get(&new_wallet, "/api/auth/session").await;
    assert_eq!(still.status(), 200);
}

/// The relay body of `who`'s signed forward request calling `to` with `data`.
async fn forward_body(w: &World, who: &User, to: Address, data: Vec<u8>) -> serde_json::Value {
    relay_body(&forward_request(w, who, to, data).await, who)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_wallet_without_ether_recovers_through_the_relayer() {
    let (patient, doctor, relative) = (
        User::new(PATIENT),
        User::new(DOCTOR),
        User::new(OTHER_PATIENT),
    );
    let mut new_wallet = User::without_ether();
    let (w, server) =
        World::serving(&[&patient, &relative], &[&doctor], |c| c.relay_quota = 5).await;
    let recovery = w.d.recovery.address;
    assert_eq!(w.call(MedLedger::recoveryCall {}).await, recovery);
    let set = MedLedgerRecovery::setGuardiansCall {
        guardians: vec![doctor.address(), relative.address()],
        threshold: 2,
        delay: 0,
    };
    send_recovery(&w, recovery, &patient, set).await;

    new_wallet.sign_in(&server).await;
    let ask = MedLedgerRecovery::requestRecoveryCall {
        identity: patient.address(),
        transportKey: B256::repeat_byte(9),
    };
    let body = forward_body(&w, &new_wallet, recovery, ask.abi_encode()).await;
    let (code, relayed) = relay(&server, &new_wallet, &body).await;
    assert_eq!(code, 200, "{relayed}");
    assert_eq!(relayed["function"], json!("requestRecovery"));
    approve_all(&w, recovery, &patient, &new_wallet, &[&doctor, &relative]).await;
    // A view of the recovery contract is not paid for; nor is a call to another contract.
    let view = MedLedgerRecovery::guardiansOfCall {
        identity: patient.address(),
    };
    let body = forward_body(&w, &new_wallet, recovery, view.abi_encode()).await;
    let (code, e) = relay(&server, &new_wallet, &body).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (403, Some("relay-not-sponsored")),
        "{e}"
    );
    let complete = MedLedgerRecovery::completeRecoveryCall {
        identity: patient.address(),
    };
    let elsewhere = forward_body(
        &w,
        &new_wallet,
        w.d.insurance.address,
        complete.abi_encode(),
    )
    .await;
    let (code, e) = relay(&server, &new_wallet, &elsewhere).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (400, Some("relay-target")),
        "{e}"
    );

    let body = forward_body(&w, &new_wallet, recovery, complete.abi_encode()).await;
    let (code, relayed) = relay(&server, &new_wallet, &body).await;
    assert_eq!(code, 200, "{relayed}");
    let moved_to = w
        .call(MedLedger::walletOfCall {
            identity: patient.address(),
        })
        .await;
    assert_eq!(moved_to, new_wallet.address());
    let balance = w
        .rpc("eth_getBalance", json!([new_wallet.address(), "latest"]))
        .await;
    assert_eq!(balance, json!("0x0"), "the relayer paid");

    // The wallet's session was its own account's; now that it acts for the patient, that session
    // ends, and signing in again makes it the patient's.
    eventually("the new wallet's old session to end", || async {
        (server.get(&new_wallet, "/api/auth/session").await.status() == 401).then_some(())
    })
    .await;
    let session = new_wallet.sign_in_only(&server).await;
    assert!(patient.is(&session["address"]), "{session}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_requests_have_a_relay_quota_of_their_own() {
    let (patient, doctor, relative) = (
        User::new(PATIENT),
        User::new(DOCTOR),
        User::new(OTHER_PATIENT),
    );
    let (mut asker, mut flooder) = (User::without_ether(), User::without_ether());
    let (w, server) = World::serving(&[&patient, &relative], &[&doctor], |c| {
        c.relay_recovery_quota = 1
    })
    .await;
    asker.sign_in(&server).await;
    flooder.sign_in(&server).await;
    let recovery = w.d.recovery.address;
    let set = MedLedgerRecovery::setGuardiansCall {
        guardians: vec![doctor.address(), relative.address()],
        threshold: 2,
        delay: 0,
    };
    send_recovery(&w, recovery, &patient, set).await;
    let ask = |byte| MedLedgerRecovery::requestRecoveryCall {
        identity: patient.address(),
        transportKey: B256::repeat_byte(byte),
    };
    let body = forward_body(&w, &asker, recovery, ask(1).abi_encode()).await;
    let (code, relayed) = relay(&server, &asker, &body).await;
    assert_eq!(code, 200, "{relayed}");

    // Another fresh wallet's request, within its own quota and the total: refused unsent.
    let body = forward_body(&w, &flooder, recovery, ask(2).abi_encode()).await;
    let resp = flooder
        .post(server.url("/api/relay"))
        .json(&body)
        .send()
        .await
        .expect("relay");
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let e: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(e["error"], json!("relay-recovery-busy"), "{e}");
    let request = call(
        w.url(),
        recovery,
        MedLedgerRecovery::recoveryOfCall {
            identity: patient.address(),
            newWallet: flooder.address(),
        },
    )
    .await;
    assert!(!request.open, "nothing was sent");

    // The quota is the recovery requests': the same wallet's other transactions are paid for.
    let register = MedLedger::registerPatientCall {
        encryptionKey: flooder.encryption_key(),
    };
    let body = forward_body(&w, &flooder, w.d.address, register.abi_encode()).await;
    let (code, relayed) = relay(&server, &flooder, &body).await;
    assert_eq!(code, 200, "{relayed}");

    // The console shows the recovery requests paid for against their quota.
    let mut admin = User::new(ADMIN);
    admin.sign_in(&server).await;
    let summary = server.get_ok(&admin, "/api/console/summary").await;
    let relayer = &summary["relayer"];
    assert_eq!(
        (
            &relayer["recoveryRequests"],
            &relayer["recoveryQuota"],
            &relayer["relayed"]
        ),
        (&json!(1), &json!(1), &json!(2)),
        "{relayer}"
    );
}

/// `who`'s `method` of `path` with a JSON `body`: the status and the JSON answer.
async fn send_json(
    server: &Server,
    who: &User,
    put: bool,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let url = server.url(path);
    let request = if put { who.put(url) } else { who.post(url) };
    let resp = request.json(body).send().await.expect(path);
    let code = resp.status().as_u16();
    (code, resp.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_release_the_kit_s_shares_to_the_recovered_wallet_alone() {
    use medledger_protocol::api::recovery::{RecoveryKit, RecoverySetBody};
    use medledger_protocol::recovery::{recover, split, RecoverySet, Share};
    use medledger_protocol::wrap::{KeyPair, PublicKey};

    // The patient's key comes from a seed, as the app's does from the wallet's signature.
    let seed = [0x5e; 32];
    let (mut patient, mut doctor, mut relative, mut stranger) = (
        User::new(PATIENT),
        User::new(DOCTOR),
        User::new(OTHER_PATIENT),
        User::new(INSURER),
    );
    patient.keys = KeyPair::derive(&seed);
    let mut new_wallet = User::new(8);
    let (w, server) = World::serving(&[&patient, &relative], &[&doctor], |_| {}).await;
    for u in [&mut patient, &mut doctor, &mut relative, &mut stranger] {
        u.sign_in(&server).await;
    }
    let recovery = w.d.recovery.address;
    let set = RecoverySet {
        chain_id: w.d.chain_id,
        contract: w.d.address,
        account: patient.address(),
        key_version: 1,
        threshold: 2,
        guardians: vec![doctor.address(), relative.address()],
    };
    let (shares, manifest) = split(&seed, &set).expect("split");
    let sealed_to = |share: &Share, g: &User| share.seal(&set, &g.keys.public()).expect("seal");
    let kit = RecoveryKit {
        set: RecoverySetBody::from(&set),
        commitments: manifest.commitments.clone(),
        sealed: vec![
            sealed_to(&shares[0], &doctor).to_vec().into(),
            sealed_to(&shares[1], &relative).to_vec().into(),
        ],
    };
    let body = serde_json::to_value(&kit).expect("json");

    // Not before the chain holds the same guardians and threshold.
    let (code, e) = send_json(&server, &patient, true, "/api/recovery/kit", &body).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (409, Some("guardians-differ")),
        "{e}"
    );
    let on_chain = MedLedgerRecovery::setGuardiansCall {
        guardians: set.guardians.clone(),
        threshold: 2,
        delay: 0,
    };
    send_recovery(&w, recovery, &patient, on_chain).await;
    // Nor by another account, nor for another deployment, nor with a share cut short.
    let (code, e) = send_json(&server, &relative, true, "/api/recovery/kit", &body).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (403, Some("not-your-kit")),
        "{e}"
    );
    let mut elsewhere = body.clone();
    elsewhere["set"]["chainId"] = json!(1);
    let (code, e) = send_json(&server, &patient, true, "/api/recovery/kit", &elsewhere).await;
    assert_eq!(
        (code, e["error"].as_str()),
        (422, Some("other-deployment")),
        "{e}"
    );
    let mut short = body.clone();
    short["sealed"][1] = json!("0x0102");
    let (code, e) = send_json(&server, &patient, true, "/api/recovery/kit", &short).await;
    assert_eq!((code, e["error"].as_str()), (422, Some("bad-kit")), "{e}");
    let (code, stored) = send_json(&server, &patient, true, "/api/recovery/kit", &body).await;
    assert_eq!(code, 200, "{stored}");
    assert_eq!(stored["shares"].as_array().map(Vec::len), Some(2));

    // Its patient sees all of it, a guardian its own share, anyone else nothing.
    let path = format!("/api/recovery/kit/{}", patient.address());
    let mine = server.get_ok(&relative, &path).await;
    assert_eq!(mine["shares"].as_array().map(Vec::len), Some(1), "{mine}");
    assert!(relative.is(&mine["shares"][0]["guardian"]), "{mine}");
    assert_eq!(mine["setId"], json!(set.id()));
    let refused = server.get(&stranger, &path).await;
    assert_eq!(refused.status(), 403);
    let none = server
        .get(
            &stranger,
            &format!("/api/recovery/kit/{}", relative.address()),
        )
        .await;
    assert_eq!(none.status(), 403, "no kit, said as to a stranger");

    // The new wallet asks, naming its transport key; both guardians approve and re-seal.
    let transport = KeyPair::derive(&[0x7a; 32]);
    let ask = MedLedgerRecovery::requestRecoveryCall {
        identity: patient.address(),
        transportKey: B256::from(transport.public().0),
    };
    send_recovery(&w, recovery, &new_wallet, ask).await;
    approve_all(&w, recovery, &patient, &new_wallet, &[&doctor, &relative]).await;
    let request = call(
        w.url(),
        recovery,
        MedLedgerRecovery::recoveryOfCall {
            identity: patient.address(),
            newWallet: new_wallet.address(),
        },
    )
    .await;
    let releases = format!("{path}/releases");
    let release_by = |g: &User, index: u8, request_id: u64| {
        let view_share = &shares[usize::from(index) - 1];
        let opened = Share::open(&sealed_to(view_share, g), &set, index, &g.keys).expect("open");
        let moved = opened
            .seal_for_transport(&set, new_wallet.address(), &PublicKey(transport.public().0))
            .expect("re-seal");
        json!({
            "newWallet": new_wallet.address(),
            "requestId": request_id,
            "index": index,
            "sealed": alloy_primitives::hex::encode_prefixed(moved),
        })
    };
    // Refused: the other guardian's index, a stranger, a request number not the open one.
    let (code, e) = send_json(
        &server,
        &doctor,
        false,
        &releases,
        &release_by(&doctor, 2, request.requestId),
    )
    .await;
    assert_eq!(
        (code, e["error"].as_str()),
        (403, Some("not-a-guardian")),
        "{e}"
    );
    let (code, e) = send_json(
        &server,
        &stranger,
        false,
        &releases,
        &release_by(&stranger, 1, request.requestId),
    )
    .await;
    assert_eq!(
        (code, e["error"].as_str()),
        (403, Some("not-a-guardian")),
        "{e}"
    );
    let (code, e) = send_json(
        &server,
        &doctor,
        false,
        &releases,
        &release_by(&doctor, 1, request.requestId + 1),
    )
    .await;
    assert_eq!(
        (code, e["error"].as_str()),
        (409, Some("no-recovery-request")),
        "{e}"
    );
    for (g, index, count) in [(&doctor, 1u8, 1), (&relative, 2, 2)] {
        let (code, r) = send_json(
            &server,
            g,
            false,
            &releases,
            &release_by(g, index, request.requestId),
        )
        .await;
        assert_eq!((code, &r["released"]), (200, &json!(count)), "{r}");
    }

    // Before the recovery completes, the new wallet is only itself: nothing for it.
    new_wallet.sign_in(&server).await;
    let early = server.get(&new_wallet, "/api/recovery/released").await;
    assert_eq!(early.status(), 404);
    let complete = MedLedgerRecovery::completeRecoveryCall {
        identity: patient.address(),
    };
    send_recovery(&w, recovery, &new_wallet, complete).await;
    eventually("the new wallet's own session to end", || async {
        (server.get(&new_wallet, "/api/auth/session").await.status() == 401).then_some(())
    })
    .await;
    let session = new_wallet.sign_in_only(&server).await;
    assert!(patient.is(&session["address"]), "{session}");

    // Now it collects both shares and reassembles the patient's seed, checked against the
    // patient's key on chain.
    let got: medledger_protocol::api::recovery::ReleasedShares = server
        .get(&new_wallet, "/api/recovery/released")
        .await
        .json()
        .await
        .expect("released shares");
    assert_eq!(got.request_id, request.requestId);
    let received: Vec<Share> = got
        .shares
        .iter()
        .map(|s| {
            Share::open_transported(&s.sealed, &set, s.index, new_wallet.address(), &transport)
                .expect("opens with the transport key")
        })
        .collect();
    let on_chain_key = PublicKey(patient.encryption_key().0);
    let recovered = recover(&manifest, &received, &on_chain_key).expect("recover");
    assert_eq!(*recovered, seed);

    // The old wallet has no session, and a guardian cannot collect the shares.
    let refused = server.get(&doctor, "/api/recovery/released").await;
    assert_eq!(refused.status(), 404);
}
