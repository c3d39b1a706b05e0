// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedger} from "../interfaces/IMedLedger.sol";
import {IMedLedgerInsurance} from "../interfaces/IMedLedgerInsurance.sol";
import {MedLedger} from "../MedLedger.sol";

/// @title InsuranceBase
/// @notice What the insurance contract knows of the core: its address, fixed at deployment, and
/// the questions it asks the core about accounts, through the core's external views.
/// @dev In the core these helpers read its storage; here each is one view call (STATICCALL) into
/// the core, with the same answer and the same refusal. The views take every address as an
/// argument, so they mean the same when the caller is this contract. InsuranceModule asks the
/// core for the claim document and the patient's grants itself (_requireClaimStanding).
abstract contract InsuranceBase is IMedLedgerInsurance {
    /// @dev The core (MedLedger). Immutable: the deployed code carries it, so the migration
    /// compares the deployed code with the artifact's with this value's bytes masked, and checks
    /// core() (migrations/1_deploy_medledger.js).
    IMedLedger internal immutable _core;

    /// @param core_ the deployed core; an address without code (the zero address included) is
    /// refused with InvalidCore
    constructor(address core_) {
        if (core_.code.length == 0) revert InvalidCore(core_);
        _core = IMedLedger(core_);
    }

    // ---------------------------------------------------------------- the core's accounts

    function _requirePatient(address account) internal view {
        if (_core.accountOf(account).kind != MedLedger.AccountKind.Patient) revert NotAPatient(account);
    }

    function _isVerifiedPractitioner(address account) internal view returns (bool) {
        return _core.isVerifiedPractitioner(account);
    }

    function _isVerifiedInsurer(address account) internal view returns (bool) {
        return _core.isVerifiedInsurer(account);
    }

    // ---------------------------------------------------------------- categories

    function _covers(uint256 categories, uint8 category) internal pure returns (bool) {
        return categories & (uint256(1) << category) != 0;
    }
}
