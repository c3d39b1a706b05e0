// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IMedLedgerInsurance} from "../interfaces/IMedLedgerInsurance.sol";
import {MedLedger} from "../MedLedger.sol";
import {InsuranceBase} from "./InsuranceBase.sol";

/// @title InsuranceModule
/// @notice Insurance: insurers' policies and their funds, claims settled by the policy rules on
/// submission or judged and paid by the insurer, and practitioners' payouts (pulled, not pushed).
/// @dev Of the core it reads, through its views (InsuranceBase and _requireClaimStanding), only
/// accounts (isVerifiedPractitioner, isVerifiedInsurer, the patient's kind), the claim document's
/// record and erasure, and the patient's grants (docs/contract.md, "How the contract grows past
/// EIP-170"). Its state is its own, here, and so is all the ether the system holds. The only calls
/// that send ether, withdrawPolicyFunds and withdrawPayout, are nonReentrant and follow
/// checks-effects-interactions. IMedLedgerInsurance documents each call; MedLedgerInsurance
/// exposes them.
abstract contract InsuranceModule is InsuranceBase, ReentrancyGuard {
    /// @inheritdoc IMedLedgerInsurance
    uint64 public constant POLICY_YEAR = 365 days;
    /// @inheritdoc IMedLedgerInsurance
    uint8 public constant CLAIMS_CATEGORY = 7;

    mapping(address insurer => Policy) private _policies;
    mapping(address insurer => mapping(address patient => mapping(uint64 year => AnnualUsage))) private
        _usage;
    mapping(bytes32 claimId => Claim) private _claims;
    mapping(bytes32 documentRecordId => bytes32 claimId) private _claimByDocument;
    mapping(address practitioner => uint256) private _payouts;

    // ---------------------------------------------------------------- policies

    function _publishPolicy(uint256 coveredCategories, uint128 perClaimLimit, uint128 annualLimit, uint128 deductible)
        internal
    {
        if (!_isVerifiedInsurer(msg.sender)) revert NotAVerifiedInsurer(msg.sender);
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

    function _fundPolicy() internal {
        Policy storage p = _policies[msg.sender];
        if (!p.published) revert NoPolicy(msg.sender);
        if (msg.value == 0) revert NothingToFund();
        p.funds += msg.value;
        emit PolicyFunded(msg.sender, msg.value, p.funds);
    }

    function _withdrawPolicyFunds(uint256 amount) internal nonReentrant {
        Policy storage p = _policies[msg.sender];
        if (!p.published) revert NoPolicy(msg.sender);
        if (amount == 0) revert InvalidAmount();
        uint256 available = p.funds - p.reserved;
        if (amount > available) revert InsufficientAvailableFunds(available, amount);
        p.funds -= amount;
        emit PolicyFundsWithdrawn(msg.sender, amount, p.funds);
        _send(msg.sender, amount);
    }

    function _policyOf(address insurer) internal view returns (Policy memory) {
        return _policies[insurer];
    }

    function _annualUsageOf(address insurer, address patient, uint64 policyYear)
        internal
        view
        returns (AnnualUsage memory)
    {
        return _usage[insurer][patient][policyYear];
    }

    function _currentPolicyYear() internal view returns (uint64) {
        return uint64(block.timestamp / POLICY_YEAR);
    }

    // ---------------------------------------------------------------- claims

    function _submitClaim(
        bytes32 claimId,
        address patient,
        address insurer,
        bytes32 documentRecordId,
        uint128 amount,
        uint8 category
    ) internal {
        if (!_isVerifiedPractitioner(msg.sender)) revert NotAVerifiedPractitioner(msg.sender);
        if (claimId == bytes32(0)) revert InvalidClaimId();
        if (_claims[claimId].status != ClaimStatus.None) revert ClaimExists(claimId);
        if (amount == 0) revert InvalidAmount();
        _requirePatient(patient);
        if (!_isVerifiedInsurer(insurer)) revert NotAVerifiedInsurer(insurer);
        if (!_policies[insurer].published) revert NoPolicy(insurer);
        _requireClaimStanding(patient, insurer, documentRecordId, category);

        uint64 year = _currentPolicyYear();
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

        (PendingReason reason, uint128 deductiblePart, uint128 payout) =
            _assess(insurer, patient, year, amount, category);
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

    function _approveClaim(bytes32 claimId, uint128 payout) internal {
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

    function _denyClaim(bytes32 claimId, bytes32 reasonHash) internal {
        Claim storage c = _insurerClaim(claimId, ClaimStatus.Denied);
        if (reasonHash == bytes32(0)) revert InvalidReasonHash();
        c.denialReasonHash = reasonHash;
        c.status = ClaimStatus.Denied;
        emit ClaimDenied(claimId, reasonHash);
    }

    function _payClaim(bytes32 claimId) internal {
        Claim storage c = _insurerClaim(claimId, ClaimStatus.Paid);
        Policy storage p = _policies[msg.sender];
        uint128 payout = c.payout;
        p.reserved -= payout;
        p.funds -= payout;
        _payouts[c.practitioner] += payout;
        c.status = ClaimStatus.Paid;
        emit ClaimPaid(claimId, c.practitioner, payout, false);
    }

    function _withdrawPayout() internal nonReentrant {
        uint256 amount = _payouts[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        _payouts[msg.sender] = 0;
        emit PayoutWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    function _claimOf(bytes32 claimId) internal view returns (Claim memory) {
        return _claims[claimId];
    }

    function _payoutOf(address practitioner) internal view returns (uint256) {
        return _payouts[practitioner];
    }

    // ---------------------------------------------------------------- internals

    /// @dev The claim's document and consents, for submitClaim (apart to keep its stack small).
    /// What it reads of the core, through its views: the document's record (recordOf), its
    /// erasure (isErased, asked only of a record that exists: one whose patient is `patient`, a
    /// registered patient), the patient's grants to the caller and to the insurer (grantOf).
    function _requireClaimStanding(address patient, address insurer, bytes32 documentRecordId, uint8 category)
        private
        view
    {
        // Without this an automatically settled claim could rest on no document at all: the
        // insurer must be able to open what it paid for, and only its author can claim on it.
        MedLedger.Record memory doc = _core.recordOf(documentRecordId);
        if (
            doc.patient != patient || doc.author != msg.sender || doc.category != CLAIMS_CATEGORY
                || _core.isErased(documentRecordId)
        ) {
            revert InvalidClaimDocument(documentRecordId);
        }
        bytes32 existing = _claimByDocument[documentRecordId];
        if (existing != bytes32(0)) revert DuplicateClaimDocument(documentRecordId, existing);
        MedLedger.Grant memory pg = _core.grantOf(patient, msg.sender);
        if (pg.expiry <= block.timestamp || !_covers(pg.categories, category)) {
            revert PractitionerNotPermitted(patient, msg.sender, category);
        }
        MedLedger.Grant memory ig = _core.grantOf(patient, insurer);
        if (ig.expiry <= block.timestamp || !_covers(ig.categories, CLAIMS_CATEGORY)) {
            revert InsurerNotPermitted(patient, insurer, CLAIMS_CATEGORY);
        }
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
        if (to != ClaimStatus.Paid && !_isVerifiedInsurer(msg.sender)) {
            revert NotAVerifiedInsurer(msg.sender);
        }
        ClaimStatus from = c.status;
        bool allowed =
            (from == ClaimStatus.Submitted
                    && (to == ClaimStatus.Approved || to == ClaimStatus.Denied))
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
