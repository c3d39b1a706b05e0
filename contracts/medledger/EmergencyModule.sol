// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedger} from "../interfaces/IMedLedger.sol";
import {MedLedger} from "../MedLedger.sol";
import {MedLedgerBase} from "./MedLedgerBase.sol";

/// @title EmergencyModule
/// @notice Emergency access: a patient's opt-in, the window length an admin sets, a verified
/// practitioner breaking glass and the patient ending a window early. The windows live in the
/// base, because canRead (consent module) reads them. IMedLedger documents each call; MedLedger
/// exposes them.
abstract contract EmergencyModule is MedLedgerBase {
    /// @inheritdoc IMedLedger
    uint64 public constant MIN_EMERGENCY_WINDOW = 1 hours;
    /// @inheritdoc IMedLedger
    uint64 public constant MAX_EMERGENCY_WINDOW = 7 days;

    /// @inheritdoc IMedLedger
    uint64 public emergencyWindow = 24 hours;

    function _setEmergencyOptIn(bool optedIn) internal {
        address sender = _msgSender();
        _requirePatient(sender);
        _accounts[sender].emergencyOptIn = optedIn;
        if (!optedIn) ++_emergencyPeriod[sender];
        emit EmergencyOptInChanged(sender, optedIn);
    }

    function _setEmergencyWindow(uint64 windowSeconds) internal onlyRole(ADMIN_ROLE) {
        if (windowSeconds < MIN_EMERGENCY_WINDOW || windowSeconds > MAX_EMERGENCY_WINDOW) {
            revert EmergencyWindowOutOfRange(windowSeconds);
        }
        emergencyWindow = windowSeconds;
        emit EmergencyWindowChanged(windowSeconds);
    }

    function _emergencyAccess(address patient, bytes32 reasonHash) internal {
        address sender = _msgSender();
        if (!_isVerifiedPractitioner(sender)) revert NotAVerifiedPractitioner(sender);
        if (reasonHash == bytes32(0)) revert InvalidReasonHash();
        MedLedger.Account storage p = _accounts[patient];
        if (p.kind != MedLedger.AccountKind.Patient || !p.emergencyOptIn) revert EmergencyNotOptedIn(patient);
        uint64 expiresAt = uint64(block.timestamp) + emergencyWindow;
        _emergencyWindows[patient][sender] = EmergencyWindow({until: expiresAt, period: _emergencyPeriod[patient]});
        emit EmergencyAccessOpened(patient, sender, reasonHash, expiresAt);
    }

    function _endEmergencyAccess(address practitioner) internal {
        address sender = _msgSender();
        if (_emergencyUntil(sender, practitioner) <= block.timestamp) {
            revert NoEmergencyAccess(sender, practitioner);
        }
        delete _emergencyWindows[sender][practitioner];
        emit EmergencyAccessEnded(sender, practitioner);
    }
}
