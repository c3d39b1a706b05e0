//! The licence agreement (docs/licensing.md "The agreement"): an account that has not accepted
//! the current version is refused every route but sign-in, the agreement and the public documents
//! (walked over every route the OpenAPI description names, with each of its methods); an
//! acceptance is checked (version, text, time, signer, low s), stored with an access-log entry,
//! and idempotent; a new version asks again; the audit export lists acceptances.

mod support;

use alloy_primitives::{hex, keccak256, B256};
use serde_json::{json, Value};
use support::*;

/// What may be asked without having accepted the agreement: signing in and out, the session, the
/// agreement itself, and the documents that name no user (configuration, health, metrics, the API
/// description, the console's page).
const OPEN: &[&str] = &[
    "/api/auth/nonce",
    "/api/auth/verify",
    "/api/auth/message",
    "/api/auth/signout",
    "/api/auth/session",
    "/api/agreement",
    "/config.json",
    "/health",
    "/metrics",
    "/openapi.json",
    "/console",
];

/// `path` with its parameters filled with well-formed values, so that a refusal is the gate's and
/// not the path's.
fn concrete(path: &str) -> String {
    let id = if path.starts_with("/api/holds") {
        "1".to_string()
    } else {
        B256::repeat_byte(0x11).to_string()
    };
    path.replace("{id}", &id)
}

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_sign_in_the_agreement_and_public_documents_needs_the_agreement() {
    let mut patient = User::new(PATIENT);
    let (_w, server) = World::serving(&[&patient], &[], |_| {}).await;
    let session = patient.sign_in_only(&server).await;
    assert_eq!(
        session["agreement"],
        json!({"current": 1, "accepted": null})
    );
    let doc: Value = server.public_json("/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), medledger_escrow_api::server::ROUTES.len());
    let mut gated = 0;
    for route in medledger_escrow_api::server::ROUTES {
        let methods = paths[*route].as_object().expect("methods");
        let methods = methods
            .keys()
            .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()));
        for method in methods {
            if *route == "/api/auth/signout" {
                continue; // asked last: it ends the session
            }
            let method: reqwest::Method = method.to_uppercase().parse().expect("method");
            let request = patient.with_cookie(
                patient
                    .http
                    .request(method.clone(), server.url(&concrete(route))),
            );
            let request = if method == reqwest::Method::GET {
                request
            } else {
                request.json(&json!({}))
            };
            let (status, body) = error_of(request.send().await.expect("request")).await;
            if OPEN.contains(route) {
                assert_ne!(
                    body["error"], "agreement-required",
                    "{method} {route} is open: {body}"
                );
            } else {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (403, Some("agreement-required")),
                    "{method} {route}: {body}"
                );
                gated += 1;
            }
        }
    }
    assert!(gated >= 20, "only {gated} gated method-routes");
    // The sign-out route is open, so that a person who declines can leave.
    let resp = patient
        .post(server.url("/api/auth/signout"))
        .send()
        .await
        .expect("signout");
    assert_eq!(resp.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acceptance_is_checked_logged_once_and_a_new_version_asks_again() {
    let mut patient = User::new(PATIENT);
    let mut stranger = User::new(STRANGER_DOCTOR);
    let (w, server) = World::serving(&[&patient], &[], |_| {}).await;
    patient.sign_in_only(&server).await;
    stranger.sign_in_only(&server).await;

    // The served text is docs/eula/v1.md, published by its keccak256.
    let text = server.get_ok(&patient, "/api/agreement").await;
    let bundled = std::fs::read_to_string(repo_root().join("docs/eula/v1.md")).expect("v1.md");
    assert_eq!(text["version"], 1);
    assert_eq!(text["text"], bundled.as_str());
    assert_eq!(text["textHash"], keccak256(bundled.as_bytes()).to_string());
    assert_eq!(text["accepted"], Value::Null);

    let now = u64::try_from(medledger_escrow_api::now_secs()).expect("time");
    let good = patient.agreement_acceptance(&server, now).await;
    let post = |body: Value| {
        let req = patient.post(server.url("/api/agreement")).json(&body);
        async move { error_of(req.send().await.expect("post")).await }
    };
    // Each part is checked: the version, the text, the time, the signer, the signature's form.
    let mut wrong_version = good.clone();
    wrong_version["version"] = json!(2);
    let mut wrong_text = good.clone();
    wrong_text["textHash"] = json!(B256::repeat_byte(7));
    let old = patient
        .agreement_acceptance(&server, now - 2 * 86_400)
        .await;
    let future = patient.agreement_acceptance(&server, now + 3_600).await;
    let mut forged = good.clone();
    let by_stranger = stranger.agreement_acceptance(&server, now).await;
    forged["signature"] = by_stranger["signature"].clone();
    for (body, code) in [
        (wrong_version, "agreement-version"),
        (wrong_text, "agreement-hash"),
        (old, "agreement-time"),
        (future, "agreement-time"),
        (forged, "bad-signature"),
        (high_s(&good), "bad-signature"),
    ] {
        let (status, err) = post(body.clone()).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some(code)),
            "{body}: {err}"
        );
    }
    let resp = server.get(&patient, "/api/records").await;
    assert_eq!(
        resp.status(),
        403,
        "nothing refused was taken as acceptance"
    );

    let (status, accepted) = post(good.clone()).await;
    assert_eq!(status, 200, "{accepted}");
    assert!(patient.is(&accepted["account"]));
    assert_eq!(accepted["version"], 1);
    let seq = accepted["logSeq"].as_u64().expect("seq");
    // Accepting again answers the stored acceptance and logs nothing more.
    let again = patient.agreement_acceptance(&server, now + 1).await;
    let (status, second) = post(again).await;
    assert_eq!((status, &second), (200, &accepted));
    let resp = server.get(&patient, "/api/records").await;
    assert_eq!(resp.status(), 200, "accepted: the API answers");
    let session = server.get_ok(&patient, "/api/auth/session").await;
    assert_eq!(session["agreement"], json!({"current": 1, "accepted": 1}));

    // The acceptance is an entry of the hash-chained access log, with the text's hash as its
    // record, and the signature recovers to the account from what the entry and the text say.
    let index = server.index().await;
    let last = index.last_log().await.expect("log").expect("an entry");
    assert_eq!(last.seq, i64::try_from(seq).expect("seq"));
    assert_eq!(last.action, "accept-agreement");
    assert_eq!(last.reason, "agreement-v1");
    assert_eq!(last.record_id, keccak256(bundled.as_bytes()).to_string());
    assert!(patient.is(&json!(last.actor)));
    let message = medledger_protocol::identity::AgreementAcceptanceMessage {
        chain_id: w.d.chain_id,
        contract: w.d.address,
        account: patient.address(),
        version: 1,
        text_hash: keccak256(bundled.as_bytes()),
        accepted_at: accepted["acceptedAt"].as_u64().expect("at"),
    };
    let sig = hex::decode(accepted["signature"].as_str().expect("sig")).expect("hex");
    assert_eq!(message.verify(&sig), Ok(()));

    // The operator publishes version 2: the next request is refused until it is accepted.
    let dir = w.tmp.path().join("eula");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("v1.md"), &bundled).expect("v1");
    std::fs::write(
        dir.join("v2.md"),
        format!("{bundled}\n## 10. A new clause\n"),
    )
    .expect("v2");
    let mut config = server.stop().await;
    config.agreement_dir = Some(dir);
    let server = Server::start(config).await;
    patient.sign_in_only(&server).await;
    let (status, err) = error_of(server.get(&patient, "/api/records").await).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (403, Some("agreement-required")),
        "{err}"
    );
    assert!(
        err["message"].as_str().unwrap_or("").contains("version 2"),
        "{err}"
    );
    let text = server.get_ok(&patient, "/api/agreement").await;
    assert_eq!(
        (text["version"].as_u64(), text["accepted"].as_u64()),
        (Some(2), Some(1))
    );
    let resp = patient.accept_agreement(&server).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(server.get(&patient, "/api/records").await.status(), 200);
    let config = server.stop().await;

    // A published version is never edited: an escrow whose version 1 is no longer the text
    // accounts accepted refuses to start (the gate compares versions, which this keeps sound).
    std::fs::write(
        dir_of(&config).join("v1.md"),
        format!("{bundled}\nAn edit.\n"),
    )
    .expect("edit");
    let refused = medledger_escrow_api::server::App::build(config).await;
    let why = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(why.contains("a published version is never edited"), "{why}");
}

fn dir_of(config: &medledger_escrow_api::config::Config) -> std::path::PathBuf {
    config
        .agreement_dir
        .clone()
        .expect("an agreement directory")
}

/// The same signature with s replaced by n - s (and the parity flipped): valid ECDSA, refused.
fn high_s(body: &Value) -> Value {
    use alloy_primitives::{Signature, U256};
    let raw = hex::decode(body["signature"].as_str().expect("sig")).expect("hex");
    let low = Signature::from_raw(&raw).expect("signature");
    let n = U256::from_str_radix(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
        16,
    )
    .expect("n");
    let high = Signature::new(low.r(), n - low.s(), !low.v());
    let mut out = body.clone();
    out["signature"] = json!(hex::encode_prefixed(high.as_bytes()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_licence_audit_lists_acceptances_for_the_platform() {
    let mut patient = User::new(PATIENT);
    let mut admin = User::new(ADMIN);
    let (_w, server) = World::serving(&[&patient], &[], |_| {}).await;
    server.sign_in([&mut patient, &mut admin]).await;
    let to = medledger_escrow_api::now_secs() + 60;
    let audit = server
        .get_ok(
            &admin,
            &format!("/api/console/licensing/audit?from=0&to={to}"),
        )
        .await;
    let acceptances = audit["acceptances"].as_array().expect("acceptances");
    assert_eq!(acceptances.len(), 2, "{audit}");
    assert!(acceptances.iter().any(|a| patient.is(&a["account"])));
    let csv = server
        .get(
            &admin,
            &format!("/api/console/licensing/audit?from=0&to={to}&format=csv"),
        )
        .await
        .text()
        .await
        .expect("csv");
    let lines: Vec<&str> = csv
        .lines()
        .filter(|l| l.contains(",agreement-accepted,"))
        .collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines.iter().all(|l| l.contains("version=1 textHash=0x")),
        "{csv}"
    );
    // Not for a patient.
    let resp = server
        .get(
            &patient,
            &format!("/api/console/licensing/audit?from=0&to={to}"),
        )
        .await;
    assert_eq!(resp.status(), 403);
    server.stop().await;
}
