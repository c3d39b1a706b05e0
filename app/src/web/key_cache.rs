//! The encryption key remembered on this device (formats.md 6.1, "One signature at sign-in"): so
//! that a sign-in asks the wallet for one signature (SIWE) where it asked two, the seed of the
//! account's key is kept in this browser's IndexedDB, encrypted with AES-256-GCM under a WebCrypto
//! key generated here as non-extractable (no script, this app's included, can read its bytes; the
//! browser keeps it for this origin alone), one entry per wallet, bound by the cipher's associated
//! data to the deployment, the wallet, the account and the key version.
//!
//! What is remembered is only ever used after the wallet's fresh SIWE signature for this sign-in,
//! and only when it gives the key the chain holds for the account now; anything else (another
//! version after a rotation, another account after a recovery, a corrupted entry) is ignored and
//! replaced by the key the wallet derives. A person who unticks "remember" at sign-in, or rotates
//! the key, leaves nothing behind. Every failure here (no IndexedDB in a private window, a quota)
//! falls back to asking the wallet: remembering is a convenience, never a requirement.

use alloy_primitives::Address;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, IdbDatabase, IdbRequest, IdbTransactionMode};
use zeroize::Zeroizing;

const DB: &str = "medledger-keys";
const STORE: &str = "keys";
/// Domain label of the associated data.
const LABEL: &[u8] = b"medledger/v1/key-cache";

/// Which remembered key: the deployment and the wallet (the entry names the account and version).
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The core contract.
    pub contract: Address,
    /// The wallet that signs in.
    pub wallet: Address,
}

impl Slot {
    fn name(&self) -> String {
        format!(
            "{}:{}:{}",
            self.chain_id,
            self.contract.to_checksum(None),
            self.wallet.to_checksum(None)
        )
    }

    /// The associated data: label, chain, contract, wallet, account, version.
    fn aad(&self, account: Address, version: u32) -> Vec<u8> {
        let mut b = LABEL.to_vec();
        b.extend_from_slice(&self.chain_id.to_be_bytes());
        b.extend_from_slice(self.contract.as_slice());
        b.extend_from_slice(self.wallet.as_slice());
        b.extend_from_slice(account.as_slice());
        b.extend_from_slice(&version.to_be_bytes());
        b
    }
}

/// The seed remembered for `slot`, when it is `account`'s of key `version`; `None` otherwise
/// (nothing remembered, or something else, or no IndexedDB).
pub async fn recall(slot: Slot, account: Address, version: u32) -> Option<Zeroizing<[u8; 32]>> {
    let entry = read(slot).await.ok()??;
    let field = |name: &str| Reflect::get(&entry, &JsValue::from_str(name)).ok();
    let stored_account: Address = field("account")?.as_string()?.parse().ok()?;
    let stored_version = field("version")?.as_f64()?;
    if stored_account != account || stored_version != f64::from(version) {
        return None;
    }
    let key: CryptoKey = field("key")?.dyn_into().ok()?;
    let iv = Uint8Array::new(&field("iv")?).to_vec();
    let sealed = Uint8Array::new(&field("sealed")?).to_vec();
    let params = gcm_params(&iv, &slot.aad(account, version)).ok()?;
    let opened = subtle()
        .ok()?
        .decrypt_with_object_and_u8_array(&params, &key, &sealed)
        .ok()?;
    let plain = Zeroizing::new(Uint8Array::new(&JsFuture::from(opened).await.ok()?).to_vec());
    let mut seed = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return None;
    }
    seed.copy_from_slice(&plain);
    Some(seed)
}

/// Remembers `seed` (`account`'s key of `version`) for `slot`, replacing what was there. Best
/// effort: a failure leaves the next sign-in asking the wallet, as without it.
pub async fn remember(slot: Slot, account: Address, version: u32, seed: &[u8; 32]) {
    if let Err(e) = try_remember(slot, account, version, seed).await {
        web_sys::console::warn_1(
            &format!("the key is not remembered on this device: {e:?}").into(),
        );
    }
}

async fn try_remember(
    slot: Slot,
    account: Address,
    version: u32,
    seed: &[u8; 32],
) -> Result<(), JsValue> {
    let subtle = subtle()?;
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into())?;
    Reflect::set(&algorithm, &"length".into(), &JsValue::from(256))?;
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    // Not extractable: the key can be used by this origin's scripts, never read out.
    let key: CryptoKey =
        JsFuture::from(subtle.generate_key_with_object(&algorithm, false, &usages)?)
            .await?
            .dyn_into()?;
    let mut iv = [0u8; 12];
    medledger_protocol::cipher::fill_random(&mut iv)
        .map_err(|_| JsValue::from_str("the browser gave no random numbers"))?;
    let params = gcm_params(&iv, &slot.aad(account, version))?;
    let sealed =
        JsFuture::from(subtle.encrypt_with_object_and_u8_array(&params, &key, seed)?).await?;
    let entry = Object::new();
    Reflect::set(&entry, &"account".into(), &account.to_checksum(None).into())?;
    Reflect::set(&entry, &"version".into(), &JsValue::from(version))?;
    Reflect::set(&entry, &"key".into(), &key)?;
    Reflect::set(&entry, &"iv".into(), &Uint8Array::from(&iv[..]))?;
    Reflect::set(&entry, &"sealed".into(), &sealed)?;
    let db = open().await?;
    let store = db
        .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)?
        .object_store(STORE)?;
    done(&store.put_with_key(&entry, &slot.name().into())?).await?;
    Ok(())
}

/// Forgets what `slot` remembers (nothing when nothing is).
pub async fn forget(slot: Slot) {
    let forgotten = async {
        let db = open().await?;
        let store = db
            .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)?
            .object_store(STORE)?;
        done(&store.delete(&slot.name().into())?).await
    };
    if let Err(e) = forgotten.await {
        web_sys::console::warn_1(&format!("could not forget the remembered key: {e:?}").into());
    }
}

/// Whether `slot` remembers a key (for any account or version).
pub async fn remembers(slot: Slot) -> bool {
    matches!(read(slot).await, Ok(Some(_)))
}

async fn read(slot: Slot) -> Result<Option<JsValue>, JsValue> {
    let db = open().await?;
    let store = db
        .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readonly)?
        .object_store(STORE)?;
    let value = done(&store.get(&slot.name().into())?).await?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

fn subtle() -> Result<web_sys::SubtleCrypto, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    Ok(window.crypto()?.subtle())
}

fn gcm_params(iv: &[u8], aad: &[u8]) -> Result<Object, JsValue> {
    let params = Object::new();
    Reflect::set(&params, &"name".into(), &"AES-GCM".into())?;
    Reflect::set(&params, &"iv".into(), &Uint8Array::from(iv))?;
    Reflect::set(&params, &"additionalData".into(), &Uint8Array::from(aad))?;
    Ok(params)
}

/// The database, with its one store made on first use.
async fn open() -> Result<IdbDatabase, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let factory = window
        .indexed_db()?
        .ok_or_else(|| JsValue::from_str("no IndexedDB"))?;
    let request = factory.open_with_u32(DB, 1)?;
    let upgrading = request.clone();
    let upgrade = Closure::<dyn FnMut()>::new(move || {
        if let Ok(db) = upgrading.result().and_then(|r| r.dyn_into::<IdbDatabase>()) {
            let _ = db.create_object_store(STORE);
        }
    });
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let db = done(&request).await;
    request.set_onupgradeneeded(None);
    drop(upgrade);
    db?.dyn_into()
}

/// The request's result once it succeeds; its error otherwise.
async fn done(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        let ok = request.clone();
        let on_success = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &ok.result().unwrap_or(JsValue::UNDEFINED));
        });
        let failed = request.clone();
        let on_error = Closure::once_into_js(move || {
            let why = failed
                .error()
                .ok()
                .flatten()
                .map(JsValue::from)
                .unwrap_or_else(|| JsValue::from_str("IndexedDB request failed"));
            let _ = reject.call1(&JsValue::NULL, &why);
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise).await
}
