// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
// The structs and enums are declared in MedLedger itself, not here: the ABI names them by the
// contract that declares them (`"internalType": "struct MedLedger.Account"`), protocol/abi/ commits
// those names and alloy's sol! turns them into the Rust types MedLedger::Account and so on.
// Declaring them here would rename them all to IMedLedger.*. Solidity allows the circular import.
import {MedLedger} from "../MedLedger.sol";

/// @title IMedLedger
/// @notice The external face of the medledger core contract: every function, event and custom
/// error, documented. The types (Account, Grant, Record, NewRecord, RecordRoot, RootedRecord,
/// LogAnchor and the enums
/// AccountKind, AccountStatus) are MedLedger's. Insurance is a contract of its own, deployed beside
/// the core with its address: IMedLedgerInsurance.
/// @dev The insurance contract reads the core only through views here that take every address
/// as an argument (accountOf, isVerifiedPractitioner, isVerifiedInsurer, recordOf, isErased,
/// grantOf), so they mean the same whoever calls them. Roles are OpenZeppelin AccessControl roles: ADMIN_ROLE (keccak256("MEDLEDGER_ADMIN")) and
/// ESCROW_ROLE (keccak256("MEDLEDGER_ESCROW")), each administered by ADMIN_ROLE. docs/contract.md
/// describes the rules in prose; this file is what each call does and how it is refused.
interface IMedLedger is IAccessControl {
    // ================================================================ errors: accounts

    /// @notice The caller is registered already (as any kind): an account registers once.
    /// @param account the caller
    error AlreadyRegistered(address account);

    /// @notice rotateEncryptionKey by an account that never registered.
    /// @param account the caller
    error NotRegistered(address account);

    /// @notice An encryption public key of zero, on registration or rotation; or, on rotation, the
    /// key the account already has.
    error InvalidEncryptionKey();

    /// @notice A practitioner's or insurer's application with a zero profile hash.
    error InvalidProfileHash();

    /// @notice The account must be a registered patient and is not: the caller of grant, eraseAll
    /// or setEmergencyOptIn. (The insurance contract declares the same error for the patient
    /// named in submitClaim.)
    /// @param account the account that is not a patient
    error NotAPatient(address account);

    /// @notice verifyAccount, suspendAccount or reinstateAccount on an account that is neither a
    /// practitioner nor an insurer.
    /// @param account the account named by the admin
    error NotAProfessional(address account);

    /// @notice The account must be an Active (verified, not suspended) practitioner: the caller of
    /// emergencyAccess. (The insurance contract declares the same error for submitClaim.)
    /// @param account the account that is not one
    error NotAVerifiedPractitioner(address account);

    /// @notice An admin's status change that is not one of Pending→Active (verifyAccount),
    /// Active→Suspended (suspendAccount), Suspended→Active (reinstateAccount).
    /// @param account the practitioner or insurer
    /// @param status its current status, which does not allow the change
    error InvalidStatusChange(address account, MedLedger.AccountStatus status);

    // ================================================================ errors: consent

    /// @notice grant to an account that is not a registered practitioner, nor an insurer asked
    /// for read access only (insurers never write).
    /// @param grantee the account named
    error InvalidGrantee(address grantee);

    /// @notice A category mask of zero, in grant. (The insurance contract declares the same error
    /// for publishPolicy.)
    error InvalidCategories();

    /// @notice grant with an expiry that is not in the future.
    /// @param expiry the expiry given
    error ExpiryInPast(uint64 expiry);

    /// @notice revoke of a grantee the caller has no grant for.
    /// @param patient the caller
    /// @param grantee the account named
    error NoActiveGrant(address patient, address grantee);

    // ================================================================ errors: records

    /// @notice A record id of zero.
    error InvalidRecordId();

    /// @notice A ciphertext hash (h1) of zero.
    error InvalidCiphertextHash();

    /// @notice The record id is taken already (ids are unique forever; an erased id stays taken).
    /// @param recordId the id
    error RecordExists(bytes32 recordId);

    /// @notice No record has this id (eraseRecord, confirmShredded, isErased).
    /// @param recordId the id
    error UnknownRecord(bytes32 recordId);

    /// @notice eraseRecord by someone other than the record's patient.
    /// @param recordId the record
    /// @param caller the caller
    error NotRecordOwner(bytes32 recordId, address caller);

    /// @notice eraseRecord of a record already erased (by eraseRecord or eraseAll).
    /// @param recordId the record
    error RecordAlreadyErased(bytes32 recordId);

    /// @notice confirmShredded of a record that is not erased.
    /// @param recordId the record
    error RecordNotErased(bytes32 recordId);

    /// @notice confirmShredded of a record whose shredding was confirmed already.
    /// @param recordId the record
    error ShredAlreadyConfirmed(bytes32 recordId);

    /// @notice confirmShredded with a receipt hash of zero.
    error InvalidReceiptHash();

    /// @notice A record's `supersedes` does not name a live (unerased) record of the same patient.
    /// @param supersedes the id given
    error InvalidSupersedes(bytes32 supersedes);

    /// @notice The caller may not add a record of this category for this patient: canWrite is
    /// false (not the patient, nor an Active practitioner with an unexpired write grant covering
    /// the category; or `patient` is not a patient).
    /// @param patient the patient named
    /// @param writer the caller
    /// @param category the record's category
    error WriteNotPermitted(address patient, address writer, uint8 category);

    /// @notice A batch for addRecords is empty or longer than MAX_RECORD_BATCH.
    /// @param size the batch's length
    error InvalidBatchSize(uint256 size);

    // ================================================================ errors: records under a root

    /// @notice anchorRecordRoot with a root of zero.
    error InvalidRecordRoot();

    /// @notice anchorRecordRoot of a root anchored already (a root is anchored once).
    /// @param root the root
    error RecordRootExists(bytes32 root);

    /// @notice No root was anchored with this value (eraseRootedRecord, the confirmations,
    /// isRootedErased).
    /// @param root the root
    error UnknownRecordRoot(bytes32 root);

    /// @notice anchorRecordRoot with no record, or more than MAX_ROOT_RECORDS.
    /// @param count the count given
    error InvalidRootCount(uint32 count);

    /// @notice confirmRootShredded of a root whose records eraseAll has not erased.
    /// @param root the root
    error RecordRootNotErased(bytes32 root);

    // ================================================================ errors: emergency access

    /// @notice emergencyAccess on an account that is not a patient opted in to emergency access.
    /// @param patient the account named
    error EmergencyNotOptedIn(address patient);

    /// @notice A reason hash of zero, in emergencyAccess. (The insurance contract declares the same
    /// error for denyClaim.)
    error InvalidReasonHash();

    /// @notice setEmergencyWindow outside MIN_EMERGENCY_WINDOW..MAX_EMERGENCY_WINDOW.
    /// @param windowSeconds the length given
    error EmergencyWindowOutOfRange(uint64 windowSeconds);

    /// @notice endEmergencyAccess when the practitioner has no open window on the caller.
    /// @param patient the caller
    /// @param practitioner the practitioner named
    error NoEmergencyAccess(address patient, address practitioner);

    // ================================================================ errors: access-log anchors

    /// @notice anchorAccessLog with a batch that does not start at nextLogSeq, or ends before it
    /// starts.
    /// @param expectedFirstSeq nextLogSeq, where the batch must start
    /// @param firstSeq the batch's first sequence number as given
    /// @param lastSeq the batch's last sequence number as given
    error InvalidLogRange(uint64 expectedFirstSeq, uint64 firstSeq, uint64 lastSeq);

    /// @notice anchorAccessLog with a Merkle root of zero.
    error InvalidLogRoot();

    /// @notice anchorAt or verifyLogEntry with an index at or past anchorCount.
    /// @param anchorIndex the index given
    error UnknownAnchor(uint256 anchorIndex);

    // ================================================================ errors: licence terms

    /// @notice setLicensing when the licensing contract is set already (it is set once).
    /// @param licensing the one set
    error LicensingAlreadySet(address licensing);

    /// @notice setLicensing with an address that holds no code.
    /// @param licensing the address given
    error InvalidLicensing(address licensing);

    /// @notice setLicenceTerms, assignPractitioner or releasePractitioner from any caller but the
    /// licensing contract.
    /// @param caller the caller
    error NotLicensing(address caller);

    /// @notice Licence terms for organisation 0 or with a zero subscription end, or a practitioner
    /// assigned to an organisation without terms.
    /// @param organisation the organisation given
    error InvalidLicenceTerms(uint32 organisation);

    /// @notice releasePractitioner of a practitioner that belongs to no organisation.
    /// @param practitioner the account named
    error NotInAnOrganisation(address practitioner);

    // ================================================================ errors: wallets

    /// @notice The caller's wallet was retired by a recovery that moved its identity to another
    /// wallet: it can do nothing more, whatever it calls. (MedLedgerRecovery declares the same.)
    /// @param wallet the caller's wallet
    error WalletRetired(address wallet);

    /// @notice moveIdentity to a wallet that is registered itself, controls an identity or was
    /// retired: an identity moves only to a wallet that is nobody yet. (MedLedgerRecovery
    /// declares the same.)
    /// @param wallet the wallet named
    error WalletInUse(address wallet);

    /// @notice moveIdentity from any caller but the recovery contract.
    /// @param caller the caller
    error NotRecovery(address caller);

    // ================================================================ events: accounts

    /// @notice An account registered: a patient (Active at once) or an applicant practitioner or
    /// insurer (Pending until verified).
    /// @param account the account
    /// @param kind what it registered as
    /// @param encryptionKey its X25519 public key
    /// @param profileHash hash of the off-chain profile (zero for patients)
    event AccountRegistered(
        address indexed account, MedLedger.AccountKind kind, bytes32 encryptionKey, bytes32 profileHash
    );

    /// @notice An account replaced its encryption public key.
    /// @param account the account
    /// @param encryptionKey the new key
    event EncryptionKeyRotated(address indexed account, bytes32 encryptionKey);

    /// @notice An admin verified a pending practitioner or insurer (now Active).
    /// @param account the practitioner or insurer
    /// @param admin the admin
    event AccountVerified(address indexed account, address indexed admin);

    /// @notice An admin suspended an Active practitioner or insurer.
    /// @param account the practitioner or insurer
    /// @param admin the admin
    /// @param reasonHash hash of the off-chain reason
    event AccountSuspended(address indexed account, address indexed admin, bytes32 reasonHash);

    /// @notice An admin lifted a suspension (the account is Active again).
    /// @param account the practitioner or insurer
    /// @param admin the admin
    event AccountReinstated(address indexed account, address indexed admin);

    // ================================================================ events: licence terms

    /// @notice An admin named the licensing contract (once).
    /// @param licensing its address
    event LicensingSet(address indexed licensing);

    /// @notice The licensing contract set an organisation's licence terms: created, renewed, given
    /// notice, terminated (terminatesAt is then the block's time) or reinstated (terminatesAt 0).
    /// @param organisation the organisation
    /// @param paidUntil the subscription runs while block.timestamp < paidUntil
    /// @param terminatesAt 0, or when the licence ends (or ended)
    event LicenceTermsChanged(uint32 indexed organisation, uint64 paidUntil, uint64 terminatesAt);

    /// @notice A practitioner was verified for an organisation (organisation > 0; AccountVerified
    /// follows) or released from it (organisation 0: the practitioner is Pending again).
    /// @param practitioner the practitioner
    /// @param organisation the organisation, or 0
    event PractitionerOrganisationChanged(address indexed practitioner, uint32 indexed organisation);

    // ================================================================ events: consent

    /// @notice A patient granted (or replaced) a grantee's consent.
    /// @param patient the patient
    /// @param grantee the practitioner or insurer
    /// @param categories bit mask of the categories covered
    /// @param canWrite whether the grantee may add records in them
    /// @param expiry when the grant lapses
    event ConsentGranted(
        address indexed patient, address indexed grantee, uint256 categories, bool canWrite, uint64 expiry
    );

    /// @notice A patient withdrew a grantee's consent.
    /// @param patient the patient
    /// @param grantee the practitioner or insurer
    event ConsentRevoked(address indexed patient, address indexed grantee);

    // ================================================================ events: records

    /// @notice A record was anchored (by addRecord, or once per record by addRecords).
    /// @param recordId the record's id
    /// @param patient the patient it belongs to
    /// @param author who added it
    /// @param ciphertextHash h1 of its tier-1 ciphertext
    /// @param category its category
    /// @param supersedes the record it amends, or zero
    event RecordAdded(
        bytes32 indexed recordId,
        address indexed patient,
        address indexed author,
        bytes32 ciphertextHash,
        uint8 category,
        bytes32 supersedes
    );

    /// @notice A patient erased one record; the escrow shreds it.
    /// @param recordId the record
    /// @param patient the patient
    event RecordErased(bytes32 indexed recordId, address indexed patient);

    /// @notice A patient erased every record added so far; the escrow shreds them all.
    /// @param patient the patient
    /// @param newEpoch the patient's erasure epoch from now on
    event AllRecordsErased(address indexed patient, uint64 newEpoch);

    /// @notice The escrow confirmed it destroyed an erased record's keys and blob.
    /// @param recordId the record
    /// @param receiptHash hash of the escrow's signed shred receipt
    event ShredConfirmed(bytes32 indexed recordId, bytes32 receiptHash);

    // ================================================================ events: records under a root

    /// @notice Records of one patient were anchored under one Merkle root (anchorRecordRoot).
    /// @param root the root of the records' tree, which names them from now on
    /// @param patient the patient they belong to
    /// @param author who anchored them
    /// @param count how many records (leaves 0..count-1)
    /// @param categories the categories the records may have
    event RecordRootAnchored(
        bytes32 indexed root, address indexed patient, address indexed author, uint32 count, uint256 categories
    );

    /// @notice A patient erased one record under a root; the escrow shreds it.
    /// @param root the record's root
    /// @param recordId the record
    /// @param patient the patient
    event RootedRecordErased(bytes32 indexed root, bytes32 indexed recordId, address indexed patient);

    /// @notice The escrow confirmed it destroyed an erased record's keys and blob (under a root).
    /// @param root the record's root
    /// @param recordId the record
    /// @param receiptHash hash of the escrow's signed shred receipt
    event RootedShredConfirmed(bytes32 indexed root, bytes32 indexed recordId, bytes32 receiptHash);

    /// @notice The escrow confirmed it destroyed every record of a root that eraseAll erased.
    /// @param root the root
    /// @param receiptHash hash of the escrow's signed shred receipt
    event RecordRootShredConfirmed(bytes32 indexed root, bytes32 receiptHash);

    // ================================================================ events: emergency access

    /// @notice A patient opted in to or out of emergency access (opting out closes open windows).
    /// @param patient the patient
    /// @param optedIn the new setting
    event EmergencyOptInChanged(address indexed patient, bool optedIn);

    /// @notice An admin set the length of emergency windows opened from now on.
    /// @param windowSeconds the new length
    event EmergencyWindowChanged(uint64 windowSeconds);

    /// @notice A practitioner broke glass: read access to the patient's records until expiresAt.
    /// @param patient the patient
    /// @param practitioner the practitioner
    /// @param reasonHash hash of the stated reason
    /// @param expiresAt when the window ends
    event EmergencyAccessOpened(
        address indexed patient, address indexed practitioner, bytes32 reasonHash, uint64 expiresAt
    );

    /// @notice A patient ended a practitioner's emergency window early.
    /// @param patient the patient
    /// @param practitioner the practitioner
    event EmergencyAccessEnded(address indexed patient, address indexed practitioner);

    // ================================================================ events: access-log anchors

    /// @notice The escrow anchored a batch of its access log.
    /// @param anchorIndex the batch's index (for anchorAt and verifyLogEntry)
    /// @param root the batch's Merkle root
    /// @param firstSeq the batch's first entry
    /// @param lastSeq the batch's last entry
    event AccessLogAnchored(uint256 indexed anchorIndex, bytes32 root, uint64 firstSeq, uint64 lastSeq);

    // ================================================================ events: wallets

    /// @notice A recovery moved an identity: from this block it answers to newWallet, and
    /// oldWallet can do nothing more.
    /// @param identity the identity (the address the account registered with)
    /// @param oldWallet the wallet that controlled it until now (retired)
    /// @param newWallet the wallet that controls it from now
    event IdentityMoved(address indexed identity, address indexed oldWallet, address indexed newWallet);

    // ================================================================ constants and settings

    // The getters of the contract's public constants carry the constants' UPPER_CASE names
    // (slither's naming-convention wants mixedCase for functions): renaming them would change
    // the ABI, and they are the names the constants have everywhere else.

    /// @notice The role of operators: verify and suspend practitioners and insurers, set the
    /// emergency window, administer both roles.
    // slither-disable-next-line naming-convention
    function ADMIN_ROLE() external view returns (bytes32);

    /// @notice The role of the escrow API's own account: anchors access-log roots and confirms
    /// shredding, nothing else.
    // slither-disable-next-line naming-convention
    function ESCROW_ROLE() external view returns (bytes32);

    /// @notice Record categories are 0..255, one bit each in a grant's mask (and in an insurance
    /// policy's).
    // slither-disable-next-line naming-convention
    function MAX_CATEGORY() external view returns (uint256);

    /// @notice Most records one addRecords call anchors.
    // slither-disable-next-line naming-convention
    function MAX_RECORD_BATCH() external view returns (uint256);

    /// @notice Most records one anchorRecordRoot call anchors (2^20).
    // slither-disable-next-line naming-convention
    function MAX_ROOT_RECORDS() external view returns (uint32);

    /// @notice Shortest emergency window an admin may set.
    // slither-disable-next-line naming-convention
    function MIN_EMERGENCY_WINDOW() external view returns (uint64);

    /// @notice Longest emergency window an admin may set.
    // slither-disable-next-line naming-convention
    function MAX_EMERGENCY_WINDOW() external view returns (uint64);

    /// @notice Length of an emergency access window in seconds (24 hours until an admin sets it).
    function emergencyWindow() external view returns (uint64);

    /// @notice The sequence number the next anchored access-log batch must start at.
    function nextLogSeq() external view returns (uint64);

    // ================================================================ accounts and keys

    /// @notice Register the caller as a patient with their X25519 encryption public key.
    /// Refused with AlreadyRegistered or InvalidEncryptionKey.
    /// @param encryptionKey the X25519 public key derived in the app from the wallet's signature
    function registerPatient(bytes32 encryptionKey) external;

    /// @notice Apply as a practitioner; an admin verifies the application before it counts.
    /// Refused with InvalidProfileHash, AlreadyRegistered or InvalidEncryptionKey.
    /// @param encryptionKey the caller's X25519 public key
    /// @param profileHash hash of the off-chain profile (name, licence number, organisation)
    function applyAsPractitioner(bytes32 encryptionKey, bytes32 profileHash) external;

    /// @notice Apply as an insurer; an admin verifies the application before it counts.
    /// Refused with InvalidProfileHash, AlreadyRegistered or InvalidEncryptionKey.
    /// @param encryptionKey the caller's X25519 public key
    /// @param profileHash hash of the off-chain profile (name, organisation)
    function applyAsInsurer(bytes32 encryptionKey, bytes32 profileHash) external;

    /// @notice Replace the caller's encryption public key (after a wallet change or a compromise).
    /// Refused with NotRegistered, or InvalidEncryptionKey for zero or the current key.
    /// @dev Data keys wrapped to the old key stay readable only by the old key; the app re-wraps.
    /// @param encryptionKey the new X25519 public key
    function rotateEncryptionKey(bytes32 encryptionKey) external;

    /// @notice An admin verifies a pending practitioner or insurer application.
    /// Refused with NotAProfessional or InvalidStatusChange (not Pending).
    /// @param account the applicant
    function verifyAccount(address account) external;

    /// @notice An admin (or the admin of the practitioner's organisation, as the licensing
    /// contract names it) suspends a verified practitioner or insurer: from this block it can read,
    /// write, claim nothing. Only an Active account can be suspended: a pending applicant has
    /// nothing to suspend, and reinstating it would verify it without review.
    /// @param account the practitioner or insurer
    /// @param reasonHash hash of the off-chain reason
    function suspendAccount(address account, bytes32 reasonHash) external;

    /// @notice An admin (or the admin of the practitioner's organisation, unless a platform admin
    /// imposed the suspension) lifts a suspension. Refused with InvalidStatusChange unless
    /// Suspended.
    /// @param account the suspended practitioner or insurer
    function reinstateAccount(address account) external;

    /// @notice A registered account, or an all-zero one.
    /// @param account the account
    function accountOf(address account) external view returns (MedLedger.Account memory);

    /// @notice True for an active (verified, not suspended) practitioner whose organisation, if
    /// any, holds a licence that is Active or UnderNotice.
    /// @param account the account
    function isVerifiedPractitioner(address account) external view returns (bool);

    /// @notice True for an active (verified, not suspended) insurer.
    /// @param account the account
    function isVerifiedInsurer(address account) external view returns (bool);

    // ================================================================ licence terms

    /// @notice An admin names the licensing contract, once (MedLedgerLicensing, deployed with this
    /// core's address). Refused with LicensingAlreadySet, InvalidLicensing (no code).
    /// @param licensingContract its address
    function setLicensing(address licensingContract) external;

    /// @notice The licensing contract, or zero before setLicensing.
    function licensing() external view returns (address);

    /// @notice The licensing contract sets an organisation's licence terms. Refused with
    /// NotLicensing, InvalidLicenceTerms.
    /// @param organisation the organisation (> 0)
    /// @param paidUntil the subscription's end (> 0)
    /// @param terminatesAt 0, or the end of the licence
    function setLicenceTerms(uint32 organisation, uint64 paidUntil, uint64 terminatesAt) external;

    /// @notice The licensing contract verifies a pending practitioner for an organisation with
    /// terms: the practitioner is Active and the organisation's. Refused with NotLicensing,
    /// NotAProfessional (not a practitioner), InvalidStatusChange (not Pending),
    /// InvalidLicenceTerms.
    /// @param practitioner the practitioner
    /// @param organisation the organisation
    /// @param admin the admin who verified (in AccountVerified)
    function assignPractitioner(address practitioner, uint32 organisation, address admin) external;

    /// @notice The licensing contract releases a practitioner from its organisation: an Active one
    /// is Pending again, to be verified anew; a Suspended one stays Suspended, and only a platform
    /// admin can lift it then. Refused with NotLicensing, NotInAnOrganisation.
    /// @param practitioner the practitioner
    function releasePractitioner(address practitioner) external;

    /// @notice An organisation's licence terms (all zero for one without).
    /// @param organisation the organisation
    function licenceTermsOf(uint32 organisation) external view returns (MedLedger.LicenceTerms memory);

    /// @notice An organisation's licence status now (None for one without terms).
    /// @param organisation the organisation
    function licenceStatus(uint32 organisation) external view returns (MedLedger.LicenceStatus);

    /// @notice The organisation a practitioner was verified for; 0 for none (verified by a
    /// platform admin, pending, or not a practitioner).
    /// @param practitioner the account
    function practitionerOrganisation(address practitioner) external view returns (uint32);

    // ================================================================ consent

    /// @notice Grant (or replace) a practitioner's or insurer's consent to the caller's records.
    /// Refused with NotAPatient, InvalidGrantee, InvalidCategories or ExpiryInPast.
    /// @param grantee a registered practitioner or insurer (it must also be verified to use it)
    /// @param categories bit mask of record categories covered, not zero
    /// @param allowWrite whether the grantee may add records in those categories (practitioners only)
    /// @param expiry unix time at which the grant lapses; must lie in the future
    function grant(address grantee, uint256 categories, bool allowWrite, uint64 expiry) external;

    /// @notice Withdraw a grantee's consent; takes effect from this block. Refused with
    /// NoActiveGrant.
    /// @param grantee the practitioner or insurer whose grant ends
    function revoke(address grantee) external;

    /// @notice The grant a patient gave a grantee (all zero if none). It may have expired.
    /// @param patient the patient
    /// @param grantee the grantee
    function grantOf(address patient, address grantee) external view returns (MedLedger.Grant memory);

    /// @notice The patient's grantees whose grants are unexpired, with those grants.
    /// @param patient the patient
    /// @return grantees the grantees, in the order they were first granted (less revoked ones)
    /// @return grants their grants, index for index
    function activeGrants(address patient)
        external
        view
        returns (address[] memory grantees, MedLedger.Grant[] memory grants);

    /// @notice Whether `reader` may read record `recordId` of `patient` now: the patient always
    /// (until erased); a verified grantee whose unexpired grant covers the record's category; a
    /// verified practitioner inside an emergency window the patient opted in to.
    /// @param patient the record's patient
    /// @param reader who would read
    /// @param recordId the record
    function canRead(address patient, address reader, bytes32 recordId) external view returns (bool);

    /// @notice canRead for many records of one patient and one reader, all answered at the same
    /// block: what a listing asks in one call instead of one call per record.
    /// @param patient the records' patient
    /// @param reader who would read
    /// @param recordIds the records, in any order (an unknown id, or another patient's, is false)
    /// @return allowed canRead(patient, reader, recordIds[i]) at index i
    function canReadMany(address patient, address reader, bytes32[] calldata recordIds)
        external
        view
        returns (bool[] memory allowed);

    /// @notice Whether `writer` may add a record of `category` for `patient` now: the patient, or a
    /// verified practitioner with an unexpired write grant covering the category.
    /// @param patient the patient
    /// @param writer who would write
    /// @param category the record's category
    function canWrite(address patient, address writer, uint8 category) external view returns (bool);

    // ================================================================ records and erasure

    /// @notice Anchor a record whose ciphertext the escrow holds. Ids are unique forever; records
    /// are immutable, so an amendment is a new record naming the one it supersedes. Refused with
    /// InvalidRecordId, InvalidCiphertextHash, RecordExists, WriteNotPermitted or InvalidSupersedes.
    /// @param recordId random 32-byte id drawn by the app
    /// @param patient the patient the record belongs to
    /// @param ciphertextHash h1, the hash of the tier-1 ciphertext (docs/formats.md)
    /// @param category record category 0..255
    /// @param supersedes the record this one amends, or zero
    function addRecord(bytes32 recordId, address patient, bytes32 ciphertextHash, uint8 category, bytes32 supersedes)
        external;

    /// @notice Anchor several records in one transaction (a bulk import, a FHIR bundle): each is
    /// checked exactly as addRecord checks it — its own id, h1, category, supersedes and the
    /// caller's write permission for its patient and category — and emits its own RecordAdded.
    /// All or nothing: one refused record reverts the batch with that record's error.
    /// @param batch 1 to MAX_RECORD_BATCH records, anchored in order (a record may supersede one
    /// earlier in the same batch); otherwise InvalidBatchSize
    function addRecords(MedLedger.NewRecord[] calldata batch) external;

    /// @notice Erase one of the caller's records: unreadable from this block; the escrow destroys
    /// its keys and blob and confirms with a receipt. The id stays taken (a tombstone). Refused
    /// with UnknownRecord, NotRecordOwner or RecordAlreadyErased.
    /// @param recordId the record to erase
    function eraseRecord(bytes32 recordId) external;

    /// @notice Erase every record of the caller at once (constant gas, however many records).
    /// Refused with NotAPatient.
    function eraseAll() external;

    /// @notice The escrow confirms that it destroyed an erased record's keys and blob. Refused
    /// with UnknownRecord, RecordNotErased, ShredAlreadyConfirmed or InvalidReceiptHash.
    /// @param recordId an erased record
    /// @param receiptHash hash of the escrow's signed shred receipt
    function confirmShredded(bytes32 recordId, bytes32 receiptHash) external;

    /// @notice A record's anchor (all zero if unknown). `erased` here is only the per-record flag;
    /// use isErased, which also counts eraseAll.
    /// @param recordId the record
    function recordOf(bytes32 recordId) external view returns (MedLedger.Record memory);

    /// @notice Whether a known record is erased, by eraseRecord or eraseAll (UnknownRecord if not
    /// known).
    /// @param recordId the record
    function isErased(bytes32 recordId) external view returns (bool);

    /// @notice The patient's current erasure epoch (how many times they erased everything).
    /// @param patient the patient
    function erasureEpochOf(address patient) external view returns (uint64);

    // ================================================================ emergency access

    /// @notice Opt in to (or out of) emergency access to the caller's records. Opting out also
    /// closes every open window for good: opting in again does not reopen them. Refused with
    /// NotAPatient.
    /// @param optedIn the new setting
    function setEmergencyOptIn(bool optedIn) external;

    /// @notice An admin sets the emergency window length for windows opened from now on.
    /// @param windowSeconds between MIN_EMERGENCY_WINDOW and MAX_EMERGENCY_WINDOW, else
    /// EmergencyWindowOutOfRange
    function setEmergencyWindow(uint64 windowSeconds) external;

    /// @notice Break glass: a verified practitioner opens read access to an opted-in patient's
    /// records for the emergency window. Every opening is an event the patient is shown. Refused
    /// with NotAVerifiedPractitioner, InvalidReasonHash or EmergencyNotOptedIn.
    /// @param patient the patient
    /// @param reasonHash hash of the stated reason, kept off chain with the access log
    function emergencyAccess(address patient, bytes32 reasonHash) external;

    /// @notice The patient ends a practitioner's open emergency window early. Refused with
    /// NoEmergencyAccess.
    /// @param practitioner the practitioner
    function endEmergencyAccess(address practitioner) external;

    /// @notice When a practitioner's emergency window on a patient ends (0 or past: closed; 0
    /// also once the patient opted out after it was opened).
    /// @param patient the patient
    /// @param practitioner the practitioner
    function emergencyAccessUntil(address patient, address practitioner) external view returns (uint64);

    // ================================================================ access-log anchors

    /// @notice The escrow anchors the Merkle root of its access-log entries firstSeq..lastSeq.
    /// Batches are contiguous: each starts where the last ended. Refused with InvalidLogRoot or
    /// InvalidLogRange.
    /// @param root Merkle root (OpenZeppelin sorted-pair keccak tree) over the batch's leaves
    /// @param firstSeq the batch's first entry, equal to nextLogSeq
    /// @param lastSeq the batch's last entry, not before firstSeq
    function anchorAccessLog(bytes32 root, uint64 firstSeq, uint64 lastSeq) external;

    /// @notice How many batches are anchored.
    function anchorCount() external view returns (uint256);

    /// @notice One anchored batch (UnknownAnchor past the last).
    /// @param anchorIndex the batch's index
    function anchorAt(uint256 anchorIndex) external view returns (MedLedger.LogAnchor memory);

    /// @notice The leaf of access-log entry `seq` with hash `entryHash`, double-hashed so that no
    /// inner node can pass for a leaf.
    /// @param seq the entry's sequence number
    /// @param entryHash the entry's hash
    function logLeaf(uint64 seq, bytes32 entryHash) external pure returns (bytes32);

    /// @notice Whether entry `seq` with hash `entryHash` is in anchored batch `anchorIndex`.
    /// @param anchorIndex the batch (UnknownAnchor past the last)
    /// @param seq the entry's sequence number
    /// @param entryHash the entry's hash
    /// @param proof the Merkle proof from the entry's leaf to the batch's root
    function verifyLogEntry(uint256 anchorIndex, uint64 seq, bytes32 entryHash, bytes32[] calldata proof)
        external
        view
        returns (bool);

    // ================================================================ records under a root

    /// @notice Anchor `count` records of `patient` under one Merkle root, in one transaction
    /// whatever `count` is: the records are the leaves of an OpenZeppelin sorted-pair keccak tree
    /// (leaf i is rootedLeaf of RootedRecord{index: i, ...}); the chain keeps the root, not the
    /// leaves. The caller must be able to write (canWrite) every category in `categories`, and each
    /// leaf's category must be one of them, or canReadRooted refuses it. Records under a root
    /// cannot supersede others nor be claim documents. Refused with InvalidRecordRoot,
    /// RecordRootExists, InvalidRootCount, InvalidCategories or WriteNotPermitted.
    /// @param patient the records' patient
    /// @param root the tree's root, which names the records' batch from now on
    /// @param count how many leaves, 1 to MAX_ROOT_RECORDS
    /// @param categories bit mask of the categories the leaves may have, not zero
    function anchorRecordRoot(address patient, bytes32 root, uint32 count, uint256 categories) external;

    /// @notice The patient erases one record under one of their roots (by its id; a proof is not
    /// needed). Refused with UnknownRecordRoot, InvalidRecordId, NotRecordOwner or
    /// RecordAlreadyErased (also after eraseAll).
    /// @param root the record's root
    /// @param recordId the record
    function eraseRootedRecord(bytes32 root, bytes32 recordId) external;

    /// @notice The escrow confirms that it destroyed an erased record's keys and blob (a record
    /// under a root). Refused with UnknownRecordRoot, RecordNotErased, ShredAlreadyConfirmed (also
    /// when the whole root's shredding was confirmed) or InvalidReceiptHash.
    /// @param root the record's root
    /// @param recordId the erased record
    /// @param receiptHash hash of the escrow's signed shred receipt
    function confirmRootedShredded(bytes32 root, bytes32 recordId, bytes32 receiptHash) external;

    /// @notice The escrow confirms that it destroyed every record of a root erased by eraseAll,
    /// in one call. Refused with UnknownRecordRoot, RecordRootNotErased, ShredAlreadyConfirmed or
    /// InvalidReceiptHash.
    /// @param root the root
    /// @param receiptHash hash of the escrow's signed shred receipt
    function confirmRootShredded(bytes32 root, bytes32 receiptHash) external;

    /// @notice An anchored root (all zero if unknown).
    /// @param root the root
    function recordRootOf(bytes32 root) external view returns (MedLedger.RecordRoot memory);

    /// @notice A record's leaf: keccak256(bytes.concat(keccak256(abi.encode(index, recordId,
    /// ciphertextHash, category)))), double-hashed so that no inner node can pass for a leaf.
    /// @param record the record
    function rootedLeaf(MedLedger.RootedRecord calldata record) external pure returns (bytes32);

    /// @notice Whether `record` is leaf record.index of the anchored `root`: index below its count,
    /// non-zero id and hash, a category the root allows, and `proof` leading to the root.
    /// @param root the root
    /// @param record the record
    /// @param proof the Merkle proof from the record's leaf to the root
    function isRootedRecord(bytes32 root, MedLedger.RootedRecord calldata record, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /// @notice Whether a record under a known root is erased, by eraseRootedRecord or eraseAll
    /// (UnknownRecordRoot if the root is not known).
    /// @param root the root
    /// @param recordId the record
    function isRootedErased(bytes32 root, bytes32 recordId) external view returns (bool);

    /// @notice canRead for a record under a root: false unless isRootedRecord holds, the root is
    /// `patient`'s and the record is not erased; then exactly canRead's consent rules for the
    /// record's category (the patient; a verified grantee covering it; an open emergency window).
    /// @param patient the record's patient
    /// @param reader who would read it
    /// @param root the record's root
    /// @param record the record
    /// @param proof the Merkle proof from the record's leaf to the root
    function canReadRooted(
        address patient,
        address reader,
        bytes32 root,
        MedLedger.RootedRecord calldata record,
        bytes32[] calldata proof
    ) external view returns (bool);

    // ================================================================ wallets

    /// @notice The recovery contract moves an identity to a new wallet once the identity's
    /// guardians approved it (IMedLedgerRecovery.completeRecovery). Refused with NotRecovery,
    /// NotRegistered (the identity) or WalletInUse (the new wallet).
    /// @param identity the identity to move
    /// @param newWallet the wallet that controls it from this block
    function moveIdentity(address identity, address newWallet) external;

    /// @notice The recovery contract (MedLedgerRecovery), created with the core.
    function recovery() external view returns (address);

    /// @notice The identity a wallet acts for: the one a recovery moved to it, else the wallet
    /// itself; zero for a retired wallet. The escrow signs a wallet in as this identity, and every
    /// address the core's other functions take or emit (patients, readers, grantees) is one.
    /// @param wallet the wallet
    function identityOf(address wallet) external view returns (address);

    /// @notice The wallet that controls an identity now: the identity itself until a recovery
    /// moves it.
    /// @param identity the identity
    function walletOf(address identity) external view returns (address);
}
