// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedger} from "./IMedLedger.sol";

/// @title IMedLedgerInsurance
/// @notice The external face of medledger's insurance contract, deployed beside the core
/// (IMedLedger) with the core's address: insurers' policies and their funds, claims settled by the
/// policy rules on submission or judged and paid by the insurer, and practitioners' payouts
/// (pulled, not pushed). Every function, event, custom error and type, documented.
/// @dev The insurance contract holds all the ether of the system; the core holds none. It reads
/// the core only through the core's public views, which take every address as an argument:
/// isVerifiedPractitioner, isVerifiedInsurer, accountOf (the patient's kind), recordOf and
/// isErased (the claim document), grantOf (the patient's grants to the practitioner and the
/// insurer). It needs no role on the core, and the core does not know it. docs/contract.md
/// describes the rules in prose; docs/claims.md the order of a submission's checks.
///
/// The types are declared here (the ABI calls them "struct IMedLedgerInsurance.Policy" and so on).
/// Errors the core raises too (NotAPatient, NotAVerifiedPractitioner, InvalidCategories,
/// InvalidReasonHash) are declared in both interfaces with the same signature, hence the same
/// selector and meaning.
interface IMedLedgerInsurance {
    // ================================================================ types

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

    // ================================================================ errors: deployment

    /// @notice The constructor's core address holds no contract (the zero address included).
    /// @param core the address given
    error InvalidCore(address core);

    // ================================================================ errors: accounts and consent (also the core's)

    /// @notice The patient named in submitClaim is not a registered patient of the core.
    /// @param account the account that is not a patient
    error NotAPatient(address account);

    /// @notice The caller of submitClaim is not an Active (verified, not suspended) practitioner
    /// of the core.
    /// @param account the account that is not one
    error NotAVerifiedPractitioner(address account);

    /// @notice The account must be an Active insurer of the core: the caller of publishPolicy,
    /// approveClaim or denyClaim, or the insurer named in submitClaim.
    /// @param account the account that is not one
    error NotAVerifiedInsurer(address account);

    /// @notice A category mask of zero, in publishPolicy.
    error InvalidCategories();

    /// @notice A reason hash of zero, in denyClaim.
    error InvalidReasonHash();

    // ================================================================ errors: insurance

    /// @notice The insurer has published no policy: fundPolicy or withdrawPolicyFunds by it, or
    /// submitClaim naming it.
    /// @param insurer the insurer
    error NoPolicy(address insurer);

    /// @notice fundPolicy with no ether.
    error NothingToFund();

    /// @notice More asked than the policy's unreserved funds (funds − reserved), by
    /// withdrawPolicyFunds or approveClaim.
    /// @param available the unreserved funds (wei)
    /// @param requested the amount asked (wei)
    error InsufficientAvailableFunds(uint256 available, uint256 requested);

    /// @notice A claim id of zero.
    error InvalidClaimId();

    /// @notice An amount of zero where one is needed: a claim's amount, a policy's per-claim or
    /// annual limit, a withdrawal of policy funds, an approved payout.
    error InvalidAmount();

    /// @notice The claim id is taken already.
    /// @param claimId the id
    error ClaimExists(bytes32 claimId);

    /// @notice The claim document backs another claim already (a document is claimed once).
    /// @param documentRecordId the document
    /// @param existingClaimId the claim it backs
    error DuplicateClaimDocument(bytes32 documentRecordId, bytes32 existingClaimId);

    /// @notice The claim document is not a live record of the patient in CLAIMS_CATEGORY written
    /// by the submitting practitioner.
    /// @param documentRecordId the record named
    error InvalidClaimDocument(bytes32 documentRecordId);

    /// @notice The patient has not granted the insurer an unexpired read of CLAIMS_CATEGORY, so
    /// it could not open the claim document.
    /// @param patient the patient
    /// @param insurer the insurer
    /// @param category CLAIMS_CATEGORY
    error InsurerNotPermitted(address patient, address insurer, uint8 category);

    /// @notice The patient's grant to the submitting practitioner is missing, expired or does not
    /// cover the category of care claimed.
    /// @param patient the patient
    /// @param practitioner the caller
    /// @param category the category claimed
    error PractitionerNotPermitted(address patient, address practitioner, uint8 category);

    /// @notice No claim has this id.
    /// @param claimId the id
    error UnknownClaim(bytes32 claimId);

    /// @notice approveClaim, denyClaim or payClaim by someone other than the claim's insurer.
    /// @param claimId the claim
    /// @param caller the caller
    error NotClaimInsurer(bytes32 claimId, address caller);

    /// @notice A move of the claim state machine that is not allowed (Submitted→Approved,
    /// Submitted→Denied and Approved→Paid are the insurer's moves).
    /// @param claimId the claim
    /// @param from its status
    /// @param to the status asked for
    error InvalidClaimTransition(bytes32 claimId, ClaimStatus from, ClaimStatus to);

    /// @notice approveClaim for more than the amount claimed.
    /// @param payout the payout asked for (wei)
    /// @param amount the amount claimed (wei)
    error PayoutExceedsClaim(uint128 payout, uint128 amount);

    /// @notice withdrawPayout with nothing credited to the caller.
    error NothingToWithdraw();

    /// @notice The recipient of a withdrawal refused the ether; nothing changed.
    error TransferFailed();

    // ================================================================ events

    /// @notice An insurer published or replaced its policy's terms.
    /// @param insurer the insurer
    /// @param coveredCategories bit mask of covered categories
    /// @param perClaimLimit largest amount settled automatically (wei)
    /// @param annualLimit most paid per patient per policy year (wei)
    /// @param deductible per patient per policy year (wei)
    event PolicyPublished(
        address indexed insurer,
        uint256 coveredCategories,
        uint128 perClaimLimit,
        uint128 annualLimit,
        uint128 deductible
    );

    /// @notice Ether was added to an insurer's policy funds.
    /// @param insurer the insurer
    /// @param amount wei added
    /// @param funds the policy's funds after
    event PolicyFunded(address indexed insurer, uint256 amount, uint256 funds);

    /// @notice An insurer took back unreserved policy funds.
    /// @param insurer the insurer
    /// @param amount wei withdrawn
    /// @param funds the policy's funds after
    event PolicyFundsWithdrawn(address indexed insurer, uint256 amount, uint256 funds);

    /// @notice A practitioner submitted a claim (followed by ClaimPaid if settled at once, else by
    /// ClaimPendingReview).
    /// @param claimId the claim
    /// @param practitioner the practitioner
    /// @param patient the patient
    /// @param insurer the insurer
    /// @param documentRecordId the claim document
    /// @param amount amount claimed (wei)
    /// @param category category of care claimed
    event ClaimSubmitted(
        bytes32 indexed claimId,
        address indexed practitioner,
        address indexed patient,
        address insurer,
        bytes32 documentRecordId,
        uint128 amount,
        uint8 category
    );

    /// @notice A submitted claim falls outside the policy and waits for the insurer.
    /// @param claimId the claim
    /// @param reason the first policy rule it failed
    event ClaimPendingReview(bytes32 indexed claimId, PendingReason reason);

    /// @notice The insurer approved a claim; the payout is reserved from its funds.
    /// @param claimId the claim
    /// @param payout wei to be paid
    event ClaimApproved(bytes32 indexed claimId, uint128 payout);

    /// @notice The insurer denied a claim.
    /// @param claimId the claim
    /// @param reasonHash hash of the stated reason
    event ClaimDenied(bytes32 indexed claimId, bytes32 reasonHash);

    /// @notice A claim was paid: the payout moved to the practitioner's withdrawable balance.
    /// @param claimId the claim
    /// @param practitioner the practitioner credited
    /// @param payout wei credited
    /// @param automatic true when settled on submission, false when paid by payClaim
    event ClaimPaid(bytes32 indexed claimId, address indexed practitioner, uint128 payout, bool automatic);

    /// @notice A practitioner withdrew what paid claims credited them.
    /// @param practitioner the practitioner
    /// @param amount wei sent
    event PayoutWithdrawn(address indexed practitioner, uint256 amount);

    // ================================================================ constants and the core

    // The getters of the contract's public constants carry the constants' UPPER_CASE names
    // (slither's naming-convention wants mixedCase for functions): renaming them would change
    // the ABI, and they are the names the constants have everywhere else.

    /// @notice A policy year, for annual limits and deductibles.
    // slither-disable-next-line naming-convention
    function POLICY_YEAR() external view returns (uint64);

    /// @notice The record category claim documents are filed under; an insurer reads a claim's
    /// document through its grant on this category.
    // slither-disable-next-line naming-convention
    function CLAIMS_CATEGORY() external view returns (uint8);

    /// @notice The core whose accounts, records and grants every claim is judged against, fixed at
    /// deployment.
    function core() external view returns (IMedLedger);

    // ================================================================ policies and claims

    /// @notice Publish or replace the caller's coverage policy, funding it with any ether sent.
    /// New terms apply to claims submitted from now on. Refused with NotAVerifiedInsurer,
    /// InvalidCategories or InvalidAmount.
    /// @param coveredCategories bit mask of covered categories, not zero
    /// @param perClaimLimit largest claim amount settled automatically (wei)
    /// @param annualLimit most paid per patient per policy year (wei)
    /// @param deductible per patient per policy year, borne by the patient before payouts (wei)
    function publishPolicy(uint256 coveredCategories, uint128 perClaimLimit, uint128 annualLimit, uint128 deductible)
        external
        payable;

    /// @notice Add the ether sent to the caller's policy funds. Refused with NoPolicy or
    /// NothingToFund.
    function fundPolicy() external payable;

    /// @notice Take back policy funds not reserved for approved claims (allowed while suspended).
    /// Refused with NoPolicy, InvalidAmount, InsufficientAvailableFunds or TransferFailed.
    /// @param amount wei to withdraw
    function withdrawPolicyFunds(uint256 amount) external;

    /// @notice An insurer's policy (all zero if none).
    /// @param insurer the insurer
    function policyOf(address insurer) external view returns (Policy memory);

    /// @notice What an insurer's deductible and payouts used for a patient in a policy year.
    /// @param insurer the insurer
    /// @param patient the patient
    /// @param policyYear the policy year number (block.timestamp / POLICY_YEAR)
    function annualUsageOf(address insurer, address patient, uint64 policyYear)
        external
        view
        returns (AnnualUsage memory);

    /// @notice The current policy year number.
    function currentPolicyYear() external view returns (uint64);

    /// @notice A verified practitioner submits a claim for a patient, backed by a claim document
    /// the practitioner filed as the patient's record in CLAIMS_CATEGORY, for care in a category
    /// the patient's grant to the practitioner covers, to an insurer the patient lets read claim
    /// documents. Inside the policy (covered category, amount within the per-claim limit, annual
    /// limit not exceeded after the deductible, funds available) it is settled in this
    /// transaction; otherwise it waits for the insurer, with the reason in ClaimPendingReview.
    /// docs/claims.md lists the refusals in the order they are checked.
    /// @param claimId random 32-byte id
    /// @param patient the patient cared for
    /// @param insurer the patient's insurer, with a published policy
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
    ) external;

    /// @notice The claim's insurer approves a claim left for review, for at most the amount
    /// claimed; the payout is reserved from the policy funds until paid. Refused with
    /// UnknownClaim, NotClaimInsurer, NotAVerifiedInsurer, InvalidClaimTransition, InvalidAmount,
    /// PayoutExceedsClaim or InsufficientAvailableFunds.
    /// @param claimId the claim
    /// @param payout wei to pay, not zero and not above the claimed amount
    function approveClaim(bytes32 claimId, uint128 payout) external;

    /// @notice The claim's insurer denies a claim left for review. Refused as approveClaim, or
    /// with InvalidReasonHash.
    /// @param claimId the claim
    /// @param reasonHash hash of the stated reason, not zero
    function denyClaim(bytes32 claimId, bytes32 reasonHash) external;

    /// @notice The claim's insurer pays an approved claim: the reserved payout moves to the
    /// practitioner's withdrawable balance. Allowed while suspended, so approvals are honoured.
    /// @param claimId the claim
    function payClaim(bytes32 claimId) external;

    /// @notice A practitioner withdraws what paid claims credited them. Refused with
    /// NothingToWithdraw or TransferFailed.
    function withdrawPayout() external;

    /// @notice A claim (all zero if unknown).
    /// @param claimId the claim
    function claimOf(bytes32 claimId) external view returns (Claim memory);

    /// @notice What a practitioner can withdraw.
    /// @param practitioner the practitioner
    function payoutOf(address practitioner) external view returns (uint256);
}
