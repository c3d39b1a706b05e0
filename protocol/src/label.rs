//! Record labels: what a list shows of a record (a title, a summary line and, for an entry, the
//! patient's name), sealed under a key derived from the record's data key (DEK). Whoever can
//! unwrap the DEK — the patient and every reader the record's key was wrapped to — can read the
//! label without downloading the record; the escrow, which stores it beside the record, cannot.
//! Erasure destroys the wrapped DEKs, and with them every way to open the label (docs/formats.md
//! section 8).
//!
//! Sealed form: `u8 version (1) || 12-byte random nonce || AES-256-GCM(JSON label) || 16-byte tag`,
//! key = HKDF-SHA256(ikm = DEK, salt = none, info = [`LABEL_INFO`]), AAD = `u64 chain_id ||
//! contract || record_id || patient`, so a label cannot be moved to another record.

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroize;

use crate::cipher::{fill_random, AesGcm256, ChunkCipher, SecretKey, NONCE_LEN, TAG_LEN};
use crate::envelope::RecordContext;

/// The sealed form's version byte.
pub const LABEL_VERSION: u8 = 1;
/// HKDF info for the label key: distinct from every other use of a DEK.
pub const LABEL_INFO: &[u8] = b"medledger/record-label/v1";
/// Longest label plaintext (its JSON), so a sealed label stays small.
pub const MAX_LABEL_JSON: usize = 1024;
/// Longest sealed label: what the escrow accepts.
pub const MAX_SEALED_LABEL: usize = 1 + NONCE_LEN + MAX_LABEL_JSON + TAG_LEN;
/// Longest title and summary, in characters; longer ones are cut with an ellipsis.
pub const MAX_TITLE_CHARS: usize = 120;

/// What a list shows of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordLabel {
    /// The record's title: an entry's condition, a claim's diagnosis, a file's name.
    pub title: String,
    /// One line under the title.
    #[serde(default)]
    pub summary: String,
    /// The patient's name, when the record says it (a structured entry's name field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_name: Option<String>,
    /// For a FHIR resource's record, its `Type/id` (docs/fhir.md): what the app needs to resume an
    /// import and to open the resources of a clinical summary without downloading anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fhir: Option<String>,
}

/// Why a label could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabelError {
    /// The label's JSON is longer than [`MAX_LABEL_JSON`].
    #[error("the label is too long")]
    TooLong,
    /// Not a sealed label of a version this code reads.
    #[error("not a sealed record label")]
    Format,
    /// The tag did not verify: another DEK, another record, or altered bytes.
    #[error("the label does not open with this record's key")]
    Opening,
    /// No randomness for the nonce.
    #[error("no randomness available")]
    Random,
}

fn cut(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_TITLE_CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX_TITLE_CHARS - 1).collect();
    short.push('…');
    short
}

impl RecordLabel {
    /// A label with its title and summary cut to [`MAX_TITLE_CHARS`].
    pub fn new(title: &str, summary: &str, patient_name: Option<&str>) -> Self {
        Self {
            title: cut(title),
            summary: cut(summary),
            patient_name: patient_name.map(cut).filter(|n| !n.is_empty()),
            fhir: None,
        }
    }
}

fn aad(ctx: &RecordContext) -> Vec<u8> {
    let mut aad = Vec::with_capacity(8 + 20 + 32 + 20);
    aad.extend_from_slice(&ctx.chain_id.to_be_bytes());
    aad.extend_from_slice(ctx.contract.as_slice());
    aad.extend_from_slice(ctx.record_id.as_slice());
    aad.extend_from_slice(ctx.patient.as_slice());
    aad
}

fn label_cipher(dek: &SecretKey) -> AesGcm256 {
    let mut key = [0u8; 32];
    // A 32-byte output is always within HKDF-SHA256's limit.
    if Hkdf::<Sha256>::new(None, dek.expose_secret())
        .expand(LABEL_INFO, &mut key)
        .is_err()
    {
        unreachable!("32 bytes is a valid HKDF-SHA256 output length");
    }
    let secret = SecretKey::from_bytes(key);
    key.zeroize();
    AesGcm256::new(&secret)
}

/// Seals `label` for the record `ctx` under its DEK.
pub fn seal_label(
    dek: &SecretKey,
    ctx: &RecordContext,
    label: &RecordLabel,
) -> Result<Vec<u8>, LabelError> {
    let mut json = serde_json::to_vec(label).map_err(|_| LabelError::Format)?;
    if json.len() > MAX_LABEL_JSON {
        return Err(LabelError::TooLong);
    }
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce).map_err(|_| LabelError::Random)?;
    let tag = label_cipher(dek)
        .seal_in_place(&nonce, &aad(ctx), &mut json)
        .map_err(|_| LabelError::Format)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + json.len() + TAG_LEN);
    out.push(LABEL_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&json);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens a sealed label of the record `ctx` with its DEK.
pub fn open_label(
    dek: &SecretKey,
    ctx: &RecordContext,
    sealed: &[u8],
) -> Result<RecordLabel, LabelError> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed.len() > MAX_SEALED_LABEL {
        return Err(LabelError::Format);
    }
    if sealed[0] != LABEL_VERSION {
        return Err(LabelError::Format);
    }
    let (head, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&head[1..1 + NONCE_LEN]);
    let mut tag_bytes = [0u8; TAG_LEN];
    tag_bytes.copy_from_slice(tag);
    let mut json = head[1 + NONCE_LEN..].to_vec();
    label_cipher(dek)
        .open_in_place(&nonce, &aad(ctx), &mut json, &tag_bytes)
        .map_err(|_| LabelError::Opening)?;
    let label = serde_json::from_slice(&json).map_err(|_| LabelError::Format);
    json.zeroize();
    label
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, B256};

    fn ctx(record: u8) -> RecordContext {
        RecordContext {
            chain_id: 1337,
            contract: Address::repeat_byte(0xC0),
            record_id: B256::repeat_byte(record),
            patient: Address::repeat_byte(0xAA),
        }
    }

    #[test]
    fn a_label_opens_with_its_record_key_only() {
        let dek = SecretKey::from_bytes([7; 32]);
        let label = RecordLabel::new(
            "Asthma — since 2019-06",
            "Ada Lovelace · 61.5 kg",
            Some("Ada Lovelace"),
        );
        let sealed = seal_label(&dek, &ctx(1), &label).expect("seal");
        assert!(sealed.len() <= MAX_SEALED_LABEL);
        assert_eq!(open_label(&dek, &ctx(1), &sealed), Ok(label.clone()));
        // Fresh nonce each time: two seals of one label differ.
        assert_ne!(seal_label(&dek, &ctx(1), &label).expect("seal"), sealed);
        // Another key, another record, or one altered byte: refused.
        let other = SecretKey::from_bytes([8; 32]);
        assert_eq!(
            open_label(&other, &ctx(1), &sealed),
            Err(LabelError::Opening)
        );
        assert_eq!(open_label(&dek, &ctx(2), &sealed), Err(LabelError::Opening));
        for i in [1, 13, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(
                open_label(&dek, &ctx(1), &bad),
                Err(LabelError::Opening),
                "byte {i}"
            );
        }
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert_eq!(open_label(&dek, &ctx(1), &v2), Err(LabelError::Format));
        assert_eq!(
            open_label(&dek, &ctx(1), &sealed[..20]),
            Err(LabelError::Format)
        );
    }

    #[test]
    fn long_titles_are_cut_and_a_label_stays_small() {
        let long = "x".repeat(5000);
        let label = RecordLabel::new(&long, &long, Some(&long));
        assert_eq!(label.title.chars().count(), MAX_TITLE_CHARS);
        assert!(label.title.ends_with('…'));
        let dek = SecretKey::from_bytes([7; 32]);
        let sealed = seal_label(&dek, &ctx(1), &label).expect("a cut label fits");
        assert!(sealed.len() <= MAX_SEALED_LABEL);
        // Without a name, the field is left out rather than sent empty.
        let plain = RecordLabel::new("scan.pdf", "application/pdf, 2 MiB", Some("  "));
        assert_eq!(plain.patient_name, None);
    }
}
