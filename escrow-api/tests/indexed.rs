//! What the event follower indexes besides records, read back through the API against a real
//! Ganache: consent grants (`GET /api/grants`) and insurance claims (`GET /api/claims`, the
//! console's claims per state, policies in the index), each caller seeing only their own.

mod support;

use alloy_primitives::{hex, Address, B256, U256};
use medledger_protocol::contract::{Category, MedLedger, MedLedgerInsurance};
use serde_json::{json, Value};
use support::*;

/// Two patients and two verified practitioners, the `insurers` registered and verified, the
/// escrow serving, and all of them signed in.
async fn parties<const I: usize>(insurers: [usize; I]) -> (World, Server, [User; 4], [User; I]) {
    let w = World::new().await;
    let mut people = users([PATIENT, OTHER_PATIENT, DOCTOR, STRANGER_DOCTOR]);
    let mut insurers = users(insurers);
    let [patient, other, doctor, stranger] = people.each_ref();
    w.register(&[patient, other], &[doctor, stranger]).await;
    for insurer in &insurers {
        w.register_insurer(insurer, B256::repeat_byte(2)).await;
    }
    let server = w.serve(|_| {}).await;
    server
        .sign_in(people.iter_mut().chain(insurers.iter_mut()))
        .await;
    (w, server, people, insurers)
}

async fn grants_of(server: &Server, u: &User) -> Value {
    server.get_ok(u, "/api/grants").await
}

fn pairs(list: &Value) -> Vec<(Address, Address)> {
    let address = |v: &Value| v.as_str().expect("address").parse().expect("address");
    let list = list.as_array().expect("list").iter();
    list.map(|g| (address(&g["patient"]), address(&g["grantee"])))
        .collect()
}

/// The grant `patient` gave, among those `list` holds (addresses checksummed).
fn grant_by(list: &Value, patient: &User) -> Option<Value> {
    let list = list.as_array().expect("list");
    let patient = patient.address().to_checksum(None);
    list.iter().find(|g| g["patient"] == patient).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_indexed_from_events_and_shown_only_to_their_parties() {
    let (w, server, [patient, other, doctor, stranger], [insurer]) = parties([INSURER]).await;

    // No session: refused.
    assert_eq!(server.public("/api/grants").await.status(), 401);

    let now = w.chain_time().await;
    let expiry = now + 86_400;
    let categories = [Category::Laboratory, Category::Imaging];
    let mask = Category::mask(categories);
    // The patient grants the doctor (read and write) and the insurer (claims); the other patient
    // grants the doctor too.
    let granted = w.grant(&patient, &doctor, &categories, true, expiry).await;
    let granted_block = quantity(&granted["blockNumber"]);
    w.grant(&patient, &insurer, &[Category::Claims], false, expiry)
        .await;
    w.grant(&other, &doctor, &[Category::Laboratory], false, expiry)
        .await;

    let mine = eventually("three grants indexed", || async {
        let v = grants_of(&server, &doctor).await;
        (v["asGrantee"].as_array().map(Vec::len) == Some(2)).then_some(v)
    })
    .await;
    // The doctor finds the patients who granted them access, and gave none.
    assert_eq!(mine["asPatient"], json!([]));
    let ours = grant_by(&mine["asGrantee"], &patient).expect("the patient's grant");
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
    w.revoke(&patient, &doctor).await;
    eventually("the revocation indexed", || async {
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
    // It lapses because the test moves the chain's clock past it, not because real time passes.
    let short = w.chain_time().await + 3_600;
    w.grant(&patient, &doctor, &[Category::Laboratory], false, short)
        .await;
    let g = eventually("the new grant indexed", || async {
        grant_by(&grants_of(&server, &doctor).await["asGrantee"], &patient)
    })
    .await;
    assert_eq!(g["expiry"], short);
    assert_eq!(g["allowWrite"], false);
    w.pass_time(7_200).await;
    eventually("the short grant to lapse", || async {
        let g = grant_by(&grants_of(&server, &doctor).await["asGrantee"], &patient);
        g.filter(|g| g["active"] == false).map(|_| ())
    })
    .await;
    // The other patient's grant is still in force.
    let v = grants_of(&server, &doctor).await;
    let theirs = grant_by(&v["asGrantee"], &other).expect("the other patient's grant");
    assert!(theirs["active"] == true, "{v}");
    server.stop().await;
}

async fn claims_of(server: &Server, u: &User) -> Vec<Value> {
    let v = server.get_ok(u, "/api/claims").await;
    v["claims"].as_array().expect("claims").clone()
}

fn ether(milli: u64) -> U256 {
    U256::from(milli) * U256::from(1_000_000_000_000_000u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_and_policies_are_indexed_from_events_and_shown_only_to_their_parties() {
    let (w, server, [patient, other, doctor, stranger], [insurer, other_insurer]) =
        parties([INSURER, OTHER_INSURER]).await;
    let mut admin = User::new(ADMIN);
    admin.sign_in(&server).await;
    assert_eq!(server.public("/api/claims").await.status(), 401);

    // The insurer covers encounters: 1 ether per claim, 10 a year, no deductible, 5 ether funds.
    let covered = Category::mask([Category::Encounters]);
    let policy = MedLedgerInsurance::publishPolicyCall {
        coveredCategories: covered,
        perClaimLimit: 1_000_000_000_000_000_000,
        annualLimit: 10_000_000_000_000_000_000,
        deductible: 0,
    };
    w.send_insurance_value(&insurer, policy, ether(5000)).await;
    let expiry = w.chain_time().await + 86_400;
    // The doctor files claim documents (write on Claims) for care in both categories; the
    // insurer reads claim documents.
    let filed = [Category::Encounters, Category::Laboratory, Category::Claims];
    w.grant(&patient, &doctor, &filed, true, expiry).await;
    w.grant(&patient, &insurer, &[Category::Claims], false, expiry)
        .await;
    // Each claim rests on its own document record (anchored only: the index does not need its
    // ciphertext).
    for id in 1..=3u8 {
        let document = MedLedger::addRecordCall {
            recordId: B256::repeat_byte(0x40 + id),
            patient: patient.address(),
            ciphertextHash: B256::repeat_byte(0x60 + id),
            category: Category::Claims.number(),
            supersedes: B256::ZERO,
        };
        w.send(&doctor, document).await;
    }
    let submit = |id: u8, amount: u128, category: Category| MedLedgerInsurance::submitClaimCall {
        claimId: B256::repeat_byte(id),
        patient: patient.address(),
        insurer: insurer.address(),
        documentRecordId: B256::repeat_byte(0x40 + id),
        amount,
        category: category.number(),
    };
    // A: inside the policy, settled on submission.
    let a = submit(1, 100_000_000_000_000_000, Category::Encounters);
    w.send_insurance(&doctor, a).await;
    // B: over the per-claim limit, left for review; approved for 1.5 ether, then paid.
    let b = submit(2, 2_000_000_000_000_000_000, Category::Encounters);
    w.send_insurance(&doctor, b).await;
    // C: a category the policy does not cover, left for review; denied.
    let c = submit(3, 300_000_000_000_000_000, Category::Laboratory);
    w.send_insurance(&doctor, c).await;

    let list = eventually("three claims indexed", || async {
        let v = claims_of(&server, &doctor).await;
        (v.len() == 3 && v[2]["status"] == "pending-review").then_some(v)
    })
    .await;
    let a = &list[0];
    assert_eq!(a["claimId"], B256::repeat_byte(1).to_string());
    assert_eq!(a["practitioner"], doctor.address().to_checksum(None));
    assert_eq!(a["patient"], patient.address().to_checksum(None));
    assert_eq!(a["insurer"], insurer.address().to_checksum(None));
    assert_eq!(a["documentRecordId"], B256::repeat_byte(0x41).to_string());
    assert_eq!(a["amount"], "100000000000000000");
    assert_eq!(a["category"], Category::Encounters.number());
    assert_eq!(a["status"], "paid");
    assert_eq!(a["payout"], "100000000000000000");
    assert_eq!(a["automatic"], true);
    assert_eq!(a["pendingReason"], Value::Null);
    assert_eq!(a["denyReasonHash"], Value::Null);
    assert!(a["submittedBlock"].as_u64().expect("block") > 0);
    let at = a["submittedAt"].as_i64().expect("time");
    let head = i64::try_from(w.chain_time().await).expect("time");
    assert!(
        at <= head && head - at < 600,
        "submitted at {at}, chain time {head}"
    );
    let b = &list[1];
    assert_eq!(b["status"], "pending-review");
    assert_eq!(b["pendingReason"], 2, "OverPerClaimLimit");
    assert_eq!(b["payout"], Value::Null);
    assert_eq!(b["automatic"], Value::Null);
    assert_eq!(list[2]["pendingReason"], 1, "CategoryNotCovered");

    // The patient and the insurer see the same three; nobody else sees any.
    for u in [&patient, &insurer] {
        let ids: Vec<Value> = claims_of(&server, u)
            .await
            .iter()
            .map(|c| c["claimId"].clone())
            .collect();
        assert_eq!(ids.len(), 3);
    }
    for u in [&other, &stranger, &other_insurer, &admin] {
        assert_eq!(claims_of(&server, u).await, Vec::<Value>::new());
    }

    // The console's claims per state (admins only).
    let summary = "/api/console/summary";
    assert_eq!(server.get(&doctor, summary).await.status(), 403);
    let s = server.get_json(&admin, summary).await;
    assert_eq!(
        s["claims"],
        json!({"submitted": 0, "pending-review": 2, "approved": 0, "denied": 0, "paid": 1})
    );

    // The insurer decides: B approved then paid, C denied.
    let approve = MedLedgerInsurance::approveClaimCall {
        claimId: B256::repeat_byte(2),
        payout: 1_500_000_000_000_000_000,
    };
    w.send_insurance(&insurer, approve).await;
    let b = eventually("the approval indexed", || async {
        let v = claims_of(&server, &patient).await;
        (v[1]["status"] == "approved").then(|| v[1].clone())
    })
    .await;
    assert_eq!(b["payout"], "1500000000000000000");
    assert_eq!(b["pendingReason"], 2);
    let pay = MedLedgerInsurance::payClaimCall {
        claimId: B256::repeat_byte(2),
    };
    w.send_insurance(&insurer, pay).await;
    let reason = B256::repeat_byte(0x99);
    let deny = MedLedgerInsurance::denyClaimCall {
        claimId: B256::repeat_byte(3),
        reasonHash: reason,
    };
    w.send_insurance(&insurer, deny).await;
    let list = eventually("the payment and the denial indexed", || async {
        let v = claims_of(&server, &insurer).await;
        (v[1]["status"] == "paid" && v[2]["status"] == "denied").then_some(v)
    })
    .await;
    assert_eq!(list[1]["automatic"], false);
    assert_eq!(list[1]["payout"], "1500000000000000000");
    assert_eq!(list[2]["denyReasonHash"], reason.to_string());
    assert_eq!(list[2]["payout"], Value::Null);
    let s = server.get_json(&admin, summary).await;
    assert_eq!(
        s["claims"],
        json!({"submitted": 0, "pending-review": 0, "approved": 0, "denied": 1, "paid": 2})
    );

    // Policies are in the index: terms from PolicyPublished, funds after the last funding event
    // (5 ether, less the 0.1 and 1.5 paid out, plus 1).
    let fund = MedLedgerInsurance::fundPolicyCall {};
    w.send_insurance_value(&insurer, fund, ether(1000)).await;
    let index = server.index().await;
    let policy = eventually("the funding indexed", || async {
        let p = index.policy(insurer.address()).await.expect("policy")?;
        (p.funds == ether(4400)).then_some(p)
    })
    .await;
    assert_eq!(policy.insurer, insurer.address());
    assert_eq!(policy.terms.covered_categories, covered);
    assert_eq!(policy.terms.per_claim_limit, 1_000_000_000_000_000_000);
    assert_eq!(policy.terms.annual_limit, 10_000_000_000_000_000_000);
    assert_eq!(policy.terms.deductible, 0);
    assert!(index
        .policy(other_insurer.address())
        .await
        .expect("policy")
        .is_none());
    server.stop().await;
}

/// `GET /api/directory`: a signed-in caller sees each verified practitioner's name and
/// organisation (what the app shows instead of an address), never the licence number; an
/// applicant not yet verified, or suspended, is not listed; nobody unsigned sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_lists_verified_practitioners_by_name_only() {
    let w = World::new().await;
    let [mut patient, mut doctor] = users([PATIENT, DOCTOR]);
    w.register(&[&patient], &[]).await;
    let profile =
        r#"{"name":"Dr. Priya Raman","licenceNumber":"GMC-7731","organisation":"St Luke's"}"#;
    let profile_hash = alloy_primitives::keccak256(profile.as_bytes());
    w.apply_as_practitioner(&doctor, profile_hash).await;
    let server = w.serve(|_| {}).await;
    assert_eq!(server.public("/api/directory").await.status(), 401);
    server.sign_in([&mut patient, &mut doctor]).await;
    assert_eq!(server.put_profile(&doctor, profile).await.status(), 200);
    let listed = async || -> Option<Vec<Value>> {
        let resp = server.get(&patient, "/api/directory").await;
        let v: Value = resp.json().await.ok()?;
        Some(v["people"].as_array()?.clone())
    };
    let pending = listed().await.expect("people");
    assert!(
        pending.is_empty(),
        "an applicant is not listed: {pending:?}"
    );

    w.verify(&doctor).await;
    let people = eventually("the verified doctor to be listed", || async {
        let p = listed().await?;
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(people.len(), 1, "{people:?}");
    assert!(doctor.is(&people[0]["address"]), "{people:?}");
    assert_eq!(people[0]["name"], "Dr. Priya Raman");
    assert_eq!(people[0]["organisation"], "St Luke's");
    assert_eq!(people[0]["kind"], "practitioner");
    assert!(!Value::Array(people).to_string().contains("GMC-7731"));

    w.suspend(&doctor, B256::repeat_byte(2)).await;
    eventually("the suspended doctor to leave the directory", || async {
        listed().await?.is_empty().then_some(())
    })
    .await;
    server.stop().await;
}

/// Opens a listed record's sealed label with the caller's own wrap, as the app does.
fn open_listed_label(
    w: &World,
    who: &User,
    r: &Record,
    row: &Value,
) -> medledger_protocol::label::RecordLabel {
    let wrap = row["wrappedDek"].as_str().expect("the caller's wrap");
    let dek = r.dek_from_wrap(&w.d, who, wrap);
    let sealed = hex::decode(row["label"].as_str().expect("a label")).expect("hex");
    medledger_protocol::label::open_label(&dek, &r.context(&w.d), &sealed).expect("the label opens")
}

#[tokio::test]
async fn a_record_is_named_in_lists_by_a_label_only_its_readers_open() {
    use medledger_protocol::label::{seal_label, RecordLabel};
    let (w, server, [patient], [doctor, stranger]) =
        World::signed_in([PATIENT], [DOCTOR, STRANGER_DOCTOR], |_| {}).await;
    let r = w.record(&patient, Category::History, b"{}");
    let label = RecordLabel::new(
        "Asthma — since 2019-06",
        "Ada Lovelace · 61.5 kg",
        Some("Ada Lovelace"),
    );
    let sealed = seal_label(&r.dek, &r.context(&w.d), &label).expect("seal");
    let wraps = r.wraps(&w.d, &[&patient, &doctor]);
    let upload = |label: String| {
        let upload = r.upload(&server, &patient, &wraps);
        async { upload.header("x-medledger-label", label).send().await }
    };
    let listed_by = |who| server.listed_records(who, patient.address());

    // A malformed label is refused with the API's error and stores nothing.
    for bad in [
        "zz".to_string(),
        format!("0x{}", "02".repeat(40)),
        format!("0x{}", "01".repeat(4000)),
    ] {
        let resp = upload(bad).await.expect("upload");
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["error"], "bad-label", "{body}");
    }
    assert!(listed_by(&patient).await.is_empty());

    let resp = upload(hex::encode_prefixed(&sealed)).await.expect("upload");
    assert_eq!(resp.status(), 201);
    w.anchor(&patient, &r).await;
    let committed = eventually("the record committed", || async {
        let list = listed_by(&patient).await;
        list.into_iter().find(|x| x["state"] == "committed")
    })
    .await;
    // The patient names it with their own wrap; the escrow holds only the sealed bytes.
    assert_eq!(open_listed_label(&w, &patient, &r, &committed), label);
    assert!(!committed.to_string().contains("Asthma"));

    // A practitioner without consent sees neither the record nor its label, though a wrap was
    // made for them; with a History grant they do; another practitioner never does.
    assert!(listed_by(&doctor).await.is_empty());
    w.grant_for_a_day(&patient, &doctor, &[Category::History], false)
        .await;
    let row = eventually("the doctor to list the record", || async {
        listed_by(&doctor).await.into_iter().next()
    })
    .await;
    assert_eq!(open_listed_label(&w, &doctor, &r, &row), label);
    w.grant_for_a_day(&patient, &stranger, &[Category::History], false)
        .await;
    let row = eventually("the stranger to list the record", || async {
        listed_by(&stranger).await.into_iter().next()
    })
    .await;
    // Consent lists the record, but no key was wrapped to them: no wrap, and no label.
    assert_eq!(
        (row["wrappedDek"].clone(), row["label"].clone()),
        (Value::Null, Value::Null)
    );

    // Erasure clears the label with the keys.
    w.erase(&patient, r.id).await;
    let row = server.record_in_state(r.id, "shredded").await;
    assert_eq!(row.label, None);
}

#[tokio::test]
async fn records_anchored_in_one_batch_are_each_committed() {
    let (w, server, [patient], []) = World::signed_in([PATIENT], [], |_| {}).await;
    let records: Vec<Record> = (0..3)
        .map(|i| w.record(&patient, Category::Laboratory, vec![i; 64]))
        .collect();
    for r in &records {
        let resp = w.upload(&server, &patient, &[&patient], r).await;
        assert_eq!(resp.status(), 201);
    }
    let batch = records
        .iter()
        .map(|r| MedLedger::NewRecord {
            recordId: r.id,
            patient: r.patient,
            ciphertextHash: r.h1,
            category: r.category,
            supersedes: B256::ZERO,
        })
        .collect();
    let receipt = w.send(&patient, MedLedger::addRecordsCall { batch }).await;
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    // One transaction, three RecordAdded logs: the follower commits every upload.
    eventually("all three committed", || async {
        let list = server.listed_records(&patient, patient.address()).await;
        (list.len() == 3 && list.iter().all(|r| r["state"] == "committed")).then_some(())
    })
    .await;
    for r in &records {
        assert_eq!(server.read(&patient, r.id).await.status(), 200);
    }
}
