//! Licensing through the escrow (docs/licensing.md): the escrow's existing consent check enforces a
//! hospital's licence with no second path (a practitioner of a lapsed or terminated organisation is
//! refused, the patient still reads), and the console's organisations and audit export are scoped:
//! a platform admin sees every organisation, an organisation's admin their own, anyone else
//! nothing.

mod support;

use alloy_primitives::{B256, U256};
use medledger_protocol::contract::{Category, MedLedgerLicensing, Seats};
use serde_json::Value;
use support::*;

const ORG_ADMIN: usize = 8;
const OTHER_ORG_ADMIN: usize = 9;
const FEE: u64 = 1_000;

/// A platform admin creates an organisation with `admin` as its first admin: one admin seat, one
/// practitioner seat, five patient seats, paid for a day, renewable on chain for [`FEE`] wei.
async fn create(w: &World, name: &str, admin: &User) {
    let paid_until = w.chain_time().await + 86_400;
    let create = MedLedgerLicensing::createOrganisationCall {
        name: name.into(),
        admin: admin.address(),
        limits: Seats {
            admins: 1,
            practitioners: 1,
            patients: 5,
        },
        paidUntil: paid_until,
        annualFee: U256::from(FEE),
    };
    w.send_licensing(&User::new(ADMIN), create, U256::ZERO)
        .await;
}

async fn organisations(server: &Server, who: &User) -> Value {
    server.get_ok(who, "/api/console/organisations").await
}

/// The audit events in `from..to` as `who` may see them, once the follower has indexed `want`.
async fn audit_once(server: &Server, who: &User, to: u64, want: usize) -> Vec<Value> {
    let path = format!("/api/console/licensing/audit?from=0&to={to}");
    eventually("the licence events to be indexed", || async {
        let v = server.get_ok(who, &path).await;
        let events = v["events"].as_array().cloned().unwrap_or_default();
        (events.len() >= want).then_some(events)
    })
    .await
}

/// `reader`'s read of `record` is refused (and logged) as `licence-inactive`, the message saying
/// `words`.
async fn refused_for_the_licence(
    server: &Server,
    patient: &User,
    reader: &User,
    record: B256,
    words: &str,
) {
    assert_read_refused(server, patient, reader, record, 403, "licence-inactive").await;
    let said: Value = server
        .read(reader, record)
        .await
        .json()
        .await
        .expect("json");
    let message = said["message"].as_str().unwrap_or("");
    assert!(message.contains(words), "{said}");
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["event"].as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hospitals_licence_decides_its_doctors_reads_and_its_admins_see_only_their_own() {
    let w = World::new().await;
    let [mut platform, mut patient, mut doctor, mut org_admin, mut other_admin] =
        users([ADMIN, PATIENT, DOCTOR, ORG_ADMIN, OTHER_ORG_ADMIN]);
    w.register(&[&patient], &[]).await;
    w.apply_as_practitioner(&doctor, B256::repeat_byte(0x9f))
        .await;
    create(&w, "St Mary's, \"Leeds\"", &org_admin).await;
    create(&w, "Other Clinic", &other_admin).await;
    let verify = MedLedgerLicensing::verifyPractitionerCall {
        organisation: 1,
        practitioner: doctor.address(),
    };
    w.send_licensing(&org_admin, verify, U256::ZERO).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], false)
        .await;
    let server = w.serve(|_| {}).await;
    let everyone = [
        &mut platform,
        &mut patient,
        &mut doctor,
        &mut org_admin,
        &mut other_admin,
    ];
    server.sign_in(everyone).await;
    let r = w.record(&patient, Category::Vitals, b"pulse 64".repeat(40));
    w.commit(&server, &patient, &[&patient, &doctor], &r).await;
    assert_eq!(server.read(&doctor, r.id).await.status(), 200, "licensed");

    // Scopes: the platform sees both, each organisation's admin their own, a patient nothing.
    let all = organisations(&server, &platform).await;
    assert_eq!(all["scope"], Value::Null);
    let listed = all["organisations"].as_array().expect("a list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[0]["annualFeeWei"], FEE.to_string());
    assert_eq!(listed[0]["seats"]["practitioners"]["used"], 1);
    assert_eq!(listed[0]["seats"]["practitioners"]["limit"], 1);
    let own = organisations(&server, &org_admin).await;
    assert_eq!(own["scope"], 1);
    assert_eq!(own["organisations"].as_array().map(Vec::len), Some(1));
    assert_eq!(own["organisations"][0]["id"], 1);
    // Who holds the seats, as the follower indexed them: the admin and the doctor.
    let members = eventually("the members to be indexed", || async {
        let own = organisations(&server, &org_admin).await;
        let members = own["organisations"][0]["members"].clone();
        (members["practitioners"].as_array().map(Vec::len) == Some(1)).then_some(members)
    })
    .await;
    assert!(doctor.is(&members["practitioners"][0]), "{members}");
    assert_eq!(
        members["admins"].as_array().map(Vec::len),
        Some(1),
        "{members}"
    );
    assert!(org_admin.is(&members["admins"][0]), "{members}");
    assert_eq!(members["patients"], serde_json::json!([]));
    let theirs = organisations(&server, &other_admin).await;
    assert_eq!(theirs["organisations"][0]["id"], 2);
    let refused = server.get(&patient, "/api/console/organisations").await;
    assert_eq!(refused.status(), 403);
    let refused = server
        .get(&patient, "/api/console/licensing/audit?from=0&to=9")
        .await;
    assert_eq!(refused.status(), 403);

    // The audit trail, scoped; names come from the creation events.
    let far = w.chain_time().await + 10 * 86_400;
    let events = audit_once(&server, &platform, far, 5).await;
    let k = kinds(&events);
    assert_eq!(k.iter().filter(|k| **k == "created").count(), 2, "{k:?}");
    assert!(k.contains(&"practitioner-joined"), "{k:?}");
    let own_events = audit_once(&server, &org_admin, far, 3).await;
    assert!(
        own_events.iter().all(|e| e["organisation"] == 1),
        "{own_events:#?}"
    );
    let names = organisations(&server, &platform).await;
    assert_eq!(names["organisations"][0]["name"], "St Mary's, \"Leeds\"");
    // Any signed-in account learns the names (the app names a patient's hospitals with them).
    let public = server.get_ok(&patient, "/api/organisations").await;
    assert_eq!(
        public["involvingYou"],
        serde_json::json!([]),
        "the patient is in none yet"
    );
    let doctors = server.get_ok(&doctor, "/api/organisations").await;
    assert_eq!(doctors["involvingYou"], serde_json::json!([1]));
    assert_eq!(public["organisations"][0]["id"], 1);
    assert_eq!(public["organisations"][0]["name"], "St Mary's, \"Leeds\"");
    assert_eq!(public["organisations"][1]["name"], "Other Clinic");
    let csv = server
        .get(
            &org_admin,
            &format!("/api/console/licensing/audit?from=0&to={far}&format=csv"),
        )
        .await;
    assert_eq!(csv.status(), 200);
    let content_type = csv.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let text = csv.text().await.expect("text");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(medledger_protocol::api::licensing::AUDIT_CSV_HEADER)
    );
    // The licence agreement's acceptances, scoped too: the organisation's admin sees its own
    // accounts' (its admin, its doctor), not the patient's or the other hospital's admin's.
    let own_audit = server
        .get_ok(
            &org_admin,
            &format!("/api/console/licensing/audit?from=0&to={far}"),
        )
        .await;
    let accepted: Vec<&Value> = own_audit["acceptances"]
        .as_array()
        .expect("acceptances")
        .iter()
        .map(|a| &a["account"])
        .collect();
    assert_eq!(accepted.len(), 2, "{own_audit}");
    assert!(accepted.iter().any(|a| org_admin.is(a)) && accepted.iter().any(|a| doctor.is(a)));
    let all_audit = server
        .get_ok(
            &platform,
            &format!("/api/console/licensing/audit?from=0&to={far}"),
        )
        .await;
    assert_eq!(all_audit["acceptances"].as_array().map(Vec::len), Some(5));
    let lines: Vec<&str> = lines.collect();
    let acceptance_lines = lines
        .iter()
        .filter(|l| l.contains(",agreement-accepted,"))
        .count();
    assert_eq!(
        (lines.len(), acceptance_lines),
        (own_events.len() + 2, 2),
        "{text}"
    );
    // An offer of enrolment (which an admin may make to any patient) is no membership: the
    // patient's acceptance stays out of the organisation's audit, though its events now name them.
    let offer = MedLedgerLicensing::enrolPatientCall {
        organisation: 1,
        patient: patient.address(),
    };
    w.send_licensing(&org_admin, offer, U256::ZERO).await;
    eventually("the offer to be indexed", || async {
        let theirs = server.get_ok(&patient, "/api/organisations").await;
        (theirs["involvingYou"] == serde_json::json!([1])).then_some(())
    })
    .await;
    let own_audit = server
        .get_ok(
            &org_admin,
            &format!("/api/console/licensing/audit?from=0&to={far}"),
        )
        .await;
    let accepted = own_audit["acceptances"].as_array().map(Vec::len);
    assert_eq!(accepted, Some(2), "{own_audit}");
    assert!(
        text.contains("\"\"Leeds\"\""),
        "the name's quotes doubled: {text}"
    );
    let bad = server
        .get(&platform, "/api/console/licensing/audit?from=9&to=9")
        .await;
    assert_eq!(bad.status(), 400);

    // The subscription lapses: the doctor is refused, the patient still reads.
    w.pass_time(86_400).await;
    refused_for_the_licence(&server, &patient, &doctor, r.id, "has lapsed").await;
    assert_eq!(server.read(&patient, r.id).await.status(), 200);
    let lapsed = organisations(&server, &org_admin).await;
    assert_eq!(lapsed["organisations"][0]["status"], "lapsed");

    // Paid on chain by the organisation's admin: the doctor reads again. Then terminated.
    let renew = MedLedgerLicensing::renewSubscriptionCall { organisation: 1 };
    w.send_licensing(&org_admin, renew, U256::from(FEE)).await;
    // The grant was for a day: renew it too.
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], true)
        .await;
    assert_eq!(server.read(&doctor, r.id).await.status(), 200, "renewed");
    let terminate = MedLedgerLicensing::terminateLicenceCall { organisation: 1 };
    w.send_licensing(&platform, terminate, U256::ZERO).await;
    refused_for_the_licence(&server, &patient, &doctor, r.id, "was terminated").await;
    // Writing too: the grant allows it, the terminated licence does not, and the doctor is told.
    let note = w.record(&patient, Category::Vitals, b"bp 120/80".repeat(40));
    let upload = w
        .upload(&server, &doctor, &[&patient, &doctor], &note)
        .await;
    assert_eq!(upload.status(), 403);
    let said: Value = upload.json().await.expect("json");
    assert_eq!(said["error"], "licence-inactive", "{said}");
    // A category the patient never granted is refused for want of consent: renewing the licence
    // would not open it, so the licence is not the reason given.
    let history = w.record(
        &patient,
        Category::History,
        b"appendix out, 1999".repeat(40),
    );
    w.commit(&server, &patient, &[&patient], &history).await;
    assert_read_refused(&server, &patient, &doctor, history.id, 403, NO_CONSENT).await;
    assert_eq!(server.read(&patient, r.id).await.status(), 200);
    let far = w.chain_time().await + 10 * 86_400;
    // created, admin-added, practitioner-joined, enrolment-offered, renewed, terminated.
    let own_events = audit_once(&server, &org_admin, far, 6).await;
    let k = kinds(&own_events);
    assert!(k.contains(&"renewed") && k.contains(&"terminated"), "{k:?}");
    let renewed = own_events
        .iter()
        .find(|e| e["event"] == "renewed")
        .expect("renewed");
    assert_eq!(renewed["actor"], org_admin.address().to_checksum(None));
    assert!(renewed["detail"]
        .as_str()
        .is_some_and(|d| d.ends_with(&format!("amountWei={FEE}"))));
}
