// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test, console2} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {IMedLedger} from "../contracts/interfaces/IMedLedger.sol";
import {IMedLedgerInsurance} from "../contracts/interfaces/IMedLedgerInsurance.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerForwarder} from "../contracts/MedLedgerForwarder.sol";
import {MedLedgerInsurance} from "../contracts/MedLedgerInsurance.sol";
import {MedLedgerHandler} from "./MedLedgerHandler.sol";

/// @notice Invariants of MedLedger and MedLedgerInsurance beside it under random sequences of
/// every action (MedLedgerHandler):
/// nobody reads without the patient's active grant or an emergency window; nobody adds a record
/// without being the patient or a verified practitioner with write consent; an erased record is
/// never readable again; claims move only along the allowed edges, by the allowed party; every
/// claim rests on its own claim document, filed by its practitioner for its patient; ether is
/// conserved and reserves never exceed funds; and the contract agrees with the handler's
/// independent model on every call's success (and every submitClaim's refusal) and on the state.
contract MedLedgerInvariants is StdInvariant, Test {
    MedLedger internal m;
    MedLedgerInsurance internal insurance;
    MedLedgerHandler internal h;
    address internal admin = makeAddr("admin");
    address internal escrow = makeAddr("escrow");
    address internal stranger = makeAddr("stranger");
    address[] internal everyone;

    uint256 internal constant T0 = 1_700_000_000;

    function setUp() public virtual {
        vm.warp(T0);
        m = new MedLedger(admin, escrow, address(new MedLedgerForwarder()));
        insurance = new MedLedgerInsurance(address(m));
        h = new MedLedgerHandler(m, insurance, admin, escrow, stranger, T0);
        everyone = h.everyoneList();

        // A populated start, made through the handler so that its model follows: patients
        // actor0 and actor1, verified practitioners actor3 and actor4, verified insurers actor6
        // and actor7 with funded policies, long grants, emergency opt-ins and one open window.
        // actor2 and actor5 are left for the fuzzer to register. Until endBootstrap() the handler
        // takes seeds as given, and these select the choices in its pickers (low bits: the
        // "usual" branch; next byte: which actor).
        uint256 kindSeed = 1 << 16 | 1; // the actor's intended kind, with a profile
        h.register(0 << 8 | 1, kindSeed, bytes32(uint256(1)));
        h.register(1 << 8 | 1, kindSeed, bytes32(uint256(1)));
        h.register(3 << 8 | 1, kindSeed, bytes32(uint256(1)));
        h.register(4 << 8 | 1, kindSeed, bytes32(uint256(1)));
        h.register(6 << 8 | 1, kindSeed, bytes32(uint256(1)));
        h.verifyAccount(1, 0 << 8 | 1); // actor3
        h.verifyAccount(1, 1 << 8 | 1); // actor4
        h.verifyAccount(1, 3 << 8 | 1); // actor6
        uint256 maskSeed = 14 << 24 | 1 << 16 | 1; // mask 0b1111
        uint256 limitSeed = uint256(20 ether) << 136 | uint256(1) << 128 | uint256(5 ether) << 8 | 1;
        h.publishPolicy(1, maskSeed, limitSeed, 0, 0);
        h.fundPolicy(1, 20 ether << 8 | 1);
        // A second verified insurer, actor7: categories 2..7, 1 ether deductible, 10 ether.
        h.register(7 << 8 | 1, kindSeed, bytes32(uint256(1)));
        h.verifyAccount(1, 4 << 8 | 2); // actor7 (seed % 5 != 0)
        h.publishPolicy(1 << 8 | 1, 251 << 24 | 1 << 16 | 1, limitSeed, 1 ether << 8 | 1, 10 ether << 8 | 1);
        // Long (399-day) grants: actor0 and actor1 to "their" practitioners actor3 and actor4
        // (all categories, with write, so they can file claim documents in category 7), and to
        // the insurer actor6: actor0 on categories 0..5 and 7 (claims documents: its claims to
        // actor6 in 4..255 wait for review), actor1 on 0..5 only (its claims to actor6 are
        // refused until a regrant covers 7).
        uint256 allMask = 1 << 16 | 3;
        uint256 mask0to5and7 = 190 << 24 | 1 << 16 | 1;
        uint256 mask0to5 = 62 << 24 | 1 << 16 | 1;
        uint256 longExpiry = (399 days << 8) | (1 << 4) | 1;
        h.grant(0 << 8 | 1, 0 << 8 | 1, allMask, true, longExpiry);
        h.grant(0 << 8 | 1, 3 << 8 | 1, mask0to5and7, false, longExpiry);
        h.grant(1 << 8 | 1, 1 << 8 | 1, allMask, true, longExpiry);
        h.grant(1 << 8 | 1, 3 << 8 | 1, mask0to5, false, longExpiry);
        h.grant(0 << 8 | 1, 4 << 8 | 2, allMask, false, longExpiry);
        h.grant(1 << 8 | 1, 4 << 8 | 2, allMask, false, longExpiry);
        // Both patients opted in to emergency access; actor4 has a window open on actor0.
        h.setEmergencyOptIn(0 << 8 | 1, true);
        h.setEmergencyOptIn(1 << 8 | 1, true);
        h.emergencyAccess(1 << 8 | 1, 0 << 8 | 4, bytes32(uint256(1)));
        h.endBootstrap();
        require(h.mismatches() == 0, h.firstMismatch());
        require(m.emergencyAccessUntil(everyone[0], everyone[4]) == T0 + 24 hours, "setup: emergency window");
        IMedLedgerInsurance.Policy memory p = insurance.policyOf(everyone[6]);
        require(p.published && p.funds == 20 ether && p.coveredCategories == 15, "setup: policy");
        p = insurance.policyOf(everyone[7]);
        require(
            p.published && p.funds == 10 ether && p.coveredCategories == 0xfc && p.deductible == 1 ether,
            "setup: policy 2"
        );
        require(m.grantOf(everyone[1], everyone[7]).categories == type(uint256).max, "setup: insurer 2 grant");
        require(m.isVerifiedPractitioner(everyone[3]) && m.isVerifiedPractitioner(everyone[4]), "setup: practitioners");
        require(m.canWrite(everyone[0], everyone[3], 200) && m.canWrite(everyone[1], everyone[4], 0), "setup: grants");
        MedLedger.Grant memory ig = m.grantOf(everyone[1], everyone[6]);
        require(ig.expiry == T0 + 1 + 399 days && ig.categories == 0x3f, "setup: insurer grant");
        require(m.grantOf(everyone[0], everyone[6]).categories == 0xbf, "setup: insurer grant with claims");
        require(insurance.CLAIMS_CATEGORY() == h.CLAIMS(), "setup: claims category");

        targetContract(address(h));
        // Consent, records and claims appear twice: they are what the invariants are about.
        bytes4[] memory selectors = new bytes4[](31);
        selectors[0] = h.register.selector;
        selectors[1] = h.rotateEncryptionKey.selector;
        selectors[2] = h.verifyAccount.selector;
        selectors[3] = h.suspendAccount.selector;
        selectors[4] = h.reinstateAccount.selector;
        selectors[5] = h.grant.selector;
        selectors[6] = h.grant.selector;
        selectors[7] = h.revoke.selector;
        selectors[8] = h.addRecord.selector;
        selectors[9] = h.addRecord.selector;
        selectors[10] = h.eraseRecord.selector;
        selectors[11] = h.eraseAll.selector;
        selectors[12] = h.confirmShredded.selector;
        selectors[13] = h.setEmergencyOptIn.selector;
        selectors[14] = h.emergencyAccess.selector;
        selectors[15] = h.endEmergencyAccess.selector;
        selectors[16] = h.setEmergencyWindow.selector;
        selectors[17] = h.warp.selector;
        selectors[18] = h.warp.selector;
        selectors[19] = h.anchorAccessLog.selector;
        selectors[20] = h.publishPolicy.selector;
        selectors[21] = h.fundPolicy.selector;
        selectors[22] = h.withdrawPolicyFunds.selector;
        selectors[23] = h.submitClaim.selector;
        selectors[24] = h.submitClaim.selector;
        selectors[25] = h.approveClaim.selector;
        selectors[26] = h.denyClaim.selector;
        selectors[27] = h.payClaim.selector;
        selectors[28] = h.withdrawPayout.selector;
        selectors[29] = h.addRecord.selector;
        selectors[30] = h.grant.selector;
        targetSelector(FuzzSelector({addr: address(h), selectors: selectors}));
    }

    // ------------------------------------------------------------ the model agrees

    /// Every call succeeded exactly when the model said it would, with the effects it predicted
    /// (settlement payouts, ether received, window ends, log proofs).
    function invariant_contractFollowsModel() public view {
        assertEq(h.mismatches(), 0, h.firstMismatch());
        assertEq(m.nextLogSeq(), h.gNextSeq(), "next log sequence number");
        assertEq(m.anchorCount(), h.gAnchors(), "anchor count");
        assertEq(m.emergencyWindow(), h.gWindow(), "emergency window");
        for (uint256 i; i < everyone.length; ++i) {
            address a = everyone[i];
            MedLedger.Account memory acc = m.accountOf(a);
            assertEq(uint8(acc.kind), uint8(h.gKind(a)), "account kind");
            assertEq(uint8(acc.status), uint8(h.gStatus(a)), "account status");
            assertEq(acc.emergencyOptIn, h.gOptIn(a), "emergency opt-in");
            assertEq(m.erasureEpochOf(a), h.gEpoch(a), "erasure epoch");
            // Nobody is Active as a professional without having been verified by an admin.
            if (acc.kind != MedLedger.AccountKind.Patient && acc.status == MedLedger.AccountStatus.Active) {
                assertTrue(h.gEverVerified(a), "active professional never verified");
            }
            for (uint256 j; j < everyone.length; ++j) {
                assertEq(m.emergencyAccessUntil(a, everyone[j]), h.gEmUntil(a, everyone[j]), "emergency window");
            }
        }
    }

    // ------------------------------------------------------------ reading

    /// For every tracked (patient, reader, record): canRead implies the reader is the patient, or
    /// holds an unexpired grant covering the record's category while verified, or is a verified
    /// practitioner inside an emergency window of an opted-in patient. And canRead equals the
    /// model's answer exactly (so access is neither granted nor withheld wrongly).
    function invariant_nobodyReadsWithoutGrantOrEmergency() public {
        vm.warp(h.gNow());
        uint256 n = h.recordCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = h.recordIds(i);
            MedLedgerHandler.RecordG memory r = h.recordOfModel(id);
            MedLedger.Record memory onChain = m.recordOf(id);
            assertEq(onChain.patient, r.patient, "record patient");
            assertEq(onChain.author, r.author, "record author");
            assertEq(onChain.category, r.category, "record category");
            for (uint256 j; j < everyone.length; ++j) {
                address reader = everyone[j];
                bool got = m.canRead(r.patient, reader, id);
                if (got) assertTrue(_allowedToRead(r, reader), "read without grant or emergency window");
                assertEq(got, h.modelCanRead(r.patient, reader, id), "canRead differs from the model");
                // The record named under any other patient reads as nothing.
                if (reader != r.patient) assertFalse(m.canRead(reader, reader, id), "record under another patient");
            }
        }
    }

    function _allowedToRead(MedLedgerHandler.RecordG memory r, address reader) internal view returns (bool) {
        if (reader == r.patient) return true;
        bool verified = h.gStatus(reader) == MedLedger.AccountStatus.Active;
        MedLedger.AccountKind kind = h.gKind(reader);
        MedLedgerHandler.GrantG memory g = h.grantOfModel(r.patient, reader);
        if (
            verified && (kind == MedLedger.AccountKind.Practitioner || kind == MedLedger.AccountKind.Insurer)
                && g.expiry > block.timestamp && (g.categories >> r.category) & 1 == 1
        ) return true;
        return verified && kind == MedLedger.AccountKind.Practitioner && h.gOptIn(r.patient)
            && h.gEmUntil(r.patient, reader) > block.timestamp;
    }

    // ------------------------------------------------------------ writing

    /// Every successful addRecord was by the patient or by a verified practitioner with an
    /// unexpired write grant covering the category at that moment; and no record exists in the
    /// id pool that the handler did not add.
    function invariant_nobodyAddsWithoutWriteConsent() public view {
        assertEq(h.unauthorisedAdds(), 0, "record added without write consent");
        assertEq(h.adds(), h.recordCount());
        for (uint256 i; i < h.RECORD_POOL(); ++i) {
            bytes32 id = h.recordPoolId(i);
            assertEq(m.recordOf(id).patient, h.recordOfModel(id).patient, "record the model does not know");
        }
    }

    // ------------------------------------------------------------ erasure

    /// A record once erased is erased and unreadable by everyone, the patient included, forever.
    function invariant_erasedNeverReadable() public {
        vm.warp(h.gNow());
        uint256 n = h.erasedCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = h.erasedIds(i);
            assertTrue(m.isErased(id), "erased record no longer erased");
            address patient = m.recordOf(id).patient;
            for (uint256 j; j < everyone.length; ++j) {
                assertFalse(m.canRead(patient, everyone[j], id), "erased record readable");
            }
        }
    }

    // ------------------------------------------------------------ claims

    /// Every observed status change was an allowed edge made by the allowed party, and no claim
    /// changed status other than through the calls observed.
    function invariant_claimsMoveOnlyAlongAllowedEdges() public view {
        assertEq(h.badTransitions(), 0, h.firstBadTransition());
        for (uint256 i; i < h.CLAIM_POOL(); ++i) {
            bytes32 id = h.claimPoolId(i);
            IMedLedgerInsurance.Claim memory c = insurance.claimOf(id);
            MedLedgerHandler.ClaimG memory g = h.claimOfModel(id);
            assertEq(uint8(c.status), uint8(g.status), "claim status differs from the recorded transitions");
            assertEq(c.payout, g.payout, "claim payout");
            assertLe(c.payout, c.amount, "payout above the claimed amount");
        }
    }

    /// Every claim rests on a claim document of its own: a record in CLAIMS_CATEGORY of the
    /// claim's patient, written by the claim's practitioner (it may have been erased since), the
    /// one the model recorded, and no other claim rests on it.
    function invariant_everyClaimRestsOnItsDocument() public view {
        uint256 n = h.claimCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = h.claimIds(i);
            IMedLedgerInsurance.Claim memory c = insurance.claimOf(id);
            MedLedger.Record memory doc = m.recordOf(c.documentRecordId);
            assertEq(c.documentRecordId, h.claimOfModel(id).doc, "claim document differs from the model");
            assertEq(doc.patient, c.patient, "claim document of another patient");
            assertEq(doc.author, c.practitioner, "claim document by another author");
            assertEq(doc.category, insurance.CLAIMS_CATEGORY(), "claim document outside the claims category");
            assertEq(h.gDocClaim(c.documentRecordId), id, "claim document shared by two claims");
        }
    }

    // ------------------------------------------------------------ ether

    /// The insurance contract holds exactly the policy funds plus the payouts not yet withdrawn,
    /// and the core holds nothing; reserves never exceed funds; both match the model.
    function invariant_fundsConserved() public view {
        uint256 sum;
        for (uint256 i; i < everyone.length; ++i) {
            address a = everyone[i];
            IMedLedgerInsurance.Policy memory p = insurance.policyOf(a);
            MedLedgerHandler.PolicyG memory g = h.policyOfModel(a);
            assertLe(p.reserved, p.funds, "reserved above funds");
            assertEq(p.funds, g.funds, "policy funds");
            assertEq(p.reserved, g.reserved, "policy reserve");
            assertEq(insurance.payoutOf(a), h.gPayout(a), "payout balance");
            sum += p.funds + insurance.payoutOf(a);
        }
        assertEq(address(insurance).balance, sum, "ether balance != policy funds + unwithdrawn payouts");
        assertEq(address(m).balance, 0, "the core holds ether");
    }

    /// How often each action ran and succeeded in the last run (shown with -vv).
    function afterInvariant() public view {
        uint256 n = h.actionCount();
        for (uint256 i; i < n; ++i) {
            string memory name = h.actionName(i);
            console2.log(string.concat(name, ": ", vm.toString(h.okCalls(name)), "/", vm.toString(h.allCalls(name))));
        }
        console2.log(string.concat("claim transitions: ", vm.toString(h.transitions())));
        console2.log(
            string.concat(
                "submitClaim refused: invalid document ",
                vm.toString(h.claimRefusals(IMedLedgerInsurance.InvalidClaimDocument.selector)),
                ", duplicate document ",
                vm.toString(h.claimRefusals(IMedLedgerInsurance.DuplicateClaimDocument.selector)),
                ", practitioner not permitted ",
                vm.toString(h.claimRefusals(IMedLedgerInsurance.PractitionerNotPermitted.selector)),
                ", insurer not permitted ",
                vm.toString(h.claimRefusals(IMedLedgerInsurance.InsurerNotPermitted.selector))
            )
        );
    }
}
