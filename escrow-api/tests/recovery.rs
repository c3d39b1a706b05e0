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

/// `newWallet`'s request to take `patient`'s identity over, as the recovery contract holds it.
async fn request_of(
    w: &World,
    recovery: Address,
    patient: &User,
    new_wallet: &User,
) -> MedLedgerRecovery::recoveryOfReturn {
    let of = MedLedgerRecovery::recoveryOfCall {
        identity: patient.address(),
        newWallet: new_wallet.address(),
    };
    call(w.url(), recovery, of).await
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
    let request = request_of(w, recovery, patient, new_wallet).await;
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
    let request = request_of(&w, recovery, &patient, &flooder).await;
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

/// `who`'s PUT (or POST) of `path` with a JSON `body`: the status and the JSON answer.
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

/// `who`'s GET of `path`, refused with status `code`: the error code.
async fn get_refused(server: &Server, who: &User, path: &str, code: u16) -> String {
    let resp = server.get(who, path).await;
    let status = resp.status().as_u16();
    refused((status, resp.json().await.expect("json")), code)
}

/// The error code of a refusal with status `code`, or the whole answer when it is another.
fn refused(answer: (u16, serde_json::Value), code: u16) -> String {
    match answer {
        (c, e) if c == code => e["error"].as_str().unwrap_or_default().to_string(),
        (c, e) => format!("{c}: {e}"),
    }
}

mod kits {
    //! A patient's recovery kit: split, sealed to the guardians, stored with the escrow.
    use medledger_protocol::api::recovery::RecoveryKit;
    use medledger_protocol::recovery::{split, Manifest, RecoverySet, Share};
    use medledger_protocol::wrap::KeyPair;

    use super::*;

    /// The patient's key seed (the app's comes from a wallet signature).
    pub const SEED: [u8; 32] = [0x5e; 32];

    /// A patient whose key comes from [`SEED`].
    pub fn patient() -> User {
        let mut patient = User::new(PATIENT);
        patient.keys = KeyPair::derive(&SEED);
        patient
    }

    /// The set of `patient`'s key version 1 with `guardians`, threshold 2.
    pub fn set(w: &World, patient: &User, guardians: &[&User]) -> RecoverySet {
        RecoverySet {
            chain_id: w.d.chain_id,
            contract: w.d.address,
            account: patient.address(),
            key_version: 1,
            threshold: 2,
            guardians: guardians.iter().map(|g| g.address()).collect(),
        }
    }

    /// A fresh split of [`SEED`]: the shares, the manifest and the kit (each share sealed to its
    /// guardian), as JSON.
    pub fn kit(
        set: &RecoverySet,
        guardians: &[&User],
    ) -> (Vec<Share>, Manifest, serde_json::Value) {
        let (shares, manifest) = split(&SEED, set).expect("split");
        let sealed = shares
            .iter()
            .zip(guardians)
            .map(|(share, g)| {
                share
                    .seal(set, &g.keys.public())
                    .expect("seal")
                    .to_vec()
                    .into()
            })
            .collect();
        let kit = RecoveryKit {
            set: set.clone(),
            commitments: manifest.commitments.clone(),
            sealed,
        };
        (shares, manifest, serde_json::to_value(&kit).expect("json"))
    }

    /// Names `guardians` with `threshold` on chain for `patient`.
    pub async fn name_guardians(w: &World, patient: &User, guardians: &[&User], threshold: u8) {
        let set = MedLedgerRecovery::setGuardiansCall {
            guardians: guardians.iter().map(|g| g.address()).collect(),
            threshold,
            delay: 0,
        };
        send_recovery(w, w.d.recovery.address, patient, set).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_kit_is_stored_as_the_chain_names_its_guardians_and_shown_to_them_alone() {
    let (mut patient, mut doctor, mut relative, mut stranger) = (
        kits::patient(),
        User::new(DOCTOR),
        User::new(OTHER_PATIENT),
        User::new(STRANGER_DOCTOR),
    );
    // The stranger is a registered doctor, so that the patient can name it a guardian later.
    let (w, server) = World::serving(&[&patient, &relative], &[&doctor, &stranger], |_| {}).await;
    for u in [&mut patient, &mut doctor, &mut relative, &mut stranger] {
        u.sign_in(&server).await;
    }
    let set = kits::set(&w, &patient, &[&doctor, &relative]);
    let (_, manifest, body) = kits::kit(&set, &[&doctor, &relative]);
    let store = |who, body| send_json(&server, who, true, "/api/recovery/kit", body);

    // Not before the chain holds the same guardians, in the same order, with the same threshold.
    assert_eq!(
        refused(store(&patient, &body).await, 409),
        "guardians-differ"
    );
    kits::name_guardians(&w, &patient, &[&relative, &doctor], 2).await;
    assert_eq!(
        refused(store(&patient, &body).await, 409),
        "guardians-differ"
    );
    kits::name_guardians(&w, &patient, &[&doctor, &relative], 1).await;
    assert_eq!(
        refused(store(&patient, &body).await, 409),
        "guardians-differ"
    );
    kits::name_guardians(&w, &patient, &[&doctor, &relative], 2).await;
    // Nor by another account, nor for another deployment, nor with a share cut short.
    assert_eq!(refused(store(&relative, &body).await, 403), "not-your-kit");
    let mut elsewhere = body.clone();
    elsewhere["set"]["chainId"] = json!(1);
    assert_eq!(
        refused(store(&patient, &elsewhere).await, 422),
        "other-deployment"
    );
    let mut short = body.clone();
    short["sealed"][1] = json!("0x0102");
    assert_eq!(refused(store(&patient, &short).await, 422), "bad-kit");
    let (code, stored) = store(&patient, &body).await;
    assert_eq!(code, 200, "{stored}");
    assert_eq!(stored["kitId"], json!(manifest.id()));

    // Its patient sees all of it, a guardian its own share, anyone else nothing.
    let path = format!("/api/recovery/kit/{}", patient.address());
    let all = server.get_ok(&patient, &path).await;
    assert_eq!(all["shares"].as_array().map(Vec::len), Some(2), "{all}");
    let mine = server.get_ok(&relative, &path).await;
    assert_eq!(mine["shares"].as_array().map(Vec::len), Some(1), "{mine}");
    assert!(relative.is(&mine["shares"][0]["guardian"]), "{mine}");
    assert_eq!(mine["setId"], json!(set.id()));
    assert_eq!(server.get(&stranger, &path).await.status(), 403);
    // No kit: said so to its patient only; to anyone else, as to a stranger.
    let none = format!("/api/recovery/kit/{}", relative.address());
    assert_eq!(server.get(&relative, &none).await.status(), 404);
    assert_eq!(server.get(&stranger, &none).await.status(), 403);
    assert_eq!(
        server
            .get(&stranger, "/api/recovery/kit/nobody")
            .await
            .status(),
        400
    );

    // The patient replaces the relative by the stranger on chain: the relative, removed, is no
    // longer shown its share; the stranger, not in the kit, is not shown any; a share of the kit
    // is no longer taken, since the kit no longer names the chain's guardians.
    kits::name_guardians(&w, &patient, &[&doctor, &stranger], 2).await;
    assert_eq!(
        get_refused(&server, &relative, &path, 403).await,
        "not-a-guardian"
    );
    assert_eq!(
        get_refused(&server, &stranger, &path, 403).await,
        "not-a-guardian"
    );
    let release = |index: u8| {
        json!({
            "kitId": manifest.id(), "newWallet": User::new(8).address(), "requestId": 1,
            "index": index, "sealed": format!("0x{}", "00".repeat(81)),
        })
    };
    let releases = format!("{path}/releases");
    let answer = send_json(&server, &doctor, false, &releases, &release(1)).await;
    assert_eq!(refused(answer, 409), "kit-stale");
    // The relative, at its own index of the kit, is refused for being off the chain's list.
    let answer = send_json(&server, &relative, false, &releases, &release(2)).await;
    assert_eq!(refused(answer, 403), "not-a-guardian");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_release_the_kit_s_shares_to_the_recovered_wallet_alone() {
    use medledger_protocol::recovery::{recover, Share};
    use medledger_protocol::wrap::{KeyPair, PublicKey};

    let (mut patient, mut doctor, mut relative, mut stranger) = (
        kits::patient(),
        User::new(DOCTOR),
        User::new(OTHER_PATIENT),
        User::new(INSURER),
    );
    let mut new_wallet = User::new(8);
    let (w, server) = World::serving(&[&patient, &relative], &[&doctor], |_| {}).await;
    for u in [&mut patient, &mut doctor, &mut relative, &mut stranger] {
        u.sign_in(&server).await;
    }
    let recovery = w.d.recovery.address;
    let guardians = [&doctor, &relative];
    kits::name_guardians(&w, &patient, &guardians, 2).await;
    let set = kits::set(&w, &patient, &guardians);
    let (first_shares, first_manifest, body) = kits::kit(&set, &guardians);
    let (code, stored) = send_json(&server, &patient, true, "/api/recovery/kit", &body).await;
    assert_eq!(code, 200, "{stored}");
    let releases = format!("/api/recovery/kit/{}/releases", patient.address());

    // A request the patient cancels takes no share.
    let other_asker = User::new(9);
    let ask = MedLedgerRecovery::requestRecoveryCall {
        identity: patient.address(),
        transportKey: B256::repeat_byte(9),
    };
    send_recovery(&w, recovery, &other_asker, ask).await;
    send_recovery(
        &w,
        recovery,
        &patient,
        MedLedgerRecovery::cancelRecoveryCall {},
    )
    .await;
    let cancelled = request_of(&w, recovery, &patient, &other_asker).await;
    assert!(!cancelled.open && cancelled.requestId > 0);
    let to_cancelled = json!({
        "kitId": first_manifest.id(), "newWallet": other_asker.address(),
        "requestId": cancelled.requestId, "index": 1, "sealed": format!("0x{}", "00".repeat(81)),
    });
    let answer = send_json(&server, &doctor, false, &releases, &to_cancelled).await;
    assert_eq!(refused(answer, 409), "no-recovery-request");

    // The new wallet asks, naming its transport key; both guardians approve.
    let transport = KeyPair::derive(&[0x7a; 32]);
    let ask = MedLedgerRecovery::requestRecoveryCall {
        identity: patient.address(),
        transportKey: B256::from(transport.public().0),
    };
    send_recovery(&w, recovery, &new_wallet, ask).await;
    approve_all(&w, recovery, &patient, &new_wallet, &guardians).await;
    let request = request_of(&w, recovery, &patient, &new_wallet).await;
    // Each guardian opens its share of a kit and re-seals it for the new wallet.
    let new_address = new_wallet.address();
    let release_by = |g: &User, shares: &[Share], kit_id: B256, index: u8, request_id: u64| {
        let share = &shares[usize::from(index) - 1];
        let sealed = share.seal(&set, &g.keys.public()).expect("seal");
        let opened = Share::open(&sealed, &set, index, &g.keys).expect("the guardian opens");
        let moved = opened
            .seal_for_transport(&set, new_address, &PublicKey(transport.public().0))
            .expect("re-seal");
        json!({
            "kitId": kit_id,
            "newWallet": new_address,
            "requestId": request_id,
            "index": index,
            "sealed": alloy_primitives::hex::encode_prefixed(moved),
        })
    };
    let (first_id, now) = (first_manifest.id(), request.requestId);
    // Refused: the other guardian's index, a stranger, a request number not the open one.
    let other_index = release_by(&doctor, &first_shares, first_id, 2, now);
    assert_eq!(
        refused(
            send_json(&server, &doctor, false, &releases, &other_index).await,
            403
        ),
        "not-a-guardian"
    );
    let by_stranger = release_by(&stranger, &first_shares, first_id, 1, now);
    assert_eq!(
        refused(
            send_json(&server, &stranger, false, &releases, &by_stranger).await,
            403
        ),
        "not-a-guardian"
    );
    let not_open = release_by(&doctor, &first_shares, first_id, 1, now + 1);
    assert_eq!(
        refused(
            send_json(&server, &doctor, false, &releases, &not_open).await,
            409
        ),
        "no-recovery-request"
    );
    let (code, r) = send_json(
        &server,
        &doctor,
        false,
        &releases,
        &release_by(&doctor, &first_shares, first_id, 1, now),
    )
    .await;
    assert_eq!((code, &r["released"]), (200, &json!(1)), "{r}");

    // The patient stores a kit of a new split: a share of the old one is refused, and the
    // doctor's earlier release is not served with the new kit.
    let (shares, manifest, body) = kits::kit(&set, &guardians);
    let (code, stored) = send_json(&server, &patient, true, "/api/recovery/kit", &body).await;
    assert_eq!(code, 200, "{stored}");
    let late = release_by(&relative, &first_shares, first_id, 2, now);
    assert_eq!(
        refused(
            send_json(&server, &relative, false, &releases, &late).await,
            409
        ),
        "kit-replaced"
    );
    let release_of_new_kit = |g: &User, index| release_by(g, &shares, manifest.id(), index, now);
    let (code, r) = send_json(
        &server,
        &doctor,
        false,
        &releases,
        &release_of_new_kit(&doctor, 1),
    )
    .await;
    assert_eq!((code, &r["released"]), (200, &json!(1)), "{r}");

    // Before the recovery completes, the new wallet is only itself: nothing for it; nor for the
    // patient's own wallet, nor for a guardian.
    new_wallet.sign_in(&server).await;
    for who in [&new_wallet, &patient, &doctor] {
        let code = get_refused(&server, who, "/api/recovery/released", 404).await;
        assert_eq!(code, "nothing-released");
    }
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

    // The wallet completed on the approvals with one share in: the relative's still comes in for
    // the request that moved the identity.
    let (code, r) = send_json(
        &server,
        &relative,
        false,
        &releases,
        &release_of_new_kit(&relative, 2),
    )
    .await;
    assert_eq!((code, &r["released"]), (200, &json!(2)), "{r}");

    // Now it collects both shares of the current kit and reassembles the patient's seed, checked
    // against the patient's key on chain.
    let got: medledger_protocol::api::recovery::ReleasedShares = server
        .get(&new_wallet, "/api/recovery/released")
        .await
        .json()
        .await
        .expect("released shares");
    assert_eq!((got.request_id, got.manifest.kit_id), (now, manifest.id()));
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
    assert_eq!(*recovered, kits::SEED);
    // A guardian still cannot collect them.
    let code = get_refused(&server, &doctor, "/api/recovery/released", 404).await;
    assert_eq!(code, "nothing-released");
}
