//! What the event follower indexes besides records, read back through the API against a real
//! Ganache: consent grants (`GET /api/grants`), each caller seeing only their own.

mod support;

use alloy_primitives::Address;
use medledger_protocol::contract::{Category, MedLedger};
use serde_json::{json, Value};
use support::*;

const INSURER: usize = 6;

async fn grants_of(server: &Server, u: &User) -> Value {
    let r = u
        .get(server.url("/api/grants"))
        .send()
        .await
        .expect("grants");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

fn pairs(list: &Value) -> Vec<(Address, Address)> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|g| {
            (
                g["patient"]
                    .as_str()
                    .expect("patient")
                    .parse()
                    .expect("address"),
                g["grantee"]
                    .as_str()
                    .expect("grantee")
                    .parse()
                    .expect("address"),
            )
        })
        .collect()
}

async fn register_insurer(w: &World, insurer: &User) {
    let admin = User::new(ADMIN);
    w.send(
        insurer,
        MedLedger::applyAsInsurerCall {
            encryptionKey: insurer.encryption_key(),
            profileHash: alloy_primitives::B256::repeat_byte(2),
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_indexed_from_events_and_shown_only_to_their_parties() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut other = User::new(OTHER_PATIENT);
    let mut doctor = User::new(DOCTOR);
    let mut stranger = User::new(STRANGER_DOCTOR);
    let mut insurer = User::new(INSURER);
    w.register(&[&patient, &other], &[&doctor, &stranger]).await;
    register_insurer(&w, &insurer).await;
    let server = Server::start(w.config()).await;
    for u in [
        &mut patient,
        &mut other,
        &mut doctor,
        &mut stranger,
        &mut insurer,
    ] {
        u.sign_in(&server).await;
    }

    // No session: refused.
    let r = reqwest::get(server.url("/api/grants"))
        .await
        .expect("grants");
    assert_eq!(r.status(), 401);

    let now = u64::try_from(medledger_escrow_api::now_secs()).expect("time");
    let expiry = now + 86_400;
    let mask = Category::mask([Category::Laboratory, Category::Imaging]);
    // The patient grants the doctor (read and write) and the insurer (claims); the other patient
    // grants the doctor too.
    let granted = w
        .send(
            &patient,
            MedLedger::grantCall {
                grantee: doctor.address(),
                categories: mask,
                allowWrite: true,
                expiry,
            },
        )
        .await;
    let granted_block = u64::from_str_radix(
        granted["blockNumber"]
            .as_str()
            .expect("block")
            .trim_start_matches("0x"),
        16,
    )
    .expect("block number");
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
    w.send(
        &other,
        MedLedger::grantCall {
            grantee: doctor.address(),
            categories: Category::mask([Category::Laboratory]),
            allowWrite: false,
            expiry,
        },
    )
    .await;

    let mine = eventually(20, "three grants indexed", || async {
        let v = grants_of(&server, &doctor).await;
        (v["asGrantee"].as_array().map(Vec::len) == Some(2)).then_some(v)
    })
    .await;
    // The doctor finds the patients who granted them access, and gave none.
    assert_eq!(mine["asPatient"], json!([]));
    let ours = mine["asGrantee"]
        .as_array()
        .expect("list")
        .iter()
        .find(|g| g["patient"] == patient.address().to_checksum(None))
        .expect("the patient's grant")
        .clone();
    assert_eq!(
        ours,
        json!({
            "patient": patient.address().to_checksum(None),
            "grantee": doctor.address().to_checksum(None),
            "categories": mask.to_string(),
            "allowWrite": true,
            "expiry": expiry,
            "grantedBlock": granted_block,
            "active": true,
        })
    );
    assert_eq!(
        pairs(&mine["asGrantee"]),
        vec![
            (patient.address(), doctor.address()),
            (other.address(), doctor.address())
        ]
    );

    // The patient sees the two grants they gave, none received.
    let p = grants_of(&server, &patient).await;
    assert_eq!(
        pairs(&p["asPatient"]),
        vec![
            (patient.address(), doctor.address()),
            (patient.address(), insurer.address())
        ]
    );
    assert_eq!(p["asGrantee"], json!([]));
    // Every other party sees only their own: the other patient their one grant; the insurer the
    // patient's claims grant; a doctor nobody granted sees nothing.
    let o = grants_of(&server, &other).await;
    assert_eq!(
        pairs(&o["asPatient"]),
        vec![(other.address(), doctor.address())]
    );
    assert_eq!(o["asGrantee"], json!([]));
    let i = grants_of(&server, &insurer).await;
    assert_eq!(
        pairs(&i["asGrantee"]),
        vec![(patient.address(), insurer.address())]
    );
    assert_eq!(i["asGrantee"][0]["allowWrite"], false);
    assert_eq!(i["asPatient"], json!([]));
    assert_eq!(
        grants_of(&server, &stranger).await,
        json!({"asPatient": [], "asGrantee": []})
    );

    // Revocation: the grant disappears for both parties.
    w.send(
        &patient,
        MedLedger::revokeCall {
            grantee: doctor.address(),
        },
    )
    .await;
    eventually(20, "the revocation indexed", || async {
        let v = grants_of(&server, &doctor).await;
        (pairs(&v["asGrantee"]) == vec![(other.address(), doctor.address())]).then_some(())
    })
    .await;
    let p = grants_of(&server, &patient).await;
    assert_eq!(
        pairs(&p["asPatient"]),
        vec![(patient.address(), insurer.address())]
    );

    // A new grant after the revocation replaces it; one that lapses stays listed, inactive.
    let short = u64::try_from(medledger_escrow_api::now_secs()).expect("time") + 4;
    w.send(
        &patient,
        MedLedger::grantCall {
            grantee: doctor.address(),
            categories: Category::mask([Category::Laboratory]),
            allowWrite: false,
            expiry: short,
        },
    )
    .await;
    let g = eventually(20, "the new grant indexed", || async {
        let v = grants_of(&server, &doctor).await;
        v["asGrantee"]
            .as_array()
            .expect("list")
            .iter()
            .find(|g| g["patient"] == patient.address().to_checksum(None))
            .cloned()
    })
    .await;
    assert_eq!(g["expiry"], short);
    assert_eq!(g["allowWrite"], false);
    eventually(20, "the short grant to lapse", || async {
        let v = grants_of(&server, &doctor).await;
        v["asGrantee"]
            .as_array()
            .expect("list")
            .iter()
            .find(|g| g["patient"] == patient.address().to_checksum(None))
            .filter(|g| g["active"] == false)
            .map(|_| ())
    })
    .await;
    // The other patient's grant is still in force.
    let v = grants_of(&server, &doctor).await;
    assert!(v["asGrantee"]
        .as_array()
        .expect("list")
        .iter()
        .any(|g| g["patient"] == other.address().to_checksum(None) && g["active"] == true));
    server.stop().await;
}
