// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {IMedLedger} from "./interfaces/IMedLedger.sol";
import {AccountsModule} from "./medledger/AccountsModule.sol";
import {ConsentModule} from "./medledger/ConsentModule.sol";
import {RecordsModule} from "./medledger/RecordsModule.sol";
import {RecordRootsModule} from "./medledger/RecordRootsModule.sol";
import {EmergencyModule} from "./medledger/EmergencyModule.sol";
import {AccessLogModule} from "./medledger/AccessLogModule.sol";
import {LicenceTermsModule} from "./medledger/LicenceTermsModule.sol";
import {WalletsModule} from "./medledger/WalletsModule.sol";
import {MedLedgerRecovery} from "./MedLedgerRecovery.sol";

/// @title MedLedger
/// @notice The trust core of medledger: who is who, who may read or write a patient's records,
/// which records exist and which are erased, emergency access windows, and anchors of the
/// escrow's access log. Insurance (policies, claims, payouts) is a contract of its own,
/// MedLedgerInsurance, deployed beside this one with its address; it reads the core through its
/// public views. This contract holds and sends no ether: no function is payable and it has no
/// receive or fallback function.
///
/// Sponsored transactions (ERC-2771): a patient without ether signs a request that a relayer
/// (the escrow) hands to the trusted forwarder (MedLedgerForwarder, fixed at construction), which
/// calls this contract with the signer's address appended to the calldata. Every function reads
/// its caller through _msgSender(): the signer when the trusted forwarder calls, msg.sender
/// otherwise (an address appended by anyone else is ignored). Roles are checked the same way, so
/// a forwarded request can do exactly what its signer could do directly. There is no Multicall
/// (with ERC-2771 it lets a caller append any address). MedLedgerInsurance and MedLedgerLicensing
/// are not forwarded: their callers pay their own gas.
/// @dev Nothing here is personal health information: record ids are random, records are known by
/// the hash of their ciphertext, categories are small numbers, profiles are hashes of off-chain
/// documents.
///
/// This contract is the composition: the interface (interfaces/IMedLedger.sol: every function,
/// event and error, documented), one abstract module per domain (medledger/: accounts and keys,
/// consent, records and erasure, records under a root, emergency access, access-log anchors) over a shared
/// base (medledger/MedLedgerBase.sol: roles, the state several modules read, shared helpers).
/// Two things stay here, both for the committed ABI (protocol/abi/MedLedger.json, whose hash
/// deployments/<network>.json records and from which protocol/ generates its Rust bindings), whose
/// names and order the composition into modules kept byte for byte:
/// - the structs and enums: the ABI names each by the contract declaring it ("struct
///   MedLedger.Account"), and the Rust bindings by that name (MedLedger::Account);
/// - the external functions, each handing over to its module's internal function: Truffle writes
///   the ABI with the functions defined in MedLedger's own body last, in source order, so this
///   list, in this order, is what keeps the ABI byte for byte.
contract MedLedger is
    IMedLedger,
    AccountsModule,
    ConsentModule,
    RecordsModule,
    RecordRootsModule,
    EmergencyModule,
    AccessLogModule,
    LicenceTermsModule,
    WalletsModule,
    ERC2771Context
{
    // ---------------------------------------------------------------- accounts

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

    /// @notice Many records of one patient anchored under one Merkle root (anchorRecordRoot). The
    /// records are the tree's leaves (RootedRecord), kept by the escrow and proved by a reader.
    /// @param count the leaves are 0..count-1
    /// @param epoch the patient's erasure epoch when the root was anchored (eraseAll erases all)
    /// @param shredConfirmed the escrow confirmed it shredded every record of an erased root
    /// @param categories every leaf's category is one of these, each writable by the author
    struct RecordRoot {
        address patient;
        uint64 createdAt;
        uint32 count;
        address author;
        uint64 epoch;
        bool shredConfirmed;
        uint256 categories;
    }

    /// @notice One record under a root: leaf `index` of its tree, hashed as rootedLeaf says.
    struct RootedRecord {
        uint32 index;
        bytes32 recordId;
        bytes32 ciphertextHash;
        uint8 category;
    }

    // ---------------------------------------------------------------- access log

    /// @notice One anchored batch of the escrow's access log: entries firstSeq..lastSeq inclusive.
    struct LogAnchor {
        bytes32 root;
        uint64 firstSeq;
        uint64 lastSeq;
        uint64 anchoredAt;
    }

    // ---------------------------------------------------------------- licence terms

    /// @notice An organisation's licence now. Licensed (its practitioners read and write) are
    /// Active and UnderNotice. Terminated wins over Lapsed, Lapsed over UnderNotice.
    enum LicenceStatus {
        None,
        Active,
        UnderNotice,
        Lapsed,
        Terminated
    }

    /// @notice What the core keeps of an organisation's licence (the licensing contract writes it).
    /// @param paidUntil the subscription is paid while block.timestamp < paidUntil
    /// @param terminatesAt 0, or when notice runs out (or ran out, or termination took effect)
    struct LicenceTerms {
        uint64 paidUntil;
        uint64 terminatesAt;
    }

    // ---------------------------------------------------------------- setup

    /// @dev The recovery contract (MedLedgerRecovery), created by the constructor: the only caller
    /// of moveIdentity.
    address private immutable _recovery;

    /// @param admin the first admin (hospital / operator account)
    /// @param escrow the escrow API's own account
    /// @param trustedForwarder_ the ERC-2771 forwarder (MedLedgerForwarder) whose calls are taken
    /// as its requests' signers' (trustedForwarder(), isTrustedForwarder); fixed for good
    constructor(address admin, address escrow, address trustedForwarder_) ERC2771Context(trustedForwarder_) {
        _setRoleAdmin(ADMIN_ROLE, ADMIN_ROLE);
        _setRoleAdmin(ESCROW_ROLE, ADMIN_ROLE);
        _grantRole(ADMIN_ROLE, admin);
        _grantRole(ESCROW_ROLE, escrow);
        // Created here, so that which contract may move identities is fixed with the core and
        // needs no setter, role or migration step; it trusts the same forwarder. Slither's
        // missing-zero-check: a zero forwarder is allowed for both (then neither takes relayed
        // calls), as ERC2771Context allows it.
        // slither-disable-next-line missing-zero-check
        _recovery = address(new MedLedgerRecovery(this, trustedForwarder_));
    }

    /// @dev The caller's identity: the identity its wallet (_wallet) acts for, which is the wallet
    /// itself unless a recovery moved an identity to it (WalletsModule). Refused with
    /// WalletRetired for a wallet a recovery retired, so a lost wallet found again has no power.
    /// Every module, and AccessControl's role checks, read the caller through this.
    function _msgSender() internal view override(Context, ERC2771Context) returns (address) {
        return _identityFor(_wallet());
    }

    /// @dev The caller's wallet: the signer of a request the trusted forwarder relays, msg.sender
    /// otherwise.
    function _wallet() internal view override returns (address) {
        return ERC2771Context._msgSender();
    }

    /// @dev The calldata without the signer the trusted forwarder appends.
    // Slither's dead-code: nothing here reads _msgData, but Context and ERC2771Context both define
    // it, so the compiler requires this override to say which one the core uses.
    // slither-disable-next-line dead-code
    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    /// @dev 20 bytes (the appended address) for calls from the trusted forwarder.
    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }

    // ================================================================ accounts and keys (AccountsModule)

    /// @inheritdoc IMedLedger
    function registerPatient(bytes32 encryptionKey) external {
        _registerPatient(encryptionKey);
    }

    /// @inheritdoc IMedLedger
    function applyAsPractitioner(bytes32 encryptionKey, bytes32 profileHash) external {
        _applyAsPractitioner(encryptionKey, profileHash);
    }

    /// @inheritdoc IMedLedger
    function applyAsInsurer(bytes32 encryptionKey, bytes32 profileHash) external {
        _applyAsInsurer(encryptionKey, profileHash);
    }

    /// @inheritdoc IMedLedger
    function rotateEncryptionKey(bytes32 encryptionKey) external {
        _rotateEncryptionKey(encryptionKey);
    }

    /// @inheritdoc IMedLedger
    function verifyAccount(address account) external {
        _verifyAccount(account);
    }

    /// @inheritdoc IMedLedger
    function suspendAccount(address account, bytes32 reasonHash) external {
        _suspendAccount(account, reasonHash);
    }

    /// @inheritdoc IMedLedger
    function reinstateAccount(address account) external {
        _reinstateAccount(account);
    }

    /// @inheritdoc IMedLedger
    function accountOf(address account) external view returns (Account memory) {
        return _accountOf(account);
    }

    /// @inheritdoc IMedLedger
    function isVerifiedPractitioner(address account) external view returns (bool) {
        return _isVerifiedPractitioner(account);
    }

    /// @inheritdoc IMedLedger
    function isVerifiedInsurer(address account) external view returns (bool) {
        return _isVerifiedInsurer(account);
    }

    // ================================================================ consent (ConsentModule)

    /// @inheritdoc IMedLedger
    function grant(address grantee, uint256 categories, bool allowWrite, uint64 expiry) external {
        _grant(grantee, categories, allowWrite, expiry);
    }

    /// @inheritdoc IMedLedger
    function revoke(address grantee) external {
        _revoke(grantee);
    }

    /// @inheritdoc IMedLedger
    function grantOf(address patient, address grantee) external view returns (Grant memory) {
        return _grantOf(patient, grantee);
    }

    /// @inheritdoc IMedLedger
    function activeGrants(address patient) external view returns (address[] memory grantees, Grant[] memory grants) {
        return _activeGrants(patient);
    }

    /// @inheritdoc IMedLedger
    function canRead(address patient, address reader, bytes32 recordId) external view returns (bool) {
        return _canRead(patient, reader, recordId);
    }

    /// @inheritdoc IMedLedger
    function canReadMany(address patient, address reader, bytes32[] calldata recordIds)
        external
        view
        returns (bool[] memory allowed)
    {
        return _canReadMany(patient, reader, recordIds);
    }

    /// @inheritdoc IMedLedger
    function canWrite(address patient, address writer, uint8 category) external view returns (bool) {
        return _canWrite(patient, writer, category);
    }

    // ================================================================ records and erasure (RecordsModule)

    /// @inheritdoc IMedLedger
    function addRecord(bytes32 recordId, address patient, bytes32 ciphertextHash, uint8 category, bytes32 supersedes)
        external
    {
        _addRecord(recordId, patient, ciphertextHash, category, supersedes);
    }

    /// @inheritdoc IMedLedger
    function addRecords(NewRecord[] calldata batch) external {
        _addRecords(batch);
    }

    /// @inheritdoc IMedLedger
    function eraseRecord(bytes32 recordId) external {
        _eraseRecord(recordId);
    }

    /// @inheritdoc IMedLedger
    function eraseAll() external {
        _eraseAll();
    }

    /// @inheritdoc IMedLedger
    function confirmShredded(bytes32 recordId, bytes32 receiptHash) external {
        _confirmShredded(recordId, receiptHash);
    }

    /// @inheritdoc IMedLedger
    function recordOf(bytes32 recordId) external view returns (Record memory) {
        return _recordOf(recordId);
    }

    /// @inheritdoc IMedLedger
    function isErased(bytes32 recordId) external view returns (bool) {
        return _isErasedById(recordId);
    }

    /// @inheritdoc IMedLedger
    function erasureEpochOf(address patient) external view returns (uint64) {
        return _erasureEpochOf(patient);
    }

    // ================================================================ emergency access (EmergencyModule)

    /// @inheritdoc IMedLedger
    function setEmergencyOptIn(bool optedIn) external {
        _setEmergencyOptIn(optedIn);
    }

    /// @inheritdoc IMedLedger
    function setEmergencyWindow(uint64 windowSeconds) external {
        _setEmergencyWindow(windowSeconds);
    }

    /// @inheritdoc IMedLedger
    function emergencyAccess(address patient, bytes32 reasonHash) external {
        _emergencyAccess(patient, reasonHash);
    }

    /// @inheritdoc IMedLedger
    function endEmergencyAccess(address practitioner) external {
        _endEmergencyAccess(practitioner);
    }

    /// @inheritdoc IMedLedger
    function emergencyAccessUntil(address patient, address practitioner) external view returns (uint64) {
        return _emergencyUntil(patient, practitioner);
    }

    // ================================================================ access-log anchors (AccessLogModule)

    /// @inheritdoc IMedLedger
    function anchorAccessLog(bytes32 root, uint64 firstSeq, uint64 lastSeq) external {
        _anchorAccessLog(root, firstSeq, lastSeq);
    }

    /// @inheritdoc IMedLedger
    function anchorCount() external view returns (uint256) {
        return _anchorCount();
    }

    /// @inheritdoc IMedLedger
    function anchorAt(uint256 anchorIndex) external view returns (LogAnchor memory) {
        return _anchorAt(anchorIndex);
    }

    /// @inheritdoc IMedLedger
    function logLeaf(uint64 seq, bytes32 entryHash) external pure returns (bytes32) {
        return _logLeaf(seq, entryHash);
    }

    /// @inheritdoc IMedLedger
    function verifyLogEntry(uint256 anchorIndex, uint64 seq, bytes32 entryHash, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return _verifyLogEntry(anchorIndex, seq, entryHash, proof);
    }

    // ================================================================ records under a root (RecordRootsModule)

    /// @inheritdoc IMedLedger
    function anchorRecordRoot(address patient, bytes32 root, uint32 count, uint256 categories) external {
        _anchorRecordRoot(patient, root, count, categories);
    }

    /// @inheritdoc IMedLedger
    function eraseRootedRecord(bytes32 root, bytes32 recordId) external {
        _eraseRootedRecord(root, recordId);
    }

    /// @inheritdoc IMedLedger
    function confirmRootedShredded(bytes32 root, bytes32 recordId, bytes32 receiptHash) external {
        _confirmRootedShredded(root, recordId, receiptHash);
    }

    /// @inheritdoc IMedLedger
    function confirmRootShredded(bytes32 root, bytes32 receiptHash) external {
        _confirmRootShredded(root, receiptHash);
    }

    /// @inheritdoc IMedLedger
    function recordRootOf(bytes32 root) external view returns (RecordRoot memory) {
        return _recordRootOf(root);
    }

    /// @inheritdoc IMedLedger
    function rootedLeaf(RootedRecord calldata record) external pure returns (bytes32) {
        return _rootedLeaf(record);
    }

    /// @inheritdoc IMedLedger
    function isRootedRecord(bytes32 root, RootedRecord calldata record, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return _isRootedRecord(root, record, proof);
    }

    /// @inheritdoc IMedLedger
    function isRootedErased(bytes32 root, bytes32 recordId) external view returns (bool) {
        return _isRootedErasedById(root, recordId);
    }

    /// @inheritdoc IMedLedger
    function canReadRooted(
        address patient,
        address reader,
        bytes32 root,
        RootedRecord calldata record,
        bytes32[] calldata proof
    ) external view returns (bool) {
        return _canReadRooted(patient, reader, root, record, proof);
    }

    // ================================================================ licence terms (LicenceTermsModule)

    /// @inheritdoc IMedLedger
    function setLicensing(address licensingContract) external {
        _setLicensing(licensingContract);
    }

    /// @inheritdoc IMedLedger
    function licensing() external view returns (address) {
        return _licensing;
    }

    /// @inheritdoc IMedLedger
    function setLicenceTerms(uint32 organisation, uint64 paidUntil, uint64 terminatesAt) external {
        _setLicenceTerms(organisation, paidUntil, terminatesAt);
    }

    /// @inheritdoc IMedLedger
    function assignPractitioner(address practitioner, uint32 organisation, address admin) external {
        _assignPractitioner(practitioner, organisation, admin);
    }

    /// @inheritdoc IMedLedger
    function releasePractitioner(address practitioner) external {
        _releasePractitioner(practitioner);
    }

    /// @inheritdoc IMedLedger
    function licenceTermsOf(uint32 organisation) external view returns (LicenceTerms memory) {
        return _licenceTerms[organisation];
    }

    /// @inheritdoc IMedLedger
    function licenceStatus(uint32 organisation) external view returns (LicenceStatus) {
        return _licenceStatus(organisation);
    }

    /// @inheritdoc IMedLedger
    function practitionerOrganisation(address practitioner) external view returns (uint32) {
        return _organisationOf[practitioner];
    }

    // ================================================================ wallets (WalletsModule)

    /// @inheritdoc IMedLedger
    function moveIdentity(address identity, address newWallet) external {
        _moveIdentity(_recovery, identity, newWallet);
    }

    /// @inheritdoc IMedLedger
    function recovery() external view returns (address) {
        return _recovery;
    }

    /// @inheritdoc IMedLedger
    function identityOf(address wallet) external view returns (address) {
        return _identityOf(wallet);
    }

    /// @inheritdoc IMedLedger
    function walletOf(address identity) external view returns (address) {
        return _walletOf(identity);
    }
}
