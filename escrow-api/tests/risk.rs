//! Access risk against a real chain and escrow (issue 15, docs/risk.md "At the escrow"): every
//! read attempt carries the model's score; a burst is flagged with its reasons; the policy is the
//! admins'; under `hold` an unusual read is held until the patient's signed decision, and each
//! step is in the access log; emergency releases are never held.
//!
//! The escrow's clock is the wall clock, so these tests never ask whether one particular read
//! scores low: they compare scores and use the deployment's time zone (`risk_utc_offset_secs`)
//! to put "now" at 03:00 local time, the middle of the night for any ward.

mod support;

use alloy_primitives::{hex, B256};
use alloy_signer::SignerSync;
use medledger_escrow_api::config::Config;
use medledger_protocol::contract::Category;
use medledger_protocol::identity::HoldDecisionMessage;
use serde_json::{json, Value};
use support::*;

const PATIENTS: [usize; 3] = [PATIENT, OTHER_PATIENT, 8];

/// Puts the deployment's local time at about 03:00 now.
fn at_night(c: &mut Config) {
    let now = medledger_escrow_api::now_secs() % 86_400;
    let mut offset = 3 * 3_600 - now;
    if offset > 12 * 3_600 {
        offset -= 86_400;
    }
    if offset <= -12 * 3_600 {
        offset += 86_400;
    }
    c.risk_utc_offset_secs = offset;
}

/// `n` records of `patient`'s, committed with wraps to the patient and `reader`.
async fn records_of(
    w: &World,
    server: &Server,
    patient: &User,
    reader: &User,
    n: u8,
) -> Vec<Record> {
    let mut out = Vec::new();
    for i in 0..n {
        let r = w.record(patient, Category::Vitals, format!("pulse {i}").repeat(40));
        w.commit(server, patient, &[patient, reader], &r).await;
        out.push(r);
    }
    out
}

async fn put_policy(server: &Server, who: &User, policy: Value) -> reqwest::Response {
    let put = who.put(server.url("/api/console/risk"));
    put.json(&policy).send().await.expect("policy")
}

async fn error_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("an error body");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_night_burst_is_flagged_with_its_reasons_and_the_policy_is_the_admins() {
    let (w, server, mut patients, [doctor]) = World::signed_in(PATIENTS, [DOCTOR], at_night).await;
    let mut admin = User::new(ADMIN);
    server.sign_in([&mut admin]).await;
    let mut burst = Vec::new();
    for p in &patients {
        w.grant_for_a_day(p, &doctor, &Category::ALL, false).await;
        for r in records_of(&w, &server, p, &doctor, 3).await {
            burst.push((p, r));
        }
    }
    for (_, r) in &burst {
        assert_eq!(server.read(&doctor, r.id).await.status(), 200);
    }
    let score_of = |e: &Value| e["scoreMilli"].as_i64().expect("a score");
    let (first_patient, first) = &burst[0];
    let (last_patient, last) = &burst[burst.len() - 1];
    let first = server
        .entries_of(first_patient, doctor.address(), first.id, "read")
        .await;
    let last = server
        .entries_of(last_patient, doctor.address(), last.id, "read")
        .await;
    let (first, last) = (&first[0], &last[0]);
    assert!(score_of(last) >= 950, "{last:#?}");
    assert!(score_of(last) >= score_of(first), "{first:#?} {last:#?}");
    assert_eq!(last["flagged"], true, "{last:#?}");
    let reasons: Vec<&str> = last["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!reasons.is_empty() && reasons.len() <= 3, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("in the last")
            || r.contains("usual hours")
            || r.contains("first read")),
        "{reasons:?}"
    );
    // The patient's own reads are scored too.
    let own = &patients[0];
    assert_eq!(server.read(own, burst[0].1.id).await.status(), 200);
    let own_reads = server
        .entries_of(own, own.address(), burst[0].1.id, "read")
        .await;
    assert!(
        own_reads[0]["scoreMilli"].as_i64().is_some(),
        "{own_reads:#?}"
    );

    // The console: the model's state and the policy, for admins only.
    let status = server.get_ok(&admin, "/api/console/risk").await;
    assert_eq!(status["reference"], "synthetic", "{status}");
    assert_eq!(status["scoring"], true, "{status}");
    assert_eq!(
        status["policy"],
        json!({"mode": "flag", "thresholdMilli": 950})
    );
    assert!(status["referenceSize"].as_u64() > Some(1_000), "{status}");
    let hold = json!({"mode": "hold", "thresholdMilli": 900});
    let (code, error) = error_code(put_policy(&server, &doctor, hold.clone()).await).await;
    assert_eq!((code, error.as_str()), (403, "not-admin"));
    assert_eq!(
        server.get(&patients[1], "/api/console/risk").await.status(),
        403
    );
    let zero = json!({"mode": "hold", "thresholdMilli": 0});
    let (code, error) = error_code(put_policy(&server, &admin, zero).await).await;
    assert_eq!((code, error.as_str()), (400, "bad-threshold"));
    let unknown = json!({"mode": "block", "thresholdMilli": 900});
    let (code, error) = error_code(put_policy(&server, &admin, unknown).await).await;
    assert_eq!((code, error.as_str()), (422, "bad-json"), "an unknown mode");
    let resp = put_policy(&server, &admin, hold.clone()).await;
    assert_eq!(resp.status(), 200);
    let status = server.get_ok(&admin, "/api/console/risk").await;
    assert_eq!(status["policy"], hold);
    // The console's attention list carries the flagged burst with its reasons.
    let log = server
        .get_ok(&admin, "/api/console/log?attention=true&limit=100")
        .await;
    let entries = log["entries"].as_array().expect("entries");
    assert!(
        entries
            .iter()
            .any(|e| e["flagged"] == true && e["reasons"].as_array().is_some_and(|r| !r.is_empty())),
        "{entries:#?}"
    );
    // The policy outlives a restart.
    let config = server.stop().await;
    let server = Server::start(config).await;
    server.sign_in([&mut admin]).await;
    server.sign_in(patients.iter_mut()).await;
    let status = server.get_ok(&admin, "/api/console/risk").await;
    assert_eq!(status["policy"], hold);
    server.stop().await;
}

/// `patient`'s signed decision on hold `id` over `record` read by `reader`, as the app sends it.
fn decision(
    w: &World,
    signer: &User,
    patient: &User,
    reader: &User,
    hold: &Value,
    record: B256,
    approve: bool,
) -> Value {
    let message = HoldDecisionMessage {
        chain_id: w.d.chain_id,
        contract: w.d.address,
        hold: hold["id"].as_u64().expect("id"),
        created_at: hold["createdAt"].as_u64().expect("createdAt"),
        record_id: record,
        reader: reader.address(),
        patient: patient.address(),
        approve,
    };
    let sig = signer
        .signer
        .sign_hash_sync(&message.signing_hash())
        .expect("sign");
    json!({"approve": approve, "signature": hex::encode_prefixed(sig.as_bytes())})
}

async fn decide(server: &Server, who: &User, id: u64, body: &Value) -> reqwest::Response {
    let post = who.post(server.url(&format!("/api/holds/{id}")));
    post.json(body).send().await.expect("decide")
}

/// The one pending hold of `patient`'s on `record`.
async fn pending_hold(server: &Server, patient: &User, record: B256) -> Value {
    let holds = server.get_ok(patient, "/api/holds").await;
    let on_record: Vec<&Value> = holds["holds"]
        .as_array()
        .expect("holds")
        .iter()
        .filter(|h| h["recordId"].as_str().and_then(|r| r.parse::<B256>().ok()) == Some(record))
        .collect();
    assert_eq!(
        on_record.len(),
        1,
        "one hold however often the reader asks: {holds}"
    );
    assert_eq!(on_record[0]["state"], "pending");
    on_record[0].clone()
}

/// (action, reason, granted) of the entries on `record` by anyone, in order.
async fn steps(server: &Server, patient: &User, record: B256) -> Vec<(String, String, bool)> {
    let entries = server.log_entries(patient).await;
    entries
        .iter()
        .filter(|e| e["recordId"].as_str().and_then(|r| r.parse::<B256>().ok()) == Some(record))
        .filter(|e| e["action"] != "upload")
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (text("action"), text("reason"), e["granted"] == true)
        })
        .collect()
}

fn step(action: &str, reason: &str, granted: bool) -> (String, String, bool) {
    (action.into(), reason.into(), granted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_read_waits_for_the_patients_signed_decision_and_each_step_is_logged() {
    let (w, server, [patient, other], [doctor]) =
        World::signed_in([PATIENT, OTHER_PATIENT], [DOCTOR], at_night).await;
    let mut admin = User::new(ADMIN);
    server.sign_in([&mut admin]).await;
    for p in [&patient, &other] {
        w.grant_for_a_day(p, &doctor, &Category::ALL, false).await;
    }
    let mine = records_of(&w, &server, &patient, &doctor, 2).await;
    let theirs = records_of(&w, &server, &other, &doctor, 1).await;
    // Every scored read at or above 0.001 is held: in effect, every read.
    let hold_all = json!({"mode": "hold", "thresholdMilli": 1});
    assert_eq!(put_policy(&server, &admin, hold_all).await.status(), 200);

    let r = &mine[0];
    let (code, error) = error_code(server.read(&doctor, r.id).await).await;
    assert_eq!((code, error.as_str()), (423, "held-for-approval"));
    let (code, _) = error_code(server.read(&doctor, r.id).await).await;
    assert_eq!(code, 423, "still held while the patient has not answered");
    let hold = pending_hold(&server, &patient, r.id).await;
    assert!(doctor.is(&hold["reader"]), "{hold}");
    assert!(
        !hold["reasons"].as_array().expect("reasons").is_empty(),
        "{hold}"
    );
    let id = hold["id"].as_u64().expect("id");

    // The wrong parties are refused: the reader, another patient, a signature by someone else,
    // a signature over the other decision, a hold that does not exist.
    let approve = decision(&w, &patient, &patient, &doctor, &hold, r.id, true);
    let by_doctor = decision(&w, &doctor, &patient, &doctor, &hold, r.id, true);
    let signed_deny = decision(&w, &patient, &patient, &doctor, &hold, r.id, false);
    let mut flipped = signed_deny.clone();
    flipped["approve"] = json!(true);
    let cases = [
        (&doctor, id, &approve, 403, "not-your-hold"),
        (&other, id, &approve, 403, "not-your-hold"),
        (&patient, id, &by_doctor, 400, "bad-signature"),
        (&patient, id, &flipped, 400, "bad-signature"),
        (&patient, id + 1_000, &approve, 404, "no-such-hold"),
    ];
    for (who, hold_id, body, status, code) in cases {
        let got = error_code(decide(&server, who, hold_id, body).await).await;
        assert_eq!((got.0, got.1.as_str()), (status, code));
    }
    assert_eq!(
        server.read(&doctor, r.id).await.status(),
        423,
        "refusals decided nothing"
    );

    // Approved: the reader's next read is released.
    let resp = decide(&server, &patient, id, &approve).await;
    assert_eq!(resp.status(), 200);
    let decided: Value = resp.json().await.expect("hold");
    assert_eq!(decided["state"], "approved");
    assert!(decided["appliesUntil"].as_u64() > decided["decidedAt"].as_u64());
    let (code, error) = error_code(decide(&server, &patient, id, &approve).await).await;
    assert_eq!((code, error.as_str()), (409, "hold-decided"));
    let resp = server.read(&doctor, r.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(r.open(&w.d, &doctor, resp).await, r.body);
    assert_eq!(
        steps(&server, &patient, r.id).await,
        [
            step("read", "held", false),
            step("read", "held", false),
            step("read", "held", false),
            step(
                "hold-decision",
                &format!("reader:{}", doctor.address()),
                true
            ),
            step("read", "consent-approved", true),
        ]
    );
    // The approval is for that record: another of the patient's records is held on its own.
    assert_eq!(server.read(&doctor, mine[1].id).await.status(), 423);
    // The patient's own reads are never held, even under a hold-everything policy.
    let own = server.read(&patient, mine[1].id).await;
    assert_eq!(own.status(), 200, "the patient reads their own record");

    // Denied: the reader's next read is refused.
    let t = &theirs[0];
    assert_eq!(server.read(&doctor, t.id).await.status(), 423);
    let hold = pending_hold(&server, &other, t.id).await;
    let id = hold["id"].as_u64().expect("id");
    let deny = decision(&w, &other, &other, &doctor, &hold, t.id, false);
    let resp = decide(&server, &other, id, &deny).await;
    assert_eq!(resp.status(), 200);
    let (code, error) = error_code(server.read(&doctor, t.id).await).await;
    assert_eq!((code, error.as_str()), (403, "hold-denied"));
    assert_eq!(
        steps(&server, &other, t.id).await,
        [
            step("read", "held", false),
            step(
                "hold-decision",
                &format!("reader:{}", doctor.address()),
                false
            ),
            step("read", "hold-denied", false),
        ]
    );
    server.stop().await;
}

/// A hold nobody answers expires: the patient's list shows it expired, a decision on it is
/// refused, and the reader's next read is judged anew (here: held again, as a new hold). With
/// `hold_expiry_secs = 0` a hold expires as it is made, so nothing waits on the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_hold_expires_and_the_next_read_is_held_anew() {
    let (w, server, [patient], [doctor]) = World::signed_in([PATIENT], [DOCTOR], |c| {
        at_night(c);
        c.hold_expiry_secs = 0;
    })
    .await;
    let mut admin = User::new(ADMIN);
    server.sign_in([&mut admin]).await;
    w.grant_for_a_day(&patient, &doctor, &Category::ALL, false)
        .await;
    let r = &records_of(&w, &server, &patient, &doctor, 1).await[0];
    let hold_all = json!({"mode": "hold", "thresholdMilli": 1});
    assert_eq!(put_policy(&server, &admin, hold_all).await.status(), 200);

    let held_ids = |holds: &Value| -> Vec<(u64, String)> {
        holds["holds"]
            .as_array()
            .expect("holds")
            .iter()
            .map(|h| {
                (
                    h["id"].as_u64().expect("id"),
                    h["state"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let (code, error) = error_code(server.read(&doctor, r.id).await).await;
    assert_eq!((code, error.as_str()), (423, "held-for-approval"));
    let holds = server.get_ok(&patient, "/api/holds").await;
    let first = holds["holds"][0].clone();
    assert_eq!(
        held_ids(&holds),
        [(first["id"].as_u64().expect("id"), "expired".to_string())]
    );
    assert_eq!(
        first["decidedAt"], first["createdAt"],
        "expired when made: {first}"
    );
    assert!(first["appliesUntil"].is_null(), "{first}");

    // The patient's answer comes too late, whether approval or denial: nothing is decided.
    for approve in [true, false] {
        let body = decision(&w, &patient, &patient, &doctor, &first, r.id, approve);
        let id = first["id"].as_u64().expect("id");
        let (code, error) = error_code(decide(&server, &patient, id, &body).await).await;
        assert_eq!((code, error.as_str()), (409, "hold-expired"));
    }

    // The next read is not refused on the old hold's account: it is scored and held anew.
    let (code, error) = error_code(server.read(&doctor, r.id).await).await;
    assert_eq!((code, error.as_str()), (423, "held-for-approval"));
    let holds = held_ids(&server.get_ok(&patient, "/api/holds").await);
    assert_eq!(holds.len(), 2, "a second hold: {holds:?}");
    assert!(holds[0].0 > holds[1].0, "the newest first: {holds:?}");
    assert_eq!(
        steps(&server, &patient, r.id).await,
        [step("read", "held", false), step("read", "held", false)],
        "two held reads and no decision"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_release_is_never_held_only_flagged() {
    let (w, server, [patient], [doctor]) = World::signed_in([PATIENT], [DOCTOR], at_night).await;
    let mut admin = User::new(ADMIN);
    server.sign_in([&mut admin]).await;
    w.opt_in_to_emergencies(&patient, true).await;
    w.grant_for_a_day(&patient, &doctor, &Category::ALL, false)
        .await;
    let r = &records_of(&w, &server, &patient, &doctor, 1).await[0];
    w.revoke(&patient, &doctor).await;
    let hold_all = json!({"mode": "hold", "thresholdMilli": 1});
    assert_eq!(put_policy(&server, &admin, hold_all).await.status(), 200);
    w.open_emergency(&doctor, &patient).await;
    let resp = server.read(&doctor, r.id).await;
    assert_eq!(
        resp.status(),
        200,
        "an emergency inside its window is released"
    );
    let reads = server
        .entries_of(&patient, doctor.address(), r.id, "read")
        .await;
    let released = reads.last().expect("a read");
    assert_eq!(released["reason"], "emergency");
    assert_eq!(released["flagged"], true);
    assert_eq!(
        released["reasons"][0],
        "emergency access, without your grant"
    );
    let holds = server.get_ok(&patient, "/api/holds").await;
    assert_eq!(holds["holds"], json!([]), "no hold for an emergency");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_scoring_off_reads_are_released_unscored_and_nothing_is_held() {
    let (w, server, [patient], [doctor]) = World::signed_in([PATIENT], [DOCTOR], |c| {
        c.risk_scoring = false;
        at_night(c);
    })
    .await;
    let mut admin = User::new(ADMIN);
    server.sign_in([&mut admin]).await;
    w.grant_for_a_day(&patient, &doctor, &Category::ALL, false)
        .await;
    let r = &records_of(&w, &server, &patient, &doctor, 1).await[0];
    let hold_all = json!({"mode": "hold", "thresholdMilli": 1});
    assert_eq!(put_policy(&server, &admin, hold_all).await.status(), 200);
    let status = server.get_ok(&admin, "/api/console/risk").await;
    assert_eq!(status["scoring"], false, "the console says scoring is off");
    for _ in 0..3 {
        assert_eq!(server.read(&doctor, r.id).await.status(), 200);
    }
    let reads = server
        .entries_of(&patient, doctor.address(), r.id, "read")
        .await;
    assert_eq!(reads.len(), 3, "{reads:#?}");
    assert!(
        reads
            .iter()
            .all(|e| e["scoreMilli"] == 0 && e["flagged"] == false && e["reason"] == "consent"),
        "{reads:#?}"
    );
    server.stop().await;
}
