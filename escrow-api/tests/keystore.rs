//! Encrypted JSON keystores (Web3 Secret Storage v3) for the escrow key and the admin CLI key:
//! `escrow-api encrypt-key` writes one (0600) from a hex key file; the escrow serves with it and
//! a 0600 password file and confirms a shred on chain with it (so the key really signs); a wrong
//! password, a loose password file or a missing one stop the escrow with a message saying why;
//! the admin CLI verifies an account signed with a keystore.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use medledger_escrow_api::keys::{load_signer, KeyFileError};
use medledger_escrow_api::server::{App, StartError};
use medledger_protocol::contract::{Category, MedLedger};
use serde_json::Value;
use support::*;

fn write_0600(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// `escrow-api encrypt-key` of the key in `key_file` into `out`, the password in `password_file`.
fn encrypt_key_file(key_file: &Path, password_file: &Path, out: &Path) -> Output {
    let mut encrypt = bin();
    encrypt.arg("encrypt-key").arg("--key-file").arg(key_file);
    encrypt.arg("--password-file").arg(password_file);
    encrypt.arg("--out").arg(out).output().expect("run")
}

/// Encrypts `hex_key` into `out` with the CLI, the password in `password_file`.
fn encrypt_key(dir: &Path, hex_key: &str, password_file: &Path, out: &Path) {
    let key_file = dir.join(format!(
        "{}.hex",
        out.file_name().expect("name").to_string_lossy()
    ));
    medledger_escrow_api::keys::write_new_private(&key_file, hex_key).expect("hex key");
    assert_success(&encrypt_key_file(&key_file, password_file, out));
    std::fs::remove_file(&key_file).expect("remove the hex key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_escrow_and_the_admin_cli_sign_with_encrypted_json_keystores() {
    let w = World::new().await;
    let keys = w.tmp.path().join("keys");
    std::fs::create_dir_all(&keys).expect("dir");
    let password = keys.join("password.txt");
    write_0600(&password, "correct horse battery staple\n");

    // The escrow's key as a keystore: 0600, version 3, the key nowhere in clear.
    let escrow_ks = keys.join("escrow.json");
    encrypt_key(&keys, KEYS[1], &password, &escrow_ks);
    let mode = std::fs::metadata(&escrow_ks)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&escrow_ks).expect("read");
    let json: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(json["version"], 3);
    assert!(json["crypto"]["ciphertext"].is_string());
    assert!(!text.contains(KEYS[1].trim_start_matches("0x")));
    // The CLI refuses to overwrite it.
    let o = encrypt_key_file(&escrow_ks, &password, &escrow_ks);
    assert!(!o.status.success());

    // Library refusals: no password file, a wrong password, a password file others can read.
    assert!(matches!(
        load_signer(&escrow_ks, None),
        Err(KeyFileError::PasswordFileNeeded { .. })
    ));
    let wrong = keys.join("wrong.txt");
    write_0600(&wrong, "incorrect\n");
    assert!(matches!(
        load_signer(&escrow_ks, Some(&wrong)),
        Err(KeyFileError::Keystore { .. })
    ));
    let loose = keys.join("loose.txt");
    std::fs::write(&loose, "correct horse battery staple\n").expect("write");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(matches!(
        load_signer(&escrow_ks, Some(&loose)),
        Err(KeyFileError::LooseMode { .. })
    ));
    let signer = load_signer(&escrow_ks, Some(&password)).expect("opens");
    assert_eq!(signer.address(), w.d.escrow);

    // The escrow does not start with a wrong or missing password.
    let mut config = w.config();
    config.escrow_key_file = Some(escrow_ks.clone());
    config.escrow_key_password_file = Some(wrong.clone());
    config.database_url = Some(format!(
        "sqlite://{}?mode=rwc",
        w.tmp.path().join("refused.sqlite").display()
    ));
    match App::build(config.clone()).await {
        Err(StartError::Keys(KeyFileError::Keystore { .. })) => {}
        other => panic!("expected a keystore refusal, got {:?}", other.map(|_| ())),
    }
    config.escrow_key_password_file = None;
    match App::build(config.clone()).await {
        Err(StartError::Keys(KeyFileError::PasswordFileNeeded { .. })) => {}
        other => panic!(
            "expected a missing-password refusal, got {:?}",
            other.map(|_| ())
        ),
    }

    // With the right password it serves, and its key signs: an erased record's shred is
    // confirmed on chain by the escrow account.
    let mut config = w.config();
    config.escrow_key_file = Some(escrow_ks.clone());
    config.escrow_key_password_file = Some(password.clone());
    let server = Server::start(config).await;
    let health = server.public_json("/health").await;
    assert_eq!(health["escrowKey"], true);
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    patient.sign_in(&server).await;
    let r = w.record(&patient, Category::Vitals, vec![5; 200]);
    w.commit(&server, &patient, &[&patient], &r).await;
    w.erase(&patient, r.id).await;
    let receipt = format!("/api/records/{}/receipt", r.id);
    eventually("the shred confirmed on chain", || async {
        let v: Value = server.get(&patient, &receipt).await.json().await.ok()?;
        v["confirmTx"].is_string().then_some(())
    })
    .await;
    let record = w.call(MedLedger::recordOfCall { recordId: r.id }).await;
    assert!(record.shredConfirmed, "confirmed by the keystore's key");
    server.stop().await;

    // The admin CLI with a keystore: refused without its password, then verifies a doctor.
    let admin_ks = keys.join("admin.json");
    encrypt_key(&keys, KEYS[ADMIN], &password, &admin_ks);
    let doctor = User::new(DOCTOR);
    w.apply_as_practitioner(&doctor, alloy_primitives::B256::repeat_byte(1))
        .await;
    let admin = |extra: &[&Path]| {
        let mut c = bin();
        c.arg("--deployment")
            .arg(&w.deployment_file)
            .args(["--rpc-url", w.url(), "admin", "--key-file"])
            .arg(&admin_ks);
        for p in extra {
            c.arg("--password-file").arg(p);
        }
        c.args(["verify", "--account", &doctor.address().to_string()])
            .output()
            .expect("run")
    };
    assert_fails_saying(&admin(&[]), "password file");
    assert_fails_saying(&admin(&[&wrong]), "cannot be opened");
    assert_success(&admin(&[&password]));
    let account = doctor.address();
    let status = w.call(MedLedger::accountOfCall { account }).await.status;
    assert_eq!(status, 2, "active");
}
