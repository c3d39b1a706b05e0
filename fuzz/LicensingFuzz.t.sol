// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IMedLedger} from "../contracts/interfaces/IMedLedger.sol";
import {IMedLedgerLicensing} from "../contracts/interfaces/IMedLedgerLicensing.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerForwarder} from "../contracts/MedLedgerForwarder.sol";
import {MedLedgerLicensing} from "../contracts/MedLedgerLicensing.sol";

/// @notice Property tests of licensing over fuzzed times, fees and seats: a paid renewal's new
/// end; the licence status at any moment (exclusive boundaries, Terminated over Lapsed over
/// UnderNotice) and what it lets a practitioner do; seat limits; only the licensing contract
/// writes the core's licence terms and practitioners. Deployed as the migration does: the core,
/// MedLedgerLicensing with the core's address, then core.setLicensing by the admin.
contract LicensingFuzzTest is Test {
    MedLedger internal m;
    MedLedgerLicensing internal lic;
    address internal admin = makeAddr("admin");
    address internal escrow = makeAddr("escrow");
    address internal orgAdmin = makeAddr("orgAdmin");
    address internal patient = makeAddr("patient");
    /// Pending practitioners, for the seats test.
    address[6] internal pending;
    /// Verified for organisation 1 (q) and by the platform admin for none (free).
    address internal q = makeAddr("q");
    address internal free = makeAddr("free");
    bytes32 internal record = keccak256("record");

    uint256 internal constant T0 = 1_700_000_000;
    uint64 internal constant YEAR = 365 days;

    function setUp() public {
        vm.warp(T0);
        m = new MedLedger(admin, escrow, address(new MedLedgerForwarder()));
        lic = new MedLedgerLicensing(address(m));
        vm.prank(admin);
        m.setLicensing(address(lic));
        vm.prank(patient);
        m.registerPatient(keccak256("patient key"));
        _apply(q);
        _apply(free);
        for (uint256 i; i < pending.length; ++i) {
            pending[i] = makeAddr(string.concat("pending", vm.toString(i)));
            _apply(pending[i]);
        }
        vm.prank(admin);
        m.verifyAccount(free);
        vm.startPrank(patient);
        m.grant(q, type(uint256).max, true, type(uint64).max);
        m.grant(free, type(uint256).max, true, type(uint64).max);
        m.setEmergencyOptIn(true);
        m.addRecord(record, patient, keccak256("ciphertext"), 2, bytes32(0));
        vm.stopPrank();
    }

    function _apply(address a) internal {
        vm.prank(a);
        m.applyAsPractitioner(keccak256(abi.encode(a)), bytes32(uint256(1)));
    }

    function _create(uint64 paidUntil, uint256 fee, IMedLedgerLicensing.Seats memory limits) internal returns (uint32 org) {
        vm.prank(admin);
        org = lic.createOrganisation("Clinic", orgAdmin, limits, paidUntil, fee);
    }

    // ------------------------------------------------------------ renewal

    /// A paid renewal runs the subscription SUBSCRIPTION_PERIOD past max(its end, now), keeps any
    /// notice date, takes exactly the fee into feesHeld; a second one adds another period to the
    /// first's end. Refused as InvalidLicenceStatus once Terminated (notice date come), changing
    /// nothing.
    function testFuzz_renewExtendsFromTheLaterOfEndAndNow(
        uint256 endOffset,
        uint256 elapsed,
        uint256 fee,
        bool notice,
        uint256 noticeOffset
    ) public {
        uint64 paidUntil = uint64(T0 + _bound(endOffset, 1, 800 days));
        fee = _bound(fee, 1, 100 ether);
        uint32 org = _create(paidUntil, fee, IMedLedgerLicensing.Seats(1, 1, 1));
        uint64 terminatesAt;
        if (notice) {
            terminatesAt = uint64(T0 + _bound(noticeOffset, 1, 900 days));
            vm.prank(admin);
            lic.giveNotice(org, terminatesAt);
        }
        // Now and then exactly at the subscription's end or the notice date, or a second before.
        uint256 mode = elapsed % 8;
        uint256 t = mode == 0 ? paidUntil : mode == 1 ? paidUntil - 1 : mode == 2 && notice ? terminatesAt
            : mode == 3 && notice ? terminatesAt - 1 : T0 + _bound(elapsed >> 8, 0, 900 days);
        vm.warp(t);

        address payer = makeAddr("payer");
        vm.deal(payer, 2 * fee);
        bool terminated = notice && terminatesAt <= t;
        vm.prank(payer);
        if (terminated) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IMedLedgerLicensing.InvalidLicenceStatus.selector, org, uint8(MedLedger.LicenceStatus.Terminated)
                )
            );
            lic.renewSubscription{value: fee}(org);
            assertEq(m.licenceTermsOf(org).paidUntil, paidUntil, "refused renewal moved the end");
            assertEq(lic.feesHeld(), 0, "refused renewal kept the fee");
            return;
        }
        lic.renewSubscription{value: fee}(org);
        uint64 expected = (paidUntil > t ? paidUntil : uint64(t)) + YEAR;
        MedLedger.LicenceTerms memory terms = m.licenceTermsOf(org);
        assertEq(terms.paidUntil, expected, "paidUntil != max(paidUntil, now) + SUBSCRIPTION_PERIOD");
        assertEq(terms.terminatesAt, terminatesAt, "renewal moved the notice date");
        assertEq(lic.feesHeld(), fee, "fees held");
        assertEq(address(lic).balance, fee, "balance");
        assertEq(
            uint8(m.licenceStatus(org)),
            uint8(notice ? MedLedger.LicenceStatus.UnderNotice : MedLedger.LicenceStatus.Active),
            "status after renewal"
        );
        // Renewing again stacks from the new end (which is in the future now).
        vm.prank(payer);
        lic.renewSubscription{value: fee}(org);
        assertEq(m.licenceTermsOf(org).paidUntil, expected + YEAR, "second renewal");
        assertEq(lic.feesHeld(), 2 * fee, "fees held after two renewals");
        // Anything but the exact fee is refused.
        vm.deal(payer, fee + 1);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IMedLedgerLicensing.WrongPayment.selector, fee, fee + 1));
        lic.renewSubscription{value: fee + 1}(org);
    }

    // ------------------------------------------------------------ status and access

    /// At any moment the status follows the rule (Terminated from the notice date on, else
    /// Lapsed from the subscription's end on, else UnderNotice with a notice date, else Active),
    /// and a practitioner of the organisation (with a grant on everything, with write) reads,
    /// writes, counts as verified and breaks glass exactly while it is Active or UnderNotice,
    /// an emergency window opened earlier included. A practitioner of no organisation and the
    /// patient read whatever the licence.
    function testFuzz_licenceStatusDecidesAccess(uint256 endOffset, uint8 noticeMode, uint256 noticeOffset, uint256 when)
        public
    {
        uint64 paidUntil = uint64(T0 + _bound(endOffset, 1, 400 days));
        uint32 org = _create(paidUntil, 0, IMedLedgerLicensing.Seats(1, 1, 0));
        vm.prank(orgAdmin);
        lic.verifyPractitioner(org, q);
        // q breaks glass while licensed: the window must not outlive the licence.
        vm.prank(q);
        m.emergencyAccess(patient, keccak256("emergency"));

        uint64 terminatesAt;
        noticeMode %= 3;
        if (noticeMode == 1) {
            terminatesAt = uint64(T0 + _bound(noticeOffset, 1, 400 days));
            vm.prank(admin);
            lic.giveNotice(org, terminatesAt);
        } else if (noticeMode == 2) {
            terminatesAt = uint64(T0);
            vm.prank(admin);
            lic.terminateLicence(org);
        }
        uint256 mode = when % 6;
        uint256 t = mode == 0 ? paidUntil : mode == 1 ? paidUntil - 1 : mode == 2 && terminatesAt > T0 ? terminatesAt
            : mode == 3 && terminatesAt > T0 ? terminatesAt - 1 : T0 + _bound(when >> 8, 0, 500 days);
        vm.warp(t);

        MedLedger.LicenceStatus want;
        if (terminatesAt != 0 && terminatesAt <= t) want = MedLedger.LicenceStatus.Terminated;
        else if (paidUntil <= t) want = MedLedger.LicenceStatus.Lapsed;
        else if (terminatesAt != 0) want = MedLedger.LicenceStatus.UnderNotice;
        else want = MedLedger.LicenceStatus.Active;
        assertEq(uint8(m.licenceStatus(org)), uint8(want), "licence status");

        bool licensed = want == MedLedger.LicenceStatus.Active || want == MedLedger.LicenceStatus.UnderNotice;
        assertEq(m.canRead(patient, q, record), licensed, "canRead");
        assertEq(m.canWrite(patient, q, 2), licensed, "canWrite");
        assertEq(m.isVerifiedPractitioner(q), licensed, "isVerifiedPractitioner");
        assertTrue(m.accountOf(q).status == MedLedger.AccountStatus.Active, "the licence does not touch the status");
        // Breaking glass again: allowed exactly while licensed.
        vm.prank(q);
        if (!licensed) vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotAVerifiedPractitioner.selector, q));
        m.emergencyAccess(patient, keccak256("again"));
        // Without the grant, reading rests on the emergency window alone (just reopened when
        // licensed; refused otherwise, and the earlier one does not count).
        vm.prank(patient);
        m.revoke(q);
        assertEq(m.canRead(patient, q, record), licensed, "canRead through the emergency window");
        // Unaffected by any organisation's licence.
        assertTrue(m.canRead(patient, free, record), "practitioner of no organisation");
        assertTrue(m.canRead(patient, patient, record), "the patient");
    }

    // ------------------------------------------------------------ seats

    /// With L practitioner seats, verifying n pending practitioners verifies the first min(L, n)
    /// and refuses the rest with NoSeatLeft, taking no seat and changing no status; seats cannot
    /// be set below those in use; releasing one frees a seat for the next.
    function testFuzz_practitionerSeatsAreLimits(uint8 limit, uint8 attempts) public {
        limit = uint8(_bound(limit, 0, 5));
        attempts = uint8(_bound(attempts, 1, 6));
        uint32 org = _create(uint64(T0 + 30 days), 0, IMedLedgerLicensing.Seats(1, limit, 0));
        for (uint256 i; i < attempts; ++i) {
            vm.prank(orgAdmin);
            if (i >= limit) {
                vm.expectRevert(abi.encodeWithSelector(IMedLedgerLicensing.NoSeatLeft.selector, org, uint8(1), uint32(limit)));
            }
            lic.verifyPractitioner(org, pending[i]);
            assertEq(m.practitionerOrganisation(pending[i]), i < limit ? org : 0, "organisation");
            assertEq(
                uint8(m.accountOf(pending[i]).status),
                uint8(i < limit ? MedLedger.AccountStatus.Active : MedLedger.AccountStatus.Pending),
                "status"
            );
        }
        uint32 used = uint32(attempts < limit ? attempts : limit);
        assertEq(lic.organisationOf(org).used.practitioners, used, "seats used");
        if (used == 0) return;
        vm.prank(admin);
        vm.expectRevert(IMedLedgerLicensing.InvalidSeats.selector);
        lic.setSeats(org, IMedLedgerLicensing.Seats(1, used - 1, 0));
        // Release the first: it is Pending and organisation-less, and its seat is free again.
        vm.prank(orgAdmin);
        lic.releasePractitioner(pending[0]);
        assertEq(m.practitionerOrganisation(pending[0]), 0, "released: organisation");
        assertEq(uint8(m.accountOf(pending[0]).status), uint8(MedLedger.AccountStatus.Pending), "released: status");
        assertEq(lic.organisationOf(org).used.practitioners, used - 1, "released: seats used");
        vm.prank(orgAdmin);
        lic.verifyPractitioner(org, pending[used == limit ? limit : 0]);
        assertEq(lic.organisationOf(org).used.practitioners, used, "seat taken again");
    }

    // ------------------------------------------------------------ the core's side

    /// Nobody but the licensing contract writes licence terms or practitioners' organisations
    /// in the core, and the licensing contract is named once.
    function testFuzz_onlyLicensingWritesTheCore(address caller, uint32 org, uint64 paidUntil) public {
        vm.assume(caller != address(lic));
        assumeNotForgeAddress(caller);
        vm.startPrank(caller);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotLicensing.selector, caller));
        m.setLicenceTerms(org, paidUntil, 0);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotLicensing.selector, caller));
        m.assignPractitioner(q, org, caller);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotLicensing.selector, caller));
        m.releasePractitioner(q);
        vm.stopPrank();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.LicensingAlreadySet.selector, address(lic)));
        m.setLicensing(caller.code.length > 0 ? caller : address(lic));
    }
}
