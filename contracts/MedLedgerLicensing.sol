// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedger} from "./interfaces/IMedLedger.sol";
import {IMedLedgerLicensing} from "./interfaces/IMedLedgerLicensing.sol";
import {LicensingModule} from "./licensing/LicensingModule.sol";

/// @title MedLedgerLicensing
/// @notice Licensing for medledger, deployed beside the core (MedLedger) with the core's address,
/// which an admin then names in the core (setLicensing): hospitals and clinics as organisations
/// with seats per role, an annual subscription, notice and termination, delegated verification of
/// their practitioners and their patients' enrolment.
/// @dev The composition, as the core and the insurance contract are composed: the interface
/// (interfaces/IMedLedgerLicensing.sol: every function, event, error and type, documented), the
/// module (licensing/LicensingModule.sol: the state and the rules), and here the constructor and
/// the external functions, each handing over to the module. It holds the subscription fees paid
/// on chain until a platform admin withdraws them.
contract MedLedgerLicensing is LicensingModule {
    /// @param core_ the deployed MedLedger core; refused with InvalidCore if it holds no code
    constructor(address core_) LicensingModule(core_) {}

    /// @inheritdoc IMedLedgerLicensing
    function core() external view returns (IMedLedger) {
        return _core;
    }

    /// @inheritdoc IMedLedgerLicensing
    function createOrganisation(string calldata name, address admin, Seats calldata limits, uint64 paidUntil, uint256 annualFee) external returns (uint32 organisation) {
        return _createOrganisation(name, admin, limits, paidUntil, annualFee);
    }

    /// @inheritdoc IMedLedgerLicensing
    function setSeats(uint32 organisation, Seats calldata limits) external {
        _setSeats(organisation, limits);
    }

    /// @inheritdoc IMedLedgerLicensing
    function setAnnualFee(uint32 organisation, uint256 annualFee) external {
        _setAnnualFee(organisation, annualFee);
    }

    /// @inheritdoc IMedLedgerLicensing
    function recordRenewal(uint32 organisation, uint64 paidUntil) external {
        _recordRenewal(organisation, paidUntil);
    }

    /// @inheritdoc IMedLedgerLicensing
    function giveNotice(uint32 organisation, uint64 terminatesAt) external {
        _giveNotice(organisation, terminatesAt);
    }

    /// @inheritdoc IMedLedgerLicensing
    function terminateLicence(uint32 organisation) external {
        _terminateLicence(organisation);
    }

    /// @inheritdoc IMedLedgerLicensing
    function reinstateLicence(uint32 organisation) external {
        _reinstateLicence(organisation);
    }

    /// @inheritdoc IMedLedgerLicensing
    function withdrawFees(uint256 amount) external {
        _withdrawFees(amount);
    }

    /// @inheritdoc IMedLedgerLicensing
    function renewSubscription(uint32 organisation) external payable {
        _renewSubscription(organisation);
    }

    /// @inheritdoc IMedLedgerLicensing
    function addOrganisationAdmin(uint32 organisation, address account) external {
        _addOrganisationAdmin(organisation, account);
    }

    /// @inheritdoc IMedLedgerLicensing
    function removeOrganisationAdmin(uint32 organisation, address account) external {
        _removeOrganisationAdmin(organisation, account);
    }

    /// @inheritdoc IMedLedgerLicensing
    function verifyPractitioner(uint32 organisation, address practitioner) external {
        _verifyPractitioner(organisation, practitioner);
    }

    /// @inheritdoc IMedLedgerLicensing
    function releasePractitioner(address practitioner) external {
        _releasePractitioner(practitioner);
    }

    /// @inheritdoc IMedLedgerLicensing
    function enrolPatient(uint32 organisation, address patient) external {
        _enrolPatient(organisation, patient);
    }

    /// @inheritdoc IMedLedgerLicensing
    function acceptEnrolment(uint32 organisation) external {
        _acceptEnrolment(organisation);
    }

    /// @inheritdoc IMedLedgerLicensing
    function endEnrolment(uint32 organisation, address patient) external {
        _endEnrolment(organisation, patient);
    }

    /// @inheritdoc IMedLedgerLicensing
    function organisationCount() external view returns (uint32) {
        return _organisationCount;
    }

    /// @inheritdoc IMedLedgerLicensing
    function organisationOf(uint32 organisation) external view returns (Organisation memory) {
        return _organisations[organisation];
    }

    /// @inheritdoc IMedLedgerLicensing
    function adminOrganisation(address account) external view returns (uint32) {
        return _adminOf[account];
    }

    /// @inheritdoc IMedLedgerLicensing
    function enrolmentOf(uint32 organisation, address patient) external view returns (Enrolment) {
        return _enrolments[organisation][patient];
    }

    /// @inheritdoc IMedLedgerLicensing
    function feesHeld() external view returns (uint256) {
        return _feesHeld;
    }
}
