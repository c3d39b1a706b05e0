//! The record protocols as the browser runs them (DESIGN.md "Upload", "Read", "Consent"):
//! encrypt a file or entry chunk by chunk through WebCrypto, wrap its data key to every reader,
//! upload C1 to the escrow, anchor it on chain; read one back, check its hash against the chain,
//! unwrap and decrypt; wrap keys for new grantees. Plaintext never leaves this module but as the
//! `Blob` the user asked to open.

use alloy_primitives::{Address, B256, U256};
use js_sys::{Array, Uint8Array};
use medledger_protocol::cipher::{fill_random, SecretKey};
use medledger_protocol::contract::MedLedger;
use medledger_protocol::envelope::{Metadata, RecordContext, RecordKind};
use medledger_protocol::label::{open_label, seal_label, RecordLabel};
use medledger_protocol::webcrypto::{WebDecryptor, WebEncryptor};
use medledger_protocol::wrap::{unwrap_dek, wrap_dek, KeyPair, PublicKey, Purpose, WrapContext};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::chain::{ChainError, Contract};
use super::escrow::{self, EscrowError, RecordSummary, UploadHeaders};
use crate::labels::label_for;

/// Plaintext bytes per envelope chunk.
const CHUNK_SIZE: u32 = 256 * 1024;
/// Chunks handed to WebCrypto at once (it seals them in parallel).
const CHUNKS_IN_FLIGHT: usize = 8;

/// Why a record could not be stored or opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    /// The chain or wallet said no.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The escrow said no or could not be reached.
    #[error(transparent)]
    Escrow(#[from] EscrowError),
    /// Encryption or decryption failed (tampering shows up here).
    #[error("{0}")]
    Crypto(String),
    /// The ciphertext is not the one anchored on chain.
    #[error("integrity check failed: the ciphertext's hash is not the one anchored on chain. The record was not opened.")]
    HashMismatch,
    /// The key wrapped for this reader does not open.
    #[error("the key shared with you does not open with your key (was it wrapped to an old key?)")]
    Unwrap,
    /// A reader has no registered key.
    #[error("{0} has no encryption key registered on chain")]
    NoKey(Address),
    /// The browser failed reading the file.
    #[error("could not read the file: {0}")]
    File(String),
}

/// The signed-in user as the record protocols need them.
#[derive(Clone)]
pub struct Identity {
    /// Their account.
    pub account: Address,
    /// Their X25519 key pair, derived from the wallet's signature.
    pub keys: KeyPair,
    /// The deployment.
    pub contract: Contract,
}

/// What to store.
pub enum Content {
    /// A file the user picked (any size: read and sealed chunk by chunk).
    File(web_sys::File),
    /// Bytes made by the app (a structured entry, a claim document).
    Bytes {
        /// The plaintext.
        data: Vec<u8>,
        /// Its media type.
        media_type: String,
        /// A file name for downloads.
        file_name: String,
        /// What it is.
        kind: RecordKind,
    },
}

/// Where an upload is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage {
    /// Sealing chunks: fraction done.
    Encrypting(f64),
    /// Sending C1 to the escrow: fraction done.
    Uploading(f64),
    /// Waiting for the wallet's signature and the block.
    Anchoring,
}

/// An upload whose ciphertext is made. Kept by the caller so that a failed step is retried from
/// where it stopped: the same C1 (same record id and h1) is sent again — the escrow answers an
/// identical retry with the stored state — and the chain step runs only once it is not done.
#[derive(Clone)]
pub struct Prepared {
    /// The record id.
    pub record_id: B256,
    /// h1 of C1.
    pub h1: B256,
    /// The owner.
    pub patient: Address,
    /// Category number.
    pub category: u8,
    /// The record it amends, or zero.
    pub supersedes: B256,
    /// C1.
    pub body: web_sys::Blob,
    /// `reader=0x<wrap>` entries.
    pub wraps: Vec<String>,
    /// `0x` hex of the sealed label (what lists call the record).
    pub label: String,
    /// Whether the escrow acknowledged the upload.
    pub uploaded: bool,
}

fn crypto(e: impl std::fmt::Display) -> RecordError {
    RecordError::Crypto(e.to_string())
}

async fn read_slice(file: &web_sys::File, start: f64, end: f64) -> Result<Uint8Array, RecordError> {
    let blob = file
        .slice_with_f64_and_f64(start, end)
        .map_err(|_| RecordError::File("slice".into()))?;
    let buffer = JsFuture::from(blob.array_buffer())
        .await
        .map_err(|_| RecordError::File("the browser could not read it".into()))?;
    Ok(Uint8Array::new(&buffer))
}

/// The X25519 key `account` registered on chain.
pub async fn registered_key(
    contract: &Contract,
    account: Address,
) -> Result<PublicKey, RecordError> {
    let acc = contract.view(MedLedger::accountOfCall { account }).await?;
    if acc.encryptionKey.is_zero() {
        return Err(RecordError::NoKey(account));
    }
    Ok(PublicKey(acc.encryptionKey.0))
}

/// Encrypts `content` for `patient` and wraps its key to `readers` (the patient and the author are
/// always added) and, when given, to the escrow's break-glass key.
pub async fn prepare(
    me: &Identity,
    patient: Address,
    category: u8,
    supersedes: B256,
    content: Content,
    readers: &[(Address, PublicKey)],
    break_glass: Option<(Address, PublicKey)>,
    progress: &dyn Fn(Stage),
) -> Result<Prepared, RecordError> {
    let mut id = [0u8; 32];
    fill_random(&mut id).map_err(crypto)?;
    let record_id = B256::from(id);
    let dek = SecretKey::generate().map_err(crypto)?;
    let ctx = RecordContext {
        chain_id: me.contract.chain_id,
        contract: me.contract.address,
        record_id,
        patient,
    };
    let now = (js_sys::Date::now() / 1000.0) as u64;
    let (metadata, total) = match &content {
        Content::File(f) => (
            Metadata {
                kind: kind_of(&f.type_()),
                created: now,
                media_type: if f.type_().is_empty() {
                    "application/octet-stream".into()
                } else {
                    f.type_()
                },
                file_name: f.name(),
            },
            f.size(),
        ),
        Content::Bytes {
            data,
            media_type,
            file_name,
            kind,
        } => (
            Metadata {
                kind: *kind,
                created: now,
                media_type: media_type.clone(),
                file_name: file_name.clone(),
            },
            data.len() as f64,
        ),
    };
    let label = {
        let data = match &content {
            Content::Bytes { data, .. } => Some(data.as_slice()),
            Content::File(_) => None,
        };
        let label = label_for(
            &metadata.media_type,
            &metadata.file_name,
            total as u64,
            data,
        );
        alloy_primitives::hex::encode_prefixed(seal_label(&dek, &ctx, &label).map_err(crypto)?)
    };
    let (mut enc, prelude) = WebEncryptor::start(&dek, &ctx, &metadata, CHUNK_SIZE)
        .await
        .map_err(crypto)?;
    let parts = Array::new();
    parts.push(&Uint8Array::from(&prelude[..]));
    let chunk = f64::from(CHUNK_SIZE);
    let mut offset = 0.0;
    loop {
        let mut batch = Vec::with_capacity(CHUNKS_IN_FLIGHT);
        let mut ends = false;
        while batch.len() < CHUNKS_IN_FLIGHT {
            let end = (offset + chunk).min(total);
            let piece = match &content {
                Content::File(f) => read_slice(f, offset, end).await?,
                Content::Bytes { data, .. } => {
                    Uint8Array::from(&data[offset as usize..end as usize])
                }
            };
            offset = end;
            batch.push(piece);
            // The final chunk is the one that reaches the end (an exact multiple ends with a
            // full final chunk; an empty body is one empty final chunk).
            if offset >= total {
                ends = true;
                break;
            }
        }
        for sealed in enc.seal_chunks(&batch, ends).await.map_err(crypto)? {
            parts.push(&sealed);
        }
        progress(Stage::Encrypting(if total > 0.0 {
            offset / total
        } else {
            1.0
        }));
        if ends {
            break;
        }
    }
    let h1 = enc.finish().await.map_err(crypto)?;
    let body = web_sys::Blob::new_with_u8_array_sequence(&parts)
        .map_err(|_| RecordError::File("could not assemble the ciphertext".into()))?;

    let mut wraps = Vec::new();
    let mut wrapped_to: Vec<Address> = Vec::new();
    let mut all_readers: Vec<(Address, PublicKey)> = vec![(me.account, me.keys.public())];
    if patient != me.account {
        all_readers.push((patient, registered_key(&me.contract, patient).await?));
    }
    all_readers.extend_from_slice(readers);
    for (reader, key) in all_readers {
        if wrapped_to.contains(&reader) {
            continue;
        }
        wraps.push(wrap_entry(
            me,
            &dek,
            record_id,
            reader,
            &key,
            Purpose::Reader,
        )?);
        wrapped_to.push(reader);
    }
    if let Some((reader, key)) = break_glass {
        wraps.push(wrap_entry(
            me,
            &dek,
            record_id,
            reader,
            &key,
            Purpose::BreakGlass,
        )?);
    }
    Ok(Prepared {
        record_id,
        h1,
        patient,
        category,
        supersedes,
        body,
        wraps,
        label,
        uploaded: false,
    })
}

fn wrap_entry(
    me: &Identity,
    dek: &SecretKey,
    record_id: B256,
    reader: Address,
    key: &PublicKey,
    purpose: Purpose,
) -> Result<String, RecordError> {
    let ctx = WrapContext {
        chain_id: me.contract.chain_id,
        contract: me.contract.address,
        record_id,
        reader,
        purpose,
    };
    let wrapped = wrap_dek(dek, key, &ctx).map_err(crypto)?;
    Ok(format!(
        "{}=0x{}",
        reader.to_checksum(None),
        alloy_primitives::hex::encode(wrapped)
    ))
}

/// Opens the DEK of `record_id` wrapped to the signed-in reader.
fn my_dek(me: &Identity, record_id: B256, wrapped: &[u8]) -> Result<SecretKey, RecordError> {
    let ctx = WrapContext {
        chain_id: me.contract.chain_id,
        contract: me.contract.address,
        record_id,
        reader: me.account,
        purpose: Purpose::Reader,
    };
    unwrap_dek(wrapped, &me.keys, &ctx).map_err(|_| RecordError::Unwrap)
}

/// The labels of the listed records the signed-in reader holds a key for, by record id. A label
/// that does not open (an old key, a label made for another record) is left out: the list then
/// names that record by its category.
pub fn labels_of(
    me: &Identity,
    list: &[RecordSummary],
) -> std::collections::HashMap<B256, RecordLabel> {
    use alloy_primitives::hex;
    list.iter()
        .filter_map(|r| {
            let wrapped = hex::decode(r.wrapped_dek.as_deref()?).ok()?;
            let sealed = hex::decode(r.label.as_deref()?).ok()?;
            let dek = my_dek(me, r.record_id, &wrapped).ok()?;
            let ctx = RecordContext {
                chain_id: me.contract.chain_id,
                contract: me.contract.address,
                record_id: r.record_id,
                patient: r.patient,
            };
            Some((r.record_id, open_label(&dek, &ctx, &sealed).ok()?))
        })
        .collect()
}

/// The reader's own DEK of `record_id`, from a one-byte read: the wrapped key travels in the
/// headers, so nothing of the body is fetched.
async fn fetch_my_dek(me: &Identity, record_id: B256) -> Result<SecretKey, RecordError> {
    let download = escrow::download(record_id, Some("bytes=0-0")).await?;
    my_dek(me, record_id, &download.wrapped_dek)
}

fn kind_of(media_type: &str) -> RecordKind {
    if media_type.starts_with("image/") {
        RecordKind::Image
    } else {
        RecordKind::Document
    }
}

/// Sends a prepared record to the escrow (unless it already acknowledged it) and anchors it on
/// chain (unless it is anchored already). Safe to call again after any failure.
pub async fn store(
    me: &Identity,
    prepared: &mut Prepared,
    progress: std::rc::Rc<dyn Fn(Stage)>,
) -> Result<(), RecordError> {
    if !prepared.uploaded {
        let headers = UploadHeaders {
            record_id: prepared.record_id,
            patient: prepared.patient,
            category: prepared.category,
            h1: prepared.h1,
            wraps: prepared.wraps.clone(),
            label: prepared.label.clone(),
        };
        let p = progress.clone();
        escrow::upload(&headers, &prepared.body, move |sent, total| {
            p(Stage::Uploading(if total > 0.0 {
                sent / total
            } else {
                0.0
            }))
        })
        .await?;
        prepared.uploaded = true;
    }
    progress(Stage::Anchoring);
    let on_chain = me
        .contract
        .view(MedLedger::recordOfCall {
            recordId: prepared.record_id,
        })
        .await?;
    if on_chain.ciphertextHash == prepared.h1 {
        return Ok(());
    }
    me.contract
        .send(
            me.account,
            MedLedger::addRecordCall {
                recordId: prepared.record_id,
                patient: prepared.patient,
                ciphertextHash: prepared.h1,
                category: prepared.category,
                supersedes: prepared.supersedes,
            },
            U256::ZERO,
        )
        .await?;
    Ok(())
}

/// A record opened and checked.
pub struct OpenedRecord {
    /// The plaintext, as a browser `Blob` of its media type.
    pub blob: web_sys::Blob,
    /// Its plaintext bytes when small enough to show inline (structured entries).
    pub small: Option<Vec<u8>>,
    /// The encrypted metadata.
    pub metadata: Metadata,
    /// Whether its h1 matched the chain's anchor (always, or it is not returned) — `false` only
    /// for the patient's own record not anchored yet.
    pub anchored: bool,
    /// Released through an emergency window.
    pub emergency: bool,
}

/// Reads record `record_id` of `patient`: escrow release, hash against the chain, unwrap,
/// decrypt with every tag checked.
pub async fn open(
    me: &Identity,
    record_id: B256,
    patient: Address,
) -> Result<OpenedRecord, RecordError> {
    let on_chain = me
        .contract
        .view(MedLedger::recordOfCall {
            recordId: record_id,
        })
        .await?;
    let mut download = escrow::download(record_id, None).await?;
    let anchored = !on_chain.ciphertextHash.is_zero();
    if anchored && download.h1 != on_chain.ciphertextHash {
        return Err(RecordError::HashMismatch);
    }
    let dek = my_dek(me, record_id, &download.wrapped_dek)?;
    let ctx = RecordContext {
        chain_id: me.contract.chain_id,
        contract: me.contract.address,
        record_id,
        patient,
    };
    let mut dec = WebDecryptor::new(&dek, &ctx);
    let parts = Array::new();
    while let Some(piece) = download.next().await? {
        for plain in dec.push(&piece.to_vec()).await.map_err(crypto)? {
            parts.push(&plain);
        }
    }
    let (last, opened) = dec.finish().await.map_err(crypto)?;
    parts.push(&last);
    let expected = if anchored {
        on_chain.ciphertextHash
    } else {
        download.h1
    };
    if opened.h1 != expected {
        return Err(RecordError::HashMismatch);
    }
    let props = web_sys::BlobPropertyBag::new();
    props.set_type(&opened.metadata.media_type);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &props)
        .map_err(|_| RecordError::File("could not assemble the plaintext".into()))?;
    let small = if blob.size() <= 65_536.0 {
        let mut bytes = Vec::new();
        for p in parts.iter() {
            if let Ok(a) = p.dyn_into::<Uint8Array>() {
                bytes.extend(a.to_vec());
            }
        }
        Some(bytes)
    } else {
        None
    };
    Ok(OpenedRecord {
        blob,
        small,
        metadata: opened.metadata,
        anchored,
        emergency: download.emergency,
    })
}

/// Wraps the DEKs of the patient's records for every current grantee who cannot open them yet
/// (`/api/wraps/missing`). Each DEK is recovered by reading the record as the patient (which the
/// access log records as the patient's own read). Returns how many wraps were added.
pub async fn fill_missing_wraps(me: &Identity) -> Result<usize, RecordError> {
    let missing = escrow::missing_wraps().await?;
    let mut added = 0;
    let mut by_record: Vec<(B256, Vec<Address>)> = Vec::new();
    for m in missing {
        match by_record.iter_mut().find(|(r, _)| *r == m.record_id) {
            Some((_, g)) => g.push(m.grantee),
            None => by_record.push((m.record_id, vec![m.grantee])),
        }
    }
    for (record_id, grantees) in by_record {
        let dek = fetch_my_dek(me, record_id).await?;
        let mut wraps = Vec::new();
        for grantee in grantees {
            let key = registered_key(&me.contract, grantee).await?;
            wraps.push(wrap_entry(
                me,
                &dek,
                record_id,
                grantee,
                &key,
                Purpose::Reader,
            )?);
        }
        escrow::add_wraps(record_id, &wraps).await?;
        added += wraps.len();
    }
    Ok(added)
}

/// Prepares the patient's existing records for emergency access: wraps each one's DEK to the
/// escrow's break-glass key (the escrow accepts that only while the patient is opted in on chain).
/// Returns how many records were prepared.
pub async fn add_break_glass_wraps(
    me: &Identity,
    break_glass: (Address, PublicKey),
    record_ids: &[B256],
) -> Result<usize, RecordError> {
    let (reader, key) = break_glass;
    for record_id in record_ids {
        let dek = fetch_my_dek(me, *record_id).await?;
        let wrap = wrap_entry(me, &dek, *record_id, reader, &key, Purpose::BreakGlass)?;
        escrow::add_wraps(*record_id, &[wrap]).await?;
    }
    Ok(record_ids.len())
}
