//! Records anchored many at a time under one Merkle root (docs/contract.md, "Records under a
//! root"): a record's leaf, exactly as the contract's `rootedLeaf` hashes it, and the batch a bulk
//! import anchors with one `anchorRecordRoot` — its records numbered as leaves, their tree, the
//! categories they use, and each record's proof, which a reader hands to `canReadRooted` — and a
//! record's [`Place`] under its root, as an upload names it to the escrow (`x-medledger-root`).

use std::collections::HashSet;

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::SolValue;

use crate::contract::MedLedger::{anchorRecordRootCall, RootedRecord};
use crate::merkle::{verify_proof, MerkleTree};

/// Most records one root anchors (the contract's `MAX_ROOT_RECORDS`).
pub const MAX_ROOT_RECORDS: u32 = 1 << 20;

/// Why a batch cannot be anchored as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootedBatchError {
    #[error("a batch needs at least one record")]
    Empty,
    #[error("a batch holds at most {MAX_ROOT_RECORDS} records, not {0}")]
    TooMany(usize),
    #[error("record {0} of the batch has a zero id")]
    ZeroId(u32),
    #[error("record {0} of the batch has a zero ciphertext hash")]
    ZeroHash(u32),
    #[error("record id {0} is in the batch twice")]
    DuplicateId(B256),
}

/// `rootedLeaf(record)`: `keccak256(bytes.concat(keccak256(abi.encode(index, recordId,
/// ciphertextHash, category))))`.
pub fn leaf(record: &RootedRecord) -> B256 {
    // The struct is all static fields, so its encoding is abi.encode of the four in order.
    keccak256(keccak256(record.abi_encode()))
}

/// Whether `proof` shows `record` to be a leaf of `root` (the tree half of `isRootedRecord`; the
/// contract also checks the index against the root's count and the category against its mask).
pub fn proves(root: B256, record: &RootedRecord, proof: &[B256]) -> bool {
    verify_proof(proof, root, leaf(record))
}

/// What the chain keeps of an anchored root that decides which records are its leaves
/// (`MedLedger.RecordRoot`'s patient, count and category mask).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootTerms {
    pub patient: Address,
    pub count: u32,
    pub categories: U256,
}

impl RootTerms {
    /// The contract's `isRootedRecord` for a record claimed as `patient`'s, with the root's
    /// owner checked as `canReadRooted` checks it: `patient` is the root's, the index is below its
    /// count, id and hash are non-zero, the category is in its mask, and `proof` leads from the
    /// leaf to `root`.
    pub fn holds(
        &self,
        root: B256,
        patient: Address,
        record: &RootedRecord,
        proof: &[B256],
    ) -> bool {
        patient == self.patient
            && record.index < self.count
            && !record.recordId.is_zero()
            && !record.ciphertextHash.is_zero()
            && self.categories.bit(usize::from(record.category))
            && proves(root, record, proof)
    }
}

/// Most hashes in a proof: a tree of [`MAX_ROOT_RECORDS`] leaves is 20 levels deep.
pub const MAX_PROOF_LEN: usize = 20;

/// Why a [`Place`] cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    #[error("a place is `root:index:proof` (three fields separated by `:`)")]
    Shape,
    #[error("the root is not 0x and 64 hex digits, or is zero")]
    Root,
    #[error("the index is not a number below {MAX_ROOT_RECORDS}")]
    Index,
    #[error("the proof is not 0x followed by whole 32-byte hashes in hex")]
    Proof,
    #[error("a proof holds at most {MAX_PROOF_LEN} hashes")]
    ProofTooLong,
}

/// Where a record sits under a root: the root, its leaf index and the proof from its leaf up.
/// With the record's id, `h1` and category it is everything `canReadRooted` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub root: B256,
    pub index: u32,
    pub proof: Vec<B256>,
}

impl Place {
    /// The record's leaf fields as the contract takes them.
    pub fn leaf(&self, record_id: B256, ciphertext_hash: B256, category: u8) -> RootedRecord {
        RootedRecord {
            index: self.index,
            recordId: record_id,
            ciphertextHash: ciphertext_hash,
            category,
        }
    }

    /// `0x<root>:<index>:0x<proof hashes, concatenated>` (the proof part is `0x` alone for a
    /// one-record root): the form of the `x-medledger-root` header and of the index's columns.
    pub fn encode(&self) -> String {
        let proof: Vec<u8> = self.proof.iter().flat_map(|h| h.0).collect();
        format!(
            "{}:{}:0x{}",
            self.root,
            self.index,
            alloy_primitives::hex::encode(proof)
        )
    }

    /// Reads [`Place::encode`]'s form; refuses a zero root, an index the contract never takes
    /// and a proof longer than the deepest tree.
    pub fn parse(text: &str) -> Result<Place, PlaceError> {
        let mut fields = text.trim().split(':');
        let (Some(root), Some(index), Some(proof), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(PlaceError::Shape);
        };
        let root = parse_hash(root).ok_or(PlaceError::Root)?;
        if root.is_zero() {
            return Err(PlaceError::Root);
        }
        let index: u32 = index.parse().map_err(|_| PlaceError::Index)?;
        if index >= MAX_ROOT_RECORDS {
            return Err(PlaceError::Index);
        }
        let hex = proof.strip_prefix("0x").ok_or(PlaceError::Proof)?;
        if hex.len() % 64 != 0 {
            return Err(PlaceError::Proof);
        }
        if hex.len() / 64 > MAX_PROOF_LEN {
            return Err(PlaceError::ProofTooLong);
        }
        let bytes = alloy_primitives::hex::decode(hex).map_err(|_| PlaceError::Proof)?;
        let proof = bytes.chunks_exact(32).map(B256::from_slice).collect();
        Ok(Place { root, index, proof })
    }
}

/// A place travels as its [`Place::encode`] text (the API's listing, the upload and read headers).
impl serde::Serialize for Place {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> serde::Deserialize<'de> for Place {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Place, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Place::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `0x` and exactly 64 hex digits.
fn parse_hash(text: &str) -> Option<B256> {
    let hex = text.strip_prefix("0x")?;
    (hex.len() == 64).then_some(())?;
    hex.parse().ok()
}

/// One record to anchor: its id, `h1` and category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRootedRecord {
    pub record_id: B256,
    pub ciphertext_hash: B256,
    pub category: u8,
}

/// The records of one `anchorRecordRoot`, numbered 0.. in the order given, and their tree.
#[derive(Debug, Clone)]
pub struct RootedBatch {
    records: Vec<RootedRecord>,
    tree: MerkleTree,
    categories: U256,
}

impl RootedBatch {
    /// Numbers `records` as leaves and builds their tree. Refuses what the contract would never
    /// prove (a zero id or hash), ids given twice, and sizes it does not take.
    pub fn new(records: &[NewRootedRecord]) -> Result<RootedBatch, RootedBatchError> {
        if records.is_empty() {
            return Err(RootedBatchError::Empty);
        }
        if records.len() > MAX_ROOT_RECORDS as usize {
            return Err(RootedBatchError::TooMany(records.len()));
        }
        let mut seen = HashSet::with_capacity(records.len());
        let mut categories = U256::ZERO;
        let mut numbered = Vec::with_capacity(records.len());
        for (index, r) in (0u32..).zip(records) {
            if r.record_id.is_zero() {
                return Err(RootedBatchError::ZeroId(index));
            }
            if r.ciphertext_hash.is_zero() {
                return Err(RootedBatchError::ZeroHash(index));
            }
            if !seen.insert(r.record_id) {
                return Err(RootedBatchError::DuplicateId(r.record_id));
            }
            categories |= U256::from(1u8) << usize::from(r.category);
            numbered.push(RootedRecord {
                index,
                recordId: r.record_id,
                ciphertextHash: r.ciphertext_hash,
                category: r.category,
            });
        }
        let tree =
            MerkleTree::new(numbered.iter().map(leaf).collect()).ok_or(RootedBatchError::Empty)?;
        Ok(RootedBatch {
            records: numbered,
            tree,
            categories,
        })
    }

    /// The root `anchorRecordRoot` anchors.
    pub fn root(&self) -> B256 {
        self.tree.root()
    }

    /// How many records.
    pub fn count(&self) -> u32 {
        // At most MAX_ROOT_RECORDS, checked in `new`.
        self.records.len() as u32
    }

    /// The categories the records use, as the mask `anchorRecordRoot` takes.
    pub fn categories(&self) -> U256 {
        self.categories
    }

    /// The records as leaves, in order.
    pub fn records(&self) -> &[RootedRecord] {
        &self.records
    }

    /// Record `index` and its proof, or `None` past the last.
    pub fn proof(&self, index: u32) -> Option<(&RootedRecord, Vec<B256>)> {
        let record = self.records.get(index as usize)?;
        Some((record, self.tree.proof(index as usize)))
    }

    /// Record `index`'s place under the root, or `None` past the last.
    pub fn place(&self, index: u32) -> Option<Place> {
        let (_, proof) = self.proof(index)?;
        Some(Place {
            root: self.root(),
            index,
            proof,
        })
    }

    /// The call that anchors the batch as `patient`'s records.
    pub fn anchor_call(&self, patient: Address) -> anchorRecordRootCall {
        anchorRecordRootCall {
            patient,
            root: self.root(),
            count: self.count(),
            categories: self.categories,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8, category: u8) -> NewRootedRecord {
        NewRootedRecord {
            record_id: B256::repeat_byte(n),
            ciphertext_hash: keccak256([n]),
            category,
        }
    }

    #[test]
    fn every_record_proves_under_the_root_and_a_changed_field_does_not() {
        let items: Vec<_> = (1..=21).map(|n| item(n, n % 3)).collect();
        let batch = RootedBatch::new(&items).expect("a batch");
        assert_eq!(batch.count(), 21);
        assert_eq!(batch.categories(), U256::from(0b111u8));
        for i in 0..21 {
            let (record, proof) = batch.proof(i).expect("a record");
            assert_eq!(record.index, i);
            assert!(proves(batch.root(), record, &proof));
            let mut other = record.clone();
            other.category ^= 1;
            assert!(!proves(batch.root(), &other, &proof));
            let mut moved = record.clone();
            moved.index += 1;
            assert!(!proves(batch.root(), &moved, &proof));
        }
        assert!(batch.proof(21).is_none());
        let call = batch.anchor_call(Address::repeat_byte(9));
        assert_eq!((call.root, call.count), (batch.root(), 21));
    }

    #[test]
    fn a_place_round_trips_and_proves_its_record() {
        let items: Vec<_> = (1..=5).map(|n| item(n, 2)).collect();
        let batch = RootedBatch::new(&items).expect("a batch");
        for i in 0..5 {
            let place = batch.place(i).expect("a place");
            let text = place.encode();
            assert_eq!(Place::parse(&text), Ok(place.clone()), "{text}");
            let it = &items[i as usize];
            let leaf = place.leaf(it.record_id, it.ciphertext_hash, it.category);
            assert!(proves(place.root, &leaf, &place.proof));
        }
        let single = RootedBatch::new(&items[..1]).expect("a batch");
        let place = single.place(0).expect("a place");
        assert!(place.encode().ends_with(":0:0x"));
        assert_eq!(Place::parse(&place.encode()), Ok(place.clone()));
        let json = serde_json::to_string(&place).expect("json");
        assert_eq!(serde_json::from_str::<Place>(&json).expect("parse"), place);
        assert!(serde_json::from_str::<Place>("\"0x12:0:0x\"").is_err());
        assert!(batch.place(5).is_none());
    }

    #[test]
    fn a_malformed_place_is_refused_with_its_reason() {
        let root = format!("{}", B256::repeat_byte(1));
        let hash = "ab".repeat(32);
        assert_eq!(Place::parse("nonsense"), Err(PlaceError::Shape));
        assert_eq!(
            Place::parse(&format!("{root}:1:0x:x")),
            Err(PlaceError::Shape)
        );
        let zero = format!("{}:0:0x", B256::ZERO);
        assert_eq!(Place::parse(&zero), Err(PlaceError::Root));
        assert_eq!(Place::parse("0x12:0:0x"), Err(PlaceError::Root));
        assert_eq!(
            Place::parse(&format!("{root}:-1:0x")),
            Err(PlaceError::Index)
        );
        let past = format!("{root}:{MAX_ROOT_RECORDS}:0x");
        assert_eq!(Place::parse(&past), Err(PlaceError::Index));
        assert_eq!(
            Place::parse(&format!("{root}:0:{hash}")),
            Err(PlaceError::Proof)
        );
        assert_eq!(
            Place::parse(&format!("{root}:0:0xabc")),
            Err(PlaceError::Proof)
        );
        let not_hex = "zz".repeat(32);
        assert_eq!(
            Place::parse(&format!("{root}:0:0x{not_hex}")),
            Err(PlaceError::Proof)
        );
        let long = hash.repeat(MAX_PROOF_LEN + 1);
        assert_eq!(
            Place::parse(&format!("{root}:0:0x{long}")),
            Err(PlaceError::ProofTooLong)
        );
        let longest = hash.repeat(MAX_PROOF_LEN);
        let parsed = Place::parse(&format!("{root}:7:0x{longest}")).expect("20 hashes");
        assert_eq!((parsed.index, parsed.proof.len()), (7, MAX_PROOF_LEN));
    }

    #[test]
    fn refuses_what_the_contract_would_never_prove() {
        assert_eq!(RootedBatch::new(&[]).err(), Some(RootedBatchError::Empty));
        let mut zero_id = item(1, 0);
        zero_id.record_id = B256::ZERO;
        assert_eq!(
            RootedBatch::new(&[item(2, 0), zero_id]).err(),
            Some(RootedBatchError::ZeroId(1))
        );
        let mut zero_hash = item(1, 0);
        zero_hash.ciphertext_hash = B256::ZERO;
        assert_eq!(
            RootedBatch::new(&[zero_hash]).err(),
            Some(RootedBatchError::ZeroHash(0))
        );
        assert_eq!(
            RootedBatch::new(&[item(1, 0), item(2, 0), item(1, 3)]).err(),
            Some(RootedBatchError::DuplicateId(B256::repeat_byte(1)))
        );
    }
}
