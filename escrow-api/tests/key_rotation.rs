//! An account rotating its encryption key, against a real chain and escrow (issue 18, docs/api.md
//! "Your wraps"): the app lists the DEKs wrapped to the account, rotates the key on chain, and
//! replaces those wraps with wraps to the new key, signed by its wallet. Afterwards the escrow
//! releases only wraps the new key opens; wraps made for others are untouched; the wrong party,
//! a stale key, a stranger's record and half a batch are refused with nothing replaced.

mod support;

use alloy_primitives::{hex, B256};
use alloy_signer::SignerSync;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::identity::MoveWrapsMessage;
use medledger_protocol::wrap::{self, KeyPair, Purpose, WrapContext};
use serde_json::{json, Value};
use support::*;

/// A refused move: what it is, the key and signature sent, the wraps, the status and code.
type Refused<'a> = (&'a str, B256, &'a str, Vec<Value>, u16, &'a str);

/// An hour after the test began: the signatures' deadline, the same for every one of them.
fn in_an_hour() -> u64 {
    static DEADLINE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *DEADLINE.get_or_init(|| u64::try_from(medledger_escrow_api::now_secs()).expect("time") + 3_600)
}

/// `signer`'s signature over moving `account`'s wraps to `key` before `deadline`, 0x-hex.
fn move_signature_until(
    w: &World,
    signer: &User,
    account: &User,
    key: B256,
    deadline: u64,
) -> String {
    let message = MoveWrapsMessage {
        chain_id: w.d.chain_id,
        contract: w.d.address,
        account: account.address(),
        encryption_key: key,
        deadline,
    };
    let sig = signer
        .signer
        .sign_hash_sync(&message.signing_hash())
        .expect("sign");
    hex::encode_prefixed(sig.as_bytes())
}

/// [`move_signature_until`] an hour from now.
fn move_signature(w: &World, signer: &User, account: &User, key: B256) -> String {
    move_signature_until(w, signer, account, key, in_an_hour())
}

fn context(w: &World, record: B256, reader: &User) -> WrapContext {
    WrapContext {
        chain_id: w.d.chain_id,
        contract: w.d.address,
        record_id: record,
        reader: reader.address(),
        purpose: Purpose::Reader,
    }
}

/// `r`'s DEK wrapped to `keys` for `reader`, as `PUT /api/wraps/mine` takes it.
fn moved(w: &World, r: &Record, reader: &User, keys: &KeyPair) -> Value {
    let wrapped = wrap::wrap_dek(&r.dek, &keys.public(), &context(w, r.id, reader)).expect("wrap");
    json!({"recordId": r.id, "wrappedDek": hex::encode_prefixed(wrapped)})
}

async fn put_moved(
    server: &Server,
    who: &User,
    key: B256,
    sig: &str,
    wraps: Vec<Value>,
) -> (u16, Value) {
    put_moved_until(server, who, key, in_an_hour(), sig, wraps).await
}

async fn put_moved_until(
    server: &Server,
    who: &User,
    key: B256,
    deadline: u64,
    sig: &str,
    wraps: Vec<Value>,
) -> (u16, Value) {
    let body =
        json!({"encryptionKey": key, "deadline": deadline, "signature": sig, "wraps": wraps});
    let resp = who
        .put(server.url("/api/wraps/mine"))
        .json(&body)
        .send()
        .await
        .expect("put");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON answer"))
}

/// The wrapped DEK the escrow releases to `who` with record `r`.
async fn released_wrap(server: &Server, who: &User, r: &Record) -> Vec<u8> {
    let resp = server.read(who, r.id).await;
    assert_eq!(resp.status(), 200);
    let header = resp.headers()["x-medledger-wrapped-dek"]
        .to_str()
        .expect("ascii");
    let (reader, wrap) = header.split_once('=').expect("reader=wrap");
    assert!(who.is(&json!(reader)), "{header}");
    hex::decode(wrap).expect("hex")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_takes_over_every_wrap_and_the_old_one_opens_nothing_released() {
    let (w, server, [mut patient, other], [doctor]) =
        World::signed_in([PATIENT, OTHER_PATIENT], [DOCTOR], |_| {}).await;
    w.grant_for_a_day(&patient, &doctor, &Category::ALL, false)
        .await;
    let mut mine = Vec::new();
    for i in 0..3 {
        let r = w.record(&patient, Category::Vitals, format!("pulse {i}"));
        w.commit(&server, &patient, &[&patient, &doctor], &r).await;
        mine.push(r);
    }
    let theirs = w.record(&other, Category::Vitals, "not shared");
    w.commit(&server, &other, &[&other], &theirs).await;

    // The list: the patient's three wraps, by record id, a page from `after` on.
    let listed = server.get_ok(&patient, "/api/wraps/mine").await;
    let mut ids: Vec<B256> = mine.iter().map(|r| r.id).collect();
    ids.sort();
    let got: Vec<B256> = listed["wraps"]
        .as_array()
        .expect("wraps")
        .iter()
        .map(|w| w["recordId"].as_str().expect("id").parse().expect("B256"))
        .collect();
    assert_eq!(got, ids);
    assert!(listed["next"].is_null());
    assert!(patient.is(&listed["wraps"][0]["patient"]));
    let rest = server
        .get_ok(&patient, &format!("/api/wraps/mine?after={}", ids[0]))
        .await;
    assert_eq!(rest["wraps"].as_array().expect("wraps").len(), 2);
    let bad_after = server.get(&patient, "/api/wraps/mine?after=nonsense").await;
    assert_eq!(bad_after.status(), 400);

    let old_keys = patient.keys.clone();
    let new_keys = KeyPair::generate().expect("key");
    let new_key = B256::from(new_keys.public().0);
    let all = |keys: &KeyPair| {
        mine.iter()
            .map(|r| moved(&w, r, &patient, keys))
            .collect::<Vec<_>>()
    };

    // Before the chain names the new key, nothing moves: the key is not the patient's yet.
    let sig = move_signature(&w, &patient, &patient, new_key);
    let (status, body) = put_moved(&server, &patient, new_key, &sig, all(&new_keys)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("key-not-current"))
    );

    w.send(
        &patient,
        MedLedger::rotateEncryptionKeyCall {
            encryptionKey: new_key,
        },
    )
    .await;

    // The wrong parties and bad batches, each refused with nothing replaced.
    let by_doctor = move_signature(&w, &doctor, &patient, new_key);
    let old_key = B256::from(old_keys.public().0);
    let over_old = move_signature(&w, &patient, &patient, old_key);
    let mut twice = all(&new_keys);
    twice.push(twice[0].clone());
    let mut with_strangers = all(&new_keys);
    with_strangers.push(moved(&w, &theirs, &patient, &new_keys));
    let unknown = Record::new(&w.d, patient.address(), 1, b"never uploaded".to_vec());
    let mut with_unknown = all(&new_keys);
    with_unknown.push(moved(&w, &unknown, &patient, &new_keys));
    let cases: Vec<Refused> = vec![
        (
            "the doctor's signature",
            new_key,
            &by_doctor,
            all(&new_keys),
            400,
            "bad-signature",
        ),
        (
            "the key before",
            old_key,
            &over_old,
            all(&old_keys),
            409,
            "key-not-current",
        ),
        (
            "a record twice",
            new_key,
            &sig,
            twice,
            400,
            "bad-wrapped-dek",
        ),
        (
            "another patient's record",
            new_key,
            &sig,
            with_strangers,
            409,
            "no-wrap-to-move",
        ),
        (
            "a record never stored",
            new_key,
            &sig,
            with_unknown,
            404,
            "unknown-record",
        ),
        (
            "no wraps",
            new_key,
            &sig,
            Vec::new(),
            400,
            "bad-wrapped-dek",
        ),
    ];
    for (what, key, signature, wraps, want, code) in cases {
        let (status, body) = put_moved(&server, &patient, key, signature, wraps).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (want, Some(code)),
            "{what}: {body}"
        );
    }
    // A signature whose deadline has passed, or lies more than a day ahead, does not serve.
    let now = u64::try_from(medledger_escrow_api::now_secs()).expect("time");
    for deadline in [now - 1, now + 2 * 86_400] {
        let sig = move_signature_until(&w, &patient, &patient, new_key, deadline);
        let (status, body) =
            put_moved_until(&server, &patient, new_key, deadline, &sig, all(&new_keys)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("bad-signature")),
            "{deadline}: {body}"
        );
    }
    // The doctor, signed in, cannot move the patient's wraps with the patient's signature: the
    // signature names the patient, the session is the doctor's.
    let (status, body) = put_moved(&server, &doctor, new_key, &sig, all(&new_keys)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad-signature"))
    );
    for r in &mine {
        let wrap = released_wrap(&server, &patient, r).await;
        assert!(
            wrap::unwrap_dek(&wrap, &old_keys, &context(&w, r.id, &patient)).is_ok(),
            "nothing moved yet"
        );
    }

    let (status, body) = put_moved(&server, &patient, new_key, &sig, all(&new_keys)).await;
    assert_eq!((status, &body["moved"]), (200, &json!(3)), "{body}");
    patient.keys = new_keys.clone();
    for r in &mine {
        let wrap = released_wrap(&server, &patient, r).await;
        let ctx = context(&w, r.id, &patient);
        assert!(
            wrap::unwrap_dek(&wrap, &old_keys, &ctx).is_err(),
            "the old key opens nothing"
        );
        assert_eq!(
            r.open(&w.d, &patient, server.read(&patient, r.id).await)
                .await,
            r.body
        );
        // The doctor's wraps are theirs and unchanged.
        assert_eq!(
            r.open(&w.d, &doctor, server.read(&doctor, r.id).await)
                .await,
            r.body
        );
    }
    let untouched = theirs
        .open(&w.d, &other, server.read(&other, theirs.id).await)
        .await;
    assert_eq!(untouched, theirs.body, "another patient's record");

    // A reader rotates too: the doctor moves the keys of the patient's records they hold.
    let mut doctor = doctor;
    let doctors_new = KeyPair::generate().expect("key");
    let doctors_key = B256::from(doctors_new.public().0);
    w.send(
        &doctor,
        MedLedger::rotateEncryptionKeyCall {
            encryptionKey: doctors_key,
        },
    )
    .await;
    let listed = server.get_ok(&doctor, "/api/wraps/mine").await;
    assert_eq!(
        listed["wraps"].as_array().expect("wraps").len(),
        3,
        "{listed}"
    );
    assert!(patient.is(&listed["wraps"][0]["patient"]));
    let theirs_moved: Vec<Value> = mine
        .iter()
        .map(|r| moved(&w, r, &doctor, &doctors_new))
        .collect();
    let sig = move_signature(&w, &doctor, &doctor, doctors_key);
    let (status, body) = put_moved(&server, &doctor, doctors_key, &sig, theirs_moved).await;
    assert_eq!((status, &body["moved"]), (200, &json!(3)), "{body}");
    doctor.keys = doctors_new;
    for r in &mine {
        assert_eq!(
            r.open(&w.d, &doctor, server.read(&doctor, r.id).await)
                .await,
            r.body
        );
        // And the patient's, moved before, are still theirs.
        assert_eq!(
            r.open(&w.d, &patient, server.read(&patient, r.id).await)
                .await,
            r.body
        );
    }

    // Each move is in the patient's log, by whoever moved their key.
    let log = server.log_entries(&patient).await;
    let rewraps: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "rewrap" && doctor.is(&e["actor"]) && e["granted"] == true)
        .collect();
    assert_eq!(rewraps.len(), 3, "the doctor's: {log:?}");
    let rewraps: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "rewrap" && patient.is(&e["actor"]) && e["granted"] == true)
        .collect();
    assert_eq!(rewraps.len(), 3, "{log:?}");
    assert!(rewraps.iter().all(|e| e["reason"] == "key-rotated"));
    // The refused moves are there too, each under its reason (a malformed request, which names
    // no record it could be logged against, is not).
    let refused: std::collections::BTreeSet<&str> = log
        .iter()
        .filter(|e| e["action"] == "rewrap" && patient.is(&e["actor"]) && e["granted"] == false)
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for reason in [
        "bad-signature",
        "key-not-current",
        "no-wrap-to-move",
        "unknown-record",
    ] {
        assert!(refused.contains(reason), "{reason} not logged: {refused:?}");
    }
    assert!(!refused.contains("bad-wrapped-dek"), "{refused:?}");
    server.stop().await;
}
