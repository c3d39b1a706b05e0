//! The escrow API client (docs/api.md): sign-in, the licence agreement, record upload with
//! progress, streamed download, wraps, grants, the access log, reads held for the patient's
//! approval and profiles. The session is an HttpOnly cookie the browser keeps; this module never
//! sees it.

use alloy_primitives::{Address, B256};
use js_sys::{Promise, Reflect, Uint8Array};
use medledger_protocol::record_root::Place;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Headers, ReadableStreamDefaultReader, Request, RequestCredentials, RequestInit, Response,
};

use crate::explain;
use medledger_protocol::api;
pub use medledger_protocol::api::agreement::{
    AcceptAgreementBody, AgreementAcceptance, AgreementText,
};
/// The API's shapes, shared with the escrow (protocol::api): one type per body, at both ends.
pub use medledger_protocol::api::{
    AccessLog, ClaimSummary, DirectoryEntry, GrantSummary, Grants, Hold, HoldDecisionBody, Holds,
    LogEntry, LogGap, MissingWrap, RecordSummary, SessionInfo as Session,
};

/// An escrow refusal or a failure to reach it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.explain())]
pub struct EscrowError {
    /// HTTP status; 0 when the escrow could not be reached.
    pub status: u16,
    /// The API's error code (`no-read-consent`, `erased`, `held-for-approval`, `hold-denied`…),
    /// or `network`.
    pub code: String,
    /// The API's message.
    pub message: String,
}

impl EscrowError {
    fn network(message: impl Into<String>) -> Self {
        Self {
            status: 0,
            code: "network".into(),
            message: message.into(),
        }
    }

    fn explain(&self) -> String {
        if self.status == 0 {
            format!(
                "The escrow cannot be reached ({}). Check your connection; nothing was lost, retry when it is back.",
                self.message
            )
        } else {
            explain::escrow_error_text(&self.code, self.status)
        }
    }
}

fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| {
            Reflect::get(v, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "unknown error".into())
}

async fn fetch(method: &str, path: &str, body: Option<&Value>) -> Result<Response, EscrowError> {
    fetch_with(method, path, body, &[]).await
}

/// How many times a request the escrow answered 429 `rate-limited` is sent again, each after the
/// `Retry-After` it named, before the person is told: enough for a bulk import or a clinical
/// summary of thousands of records to pace itself to the escrow's per-account rate (a request
/// waits a few seconds at most there), few enough that a refusal that lasts is said within
/// minutes.
const RATE_RETRIES: u32 = 60;

/// The longest `Retry-After` worth waiting for in the background; a longer one (the per-address
/// sign-in limit names up to an hour) is handed to the person at once.
const MOST_RETRY_AFTER_SECS: i32 = 10;

/// Whether a 429 is worth sending again: not a sign-in (its nonce would expire while waiting,
/// hiding the real reason), and not when the escrow asks for a long wait.
fn worth_retrying(path: &str, retry_after: Option<&str>) -> bool {
    let secs = retry_after
        .and_then(|s| s.trim().parse::<i32>().ok())
        .unwrap_or(1);
    !path.starts_with("/api/auth/") && secs <= MOST_RETRY_AFTER_SECS
}

/// The wait a 429 or 503 names in `Retry-After` (seconds, at least 1, at most 60), plus up to a
/// second of jitter so that requests refused together do not all come back in the same instant.
fn retry_wait_ms(retry_after: Option<String>) -> i32 {
    let secs = retry_after
        .and_then(|s| s.trim().parse::<i32>().ok())
        .unwrap_or(1);
    1000 * secs.clamp(1, 60) + (js_sys::Math::random() * 1000.0) as i32
}

thread_local! {
    /// The pace of this page's requests ([`crate::pace`]), set from `/config.json`.
    static PACER: std::cell::RefCell<crate::pace::Pacer> = std::cell::RefCell::new(crate::pace::Pacer::default());
}

/// Paces this page's requests below the escrow's rate limit of `per_minute` and `burst`.
pub fn set_pace(per_minute: u32, burst: u32) {
    PACER.with(|p| *p.borrow_mut() = crate::pace::Pacer::new(per_minute, burst));
}

/// Waits for this request's turn under the pace.
async fn paced() {
    let wait = PACER.with(|p| p.borrow_mut().take(js_sys::Date::now()));
    if wait > 0.0 {
        super::wallet::sleep_ms(wait.ceil().min(f64::from(i32::MAX)) as i32).await;
    }
}

/// [`fetch_once`] in its turn ([`paced`]), sent again after the named wait while the escrow
/// answers 429: the per-account rate limit refuses a request before doing anything, so sending it
/// again is safe.
async fn fetch_with(
    method: &str,
    path: &str,
    body: Option<&Value>,
    extra_headers: &[(&str, &str)],
) -> Result<Response, EscrowError> {
    let mut refused = 0;
    loop {
        paced().await;
        let response = fetch_once(method, path, body, extra_headers).await?;
        let retry_after = response.headers().get("retry-after").ok().flatten();
        let again = refused < RATE_RETRIES && worth_retrying(path, retry_after.as_deref());
        if response.status() != 429 || !again {
            return Ok(response);
        }
        refused += 1;
        super::wallet::sleep_ms(retry_wait_ms(retry_after)).await;
    }
}

async fn fetch_once(
    method: &str,
    path: &str,
    body: Option<&Value>,
    extra_headers: &[(&str, &str)],
) -> Result<Response, EscrowError> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::SameOrigin);
    let headers = Headers::new().map_err(|e| EscrowError::network(js_text(&e)))?;
    if let Some(body) = body {
        let _ = headers.set("content-type", "application/json");
        init.set_body(&JsValue::from_str(&body.to_string()));
    }
    for (k, v) in extra_headers {
        let _ = headers.set(k, v);
    }
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(path, &init)
        .map_err(|e| EscrowError::network(js_text(&e)))?;
    let window = web_sys::window().ok_or_else(|| EscrowError::network("no window"))?;
    let response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|e| EscrowError::network(js_text(&e)))?;
    response
        .dyn_into::<Response>()
        .map_err(|_| EscrowError::network("not a response"))
}

async fn text_of(response: &Response) -> String {
    match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn error_of(response: &Response) -> EscrowError {
    let body: Value = serde_json::from_str(&text_of(response).await).unwrap_or(Value::Null);
    refusal(response.status(), &body)
}

/// The error code of every request refused until the account accepts the current licence
/// agreement.
pub const AGREEMENT_REQUIRED: &str = "agreement-required";

thread_local! {
    /// What the app does when the escrow refuses a request with [`AGREEMENT_REQUIRED`].
    static ON_AGREEMENT_REQUIRED: std::cell::RefCell<Option<std::rc::Rc<dyn Fn()>>> =
        std::cell::RefCell::new(None);
}

/// Runs `f` each time the escrow refuses a request because the account has not accepted the
/// current licence agreement (a new version published while it was signed in).
pub fn on_agreement_required(f: impl Fn() + 'static) {
    ON_AGREEMENT_REQUIRED.with(|h| *h.borrow_mut() = Some(std::rc::Rc::new(f)));
}

/// The escrow's refusal with `status` and the error body `body`; one that asks for the licence
/// agreement also tells the app ([`on_agreement_required`]).
fn refusal(status: u16, body: &Value) -> EscrowError {
    let error = EscrowError {
        status,
        code: body["error"].as_str().unwrap_or("http-error").to_string(),
        message: body["message"].as_str().unwrap_or("").to_string(),
    };
    if error.code == AGREEMENT_REQUIRED {
        // Taken out first: the hook may lead to more requests.
        if let Some(hook) = ON_AGREEMENT_REQUIRED.with(|h| h.borrow().clone()) {
            hook();
        }
    }
    error
}

async fn json_call<T: for<'de> Deserialize<'de>>(
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<T, EscrowError> {
    let response = fetch(method, path, body).await?;
    if !response.ok() {
        return Err(error_of(&response).await);
    }
    let text = text_of(&response).await;
    serde_json::from_str(&text).map_err(|e| EscrowError {
        status: response.status(),
        code: "bad-response".into(),
        message: e.to_string(),
    })
}

/// `/config.json`: where the chain and contract are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppConfig {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The RPC URL the wallet should use for this chain.
    pub rpc_url: String,
    /// The core MedLedger contract's address.
    pub contract: Address,
    /// The insurance contract's address (policies, claims, payouts).
    pub insurance: Address,
    /// The licensing contract's address (organisations, seats, enrolments); absent from an
    /// escrow older than licensing.
    #[serde(default)]
    pub licensing: Option<Address>,
    /// The ERC-2771 forwarder the core trusts (sponsored transactions); absent from an escrow
    /// older than them.
    #[serde(default)]
    pub forwarder: Option<Address>,
    /// The deployment's network name.
    pub network: String,
    /// The block the contracts were deployed in: where a search of their event logs starts.
    #[serde(default)]
    pub deploy_block: u64,
    /// The escrow's per-account rate limit (0: none), which the app paces itself below.
    #[serde(default)]
    pub rate_limit_per_minute: u32,
    /// Its burst allowance.
    #[serde(default)]
    pub rate_limit_burst: u32,
    /// The escrow's break-glass X25519 public key (`0x` hex), when it has one.
    #[serde(default)]
    pub break_glass_key: Option<String>,
    /// The reader address break-glass wraps are bound to.
    #[serde(default)]
    pub break_glass_reader: Option<Address>,
}

impl AppConfig {
    /// The escrow's break-glass reader and key, when it has both: what a patient who opted in to
    /// emergency access also wraps each record's key for.
    pub fn break_glass(&self) -> Option<(Address, medledger_protocol::wrap::PublicKey)> {
        let reader = self.break_glass_reader?;
        let key = alloy_primitives::hex::decode(self.break_glass_key.as_deref()?).ok()?;
        let key: [u8; 32] = key.try_into().ok()?;
        Some((reader, medledger_protocol::wrap::PublicKey(key)))
    }
}

/// Loads `/config.json`.
pub async fn config() -> Result<AppConfig, EscrowError> {
    json_call("GET", "/config.json", None).await
}

#[derive(Deserialize)]
struct SiweText {
    message: String,
}

/// The exact SIWE text for `address` with a fresh nonce.
pub async fn sign_in_message(address: Address) -> Result<String, EscrowError> {
    let t: SiweText = json_call(
        "GET",
        &format!("/api/auth/message?address={}", address.to_checksum(None)),
        None,
    )
    .await?;
    Ok(t.message)
}

/// Sends the signed SIWE message; the session cookie is set by the answer.
pub async fn verify(message: &str, signature: &[u8]) -> Result<Session, EscrowError> {
    json_call(
        "POST",
        "/api/auth/verify",
        Some(&json!({"message": message, "signature": format!("0x{}", alloy_primitives::hex::encode(signature))})),
    )
    .await
}

/// The current session, if the cookie still holds one.
pub async fn session() -> Result<Option<Session>, EscrowError> {
    match json_call::<Session>("GET", "/api/auth/session", None).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.status == 401 => Ok(None),
        Err(e) => Err(e),
    }
}

/// The current version of the licence agreement, its text and hash, and what the caller accepted.
pub async fn agreement() -> Result<AgreementText, EscrowError> {
    json_call("GET", "/api/agreement", None).await
}

/// Sends the signed-in account's signed acceptance of the current version; the answer is the
/// acceptance as the escrow stored it.
pub async fn accept_agreement(
    body: &AcceptAgreementBody,
) -> Result<AgreementAcceptance, EscrowError> {
    json_call("POST", "/api/agreement", Some(&json!(body))).await
}

/// What the relayer offers the signed-in account (sponsored transactions).
pub async fn relay_status() -> Result<api::relay::RelayStatus, EscrowError> {
    json_call("GET", "/api/relay", None).await
}

/// Has the relayer send a signed forward request, paying its gas; answers once it is mined.
pub async fn relay(body: &api::relay::RelayBody) -> Result<api::relay::Relayed, EscrowError> {
    json_call("POST", "/api/relay", Some(&json!(body))).await
}

/// Ends the session.
pub async fn sign_out() -> Result<(), EscrowError> {
    let r = fetch("POST", "/api/auth/signout", None).await?;
    if r.ok() || r.status() == 401 {
        Ok(())
    } else {
        Err(error_of(&r).await)
    }
}

/// The records of `patient` the caller may see (all of them for the patient).
pub async fn records(patient: Address) -> Result<Vec<RecordSummary>, EscrowError> {
    let list: api::RecordList = json_call(
        "GET",
        &format!("/api/records?patient={}", patient.to_checksum(None)),
        None,
    )
    .await?;
    Ok(list.records)
}

/// What an upload needs besides the body.
pub struct UploadHeaders {
    /// The record's id.
    pub record_id: B256,
    /// The owner.
    pub patient: Address,
    /// Category number.
    pub category: u8,
    /// h1 of the body.
    pub h1: B256,
    /// `reader=0x<wrap>` entries.
    pub wraps: Vec<String>,
    /// `0x` hex of the sealed label.
    pub label: String,
    /// Its place under a Merkle root, for a record of a bulk import.
    pub rooted: Option<Place>,
}

/// PUTs C1 (a `Blob`) with XMLHttpRequest, which reports upload progress (fetch does not).
/// `progress(sent, total)` is called as bytes go out. Resolves to the escrow's answer. An upload
/// the escrow sheds as `busy`, or one interrupted, is sent again after a pause (up to
/// [`BUSY_RETRIES`] times).
pub async fn upload(
    headers: &UploadHeaders,
    body: &web_sys::Blob,
    progress: impl Fn(f64, f64) + Clone + 'static,
) -> Result<Value, EscrowError> {
    let (mut shed, mut limited) = (0, 0);
    loop {
        paced().await;
        match upload_once(headers, body, progress.clone()).await {
            // Over the account's rate: refused before anything was read; sent again after the
            // wait the escrow named.
            Err((e, retry_after))
                if e.code == "rate-limited"
                    && limited < RATE_RETRIES
                    && worth_retrying("/api/records", retry_after.as_deref()) =>
            {
                limited += 1;
                super::wallet::sleep_ms(retry_wait_ms(retry_after)).await;
            }
            // The escrow sheds uploads past its bound before reading them (503 `busy`, Retry-After
            // 1 s): nothing was stored, so the same upload is sent again, a little later each time,
            // with up to a second of jitter: browsers shed together would otherwise all come back
            // in the same instant, and be shed together again (measured: docs/qa-report.md). A
            // large upload shed mid-body can see its connection reset before the 503 arrives, so
            // an interrupted upload is sent again the same way: an upload is idempotent (the same
            // id and h1 are answered with what was stored).
            Err((e, _)) if (e.code == "busy" || e.code == "network") && shed < BUSY_RETRIES => {
                shed += 1;
                let jitter = (js_sys::Math::random() * 1000.0) as i32;
                super::wallet::sleep_ms(1000 * shed + jitter).await;
            }
            outcome => return outcome.map_err(|(e, _)| e),
        }
    }
}

/// How many times an upload the escrow shed as `busy`, or one interrupted, is sent again before
/// the person is told.
const BUSY_RETRIES: i32 = 5;

/// One PUT of C1 (see [`upload`]); a refusal comes with the `Retry-After` it named.
async fn upload_once(
    headers: &UploadHeaders,
    body: &web_sys::Blob,
    progress: impl Fn(f64, f64) + 'static,
) -> Result<Value, (EscrowError, Option<String>)> {
    let no_wait = |e: EscrowError| (e, None);
    let xhr =
        web_sys::XmlHttpRequest::new().map_err(|e| no_wait(EscrowError::network(js_text(&e))))?;
    xhr.open("PUT", &format!("/api/records/{}", headers.record_id))
        .map_err(|e| no_wait(EscrowError::network(js_text(&e))))?;
    xhr.set_with_credentials(true);
    let set = |k: &str, v: &str| xhr.set_request_header(k, v);
    let _ = set("content-type", "application/octet-stream");
    let _ = set("x-medledger-patient", &headers.patient.to_checksum(None));
    let _ = set("x-medledger-category", &headers.category.to_string());
    let _ = set("x-medledger-h1", &headers.h1.to_string());
    let _ = set("x-medledger-wrapped-dek", &headers.wraps.join(","));
    let _ = set("x-medledger-label", &headers.label);
    if let Some(place) = &headers.rooted {
        let _ = set("x-medledger-root", &place.encode());
    }
    let on_progress =
        Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
            progress(e.loaded(), e.total());
        });
    if let Ok(up) = xhr.upload() {
        up.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    }
    let done = Promise::new(&mut |resolve, _reject| {
        let r1 = resolve.clone();
        let onload = Closure::once_into_js(move || {
            let _ = r1.call0(&JsValue::NULL);
        });
        xhr.set_onload(Some(onload.unchecked_ref()));
        let r2 = resolve.clone();
        let onerror = Closure::once_into_js(move || {
            let _ = r2.call1(&JsValue::NULL, &JsValue::from_str("network"));
        });
        xhr.set_onerror(Some(onerror.unchecked_ref()));
    });
    xhr.send_with_opt_blob(Some(body))
        .map_err(|e| no_wait(EscrowError::network(js_text(&e))))?;
    let outcome = JsFuture::from(done).await.unwrap_or(JsValue::NULL);
    drop(on_progress);
    if outcome.as_string().as_deref() == Some("network") {
        return Err(no_wait(EscrowError::network("the upload was interrupted")));
    }
    let status = xhr.status().unwrap_or(0);
    let text = xhr.response_text().ok().flatten().unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        let retry_after = xhr.get_response_header("retry-after").ok().flatten();
        Err((refusal(status, &body), retry_after))
    }
}

/// A record download in progress: the headers, and the body read piece by piece.
pub struct Download {
    /// The DEK wrapped to the caller (81 bytes).
    pub wrapped_dek: Vec<u8>,
    /// h1 the escrow claims (checked against the chain by the caller).
    pub h1: B256,
    /// Whether the escrow re-wrapped the DEK under an emergency window.
    pub emergency: bool,
    /// The category the escrow holds it under.
    pub category: u8,
    /// Its place under a Merkle root, for a record of a bulk import (checked against the chain
    /// by the caller, as h1 is).
    pub rooted: Option<Place>,
    reader: ReadableStreamDefaultReader,
}

impl Download {
    /// The next piece of the body, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Uint8Array>, EscrowError> {
        let step = JsFuture::from(self.reader.read())
            .await
            .map_err(|e| EscrowError::network(js_text(&e)))?;
        let done = Reflect::get(&step, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(None);
        }
        let value = Reflect::get(&step, &JsValue::from_str("value"))
            .map_err(|e| EscrowError::network(js_text(&e)))?;
        // The stream hands over a fresh Uint8Array per read: taken as it is, not copied
        // (`new Uint8Array(value)` would copy every frame once more).
        value
            .dyn_into::<Uint8Array>()
            .map(Some)
            .map_err(|_| EscrowError::network("the download stream gave something not bytes"))
    }
}

/// Starts reading record `id` as the signed-in caller; `range` (`bytes=0-0`) asks for part of it
/// (the headers, with the caller's wrapped key, are the same).
pub async fn download(id: B256, range: Option<&str>) -> Result<Download, EscrowError> {
    let headers: Vec<(&str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
    let response = fetch_with("GET", &format!("/api/records/{id}"), None, &headers).await?;
    if !response.ok() {
        return Err(error_of(&response).await);
    }
    let header = |k: &str| response.headers().get(k).ok().flatten().unwrap_or_default();
    let wrap = header("x-medledger-wrapped-dek");
    let wrap_hex = wrap.split_once('=').map(|(_, w)| w).unwrap_or(&wrap);
    let bad = |what: &str| EscrowError {
        status: response.status(),
        code: "bad-response".into(),
        message: format!("the escrow's answer has no valid {what}"),
    };
    let wrapped_dek = alloy_primitives::hex::decode(wrap_hex).map_err(|_| bad("wrapped key"))?;
    let h1: B256 = header("x-medledger-h1").parse().map_err(|_| bad("h1"))?;
    let emergency = header("x-medledger-emergency") == "1";
    let category: u8 = header("x-medledger-category")
        .parse()
        .map_err(|_| bad("category"))?;
    let root = header("x-medledger-root");
    let rooted = if root.is_empty() {
        None
    } else {
        Some(Place::parse(&root).map_err(|_| bad("place under a root"))?)
    };
    let reader = response
        .body()
        .ok_or_else(|| bad("body"))?
        .get_reader()
        .dyn_into::<ReadableStreamDefaultReader>()
        .map_err(|_| bad("body reader"))?;
    Ok(Download {
        wrapped_dek,
        h1,
        emergency,
        category,
        rooted,
        reader,
    })
}

/// The caller's (as a patient) records that a current grantee cannot open yet.
pub async fn missing_wraps() -> Result<Vec<MissingWrap>, EscrowError> {
    let l: api::MissingWraps = json_call("GET", "/api/wraps/missing", None).await?;
    Ok(l.missing)
}

/// Adds wraps (`reader=0x<wrap>`) to a record of the caller's.
pub async fn add_wraps(id: B256, wraps: &[String]) -> Result<(), EscrowError> {
    let _: Value = json_call(
        "POST",
        &format!("/api/records/{id}/wraps"),
        Some(&json!(api::AddWraps {
            wraps: wraps.to_vec()
        })),
    )
    .await?;
    Ok(())
}

/// A page of the DEKs the escrow holds wrapped to the caller, after record `after`.
pub async fn my_wraps(after: Option<B256>) -> Result<api::MyWraps, EscrowError> {
    let path = match after {
        Some(id) => format!("/api/wraps/mine?after={id}"),
        None => "/api/wraps/mine".into(),
    };
    json_call("GET", &path, None).await
}

/// Replaces the caller's wraps of the body's records with wraps to their rotated key; how many.
pub async fn move_my_wraps(body: &api::MoveWrapsBody) -> Result<u64, EscrowError> {
    let moved: api::WrapsMoved = json_call("PUT", "/api/wraps/mine", Some(&json!(body))).await?;
    Ok(moved.moved)
}

/// The caller's grants.
pub async fn grants() -> Result<Grants, EscrowError> {
    json_call("GET", "/api/grants", None).await
}

/// The caller's access log (as a patient).
pub async fn access_log() -> Result<AccessLog, EscrowError> {
    json_call("GET", "/api/access-log", None).await
}

/// The reads held for the signed-in patient's approval: pending ones and those decided in the
/// last 30 days, newest first.
pub async fn holds() -> Result<Holds, EscrowError> {
    json_call("GET", "/api/holds", None).await
}

/// The signed-in patient's decision on hold `id`, signed by their wallet; the escrow answers with
/// the decided hold.
pub async fn decide_hold(id: u64, body: &HoldDecisionBody) -> Result<Hold, EscrowError> {
    json_call("POST", &format!("/api/holds/{id}"), Some(&json!(body))).await
}

/// The organisations' names, and those whose licence events name the signed-in account.
pub async fn organisations() -> Result<api::licensing::OrganisationNames, EscrowError> {
    json_call("GET", "/api/organisations", None).await
}

/// Every organisation's name the escrow has indexed, by id.
pub async fn organisation_names() -> Result<std::collections::HashMap<u32, String>, EscrowError> {
    let list = organisations().await?;
    Ok(list
        .organisations
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect())
}

/// Every verified practitioner and insurer, with their name (what the views show for them).
pub async fn directory() -> Result<Vec<DirectoryEntry>, EscrowError> {
    let list: api::Directory = json_call("GET", "/api/directory", None).await?;
    Ok(list.people)
}

/// The directory as the views use it: names of verified practitioners and insurers, with `me`
/// called "you".
pub async fn people(me: Option<Address>) -> Result<crate::people::Directory, EscrowError> {
    let list = directory().await?;
    Ok(crate::people::Directory::new(
        me,
        list.into_iter().map(|p| {
            (
                p.address,
                crate::people::Person {
                    name: p.name,
                    organisation: p.organisation,
                },
            )
        }),
    ))
}

/// Submits the off-chain application profile behind a registered profile hash.
pub async fn put_profile(profile_text: &str) -> Result<(), EscrowError> {
    let _: Value = json_call(
        "PUT",
        "/api/profile",
        Some(&json!({ "profile": profile_text })),
    )
    .await?;
    Ok(())
}

/// The claims the caller is practitioner, patient or insurer of.
pub async fn claims() -> Result<Vec<ClaimSummary>, EscrowError> {
    let l: api::ClaimList = json_call("GET", "/api/claims", None).await?;
    Ok(l.claims)
}

/// Stores the signed-in patient's recovery kit (docs/api.md "Recovery kits").
pub async fn put_recovery_kit(
    kit: &api::recovery::RecoveryKit,
) -> Result<api::recovery::KitView, EscrowError> {
    json_call("PUT", "/api/recovery/kit", Some(&json!(kit))).await
}

/// `identity`'s recovery kit as the caller may see it (the whole kit for the patient, a
/// guardian's own share); `None` when the patient stored none.
pub async fn recovery_kit(
    identity: Address,
) -> Result<Option<api::recovery::KitView>, EscrowError> {
    let path = format!("/api/recovery/kit/{}", identity.to_checksum(None));
    match json_call("GET", &path, None).await {
        Ok(kit) => Ok(Some(kit)),
        Err(e) if e.status == 404 && e.code == "no-recovery-kit" => Ok(None),
        Err(e) => Err(e),
    }
}

/// A guardian hands over its share of `identity`'s kit, re-sealed for a recovering wallet.
pub async fn release_share(
    identity: Address,
    body: &api::recovery::ReleaseShareBody,
) -> Result<api::recovery::ShareReleased, EscrowError> {
    let path = format!("/api/recovery/kit/{}/releases", identity.to_checksum(None));
    json_call("POST", &path, Some(&json!(body))).await
}

/// The shares the guardians re-sealed for the signed-in wallet's recovery of its identity;
/// `None` when there are none for it.
pub async fn released_shares() -> Result<Option<api::recovery::ReleasedShares>, EscrowError> {
    match json_call("GET", "/api/recovery/released", None).await {
        Ok(shares) => Ok(Some(shares)),
        Err(e) if e.status == 404 && e.code == "nothing-released" => Ok(None),
        Err(e) => Err(e),
    }
}
