//! The security issue's regressions (issue 12), against a real chain and escrow: an emergency
//! release through a stored wrap is flagged as one; erasure leaves no key material in the index
//! file or its journal; the SIWE URI and the request origin are checked; security headers; high-s
//! signatures are refused; the index takes a record's category and author from its anchor, not
//! from the upload's request; a restore older than the chain's anchors declares the gap and
//! anchoring goes on; a start while the node is down; a bound on accounts per client address.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use alloy_primitives::{hex, Address};
use medledger_escrow_api::db::{sqlite_path, Index};
use medledger_escrow_api::follower::verify_log_with;
use medledger_protocol::contract::{Category, MedLedger};
use serde_json::{json, Value};
use support::*;

/// A practitioner whose grant was revoked still holds a stored DEK wrap; inside an emergency
/// window the read is released through that wrap, and it must be logged and flagged as the
/// emergency release it is, not as an ordinary consent read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_release_through_a_stored_wrap_is_flagged() {
    let (w, server, [patient], [doctor, stranger]) =
        World::signed_in([PATIENT], [DOCTOR, STRANGER_DOCTOR], |_| {}).await;
    w.opt_in_to_emergencies(&patient, true).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::History], false)
        .await;
    let r = w.record(
        &patient,
        Category::History,
        b"allergy: penicillin".repeat(20),
    );
    // The doctor's wrap is stored at upload (a current grantee).
    w.commit(&server, &patient, &[&patient, &doctor], &r).await;
    let doctors_reads = || server.entries_of(&patient, doctor.address(), r.id, "read");

    // Under the grant: an ordinary consent read, not flagged.
    let resp = server.read(&doctor, r.id).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-medledger-emergency").is_none());
    let first = doctors_reads().await;
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0]["reason"], "consent");
    // Scored by the model (calibrated 0–1000); whether a fresh doctor's first read is unusual
    // is the model's to say (escrow-api/tests/risk.rs tests what it says).
    let score = first[0]["scoreMilli"].as_i64().expect("a score");
    assert!((0..=1000).contains(&score), "{first:#?}");

    // Revoked: refused, though the wrap is still stored.
    w.revoke(&patient, &doctor).await;
    assert_read_refused(&server, &patient, &doctor, r.id, 403, NO_CONSENT).await;

    // Inside an emergency window: released through the stored wrap, and flagged as emergency.
    w.open_emergency(&doctor, &patient).await;
    let resp = server.read(&doctor, r.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("x-medledger-emergency")
            .map(|v| v.as_bytes()),
        Some(&b"1"[..]),
        "an emergency release carries the emergency header"
    );
    assert_eq!(r.open(&w.d, &doctor, resp).await, r.body);
    let granted: Vec<Value> = doctors_reads()
        .await
        .into_iter()
        .filter(|e| e["granted"] == true)
        .collect();
    assert_eq!(granted.len(), 2, "{granted:#?}");
    assert_eq!(granted[1]["reason"], "emergency", "{granted:#?}");
    assert_eq!(granted[1]["flagged"], true, "{granted:#?}");
    assert_eq!(
        granted[1]["reasons"][0], "emergency access, without your grant",
        "an emergency is the first reason given: {granted:#?}"
    );

    // The wrong party (no grant, no window, no wrap) is still refused.
    assert_read_refused(&server, &patient, &stranger, r.id, 403, NO_CONSENT).await;

    // The patient ends the window: refused again although the wrap is still stored.
    w.end_emergency(&patient, &doctor).await;
    assert_eq!(server.read(&doctor, r.id).await.status(), 403);
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

/// Asserts that the index file and its journal/WAL files are 0600.
fn assert_index_files_private(index: &Path) {
    for file in index_files(index) {
        assert_eq!(mode_of(&file), 0o600, "{} is 0600", file.display());
    }
}

/// Uploads a record wrapped to the patient and a granted doctor, erases it on chain, and checks
/// that after the shred neither the wrapped DEKs nor the wrapped K2 are anywhere in the index
/// file or its journal/WAL (as the hex text the index stores, or as raw bytes). With `wal`, the
/// index is switched to WAL mode before the escrow opens it.
async fn erasure_leaves_no_key_material(wal: bool) {
    let w = World::new().await;
    let [mut patient, doctor] = users([PATIENT, DOCTOR]);
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
    assert_index_files_private(&index_path);
    patient.sign_in(&server).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], false)
        .await;
    let r = w.record(&patient, Category::Vitals, b"pulse 61".repeat(10));
    w.commit(&server, &patient, &[&patient, &doctor], &r).await;
    let index = server.index().await;
    let stored = index.record(r.id).await.expect("row").expect("the record");
    let wrapped_k2 = stored.wrapped_k2.expect("a wrapped K2");
    let mut needles = vec![(
        "the wrapped K2 (hex)".to_string(),
        wrapped_k2.trim_start_matches("0x").as_bytes().to_vec(),
    )];
    for reader in [&patient, &doctor].map(User::address) {
        let wrap = index.wrapped_dek(r.id, reader).await.expect("wrap");
        let wrap = wrap.expect("a stored wrap");
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

    w.erase(&patient, r.id).await;
    eventually("the shred in the access log", || async {
        let entries = server.log_entries(&patient).await;
        entries
            .iter()
            .any(|e| e["action"] == "shred" && e["granted"] == true)
            .then_some(())
    })
    .await;
    // A checkpoint a busy reader held up is retried by the follower: wait for it, bounded.
    let no_key_material = "no key material in the index files after the shred";
    eventually(no_key_material, || async {
        let found = key_material_in(&index_path, &needles);
        found.is_empty().then_some(())
    })
    .await;
    assert_index_files_private(&index_path);
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

/// Asserts that `resp` is a 403 in the API's error shape with `code`; returns its body.
async fn assert_forbidden(resp: reqwest::Response, code: &str, what: &str) -> Value {
    let (status, body) = json_error(resp).await;
    assert_eq!(status, 403, "{what}: {body}");
    assert_error_shape(&body, code);
    body
}

/// Without `siwe_uri` configured, the message's URI must be on the escrow's public origin: a
/// message naming an attacker's site is refused; one naming a page of the escrow signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_whose_uri_is_another_origin_is_refused() {
    let mut patient = User::new(PATIENT);
    let (_w, server) = World::serving(&[&patient], &[], |_| {}).await;
    assert!(server.config.siwe_uri.is_none());
    let nonce = server.public_json("/api/auth/nonce").await;
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
        let resp = patient.post_own_siwe(&server, &msg.to_string()).await;
        assert!(resp.headers().get("set-cookie").is_none());
        let body = assert_forbidden(resp, "siwe-refused", uri).await;
        assert!(
            body["message"].as_str().unwrap_or("").contains("URI"),
            "{body}"
        );
    }

    // A page of the escrow's own origin signs in.
    let mut msg = patient.siwe(&server).await;
    msg.uri = format!("{}/", server.base);
    let resp = patient.post_own_siwe(&server, &msg.to_string()).await;
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
    let patient = User::new(PATIENT);
    let (_w, server) = World::serving(&[&patient], &[], |_| {}).await;
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
        let signature = hex::encode_prefixed(sig.as_bytes());
        patient.verify(&server, json!({"message": msg, "signature": signature}))
    };
    assert_forbidden(post(high).await, "siwe-refused", "high s").await;
    // The same message with the low-s signature signs in (its nonce was not used up).
    assert_eq!(post(low).await.status(), 200);
    server.stop().await;
}
/// A cross-site form (or script) cannot use the session cookie to change state: a POST whose
/// `Origin` (or, lacking it, `Referer`) is not the escrow's is refused and changes nothing; the
/// escrow's own origin, and a client that sends neither, are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_state_changes_are_refused() {
    let (w, server, [mut patient], []) = World::signed_in([PATIENT], [], |_| {}).await;
    let signout = server.url("/api/auth/signout");
    let session = "/api/auth/session";

    let evil = [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", "http://127.0.0.1:1"),
        ("referer", "https://evil.example/form.html"),
    ];
    for (name, value) in evil {
        let resp = patient.post(signout.clone()).header(name, value).send();
        let resp = resp.await.expect("signout");
        assert_forbidden(resp, "cross-origin", &format!("{name}: {value}")).await;
        assert_eq!(
            server.get(&patient, session).await.status(),
            200,
            "the session survives a refused {name}: {value}"
        );
    }

    // The other state-changing routes a cookie authorises are refused the same way.
    let r = w.record(&patient, Category::Vitals, b"x");
    let resp = r
        .upload(&server, &patient, &r.wraps(&w.d, &[&patient]))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("upload");
    assert_forbidden(resp, "cross-origin", "upload").await;
    let listed = server.get_json(&patient, "/api/records").await;
    assert_eq!(listed["records"], json!([]), "nothing was stored");
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
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        assert_forbidden(resp, "cross-origin", &path).await;
    }
    // Reads are not state-changing: a cross-origin GET is answered as usual.
    let resp = patient.get(server.url(session));
    let resp = resp.header("origin", "https://evil.example").send();
    assert_eq!(resp.await.expect("session").status(), 200);

    // From the escrow's own origin, sign-out works.
    let resp = patient.post(signout.clone());
    let resp = resp.header("origin", server.base.as_str()).send();
    assert_eq!(resp.await.expect("signout").status(), 200);
    assert_eq!(server.get(&patient, session).await.status(), 401);

    // A client that sends neither Origin nor Referer (not a browser) is served.
    patient.sign_in(&server).await;
    let resp = patient.post(signout).send().await.expect("signout");
    assert_eq!(resp.status(), 200);
    assert_eq!(server.get(&patient, session).await.status(), 401);
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
    let server = w
        .serve(|config| {
            std::fs::create_dir_all(&config.app_dir).expect("app dir");
            let page = "<!doctype html><title>app</title>";
            std::fs::write(config.app_dir.join("index.html"), page).expect("index.html");
        })
        .await;
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
        let resp = server.public(path).await;
        common(&resp);
        let csp = header(&resp, "content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
    }

    let console = server.public("/console").await;
    assert_eq!(console.status(), 200);
    common(&console);
    assert!(header(&console, "content-security-policy").contains("script-src 'self'"));

    let app = server.public("/").await;
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
    let [mut patient, doctor] = users([PATIENT, DOCTOR]);
    let (w, server) = World::serving(&[&patient], &[&doctor], |_| {}).await;
    patient.sign_in(&server).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::History], true)
        .await;

    // The patient's upload says Vitals; the doctor anchors the same ciphertext as History.
    let r = w.record(&patient, Category::Vitals, b"history, filed as vitals");
    let resp = w.upload(&server, &patient, &[&patient, &doctor], &r).await;
    assert_eq!(resp.status(), 201);
    w.anchor_as(&doctor, &r, Category::History.number()).await;
    let row = server.record_in_state(r.id, "committed").await;
    assert_eq!(row.category, Category::History.number());
    assert_eq!(row.author, doctor.address());
    server.stop().await;
}

/// Every refusal of a request that names a record reaches its patient's log, also those that
/// come after consent was established: a range the record cannot satisfy, a blob store that
/// fails, a wrap added to an erased record, someone else's shred receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_after_consent_are_in_the_patients_log() {
    let (w, server, [patient], [doctor]) = World::signed_in([PATIENT], [DOCTOR], |_| {}).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], false)
        .await;
    let r = w.record(&patient, Category::Vitals, b"range and receipt");
    let lost = w.record(&patient, Category::Vitals, b"a blob the store loses");
    for rec in [&r, &lost] {
        w.commit(&server, &patient, &[&patient, &doctor], rec).await;
    }
    let refused = |entries: Vec<Value>, reason: &str| {
        entries
            .iter()
            .any(|e| e["granted"] == false && e["reason"] == reason)
    };

    // A range past the end: 416, logged.
    let resp = server.read_range(&doctor, r.id, "bytes=999999-").await;
    assert_eq!(resp.status(), 416);
    let e = server.entries_of(&patient, doctor.address(), r.id, "read");
    assert!(refused(e.await, "bad-range"), "the 416 is logged");

    // The blob store has lost a record's blob: nothing released, and the refusal logged.
    std::fs::remove_file(server.blob_file(lost.id).await).expect("remove the blob");
    let resp = server.read(&doctor, lost.id).await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let e = server.entries_of(&patient, doctor.address(), lost.id, "read");
    let e = e.await;
    assert!(!e.iter().any(|e| e["granted"] == true), "{e:?}");
    assert!(
        e.iter().any(|e| e["granted"] == false),
        "the failed read is logged: {e:?}"
    );

    // Someone else's shred receipt: 403, logged.
    let receipt = format!("/api/records/{}/receipt", r.id);
    assert_eq!(server.get(&doctor, &receipt).await.status(), 403);
    let e = server.entries_of(&patient, doctor.address(), r.id, "receipt");
    assert!(
        refused(e.await, "not-your-record"),
        "the receipt refusal is logged"
    );

    // A wrap added to an erased record: 410, logged.
    w.erase(&patient, r.id).await;
    server.record_in_state(r.id, "shredded").await;
    let wrap = format!("{}=0x{}", doctor.address(), "11".repeat(81));
    let resp = server.add_wraps(&patient, r.id, &[wrap]).await;
    assert_eq!(resp.status(), 410);
    let e = server.entries_of(&patient, patient.address(), r.id, "add-wrap");
    assert!(refused(e.await, "erased"), "the 410 is logged");
    server.stop().await;
}

/// `/health` said "ok" while the blob store could take no write (a full disk, a read-only
/// mount): now it probes the store and says "degraded" until the store takes writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_blob_store() {
    let w = World::new().await;
    let server = w.serve(|_| {}).await;
    let health = || async {
        let resp = server.public("/health").await;
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
    let [mut patient, mut doctor] = users([PATIENT, DOCTOR]);
    // Eight requests at once per caller, then one a minute: no bucket refills during the test.
    let (w, server) = World::serving(&[&patient], &[&doctor], |config| {
        config.rate_limit_per_minute = 1;
        config.rate_limit_burst = 8;
    })
    .await;
    server.sign_in([&mut patient, &mut doctor]).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], false)
        .await;
    let r = w.record(&patient, Category::Vitals, b"a record under a flood");
    w.commit(&server, &patient, &[&patient, &doctor], &r).await;

    // Forty reads without a session: a burst of 401s, then 429s with Retry-After.
    let anonymous = User::new(9);
    let (mut unauthenticated, mut limited) = (0, 0);
    for _ in 0..40 {
        let resp = server.read(&anonymous, r.id).await;
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
        match server.read(&doctor, r.id).await.status().as_u16() {
            200 => released += 1,
            429 => doctor_limited += 1,
            other => panic!("the doctor's read answered {other}"),
        }
    }
    assert!(
        released >= 1 && doctor_limited >= 10,
        "{released} x 200, {doctor_limited} x 429"
    );

    let anon = server
        .entries_of(&patient, Address::ZERO, r.id, "read")
        .await;
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
    let by_doctor = server.entries_of(&patient, doctor.address(), r.id, "read");
    let by_doctor = by_doctor.await;
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
    let first = w.record(&patient, Category::Vitals, [1u8; 3000]);
    let second = w.record(&patient, Category::Vitals, [2u8; 3000]);
    // Room for one of them unanchored, not both.
    let quota = u64::try_from(first.c1.len() + second.c1.len() - 1).expect("n");
    let server = w.serve(|c| c.pending_quota_bytes = quota).await;
    patient.sign_in(&server).await;
    let upload = async |r: &Record| w.upload(&server, &patient, &[&patient], r).await;

    assert_eq!(upload(&first).await.status(), 201);
    let refused = upload(&second).await;
    assert_eq!(refused.status(), 413);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "pending-quota", "{body}");
    let index = server.index().await;
    assert!(index.record(second.id).await.expect("row").is_none());
    let e = server.entries_of(&patient, patient.address(), second.id, "upload");
    let e = e.await;
    assert!(
        e.iter()
            .any(|e| e["granted"] == false && e["reason"] == "pending-quota"),
        "{e:?}"
    );

    // The first anchored: no longer pending, so the second fits.
    w.anchor(&patient, &first).await;
    server.record_in_state(first.id, "committed").await;
    assert_eq!(upload(&second).await.status(), 201);
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
    let cases = [
        // The test's connections come from 127.0.0.1, here the trusted proxy.
        (
            vec!["127.0.0.1".to_string()],
            [200, 200, 200, 429],
            "another client behind the proxy has a bucket of its own",
        ),
        // Not a trusted proxy: the header is the client's word and is ignored.
        (
            Vec::new(),
            [429, 429, 429, 429],
            "one bucket for one connection address",
        ),
    ];
    for (trusted_proxies, second_client, why) in cases {
        config.trusted_proxies = trusted_proxies;
        let server = Server::start(config).await;
        assert_eq!(nonces(&server, "203.0.113.1").await, [200, 200, 200, 429]);
        assert_eq!(nonces(&server, "203.0.113.2").await, second_client, "{why}");
        config = server.stop().await;
    }
}

/// Waits until the chain has anchored every entry the index holds; returns the contract's next
/// access-log seq (every entry before it is anchored on chain).
async fn all_anchored(w: &World, index: &Index) -> i64 {
    eventually("every access-log entry to be anchored", || async {
        let held = index.last_log().await.ok()??.seq + 1;
        let next = w.call(MedLedger::nextLogSeqCall {}).await;
        let next = i64::try_from(next).expect("seq");
        (next >= held).then_some(next)
    })
    .await
}

/// Item 12: an index restored from a backup older than the chain's last anchors lacks entries
/// the chain has anchored. The escrow must not reuse their seqs (anchoring would fail forever):
/// at start it declares them lost in a gap entry, continues after them, anchors again, and
/// `verify-log`, the patient's log and the console all show the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_older_than_the_anchors_declares_the_gap_and_anchoring_goes_on() {
    use medledger_escrow_api::maintenance::{backup, restore, KeyFiles};
    let w = World::new().await;
    let [mut patient, mut admin] = users([PATIENT, ADMIN]);
    w.register(&[&patient], &[]).await;
    let mut config = w.config();
    config.anchor_interval_secs = 1;
    // Backups are of a SQLite index: the suite's PostgreSQL run keeps this escrow on SQLite.
    let url = config.database_url();
    config.database_url = Some(url.clone());
    let server = Server::start(config.clone()).await;
    patient.sign_in(&server).await;
    let r = w.record(&patient, Category::Vitals, b"pulse 64".repeat(40));
    w.commit(&server, &patient, &[&patient], &r).await;
    assert_eq!(server.read(&patient, r.id).await.status(), 200);
    let index = Index::connect(&url).await.expect("index");
    all_anchored(&w, &index).await;

    let saved = w.tmp.path().join("backup");
    let keys = KeyFiles {
        master: &config.master_key_file(),
        break_glass: &config.break_glass_key_file(),
    };
    backup(&url, keys, &saved).await.expect("backup");
    let backup_url = format!("sqlite://{}", saved.join("index.sqlite").display());
    let backup_index = Index::connect(&backup_url).await;
    let last_in_backup = backup_index.expect("the backup's index").last_log().await;
    let in_backup = last_in_backup.expect("log").expect("entries").seq;

    // After the backup: more reads, anchored on chain, then the index is lost.
    for _ in 0..3 {
        assert_eq!(server.read(&patient, r.id).await.status(), 200);
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
    let health = server.public_json("/health").await;
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
    assert_eq!(server.read(&patient, r.id).await.status(), 200);
    all_anchored(&w, &index).await;
    let log = server.get_json(&patient, "/api/access-log").await;
    assert_eq!(log["gaps"][0]["firstSeq"], in_backup + 1, "{log:#}");
    assert_eq!(log["gaps"][0]["lastSeq"], lost_until, "{log:#}");
    let entries = eventually("the entries after the restore to be proven", || async {
        let e = server.log_entries(&patient).await;
        let after: Vec<Value> = e
            .into_iter()
            .filter(|e| e["seq"].as_i64() > Some(lost_until))
            .collect();
        (!after.is_empty() && after.iter().all(|e| !e["proof"].is_null())).then_some(after)
    })
    .await;
    for e in &entries {
        let ok = w.proof_accepted(e).await;
        assert!(ok, "the contract refuses the proof of {e}");
    }

    // verify-log: the chain of what remains is intact, the gap is reported, not hidden.
    let report = verify_log_with(&index, &w.ledger()).await.expect("verify");
    assert!(report.ok(), "{report}");
    assert_eq!(report.gaps, vec![(in_backup + 1, lost_until)]);
    assert!(report.anchors_in_gaps >= 1, "{report}");
    assert!(report.to_string().contains("lost in a restore"), "{report}");

    // The console says so too.
    admin.sign_in(&server).await;
    let summary = server.get_json(&admin, "/api/console/summary").await;
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
    let node_url = format!("http://127.0.0.1:{node_port}");
    let server = w.serve(|c| c.rpc_url = node_url).await;
    let health = server.public("/health").await;
    assert_eq!(health.status(), 503);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["ready"], false, "{health}");
    let nonce = server.public("/api/auth/nonce").await;
    assert_eq!(nonce.status(), 503);
    let body: Value = nonce.json().await.expect("json");
    assert_eq!(body["error"], "not-ready", "{body}");

    // The node comes back on that port.
    let ganache = std::net::SocketAddr::from(([127, 0, 0, 1], w.ganache.port));
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
    assert_eq!(server.get(&patient, "/api/records").await.status(), 200);
    server.stop().await;
}

/// Item 7: each signed-in account has its own rate-limit bucket, so fresh wallets must not
/// multiply one client's allowance: a client address signs in a bounded number of accounts an
/// hour (refused with 429 and `Retry-After`, counted only for good signatures), and an account
/// already seen from it signs in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_address_signs_in_a_bounded_number_of_accounts() {
    let w = World::new().await;
    let [mut first, mut second, third] = users([PATIENT, OTHER_PATIENT, DOCTOR]);
    let server = w.serve(|c| c.sign_in_accounts_per_client = 2).await;
    // A forged signature for a fourth account is refused and takes no place.
    let forged = third.siwe(&server).await.to_string();
    let resp = third
        .post_siwe(&server, &forged, &User::new(STRANGER_DOCTOR).signer)
        .await;
    assert_eq!(resp.status(), 403);
    first.sign_in(&server).await;
    second.sign_in(&server).await;
    let msg = third.siwe(&server).await.to_string();
    let resp = third.post_own_siwe(&server, &msg).await;
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
    let mut patient = User::new(PATIENT);
    let (_w, server) = World::serving(&[&patient], &[], |_| {}).await;
    let http = reqwest::Client::new();
    let verify = server.url("/api/auth/verify");
    let cases = [
        http.post(&verify)
            .header("content-type", "application/json")
            .body("{not json"),
        http.post(&verify)
            .body(r#"{"message": "m", "signature": "0x"}"#),
        http.post(&verify).json(&json!({"message": 7})),
    ];
    for (case, expected) in cases.into_iter().zip([400, 415, 422]) {
        let (status, body) = json_error(case.send().await.expect("verify")).await;
        assert_eq!(status, expected, "{body}");
        assert_error_shape(&body, "bad-json");
    }
    for query in ["/api/auth/message", "/api/auth/message?addr=0x1"] {
        let (status, body) = json_error(server.public(query).await).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_error_shape(&body, "bad-query");
    }
    patient.sign_in(&server).await;
    let many = server.get(&patient, "/api/console/log?limit=many").await;
    let (status, body) = json_error(many).await;
    assert_eq!(status, 400, "{body}");
    assert_error_shape(&body, "bad-query");
    server.stop().await;
}
