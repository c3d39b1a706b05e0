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
    let request = call(
        w.url(),
        recovery,
        MedLedgerRecovery::recoveryOfCall {
            identity: patient.address(),
            newWallet: new_wallet.address(),
        },
    )
    .await;
    assert!(request.open);
    for guardian in [&doctor, &relative] {
        let approve = MedLedgerRecovery::approveRecoveryCall {
            identity: patient.address(),
            newWallet: new_wallet.address(),
            requestId: request.requestId,
        };
        send_recovery(&w, recovery, guardian, approve).await;
    }
    let complete = MedLedgerRecovery::completeRecoveryCall {
        identity: patient.address(),
    };
    send_recovery(&w, recovery, &new_wallet, complete).await;

    // The follower ends the old wallet's session once it has processed IdentityMoved.
    eventually("the old wallet's session to end", || async {
        (server.get(&patient, "/api/auth/session").await.status() == 401).then_some(())
    })
    .await;
    let msg = patient.siwe(&server).await.to_string();
    let refused = patient.post_own_siwe(&server, &msg).await;
    assert_eq!(refused.status(), 403);
    let e: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(e["error"], json!("wallet-retired"), "{e}");

    // The new wallet signs in as the patient's account: the agreement the patient accepted
    // is the account's, its records are the account's.
    let session = new_wallet.sign_in_only(&server).await;
    assert!(patient.is(&session["address"]), "{session}");
    assert!(new_wallet.is(&session["wallet"]), "{session}");
    assert_eq!(
        session["agreement"]["accepted"], session["agreement"]["current"],
        "{session}"
    );
    let listed = server.listed_records(&new_wallet, patient.address()).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let read = server.read(&new_wallet, r.id).await;
    assert_eq!(
        read.status(),
        200,
        "the patient's record, opened by the new wallet"
    );
}
