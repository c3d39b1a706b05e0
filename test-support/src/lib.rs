//! What every Rust test suite against a real chain shares, in one place: Ganache from the
//! project's node_modules on a free loopback port with the flags `scripts/lib.sh` starts it with,
//! a wait on its answer (never a fixed pause), a chain migrated by the project's Truffle migration
//! (each node starts from a copy of `scripts/chain-template.js`'s database, made once per build of
//! the contracts), and blocking JSON-RPC helpers (a transaction waits for its receipt).
//!
//! Everything here is synchronous (`std::process`, blocking HTTP), so that a plain `#[test]`
//! calls it directly and a `#[tokio::test]` from `tokio::task::spawn_blocking`.
//!
//! Needs `npm ci` (node_modules) and `npx truffle compile` (build/contracts) first; the test
//! command runs both. Without them a test fails with a message saying so.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, U256};
use serde_json::{json, Value};

/// How long a test waits for a condition before it gives up: bounded, so that a broken build
/// fails instead of hanging, and wide, so that no machine that works — two loaded cores, or one —
/// ever meets it (scripts/lib.sh's `PATIENCE_SECS`). Waits poll the condition itself; none of them
/// is a fixed sleep.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// How often a wait looks at its condition again.
const POLL: Duration = Duration::from_millis(50);

/// The chain id (and network id) of every test chain, as `truffle-config.js`'s development
/// network and `deployments/` expect.
pub const CHAIN_ID: u64 = 1337;

/// Ganache's seconds between blocks in the tests. Interval mining, not instamine: with
/// instamine, Ganache 7's transaction pool races when two senders' transactions (the escrow's
/// own and a test's) are mined at the same moment (ganache issue #3794) — it hands out stale
/// nonces and can stop mining altogether. A fixed value, not `MEDLEDGER_GANACHE_BLOCK_TIME`: a
/// developer's shell does not change what the tests run against.
pub const BLOCK_TIME: &str = "0.1";

/// Ganache's deterministic private keys (`--wallet.deterministic`), accounts 0..=9. The
/// migration makes account 0 the admin and account 1 the escrow.
pub const KEYS: [&str; 10] = [
    "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d",
    "0x6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1",
    "0x6370fd033278c143179d81c5526140625662b8daa446c22ee2d73db3707e620c",
    "0x646f1ce2fdad0e6deeeb5c7e8e5543bdde65e86029e2fd9fc169899c440a7913",
    "0xadd53f9a7e588d003326d1cbf9e4a43c061aadd9bc938c843a79e7b4fd2ad743",
    "0x395df67f0c2d2d9fe1ad08d1bc8b6627011959b79c53d7dd6a3536a33ab8a4fd",
    "0xe485d098507f54e7733a205420dfddbe58db035fa577fc294ebd14db90767a52",
    "0xa453611d9419d0e56f499079478fd72c37b251a94bfde4d19872c44cf65386e3",
    "0x829e924fdf021ba3dbbc4225edfece9aca04b929d6e75613329ca6f1d31c0bb4",
    "0xb0057716d5917badaf911b193b12b910811c1497b5bada8d7711f758981c3773",
];

/// A deployment file in the shape the migration writes (`deployments/README.md`), on chain
/// `chain_id`, naming the given ABI hashes of the core, the insurance contract, the licensing
/// contract and the forwarder: for tests that need a valid file but no chain (pass another hash to
/// get a refused one). The addresses and blocks are fixed samples (a fresh Ganache's before the
/// forwarder was deployed first), not read from any chain.
pub fn deployment_json(
    chain_id: u64,
    abi_hash: &str,
    insurance_abi_hash: &str,
    licensing_abi_hash: &str,
    forwarder_abi_hash: &str,
    recovery_abi_hash: &str,
) -> String {
    serde_json::json!({
        "network": "development",
        "chainId": chain_id,
        "address": "0xe78A0F7E598Cc8b0Bb87894B0F60dD2a88d6a8Ab",
        "deployBlock": 1,
        "deployTx": "0x475f606dc692e659e302b031cfdb1e193a8c64e192bb98b07af0bb30518d5c43",
        "abiHash": abi_hash,
        "admin": "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1",
        "escrow": "0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0",
        "insurance": {
            "address": "0x5b1869D9A4C187F2EAa108f3062412ecf0526b24",
            "deployBlock": 2,
            "deployTx": "0xa8c34b9c5c052160124010a152eb8a2856bd69ea7443e440b31056d29bf3ec46",
            "abiHash": insurance_abi_hash,
        },
        "licensing": {
            "address": "0xCfEB869F69431e42cdB54A4F4f105C19C080A601",
            "deployBlock": 3,
            "deployTx": "0x5d3f6e0c3c3f0c7c8e6b1f3f5c0f2d8f4b4b3a1d8c3f6e0c3c3f0c7c8e6b1f3f",
            "abiHash": licensing_abi_hash,
        },
        "forwarder": {
            "address": "0x254dffcd3277C0b1660F6d42EFbB754edaBAbC2B",
            "deployBlock": 4,
            "deployTx": "0x2c3f1e5d7b9a0c4e6f8d1b3a5c7e9f0d2b4a6c8e0f1d3b5a7c9e1f3d5b7a9c0e",
            "abiHash": forwarder_abi_hash,
        },
        "recovery": {
            "address": "0x3c63250aFA2470359482d98749f2d60D2971c818",
            "deployBlock": 1,
            "deployTx": "0x475f606dc692e659e302b031cfdb1e193a8c64e192bb98b07af0bb30518d5c43",
            "abiHash": recovery_abi_hash,
        },
    })
    .to_string()
}

/// The repository's root (where node_modules, build/contracts and migrations are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support sits in the repository's root")
        .to_path_buf()
}

/// The flags every Ganache of this project starts with (`scripts/ganache.args`: one flag and its
/// value a line, `#` starting a comment), shared with the scripts and the browser suites; read
/// once per test process, which starts many nodes.
pub fn ganache_args() -> &'static [String] {
    static ARGS: OnceLock<Vec<String>> = OnceLock::new();
    ARGS.get_or_init(|| {
        let file = repo_root().join("scripts/ganache.args");
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let args: Vec<String> = text
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default())
            .flat_map(str::split_whitespace)
            .map(String::from)
            .collect();
        assert!(!args.is_empty(), "{} gave no flags", file.display());
        args
    })
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Polls `check` until it returns `Some`, for at most [`PATIENCE`].
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} ({PATIENCE:?})"
        );
        std::thread::sleep(POLL);
    }
}

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    // A wedged node must fail the test, not hang the test run.
    AGENT.get_or_init(|| ureq::AgentBuilder::new().timeout(PATIENCE).build())
}

/// One JSON-RPC call: the result, or the node's error object.
pub fn rpc(url: &str, method: &str, params: Value) -> Result<Value, Value> {
    let response: Value = agent()
        .post(url)
        .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .unwrap_or_else(|e| panic!("{method}: JSON-RPC transport failed: {e}"))
        .into_json()
        .unwrap_or_else(|e| panic!("{method}: response is not JSON: {e}"));
    match response.get("error") {
        Some(error) => Err(error.clone()),
        None => Ok(response["result"].clone()),
    }
}

/// A `0x` hex quantity as JSON-RPC returns it.
pub fn quantity(v: &Value) -> u64 {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex quantity: {v}"));
    u64::from_str_radix(text.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("not a hex quantity: {text}: {e}"))
}

/// Sends `data` (and `value` wei) from an unlocked Ganache account to `to` and waits until a
/// block has mined it; panics unless it succeeded. Returns the receipt.
pub fn send(url: &str, from: Address, to: Address, data: &[u8], value: U256) -> Value {
    let hash = rpc(
        url,
        "eth_sendTransaction",
        json!([{"from": from.to_string(), "to": to.to_string(),
                "data": Bytes::copy_from_slice(data).to_string(), "gas": "0x7a1200",
                "value": format!("0x{value:x}")}]),
    )
    .unwrap_or_else(|e| panic!("transaction refused: {e}"));
    let receipt = wait_for(&format!("transaction {hash} to be mined"), || {
        // Ganache 7.9 now and then throws on a receipt asked for while it saves the block
        // ("Cannot read properties of undefined (reading 'toJSON')"): not yet, ask again.
        let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash])).ok()?;
        (!receipt.is_null()).then_some(receipt)
    });
    assert_eq!(receipt["status"], "0x1", "transaction reverted: {receipt}");
    receipt
}

/// `eth_call` of `data` on `to` (from `from` when given) at the latest block: the returned
/// bytes, or the node's error object (a revert's data is in it).
pub fn call(url: &str, from: Option<Address>, to: Address, data: &[u8]) -> Result<Vec<u8>, Value> {
    let mut tx = json!({"to": to.to_string(), "data": Bytes::copy_from_slice(data).to_string()});
    if let Some(from) = from {
        tx["from"] = json!(from.to_string());
    }
    rpc(url, "eth_call", json!([tx, "latest"])).map(|v| {
        let text = v.as_str().expect("eth_call result is a string");
        alloy_primitives::hex::decode(text).unwrap_or_else(|e| panic!("not hex: {text}: {e}"))
    })
}

/// The latest block's timestamp: the chain's own "now", which decides expiries and windows
/// (the wall clock does not: a test may have moved the chain's time on).
pub fn chain_time(url: &str) -> u64 {
    let block = rpc(url, "eth_getBlockByNumber", json!(["latest", false])).expect("latest block");
    quantity(&block["timestamp"])
}

/// A Ganache child process on a free loopback port, killed on drop.
pub struct Ganache {
    child: Child,
    /// Its output, shown when it fails to start.
    log: tempfile::NamedTempFile,
    pub url: String,
    pub port: u16,
}

impl Ganache {
    /// Starts Ganache with the project's flags ([`ganache_args`]: deterministic accounts,
    /// Shanghai, loopback), chain id [`CHAIN_ID`] and [`BLOCK_TIME`] interval mining, and waits
    /// until it answers JSON-RPC ([`PATIENCE`] at most; at once if it exits).
    pub fn start() -> Ganache {
        Ganache::start_with(None)
    }

    /// [`Ganache::start`] on the chain held in the database directory `db` (which it writes to).
    pub fn start_with(db: Option<&Path>) -> Ganache {
        let bin = repo_root().join("node_modules/.bin/ganache");
        assert!(
            bin.exists(),
            "{} is missing: run `npm ci` first",
            bin.display()
        );
        let port = free_port();
        let log = tempfile::Builder::new()
            .prefix("medledger-ganache-")
            .suffix(".log")
            .tempfile()
            .expect("a log file");
        let output = || Stdio::from(log.reopen().expect("the log file"));
        let chain_id = CHAIN_ID.to_string();
        let mut command = Command::new(bin);
        if let Some(db) = db {
            command.arg("--database.dbPath").arg(db);
        }
        let child = command
            .args(ganache_args())
            .args(["--chain.chainId", &chain_id, "--chain.networkId", &chain_id])
            .args(["--server.port", &port.to_string()])
            .args(["--miner.blockTime", BLOCK_TIME, "--logging.quiet"])
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output())
            .spawn()
            .expect("start ganache");
        let mut ganache = Ganache {
            child,
            log,
            url: format!("http://127.0.0.1:{port}"),
            port,
        };
        let url = ganache.url.clone();
        let answered = wait_for(&format!("ganache to answer on {url}"), || {
            if let Ok(Some(status)) = ganache.child.try_wait() {
                panic!(
                    "ganache exited while starting ({status}):\n{}",
                    std::fs::read_to_string(ganache.log.path()).unwrap_or_default()
                );
            }
            let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
            let answer = agent().post(&url).send_json(ping).ok()?;
            answer.into_json::<Value>().ok()
        });
        assert_eq!(
            quantity(&answered["result"]),
            CHAIN_ID,
            "ganache's chain id"
        );
        ganache
    }

    /// Stops the node (the chain becomes unreachable).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Ganache {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A test chain: Ganache with the contract deployed by the project's migration, and a temporary
/// directory (deleted on drop, after Ganache has stopped) holding `deployments/development.json`
/// and whatever else the test keeps beside it.
pub struct Chain {
    pub ganache: Ganache,
    pub tmp: tempfile::TempDir,
    pub deployment_file: PathBuf,
}

impl Chain {
    /// Starts Ganache on a copy of the migrated chain ([`chain_template`]) and puts the
    /// migration's deployment file into the chain's directory; see [`Ganache::start_with`].
    pub fn start() -> Chain {
        let template = chain_template();
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = tmp.path().join("chain-db");
        copy_dir(&template.join("db"), &db);
        let dir = tmp.path().join("deployments");
        std::fs::create_dir_all(&dir).expect("the deployments directory");
        let deployment_file = dir.join("development.json");
        std::fs::copy(template.join("development.json"), &deployment_file)
            .expect("copy the template's deployment file");
        let ganache = Ganache::start_with(Some(&db));
        Chain {
            ganache,
            tmp,
            deployment_file,
        }
    }

    pub fn url(&self) -> &str {
        &self.ganache.url
    }
}

/// The migrated chain every [`Chain`] starts from: `scripts/chain-template.js` (the project's
/// Truffle migration on a Ganache with a database, run once per build of the contracts and kept
/// under target/chain-template), asked once per process.
pub fn chain_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let root = repo_root();
        let output = Command::new("node")
            .arg(root.join("scripts/chain-template.js"))
            .current_dir(&root)
            .output()
            .expect("run node scripts/chain-template.js");
        assert!(
            output.status.success(),
            "scripts/chain-template.js failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    })
}

/// Copies the directory `from` (a Ganache database: plain files, no links) to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}
