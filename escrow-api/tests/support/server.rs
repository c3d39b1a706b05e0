//! A running escrow and the requests the tests make of it.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use medledger_escrow_api::config::Config;
use medledger_escrow_api::db::{Index, RecordRow};
use medledger_escrow_api::server::App;
use serde_json::Value;

use super::{eventually, record_id, User, KEYS};

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

    /// Signs each of `users` in.
    pub async fn sign_in<'a>(&self, users: impl IntoIterator<Item = &'a mut User>) {
        for u in users {
            u.sign_in(self).await;
        }
    }

    /// The escrow's index, opened beside it.
    pub async fn index(&self) -> Index {
        Index::connect(&self.config.database_url())
            .await
            .expect("index")
    }

    /// The file that holds record `id`'s C2 in a local blob store, by the key its index row names.
    pub async fn blob_file(&self, id: B256) -> PathBuf {
        let row = self.index().await.record(id).await.expect("row");
        let key = row.and_then(|r| r.blob_key).expect("a blob key");
        PathBuf::from(self.config.blob_url()).join(key)
    }

    /// Waits until the index holds record `id` in `state`; returns its row.
    pub async fn record_in_state(&self, id: B256, state: &str) -> RecordRow {
        let index = self.index().await;
        eventually(&format!("the record to be {state}"), || async {
            let row = index.record(id).await.expect("row")?;
            (row.state.as_str() == state).then_some(row)
        })
        .await
    }

    /// An unauthenticated GET of `path`.
    pub async fn public(&self, path: &str) -> reqwest::Response {
        reqwest::get(self.url(path)).await.expect(path)
    }

    /// An unauthenticated GET of `path`, its JSON body.
    pub async fn public_json(&self, path: &str) -> Value {
        self.public(path).await.json().await.expect("json")
    }

    /// `who`'s GET of `path` (with their session, if any).
    pub async fn get(&self, who: &User, path: &str) -> reqwest::Response {
        who.get(self.url(path)).send().await.expect(path)
    }

    /// `who`'s GET of `path`, its JSON body.
    pub async fn get_json(&self, who: &User, path: &str) -> Value {
        self.get(who, path).await.json().await.expect("json")
    }

    /// `who`'s GET of `path`, which must answer 200 with JSON; that JSON.
    pub async fn get_ok(&self, who: &User, path: &str) -> Value {
        let r = self.get(who, path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.expect("json")
    }

    /// `who`'s read of record `id` (`GET /api/records/{id}`).
    pub async fn read(&self, who: &User, id: B256) -> reqwest::Response {
        self.get(who, &format!("/api/records/{id}")).await
    }

    /// `who`'s read of `range` (a Range header's value) of record `id`.
    pub async fn read_range(&self, who: &User, id: B256, range: &str) -> reqwest::Response {
        let read = who.get(self.url(&format!("/api/records/{id}")));
        read.header("range", range).send().await.expect("range")
    }

    /// `who` adds `wraps` to record `id` (`POST /api/records/{id}/wraps`).
    pub async fn add_wraps(&self, who: &User, id: B256, wraps: &[String]) -> reqwest::Response {
        let add = who.post(self.url(&format!("/api/records/{id}/wraps")));
        let body = serde_json::json!({ "wraps": wraps });
        add.json(&body).send().await.expect("add wraps")
    }

    /// `who` puts the off-chain profile `text`.
    pub async fn put_profile(&self, who: &User, text: &str) -> reqwest::Response {
        let put = who.put(self.url("/api/profile"));
        let body = serde_json::json!({ "profile": text });
        put.json(&body).send().await.expect("profile")
    }

    /// The records `who` may list of `patient`'s, as `GET /api/records?patient=` returns them.
    pub async fn listed_records(&self, who: &User, patient: Address) -> Vec<Value> {
        let v = self
            .get_ok(who, &format!("/api/records?patient={patient}"))
            .await;
        v["records"].as_array().expect("records").clone()
    }

    /// The patient's access-log entries as the patient sees them.
    pub async fn log_entries(&self, patient: &User) -> Vec<Value> {
        let v = self.get_ok(patient, "/api/access-log").await;
        v["entries"].as_array().expect("entries").clone()
    }

    /// The patient's access-log entries for `record` by `actor` with `action`.
    pub async fn entries_of(
        &self,
        patient: &User,
        actor: Address,
        record: B256,
        action: &str,
    ) -> Vec<Value> {
        let entries = self.log_entries(patient).await.into_iter();
        entries
            .filter(|e| {
                e["actor"].as_str().and_then(|a| a.parse::<Address>().ok()) == Some(actor)
                    && e["recordId"].as_str().and_then(|r| r.parse::<B256>().ok()) == Some(record)
                    && e["action"] == action
            })
            .collect()
    }
}

/// Who an access-log entry names as its actor: a user, or an address (zero for no session).
pub trait Actor {
    fn actor(&self) -> Address;
}

impl Actor for User {
    fn actor(&self) -> Address {
        self.address()
    }
}

impl Actor for Address {
    fn actor(&self) -> Address {
        *self
    }
}

/// Asserts the patient's log has a refused `action` by `actor` on `record` with `reason`.
pub async fn assert_refused(
    server: &Server,
    patient: &User,
    actor: &impl Actor,
    record: B256,
    action: &str,
    reason: &str,
) {
    let actor = actor.actor();
    let entries = server.entries_of(patient, actor, record, action).await;
    let found = entries
        .iter()
        .any(|e| e["granted"] == false && e["reason"] == reason);
    assert!(
        found,
        "no refused {action} by {actor} on {record} with reason {reason} in {entries:#?}"
    );
}

/// Asserts that `reader`'s read of `record` is answered `status`, and that the patient's log has
/// the refusal with `reason`.
pub async fn assert_read_refused(
    server: &Server,
    patient: &User,
    reader: &User,
    record: B256,
    status: u16,
    reason: &str,
) {
    assert_eq!(server.read(reader, record).await.status(), status);
    assert_refused(server, patient, reader, record, "read", reason).await;
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
