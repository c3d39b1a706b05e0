// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IMedLedger} from "../interfaces/IMedLedger.sol";
import {IMedLedgerLicensing} from "../interfaces/IMedLedgerLicensing.sol";
import {MedLedger} from "../MedLedger.sol";

/// @title LicensingModule
/// @notice The state and rules of licensing: organisations' fees, seats and admins, patients'
/// enrolments and the subscription fees held; and, through the core, the licence terms and each
/// practitioner's organisation. IMedLedgerLicensing documents each call; MedLedgerLicensing
/// exposes them.
/// @dev Every call into the core is to the core fixed at deployment (immutable), and the only
/// ones that change its state (setLicenceTerms, assignPractitioner, releasePractitioner) come after
/// this contract's own checks and effects. The core never calls back into a state-changing
/// function here. Fees leave only by withdrawFees, to the caller, behind the reentrancy guard.
abstract contract LicensingModule is IMedLedgerLicensing, ReentrancyGuard {
    /// @inheritdoc IMedLedgerLicensing
    uint64 public constant SUBSCRIPTION_PERIOD = 365 days;
    /// @inheritdoc IMedLedgerLicensing
    uint256 public constant MAX_ORGANISATION_NAME = 64;

    /// @dev The latest subscription end a platform admin may set: a paid renewal adds a period to
    /// it, which must not overflow (a panic instead of an error).
    uint64 private constant LATEST_PAID_UNTIL = type(uint64).max - SUBSCRIPTION_PERIOD;

    uint8 private constant ADMIN_SEAT = 0;
    uint8 private constant PRACTITIONER_SEAT = 1;
    uint8 private constant PATIENT_SEAT = 2;

    /// @dev The core (MedLedger); the migration checks core() as it does the insurance contract's.
    IMedLedger internal immutable _core;
    /// @dev keccak256("MEDLEDGER_ADMIN"), the core's ADMIN_ROLE: the platform admins.
    bytes32 private constant PLATFORM_ADMIN = keccak256("MEDLEDGER_ADMIN");

    uint32 internal _organisationCount;
    uint256 internal _feesHeld;
    mapping(uint32 organisation => Organisation) internal _organisations;
    mapping(address account => uint32 organisation) internal _adminOf;
    mapping(uint32 organisation => mapping(address patient => Enrolment)) internal _enrolments;

    constructor(address core_) {
        if (core_.code.length == 0) revert InvalidCore(core_);
        _core = IMedLedger(core_);
    }

    // ---------------------------------------------------------------- the platform admin

    function _createOrganisation(
        string calldata name,
        address admin,
        Seats calldata limits,
        uint64 paidUntil,
        uint256 annualFee
    ) internal returns (uint32 organisation) {
        address by = _requirePlatformAdmin();
        uint256 nameLength = bytes(name).length;
        if (nameLength == 0 || nameLength > MAX_ORGANISATION_NAME) revert InvalidOrganisationName();
        if (limits.admins == 0) revert InvalidSeats();
        if (paidUntil <= block.timestamp || paidUntil > LATEST_PAID_UNTIL) revert InvalidPaidUntil(paidUntil);
        organisation = ++_organisationCount;
        Organisation storage o = _organisations[organisation];
        o.annualFee = annualFee;
        o.limits = limits;
        admin = _identityNamed(admin);
        emit OrganisationCreated(organisation, name, admin, paidUntil, annualFee);
        _addAdmin(organisation, o, admin, by);
        _core.setLicenceTerms(organisation, paidUntil, 0);
    }

    function _setSeats(uint32 organisation, Seats calldata limits) internal {
        _requirePlatformAdmin();
        Organisation storage o = _organisation(organisation);
        Seats storage used = o.used;
        if (
            limits.admins == 0 || limits.admins < used.admins || limits.practitioners < used.practitioners
                || limits.patients < used.patients
        ) revert InvalidSeats();
        o.limits = limits;
        emit SeatsChanged(organisation, limits);
    }

    function _setAnnualFee(uint32 organisation, uint256 annualFee) internal {
        _requirePlatformAdmin();
        _organisation(organisation).annualFee = annualFee;
        emit AnnualFeeChanged(organisation, annualFee);
    }

    function _recordRenewal(uint32 organisation, uint64 paidUntil) internal {
        address by = _requirePlatformAdmin();
        MedLedger.LicenceTerms memory terms = _liveTerms(organisation);
        if (paidUntil <= terms.paidUntil || paidUntil <= block.timestamp || paidUntil > LATEST_PAID_UNTIL) {
            revert InvalidPaidUntil(paidUntil);
        }
        emit SubscriptionRenewed(organisation, paidUntil, by, 0);
        _core.setLicenceTerms(organisation, paidUntil, terms.terminatesAt);
    }

    function _giveNotice(uint32 organisation, uint64 terminatesAt) internal {
        _requirePlatformAdmin();
        MedLedger.LicenceTerms memory terms = _liveTerms(organisation);
        if (terminatesAt <= block.timestamp) revert InvalidNoticeDate(terminatesAt);
        emit LicenceNoticeGiven(organisation, terminatesAt);
        _core.setLicenceTerms(organisation, terms.paidUntil, terminatesAt);
    }

    function _terminateLicence(uint32 organisation) internal {
        _requirePlatformAdmin();
        MedLedger.LicenceTerms memory terms = _liveTerms(organisation);
        emit LicenceTerminated(organisation, uint64(block.timestamp));
        _core.setLicenceTerms(organisation, terms.paidUntil, uint64(block.timestamp));
    }

    function _reinstateLicence(uint32 organisation) internal {
        _requirePlatformAdmin();
        _organisation(organisation);
        MedLedger.LicenceTerms memory terms = _core.licenceTermsOf(organisation);
        if (terms.terminatesAt == 0) revert InvalidLicenceStatus(organisation, uint8(_core.licenceStatus(organisation)));
        emit LicenceReinstated(organisation);
        _core.setLicenceTerms(organisation, terms.paidUntil, 0);
    }

    /// @dev Checks-effects-interactions under the guard: the fees held go down and the event is
    /// logged before the ether leaves, and it goes only to the caller (a platform admin): nobody can
    /// direct it elsewhere, which is what slither's arbitrary-send-eth warns of.
    function _withdrawFees(uint256 amount) internal nonReentrant {
        _requirePlatformAdmin();
        uint256 held = _feesHeld;
        if (amount == 0 || amount > held) revert InvalidFeeWithdrawal(held, amount);
        _feesHeld = held - amount;
        emit FeesWithdrawn(msg.sender, amount);
        // slither-disable-next-line arbitrary-send-eth,low-level-calls
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert FeeTransferFailed();
    }

    // ---------------------------------------------------------------- anyone

    function _renewSubscription(uint32 organisation) internal nonReentrant {
        Organisation storage o = _organisation(organisation);
        MedLedger.LicenceTerms memory terms = _liveTerms(organisation);
        uint256 fee = o.annualFee;
        if (fee == 0) revert RenewalNotPayable(organisation);
        if (msg.value != fee) revert WrongPayment(fee, msg.value);
        uint64 from = terms.paidUntil > block.timestamp ? terms.paidUntil : uint64(block.timestamp);
        uint64 paidUntil = from + SUBSCRIPTION_PERIOD;
        _feesHeld += fee;
        // Anyone may pay, and the event names the wallet the ether came from.
        emit SubscriptionRenewed(organisation, paidUntil, msg.sender, fee);
        _core.setLicenceTerms(organisation, paidUntil, terms.terminatesAt);
    }

    // ---------------------------------------------------------------- an organisation's admins

    function _addOrganisationAdmin(uint32 organisation, address account) internal {
        Organisation storage o = _organisation(organisation);
        address by = _requireAdminFor(organisation);
        _addAdmin(organisation, o, _identityNamed(account), by);
    }

    function _removeOrganisationAdmin(uint32 organisation, address account) internal {
        Organisation storage o = _organisation(organisation);
        address by = _requireAdminFor(organisation);
        account = _identityNamed(account);
        if (_adminOf[account] != organisation) revert NotAnAdminOf(organisation, account);
        delete _adminOf[account];
        --o.used.admins;
        emit OrganisationAdminRemoved(organisation, account, by);
    }

    function _verifyPractitioner(uint32 organisation, address practitioner) internal {
        Organisation storage o = _organisation(organisation);
        address by = _requireAdminFor(organisation);
        _requireLicensed(organisation);
        _takeSeat(organisation, PRACTITIONER_SEAT, o.limits.practitioners, o.used.practitioners);
        ++o.used.practitioners;
        emit PractitionerJoined(organisation, practitioner, by);
        // The core refuses anything but a pending practitioner (NotAProfessional,
        // InvalidStatusChange), which reverts the seat taken above with it.
        _core.assignPractitioner(practitioner, organisation, by);
    }

    function _releasePractitioner(address practitioner) internal {
        uint32 organisation = _core.practitionerOrganisation(practitioner);
        // organisation 0 is refused here (no admin of 0) unless the caller is a platform admin,
        // and then by the core (NotInAnOrganisation).
        address by = _requireAdminFor(organisation);
        if (organisation != 0) --_organisations[organisation].used.practitioners;
        emit PractitionerReleased(organisation, practitioner, by);
        _core.releasePractitioner(practitioner);
    }

    function _enrolPatient(uint32 organisation, address patient) internal {
        _organisation(organisation);
        address by = _requireAdminFor(organisation);
        _requireLicensed(organisation);
        if (_core.accountOf(patient).kind != MedLedger.AccountKind.Patient) revert IMedLedger.NotAPatient(patient);
        Enrolment e = _enrolments[organisation][patient];
        if (e != Enrolment.None) revert InvalidEnrolment(organisation, patient, e);
        _enrolments[organisation][patient] = Enrolment.Offered;
        emit EnrolmentOffered(organisation, patient, by);
    }

    // ---------------------------------------------------------------- patients

    function _acceptEnrolment(uint32 organisation) internal {
        Organisation storage o = _organisation(organisation);
        address patient = _caller();
        Enrolment e = _enrolments[organisation][patient];
        if (e != Enrolment.Offered) revert InvalidEnrolment(organisation, patient, e);
        _requireLicensed(organisation);
        _takeSeat(organisation, PATIENT_SEAT, o.limits.patients, o.used.patients);
        ++o.used.patients;
        _enrolments[organisation][patient] = Enrolment.Enrolled;
        emit PatientEnrolled(organisation, patient);
    }

    function _endEnrolment(uint32 organisation, address patient) internal {
        Organisation storage o = _organisation(organisation);
        address caller = _caller();
        if (caller != patient) _requireAdminFor(organisation);
        Enrolment e = _enrolments[organisation][patient];
        if (e == Enrolment.None) revert InvalidEnrolment(organisation, patient, e);
        if (e == Enrolment.Enrolled) --o.used.patients;
        delete _enrolments[organisation][patient];
        emit EnrolmentEnded(organisation, patient, caller);
    }

    // ---------------------------------------------------------------- helpers

    /// @dev The caller's identity, as the core resolves its wallet (a recovery may have moved an
    /// identity to a new wallet, docs/contract.md "Recovery"): organisations, admins and
    /// enrolments are the identity's. Refused with WalletRetired for a wallet a recovery retired.
    /// Fees still go to the calling wallet (withdrawFees), which is what signed.
    function _caller() internal view returns (address identity) {
        identity = _core.identityOf(msg.sender);
        if (identity == address(0)) revert WalletRetired(msg.sender);
    }

    function _isPlatformAdmin(address account) internal view returns (bool) {
        return _core.hasRole(PLATFORM_ADMIN, account);
    }

    /// @dev The caller's identity, which must be a platform admin.
    function _requirePlatformAdmin() private view returns (address caller) {
        caller = _caller();
        if (!_isPlatformAdmin(caller)) revert NotPlatformAdmin(caller);
    }

    /// @dev The caller must be a platform admin, or an admin of `organisation` (never of 0).
    /// Returns the caller's identity.
    function _requireAdminFor(uint32 organisation) private view returns (address caller) {
        caller = _caller();
        if (organisation != 0 && _adminOf[caller] == organisation) return caller;
        if (!_isPlatformAdmin(caller)) revert NotOrganisationAdmin(organisation, caller);
    }

    /// @dev The organisation, which must exist.
    function _organisation(uint32 organisation) private view returns (Organisation storage o) {
        if (organisation == 0 || organisation > _organisationCount) revert UnknownOrganisation(organisation);
        o = _organisations[organisation];
    }

    /// @dev The terms of an organisation that exists and is not Terminated.
    function _liveTerms(uint32 organisation) private view returns (MedLedger.LicenceTerms memory) {
        _organisation(organisation);
        MedLedger.LicenceStatus status = _core.licenceStatus(organisation);
        if (status == MedLedger.LicenceStatus.Terminated) revert InvalidLicenceStatus(organisation, uint8(status));
        return _core.licenceTermsOf(organisation);
    }

    function _addAdmin(uint32 organisation, Organisation storage o, address account, address by) private {
        if (account == address(0) || _adminOf[account] != 0) revert InvalidOrganisationAdmin(account);
        _takeSeat(organisation, ADMIN_SEAT, o.limits.admins, o.used.admins);
        ++o.used.admins;
        _adminOf[account] = organisation;
        emit OrganisationAdminAdded(organisation, account, by);
    }

    /// @dev Admins are identities: a wallet a recovery moved an identity to names that identity
    /// (the caller's identity is what _requireAdminFor compares). Any other address is taken as
    /// given (an identity, including one whose first wallet was retired, or an unregistered one).
    function _identityNamed(address account) private view returns (address) {
        address identity = _core.identityOf(account);
        return identity != address(0) ? identity : account;
    }

    function _takeSeat(uint32 organisation, uint8 role, uint32 limit, uint32 used) private pure {
        if (used >= limit) revert NoSeatLeft(organisation, role, limit);
    }

    function _requireLicensed(uint32 organisation) private view {
        MedLedger.LicenceStatus status = _core.licenceStatus(organisation);
        if (status != MedLedger.LicenceStatus.Active && status != MedLedger.LicenceStatus.UnderNotice) {
            revert InvalidLicenceStatus(organisation, uint8(status));
        }
    }
}
