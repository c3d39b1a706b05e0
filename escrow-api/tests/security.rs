//! The security issue's regressions (issue 12), against a real chain and escrow: an emergency
//! release through a stored wrap is flagged as one; erasure leaves no key material in the index
//! file or its journal; the SIWE URI and the request origin are checked; security headers; high-s
//! signatures are refused; the index takes a record's category and author from its anchor, not
//! from the upload's request.

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
    let stored = index
        .record(&r.id.to_string())
        .await
        .expect("row")
        .expect("the record");
    let wrapped_k2 = stored.wrapped_k2.expect("a wrapped K2");
    let mut needles = vec![(
        "the wrapped K2 (hex)".to_string(),
        wrapped_k2.trim_start_matches("0x").as_bytes().to_vec(),
    )];
    for item in r.wraps(&w.d, &[&patient, &doctor]) {
        let (reader, _) = item.split_once('=').expect("reader=wrap");
        let reader: Address = reader.parse().expect("address");
        let wrap = index
            .wrapped_dek(&r.id.to_string(), &reader.to_checksum(None))
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
        let row = index.record(&r.id.to_string()).await.expect("row")?;
        (row.state == "committed").then_some(row)
    })
    .await;
    assert_eq!(row.category, i64::from(Category::History.number()));
    assert_eq!(row.author, doctor.address().to_checksum(None));
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
        let row = index.record(&r.id.to_string()).await.expect("row")?;
        (row.state == "shredded").then_some(())
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
    assert!(index
        .record(&second.id.to_string())
        .await
        .expect("row")
        .is_none());
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
        let row = index.record(&first.id.to_string()).await.expect("row")?;
        (row.state == "committed").then_some(())
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
