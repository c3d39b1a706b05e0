// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedger} from "./interfaces/IMedLedger.sol";
import {IMedLedgerInsurance} from "./interfaces/IMedLedgerInsurance.sol";
import {InsuranceBase} from "./insurance/InsuranceBase.sol";
import {InsuranceModule} from "./insurance/InsuranceModule.sol";

/// @title MedLedgerInsurance
/// @notice Insurance for medledger, deployed beside the core (MedLedger) with the core's address:
/// insurers publish and fund policies, practitioners submit claims that the policy rules settle at
/// once or leave for the insurer, insurers approve, deny and pay them, practitioners withdraw what
/// paid claims credited them.
/// @dev Who is a patient, a verified practitioner or insurer, which record a claim rests on and
/// which grants the patient gave are the core's, asked through its public views on every call:
/// a suspension, a revocation or an erasure in the core counts here from the same block. This
/// contract holds all the ether the system holds (policy funds and unwithdrawn payouts). Payouts
/// use the pull pattern, so no state-changing function but the two withdrawals sends ether, and
/// those follow checks-effects-interactions behind a reentrancy guard and pay only msg.sender.
///
/// The composition, as MedLedger is composed: the interface (interfaces/IMedLedgerInsurance.sol:
/// every function, event, error and type, documented), the module (insurance/InsuranceModule.sol:
/// the state and the rules) over a base holding the core's address (insurance/InsuranceBase.sol),
/// and here the constructor and the external functions, each handing over to the module.
contract MedLedgerInsurance is IMedLedgerInsurance, InsuranceModule {
    // ---------------------------------------------------------------- setup

    /// @param core_ the deployed MedLedger core whose accounts, records and grants claims are
    /// judged against; refused with InvalidCore if it holds no code
    constructor(address core_) InsuranceBase(core_) {}

    /// @inheritdoc IMedLedgerInsurance
    function core() external view returns (IMedLedger) {
        return _core;
    }

    // ================================================================ policies

    /// @inheritdoc IMedLedgerInsurance
    function publishPolicy(uint256 coveredCategories, uint128 perClaimLimit, uint128 annualLimit, uint128 deductible)
        external
        payable
    {
        _publishPolicy(coveredCategories, perClaimLimit, annualLimit, deductible);
    }

    /// @inheritdoc IMedLedgerInsurance
    function fundPolicy() external payable {
        _fundPolicy();
    }

    /// @inheritdoc IMedLedgerInsurance
    function withdrawPolicyFunds(uint256 amount) external {
        _withdrawPolicyFunds(amount);
    }

    /// @inheritdoc IMedLedgerInsurance
    function policyOf(address insurer) external view returns (Policy memory) {
        return _policyOf(insurer);
    }

    /// @inheritdoc IMedLedgerInsurance
    function annualUsageOf(address insurer, address patient, uint64 policyYear)
        external
        view
        returns (AnnualUsage memory)
    {
        return _annualUsageOf(insurer, patient, policyYear);
    }

    /// @inheritdoc IMedLedgerInsurance
    function currentPolicyYear() external view returns (uint64) {
        return _currentPolicyYear();
    }

    // ================================================================ claims and payouts

    /// @inheritdoc IMedLedgerInsurance
    function submitClaim(
        bytes32 claimId,
        address patient,
        address insurer,
        bytes32 documentRecordId,
        uint128 amount,
        uint8 category
    ) external {
        _submitClaim(claimId, patient, insurer, documentRecordId, amount, category);
    }

    /// @inheritdoc IMedLedgerInsurance
    function approveClaim(bytes32 claimId, uint128 payout) external {
        _approveClaim(claimId, payout);
    }

    /// @inheritdoc IMedLedgerInsurance
    function denyClaim(bytes32 claimId, bytes32 reasonHash) external {
        _denyClaim(claimId, reasonHash);
    }

    /// @inheritdoc IMedLedgerInsurance
    function payClaim(bytes32 claimId) external {
        _payClaim(claimId);
    }

    /// @inheritdoc IMedLedgerInsurance
    function withdrawPayout() external {
        _withdrawPayout();
    }

    /// @inheritdoc IMedLedgerInsurance
    function claimOf(bytes32 claimId) external view returns (Claim memory) {
        return _claimOf(claimId);
    }

    /// @inheritdoc IMedLedgerInsurance
    function payoutOf(address practitioner) external view returns (uint256) {
        return _payoutOf(practitioner);
    }
}
