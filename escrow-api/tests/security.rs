//! The security issue's regressions (issue 12), against a real chain and escrow: an emergency
//! release through a stored wrap is flagged as one; erasure leaves no key material in the index
//! file or its journal; the SIWE URI and the request origin are checked; security headers; high-s
//! signatures are refused; the index takes a record's category and author from its anchor, not
//! from the upload's request; a restore older than the chain's anchors declares the gap and
//! anchoring goes on; a start while the node is down; a bound on accounts per client address.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use alloy_primitives::{hex, Address, B256};
use medledger_escrow_api::db::{sqlite_path, Index};
use medledger_protocol::contract::{Category, MedLedger};
use serde_json::Value;
use support::*;

/// The patient's access-log entries for `record` by `actor` with `action`.
async fn entries_of(
    server: &Server,
    patient: &User,
    actor: Address,
    record: B256,
    action: &str,
) -> Vec<Value> {
    log_entries(server, patient)
        .await
        .into_iter()
        .filter(|e| {
            e["actor"].as_str().and_then(|a| a.parse::<Address>().ok()) == Some(actor)
                && e["recordId"].as_str().and_then(|r| r.parse::<B256>().ok()) == Some(record)
                && e["action"] == action
        })
        .collect()
}

/// A practitioner whose grant was revoked still holds a stored DEK wrap; inside an emergency
/// window the read is released through that wrap, and it must be logged and flagged as the
/// emergency release it is, not as an ordinary consent read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_release_through_a_stored_wrap_is_flagged() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    let mut stranger = User::new(STRANGER_DOCTOR);
    w.register(&[&patient], &[&doctor, &stranger]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;
    stranger.sign_in(&server).await;
    w.send(&patient, MedLedger::setEmergencyOptInCall { optedIn: true })
        .await;
    w.grant_for_a_day(&patient, &doctor, &[Category::History], false)
        .await;
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::History.number(),
        b"allergy: penicillin".repeat(20),
    );
    // The doctor's wrap is stored at upload (a current grantee).
    w.upload_and_anchor(&server, &patient, &[&patient, &doctor], &r)
        .await;
    let read = |u: &User| u.get(server.url(&format!("/api/records/{}", r.id))).send();

    // Under the grant: an ordinary consent read, not flagged.
    let resp = read(&doctor).await.expect("read");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-medledger-emergency").is_none());
    let first = entries_of(&server, &patient, doctor.address(), r.id, "read").await;
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0]["reason"], "consent");
    assert_eq!(first[0]["scoreMilli"], 0);

    // Revoked: refused, though the wrap is still stored.
    w.send(
        &patient,
        MedLedger::revokeCall {
            grantee: doctor.address(),
        },
    )
    .await;
    assert_eq!(read(&doctor).await.expect("read").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        doctor.address(),
        r.id,
        "read",
        "no-read-consent",
    )
    .await;

    // Inside an emergency window: released through the stored wrap, and flagged as emergency.
    w.send(
        &doctor,
        MedLedger::emergencyAccessCall {
            patient: patient.address(),
            reasonHash: B256::repeat_byte(0xee),
        },
    )
    .await;
    let resp = read(&doctor).await.expect("read");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("x-medledger-emergency")
            .map(|v| v.as_bytes()),
        Some(&b"1"[..]),
        "an emergency release carries the emergency header"
    );
    let wrap = resp.headers()["x-medledger-wrapped-dek"]
        .to_str()
        .expect("ascii")
        .to_string();
    let c1 = resp.bytes().await.expect("body").to_vec();
    assert_eq!(r.open_release(&w.d, &doctor, &wrap, &c1), r.body);
    let granted: Vec<Value> = entries_of(&server, &patient, doctor.address(), r.id, "read")
        .await
        .into_iter()
        .filter(|e| e["granted"] == true)
        .collect();
    assert_eq!(granted.len(), 2, "{granted:#?}");
    assert_eq!(granted[1]["reason"], "emergency", "{granted:#?}");
    assert_eq!(granted[1]["scoreMilli"], 1000, "{granted:#?}");

    // The wrong party (no grant, no window, no wrap) is still refused.
    assert_eq!(read(&stranger).await.expect("read").status(), 403);
    assert_refusal_logged(
        &server,
        &patient,
        stranger.address(),
        r.id,
        "read",
        "no-read-consent",
    )
    .await;

    // The patient ends the window: refused again although the wrap is still stored.
    w.send(
        &patient,
        MedLedger::endEmergencyAccessCall {
            practitioner: doctor.address(),
        },
    )
    .await;
    assert_eq!(read(&doctor).await.expect("read").status(), 403);
    server.stop().await;
}

/// The index file and the journal/WAL files beside it that exist now.
fn index_files(index: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-journal"]
        .iter()
        .map(|suffix| {
            let mut name = index.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .filter(|p| p.exists())
        .collect()
}

/// Which of `needles` (name, bytes) occur in which of the index's files.
fn key_material_in(index: &Path, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for file in index_files(index) {
        // A file SQLite is replacing may vanish between the listing and the read.
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for (name, needle) in needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(format!("{name} in {}", file.display()));
            }
        }
    }
    found
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Uploads a record wrapped to the patient and a granted doctor, erases it on chain, and checks
/// that after the shred neither the wrapped DEKs nor the wrapped K2 are anywhere in the index
/// file or its journal/WAL (as the hex text the index stores, or as raw bytes). With `wal`, the
/// index is switched to WAL mode before the escrow opens it.
async fn erasure_leaves_no_key_material(wal: bool) {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let doctor = User::new(DOCTOR);
    w.register(&[&patient], &[&doctor]).await;
    let mut config = w.config();
    let url = config.database_url();
    let index_path = sqlite_path(&url).expect("the data directory's index is a SQLite file");
    // What is checked is SQLite's file: the suite's PostgreSQL run (MEDLEDGER_TEST_DATABASE_URL)
    // keeps this escrow on its SQLite index too.
    config.database_url = Some(url.clone());
    if wal {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.expect("open the index");
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await
            .expect("WAL mode");
        pool.close().await;
    }
    let server = Server::start(config).await;
    assert_eq!(mode_of(&w.data), 0o700, "the data directory is 0700");
    for file in index_files(&index_path) {
        assert_eq!(mode_of(&file), 0o600, "{} is 0600", file.display());
    }
    patient.sign_in(&server).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], false)
        .await;
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        b"pulse 61".repeat(10),
    );
    w.upload_and_anchor(&server, &patient, &[&patient, &doctor], &r)
        .await;
    let index = Index::connect(&url).await.expect("index");
    let stored = index.record(r.id).await.expect("row").expect("the record");
    let wrapped_k2 = stored.wrapped_k2.expect("a wrapped K2");
    let mut needles = vec![(
        "the wrapped K2 (hex)".to_string(),
        wrapped_k2.trim_start_matches("0x").as_bytes().to_vec(),
    )];
    for item in r.wraps(&w.d, &[&patient, &doctor]) {
        let (reader, _) = item.split_once('=').expect("reader=wrap");
        let reader: Address = reader.parse().expect("address");
        let wrap = index
            .wrapped_dek(r.id, reader)
            .await
            .expect("wrap")
            .expect("a stored wrap");
        let digits = wrap.trim_start_matches("0x");
        needles.push((format!("{reader}'s wrap (hex)"), digits.as_bytes().to_vec()));
        needles.push((
            format!("{reader}'s wrap (bytes)"),
            hex::decode(digits).expect("hex"),
        ));
    }
    // The search finds the wrapped keys while they are live (so an empty result means something).
    let before = key_material_in(&index_path, &needles);
    assert!(
        before.iter().any(|f| f.contains("wrap (hex)")),
        "the wrapped DEKs are stored in the index files before the shred: {before:?}"
    );

    w.send(&patient, MedLedger::eraseRecordCall { recordId: r.id })
        .await;
    eventually("the shred in the access log", || async {
        let entries = log_entries(&server, &patient).await;
        entries
            .iter()
            .any(|e| e["action"] == "shred" && e["granted"] == true)
            .then_some(())
    })
    .await;
    // A checkpoint a busy reader held up is retried by the follower: wait for it, bounded.
    eventually(
        "no key material in the index files after the shred",
        || async {
            key_material_in(&index_path, &needles)
                .is_empty()
                .then_some(())
        },
    )
    .await;
    for file in index_files(&index_path) {
        assert_eq!(mode_of(&file), 0o600, "{} is 0600", file.display());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_wrapped_keys_in_the_index_file() {
    erasure_leaves_no_key_material(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_wrapped_keys_in_the_index_file_or_its_wal() {
    erasure_leaves_no_key_material(true).await;
}

async fn json_error(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("a JSON error body");
    (status, body)
}

/// The API's one error shape: `{"error": code, "message": text}`.
fn assert_error_shape(body: &Value, code: &str) {
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
}

/// Without `siwe_uri` configured, the message's URI must be on the escrow's public origin: a
/// message naming an attacker's site is refused; one naming a page of the escrow signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_whose_uri_is_another_origin_is_refused() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let server = Server::start(w.config()).await;
    assert!(server.config.siwe_uri.is_none());
    let nonce: Value = reqwest::get(server.url("/api/auth/nonce"))
        .await
        .expect("nonce")
        .json()
        .await
        .expect("json");
    assert_eq!(
        nonce["uri"],
        server.base.as_str(),
        "the URI to sign is the public origin"
    );

    for uri in [
        "https://evil.example",
        "https://evil.example/login",
        "http://127.0.0.1:1",
    ] {
        let mut msg = patient.siwe(&server).await;
        msg.uri = uri.to_string();
        let resp = patient
            .post_siwe(&server, &msg.to_string(), &patient.signer.clone())
            .await;
        assert!(resp.headers().get("set-cookie").is_none());
        let (status, body) = json_error(resp).await;
        assert_eq!(status, 403, "{uri}: {body}");
        assert_error_shape(&body, "siwe-refused");
        assert!(
            body["message"].as_str().unwrap_or("").contains("URI"),
            "{body}"
        );
    }

    // A page of the escrow's own origin signs in.
    let mut msg = patient.siwe(&server).await;
    msg.uri = format!("{}/", server.base);
    let resp = patient
        .post_siwe(&server, &msg.to_string(), &patient.signer.clone())
        .await;
    assert_eq!(resp.status(), 200);
    patient.sign_in(&server).await;
    server.stop().await;
}

/// ECDSA is malleable: (r, n - s) with the other parity verifies for the same message and key.
/// The escrow accepts only the low-s form (EIP-2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_s_signature_is_refused() {
    use alloy_primitives::{Signature, U256};
    use alloy_signer::SignerSync;
    use k256::elliptic_curve::PrimeField;
    let w = World::new().await;
    let patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let server = Server::start(w.config()).await;
    let msg = patient.siwe(&server).await.to_string();
    let low = patient
        .signer
        .sign_message_sync(msg.as_bytes())
        .expect("sign");
    assert!(low.normalize_s().is_none(), "the wallet signs low-s");
    let s =
        Option::<k256::Scalar>::from(k256::Scalar::from_repr(low.s().to_be_bytes::<32>().into()))
            .expect("s is a scalar");
    let high = Signature::new(
        low.r(),
        U256::from_be_bytes::<32>((-s).to_bytes().into()),
        !low.v(),
    );
    assert!(
        high.normalize_s().is_some(),
        "the malleated signature is high-s"
    );
    assert_eq!(
        high.recover_address_from_msg(msg.as_bytes())
            .expect("recovers"),
        patient.address(),
        "the malleated signature recovers the same signer"
    );
    let post = |sig: Signature| {
        patient.http
            .post(server.url("/api/auth/verify"))
            .json(&serde_json::json!({"message": msg, "signature": hex::encode_prefixed(sig.as_bytes())}))
            .send()
    };
    let (status, body) = json_error(post(high).await.expect("verify")).await;
    assert_eq!(status, 403, "{body}");
    assert_error_shape(&body, "siwe-refused");
    // The same message with the low-s signature signs in (its nonce was not used up).
    assert_eq!(post(low).await.expect("verify").status(), 200);
    server.stop().await;
}
/// A cross-site form (or script) cannot use the session cookie to change state: a POST whose
/// `Origin` (or, lacking it, `Referer`) is not the escrow's is refused and changes nothing; the
/// escrow's own origin, and a client that sends neither, are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_state_changes_are_refused() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    let session_status = |u: &User| u.get(server.url("/api/auth/session")).send();
    let signout = server.url("/api/auth/signout");

    let evil = [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", "http://127.0.0.1:1"),
        ("referer", "https://evil.example/form.html"),
    ];
    for (name, value) in evil {
        let resp = patient
            .post(signout.clone())
            .header(name, value)
            .send()
            .await
            .expect("signout");
        let (status, body) = json_error(resp).await;
        assert_eq!(status, 403, "{name}: {value}");
        assert_error_shape(&body, "cross-origin");
        let still = session_status(&patient).await.expect("session");
        assert_eq!(
            still.status(),
            200,
            "the session survives a refused {name}: {value}"
        );
    }

    // The other state-changing routes a cookie authorises are refused the same way.
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        b"x".to_vec(),
    );
    let resp = r
        .upload(&server, &patient, &r.wraps(&w.d, &[&patient]))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("upload");
    let (status, body) = json_error(resp).await;
    assert_eq!(status, 403);
    assert_error_shape(&body, "cross-origin");
    let listed: Value = patient
        .get(server.url("/api/records"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        listed["records"],
        serde_json::json!([]),
        "nothing was stored"
    );
    for (method, path) in [
        (
            reqwest::Method::POST,
            format!("/api/records/{}/wraps", r.id),
        ),
        (reqwest::Method::PUT, "/api/profile".to_string()),
        (reqwest::Method::POST, "/api/auth/verify".to_string()),
    ] {
        let resp = patient
            .http
            .request(method, server.url(&path))
            .header("cookie", patient.cookie.clone().expect("cookie"))
            .header("origin", "https://evil.example")
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("request");
        let (status, body) = json_error(resp).await;
        assert_eq!(status, 403, "{path}");
        assert_error_shape(&body, "cross-origin");
    }
    // Reads are not state-changing: a cross-origin GET is answered as usual.
    let resp = patient
        .get(server.url("/api/auth/session"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("session");
    assert_eq!(resp.status(), 200);

    // From the escrow's own origin, sign-out works.
    let resp = patient
        .post(signout.clone())
        .header("origin", server.base.as_str())
        .send()
        .await
        .expect("signout");
    assert_eq!(resp.status(), 200);
    assert_eq!(session_status(&patient).await.expect("s").status(), 401);

    // A client that sends neither Origin nor Referer (not a browser) is served.
    patient.sign_in(&server).await;
    let resp = patient.post(signout).send().await.expect("signout");
    assert_eq!(resp.status(), 200);
    assert_eq!(session_status(&patient).await.expect("s").status(), 401);
    server.stop().await;
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is missing on {}", resp.url()))
        .to_str()
        .expect("ascii")
}

/// Every response carries nosniff and no-referrer; API responses a CSP that loads nothing and
/// forbids framing; the console and the app's page their own policies, never framed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_the_api_the_console_and_the_app() {
    let w = World::new().await;
    let config = w.config();
    std::fs::create_dir_all(&config.app_dir).expect("app dir");
    std::fs::write(
        config.app_dir.join("index.html"),
        "<!doctype html><title>app</title>",
    )
    .expect("index.html");
    let server = Server::start(config).await;
    let get = |path: &str| reqwest::get(server.url(path));
    let common = |resp: &reqwest::Response| {
        assert_eq!(header(resp, "x-content-type-options"), "nosniff");
        assert_eq!(header(resp, "referrer-policy"), "no-referrer");
        let csp = header(resp, "content-security-policy");
        assert!(
            csp.contains("frame-ancestors 'none'"),
            "{}: {csp}",
            resp.url()
        );
    };

    for path in [
        "/api/auth/nonce",
        "/api/auth/session",
        "/config.json",
        "/health",
    ] {
        let resp = get(path).await.expect("api");
        common(&resp);
        let csp = header(&resp, "content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
    }

    let console = get("/console").await.expect("console");
    assert_eq!(console.status(), 200);
    common(&console);
    assert!(header(&console, "content-security-policy").contains("script-src 'self'"));

    let app = get("/").await.expect("app");
    assert_eq!(app.status(), 200);
    common(&app);
    let csp = header(&app, "content-security-policy").to_string();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("connect-src 'self' blob: {}", w.url())),
        "the app may talk to the chain's RPC URL: {csp}"
    );
    assert!(
        csp.contains("object-src 'none'") && csp.contains("base-uri 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"),
        "{csp}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_takes_category_and_author_from_the_anchor_not_the_upload() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let doctor = User::new(DOCTOR);
    w.register(&[&patient], &[&doctor]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::History], true)
        .await;

    // The patient's upload says Vitals; the doctor anchors the same ciphertext as History.
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        b"history, filed as vitals".to_vec(),
    );
    let resp = r
        .upload(&server, &patient, &r.wraps(&w.d, &[&patient, &doctor]))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 201);
    w.send(
        &doctor,
        MedLedger::addRecordCall {
            recordId: r.id,
            patient: patient.address(),
            ciphertextHash: r.h1,
            category: Category::History.number(),
            supersedes: B256::ZERO,
        },
    )
    .await;
    let index = Index::connect(&server.config.database_url())
        .await
        .expect("index");
    let row = eventually("the upload to be committed", || async {
        let row = index.record(r.id).await.expect("row")?;
        (row.state.as_str() == "committed").then_some(row)
    })
    .await;
    assert_eq!(row.category, Category::History.number());
    assert_eq!(row.author, doctor.address());
    server.stop().await;
}

/// Every refusal of a request that names a record reaches its patient's log, also those that
/// come after consent was established: a range the record cannot satisfy, a blob store that
/// fails, a wrap added to an erased record, someone else's shred receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_after_consent_are_in_the_patients_log() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    w.register(&[&patient], &[&doctor]).await;
    let server = Server::start(w.config()).await;
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], false)
        .await;
    let new_record = |body: &[u8]| {
        Record::new(
            &w.d,
            patient.address(),
            Category::Vitals.number(),
            body.to_vec(),
        )
    };
    let r = new_record(b"range and receipt");
    let lost = new_record(b"a blob the store loses");
    for rec in [&r, &lost] {
        w.upload_and_anchor(&server, &patient, &[&patient, &doctor], rec)
            .await;
    }
    let url = |rec: &Record, tail: &str| server.url(&format!("/api/records/{}{tail}", rec.id));
    let refused = |entries: Vec<Value>, reason: &str| {
        entries
            .iter()
            .any(|e| e["granted"] == false && e["reason"] == reason)
    };

    // A range past the end: 416, logged.
    let resp = doctor
        .get(url(&r, ""))
        .header("range", "bytes=999999-")
        .send()
        .await
        .expect("read");
    assert_eq!(resp.status(), 416);
    let e = entries_of(&server, &patient, doctor.address(), r.id, "read").await;
    assert!(refused(e, "bad-range"), "the 416 is logged");

    // The blob store has lost a record's blob: nothing released, and the refusal logged.
    std::fs::remove_dir_all(w.data.join("blobs/c2").join(lost.id.to_string()))
        .expect("remove the blob");
    let resp = doctor.get(url(&lost, "")).send().await.expect("read");
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let e = entries_of(&server, &patient, doctor.address(), lost.id, "read").await;
    assert!(!e.iter().any(|e| e["granted"] == true), "{e:?}");
    assert!(
        e.iter().any(|e| e["granted"] == false),
        "the failed read is logged: {e:?}"
    );

    // Someone else's shred receipt: 403, logged.
    let resp = doctor
        .get(url(&r, "/receipt"))
        .send()
        .await
        .expect("receipt");
    assert_eq!(resp.status(), 403);
    let e = entries_of(&server, &patient, doctor.address(), r.id, "receipt").await;
    assert!(
        refused(e, "not-your-record"),
        "the receipt refusal is logged"
    );

    // A wrap added to an erased record: 410, logged.
    w.send(&patient, MedLedger::eraseRecordCall { recordId: r.id })
        .await;
    let index = Index::connect(&server.config.database_url())
        .await
        .expect("index");
    eventually("the shred", || async {
        let row = index.record(r.id).await.expect("row")?;
        (row.state.as_str() == "shredded").then_some(())
    })
    .await;
    let wrap = format!("{}=0x{}", doctor.address(), "11".repeat(81));
    let resp = patient
        .post(url(&r, "/wraps"))
        .json(&serde_json::json!({ "wraps": [wrap] }))
        .send()
        .await
        .expect("wraps");
    assert_eq!(resp.status(), 410);
    let e = entries_of(&server, &patient, patient.address(), r.id, "add-wrap").await;
    assert!(refused(e, "erased"), "the 410 is logged");
    server.stop().await;
}

/// `/health` said "ok" while the blob store could take no write (a full disk, a read-only
/// mount): now it probes the store and says "degraded" until the store takes writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_blob_store() {
    let w = World::new().await;
    let server = Server::start(w.config()).await;
    let health = || async {
        let resp = reqwest::get(server.url("/health")).await.expect("health");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("json");
        (status, body)
    };
    let (status, body) = health().await;
    assert_eq!(
        (status, &body["blobs"]),
        (200, &Value::Bool(true)),
        "{body}"
    );

    // The blob directory replaced by a file: no write can succeed, whoever runs the test (root
    // ignores permission bits, not a file where a directory should be).
    let blobs = w.data.join("blobs");
    let aside = w.data.join("blobs.aside");
    std::fs::rename(&blobs, &aside).expect("move the blob directory away");
    std::fs::write(&blobs, b"not a directory").expect("a file in its place");
    let (status, body) = health().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["blobs"], false);

    std::fs::remove_file(&blobs).expect("remove the file");
    std::fs::rename(&aside, &blobs).expect("the directory back");
    let (status, body) = health().await;
    assert_eq!(
        (status, &body["blobs"]),
        (200, &Value::Bool(true)),
        "{body}"
    );
    server.stop().await;
}

/// A flood of reads is limited before it is logged, and logged once: unauthenticated reads per
/// client address (they used to add one fsync'd row each to the patient's log, behind the lock
/// every read's entry waits for), and a signed-in reader over their limit under their own address
/// (it used to be logged as `no-session` with a zero actor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_limited_before_they_are_logged_and_logged_once() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    w.register(&[&patient], &[&doctor]).await;
    let mut config = w.config();
    // Eight requests at once per caller, then one a minute: no bucket refills during the test.
    config.rate_limit_per_minute = 1;
    config.rate_limit_burst = 8;
    let server = Server::start(config).await;
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], false)
        .await;
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        b"a record under a flood".to_vec(),
    );
    w.upload_and_anchor(&server, &patient, &[&patient, &doctor], &r)
        .await;
    let url = server.url(&format!("/api/records/{}", r.id));

    // Forty reads without a session: a burst of 401s, then 429s with Retry-After.
    let anonymous = reqwest::Client::new();
    let (mut unauthenticated, mut limited) = (0, 0);
    for _ in 0..40 {
        let resp = anonymous.get(&url).send().await.expect("read");
        match resp.status().as_u16() {
            401 => unauthenticated += 1,
            429 => {
                assert!(resp.headers().contains_key("retry-after"));
                limited += 1
            }
            other => panic!("a read without a session answered {other}"),
        }
    }
    assert_eq!(unauthenticated + limited, 40);
    assert!(
        limited >= 30,
        "the limit held: {unauthenticated} x 401, {limited} x 429"
    );

    // A signed-in reader past their limit.
    let (mut released, mut doctor_limited) = (0, 0);
    for _ in 0..20 {
        match doctor
            .get(url.clone())
            .send()
            .await
            .expect("read")
            .status()
            .as_u16()
        {
            200 => released += 1,
            429 => doctor_limited += 1,
            other => panic!("the doctor's read answered {other}"),
        }
    }
    assert!(
        released >= 1 && doctor_limited >= 10,
        "{released} x 200, {doctor_limited} x 429"
    );

    let anon = entries_of(&server, &patient, Address::ZERO, r.id, "read").await;
    let reasons = |es: &[Value], reason: &str| es.iter().filter(|e| e["reason"] == reason).count();
    assert_eq!(
        reasons(&anon, "no-session"),
        unauthenticated,
        "each 401 is logged"
    );
    assert_eq!(
        reasons(&anon, "no-session-flood"),
        1,
        "the flood once: {anon:?}"
    );
    assert_eq!(anon.len(), unauthenticated + 1, "no row per 429: {anon:?}");
    let by_doctor = entries_of(&server, &patient, doctor.address(), r.id, "read").await;
    assert_eq!(reasons(&by_doctor, "consent"), released);
    assert_eq!(
        reasons(&by_doctor, "rate-limited"),
        1,
        "the doctor's flood once, under the doctor's address: {by_doctor:?}"
    );
    server.stop().await;
}

/// An account's unanchored uploads are bounded: a patient who uploads and never anchors cannot
/// fill the blob store for the pending TTL. Past the quota an upload is refused before anything
/// is stored (and logged); once earlier uploads are anchored, there is room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanchored_uploads_are_bounded_per_account() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let record = |body: &[u8]| {
        Record::new(
            &w.d,
            patient.address(),
            Category::Vitals.number(),
            body.to_vec(),
        )
    };
    let first = record(&[1u8; 3000]);
    let second = record(&[2u8; 3000]);
    let mut config = w.config();
    // Room for one of them unanchored, not both.
    config.pending_quota_bytes = u64::try_from(first.c1.len() + second.c1.len() - 1).expect("n");
    let server = Server::start(config).await;
    patient.sign_in(&server).await;
    let upload = |r: &Record| {
        r.upload(&server, &patient, &r.wraps(&w.d, &[&patient]))
            .send()
    };

    assert_eq!(upload(&first).await.expect("upload").status(), 201);
    let refused = upload(&second).await.expect("upload");
    assert_eq!(refused.status(), 413);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "pending-quota", "{body}");
    let index = Index::connect(&server.config.database_url())
        .await
        .expect("index");
    assert!(index.record(second.id).await.expect("row").is_none());
    let e = entries_of(&server, &patient, patient.address(), second.id, "upload").await;
    assert!(
        e.iter()
            .any(|e| e["granted"] == false && e["reason"] == "pending-quota"),
        "{e:?}"
    );

    // The first anchored: no longer pending, so the second fits.
    w.send(
        &patient,
        MedLedger::addRecordCall {
            recordId: first.id,
            patient: patient.address(),
            ciphertextHash: first.h1,
            category: first.category,
            supersedes: B256::ZERO,
        },
    )
    .await;
    eventually("the first upload to be committed", || async {
        let row = index.record(first.id).await.expect("row")?;
        (row.state.as_str() == "committed").then_some(())
    })
    .await;
    assert_eq!(upload(&second).await.expect("upload").status(), 201);
    server.stop().await;
}

/// Behind a reverse proxy every request comes from the proxy's address: the per-address limits
/// key on the client address the trusted proxy appended to `X-Forwarded-For`, and believe that
/// header from no one else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let w = World::new().await;
    let nonces = |server: &Server, client: &'static str| {
        let url = server.url("/api/auth/nonce");
        async move {
            let mut statuses = Vec::new();
            for _ in 0..4 {
                let resp = reqwest::Client::new()
                    .get(&url)
                    .header("x-forwarded-for", format!("6.6.6.6, {client}"))
                    .send()
                    .await
                    .expect("nonce");
                statuses.push(resp.status().as_u16());
            }
            statuses
        }
    };
    let mut config = w.config();
    config.rate_limit_per_minute = 1;
    config.rate_limit_burst = 3;

    // The test's connections come from 127.0.0.1, here the trusted proxy.
    let mut proxied = config.clone();
    proxied.trusted_proxies = vec!["127.0.0.1".into()];
    let server = Server::start(proxied).await;
    assert_eq!(nonces(&server, "203.0.113.1").await, [200, 200, 200, 429]);
    assert_eq!(
        nonces(&server, "203.0.113.2").await,
        [200, 200, 200, 429],
        "another client behind the proxy has a bucket of its own"
    );
    let config = server.stop().await;

    // Not a trusted proxy: the header is the client's word and is ignored.
    let mut direct = config;
    direct.trusted_proxies = Vec::new();
    let server = Server::start(direct).await;
    assert_eq!(nonces(&server, "203.0.113.1").await, [200, 200, 200, 429]);
    assert_eq!(
        nonces(&server, "203.0.113.2").await,
        [429, 429, 429, 429],
        "one bucket for one connection address"
    );
    server.stop().await;
}

/// The contract's next access-log seq: every entry before it is anchored on chain.
async fn next_anchored_seq(w: &World) -> i64 {
    let n = w.call(MedLedger::nextLogSeqCall {}).await;
    i64::try_from(n).expect("seq")
}

/// Waits until the chain has anchored every entry the index holds.
async fn all_anchored(w: &World, index: &Index) -> i64 {
    eventually("every access-log entry to be anchored", || async {
        let held = index.last_log().await.ok()??.seq + 1;
        let next = next_anchored_seq(w).await;
        (next >= held).then_some(next)
    })
    .await
}

fn ledger_of(w: &World) -> medledger_escrow_api::chain::Ledger {
    medledger_escrow_api::chain::Ledger::new(std::sync::Arc::new(
        medledger_escrow_api::chain::RpcChain::new(w.url(), w.d.address, w.d.chain_id, None)
            .expect("chain"),
    ))
}

/// Item 12: an index restored from a backup older than the chain's last anchors lacks entries
/// the chain has anchored. The escrow must not reuse their seqs (anchoring would fail forever):
/// at start it declares them lost in a gap entry, continues after them, anchors again, and
/// `verify-log`, the patient's log and the console all show the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_older_than_the_anchors_declares_the_gap_and_anchoring_goes_on() {
    use medledger_escrow_api::maintenance::{backup, restore, KeyFiles};
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut admin = User::new(ADMIN);
    w.register(&[&patient], &[]).await;
    let mut config = w.config();
    config.anchor_interval_secs = 1;
    // Backups are of a SQLite index: the suite's PostgreSQL run keeps this escrow on SQLite.
    let url = config.database_url();
    config.database_url = Some(url.clone());
    let server = Server::start(config.clone()).await;
    patient.sign_in(&server).await;
    let r = Record::new(
        &w.d,
        patient.address(),
        Category::Vitals.number(),
        b"pulse 64".repeat(40),
    );
    w.upload_and_anchor(&server, &patient, &[&patient], &r)
        .await;
    let read = |server: &Server, patient: &User| {
        patient
            .get(server.url(&format!("/api/records/{}", r.id)))
            .send()
    };
    assert_eq!(read(&server, &patient).await.expect("read").status(), 200);
    let index = Index::connect(&url).await.expect("index");
    all_anchored(&w, &index).await;

    let saved = w.tmp.path().join("backup");
    let keys = KeyFiles {
        master: &config.master_key_file(),
        break_glass: &config.break_glass_key_file(),
    };
    backup(&url, keys, &saved).await.expect("backup");
    let in_backup = Index::connect(&format!(
        "sqlite://{}",
        saved.join("index.sqlite").display()
    ))
    .await
    .expect("the backup's index")
    .last_log()
    .await
    .expect("log")
    .expect("entries")
    .seq;

    // After the backup: more reads, anchored on chain, then the index is lost.
    for _ in 0..3 {
        assert_eq!(read(&server, &patient).await.expect("read").status(), 200);
    }
    let lost_until = all_anchored(&w, &index).await - 1;
    assert!(
        lost_until > in_backup,
        "entries after the backup were anchored"
    );
    drop(index);
    server.stop().await;
    for f in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{f}", sqlite_path(&url).expect("path").display()));
    }
    restore(&url, keys, &saved).await.expect("restore");

    // The restored escrow declares the gap before anything else is logged.
    let server = Server::start(config.clone()).await;
    // The first answer comes after the start-up checks (the node is up: they pass at once).
    let health: Value = reqwest::get(server.url("/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["ready"], true, "{health}");
    let index = Index::connect(&url).await.expect("index");
    let gaps = index.log_gaps().await.expect("gaps");
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    assert_eq!(
        gaps[0].seq,
        lost_until + 1,
        "the log continues after the anchors"
    );
    assert_eq!(
        medledger_escrow_api::access_log::declared_gap(&gaps[0]),
        Some((in_backup + 1, lost_until))
    );
    assert_eq!(gaps[0].actor, w.d.escrow.to_checksum(None));

    // New entries are anchored again, with proofs the contract accepts.
    patient.sign_in(&server).await;
    assert_eq!(read(&server, &patient).await.expect("read").status(), 200);
    all_anchored(&w, &index).await;
    let log: Value = patient
        .get(server.url("/api/access-log"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert_eq!(log["gaps"][0]["firstSeq"], in_backup + 1, "{log:#}");
    assert_eq!(log["gaps"][0]["lastSeq"], lost_until, "{log:#}");
    let entries = eventually("the entries after the restore to be proven", || async {
        let e = log_entries(&server, &patient).await;
        let after: Vec<Value> = e
            .into_iter()
            .filter(|e| e["seq"].as_i64() > Some(lost_until))
            .collect();
        (!after.is_empty() && after.iter().all(|e| !e["proof"].is_null())).then_some(after)
    })
    .await;
    for e in &entries {
        let ok = proof_accepted(w.url(), w.d.address, e).await;
        assert!(ok, "the contract refuses the proof of {e}");
    }

    // verify-log: the chain of what remains is intact, the gap is reported, not hidden.
    let report = medledger_escrow_api::follower::verify_log_with(&index, &ledger_of(&w))
        .await
        .expect("verify");
    assert!(report.ok(), "{report}");
    assert_eq!(report.gaps, vec![(in_backup + 1, lost_until)]);
    assert!(report.anchors_in_gaps >= 1, "{report}");
    assert!(report.to_string().contains("lost in a restore"), "{report}");

    // The console says so too.
    admin.sign_in(&server).await;
    let summary: Value = admin
        .get(server.url("/api/console/summary"))
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    assert_eq!(summary["accessLog"]["gaps"][0]["firstSeq"], in_backup + 1);
    server.stop().await;
}

/// Relays connections on `listener` to `to` (a node that comes back on the escrow's RPC URL).
fn relay(listener: tokio::net::TcpListener, to: std::net::SocketAddr) {
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

/// Item 15: an escrow whose node is down at start starts anyway, answers 503 `not-ready` (and
/// `/health` says why) without logging anything, and serves by itself once the node answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escrow_started_while_its_node_is_down_serves_once_the_node_answers() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    // The escrow's RPC URL: a port where nothing listens yet.
    let node_port = free_port();
    let mut config = w.config();
    config.rpc_url = format!("http://127.0.0.1:{node_port}");
    let server = Server::start(config).await;
    let health = reqwest::get(server.url("/health")).await.expect("health");
    assert_eq!(health.status(), 503);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["ready"], false, "{health}");
    let nonce = reqwest::get(server.url("/api/auth/nonce"))
        .await
        .expect("nonce");
    assert_eq!(nonce.status(), 503);
    let body: Value = nonce.json().await.expect("json");
    assert_eq!(body["error"], "not-ready", "{body}");

    // The node comes back on that port.
    let ganache: std::net::SocketAddr = w
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("Ganache's address");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", node_port))
        .await
        .expect("the node's port");
    relay(listener, ganache);
    eventually("the escrow to become ready", || async {
        let r = reqwest::get(server.url("/health")).await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    patient.sign_in(&server).await;
    let list = patient
        .get(server.url("/api/records"))
        .send()
        .await
        .expect("list");
    assert_eq!(list.status(), 200);
    server.stop().await;
}

/// Item 7: each signed-in account has its own rate-limit bucket, so fresh wallets must not
/// multiply one client's allowance: a client address signs in a bounded number of accounts an
/// hour (refused with 429 and `Retry-After`, counted only for good signatures), and an account
/// already seen from it signs in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_address_signs_in_a_bounded_number_of_accounts() {
    let w = World::new().await;
    let mut first = User::new(PATIENT);
    let mut second = User::new(OTHER_PATIENT);
    let third = User::new(DOCTOR);
    let mut config = w.config();
    config.sign_in_accounts_per_client = 2;
    let server = Server::start(config).await;
    // A forged signature for a fourth account is refused and takes no place.
    let forged = third.siwe(&server).await.to_string();
    let resp = third
        .post_siwe(&server, &forged, &User::new(STRANGER_DOCTOR).signer)
        .await;
    assert_eq!(resp.status(), 403);
    first.sign_in(&server).await;
    second.sign_in(&server).await;
    let msg = third.siwe(&server).await.to_string();
    let resp = third.post_siwe(&server, &msg, &third.signer).await;
    assert_eq!(resp.status(), 429, "a third account from one address");
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=3600).contains(&retry), "{retry}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "rate-limited", "{body}");
    first.sign_in(&server).await;
    server.stop().await;
}

/// Every API error has one JSON shape, including the requests axum's own extractors refuse
/// (malformed JSON, a body that is not JSON, a query missing a field or of the wrong type).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_and_queries_answer_in_the_api_error_shape() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let server = Server::start(w.config()).await;
    let http = reqwest::Client::new();
    let verify = server.url("/api/auth/verify");
    let cases = [
        http.post(&verify)
            .header("content-type", "application/json")
            .body("{not json"),
        http.post(&verify)
            .body(r#"{"message": "m", "signature": "0x"}"#),
        http.post(&verify).json(&serde_json::json!({"message": 7})),
    ];
    for (case, expected) in cases.into_iter().zip([400, 415, 422]) {
        let (status, body) = json_error(case.send().await.expect("verify")).await;
        assert_eq!(status, expected, "{body}");
        assert_error_shape(&body, "bad-json");
    }
    for query in ["/api/auth/message", "/api/auth/message?addr=0x1"] {
        let (status, body) = json_error(http.get(server.url(query)).send().await.expect("q")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_error_shape(&body, "bad-query");
    }
    patient.sign_in(&server).await;
    let (status, body) = json_error(
        patient
            .get(server.url("/api/console/log?limit=many"))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_error_shape(&body, "bad-query");
    server.stop().await;
}
