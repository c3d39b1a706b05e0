// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IMedLedger} from "../contracts/interfaces/IMedLedger.sol";
import {IMedLedgerInsurance} from "../contracts/interfaces/IMedLedgerInsurance.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerInsurance} from "../contracts/MedLedgerInsurance.sol";

/// @notice Drives MedLedger and MedLedgerInsurance beside it through random sequences of every
/// action (insurance calls go to the insurance contract, the rest to the core), as a fixed set of EOAs
/// (8 actors who register as patients, practitioners or insurers, an admin, the escrow and a
/// stranger), and keeps an independent model of the state (ghost variables).
///
/// Every action computes from the model whether the call must succeed (for submitClaim, also the
/// exact error it must be refused with), makes the call with try/catch, and counts any
/// disagreement in `mismatches` (the first is kept in `firstMismatch`).
/// On top of that it records what the invariants need: the authorisation of every successful
/// addRecord, every claim status transition with who made it, and the set of erased records.
/// Nothing here reverts on a failed call, so the fuzzer's sequences run to full depth.
contract MedLedgerHandler is Test {
    /// The core.
    MedLedger public immutable m;
    /// The insurance contract on `m`: policies, claims, payouts, all the ether.
    MedLedgerInsurance public immutable insurance;
    address public immutable admin;
    address public immutable escrow;
    address public immutable stranger;

    uint256 public constant N_ACTORS = 8;
    uint256 public constant RECORD_POOL = 32;
    uint256 public constant CLAIM_POOL = 16;
    /// The record category claim documents are filed under (MedLedgerInsurance.CLAIMS_CATEGORY).
    uint8 public constant CLAIMS = 7;

    /// actors 0-2 mean to be patients, 3-5 practitioners, 6-7 insurers; now and then one
    /// registers as another kind.
    address[N_ACTORS] internal actors;
    /// actors, then admin, escrow, stranger: every caller and every reader the checks use.
    address[] internal everyone;

    // ------------------------------------------------------------ the model

    mapping(address => MedLedger.AccountKind) public gKind;
    mapping(address => MedLedger.AccountStatus) public gStatus;
    mapping(address => bool) public gOptIn;
    /// Set when verifyAccount succeeded for the account.
    mapping(address => bool) public gEverVerified;

    struct GrantG {
        uint256 categories;
        bool canWrite;
        uint64 expiry;
        bool listed; // in the contract's grantee set (from grant until revoke, expired or not)
    }

    mapping(address => mapping(address => GrantG)) internal gGrant;

    /// Emergency windows: opened by emergencyAccess for the current window length, closed by
    /// endEmergencyAccess, and closed for good when the patient opts out (opting in again does
    /// not reopen them).
    mapping(address => mapping(address => uint256)) public gEmUntil;
    uint256 public gWindow = 24 hours;
    uint256 public gNow;

    struct RecordG {
        bool exists;
        address patient;
        address author;
        uint8 category;
        uint64 epoch;
        bool erasedFlag;
        bool shredConfirmed;
    }

    mapping(bytes32 => RecordG) internal gRecord;
    bytes32[] public recordIds;
    mapping(address => uint64) public gEpoch;
    /// Every record ever erased, by eraseRecord or by eraseAll while it was live.
    mapping(bytes32 => bool) public gErasedForever;
    bytes32[] public erasedIds;

    uint64 public gNextSeq;
    uint256 public gAnchors;

    struct PolicyG {
        bool published;
        uint256 covered;
        uint256 perClaim;
        uint256 annual;
        uint256 deductible;
        uint256 funds;
        uint256 reserved;
    }

    mapping(address => PolicyG) internal gPolicy;

    struct UsageG {
        uint256 deductibleUsed;
        uint256 paid;
    }

    mapping(address => mapping(address => mapping(uint256 => UsageG))) internal gUsage;

    struct ClaimG {
        IMedLedgerInsurance.ClaimStatus status;
        address practitioner;
        address patient;
        address insurer;
        uint256 amount;
        uint256 payout;
        uint256 year;
        bytes32 doc;
    }

    mapping(bytes32 => ClaimG) internal gClaim;
    bytes32[] public claimIds;
    /// The claim resting on each claim document (record id); zero while unclaimed.
    mapping(bytes32 => bytes32) public gDocClaim;
    mapping(address => uint256) public gPayout;

    // ------------------------------------------------------------ what the invariants read

    uint256 public mismatches;
    string public firstMismatch;
    uint256 public unauthorisedAdds;
    uint256 public adds;
    uint256 public transitions;
    uint256 public badTransitions;
    string public firstBadTransition;

    /// Successful calls per action, for the coverage summary.
    mapping(string => uint256) public okCalls;
    mapping(string => uint256) public allCalls;
    string[] internal actionNames;
    /// submitClaim refusals by error selector, for the coverage summary.
    mapping(bytes4 => uint256) public claimRefusals;

    /// True while the test's setUp drives the handler with hand-picked seeds (see _mix).
    bool public bootstrapping = true;

    function endBootstrap() external {
        bootstrapping = false;
    }

    constructor(
        MedLedger ledger,
        MedLedgerInsurance insurance_,
        address admin_,
        address escrow_,
        address stranger_,
        uint256 t0
    ) {
        m = ledger;
        insurance = insurance_;
        admin = admin_;
        escrow = escrow_;
        stranger = stranger_;
        gNow = t0;
        for (uint256 i; i < N_ACTORS; ++i) {
            actors[i] = makeAddr(string.concat("actor", vm.toString(i)));
            everyone.push(actors[i]);
        }
        everyone.push(admin_);
        everyone.push(escrow_);
        everyone.push(stranger_);
    }

    // ------------------------------------------------------------ views for the invariants

    function everyoneList() external view returns (address[] memory) {
        return everyone;
    }

    function recordCount() external view returns (uint256) {
        return recordIds.length;
    }

    function erasedCount() external view returns (uint256) {
        return erasedIds.length;
    }

    function claimCount() external view returns (uint256) {
        return claimIds.length;
    }

    function recordOfModel(bytes32 id) external view returns (RecordG memory) {
        return gRecord[id];
    }

    function grantOfModel(address patient, address grantee) external view returns (GrantG memory) {
        return gGrant[patient][grantee];
    }

    function policyOfModel(address insurer) external view returns (PolicyG memory) {
        return gPolicy[insurer];
    }

    function claimOfModel(bytes32 id) external view returns (ClaimG memory) {
        return gClaim[id];
    }

    function recordPoolId(uint256 i) public pure returns (bytes32) {
        return keccak256(abi.encode("record", i));
    }

    function claimPoolId(uint256 i) public pure returns (bytes32) {
        return keccak256(abi.encode("claim", i));
    }

    function actionCount() external view returns (uint256) {
        return actionNames.length;
    }

    function actionName(uint256 i) external view returns (string memory) {
        return actionNames[i];
    }

    /// The model's canRead.
    function modelCanRead(address patient, address reader, bytes32 id) public view returns (bool) {
        RecordG storage r = gRecord[id];
        if (!r.exists || r.patient != patient || modelErased(id)) return false;
        if (reader == patient) return true;
        if (gStatus[reader] != MedLedger.AccountStatus.Active) return false;
        MedLedger.AccountKind k = gKind[reader];
        if (k != MedLedger.AccountKind.Practitioner && k != MedLedger.AccountKind.Insurer) return false;
        GrantG storage g = gGrant[patient][reader];
        if (g.expiry > gNow && _covers(g.categories, r.category)) return true;
        return k == MedLedger.AccountKind.Practitioner && gOptIn[patient] && gEmUntil[patient][reader] > gNow;
    }

    function modelErased(bytes32 id) public view returns (bool) {
        RecordG storage r = gRecord[id];
        return r.erasedFlag || r.epoch != gEpoch[r.patient];
    }

    /// The model's canWrite: the patient, or a verified practitioner whose unexpired write grant
    /// covers the category.
    function modelCanWrite(address patient, address writer, uint8 category) public view returns (bool) {
        if (gKind[patient] != MedLedger.AccountKind.Patient) return false;
        if (writer == patient) return true;
        if (!_verifiedPractitioner(writer)) return false;
        GrantG storage g = gGrant[patient][writer];
        return g.canWrite && g.expiry > gNow && _covers(g.categories, category);
    }

    // ------------------------------------------------------------ helpers

    modifier step(string memory name) {
        vm.warp(gNow);
        _count(name);
        _;
    }

    function _count(string memory name) internal {
        if (allCalls[name] == 0) actionNames.push(name);
        allCalls[name]++;
    }

    function _check(string memory name, bool expected, bool got) internal {
        if (got) okCalls[name]++;
        if (expected != got) {
            mismatches++;
            if (bytes(firstMismatch).length == 0) {
                firstMismatch = string.concat(
                    name,
                    ": model expected ",
                    expected ? "success" : "revert",
                    ", contract ",
                    got ? "succeeded" : "reverted"
                );
            }
        }
    }

    function _mismatch(string memory what) internal {
        mismatches++;
        if (bytes(firstMismatch).length == 0) firstMismatch = what;
    }

    function _covers(uint256 mask, uint8 category) internal pure returns (bool) {
        return (mask >> category) & 1 == 1;
    }

    function _verifiedPractitioner(address a) internal view returns (bool) {
        return gKind[a] == MedLedger.AccountKind.Practitioner && gStatus[a] == MedLedger.AccountStatus.Active;
    }

    function _verifiedInsurer(address a) internal view returns (bool) {
        return gKind[a] == MedLedger.AccountKind.Insurer && gStatus[a] == MedLedger.AccountStatus.Active;
    }

    function _professional(address a) internal view returns (bool) {
        return gKind[a] == MedLedger.AccountKind.Practitioner || gKind[a] == MedLedger.AccountKind.Insurer;
    }

    function _anyone(uint256 seed) internal view returns (address) {
        return everyone[seed % everyone.length];
    }

    /// Mostly one of the would-be patients, else anyone.
    function _patientish(uint256 seed) internal view returns (address) {
        return seed % 5 != 0 ? actors[(seed >> 8) % 3] : _anyone(seed >> 8);
    }

    function _practitionerish(uint256 seed) internal view returns (address) {
        return seed % 5 != 0 ? actors[3 + (seed >> 8) % 3] : _anyone(seed >> 8);
    }

    function _insurerish(uint256 seed) internal view returns (address) {
        return seed % 5 != 0 ? actors[6 + (seed >> 8) % 2] : _anyone(seed >> 8);
    }

    function _professionalish(uint256 seed) internal view returns (address) {
        return seed % 5 != 0 ? actors[3 + (seed >> 8) % 5] : _anyone(seed >> 8);
    }

    function _adminish(uint256 seed) internal view returns (address) {
        return seed % 8 != 0 ? admin : _anyone(seed >> 8);
    }

    /// Mostly a category 0..7 (so that grants, policies and records meet), else any of 0..255.
    function _category(uint256 seed) internal pure returns (uint8) {
        return seed % 4 != 0 ? uint8((seed >> 8) % 8) : uint8(seed >> 16);
    }

    /// A category mask: one bit, a mask over 0..7, any mask, all; now and then zero.
    function _mask(uint256 seed) internal pure returns (uint256) {
        if ((seed >> 16) % 32 == 0) return 0;
        uint256 mode = seed % 4;
        if (mode == 0) return uint256(1) << _category(seed >> 24);
        if (mode == 1) return ((seed >> 24) % 255) + 1;
        if (mode == 2) return seed | 1;
        return type(uint256).max;
    }

    /// A 32-byte value that is zero one time in 32.
    function _nonzero(bytes32 seed) internal pure returns (bytes32) {
        bytes32 h = keccak256(abi.encode(seed));
        return uint256(h) % 32 == 0 ? bytes32(0) : h;
    }

    /// The fuzzer favours small and edge values, and the actions take many decisions from slices
    /// of one seed: hash each seed first so that its bits are independent.
    /// (While the test's setUp builds the starting state, seeds are taken as given.)
    function _mix(uint256 seed, uint256 salt) internal view returns (uint256) {
        return bootstrapping ? seed : uint256(keccak256(abi.encode(seed, salt)));
    }

    function _intendedKind(address who) internal view returns (MedLedger.AccountKind) {
        for (uint256 i; i < N_ACTORS; ++i) {
            if (actors[i] == who) {
                if (i < 3) return MedLedger.AccountKind.Patient;
                if (i < 6) return MedLedger.AccountKind.Practitioner;
                return MedLedger.AccountKind.Insurer;
            }
        }
        return MedLedger.AccountKind.Patient;
    }

    /// A live (not erased) record, starting the search at `seed`; zero if there is none.
    function _liveRecord(uint256 seed) internal view returns (bytes32) {
        uint256 n = recordIds.length;
        if (n == 0) return bytes32(0);
        uint256 start = seed % n;
        for (uint256 k; k < n; ++k) {
            bytes32 id = recordIds[(start + k) % n];
            if (!modelErased(id)) return id;
        }
        return bytes32(0);
    }

    /// A (patient, practitioner) pair with an open emergency window, or the given pair.
    function _openWindow(uint256 seed, address patient, address practitioner) internal view returns (address, address) {
        uint256 n = N_ACTORS * N_ACTORS;
        uint256 start = seed % n;
        for (uint256 k; k < n; ++k) {
            uint256 x = (start + k) % n;
            address p = actors[x / N_ACTORS];
            address q = actors[x % N_ACTORS];
            if (gEmUntil[p][q] > gNow) return (p, q);
        }
        return (patient, practitioner);
    }

    /// A practitioner holding the patient's unexpired write grant, or address(0).
    function _writeGrantee(uint256 seed, address patient) internal view returns (address) {
        uint256 start = seed % N_ACTORS;
        for (uint256 k; k < N_ACTORS; ++k) {
            address q = actors[(start + k) % N_ACTORS];
            GrantG storage g = gGrant[patient][q];
            if (_verifiedPractitioner(q) && g.canWrite && g.expiry > gNow) return q;
        }
        return address(0);
    }

    /// A category the mask covers, tried from a seeded start among 0..7 and then the seed's own
    /// category; `fallback_` if none of those is covered.
    function _coveredCategory(uint256 mask, uint256 seed, uint8 fallback_) internal pure returns (uint8) {
        for (uint256 k; k < 8; ++k) {
            uint8 c = uint8((seed % 8 + k) % 8);
            if (_covers(mask, c)) return c;
        }
        uint8 any = uint8(seed >> 8);
        return _covers(mask, any) ? any : fallback_;
    }

    /// Whether `id` is a valid claim document for a claim by `author` for `patient`: a live
    /// (not erased) record of the patient in CLAIMS written by the author.
    function _validDocument(bytes32 id, address patient, address author) internal view returns (bool) {
        RecordG storage r = gRecord[id];
        return r.exists && r.patient == patient && r.author == author && r.category == CLAIMS && !modelErased(id);
    }

    /// A valid, unclaimed claim document of (`patient`, `author`), searching from `seed`; zero if
    /// there is none.
    function _unclaimedDocument(uint256 seed, address author, address patient) internal view returns (bytes32) {
        uint256 n = recordIds.length;
        if (n == 0) return bytes32(0);
        uint256 start = seed % n;
        for (uint256 k; k < n; ++k) {
            bytes32 id = recordIds[(start + k) % n];
            if (_validDocument(id, patient, author) && gDocClaim[id] == bytes32(0)) return id;
        }
        return bytes32(0);
    }

    /// A record id of the pool not yet taken, searching from `seed`; zero if the pool is full.
    function _freeRecordId(uint256 seed) internal view returns (bytes32) {
        for (uint256 k; k < RECORD_POOL; ++k) {
            bytes32 id = recordPoolId((seed + k) % RECORD_POOL);
            if (!gRecord[id].exists) return id;
        }
        return bytes32(0);
    }

    /// A (practitioner, patient, insurer) triple close to a valid claim: the patient granted both
    /// (unexpired) and the insurer has a policy. With `strict`, also: both verified, the insurer's
    /// grant covers claim documents (CLAIMS), and the practitioner holds an unclaimed claim
    /// document of the patient or may file one. Otherwise whether they are verified and the
    /// insurer's grant covers CLAIMS is left to chance (suspensions, regrants), so that those
    /// checks are exercised too. ok=false if none.
    function _claimTriple(uint256 seed, bool strict)
        internal
        view
        returns (bool ok, address q, address p, address i)
    {
        uint256 n = N_ACTORS * N_ACTORS * N_ACTORS;
        uint256 start = seed % n;
        for (uint256 k; k < n; ++k) {
            uint256 x = (start + k) % n;
            q = actors[x % N_ACTORS];
            p = actors[(x / N_ACTORS) % N_ACTORS];
            i = actors[x / (N_ACTORS * N_ACTORS)];
            if (
                gKind[p] == MedLedger.AccountKind.Patient && gPolicy[i].published && gGrant[p][q].expiry > gNow
                    && gGrant[p][i].expiry > gNow && (!strict || _strictTriple(q, p, i))
            ) return (true, q, p, i);
        }
        return (false, address(0), address(0), address(0));
    }

    function _strictTriple(address q, address p, address i) internal view returns (bool) {
        return _verifiedPractitioner(q) && _verifiedInsurer(i) && _covers(gGrant[p][i].categories, CLAIMS)
            && (modelCanWrite(p, q, CLAIMS) || _unclaimedDocument(0, q, p) != bytes32(0));
    }

    // ================================================================ accounts

    function register(uint256 actorSeed, uint256 kindSeed, bytes32 keySeed) external step("register") {
        actorSeed = _mix(actorSeed, 0);
        kindSeed = _mix(kindSeed, 1);
        address who = actorSeed % 16 == 0 ? _anyone(actorSeed >> 8) : actors[(actorSeed >> 8) % N_ACTORS];
        MedLedger.AccountKind kind =
            kindSeed % 6 == 0 ? MedLedger.AccountKind(1 + (kindSeed >> 8) % 3) : _intendedKind(who);
        bytes32 key = _nonzero(keySeed);
        bytes32 profile = (kindSeed >> 16) % 16 == 0 ? bytes32(0) : keccak256(abi.encode(who, "profile"));
        bool expected = gKind[who] == MedLedger.AccountKind.None && key != bytes32(0)
            && (kind == MedLedger.AccountKind.Patient || profile != bytes32(0));
        bool ok;
        vm.prank(who);
        if (kind == MedLedger.AccountKind.Patient) {
            try m.registerPatient(key) {
                ok = true;
            } catch {}
        } else if (kind == MedLedger.AccountKind.Practitioner) {
            try m.applyAsPractitioner(key, profile) {
                ok = true;
            } catch {}
        } else {
            try m.applyAsInsurer(key, profile) {
                ok = true;
            } catch {}
        }
        _check("register", expected, ok);
        if (ok) {
            gKind[who] = kind;
            gStatus[who] = kind == MedLedger.AccountKind.Patient
                ? MedLedger.AccountStatus.Active
                : MedLedger.AccountStatus.Pending;
        }
    }

    function rotateEncryptionKey(uint256 actorSeed, bytes32 keySeed) external step("rotateEncryptionKey") {
        actorSeed = _mix(actorSeed, 0);
        address who = _anyone(actorSeed);
        bytes32 key = _nonzero(keySeed);
        // The key the account already has is no rotation.
        bytes32 current = m.accountOf(who).encryptionKey;
        bool expected = gKind[who] != MedLedger.AccountKind.None && key != bytes32(0) && key != current;
        bool ok;
        vm.prank(who);
        try m.rotateEncryptionKey(key) {
            ok = true;
        } catch {}
        _check("rotateEncryptionKey", expected, ok);
        if (ok && m.accountOf(who).encryptionKey != key) _mismatch("rotateEncryptionKey: key not stored");
    }

    function verifyAccount(uint256 callerSeed, uint256 targetSeed) external step("verifyAccount") {
        callerSeed = _mix(callerSeed, 0);
        targetSeed = _mix(targetSeed, 1);
        address caller = _adminish(callerSeed);
        address target = _professionalish(targetSeed);
        bool expected = caller == admin && _professional(target) && gStatus[target] == MedLedger.AccountStatus.Pending;
        bool ok;
        vm.prank(caller);
        try m.verifyAccount(target) {
            ok = true;
        } catch {}
        _check("verifyAccount", expected, ok);
        if (ok) {
            gStatus[target] = MedLedger.AccountStatus.Active;
            gEverVerified[target] = true;
        }
    }

    function suspendAccount(uint256 callerSeed, uint256 targetSeed, bytes32 reason) external step("suspendAccount") {
        callerSeed = _mix(callerSeed, 0);
        targetSeed = _mix(targetSeed, 1);
        // Suspensions stop most other actions: only one call in three goes ahead.
        if (targetSeed % 3 != 0) return;
        targetSeed >>= 2;
        address caller = _adminish(callerSeed);
        address target = _professionalish(targetSeed);
        // Only a verified (Active) account can be suspended: suspending a pending applicant and
        // reinstating it would verify it without review.
        bool expected = caller == admin && _professional(target) && gStatus[target] == MedLedger.AccountStatus.Active;
        bool ok;
        vm.prank(caller);
        try m.suspendAccount(target, reason) {
            ok = true;
        } catch {}
        _check("suspendAccount", expected, ok);
        if (ok) gStatus[target] = MedLedger.AccountStatus.Suspended;
    }

    function reinstateAccount(uint256 callerSeed, uint256 targetSeed) external step("reinstateAccount") {
        callerSeed = _mix(callerSeed, 0);
        targetSeed = _mix(targetSeed, 1);
        address caller = _adminish(callerSeed);
        address target = _professionalish(targetSeed);
        if (targetSeed % 4 != 0) {
            for (uint256 k; k < N_ACTORS; ++k) {
                address a = actors[(targetSeed % N_ACTORS + k) % N_ACTORS];
                if (gStatus[a] == MedLedger.AccountStatus.Suspended) {
                    target = a;
                    break;
                }
            }
        }
        bool expected = caller == admin && _professional(target) && gStatus[target] == MedLedger.AccountStatus.Suspended;
        bool ok;
        vm.prank(caller);
        try m.reinstateAccount(target) {
            ok = true;
        } catch {}
        _check("reinstateAccount", expected, ok);
        if (ok) gStatus[target] = MedLedger.AccountStatus.Active;
    }

    // ================================================================ consent

    function grant(uint256 patientSeed, uint256 granteeSeed, uint256 maskSeed, bool allowWrite, uint256 expirySeed)
        external
        step("grant")
    {
        patientSeed = _mix(patientSeed, 0);
        granteeSeed = _mix(granteeSeed, 1);
        maskSeed = _mix(maskSeed, 2);
        expirySeed = _mix(expirySeed, 3);
        address patient = _patientish(patientSeed);
        address grantee = _professionalish(granteeSeed);
        uint256 categories = _mask(maskSeed);
        // A write grant to an insurer is refused; try it now and then, not half the time.
        if (gKind[grantee] == MedLedger.AccountKind.Insurer && maskSeed % 3 != 0) allowWrite = false;
        uint256 expiry = expirySeed % 10 == 0
            ? gNow - (expirySeed >> 8) % 2 days  // now or in the past: refused
            : gNow + 1 + (expirySeed >> 8) % ((expirySeed >> 4) % 2 == 0 ? 7 days : 400 days);
        MedLedger.AccountKind gk = gKind[grantee];
        bool expected = gKind[patient] == MedLedger.AccountKind.Patient
            && (gk == MedLedger.AccountKind.Practitioner || (gk == MedLedger.AccountKind.Insurer && !allowWrite))
            && categories != 0 && expiry > gNow;
        bool ok;
        vm.prank(patient);
        try m.grant(grantee, categories, allowWrite, uint64(expiry)) {
            ok = true;
        } catch {}
        _check("grant", expected, ok);
        if (ok) {
            gGrant[patient][grantee] =
                GrantG({categories: categories, canWrite: allowWrite, expiry: uint64(expiry), listed: true});
        }
    }

    function revoke(uint256 patientSeed, uint256 granteeSeed) external step("revoke") {
        patientSeed = _mix(patientSeed, 0);
        granteeSeed = _mix(granteeSeed, 1);
        address patient = _patientish(patientSeed);
        address grantee = _professionalish(granteeSeed);
        bool expected = gGrant[patient][grantee].listed;
        bool ok;
        vm.prank(patient);
        try m.revoke(grantee) {
            ok = true;
        } catch {}
        _check("revoke", expected, ok);
        if (ok) delete gGrant[patient][grantee];
    }

    // ================================================================ records

    function addRecord(uint256 callerSeed, uint256 patientSeed, uint256 idSeed, uint256 categorySeed, uint256 supSeed)
        external
        step("addRecord")
    {
        callerSeed = _mix(callerSeed, 0);
        patientSeed = _mix(patientSeed, 1);
        idSeed = _mix(idSeed, 2);
        categorySeed = _mix(categorySeed, 3);
        supSeed = _mix(supSeed, 4);
        address patient = _patientish(patientSeed);
        uint256 mode = callerSeed % 3; // 0: the patient, 1: a write grantee if any, 2: anyone practitioner-ish
        address caller = mode == 0 ? patient : _practitionerish(callerSeed >> 8);
        uint8 category = _category(categorySeed);
        if (mode == 1) {
            address q = _writeGrantee(callerSeed >> 8, patient);
            if (q != address(0)) {
                caller = q;
                category = _coveredCategory(gGrant[patient][q].categories, categorySeed >> 8, category);
            }
        }
        bytes32 id = idSeed % 64 == 63 ? bytes32(0) : recordPoolId(idSeed % RECORD_POOL);
        bytes32 hash = (idSeed >> 8) % 64 == 0 ? bytes32(0) : keccak256(abi.encode("ciphertext", idSeed));
        bytes32 supersedes = _pickSupersedes(supSeed, patient);
        _addRecordAs(
            "addRecord",
            RecordAdd({caller: caller, patient: patient, id: id, hash: hash, category: category, supersedes: supersedes})
        );
    }

    struct RecordAdd {
        address caller;
        address patient;
        bytes32 id;
        bytes32 hash;
        uint8 category;
        bytes32 supersedes;
    }

    /// One addRecord call, judged against the model and counted under `name`; on success the
    /// record joins the model and its authorisation is recorded for the invariants. Used by the
    /// addRecord action and by submitClaim, which files claim documents this way.
    function _addRecordAs(string memory name, RecordAdd memory a) internal returns (bool ok) {
        bool supOk = a.supersedes == bytes32(0)
            || (gRecord[a.supersedes].exists && gRecord[a.supersedes].patient == a.patient && !modelErased(a.supersedes));
        bool expected = a.id != bytes32(0) && a.hash != bytes32(0) && !gRecord[a.id].exists
            && modelCanWrite(a.patient, a.caller, a.category) && supOk;
        vm.prank(a.caller);
        try m.addRecord(a.id, a.patient, a.hash, a.category, a.supersedes) {
            ok = true;
        } catch {}
        _check(name, expected, ok);
        if (!ok) return false;

        // Requirement written out on its own: the author is the patient, or a verified
        // practitioner holding, at this moment, an unexpired write grant covering the category.
        adds++;
        GrantG storage g = gGrant[a.patient][a.caller];
        bool authorised = (a.caller == a.patient && gKind[a.patient] == MedLedger.AccountKind.Patient)
            || (gKind[a.caller] == MedLedger.AccountKind.Practitioner
                && gStatus[a.caller] == MedLedger.AccountStatus.Active
                && g.canWrite
                && g.expiry > block.timestamp
                && _covers(g.categories, a.category));
        if (!authorised) unauthorisedAdds++;

        gRecord[a.id] = RecordG({
            exists: true,
            patient: a.patient,
            author: a.caller,
            category: a.category,
            epoch: gEpoch[a.patient],
            erasedFlag: false,
            shredConfirmed: false
        });
        recordIds.push(a.id);
    }

    /// Amends nothing, one of this patient's records (live or erased), or any id (unknown, or
    /// another patient's).
    function _pickSupersedes(uint256 supSeed, address patient) internal view returns (bytes32 supersedes) {
        uint256 supMode = supSeed % 4;
        if (supMode < 2) return bytes32(0);
        supersedes = recordPoolId((supSeed >> 8) % RECORD_POOL);
        if (supMode == 2) {
            uint256 n = recordIds.length;
            for (uint256 k; k < n; ++k) {
                bytes32 r = recordIds[((supSeed >> 8) % n + k) % n];
                if (gRecord[r].patient == patient) return r;
            }
        }
    }

    function eraseRecord(uint256 callerSeed, uint256 idSeed) external step("eraseRecord") {
        callerSeed = _mix(callerSeed, 0);
        idSeed = _mix(idSeed, 1);
        bytes32 id = idSeed % 4 != 0 ? _liveRecord(idSeed >> 8) : bytes32(0);
        if (id == bytes32(0)) {
            id = recordIds.length > 0 && idSeed % 2 == 0
                ? recordIds[(idSeed >> 8) % recordIds.length]
                : recordPoolId((idSeed >> 8) % RECORD_POOL);
        }
        address caller = callerSeed % 4 != 0 && gRecord[id].exists ? gRecord[id].patient : _patientish(callerSeed >> 8);
        bool expected = gRecord[id].exists && gRecord[id].patient == caller && !modelErased(id);
        bool ok;
        vm.prank(caller);
        try m.eraseRecord(id) {
            ok = true;
        } catch {}
        _check("eraseRecord", expected, ok);
        if (ok) {
            gRecord[id].erasedFlag = true;
            _markErased(id);
        }
    }

    function eraseAll(uint256 callerSeed) external step("eraseAll") {
        callerSeed = _mix(callerSeed, 0);
        // Erasing everything ends most of what the other actions work on: only one call in four
        // goes ahead.
        if (callerSeed % 4 != 0) return;
        address caller = _patientish(callerSeed >> 2);
        bool expected = gKind[caller] == MedLedger.AccountKind.Patient;
        bool ok;
        vm.prank(caller);
        try m.eraseAll() {
            ok = true;
        } catch {}
        _check("eraseAll", expected, ok);
        if (!ok) return;
        for (uint256 i; i < recordIds.length; ++i) {
            bytes32 id = recordIds[i];
            if (gRecord[id].patient == caller && !modelErased(id)) _markErased(id);
        }
        gEpoch[caller]++;
    }

    function _markErased(bytes32 id) internal {
        if (!gErasedForever[id]) {
            gErasedForever[id] = true;
            erasedIds.push(id);
        }
    }

    function confirmShredded(uint256 callerSeed, uint256 idSeed, bytes32 receiptSeed) external step("confirmShredded") {
        callerSeed = _mix(callerSeed, 0);
        idSeed = _mix(idSeed, 1);
        address caller = callerSeed % 6 != 0 ? escrow : _anyone(callerSeed >> 8);
        bytes32 id = recordIds.length > 0 && idSeed % 4 != 0
            ? recordIds[(idSeed >> 8) % recordIds.length]
            : recordPoolId((idSeed >> 8) % RECORD_POOL);
        bytes32 receipt = _nonzero(receiptSeed);
        bool expected = caller == escrow && gRecord[id].exists && modelErased(id) && !gRecord[id].shredConfirmed
            && receipt != bytes32(0);
        bool ok;
        vm.prank(caller);
        try m.confirmShredded(id, receipt) {
            ok = true;
        } catch {}
        _check("confirmShredded", expected, ok);
        if (ok) gRecord[id].shredConfirmed = true;
    }

    // ================================================================ emergency access

    function setEmergencyOptIn(uint256 patientSeed, bool optedIn) external step("setEmergencyOptIn") {
        patientSeed = _mix(patientSeed, 0);
        address patient = _patientish(patientSeed);
        // Often a patient on whom a window is open, so that opting out closes something.
        if (patientSeed % 3 == 0) (patient,) = _openWindow(patientSeed >> 2, patient, address(0));
        bool expected = gKind[patient] == MedLedger.AccountKind.Patient;
        bool ok;
        vm.prank(patient);
        try m.setEmergencyOptIn(optedIn) {
            ok = true;
        } catch {}
        _check("setEmergencyOptIn", expected, ok);
        if (!ok) return;
        gOptIn[patient] = optedIn;
        if (!optedIn) {
            for (uint256 i; i < everyone.length; ++i) {
                gEmUntil[patient][everyone[i]] = 0;
            }
        }
    }

    function emergencyAccess(uint256 callerSeed, uint256 patientSeed, bytes32 reasonSeed)
        external
        step("emergencyAccess")
    {
        callerSeed = _mix(callerSeed, 0);
        patientSeed = _mix(patientSeed, 1);
        address caller = _practitionerish(callerSeed);
        address patient = _patientish(patientSeed);
        if (patientSeed % 4 != 0) {
            // Mostly an opted-in patient and a verified practitioner, if there are any.
            for (uint256 k; k < N_ACTORS; ++k) {
                address a = actors[(patientSeed % N_ACTORS + k) % N_ACTORS];
                if (gOptIn[a]) {
                    patient = a;
                    break;
                }
            }
            for (uint256 k; k < N_ACTORS; ++k) {
                address a = actors[(callerSeed % N_ACTORS + k) % N_ACTORS];
                if (_verifiedPractitioner(a)) {
                    caller = a;
                    break;
                }
            }
        }
        bytes32 reason = _nonzero(reasonSeed);
        bool expected = _verifiedPractitioner(caller) && reason != bytes32(0)
            && gKind[patient] == MedLedger.AccountKind.Patient && gOptIn[patient];
        bool ok;
        vm.prank(caller);
        try m.emergencyAccess(patient, reason) {
            ok = true;
        } catch {}
        _check("emergencyAccess", expected, ok);
        if (ok) {
            gEmUntil[patient][caller] = gNow + gWindow;
            if (m.emergencyAccessUntil(patient, caller) != gNow + gWindow) _mismatch("emergencyAccess: window end");
        }
    }

    function endEmergencyAccess(uint256 patientSeed, uint256 practitionerSeed) external step("endEmergencyAccess") {
        patientSeed = _mix(patientSeed, 0);
        practitionerSeed = _mix(practitionerSeed, 1);
        address patient = _patientish(patientSeed);
        address practitioner = _practitionerish(practitionerSeed);
        if (patientSeed % 4 != 0) (patient, practitioner) = _openWindow(patientSeed >> 2, patient, practitioner);
        bool expected = gEmUntil[patient][practitioner] > gNow;
        bool ok;
        vm.prank(patient);
        try m.endEmergencyAccess(practitioner) {
            ok = true;
        } catch {}
        _check("endEmergencyAccess", expected, ok);
        if (ok) {
            gEmUntil[patient][practitioner] = 0;
        }
    }

    function setEmergencyWindow(uint256 callerSeed, uint256 windowSeed) external step("setEmergencyWindow") {
        callerSeed = _mix(callerSeed, 0);
        windowSeed = _mix(windowSeed, 1);
        address caller = _adminish(callerSeed);
        uint256 window = _bound(windowSeed, 30 minutes, 8 days);
        bool expected = caller == admin && window >= 1 hours && window <= 7 days;
        bool ok;
        vm.prank(caller);
        try m.setEmergencyWindow(uint64(window)) {
            ok = true;
        } catch {}
        _check("setEmergencyWindow", expected, ok);
        if (ok) gWindow = window;
    }

    // ================================================================ time

    function warp(uint256 seed) external step("warp") {
        seed = _mix(seed, 0);
        // Mostly hours, sometimes weeks, rarely more than a policy year; and now and then exactly
        // to the next moment a grant or an emergency window lapses (the boundary of "expiry").
        uint256 mode = seed % 32;
        if (mode < 4) {
            uint256 next = _nextLapse();
            if (next != 0) {
                gNow = next - (mode == 0 ? 1 : 0);
                vm.warp(gNow);
                okCalls["warp"]++;
                return;
            }
        }
        uint256 dt = mode < 28
            ? _bound(seed >> 8, 0, 1 days)
            : mode < 31 ? _bound(seed >> 8, 0, 30 days) : _bound(seed >> 8, 0, 400 days);
        gNow += dt;
        vm.warp(gNow);
        okCalls["warp"]++;
    }

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    /// The earliest grant expiry or emergency window end after now (0 if none).
    function _nextLapse() internal view returns (uint256 next) {
        for (uint256 i; i < N_ACTORS; ++i) {
            for (uint256 j; j < N_ACTORS; ++j) {
                uint256 e = gGrant[actors[i]][actors[j]].expiry;
                if (e > gNow + 1 && (next == 0 || e < next)) next = e;
                e = gEmUntil[actors[i]][actors[j]];
                if (e > gNow + 1 && (next == 0 || e < next)) next = e;
            }
        }
    }

    // ================================================================ access-log anchors

    function anchorAccessLog(uint256 callerSeed, bytes32 rootSeed, uint256 rangeSeed) external step("anchorAccessLog") {
        callerSeed = _mix(callerSeed, 0);
        rangeSeed = _mix(rangeSeed, 1);
        address caller = callerSeed % 6 != 0 ? escrow : _anyone(callerSeed >> 8);
        uint64 first = rangeSeed % 8 == 0 ? gNextSeq + 1 + uint64((rangeSeed >> 8) % 5) : gNextSeq;
        uint64 len = (rangeSeed >> 24) % 3 == 0 ? uint64((rangeSeed >> 32) % 100) : uint64((rangeSeed >> 32) % 2);
        uint64 last = (rangeSeed >> 16) % 10 == 0 && first > 0 ? first - 1 : first + len;
        bytes32 entry = keccak256(abi.encode(rootSeed));
        bytes32 entry2 = keccak256(abi.encode(entry));
        // One- and two-entry batches get real Merkle roots (OpenZeppelin's sorted-pair keccak
        // tree over logLeaf), so the checks below can verify entries against them.
        bytes32 root = _nonzero(rootSeed);
        if (first == last) root = m.logLeaf(first, entry);
        if (last == first + 1) root = _hashPair(m.logLeaf(first, entry), m.logLeaf(last, entry2));
        bool expected = caller == escrow && root != bytes32(0) && first == gNextSeq && last >= first;
        bool ok;
        vm.prank(caller);
        try m.anchorAccessLog(root, first, last) {
            ok = true;
        } catch {}
        _check("anchorAccessLog", expected, ok);
        if (!ok) return;
        gNextSeq = last + 1;
        gAnchors++;
        if (first == last && !m.verifyLogEntry(gAnchors - 1, first, entry, new bytes32[](0))) {
            _mismatch("anchorAccessLog: one-entry batch does not verify");
        }
        if (last == first + 1) {
            bytes32[] memory proof = new bytes32[](1);
            proof[0] = m.logLeaf(last, entry2);
            if (!m.verifyLogEntry(gAnchors - 1, first, entry, proof)) _mismatch("anchorAccessLog: first of two");
            if (m.verifyLogEntry(gAnchors - 1, first, entry2, proof)) {
                _mismatch("anchorAccessLog: wrong entry verifies");
            }
            proof[0] = m.logLeaf(first, entry);
            if (!m.verifyLogEntry(gAnchors - 1, last, entry2, proof)) _mismatch("anchorAccessLog: second of two");
            if (m.verifyLogEntry(gAnchors - 1, first, entry2, proof)) {
                _mismatch("anchorAccessLog: wrong sequence verifies");
            }
        }
        if (m.verifyLogEntry(gAnchors - 1, last + 1, entry, new bytes32[](0))) {
            _mismatch("anchorAccessLog: entry outside the batch verifies");
        }
    }

    // ================================================================ insurance

    function publishPolicy(
        uint256 callerSeed,
        uint256 maskSeed,
        uint256 limitSeed,
        uint256 deductibleSeed,
        uint256 value
    ) external step("publishPolicy") {
        callerSeed = _mix(callerSeed, 0);
        maskSeed = _mix(maskSeed, 1);
        limitSeed = _mix(limitSeed, 2);
        deductibleSeed = _mix(deductibleSeed, 3);
        value = _mix(value, 4);
        address caller = _insurerish(callerSeed);
        uint256 covered = _mask(maskSeed);
        uint256 perClaim = limitSeed % 40 == 0 ? 0 : _bound(limitSeed >> 8, 1, 10 ether);
        uint256 annual = (limitSeed >> 128) % 40 == 0 ? 0 : _bound(limitSeed >> 136, 1, 30 ether);
        uint256 deductible = deductibleSeed % 3 == 0 ? 0 : _bound(deductibleSeed >> 8, 0, 3 ether);
        value = value % 3 == 0 ? 0 : _bound(value >> 8, 0, 40 ether);
        bool expected = _verifiedInsurer(caller) && covered != 0 && perClaim != 0 && annual != 0;
        vm.deal(caller, caller.balance + value);
        bool ok;
        vm.prank(caller);
        try insurance.publishPolicy{value: value}(covered, uint128(perClaim), uint128(annual), uint128(deductible)) {
            ok = true;
        } catch {}
        _check("publishPolicy", expected, ok);
        if (!ok) return;
        PolicyG storage p = gPolicy[caller];
        p.published = true;
        p.covered = covered;
        p.perClaim = perClaim;
        p.annual = annual;
        p.deductible = deductible;
        p.funds += value;
    }

    function fundPolicy(uint256 callerSeed, uint256 value) external step("fundPolicy") {
        callerSeed = _mix(callerSeed, 0);
        value = _mix(value, 1);
        address caller = _insurerish(callerSeed);
        value = value % 10 == 0 ? 0 : _bound(value >> 8, 1, 20 ether);
        bool expected = gPolicy[caller].published && value != 0;
        vm.deal(caller, caller.balance + value);
        bool ok;
        vm.prank(caller);
        try insurance.fundPolicy{value: value}() {
            ok = true;
        } catch {}
        _check("fundPolicy", expected, ok);
        if (ok) gPolicy[caller].funds += value;
    }

    function withdrawPolicyFunds(uint256 callerSeed, uint256 amountSeed) external step("withdrawPolicyFunds") {
        callerSeed = _mix(callerSeed, 0);
        amountSeed = _mix(amountSeed, 1);
        address caller = _insurerish(callerSeed);
        PolicyG storage p = gPolicy[caller];
        uint256 available = p.funds - p.reserved;
        // Exactly what is available, one wei more, all the funds (reserve included), or any amount.
        uint256 mode = amountSeed % 4;
        uint256 amount = mode == 0
            ? available
            : mode == 1 ? available + 1 : mode == 2 ? p.funds : _bound(amountSeed >> 8, 0, p.funds + 1 ether);
        bool expected = p.published && amount != 0 && amount <= available;
        uint256 before = caller.balance;
        bool ok;
        vm.prank(caller);
        try insurance.withdrawPolicyFunds(amount) {
            ok = true;
        } catch {}
        _check("withdrawPolicyFunds", expected, ok);
        if (!ok) return;
        p.funds -= amount;
        if (caller.balance != before + amount) _mismatch("withdrawPolicyFunds: ether not received");
    }

    struct Submission {
        address caller;
        address patient;
        address insurer;
        bytes32 claimId;
        bytes32 doc;
        uint256 amount;
        uint8 category;
    }

    function submitClaim(
        uint256 callerSeed,
        uint256 patientSeed,
        uint256 insurerSeed,
        uint256 idSeed,
        uint256 amountSeed,
        uint256 categorySeed
    ) external step("submitClaim") {
        callerSeed = _mix(callerSeed, 0);
        patientSeed = _mix(patientSeed, 1);
        insurerSeed = _mix(insurerSeed, 2);
        idSeed = _mix(idSeed, 3);
        amountSeed = _mix(amountSeed, 4);
        categorySeed = _mix(categorySeed, 5);
        Submission memory s = Submission({
            caller: _practitionerish(callerSeed),
            patient: _patientish(patientSeed),
            insurer: _insurerish(insurerSeed),
            claimId: idSeed % 64 == 63 ? bytes32(0) : claimPoolId(idSeed % CLAIM_POOL),
            doc: bytes32(0),
            amount: amountSeed % 40 == 0 ? 0 : _bound(amountSeed >> 8, 1, 12 ether),
            category: _category(categorySeed)
        });
        if (callerSeed % 3 != 0) {
            // Mostly a triple that can make a valid claim, if there is one.
            (bool found, address q, address p, address i) = _claimTriple(callerSeed >> 2, callerSeed % 4 != 0);
            if (!found) (found, q, p, i) = _claimTriple(callerSeed >> 2, false);
            if (found) {
                (s.caller, s.patient, s.insurer) = (q, p, i);
                // Mostly a category the practitioner's grant covers; else the random one.
                if (categorySeed % 4 != 0) {
                    s.category = _coveredCategory(gGrant[p][q].categories, categorySeed >> 2, s.category);
                }
            }
        }
        s.doc = _claimDocument(idSeed >> 8, s.caller, s.patient);
        _submit(s);
    }

    /// The claim document to submit: mostly a valid, unclaimed document of (patient,
    /// practitioner): one already filed, or one the practitioner files now through addRecord in
    /// CLAIMS (judged against the model like any record, counted as fileClaimDocument); else a
    /// document already claimed, any known record (another patient's, another author's, another
    /// category, erased), any id of the record pool, an id that is no record, or zero.
    function _claimDocument(uint256 seed, address q, address p) internal returns (bytes32 doc) {
        uint256 mode = seed % 16;
        if (mode < 10) {
            if (mode < 5) doc = _unclaimedDocument(seed >> 8, q, p);
            if (doc != bytes32(0)) return doc;
            bytes32 id = _freeRecordId(seed >> 8);
            if (id != bytes32(0)) {
                _count("fileClaimDocument");
                RecordAdd memory a = RecordAdd({
                    caller: q,
                    patient: p,
                    id: id,
                    hash: keccak256(abi.encode("claim document", seed)),
                    category: CLAIMS,
                    supersedes: bytes32(0)
                });
                // Refused unless q may write CLAIMS for p: then the claim names a record that
                // does not exist.
                _addRecordAs("fileClaimDocument", a);
                return id;
            }
            mode = 11;
        }
        uint256 n = recordIds.length;
        if (mode == 10 && claimIds.length > 0) return gClaim[claimIds[(seed >> 8) % claimIds.length]].doc;
        if (mode <= 12 && n > 0) return recordIds[(seed >> 8) % n];
        if (mode == 13) return recordPoolId((seed >> 8) % RECORD_POOL);
        if (mode == 15) return bytes32(0);
        return keccak256(abi.encode("not a record", seed));
    }

    function _submit(Submission memory s) internal {
        bytes memory refusal = _submitRefusal(s);
        IMedLedgerInsurance.ClaimStatus before =
            s.claimId == bytes32(0) ? IMedLedgerInsurance.ClaimStatus.None : insurance.claimOf(s.claimId).status;
        bool ok;
        bytes memory err;
        vm.prank(s.caller);
        try insurance.submitClaim(s.claimId, s.patient, s.insurer, s.doc, uint128(s.amount), s.category) {
            ok = true;
        } catch (bytes memory e) {
            err = e;
        }
        _check("submitClaim", refusal.length == 0, ok);
        _recordTransition(s.claimId, before, s.caller);
        if (!ok) {
            claimRefusals[bytes4(err)]++;
            if (refusal.length != 0 && keccak256(err) != keccak256(refusal)) {
                _mismatch(
                    string.concat(
                        "submitClaim: refused with ", vm.toString(err), ", the model expected ", vm.toString(refusal)
                    )
                );
            }
            return;
        }
        _settle(s);
    }

    /// The model's answer to a submission, in the contract's order of checks: the error it must
    /// be refused with, or nothing if it must be accepted. The claim document must be a live
    /// CLAIMS record of the patient written by the caller, claimed by no other claim; the
    /// patient's grant to the caller must be unexpired and cover the claimed category, and the
    /// grant to the insurer unexpired and cover CLAIMS (not the claimed category).
    function _submitRefusal(Submission memory s) internal view returns (bytes memory) {
        if (!_verifiedPractitioner(s.caller)) {
            return abi.encodeWithSelector(IMedLedgerInsurance.NotAVerifiedPractitioner.selector, s.caller);
        }
        if (s.claimId == bytes32(0)) return abi.encodeWithSelector(IMedLedgerInsurance.InvalidClaimId.selector);
        if (gClaim[s.claimId].status != IMedLedgerInsurance.ClaimStatus.None) {
            return abi.encodeWithSelector(IMedLedgerInsurance.ClaimExists.selector, s.claimId);
        }
        if (s.amount == 0) return abi.encodeWithSelector(IMedLedgerInsurance.InvalidAmount.selector);
        if (gKind[s.patient] != MedLedger.AccountKind.Patient) {
            return abi.encodeWithSelector(IMedLedgerInsurance.NotAPatient.selector, s.patient);
        }
        if (!_verifiedInsurer(s.insurer)) return abi.encodeWithSelector(IMedLedgerInsurance.NotAVerifiedInsurer.selector, s.insurer);
        if (!gPolicy[s.insurer].published) return abi.encodeWithSelector(IMedLedgerInsurance.NoPolicy.selector, s.insurer);
        if (!_validDocument(s.doc, s.patient, s.caller)) {
            return abi.encodeWithSelector(IMedLedgerInsurance.InvalidClaimDocument.selector, s.doc);
        }
        if (gDocClaim[s.doc] != bytes32(0)) {
            return abi.encodeWithSelector(IMedLedgerInsurance.DuplicateClaimDocument.selector, s.doc, gDocClaim[s.doc]);
        }
        GrantG storage pg = gGrant[s.patient][s.caller];
        if (pg.expiry <= gNow || !_covers(pg.categories, s.category)) {
            return abi.encodeWithSelector(IMedLedgerInsurance.PractitionerNotPermitted.selector, s.patient, s.caller, s.category);
        }
        GrantG storage ig = gGrant[s.patient][s.insurer];
        if (ig.expiry <= gNow || !_covers(ig.categories, CLAIMS)) {
            return abi.encodeWithSelector(IMedLedgerInsurance.InsurerNotPermitted.selector, s.patient, s.insurer, CLAIMS);
        }
        return "";
    }

    /// The model's settlement of a submitted claim, compared with what the contract did.
    function _settle(Submission memory s) internal {
        uint256 year = gNow / 365 days;
        PolicyG storage p = gPolicy[s.insurer];
        UsageG storage u = gUsage[s.insurer][s.patient][year];
        uint256 left = u.deductibleUsed >= p.deductible ? 0 : p.deductible - u.deductibleUsed;
        uint256 dPart = s.amount <= left ? s.amount : left;
        uint256 payout = s.amount - dPart;
        bool settles = _covers(p.covered, s.category) && s.amount <= p.perClaim && u.paid + payout <= p.annual
            && payout + p.reserved <= p.funds;

        gDocClaim[s.doc] = s.claimId;
        claimIds.push(s.claimId);
        ClaimG storage c = gClaim[s.claimId];
        c.doc = s.doc;
        c.practitioner = s.caller;
        c.patient = s.patient;
        c.insurer = s.insurer;
        c.amount = s.amount;
        c.year = year;
        if (settles) {
            c.status = IMedLedgerInsurance.ClaimStatus.Paid;
            c.payout = payout;
            u.deductibleUsed += dPart;
            u.paid += payout;
            p.funds -= payout;
            gPayout[s.caller] += payout;
        } else {
            c.status = IMedLedgerInsurance.ClaimStatus.Submitted;
        }
        IMedLedgerInsurance.Claim memory got = insurance.claimOf(s.claimId);
        if (got.status != c.status) _mismatch("submitClaim: settled vs left for review differs from the model");
        if (got.payout != c.payout) _mismatch("submitClaim: payout differs from the model");
        if (got.documentRecordId != s.doc) _mismatch("submitClaim: document record id not stored");
        IMedLedgerInsurance.AnnualUsage memory gu = insurance.annualUsageOf(s.insurer, s.patient, uint64(year));
        if (gu.deductibleUsed != u.deductibleUsed || gu.paid != u.paid) _mismatch("submitClaim: annual usage");
    }

    /// Mostly a claim in status `want` (if there is one), else any known claim or any pool id.
    function _pickClaim(uint256 seed, IMedLedgerInsurance.ClaimStatus want) internal view returns (bytes32) {
        uint256 n = claimIds.length;
        if (n > 0 && seed % 4 != 0) {
            uint256 start = (seed >> 8) % n;
            for (uint256 k; k < n; ++k) {
                bytes32 id = claimIds[(start + k) % n];
                if (gClaim[id].status == want) return id;
            }
        }
        return n > 0 && seed % 2 == 0 ? claimIds[(seed >> 8) % n] : claimPoolId((seed >> 8) % CLAIM_POOL);
    }

    /// Record a status change of `claimId` made by `caller`, and judge it against the allowed
    /// edges: None→Paid and None→Submitted by the claim's practitioner; Submitted→Approved,
    /// Submitted→Denied and Approved→Paid by the claim's insurer.
    function _recordTransition(bytes32 claimId, IMedLedgerInsurance.ClaimStatus from, address caller) internal {
        if (claimId == bytes32(0)) return;
        IMedLedgerInsurance.Claim memory c = insurance.claimOf(claimId);
        IMedLedgerInsurance.ClaimStatus to = c.status;
        if (to == from) return;
        transitions++;
        bool byPractitioner = caller == c.practitioner;
        bool byInsurer = caller == c.insurer;
        bool allowed =
            (from == IMedLedgerInsurance.ClaimStatus.None
                    && (to == IMedLedgerInsurance.ClaimStatus.Paid || to == IMedLedgerInsurance.ClaimStatus.Submitted)
                    && byPractitioner)
                || (from == IMedLedgerInsurance.ClaimStatus.Submitted
                    && (to == IMedLedgerInsurance.ClaimStatus.Approved || to == IMedLedgerInsurance.ClaimStatus.Denied)
                    && byInsurer)
                || (from == IMedLedgerInsurance.ClaimStatus.Approved && to == IMedLedgerInsurance.ClaimStatus.Paid && byInsurer);
        if (!allowed) {
            badTransitions++;
            if (bytes(firstBadTransition).length == 0) {
                firstBadTransition = string.concat(
                    "claim moved ",
                    vm.toString(uint256(from)),
                    " -> ",
                    vm.toString(uint256(to)),
                    " by ",
                    vm.toString(caller)
                );
            }
        }
    }

    function approveClaim(uint256 callerSeed, uint256 claimSeed, uint256 payoutSeed) external step("approveClaim") {
        callerSeed = _mix(callerSeed, 0);
        claimSeed = _mix(claimSeed, 1);
        payoutSeed = _mix(payoutSeed, 2);
        bytes32 id = _pickClaim(claimSeed, IMedLedgerInsurance.ClaimStatus.Submitted);
        ClaimG storage c = gClaim[id];
        address caller = callerSeed % 5 != 0 && c.insurer != address(0) ? c.insurer : _insurerish(callerSeed >> 8);
        uint256 payout = payoutSeed % 4 == 0 ? c.amount : _bound(payoutSeed >> 8, 0, c.amount + 1 ether);
        PolicyG storage p = gPolicy[caller];
        bool expected = c.status == IMedLedgerInsurance.ClaimStatus.Submitted && caller == c.insurer && _verifiedInsurer(caller)
            && payout != 0 && payout <= c.amount && payout + p.reserved <= p.funds;
        IMedLedgerInsurance.ClaimStatus before = insurance.claimOf(id).status;
        bool ok;
        vm.prank(caller);
        try insurance.approveClaim(id, uint128(payout)) {
            ok = true;
        } catch {}
        _check("approveClaim", expected, ok);
        _recordTransition(id, before, caller);
        if (!ok) return;
        p.reserved += payout;
        gUsage[caller][c.patient][c.year].paid += payout;
        c.payout = payout;
        c.status = IMedLedgerInsurance.ClaimStatus.Approved;
    }

    function denyClaim(uint256 callerSeed, uint256 claimSeed, bytes32 reasonSeed) external step("denyClaim") {
        callerSeed = _mix(callerSeed, 0);
        claimSeed = _mix(claimSeed, 1);
        bytes32 id = _pickClaim(claimSeed, IMedLedgerInsurance.ClaimStatus.Submitted);
        ClaimG storage c = gClaim[id];
        address caller = callerSeed % 5 != 0 && c.insurer != address(0) ? c.insurer : _insurerish(callerSeed >> 8);
        bytes32 reason = _nonzero(reasonSeed);
        bool expected = c.status == IMedLedgerInsurance.ClaimStatus.Submitted && caller == c.insurer && _verifiedInsurer(caller)
            && reason != bytes32(0);
        IMedLedgerInsurance.ClaimStatus before = insurance.claimOf(id).status;
        bool ok;
        vm.prank(caller);
        try insurance.denyClaim(id, reason) {
            ok = true;
        } catch {}
        _check("denyClaim", expected, ok);
        _recordTransition(id, before, caller);
        if (ok) c.status = IMedLedgerInsurance.ClaimStatus.Denied;
    }

    function payClaim(uint256 callerSeed, uint256 claimSeed) external step("payClaim") {
        callerSeed = _mix(callerSeed, 0);
        claimSeed = _mix(claimSeed, 1);
        bytes32 id = _pickClaim(claimSeed, IMedLedgerInsurance.ClaimStatus.Approved);
        ClaimG storage c = gClaim[id];
        address caller = callerSeed % 5 != 0 && c.insurer != address(0) ? c.insurer : _anyone(callerSeed >> 8);
        // A suspended insurer may still pay what it approved.
        bool expected = c.status == IMedLedgerInsurance.ClaimStatus.Approved && caller == c.insurer;
        IMedLedgerInsurance.ClaimStatus before = insurance.claimOf(id).status;
        bool ok;
        vm.prank(caller);
        try insurance.payClaim(id) {
            ok = true;
        } catch {}
        _check("payClaim", expected, ok);
        _recordTransition(id, before, caller);
        if (!ok) return;
        PolicyG storage p = gPolicy[caller];
        p.reserved -= c.payout;
        p.funds -= c.payout;
        gPayout[c.practitioner] += c.payout;
        c.status = IMedLedgerInsurance.ClaimStatus.Paid;
    }

    function withdrawPayout(uint256 callerSeed) external step("withdrawPayout") {
        callerSeed = _mix(callerSeed, 0);
        address caller = callerSeed % 4 != 0 ? actors[3 + (callerSeed >> 8) % 3] : _anyone(callerSeed >> 8);
        uint256 amount = gPayout[caller];
        bool expected = amount != 0;
        uint256 before = caller.balance;
        bool ok;
        vm.prank(caller);
        try insurance.withdrawPayout() {
            ok = true;
        } catch {}
        _check("withdrawPayout", expected, ok);
        if (!ok) return;
        gPayout[caller] = 0;
        if (caller.balance != before + amount) _mismatch("withdrawPayout: ether not received");
    }
}
