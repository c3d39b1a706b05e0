// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {MedLedger} from "../MedLedger.sol";
import {MedLedgerBase} from "./MedLedgerBase.sol";

/// @title LicenceTermsModule
/// @notice The core's side of licensing: which contract licenses (set once by an admin), each
/// organisation's licence terms (subscription end, notice) and which organisation each
/// practitioner was verified for. The licensing contract (MedLedgerLicensing) owns everything
/// else (organisations' admins, seats, fees, enrolments) and writes these on its own rules; the
/// core keeps them because canRead and canWrite read them in the same view as the rest
/// (docs/contract.md, "How the contract grows past EIP-170"). IMedLedger documents each call;
/// MedLedger exposes them.
abstract contract LicenceTermsModule is MedLedgerBase {
    function _setLicensing(address licensingContract) internal onlyRole(ADMIN_ROLE) {
        if (_licensing != address(0)) revert LicensingAlreadySet(_licensing);
        if (licensingContract.code.length == 0) revert InvalidLicensing(licensingContract);
        _licensing = licensingContract;
        emit LicensingSet(licensingContract);
    }

    function _setLicenceTerms(uint32 organisation, uint64 paidUntil, uint64 terminatesAt) internal {
        _requireLicensing();
        if (organisation == 0 || paidUntil == 0) revert InvalidLicenceTerms(organisation);
        _licenceTerms[organisation] = MedLedger.LicenceTerms({paidUntil: paidUntil, terminatesAt: terminatesAt});
        emit LicenceTermsChanged(organisation, paidUntil, terminatesAt);
    }

    function _assignPractitioner(address practitioner, uint32 organisation, address admin) internal {
        _requireLicensing();
        MedLedger.Account storage a = _accounts[practitioner];
        if (a.kind != MedLedger.AccountKind.Practitioner) revert NotAProfessional(practitioner);
        if (a.status != MedLedger.AccountStatus.Pending) revert InvalidStatusChange(practitioner, a.status);
        if (_licenceTerms[organisation].paidUntil == 0) revert InvalidLicenceTerms(organisation);
        a.status = MedLedger.AccountStatus.Active;
        _organisationOf[practitioner] = organisation;
        emit PractitionerOrganisationChanged(practitioner, organisation);
        emit AccountVerified(practitioner, admin);
    }

    function _releasePractitioner(address practitioner) internal {
        _requireLicensing();
        if (_organisationOf[practitioner] == 0) revert NotInAnOrganisation(practitioner);
        delete _organisationOf[practitioner];
        // A suspended practitioner stays suspended: releasing must not launder a suspension into
        // a Pending account another organisation could verify. Belonging to no organisation now,
        // only a platform admin can lift it.
        MedLedger.Account storage a = _accounts[practitioner];
        if (a.status == MedLedger.AccountStatus.Active) a.status = MedLedger.AccountStatus.Pending;
        emit PractitionerOrganisationChanged(practitioner, 0);
    }

    function _requireLicensing() private view {
        address sender = _msgSender();
        if (sender != _licensing || sender == address(0)) revert NotLicensing(sender);
    }
}
