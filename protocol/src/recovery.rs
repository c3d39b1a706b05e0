//! Recovery shares (docs/formats.md section 9; issue 18): the 32-byte seed an account's encryption
//! key comes from (section 6.1) split `t` of `n` among guardians with Shamir's scheme over GF(256)
//! (`vsss-rs`, audited), each share sealed to its guardian's X25519 key with the HPKE wrap of
//! section 3, bound to the set and the share's place in it.
//!
//! A [`RecoverySet`] names the account, the key version whose seed is split, the threshold and the
//! guardians in order; its [`RecoverySet::id`] commits to all of them. A [`Manifest`] is what may
//! be kept in the open beside the sealed shares: the set and a commitment to each share.
//! [`recover`] checks every share against its commitment (a corrupted or substituted share is
//! named, not silently combined into a wrong seed), combines `t` of them, and checks the seed gives
//! the key the caller expects: the account's key of that version as the chain records it, never a
//! key from the manifest, which whoever keeps it could replace with shares of a seed of their own.
//!
//! Fewer than `t` shares say nothing about the seed: each byte of a share is uniform whatever the
//! seed (tested below for `t = 2` by the distribution of a share byte over many polynomials, for
//! two seeds). Zeroisation is best effort: the shares and seeds this module holds are wiped, but
//! the crate's intermediate buffers are its own. The commitments are hashes of 32-byte shares of a uniformly random seed: guessing a
//! missing share from its commitment is guessing 256 random bits.
//!
//! A guardian re-seals its share for the wallet recovering the account with
//! [`Share::seal_for_transport`] (purpose `recovery-transport`, to the transport key of that
//! wallet's request on chain), which [`Share::open_transported`] opens. The escrow keeps the kits
//! and the re-sealed shares (docs/api.md "Recovery kits"); the app runs each step
//! (`app/src/web/recovery.rs`).

use alloy_primitives::{keccak256, Address, B256};
use zeroize::{Zeroize, Zeroizing};

use crate::cipher::SecretKey;
use crate::wrap::{
    unwrap_dek, wrap_dek, wrap_dek_with_rng, KeyPair, PublicKey, Purpose, WrapContext, WrapError,
    WRAPPED_LEN,
};

/// The most guardians a set may name.
pub const MAX_GUARDIANS: usize = 16;

/// Domain label of [`RecoverySet::id`].
const SET_LABEL: &[u8] = b"medledger/v1/recovery-set";
/// Domain label of a share's commitment.
const SHARE_LABEL: &[u8] = b"medledger/v1/recovery-share";
/// Domain label of [`Manifest::id`].
const KIT_LABEL: &[u8] = b"medledger/v1/recovery-kit";
/// Domain label of a recovery sheet's check digits.
const SHEET_LABEL: &[u8] = b"medledger/v1/recovery-sheet";
/// What a recovery sheet's code starts with (format 1).
const SHEET_PREFIX: &str = "MLS1";

/// Why shares could not be made or a seed recovered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// The threshold or the guardians are not a usable set.
    #[error("a recovery set needs 2 ≤ threshold ≤ guardians ≤ {MAX_GUARDIANS}, distinct and not the account itself: {0}")]
    BadSet(String),
    /// Fewer distinct shares than the threshold.
    #[error("{got} distinct shares were given; the set needs {needed}")]
    TooFewShares {
        /// Shares given (distinct indexes).
        got: usize,
        /// The threshold.
        needed: usize,
    },
    /// A share that is not the one the manifest committed to (corrupted, or another set's).
    #[error("share {0} does not match its commitment: it was corrupted or belongs to another set")]
    CorruptShare(u8),
    /// A share's index is outside the set.
    #[error("share index {0} is not one of the set's")]
    UnknownIndex(u8),
    /// The shares combined into a seed that does not give the expected key.
    #[error("the shares combine into a seed that does not give the account's key")]
    WrongSeed,
    /// Sealing or opening a share failed.
    #[error("sealing or opening a share: {0}")]
    Seal(#[from] WrapError),
    /// The randomness source or the sharing itself failed.
    #[error("splitting failed: {0}")]
    Split(String),
    /// A recovery sheet's code that is mistyped, or of another kit.
    #[error("the recovery sheet's code {0}")]
    BadSheet(&'static str),
}

/// Who may help recover an account's key: the account, the deployment, the key version whose seed
/// is split, the threshold and the guardians in order (a guardian's share has index its position
/// plus one). On the wire (crate::api::recovery) as camelCase JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverySet {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The MedLedger contract.
    pub contract: Address,
    /// The account whose key the seed gives.
    pub account: Address,
    /// The key version (formats.md 6.1) whose seed is split.
    pub key_version: u32,
    /// How many guardians' shares recover the seed.
    pub threshold: u8,
    /// The guardians, in share order.
    pub guardians: Vec<Address>,
}

impl RecoverySet {
    /// Checks the set: 2 ≤ threshold ≤ guardians ≤ [`MAX_GUARDIANS`], guardians distinct, none
    /// the account itself or the zero address.
    pub fn check(&self) -> Result<(), RecoveryError> {
        let n = self.guardians.len();
        let t = usize::from(self.threshold);
        if t < 2 || t > n || n > MAX_GUARDIANS {
            return Err(RecoveryError::BadSet(format!(
                "threshold {t} of {n} guardians"
            )));
        }
        for (i, g) in self.guardians.iter().enumerate() {
            if g.is_zero() || *g == self.account || self.guardians[..i].contains(g) {
                return Err(RecoveryError::BadSet(format!("guardian {g}")));
            }
        }
        Ok(())
    }

    /// `keccak256(label || u64 chain || contract || account || u32 keyVersion || u8 t || u8 n ||
    /// guardians)`: names the set everywhere a share is bound to it.
    pub fn id(&self) -> B256 {
        let mut b = Vec::with_capacity(SET_LABEL.len() + 8 + 20 + 20 + 4 + 2 + 20 * 16);
        b.extend_from_slice(SET_LABEL);
        b.extend_from_slice(&self.chain_id.to_be_bytes());
        b.extend_from_slice(self.contract.as_slice());
        b.extend_from_slice(self.account.as_slice());
        b.extend_from_slice(&self.key_version.to_be_bytes());
        b.push(self.threshold);
        // At most MAX_GUARDIANS (checked before any share is made).
        b.push(u8::try_from(self.guardians.len()).unwrap_or(u8::MAX));
        for g in &self.guardians {
            b.extend_from_slice(g.as_slice());
        }
        keccak256(b)
    }

    /// The guardian of share `index` (1-based).
    pub fn guardian(&self, index: u8) -> Result<Address, RecoveryError> {
        usize::from(index)
            .checked_sub(1)
            .and_then(|i| self.guardians.get(i))
            .copied()
            .ok_or(RecoveryError::UnknownIndex(index))
    }

    /// What a share for guardian `index` is sealed under: the guardian as reader, the set and the
    /// index in place of a record id, purpose `guardian`.
    fn wrap_context(&self, index: u8) -> Result<WrapContext, RecoveryError> {
        Ok(WrapContext {
            chain_id: self.chain_id,
            contract: self.contract,
            record_id: self.place(index),
            reader: self.guardian(index)?,
            purpose: Purpose::Guardian,
        })
    }

    /// What share `index` is re-sealed under for `new_wallet`, the wallet asking to take the
    /// account over: that wallet as reader, the same place, purpose `recovery-transport` (so a
    /// share sealed to a guardian never opens as one in transport, nor the other way round).
    fn transport_context(
        &self,
        index: u8,
        new_wallet: Address,
    ) -> Result<WrapContext, RecoveryError> {
        self.guardian(index)?;
        Ok(WrapContext {
            chain_id: self.chain_id,
            contract: self.contract,
            record_id: self.place(index),
            reader: new_wallet,
            purpose: Purpose::Transport,
        })
    }

    /// `keccak256(set id || u8 index)`: a share's place, standing for the record id of a wrap.
    fn place(&self, index: u8) -> B256 {
        let mut place = self.id().to_vec();
        place.push(index);
        keccak256(place)
    }
}

/// One guardian's share: its index (1..=n) and 32 bytes, one per byte of the seed.
#[derive(Clone, PartialEq, Eq, Zeroize)]
pub struct Share {
    /// 1-based: the guardian's position in the set plus one.
    pub index: u8,
    /// The polynomials' values at `index`, byte by byte.
    pub value: [u8; 32],
}

impl core::fmt::Debug for Share {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Share")
            .field("index", &self.index)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl Share {
    /// `keccak256(label || set id || u8 index || value)`: what the manifest keeps of it.
    pub fn commitment(&self, set: &RecoverySet) -> B256 {
        let mut b = Zeroizing::new(Vec::with_capacity(SHARE_LABEL.len() + 32 + 1 + 32));
        b.extend_from_slice(SHARE_LABEL);
        b.extend_from_slice(set.id().as_slice());
        b.push(self.index);
        b.extend_from_slice(&self.value);
        keccak256(&*b)
    }

    /// The share sealed to its guardian's key (HPKE, section 3, purpose `guardian`).
    pub fn seal(
        &self,
        set: &RecoverySet,
        guardian_key: &PublicKey,
    ) -> Result<[u8; WRAPPED_LEN], RecoveryError> {
        let value =
            SecretKey::from_slice(&self.value).ok_or(RecoveryError::Seal(WrapError::Seal))?;
        Ok(wrap_dek(
            &value,
            guardian_key,
            &set.wrap_context(self.index)?,
        )?)
    }

    /// [`Share::seal`] with the ephemeral key from `rng` (deterministic test vectors).
    pub fn seal_with_rng(
        &self,
        set: &RecoverySet,
        guardian_key: &PublicKey,
        rng: &mut impl hpke::rand_core::CryptoRng,
    ) -> Result<[u8; WRAPPED_LEN], RecoveryError> {
        let value =
            SecretKey::from_slice(&self.value).ok_or(RecoveryError::Seal(WrapError::Seal))?;
        let ctx = set.wrap_context(self.index)?;
        Ok(wrap_dek_with_rng(&value, guardian_key, &ctx, rng)?)
    }

    /// The share re-sealed by its guardian to `transport_key`, the key `new_wallet` named in its
    /// recovery request on chain (formats.md section 9, purpose `recovery-transport`).
    pub fn seal_for_transport(
        &self,
        set: &RecoverySet,
        new_wallet: Address,
        transport_key: &PublicKey,
    ) -> Result<[u8; WRAPPED_LEN], RecoveryError> {
        let value =
            SecretKey::from_slice(&self.value).ok_or(RecoveryError::Seal(WrapError::Seal))?;
        let ctx = set.transport_context(self.index, new_wallet)?;
        Ok(wrap_dek(&value, transport_key, &ctx)?)
    }

    /// [`Share::seal_for_transport`] with the ephemeral key from `rng` (deterministic test
    /// vectors).
    pub fn seal_for_transport_with_rng(
        &self,
        set: &RecoverySet,
        new_wallet: Address,
        transport_key: &PublicKey,
        rng: &mut impl hpke::rand_core::CryptoRng,
    ) -> Result<[u8; WRAPPED_LEN], RecoveryError> {
        let value =
            SecretKey::from_slice(&self.value).ok_or(RecoveryError::Seal(WrapError::Seal))?;
        let ctx = set.transport_context(self.index, new_wallet)?;
        Ok(wrap_dek_with_rng(&value, transport_key, &ctx, rng)?)
    }

    /// Opens share `index` of `set`, re-sealed for `new_wallet` to its `transport_keys`.
    pub fn open_transported(
        sealed: &[u8],
        set: &RecoverySet,
        index: u8,
        new_wallet: Address,
        transport_keys: &KeyPair,
    ) -> Result<Share, RecoveryError> {
        let ctx = set.transport_context(index, new_wallet)?;
        Ok(Share::opened(
            unwrap_dek(sealed, transport_keys, &ctx)?,
            index,
        ))
    }

    fn opened(value: SecretKey, index: u8) -> Share {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(value.expose_secret());
        Share {
            index,
            value: bytes,
        }
    }

    /// The share as a recovery sheet's code (formats.md section 9), for an offline copy:
    /// `MLS1`, the first 4 bytes of the kit's id, the index, the 32 bytes and 4 check bytes, in
    /// upper-case hex groups of 8. It is the share itself: it replaces that guardian's re-sealed
    /// share at recovery, and says nothing of the seed without `t - 1` others.
    pub fn sheet_code(&self, manifest: &Manifest) -> String {
        let kit = manifest.id();
        let mut hex = alloy_primitives::hex::encode_upper(&kit[..4]);
        hex.push_str(&format!("{:02X}", self.index));
        hex.push_str(&alloy_primitives::hex::encode_upper(self.value));
        hex.push_str(&alloy_primitives::hex::encode_upper(sheet_check(
            &kit, self,
        )));
        let groups: Vec<&str> = (0..hex.len())
            .step_by(8)
            .map(|i| &hex[i..(i + 8).min(hex.len())])
            .collect();
        format!("{SHEET_PREFIX}-{}", groups.join("-"))
    }

    /// The share a recovery sheet's code gives, for `manifest`'s kit. Spaces, dashes and case do
    /// not matter; a mistyped code fails its check bytes, and one of another kit says so. The
    /// share is checked against its commitment by [`recover`].
    pub fn from_sheet_code(code: &str, manifest: &Manifest) -> Result<Share, RecoveryError> {
        let text: String = code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        let hex = text
            .strip_prefix(SHEET_PREFIX)
            .ok_or(RecoveryError::BadSheet("does not start with MLS1"))?;
        let bytes = Zeroizing::new(
            alloy_primitives::hex::decode(hex)
                .map_err(|_| RecoveryError::BadSheet("has a character that is not 0-9 or A-F"))?,
        );
        if bytes.len() != 4 + 1 + 32 + 4 {
            return Err(RecoveryError::BadSheet("is too short or too long"));
        }
        let mut value = [0u8; 32];
        value.copy_from_slice(&bytes[5..37]);
        let share = Share {
            index: bytes[4],
            value,
        };
        let kit = manifest.id();
        if bytes[..4] != kit[..4] {
            return Err(RecoveryError::BadSheet(
                "is of another recovery kit (one stored before the last one), or its first group is mistyped",
            ));
        }
        if sheet_check(&kit, &share) != bytes[37..41] {
            return Err(RecoveryError::BadSheet(
                "has a typing mistake (its check letters do not match)",
            ));
        }
        Ok(share)
    }

    /// Opens share `index` of `set`, sealed to `guardian_keys`.
    pub fn open(
        sealed: &[u8],
        set: &RecoverySet,
        index: u8,
        guardian_keys: &KeyPair,
    ) -> Result<Share, RecoveryError> {
        let value = unwrap_dek(sealed, guardian_keys, &set.wrap_context(index)?)?;
        Ok(Share::opened(value, index))
    }
}

/// What can be kept in the open beside the sealed shares: the set and each share's commitment in
/// index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The set.
    pub set: RecoverySet,
    /// [`Share::commitment`] of shares 1..=n.
    pub commitments: Vec<B256>,
}

impl Manifest {
    /// `keccak256(label || set id || commitment_1 || … || commitment_n)`: names one split of the
    /// set's seed. Two splits of the same set (a kit made again) have the same set id but other
    /// commitments, and shares of the two never combine; a re-sealed share names the split it
    /// came from by this id.
    pub fn id(&self) -> B256 {
        let mut b = Vec::with_capacity(KIT_LABEL.len() + 32 * (1 + self.commitments.len()));
        b.extend_from_slice(KIT_LABEL);
        b.extend_from_slice(self.set.id().as_slice());
        for c in &self.commitments {
            b.extend_from_slice(c.as_slice());
        }
        keccak256(b)
    }
}

/// The 4 check bytes of a sheet's code: `keccak256(label || kit id || u8 index || value)[..4]`.
fn sheet_check(kit: &B256, share: &Share) -> [u8; 4] {
    let mut b = Zeroizing::new(Vec::with_capacity(SHEET_LABEL.len() + 32 + 1 + 32));
    b.extend_from_slice(SHEET_LABEL);
    b.extend_from_slice(kit.as_slice());
    b.push(share.index);
    b.extend_from_slice(&share.value);
    let h = keccak256(&*b);
    [h[0], h[1], h[2], h[3]]
}

/// Splits `seed` (the key-derivation output of section 6.1 for `set.key_version`) into one share
/// per guardian, any `set.threshold` of which recover it; with the manifest to keep beside them.
pub fn split(seed: &[u8; 32], set: &RecoverySet) -> Result<(Vec<Share>, Manifest), RecoveryError> {
    split_with_rng(seed, set, rand_core_06::OsRng)
}

/// [`split`] with the polynomials' coefficients drawn from `rng` (deterministic test vectors).
pub fn split_with_rng(
    seed: &[u8; 32],
    set: &RecoverySet,
    rng: impl rand_core_06::RngCore + rand_core_06::CryptoRng,
) -> Result<(Vec<Share>, Manifest), RecoveryError> {
    set.check()?;
    let n = set.guardians.len();
    let raw = Zeroizing::new(
        vsss_rs::Gf256::split_array(usize::from(set.threshold), n, seed, rng)
            .map_err(|e| RecoveryError::Split(e.to_string()))?,
    );
    let shares = shares_from(&raw, n)?;
    let manifest = Manifest {
        set: set.clone(),
        commitments: shares.iter().map(|s| s.commitment(set)).collect(),
    };
    Ok((shares, manifest))
}

/// The crate's shares (`[x, y_0 .. y_31]`, x = 1..=n in order) as [`Share`]s.
fn shares_from(raw: &[Vec<u8>], n: usize) -> Result<Vec<Share>, RecoveryError> {
    let odd = || RecoveryError::Split("unexpected share layout".into());
    if raw.len() != n {
        return Err(odd());
    }
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            let index = u8::try_from(i + 1).map_err(|_| odd())?;
            if r.len() != 33 || r[0] != index {
                return Err(odd());
            }
            let mut value = [0u8; 32];
            value.copy_from_slice(&r[1..]);
            Ok(Share { index, value })
        })
        .collect()
}

/// The seed from `shares` (any order, duplicates ignored): each checked against the manifest's
/// commitment, `threshold` of them combined, and the result checked to give `expected`, the
/// account's public key of the set's version as the chain records it.
pub fn recover(
    manifest: &Manifest,
    shares: &[Share],
    expected: &PublicKey,
) -> Result<Zeroizing<[u8; 32]>, RecoveryError> {
    let set = &manifest.set;
    set.check()?;
    let mut chosen: Vec<&Share> = Vec::new();
    for share in shares {
        let i = usize::from(share.index);
        let committed = i
            .checked_sub(1)
            .and_then(|i| manifest.commitments.get(i))
            .ok_or(RecoveryError::UnknownIndex(share.index))?;
        if share.commitment(set) != *committed {
            return Err(RecoveryError::CorruptShare(share.index));
        }
        if !chosen.iter().any(|c| c.index == share.index) {
            chosen.push(share);
        }
    }
    let needed = usize::from(set.threshold);
    if chosen.len() < needed {
        return Err(RecoveryError::TooFewShares {
            got: chosen.len(),
            needed,
        });
    }
    let seed = combine(&chosen[..needed])?;
    if KeyPair::derive(&seed).public() != *expected {
        return Err(RecoveryError::WrongSeed);
    }
    Ok(seed)
}

/// Lagrange interpolation at zero of the shares, byte by byte (the crate's).
fn combine(shares: &[&Share]) -> Result<Zeroizing<[u8; 32]>, RecoveryError> {
    let raw: Zeroizing<Vec<Vec<u8>>> = Zeroizing::new(
        shares
            .iter()
            .map(|s| {
                let mut r = Vec::with_capacity(33);
                r.push(s.index);
                r.extend_from_slice(&s.value);
                r
            })
            .collect(),
    );
    let mut combined = Zeroizing::new(
        vsss_rs::Gf256::combine_array(&*raw).map_err(|e| RecoveryError::Split(e.to_string()))?,
    );
    let mut seed = Zeroizing::new([0u8; 32]);
    if combined.len() != 32 {
        return Err(RecoveryError::WrongSeed);
    }
    seed.copy_from_slice(&combined);
    combined.zeroize();
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn guardian(i: u8) -> Address {
        Address::repeat_byte(0x40 + i)
    }

    fn set(t: u8, n: u8) -> RecoverySet {
        RecoverySet {
            chain_id: 1337,
            contract: Address::repeat_byte(0xc0),
            account: Address::repeat_byte(0xaa),
            key_version: 1,
            threshold: t,
            guardians: (1..=n).map(guardian).collect(),
        }
    }

    #[test]
    fn a_sheet_s_code_gives_its_share_back_and_names_a_mistake() {
        let seed = [7u8; 32];
        let (shares, manifest) = split(&seed, &set(2, 3)).expect("split");
        let code = shares[0].sheet_code(&manifest);
        assert!(code.starts_with("MLS1-"));
        // 4 + 1 + 32 + 4 bytes: 82 hex digits in groups of 8 after the prefix.
        assert_eq!(code.len(), 5 + 82 + 10);
        let back = Share::from_sheet_code(&code, &manifest).expect("as printed");
        assert_eq!(back, shares[0]);
        // Typed by hand: lower case, spaces for dashes.
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(
            Share::from_sheet_code(&typed, &manifest).expect("typed"),
            shares[0]
        );
        // With one other guardian's share it recovers the seed; alone it is not enough.
        let key = KeyPair::derive(&seed).public();
        let recovered =
            recover(&manifest, &[back.clone(), shares[2].clone()], &key).expect("2 of 3");
        assert_eq!(*recovered, seed);
        assert!(matches!(
            recover(&manifest, &[back], &key),
            Err(RecoveryError::TooFewShares { got: 1, needed: 2 })
        ));
        // One digit of the value changed: the check letters catch it.
        let mut chars: Vec<char> = code.chars().collect();
        let at = 5 + 18;
        chars[at] = if chars[at] == '0' { '1' } else { '0' };
        let mistyped: String = chars.into_iter().collect();
        assert!(matches!(
            Share::from_sheet_code(&mistyped, &manifest),
            Err(RecoveryError::BadSheet(why)) if why.contains("typing mistake")
        ));
        // Another split of the same set (a kit stored again): its code is not this kit's.
        let (_, again) = split(&seed, &set(2, 3)).expect("split again");
        assert!(matches!(
            Share::from_sheet_code(&code, &again),
            Err(RecoveryError::BadSheet(why)) if why.contains("another recovery kit")
        ));
        for bad in ["", "MLS2-00", "MLS1-XYZ", &code[..40]] {
            assert!(matches!(
                Share::from_sheet_code(bad, &manifest),
                Err(RecoveryError::BadSheet(_))
            ));
        }
    }

    #[test]
    fn any_threshold_of_shares_recovers_the_seed_and_fewer_do_not() {
        let seed = [7u8; 32];
        let s = set(3, 5);
        let (shares, manifest) = split(&seed, &s).expect("split");
        let key = KeyPair::derive(&seed).public();
        assert_eq!(shares.len(), 5);
        for pick in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let given: Vec<Share> = pick.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(*recover(&manifest, &given, &key).expect("recover"), seed);
        }
        let two = vec![shares[0].clone(), shares[3].clone(), shares[0].clone()];
        assert_eq!(
            recover(&manifest, &two, &key).expect_err("too few"),
            RecoveryError::TooFewShares { got: 2, needed: 3 }
        );
    }

    #[test]
    fn a_corrupted_or_foreign_share_is_named() {
        let s = set(2, 3);
        let (shares, manifest) = split(&[9u8; 32], &s).expect("split");
        let key = KeyPair::derive(&[9u8; 32]).public();
        let mut bad = shares[1].clone();
        bad.value[5] ^= 1;
        assert_eq!(
            recover(&manifest, &[shares[0].clone(), bad], &key).expect_err("corrupt"),
            RecoveryError::CorruptShare(2)
        );
        let (other, other_manifest) = split(&[9u8; 32], &s).expect("split again");
        // The same set split again: the same set id, another kit id.
        assert_eq!(other_manifest.set.id(), manifest.set.id());
        assert_ne!(other_manifest.id(), manifest.id());
        assert_eq!(
            recover(&manifest, &[shares[0].clone(), other[1].clone()], &key).expect_err("foreign"),
            RecoveryError::CorruptShare(2)
        );
        let mut stray = shares[0].clone();
        stray.index = 9;
        assert_eq!(
            recover(&manifest, &[stray], &key).expect_err("index"),
            RecoveryError::UnknownIndex(9)
        );
    }

    #[test]
    fn sets_that_cannot_protect_are_refused() {
        assert!(
            split(&[1; 32], &set(1, 3)).is_err(),
            "threshold 1 is the seed itself"
        );
        assert!(split(&[1; 32], &set(4, 3)).is_err());
        assert!(split(&[1; 32], &set(2, 17)).is_err());
        let mut own = set(2, 3);
        own.guardians[1] = own.account;
        assert!(split(&[1; 32], &own).is_err());
        let mut twice = set(2, 3);
        twice.guardians[2] = twice.guardians[0];
        assert!(split(&[1; 32], &twice).is_err());
    }

    #[test]
    fn a_sealed_share_opens_only_for_its_guardian_and_place() {
        let s = set(2, 3);
        let (shares, _) = split(&[3u8; 32], &s).expect("split");
        let keys = KeyPair::derive(&[0x51; 32]);
        let sealed = shares[1].seal(&s, &keys.public()).expect("seal");
        assert_eq!(Share::open(&sealed, &s, 2, &keys).expect("open"), shares[1]);
        assert!(Share::open(&sealed, &s, 3, &keys).is_err(), "another index");
        let mut moved = s.clone();
        moved.key_version = 2;
        assert!(
            Share::open(&sealed, &moved, 2, &keys).is_err(),
            "another set"
        );
        let stranger = KeyPair::derive(&[0x52; 32]);
        assert!(
            Share::open(&sealed, &s, 2, &stranger).is_err(),
            "another key"
        );
    }

    #[test]
    fn a_share_in_transport_opens_only_for_the_new_wallet_s_key_as_that_wallet() {
        let s = set(2, 3);
        let seed = [4u8; 32];
        let (shares, manifest) = split(&seed, &s).expect("split");
        let guardian_keys = KeyPair::derive(&[0x61; 32]);
        let new_wallet = Address::repeat_byte(0x77);
        let transport = KeyPair::derive(&[0x62; 32]);
        // Each guardian opens its own share and re-seals it for the new wallet.
        let moved: Vec<[u8; WRAPPED_LEN]> = shares[..2]
            .iter()
            .map(|share| {
                let sealed = share.seal(&s, &guardian_keys.public()).expect("seal");
                let opened =
                    Share::open(&sealed, &s, share.index, &guardian_keys).expect("guardian opens");
                opened
                    .seal_for_transport(&s, new_wallet, &transport.public())
                    .expect("re-seal")
            })
            .collect();
        let received: Vec<Share> = moved
            .iter()
            .zip(1u8..)
            .map(|(sealed, index)| {
                Share::open_transported(sealed, &s, index, new_wallet, &transport).expect("open")
            })
            .collect();
        let key = KeyPair::derive(&seed).public();
        assert_eq!(*recover(&manifest, &received, &key).expect("recover"), seed);

        let other_wallet = Address::repeat_byte(0x78);
        assert!(
            Share::open_transported(&moved[0], &s, 1, other_wallet, &transport).is_err(),
            "another wallet"
        );
        assert!(
            Share::open_transported(&moved[0], &s, 2, new_wallet, &transport).is_err(),
            "another index"
        );
        let stranger = KeyPair::derive(&[0x63; 32]);
        assert!(
            Share::open_transported(&moved[0], &s, 1, new_wallet, &stranger).is_err(),
            "another key"
        );
        // A share sealed to a guardian does not open as one in transport, even for its key.
        let to_guardian = shares[0].seal(&s, &transport.public()).expect("seal");
        assert!(Share::open_transported(&to_guardian, &s, 1, s.guardians[0], &transport).is_err());
        assert_eq!(
            Share::open_transported(&moved[0], &s, 9, new_wallet, &transport).expect_err("index"),
            RecoveryError::UnknownIndex(9)
        );
    }

    #[test]
    fn a_seed_is_recovered_only_as_the_key_the_chain_expects() {
        let s = set(2, 3);
        let (shares, manifest) = split(&[5u8; 32], &s).expect("split");
        let other_key = KeyPair::derive(&[6u8; 32]).public();
        assert_eq!(
            recover(&manifest, &shares, &other_key).expect_err("other key"),
            RecoveryError::WrongSeed
        );
    }

    /// SHA-256 of a counter: fixed coefficients for the distribution test.
    struct CountingRng(u64);

    impl rand_core_06::RngCore for CountingRng {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_be_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_be_bytes(b)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            use sha2::Digest;
            for chunk in dest.chunks_mut(32) {
                self.0 += 1;
                let block = sha2::Sha256::digest(self.0.to_be_bytes());
                chunk.copy_from_slice(&block[..chunk.len()]);
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core_06::CryptoRng for CountingRng {}

    /// Pearson's chi-square of 256 byte counts against the uniform distribution.
    fn chi_square(counts: &[u32; 256], n: u32) -> f64 {
        let expected = f64::from(n) / 256.0;
        counts
            .iter()
            .map(|&c| (f64::from(c) - expected).powi(2) / expected)
            .sum()
    }

    /// One share of a 2-of-2 split says nothing of the seed: over 4,096 splits its first byte is
    /// spread evenly over 0..=255 whether the seed's first byte is 0x00 or 0xff (chi-square with
    /// 255 degrees of freedom: about 255 ± 23 for uniform bytes; a share that kept the seed's byte
    /// would score about a million), no share equals the seed, and every split gives another share.
    #[test]
    fn one_share_of_two_is_uniform_whatever_the_seed() {
        const SPLITS: u32 = 4096;
        for seed_byte in [0x00u8, 0xff] {
            let seed = [seed_byte; 32];
            let mut counts = [0u32; 256];
            let mut rng = CountingRng(u64::from(seed_byte) << 32);
            let mut values = std::collections::HashSet::new();
            for _ in 0..SPLITS {
                let (shares, _) = split_with_rng(&seed, &set(2, 2), &mut rng).expect("split");
                assert_ne!(shares[0].value, seed);
                counts[usize::from(shares[0].value[0])] += 1;
                values.insert(shares[0].value);
            }
            let chi = chi_square(&counts, SPLITS);
            assert!(chi < 400.0, "seed byte {seed_byte:#x}: chi-square {chi}");
            assert_eq!(
                values.len(),
                SPLITS as usize,
                "the coefficients vary the shares"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any `t` of `n` shares give the seed back, for random seeds and sets.
        #[test]
        fn any_t_shares_recover_any_seed(seed in any::<[u8; 32]>(), t in 2u8..6, extra in 0u8..4, skip in 0usize..4) {
            let s = set(t, t + extra);
            let (shares, manifest) = split(&seed, &s).expect("split");
            let key = KeyPair::derive(&seed).public();
            let skip = skip.min(usize::from(extra));
            let given: Vec<Share> = shares[skip..skip + usize::from(t)].to_vec();
            prop_assert_eq!(*recover(&manifest, &given, &key).expect("recover"), seed);
        }
    }
}
