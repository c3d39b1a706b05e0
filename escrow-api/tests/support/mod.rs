//! Shared test support: a real Ganache from the project's node_modules on a free loopback port, the
//! project's Truffle migration into a temporary deployments directory (as
//! protocol/tests/contract_ganache.rs does), the escrow served in-process on 127.0.0.1:0, wallets
//! from Ganache's deterministic keys that sign SIWE messages, and chain actions sent with
//! `eth_sendTransaction` from Ganache's unlocked accounts with calldata from the `sol!` bindings.
//!
//! Needs `npm ci` (node_modules) and `npx truffle compile` (build/contracts) first; the test
//! command runs both. Without them the tests fail with a message saying so.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{hex, Address, Bytes, B256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use medledger_escrow_api::config::Config;
use medledger_escrow_api::server::App;
use medledger_protocol::cipher::SecretKey;
use medledger_protocol::deployment::Deployment;
use medledger_protocol::envelope::{self, Metadata, RecordContext, RecordKind};
use medledger_protocol::identity::{format_rfc3339, SiweMessage};
use medledger_protocol::wrap::{self, KeyPair, Purpose, WrapContext};
use serde_json::{json, Value};

/// How long a test waits for a condition before it gives up: bounded, so that a broken build
/// fails instead of hanging, and wide, so that no machine that works — two loaded cores, or one —
/// ever meets it. Waits poll the condition itself; none of them is a fixed sleep.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// Ganache's deterministic private keys (`--wallet.deterministic`), accounts 0..=9.
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

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A Ganache child process, killed on drop.
pub struct Ganache {
    child: Child,
    pub url: String,
    pub port: u16,
}

impl Ganache {
    /// Stops the node (the chain becomes unreachable).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Ganache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn rpc(url: &str, method: &str, params: Value) -> Result<Value, Value> {
    // A wedged node must fail the test, not hang the test run.
    let response: Value = reqwest::Client::new()
        .post(url)
        .timeout(PATIENCE)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method}: JSON-RPC transport failed: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{method}: response is not JSON: {e}"));
    match response.get("error") {
        Some(error) => Err(error.clone()),
        None => Ok(response["result"].clone()),
    }
}

pub async fn start_ganache() -> Ganache {
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
            // Interval mining, not instamine: with instamine, Ganache 7's transaction pool races
            // when the escrow's own transaction and a test's are mined at the same moment
            // (ganache issue #3794) — it hands out stale nonces and can stop mining altogether.
            "--miner.blockTime",
            "0.1",
            "--logging.quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ganache");
    let ganache = Ganache {
        child,
        url: format!("http://127.0.0.1:{port}"),
        port,
    };
    let deadline = Instant::now() + PATIENCE;
    let client = reqwest::Client::new();
    loop {
        let ready = client
            .post(&ganache.url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
            .send()
            .await
            .is_ok();
        if ready {
            return ganache;
        }
        assert!(
            Instant::now() < deadline,
            "ganache did not answer on {} within {PATIENCE:?}",
            ganache.url
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the project's Truffle migration against `ganache`, writing into `dir`.
pub fn migrate(ganache: &Ganache, dir: &Path) -> (Deployment, PathBuf) {
    let root = repo_root();
    let artifact = root.join("build/contracts/MedLedger.json");
    assert!(
        artifact.exists(),
        "{} is missing: run `npx truffle compile` first",
        artifact.display()
    );
    // One retry: on a loaded 2-core machine truffle occasionally gives up on a node that is
    // still busy; the migration is idempotent, so a second run finishes the job (at once: it
    // waits on the node's answers, not on a pause of ours).
    let run = || {
        Command::new(root.join("node_modules/.bin/truffle"))
            .args(["migrate", "--network", "development", "--compile-none"])
            .current_dir(&root)
            .env("MEDLEDGER_GANACHE_PORT", ganache.port.to_string())
            .env("MEDLEDGER_DEPLOYMENTS_DIR", dir)
            .output()
            .expect("run truffle migrate")
    };
    let mut output = run();
    if !output.status.success() {
        eprintln!(
            "truffle migrate failed once; retrying:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output = run();
    }
    assert!(
        output.status.success(),
        "truffle migrate against {} failed:\n{}\n{}",
        ganache.url,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let path = dir.join("development.json");
    let deployment =
        Deployment::load(&path).expect("the migration's deployment file matches the bindings");
    (deployment, path)
}

/// Sends a transaction from an unlocked Ganache account and waits for its receipt (Ganache mines
/// every 100 ms, see [`start_ganache`]); panics unless it succeeds.
pub async fn send(url: &str, from: Address, to: Address, data: Vec<u8>) -> Value {
    let hash = rpc(
        url,
        "eth_sendTransaction",
        json!([{"from": from.to_string(), "to": to.to_string(), "data": Bytes::from(data).to_string(), "gas": "0x7a1200"}]),
    )
    .await
    .unwrap_or_else(|e| panic!("transaction refused: {e}"));
    let deadline = Instant::now() + PATIENCE;
    let receipt = loop {
        let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash]))
            .await
            .expect("receipt");
        if !receipt.is_null() {
            break receipt;
        }
        assert!(
            Instant::now() < deadline,
            "transaction {hash} not mined within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(receipt["status"], "0x1", "transaction reverted: {receipt}");
    receipt
}

/// `eth_call` of the contract.
pub async fn call<C: SolCall>(url: &str, to: Address, c: C) -> C::Return {
    let raw = rpc(
        url,
        "eth_call",
        json!([{"to": to.to_string(), "data": Bytes::from(c.abi_encode()).to_string()}, "latest"]),
    )
    .await
    .unwrap_or_else(|e| panic!("eth_call failed: {e}"));
    let bytes = hex::decode(raw.as_str().expect("hex")).expect("hex");
    C::abi_decode_returns(&bytes).expect("result decodes")
}

/// A running escrow.
pub struct Server {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub config: Config,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Builds a test configuration: data in `data`, the escrow key (Ganache account 1) in a 0600
    /// file, fast follower and anchoring.
    pub fn config(data: &Path, deployment: &Path, rpc_url: &str) -> Config {
        let key_file = data.join("escrow.key");
        if !key_file.exists() {
            medledger_escrow_api::keys::write_new_private(&key_file, KEYS[1]).expect("key file");
        }
        Config {
            data_dir: data.to_path_buf(),
            rpc_url: rpc_url.to_string(),
            deployment: deployment.to_path_buf(),
            escrow_key_file: Some(key_file),
            poll_interval_ms: 200,
            // Anchoring sends escrow transactions; only the test about anchors turns it on.
            anchor_interval_secs: 0,
            max_upload_bytes: 1024 * 1024,
            tier2_chunk_size: 1024,
            app_dir: data.join("app"),
            ..Config::default()
        }
    }

    /// Starts the escrow on 127.0.0.1:0 with `config` (its SIWE domain the bound address). When
    /// `MEDLEDGER_TEST_DATABASE_URL` names a PostgreSQL server and the configuration no index,
    /// the index is a fresh database on that server (the same suite then runs on PostgreSQL).
    pub async fn start(mut config: Config) -> Server {
        if config.database_url.is_none() {
            config.database_url = test_database().await;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        config.bind = addr;
        config.siwe_domain = Some(addr.to_string());
        let app = App::build(config.clone()).await.expect("escrow starts");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.serve(listener, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        Server {
            base: format!("http://{addr}"),
            addr,
            config,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// A server run elsewhere (a child process) at `addr` with `config`.
    pub fn external(addr: std::net::SocketAddr, config: Config) -> Server {
        Server {
            base: format!("http://{addr}"),
            addr,
            config,
            stop: None,
            task: None,
        }
    }

    /// Stops the escrow and waits for it.
    pub async fn stop(mut self) -> Config {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.config.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A wallet user: a Ganache account, its X25519 encryption key and its session cookie.
pub struct User {
    pub signer: PrivateKeySigner,
    pub keys: KeyPair,
    pub cookie: Option<String>,
    pub http: reqwest::Client,
}

impl User {
    pub fn new(account: usize) -> User {
        User {
            signer: KEYS[account].parse().expect("key"),
            keys: KeyPair::generate().expect("x25519 key"),
            cookie: None,
            http: reqwest::Client::new(),
        }
    }

    pub fn address(&self) -> Address {
        self.signer.address()
    }

    pub fn encryption_key(&self) -> B256 {
        B256::from(self.keys.public().0)
    }

    /// A SIWE message for `server` with a fresh nonce.
    pub async fn siwe(&self, server: &Server) -> SiweMessage {
        let nonce: Value = self
            .http
            .get(server.url("/api/auth/nonce"))
            .send()
            .await
            .expect("nonce")
            .json()
            .await
            .expect("json");
        let now = medledger_escrow_api::now_secs();
        SiweMessage {
            domain: nonce["domain"].as_str().expect("domain").to_string(),
            address: self.address(),
            statement: Some("Sign in to medledger".into()),
            uri: server.base.clone(),
            chain_id: nonce["chainId"].as_u64().expect("chain id"),
            nonce: nonce["nonce"].as_str().expect("nonce").to_string(),
            issued_at: format_rfc3339(now),
            expiration_time: Some(format_rfc3339(now + 600)),
            not_before: None,
            request_id: None,
            resources: vec![],
        }
    }

    /// Posts a signed SIWE message; returns the response.
    pub async fn post_siwe(
        &self,
        server: &Server,
        message: &str,
        signer: &PrivateKeySigner,
    ) -> reqwest::Response {
        let sig = signer.sign_message_sync(message.as_bytes()).expect("sign");
        self.http
            .post(server.url("/api/auth/verify"))
            .json(&json!({"message": message, "signature": hex::encode_prefixed(sig.as_bytes())}))
            .send()
            .await
            .expect("verify")
    }

    /// Signs in and keeps the session cookie.
    pub async fn sign_in(&mut self, server: &Server) {
        let msg = self.siwe(server).await.to_string();
        let response = self.post_siwe(server, &msg, &self.signer.clone()).await;
        assert_eq!(response.status(), 200, "sign-in refused");
        let set = response
            .headers()
            .get("set-cookie")
            .expect("a session cookie")
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Strict"), "{set}");
        let pair = set.split(';').next().expect("cookie pair").to_string();
        self.cookie = Some(pair);
    }

    pub fn get(&self, url: String) -> reqwest::RequestBuilder {
        self.with_cookie(self.http.get(url))
    }

    pub fn put(&self, url: String) -> reqwest::RequestBuilder {
        self.with_cookie(self.http.put(url))
    }

    pub fn post(&self, url: String) -> reqwest::RequestBuilder {
        self.with_cookie(self.http.post(url))
    }

    fn with_cookie(&self, b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => b.header("cookie", c),
            None => b,
        }
    }
}

/// A record made the way the app makes one.
pub struct Record {
    pub id: B256,
    pub patient: Address,
    pub category: u8,
    pub dek: SecretKey,
    pub body: Vec<u8>,
    pub c1: Vec<u8>,
    pub h1: B256,
}

pub fn record_id(n: u8) -> B256 {
    let mut b = [0u8; 32];
    medledger_protocol::cipher::fill_random(&mut b).expect("random");
    b[0] = n;
    B256::from(b)
}

impl Record {
    pub fn new(d: &Deployment, patient: Address, category: u8, body: Vec<u8>) -> Record {
        Record::with_id(d, patient, category, body, record_id(1))
    }

    pub fn with_id(
        d: &Deployment,
        patient: Address,
        category: u8,
        body: Vec<u8>,
        id: B256,
    ) -> Record {
        let dek = SecretKey::generate().expect("dek");
        let ctx = RecordContext {
            chain_id: d.chain_id,
            contract: d.address,
            record_id: id,
            patient,
        };
        let meta = Metadata {
            kind: RecordKind::Structured,
            created: 1_764_000_000,
            media_type: "application/json".into(),
            file_name: "vitals.json".into(),
        };
        let (c1, h1) = envelope::seal(&dek, &ctx, &meta, 4096, &body).expect("seal");
        Record {
            id,
            patient,
            category,
            dek,
            body,
            c1,
            h1,
        }
    }

    /// `<reader>=<hex>` for each reader.
    pub fn wraps(&self, d: &Deployment, readers: &[&User]) -> Vec<String> {
        readers
            .iter()
            .map(|u| {
                let ctx = WrapContext {
                    chain_id: d.chain_id,
                    contract: d.address,
                    record_id: self.id,
                    reader: u.address(),
                    purpose: Purpose::Reader,
                };
                let w = wrap::wrap_dek(&self.dek, &u.keys.public(), &ctx).expect("wrap");
                format!("{}={}", u.address(), hex::encode_prefixed(w))
            })
            .collect()
    }

    /// The upload request (not yet sent).
    pub fn upload(&self, server: &Server, who: &User, wraps: &[String]) -> reqwest::RequestBuilder {
        let mut b = who
            .put(server.url(&format!("/api/records/{}", self.id)))
            .header("x-medledger-patient", self.patient.to_string())
            .header("x-medledger-category", self.category.to_string())
            .header("x-medledger-h1", self.h1.to_string());
        for w in wraps {
            b = b.header("x-medledger-wrapped-dek", w);
        }
        b.body(self.c1.clone())
    }

    /// Where the record lives (what its envelope and label are bound to).
    pub fn context(&self, d: &Deployment) -> RecordContext {
        RecordContext {
            chain_id: d.chain_id,
            contract: d.address,
            record_id: self.id,
            patient: self.patient,
        }
    }

    /// The DEK from the wrap the escrow gave `reader` (`0x` hex), as the reader's browser opens it.
    pub fn dek_from_wrap(&self, d: &Deployment, reader: &User, wrap_hex: &str) -> SecretKey {
        let ctx = WrapContext {
            chain_id: d.chain_id,
            contract: d.address,
            record_id: self.id,
            reader: reader.address(),
            purpose: Purpose::Reader,
        };
        wrap::unwrap_dek(&hex::decode(wrap_hex).expect("hex"), &reader.keys, &ctx).expect("unwrap")
    }

    /// Opens a released C1 with the DEK wrapped to `reader`.
    pub fn open_release(
        &self,
        d: &Deployment,
        reader: &User,
        wrap_header: &str,
        c1: &[u8],
    ) -> Vec<u8> {
        let (addr, w) = wrap_header.split_once('=').expect("reader=wrap");
        assert_eq!(addr.parse::<Address>().expect("address"), reader.address());
        let dek = self.dek_from_wrap(d, reader, w);
        envelope::open(&dek, &self.context(d), c1)
            .expect("decrypt")
            .0
    }
}

/// Polls `check` every 100 ms until it returns `Some`, for at most [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} ({PATIENCE:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `attempt` until one run of it finishes within `window` of its start, and returns that
/// run's result. For a check of something that lasts `window` by the server's wall clock (a
/// session, a pending upload): on a machine too slow to look within the window, that run proves
/// nothing either way, so it is tried again (five runs at most) instead of failing or passing.
pub async fn within_window<T>(
    window: Duration,
    what: &str,
    mut attempt: impl AsyncFnMut() -> T,
) -> T {
    for _ in 0..5 {
        let started = Instant::now();
        let result = attempt().await;
        if started.elapsed() < window {
            return result;
        }
        eprintln!("{what} took longer than {window:?}; trying again");
    }
    panic!("{what} never finished within {window:?} in five runs");
}

/// The latest block's timestamp: the chain's own "now", which decides expiries and windows
/// (the wall clock does not: a test may have moved the chain's time on).
pub async fn chain_time(url: &str) -> u64 {
    let block = rpc(url, "eth_getBlockByNumber", json!(["latest", false]))
        .await
        .expect("latest block");
    let ts = block["timestamp"].as_str().expect("timestamp");
    u64::from_str_radix(ts.trim_start_matches("0x"), 16).expect("hex timestamp")
}

/// A chain with the contract deployed, two patients and two verified practitioners registered,
/// and the escrow's data directory.
pub struct World {
    pub ganache: Ganache,
    pub tmp: tempfile::TempDir,
    pub d: Deployment,
    pub deployment_file: PathBuf,
    pub data: PathBuf,
}

/// Account numbers used by the tests.
pub const ADMIN: usize = 0;
pub const PATIENT: usize = 2;
pub const DOCTOR: usize = 3;
pub const STRANGER_DOCTOR: usize = 4;
pub const OTHER_PATIENT: usize = 5;

impl World {
    pub async fn new() -> World {
        let ganache = start_ganache().await;
        let tmp = tempfile::tempdir().expect("tempdir");
        let deploy_dir = tmp.path().join("deployments");
        std::fs::create_dir_all(&deploy_dir).expect("dir");
        let (d, deployment_file) = migrate(&ganache, &deploy_dir);
        let data = tmp.path().join("escrow-data");
        World {
            ganache,
            tmp,
            d,
            deployment_file,
            data,
        }
    }

    pub fn url(&self) -> &str {
        &self.ganache.url
    }

    pub async fn send<C: SolCall>(&self, from: &User, c: C) -> Value {
        send(
            &self.ganache.url,
            from.address(),
            self.d.address,
            c.abi_encode(),
        )
        .await
    }

    pub async fn call<C: SolCall>(&self, c: C) -> C::Return {
        call(&self.ganache.url, self.d.address, c).await
    }

    /// `patient` grants `grantee` the `categories` (and write, when asked) for a day of chain time.
    pub async fn grant_for_a_day(
        &self,
        patient: &User,
        grantee: &User,
        categories: &[medledger_protocol::contract::Category],
        allow_write: bool,
    ) {
        use medledger_protocol::contract::{Category, MedLedger};
        let expiry = chain_time(self.url()).await + 86_400;
        self.send(
            patient,
            MedLedger::grantCall {
                grantee: grantee.address(),
                categories: Category::mask(categories.iter().copied()),
                allowWrite: allow_write,
                expiry,
            },
        )
        .await;
    }

    pub fn config(&self) -> Config {
        Server::config(&self.data, &self.deployment_file, &self.ganache.url)
    }

    /// Registers patients and verified practitioners.
    pub async fn register(&self, patients: &[&User], practitioners: &[&User]) {
        use medledger_protocol::contract::MedLedger;
        let admin = User::new(ADMIN);
        for p in patients {
            self.send(
                p,
                MedLedger::registerPatientCall {
                    encryptionKey: p.encryption_key(),
                },
            )
            .await;
        }
        for doc in practitioners {
            self.send(
                doc,
                MedLedger::applyAsPractitionerCall {
                    encryptionKey: doc.encryption_key(),
                    profileHash: B256::repeat_byte(1),
                },
            )
            .await;
            self.send(
                &admin,
                MedLedger::verifyAccountCall {
                    account: doc.address(),
                },
            )
            .await;
        }
    }

    /// Uploads `r` as `who` with wraps to `readers` (201 expected) and anchors it with
    /// `addRecord` from `who`'s account; waits until the escrow has it committed.
    pub async fn upload_and_anchor(
        &self,
        server: &Server,
        who: &User,
        readers: &[&User],
        r: &Record,
    ) {
        use medledger_protocol::contract::MedLedger;
        let resp = r
            .upload(server, who, &r.wraps(&self.d, readers))
            .send()
            .await
            .expect("upload");
        assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
        self.send(
            who,
            MedLedger::addRecordCall {
                recordId: r.id,
                patient: r.patient,
                ciphertextHash: r.h1,
                category: r.category,
                supersedes: B256::ZERO,
            },
        )
        .await;
        let index = medledger_escrow_api::db::Index::connect(&server.config.database_url())
            .await
            .expect("index");
        eventually("the upload to be committed", || async {
            let row = index.record(r.id).await.expect("row")?;
            (row.state.as_str() == "committed").then_some(())
        })
        .await;
    }
}

/// Whether the contract's `verifyLogEntry` accepts an access-log entry as the API returned it
/// (its anchor index, seq, entry hash and Merkle proof).
pub async fn proof_accepted(url: &str, contract: Address, e: &Value) -> bool {
    use medledger_protocol::contract::MedLedger;
    call(
        url,
        contract,
        MedLedger::verifyLogEntryCall {
            anchorIndex: alloy_primitives::U256::from(
                e["anchor"]["index"].as_u64().expect("anchor index"),
            ),
            seq: e["seq"].as_u64().expect("seq"),
            entryHash: e["entryHash"]
                .as_str()
                .expect("hash")
                .parse()
                .expect("hash"),
            proof: serde_json::from_value(e["proof"].clone()).expect("proof"),
        },
    )
    .await
}

/// The patient's access-log entries as the patient sees them.
pub async fn log_entries(server: &Server, patient: &User) -> Vec<Value> {
    let r = patient
        .get(server.url("/api/access-log"))
        .send()
        .await
        .expect("log");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["entries"].as_array().expect("entries").clone()
}

/// Asserts the patient's log has a refused `action` by `actor` on `record` with `reason`.
pub async fn assert_refusal_logged(
    server: &Server,
    patient: &User,
    actor: Address,
    record: B256,
    action: &str,
    reason: &str,
) {
    let entries = log_entries(server, patient).await;
    let found = entries.iter().any(|e| {
        e["actor"].as_str().and_then(|a| a.parse::<Address>().ok()) == Some(actor)
            && e["recordId"].as_str().and_then(|r| r.parse::<B256>().ok()) == Some(record)
            && e["action"] == action
            && e["granted"] == false
            && e["reason"] == reason
    });
    assert!(
        found,
        "no refused {action} by {actor} on {record} with reason {reason} in {entries:#?}"
    );
}

/// A fresh PostgreSQL database on the server `MEDLEDGER_TEST_DATABASE_URL` names
/// (`postgres://user@host:port/db`), or `None` (SQLite in the data directory) when it is unset.
pub async fn test_database() -> Option<String> {
    let admin = std::env::var("MEDLEDGER_TEST_DATABASE_URL").ok()?;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("MEDLEDGER_TEST_DATABASE_URL: cannot connect: {e}"));
    let name = format!("medledger_test_{}", &record_id(0).to_string()[4..20]);
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create a test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}
