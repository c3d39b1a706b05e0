//! Records made the way the app makes them: a fresh DEK, the envelope sealed to the record's
//! context, the DEK wrapped to each reader.

use alloy_primitives::{hex, Address, B256};
use medledger_protocol::cipher::SecretKey;
use medledger_protocol::deployment::Deployment;
use medledger_protocol::envelope::{self, Metadata, RecordContext, RecordKind};
use medledger_protocol::wrap::{self, PublicKey, Purpose, WrapContext};

use super::{Server, User};

/// A record made the way the app makes one.
pub struct Record {
    pub id: B256,
    pub patient: Address,
    /// What the patient's app sealed.
    pub body: Vec<u8>,
    pub category: u8,
    pub dek: SecretKey,
    /// The envelope (what the escrow stores and releases) and its hash.
    pub c1: Vec<u8>,
    pub h1: B256,
}

pub fn record_id(n: u8) -> B256 {
    let mut b = [0u8; 32];
    medledger_protocol::cipher::fill_random(&mut b).expect("random");
    b[0] = n;
    B256::from(b)
}

/// The context a DEK is wrapped in for `reader` of the record `id` with `purpose`.
fn wrap_context(d: &Deployment, id: B256, reader: Address, purpose: Purpose) -> WrapContext {
    WrapContext {
        chain_id: d.chain_id,
        contract: d.address,
        record_id: id,
        reader,
        purpose,
    }
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
                let ctx = wrap_context(d, self.id, u.address(), Purpose::Reader);
                let w = wrap::wrap_dek(&self.dek, &u.keys.public(), &ctx).expect("wrap");
                format!("{}={}", u.address(), hex::encode_prefixed(w))
            })
            .collect()
    }

    /// `<reader>=<hex>` of the DEK wrapped to the escrow's break-glass key `key` (`0x` hex, as
    /// `/config.json` gives it) for `reader`, its break-glass reader.
    pub fn break_glass_wrap(&self, d: &Deployment, key: &str, reader: Address) -> String {
        let key: B256 = key.parse().expect("hex");
        let ctx = wrap_context(d, self.id, reader, Purpose::BreakGlass);
        let w = wrap::wrap_dek(&self.dek, &PublicKey(key.0), &ctx).expect("wrap");
        format!("{reader}={}", hex::encode_prefixed(w))
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

    /// The upload request's head as raw HTTP/1.1 (through the blank line), for a test that sends
    /// the body itself, part by part, on a connection of its own.
    pub fn raw_upload_head(
        &self,
        host: impl std::fmt::Display,
        who: &User,
        wraps: &[String],
    ) -> String {
        let mut head = format!(
            "PUT /api/records/{} HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nx-medledger-patient: {}\r\nx-medledger-category: {}\r\nx-medledger-h1: {}\r\n",
            self.id,
            who.cookie.as_deref().expect("signed in"),
            self.patient,
            self.category,
            self.h1
        );
        for wr in wraps {
            head.push_str(&format!("x-medledger-wrapped-dek: {wr}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.c1.len()
        ));
        head
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
        let ctx = wrap_context(d, self.id, reader.address(), Purpose::Reader);
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

    /// What `reader` makes of a release of this record (`resp`, a 200): the body of the C1 it
    /// carries, opened with the DEK it wraps to `reader`.
    pub async fn open(&self, d: &Deployment, reader: &User, resp: reqwest::Response) -> Vec<u8> {
        let wrap = resp.headers()["x-medledger-wrapped-dek"].to_str();
        let wrap = wrap.expect("ascii").to_string();
        let c1 = resp.bytes().await.expect("body").to_vec();
        self.open_release(d, reader, &wrap, &c1)
    }
}
