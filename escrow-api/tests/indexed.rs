//! What the event follower indexes besides records, read back through the API against a real
//! Ganache: consent grants (`GET /api/grants`) and insurance claims (`GET /api/claims`, the
//! console's claims per state, policies in the index), each caller seeing only their own.

mod support;

use alloy_primitives::{hex, Address, Bytes, B256, U256};
use alloy_sol_types::SolCall;
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

    let now = chain_time(w.url()).await;
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

    let mine = eventually("three grants indexed", || async {
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
    let short = chain_time(w.url()).await + 3_600;
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
    let g = eventually("the new grant indexed", || async {
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
    rpc(w.url(), "evm_increaseTime", json!([7_200]))
        .await
        .expect("increase time");
    rpc(w.url(), "evm_mine", json!([])).await.expect("mine");
    eventually("the short grant to lapse", || async {
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

const OTHER_INSURER: usize = 7;

/// Sends `c` with `value` wei from an unlocked account (payable calls) and waits for success.
async fn send_value<C: SolCall>(w: &World, from: &User, c: C, value: U256) {
    let hash = rpc(
        w.url(),
        "eth_sendTransaction",
        json!([{"from": from.address().to_string(), "to": w.d.address.to_string(),
                "data": Bytes::from(c.abi_encode()).to_string(), "gas": "0x7a1200",
                "value": format!("0x{value:x}")}]),
    )
    .await
    .unwrap_or_else(|e| panic!("transaction refused: {e}"));
    let receipt = eventually("the receipt", || async {
        let r = rpc(w.url(), "eth_getTransactionReceipt", json!([hash]))
            .await
            .expect("receipt");
        (!r.is_null()).then_some(r)
    })
    .await;
    assert_eq!(receipt["status"], "0x1", "reverted: {receipt}");
}

async fn claims_of(server: &Server, u: &User) -> Vec<Value> {
    let r = u
        .get(server.url("/api/claims"))
        .send()
        .await
        .expect("claims");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["claims"].as_array().expect("claims").clone()
}

fn ether(milli: u64) -> U256 {
    U256::from(milli) * U256::from(1_000_000_000_000_000u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_and_policies_are_indexed_from_events_and_shown_only_to_their_parties() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut other = User::new(OTHER_PATIENT);
    let mut doctor = User::new(DOCTOR);
    let mut stranger = User::new(STRANGER_DOCTOR);
    let mut insurer = User::new(INSURER);
    let mut other_insurer = User::new(OTHER_INSURER);
    let mut admin = User::new(ADMIN);
    w.register(&[&patient, &other], &[&doctor, &stranger]).await;
    register_insurer(&w, &insurer).await;
    register_insurer(&w, &other_insurer).await;
    let server = Server::start(w.config()).await;
    for u in [
        &mut patient,
        &mut other,
        &mut doctor,
        &mut stranger,
        &mut insurer,
        &mut other_insurer,
        &mut admin,
    ] {
        u.sign_in(&server).await;
    }
    let r = reqwest::get(server.url("/api/claims"))
        .await
        .expect("claims");
    assert_eq!(r.status(), 401);

    // The insurer covers encounters: 1 ether per claim, 10 a year, no deductible, 5 ether funds.
    let covered = Category::mask([Category::Encounters]);
    send_value(
        &w,
        &insurer,
        MedLedger::publishPolicyCall {
            coveredCategories: covered,
            perClaimLimit: 1_000_000_000_000_000_000,
            annualLimit: 10_000_000_000_000_000_000,
            deductible: 0,
        },
        ether(5000),
    )
    .await;
    let expiry = chain_time(w.url()).await + 86_400;
    // The doctor files claim documents (write on Claims) for care in both categories; the
    // insurer reads claim documents.
    for (grantee, mask, write) in [
        (
            &doctor,
            Category::mask([Category::Encounters, Category::Laboratory, Category::Claims]),
            true,
        ),
        (&insurer, Category::mask([Category::Claims]), false),
    ] {
        w.send(
            &patient,
            MedLedger::grantCall {
                grantee: grantee.address(),
                categories: mask,
                allowWrite: write,
                expiry,
            },
        )
        .await;
    }
    // Each claim rests on its own document record (anchored only: the index does not need its
    // ciphertext).
    for id in 1..=3u8 {
        w.send(
            &doctor,
            MedLedger::addRecordCall {
                recordId: B256::repeat_byte(0x40 + id),
                patient: patient.address(),
                ciphertextHash: B256::repeat_byte(0x60 + id),
                category: Category::Claims.number(),
                supersedes: B256::ZERO,
            },
        )
        .await;
    }
    let submit = |id: u8, amount: u128, category: Category| MedLedger::submitClaimCall {
        claimId: B256::repeat_byte(id),
        patient: patient.address(),
        insurer: insurer.address(),
        documentRecordId: B256::repeat_byte(0x40 + id),
        amount,
        category: category.number(),
    };
    // A: inside the policy, settled on submission.
    w.send(
        &doctor,
        submit(1, 100_000_000_000_000_000, Category::Encounters),
    )
    .await;
    // B: over the per-claim limit, left for review; approved for 1.5 ether, then paid.
    w.send(
        &doctor,
        submit(2, 2_000_000_000_000_000_000, Category::Encounters),
    )
    .await;
    // C: a category the policy does not cover, left for review; denied.
    w.send(
        &doctor,
        submit(3, 300_000_000_000_000_000, Category::Laboratory),
    )
    .await;

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
    let head = i64::try_from(chain_time(w.url()).await).expect("time");
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
    let summary = |u: &User| {
        let r = u.get(server.url("/api/console/summary")).send();
        async move { r.await.expect("summary") }
    };
    assert_eq!(summary(&doctor).await.status(), 403);
    let s: Value = summary(&admin).await.json().await.expect("json");
    assert_eq!(
        s["claims"],
        json!({"submitted": 0, "pending-review": 2, "approved": 0, "denied": 0, "paid": 1})
    );

    // The insurer decides: B approved then paid, C denied.
    w.send(
        &insurer,
        MedLedger::approveClaimCall {
            claimId: B256::repeat_byte(2),
            payout: 1_500_000_000_000_000_000,
        },
    )
    .await;
    let b = eventually("the approval indexed", || async {
        let v = claims_of(&server, &patient).await;
        (v[1]["status"] == "approved").then(|| v[1].clone())
    })
    .await;
    assert_eq!(b["payout"], "1500000000000000000");
    assert_eq!(b["pendingReason"], 2);
    w.send(
        &insurer,
        MedLedger::payClaimCall {
            claimId: B256::repeat_byte(2),
        },
    )
    .await;
    let reason = B256::repeat_byte(0x99);
    w.send(
        &insurer,
        MedLedger::denyClaimCall {
            claimId: B256::repeat_byte(3),
            reasonHash: reason,
        },
    )
    .await;
    let list = eventually("the payment and the denial indexed", || async {
        let v = claims_of(&server, &insurer).await;
        (v[1]["status"] == "paid" && v[2]["status"] == "denied").then_some(v)
    })
    .await;
    assert_eq!(list[1]["automatic"], false);
    assert_eq!(list[1]["payout"], "1500000000000000000");
    assert_eq!(list[2]["denyReasonHash"], reason.to_string());
    assert_eq!(list[2]["payout"], Value::Null);
    let s: Value = summary(&admin).await.json().await.expect("json");
    assert_eq!(
        s["claims"],
        json!({"submitted": 0, "pending-review": 0, "approved": 0, "denied": 1, "paid": 2})
    );

    // Policies are in the index: terms from PolicyPublished, funds after the last funding event
    // (5 ether, less the 0.1 and 1.5 paid out, plus 1).
    send_value(&w, &insurer, MedLedger::fundPolicyCall {}, ether(1000)).await;
    let index = medledger_escrow_api::db::Index::connect(&server.config.database_url())
        .await
        .expect("index");
    let policy = eventually("the funding indexed", || async {
        let p = index
            .policy(&insurer.address().to_checksum(None))
            .await
            .expect("policy")?;
        (p.funds == ether(4400).to_string()).then_some(p)
    })
    .await;
    assert_eq!(policy.covered_categories, covered.to_string());
    assert_eq!(policy.per_claim_limit, "1000000000000000000");
    assert_eq!(policy.annual_limit, "10000000000000000000");
    assert_eq!(policy.deductible, "0");
    assert!(index
        .policy(&other_insurer.address().to_checksum(None))
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
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    let admin = User::new(ADMIN);
    w.register(&[&patient], &[]).await;
    let profile =
        r#"{"name":"Dr. Priya Raman","licenceNumber":"GMC-7731","organisation":"St Luke's"}"#;
    w.send(
        &doctor,
        MedLedger::applyAsPractitionerCall {
            encryptionKey: doctor.encryption_key(),
            profileHash: alloy_primitives::keccak256(profile.as_bytes()),
        },
    )
    .await;
    let server = Server::start(w.config()).await;
    let r = reqwest::get(server.url("/api/directory"))
        .await
        .expect("directory");
    assert_eq!(r.status(), 401);
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;
    let put = doctor
        .put(server.url("/api/profile"))
        .json(&json!({ "profile": profile }))
        .send()
        .await
        .expect("profile");
    assert_eq!(put.status(), 200);
    let listed = |server: &Server, who: &User| {
        let request = who.get(server.url("/api/directory"));
        async move {
            let v: Value = request.send().await.ok()?.json().await.ok()?;
            Some(v["people"].as_array()?.clone())
        }
    };
    let pending = listed(&server, &patient).await.expect("people");
    assert!(
        pending.is_empty(),
        "an applicant is not listed: {pending:?}"
    );

    w.send(
        &admin,
        MedLedger::verifyAccountCall {
            account: doctor.address(),
        },
    )
    .await;
    let people = eventually("the verified doctor to be listed", || async {
        let p = listed(&server, &patient).await?;
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(people.len(), 1, "{people:?}");
    assert_eq!(
        people[0]["address"]
            .as_str()
            .and_then(|a| a.parse::<Address>().ok()),
        Some(doctor.address())
    );
    assert_eq!(people[0]["name"], "Dr. Priya Raman");
    assert_eq!(people[0]["organisation"], "St Luke's");
    assert_eq!(people[0]["kind"], "practitioner");
    assert!(!Value::Array(people).to_string().contains("GMC-7731"));

    w.send(
        &admin,
        MedLedger::suspendAccountCall {
            account: doctor.address(),
            reasonHash: B256::repeat_byte(2),
        },
    )
    .await;
    eventually("the suspended doctor to leave the directory", || async {
        listed(&server, &patient).await?.is_empty().then_some(())
    })
    .await;
    server.stop().await;
}

/// The records a caller may list, keyed by id, as `GET /api/records?patient=` returns them.
async fn listed_records(server: &Server, who: &User, patient: Address) -> Vec<Value> {
    let r = who
        .get(server.url(&format!("/api/records?patient={patient}")))
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["records"].as_array().expect("records").clone()
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
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    let mut stranger = User::new(STRANGER_DOCTOR);
    w.register(&[&patient], &[&doctor, &stranger]).await;
    let server = Server::start(w.config()).await;
    for u in [&mut patient, &mut doctor, &mut stranger] {
        u.sign_in(&server).await;
    }
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::History.number(),
        b"{}".to_vec(),
    );
    let label = RecordLabel::new(
        "Asthma — since 2019-06",
        "Ada Lovelace · 61.5 kg",
        Some("Ada Lovelace"),
    );
    let sealed = seal_label(&r.dek, &r.context(&w.d), &label).expect("seal");
    let wraps = r.wraps(&w.d, &[&patient, &doctor]);

    // A malformed label is refused with the API's error and stores nothing.
    for bad in [
        "zz".to_string(),
        format!("0x{}", "02".repeat(40)),
        format!("0x{}", "01".repeat(4000)),
    ] {
        let resp = r
            .upload(&server, &patient, &wraps)
            .header("x-medledger-label", bad)
            .send()
            .await
            .expect("upload");
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["error"], "bad-label", "{body}");
    }
    assert!(listed_records(&server, &patient, patient.address())
        .await
        .is_empty());

    let resp = r
        .upload(&server, &patient, &wraps)
        .header("x-medledger-label", hex::encode_prefixed(&sealed))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 201);
    w.send(
        &patient,
        MedLedger::addRecordCall {
            recordId: r.id,
            patient: r.patient,
            ciphertextHash: r.h1,
            category: r.category,
            supersedes: B256::ZERO,
        },
    )
    .await;
    let committed = eventually("the record committed", || async {
        let list = listed_records(&server, &patient, patient.address()).await;
        list.into_iter().find(|x| x["state"] == "committed")
    })
    .await;
    // The patient names it with their own wrap; the escrow holds only the sealed bytes.
    assert_eq!(open_listed_label(&w, &patient, &r, &committed), label);
    assert!(!committed.to_string().contains("Asthma"));

    // A practitioner without consent sees neither the record nor its label, though a wrap was
    // made for them; with a History grant they do; another practitioner never does.
    assert!(listed_records(&server, &doctor, patient.address())
        .await
        .is_empty());
    w.grant_for_a_day(&patient, &doctor, &[Category::History], false)
        .await;
    let row = eventually("the doctor to list the record", || async {
        listed_records(&server, &doctor, patient.address())
            .await
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(open_listed_label(&w, &doctor, &r, &row), label);
    w.grant_for_a_day(&patient, &stranger, &[Category::History], false)
        .await;
    let row = eventually("the stranger to list the record", || async {
        listed_records(&server, &stranger, patient.address())
            .await
            .into_iter()
            .next()
    })
    .await;
    // Consent lists the record, but no key was wrapped to them: no wrap, and no label.
    assert_eq!(
        (row["wrappedDek"].clone(), row["label"].clone()),
        (Value::Null, Value::Null)
    );

    // Erasure clears the label with the keys.
    w.send(&patient, MedLedger::eraseRecordCall { recordId: r.id })
        .await;
    let index = medledger_escrow_api::db::Index::connect(&server.config.database_url())
        .await
        .expect("index");
    let row = eventually("the record shredded", || async {
        let row = index.record(r.id).await.expect("row")?;
        (row.state.as_str() == "shredded").then_some(row)
    })
    .await;
    assert_eq!(row.label, None);
}

#[tokio::test]
async fn records_anchored_in_one_batch_are_each_committed() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    let records: Vec<Record> = (0..3)
        .map(|i| {
            Record::new(
                &w.d,
                patient.address(),
                Category::Laboratory.number(),
                vec![i; 64],
            )
        })
        .collect();
    for r in &records {
        let resp = r
            .upload(&server, &patient, &r.wraps(&w.d, &[&patient]))
            .send()
            .await
            .expect("upload");
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
        let list = listed_records(&server, &patient, patient.address()).await;
        (list.len() == 3 && list.iter().all(|r| r["state"] == "committed")).then_some(())
    })
    .await;
    for r in &records {
        let resp = patient
            .get(server.url(&format!("/api/records/{}", r.id)))
            .send()
            .await
            .expect("read");
        assert_eq!(resp.status(), 200);
    }
}
