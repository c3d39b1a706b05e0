// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IMedLedgerInsurance} from "../contracts/interfaces/IMedLedgerInsurance.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerInsurance} from "../contracts/MedLedgerInsurance.sol";

/// @notice Drives only MedLedgerInsurance (and, for claim documents, suspensions and
/// reinstatements, its core MedLedger), with amounts aimed at the policy rules' boundaries, for ClaimsInvariants: two verified insurers (republishing any terms, raising and
/// lowering limits and deductibles, funding, withdrawing, suspended and reinstated by the admin),
/// three patients who granted both practitioners (with write) and both insurers every category for
/// good, two verified practitioners filing claim documents, submitting claims on them and
/// withdrawing payouts, and time moving by hours, days, or to the second before or at a
/// policy-year boundary.
///
/// Before each submission the practitioner files the claim document as the patient's record in
/// CLAIMS_CATEGORY (now and then it names a document already claimed instead). A submission must
/// be accepted unless the insurer is suspended (NotAVerifiedInsurer), or it names a claimed
/// document: filed by another practitioner or for another patient (InvalidClaimDocument), else
/// its own (DuplicateClaimDocument). Any other outcome, or another error, is a violation.
///
/// Every submission is checked against the rules as the contract states them, read from the
/// contract just before the call (not from a model): a settled claim took exactly
/// min(amount, deductible left) as deductible, left the year's paid at or below the annual limit
/// in force and paid no more than the funds available; a claim left for review carries the first
/// rule it broke. Any disagreement is counted in `violations` (the first kept in
/// `firstViolation`). Beyond that it keeps what the invariants need and the contract does not
/// store: which claims settled automatically and with what deductible part, which yearly usages
/// the insurer raised by approving, which insurers ever lowered their limit or deductible, and
/// what each practitioner withdrew. No call here reverts (fail_on_revert is on): refusals are
/// caught and judged.
contract ClaimsHandler is Test {
    /// The core: accounts, grants, claim documents.
    MedLedger public immutable m;
    /// The insurance contract on `m`: policies, claims, payouts, all the ether.
    MedLedgerInsurance public immutable insurance;
    address public immutable admin;

    uint256 public constant POLICY_YEAR = 365 days;
    /// The record category claim documents are filed under (MedLedgerInsurance.CLAIMS_CATEGORY).
    uint8 public constant CLAIMS = 7;

    address[2] internal insurers;
    address[3] internal patients;
    address[2] internal practitioners;

    // ------------------------------------------------------------ what the invariants read

    struct ClaimX {
        bool automatic;
        uint256 deductiblePart;
    }

    bytes32[] public claimIds;
    mapping(bytes32 => ClaimX) internal claimX;
    /// The claim document of each claim in claimIds, at the same index.
    bytes32[] internal docs;
    /// Who filed each claim document, and for which patient.
    mapping(bytes32 => address) internal docAuthor;
    mapping(bytes32 => address) internal docPatient;

    /// A yearly usage: (insurer, patient, policy year).
    struct UsageKey {
        address insurer;
        address patient;
        uint64 year;
    }

    UsageKey[] internal usageKeys;
    mapping(bytes32 => bool) internal usageKnown;
    /// The insurer approved a claim counted in this usage (approvals are not held to the limit).
    mapping(bytes32 => bool) public approvedInto;
    /// The insurer once republished a lower annual limit / a lower deductible than it had.
    mapping(address => bool) public limitLowered;
    mapping(address => bool) public deductibleLowered;
    mapping(address => uint256) public withdrawn;

    uint256 public violations;
    string public firstViolation;

    mapping(string => uint256) public okCalls;
    mapping(string => uint256) public allCalls;
    string[] internal actionNames;
    uint256 public settled;
    uint256 public leftForReview;
    uint256 public refused;
    uint256 public refusedInvalid;
    uint256 public refusedDuplicate;
    mapping(uint256 => uint256) public reasons;

    uint256 internal nonce;
    /// The time the sequence has reached (a warp does not outlive the call that made it).
    uint256 public gNow;

    constructor(
        MedLedger m_,
        MedLedgerInsurance insurance_,
        address admin_,
        address[2] memory ins,
        address[3] memory pats,
        address[2] memory pracs,
        uint256 t0
    ) {
        m = m_;
        insurance = insurance_;
        gNow = t0;
        admin = admin_;
        insurers = ins;
        patients = pats;
        practitioners = pracs;
    }

    modifier step(string memory name) {
        vm.warp(gNow);
        if (allCalls[name] == 0) actionNames.push(name);
        allCalls[name]++;
        _;
    }

    // ------------------------------------------------------------ views for the invariants

    function insurerList() external view returns (address[2] memory) {
        return insurers;
    }

    function practitionerList() external view returns (address[2] memory) {
        return practitioners;
    }

    function claimCount() external view returns (uint256) {
        return claimIds.length;
    }

    function claimExtra(bytes32 id) external view returns (ClaimX memory) {
        return claimX[id];
    }

    function usageCount() external view returns (uint256) {
        return usageKeys.length;
    }

    function usageKey(uint256 i) external view returns (UsageKey memory) {
        return usageKeys[i];
    }

    function keyOf(address insurer, address patient, uint64 year) public pure returns (bytes32) {
        return keccak256(abi.encode(insurer, patient, year));
    }

    function actionCount() external view returns (uint256) {
        return actionNames.length;
    }

    function actionName(uint256 i) external view returns (string memory) {
        return actionNames[i];
    }

    // ------------------------------------------------------------ helpers

    function _mix(uint256 seed, uint256 salt) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, salt)));
    }

    function _violation(string memory what) internal {
        violations++;
        if (bytes(firstViolation).length == 0) firstViolation = what;
    }

    function _ok(string memory name) internal {
        okCalls[name]++;
    }

    function _remember(address insurer, address patient, uint64 year) internal returns (bytes32 k) {
        k = keyOf(insurer, patient, year);
        if (!usageKnown[k]) {
            usageKnown[k] = true;
            usageKeys.push(UsageKey(insurer, patient, year));
        }
    }

    // ================================================================ policies

    function publishPolicy(uint256 seed, uint256 value) external step("publishPolicy") {
        seed = _mix(seed, 0);
        address ins = insurers[seed % 2];
        IMedLedgerInsurance.Policy memory before = insurance.policyOf(ins);
        // Categories 0..3 or 0..7 (claims mostly use 0..3), now and then all or a random subset of 0..3.
        uint256 cmode = (seed >> 8) % 8;
        uint256 covered = cmode < 3 ? 0x0f : cmode < 6 ? 0xff : cmode == 6 ? type(uint256).max : ((seed >> 16) % 15) + 1;
        uint128 perClaim = uint128(_bound(seed >> 32, 1, 5 ether));
        uint128 annual = uint128(_bound(seed >> 96, 1, 10 ether));
        uint128 deductible = (seed >> 160) % 3 == 0 ? 0 : uint128(_bound(seed >> 168, 0, 2 ether));
        value = _mix(value, 1) % 2 == 0 ? 0 : _bound(value, 0, 10 ether);
        vm.deal(ins, ins.balance + value);
        vm.prank(ins);
        try insurance.publishPolicy{value: value}(covered, perClaim, annual, deductible) {
            _ok("publishPolicy");
            if (annual < before.annualLimit) limitLowered[ins] = true;
            if (deductible < before.deductible) deductibleLowered[ins] = true;
        } catch {}
    }

    function fundPolicy(uint256 seed, uint256 value) external step("fundPolicy") {
        address ins = insurers[_mix(seed, 0) % 2];
        value = _bound(value, 1, 3 ether);
        vm.deal(ins, ins.balance + value);
        vm.prank(ins);
        try insurance.fundPolicy{value: value}() {
            _ok("fundPolicy");
        } catch {}
    }

    function withdrawPolicyFunds(uint256 seed, uint256 amountSeed) external step("withdrawPolicyFunds") {
        seed = _mix(seed, 0);
        address ins = insurers[seed % 2];
        IMedLedgerInsurance.Policy memory p = insurance.policyOf(ins);
        uint256 available = p.funds - p.reserved;
        uint256 mode = (seed >> 8) % 4;
        // All that is available, part of it, or one wei more (refused).
        uint256 amount = mode == 0 ? available : mode == 1 ? available + 1 : _bound(amountSeed, 0, available);
        uint256 held = address(insurance).balance;
        vm.prank(ins);
        try insurance.withdrawPolicyFunds(amount) {
            _ok("withdrawPolicyFunds");
            if (amount > available) _violation("withdrawPolicyFunds: more than available withdrawn");
            if (address(insurance).balance != held - amount) _violation("withdrawPolicyFunds: balance");
        } catch {}
    }

    function suspendOrReinstateInsurer(uint256 seed) external step("suspendOrReinstateInsurer") {
        address ins = insurers[_mix(seed, 0) % 2];
        bool active = m.isVerifiedInsurer(ins);
        // Suspend now and then; reinstate whenever asked.
        if (active && _mix(seed, 1) % 4 != 0) return;
        vm.prank(admin);
        if (active) {
            try m.suspendAccount(ins, keccak256("reason")) {
                _ok("suspendOrReinstateInsurer");
            } catch {}
        } else {
            try m.reinstateAccount(ins) {
                _ok("suspendOrReinstateInsurer");
            } catch {}
        }
    }

    // ================================================================ claims

    struct Before {
        IMedLedgerInsurance.Policy p;
        IMedLedgerInsurance.AnnualUsage u;
        uint64 year;
    }

    /// An amount at or next to a boundary of the insurer's rules for this patient, or any amount.
    function _amount(uint256 seed, Before memory b) internal pure returns (uint256) {
        uint256 dLeft = b.p.deductible > b.u.deductibleUsed ? b.p.deductible - b.u.deductibleUsed : 0;
        uint256 annualLeft = b.p.annualLimit > b.u.paid ? b.p.annualLimit - b.u.paid : 0;
        uint256 available = b.p.funds - b.p.reserved;
        uint256 mode = seed % 12;
        uint256 base;
        if (mode == 0) base = b.p.perClaimLimit;
        else if (mode == 1) base = b.p.perClaimLimit + 1;
        else if (mode == 2) base = dLeft;
        else if (mode == 3) base = dLeft + 1;
        else if (mode == 4) base = dLeft + annualLeft;
        else if (mode == 5) base = dLeft + annualLeft + 1;
        else if (mode == 6) base = dLeft + available;
        else if (mode == 7) base = dLeft + available + 1;
        else if (mode == 8) base = 1;
        else if (mode < 11) base = _boundPure(seed >> 8, 1, b.p.perClaimLimit);
        else base = _boundPure(seed >> 8, 1, 6 ether);
        return base == 0 ? 1 : base;
    }

    function _boundPure(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + x % (hi - lo + 1);
    }

    struct Sub {
        address q;
        address patient;
        address ins;
        uint8 category;
        bytes32 id;
        bytes32 doc;
        bytes32 existing; // the claim already resting on doc, if it was reused
        uint256 amount;
        uint256 payoutsBefore;
    }

    function submitClaim(uint256 seed, uint256 amountSeed, uint8 categorySeed) external step("submitClaim") {
        seed = _mix(seed, 0);
        Sub memory s;
        s.q = practitioners[seed % 2];
        s.patient = patients[(seed >> 8) % 3];
        s.ins = insurers[(seed >> 16) % 2];
        // Mostly 0..3 (covered by insurer0's first terms), else 0..7, now and then any category.
        uint256 cmode = (seed >> 24) % 8;
        s.category = cmode == 0 ? categorySeed : cmode < 3 ? categorySeed % 8 : categorySeed % 4;
        s.id = keccak256(abi.encode("claim", ++nonce));
        if (docs.length > 0 && (seed >> 32) % 16 == 0) {
            // Now and then a document already claimed (refused), mostly by the practitioner who
            // filed it, for its patient (else by whoever was drawn).
            uint256 k = (seed >> 40) % docs.length;
            (s.doc, s.existing) = (docs[k], claimIds[k]);
            if ((seed >> 48) % 4 != 0) (s.q, s.patient) = (docAuthor[s.doc], docPatient[s.doc]);
        } else {
            // The claim document: the practitioner files it as the patient's record in CLAIMS
            // (its write grant covers every category, and practitioners are never suspended here).
            s.doc = keccak256(abi.encode("doc", nonce));
            vm.prank(s.q);
            m.addRecord(s.doc, s.patient, keccak256(abi.encode("ciphertext", nonce)), CLAIMS, bytes32(0));
            (docAuthor[s.doc], docPatient[s.doc]) = (s.q, s.patient);
        }

        Before memory b;
        b.year = insurance.currentPolicyYear();
        b.p = insurance.policyOf(s.ins);
        b.u = insurance.annualUsageOf(s.ins, s.patient, b.year);
        s.amount = _amount(_mix(amountSeed, 1), b);
        if (s.amount > type(uint128).max) s.amount = 1;
        s.payoutsBefore = insurance.payoutOf(s.q);

        if (!_submitted(s)) return;
        claimIds.push(s.id);
        docs.push(s.doc);
        _remember(s.ins, s.patient, b.year);
        _judge(s, b);
    }

    /// Submit the claim; false if it was refused. A refusal must be the one expected, in the
    /// contract's order: the insurer suspended; a claimed document that is not this
    /// practitioner's for this patient; a claimed document. Anything else must be accepted.
    function _submitted(Sub memory s) internal returns (bool) {
        bytes memory refusal;
        if (!m.isVerifiedInsurer(s.ins)) {
            refusal = abi.encodeWithSelector(IMedLedgerInsurance.NotAVerifiedInsurer.selector, s.ins);
        } else if (docAuthor[s.doc] != s.q || docPatient[s.doc] != s.patient) {
            refusal = abi.encodeWithSelector(IMedLedgerInsurance.InvalidClaimDocument.selector, s.doc);
        } else if (s.existing != bytes32(0)) {
            refusal = abi.encodeWithSelector(IMedLedgerInsurance.DuplicateClaimDocument.selector, s.doc, s.existing);
        }
        vm.prank(s.q);
        try insurance.submitClaim(s.id, s.patient, s.ins, s.doc, uint128(s.amount), s.category) {
            _ok("submitClaim");
            if (refusal.length != 0) _violation("submitClaim: accepted a claim that must be refused");
            return true;
        } catch (bytes memory err) {
            refused++;
            if (bytes4(err) == IMedLedgerInsurance.InvalidClaimDocument.selector) refusedInvalid++;
            if (bytes4(err) == IMedLedgerInsurance.DuplicateClaimDocument.selector) refusedDuplicate++;
            if (keccak256(err) != keccak256(refusal)) {
                _violation(string.concat("submitClaim: unexpected refusal ", vm.toString(err)));
            }
            return false;
        }
    }

    /// The submitted claim against the rules, from the state just before the call.
    function _judge(Sub memory s, Before memory b) internal {
        IMedLedgerInsurance.Claim memory c = insurance.claimOf(s.id);
        IMedLedgerInsurance.AnnualUsage memory u = insurance.annualUsageOf(s.ins, s.patient, b.year);
        IMedLedgerInsurance.Policy memory p = insurance.policyOf(s.ins);

        uint256 dLeft = b.p.deductible > b.u.deductibleUsed ? b.p.deductible - b.u.deductibleUsed : 0;
        uint256 dPart = s.amount < dLeft ? s.amount : dLeft;
        uint256 payout = s.amount - dPart;
        IMedLedgerInsurance.PendingReason want = IMedLedgerInsurance.PendingReason.None;
        if ((b.p.coveredCategories >> s.category) & 1 == 0) want = IMedLedgerInsurance.PendingReason.CategoryNotCovered;
        else if (s.amount > b.p.perClaimLimit) want = IMedLedgerInsurance.PendingReason.OverPerClaimLimit;
        else if (uint256(b.u.paid) + payout > b.p.annualLimit) want = IMedLedgerInsurance.PendingReason.OverAnnualLimit;
        else if (payout > b.p.funds - b.p.reserved) want = IMedLedgerInsurance.PendingReason.InsufficientFunds;
        if (c.pendingReason != want) _violation("submitClaim: pending reason is not the first rule broken");
        if (c.policyYear != b.year) _violation("submitClaim: policy year");
        if (c.documentRecordId != s.doc) _violation("submitClaim: claim document not stored");

        if (c.status == IMedLedgerInsurance.ClaimStatus.Paid) {
            settled++;
            claimX[s.id] = ClaimX({automatic: true, deductiblePart: s.amount - c.payout});
            if (c.payout != payout) _violation("submitClaim: payout is not amount - min(amount, deductible left)");
            if (u.deductibleUsed != b.u.deductibleUsed + dPart) _violation("submitClaim: deductible used");
            if (u.paid != b.u.paid + c.payout) _violation("submitClaim: paid");
            if (u.paid > p.annualLimit) _violation("submitClaim: settled above the annual limit in force");
            if (c.payout > b.p.funds - b.p.reserved) _violation("submitClaim: settled above the available funds");
            if (p.funds != b.p.funds - c.payout) _violation("submitClaim: funds");
            if (insurance.payoutOf(s.q) != s.payoutsBefore + c.payout) _violation("submitClaim: practitioner payout");
        } else {
            leftForReview++;
            reasons[uint256(c.pendingReason)]++;
            if (c.status != IMedLedgerInsurance.ClaimStatus.Submitted) _violation("submitClaim: neither Paid nor Submitted");
            if (u.deductibleUsed != b.u.deductibleUsed || u.paid != b.u.paid) {
                _violation("submitClaim: a claim left for review changed the usage");
            }
            if (p.funds != b.p.funds) _violation("submitClaim: a claim left for review moved funds");
        }
    }

    /// Mostly a claim in `want`, else any claim (the call may be refused).
    function _pick(uint256 seed, IMedLedgerInsurance.ClaimStatus want) internal view returns (bytes32) {
        uint256 n = claimIds.length;
        if (n == 0) return bytes32(0);
        uint256 start = seed % n;
        if ((seed >> 128) % 8 != 0) {
            for (uint256 k; k < n; ++k) {
                bytes32 id = claimIds[(start + k) % n];
                if (insurance.claimOf(id).status == want) return id;
            }
        }
        return claimIds[start];
    }

    function approveClaim(uint256 seed, uint256 payoutSeed) external step("approveClaim") {
        seed = _mix(seed, 0);
        bytes32 id = _pick(seed, IMedLedgerInsurance.ClaimStatus.Submitted);
        if (id == bytes32(0)) return;
        IMedLedgerInsurance.Claim memory c = insurance.claimOf(id);
        IMedLedgerInsurance.Policy memory p = insurance.policyOf(c.insurer);
        uint256 available = p.funds - p.reserved;
        uint256 mode = (seed >> 8) % 4;
        // The amount claimed, all that is available, or anything up to the amount.
        uint256 payout = mode == 0
            ? c.amount
            : mode == 1 ? (available < c.amount ? available : c.amount) : _bound(payoutSeed, 1, c.amount);
        vm.prank(c.insurer);
        try insurance.approveClaim(id, uint128(payout)) {
            _ok("approveClaim");
            approvedInto[keyOf(c.insurer, c.patient, c.policyYear)] = true;
        } catch {}
    }

    function denyClaim(uint256 seed) external step("denyClaim") {
        seed = _mix(seed, 0);
        bytes32 id = _pick(seed, IMedLedgerInsurance.ClaimStatus.Submitted);
        if (id == bytes32(0)) return;
        vm.prank(insurance.claimOf(id).insurer);
        try insurance.denyClaim(id, keccak256(abi.encode("reason", seed))) {
            _ok("denyClaim");
        } catch {}
    }

    function payClaim(uint256 seed) external step("payClaim") {
        seed = _mix(seed, 0);
        bytes32 id = _pick(seed, IMedLedgerInsurance.ClaimStatus.Approved);
        if (id == bytes32(0)) return;
        vm.prank(insurance.claimOf(id).insurer);
        try insurance.payClaim(id) {
            _ok("payClaim");
        } catch {}
    }

    function withdrawPayout(uint256 seed) external step("withdrawPayout") {
        address q = practitioners[_mix(seed, 0) % 2];
        uint256 owed = insurance.payoutOf(q);
        uint256 before = q.balance;
        vm.prank(q);
        try insurance.withdrawPayout() {
            _ok("withdrawPayout");
            withdrawn[q] += owed;
            if (q.balance != before + owed) _violation("withdrawPayout: ether received");
        } catch {}
    }

    // ================================================================ time

    function warp(uint256 seed) external step("warp") {
        seed = _mix(seed, 0);
        uint256 t = gNow;
        uint256 next = (t / POLICY_YEAR + 1) * POLICY_YEAR;
        uint256 mode = seed % 16;
        // To the last second of the policy year, to its first second after, or on by hours or days.
        if (mode == 0) t = next - 1;
        else if (mode == 1) t = next;
        else if (mode < 12) t += _bound(seed >> 8, 0, 1 days);
        else t += _bound(seed >> 8, 0, 60 days);
        if (t < gNow) t = gNow;
        gNow = t;
        vm.warp(t);
        _ok("warp");
    }
}
