// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedger} from "./IMedLedger.sol";

/// @title IMedLedgerLicensing
/// @notice Licensing for medledger, a contract of its own (MedLedgerLicensing) deployed beside the
/// core with the core's address: organisations (hospitals, clinics) with their own admins, seat
/// limits per role, an annual subscription (paid on chain or recorded), notice, termination and
/// reinstatement; delegated verification of an organisation's practitioners; patients'
/// enrolment; the subscription fees. docs/licensing.md gives the model and the rules in order.
/// @dev The licence's terms (subscription end, notice) and each practitioner's organisation live
/// in the core, which this contract alone writes (IMedLedger.setLicenceTerms, assignPractitioner,
/// releasePractitioner), because canRead and canWrite read them; the core's licenceStatus says
/// what they mean now. Everything else lives here. Who may call what:
/// - the platform admin (the core's ADMIN_ROLE): create organisations, set seats and fees, record
///   renewals, give notice, terminate, reinstate, withdraw fees, and all an organisation admin may;
/// - an organisation's admin: that organisation's admins, practitioners and patients' enrolment,
///   nothing of another organisation's;
/// - anyone: pay a renewal at the organisation's fee;
/// - a patient: accept or end their own enrolment.
/// A practitioner verified for an organisation reads, writes and opens emergency access only
/// while its licence is Active or UnderNotice. A practitioner verified by the platform admin
/// (IMedLedger.verifyAccount) belongs to no organisation, and insurers never do: no hospital's
/// licence bears on them. A patient's access to their own records depends on no licence.
interface IMedLedgerLicensing {
    // ================================================================ types

    /// @notice A patient's enrolment with an organisation: offered by its admin, accepted by the
    /// patient (taking a patient seat). It gives the organisation no access: only grants do.
    enum Enrolment {
        None,
        Offered,
        Enrolled
    }

    /// @notice Seats per role: limits, or seats in use.
    struct Seats {
        uint32 admins;
        uint32 practitioners;
        uint32 patients;
    }

    /// @notice What this contract keeps of an organisation (its licence terms are the core's, its
    /// name is in OrganisationCreated).
    /// @param annualFee wei for one year's renewal on chain; 0: renewals are recorded by the
    /// platform admin
    struct Organisation {
        uint256 annualFee;
        Seats limits;
        Seats used;
    }

    // ================================================================ errors

    /// @notice The constructor's core address holds no code.
    /// @param coreAddress the address given
    error InvalidCore(address coreAddress);

    /// @notice The caller's wallet was retired by a recovery that moved its identity to another
    /// wallet (as the core's WalletRetired): it can do nothing more here either.
    /// @param wallet the caller's wallet
    error WalletRetired(address wallet);

    /// @notice The caller is not a platform admin (the core's ADMIN_ROLE).
    /// @param caller the caller
    error NotPlatformAdmin(address caller);

    /// @notice An organisation id that was never created (ids start at 1).
    /// @param organisation the id given
    error UnknownOrganisation(uint32 organisation);

    /// @notice The caller is neither the platform admin nor an admin of the organisation.
    /// @param organisation the organisation acted on
    /// @param caller the caller
    error NotOrganisationAdmin(uint32 organisation, address caller);

    /// @notice An organisation name that is empty or longer than MAX_ORGANISATION_NAME bytes.
    error InvalidOrganisationName();

    /// @notice createOrganisation or setSeats with no admin seat, or with a limit below the seats
    /// already in use.
    error InvalidSeats();

    /// @notice Every seat of the role is taken.
    /// @param organisation the organisation
    /// @param role 0 admins, 1 practitioners, 2 patients
    /// @param limit the organisation's limit for that role
    error NoSeatLeft(uint32 organisation, uint8 role, uint32 limit);

    /// @notice The account administers an organisation already (an account administers at most
    /// one), or the zero address.
    /// @param account the account named
    error InvalidOrganisationAdmin(address account);

    /// @notice removeOrganisationAdmin of an account that is not an admin of this organisation.
    /// @param organisation the organisation
    /// @param account the account named
    error NotAnAdminOf(uint32 organisation, address account);

    /// @notice A paid-until date that is not later than now (createOrganisation, recordRenewal)
    /// or than the current one (recordRenewal), or so far ahead that a paid renewal could not add
    /// a period to it (past 2^64 - 1 - SUBSCRIPTION_PERIOD).
    /// @param paidUntil the date given
    error InvalidPaidUntil(uint64 paidUntil);

    /// @notice renewSubscription of an organisation whose fee is zero: its renewals are recorded
    /// by the platform admin (recordRenewal), not paid on chain.
    /// @param organisation the organisation
    error RenewalNotPayable(uint32 organisation);

    /// @notice renewSubscription with other than exactly the annual fee.
    /// @param expected the fee
    /// @param sent msg.value
    error WrongPayment(uint256 expected, uint256 sent);

    /// @notice The organisation's licence does not allow the call: verifying a practitioner or
    /// enrolling a patient needs Active or UnderNotice; renewing, giving notice and terminating
    /// need a licence that is not Terminated; reinstating needs notice given or a termination.
    /// @param organisation the organisation
    /// @param status its licence status now, a MedLedger.LicenceStatus (declared as its uint8 so
    /// that this ABI names no type of the core's, as the insurance contract's names none)
    error InvalidLicenceStatus(uint32 organisation, uint8 status);

    /// @notice giveNotice with a date that is not in the future.
    /// @param terminatesAt the date given
    error InvalidNoticeDate(uint64 terminatesAt);

    /// @notice An enrolment step from the wrong state: enrolPatient when offered or enrolled
    /// already, acceptEnrolment without an offer, endEnrolment with neither.
    /// @param organisation the organisation
    /// @param patient the patient
    /// @param enrolment the current state
    error InvalidEnrolment(uint32 organisation, address patient, Enrolment enrolment);

    /// @notice withdrawFees of zero, or of more than the fees held.
    /// @param held the fees held
    /// @param requested the amount asked for
    error InvalidFeeWithdrawal(uint256 held, uint256 requested);

    /// @notice The payee refused the ether of a fee withdrawal.
    error FeeTransferFailed();

    // ================================================================ events

    /// @notice The platform admin created an organisation.
    /// @param organisation its id
    /// @param name its public name
    /// @param admin its first admin
    /// @param paidUntil the subscription's end
    /// @param annualFee the renewal price in wei (0: renewals are recorded, not paid on chain)
    event OrganisationCreated(
        uint32 indexed organisation, string name, address indexed admin, uint64 paidUntil, uint256 annualFee
    );

    /// @notice The platform admin set an organisation's seat limits.
    event SeatsChanged(uint32 indexed organisation, Seats limits);

    /// @notice The platform admin set an organisation's annual fee (wei).
    event AnnualFeeChanged(uint32 indexed organisation, uint256 annualFee);

    /// @notice The subscription was renewed: paid on chain (amount > 0, by `by`) or recorded by the
    /// platform admin (amount 0).
    /// @param paidUntil the new end
    event SubscriptionRenewed(uint32 indexed organisation, uint64 paidUntil, address indexed by, uint256 amount);

    /// @notice The platform admin gave notice: the licence ends at terminatesAt unless reinstated.
    event LicenceNoticeGiven(uint32 indexed organisation, uint64 terminatesAt);

    /// @notice The platform admin terminated the licence at once (terminatesAt is this block's time).
    event LicenceTerminated(uint32 indexed organisation, uint64 terminatesAt);

    /// @notice The platform admin withdrew a notice or undid a termination.
    event LicenceReinstated(uint32 indexed organisation);

    /// @notice An account became an admin of the organisation.
    event OrganisationAdminAdded(uint32 indexed organisation, address indexed account, address indexed by);

    /// @notice An account stopped being an admin of the organisation.
    event OrganisationAdminRemoved(uint32 indexed organisation, address indexed account, address indexed by);

    /// @notice A practitioner took a practitioner seat of the organisation (verifyPractitioner).
    event PractitionerJoined(uint32 indexed organisation, address indexed practitioner, address indexed by);

    /// @notice A practitioner left the organisation's seat and is Pending again.
    event PractitionerReleased(uint32 indexed organisation, address indexed practitioner, address indexed by);

    /// @notice An organisation admin offered a patient enrolment.
    event EnrolmentOffered(uint32 indexed organisation, address indexed patient, address indexed by);

    /// @notice The patient accepted: the enrolment takes a patient seat.
    event PatientEnrolled(uint32 indexed organisation, address indexed patient);

    /// @notice The patient or an organisation admin ended an enrolment or an offer.
    event EnrolmentEnded(uint32 indexed organisation, address indexed patient, address indexed by);

    /// @notice The platform admin withdrew subscription fees (paid to the caller).
    event FeesWithdrawn(address indexed to, uint256 amount);

    // ================================================================ setup

    /// @notice The core whose licence terms and practitioners this contract writes.
    function core() external view returns (IMedLedger);

    // ================================================================ constants

    /// @notice What one paid renewal adds: 365 days.
    // slither-disable-next-line naming-convention
    function SUBSCRIPTION_PERIOD() external view returns (uint64);

    /// @notice The longest organisation name, in bytes.
    // slither-disable-next-line naming-convention
    function MAX_ORGANISATION_NAME() external view returns (uint256);

    // ================================================================ the platform admin

    /// @notice Create an organisation with its first admin (who takes an admin seat). Refused with
    /// InvalidOrganisationName, InvalidSeats (no admin seat), InvalidOrganisationAdmin,
    /// InvalidPaidUntil (not in the future).
    /// @return organisation the new id (1, 2, …)
    function createOrganisation(
        string calldata name,
        address admin,
        Seats calldata limits,
        uint64 paidUntil,
        uint256 annualFee
    ) external returns (uint32 organisation);

    /// @notice Set the seat limits. Refused with InvalidSeats below the seats in use or with no
    /// admin seat.
    function setSeats(uint32 organisation, Seats calldata limits) external;

    /// @notice Set the annual fee in wei (0: renewals only by recordRenewal).
    function setAnnualFee(uint32 organisation, uint256 annualFee) external;

    /// @notice Record a renewal paid off chain: the subscription runs to paidUntil. Refused with
    /// InvalidPaidUntil unless later than the current end and than now, InvalidLicenceStatus when
    /// Terminated.
    function recordRenewal(uint32 organisation, uint64 paidUntil) external;

    /// @notice Give notice: the licence is UnderNotice until terminatesAt, Terminated from then
    /// (a later notice moves the date). Refused with InvalidNoticeDate, InvalidLicenceStatus when
    /// Terminated already.
    function giveNotice(uint32 organisation, uint64 terminatesAt) external;

    /// @notice Terminate the licence now: from this block its practitioners read and write nothing.
    /// Refused with InvalidLicenceStatus when Terminated already.
    function terminateLicence(uint32 organisation) external;

    /// @notice Withdraw a notice or undo a termination. The subscription's end is untouched: a
    /// licence whose subscription ended meanwhile is Lapsed until renewed.
    function reinstateLicence(uint32 organisation) external;

    /// @notice Withdraw `amount` of the subscription fees held, paid to the caller.
    function withdrawFees(uint256 amount) external;

    // ================================================================ anyone

    /// @notice Pay one year of the organisation's subscription: exactly its annual fee. The
    /// subscription runs SUBSCRIPTION_PERIOD past its current end, or past now if it had ended.
    /// Refused with RenewalNotPayable, WrongPayment, InvalidLicenceStatus when Terminated.
    function renewSubscription(uint32 organisation) external payable;

    // ================================================================ an organisation's admins

    /// @notice Add an admin, within the admin seats. The platform admin or this organisation's admin.
    function addOrganisationAdmin(uint32 organisation, address account) external;

    /// @notice Remove an admin (frees the seat). The platform admin or this organisation's admin.
    function removeOrganisationAdmin(uint32 organisation, address account) external;

    /// @notice Verify a pending practitioner for the organisation, within its practitioner seats,
    /// while its licence is Active or UnderNotice. The platform admin or this organisation's
    /// admin. The practitioner becomes Active (AccountVerified) and the organisation's
    /// (PractitionerJoined). Refused with NotAProfessional for an insurer (insurers belong to no
    /// organisation) and InvalidStatusChange unless Pending.
    function verifyPractitioner(uint32 organisation, address practitioner) external;

    /// @notice Release a practitioner's seat: the practitioner belongs to no organisation and is
    /// Pending again (verified by no one), or stays Suspended if suspended (then only a platform
    /// admin can lift it). The platform admin or the practitioner's
    /// organisation's admin. Refused by the core with NotInAnOrganisation.
    function releasePractitioner(address practitioner) external;

    /// @notice Offer a registered patient enrolment, while the licence is Active or UnderNotice.
    /// Gives the organisation no access to anything: only the patient's grants do.
    function enrolPatient(uint32 organisation, address patient) external;

    // ================================================================ patients

    /// @notice The caller (a patient) accepts an offered enrolment, taking a patient seat, while
    /// the licence is Active or UnderNotice.
    function acceptEnrolment(uint32 organisation) external;

    /// @notice End an enrolment or an offer (freeing the seat of an enrolment). The patient, or the
    /// platform admin or an admin of the organisation.
    function endEnrolment(uint32 organisation, address patient) external;

    // ================================================================ views

    /// @notice How many organisations exist (their ids are 1..organisationCount).
    function organisationCount() external view returns (uint32);

    /// @notice An organisation's fee, seat limits and seats used (its licence terms and status
    /// are the core's: licenceTermsOf, licenceStatus; its name is in OrganisationCreated).
    function organisationOf(uint32 organisation) external view returns (Organisation memory);

    /// @notice The organisation an account administers, 0 for none.
    function adminOrganisation(address account) external view returns (uint32);

    /// @notice A patient's enrolment with an organisation.
    function enrolmentOf(uint32 organisation, address patient) external view returns (Enrolment);

    /// @notice The subscription fees received and not yet withdrawn, in wei.
    function feesHeld() external view returns (uint256);
}
