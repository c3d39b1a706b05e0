//! The `escrow-api` binary as a real process: configuration layering, refusals at start with a
//! non-zero exit and a message saying why, serving against a real Ganache, and master-key rotation
//! (refused while a server holds the data directory; afterwards every record still opens and the
//! key file holds only the new key).

mod support;

use std::process::Stdio;

use medledger_protocol::contract::Category;
use support::*;

fn sample_deployment(abi_hash: &str) -> String {
    let insurance = medledger_protocol::contract::insurance_abi_hash();
    let licensing = medledger_protocol::contract::licensing_abi_hash();
    let forwarder = medledger_protocol::contract::forwarder_abi_hash();
    let recovery = medledger_protocol::contract::recovery_abi_hash();
    medledger_test_support::deployment_json(
        1337, abi_hash, &insurance, &licensing, &forwarder, &recovery,
    )
}

#[test]
fn configuration_layers_file_env_and_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("escrow.toml");
    let layers = "confirmations = 2\nrpc_url = \"http://127.0.0.1:1\"\nnonce_ttl_secs = 77\n";
    std::fs::write(&file, layers).expect("write");
    let out = bin()
        .args([
            "--config",
            file.to_str().expect("utf8"),
            "--confirmations",
            "6",
            "check-config",
        ])
        .env("MEDLEDGER_RPC_URL", "http://127.0.0.1:9545")
        .env("MEDLEDGER_CONFIRMATIONS", "4")
        .output()
        .expect("run");
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("confirmations = 6"),
        "flag beats env and file:\n{text}"
    );
    assert!(
        text.contains("rpc_url = \"http://127.0.0.1:9545\""),
        "env beats file:\n{text}"
    );
    assert!(
        text.contains("nonce_ttl_secs = 77"),
        "file beats default:\n{text}"
    );
    assert!(
        text.contains("bind = \"127.0.0.1:8080\""),
        "defaults:\n{text}"
    );

    std::fs::write(&file, "no_such_setting = 1\n").expect("write");
    let out = bin()
        .args(["--config", file.to_str().expect("utf8"), "check-config"])
        .output()
        .expect("run");
    assert_fails_saying(&out, "no_such_setting");
}

#[test]
fn serve_refuses_a_loose_master_key_an_abi_mismatch_and_a_missing_deployment() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        sample_deployment(&medledger_protocol::contract::abi_hash()),
    )
    .expect("write");
    let run = |deployment: &std::path::Path| {
        bin()
            .args([
                "--data-dir",
                data.to_str().expect("utf8"),
                "--deployment",
                deployment.to_str().expect("utf8"),
                "--bind",
                "127.0.0.1:0",
                "--rpc-url",
                "http://127.0.0.1:9",
                "serve",
            ])
            .stdout(Stdio::null())
            .output()
            .expect("run")
    };

    assert_fails_saying(&run(&dir.path().join("missing.json")), "missing.json");

    let other = dir.path().join("other.json");
    std::fs::write(&other, sample_deployment(&format!("0x{}", "ab".repeat(32)))).expect("write");
    assert_fails_saying(&run(&other), "ABI");

    std::fs::create_dir_all(&data).expect("dir");
    let key = data.join("master.key");
    medledger_escrow_api::keys::write_new_private(&key, &format!("1 {}\n", "11".repeat(32)))
        .expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(&good);
    assert_fails_saying(&out, "chmod 600");
    let err = stderr(&out);
    assert!(
        !err.contains("1111"),
        "key material must not be printed: {err}"
    );

    // With the mode fixed, the start gets past the key files; that it then waits for an absent
    // node (rather than stopping) is tested in security.rs.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_and_rotates_the_master_key() {
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let data = w.data.to_str().expect("utf8").to_string();
    let dep = w.deployment_file.to_str().expect("utf8").to_string();

    // The development escrow key, for a development deployment only.
    let init = ["--data-dir", &data, "--deployment", &dep, "init-dev-key"];
    assert_success(&bin().args(init).output().expect("run"));
    let signer = medledger_escrow_api::keys::load_escrow_signer(&w.data.join("escrow.key"))
        .expect("0600 key file");
    assert_eq!(signer.address(), w.d.escrow);

    let port = free_port();
    let child = w.serve_binary(port, &[]).await;
    let server = w.external(port);
    let metrics = async || server.public("/metrics").await.text().await.expect("text");
    let before = metrics().await;
    assert!(
        before.contains("medledger_escrow_reads_total")
            || before.contains("medledger_escrow_follower_next_block"),
        "{before}"
    );
    patient.sign_in(&server).await;
    let r = w.record(&patient, Category::History, b"history".repeat(300));
    w.commit(&server, &patient, &[&patient], &r).await;
    let after = metrics().await;
    assert!(
        after.contains("medledger_escrow_uploads_total{result=\"stored\"} 1"),
        "{after}"
    );

    // Rotation is refused while the server holds the data directory.
    let rotate = || {
        let rotate = ["--data-dir", &data, "rotate-master-key"];
        bin().args(rotate).output().expect("run")
    };
    assert_fails_saying(&rotate(), "locked");

    // Stopped (kill -9), rotated, restarted: the record still opens under the new master key.
    drop(child);
    let out = rotate();
    assert_success(&out);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("rotated to id 2") && report.contains("1 K2s re-wrapped"),
        "{report}"
    );
    let keys =
        medledger_escrow_api::keys::load_master_keys(&w.data.join("master.key")).expect("keys");
    assert_eq!(keys.ids, vec![2], "only the new key is left");

    let _child = w.serve_binary(port, &[]).await;
    let resp = server.read(&patient, r.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(r.open(&w.d, &patient, resp).await, r.body);

    // verify-log runs beside the serving escrow and finds the chain of hashes intact.
    let verify = [
        "--data-dir",
        &data,
        "--deployment",
        &dep,
        "--rpc-url",
        w.url(),
    ];
    let out = bin().args(verify).arg("verify-log").output().expect("run");
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("access log OK"));
}

/// A world with a registered patient, and the escrow key file in its data directory (for a
/// binary to serve with).
async fn a_patient_and_an_escrow_key() -> (World, User) {
    let w = World::new().await;
    let patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let _ = w.config(); // writes the escrow key file
    (w, patient)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restore_and_erasures_after_the_backup_are_replayed() {
    use std::os::unix::fs::PermissionsExt;
    let (w, mut patient) = a_patient_and_an_escrow_key().await;
    let data = w.data.to_str().expect("utf8").to_string();
    let port = free_port();
    let child = w.serve_binary(port, &[]).await;
    let server = w.external(port);
    patient.sign_in(&server).await;
    let r = w.record(&patient, Category::Vitals, b"kept".repeat(300));
    w.commit(&server, &patient, &[&patient], &r).await;

    // A backup beside the running server.
    let backup = w.tmp.path().join("backup");
    let backup = backup.to_str().expect("utf8");
    let out = bin()
        .args(["--data-dir", &data, "backup", "--to", backup])
        .output();
    assert_success(&out.expect("run"));
    let backup = std::path::Path::new(backup);
    for f in ["index.sqlite", "master.key", "break-glass.key"] {
        let mode = std::fs::metadata(backup.join(f))
            .expect("file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    // Every key file the index depends on is in the backup, byte for byte.
    let break_glass = std::fs::read(w.data.join("break-glass.key")).expect("break-glass key");
    assert_eq!(
        std::fs::read(backup.join("break-glass.key")).expect("copy"),
        break_glass
    );

    // Erased after the backup: shredded and confirmed.
    w.erase(&patient, r.id).await;
    w.shred_confirmed(r.id).await;
    drop(child);

    // Restore is refused over an existing index, then done into an empty one.
    let restore = || {
        let from = backup.to_str().expect("utf8");
        let restore = ["--data-dir", &data, "restore", "--from", from];
        bin().args(restore).output().expect("run")
    };
    assert_fails_saying(&restore(), "exists");
    // The data directory lost its index and its break-glass key: the restore brings both back.
    for f in [
        "index.sqlite",
        "index.sqlite-wal",
        "index.sqlite-shm",
        "break-glass.key",
    ] {
        let _ = std::fs::remove_file(w.data.join(f));
    }
    assert_success(&restore());
    assert_eq!(
        std::fs::read(w.data.join("break-glass.key")).expect("restored"),
        break_glass,
        "the restored break-glass key is the one the backup was made with"
    );
    let index = server.index().await;
    let row = index.record(r.id).await.expect("row").expect("restored");
    assert_eq!(
        row.state.as_str(),
        "committed",
        "the backup predates the erasure"
    );
    assert!(row.wrapped_k2.is_some());

    // At the next start the follower replays the erasure from the backup's cursor.
    let _child = w.serve_binary(port, &[]).await;
    eventually("the erasure to be replayed", || async {
        let row = index.record(r.id).await.ok()??;
        (row.state.as_str() == "shredded" && row.wrapped_k2.is_none()).then_some(())
    })
    .await;
    // The chain already holds the confirmation: the escrow recognises the contract's answer.
    eventually("the receipt to be settled", || async {
        let (_, _, _, tx) = index.receipt(r.id).await.ok()??;
        (tx.as_deref() == Some("already-confirmed")).then_some(())
    })
    .await;
    patient.sign_in(&server).await;
    assert_eq!(server.read(&patient, r.id).await.status(), 410);
}

fn staged_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains('#'))
            {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_upload_keeps_acknowledged_uploads_and_leaves_no_orphan() {
    use tokio::io::AsyncWriteExt;
    let (w, mut patient) = a_patient_and_an_escrow_key().await;
    let cfg = w.tmp.path().join("escrow.toml");
    std::fs::write(&cfg, "pending_ttl_secs = 2\npoll_interval_ms = 200\n").expect("config");
    let cfg = cfg.to_str().expect("utf8").to_string();
    let port = free_port();
    let child = w.serve_binary(port, &["--config", &cfg]).await;
    let server = w.external(port);
    let addr = server.addr;
    patient.sign_in(&server).await;

    // Acknowledged and anchored before the crash.
    let kept = w.record(&patient, Category::Vitals, b"kept".repeat(500));
    w.commit(&server, &patient, &[&patient], &kept).await;

    // An upload cut off halfway by kill -9: headers and half the body on a raw connection.
    let cut = w.record(&patient, Category::Vitals, vec![3u8; 300_000]);
    let head = cut.raw_upload_head(addr, &patient, &cut.wraps(&w.d, &[&patient]));
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("head");
    tcp.write_all(&cut.c1[..cut.c1.len() / 2])
        .await
        .expect("half the body");
    tcp.flush().await.expect("flush");
    let blobs = w.data.join("blobs");
    eventually("the upload's staging file", || async {
        (!staged_files(&blobs).is_empty()).then_some(())
    })
    .await;
    drop(child); // SIGKILL
    drop(tcp);
    assert!(
        !staged_files(&blobs).is_empty(),
        "the killed upload left its part on disk"
    );

    // Restarted: the unfinished part is swept after the TTL, nothing of the cut upload is
    // indexed, and the acknowledged record is intact.
    let _child = w.serve_binary(port, &["--config", &cfg]).await;
    eventually("the unfinished part to be swept", || async {
        staged_files(&blobs).is_empty().then_some(())
    })
    .await;
    let index = server.index().await;
    assert!(index.record(cut.id).await.expect("row").is_none());
    let resp = server.read(&patient, kept.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.expect("body").to_vec(), kept.c1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_verifies_suspends_and_reinstates_with_a_key_file() {
    use medledger_protocol::contract::MedLedger;
    let w = World::new().await;
    let doctor = User::new(DOCTOR);
    w.apply_as_practitioner(&doctor, alloy_primitives::B256::repeat_byte(1))
        .await;
    let keys = w.tmp.path().join("keys");
    std::fs::create_dir_all(&keys).expect("dir");
    let admin_key = keys.join("admin.key");
    medledger_escrow_api::keys::write_new_private(&admin_key, KEYS[ADMIN]).expect("key");
    let not_admin = keys.join("patient.key");
    medledger_escrow_api::keys::write_new_private(&not_admin, KEYS[PATIENT]).expect("key");
    let doc = doctor.address().to_string();
    let admin = |key: &std::path::Path, action: &[&str]| {
        let mut admin = bin();
        admin.arg("--deployment").arg(&w.deployment_file);
        admin
            .args(["--rpc-url", w.url(), "admin", "--key-file"])
            .arg(key);
        admin.args(action).output().expect("run")
    };
    let status = || async {
        let account = doctor.address();
        w.call(MedLedger::accountOfCall { account }).await.status
    };

    let out = admin(&not_admin, &["verify", "--account", &doc]);
    assert_fails_saying(&out, "ADMIN role");
    assert_eq!(status().await, 1, "still pending");

    let out = admin(&admin_key, &["verify", "--account", &doc]);
    assert_success(&out);
    assert_eq!(status().await, 2, "active");
    // Verifying twice is refused by the contract.
    let out = admin(&admin_key, &["verify", "--account", &doc]);
    assert_fails_saying(&out, "InvalidStatusChange");

    let reason = format!("0x{}", "ab".repeat(32));
    let suspend = ["suspend", "--account", &doc, "--reason-hash", &reason];
    assert_success(&admin(&admin_key, &suspend));
    assert_eq!(status().await, 3, "suspended");
    let out = admin(&admin_key, &["reinstate", "--account", &doc]);
    assert_success(&out);
    assert_eq!(status().await, 2, "active again");
}
