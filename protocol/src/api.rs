//! Shapes of the escrow's HTTP API that the escrow and its clients share, typed once here so that
//! neither end spells a state as a bare string of its own.
//!
//! The escrow builds its responses from these types and the app reads them with the same types,
//! so a field renamed or a state added is a compile error at both ends, not a silent mismatch.
//! The states (record, claim, account, access action) are enums whose wire names are also the
//! index's stored names, converted once where a row is read.

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// What an account registered as on chain (the contract's `AccountKind`, without `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AccountKind {
    /// A data owner.
    Patient,
    /// A doctor or other practitioner (verified by an admin).
    Practitioner,
    /// An insurer (verified by an admin).
    Insurer,
}

impl AccountKind {
    /// Every kind.
    pub const ALL: [AccountKind; 3] = [
        AccountKind::Patient,
        AccountKind::Practitioner,
        AccountKind::Insurer,
    ];

    /// The contract's number for the kind (`AccountKind` in MedLedger.sol: 1, 2, 3).
    pub fn chain_number(self) -> u8 {
        match self {
            AccountKind::Patient => 1,
            AccountKind::Practitioner => 2,
            AccountKind::Insurer => 3,
        }
    }

    /// The kind the contract's number stands for; `None` for 0 (no account) and numbers this
    /// code does not know (a role added to the contract later is not shown as another one).
    pub fn from_chain_number(n: u8) -> Option<AccountKind> {
        AccountKind::ALL.into_iter().find(|k| k.chain_number() == n)
    }

    /// Applies to be verified by an admin (and is listed in the directory once verified).
    pub fn needs_verification(self) -> bool {
        !matches!(self, AccountKind::Patient)
    }

    /// The status an account of this kind has when it registers.
    pub fn status_at_registration(self) -> AccountStatus {
        if self.needs_verification() {
            AccountStatus::Pending
        } else {
            AccountStatus::Active
        }
    }
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AccountStatus {
    /// Applied, not verified yet.
    Pending,
    /// Verified (or a patient).
    Active,
    /// Suspended by an admin.
    Suspended,
}

impl AccountStatus {
    /// Every status.
    pub const ALL: [AccountStatus; 3] = [
        AccountStatus::Pending,
        AccountStatus::Active,
        AccountStatus::Suspended,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Pending => "pending",
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
        }
    }

    /// The status a stored name stands for.
    pub fn parse(name: &str) -> Option<AccountStatus> {
        AccountStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The contract's number for the status (`AccountStatus` in MedLedger.sol: 1, 2, 3).
    pub fn chain_number(self) -> u8 {
        match self {
            AccountStatus::Pending => 1,
            AccountStatus::Active => 2,
            AccountStatus::Suspended => 3,
        }
    }

    /// The status the contract's number stands for; `None` for 0 (no account) and unknown ones.
    pub fn from_chain_number(n: u8) -> Option<AccountStatus> {
        AccountStatus::ALL
            .into_iter()
            .find(|s| s.chain_number() == n)
    }
}

/// An event in a practitioner's or insurer's life on chain, as the contract emits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AccountEvent {
    /// `AccountRegistered`: the account applied (or, for a patient, registered).
    Registered,
    /// `AccountVerified`: an admin verified the application.
    Verified,
    /// `AccountSuspended`: an admin suspended the account.
    Suspended,
    /// `AccountReinstated`: an admin lifted a suspension.
    Reinstated,
    /// `PractitionerOrganisationChanged` to organisation 0: the practitioner's organisation
    /// released its seat; the account is Pending again.
    Released,
}

impl AccountEvent {
    /// Every event, for parsing.
    pub const ALL: [AccountEvent; 5] = [
        AccountEvent::Registered,
        AccountEvent::Verified,
        AccountEvent::Suspended,
        AccountEvent::Reinstated,
        AccountEvent::Released,
    ];

    /// The wire and storage name (`registered`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AccountEvent::Registered => "registered",
            AccountEvent::Verified => "verified",
            AccountEvent::Suspended => "suspended",
            AccountEvent::Reinstated => "reinstated",
            AccountEvent::Released => "released",
        }
    }

    /// The event a stored name stands for.
    pub fn parse(name: &str) -> Option<AccountEvent> {
        AccountEvent::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// One step of an account's history in `GET /api/console/applications`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AccountHistoryEntry {
    /// The block the event was mined in.
    pub block: u64,
    /// What happened.
    pub event: AccountEvent,
}

/// Addresses travel checksummed (EIP-55), as the escrow has always written them and as people
/// compare them; any case is read. (alloy's own serde form is lower-case.)
mod checksummed {
    use alloy_primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&a.to_checksum(None))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Implements `as_str`, `parse` and `ALL` for a fieldless enum whose wire names are listed once.
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, for parsing and listing.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The wire and storage name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The value a wire or stored name stands for.
            pub fn parse(name: &str) -> Option<$ty> {
                $ty::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Where a record stands in the escrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RecordState {
    /// Stored, not yet anchored on chain (it expires if it never is).
    Pending,
    /// Anchored by `RecordAdded` with the same h1.
    Committed,
    /// Erased on chain; its keys, wraps, label and blob are destroyed.
    Shredded,
}

wire_names!(RecordState {
    Pending => "pending",
    Committed => "committed",
    Shredded => "shredded",
});

/// An insurance claim's state, as the contract's events left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ClaimStatus {
    /// Submitted, not yet settled or reviewed.
    Submitted,
    /// Left for the insurer to review (see the claim's pending reason).
    PendingReview,
    /// Approved by the insurer, not yet paid.
    Approved,
    /// Denied by the insurer.
    Denied,
    /// Paid out.
    Paid,
}

wire_names!(ClaimStatus {
    Submitted => "submitted",
    PendingReview => "pending-review",
    Approved => "approved",
    Denied => "denied",
    Paid => "paid",
});

/// What an access-log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AccessAction {
    /// A read of a record's ciphertext (released or refused).
    Read,
    /// An upload.
    Upload,
    /// A wrapped DEK added for a reader.
    AddWrap,
    /// A request for a shred receipt.
    Receipt,
    /// A record's keys and blob destroyed after erasure.
    Shred,
    /// The declaration of entries a restore lost.
    LogGap,
    /// A patient's decision on a read held for their approval (docs/risk.md, "Hold").
    HoldDecision,
    /// An account's signed acceptance of a version of the licence agreement (the entry's record
    /// id is the text's hash, its reason `agreement-v<version>`).
    AcceptAgreement,
    /// A reader's wrapped DEK of the record replaced by one to their rotated encryption key
    /// (`PUT /api/wraps/mine`): the same reader, a new key.
    Rewrap,
}

wire_names!(AccessAction {
    Read => "read",
    Upload => "upload",
    AddWrap => "add-wrap",
    Receipt => "receipt",
    Shred => "shred",
    LogGap => "log-gap",
    HoldDecision => "hold-decision",
    Rewrap => "rewrap",
    AcceptAgreement => "accept-agreement",
});

/// One record in `GET /api/records`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecordSummary {
    /// The record's random id.
    pub record_id: B256,
    /// Whose record it is.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub patient: Address,
    /// Who uploaded it (the chain's word once committed).
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub author: Address,
    /// Its consent category.
    pub category: u8,
    /// The hash of its ciphertext C1.
    pub h1: B256,
    /// Bytes of C1.
    pub size: u64,
    /// Where it stands.
    pub state: RecordState,
    /// Upload time (Unix seconds).
    pub created: u64,
    /// Whether a DEK is wrapped to the caller.
    #[serde(default)]
    pub wrapped_to_you: bool,
    /// `0x` hex of the DEK wrapped to the caller, when there is one.
    #[serde(default)]
    pub wrapped_dek: Option<String>,
    /// `0x` hex of the sealed label, for a caller holding a wrap.
    #[serde(default)]
    pub label: Option<String>,
    /// Its place under a Merkle root (`0x<root>:<index>:0x<proof>`), for a record a bulk import
    /// anchored with one `anchorRecordRoot`; absent for one anchored alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub rooted: Option<crate::record_root::Place>,
}

/// `GET /api/records`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecordList {
    /// The records the caller may see.
    pub records: Vec<RecordSummary>,
}

/// The answer to an upload (`PUT /api/records/{id}`): a new record, or the one already stored
/// under the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StoredRecord {
    /// The record's id.
    pub record_id: B256,
    /// The hash of its ciphertext C1.
    pub h1: B256,
    /// Bytes of C1.
    pub size: u64,
    /// Where it stands.
    pub state: RecordState,
}

/// Body of `POST /api/records/{id}/wraps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AddWraps {
    /// `<reader address>=0x<81-byte hex>` items.
    pub wraps: Vec<String>,
}

/// Answer of `POST /api/records/{id}/wraps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WrapsAdded {
    /// How many wraps were stored.
    pub added: u64,
}

/// Most wraps `PUT /api/wraps/mine` takes at once, and most `GET /api/wraps/mine` lists a page.
pub const MY_WRAPS_PAGE: usize = 500;

/// One DEK the escrow holds wrapped to the caller, in `GET /api/wraps/mine`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MyWrap {
    /// The record.
    pub record_id: B256,
    /// Its patient (the wrap's context names them).
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub patient: Address,
    /// The wrapped DEK, `0x` hex of [`crate::wrap::WRAPPED_LEN`] bytes.
    pub wrapped_dek: String,
}

/// `GET /api/wraps/mine?after=<recordId>`: the caller's wrapped DEKs of records not erased, by
/// record id, a page at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MyWraps {
    /// Up to [`MY_WRAPS_PAGE`] wraps, by record id.
    pub wraps: Vec<MyWrap>,
    /// The `after` of the next page; `None` on the last.
    pub next: Option<B256>,
}

/// A wrap to the caller's new key, replacing the one the escrow holds for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MovedWrap {
    /// The record.
    pub record_id: B256,
    /// The new wrapped DEK, `0x` hex.
    pub wrapped_dek: String,
}

/// Body of `PUT /api/wraps/mine`: the caller's wraps of these records replaced by wraps to
/// `encryption_key`, which must be the caller's key on chain, with the wallet's signature over
/// [`crate::identity::MoveWrapsMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveWrapsBody {
    /// The key the new wraps are made for.
    pub encryption_key: B256,
    /// The signature's deadline (Unix seconds; at most a day ahead).
    pub deadline: u64,
    /// The 65-byte EIP-712 signature, 0x-hex.
    pub signature: String,
    /// 1..=[`MY_WRAPS_PAGE`] wraps, one per record.
    pub wraps: Vec<MovedWrap>,
}

/// Answer of `PUT /api/wraps/mine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WrapsMoved {
    /// How many wraps were replaced (all of the request's, or none).
    pub moved: u64,
}

/// A (record, grantee) pair whose grant covers the record but that has no wrapped DEK yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MissingWrap {
    /// The record.
    pub record_id: B256,
    /// The grantee without a wrap.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub grantee: Address,
    /// The record's category.
    pub category: u8,
}

/// `GET /api/wraps/missing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MissingWraps {
    /// The pairs, record by record.
    pub missing: Vec<MissingWrap>,
}

/// One consent grant in `GET /api/grants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GrantSummary {
    /// Who granted.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub patient: Address,
    /// Who was granted.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub grantee: Address,
    /// The category mask, a decimal uint256 (one bit per category).
    pub categories: String,
    /// Whether the grantee may add records.
    pub allow_write: bool,
    /// Unix seconds; uint64's maximum for an open-ended grant.
    pub expiry: u64,
    /// The block of the `ConsentGranted` event.
    pub granted_block: u64,
    /// Whether it is in force at the latest block.
    pub active: bool,
}

/// `GET /api/grants`: the caller's grants as a patient and as a grantee (revoked ones omitted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Grants {
    /// Grants the caller gave.
    pub as_patient: Vec<GrantSummary>,
    /// Grants the caller received.
    pub as_grantee: Vec<GrantSummary>,
}

/// One insurance claim in `GET /api/claims`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClaimSummary {
    /// The claim's id.
    pub claim_id: B256,
    /// Who submitted it.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub practitioner: Address,
    /// Whose care it is for.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub patient: Address,
    /// Who is asked to pay.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub insurer: Address,
    /// The record holding the claim's document.
    pub document_record_id: B256,
    /// The amount asked, in wei (decimal).
    pub amount: String,
    /// The category of care.
    pub category: u8,
    /// Where it stands.
    pub status: ClaimStatus,
    /// Why it awaits review (the contract's reason number), when it does.
    pub pending_reason: Option<u8>,
    /// The amount paid or approved, in wei (decimal).
    pub payout: Option<String>,
    /// Whether it was paid automatically on submission.
    pub automatic: Option<bool>,
    /// The hash of the insurer's reason for a denial.
    pub deny_reason_hash: Option<B256>,
    /// The block it was submitted in.
    pub submitted_block: u64,
    /// When it was submitted (the block's time, Unix seconds).
    pub submitted_at: u64,
}

/// `GET /api/claims`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClaimList {
    /// The caller's claims, oldest first.
    pub claims: Vec<ClaimSummary>,
}

/// A verified practitioner or insurer in `GET /api/directory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DirectoryEntry {
    /// The account.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub address: Address,
    /// Practitioner or insurer.
    pub kind: AccountKind,
    /// The name from its profile.
    pub name: String,
    /// The organisation from its profile (may be empty).
    pub organisation: String,
}

/// `GET /api/directory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Directory {
    /// Every verified practitioner and insurer with a profile.
    pub people: Vec<DirectoryEntry>,
}

/// An anchored batch of the access log, as an entry's proof refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LogAnchor {
    /// The contract's anchor index.
    pub index: u64,
    /// The batch's Merkle root.
    pub root: B256,
    /// The first entry of the batch.
    pub first_seq: u64,
    /// The last entry of the batch (inclusive).
    pub last_seq: u64,
    /// The anchoring transaction; `None` for a batch this escrow found already anchored on chain
    /// (reconciled after a restore), whose transaction it never saw.
    #[serde(default)]
    pub tx: Option<B256>,
}

/// One access-log entry in `GET /api/access-log` and the console's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Its sequence number.
    pub seq: u64,
    /// When (Unix seconds).
    pub at: u64,
    /// Who acted (the zero address for an attempt without a session).
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub actor: Address,
    /// Whose record.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub patient: Address,
    /// Which record.
    pub record_id: B256,
    /// What was attempted.
    pub action: AccessAction,
    /// Released (true) or refused.
    pub granted: bool,
    /// Why, as a short code.
    pub reason: String,
    /// The access's risk score × 1000 (docs/risk.md; covered by the entry's hash).
    pub score_milli: i64,
    /// Whether the score was at or above the deployment's threshold when the entry was written
    /// (not covered by the hash: the policy's decision, kept beside the entry).
    #[serde(default)]
    pub flagged: bool,
    /// For a flagged entry, the score's main reasons in words, strongest first (not covered by
    /// the hash: words derived from the scored features, whose wording may improve).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The previous entry's hash (absent in the console's list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<B256>,
    /// This entry's hash.
    pub entry_hash: B256,
    /// The batch it was anchored in, once it was (patient's log only).
    #[serde(default)]
    pub anchor: Option<LogAnchor>,
    /// Its Merkle proof in that batch (patient's log only).
    #[serde(default)]
    pub proof: Option<Vec<B256>>,
}

/// What the escrow does with a read whose risk score reaches the policy's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RiskMode {
    /// Release it, and flag the entry for the patient and the console.
    Flag,
    /// Hold it for the patient's approval (emergency releases are only ever flagged).
    Hold,
}

wire_names!(RiskMode {
    Flag => "flag",
    Hold => "hold",
});

/// The deployment's risk policy (`GET`/`PUT /api/console/risk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RiskPolicy {
    /// Flag or hold.
    pub mode: RiskMode,
    /// Scores at or above this (× 1000, 1–1000) are flagged or held.
    pub threshold_milli: u16,
}

/// Where the model's reference accesses come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ReferenceSource {
    /// The synthetic hospital (docs/risk.md): the deployment has too little history yet.
    Synthetic,
    /// The deployment's own recent unflagged accesses.
    Deployment,
}

/// The console's view of the risk model: its policy and its reference set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RiskStatus {
    /// Whether read attempts are scored at all (the escrow's `risk_scoring`).
    pub scoring: bool,
    /// The policy in force.
    pub policy: RiskPolicy,
    /// Where the reference set comes from.
    pub reference: ReferenceSource,
    /// How many accesses the reference set holds (0 while it is being built).
    pub reference_size: u64,
    /// The deployment's own scored accesses the escrow holds.
    pub deployment_accesses: u64,
    /// How many of its own accesses the deployment needs before they replace the synthetic set.
    pub deployment_needed: u64,
    /// The neighbour count.
    pub k: u32,
}

/// Where a held read stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum HoldState {
    /// Waiting for the patient.
    Pending,
    /// The patient approved: the reader's next reads of the record are released.
    Approved,
    /// The patient denied: the reader's next reads of the record are refused.
    Denied,
    /// Unanswered for the escrow's `hold_expiry_secs`: it no longer waits for a decision, and
    /// the reader's next read is scored (and held, if it must be) anew. `decidedAt` is when it
    /// expired.
    Expired,
}

wire_names!(HoldState {
    Pending => "pending",
    Approved => "approved",
    Denied => "denied",
    Expired => "expired",
});

/// A read held for the patient's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// Its number.
    pub id: u64,
    /// Who asked to read.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub reader: Address,
    /// Whose record.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub patient: Address,
    /// Which record.
    pub record_id: B256,
    /// When the read was held (Unix seconds).
    pub created_at: u64,
    /// The held read's score × 1000.
    pub score_milli: i64,
    /// Why it was held, in words, strongest first.
    pub reasons: Vec<String>,
    /// Where it stands.
    pub state: HoldState,
    /// When the patient decided, or when it expired unanswered (Unix seconds).
    #[serde(default)]
    pub decided_at: Option<u64>,
    /// Until when the decision applies to the reader's reads of the record (Unix seconds).
    #[serde(default)]
    pub applies_until: Option<u64>,
}

/// `GET /api/holds`: the reads held for the signed-in patient, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Holds {
    /// Pending ones and those decided in the last 30 days.
    pub holds: Vec<Hold>,
}

/// Body of `POST /api/holds/{id}`: the patient's decision, signed by their wallet over
/// [`crate::identity::HoldDecisionMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldDecisionBody {
    /// Release (true) or refuse (false).
    pub approve: bool,
    /// The 65-byte EIP-712 signature, 0x-hex.
    pub signature: String,
}

/// Entries of the access log a restore lost, as a later entry declared them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LogGap {
    /// The first lost entry.
    pub first_seq: u64,
    /// The last lost entry.
    pub last_seq: u64,
    /// When the gap was declared (Unix seconds).
    pub declared_at: u64,
    /// The declaring entry.
    pub seq: u64,
}

/// `GET /api/access-log`: the caller's entries as a patient, and every declared gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccessLog {
    /// The entries, oldest first.
    pub entries: Vec<LogEntry>,
    /// The declared gaps.
    #[serde(default)]
    pub gaps: Vec<LogGap>,
}

/// `GET /api/auth/session` and the answer of `POST /api/auth/verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The signed-in account: the identity the wallet acts for (`identityOf` on chain), which is
    /// the wallet itself unless a recovery moved an identity to it.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub address: Address,
    /// The wallet that signed in, which signs every message the account gives the escrow.
    #[serde(with = "checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub wallet: Address,
    /// When the session ends (Unix seconds).
    pub expires_at: i64,
    /// Where the account stands with the licence agreement.
    pub agreement: agreement::AgreementStatus,
}

/// The one shape of every error the API answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// A stable code, e.g. `no-read-consent` (docs/api.md lists them).
    pub error: String,
    /// What happened, for a person.
    pub message: String,
}

pub mod agreement;
pub mod licensing;
pub mod recovery;
pub mod relay;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_events_keep_one_name_on_the_wire_and_in_storage() {
        for e in AccountEvent::ALL {
            assert_eq!(AccountEvent::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_value(e).expect("serialises"),
                serde_json::Value::String(e.as_str().into())
            );
        }
        assert_eq!(AccountEvent::parse("deleted"), None);
    }

    #[test]
    fn account_kinds_follow_the_contracts_numbering_and_refuse_unknown_ones() {
        for k in AccountKind::ALL {
            assert_eq!(AccountKind::from_chain_number(k.chain_number()), Some(k));
        }
        assert_eq!(AccountKind::from_chain_number(0), None, "no account");
        assert_eq!(
            AccountKind::from_chain_number(4),
            None,
            "a kind added later"
        );
        assert_eq!(
            AccountKind::Patient.status_at_registration(),
            AccountStatus::Active
        );
        assert_eq!(
            AccountKind::Insurer.status_at_registration(),
            AccountStatus::Pending
        );
        for s in AccountStatus::ALL {
            assert_eq!(AccountStatus::parse(s.as_str()), Some(s));
            assert_eq!(AccountStatus::from_chain_number(s.chain_number()), Some(s));
            assert_eq!(
                serde_json::to_value(s).expect("serialises"),
                serde_json::Value::String(s.as_str().into())
            );
        }
    }

    /// The wire name serde writes is the name `as_str` stores and `parse` reads, for every value.
    fn names_agree<T>(all: &[T], as_str: fn(T) -> &'static str, parse: fn(&str) -> Option<T>)
    where
        T: Copy + PartialEq + core::fmt::Debug + serde::Serialize,
    {
        for &v in all {
            let json = serde_json::to_string(&v).expect("serialise");
            assert_eq!(json, format!("\"{}\"", as_str(v)));
            assert_eq!(parse(as_str(v)), Some(v));
        }
        assert_eq!(parse("no-such-name"), None);
    }

    #[test]
    fn states_and_actions_have_one_name_on_the_wire_and_in_the_index() {
        names_agree(RecordState::ALL, RecordState::as_str, RecordState::parse);
        names_agree(ClaimStatus::ALL, ClaimStatus::as_str, ClaimStatus::parse);
        names_agree(AccessAction::ALL, AccessAction::as_str, AccessAction::parse);
        names_agree(RiskMode::ALL, RiskMode::as_str, RiskMode::parse);
        names_agree(HoldState::ALL, HoldState::as_str, HoldState::parse);
        assert_eq!(RecordState::ALL.len(), 3);
        assert_eq!(ClaimStatus::ALL.len(), 5);
        assert_eq!(AccessAction::ALL.len(), 9);
        assert_eq!((RiskMode::ALL.len(), HoldState::ALL.len()), (2, 4));
    }

    #[test]
    fn a_record_summary_reads_what_the_escrow_writes() {
        let json = r#"{"recordId":"0x5151515151515151515151515151515151515151515151515151515151515151",
            "patient":"0x0A0a0a0a0A0A0a0A0A0a0a0a0A0a0a0a0A0A0A0A","author":"0x0A0a0a0a0A0A0a0A0A0a0a0a0A0a0a0a0A0A0A0A",
            "category":3,"h1":"0x6161616161616161616161616161616161616161616161616161616161616161",
            "size":10,"state":"committed","created":5,"wrappedToYou":false,"wrappedDek":null,"label":null}"#;
        let r: RecordSummary = serde_json::from_str(json).expect("parse");
        assert_eq!(
            (r.state, r.category, r.size),
            (RecordState::Committed, 3, 10)
        );
        let back = serde_json::to_value(&r).expect("serialise");
        assert_eq!(back["recordId"], serde_json::json!(r.record_id));
        assert_eq!(back["state"], "committed");
        assert_eq!(
            back["patient"],
            r.patient.to_checksum(None),
            "addresses travel checksummed"
        );
        assert!(serde_json::from_str::<RecordSummary>(&json.replace("committed", "lost")).is_err());
    }
}
