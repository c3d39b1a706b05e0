//! FHIR in the browser: a picked file read and checked in WASM (`protocol::fhir::read_input`), its
//! resources stored each as its own record in its category under one bulk-import root, the
//! resources a reader can open gathered for the clinical summary, and the export Bundle made and
//! offered as a download. The rules are in `crate::fhir` and `protocol::fhir`; this module only
//! reads files, opens records and talks to the escrow and the chain.

use std::collections::HashSet;

use alloy_primitives::{Address, B256};
use futures::stream::{self, StreamExt};
use js_sys::Uint8Array;
use medledger_protocol::fhir::{self, export, Import, Resource, MAX_INPUT_BYTES};
use serde_json::{json, Value};
use wasm_bindgen_futures::JsFuture;

use super::escrow;
use super::records::{self, Content, Identity, Listing};
use crate::entry::{StructuredEntry, MEDIA_TYPE as ENTRY_MEDIA_TYPE};
use crate::fhir::{entry_resources, still_to_store};

/// Records opened at once for a summary or an export: enough to keep the escrow and the node
/// busy, few enough not to flood them.
const OPEN_AT_ONCE: usize = 6;

/// Reads a picked file and checks it as FHIR, against the resources `stored` holds (`Type/id`).
/// The size is checked before a byte is read.
pub async fn read_file(file: &web_sys::File, stored: &HashSet<String>) -> Result<Import, String> {
    let size = file.size();
    if size > MAX_INPUT_BYTES as f64 {
        return Err(fhir::InputError::TooLarge {
            bytes: size as usize,
            limit: MAX_INPUT_BYTES,
        }
        .to_string());
    }
    let bytes = blob_bytes(file).await?;
    fhir::read_input(&bytes, stored).map_err(|e| e.to_string())
}

/// Checks the FHIR file picked in `input` against `patient`'s records as they are now (a list
/// loaded before the last import would offer it again): the checked import and the `Type/id` of
/// the resources already stored ([`stored_keys`]), or why nothing can be imported, in words.
pub async fn check_picked(
    input: Option<web_sys::HtmlInputElement>,
    me: &Identity,
    patient: Address,
) -> Result<(Import, HashSet<String>), String> {
    let file = input.and_then(|i| i.files()).and_then(|l| l.get(0));
    let file = file.ok_or("Choose a FHIR file first.")?;
    let listing = records::list(me, patient).await;
    let listing = listing.map_err(|e| format!("The records could not be listed: {e}"))?;
    let stored = stored_keys(me, &listing).await;
    let stored = stored.map_err(|e| format!("The chain could not be asked: {e}"))?;
    let import = read_file(&file, &stored).await;
    let import =
        import.map_err(|e| format!("Nothing was imported: {}.", crate::format::clause(&e)))?;
    Ok((import, stored))
}

/// The `Type/id` of every FHIR resource the listing holds for good: committed records, and pending
/// ones whose bulk-import root the chain holds (the escrow commits them within a block or two).
/// A pending upload whose root was never anchored is not counted: it expires, and a new import
/// must store that resource again.
pub async fn stored_keys(me: &Identity, listing: &Listing) -> Result<HashSet<String>, String> {
    use medledger_protocol::api::RecordState;
    let mut roots: std::collections::HashMap<B256, bool> = Default::default();
    let mut stored = HashSet::new();
    for r in &listing.records {
        let Some(key) = listing
            .labels
            .get(&r.record_id)
            .and_then(|l| l.fhir.clone())
        else {
            continue;
        };
        let lasting = match (&r.state, &r.rooted) {
            (RecordState::Committed, _) => true,
            (RecordState::Pending, Some(place)) => match roots.get(&place.root) {
                Some(anchored) => *anchored,
                None => {
                    let call = medledger_protocol::contract::MedLedger::recordRootOfCall {
                        root: place.root,
                    };
                    let on_chain = me.contract.view(call).await.map_err(|e| e.to_string())?;
                    let anchored = !on_chain.patient.is_zero();
                    roots.insert(place.root, anchored);
                    anchored
                }
            },
            _ => false,
        };
        if lasting {
            stored.insert(key);
        }
    }
    Ok(stored)
}

/// The resources of `import` not in `stored`, as record contents with their categories, and how
/// many were stored before.
pub fn contents(import: &Import, stored: &HashSet<String>) -> (Vec<(Content, u8)>, usize) {
    let (new, already) = still_to_store(import, stored);
    (as_contents(new), already)
}

/// Resources as record contents with their categories.
pub fn as_contents(new: Vec<crate::fhir::NewResource>) -> Vec<(Content, u8)> {
    new.into_iter()
        .map(|r| {
            let content = Content::Bytes {
                data: r.data,
                media_type: crate::fhir::NewResource::MEDIA_TYPE.into(),
                file_name: r.file_name,
                kind: crate::fhir::NewResource::KIND,
            };
            (content, r.category)
        })
        .collect()
}

async fn blob_bytes(blob: &web_sys::Blob) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(blob.array_buffer())
        .await
        .map_err(|_| "the browser could not read the file".to_string())?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// What a reader's records hold as FHIR: every resource record, and every structured entry in its
/// FHIR form. `failed` counts records that did not open (each is still named in the page's list).
#[derive(Default)]
pub struct Opened {
    /// The resources' JSON.
    pub resources: Vec<Value>,
    /// Records that did not open.
    pub failed: usize,
}

impl Opened {
    /// The resources typed, for the summary.
    pub fn into_typed(self) -> Vec<Resource> {
        self.resources
            .into_iter()
            .filter_map(|v| Resource::from_value(v).ok())
            .collect()
    }
}

/// Records this page opened for a summary or an export, by reader and record id: a summary built
/// again, or an export after a summary, opens only what it has not opened yet. Only records the
/// escrow lists at that moment (asked anew by [`open_all`]) are taken from it (so a revoked grant or an erased record shows nothing from
/// it); it lives in the page's memory, as the decrypted summary does, and is forgotten at sign-out
/// and reload.
type OpenedCache = std::collections::HashMap<(Address, B256), std::rc::Rc<Vec<Value>>>;

thread_local! {
    static OPENED: std::cell::RefCell<OpenedCache> = std::cell::RefCell::new(OpenedCache::new());
}

/// Most records kept: past it the cache starts again (memory stays bounded for any patient).
const MOST_CACHED: usize = 50_000;

/// Forgets every record opened for a summary or an export (at sign-out).
pub fn forget_opened() {
    OPENED.with(|c| c.borrow_mut().clear());
}

fn cached(reader: Address, id: B256) -> Option<std::rc::Rc<Vec<Value>>> {
    OPENED.with(|c| c.borrow().get(&(reader, id)).cloned())
}

fn remember(reader: Address, id: B256, values: &[Value]) {
    OPENED.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= MOST_CACHED {
            cache.clear();
        }
        cache.insert((reader, id), std::rc::Rc::new(values.to_vec()));
    });
}

/// Opens the FHIR resources and structured entries of `patient` that the signed-in reader can
/// open (their labels say which), a few at a time, those this page opened before from memory;
/// `progress` hears how many of how many are done.
pub async fn open_all(
    me: &Identity,
    patient: Address,
    progress: &dyn Fn(usize, usize),
) -> Result<Opened, String> {
    // The escrow's list now, not the page's: a grant revoked or a record erased since the page
    // loaded leaves nothing to take from memory.
    let listing = records::list(me, patient).await;
    let listing = listing.map_err(|e| format!("The records could not be listed: {e}"))?;
    let wanted: Vec<B256> = listing
        .unerased_ids()
        .into_iter()
        .filter(|id| {
            listing
                .labels
                .get(id)
                .is_some_and(|l| l.fhir.is_some() || l.patient_name.is_some())
        })
        .collect();
    let (total, done) = (wanted.len(), std::cell::Cell::new(0));
    progress(0, total);
    let results: Vec<Result<Vec<Value>, String>> = stream::iter(wanted)
        .map(|id| async move {
            if let Some(values) = cached(me.account, id) {
                return Ok(values.as_ref().clone());
            }
            let values = open_one(me, patient, id).await?;
            remember(me.account, id, &values);
            Ok(values)
        })
        .buffer_unordered(OPEN_AT_ONCE)
        .inspect(|_| {
            done.set(done.get() + 1);
            progress(done.get(), total);
        })
        .collect()
        .await;
    let mut opened = Opened::default();
    for result in results {
        match result {
            Ok(values) => opened.resources.extend(values),
            Err(_) => opened.failed += 1,
        }
    }
    Ok(opened)
}

async fn open_one(me: &Identity, patient: Address, id: B256) -> Result<Vec<Value>, String> {
    let record = records::open(me, id, patient)
        .await
        .map_err(|e| e.to_string())?;
    // `open` already holds the plaintext of a resource or an entry; the blob is read again only
    // for a record too large to have been kept.
    let bytes = match record.small {
        Some(bytes) => bytes,
        None => blob_bytes(&record.blob).await?,
    };
    match record.metadata.media_type.as_str() {
        fhir::MEDIA_TYPE => Ok(vec![
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())?
        ]),
        ENTRY_MEDIA_TYPE => {
            let entry = StructuredEntry::from_bytes(&bytes).map_err(|e| e.to_string())?;
            let date = medledger_protocol::identity::format_rfc3339(record.metadata.created as i64);
            Ok(entry_resources(&entry, id, &date[..10]))
        }
        _ => Ok(Vec::new()),
    }
}

/// A block's timestamp, asked of the node through the wallet.
async fn block_time(block: u64) -> Option<i64> {
    let header = super::wallet::request(
        "eth_getBlockByNumber",
        json!([format!("0x{block:x}"), false]),
    )
    .await
    .ok()?;
    let hex = header.get("timestamp")?.as_str()?;
    i64::from_str_radix(hex.trim_start_matches("0x"), 16).ok()
}

/// The export of `patient`'s records by the signed-in reader: every resource they can open, and
/// the grants that let them, as `Consent`s; for the patient themselves, every grant they gave and
/// their access log as `AuditEvent`s (a doctor has no access log of the patient's to export). One
/// `collection` Bundle, as a file's bytes, and how many resources it holds.
pub async fn export_bundle(
    me: &Identity,
    patient: Address,
    progress: &dyn Fn(usize, usize),
) -> Result<(Vec<u8>, usize), String> {
    let opened = open_all(me, patient, progress).await?;
    if opened.failed > 0 {
        return Err(format!("{} record(s) did not open; nothing was exported. Try again, or erase the records that no longer open.", opened.failed));
    }
    let patient_ref = opened
        .resources
        .iter()
        .find(|r| r["resourceType"] == "Patient");
    let patient_ref = patient_ref.and_then(|p| Some(format!("Patient/{}", p["id"].as_str()?)));
    let mut resources = opened.resources;
    let grants = escrow::grants().await.map_err(|e| e.to_string())?;
    let own = patient == me.account;
    let given = if own {
        grants.as_patient
    } else {
        grants.as_grantee
    };
    for grant in given.iter().filter(|g| g.patient == patient) {
        let at = block_time(grant.granted_block).await.unwrap_or(0);
        resources.push(export::consent(grant, at, patient_ref.as_deref()));
    }
    if own {
        let log = escrow::access_log().await.map_err(|e| e.to_string())?;
        resources.extend(log.entries.iter().map(export::audit_event));
    }
    let count = resources.len();
    let now = (js_sys::Date::now() / 1000.0) as i64;
    let bundle = export::collection_bundle(resources, now);
    let bytes = serde_json::to_vec_pretty(&bundle).map_err(|e| e.to_string())?;
    Ok((bytes, count))
}

/// An object URL for `bytes` as a JSON download.
pub fn download_url(bytes: &[u8]) -> Result<String, String> {
    let parts = js_sys::Array::new();
    parts.push(&Uint8Array::from(bytes));
    let props = web_sys::BlobPropertyBag::new();
    props.set_type(fhir::MEDIA_TYPE);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &props)
        .map_err(|_| "the browser could not make the file".to_string())?;
    web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "the browser could not offer the file".to_string())
}
