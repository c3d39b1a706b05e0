//! Shared test support for the escrow's suites: a [`World`] (a real Ganache with the project's
//! migration, through `medledger-test-support` as protocol's contract test uses it, and the
//! escrow's data directory) whose methods are the chain actions the tests take, sent with
//! `eth_sendTransaction` from Ganache's unlocked accounts with calldata from the `sol!` bindings;
//! the escrow served in-process on 127.0.0.1:0 ([`Server`]) or as the real binary ([`process`]);
//! wallet [`User`]s from Ganache's deterministic keys that sign SIWE messages; and [`Record`]s
//! made the way the app makes them.
//!
//! Needs `npm ci` (node_modules) and `npx truffle compile` (build/contracts) first; the test
//! command runs both. Without them the tests fail with a message saying so.

#![allow(dead_code, unused_imports)]

mod process;
mod record;
mod relay;
mod server;
mod user;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolCall;
use medledger_escrow_api::chain::{Ledger, RpcChain};
use medledger_escrow_api::config::Config;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::deployment::Deployment;
use medledger_test_support::{Chain, Ganache};
use serde_json::{json, Value};

pub use medledger_test_support::{free_port, quantity, repo_root, KEYS, PATIENCE};
pub use process::*;
pub use record::*;
pub use relay::*;
pub use server::*;
pub use user::*;

/// Account numbers used by the tests (account 1 is the escrow's).
pub const ADMIN: usize = 0;
pub const PATIENT: usize = 2;
pub const DOCTOR: usize = 3;
pub const STRANGER_DOCTOR: usize = 4;
pub const OTHER_PATIENT: usize = 5;
/// Insurers, registered by the tests that need them ([`World::register_insurer`]).
pub const INSURERS: [usize; 2] = [6, 7];
pub const INSURER: usize = INSURERS[0];
pub const OTHER_INSURER: usize = INSURERS[1];

/// The reason the escrow logs for a read the chain's consent does not allow.
pub const NO_CONSENT: &str = "no-read-consent";

/// Runs blocking test support (Ganache, the migration, JSON-RPC) off the async runtime, and
/// passes its panic on as the test's own.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// One JSON-RPC call to the node at `url`: the result, or the node's error object.
pub async fn rpc(url: &str, method: &str, params: Value) -> Result<Value, Value> {
    let (url, method) = (url.to_string(), method.to_string());
    blocking(move || medledger_test_support::rpc(&url, &method, params)).await
}

/// Sends a transaction from an unlocked Ganache account and waits until a block has mined it
/// (Ganache mines every 100 ms); panics unless it succeeds. Returns the receipt.
pub async fn send(url: &str, from: Address, to: Address, data: Vec<u8>, value: U256) -> Value {
    let url = url.to_string();
    blocking(move || medledger_test_support::send(&url, from, to, &data, value)).await
}

/// `eth_call` of the contract.
pub async fn call<C: SolCall>(url: &str, to: Address, c: C) -> C::Return {
    let (url, data) = (url.to_string(), c.abi_encode());
    let raw = blocking(move || medledger_test_support::call(&url, None, to, &data))
        .await
        .unwrap_or_else(|e| panic!("eth_call failed: {e}"));
    C::abi_decode_returns(&raw).expect("result decodes")
}

/// The latest block's timestamp: the chain's own "now", which decides expiries and windows
/// (the wall clock does not: a test may have moved the chain's time on).
pub async fn chain_time(url: &str) -> u64 {
    let url = url.to_string();
    blocking(move || medledger_test_support::chain_time(&url)).await
}

/// How many snapshots a [`ForkPoint`] holds: one per `evm_revert` that
/// [`World::reorganise_to`] may need.
pub const FORK_SNAPSHOTS: usize = 3;

/// See [`World::fork_point`].
pub struct ForkPoint {
    /// The head when the first snapshot was taken: no snapshot is older.
    pub at: u64,
    /// Oldest first.
    snapshots: Vec<Value>,
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

/// A chain with the contract deployed and the escrow's data directory (not yet made).
pub struct World {
    pub ganache: Ganache,
    pub tmp: tempfile::TempDir,
    pub d: Deployment,
    pub deployment_file: PathBuf,
    pub data: PathBuf,
}

impl World {
    pub async fn new() -> World {
        let Chain {
            ganache,
            tmp,
            deployment_file,
        } = blocking(Chain::start).await;
        let d = Deployment::load(&deployment_file)
            .expect("the migration's deployment file matches the bindings");
        let data = tmp.path().join("escrow-data");
        World {
            ganache,
            tmp,
            d,
            deployment_file,
            data,
        }
    }

    /// A world with `patients` registered and `practitioners` registered and verified, and the
    /// escrow serving with [`World::config`] as `tweak` changes it.
    pub async fn serving(
        patients: &[&User],
        practitioners: &[&User],
        tweak: impl FnOnce(&mut Config),
    ) -> (World, Server) {
        let w = World::new().await;
        w.register(patients, practitioners).await;
        let server = w.serve(tweak).await;
        (w, server)
    }

    /// [`World::serving`] for the users of the accounts `patients` and `practitioners`, each of
    /// them then signed in.
    pub async fn signed_in<const P: usize, const D: usize>(
        patients: [usize; P],
        practitioners: [usize; D],
        tweak: impl FnOnce(&mut Config),
    ) -> (World, Server, [User; P], [User; D]) {
        let (mut patients, mut practitioners) = (users(patients), users(practitioners));
        let (w, server) =
            World::serving(&patients.each_ref(), &practitioners.each_ref(), tweak).await;
        let everyone = patients.iter_mut().chain(practitioners.iter_mut());
        server.sign_in(everyone).await;
        (w, server, patients, practitioners)
    }

    pub fn url(&self) -> &str {
        &self.ganache.url
    }

    /// A test configuration of the escrow against this chain: see [`Server::config`].
    pub fn config(&self) -> Config {
        Server::config(&self.data, &self.deployment_file, &self.ganache.url)
    }

    /// Starts the escrow with [`World::config`] as `tweak` changes it.
    pub async fn serve(&self, tweak: impl FnOnce(&mut Config)) -> Server {
        let mut config = self.config();
        tweak(&mut config);
        Server::start(config).await
    }

    /// The chain as the escrow's library reads it (for `verify_log_with`).
    pub fn ledger(&self) -> Ledger {
        Ledger::new(std::sync::Arc::new(
            RpcChain::for_deployment(self.url(), &self.d, None).expect("chain"),
        ))
    }

    /// A JSON-RPC call to the node that must succeed.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        rpc(self.url(), method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The chain's head block number.
    pub async fn head(&self) -> u64 {
        medledger_test_support::quantity(&self.rpc("eth_blockNumber", json!([])).await)
    }

    pub async fn chain_time(&self) -> u64 {
        chain_time(self.url()).await
    }

    /// Moves the chain's clock `secs` on and mines a block at the new time.
    pub async fn pass_time(&self, secs: u64) {
        self.rpc("evm_increaseTime", json!([secs])).await;
        self.rpc("evm_mine", json!([])).await;
    }

    /// A point [`World::reorganise_to`] takes the chain back to: [`FORK_SNAPSHOTS`]
    /// `evm_snapshot`s taken one after the other, all at or after block `at`.
    pub async fn fork_point(&self) -> ForkPoint {
        let at = self.head().await;
        let mut snapshots = Vec::with_capacity(FORK_SNAPSHOTS);
        for _ in 0..FORK_SNAPSHOTS {
            snapshots.push(self.rpc("evm_snapshot", json!([])).await);
        }
        ForkPoint { at, snapshots }
    }

    /// Back to `fork` (`evm_revert`): the blocks since are gone and other blocks follow it.
    ///
    /// Ganache 7's `evm_revert` races with its interval miner: a block the miner had begun on
    /// the old head before the revert is mined after it, numbered after the old head, with a
    /// parent that no longer exists, so the node serves blocks whose parents are not on its
    /// chain, and its state is the snapshot's (seen in about 1 of 40 reverts on two loaded
    /// cores, and 1 of 165 with the miner stopped around the revert: docs/testing.md). No follower can be
    /// right about such a chain, so after each revert this waits for two blocks past the fork
    /// and checks that every block from the fork to the head is its predecessor's child; when
    /// one is not, it reverts again, to the next older of the fork's snapshots.
    pub async fn reorganise_to(&self, fork: ForkPoint) {
        let ForkPoint { at, mut snapshots } = fork;
        while let Some(snapshot) = snapshots.pop() {
            self.rpc("miner_stop", json!([])).await;
            let reverted = self.rpc("evm_revert", json!([snapshot])).await;
            self.rpc("miner_start", json!([])).await;
            assert_eq!(reverted, json!(true), "evm_revert");
            let head = eventually("two blocks past the fork", || async {
                let head = self.head().await;
                (head >= at + 2).then_some(head)
            })
            .await;
            if self.linked(at, head).await {
                return;
            }
            eprintln!(
                "Ganache's evm_revert left a block whose parent is off its chain (its interval miner raced the revert): reverting again, to an earlier snapshot"
            );
        }
        panic!("every evm_revert to the fork point left Ganache's chain broken ({FORK_SNAPSHOTS} tries)");
    }

    /// Whether blocks `from..=to` are all on the chain, each the child of the one before.
    async fn linked(&self, from: u64, to: u64) -> bool {
        let mut parent = None;
        for n in from..=to {
            let block = self
                .rpc("eth_getBlockByNumber", json!([format!("0x{n:x}"), false]))
                .await;
            let (Some(hash), Some(parent_hash)) =
                (block["hash"].as_str(), block["parentHash"].as_str())
            else {
                return false;
            };
            if parent.is_some_and(|p: String| p != parent_hash) {
                return false;
            }
            parent = Some(hash.to_owned());
        }
        true
    }

    pub async fn send<C: SolCall>(&self, from: &User, c: C) -> Value {
        self.send_value(from, c, U256::ZERO).await
    }

    /// Sends `c` with `value` wei (payable calls).
    pub async fn send_value<C: SolCall>(&self, from: &User, c: C, value: U256) -> Value {
        send(
            self.url(),
            from.address(),
            self.d.address,
            c.abi_encode(),
            value,
        )
        .await
    }

    /// Sends `c` to the insurance contract.
    pub async fn send_insurance<C: SolCall>(&self, from: &User, c: C) -> Value {
        self.send_insurance_value(from, c, U256::ZERO).await
    }

    /// Sends `c` with `value` wei to the insurance contract (its payable calls).
    pub async fn send_insurance_value<C: SolCall>(&self, from: &User, c: C, value: U256) -> Value {
        let to = self.d.insurance.address;
        send(self.url(), from.address(), to, c.abi_encode(), value).await
    }

    /// Sends `c` with `value` wei to the licensing contract.
    pub async fn send_licensing<C: SolCall>(&self, from: &User, c: C, value: U256) -> Value {
        let to = self.d.licensing.address;
        send(self.url(), from.address(), to, c.abi_encode(), value).await
    }

    pub async fn call<C: SolCall>(&self, c: C) -> C::Return {
        call(&self.ganache.url, self.d.address, c).await
    }

    /// `eth_call` of another of the deployment's contracts (the forwarder, say).
    pub async fn call_at<C: SolCall>(&self, to: Address, c: C) -> C::Return {
        call(&self.ganache.url, to, c).await
    }

    /// Registers patients and verified practitioners.
    pub async fn register(&self, patients: &[&User], practitioners: &[&User]) {
        for p in patients {
            let encryption_key = p.encryption_key();
            let register = MedLedger::registerPatientCall {
                encryptionKey: encryption_key,
            };
            self.send(p, register).await;
        }
        for doc in practitioners {
            self.apply_as_practitioner(doc, B256::repeat_byte(1)).await;
            self.verify(doc).await;
        }
    }

    /// `who` applies as a practitioner with the profile whose hash is `profile`.
    pub async fn apply_as_practitioner(&self, who: &User, profile: B256) {
        let encryption_key = who.encryption_key();
        let apply = MedLedger::applyAsPractitionerCall {
            encryptionKey: encryption_key,
            profileHash: profile,
        };
        self.send(who, apply).await;
    }

    /// `who` applies as an insurer with the profile whose hash is `profile`; the admin verifies.
    pub async fn register_insurer(&self, who: &User, profile: B256) {
        let apply = MedLedger::applyAsInsurerCall::new((who.encryption_key(), profile));
        self.send(who, apply).await;
        self.verify(who).await;
    }

    /// The admin (account 0) verifies `who`'s application.
    pub async fn verify(&self, who: &User) {
        let account = who.address();
        let verify = MedLedger::verifyAccountCall { account };
        self.send(&User::new(ADMIN), verify).await;
    }

    /// The admin suspends `who`, for the reason whose hash is `reason`.
    pub async fn suspend(&self, who: &User, reason: B256) {
        let account = who.address();
        let suspend = MedLedger::suspendAccountCall {
            account,
            reasonHash: reason,
        };
        self.send(&User::new(ADMIN), suspend).await;
    }

    /// The admin reinstates `who`.
    pub async fn reinstate(&self, who: &User) {
        let account = who.address();
        let reinstate = MedLedger::reinstateAccountCall { account };
        self.send(&User::new(ADMIN), reinstate).await;
    }

    /// `patient` grants `grantee` the `categories` (and write, when asked) until `expiry`.
    pub async fn grant(
        &self,
        patient: &User,
        grantee: &User,
        categories: &[Category],
        allow_write: bool,
        expiry: u64,
    ) -> Value {
        let grant = MedLedger::grantCall {
            grantee: grantee.address(),
            categories: Category::mask(categories.iter().copied()),
            allowWrite: allow_write,
            expiry,
        };
        self.send(patient, grant).await
    }

    /// `patient` grants `grantee` the `categories` (and write, when asked) for a day of chain time.
    pub async fn grant_for_a_day(
        &self,
        patient: &User,
        grantee: &User,
        categories: &[Category],
        allow_write: bool,
    ) {
        let expiry = self.chain_time().await + 86_400;
        self.grant(patient, grantee, categories, allow_write, expiry)
            .await;
    }

    /// `patient` revokes `grantee`'s grant.
    pub async fn revoke(&self, patient: &User, grantee: &User) {
        let grantee = grantee.address();
        self.send(patient, MedLedger::revokeCall { grantee }).await;
    }

    /// `patient` opts in to (or out of) emergency access.
    pub async fn opt_in_to_emergencies(&self, patient: &User, opted_in: bool) {
        let opt_in = MedLedger::setEmergencyOptInCall { optedIn: opted_in };
        self.send(patient, opt_in).await;
    }

    /// `practitioner` opens an emergency window on `patient`'s records.
    pub async fn open_emergency(&self, practitioner: &User, patient: &User) {
        let open = MedLedger::emergencyAccessCall {
            patient: patient.address(),
            reasonHash: B256::repeat_byte(0xee),
        };
        self.send(practitioner, open).await;
    }

    /// `patient` ends `practitioner`'s emergency window.
    pub async fn end_emergency(&self, patient: &User, practitioner: &User) {
        let practitioner = practitioner.address();
        let end = MedLedger::endEmergencyAccessCall { practitioner };
        self.send(patient, end).await;
    }

    /// `who` anchors `r` with `addRecord` under its own category.
    pub async fn anchor(&self, who: &User, r: &Record) {
        self.anchor_as(who, r, r.category).await;
    }

    /// `who` anchors `r`'s id, patient and hash with `addRecord` under `category`.
    pub async fn anchor_as(&self, who: &User, r: &Record, category: u8) {
        let add = MedLedger::addRecordCall {
            recordId: r.id,
            patient: r.patient,
            ciphertextHash: r.h1,
            category,
            supersedes: B256::ZERO,
        };
        self.send(who, add).await;
    }

    /// `patient` erases the record `id` on chain.
    pub async fn erase(&self, patient: &User, id: B256) {
        self.send(patient, MedLedger::eraseRecordCall { recordId: id })
            .await;
    }

    /// Waits until the chain holds the escrow's shred confirmation of `id`.
    pub async fn shred_confirmed(&self, id: B256) {
        eventually("the shred to be confirmed on chain", || async {
            let rec = self.call(MedLedger::recordOfCall { recordId: id }).await;
            rec.shredConfirmed.then_some(())
        })
        .await;
    }

    /// A record of `patient`'s in `category`, sealed the way the app seals one.
    pub fn record(&self, patient: &User, category: Category, body: impl Into<Vec<u8>>) -> Record {
        Record::new(&self.d, patient.address(), category.number(), body.into())
    }

    /// Sends `r`'s upload as `who` with wraps to `readers`.
    pub async fn upload(
        &self,
        server: &Server,
        who: &User,
        readers: &[&User],
        r: &Record,
    ) -> reqwest::Response {
        r.upload(server, who, &r.wraps(&self.d, readers))
            .send()
            .await
            .expect("upload")
    }

    /// Uploads `r` as `who` with wraps to `readers` (201 expected) and anchors it with
    /// `addRecord` from `who`'s account; waits until the escrow has it committed.
    pub async fn commit(&self, server: &Server, who: &User, readers: &[&User], r: &Record) {
        let resp = self.upload(server, who, readers, r).await;
        assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
        self.anchor(who, r).await;
        server.record_in_state(r.id, "committed").await;
    }

    /// Whether the contract's `verifyLogEntry` accepts an access-log entry as the API returned it
    /// (its anchor index, seq, entry hash and Merkle proof).
    pub async fn proof_accepted(&self, e: &Value) -> bool {
        self.call(MedLedger::verifyLogEntryCall {
            anchorIndex: U256::from(e["anchor"]["index"].as_u64().expect("anchor index")),
            seq: e["seq"].as_u64().expect("seq"),
            entryHash: e["entryHash"]
                .as_str()
                .expect("hash")
                .parse()
                .expect("hash"),
            proof: serde_json::from_value(e["proof"].clone()).expect("proof"),
        })
        .await
    }
}
