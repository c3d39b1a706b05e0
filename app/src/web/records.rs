//! The record protocols as the browser runs them (DESIGN.md "Upload", "Read", "Consent"):
//! encrypt a file or entry chunk by chunk through WebCrypto, wrap its data key to every reader,
//! upload C1 to the escrow, anchor it on chain; read one back, check its hash against the chain,
//! unwrap and decrypt; wrap keys for new grantees; list a patient's records with the labels the
//! reader can open. Whom a record's key is wrapped for is decided here (with the rules in
//! [`crate::sharing`]), not by the pages. Plaintext never leaves this module but as the `Blob` the
//! user asked to open.

use alloy_primitives::{Address, B256, U256};
use js_sys::{Array, Uint8Array};
use medledger_protocol::api::RecordState;
use medledger_protocol::cipher::{fill_random, SecretKey};
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::envelope::{Metadata, RecordContext, RecordKind};
use medledger_protocol::label::{open_label, seal_label, RecordLabel};
use medledger_protocol::record_root::{NewRootedRecord, Place, RootedBatch};
use medledger_protocol::webcrypto::{chunk_views, WebDecryptor, WebEncryptor};
use medledger_protocol::wrap::{unwrap_dek, wrap_dek, KeyPair, PublicKey, Purpose, WrapContext};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::chain::{ChainError, Contract};
use super::escrow::{self, EscrowError, RecordSummary, UploadHeaders};
use super::session::{self, Role};
use crate::labels::label_for;
use crate::sharing::{self, GrantRow};

/// Plaintext bytes per envelope chunk.
const CHUNK_SIZE: u32 = 256 * 1024;
/// Chunks read from the file at once (8 MiB, one `slice().arrayBuffer()`) and handed to WebCrypto
/// together (it seals them in parallel). Reading a file a chunk at a time made the reads the
/// limit: sealing a file ran at 108 MB/s in Chromium with one read per 256 KiB chunk, 201 with
/// one per 8 MiB (bench/README.md, "Sealing a file as the app does").
const CHUNKS_PER_READ: u32 = 32;

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
    /// Their account (the identity on chain).
    pub account: Address,
    /// The wallet that signs and sends for the account: the account itself, or the wallet a
    /// recovery moved it to (the contracts and the escrow resolve it to the account).
    pub wallet: Address,
    /// Their X25519 key pair, derived from the wallet's signature.
    pub keys: KeyPair,
    /// The core contract.
    pub contract: Contract,
    /// The insurance contract.
    pub insurance: Contract,
    /// The forwarder the core trusts, when the escrow names one: the core's sponsored functions
    /// go through it, paid by the relayer, when the wallet holds no ether (super::relay).
    pub forwarder: Option<Address>,
}

impl Identity {
    /// Sends `call` to the core contract from this account, without ether, and waits for it to be
    /// mined; a refusal comes back explained, as the text a page shows. When the wallet holds too
    /// little ether for it and the escrow's relayer pays for the call, it goes through the relayer
    /// (super::relay), which the page's notice of who paid then names.
    pub async fn send<C: alloy_sol_types::SolCall>(&self, call: C) -> Result<B256, String> {
        self.send_core(call).await.map_err(|e| e.to_string())
    }

    /// [`Self::send`] with the chain's error as it came.
    pub async fn send_core<C: alloy_sol_types::SolCall>(
        &self,
        call: C,
    ) -> Result<B256, ChainError> {
        self.send_to(&self.contract, call).await
    }

    /// Sends `call` to `to` (the core or its recovery contract), paid as [`Self::send`] says.
    pub async fn send_to<C: alloy_sol_types::SolCall>(
        &self,
        to: &Contract,
        call: C,
    ) -> Result<B256, ChainError> {
        use super::relay::{payer, Payer};
        use medledger_protocol::forward::Target;
        let data = alloy_primitives::Bytes::from(call.abi_encode());
        let target = if to.address == self.contract.address {
            Target::Core
        } else {
            Target::Recovery
        };
        match payer((to, target), self.wallet, &data, self.forwarder).await {
            Payer::Relayer(offer) => super::relay::send(to, &offer, self.wallet, data).await,
            Payer::Nobody(why) => Err(ChainError::Relay(why)),
            Payer::Wallet => to.send(self.wallet, call, U256::ZERO).await,
        }
    }

    /// Sends `call` with `value` wei to the insurance contract from this account, as [`Self::send`].
    pub async fn send_insurance<C: alloy_sol_types::SolCall>(
        &self,
        call: C,
        value: U256,
    ) -> Result<B256, String> {
        let sent = self.insurance.send(self.wallet, call, value).await;
        sent.map_err(|e| e.to_string())
    }
}

/// What to store.
#[derive(Clone)]
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
    /// Of several records, this many sent to the escrow out of that many.
    Uploaded(usize, usize),
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
    /// Its place under the Merkle root of its bulk import ([`place_under_roots`]); `None` for
    /// a record anchored alone (`addRecord(s)`).
    pub rooted: Option<Place>,
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

/// The grants `patient` holds out now, as the chain says (anyone may read them).
pub async fn active_grants(
    contract: &Contract,
    patient: Address,
) -> Result<Vec<GrantRow>, ChainError> {
    let g = contract
        .view(MedLedger::activeGrantsCall { patient })
        .await?;
    Ok(g.grantees
        .iter()
        .zip(g.grants.iter())
        .map(|(a, g)| GrantRow::new(*a, g.categories, g.canWrite, g.expiry))
        .collect())
}

/// Someone a record's key can be wrapped for.
#[derive(Debug, Clone)]
pub struct Reader {
    /// Their account.
    pub account: Address,
    /// The X25519 key they registered on chain.
    pub key: PublicKey,
    /// What they are.
    pub role: Role,
}

/// The patient's current grantees whose grant covers `category` and who registered a key, read
/// from the chain: wrapping a new record to them lets each open it at once instead of after the
/// patient's next visit.
pub async fn readers_for(
    contract: &Contract,
    patient: Address,
    category: u8,
) -> Result<Vec<Reader>, RecordError> {
    let grants = active_grants(contract, patient).await?;
    let mut out = Vec::new();
    for account in sharing::covering(&grants, category) {
        let acc = session::on_chain_account(contract, account).await?;
        if acc.encryption_key.is_zero() {
            continue;
        }
        out.push(Reader {
            account,
            key: PublicKey(acc.encryption_key.0),
            role: acc.role,
        });
    }
    Ok(out)
}

/// The insurers a claim about `patient` may go to: those the patient lets read claim documents.
pub async fn insurers_of(
    contract: &Contract,
    patient: Address,
) -> Result<Vec<Address>, RecordError> {
    Ok(readers_for(contract, patient, Category::Claims.number())
        .await?
        .into_iter()
        .filter(|r| r.role == Role::Insurer)
        .map(|r| r.account)
        .collect())
}

impl Content {
    /// The metadata the envelope encrypts with it, and its size in bytes.
    fn metadata(&self, now: u64) -> (Metadata, f64) {
        match self {
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
        }
    }

    /// The bytes, when the app made them (a file is read slice by slice instead).
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Content::Bytes { data, .. } => Some(data.as_slice()),
            Content::File(_) => None,
        }
    }

    /// Bytes `start..end`.
    async fn slice(&self, start: f64, end: f64) -> Result<Uint8Array, RecordError> {
        match self {
            Content::File(f) => read_slice(f, start, end).await,
            Content::Bytes { data, .. } => {
                Ok(Uint8Array::from(&data[start as usize..end as usize]))
            }
        }
    }
}

/// Encrypts `content` under `dek` chunk by chunk: its h1 and C1.
async fn seal(
    dek: &SecretKey,
    ctx: &RecordContext,
    metadata: &Metadata,
    (content, total): (&Content, f64),
    progress: &dyn Fn(Stage),
) -> Result<(B256, web_sys::Blob), RecordError> {
    let (mut enc, prelude) = WebEncryptor::start(dek, ctx, metadata, CHUNK_SIZE)
        .await
        .map_err(crypto)?;
    let parts = Array::new();
    parts.push(&Uint8Array::from(&prelude[..]));
    let read_size = f64::from(CHUNK_SIZE * CHUNKS_PER_READ);
    let mut offset = 0.0;
    loop {
        let end = (offset + read_size).min(total);
        let batch = chunk_views(&content.slice(offset, end).await?, CHUNK_SIZE);
        offset = end;
        // The final chunk is the one that reaches the end (an exact multiple ends with a full
        // final chunk; an empty body is one empty final chunk).
        let ends = offset >= total;
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
    Ok((h1, body))
}

/// Everyone a new record of `patient` in `category` is wrapped for ([`sharing::wrap_targets`]):
/// the author, the patient, the patient's grantees whose grant covers the category
/// ([`readers_for`]), and the escrow's break-glass key when given. Asked of the chain once, and
/// used for every record of that category an import makes.
#[derive(Clone)]
pub struct WrapTargets {
    readers: Vec<(Address, PublicKey)>,
    break_glass: Option<(Address, PublicKey)>,
}

impl WrapTargets {
    /// Asks the chain whom a record of `patient` in `category` is for.
    pub async fn of(
        me: &Identity,
        patient: Address,
        category: u8,
        break_glass: Option<(Address, PublicKey)>,
    ) -> Result<Self, RecordError> {
        let patient_key = if patient == me.account {
            None
        } else {
            Some((patient, registered_key(&me.contract, patient).await?))
        };
        let grantees = readers_for(&me.contract, patient, category).await?;
        let readers = sharing::wrap_targets(
            (me.account, me.keys.public()),
            patient_key,
            grantees.into_iter().map(|r| (r.account, r.key)),
        );
        Ok(Self {
            readers: readers.into_iter().collect(),
            break_glass,
        })
    }

    /// `dek` wrapped for each of them, as the upload's `reader=0x<wrap>` entries.
    fn wraps(
        &self,
        me: &Identity,
        dek: &SecretKey,
        record_id: B256,
    ) -> Result<Vec<String>, RecordError> {
        let readers = self.readers.iter().map(|(a, k)| (a, k, Purpose::Reader));
        let glass = self
            .break_glass
            .iter()
            .map(|(a, k)| (a, k, Purpose::BreakGlass));
        readers
            .chain(glass)
            .map(|(reader, key, purpose)| wrap_entry(me, dek, record_id, *reader, key, purpose))
            .collect()
    }
}

/// Encrypts `content` for `patient` and wraps its key to everyone who should read it
/// ([`WrapTargets`]); seals its label.
pub async fn prepare(
    me: &Identity,
    patient: Address,
    category: u8,
    supersedes: B256,
    content: Content,
    break_glass: Option<(Address, PublicKey)>,
    progress: &dyn Fn(Stage),
) -> Result<Prepared, RecordError> {
    let targets = WrapTargets::of(me, patient, category, break_glass).await?;
    prepare_for(
        me,
        (patient, category, supersedes),
        content,
        &targets,
        progress,
    )
    .await
}

/// [`prepare`] for several records of `patient`, each with its category: whom each category's
/// records are for is asked of the chain once, not once a record. `done(i, n)` hears each.
pub async fn prepare_many(
    me: &Identity,
    patient: Address,
    items: Vec<(Content, u8)>,
    break_glass: Option<(Address, PublicKey)>,
    done: &dyn Fn(usize, usize),
) -> Result<Vec<Prepared>, RecordError> {
    let mut targets: std::collections::HashMap<u8, WrapTargets> = Default::default();
    let (total, mut out) = (items.len(), Vec::with_capacity(items.len()));
    for (content, category) in items {
        if !targets.contains_key(&category) {
            let of = WrapTargets::of(me, patient, category, break_glass.clone()).await?;
            targets.insert(category, of);
        }
        let quiet = |_: Stage| {};
        let p = prepare_for(
            me,
            (patient, category, B256::ZERO),
            content,
            &targets[&category],
            &quiet,
        );
        out.push(p.await?);
        done(out.len(), total);
    }
    Ok(out)
}

/// Encrypts `content` as a record of `patient` in `category` (amending `supersedes`, or zero),
/// its key wrapped for `targets`; seals its label.
async fn prepare_for(
    me: &Identity,
    (patient, category, supersedes): (Address, u8, B256),
    content: Content,
    targets: &WrapTargets,
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
    let (metadata, total) = content.metadata((js_sys::Date::now() / 1000.0) as u64);
    let label = label_for(
        &metadata.media_type,
        &metadata.file_name,
        total as u64,
        content.bytes(),
    );
    let label =
        alloy_primitives::hex::encode_prefixed(seal_label(&dek, &ctx, &label).map_err(crypto)?);
    let (h1, body) = seal(&dek, &ctx, &metadata, (&content, total), progress).await?;
    let wraps = targets.wraps(me, &dek, record_id)?;
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
        rooted: None,
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

/// A patient's records as one reader sees them: the escrow's list (newest first) and what each
/// record is called, for those whose label this reader can open.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The records the reader may see.
    pub records: Vec<RecordSummary>,
    /// Their labels, by record id ([`labels_of`]).
    pub labels: std::collections::HashMap<B256, RecordLabel>,
}

impl Listing {
    /// The patient's name, as their own records' labels tell it ([`crate::people::patient_name`]).
    pub fn patient_name(&self, patient: Address) -> Option<String> {
        crate::people::patient_name(
            patient,
            self.records
                .iter()
                .map(|r| (r.author, self.labels.get(&r.record_id))),
        )
    }

    /// The records not erased.
    pub fn unerased_ids(&self) -> Vec<B256> {
        self.records
            .iter()
            .filter(|r| r.state != RecordState::Shredded)
            .map(|r| r.record_id)
            .collect()
    }

    /// Whether the escrow still lists `record_id` as not erased.
    pub fn holds_unerased(&self, record_id: B256) -> bool {
        self.records
            .iter()
            .any(|r| r.record_id == record_id && r.state != RecordState::Shredded)
    }
}

/// The records of `patient` the signed-in reader may see, with the labels they can open.
pub async fn list(me: &Identity, patient: Address) -> Result<Listing, RecordError> {
    let records = escrow::records(patient).await?;
    let labels = labels_of(me, &records);
    Ok(Listing { records, labels })
}

/// Waits until the escrow stops listing `record_id` of `patient` as a record it holds keys for
/// (its follower destroys them once it sees the erasure on chain), for up to 30 seconds.
pub async fn await_erased(me: &Identity, patient: Address, record_id: B256) {
    await_listing(me, patient, |listing| !listing.holds_unerased(record_id)).await;
}

/// Waits until the escrow lists none of `patient`'s anchored records as holding keys (its
/// follower destroys them once it sees an `eraseAll` on chain), for up to 30 seconds; whether it
/// did. Uploads not anchored are not the chain's to erase: they expire on their own.
pub async fn await_all_erased(me: &Identity, patient: Address) -> bool {
    await_listing(me, patient, |listing| {
        listing
            .records
            .iter()
            .all(|r| r.state != RecordState::Committed)
    })
    .await
}

/// Waits until the escrow lists every record of `records` to the signed-in reader, for up to 30
/// seconds; whether it did. A record added by someone other than the patient is listed to them
/// only once the escrow's follower has seen its anchor on chain, a block or more after the
/// transaction was mined: a list fetched at once would leave out what was just added.
pub async fn await_listed(me: &Identity, patient: Address, records: &[B256]) -> bool {
    await_listing(me, patient, |listing| {
        records
            .iter()
            .all(|id| listing.records.iter().any(|r| r.record_id == *id))
    })
    .await
}

/// Asks the escrow for `patient`'s listing every half second until `settled` holds of it, for up
/// to 30 seconds; whether it did.
async fn await_listing(
    me: &Identity,
    patient: Address,
    settled: impl Fn(&Listing) -> bool,
) -> bool {
    for _ in 0..60 {
        if let Ok(listing) = list(me, patient).await {
            if settled(&listing) {
                return true;
            }
        }
        super::wallet::sleep_ms(500).await;
    }
    false
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
    store_all(me, std::slice::from_mut(prepared), progress).await
}

/// Makes `prepared` one bulk import: the leaves of Merkle trees, each record given its place
/// under its root, each root anchored by one `anchorRecordRoot` whatever its number of records
/// (one signature and the gas of three storage slots; docs/contract.md "Records under a root").
/// One root per [`crate::import::ROOT_CIPHERTEXT_BYTES`] of ciphertext, so that each root's
/// uploads fit the escrow's pending quota before it is anchored. Such records are originals of one
/// patient: they cannot amend a record, nor be amended or be a claim's document (the contract's
/// `recordOf` does not know them).
pub fn place_under_roots(prepared: &mut [Prepared]) -> Result<(), RecordError> {
    let refuse = |why: &str| Err(RecordError::Crypto(format!("not a bulk import: {why}")));
    let Some(patient) = prepared.first().map(|p| p.patient) else {
        return refuse("no records");
    };
    if prepared.iter().any(|p| p.patient != patient) {
        return refuse("records of several patients");
    }
    if prepared.iter().any(|p| !p.supersedes.is_zero()) {
        return refuse("a record amends another");
    }
    let sizes: Vec<f64> = prepared.iter().map(|p| p.body.size()).collect();
    for group in crate::import::root_groups(&sizes, crate::import::ROOT_CIPHERTEXT_BYTES) {
        let records = &mut prepared[group];
        let batch = batch_of(records)?;
        for (index, p) in (0u32..).zip(records.iter_mut()) {
            p.rooted = batch.place(index);
        }
    }
    Ok(())
}

/// A bulk import's records, root by root: the root's records sent to the escrow (unless it
/// already acknowledged them), then the root anchored (unless the chain holds it), before the
/// next root's. Safe to call again after any failure.
async fn store_under_roots(
    me: &Identity,
    prepared: &mut [Prepared],
    progress: std::rc::Rc<dyn Fn(Stage)>,
) -> Result<(), RecordError> {
    let root_of = |p: &Prepared| p.rooted.as_ref().map(|place| place.root);
    let total = prepared.len();
    let done = std::cell::Cell::new(prepared.iter().filter(|p| p.uploaded).count());
    for group in prepared.chunk_by_mut(|a, b| root_of(a) == root_of(b)) {
        upload_all(group, &progress, (&done, total)).await?;
        progress(Stage::Anchoring);
        if let Some(root) = group.first().and_then(root_of) {
            anchor_root(me, group, root).await?;
        }
    }
    Ok(())
}

/// [`store`] for several records: each is sent to the escrow (unless it already acknowledged
/// it), then those not yet anchored go on chain together: under their roots, one
/// `anchorRecordRoot` each, for a bulk import ([`place_under_roots`]), else in one `addRecords`
/// transaction per the contract's `MAX_RECORD_BATCH` (one signature for a whole selection of
/// files, and a fraction of the gas per record; bench/gas.md). Safe to call again after any
/// failure.
pub async fn store_all(
    me: &Identity,
    prepared: &mut [Prepared],
    progress: std::rc::Rc<dyn Fn(Stage)>,
) -> Result<(), RecordError> {
    if prepared.iter().any(|p| p.rooted.is_some()) {
        return store_under_roots(me, prepared, progress).await;
    }
    let total = prepared.len();
    let done = std::cell::Cell::new(prepared.iter().filter(|p| p.uploaded).count());
    upload_all(prepared, &progress, (&done, total)).await?;
    progress(Stage::Anchoring);
    let mut unanchored = Vec::new();
    for p in prepared.iter() {
        let on_chain = me
            .contract
            .view(MedLedger::recordOfCall {
                recordId: p.record_id,
            })
            .await?;
        if on_chain.ciphertextHash != p.h1 {
            unanchored.push(MedLedger::NewRecord {
                recordId: p.record_id,
                patient: p.patient,
                ciphertextHash: p.h1,
                category: p.category,
                supersedes: p.supersedes,
            });
        }
    }
    let most = if unanchored.len() > 1 {
        // The contract's bound, asked rather than copied (it is a constant of its code).
        let most = me.contract.view(MedLedger::MAX_RECORD_BATCHCall {}).await?;
        most.saturating_to::<usize>().max(1)
    } else {
        1
    };
    for batch in unanchored.chunks(most) {
        anchor(me, batch).await?;
    }
    Ok(())
}

/// Uploads sent at once by [`upload_all`]: several small records in flight keep the escrow's group
/// commit and the connection busy (one at a time, a 5,000-resource FHIR import spent 95 % of its
/// time waiting on each upload's answer: bench/README.md "FHIR import"), few enough that a large
/// file's upload is not starved.
const UPLOADS_AT_ONCE: usize = 6;

/// Sends the records of `prepared` the escrow has not acknowledged, [`UPLOADS_AT_ONCE`] at a time;
/// `done` counts them out of `total` for the progress. Stops at the first failure (those
/// acknowledged stay marked, so a retry sends only the rest).
async fn upload_all(
    prepared: &mut [Prepared],
    progress: &std::rc::Rc<dyn Fn(Stage)>,
    (done, total): (&std::cell::Cell<usize>, usize),
) -> Result<(), RecordError> {
    use futures::stream::{self, TryStreamExt};
    let waiting = prepared
        .iter_mut()
        .filter(|p| !p.uploaded)
        .map(Ok::<_, RecordError>);
    stream::iter(waiting)
        .try_for_each_concurrent(UPLOADS_AT_ONCE, |p| async move {
            upload(p, progress.clone()).await?;
            done.set(done.get() + 1);
            progress(Stage::Uploaded(done.get(), total));
            Ok(())
        })
        .await
}

/// Sends C1 of a prepared record to the escrow and marks it acknowledged.
async fn upload(
    prepared: &mut Prepared,
    progress: std::rc::Rc<dyn Fn(Stage)>,
) -> Result<(), RecordError> {
    let headers = UploadHeaders {
        record_id: prepared.record_id,
        patient: prepared.patient,
        category: prepared.category,
        h1: prepared.h1,
        wraps: prepared.wraps.clone(),
        label: prepared.label.clone(),
        rooted: prepared.rooted.clone(),
    };
    escrow::upload(&headers, &prepared.body, move |sent, total| {
        progress(Stage::Uploading(if total > 0.0 {
            sent / total
        } else {
            0.0
        }))
    })
    .await?;
    prepared.uploaded = true;
    Ok(())
}

/// Anchors a bulk import's root with `anchorRecordRoot`, unless the chain holds it already.
async fn anchor_root(me: &Identity, prepared: &[Prepared], root: B256) -> Result<(), RecordError> {
    let on_chain = me
        .contract
        .view(MedLedger::recordRootOfCall { root })
        .await?;
    if !on_chain.patient.is_zero() {
        return Ok(());
    }
    let Some(first) = prepared.first() else {
        return Ok(());
    };
    // The records' own tree, built again: the root their uploads named, or a refusal.
    let batch = batch_of(prepared)?;
    if batch.root() != root {
        return Err(RecordError::Crypto(
            "the import's records no longer make the root their uploads named".into(),
        ));
    }
    let call = batch.anchor_call(first.patient);
    me.send_core(call).await?;
    Ok(())
}

/// The Merkle tree of `records` as leaves, in order.
fn batch_of(records: &[Prepared]) -> Result<RootedBatch, RecordError> {
    let leaves: Vec<NewRootedRecord> = records
        .iter()
        .map(|p| NewRootedRecord {
            record_id: p.record_id,
            ciphertext_hash: p.h1,
            category: p.category,
        })
        .collect();
    RootedBatch::new(&leaves).map_err(|e| RecordError::Crypto(e.to_string()))
}

/// Anchors records on chain: `addRecord` for one (its gas is lower alone), `addRecords` for more.
async fn anchor(me: &Identity, batch: &[MedLedger::NewRecord]) -> Result<(), RecordError> {
    match batch {
        [] => return Ok(()),
        [one] => {
            let call = MedLedger::addRecordCall {
                recordId: one.recordId,
                patient: one.patient,
                ciphertextHash: one.ciphertextHash,
                category: one.category,
                supersedes: one.supersedes,
            };
            me.send_core(call).await?;
        }
        many => {
            let call = MedLedger::addRecordsCall {
                batch: many.to_vec(),
            };
            me.send_core(call).await?;
        }
    }
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
    let mut download = escrow::download(record_id, None).await?;
    let anchored_h1 = anchored_h1(me, record_id, patient, &download).await?;
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
        for plain in dec.push_frame(&piece).await.map_err(crypto)? {
            parts.push(&plain);
        }
    }
    let (rest, opened) = dec.finish().await.map_err(crypto)?;
    for plain in &rest {
        parts.push(plain);
    }
    if opened.h1 != anchored_h1.unwrap_or(download.h1) {
        return Err(RecordError::HashMismatch);
    }
    let props = web_sys::BlobPropertyBag::new();
    props.set_type(&opened.metadata.media_type);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &props)
        .map_err(|_| RecordError::File("could not assemble the plaintext".into()))?;
    // Shown inline: small records, and a FHIR resource whole (its document's attachments are
    // offered as files; it is at most an import's size).
    let fhir = opened.metadata.media_type == medledger_protocol::fhir::MEDIA_TYPE;
    let inline_max = if fhir {
        medledger_protocol::fhir::MAX_INPUT_BYTES as f64
    } else {
        65_536.0
    };
    let small = if blob.size() <= inline_max {
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
        anchored: anchored_h1.is_some(),
        emergency: download.emergency,
    })
}

/// The h1 the chain vouches for the record the escrow is releasing: its `recordOf` anchor, or for
/// a record under a root the released h1 once `canReadRooted` proves its leaf (id, h1, category,
/// index) under the patient's root. `None` for the patient's own record not anchored yet; an
/// anchor that disagrees is refused.
async fn anchored_h1(
    me: &Identity,
    record_id: B256,
    patient: Address,
    download: &escrow::Download,
) -> Result<Option<B256>, RecordError> {
    let Some(place) = &download.rooted else {
        let record = MedLedger::recordOfCall {
            recordId: record_id,
        };
        let on_chain = me.contract.view(record).await?.ciphertextHash;
        return match on_chain {
            h if h.is_zero() => Ok(None),
            h if h == download.h1 => Ok(Some(h)),
            _ => Err(RecordError::HashMismatch),
        };
    };
    let leaf = place.leaf(record_id, download.h1, download.category);
    let (root, proof) = (place.root, place.proof.clone());
    let proven = MedLedger::canReadRootedCall {
        patient,
        reader: me.account,
        root,
        record: leaf,
        proof,
    };
    if me.contract.view(proven).await? {
        return Ok(Some(download.h1));
    }
    let anchored = me
        .contract
        .view(MedLedger::recordRootOfCall { root })
        .await?;
    if anchored.patient.is_zero() && me.account == patient {
        return Ok(None);
    }
    Err(RecordError::HashMismatch)
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
