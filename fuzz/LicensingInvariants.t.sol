// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test, console2} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {IMedLedgerLicensing} from "../contracts/interfaces/IMedLedgerLicensing.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerForwarder} from "../contracts/MedLedgerForwarder.sol";
import {MedLedgerLicensing} from "../contracts/MedLedgerLicensing.sol";
import {LicensingHandler} from "./LicensingHandler.sol";

/// @notice Invariants of licensing (MedLedgerLicensing beside its core MedLedger, deployed and
/// named as the migration does) under random sequences of organisation, seat, fee, renewal,
/// notice, termination, reinstatement, admin, verification, release, suspension, enrolment,
/// consent, record, emergency and time actions (LicensingHandler): seats in use never exceed the
/// limits and are exactly the admins, practitioners and enrolled patients the organisation has;
/// no practitioner of a Terminated or Lapsed organisation reads, writes or counts as verified,
/// while one of a licensed organisation reads what its grant covers; every fee received is
/// either withdrawn or held, and held as ether; and the contracts agree with the handler's
/// independent model on every call's outcome (success or exact refusal) and on the state.
contract LicensingInvariants is StdInvariant, Test {
    MedLedger internal m;
    MedLedgerLicensing internal lic;
    LicensingHandler internal h;
    address internal admin = makeAddr("admin");
    address internal escrow = makeAddr("escrow");
    address internal stranger = makeAddr("stranger");

    address[] internal practitioners;
    address[] internal patients;
    address[] internal orgAdmins;
    /// Every account the handler uses: whoever is not in orgAdmins must administer nothing.
    address[] internal everyone;
    /// Practitioners, then the insurer: every professional reader.
    address[] internal readers;
    address internal insurer;

    uint256 internal constant T0 = 1_700_000_000;

    function setUp() public {
        vm.warp(T0);
        m = new MedLedger(admin, escrow, address(new MedLedgerForwarder()));
        lic = new MedLedgerLicensing(address(m));
        vm.prank(admin);
        m.setLicensing(address(lic));
        h = new LicensingHandler(m, lic, admin, stranger, T0);
        h.bootstrap();

        address[6] memory pr = h.practitionerList();
        address[6] memory ad = h.adminList();
        address[3] memory pa = h.patientList();
        for (uint256 i; i < pr.length; ++i) practitioners.push(pr[i]);
        for (uint256 i; i < ad.length; ++i) orgAdmins.push(ad[i]);
        for (uint256 i; i < pa.length; ++i) patients.push(pa[i]);
        insurer = h.insurer();
        readers = practitioners;
        readers.push(insurer);
        everyone = readers;
        for (uint256 i; i < ad.length - 1; ++i) everyone.push(ad[i]); // ad[5] is practitioner 0
        for (uint256 i; i < pa.length; ++i) everyone.push(pa[i]);
        everyone.push(admin);
        everyone.push(escrow);
        everyone.push(stranger);

        require(m.licensing() == address(lic) && address(lic.core()) == address(m), "setup: wiring");
        require(lic.organisationCount() == 2, "setup: organisations");
        require(m.practitionerOrganisation(pr[1]) == 1 && m.practitionerOrganisation(pr[3]) == 2, "setup: practitioners");
        require(m.canRead(pa[0], pr[1], h.recordAt(0).id), "setup: a licensed practitioner reads");
        require(lic.SUBSCRIPTION_PERIOD() == h.PERIOD(), "setup: subscription period");
        for (uint256 p; p < 3; ++p) require(_writeCategory(p) == h.writeCategory(p), "setup: write categories");
        require(m.emergencyWindow() == h.EMERGENCY_WINDOW(), "setup: emergency window");

        targetContract(address(h));
        // The licence's life (renewals, notice, termination, time) and verification weigh most:
        // they are what reading depends on.
        bytes4[] memory selectors = new bytes4[](30);
        selectors[0] = h.createOrganisation.selector;
        selectors[1] = h.setSeats.selector;
        selectors[2] = h.setAnnualFee.selector;
        selectors[3] = h.renewSubscription.selector;
        selectors[4] = h.renewSubscription.selector;
        selectors[5] = h.recordRenewal.selector;
        selectors[6] = h.giveNotice.selector;
        selectors[7] = h.terminateLicence.selector;
        selectors[8] = h.reinstateLicence.selector;
        selectors[9] = h.withdrawFees.selector;
        selectors[10] = h.addOrganisationAdmin.selector;
        selectors[11] = h.removeOrganisationAdmin.selector;
        selectors[12] = h.verifyPractitioner.selector;
        selectors[13] = h.verifyPractitioner.selector;
        selectors[14] = h.verifyForNoOrganisation.selector;
        selectors[15] = h.releasePractitioner.selector;
        selectors[16] = h.suspendPractitioner.selector;
        selectors[17] = h.reinstatePractitioner.selector;
        selectors[18] = h.enrolPatient.selector;
        selectors[19] = h.acceptEnrolment.selector;
        selectors[20] = h.endEnrolment.selector;
        selectors[21] = h.grant.selector;
        selectors[22] = h.revoke.selector;
        selectors[23] = h.patientAddsRecord.selector;
        selectors[24] = h.practitionerAddsRecord.selector;
        selectors[25] = h.emergencyAccess.selector;
        selectors[26] = h.warp.selector;
        selectors[27] = h.warp.selector;
        selectors[28] = h.warp.selector;
        selectors[29] = h.giveNotice.selector;
        targetSelector(FuzzSelector({addr: address(h), selectors: selectors}));
    }

    // ------------------------------------------------------------ the model agrees

    /// Every call succeeded or was refused (with the exact error) as the model predicted, and
    /// both contracts agree with the model on organisations, licence terms and status, admins,
    /// practitioners' organisations and statuses, and enrolments.
    function invariant_licensingFollowsModel() public {
        vm.warp(h.gNow());
        if (h.mismatches() != 0) assertEq(h.mismatches(), 0, h.firstMismatch());
        uint32 n = h.gOrgCount();
        _eq(lic.organisationCount(), n, "organisation count");
        for (uint32 org = 1; org <= n; ++org) {
            LicensingHandler.OrgG memory g = h.orgOfModel(org);
            IMedLedgerLicensing.Organisation memory o = lic.organisationOf(org);
            MedLedger.LicenceTerms memory t = m.licenceTermsOf(org);
            _eq(o.annualFee, g.fee, "annual fee");
            _eq(o.limits.admins, g.limits.admins, "admin seats");
            _eq(o.limits.practitioners, g.limits.practitioners, "practitioner seats");
            _eq(o.limits.patients, g.limits.patients, "patient seats");
            _eq(t.paidUntil, g.paidUntil, "paid until");
            _eq(t.terminatesAt, g.terminatesAt, "terminates at");
            _eq(uint8(m.licenceStatus(org)), uint8(h.modelStatus(org)), "licence status");
            for (uint256 i; i < patients.length; ++i) {
                _eq(uint8(lic.enrolmentOf(org, patients[i])), uint8(h.gEnrol(org, patients[i])), "enrolment");
            }
        }
        _eq(uint8(m.licenceStatus(n + 1)), uint8(MedLedger.LicenceStatus.None), "status of an unknown organisation");
        (uint32[] memory adminOf, uint32[] memory orgOf, MedLedger.AccountStatus[] memory status) =
            h.modelAccounts(everyone);
        for (uint256 i; i < everyone.length; ++i) {
            address a = everyone[i];
            _eq(lic.adminOrganisation(a), adminOf[i], "admin organisation");
            if (i < readers.length) {
                // Only professionals can belong to an organisation or change status.
                _eq(m.practitionerOrganisation(a), orgOf[i], "practitioner organisation");
                _eq(uint8(m.accountOf(a).status), uint8(status[i]), "account status");
            }
        }
    }

    // ------------------------------------------------------------ 1. seats

    /// For every organisation and role, the seats in use never exceed the limit, and are exactly:
    /// the accounts whose adminOrganisation is the organisation, the practitioners whose
    /// core.practitionerOrganisation is the organisation, the patients Enrolled with it. A
    /// practitioner belongs to an existing organisation, and only while verified (Active or
    /// Suspended): releasing makes it organisation-less and, unless suspended, Pending together.
    function invariant_seatsWithinLimits() public view {
        uint32 n = lic.organisationCount();
        uint32[] memory admins = new uint32[](n + 1);
        uint32[] memory practitionersIn = new uint32[](n + 1);
        for (uint256 i; i < everyone.length; ++i) {
            address a = everyone[i];
            uint32 adminOf = lic.adminOrganisation(a);
            _le(adminOf, n, "admin of an unknown organisation");
            admins[adminOf]++;
            // everyone starts with the readers, the only accounts that could belong to an
            // organisation (the core assigns practitioners alone).
            if (i >= readers.length) continue;
            uint32 org = m.practitionerOrganisation(a);
            _le(org, n, "practitioner of an unknown organisation");
            practitionersIn[org]++;
            if (org == 0) continue;
            MedLedger.Account memory acc = m.accountOf(a);
            _eq(uint8(acc.kind), uint8(MedLedger.AccountKind.Practitioner), "a non-practitioner in an organisation");
            _true(acc.status != MedLedger.AccountStatus.Pending, "a pending practitioner in an organisation");
        }
        for (uint32 org = 1; org <= n; ++org) {
            IMedLedgerLicensing.Organisation memory o = lic.organisationOf(org);
            _le(o.used.admins, o.limits.admins, "admin seats above the limit");
            _le(o.used.practitioners, o.limits.practitioners, "practitioner seats above the limit");
            _le(o.used.patients, o.limits.patients, "patient seats above the limit");
            _le(1, o.limits.admins, "no admin seat");
            uint32 enrolled;
            for (uint256 i; i < patients.length; ++i) {
                if (lic.enrolmentOf(org, patients[i]) == IMedLedgerLicensing.Enrolment.Enrolled) enrolled++;
            }
            _eq(o.used.admins, admins[org], "used admin seats != accounts administering the organisation");
            _eq(o.used.practitioners, practitionersIn[org], "used practitioner seats != the organisation's practitioners");
            _eq(o.used.patients, enrolled, "used patient seats != enrolled patients");
            // And the model counts the same (the ghost-tracked side of each count).
            IMedLedgerLicensing.Seats memory u = h.modelUsed(org);
            _eq(o.used.admins, u.admins, "admin seats != model");
            _eq(o.used.practitioners, u.practitioners, "practitioner seats != model");
            _eq(o.used.patients, u.patients, "patient seats != model");
        }
    }

    // ------------------------------------------------------------ 2. reading and writing

    /// For every practitioner whose organisation's licence is Terminated or Lapsed: canRead is
    /// false for every record the handler created (every patient granted every practitioner, and
    /// some opened emergency windows), canWrite false, isVerifiedPractitioner false. For an
    /// Active (not suspended) practitioner of an Active or UnderNotice organisation, or of none,
    /// canRead is true wherever its unexpired grant covers the record's category. And for every
    /// professional reader and record, canRead (asked through canReadMany, one call per patient),
    /// canWrite and isVerifiedPractitioner equal the model's answer; each patient reads its own
    /// records whatever the licences.
    function invariant_unlicensedPractitionersCannotRead() public {
        vm.warp(h.gNow());
        for (uint256 i; i < readers.length; ++i) {
            address q = readers[i];
            uint32 org = m.practitionerOrganisation(q);
            MedLedger.LicenceStatus status = m.licenceStatus(org);
            bool unlicensed =
                org != 0 && (status == MedLedger.LicenceStatus.Terminated || status == MedLedger.LicenceStatus.Lapsed);
            bool verified = m.isVerifiedPractitioner(q);
            if (unlicensed) _false(verified, "practitioner of an unlicensed organisation verified");
            if (q != insurer) _eq(verified, h.modelVerified(q), "isVerifiedPractitioner != model");
            _checkAccess(q, unlicensed);
        }
        for (uint256 p; p < patients.length; ++p) {
            bool[] memory own = m.canReadMany(patients[p], patients[p], h.recordIdsOfPatient(patients[p]));
            for (uint256 r; r < own.length; ++r) {
                _true(own[r], "a patient cannot read its own record");
            }
        }
    }

    /// LicensingHandler.writeCategory, without a call (setUp checks they agree).
    function _writeCategory(uint256 p) internal pure returns (uint8) {
        return p == 0 ? 0 : p == 1 ? 3 : 7;
    }

    /// One reader's access to every patient's records against the model.
    function _checkAccess(address q, bool unlicensed) internal view {
        (LicensingHandler.Access[3] memory access, bool active) = h.expectedAccess(q);
        for (uint256 p; p < 3; ++p) {
            address patient = patients[p];
            LicensingHandler.Access memory a = access[p];
            bool[] memory got = m.canReadMany(patient, q, a.ids);
            for (uint256 r; r < got.length; ++r) {
                if (unlicensed) {
                    _false(got[r], "practitioner of a terminated or lapsed organisation reads");
                    _false(m.canRead(patient, q, a.ids[r]), "practitioner of a terminated or lapsed organisation reads");
                }
                if (!unlicensed && active && a.granted[r]) {
                    _true(got[r], "licensed, active practitioner with a grant cannot read");
                }
                _eq(got[r], a.reads[r], "canRead != model");
            }
            bool w = m.canWrite(patient, q, _writeCategory(p));
            if (unlicensed) _false(w, "practitioner of a terminated or lapsed organisation writes");
            _eq(w, a.write, "canWrite != model");
        }
    }

    // ------------------------------------------------------------ 3. fees

    /// Every wei renewSubscription received is withdrawn or held: received == withdrawn +
    /// feesHeld, and the licensing contract's balance is exactly feesHeld; the core holds nothing.
    function invariant_feesConserved() public view {
        uint256 held = lic.feesHeld();
        _eq(h.gReceived(), h.gWithdrawn() + held, "fees received != withdrawn + held");
        _eq(address(lic).balance, held, "licensing balance != fees held");
        _eq(address(m).balance, 0, "the core holds ether");
    }

    // ------------------------------------------------------------ checks

    // The invariants run after every call: these assert (a cheatcode call, which is what costs)
    // only when the check fails, so that the suite stays within its time budget.

    function _eq(uint256 a, uint256 b, string memory why) internal pure {
        if (a != b) assertEq(a, b, why);
    }

    function _eq(bool a, bool b, string memory why) internal pure {
        if (a != b) assertEq(a, b, why);
    }

    function _le(uint256 a, uint256 b, string memory why) internal pure {
        if (a > b) assertLe(a, b, why);
    }

    function _true(bool c, string memory why) internal pure {
        if (!c) assertTrue(c, why);
    }

    function _false(bool c, string memory why) internal pure {
        if (c) assertFalse(c, why);
    }

    /// How often each action ran and succeeded in the last run, how the organisations ended and
    /// which refusals were seen (shown with -vv).
    function afterInvariant() public {
        vm.warp(h.gNow());
        uint256 n = h.actionCount();
        for (uint256 i; i < n; ++i) {
            string memory name = h.actionName(i);
            console2.log(string.concat(name, ": ", vm.toString(h.okCalls(name)), "/", vm.toString(h.allCalls(name))));
        }
        string memory statuses = "licence statuses:";
        for (uint32 org = 1; org <= lic.organisationCount(); ++org) {
            statuses = string.concat(statuses, " ", vm.toString(uint256(m.licenceStatus(org))));
        }
        console2.log(string.concat(statuses, " (1 Active, 2 UnderNotice, 3 Lapsed, 4 Terminated)"));
        uint256 blocked;
        uint256 readable;
        for (uint256 i; i < readers.length; ++i) {
            uint32 org = m.practitionerOrganisation(readers[i]);
            for (uint256 r; r < h.recordCount(); ++r) {
                LicensingHandler.RecordG memory rec = h.recordAt(r);
                if (m.canRead(rec.patient, readers[i], rec.id)) readable++;
                else if (org != 0 && m.accountOf(readers[i]).status == MedLedger.AccountStatus.Active && !h.modelLicensed(org)) blocked++;
            }
        }
        console2.log(
            string.concat(
                "at the end: reader-record pairs readable ",
                vm.toString(readable),
                ", refused for the licence alone ",
                vm.toString(blocked),
                "; fees received ",
                vm.toString(h.gReceived()),
                ", withdrawn ",
                vm.toString(h.gWithdrawn())
            )
        );
        console2.log(
            string.concat(
                "refusals: no seat left ",
                vm.toString(h.refusals(IMedLedgerLicensing.NoSeatLeft.selector)),
                ", invalid licence status ",
                vm.toString(h.refusals(IMedLedgerLicensing.InvalidLicenceStatus.selector)),
                ", not organisation admin ",
                vm.toString(h.refusals(IMedLedgerLicensing.NotOrganisationAdmin.selector)),
                ", invalid seats ",
                vm.toString(h.refusals(IMedLedgerLicensing.InvalidSeats.selector)),
                ", invalid enrolment ",
                vm.toString(h.refusals(IMedLedgerLicensing.InvalidEnrolment.selector)),
                "; practitioner writes while Active ",
                vm.toString(h.practitionerWritesByStatus(1)),
                ", UnderNotice ",
                vm.toString(h.practitionerWritesByStatus(2))
            )
        );
    }
}
