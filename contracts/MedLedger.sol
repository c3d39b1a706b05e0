// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

/// @title MedLedger
/// @notice The trust core of medledger: who is who, who may read or write a patient's records,
/// which records exist and which are erased, emergency access windows, anchors of the escrow's
/// access log, and insurance policies whose claims the contract settles.
/// @dev Nothing here is personal health information: record and claim ids are random, records are
/// known by the hash of their ciphertext, categories are small numbers, profiles are hashes of
/// off-chain documents. Payouts use the pull pattern, so no state-changing function but the two
/// withdrawals sends ether, and those follow checks-effects-interactions behind a reentrancy guard.
contract MedLedger is AccessControl, ReentrancyGuard {
    using EnumerableSet for EnumerableSet.AddressSet;

    // ---------------------------------------------------------------- roles and accounts

    /// @notice Operators: verify and suspend practitioners and insurers, set the emergency window.
    bytes32 public constant ADMIN_ROLE = keccak256("MEDLEDGER_ADMIN");
    /// @notice The escrow API's own account: anchors access-log roots and confirms shredding.
    bytes32 public constant ESCROW_ROLE = keccak256("MEDLEDGER_ESCROW");

    /// @notice What an account registered as. An account registers once, as one kind.
    enum AccountKind {
        None,
        Patient,
        Practitioner,
        Insurer
    }

    /// @notice Patients are Active on registration; practitioners and insurers start Pending
    /// until an admin verifies them, and an admin may suspend and reinstate them.
    enum AccountStatus {
        None,
        Pending,
        Active,
        Suspended
    }

    /// @notice One registered account.
    /// @param encryptionKey the account's X25519 public key, to which data keys are wrapped
    /// @param profileHash hash of the off-chain application profile (zero for patients)
    struct Account {
        AccountKind kind;
        AccountStatus status;
        bool emergencyOptIn;
        uint64 registeredAt;
        bytes32 encryptionKey;
        bytes32 profileHash;
    }

    // ---------------------------------------------------------------- consent and records

    /// @notice A patient's consent for one grantee.
    /// @param categories bit i set means record category i is covered
    /// @param expiry the grant is active while block.timestamp < expiry
    struct Grant {
        uint256 categories;
        bool canWrite;
        uint64 expiry;
        uint64 grantedAt;
    }

    /// @notice A record's anchor. The record itself (ciphertext) lives with the escrow.
    /// @param epoch the patient's erasure epoch when the record was added; eraseAll moves the
    /// patient's epoch on, which erases every older record at once without a loop
    struct Record {
        address patient;
        address author;
        bytes32 ciphertextHash;
        bytes32 supersedes;
        uint64 createdAt;
        uint64 epoch;
        uint8 category;
        bool erased;
        bool shredConfirmed;
    }

    /// @notice One record to anchor in a batch (addRecords): the arguments of addRecord.
    struct NewRecord {
        bytes32 recordId;
        address patient;
        bytes32 ciphertextHash;
        uint8 category;
        bytes32 supersedes;
    }

    // ---------------------------------------------------------------- access log

    /// @notice One anchored batch of the escrow's access log: entries firstSeq..lastSeq inclusive.
    struct LogAnchor {
        bytes32 root;
        uint64 firstSeq;
        uint64 lastSeq;
        uint64 anchoredAt;
    }

    // ---------------------------------------------------------------- insurance

    /// @notice An insurer's coverage policy and the ether it holds for it.
    /// @param funds ether held for this insurer, reserved included
    /// @param reserved part of funds promised to approved, not yet paid claims
    struct Policy {
        uint256 coveredCategories;
        uint128 perClaimLimit;
        uint128 annualLimit;
        uint128 deductible;
        uint256 funds;
        uint256 reserved;
        bool published;
    }

    /// @notice Per insurer, patient and policy year: what the deductible and the payouts used.
    struct AnnualUsage {
        uint128 deductibleUsed;
        uint128 paid;
    }

    /// @notice The claim state machine. Allowed edges: None→Paid (settled on submission),
    /// None→Submitted, Submitted→Approved, Submitted→Denied, Approved→Paid.
    enum ClaimStatus {
        None,
        Submitted,
        Approved,
        Denied,
        Paid
    }

    /// @notice Why a submitted claim was left for the insurer instead of being settled at once.
    enum PendingReason {
        None,
        CategoryNotCovered,
        OverPerClaimLimit,
        OverAnnualLimit,
        InsufficientFunds
    }

    /// @notice One insurance claim.
    struct Claim {
        address practitioner;
        address patient;
        address insurer;
        bytes32 documentRecordId;
        uint128 amount;
        uint128 payout;
        uint64 submittedAt;
        uint64 policyYear;
        uint8 category;
        ClaimStatus status;
        PendingReason pendingReason;
        bytes32 denialReasonHash;
    }

    // ---------------------------------------------------------------- constants

    /// @notice Record categories are 0..255, one bit each in a grant's or policy's mask.
    uint256 public constant MAX_CATEGORY = 255;
    /// @notice Most records one addRecords call anchors: at about 99k gas each in a full batch
    /// (bench/gas.md), about 10M gas, well inside a 30M-gas block.
    uint256 public constant MAX_RECORD_BATCH = 100;
    /// @notice Bounds on the emergency window an admin may set.
    uint64 public constant MIN_EMERGENCY_WINDOW = 1 hours;
    uint64 public constant MAX_EMERGENCY_WINDOW = 7 days;
    /// @notice A policy year, for annual limits and deductibles.
    uint64 public constant POLICY_YEAR = 365 days;
    /// @notice The record category claim documents are filed under; an insurer reads a claim's
    /// document through its grant on this category.
    uint8 public constant CLAIMS_CATEGORY = 7;

    // ---------------------------------------------------------------- storage

    mapping(address account => Account) private _accounts;
    mapping(address patient => mapping(address grantee => Grant)) private _grants;
    mapping(address patient => EnumerableSet.AddressSet) private _grantees;
    mapping(bytes32 recordId => Record) private _records;
    mapping(address patient => uint64) private _erasureEpoch;
    /// @dev An emergency window and the patient's opt-in period it was opened in.
    struct EmergencyWindow {
        uint64 until;
        uint64 period;
    }

    mapping(address patient => mapping(address practitioner => EmergencyWindow)) private _emergencyWindows;
    /// @dev Moves on each time the patient opts out, which closes every window opened before.
    mapping(address patient => uint64) private _emergencyPeriod;

    /// @notice Length of an emergency access window in seconds.
    uint64 public emergencyWindow = 24 hours;

    LogAnchor[] private _anchors;
    /// @notice The sequence number the next anchored batch must start at.
    uint64 public nextLogSeq;

    mapping(address insurer => Policy) private _policies;
    mapping(address insurer => mapping(address patient => mapping(uint64 year => AnnualUsage))) private _usage;
    mapping(bytes32 claimId => Claim) private _claims;
    mapping(bytes32 documentRecordId => bytes32 claimId) private _claimByDocument;
    mapping(address practitioner => uint256) private _payouts;

    // ---------------------------------------------------------------- events

    event AccountRegistered(address indexed account, AccountKind kind, bytes32 encryptionKey, bytes32 profileHash);
    event EncryptionKeyRotated(address indexed account, bytes32 encryptionKey);
    event AccountVerified(address indexed account, address indexed admin);
    event AccountSuspended(address indexed account, address indexed admin, bytes32 reasonHash);
    event AccountReinstated(address indexed account, address indexed admin);

    event ConsentGranted(
        address indexed patient, address indexed grantee, uint256 categories, bool canWrite, uint64 expiry
    );
    event ConsentRevoked(address indexed patient, address indexed grantee);

    event RecordAdded(
        bytes32 indexed recordId,
        address indexed patient,
        address indexed author,
        bytes32 ciphertextHash,
        uint8 category,
        bytes32 supersedes
    );
    event RecordErased(bytes32 indexed recordId, address indexed patient);
    event AllRecordsErased(address indexed patient, uint64 newEpoch);
    event ShredConfirmed(bytes32 indexed recordId, bytes32 receiptHash);

    event EmergencyOptInChanged(address indexed patient, bool optedIn);
    event EmergencyWindowChanged(uint64 windowSeconds);
    event EmergencyAccessOpened(
        address indexed patient, address indexed practitioner, bytes32 reasonHash, uint64 expiresAt
    );
    event EmergencyAccessEnded(address indexed patient, address indexed practitioner);

    event AccessLogAnchored(uint256 indexed anchorIndex, bytes32 root, uint64 firstSeq, uint64 lastSeq);

    event PolicyPublished(
        address indexed insurer, uint256 coveredCategories, uint128 perClaimLimit, uint128 annualLimit, uint128 deductible
    );
    event PolicyFunded(address indexed insurer, uint256 amount, uint256 funds);
    event PolicyFundsWithdrawn(address indexed insurer, uint256 amount, uint256 funds);
    event ClaimSubmitted(
        bytes32 indexed claimId,
        address indexed practitioner,
        address indexed patient,
        address insurer,
        bytes32 documentRecordId,
        uint128 amount,
        uint8 category
    );
    event ClaimPendingReview(bytes32 indexed claimId, PendingReason reason);
    event ClaimApproved(bytes32 indexed claimId, uint128 payout);
    event ClaimDenied(bytes32 indexed claimId, bytes32 reasonHash);
    event ClaimPaid(bytes32 indexed claimId, address indexed practitioner, uint128 payout, bool automatic);
    event PayoutWithdrawn(address indexed practitioner, uint256 amount);

    // ---------------------------------------------------------------- errors

    error AlreadyRegistered(address account);
    error NotRegistered(address account);
    error InvalidEncryptionKey();
    error InvalidProfileHash();
    error NotAPatient(address account);
    error NotAProfessional(address account);
    error NotAVerifiedPractitioner(address account);
    error NotAVerifiedInsurer(address account);
    error InvalidStatusChange(address account, AccountStatus status);

    error InvalidGrantee(address grantee);
    error InvalidCategories();
    error ExpiryInPast(uint64 expiry);
    error NoActiveGrant(address patient, address grantee);

    error InvalidRecordId();
    error InvalidCiphertextHash();
    error RecordExists(bytes32 recordId);
    error UnknownRecord(bytes32 recordId);
    error NotRecordOwner(bytes32 recordId, address caller);
    error RecordAlreadyErased(bytes32 recordId);
    error RecordNotErased(bytes32 recordId);
    error ShredAlreadyConfirmed(bytes32 recordId);
    error InvalidReceiptHash();
    error InvalidSupersedes(bytes32 supersedes);
    error WriteNotPermitted(address patient, address writer, uint8 category);
    /// @notice A batch for addRecords is empty or longer than MAX_RECORD_BATCH.
    error InvalidBatchSize(uint256 size);

    error EmergencyNotOptedIn(address patient);
    error InvalidReasonHash();
    error EmergencyWindowOutOfRange(uint64 windowSeconds);
    error NoEmergencyAccess(address patient, address practitioner);

    error InvalidLogRange(uint64 expectedFirstSeq, uint64 firstSeq, uint64 lastSeq);
    error InvalidLogRoot();
    error UnknownAnchor(uint256 anchorIndex);

    error NoPolicy(address insurer);
    error NothingToFund();
    error InsufficientAvailableFunds(uint256 available, uint256 requested);
    error InvalidClaimId();
    error InvalidAmount();
    error ClaimExists(bytes32 claimId);
    error DuplicateClaimDocument(bytes32 documentRecordId, bytes32 existingClaimId);
    error InvalidClaimDocument(bytes32 documentRecordId);
    error InsurerNotPermitted(address patient, address insurer, uint8 category);
    error PractitionerNotPermitted(address patient, address practitioner, uint8 category);
    error UnknownClaim(bytes32 claimId);
    error NotClaimInsurer(bytes32 claimId, address caller);
    error InvalidClaimTransition(bytes32 claimId, ClaimStatus from, ClaimStatus to);
    error PayoutExceedsClaim(uint128 payout, uint128 amount);
    error NothingToWithdraw();
    error TransferFailed();

    // ---------------------------------------------------------------- setup

    /// @param admin the first admin (hospital / operator account)
    /// @param escrow the escrow API's own account
    constructor(address admin, address escrow) {
        _setRoleAdmin(ADMIN_ROLE, ADMIN_ROLE);
        _setRoleAdmin(ESCROW_ROLE, ADMIN_ROLE);
        _grantRole(ADMIN_ROLE, admin);
        _grantRole(ESCROW_ROLE, escrow);
    }

    // ================================================================ registration

    /// @notice Register the caller as a patient with their X25519 encryption public key.
    /// @param encryptionKey the X25519 public key derived in the app from the wallet's signature
    function registerPatient(bytes32 encryptionKey) external {
        _register(AccountKind.Patient, AccountStatus.Active, encryptionKey, bytes32(0));
    }

    /// @notice Apply as a practitioner; an admin verifies the application before it counts.
    /// @param encryptionKey the caller's X25519 public key
    /// @param profileHash hash of the off-chain profile (name, licence number, organisation)
    function applyAsPractitioner(bytes32 encryptionKey, bytes32 profileHash) external {
        if (profileHash == bytes32(0)) revert InvalidProfileHash();
        _register(AccountKind.Practitioner, AccountStatus.Pending, encryptionKey, profileHash);
    }

    /// @notice Apply as an insurer; an admin verifies the application before it counts.
    /// @param encryptionKey the caller's X25519 public key
    /// @param profileHash hash of the off-chain profile (name, organisation)
    function applyAsInsurer(bytes32 encryptionKey, bytes32 profileHash) external {
        if (profileHash == bytes32(0)) revert InvalidProfileHash();
        _register(AccountKind.Insurer, AccountStatus.Pending, encryptionKey, profileHash);
    }

    /// @notice Replace the caller's encryption public key (after a wallet change or a compromise).
    /// @dev Data keys wrapped to the old key stay readable only by the old key; the app re-wraps.
    /// @param encryptionKey the new X25519 public key
    function rotateEncryptionKey(bytes32 encryptionKey) external {
        Account storage account = _accounts[msg.sender];
        if (account.kind == AccountKind.None) revert NotRegistered(msg.sender);
        if (encryptionKey == bytes32(0)) revert InvalidEncryptionKey();
        account.encryptionKey = encryptionKey;
        emit EncryptionKeyRotated(msg.sender, encryptionKey);
    }

    /// @notice Verify a pending practitioner or insurer application.
    /// @param account the applicant
    function verifyAccount(address account) external onlyRole(ADMIN_ROLE) {
        Account storage a = _professional(account);
        if (a.status != AccountStatus.Pending) revert InvalidStatusChange(account, a.status);
        a.status = AccountStatus.Active;
        emit AccountVerified(account, msg.sender);
    }

    /// @notice Suspend a verified practitioner or insurer: from this block it can read, write,
    /// claim nothing. Only an Active account can be suspended: a pending applicant has nothing to
    /// suspend, and reinstating it would verify it without review.
    /// @param account the practitioner or insurer
    /// @param reasonHash hash of the off-chain reason
    function suspendAccount(address account, bytes32 reasonHash) external onlyRole(ADMIN_ROLE) {
        Account storage a = _professional(account);
        if (a.status != AccountStatus.Active) revert InvalidStatusChange(account, a.status);
        a.status = AccountStatus.Suspended;
        emit AccountSuspended(account, msg.sender, reasonHash);
    }

    /// @notice Lift a suspension.
    /// @param account the suspended practitioner or insurer
    function reinstateAccount(address account) external onlyRole(ADMIN_ROLE) {
        Account storage a = _professional(account);
        if (a.status != AccountStatus.Suspended) revert InvalidStatusChange(account, a.status);
        a.status = AccountStatus.Active;
        emit AccountReinstated(account, msg.sender);
    }

    /// @notice A registered account, or an all-zero one.
    function accountOf(address account) external view returns (Account memory) {
        return _accounts[account];
    }

    /// @notice True for an active (verified, not suspended) practitioner.
    function isVerifiedPractitioner(address account) public view returns (bool) {
        Account storage a = _accounts[account];
        return a.kind == AccountKind.Practitioner && a.status == AccountStatus.Active;
    }

    /// @notice True for an active (verified, not suspended) insurer.
    function isVerifiedInsurer(address account) public view returns (bool) {
        Account storage a = _accounts[account];
        return a.kind == AccountKind.Insurer && a.status == AccountStatus.Active;
    }

    // ================================================================ consent

    /// @notice Grant (or replace) a practitioner's or insurer's consent to the caller's records.
    /// @param grantee a registered practitioner or insurer (it must also be verified to use it)
    /// @param categories bit mask of record categories covered, not zero
    /// @param allowWrite whether the grantee may add records in those categories (practitioners only)
    /// @param expiry unix time at which the grant lapses; must lie in the future
    function grant(address grantee, uint256 categories, bool allowWrite, uint64 expiry) external {
        _requirePatient(msg.sender);
        AccountKind kind = _accounts[grantee].kind;
        // Slither's incorrect-equality: these are enum comparisons of the grantee's kind, not a
        // balance or a timestamp an attacker could steer to an exact value.
        // slither-disable-next-line incorrect-equality
        if (kind != AccountKind.Practitioner && !(kind == AccountKind.Insurer && !allowWrite)) {
            revert InvalidGrantee(grantee);
        }
        if (categories == 0) revert InvalidCategories();
        if (expiry <= block.timestamp) revert ExpiryInPast(expiry);
        _grants[msg.sender][grantee] =
            Grant({categories: categories, canWrite: allowWrite, expiry: expiry, grantedAt: uint64(block.timestamp)});
        // add() is false when the grantee is already in the set: a re-grant replaces the terms
        // above and the set already lists the grantee, so there is nothing to act on.
        // slither-disable-next-line unused-return
        _grantees[msg.sender].add(grantee);
        emit ConsentGranted(msg.sender, grantee, categories, allowWrite, expiry);
    }

    /// @notice Withdraw a grantee's consent; takes effect from this block.
    /// @param grantee the practitioner or insurer whose grant ends
    function revoke(address grantee) external {
        if (!_grantees[msg.sender].remove(grantee)) revert NoActiveGrant(msg.sender, grantee);
        delete _grants[msg.sender][grantee];
        emit ConsentRevoked(msg.sender, grantee);
    }

    /// @notice The grant a patient gave a grantee (all zero if none). It may have expired.
    function grantOf(address patient, address grantee) external view returns (Grant memory) {
        return _grants[patient][grantee];
    }

    /// @notice The patient's grantees whose grants are unexpired, with those grants.
    function activeGrants(address patient) external view returns (address[] memory grantees, Grant[] memory grants) {
        EnumerableSet.AddressSet storage all = _grantees[patient];
        uint256 total = all.length();
        // Counters start at Solidity's zero (slither's uninitialized-local, on purpose).
        // slither-disable-next-line uninitialized-local
        uint256 count;
        for (uint256 i; i < total; ++i) {
            if (_grants[patient][all.at(i)].expiry > block.timestamp) ++count;
        }
        grantees = new address[](count);
        grants = new Grant[](count);
        // slither-disable-next-line uninitialized-local
        uint256 j;
        for (uint256 i; i < total; ++i) {
            address g = all.at(i);
            Grant memory gr = _grants[patient][g];
            if (gr.expiry > block.timestamp) {
                grantees[j] = g;
                grants[j] = gr;
                ++j;
            }
        }
    }

    /// @notice Whether `reader` may read record `recordId` of `patient` now: the patient always
    /// (until erased); a verified grantee whose unexpired grant covers the record's category; a
    /// verified practitioner inside an emergency window the patient opted in to.
    function canRead(address patient, address reader, bytes32 recordId) public view returns (bool) {
        Record storage r = _records[recordId];
        if (r.patient == address(0) || r.patient != patient || _isErased(r)) return false;
        if (reader == patient) return true;
        Account storage a = _accounts[reader];
        if (a.status != AccountStatus.Active) return false;
        if (a.kind != AccountKind.Practitioner && a.kind != AccountKind.Insurer) return false;
        Grant storage g = _grants[patient][reader];
        if (g.expiry > block.timestamp && _covers(g.categories, r.category)) return true;
        return a.kind == AccountKind.Practitioner && _emergencyOpen(patient, reader);
    }

    /// @notice Whether `writer` may add a record of `category` for `patient` now: the patient, or a
    /// verified practitioner with an unexpired write grant covering the category.
    function canWrite(address patient, address writer, uint8 category) public view returns (bool) {
        if (_accounts[patient].kind != AccountKind.Patient) return false;
        if (writer == patient) return true;
        if (!isVerifiedPractitioner(writer)) return false;
        Grant storage g = _grants[patient][writer];
        return g.canWrite && g.expiry > block.timestamp && _covers(g.categories, category);
    }

    // ================================================================ records

    /// @notice Anchor a record whose ciphertext the escrow holds. Ids are unique forever; records
    /// are immutable, so an amendment is a new record naming the one it supersedes.
    /// @param recordId random 32-byte id drawn by the app
    /// @param patient the patient the record belongs to
    /// @param ciphertextHash h1, the hash of the tier-1 ciphertext (docs/formats.md)
    /// @param category record category 0..255
    /// @param supersedes the record this one amends, or zero
    function addRecord(bytes32 recordId, address patient, bytes32 ciphertextHash, uint8 category, bytes32 supersedes)
        external
    {
        _addRecord(recordId, patient, ciphertextHash, category, supersedes);
    }

    /// @notice Anchor several records in one transaction (a bulk import, a FHIR bundle): each is
    /// checked exactly as addRecord checks it — its own id, h1, category, supersedes and the
    /// caller's write permission for its patient and category — and emits its own RecordAdded.
    /// All or nothing: one refused record reverts the batch with that record's error.
    /// @param batch 1 to MAX_RECORD_BATCH records, anchored in order (a record may supersede one
    /// earlier in the same batch)
    function addRecords(NewRecord[] calldata batch) external {
        if (batch.length == 0 || batch.length > MAX_RECORD_BATCH) revert InvalidBatchSize(batch.length);
        for (uint256 i = 0; i < batch.length; ++i) {
            NewRecord calldata r = batch[i];
            _addRecord(r.recordId, r.patient, r.ciphertextHash, r.category, r.supersedes);
        }
    }

    function _addRecord(bytes32 recordId, address patient, bytes32 ciphertextHash, uint8 category, bytes32 supersedes)
        private
    {
        if (recordId == bytes32(0)) revert InvalidRecordId();
        if (ciphertextHash == bytes32(0)) revert InvalidCiphertextHash();
        if (_records[recordId].patient != address(0)) revert RecordExists(recordId);
        if (!canWrite(patient, msg.sender, category)) revert WriteNotPermitted(patient, msg.sender, category);
        if (supersedes != bytes32(0)) {
            Record storage old = _records[supersedes];
            if (old.patient != patient || _isErased(old)) revert InvalidSupersedes(supersedes);
        }
        _records[recordId] = Record({
            patient: patient,
            author: msg.sender,
            ciphertextHash: ciphertextHash,
            supersedes: supersedes,
            createdAt: uint64(block.timestamp),
            epoch: _erasureEpoch[patient],
            category: category,
            erased: false,
            shredConfirmed: false
        });
        emit RecordAdded(recordId, patient, msg.sender, ciphertextHash, category, supersedes);
    }

    /// @notice Erase one of the caller's records: unreadable from this block; the escrow destroys
    /// its keys and blob and confirms with a receipt. The id stays taken (a tombstone).
    /// @param recordId the record to erase
    function eraseRecord(bytes32 recordId) external {
        Record storage r = _records[recordId];
        if (r.patient == address(0)) revert UnknownRecord(recordId);
        if (r.patient != msg.sender) revert NotRecordOwner(recordId, msg.sender);
        if (_isErased(r)) revert RecordAlreadyErased(recordId);
        r.erased = true;
        emit RecordErased(recordId, msg.sender);
    }

    /// @notice Erase every record of the caller at once (constant gas, however many records).
    function eraseAll() external {
        _requirePatient(msg.sender);
        uint64 epoch = ++_erasureEpoch[msg.sender];
        emit AllRecordsErased(msg.sender, epoch);
    }

    /// @notice The escrow confirms that it destroyed an erased record's keys and blob.
    /// @param recordId an erased record
    /// @param receiptHash hash of the escrow's signed shred receipt
    function confirmShredded(bytes32 recordId, bytes32 receiptHash) external onlyRole(ESCROW_ROLE) {
        Record storage r = _records[recordId];
        if (r.patient == address(0)) revert UnknownRecord(recordId);
        if (!_isErased(r)) revert RecordNotErased(recordId);
        if (r.shredConfirmed) revert ShredAlreadyConfirmed(recordId);
        if (receiptHash == bytes32(0)) revert InvalidReceiptHash();
        r.shredConfirmed = true;
        emit ShredConfirmed(recordId, receiptHash);
    }

    /// @notice A record's anchor (all zero if unknown). `erased` here is only the per-record flag;
    /// use isErased, which also counts eraseAll.
    function recordOf(bytes32 recordId) external view returns (Record memory) {
        return _records[recordId];
    }

    /// @notice Whether a known record is erased, by eraseRecord or eraseAll.
    function isErased(bytes32 recordId) external view returns (bool) {
        Record storage r = _records[recordId];
        if (r.patient == address(0)) revert UnknownRecord(recordId);
        return _isErased(r);
    }

    /// @notice The patient's current erasure epoch (how many times they erased everything).
    function erasureEpochOf(address patient) external view returns (uint64) {
        return _erasureEpoch[patient];
    }

    // ================================================================ emergency access

    /// @notice Opt in to (or out of) emergency access to the caller's records. Opting out also
    /// closes every open window for good: opting in again does not reopen them.
    function setEmergencyOptIn(bool optedIn) external {
        _requirePatient(msg.sender);
        _accounts[msg.sender].emergencyOptIn = optedIn;
        if (!optedIn) ++_emergencyPeriod[msg.sender];
        emit EmergencyOptInChanged(msg.sender, optedIn);
    }

    /// @notice Set the emergency window length for windows opened from now on.
    /// @param windowSeconds between MIN_EMERGENCY_WINDOW and MAX_EMERGENCY_WINDOW
    function setEmergencyWindow(uint64 windowSeconds) external onlyRole(ADMIN_ROLE) {
        if (windowSeconds < MIN_EMERGENCY_WINDOW || windowSeconds > MAX_EMERGENCY_WINDOW) {
            revert EmergencyWindowOutOfRange(windowSeconds);
        }
        emergencyWindow = windowSeconds;
        emit EmergencyWindowChanged(windowSeconds);
    }

    /// @notice Break glass: a verified practitioner opens read access to an opted-in patient's
    /// records for the emergency window. Every opening is an event the patient is shown.
    /// @param patient the patient
    /// @param reasonHash hash of the stated reason, kept off chain with the access log
    function emergencyAccess(address patient, bytes32 reasonHash) external {
        if (!isVerifiedPractitioner(msg.sender)) revert NotAVerifiedPractitioner(msg.sender);
        if (reasonHash == bytes32(0)) revert InvalidReasonHash();
        Account storage p = _accounts[patient];
        if (p.kind != AccountKind.Patient || !p.emergencyOptIn) revert EmergencyNotOptedIn(patient);
        uint64 expiresAt = uint64(block.timestamp) + emergencyWindow;
        _emergencyWindows[patient][msg.sender] = EmergencyWindow({until: expiresAt, period: _emergencyPeriod[patient]});
        emit EmergencyAccessOpened(patient, msg.sender, reasonHash, expiresAt);
    }

    /// @notice The patient ends a practitioner's open emergency window early.
    function endEmergencyAccess(address practitioner) external {
        if (_emergencyUntil(msg.sender, practitioner) <= block.timestamp) {
            revert NoEmergencyAccess(msg.sender, practitioner);
        }
        delete _emergencyWindows[msg.sender][practitioner];
        emit EmergencyAccessEnded(msg.sender, practitioner);
    }

    /// @notice When a practitioner's emergency window on a patient ends (0 or past: closed; 0
    /// also once the patient opted out after it was opened).
    function emergencyAccessUntil(address patient, address practitioner) external view returns (uint64) {
        return _emergencyUntil(patient, practitioner);
    }

    // ================================================================ access-log anchors

    /// @notice Anchor the Merkle root of the escrow's access-log entries firstSeq..lastSeq. Batches
    /// are contiguous: each starts where the last ended.
    /// @param root Merkle root (OpenZeppelin sorted-pair keccak tree) over the batch's leaves
    function anchorAccessLog(bytes32 root, uint64 firstSeq, uint64 lastSeq) external onlyRole(ESCROW_ROLE) {
        if (root == bytes32(0)) revert InvalidLogRoot();
        if (firstSeq != nextLogSeq || lastSeq < firstSeq) revert InvalidLogRange(nextLogSeq, firstSeq, lastSeq);
        nextLogSeq = lastSeq + 1;
        _anchors.push(
            LogAnchor({root: root, firstSeq: firstSeq, lastSeq: lastSeq, anchoredAt: uint64(block.timestamp)})
        );
        emit AccessLogAnchored(_anchors.length - 1, root, firstSeq, lastSeq);
    }

    /// @notice How many batches are anchored.
    function anchorCount() external view returns (uint256) {
        return _anchors.length;
    }

    /// @notice One anchored batch.
    function anchorAt(uint256 anchorIndex) external view returns (LogAnchor memory) {
        if (anchorIndex >= _anchors.length) revert UnknownAnchor(anchorIndex);
        return _anchors[anchorIndex];
    }

    /// @notice The leaf of access-log entry `seq` with hash `entryHash`, double-hashed so that no
    /// inner node can pass for a leaf.
    function logLeaf(uint64 seq, bytes32 entryHash) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(seq, entryHash))));
    }

    /// @notice Whether entry `seq` with hash `entryHash` is in anchored batch `anchorIndex`.
    function verifyLogEntry(uint256 anchorIndex, uint64 seq, bytes32 entryHash, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        if (anchorIndex >= _anchors.length) revert UnknownAnchor(anchorIndex);
        LogAnchor storage a = _anchors[anchorIndex];
        if (seq < a.firstSeq || seq > a.lastSeq) return false;
        return MerkleProof.verifyCalldata(proof, a.root, logLeaf(seq, entryHash));
    }

    // ================================================================ insurance

    /// @notice Publish or replace the caller's coverage policy, funding it with any ether sent.
    /// New terms apply to claims submitted from now on.
    /// @param coveredCategories bit mask of covered categories, not zero
    /// @param perClaimLimit largest claim amount settled automatically (wei)
    /// @param annualLimit most paid per patient per policy year (wei)
    /// @param deductible per patient per policy year, borne by the patient before payouts (wei)
    function publishPolicy(uint256 coveredCategories, uint128 perClaimLimit, uint128 annualLimit, uint128 deductible)
        external
        payable
    {
        if (!isVerifiedInsurer(msg.sender)) revert NotAVerifiedInsurer(msg.sender);
        if (coveredCategories == 0) revert InvalidCategories();
        if (perClaimLimit == 0 || annualLimit == 0) revert InvalidAmount();
        Policy storage p = _policies[msg.sender];
        p.coveredCategories = coveredCategories;
        p.perClaimLimit = perClaimLimit;
        p.annualLimit = annualLimit;
        p.deductible = deductible;
        p.published = true;
        emit PolicyPublished(msg.sender, coveredCategories, perClaimLimit, annualLimit, deductible);
        if (msg.value > 0) {
            p.funds += msg.value;
            emit PolicyFunded(msg.sender, msg.value, p.funds);
        }
    }

    /// @notice Add the ether sent to the caller's policy funds.
    function fundPolicy() external payable {
        Policy storage p = _policies[msg.sender];
        if (!p.published) revert NoPolicy(msg.sender);
        if (msg.value == 0) revert NothingToFund();
        p.funds += msg.value;
        emit PolicyFunded(msg.sender, msg.value, p.funds);
    }

    /// @notice Take back policy funds not reserved for approved claims (allowed while suspended).
    /// @param amount wei to withdraw
    function withdrawPolicyFunds(uint256 amount) external nonReentrant {
        Policy storage p = _policies[msg.sender];
        if (!p.published) revert NoPolicy(msg.sender);
        if (amount == 0) revert InvalidAmount();
        uint256 available = p.funds - p.reserved;
        if (amount > available) revert InsufficientAvailableFunds(available, amount);
        p.funds -= amount;
        emit PolicyFundsWithdrawn(msg.sender, amount, p.funds);
        _send(msg.sender, amount);
    }

    /// @notice An insurer's policy (all zero if none).
    function policyOf(address insurer) external view returns (Policy memory) {
        return _policies[insurer];
    }

    /// @notice What an insurer's deductible and payouts used for a patient in a policy year.
    function annualUsageOf(address insurer, address patient, uint64 policyYear)
        external
        view
        returns (AnnualUsage memory)
    {
        return _usage[insurer][patient][policyYear];
    }

    /// @notice The current policy year number.
    function currentPolicyYear() public view returns (uint64) {
        return uint64(block.timestamp / POLICY_YEAR);
    }

    /// @notice A verified practitioner submits a claim for a patient, backed by a claim document
    /// the practitioner filed as the patient's record in CLAIMS_CATEGORY, for care in a category
    /// the patient's grant to the practitioner covers, to an insurer the patient lets read claim
    /// documents. Inside the policy (covered category, amount within the per-claim limit, annual
    /// limit not exceeded after the deductible, funds available) it is settled in this
    /// transaction; otherwise it waits for the insurer, with the reason in ClaimPendingReview.
    /// @param claimId random 32-byte id
    /// @param documentRecordId the claim document: a record of `patient` in CLAIMS_CATEGORY,
    /// written by the caller and not erased; a document is claimed once
    /// @param amount amount claimed (wei)
    /// @param category the category of care claimed, judged against the policy's coverage
    function submitClaim(
        bytes32 claimId,
        address patient,
        address insurer,
        bytes32 documentRecordId,
        uint128 amount,
        uint8 category
    ) external {
        if (!isVerifiedPractitioner(msg.sender)) revert NotAVerifiedPractitioner(msg.sender);
        if (claimId == bytes32(0)) revert InvalidClaimId();
        if (_claims[claimId].status != ClaimStatus.None) revert ClaimExists(claimId);
        if (amount == 0) revert InvalidAmount();
        _requirePatient(patient);
        if (!isVerifiedInsurer(insurer)) revert NotAVerifiedInsurer(insurer);
        if (!_policies[insurer].published) revert NoPolicy(insurer);
        _requireClaimStanding(patient, insurer, documentRecordId, category);

        uint64 year = currentPolicyYear();
        Claim storage c = _claims[claimId];
        c.practitioner = msg.sender;
        c.patient = patient;
        c.insurer = insurer;
        c.documentRecordId = documentRecordId;
        c.amount = amount;
        c.submittedAt = uint64(block.timestamp);
        c.policyYear = year;
        c.category = category;
        _claimByDocument[documentRecordId] = claimId;
        emit ClaimSubmitted(claimId, msg.sender, patient, insurer, documentRecordId, amount, category);

        (PendingReason reason, uint128 deductiblePart, uint128 payout) = _assess(insurer, patient, year, amount, category);
        if (reason != PendingReason.None) {
            c.status = ClaimStatus.Submitted;
            c.pendingReason = reason;
            emit ClaimPendingReview(claimId, reason);
            return;
        }
        AnnualUsage storage u = _usage[insurer][patient][year];
        u.deductibleUsed += deductiblePart;
        u.paid += payout;
        c.payout = payout;
        c.status = ClaimStatus.Paid;
        _policies[insurer].funds -= payout;
        _payouts[msg.sender] += payout;
        emit ClaimPaid(claimId, msg.sender, payout, true);
    }

    /// @notice The claim's insurer approves a claim left for review, for at most the amount
    /// claimed; the payout is reserved from the policy funds until paid.
    /// @param payout wei to pay, not zero and not above the claimed amount
    function approveClaim(bytes32 claimId, uint128 payout) external {
        Claim storage c = _insurerClaim(claimId, ClaimStatus.Approved);
        if (payout == 0) revert InvalidAmount();
        if (payout > c.amount) revert PayoutExceedsClaim(payout, c.amount);
        Policy storage p = _policies[msg.sender];
        uint256 available = p.funds - p.reserved;
        if (payout > available) revert InsufficientAvailableFunds(available, payout);
        p.reserved += payout;
        _usage[msg.sender][c.patient][c.policyYear].paid += payout;
        c.payout = payout;
        c.status = ClaimStatus.Approved;
        emit ClaimApproved(claimId, payout);
    }

    /// @notice The claim's insurer denies a claim left for review.
    /// @param reasonHash hash of the stated reason, not zero
    function denyClaim(bytes32 claimId, bytes32 reasonHash) external {
        Claim storage c = _insurerClaim(claimId, ClaimStatus.Denied);
        if (reasonHash == bytes32(0)) revert InvalidReasonHash();
        c.denialReasonHash = reasonHash;
        c.status = ClaimStatus.Denied;
        emit ClaimDenied(claimId, reasonHash);
    }

    /// @notice The claim's insurer pays an approved claim: the reserved payout moves to the
    /// practitioner's withdrawable balance. Allowed while suspended, so approvals are honoured.
    function payClaim(bytes32 claimId) external {
        Claim storage c = _insurerClaim(claimId, ClaimStatus.Paid);
        Policy storage p = _policies[msg.sender];
        uint128 payout = c.payout;
        p.reserved -= payout;
        p.funds -= payout;
        _payouts[c.practitioner] += payout;
        c.status = ClaimStatus.Paid;
        emit ClaimPaid(claimId, c.practitioner, payout, false);
    }

    /// @notice A practitioner withdraws what paid claims credited them.
    function withdrawPayout() external nonReentrant {
        uint256 amount = _payouts[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        _payouts[msg.sender] = 0;
        emit PayoutWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice A claim (all zero if unknown).
    function claimOf(bytes32 claimId) external view returns (Claim memory) {
        return _claims[claimId];
    }

    /// @notice What a practitioner can withdraw.
    function payoutOf(address practitioner) external view returns (uint256) {
        return _payouts[practitioner];
    }

    // ================================================================ internals

    function _register(AccountKind kind, AccountStatus status, bytes32 encryptionKey, bytes32 profileHash) private {
        if (_accounts[msg.sender].kind != AccountKind.None) revert AlreadyRegistered(msg.sender);
        if (encryptionKey == bytes32(0)) revert InvalidEncryptionKey();
        _accounts[msg.sender] = Account({
            kind: kind,
            status: status,
            emergencyOptIn: false,
            registeredAt: uint64(block.timestamp),
            encryptionKey: encryptionKey,
            profileHash: profileHash
        });
        emit AccountRegistered(msg.sender, kind, encryptionKey, profileHash);
    }

    function _professional(address account) private view returns (Account storage a) {
        a = _accounts[account];
        if (a.kind != AccountKind.Practitioner && a.kind != AccountKind.Insurer) revert NotAProfessional(account);
    }

    function _requirePatient(address account) private view {
        if (_accounts[account].kind != AccountKind.Patient) revert NotAPatient(account);
    }

    function _covers(uint256 categories, uint8 category) private pure returns (bool) {
        return categories & (uint256(1) << category) != 0;
    }

    /// @dev The claim's document and consents, for submitClaim (apart to keep its stack small).
    function _requireClaimStanding(address patient, address insurer, bytes32 documentRecordId, uint8 category)
        private
        view
    {
        // Without this an automatically settled claim could rest on no document at all: the
        // insurer must be able to open what it paid for, and only its author can claim on it.
        Record storage doc = _records[documentRecordId];
        if (
            doc.patient != patient || doc.author != msg.sender || doc.category != CLAIMS_CATEGORY
                || _isErased(doc)
        ) revert InvalidClaimDocument(documentRecordId);
        bytes32 existing = _claimByDocument[documentRecordId];
        if (existing != bytes32(0)) revert DuplicateClaimDocument(documentRecordId, existing);
        Grant storage pg = _grants[patient][msg.sender];
        if (pg.expiry <= block.timestamp || !_covers(pg.categories, category)) {
            revert PractitionerNotPermitted(patient, msg.sender, category);
        }
        Grant storage ig = _grants[patient][insurer];
        if (ig.expiry <= block.timestamp || !_covers(ig.categories, CLAIMS_CATEGORY)) {
            revert InsurerNotPermitted(patient, insurer, CLAIMS_CATEGORY);
        }
    }

    function _isErased(Record storage r) private view returns (bool) {
        return r.erased || r.epoch != _erasureEpoch[r.patient];
    }

    /// @dev The end of the window, or 0 if it was opened before the patient's last opt-out.
    function _emergencyUntil(address patient, address practitioner) private view returns (uint64) {
        EmergencyWindow storage w = _emergencyWindows[patient][practitioner];
        return w.period == _emergencyPeriod[patient] ? w.until : 0;
    }

    function _emergencyOpen(address patient, address practitioner) private view returns (bool) {
        return _accounts[patient].emergencyOptIn && _emergencyUntil(patient, practitioner) > block.timestamp;
    }

    /// @dev The policy rules: whether a claim settles at once, and for how much.
    function _assess(address insurer, address patient, uint64 year, uint128 amount, uint8 category)
        private
        view
        returns (PendingReason reason, uint128 deductiblePart, uint128 payout)
    {
        Policy storage p = _policies[insurer];
        if (!_covers(p.coveredCategories, category)) return (PendingReason.CategoryNotCovered, 0, 0);
        if (amount > p.perClaimLimit) return (PendingReason.OverPerClaimLimit, 0, 0);
        AnnualUsage storage u = _usage[insurer][patient][year];
        uint128 deductibleLeft = p.deductible > u.deductibleUsed ? p.deductible - u.deductibleUsed : 0;
        deductiblePart = amount < deductibleLeft ? amount : deductibleLeft;
        payout = amount - deductiblePart;
        if (uint256(u.paid) + payout > p.annualLimit) return (PendingReason.OverAnnualLimit, 0, 0);
        if (payout > p.funds - p.reserved) return (PendingReason.InsufficientFunds, 0, 0);
        return (PendingReason.None, deductiblePart, payout);
    }

    /// @dev The claim, checked to belong to the caller as its insurer and to be able to move to `to`.
    function _insurerClaim(bytes32 claimId, ClaimStatus to) private view returns (Claim storage c) {
        c = _claims[claimId];
        if (c.status == ClaimStatus.None) revert UnknownClaim(claimId);
        if (c.insurer != msg.sender) revert NotClaimInsurer(claimId, msg.sender);
        // A suspended insurer may still pay what it approved, but may judge nothing new.
        if (to != ClaimStatus.Paid && !isVerifiedInsurer(msg.sender)) revert NotAVerifiedInsurer(msg.sender);
        ClaimStatus from = c.status;
        bool allowed = (from == ClaimStatus.Submitted && (to == ClaimStatus.Approved || to == ClaimStatus.Denied))
            || (from == ClaimStatus.Approved && to == ClaimStatus.Paid);
        if (!allowed) revert InvalidClaimTransition(claimId, from, to);
    }

    /// @dev Pays `to` with a plain call (all gas forwarded, so contract wallets can receive) and
    /// reverts if it refuses. Its only callers, withdrawPayout and withdrawPolicyFunds, pass
    /// msg.sender after zeroing or reducing what it is owed (checks-effects-interactions, under
    /// nonReentrant): nobody can direct ether to another address, which is what slither's
    /// arbitrary-send-eth warns of.
    function _send(address to, uint256 amount) private {
        // slither-disable-next-line arbitrary-send-eth,low-level-calls
        (bool ok,) = payable(to).call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
