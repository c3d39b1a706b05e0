//! The bindings against the real contract: starts Ganache (from the project's node_modules) on a
//! free loopback port, deploys with the project's Truffle migration into a temporary deployments
//! directory, then sends a transaction and decodes its event, decodes a view's result, and decodes
//! a revert into the contract's named error — all through the `sol!` types.
//!
//! Needs `npm ci` (node_modules) and `npx truffle compile` (build/contracts) first; the test
//! command runs both. Without them the test fails with a message saying so.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, FixedBytes, B256};
use alloy_sol_types::{SolCall, SolEvent};
use medledger_protocol::contract::{decode_revert, Category, MedLedger, MedLedgerErrors};
use medledger_protocol::deployment::Deployment;
use serde_json::{json, Value};

/// Ganache's deterministic account 2: a fresh account no migration touches.
const PATIENT: &str = "0x22d491Bde2303f2f43325b2108D26f1eAbA1e32b";
/// Account 3, registered as a practitioner applicant.
const PRACTITIONER: &str = "0xE11BA2b4D45Eaed5996Cd0823791E0C93114882d";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Ganache {
    child: Child,
    url: String,
}

impl Drop for Ganache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

fn rpc(url: &str, method: &str, params: Value) -> Result<Value, Value> {
    let response: Value = ureq::post(url)
        .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .unwrap_or_else(|e| panic!("{method}: JSON-RPC transport failed: {e}"))
        .into_json()
        .unwrap_or_else(|e| panic!("{method}: response is not JSON: {e}"));
    match response.get("error") {
        Some(error) => Err(error.clone()),
        None => Ok(response["result"].clone()),
    }
}

fn start_ganache() -> Ganache {
    let root = repo_root();
    let bin = root.join("node_modules/.bin/ganache");
    assert!(
        bin.exists(),
        "{} is missing: run `npm ci` first",
        bin.display()
    );
    let port = free_port();
    let child = Command::new(bin)
        .args([
            "--wallet.deterministic",
            "--wallet.totalAccounts",
            "10",
            "--chain.chainId",
            "1337",
            "--chain.networkId",
            "1337",
            "--chain.hardfork",
            "shanghai",
            "--server.host",
            "127.0.0.1",
            "--server.port",
            &port.to_string(),
            "--logging.quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ganache");
    let ganache = Ganache {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    // Bounded so a broken install fails instead of hanging; wide so a loaded machine never meets it.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let ready = ureq::post(&ganache.url)
            .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
            .is_ok();
        if ready {
            return ganache;
        }
        assert!(
            Instant::now() < deadline,
            "ganache did not answer on {} within 180 s",
            ganache.url
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn migrate(ganache: &Ganache, port: &str, dir: &Path) -> Deployment {
    let root = repo_root();
    let artifact = root.join("build/contracts/MedLedger.json");
    assert!(
        artifact.exists(),
        "{} is missing: run `npx truffle compile` first",
        artifact.display()
    );
    let output = Command::new(root.join("node_modules/.bin/truffle"))
        .args(["migrate", "--network", "development", "--compile-none"])
        .current_dir(&root)
        .env("MEDLEDGER_GANACHE_PORT", port)
        .env("MEDLEDGER_DEPLOYMENTS_DIR", dir)
        .output()
        .expect("run truffle migrate");
    assert!(
        output.status.success(),
        "truffle migrate against {} failed:\n{}\n{}",
        ganache.url,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Deployment::load(&dir.join("development.json"))
        .expect("the migration's deployment file matches the bindings")
}

fn send(url: &str, from: &str, to: Address, data: Vec<u8>) -> Value {
    let hash = rpc(
        url,
        "eth_sendTransaction",
        json!([{"from": from, "to": to.to_string(), "data": Bytes::from(data).to_string(), "gas": "0x7a1200"}]),
    )
    .unwrap_or_else(|e| panic!("transaction refused: {e}"));
    let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash])).expect("receipt");
    assert_eq!(receipt["status"], "0x1", "transaction reverted: {receipt}");
    receipt
}

fn call(url: &str, from: &str, to: Address, data: Vec<u8>) -> Result<Vec<u8>, Value> {
    rpc(url, "eth_call", json!([{"from": from, "to": to.to_string(), "data": Bytes::from(data).to_string()}, "latest"]))
        .map(|v| hex_bytes(v.as_str().expect("eth_call result is a string")))
}

fn hex_bytes(s: &str) -> Vec<u8> {
    alloy_primitives::hex::decode(s).unwrap_or_else(|e| panic!("not hex: {s}: {e}"))
}

#[test]
fn bindings_decode_real_events_results_and_reverts_from_ganache() {
    let ganache = start_ganache();
    let port = ganache.url.rsplit(':').next().expect("port").to_string();
    let dir = std::env::temp_dir().join(format!("medledger-deploy-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary deployments dir");
    let deployment = migrate(&ganache, &port, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(deployment.chain_id, 1337);
    let ledger = deployment.address;
    let url = ganache.url.as_str();

    // A transaction's event, decoded through the generated event type.
    let key = B256::repeat_byte(0x42);
    let receipt = send(
        url,
        PATIENT,
        ledger,
        MedLedger::registerPatientCall { encryptionKey: key }.abi_encode(),
    );
    let logs = receipt["logs"].as_array().expect("logs");
    assert_eq!(logs.len(), 1, "registerPatient emits exactly one event");
    let topics: Vec<B256> = logs[0]["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .map(|t| t.as_str().expect("topic").parse().expect("32-byte topic"))
        .collect();
    let data = hex_bytes(logs[0]["data"].as_str().expect("data"));
    let event = MedLedger::AccountRegistered::decode_raw_log(topics, &data)
        .expect("AccountRegistered decodes");
    let patient: Address = PATIENT.parse().expect("address");
    assert_eq!(event.account, patient);
    assert_eq!(event.kind, 1, "AccountKind.Patient");
    assert_eq!(event.encryptionKey, key);
    assert_eq!(event.profileHash, B256::ZERO);

    // A view's result, decoded through the generated call type.
    let raw = call(
        url,
        PATIENT,
        ledger,
        MedLedger::accountOfCall { account: patient }.abi_encode(),
    )
    .expect("accountOf");
    let account =
        MedLedger::accountOfCall::abi_decode_returns(&raw).expect("accountOf result decodes");
    assert_eq!(account.kind, 1);
    assert_eq!(account.status, 2, "patients are Active on registration");
    assert_eq!(account.encryptionKey, key);
    assert!(!account.emergencyOptIn);

    // The consent views answer for real: nobody may read a record that does not exist.
    let practitioner: Address = PRACTITIONER.parse().expect("address");
    let raw = call(
        url,
        PATIENT,
        ledger,
        MedLedger::canReadCall {
            patient,
            reader: practitioner,
            recordId: FixedBytes::repeat_byte(7),
        }
        .abi_encode(),
    )
    .expect("canRead");
    assert!(!MedLedger::canReadCall::abi_decode_returns(&raw).expect("bool"));
    let raw = call(
        url,
        PATIENT,
        ledger,
        MedLedger::canWriteCall {
            patient,
            writer: patient,
            category: Category::Vitals.number(),
        }
        .abi_encode(),
    )
    .expect("canWrite");
    assert!(
        MedLedger::canWriteCall::abi_decode_returns(&raw).expect("bool"),
        "a patient may write their own records"
    );

    // A revert's data, decoded into the contract's named error.
    let error = call(
        url,
        PATIENT,
        ledger,
        MedLedger::registerPatientCall { encryptionKey: key }.abi_encode(),
    )
    .expect_err("registering twice reverts");
    let data = error["data"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| error["data"]["result"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("revert carries no data: {error}"));
    match decode_revert(&hex_bytes(&data)) {
        Some(MedLedgerErrors::AlreadyRegistered(e)) => assert_eq!(e.account, patient),
        other => panic!("expected AlreadyRegistered, got {other:?} from {error}"),
    }

    // The same for a grant to someone who is not a practitioner or insurer.
    let error = call(
        url,
        PATIENT,
        ledger,
        MedLedger::grantCall {
            grantee: practitioner,
            categories: Category::mask([Category::Vitals]),
            allowWrite: false,
            expiry: u64::MAX,
        }
        .abi_encode(),
    )
    .expect_err("a grant to an unregistered account reverts");
    let data = error["data"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    match decode_revert(&hex_bytes(&data)) {
        Some(MedLedgerErrors::InvalidGrantee(e)) => assert_eq!(e.grantee, practitioner),
        other => panic!("expected InvalidGrantee, got {other:?} from {error}"),
    }
}
