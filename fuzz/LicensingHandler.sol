// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IMedLedger} from "../contracts/interfaces/IMedLedger.sol";
import {IMedLedgerLicensing} from "../contracts/interfaces/IMedLedgerLicensing.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerLicensing} from "../contracts/MedLedgerLicensing.sol";

/// @notice Drives MedLedgerLicensing (and, for suspensions, grants, records and emergency access,
/// its core MedLedger) for LicensingInvariants, as fixed EOAs: the platform admin, a stranger,
/// five would-be organisation admins (plus practitioner 0, who may become one too), six
/// practitioners who applied and wait (Pending), one insurer verified by the platform admin, and
/// three patients with records who granted every practitioner every category (with write) for
/// good and opted in to emergency access.
///
/// Actions: creating organisations (up to MAX_ORGS, seats and fees drawn small so that seats run
/// out), setting seats around the seats in use, setting fees, paying renewals (exactly the fee,
/// or a wei off), recording renewals, giving notice, terminating, reinstating, withdrawing fees,
/// adding and removing organisation admins, verifying practitioners for an organisation (by its
/// admin, the platform admin or someone else) or by the platform admin for none, releasing them
/// (a suspended one stays suspended), suspending and reinstating them through the core as an
/// organisation admin or the platform admin (whose suspensions only it lifts), offering,
/// accepting and ending enrolments, patients regranting or revoking, patients and practitioners
/// adding records, practitioners breaking glass, and time moving forward (now and then exactly to
/// a licence's next boundary, or the second before it).
///
/// It keeps an independent model (ghost state) of everything licensing decides: each
/// organisation's fee, limits and licence terms, who administers what, which organisation each
/// practitioner belongs to and its status, enrolments, grants, emergency windows and the fees
/// received and withdrawn. Before each call it works out from the model the exact outcome, in the
/// contract's order of checks: success, or the revert data it must be refused with; any
/// disagreement is counted in `mismatches` (the first kept in `firstMismatch`). Nothing here
/// reverts (fail_on_revert is on): every call is a low-level call whose outcome is judged.
contract LicensingHandler is Test {
    MedLedger public immutable m;
    MedLedgerLicensing public immutable lic;
    address public immutable admin;
    address public immutable stranger;

    uint32 public constant MAX_ORGS = 4;
    uint256 public constant N_ADMINS = 6;
    uint256 public constant N_PRACTITIONERS = 6;
    uint256 public constant N_PATIENTS = 3;
    /// At most this many records per patient (the invariants check every record for every reader).
    uint256 public constant MAX_RECORDS_PER_PATIENT = 5;
    uint64 public constant EMERGENCY_WINDOW = 24 hours;
    uint64 public constant PERIOD = 365 days;

    /// adminPool[0..4] are plain EOAs; adminPool[5] is practitioners[0].
    address[N_ADMINS] internal adminPool;
    address[N_PRACTITIONERS] internal practitioners;
    address[N_PATIENTS] internal patients;
    address public insurer;

    // ------------------------------------------------------------ the model

    struct OrgG {
        uint256 fee;
        IMedLedgerLicensing.Seats limits;
        uint64 paidUntil;
        uint64 terminatesAt;
    }

    uint32 public gOrgCount;
    mapping(uint32 => OrgG) internal gOrg;
    mapping(address => uint32) public gAdminOf;
    mapping(address => uint32) public gOrgOf;
    mapping(address => MedLedger.AccountStatus) public gStatus;
    /// Suspended by the platform admin: only the platform admin lifts it.
    mapping(address => bool) public gPlatformSuspended;
    mapping(uint32 => mapping(address => IMedLedgerLicensing.Enrolment)) public gEnrol;

    struct GrantG {
        uint256 categories;
        bool canWrite;
        uint64 expiry;
        bool listed;
    }

    mapping(address => mapping(address => GrantG)) internal gGrant;
    mapping(address => mapping(address => uint64)) public gWindow;

    struct RecordG {
        bytes32 id;
        address patient;
        uint8 category;
    }

    RecordG[] internal records;
    mapping(address => uint256) public recordsOf;
    mapping(address => bytes32[]) internal recordIdsOf;
    mapping(bytes32 => uint8) internal categoryOf;

    uint256 public gReceived;
    uint256 public gWithdrawn;
    /// The time the sequence has reached (a warp does not outlive the call that made it).
    uint256 public gNow;

    uint256 public mismatches;
    string public firstMismatch;

    mapping(string => uint256) public okCalls;
    mapping(string => uint256) public allCalls;
    string[] internal actionNames;
    /// Refusals by error selector, for the coverage summary.
    mapping(bytes4 => uint256) public refusals;
    /// Successful writes and emergency windows by practitioners of each licence status.
    mapping(uint8 => uint256) public practitionerWritesByStatus;

    uint256 internal nonce;

    constructor(MedLedger m_, MedLedgerLicensing lic_, address admin_, address stranger_, uint256 t0) {
        m = m_;
        lic = lic_;
        admin = admin_;
        stranger = stranger_;
        gNow = t0;
        for (uint256 i; i < N_PRACTITIONERS; ++i) {
            practitioners[i] = makeAddr(string.concat("practitioner", vm.toString(i)));
        }
        for (uint256 i; i < N_ADMINS - 1; ++i) {
            adminPool[i] = makeAddr(string.concat("orgAdmin", vm.toString(i)));
        }
        adminPool[N_ADMINS - 1] = practitioners[0];
        for (uint256 i; i < N_PATIENTS; ++i) {
            patients[i] = makeAddr(string.concat("patient", vm.toString(i)));
        }
        insurer = makeAddr("insurer");
    }

    /// Registers everyone (through the core, from the test's setUp), as the handler's model
    /// expects: practitioners Pending, the insurer Active (verified by the platform admin),
    /// patients with two records each (categories 0 and 3), every practitioner granted every
    /// category with write for good, the insurer every category read-only, and emergency opt-ins.
    function bootstrap() external {
        vm.warp(gNow);
        for (uint256 i; i < N_PRACTITIONERS; ++i) {
            vm.prank(practitioners[i]);
            m.applyAsPractitioner(keccak256(abi.encode(practitioners[i])), bytes32(uint256(1)));
            gStatus[practitioners[i]] = MedLedger.AccountStatus.Pending;
        }
        vm.prank(insurer);
        m.applyAsInsurer(keccak256(abi.encode(insurer)), bytes32(uint256(1)));
        vm.prank(admin);
        m.verifyAccount(insurer);
        gStatus[insurer] = MedLedger.AccountStatus.Active;
        for (uint256 i; i < N_PATIENTS; ++i) {
            address p = patients[i];
            vm.startPrank(p);
            m.registerPatient(keccak256(abi.encode(p)));
            m.setEmergencyOptIn(true);
            for (uint256 j; j < N_PRACTITIONERS; ++j) {
                m.grant(practitioners[j], type(uint256).max, true, type(uint64).max);
                gGrant[p][practitioners[j]] = GrantG(type(uint256).max, true, type(uint64).max, true);
            }
            m.grant(insurer, type(uint256).max, false, type(uint64).max);
            gGrant[p][insurer] = GrantG(type(uint256).max, false, type(uint64).max, true);
            vm.stopPrank();
            _patientRecord(p, 0);
            _patientRecord(p, 3);
        }
        // Two organisations: 1 paid on chain (1 ether a year, 200 days left, seats 2/3/2) with
        // practitioners 1 and 2; 2 renewed by record (30 days left, seats 1/2/1) with practitioner 3.
        _bootstrapOrganisation(adminPool[0], IMedLedgerLicensing.Seats(2, 3, 2), uint64(gNow + 200 days), 1 ether);
        _bootstrapOrganisation(adminPool[1], IMedLedgerLicensing.Seats(1, 2, 1), uint64(gNow + 30 days), 0);
        _bootstrapPractitioner(adminPool[0], 1, practitioners[1]);
        _bootstrapPractitioner(adminPool[0], 1, practitioners[2]);
        _bootstrapPractitioner(adminPool[1], 2, practitioners[3]);
    }

    function _bootstrapOrganisation(address first, IMedLedgerLicensing.Seats memory limits, uint64 paidUntil, uint256 fee)
        internal
    {
        vm.prank(admin);
        uint32 org = lic.createOrganisation(string.concat("Clinic ", vm.toString(gOrgCount + 1)), first, limits, paidUntil, fee);
        require(org == ++gOrgCount, "bootstrap: organisation id");
        gOrg[org] = OrgG({fee: fee, limits: limits, paidUntil: paidUntil, terminatesAt: 0});
        gAdminOf[first] = org;
    }

    function _bootstrapPractitioner(address orgAdmin, uint32 org, address q) internal {
        vm.prank(orgAdmin);
        lic.verifyPractitioner(org, q);
        gOrgOf[q] = org;
        gStatus[q] = MedLedger.AccountStatus.Active;
    }

    modifier step(string memory name) {
        vm.warp(gNow);
        if (allCalls[name] == 0) actionNames.push(name);
        allCalls[name]++;
        _;
    }

    // ------------------------------------------------------------ views for the invariants

    function adminList() external view returns (address[N_ADMINS] memory) {
        return adminPool;
    }

    function practitionerList() external view returns (address[N_PRACTITIONERS] memory) {
        return practitioners;
    }

    function patientList() external view returns (address[N_PATIENTS] memory) {
        return patients;
    }

    function recordCount() external view returns (uint256) {
        return records.length;
    }

    function recordAt(uint256 i) external view returns (RecordG memory) {
        return records[i];
    }

    /// The category the invariants check canWrite on for patient i (0, 3, 7: one each, so that
    /// partial grants are met).
    function writeCategory(uint256 i) public pure returns (uint8) {
        return i == 0 ? 0 : i == 1 ? 3 : 7;
    }

    /// One reader's expected access to one patient's records.
    struct Access {
        bytes32[] ids;
        /// the model's canRead of each record
        bool[] reads;
        /// the reader holds an unexpired grant covering the record's category
        bool[] granted;
        /// the model's canWrite on writeCategory(patient)
        bool write;
    }

    /// What the reading invariant needs of one professional reader, in one call (it runs after
    /// every call): its expected access to each patient's records, and whether it is Active (not
    /// suspended, not pending).
    function expectedAccess(address reader) external view returns (Access[N_PATIENTS] memory access, bool active) {
        bool verified = modelVerified(reader);
        active = gStatus[reader] == MedLedger.AccountStatus.Active;
        for (uint256 p; p < N_PATIENTS; ++p) {
            access[p] = _access(reader, p, verified);
        }
    }

    /// The read decision for a professional reader of a live record: verified, and an unexpired
    /// grant covering the category or (a practitioner) an open emergency window.
    function _access(address reader, uint256 p, bool verified) internal view returns (Access memory a) {
        address patient = patients[p];
        a.ids = recordIdsOf[patient];
        uint256 n = a.ids.length;
        a.reads = new bool[](n);
        a.granted = new bool[](n);
        GrantG storage g = gGrant[patient][reader];
        (uint256 categories, uint64 expiry) = (g.categories, g.expiry);
        bool window = reader != insurer && gWindow[patient][reader] > gNow;
        for (uint256 i; i < n; ++i) {
            bool covered = expiry > gNow && (categories >> categoryOf[a.ids[i]]) & 1 == 1;
            a.granted[i] = covered;
            a.reads[i] = verified && (covered || window);
        }
        a.write = verified && reader != insurer && g.canWrite && expiry > gNow && (categories >> writeCategory(p)) & 1 == 1;
    }

    /// The model's admin organisation, practitioner organisation and status of each account, in
    /// one call.
    function modelAccounts(address[] calldata accounts)
        external
        view
        returns (uint32[] memory adminOf, uint32[] memory orgOf, MedLedger.AccountStatus[] memory status)
    {
        adminOf = new uint32[](accounts.length);
        orgOf = new uint32[](accounts.length);
        status = new MedLedger.AccountStatus[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            (adminOf[i], orgOf[i], status[i]) = (gAdminOf[accounts[i]], gOrgOf[accounts[i]], gStatus[accounts[i]]);
        }
    }

    function recordIdsOfPatient(address patient) external view returns (bytes32[] memory) {
        return recordIdsOf[patient];
    }

    function orgOfModel(uint32 org) external view returns (OrgG memory) {
        return gOrg[org];
    }

    function grantOfModel(address patient, address grantee) external view returns (GrantG memory) {
        return gGrant[patient][grantee];
    }

    function actionCount() external view returns (uint256) {
        return actionNames.length;
    }

    function actionName(uint256 i) external view returns (string memory) {
        return actionNames[i];
    }

    /// The licence status by the rule written out in IMedLedgerLicensing and MedLedger: none
    /// without terms; Terminated once the notice date has come; Lapsed once the subscription has
    /// ended; UnderNotice with a notice date ahead; Active otherwise.
    function modelStatus(uint32 org) public view returns (MedLedger.LicenceStatus) {
        OrgG storage o = gOrg[org];
        if (o.paidUntil == 0) return MedLedger.LicenceStatus.None;
        if (o.terminatesAt != 0 && o.terminatesAt <= gNow) return MedLedger.LicenceStatus.Terminated;
        if (o.paidUntil <= gNow) return MedLedger.LicenceStatus.Lapsed;
        if (o.terminatesAt != 0) return MedLedger.LicenceStatus.UnderNotice;
        return MedLedger.LicenceStatus.Active;
    }

    function modelLicensed(uint32 org) public view returns (bool) {
        MedLedger.LicenceStatus s = modelStatus(org);
        return s == MedLedger.LicenceStatus.Active || s == MedLedger.LicenceStatus.UnderNotice;
    }

    /// Seats in use by the model: admins, practitioners and enrolled patients of the organisation.
    function modelUsed(uint32 org) public view returns (IMedLedgerLicensing.Seats memory u) {
        for (uint256 i; i < N_ADMINS; ++i) {
            if (gAdminOf[adminPool[i]] == org) u.admins++;
        }
        for (uint256 i; i < N_PRACTITIONERS; ++i) {
            if (gOrgOf[practitioners[i]] == org) u.practitioners++;
        }
        for (uint256 i; i < N_PATIENTS; ++i) {
            if (gEnrol[org][patients[i]] == IMedLedgerLicensing.Enrolment.Enrolled) u.patients++;
        }
    }

    /// A practitioner or the insurer is verified: Active, and its organisation (if any) licensed.
    function modelVerified(address reader) public view returns (bool) {
        if (gStatus[reader] != MedLedger.AccountStatus.Active) return false;
        uint32 org = gOrgOf[reader];
        return org == 0 || modelLicensed(org);
    }

    function modelCanWrite(address patient, address writer, uint8 category) public view returns (bool) {
        if (writer == insurer || !modelVerified(writer)) return false;
        GrantG storage g = gGrant[patient][writer];
        return g.canWrite && g.expiry > gNow && (g.categories >> category) & 1 == 1;
    }

    // ------------------------------------------------------------ helpers

    /// The fuzzer favours small and edge values, and an action takes several decisions from
    /// slices of one seed: hash each seed first (and again, with its own salt, in each picker)
    /// so that the decisions are independent.
    function _mix(uint256 seed, uint256 salt) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, salt)));
    }

    function _mismatch(string memory what) internal {
        mismatches++;
        if (bytes(firstMismatch).length == 0) firstMismatch = what;
    }

    /// Make the call as `caller` and judge it: it must succeed when `expected` is empty, else be
    /// refused with exactly `expected`. True when it succeeded.
    function _call(string memory name, address caller, address target, uint256 value, bytes memory data, bytes memory expected)
        internal
        returns (bool ok)
    {
        if (value > 0) vm.deal(caller, caller.balance + value);
        bytes memory ret;
        vm.prank(caller);
        (ok, ret) = target.call{value: value}(data);
        if (ok) {
            okCalls[name]++;
            if (expected.length != 0) {
                _mismatch(string.concat(name, ": succeeded, model expected ", vm.toString(expected)));
            }
        } else {
            if (ret.length >= 4) refusals[bytes4(ret)]++;
            if (keccak256(ret) != keccak256(expected)) {
                _mismatch(
                    string.concat(name, ": reverted with ", vm.toString(ret), ", model expected ", vm.toString(expected))
                );
            }
        }
    }

    function _err(bytes4 selector) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(selector);
    }

    /// An existing organisation, or now and then 0 or the next id (unknown).
    function _org(uint256 seed) internal view returns (uint32) {
        seed = _mix(seed, 100);
        uint256 mode = seed % 32;
        if (mode == 0) return 0;
        if (mode == 1) return gOrgCount + 1;
        return uint32(1 + (seed >> 8) % gOrgCount);
    }

    /// Mostly (three times in four) an organisation whose licence is Active or UnderNotice, if
    /// there is one; else as _org.
    function _liveOrg(uint256 seed) internal view returns (uint32) {
        uint256 x = _mix(seed, 104);
        if (x % 4 != 0) {
            for (uint256 k; k < gOrgCount; ++k) {
                uint32 o = uint32(1 + ((x >> 8) + k) % gOrgCount);
                if (modelLicensed(o)) return o;
            }
        }
        return _org(seed);
    }

    /// Mostly the platform admin, else an organisation admin or the stranger.
    function _platformCaller(uint256 seed) internal view returns (address) {
        seed = _mix(seed, 101);
        if (seed % 8 != 0) return admin;
        return (seed >> 8) % 2 == 0 ? stranger : adminPool[(seed >> 16) % N_ADMINS];
    }

    /// Mostly an admin of `org` (the platform admin if it has none), else the platform admin, an
    /// admin of whatever organisation, the stranger or a patient.
    function _orgCaller(uint256 seed, uint32 org) internal view returns (address) {
        seed = _mix(seed, 102);
        uint256 mode = seed % 8;
        if (mode < 5) {
            uint256 start = (seed >> 8) % N_ADMINS;
            for (uint256 k; k < N_ADMINS; ++k) {
                address a = adminPool[(start + k) % N_ADMINS];
                if (org != 0 && gAdminOf[a] == org) return a;
            }
            return admin;
        }
        if (mode == 5) return admin;
        if (mode == 6) return adminPool[(seed >> 8) % N_ADMINS];
        return (seed >> 8) % 2 == 0 ? stranger : patients[(seed >> 16) % N_PATIENTS];
    }

    function _isPlatformAdmin(address a) internal view returns (bool) {
        return a == admin;
    }

    /// LicensingModule._requireAdminFor: empty when the caller may act for `org`.
    function _adminForRefusal(uint32 org, address caller) internal view returns (bytes memory) {
        if (org != 0 && gAdminOf[caller] == org) return "";
        if (!_isPlatformAdmin(caller)) {
            return abi.encodeWithSelector(IMedLedgerLicensing.NotOrganisationAdmin.selector, org, caller);
        }
        return "";
    }

    function _unknownOrg(uint32 org) internal view returns (bool) {
        return org == 0 || org > gOrgCount;
    }

    function _unknownOrgRefusal(uint32 org) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IMedLedgerLicensing.UnknownOrganisation.selector, org);
    }

    function _statusRefusal(uint32 org) internal view returns (bytes memory) {
        return abi.encodeWithSelector(IMedLedgerLicensing.InvalidLicenceStatus.selector, org, uint8(modelStatus(org)));
    }

    function _notPlatformAdmin(address caller) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IMedLedgerLicensing.NotPlatformAdmin.selector, caller);
    }

    /// Mostly a practitioner, starting at the seed, in the wanted state (Pending, or belonging to
    /// an organisation); else any practitioner; now and then the insurer.
    function _practitioner(uint256 seed, uint8 want) internal view returns (address) {
        seed = _mix(seed, 103);
        if (seed % 16 == 0) return insurer;
        uint256 start = (seed >> 8) % N_PRACTITIONERS;
        if ((seed >> 16) % 4 != 0) {
            for (uint256 k; k < N_PRACTITIONERS; ++k) {
                address q = practitioners[(start + k) % N_PRACTITIONERS];
                if (want == 0 && gStatus[q] == MedLedger.AccountStatus.Pending) return q;
                if (want == 1 && gOrgOf[q] != 0) return q;
                if (want == 2 && gOrgOf[q] != 0 && gStatus[q] == MedLedger.AccountStatus.Active) return q;
                if (want == 3 && gStatus[q] == MedLedger.AccountStatus.Suspended) return q;
            }
        }
        return practitioners[start];
    }

    function _patientRecord(address p, uint8 category) internal {
        bytes32 id = keccak256(abi.encode("record", ++nonce));
        vm.prank(p);
        m.addRecord(id, p, keccak256(abi.encode("ciphertext", nonce)), category, bytes32(0));
        _remember(id, p, category);
    }

    function _remember(bytes32 id, address p, uint8 category) internal {
        records.push(RecordG(id, p, category));
        recordsOf[p]++;
        recordIdsOf[p].push(id);
        categoryOf[id] = category;
    }

    // ================================================================ the platform admin

    function createOrganisation(uint256 seed, uint256 limitsSeed, uint256 feeSeed) external step("createOrganisation") {
        if (gOrgCount >= MAX_ORGS) return;
        seed = _mix(seed, 0);
        limitsSeed = _mix(limitsSeed, 1);
        address caller = _platformCaller(seed);
        uint256 nameMode = (seed >> 24) % 32;
        // Empty or 65 bytes (refused), 64 bytes (the longest allowed), or a short name.
        string memory name = nameMode == 0
            ? ""
            : nameMode == 1
                ? "A name of sixty-five bytes, one byte past MAX_ORGANISATION_NAME.."
                : nameMode == 2
                    ? "A name of 64 bytes: exactly MAX_ORGANISATION_NAME, and allowed.."
                    : string.concat("Clinic ", vm.toString(gOrgCount + 1));
        address first = (seed >> 32) % 16 == 0 ? address(0) : adminPool[(seed >> 40) % N_ADMINS];
        IMedLedgerLicensing.Seats memory limits = IMedLedgerLicensing.Seats({
            admins: limitsSeed % 16 == 0 ? 0 : uint32(1 + (limitsSeed >> 8) % 3),
            practitioners: uint32((limitsSeed >> 16) % 5),
            patients: uint32((limitsSeed >> 24) % 4)
        });
        uint256 pmode = (seed >> 48) % 16;
        uint64 paidUntil = pmode == 0 ? uint64(gNow) : pmode == 1 ? uint64(gNow + 1) : uint64(gNow + _bound(seed >> 56, 1 days, 400 days));
        uint256 fee = _mix(feeSeed, 2) % 3 == 0 ? 0 : _bound(feeSeed, 0.01 ether, 2 ether);

        bytes memory expected;
        if (!_isPlatformAdmin(caller)) expected = _notPlatformAdmin(caller);
        else if (bytes(name).length == 0 || bytes(name).length > 64) expected = _err(IMedLedgerLicensing.InvalidOrganisationName.selector);
        else if (limits.admins == 0) expected = _err(IMedLedgerLicensing.InvalidSeats.selector);
        else if (paidUntil <= gNow) expected = abi.encodeWithSelector(IMedLedgerLicensing.InvalidPaidUntil.selector, paidUntil);
        else if (first == address(0) || gAdminOf[first] != 0) {
            expected = abi.encodeWithSelector(IMedLedgerLicensing.InvalidOrganisationAdmin.selector, first);
        }
        bool ok = _call(
            "createOrganisation",
            caller,
            address(lic),
            0,
            abi.encodeCall(lic.createOrganisation, (name, first, limits, paidUntil, fee)),
            expected
        );
        if (ok) {
            uint32 org = ++gOrgCount;
            gOrg[org] = OrgG({fee: fee, limits: limits, paidUntil: paidUntil, terminatesAt: 0});
            gAdminOf[first] = org;
        }
    }

    function setSeats(uint256 seed, uint256 limitsSeed) external step("setSeats") {
        seed = _mix(seed, 0);
        limitsSeed = _mix(limitsSeed, 1);
        address caller = _platformCaller(seed);
        uint32 org = _org(seed >> 24);
        IMedLedgerLicensing.Seats memory used = modelUsed(org);
        // Each limit at the seats in use, one below (refused unless none are used) or above.
        IMedLedgerLicensing.Seats memory limits = IMedLedgerLicensing.Seats({
            admins: _around(used.admins, limitsSeed),
            practitioners: _around(used.practitioners, limitsSeed >> 8),
            patients: _around(used.patients, limitsSeed >> 16)
        });
        bytes memory expected;
        if (!_isPlatformAdmin(caller)) expected = _notPlatformAdmin(caller);
        else if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else if (
            limits.admins == 0 || limits.admins < used.admins || limits.practitioners < used.practitioners
                || limits.patients < used.patients
        ) expected = _err(IMedLedgerLicensing.InvalidSeats.selector);
        bool ok = _call("setSeats", caller, address(lic), 0, abi.encodeCall(lic.setSeats, (org, limits)), expected);
        if (ok) gOrg[org].limits = limits;
    }

    function _around(uint32 used, uint256 seed) internal pure returns (uint32) {
        uint256 mode = seed % 8;
        if (mode == 0) return used == 0 ? 0 : used - 1;
        if (mode < 3) return used;
        return used + uint32(mode - 2);
    }

    function setAnnualFee(uint256 seed, uint256 feeSeed) external step("setAnnualFee") {
        seed = _mix(seed, 0);
        address caller = _platformCaller(seed);
        uint32 org = _org(seed >> 24);
        uint256 fee = (seed >> 32) % 4 == 0 ? 0 : _bound(feeSeed, 1, 2 ether);
        bytes memory expected;
        if (!_isPlatformAdmin(caller)) expected = _notPlatformAdmin(caller);
        else if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        bool ok = _call("setAnnualFee", caller, address(lic), 0, abi.encodeCall(lic.setAnnualFee, (org, fee)), expected);
        if (ok) gOrg[org].fee = fee;
    }

    function recordRenewal(uint256 seed, uint256 untilSeed) external step("recordRenewal") {
        seed = _mix(seed, 0);
        address caller = _platformCaller(seed);
        uint32 org = _org(seed >> 24);
        uint64 current = gOrg[org].paidUntil;
        uint256 mode = (seed >> 32) % 8;
        // The current end (refused), a second past it, now (refused), or up to 400 days past the
        // current end or past now.
        uint64 paidUntil = mode == 0
            ? current
            : mode == 1
                ? current + 1
                : mode == 2
                    ? uint64(gNow)
                    : mode < 5 ? uint64(current + _bound(untilSeed, 1, 400 days)) : uint64(gNow + _bound(untilSeed, 1, 400 days));
        bytes memory expected;
        if (!_isPlatformAdmin(caller)) expected = _notPlatformAdmin(caller);
        else if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else if (modelStatus(org) == MedLedger.LicenceStatus.Terminated) expected = _statusRefusal(org);
        else if (paidUntil <= current || paidUntil <= gNow) {
            expected = abi.encodeWithSelector(IMedLedgerLicensing.InvalidPaidUntil.selector, paidUntil);
        }
        bool ok = _call("recordRenewal", caller, address(lic), 0, abi.encodeCall(lic.recordRenewal, (org, paidUntil)), expected);
        if (ok) gOrg[org].paidUntil = paidUntil;
    }

    function giveNotice(uint256 seed, uint256 whenSeed) external step("giveNotice") {
        seed = _mix(seed, 0);
        address caller = _platformCaller(seed);
        uint32 org = _org(seed >> 24);
        uint256 mode = (seed >> 32) % 8;
        // Now (refused), the next second, within 90 days, or past the subscription's end.
        uint64 terminatesAt = mode == 0
            ? uint64(gNow)
            : mode == 1
                ? uint64(gNow + 1)
                : mode < 6 ? uint64(gNow + _bound(whenSeed, 1 hours, 90 days)) : uint64(gNow + _bound(whenSeed, 1, 500 days));
        bytes memory expected;
        if (!_isPlatformAdmin(caller)) expected = _notPlatformAdmin(caller);
        else if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else if (modelStatus(org) == MedLedger.LicenceStatus.Terminated) expected = _statusRefusal(org);
        else if (terminatesAt <= gNow) expected = abi.encodeWithSelector(IMedLedgerLicensing.InvalidNoticeDate.selector, terminatesAt);
        bool ok = _call("giveNotice", caller, address(lic), 0, abi.encodeCall(lic.giveNotice, (org, terminatesAt)), expected);
        if (ok) gOrg[org].terminatesAt = terminatesAt;
    }

    function terminateLicence(uint256 seed) external step("terminateLicence") {
        seed = _mix(seed, 0);
        address caller = _platformCaller(seed);
        uint32 org = _org(seed >> 24);
        bytes memory expected;
        if (!_isPlatformAdmin(caller)) expected = _notPlatformAdmin(caller);
        else if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else if (modelStatus(org) == MedLedger.LicenceStatus.Terminated) expected = _statusRefusal(org);
        bool ok = _call("terminateLicence", caller, address(lic), 0, abi.encodeCall(lic.terminateLicence, (org)), expected);
        if (ok) gOrg[org].terminatesAt = uint64(gNow);
    }

    function reinstateLicence(uint256 seed) external step("reinstateLicence") {
        seed = _mix(seed, 0);
        address caller = _platformCaller(seed);
        uint32 org = _org(seed >> 24);
        bytes memory expected;
        if (!_isPlatformAdmin(caller)) expected = _notPlatformAdmin(caller);
        else if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else if (gOrg[org].terminatesAt == 0) expected = _statusRefusal(org);
        bool ok = _call("reinstateLicence", caller, address(lic), 0, abi.encodeCall(lic.reinstateLicence, (org)), expected);
        if (ok) gOrg[org].terminatesAt = 0;
    }

    function withdrawFees(uint256 seed, uint256 amountSeed) external step("withdrawFees") {
        seed = _mix(seed, 0);
        address caller = _platformCaller(seed);
        uint256 held = gReceived - gWithdrawn;
        uint256 mode = (seed >> 24) % 8;
        // All, part, nothing (refused) or a wei more than held (refused).
        uint256 amount = mode < 2 ? held : mode == 2 ? 0 : mode == 3 ? held + 1 : _bound(amountSeed, 0, held);
        bytes memory expected;
        if (!_isPlatformAdmin(caller)) expected = _notPlatformAdmin(caller);
        else if (amount == 0 || amount > held) {
            expected = abi.encodeWithSelector(IMedLedgerLicensing.InvalidFeeWithdrawal.selector, held, amount);
        }
        uint256 before = caller.balance;
        bool ok = _call("withdrawFees", caller, address(lic), 0, abi.encodeCall(lic.withdrawFees, (amount)), expected);
        if (ok) {
            gWithdrawn += amount;
            if (caller.balance != before + amount) _mismatch("withdrawFees: the caller did not receive the amount");
        }
    }

    // ================================================================ anyone

    function renewSubscription(uint256 seed) external step("renewSubscription") {
        seed = _mix(seed, 0);
        uint32 org = _org(seed >> 24);
        address payer = (seed >> 8) % 3 == 0 ? stranger : adminPool[(seed >> 16) % N_ADMINS];
        uint256 fee = gOrg[org].fee;
        uint256 mode = (seed >> 32) % 8;
        // Exactly the fee, mostly; else a wei more or less.
        uint256 value = mode == 0 ? fee + 1 : mode == 1 && fee > 0 ? fee - 1 : fee;
        bytes memory expected;
        if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else if (modelStatus(org) == MedLedger.LicenceStatus.Terminated) expected = _statusRefusal(org);
        else if (fee == 0) expected = abi.encodeWithSelector(IMedLedgerLicensing.RenewalNotPayable.selector, org);
        else if (value != fee) expected = abi.encodeWithSelector(IMedLedgerLicensing.WrongPayment.selector, fee, value);
        uint64 current = gOrg[org].paidUntil;
        bool ok = _call("renewSubscription", payer, address(lic), value, abi.encodeCall(lic.renewSubscription, (org)), expected);
        if (ok) {
            gReceived += value;
            gOrg[org].paidUntil = (current > gNow ? current : uint64(gNow)) + PERIOD;
        } else {
            // The payer keeps what it was given for the call.
            vm.deal(payer, payer.balance - value);
        }
    }

    // ================================================================ organisation admins

    function addOrganisationAdmin(uint256 seed) external step("addOrganisationAdmin") {
        seed = _mix(seed, 0);
        uint32 org = _org(seed >> 24);
        address caller = _orgCaller(seed >> 32, org);
        address account = (seed >> 8) % 32 == 0 ? address(0) : adminPool[(seed >> 16) % N_ADMINS];
        bytes memory expected;
        if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else expected = _adminForRefusal(org, caller);
        if (expected.length == 0) {
            if (account == address(0) || gAdminOf[account] != 0) {
                expected = abi.encodeWithSelector(IMedLedgerLicensing.InvalidOrganisationAdmin.selector, account);
            } else if (modelUsed(org).admins >= gOrg[org].limits.admins) {
                expected = abi.encodeWithSelector(IMedLedgerLicensing.NoSeatLeft.selector, org, uint8(0), gOrg[org].limits.admins);
            }
        }
        bool ok = _call(
            "addOrganisationAdmin", caller, address(lic), 0, abi.encodeCall(lic.addOrganisationAdmin, (org, account)), expected
        );
        if (ok) gAdminOf[account] = org;
    }

    function removeOrganisationAdmin(uint256 seed) external step("removeOrganisationAdmin") {
        seed = _mix(seed, 0);
        uint32 org = _org(seed >> 24);
        address caller = _orgCaller(seed >> 32, org);
        // Mostly an admin of this organisation (perhaps the caller itself), else anyone in the pool.
        address account = adminPool[(seed >> 16) % N_ADMINS];
        if ((seed >> 8) % 4 != 0) {
            for (uint256 k; k < N_ADMINS; ++k) {
                address a = adminPool[((seed >> 16) + k) % N_ADMINS];
                if (org != 0 && gAdminOf[a] == org) {
                    account = a;
                    break;
                }
            }
        }
        bytes memory expected;
        if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else expected = _adminForRefusal(org, caller);
        if (expected.length == 0 && gAdminOf[account] != org) {
            expected = abi.encodeWithSelector(IMedLedgerLicensing.NotAnAdminOf.selector, org, account);
        }
        bool ok = _call(
            "removeOrganisationAdmin",
            caller,
            address(lic),
            0,
            abi.encodeCall(lic.removeOrganisationAdmin, (org, account)),
            expected
        );
        if (ok) gAdminOf[account] = 0;
    }

    function verifyPractitioner(uint256 seed) external step("verifyPractitioner") {
        seed = _mix(seed, 0);
        uint32 org = _liveOrg(seed >> 24);
        address caller = _orgCaller(seed >> 32, org);
        address q = _practitioner(seed >> 64, 0);
        bytes memory expected;
        if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else expected = _adminForRefusal(org, caller);
        if (expected.length == 0) {
            if (!modelLicensed(org)) {
                expected = _statusRefusal(org);
            } else if (modelUsed(org).practitioners >= gOrg[org].limits.practitioners) {
                expected = abi.encodeWithSelector(
                    IMedLedgerLicensing.NoSeatLeft.selector, org, uint8(1), gOrg[org].limits.practitioners
                );
            } else if (q == insurer) {
                // The core's refusal, passed on as it is.
                expected = abi.encodeWithSelector(IMedLedger.NotAProfessional.selector, q);
            } else if (gStatus[q] != MedLedger.AccountStatus.Pending) {
                expected = abi.encodeWithSelector(IMedLedger.InvalidStatusChange.selector, q, gStatus[q]);
            }
        }
        bool ok = _call(
            "verifyPractitioner", caller, address(lic), 0, abi.encodeCall(lic.verifyPractitioner, (org, q)), expected
        );
        if (ok) {
            gOrgOf[q] = org;
            gStatus[q] = MedLedger.AccountStatus.Active;
        }
    }

    /// The platform admin verifies a pending practitioner for no organisation (IMedLedger.verifyAccount).
    function verifyForNoOrganisation(uint256 seed) external step("verifyForNoOrganisation") {
        seed = _mix(seed, 0);
        // Rarely: most practitioners should be verified for organisations.
        if (seed % 4 != 0) return;
        address q = _practitioner(seed >> 8, 0);
        if (q == insurer) q = practitioners[0];
        bytes memory expected;
        if (gStatus[q] != MedLedger.AccountStatus.Pending) {
            expected = abi.encodeWithSelector(IMedLedger.InvalidStatusChange.selector, q, gStatus[q]);
        }
        bool ok = _call("verifyForNoOrganisation", admin, address(m), 0, abi.encodeCall(m.verifyAccount, (q)), expected);
        if (ok) gStatus[q] = MedLedger.AccountStatus.Active;
    }

    function releasePractitioner(uint256 seed) external step("releasePractitioner") {
        seed = _mix(seed, 0);
        address q = _practitioner(seed >> 64, 1);
        uint32 org = gOrgOf[q];
        address caller = _orgCaller(seed >> 32, org);
        bytes memory expected = _adminForRefusal(org, caller);
        if (expected.length == 0 && org == 0) {
            expected = abi.encodeWithSelector(IMedLedger.NotInAnOrganisation.selector, q);
        }
        bool ok = _call("releasePractitioner", caller, address(lic), 0, abi.encodeCall(lic.releasePractitioner, (q)), expected);
        if (ok) {
            gOrgOf[q] = 0;
            // A suspended practitioner stays suspended (then only the platform admin lifts it).
            if (gStatus[q] == MedLedger.AccountStatus.Active) gStatus[q] = MedLedger.AccountStatus.Pending;
        }
    }

    /// An organisation admin (or the platform admin, or someone else) suspends a practitioner
    /// through the core.
    function suspendPractitioner(uint256 seed) external step("suspendPractitioner") {
        seed = _mix(seed, 0);
        address q = _practitioner(seed >> 64, 2);
        address caller = _orgCaller(seed >> 32, gOrgOf[q]);
        bytes memory expected = _accountAdminRefusal(q, caller, false);
        if (expected.length == 0) {
            if (gStatus[q] != MedLedger.AccountStatus.Active) {
                expected = abi.encodeWithSelector(IMedLedger.InvalidStatusChange.selector, q, gStatus[q]);
            }
        }
        bool ok = _call(
            "suspendPractitioner", caller, address(m), 0, abi.encodeCall(m.suspendAccount, (q, keccak256("reason"))), expected
        );
        if (ok) {
            gStatus[q] = MedLedger.AccountStatus.Suspended;
            if (_isPlatformAdmin(caller)) gPlatformSuspended[q] = true;
        }
    }

    function reinstatePractitioner(uint256 seed) external step("reinstatePractitioner") {
        seed = _mix(seed, 0);
        address q = _practitioner(seed >> 64, 3);
        address caller = _orgCaller(seed >> 32, gOrgOf[q]);
        bytes memory expected = _accountAdminRefusal(q, caller, gPlatformSuspended[q]);
        if (expected.length == 0) {
            if (gStatus[q] != MedLedger.AccountStatus.Suspended) {
                expected = abi.encodeWithSelector(IMedLedger.InvalidStatusChange.selector, q, gStatus[q]);
            }
        }
        bool ok = _call("reinstatePractitioner", caller, address(m), 0, abi.encodeCall(m.reinstateAccount, (q)), expected);
        if (ok) {
            gStatus[q] = MedLedger.AccountStatus.Active;
            gPlatformSuspended[q] = false;
        }
    }

    /// AccountsModule._requireAccountAdmin: the platform admin, or an admin of the organisation
    /// the account belongs to unless `platformOnly` (lifting the platform admin's suspension);
    /// others as before organisations existed.
    function _accountAdminRefusal(address account, address caller, bool platformOnly) internal view returns (bytes memory) {
        if (_isPlatformAdmin(caller)) return "";
        uint32 org = platformOnly ? 0 : gOrgOf[account];
        if (org == 0 || gAdminOf[caller] != org) {
            return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, m.ADMIN_ROLE());
        }
        return "";
    }

    // ================================================================ enrolment

    function enrolPatient(uint256 seed) external step("enrolPatient") {
        seed = _mix(seed, 0);
        uint32 org = _liveOrg(seed >> 24);
        address caller = _orgCaller(seed >> 32, org);
        address p = (seed >> 8) % 16 == 0 ? practitioners[(seed >> 16) % N_PRACTITIONERS] : patients[(seed >> 16) % N_PATIENTS];
        bytes memory expected;
        if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else expected = _adminForRefusal(org, caller);
        if (expected.length == 0) {
            if (!modelLicensed(org)) {
                expected = _statusRefusal(org);
            } else if (_isPractitioner(p)) {
                expected = abi.encodeWithSelector(IMedLedger.NotAPatient.selector, p);
            } else if (gEnrol[org][p] != IMedLedgerLicensing.Enrolment.None) {
                expected = abi.encodeWithSelector(IMedLedgerLicensing.InvalidEnrolment.selector, org, p, gEnrol[org][p]);
            }
        }
        bool ok = _call("enrolPatient", caller, address(lic), 0, abi.encodeCall(lic.enrolPatient, (org, p)), expected);
        if (ok) gEnrol[org][p] = IMedLedgerLicensing.Enrolment.Offered;
    }

    function _isPractitioner(address a) internal view returns (bool) {
        for (uint256 i; i < N_PRACTITIONERS; ++i) {
            if (practitioners[i] == a) return true;
        }
        return false;
    }

    function acceptEnrolment(uint256 seed) external step("acceptEnrolment") {
        seed = _mix(seed, 0);
        address p = patients[(seed >> 16) % N_PATIENTS];
        uint32 org = _org(seed >> 24);
        // Mostly a (patient, organisation) pair with an offer standing.
        if ((seed >> 8) % 4 != 0) {
            uint256 pairs = N_PATIENTS * gOrgCount;
            for (uint256 k; k < pairs; ++k) {
                uint256 x = ((seed >> 40) + k) % pairs;
                address c = patients[x % N_PATIENTS];
                uint32 o = uint32(1 + x / N_PATIENTS);
                if (gEnrol[o][c] == IMedLedgerLicensing.Enrolment.Offered) {
                    (p, org) = (c, o);
                    break;
                }
            }
        }
        bytes memory expected;
        if (_unknownOrg(org)) {
            expected = _unknownOrgRefusal(org);
        } else if (gEnrol[org][p] != IMedLedgerLicensing.Enrolment.Offered) {
            expected = abi.encodeWithSelector(IMedLedgerLicensing.InvalidEnrolment.selector, org, p, gEnrol[org][p]);
        } else if (!modelLicensed(org)) {
            expected = _statusRefusal(org);
        } else if (modelUsed(org).patients >= gOrg[org].limits.patients) {
            expected = abi.encodeWithSelector(IMedLedgerLicensing.NoSeatLeft.selector, org, uint8(2), gOrg[org].limits.patients);
        }
        bool ok = _call("acceptEnrolment", p, address(lic), 0, abi.encodeCall(lic.acceptEnrolment, (org)), expected);
        if (ok) gEnrol[org][p] = IMedLedgerLicensing.Enrolment.Enrolled;
    }

    function endEnrolment(uint256 seed) external step("endEnrolment") {
        seed = _mix(seed, 0);
        address p = patients[(seed >> 16) % N_PATIENTS];
        uint32 org = _org(seed >> 24);
        if ((seed >> 8) % 4 != 0) {
            for (uint256 k; k < gOrgCount; ++k) {
                uint32 o = uint32(1 + ((seed >> 40) + k) % gOrgCount);
                if (gEnrol[o][p] != IMedLedgerLicensing.Enrolment.None) {
                    org = o;
                    break;
                }
            }
        }
        address caller = (seed >> 48) % 2 == 0 ? p : _orgCaller(seed >> 56, org);
        bytes memory expected;
        if (_unknownOrg(org)) expected = _unknownOrgRefusal(org);
        else if (caller != p) expected = _adminForRefusal(org, caller);
        if (expected.length == 0 && gEnrol[org][p] == IMedLedgerLicensing.Enrolment.None) {
            expected = abi.encodeWithSelector(IMedLedgerLicensing.InvalidEnrolment.selector, org, p, gEnrol[org][p]);
        }
        bool ok = _call("endEnrolment", caller, address(lic), 0, abi.encodeCall(lic.endEnrolment, (org, p)), expected);
        if (ok) gEnrol[org][p] = IMedLedgerLicensing.Enrolment.None;
    }

    // ================================================================ patients and practitioners

    /// A patient regrants a practitioner (or the insurer): mostly every category with write for
    /// good, else a few categories, with or without write, for up to 60 days.
    function grant(uint256 seed) external step("grant") {
        seed = _mix(seed, 0);
        address p = patients[seed % N_PATIENTS];
        address q = _practitioner(seed >> 8, 255);
        bool full = (seed >> 24) % 2 == 0;
        uint256 categories = full ? type(uint256).max : 1 + (seed >> 32) % 255;
        bool write = q != insurer && (full || (seed >> 48) % 2 == 0);
        uint64 expiry = full ? type(uint64).max : uint64(gNow + _bound(seed >> 64, 1 hours, 60 days));
        bool ok = _call("grant", p, address(m), 0, abi.encodeCall(m.grant, (q, categories, write, expiry)), "");
        if (ok) gGrant[p][q] = GrantG(categories, write, expiry, true);
    }

    function revoke(uint256 seed) external step("revoke") {
        seed = _mix(seed, 0);
        // Rarely: reading with a grant is what the positive checks need.
        if (seed % 4 != 0) return;
        address p = patients[(seed >> 8) % N_PATIENTS];
        address q = _practitioner(seed >> 16, 255);
        bytes memory expected;
        if (!gGrant[p][q].listed) expected = abi.encodeWithSelector(IMedLedger.NoActiveGrant.selector, p, q);
        bool ok = _call("revoke", p, address(m), 0, abi.encodeCall(m.revoke, (q)), expected);
        if (ok) delete gGrant[p][q];
    }

    function patientAddsRecord(uint256 seed) external step("patientAddsRecord") {
        seed = _mix(seed, 0);
        address p = patients[seed % N_PATIENTS];
        // Patients leave the last seats to practitioners' records.
        if (recordsOf[p] + 2 >= MAX_RECORDS_PER_PATIENT) return;
        _patientRecord(p, uint8((seed >> 8) % 8));
        okCalls["patientAddsRecord"]++;
    }

    /// A practitioner adds a record for a patient: it must succeed exactly when the practitioner
    /// is Active, its organisation (if any) licensed, and its grant lets it write the category.
    function practitionerAddsRecord(uint256 seed) external step("practitionerAddsRecord") {
        seed = _mix(seed, 0);
        address p = patients[seed % N_PATIENTS];
        if (recordsOf[p] >= MAX_RECORDS_PER_PATIENT) return;
        address q = _practitioner(seed >> 8, 255);
        // Mostly one the model says may write now (if any), to see writes succeed too.
        if ((seed >> 16) % 4 != 0) {
            for (uint256 k; k < N_PRACTITIONERS; ++k) {
                address c = practitioners[((seed >> 32) + k) % N_PRACTITIONERS];
                if (modelVerified(c)) {
                    q = c;
                    break;
                }
            }
        }
        uint8 category = uint8((seed >> 24) % 8);
        bytes32 id = keccak256(abi.encode("record", ++nonce));
        bytes memory expected;
        if (!modelCanWrite(p, q, category)) {
            expected = abi.encodeWithSelector(IMedLedger.WriteNotPermitted.selector, p, q, category);
        }
        bool ok = _call(
            "practitionerAddsRecord",
            q,
            address(m),
            0,
            abi.encodeCall(m.addRecord, (id, p, keccak256(abi.encode("ciphertext", nonce)), category, bytes32(0))),
            expected
        );
        if (ok) {
            _remember(id, p, category);
            practitionerWritesByStatus[uint8(modelStatus(gOrgOf[q]))]++;
        }
    }

    /// A practitioner breaks glass: it must succeed exactly when the practitioner is verified
    /// (Active, its organisation licensed); every patient opted in.
    function emergencyAccess(uint256 seed) external step("emergencyAccess") {
        seed = _mix(seed, 0);
        address p = patients[seed % N_PATIENTS];
        address q = _practitioner(seed >> 8, 255);
        if (q == insurer) q = practitioners[0];
        bytes memory expected;
        if (!modelVerified(q)) expected = abi.encodeWithSelector(IMedLedger.NotAVerifiedPractitioner.selector, q);
        bool ok = _call("emergencyAccess", q, address(m), 0, abi.encodeCall(m.emergencyAccess, (p, keccak256("emergency"))), expected);
        if (ok) gWindow[p][q] = uint64(gNow) + EMERGENCY_WINDOW;
    }

    // ================================================================ time

    function warp(uint256 seed) external step("warp") {
        seed = _mix(seed, 0);
        uint256 mode = seed % 16;
        uint256 t = gNow;
        if (mode < 4) {
            // To the next licence boundary (a subscription's end or a notice date), or the second before.
            uint256 next;
            for (uint32 o = 1; o <= gOrgCount; ++o) {
                uint256 a = gOrg[o].paidUntil;
                uint256 b = gOrg[o].terminatesAt;
                if (a > gNow && (next == 0 || a < next)) next = a;
                if (b > gNow && (next == 0 || b < next)) next = b;
            }
            if (next != 0) t = mode % 2 == 0 ? next : next - 1;
        } else if (mode < 12) {
            t += _bound(seed >> 8, 0, 1 days);
        } else if (mode < 15) {
            t += _bound(seed >> 8, 0, 60 days);
        } else {
            t += _bound(seed >> 8, 0, 400 days);
        }
        if (t < gNow) t = gNow;
        gNow = t;
        vm.warp(t);
        okCalls["warp"]++;
    }
}
