// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test, console2} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {IMedLedgerInsurance} from "../contracts/interfaces/IMedLedgerInsurance.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerForwarder} from "../contracts/MedLedgerForwarder.sol";
import {MedLedgerInsurance} from "../contracts/MedLedgerInsurance.sol";
import {ClaimsHandler} from "./ClaimsHandler.sol";

/// @notice Invariants of the insurance side under random sequences of policy, claim, review,
/// payment, withdrawal, suspension and time actions (ClaimsHandler): ether is conserved and every
/// reserve is exactly the approved, unpaid payouts; no claim pays more than it claimed; a year's
/// paid total is exactly what its claims paid, an automatic settlement never takes it above the
/// annual limit in force, and with unchanged terms and no approvals it stays within the limit.
/// (That the paid total may exceed the limit at all is the contract's design: approvals are the
/// insurer's decision and are not held to the limit, and republished terms apply to usage already
/// counted; both are asserted as exceptions below, not ignored.)
contract ClaimsInvariants is StdInvariant, Test {
    MedLedger internal m;
    MedLedgerInsurance internal insurance;
    ClaimsHandler internal h;
    address internal admin = makeAddr("admin");
    address internal escrow = makeAddr("escrow");
    address[2] internal insurers;
    address[3] internal patients;
    address[2] internal practitioners;

    uint256 internal constant T0 = 1_700_000_000;

    function setUp() public {
        vm.warp(T0);
        m = new MedLedger(admin, escrow, address(new MedLedgerForwarder()));
        insurance = new MedLedgerInsurance(address(m));
        for (uint256 i; i < 3; ++i) {
            patients[i] = makeAddr(string.concat("patient", vm.toString(i)));
            vm.prank(patients[i]);
            m.registerPatient(keccak256(abi.encode(patients[i])));
        }
        for (uint256 i; i < 2; ++i) {
            practitioners[i] = makeAddr(string.concat("practitioner", vm.toString(i)));
            vm.prank(practitioners[i]);
            m.applyAsPractitioner(keccak256(abi.encode(practitioners[i])), bytes32(uint256(1)));
            vm.prank(admin);
            m.verifyAccount(practitioners[i]);
            insurers[i] = makeAddr(string.concat("insurer", vm.toString(i)));
            vm.prank(insurers[i]);
            m.applyAsInsurer(keccak256(abi.encode(insurers[i])), bytes32(uint256(1)));
            vm.prank(admin);
            m.verifyAccount(insurers[i]);
        }
        // insurer0: categories 0..3, 1 ether per claim, 3 ether a year, 0.5 ether deductible,
        // 2 ether; insurer1: categories 0..7, 2 / 4 ether, no deductible, 1.5 ether. Funds run
        // short soon, so that InsufficientFunds is reached as often as the other rules.
        vm.deal(insurers[0], 2 ether);
        vm.prank(insurers[0]);
        insurance.publishPolicy{value: 2 ether}(0x0f, 1 ether, 3 ether, 0.5 ether);
        vm.deal(insurers[1], 1.5 ether);
        vm.prank(insurers[1]);
        insurance.publishPolicy{value: 1.5 ether}(0xff, 2 ether, 4 ether, 0);
        // Every patient grants both practitioners (with write, to file claim documents in
        // CLAIMS_CATEGORY) and both insurers every category, for good: consent is not what this
        // suite varies (see MedLedgerInvariants and MedLedgerFuzz for that).
        for (uint256 i; i < 3; ++i) {
            for (uint256 j; j < 2; ++j) {
                vm.startPrank(patients[i]);
                m.grant(practitioners[j], type(uint256).max, true, type(uint64).max);
                m.grant(insurers[j], type(uint256).max, false, type(uint64).max);
                vm.stopPrank();
            }
        }

        h = new ClaimsHandler(m, insurance, admin, insurers, patients, practitioners, T0);
        targetContract(address(h));
        // Submissions weigh most: they are what the rules are about.
        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = h.publishPolicy.selector;
        selectors[1] = h.fundPolicy.selector;
        selectors[2] = h.withdrawPolicyFunds.selector;
        selectors[3] = h.suspendOrReinstateInsurer.selector;
        selectors[4] = h.submitClaim.selector;
        selectors[5] = h.submitClaim.selector;
        selectors[6] = h.submitClaim.selector;
        selectors[7] = h.submitClaim.selector;
        selectors[8] = h.approveClaim.selector;
        selectors[9] = h.denyClaim.selector;
        selectors[10] = h.payClaim.selector;
        selectors[11] = h.withdrawPayout.selector;
        selectors[12] = h.warp.selector;
        targetSelector(FuzzSelector({addr: address(h), selectors: selectors}));
    }

    // ------------------------------------------------------------ every submission

    /// Each submission did what the rules say, judged from the state just before it: it was
    /// refused exactly when the insurer was suspended or its document already claimed (as
    /// InvalidClaimDocument if another practitioner's or for another patient); a settled
    /// claim paid amount − min(amount, deductible left), left the year's paid at or below the
    /// annual limit in force and took no more than the available funds; a claim left for review
    /// carries the first rule it broke and changed no usage and no funds.
    function invariant_submissionsFollowTheRules() public view {
        assertEq(h.violations(), 0, h.firstViolation());
    }

    // ------------------------------------------------------------ ether

    /// The insurance contract holds exactly the policy funds plus the payouts not yet withdrawn,
    /// and the core holds nothing; each insurer's reserve is exactly the payouts of its approved,
    /// unpaid claims (so never above its funds); each practitioner's balance is what its paid
    /// claims credited minus what it withdrew.
    function invariant_fundsConserved() public view {
        uint256 sum;
        address[2] memory ins = h.insurerList();
        address[2] memory pracs = h.practitionerList();
        uint256[2] memory approvedUnpaid;
        uint256[2] memory credited;
        uint256 n = h.claimCount();
        for (uint256 i; i < n; ++i) {
            IMedLedgerInsurance.Claim memory c = insurance.claimOf(h.claimIds(i));
            for (uint256 j; j < 2; ++j) {
                if (c.status == IMedLedgerInsurance.ClaimStatus.Approved && c.insurer == ins[j]) approvedUnpaid[j] += c.payout;
                if (c.status == IMedLedgerInsurance.ClaimStatus.Paid && c.practitioner == pracs[j]) credited[j] += c.payout;
            }
        }
        for (uint256 j; j < 2; ++j) {
            IMedLedgerInsurance.Policy memory p = insurance.policyOf(ins[j]);
            assertLe(p.reserved, p.funds, "reserved above funds");
            assertEq(p.reserved, approvedUnpaid[j], "reserve != approved, unpaid payouts");
            assertEq(insurance.payoutOf(pracs[j]), credited[j] - h.withdrawn(pracs[j]), "payout balance != credited - withdrawn");
            sum += p.funds + insurance.payoutOf(pracs[j]);
        }
        assertEq(address(insurance).balance, sum, "ether balance != policy funds + unwithdrawn payouts");
        assertEq(address(m).balance, 0, "the core holds ether");
    }

    // ------------------------------------------------------------ claims

    /// No claim's payout exceeds its amount. A claim waiting or denied has paid nothing and says
    /// why it waited; one settled automatically paid its amount less its deductible part; one the
    /// insurer approved (and maybe paid) pays something, and keeps the reason it waited.
    function invariant_payoutNeverAboveAmount() public view {
        uint256 n = h.claimCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = h.claimIds(i);
            IMedLedgerInsurance.Claim memory c = insurance.claimOf(id);
            ClaimsHandler.ClaimX memory x = h.claimExtra(id);
            assertLe(c.payout, c.amount, "payout above the amount claimed");
            if (c.status == IMedLedgerInsurance.ClaimStatus.Submitted || c.status == IMedLedgerInsurance.ClaimStatus.Denied) {
                assertEq(c.payout, 0, "a waiting or denied claim has a payout");
                assertTrue(c.pendingReason != IMedLedgerInsurance.PendingReason.None, "waiting without a reason");
            } else if (x.automatic) {
                assertEq(uint8(c.status), uint8(IMedLedgerInsurance.ClaimStatus.Paid), "automatic but not paid");
                assertEq(uint8(c.pendingReason), 0, "automatic with a pending reason");
                assertEq(c.payout + x.deductiblePart, c.amount, "automatic payout != amount - deductible part");
            } else {
                assertTrue(
                    c.status == IMedLedgerInsurance.ClaimStatus.Approved || c.status == IMedLedgerInsurance.ClaimStatus.Paid, "status"
                );
                assertGt(c.payout, 0, "approved for nothing");
                assertTrue(c.pendingReason != IMedLedgerInsurance.PendingReason.None, "reviewed without a reason");
            }
        }
    }

    /// For every (insurer, patient, policy year) with a claim: the year's paid total is exactly the
    /// payouts of its approved and paid claims, and its deductible used exactly the deductible
    /// parts of its automatic settlements. The paid total stays within the annual limit unless the
    /// insurer approved a claim into that year or republished a lower limit; the deductible used
    /// stays within the deductible unless it republished a lower one.
    function invariant_annualPaidWithinLimit() public view {
        uint256 nk = h.usageCount();
        uint256 n = h.claimCount();
        for (uint256 k; k < nk; ++k) {
            ClaimsHandler.UsageKey memory key = h.usageKey(k);
            uint256 paid;
            uint256 deductible;
            for (uint256 i; i < n; ++i) {
                bytes32 id = h.claimIds(i);
                IMedLedgerInsurance.Claim memory c = insurance.claimOf(id);
                if (c.insurer != key.insurer || c.patient != key.patient || c.policyYear != key.year) continue;
                if (c.status == IMedLedgerInsurance.ClaimStatus.Approved || c.status == IMedLedgerInsurance.ClaimStatus.Paid) {
                    paid += c.payout;
                }
                ClaimsHandler.ClaimX memory x = h.claimExtra(id);
                if (x.automatic) deductible += x.deductiblePart;
            }
            IMedLedgerInsurance.AnnualUsage memory u = insurance.annualUsageOf(key.insurer, key.patient, key.year);
            IMedLedgerInsurance.Policy memory p = insurance.policyOf(key.insurer);
            assertEq(u.paid, paid, "annual paid != payouts of approved and paid claims");
            assertEq(u.deductibleUsed, deductible, "deductible used != deductible parts of automatic claims");
            if (!h.approvedInto(h.keyOf(key.insurer, key.patient, key.year)) && !h.limitLowered(key.insurer)) {
                assertLe(u.paid, p.annualLimit, "annual paid above the annual limit");
            }
            if (!h.deductibleLowered(key.insurer)) {
                assertLe(u.deductibleUsed, p.deductible, "deductible used above the deductible");
            }
        }
    }

    /// How often each action ran and succeeded in the last run, and how claims went (-vv).
    function afterInvariant() public view {
        uint256 n = h.actionCount();
        for (uint256 i; i < n; ++i) {
            string memory name = h.actionName(i);
            console2.log(string.concat(name, ": ", vm.toString(h.okCalls(name)), "/", vm.toString(h.allCalls(name))));
        }
        console2.log(
            string.concat(
                "claims settled: ",
                vm.toString(h.settled()),
                ", left for review: ",
                vm.toString(h.leftForReview()),
                " (category ",
                vm.toString(h.reasons(1)),
                ", per-claim ",
                vm.toString(h.reasons(2)),
                ", annual ",
                vm.toString(h.reasons(3)),
                ", funds ",
                vm.toString(h.reasons(4)),
                "); yearly usages: ",
                vm.toString(h.usageCount())
            )
        );
        console2.log(
            string.concat(
                "claims refused: ",
                vm.toString(h.refused()),
                " (invalid document ",
                vm.toString(h.refusedInvalid()),
                ", duplicate document ",
                vm.toString(h.refusedDuplicate()),
                ")"
            )
        );
    }
}
