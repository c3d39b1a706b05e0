//! Recovery kits (docs/api.md "Recovery kits"; formats.md section 9): what the escrow keeps of a
//! patient's recovery set and hands out, none of which opens without a guardian's key or the
//! recovering wallet's transport key.
//!
//! - `PUT /api/recovery/kit`: the patient stores its kit: the set (the guardians and threshold it
//!   named on chain), the commitments and the shares sealed to the guardians ([`RecoveryKit`]).
//! - `GET /api/recovery/kit/{identity}`: the patient sees its whole kit, a guardian the manifest and
//!   its own sealed share ([`KitView`]).
//! - `POST /api/recovery/kit/{identity}/releases`: a guardian hands over its share re-sealed to the
//!   transport key of a wallet whose recovery request is open on chain ([`ReleaseShareBody`]).
//! - `GET /api/recovery/released`: the wallet that now controls the identity (after
//!   `completeRecovery`) collects the re-sealed shares ([`ReleasedShares`]).

use alloy_primitives::{Address, Bytes, B256};
use serde::{Deserialize, Serialize};

use crate::recovery::{Manifest, RecoveryError, RecoverySet, MAX_GUARDIANS};
use crate::wrap::WRAPPED_LEN;

/// Body of `PUT /api/recovery/kit`: the manifest (the set and each share's commitment) and the
/// shares sealed to their guardians, in index order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoveryKit {
    /// The set (crate::recovery::RecoverySet).
    pub set: RecoverySet,
    /// crate::recovery::Share::commitment of shares 1..=n.
    pub commitments: Vec<B256>,
    /// Share i sealed to guardian i (formats.md section 3, purpose `guardian`), 81 bytes each.
    #[cfg_attr(feature = "schema", schemars(with = "Vec<String>"))]
    pub sealed: Vec<Bytes>,
}

/// Why a kit or a released share is not well formed (before anything is asked of the chain).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KitError {
    /// The set itself.
    #[error(transparent)]
    Set(#[from] RecoveryError),
    /// Not one commitment and one sealed share per guardian.
    #[error("the kit has {commitments} commitments and {sealed} sealed shares for {guardians} guardians: one of each per guardian")]
    Counts {
        /// Commitments given.
        commitments: usize,
        /// Sealed shares given.
        sealed: usize,
        /// Guardians in the set.
        guardians: usize,
    },
    /// A sealed share of the wrong length.
    #[error("sealed share {index} is {len} bytes; a sealed share is {WRAPPED_LEN}")]
    SealedLength {
        /// 1-based.
        index: usize,
        /// Its length.
        len: usize,
    },
}

impl RecoveryKit {
    /// Checks the set (2 ≤ t ≤ n ≤ 16, distinct guardians, none the account) and that there is
    /// one commitment and one sealed share of the right length per guardian.
    pub fn check(&self) -> Result<(), KitError> {
        self.set.check()?;
        let guardians = self.set.guardians.len();
        if self.commitments.len() != guardians || self.sealed.len() != guardians {
            return Err(KitError::Counts {
                commitments: self.commitments.len(),
                sealed: self.sealed.len(),
                guardians,
            });
        }
        check_sealed(&self.sealed)
    }

    /// The manifest (the set and the commitments).
    pub fn manifest(&self) -> Manifest {
        Manifest {
            set: self.set.clone(),
            commitments: self.commitments.clone(),
        }
    }

    /// The share of guardian index `index` (1-based), sealed to that guardian.
    pub fn share(&self, index: u8) -> Option<SealedShare> {
        let i = usize::from(index).checked_sub(1)?;
        Some(SealedShare {
            index,
            guardian: *self.set.guardians.get(i)?,
            sealed: self.sealed.get(i)?.clone(),
        })
    }

    /// Every share, in index order.
    pub fn shares(&self) -> Vec<SealedShare> {
        (1..=MAX_GUARDIANS)
            .filter_map(|i| u8::try_from(i).ok())
            .map_while(|i| self.share(i))
            .collect()
    }
}

/// Checks each sealed share is [`WRAPPED_LEN`] bytes.
pub fn check_sealed(sealed: &[Bytes]) -> Result<(), KitError> {
    match sealed.iter().position(|s| s.len() != WRAPPED_LEN) {
        Some(i) => Err(KitError::SealedLength {
            index: i + 1,
            len: sealed[i].len(),
        }),
        None => Ok(()),
    }
}

/// One share, sealed to its guardian (in a [`KitView`]) or re-sealed to the recovering wallet's
/// transport key (in [`ReleasedShares`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SealedShare {
    /// 1-based: the guardian's position in the set plus one.
    pub index: u8,
    /// The guardian.
    pub guardian: Address,
    /// The sealed share (81 bytes).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub sealed: Bytes,
}

/// What identifies a stored kit in the escrow's answers: the set, its id, the kit's id and the
/// commitments (the manifest, with the ids it gives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct KitManifest {
    /// The set.
    pub set: RecoverySet,
    /// crate::recovery::RecoverySet::id of the set.
    pub set_id: B256,
    /// crate::recovery::Manifest::id: this split of the seed (a release names it).
    pub kit_id: B256,
    /// The shares' commitments, in index order.
    pub commitments: Vec<B256>,
}

impl From<Manifest> for KitManifest {
    fn from(m: Manifest) -> Self {
        KitManifest {
            set_id: m.set.id(),
            kit_id: m.id(),
            set: m.set,
            commitments: m.commitments,
        }
    }
}

/// `GET /api/recovery/kit/{identity}` (and `PUT`'s answer): the stored kit's manifest, with every
/// sealed share for the patient and the caller's own for a guardian.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct KitView {
    /// The manifest and its ids.
    #[serde(flatten)]
    pub manifest: KitManifest,
    /// When the escrow stored the kit (Unix seconds).
    pub stored_at: u64,
    /// The sealed shares the caller may have.
    pub shares: Vec<SealedShare>,
}

/// Body of `POST /api/recovery/kit/{identity}/releases`: the calling guardian's share re-sealed
/// for `new_wallet` to the transport key of its open recovery request (purpose
/// `recovery-transport`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseShareBody {
    /// The kit the guardian opened its share from ([`KitView::kit_id`]): must be the one stored.
    pub kit_id: B256,
    /// The wallet asking to take the identity over.
    pub new_wallet: Address,
    /// The number of its request the share is for (`recoveryOf`): must be the open one.
    pub request_id: u64,
    /// The guardian's index in the stored set.
    pub index: u8,
    /// The re-sealed share (81 bytes).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub sealed: Bytes,
}

/// `POST /api/recovery/kit/{identity}/releases`' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ShareReleased {
    /// The identity being recovered.
    pub identity: Address,
    /// The wallet it is for.
    pub new_wallet: Address,
    /// The request it is for.
    pub request_id: u64,
    /// The guardian's index.
    pub index: u8,
    /// How many guardians have released a share for this request so far.
    pub released: u32,
}

/// `GET /api/recovery/released`: for the wallet that now controls the identity, the kit's manifest
/// and the shares its guardians re-sealed for the request that moved the identity to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReleasedShares {
    /// The manifest and its ids.
    #[serde(flatten)]
    pub manifest: KitManifest,
    /// The request the shares were re-sealed for (its transport key opens them).
    pub request_id: u64,
    /// The re-sealed shares, in index order.
    pub shares: Vec<SealedShare>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::split;

    fn kit() -> RecoveryKit {
        let set = RecoverySet {
            chain_id: 1337,
            contract: Address::repeat_byte(0xc0),
            account: Address::repeat_byte(0xaa),
            key_version: 1,
            threshold: 2,
            guardians: vec![Address::repeat_byte(1), Address::repeat_byte(2)],
        };
        let (_, manifest) = split(&[3; 32], &set).expect("split");
        RecoveryKit {
            set,
            commitments: manifest.commitments,
            sealed: vec![Bytes::from(vec![0u8; WRAPPED_LEN]); 2],
        }
    }

    #[test]
    fn a_kit_is_checked_and_read_back_as_sent() {
        let k = kit();
        k.check().expect("well formed");
        assert_eq!(k.manifest().set.id(), k.set.id());
        let json = serde_json::to_value(&k).expect("json");
        assert_eq!(json["set"]["keyVersion"], 1);
        let back: RecoveryKit = serde_json::from_value(json).expect("parse");
        assert_eq!(back, k);
        assert_eq!(k.shares().len(), 2);
        assert_eq!(
            k.share(2).map(|s| s.guardian),
            Some(Address::repeat_byte(2))
        );
        assert_eq!(k.share(0), None);
        assert_eq!(k.share(3), None);
    }

    #[test]
    fn a_malformed_kit_is_refused_by_name() {
        let mut short = kit();
        short.sealed[1] = Bytes::from(vec![0u8; 80]);
        assert_eq!(
            short.check(),
            Err(KitError::SealedLength { index: 2, len: 80 })
        );
        let mut counts = kit();
        counts.commitments.pop();
        assert!(matches!(counts.check(), Err(KitError::Counts { .. })));
        let mut lone = kit();
        lone.set.threshold = 1;
        assert!(matches!(lone.check(), Err(KitError::Set(_))));
        let mut unknown = serde_json::to_value(kit()).expect("json");
        unknown["extra"] = serde_json::json!(1);
        assert!(serde_json::from_value::<RecoveryKit>(unknown).is_err());
    }
}
