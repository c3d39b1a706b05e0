//! What the load's users do, as goose transactions. A patient signs in, stores a first record
//! (uploaded, then anchored from their own account) and then, at random, lists and reads their
//! records, uploads another (4 KiB to 5 MiB, wrapped to everyone they have granted), grants a
//! practitioner (then wraps their records' keys to them, as the app does) or revokes one. A
//! practitioner signs in and opens charts: lists a patient who granted them and reads one record
//! wrapped to them. Each step is timed as its user sees it and noted in the [`Timeline`].

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use alloy_primitives::{hex, Address, B256};
use alloy_signer::SignerSync;
use alloy_sol_types::SolCall;
use goose::prelude::*;
use goose_reqwest::RequestBuilder;
use medledger_protocol::api;
use medledger_protocol::cipher::SecretKey;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::deployment::Deployment;
use medledger_protocol::identity::{format_rfc3339, SiweMessage};
use medledger_protocol::wrap::{self, PublicKey, Purpose, WrapContext};
use rand::Rng;
use serde_json::{json, Value};

use crate::node::Node;
use crate::people::{Grants, Pool};
use crate::support::Record;
use crate::timeline::{Op, Outcome, Timeline};

/// Everything the users share.
pub struct Shared {
    pub d: Deployment,
    pub node: std::sync::Arc<Node>,
    pub patients: Pool,
    pub practitioners: Pool,
    pub grants: Grants,
    pub timeline: Timeline,
    /// The escrow's base URL (the SIWE URI).
    pub escrow: String,
}

pub static SHARED: OnceLock<Shared> = OnceLock::new();

fn shared() -> &'static Shared {
    SHARED
        .get()
        .expect("the run's shared state is set before goose starts")
}

/// Upload sizes and their weights: mostly small documents, some scans.
const SIZES: [(usize, u32); 6] = [
    (4 << 10, 40),
    (16 << 10, 20),
    (64 << 10, 15),
    (256 << 10, 12),
    (1 << 20, 8),
    (5 << 20, 5),
];

/// How often the app sends a shed upload again (escrow::upload in the app).
const UPLOAD_ATTEMPTS: u32 = 5;

/// A record a patient stored: what they need to read it back and to wrap its key to a grantee.
#[derive(Clone)]
struct Held {
    id: B256,
    dek: SecretKey,
    h1: B256,
    size: usize,
}

#[derive(Clone)]
struct PatientSession {
    me: usize,
    records: Vec<Held>,
    /// Practitioners this patient has granted (mined).
    granted: Vec<usize>,
}

#[derive(Clone)]
struct PractitionerSession {
    me: usize,
}

fn custom(why: impl Into<String>) -> Box<TransactionError> {
    Box::new(TransactionError::Custom(why.into()))
}

/// Sends one request to the escrow through goose (which times it in its own metrics under
/// `name`): the status and the response.
async fn escrow(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    name: &str,
    build: impl FnOnce(RequestBuilder) -> RequestBuilder,
) -> Result<goose_reqwest::Response, String> {
    let builder = user
        .get_request_builder(&method, path)
        .map_err(|e| e.to_string())?;
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .set_request_builder(build(builder))
        .build();
    let sent = user.request(request).await.map_err(|e| e.to_string())?;
    sent.response.map_err(|e| e.to_string())
}

/// Signs in as `signer` (nonce, SIWE message, signature); goose's client keeps the cookie.
/// Signs in as `signer`; a 429 (sign-in rate limit) is waited out by its `Retry-After` and tried
/// again, up to five times.
async fn sign_in(
    user: &mut GooseUser,
    signer: &alloy_signer_local::PrivateKeySigner,
) -> Result<(), String> {
    for _ in 0..5 {
        match sign_in_once(user, signer).await? {
            None => return Ok(()),
            Some(wait) => tokio::time::sleep(wait).await,
        }
    }
    Err("sign-in refused five times (429)".into())
}

/// One sign-in (nonce, SIWE message, signature); goose's client keeps the cookie. None when
/// signed in; how long to wait when rate-limited.
async fn sign_in_once(
    user: &mut GooseUser,
    signer: &alloy_signer_local::PrivateKeySigner,
) -> Result<Option<Duration>, String> {
    let response = escrow(
        user,
        GooseMethod::Get,
        "/api/auth/nonce",
        "auth nonce",
        |b| b,
    )
    .await?;
    if response.status() == 429 {
        return Ok(Some(retry_after(&response)));
    }
    let nonce: Value = response.json().await.map_err(|e| e.to_string())?;
    let now = medledger_escrow_api::now_secs();
    let text = |k: &str| nonce[k].as_str().unwrap_or_default().to_string();
    let message = SiweMessage {
        domain: text("domain"),
        address: signer.address(),
        statement: Some("Sign in to medledger".into()),
        uri: shared().escrow.clone(),
        chain_id: nonce["chainId"].as_u64().unwrap_or_default(),
        nonce: text("nonce"),
        issued_at: format_rfc3339(now),
        expiration_time: Some(format_rfc3339(now + 3600)),
        not_before: None,
        request_id: None,
        resources: vec![],
    }
    .to_string();
    let signature = signer
        .sign_message_sync(message.as_bytes())
        .map_err(|e| e.to_string())?;
    let body = json!({"message": message, "signature": hex::encode_prefixed(signature.as_bytes())});
    let response = escrow(
        user,
        GooseMethod::Post,
        "/api/auth/verify",
        "auth verify",
        |b| b.json(&body),
    )
    .await?;
    match response.status().as_u16() {
        200 => {}
        429 => return Ok(Some(retry_after(&response))),
        s => return Err(format!("sign-in answered {s}")),
    }
    let session: api::SessionInfo = response.json().await.map_err(|e| e.to_string())?;
    if session.agreement.needs_acceptance() {
        accept_agreement(user, signer).await?;
    }
    Ok(None)
}

/// Accepts the licence agreement's current version, as the app does at a first sign-in: every
/// request but sign-in needs it (docs/licensing.md, "The agreement").
async fn accept_agreement(
    user: &mut GooseUser,
    signer: &alloy_signer_local::PrivateKeySigner,
) -> Result<(), String> {
    let response = escrow(user, GooseMethod::Get, "/api/agreement", "agreement", |b| b).await?;
    let text: api::agreement::AgreementText = response.json().await.map_err(|e| e.to_string())?;
    let accepted_at = u64::try_from(medledger_escrow_api::now_secs()).unwrap_or_default();
    let message = medledger_protocol::identity::AgreementAcceptanceMessage {
        chain_id: shared().d.chain_id,
        contract: shared().d.address,
        account: signer.address(),
        version: text.version,
        text_hash: text.text_hash,
        accepted_at,
    };
    let signature = signer
        .sign_hash_sync(&message.signing_hash())
        .map_err(|e| e.to_string())?;
    let body = api::agreement::AcceptAgreementBody {
        version: text.version,
        text_hash: text.text_hash,
        accepted_at,
        signature: hex::encode_prefixed(signature.as_bytes()),
    };
    let response = escrow(
        user,
        GooseMethod::Post,
        "/api/agreement",
        "agreement accept",
        |b| b.json(&body),
    )
    .await?;
    match response.status().as_u16() {
        200 => Ok(()),
        s => Err(format!("the agreement's acceptance answered {s}")),
    }
}

/// The response's `Retry-After` (1 s when it has none) plus up to a second of jitter, as the app
/// waits before it sends again.
fn retry_after(response: &goose_reqwest::Response) -> Duration {
    let header = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok());
    let secs: u64 = header.and_then(|v| v.parse().ok()).unwrap_or(1);
    Duration::from_secs(secs) + Duration::from_millis(rand::thread_rng().gen_range(0..1000))
}

/// Runs `step` as `op`: notes Ok, the refusal (403/404/410) or the failure.
async fn timed<F: std::future::Future<Output = Result<(), Step>>>(op: Op, step: F) {
    let started = Instant::now();
    let t = &shared().timeline;
    match step.await {
        Ok(()) => t.note(op, started, Outcome::Ok),
        Err(Step::Refused(s)) => t.note(op, started, Outcome::Refused(s)),
        Err(Step::Failed(why)) => t.failed(op, started, &why),
    }
}

/// How a step went wrong.
enum Step {
    Refused(u16),
    Failed(String),
}

impl From<String> for Step {
    fn from(why: String) -> Step {
        Step::Failed(why)
    }
}

/// The status of `response` as a step's end: Ok on `expected`, a refusal on 403, 404 or 410,
/// otherwise a failure with the body's error.
async fn expect(
    response: goose_reqwest::Response,
    expected: u16,
) -> Result<goose_reqwest::Response, Step> {
    match response.status().as_u16() {
        s if s == expected => Ok(response),
        s @ (403 | 404 | 410) => Err(Step::Refused(s)),
        s => Err(Step::Failed(format!(
            "HTTP {s}: {}",
            response.text().await.unwrap_or_default()
        ))),
    }
}

/// GETs `path` (named `name` in goose's metrics) and reads its 200 answer as `T`.
async fn get_json<T: serde::de::DeserializeOwned>(
    user: &mut GooseUser,
    path: &str,
    name: &str,
) -> Result<T, Step> {
    let response = escrow(user, GooseMethod::Get, path, name, |b| b).await?;
    let response = expect(response, 200).await?;
    Ok(response.json().await.map_err(|e| e.to_string())?)
}

// ------------------------------------------------------------------ patients

/// Takes the next person of `pool` for this user and signs in as them: their index.
async fn take_and_sign_in(
    user: &mut GooseUser,
    pool: &'static Pool,
) -> Result<usize, Box<TransactionError>> {
    let me = pool
        .take()
        .ok_or_else(|| custom("more users than people of their role"))?;
    let started = Instant::now();
    if let Err(why) = sign_in(user, &pool.people[me].signer).await {
        shared().timeline.failed(Op::SignIn, started, &why);
        return Err(custom(why));
    }
    shared().timeline.note(Op::SignIn, started, Outcome::Ok);
    Ok(me)
}

pub async fn patient_start(user: &mut GooseUser) -> TransactionResult {
    let me = take_and_sign_in(user, &shared().patients).await?;
    // The setup granted each patient's first practitioner (patient i to practitioner i mod n).
    let first = me % shared().practitioners.people.len();
    user.set_session_data(PatientSession {
        me,
        records: Vec::new(),
        granted: vec![first],
    });
    store_record(user, 4 << 10).await;
    Ok(())
}

/// What a patient does next, and how often (out of 100).
const PATIENT_MIX: [(PatientOp, u32); 5] = [
    (PatientOp::List, 35),
    (PatientOp::Read, 30),
    (PatientOp::Upload, 15),
    (PatientOp::Grant, 10),
    (PatientOp::Revoke, 5),
];

#[derive(Clone, Copy)]
enum PatientOp {
    List,
    Read,
    Upload,
    Grant,
    Revoke,
}

/// The item of `weighted` a random roll lands on.
fn pick<T: Copy>(weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|w| w.1).sum();
    let mut roll = rand::thread_rng().gen_range(0..total);
    for &(item, weight) in weighted {
        if roll < weight {
            return item;
        }
        roll -= weight;
    }
    weighted[weighted.len() - 1].0
}

/// One patient action, drawn from [`PATIENT_MIX`] (one goose transaction, so that the mix is
/// random for every user rather than the same sequence for all).
pub async fn patient_act(user: &mut GooseUser) -> TransactionResult {
    started::<PatientSession>(user)?;
    match pick(&PATIENT_MIX) {
        PatientOp::List => patient_list(user).await,
        PatientOp::Read => patient_read(user).await,
        PatientOp::Upload => patient_upload(user).await,
        PatientOp::Grant => patient_grant(user).await,
        PatientOp::Revoke => patient_revoke(user).await,
    }
}

fn patient(user: &mut GooseUser) -> &mut PatientSession {
    user.get_session_data_unchecked_mut::<PatientSession>()
}

/// Whether this user's start (sign-in, first record) set up its session; a user whose start
/// failed does nothing more (the failure is already noted).
fn started<T: goose::goose::GooseUserData>(user: &GooseUser) -> Result<(), Box<TransactionError>> {
    match user.get_session_data::<T>() {
        Some(_) => Ok(()),
        None => Err(custom("this user never signed in")),
    }
}

async fn patient_list(user: &mut GooseUser) -> TransactionResult {
    timed(Op::PatientList, async {
        let list: api::RecordList = get_json(user, "/api/records", "list own records").await?;
        let n = list.records.len();
        let held = patient(user).records.len();
        // Every record the patient stored is listed (pending ones included).
        match n >= held {
            true => Ok(()),
            false => Err(Step::Failed(format!("{n} records listed, {held} stored"))),
        }
    })
    .await;
    Ok(())
}

/// Reads `id` in full as the session's user and checks it is the record stored: its size and h1.
async fn read_record(
    user: &mut GooseUser,
    id: B256,
    h1: B256,
    size: Option<usize>,
    name: &str,
) -> Result<(), Step> {
    let path = format!("/api/records/{id}");
    let response = escrow(user, GooseMethod::Get, &path, name, |b| b).await?;
    let response = expect(response, 200).await?;
    let header = response
        .headers()
        .get("x-medledger-h1")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    let same_h1 = header.and_then(|h| h.parse::<B256>().ok()) == Some(h1);
    let same_size = size.is_none_or(|s| s == body.len());
    match same_h1 && same_size {
        true => Ok(()),
        false => Err(Step::Failed(format!(
            "record {id} came back different ({} bytes)",
            body.len()
        ))),
    }
}

async fn patient_read(user: &mut GooseUser) -> TransactionResult {
    let pick = {
        let records = &patient(user).records;
        match records.is_empty() {
            true => None,
            false => {
                let r = &records[rand::thread_rng().gen_range(0..records.len())];
                Some((r.id, r.h1, r.size))
            }
        }
    };
    if let Some((id, h1, size)) = pick {
        timed(
            Op::PatientRead,
            read_record(user, id, h1, Some(size), "read own record"),
        )
        .await;
    }
    Ok(())
}

async fn patient_upload(user: &mut GooseUser) -> TransactionResult {
    store_record(user, pick(&SIZES)).await;
    Ok(())
}

/// Record `id`'s key wrapped to `reader`'s `key`: `<reader>=0x<wrap>`, as an upload header or a
/// wraps item carries it.
fn wrap_to(
    d: &Deployment,
    id: B256,
    dek: &SecretKey,
    reader: Address,
    key: &PublicKey,
) -> Result<String, String> {
    let ctx = WrapContext {
        chain_id: d.chain_id,
        contract: d.address,
        record_id: id,
        reader,
        purpose: Purpose::Reader,
    };
    let w = wrap::wrap_dek(dek, key, &ctx).map_err(|e| e.to_string())?;
    Ok(format!("{reader}={}", hex::encode_prefixed(w)))
}

/// Seals a record of `size` bytes, uploads it (wrapped to the patient and everyone they granted;
/// sent again after a shed, as the app does) and anchors it with `addRecord`.
async fn store_record(user: &mut GooseUser, size: usize) {
    let s = shared();
    let (me, granted) = {
        let p = patient(user);
        (p.me, p.granted.clone())
    };
    let person = &s.patients.people[me];
    let category = Category::ALL[rand::thread_rng().gen_range(0..Category::ALL.len())];
    let r = Record::new(
        &s.d,
        person.address(),
        category.number(),
        vec![(size % 251) as u8; size],
    );
    let mut readers = vec![(person.address(), person.keys.public())];
    readers.extend(granted.iter().map(|&g| {
        let p = &s.practitioners.people[g];
        (p.address(), p.keys.public())
    }));
    let wraps: Result<Vec<String>, String> = readers
        .iter()
        .map(|(a, k)| wrap_to(&s.d, r.id, &r.dek, *a, k))
        .collect();
    let Ok(wraps) = wraps else {
        return s
            .timeline
            .failed(Op::Upload, Instant::now(), "wrapping the key failed");
    };
    if !upload(user, &r, &wraps).await {
        return;
    }
    // Held from here on: an anchor given up on may still be mined later, and the escrow then
    // lists the record (and asks for its wraps) like any other.
    let (id, h1, size) = (r.id, r.h1, r.c1.len());
    let add = MedLedger::addRecordCall::new((r.id, r.patient, r.h1, r.category, B256::ZERO));
    patient(user).records.push(Held {
        id,
        dek: r.dek,
        h1,
        size,
    });
    let started = Instant::now();
    match s.node.transact(person.address(), add).await {
        Ok(()) => s.timeline.note(Op::Anchor, started, Outcome::Ok),
        Err(why) => s.timeline.failed(Op::Anchor, started, &why),
    }
}

/// Uploads `r` with `wraps`: true once the escrow answered 201. A shed attempt (503 `busy`) is
/// noted and sent again after its `Retry-After` plus up to a second of jitter.
async fn upload(user: &mut GooseUser, r: &Record, wraps: &[String]) -> bool {
    let t = &shared().timeline;
    let started = Instant::now();
    let path = format!("/api/records/{}", r.id);
    for _ in 0..UPLOAD_ATTEMPTS {
        let attempt = Instant::now();
        let sent = escrow(user, GooseMethod::Put, &path, "upload", |mut b| {
            b = b
                .header("x-medledger-patient", r.patient.to_string())
                .header("x-medledger-category", r.category.to_string())
                .header("x-medledger-h1", r.h1.to_string());
            for w in wraps {
                b = b.header("x-medledger-wrapped-dek", w);
            }
            b.body(r.c1.clone())
        })
        .await;
        let response = match sent {
            Ok(response) => response,
            Err(why) => {
                t.failed(Op::Upload, started, &why);
                return false;
            }
        };
        match response.status().as_u16() {
            201 => {
                t.note(Op::Upload, started, Outcome::Ok);
                return true;
            }
            503 => {
                t.note(Op::Upload, attempt, Outcome::Shed);
                tokio::time::sleep(retry_after(&response)).await;
            }
            s => {
                let body = response.text().await.unwrap_or_default();
                t.failed(Op::Upload, started, &format!("HTTP {s}: {body}"));
                return false;
            }
        }
    }
    t.failed(Op::Upload, started, "shed five times");
    false
}

async fn patient_grant(user: &mut GooseUser) -> TransactionResult {
    let s = shared();
    let (me, granted) = {
        let p = patient(user);
        (p.me, p.granted.clone())
    };
    let n = s.practitioners.people.len();
    let candidate = rand::thread_rng().gen_range(0..n);
    if granted.contains(&candidate) {
        return Ok(());
    }
    let practitioner = &s.practitioners.people[candidate];
    let expiry = crate::node::a_day_from_now();
    let all = Category::mask(Category::ALL);
    let grant = MedLedger::grantCall::new((practitioner.address(), all, false, expiry));
    let started = Instant::now();
    if let Err(why) = s
        .node
        .transact(s.patients.people[me].address(), grant)
        .await
    {
        s.timeline.failed(Op::Grant, started, &why);
        return Ok(());
    }
    s.timeline.note(Op::Grant, started, Outcome::Ok);
    patient(user).granted.push(candidate);
    timed(Op::AddWraps, add_wraps(user, candidate)).await;
    s.grants.add(candidate, me);
    Ok(())
}

/// What the app does after a grant: asks which records the grantee lacks a key for and wraps
/// each one's key to them.
async fn add_wraps(user: &mut GooseUser, grantee: usize) -> Result<(), Step> {
    let s = shared();
    let who = &s.practitioners.people[grantee];
    let missing: api::MissingWraps = get_json(user, "/api/wraps/missing", "wraps missing").await?;
    let ids: Vec<B256> = missing
        .missing
        .iter()
        .filter(|m| m.grantee == who.address())
        .map(|m| m.record_id)
        .collect();
    for id in ids {
        let wrap = {
            let held = patient(user).records.iter().find(|h| h.id == id);
            let held = held.ok_or_else(|| {
                format!("the escrow lists a record {id} this patient never stored")
            })?;
            wrap_to(&s.d, id, &held.dek, who.address(), &who.keys.public())?
        };
        let path = format!("/api/records/{id}/wraps");
        let body = api::AddWraps { wraps: vec![wrap] };
        let response = escrow(user, GooseMethod::Post, &path, "add wraps", |b| {
            b.json(&body)
        })
        .await?;
        expect(response, 200).await?;
    }
    Ok(())
}

async fn patient_revoke(user: &mut GooseUser) -> TransactionResult {
    let s = shared();
    let (me, granted) = {
        let p = patient(user);
        (p.me, p.granted.clone())
    };
    if granted.is_empty() {
        return Ok(());
    }
    let practitioner = granted[rand::thread_rng().gen_range(0..granted.len())];
    // Withdrawn from the practitioners' view first: from the next block on they are refused.
    s.grants.remove(practitioner, me);
    patient(user).granted.retain(|&g| g != practitioner);
    let revoke = MedLedger::revokeCall::new((s.practitioners.people[practitioner].address(),));
    let started = Instant::now();
    match s
        .node
        .transact(s.patients.people[me].address(), revoke)
        .await
    {
        Ok(()) => s.timeline.note(Op::Revoke, started, Outcome::Ok),
        Err(why) => s.timeline.failed(Op::Revoke, started, &why),
    }
    Ok(())
}

// ------------------------------------------------------------------ practitioners

pub async fn practitioner_start(user: &mut GooseUser) -> TransactionResult {
    let me = take_and_sign_in(user, &shared().practitioners).await?;
    user.set_session_data(PractitionerSession { me });
    Ok(())
}

/// Opens a chart: lists the records of a patient who granted this practitioner, then reads one
/// of those wrapped to them.
pub async fn practitioner_open_chart(user: &mut GooseUser) -> TransactionResult {
    started::<PractitionerSession>(user)?;
    let me = user.get_session_data_unchecked::<PractitionerSession>().me;
    let s = shared();
    let Some(patient) = s.grants.pick(me) else {
        return Ok(());
    };
    let address = s.patients.people[patient].address();
    let mut readable: Vec<(B256, B256)> = Vec::new();
    timed(Op::PractitionerList, async {
        let path = format!("/api/records?patient={address}");
        let list: api::RecordList = get_json(user, &path, "list a patient's records").await?;
        readable = list
            .records
            .iter()
            .filter(|r| r.wrapped_to_you)
            .map(|r| (r.record_id, r.h1))
            .collect();
        Ok(())
    })
    .await;
    if readable.is_empty() {
        return Ok(());
    }
    let (id, h1) = readable[rand::thread_rng().gen_range(0..readable.len())];
    timed(
        Op::PractitionerRead,
        read_record(user, id, h1, None, "read a patient's record"),
    )
    .await;
    Ok(())
}
