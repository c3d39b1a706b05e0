// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedgerLicensing} from "../interfaces/IMedLedgerLicensing.sol";
import {MedLedger} from "../MedLedger.sol";
import {MedLedgerBase} from "./MedLedgerBase.sol";

/// @title AccountsModule
/// @notice Accounts and keys: registration as patient, practitioner or insurer, encryption-key
/// rotation, and an admin's verification, suspension and reinstatement of practitioners and
/// insurers (suspension and reinstatement also by the admin of a practitioner's organisation). IMedLedger documents each call; MedLedger exposes them.
abstract contract AccountsModule is MedLedgerBase {
    function _registerPatient(bytes32 encryptionKey) internal {
        _register(MedLedger.AccountKind.Patient, MedLedger.AccountStatus.Active, encryptionKey, bytes32(0));
    }

    function _applyAsPractitioner(bytes32 encryptionKey, bytes32 profileHash) internal {
        if (profileHash == bytes32(0)) revert InvalidProfileHash();
        _register(MedLedger.AccountKind.Practitioner, MedLedger.AccountStatus.Pending, encryptionKey, profileHash);
    }

    function _applyAsInsurer(bytes32 encryptionKey, bytes32 profileHash) internal {
        if (profileHash == bytes32(0)) revert InvalidProfileHash();
        _register(MedLedger.AccountKind.Insurer, MedLedger.AccountStatus.Pending, encryptionKey, profileHash);
    }

    function _rotateEncryptionKey(bytes32 encryptionKey) internal {
        address sender = _msgSender();
        MedLedger.Account storage account = _accounts[sender];
        if (account.kind == MedLedger.AccountKind.None) revert NotRegistered(sender);
        // The same key again is no rotation: refused, so that every EncryptionKeyRotated names a
        // new key (the app counts them to derive the key's version).
        if (encryptionKey == bytes32(0) || encryptionKey == account.encryptionKey) revert InvalidEncryptionKey();
        account.encryptionKey = encryptionKey;
        emit EncryptionKeyRotated(sender, encryptionKey);
    }

    function _verifyAccount(address account) internal onlyRole(ADMIN_ROLE) {
        MedLedger.Account storage a = _professional(account);
        if (a.status != MedLedger.AccountStatus.Pending) revert InvalidStatusChange(account, a.status);
        a.status = MedLedger.AccountStatus.Active;
        emit AccountVerified(account, _msgSender());
    }

    function _suspendAccount(address account, bytes32 reasonHash) internal {
        bool platform = _requireAccountAdmin(account, false);
        MedLedger.Account storage a = _professional(account);
        if (a.status != MedLedger.AccountStatus.Active) revert InvalidStatusChange(account, a.status);
        a.status = MedLedger.AccountStatus.Suspended;
        if (platform) _suspendedByPlatform[account] = true;
        emit AccountSuspended(account, _msgSender(), reasonHash);
    }

    function _reinstateAccount(address account) internal {
        _requireAccountAdmin(account, _suspendedByPlatform[account]);
        MedLedger.Account storage a = _professional(account);
        if (a.status != MedLedger.AccountStatus.Suspended) revert InvalidStatusChange(account, a.status);
        a.status = MedLedger.AccountStatus.Active;
        delete _suspendedByPlatform[account];
        emit AccountReinstated(account, _msgSender());
    }

    /// @dev Suspending and reinstating: the platform admin, or an admin of the organisation the
    /// practitioner was verified for, unless `platformOnly` (lifting a platform admin's
    /// suspension). Others are refused as before organisations existed
    /// (AccessControlUnauthorizedAccount), since for them nothing changed. True for a platform
    /// admin.
    function _requireAccountAdmin(address account, bool platformOnly) private view returns (bool) {
        address sender = _msgSender();
        if (hasRole(ADMIN_ROLE, sender)) return true;
        uint32 organisation = _organisationOf[account];
        if (platformOnly) organisation = 0;
        // A practitioner belongs to an organisation only by the licensing contract's word, so
        // _licensing is set whenever organisation is not 0. The call is a view (STATICCALL).
        if (organisation == 0 || IMedLedgerLicensing(_licensing).adminOrganisation(sender) != organisation) {
            revert AccessControlUnauthorizedAccount(sender, ADMIN_ROLE);
        }
        return false;
    }

    function _accountOf(address account) internal view returns (MedLedger.Account memory) {
        return _accounts[account];
    }

    function _register(
        MedLedger.AccountKind kind,
        MedLedger.AccountStatus status,
        bytes32 encryptionKey,
        bytes32 profileHash
    ) private {
        address sender = _msgSender();
        if (_accounts[sender].kind != MedLedger.AccountKind.None) {
            revert AlreadyRegistered(sender);
        }
        if (encryptionKey == bytes32(0)) revert InvalidEncryptionKey();
        _accounts[sender] = MedLedger.Account({
            kind: kind,
            status: status,
            emergencyOptIn: false,
            registeredAt: uint64(block.timestamp),
            encryptionKey: encryptionKey,
            profileHash: profileHash
        });
        emit AccountRegistered(sender, kind, encryptionKey, profileHash);
    }
}
