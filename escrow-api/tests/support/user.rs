//! Wallet users: Ganache's deterministic accounts, each with an X25519 encryption key and, once
//! signed in, a session cookie.

use alloy_primitives::{hex, Address, B256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use medledger_protocol::identity::{format_rfc3339, SiweMessage};
use medledger_protocol::wrap::KeyPair;
use serde_json::{json, Value};

use super::{Server, KEYS};

/// A wallet user: a Ganache account, its X25519 encryption key and its session cookie.
pub struct User {
    pub signer: PrivateKeySigner,
    pub keys: KeyPair,
    pub cookie: Option<String>,
    pub http: reqwest::Client,
}

/// The users of these accounts, in this order.
pub fn users<const N: usize>(accounts: [usize; N]) -> [User; N] {
    accounts.map(User::new)
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

    /// A user of a new random account, which holds no ether (a patient of sponsored
    /// transactions).
    pub fn without_ether() -> User {
        User {
            signer: PrivateKeySigner::random(),
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

    /// Whether `v` (a JSON address, in any case) is this user's address.
    pub fn is(&self, v: &Value) -> bool {
        v.as_str().and_then(|a| a.parse::<Address>().ok()) == Some(self.address())
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
        let signature = hex::encode_prefixed(sig.as_bytes());
        self.verify(server, json!({"message": message, "signature": signature}))
            .await
    }

    /// Posts `body` to the sign-in route; returns the response.
    pub async fn verify(&self, server: &Server, body: Value) -> reqwest::Response {
        let verify = self.http.post(server.url("/api/auth/verify"));
        verify.json(&body).send().await.expect("verify")
    }

    /// `message` signed by this user's own key.
    pub async fn post_own_siwe(&self, server: &Server, message: &str) -> reqwest::Response {
        self.post_siwe(server, message, &self.signer.clone()).await
    }

    /// Keeps the session cookie a successful sign-in set.
    pub fn keep_cookie(&mut self, response: &reqwest::Response) {
        let set = response.headers().get("set-cookie");
        let set = set.expect("a session cookie").to_str().expect("ascii");
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Strict"), "{set}");
        let pair = set.split(';').next().expect("cookie pair").to_string();
        self.cookie = Some(pair);
    }

    /// Signs in, keeps the session cookie and accepts the licence agreement when the session says
    /// the current version is not accepted yet: every endpoint but sign-in and the agreement
    /// asks for it.
    pub async fn sign_in(&mut self, server: &Server) {
        let session = self.sign_in_only(server).await;
        if session["agreement"]["accepted"] != session["agreement"]["current"] {
            let accepted = self.accept_agreement(server).await;
            assert_eq!(accepted.status(), 200, "agreement refused");
        }
    }

    /// Signs in and keeps the session cookie, accepting nothing; returns the session.
    pub async fn sign_in_only(&mut self, server: &Server) -> Value {
        let msg = self.siwe(server).await.to_string();
        let response = self.post_own_siwe(server, &msg).await;
        assert_eq!(response.status(), 200, "sign-in refused");
        self.keep_cookie(&response);
        response.json().await.expect("session json")
    }

    /// The acceptance of the current agreement (as `GET /api/agreement` serves it) at `at`,
    /// signed by this user's wallet: the body of `POST /api/agreement`.
    pub async fn agreement_acceptance(&self, server: &Server, at: u64) -> Value {
        use medledger_protocol::identity::AgreementAcceptanceMessage;
        let get = |path: &str| self.get(server.url(path)).send();
        let text: Value = get("/api/agreement")
            .await
            .expect("agreement")
            .json()
            .await
            .expect("json");
        let config: Value = get("/config.json")
            .await
            .expect("config")
            .json()
            .await
            .expect("json");
        let version = u32::try_from(text["version"].as_u64().expect("version")).expect("u32");
        let text_hash: B256 = text["textHash"]
            .as_str()
            .expect("hash")
            .parse()
            .expect("b256");
        let message = AgreementAcceptanceMessage {
            chain_id: config["chainId"].as_u64().expect("chain id"),
            contract: config["contract"]
                .as_str()
                .expect("contract")
                .parse()
                .expect("address"),
            account: self.address(),
            version,
            text_hash,
            accepted_at: at,
        };
        let sig = self
            .signer
            .sign_hash_sync(&message.signing_hash())
            .expect("sign");
        json!({
            "version": version,
            "textHash": text_hash,
            "acceptedAt": at,
            "signature": hex::encode_prefixed(sig.as_bytes()),
        })
    }

    /// Accepts the current agreement now; returns the response.
    pub async fn accept_agreement(&self, server: &Server) -> reqwest::Response {
        let now = u64::try_from(medledger_escrow_api::now_secs()).expect("time");
        let body = self.agreement_acceptance(server, now).await;
        self.post(server.url("/api/agreement"))
            .json(&body)
            .send()
            .await
            .expect("accept")
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

    pub fn with_cookie(&self, b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => b.header("cookie", c),
            None => b,
        }
    }
}
