// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IMedLedger} from "../contracts/interfaces/IMedLedger.sol";
import {IMedLedgerInsurance} from "../contracts/interfaces/IMedLedgerInsurance.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerForwarder} from "../contracts/MedLedgerForwarder.sol";
import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";
import {Vm} from "forge-std/Vm.sol";
import {MedLedgerInsurance} from "../contracts/MedLedgerInsurance.sol";

/// @notice Property-based tests of the rules of MedLedger and of MedLedgerInsurance beside it, one
/// feature at a time: grants (category masks, expiries around block.timestamp, the write flag,
/// each kind of grantee), canRead and canWrite, categories 0..255, erasure, emergency windows, the
/// insurance arithmetic checked against an independent model written here, and what a claim
/// stands on: a claim document the practitioner filed for the patient in CLAIMS_CATEGORY, the
/// practitioner's grant on the claimed category and the insurer's grant on CLAIMS_CATEGORY, all
/// read by the insurance contract from the core.
contract MedLedgerFuzzTest is Test {
    /// The core.
    MedLedger internal m;
    /// The insurance contract on `m`: policies, claims, payouts, all the ether.
    MedLedgerInsurance internal insurance;
    /// The ERC-2771 forwarder `m` trusts.
    MedLedgerForwarder internal fwd;

    address internal admin = makeAddr("admin");
    address internal escrow = makeAddr("escrow");
    address internal patient = makeAddr("patient");
    address internal patient2 = makeAddr("patient2");
    address internal prac = makeAddr("practitioner");
    address internal prac2 = makeAddr("practitioner2");
    address internal pendingPrac = makeAddr("pendingPractitioner");
    address internal ins = makeAddr("insurer");
    address internal stranger = makeAddr("stranger");

    uint256 internal constant T0 = 1_700_000_000;
    uint256 internal constant ALL = type(uint256).max;
    /// MedLedgerInsurance.CLAIMS_CATEGORY: claim documents are records in this category.
    uint8 internal constant CLAIMS = 7;

    uint256 internal nonce;

    function setUp() public {
        vm.warp(T0);
        fwd = new MedLedgerForwarder();
        m = new MedLedger(admin, escrow, address(fwd));
        insurance = new MedLedgerInsurance(address(m));
        vm.prank(patient);
        m.registerPatient(keccak256("patient key"));
        vm.prank(patient2);
        m.registerPatient(keccak256("patient2 key"));
        _professional(prac, true, true);
        _professional(prac2, true, true);
        _professional(pendingPrac, true, false);
        _professional(ins, false, true);
    }

    // ------------------------------------------------------------ helpers

    /// A ForwardRequest for `data` to the core signed by `signerKey` (EIP-712, the forwarder's
    /// domain: MedLedgerForwarder, version 1), with the signer's current nonce.
    function _forwardRequest(uint256 signerKey, bytes memory data)
        internal
        view
        returns (ERC2771Forwarder.ForwardRequestData memory request)
    {
        address from = vm.addr(signerKey);
        uint48 deadline = uint48(block.timestamp + 1 hours);
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("MedLedgerForwarder"),
                keccak256("1"),
                block.chainid,
                address(fwd)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,uint48 deadline,bytes data)"
                ),
                from,
                address(m),
                uint256(0),
                uint256(300_000),
                fwd.nonces(from),
                deadline,
                keccak256(data)
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKey, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        request = ERC2771Forwarder.ForwardRequestData({
            from: from,
            to: address(m),
            value: 0,
            gas: 300_000,
            deadline: deadline,
            data: data,
            signature: abi.encodePacked(r, s, v)
        });
    }

    /// The account of the one AccountRegistered event the core logged among `logs`.
    function _registeredIn(Vm.Log[] memory logs) internal view returns (address account) {
        uint256 found;
        bytes32 topic = keccak256("AccountRegistered(address,uint8,bytes32,bytes32)");
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].emitter == address(m) && logs[i].topics[0] == topic) {
                account = address(uint160(uint256(logs[i].topics[1])));
                found++;
            }
        }
        assertEq(found, 1, "one AccountRegistered");
    }

    function _professional(address who, bool practitioner, bool verify) internal {
        vm.prank(who);
        if (practitioner) m.applyAsPractitioner(keccak256(abi.encode(who, "key")), keccak256(abi.encode(who)));
        else m.applyAsInsurer(keccak256(abi.encode(who, "key")), keccak256(abi.encode(who)));
        if (verify) {
            vm.prank(admin);
            m.verifyAccount(who);
        }
    }

    function _id() internal returns (bytes32) {
        return keccak256(abi.encode("id", ++nonce));
    }

    function _add(address by, address forPatient, uint8 category) internal returns (bytes32 id) {
        id = _id();
        vm.prank(by);
        m.addRecord(id, forPatient, keccak256(abi.encode("ciphertext", id)), category, bytes32(0));
    }

    /// A claim document: a CLAIMS record of `forPatient` filed by `by` (who needs a write grant
    /// covering CLAIMS at this moment).
    function _doc(address by, address forPatient) internal returns (bytes32) {
        return _add(by, forPatient, CLAIMS);
    }

    function _grant(address from, address to, uint256 categories, bool write, uint256 expiry) internal {
        vm.prank(from);
        m.grant(to, categories, write, uint64(expiry));
    }

    function _covers(uint256 mask, uint8 category) internal pure returns (bool) {
        return (mask >> category) & 1 == 1;
    }

    function _inList(address[] memory list, address who) internal pure returns (bool) {
        for (uint256 i; i < list.length; ++i) {
            if (list[i] == who) return true;
        }
        return false;
    }

    // ------------------------------------------------------------ grants, canRead, canWrite

    struct GrantCase {
        address grantee;
        uint256 categories;
        bool allowWrite;
        uint256 expiry;
        uint8 recordCategory;
        uint8 writeCategory;
        bytes32 id;
        bool granted;
    }

    /// Any grant to any kind of account, any expiry around now, any category mask, then any record
    /// category at any later time: grant() accepts exactly the valid grants, and canRead, canWrite,
    /// addRecord and activeGrants agree with the rule written out here.
    function testFuzz_grantThenReadWrite(
        uint256 categories,
        bool allowWrite,
        uint256 expirySeed,
        uint8 recordCategory,
        uint8 writeCategory,
        uint256 elapsed,
        uint8 granteeSel
    ) public {
        if (categories % 8 == 0) categories = 0; // exercise the empty mask now and then
        GrantCase memory c = GrantCase({
            grantee: [prac, ins, pendingPrac, stranger, patient2][granteeSel % 5],
            categories: categories,
            allowWrite: allowWrite,
            expiry: bound(expirySeed, T0 - 10 days, T0 + 400 days),
            recordCategory: recordCategory,
            writeCategory: writeCategory,
            id: bytes32(0),
            granted: false
        });
        c.id = _add(patient, patient, recordCategory);
        _grantCase(c);
        vm.warp(T0 + bound(elapsed, 0, 500 days));
        _checkGrantCase(c);
    }

    function _grantCase(GrantCase memory c) internal {
        bool validGrantee = c.grantee == prac || c.grantee == pendingPrac || (c.grantee == ins && !c.allowWrite);
        vm.prank(patient);
        if (!validGrantee) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedger.InvalidGrantee.selector, c.grantee));
        } else if (c.categories == 0) {
            vm.expectRevert(IMedLedger.InvalidCategories.selector);
        } else if (c.expiry <= block.timestamp) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedger.ExpiryInPast.selector, uint64(c.expiry)));
        }
        m.grant(c.grantee, c.categories, c.allowWrite, uint64(c.expiry));
        MedLedger.Grant memory g = m.grantOf(patient, c.grantee);
        c.granted = validGrantee && c.categories != 0 && c.expiry > T0;
        assertEq(g.expiry != 0, c.granted, "grant accepted");
        if (c.granted) {
            assertEq(g.categories, c.categories);
            assertEq(g.canWrite, c.allowWrite);
            assertEq(g.expiry, c.expiry);
            assertEq(g.grantedAt, T0);
        }
    }

    function _checkGrantCase(GrantCase memory c) internal {
        bool active = c.granted && block.timestamp < c.expiry;
        bool verified = c.grantee == prac || c.grantee == ins;

        bool expectRead = active && verified && _covers(c.categories, c.recordCategory);
        assertEq(m.canRead(patient, c.grantee, c.id), expectRead, "canRead");
        assertTrue(m.canRead(patient, patient, c.id), "the patient reads their own record");
        assertFalse(m.canRead(patient2, c.grantee, c.id), "record named under the wrong patient");
        assertFalse(m.canRead(patient, stranger, c.id), "stranger");

        bool expectWrite = active && c.grantee == prac && c.allowWrite && _covers(c.categories, c.writeCategory);
        assertEq(m.canWrite(patient, c.grantee, c.writeCategory), expectWrite, "canWrite");
        assertTrue(m.canWrite(patient, patient, c.writeCategory));
        assertFalse(m.canWrite(stranger, stranger, c.writeCategory), "only registered patients have records");

        bytes32 id2 = _id();
        vm.prank(c.grantee);
        if (!expectWrite) {
            vm.expectRevert(
                abi.encodeWithSelector(IMedLedger.WriteNotPermitted.selector, patient, c.grantee, c.writeCategory)
            );
        }
        m.addRecord(id2, patient, keccak256("c2"), c.writeCategory, c.id);
        assertEq(m.recordOf(id2).author, expectWrite ? c.grantee : address(0));

        (address[] memory grantees,) = m.activeGrants(patient);
        assertEq(_inList(grantees, c.grantee), active, "activeGrants");
    }

    /// A grant on one category bit covers exactly that category, for all 256 categories; a full
    /// mask covers every one.
    function testFuzz_singleCategoryBit(uint8 grantCategory, uint8 recordCategory) public {
        bytes32 id = _add(patient, patient, recordCategory);
        _grant(patient, prac, uint256(1) << grantCategory, true, T0 + 1 days);
        _grant(patient, ins, ALL, false, T0 + 1 days);
        assertEq(m.canRead(patient, prac, id), grantCategory == recordCategory);
        assertEq(m.canWrite(patient, prac, recordCategory), grantCategory == recordCategory);
        assertTrue(m.canRead(patient, ins, id));
        assertEq(m.recordOf(id).category, recordCategory);
    }

    /// Expiry is exclusive: the grant works at expiry - 1 and not at expiry.
    function testFuzz_expiryBoundary(uint256 lifetime, uint8 category) public {
        lifetime = bound(lifetime, 1, 3650 days);
        bytes32 id = _add(patient, patient, category);
        _grant(patient, prac, ALL, true, T0 + lifetime);
        vm.warp(T0 + lifetime - 1);
        assertTrue(m.canRead(patient, prac, id));
        assertTrue(m.canWrite(patient, prac, category));
        vm.warp(T0 + lifetime);
        assertFalse(m.canRead(patient, prac, id));
        assertFalse(m.canWrite(patient, prac, category));
        vm.prank(prac);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.WriteNotPermitted.selector, patient, prac, category));
        m.addRecord(_id(), patient, keccak256("c"), category, bytes32(0));
    }

    /// Revocation and suspension take effect at once; reinstatement restores an unexpired grant.
    function testFuzz_revokeSuspendReinstate(uint8 category, uint256 elapsed, bool viaRevoke) public {
        bytes32 id = _add(patient, patient, category);
        _grant(patient, prac, ALL, true, T0 + 30 days);
        _grant(patient, ins, ALL, false, T0 + 30 days);
        vm.warp(T0 + bound(elapsed, 0, 30 days - 1));
        assertTrue(m.canRead(patient, prac, id));
        if (viaRevoke) {
            vm.prank(patient);
            m.revoke(prac);
            assertFalse(m.canRead(patient, prac, id));
            assertFalse(m.canWrite(patient, prac, category));
            assertEq(m.grantOf(patient, prac).expiry, 0);
            vm.prank(patient);
            vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoActiveGrant.selector, patient, prac));
            m.revoke(prac);
        } else {
            vm.startPrank(admin);
            m.suspendAccount(prac, keccak256("reason"));
            m.suspendAccount(ins, keccak256("reason"));
            vm.stopPrank();
            assertFalse(m.canRead(patient, prac, id));
            assertFalse(m.canRead(patient, ins, id));
            assertFalse(m.canWrite(patient, prac, category));
            vm.startPrank(admin);
            m.reinstateAccount(prac);
            m.reinstateAccount(ins);
            vm.stopPrank();
            assertTrue(m.canRead(patient, prac, id));
            assertTrue(m.canRead(patient, ins, id));
            assertTrue(m.canWrite(patient, prac, category));
        }
        assertTrue(m.canRead(patient, ins, id) || !viaRevoke);
    }

    /// Insurers never write, even with a full read grant; practitioners write only with the flag.
    function testFuzz_onlyWriteGrantsWrite(uint8 category, uint256 mask) public {
        mask = bound(mask, 1, ALL);
        _grant(patient, ins, mask, false, T0 + 1 days);
        _grant(patient, prac, mask, false, T0 + 1 days);
        assertFalse(m.canWrite(patient, ins, category));
        assertFalse(m.canWrite(patient, prac, category));
        vm.prank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.InvalidGrantee.selector, ins));
        m.grant(ins, mask, true, uint64(T0 + 1 days));
    }

    // ------------------------------------------------------------ erasure

    /// Erase any subset of up to 8 records one by one, then perhaps everything: an erased record is
    /// unreadable by everyone (patient included) at any later time, stays erased, can be shredded
    /// once, cannot be superseded; live records stay readable; records added after eraseAll live.
    function testFuzz_erasure(uint8[8] memory categories, uint8 count, uint8 eraseMask, bool all, uint256 later)
        public
    {
        count = uint8(bound(count, 1, 8));
        _grant(patient, prac, ALL, true, T0 + 1000 days);
        _grant(patient, ins, ALL, false, T0 + 1000 days);
        vm.prank(patient);
        m.setEmergencyOptIn(true);
        vm.prank(prac2);
        m.emergencyAccess(patient, keccak256("er"));

        bytes32[] memory ids = new bytes32[](count);
        bool[] memory erased = new bool[](count);
        for (uint256 i; i < count; ++i) {
            ids[i] = _add(i % 2 == 0 ? patient : prac, patient, categories[i]);
        }
        for (uint256 i; i < count; ++i) {
            if ((eraseMask >> i) & 1 == 1) {
                vm.prank(prac);
                vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotRecordOwner.selector, ids[i], prac));
                m.eraseRecord(ids[i]);
                vm.prank(patient);
                m.eraseRecord(ids[i]);
                erased[i] = true;
            }
        }
        if (all) {
            vm.prank(patient);
            m.eraseAll();
            for (uint256 i; i < count; ++i) {
                erased[i] = true;
            }
        }
        bytes32 fresh = _add(patient, patient, categories[0]);

        vm.warp(T0 + bound(later, 0, 2 hours));
        // prac and ins by grant, prac2 by its emergency window: every one of them reads live records.
        address[4] memory readers = [patient, prac, prac2, ins];
        for (uint256 i; i < count; ++i) {
            assertEq(m.isErased(ids[i]), erased[i]);
            for (uint256 r; r < readers.length; ++r) {
                assertEq(m.canRead(patient, readers[r], ids[i]), !erased[i], "erased iff unreadable");
            }
            assertFalse(m.canRead(patient, stranger, ids[i]));
            if (erased[i]) {
                vm.prank(patient);
                vm.expectRevert(abi.encodeWithSelector(IMedLedger.RecordAlreadyErased.selector, ids[i]));
                m.eraseRecord(ids[i]);
                vm.prank(patient);
                vm.expectRevert(abi.encodeWithSelector(IMedLedger.InvalidSupersedes.selector, ids[i]));
                m.addRecord(_id(), patient, keccak256("amend"), 0, ids[i]);
                vm.prank(escrow);
                m.confirmShredded(ids[i], keccak256("receipt"));
                vm.prank(escrow);
                vm.expectRevert(abi.encodeWithSelector(IMedLedger.ShredAlreadyConfirmed.selector, ids[i]));
                m.confirmShredded(ids[i], keccak256("receipt"));
            } else {
                vm.prank(escrow);
                vm.expectRevert(abi.encodeWithSelector(IMedLedger.RecordNotErased.selector, ids[i]));
                m.confirmShredded(ids[i], keccak256("receipt"));
            }
            // The id stays taken.
            vm.prank(patient);
            vm.expectRevert(abi.encodeWithSelector(IMedLedger.RecordExists.selector, ids[i]));
            m.addRecord(ids[i], patient, keccak256("again"), 0, bytes32(0));
        }
        assertFalse(m.isErased(fresh));
        assertTrue(m.canRead(patient, prac, fresh));
        assertTrue(m.canRead(patient, patient, fresh));
        assertEq(m.erasureEpochOf(patient), all ? 1 : 0);
    }

    // ------------------------------------------------------------ records under a root

    /// A root of two leaves, built here as OpenZeppelin's sorted-pair tree: the root and leaf 0's
    /// proof.
    function _twoLeafRoot(MedLedger.RootedRecord memory a, MedLedger.RootedRecord memory b)
        internal
        view
        returns (bytes32 root, bytes32[] memory proofOfA)
    {
        bytes32 la = m.rootedLeaf(a);
        bytes32 lb = m.rootedLeaf(b);
        root = la < lb ? keccak256(abi.encodePacked(la, lb)) : keccak256(abi.encodePacked(lb, la));
        proofOfA = new bytes32[](1);
        proofOfA[0] = lb;
    }

    /// The lowest category in `mask` that `writeMask` does not cover, or 256 when it covers all.
    function _firstUncovered(uint256 mask, uint256 writeMask) internal pure returns (uint256) {
        for (uint256 c; c < 256; ++c) {
            if (_covers(mask, uint8(c)) && !_covers(writeMask, uint8(c))) return c;
        }
        return 256;
    }

    /// Any write grant and any root mask: anchorRecordRoot takes exactly the roots whose every
    /// category the author may write (naming the lowest it may not); then any reader's grant, any
    /// leaf category and any later time: canReadRooted is canRead for a record of that category
    /// when the root names the category, and false when it does not.
    function testFuzz_rootedRecordsWriteAndRead(
        uint256 writeMask,
        uint256 rootMask,
        uint8 leafCategory,
        uint256 readMask,
        uint256 elapsed,
        bool suspendReader
    ) public {
        writeMask = bound(writeMask, 1, ALL);
        rootMask = bound(rootMask, 1, ALL);
        // Three times in four a root within the write grant (else nearly every root is refused).
        if (rootMask % 4 != 0) rootMask = (rootMask & writeMask) == 0 ? writeMask : rootMask & writeMask;
        readMask = bound(readMask, 1, ALL);
        _grant(patient, prac, writeMask, true, T0 + 30 days);
        _grant(patient, prac2, readMask, false, T0 + 30 days);
        MedLedger.RootedRecord memory leaf =
            MedLedger.RootedRecord({index: 0, recordId: _id(), ciphertextHash: keccak256("h1"), category: leafCategory});
        MedLedger.RootedRecord memory other =
            MedLedger.RootedRecord({index: 1, recordId: _id(), ciphertextHash: keccak256("h1b"), category: leafCategory});
        (bytes32 root, bytes32[] memory proof) = _twoLeafRoot(leaf, other);
        uint256 refused = _firstUncovered(rootMask, writeMask);
        vm.prank(prac);
        if (refused < 256) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedger.WriteNotPermitted.selector, patient, prac, uint8(refused)));
        }
        m.anchorRecordRoot(patient, root, 2, rootMask);
        if (refused < 256) {
            assertEq(m.recordRootOf(root).patient, address(0), "a refused root is not kept");
            return;
        }
        bytes32 single = _add(patient, patient, leafCategory);
        if (suspendReader) {
            vm.prank(admin);
            m.suspendAccount(prac2, keccak256("reason"));
        }
        vm.warp(T0 + bound(elapsed, 0, 60 days));
        bool named = _covers(rootMask, leafCategory);
        assertEq(m.isRootedRecord(root, leaf, proof), named, "a leaf proves when its category is named");
        for (uint256 i; i < 3; ++i) {
            address reader = [patient, prac2, stranger][i];
            bool expected = named && m.canRead(patient, reader, single);
            assertEq(m.canReadRooted(patient, reader, root, leaf, proof), expected, "canReadRooted is canRead");
        }
        assertFalse(m.canReadRooted(patient2, patient2, root, leaf, proof), "another patient's root");
    }

    // ------------------------------------------------------------ emergency access

    /// Any window length in range: a verified practitioner without a grant reads an opted-in
    /// patient's records exactly while block.timestamp < opening + window, unless the patient ends
    /// it or opts out first.
    function testFuzz_emergencyWindow(uint256 window, uint256 elapsed, uint8 category, uint8 how) public {
        window = bound(window, 1 hours, 7 days);
        elapsed = bound(elapsed, 0, 8 days);
        vm.prank(admin);
        m.setEmergencyWindow(uint64(window));
        bytes32 id = _add(patient, patient, category);

        vm.prank(prac);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.EmergencyNotOptedIn.selector, patient));
        m.emergencyAccess(patient, keccak256("r"));
        vm.prank(patient);
        m.setEmergencyOptIn(true);
        vm.prank(pendingPrac);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotAVerifiedPractitioner.selector, pendingPrac));
        m.emergencyAccess(patient, keccak256("r"));
        vm.prank(ins);
        vm.expectRevert(abi.encodeWithSelector(IMedLedger.NotAVerifiedPractitioner.selector, ins));
        m.emergencyAccess(patient, keccak256("r"));

        assertFalse(m.canRead(patient, prac, id));
        vm.prank(prac);
        m.emergencyAccess(patient, keccak256("r"));
        assertEq(m.emergencyAccessUntil(patient, prac), T0 + window);
        assertTrue(m.canRead(patient, prac, id));
        assertFalse(m.canRead(patient, prac2, id), "the window is per practitioner");
        assertFalse(m.canWrite(patient, prac, category), "emergency access is read-only");

        uint8 mode = how % 3; // 0: let it run, 1: patient ends it, 2: patient opts out
        if (mode == 1) {
            vm.prank(patient);
            m.endEmergencyAccess(prac);
            assertEq(m.emergencyAccessUntil(patient, prac), 0);
        } else if (mode == 2) {
            vm.prank(patient);
            m.setEmergencyOptIn(false);
        }
        vm.warp(T0 + elapsed);
        assertEq(m.canRead(patient, prac, id), mode == 0 && elapsed < window);
        if (mode == 2) {
            // Opting out closed the window for good: opting in again does not reopen it.
            vm.prank(patient);
            m.setEmergencyOptIn(true);
            assertFalse(m.canRead(patient, prac, id), "window reopened by opting in again");
            assertEq(m.emergencyAccessUntil(patient, prac), 0);
            vm.prank(patient);
            vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoEmergencyAccess.selector, patient, prac));
            m.endEmergencyAccess(prac);
            // A new opening works as usual.
            vm.prank(prac);
            m.emergencyAccess(patient, keccak256("again"));
            assertTrue(m.canRead(patient, prac, id));
        }

        if (mode != 2) {
            vm.prank(patient);
            if (mode == 1 || elapsed >= window) {
                vm.expectRevert(abi.encodeWithSelector(IMedLedger.NoEmergencyAccess.selector, patient, prac));
            }
            m.endEmergencyAccess(prac);
            assertFalse(m.canRead(patient, prac, id));
        }
    }

    /// The admin's window setting accepts exactly 1 hour .. 7 days.
    function testFuzz_emergencyWindowBounds(uint64 window) public {
        vm.prank(admin);
        if (window < 1 hours || window > 7 days) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedger.EmergencyWindowOutOfRange.selector, window));
        }
        m.setEmergencyWindow(window);
        assertEq(m.emergencyWindow(), (window < 1 hours || window > 7 days) ? 24 hours : window);
    }

    // ------------------------------------------------------------ insurance: independent model

    struct PolicyModel {
        uint256 covered;
        uint256 perClaim;
        uint256 annual;
        uint256 deductible;
        uint256 funds;
        uint256 reserved;
    }

    struct Usage {
        uint256 deductibleUsed;
        uint256 paid;
    }

    mapping(uint256 year => Usage) internal modelUsage;

    /// The settlement rule as the design states it: covered category, amount within the per-claim
    /// limit, the deductible borne first, the annual limit not exceeded, the funds available.
    function _modelAssess(PolicyModel memory p, uint256 year, uint256 amount, uint8 category)
        internal
        view
        returns (IMedLedgerInsurance.PendingReason reason, uint256 deductiblePart, uint256 payout)
    {
        if (!_covers(p.covered, category)) return (IMedLedgerInsurance.PendingReason.CategoryNotCovered, 0, 0);
        if (amount > p.perClaim) return (IMedLedgerInsurance.PendingReason.OverPerClaimLimit, 0, 0);
        Usage memory u = modelUsage[year];
        uint256 left = u.deductibleUsed >= p.deductible ? 0 : p.deductible - u.deductibleUsed;
        deductiblePart = amount <= left ? amount : left;
        payout = amount - deductiblePart;
        if (u.paid + payout > p.annual) return (IMedLedgerInsurance.PendingReason.OverAnnualLimit, 0, 0);
        if (payout + p.reserved > p.funds) return (IMedLedgerInsurance.PendingReason.InsufficientFunds, 0, 0);
        return (IMedLedgerInsurance.PendingReason.None, deductiblePart, payout);
    }

    function _publish(PolicyModel memory p) internal {
        vm.deal(ins, p.funds);
        vm.prank(ins);
        insurance.publishPolicy{value: p.funds}(p.covered, uint128(p.perClaim), uint128(p.annual), uint128(p.deductible));
    }

    /// A sequence of up to 6 claims by the same practitioner for the same patient, across policy
    /// years, against any policy: each claim settles or waits exactly as the model says, for the
    /// payout the model computes, and funds, usage and the practitioner's balance follow.
    function testFuzz_autoSettlementMatchesModel(
        uint256 covered,
        uint256 perClaim,
        uint256 annual,
        uint256 deductible,
        uint256 funds,
        uint256[6] memory amounts,
        uint8[6] memory categories,
        uint256[6] memory gaps
    ) public {
        PolicyModel memory p = PolicyModel({
            covered: bound(covered, 1, ALL),
            perClaim: bound(perClaim, 1, 50 ether),
            annual: bound(annual, 1, 120 ether),
            deductible: bound(deductible, 0, 20 ether),
            funds: bound(funds, 0, 150 ether),
            reserved: 0
        });
        _publish(p);
        // Every category (claims are in any of 0..255), with write to file the claim documents.
        _grant(patient, prac, ALL, true, T0 + 5000 days);
        _grant(patient, ins, ALL, false, T0 + 5000 days);

        uint256 credited;
        for (uint256 i; i < 6; ++i) {
            vm.warp(block.timestamp + bound(gaps[i], 0, 300 days));
            credited += _claimStep(p, i, bound(amounts[i], 1, 60 ether), categories[i]);
            assertEq(insurance.payoutOf(prac), credited, "credited");
            assertEq(address(insurance).balance, p.funds + credited, "ether conserved");
        }

        uint256 before = prac.balance;
        vm.prank(prac);
        if (credited == 0) vm.expectRevert(IMedLedgerInsurance.NothingToWithdraw.selector);
        insurance.withdrawPayout();
        assertEq(prac.balance - before, credited);
        assertEq(insurance.payoutOf(prac), 0);
        assertEq(address(insurance).balance, p.funds);
    }

    /// One claim of the sequence: submit it and compare the outcome with the model; returns the
    /// payout credited to the practitioner and updates the model (p, modelUsage).
    function _claimStep(PolicyModel memory p, uint256 i, uint256 amount, uint8 category) internal returns (uint256) {
        uint256 year = block.timestamp / 365 days;
        (IMedLedgerInsurance.PendingReason reason, uint256 dPart, uint256 payout) = _modelAssess(p, year, amount, category);
        bytes32 claimId = keccak256(abi.encode("claim", i));
        bytes32 doc = _doc(prac, patient);
        vm.expectEmit(true, true, true, true, address(insurance));
        emit IMedLedgerInsurance.ClaimSubmitted(claimId, prac, patient, ins, doc, uint128(amount), category);
        vm.prank(prac);
        insurance.submitClaim(claimId, patient, ins, doc, uint128(amount), category);

        IMedLedgerInsurance.Claim memory c = insurance.claimOf(claimId);
        assertEq(c.documentRecordId, doc, "claim document");
        assertEq(c.amount, amount);
        assertEq(c.policyYear, year);
        assertEq(uint8(c.pendingReason), uint8(reason), "pending reason");
        if (reason == IMedLedgerInsurance.PendingReason.None) {
            assertEq(uint8(c.status), uint8(IMedLedgerInsurance.ClaimStatus.Paid), "settled at once");
            assertEq(c.payout, payout, "payout");
            modelUsage[year].deductibleUsed += dPart;
            modelUsage[year].paid += payout;
            p.funds -= payout;
        } else {
            assertEq(uint8(c.status), uint8(IMedLedgerInsurance.ClaimStatus.Submitted), "left for review");
            assertEq(c.payout, 0);
            payout = 0;
        }
        IMedLedgerInsurance.AnnualUsage memory u = insurance.annualUsageOf(ins, patient, uint64(year));
        assertEq(u.deductibleUsed, modelUsage[year].deductibleUsed, "deductible used");
        assertEq(u.paid, modelUsage[year].paid, "annual paid");
        assertLe(u.paid, p.annual, "automatic payouts never pass the annual limit");
        assertLe(u.deductibleUsed, p.deductible);
        assertEq(insurance.policyOf(ins).funds, p.funds, "funds");
        return payout;
    }

    /// A claim left for review: the insurer approves any payout up to the amount and the available
    /// funds, which reserves it (not withdrawable); paying moves it to the practitioner.
    function testFuzz_reviewApprovePay(uint256 funds, uint256 amount, uint256 payout, uint256 withdrawal) public {
        funds = bound(funds, 0, 100 ether);
        amount = bound(amount, 1, 100 ether);
        payout = bound(payout, 0, 120 ether);
        PolicyModel memory p =
            PolicyModel({covered: 1, perClaim: 100 ether, annual: 100 ether, deductible: 0, funds: funds, reserved: 0});
        _publish(p);
        _grant(patient, prac, 1 | uint256(1) << CLAIMS, true, T0 + 10 days);
        _grant(patient, ins, ALL, false, T0 + 10 days);
        bytes32 claimId = keccak256("claim");
        bytes32 doc = _doc(prac, patient);
        vm.prank(prac);
        insurance.submitClaim(claimId, patient, ins, doc, uint128(amount), 7); // category 7 not covered
        assertEq(uint8(insurance.claimOf(claimId).status), uint8(IMedLedgerInsurance.ClaimStatus.Submitted));
        assertEq(uint8(insurance.claimOf(claimId).pendingReason), uint8(IMedLedgerInsurance.PendingReason.CategoryNotCovered));

        vm.prank(prac);
        vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.NotClaimInsurer.selector, claimId, prac));
        insurance.approveClaim(claimId, 1);
        vm.prank(ins);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMedLedgerInsurance.InvalidClaimTransition.selector,
                claimId,
                IMedLedgerInsurance.ClaimStatus.Submitted,
                IMedLedgerInsurance.ClaimStatus.Paid
            )
        );
        insurance.payClaim(claimId);

        vm.prank(ins);
        bool ok = payout != 0 && payout <= amount && payout <= funds;
        if (payout == 0) {
            vm.expectRevert(IMedLedgerInsurance.InvalidAmount.selector);
        } else if (payout > amount) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.PayoutExceedsClaim.selector, payout, amount));
        } else if (payout > funds) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.InsufficientAvailableFunds.selector, funds, payout));
        }
        insurance.approveClaim(claimId, uint128(payout));
        if (!ok) return;

        assertEq(insurance.policyOf(ins).reserved, payout);
        assertEq(insurance.annualUsageOf(ins, patient, uint64(T0 / 365 days)).paid, payout);
        // Reserved ether cannot be withdrawn.
        withdrawal = bound(withdrawal, 1, funds + 1);
        vm.prank(ins);
        if (withdrawal > funds - payout) {
            vm.expectRevert(
                abi.encodeWithSelector(IMedLedgerInsurance.InsufficientAvailableFunds.selector, funds - payout, withdrawal)
            );
        }
        insurance.withdrawPolicyFunds(withdrawal);
        uint256 left = withdrawal > funds - payout ? funds : funds - withdrawal;
        assertEq(insurance.policyOf(ins).funds, left);

        // A suspended insurer still pays what it approved.
        vm.prank(admin);
        m.suspendAccount(ins, keccak256("s"));
        vm.prank(ins);
        insurance.payClaim(claimId);
        assertEq(uint8(insurance.claimOf(claimId).status), uint8(IMedLedgerInsurance.ClaimStatus.Paid));
        assertEq(insurance.policyOf(ins).reserved, 0);
        assertEq(insurance.policyOf(ins).funds, left - payout);
        assertEq(insurance.payoutOf(prac), payout);
        assertEq(address(insurance).balance, left);
        vm.prank(ins);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMedLedgerInsurance.InvalidClaimTransition.selector,
                claimId,
                IMedLedgerInsurance.ClaimStatus.Paid,
                IMedLedgerInsurance.ClaimStatus.Paid
            )
        );
        insurance.payClaim(claimId);

        uint256 before = prac.balance;
        vm.prank(prac);
        insurance.withdrawPayout();
        assertEq(prac.balance - before, payout);
        assertEq(address(insurance).balance, left - payout);
    }

    /// Automatic settlement never touches ether reserved for approved claims: with R reserved out
    /// of F, an in-policy claim settles at once exactly when its payout fits in F - R, and the
    /// approved claim can still be paid afterwards.
    function testFuzz_settlementRespectsReserve(uint256 funds, uint256 reserve, uint256 amount) public {
        funds = bound(funds, 1, 100 ether);
        reserve = bound(reserve, 1, funds);
        amount = bound(amount, 1, 100 ether);
        PolicyModel memory p = PolicyModel({
            covered: 1, perClaim: 100 ether, annual: 1000 ether, deductible: 0, funds: funds, reserved: 0
        });
        _publish(p);
        _grant(patient, prac, 1 | uint256(1) << CLAIMS, true, T0 + 10 days);
        _grant(patient, ins, ALL, false, T0 + 10 days);
        bytes32 first = keccak256("first");
        bytes32 doc1 = _doc(prac, patient);
        bytes32 doc2 = _doc(prac, patient);
        vm.prank(prac);
        insurance.submitClaim(first, patient, ins, doc1, uint128(reserve), 7); // not covered: review
        vm.prank(ins);
        insurance.approveClaim(first, uint128(reserve));
        assertEq(insurance.policyOf(ins).reserved, reserve);

        bytes32 second = keccak256("second");
        vm.prank(prac);
        insurance.submitClaim(second, patient, ins, doc2, uint128(amount), 0);
        IMedLedgerInsurance.Claim memory c = insurance.claimOf(second);
        bool settles = amount <= funds - reserve;
        assertEq(uint8(c.status), uint8(settles ? IMedLedgerInsurance.ClaimStatus.Paid : IMedLedgerInsurance.ClaimStatus.Submitted));
        assertEq(
            uint8(c.pendingReason),
            uint8(settles ? IMedLedgerInsurance.PendingReason.None : IMedLedgerInsurance.PendingReason.InsufficientFunds)
        );
        uint256 left = settles ? funds - amount : funds;
        assertEq(insurance.policyOf(ins).funds, left);
        assertLe(insurance.policyOf(ins).reserved, left, "reserve still covered");

        vm.prank(ins);
        insurance.payClaim(first);
        assertEq(insurance.policyOf(ins).funds, left - reserve);
        assertEq(insurance.payoutOf(prac), reserve + (settles ? amount : 0));
        assertEq(address(insurance).balance, insurance.policyOf(ins).funds + insurance.payoutOf(prac), "ether conserved");
    }

    /// Denied is final; a suspended insurer can neither approve nor deny; duplicates are refused.
    function testFuzz_denyIsFinalAndDuplicatesRefused(uint256 amount, bytes32 reason, bool suspendFirst) public {
        amount = bound(amount, 1, 10 ether);
        vm.assume(reason != bytes32(0));
        PolicyModel memory p =
            PolicyModel({covered: 1, perClaim: 1 ether, annual: 100 ether, deductible: 0, funds: 0, reserved: 0});
        _publish(p);
        _grant(patient, prac, 1 | uint256(1) << CLAIMS, true, T0 + 10 days);
        _grant(patient, ins, ALL, false, T0 + 10 days);
        bytes32 claimId = keccak256("claim");
        bytes32 doc = _doc(prac, patient);
        bytes32 doc2 = _doc(prac, patient);
        vm.prank(prac);
        insurance.submitClaim(claimId, patient, ins, doc, uint128(amount), 0);
        // No funds: every claim waits for review.
        assertEq(uint8(insurance.claimOf(claimId).status), uint8(IMedLedgerInsurance.ClaimStatus.Submitted));

        vm.startPrank(prac);
        vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.ClaimExists.selector, claimId));
        insurance.submitClaim(claimId, patient, ins, doc2, uint128(amount), 0);
        vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.DuplicateClaimDocument.selector, doc, claimId));
        insurance.submitClaim(keccak256("claim2"), patient, ins, doc, uint128(amount), 0);
        vm.stopPrank();

        if (suspendFirst) {
            vm.prank(admin);
            m.suspendAccount(ins, keccak256("s"));
            vm.startPrank(ins);
            vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.NotAVerifiedInsurer.selector, ins));
            insurance.denyClaim(claimId, reason);
            vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.NotAVerifiedInsurer.selector, ins));
            insurance.approveClaim(claimId, 1);
            vm.stopPrank();
            assertEq(uint8(insurance.claimOf(claimId).status), uint8(IMedLedgerInsurance.ClaimStatus.Submitted));
            return;
        }
        vm.startPrank(ins);
        insurance.denyClaim(claimId, reason);
        assertEq(uint8(insurance.claimOf(claimId).status), uint8(IMedLedgerInsurance.ClaimStatus.Denied));
        assertEq(insurance.claimOf(claimId).denialReasonHash, reason);
        IMedLedgerInsurance.ClaimStatus[3] memory targets =
            [IMedLedgerInsurance.ClaimStatus.Approved, IMedLedgerInsurance.ClaimStatus.Denied, IMedLedgerInsurance.ClaimStatus.Paid];
        for (uint256 i; i < 3; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IMedLedgerInsurance.InvalidClaimTransition.selector, claimId, IMedLedgerInsurance.ClaimStatus.Denied, targets[i]
                )
            );
            if (i == 0) insurance.approveClaim(claimId, 1);
            else if (i == 1) insurance.denyClaim(claimId, reason);
            else insurance.payClaim(claimId);
        }
        vm.stopPrank();
        // A denied claim's document stays claimed.
        vm.prank(prac);
        vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.DuplicateClaimDocument.selector, doc, claimId));
        insurance.submitClaim(keccak256("claim3"), patient, ins, doc, uint128(amount), 0);
    }

    /// A claim needs the patient's unexpired grant to the practitioner covering the claimed
    /// category, and an unexpired grant to the insurer covering CLAIMS_CATEGORY (the claim
    /// document's category, whatever category is claimed); the practitioner's is checked first.
    /// The document was filed under an earlier write grant, which the patient then replaced with
    /// `practMask` (or revoked): a document on file is no standing of its own.
    function testFuzz_claimNeedsConsent(
        uint256 practMask,
        uint256 insurerMask,
        uint8 category,
        uint256 insurerLifetime,
        uint256 elapsed,
        bool practGrant
    ) public {
        practMask = bound(practMask, 1, ALL);
        insurerMask = bound(insurerMask, 1, ALL);
        insurerLifetime = bound(insurerLifetime, 1, 30 days);
        PolicyModel memory p = PolicyModel({
            covered: ALL, perClaim: 1 ether, annual: 10 ether, deductible: 0, funds: 5 ether, reserved: 0
        });
        _publish(p);
        _grant(patient, prac, uint256(1) << CLAIMS, true, T0 + 1 days);
        bytes32 doc = _doc(prac, patient);
        if (practGrant) {
            _grant(patient, prac, practMask, false, T0 + 10 days);
        } else {
            vm.prank(patient);
            m.revoke(prac);
        }
        _grant(patient, ins, insurerMask, false, T0 + insurerLifetime);
        vm.warp(T0 + bound(elapsed, 0, 30 days));

        bool practOk = practGrant && block.timestamp < T0 + 10 days && _covers(practMask, category);
        bool insOk = block.timestamp < T0 + insurerLifetime && _covers(insurerMask, CLAIMS);
        bytes32 claimId = keccak256("c");
        vm.prank(prac);
        if (!practOk) {
            vm.expectRevert(
                abi.encodeWithSelector(IMedLedgerInsurance.PractitionerNotPermitted.selector, patient, prac, category)
            );
        } else if (!insOk) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.InsurerNotPermitted.selector, patient, ins, CLAIMS));
        }
        insurance.submitClaim(claimId, patient, ins, doc, 1 ether, category);
        bool accepted = practOk && insOk;
        assertEq(uint8(insurance.claimOf(claimId).status), uint8(accepted ? IMedLedgerInsurance.ClaimStatus.Paid : IMedLedgerInsurance.ClaimStatus.None));
        assertEq(insurance.payoutOf(prac), accepted ? 1 ether : 0);
        assertEq(insurance.policyOf(ins).funds, accepted ? 4 ether : 5 ether);
    }

    /// A practitioner whose grant does not cover the claimed category is refused
    /// (PractitionerNotPermitted, with the category), whatever else it covers and even with a
    /// valid document on file, and the refusal records nothing: no claim, no payout, no usage,
    /// and the document stays unclaimed, so the same claim goes through once the patient's grant
    /// covers the category. The insurer's grant covers CLAIMS_CATEGORY only, which suffices.
    function testFuzz_claimNeedsPractitionerGrantOnCategory(uint256 practMask, uint8 category, bool write, uint256 amount)
        public
    {
        amount = bound(amount, 1, 1 ether);
        practMask = bound(practMask, 1, ALL) & ~(uint256(1) << category);
        if (practMask == 0) practMask = uint256(1) << (category ^ 1);
        PolicyModel memory p = PolicyModel({
            covered: ALL, perClaim: 1 ether, annual: 10 ether, deductible: 0, funds: 5 ether, reserved: 0
        });
        _publish(p);
        _grant(patient, ins, uint256(1) << CLAIMS, false, T0 + 10 days);
        _grant(patient, prac, uint256(1) << CLAIMS, true, T0 + 10 days);
        bytes32 doc = _doc(prac, patient);
        _grant(patient, prac, practMask, write, T0 + 10 days);

        bytes32 claimId = keccak256("c");
        vm.prank(prac);
        vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.PractitionerNotPermitted.selector, patient, prac, category));
        insurance.submitClaim(claimId, patient, ins, doc, uint128(amount), category);
        _assertNothingRecorded(claimId);

        _grant(patient, prac, practMask | uint256(1) << category, write, T0 + 10 days);
        vm.prank(prac);
        insurance.submitClaim(claimId, patient, ins, doc, uint128(amount), category);
        IMedLedgerInsurance.Claim memory c = insurance.claimOf(claimId);
        assertEq(uint8(c.status), uint8(IMedLedgerInsurance.ClaimStatus.Paid));
        assertEq(c.documentRecordId, doc);
        assertEq(insurance.payoutOf(prac), amount);
    }

    /// A claim on anything but a valid claim document is refused with InvalidClaimDocument and
    /// records nothing, though it would otherwise settle at once: an id that is no record (zero
    /// included), another patient's record, another author's (another practitioner's or the
    /// patient's own), a record outside CLAIMS_CATEGORY, a record erased by eraseRecord or by
    /// eraseAll. The same claim on a valid document then settles, and a refused document that is
    /// someone else's valid document was not used up: its own claim goes through.
    function testFuzz_claimOnInvalidDocumentRefused(
        uint8 kind,
        bytes32 randomId,
        uint8 otherCategory,
        uint8 category,
        uint256 amount
    ) public {
        amount = bound(amount, 1, 1 ether);
        PolicyModel memory p = PolicyModel({
            covered: ALL, perClaim: 1 ether, annual: 10 ether, deductible: 0, funds: 5 ether, reserved: 0
        });
        _publish(p);
        address[2] memory pats = [patient, patient2];
        for (uint256 i; i < 2; ++i) {
            _grant(pats[i], prac, ALL, true, T0 + 10 days);
            _grant(pats[i], prac2, ALL, true, T0 + 10 days);
            _grant(pats[i], ins, ALL, false, T0 + 10 days);
        }
        uint256 mode = kind % 8;
        bytes32 doc = _invalidDocument(mode, randomId, otherCategory);

        bytes32 claimId = keccak256("claim");
        vm.prank(prac);
        vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.InvalidClaimDocument.selector, doc));
        insurance.submitClaim(claimId, patient, ins, doc, uint128(amount), category);
        _assertNothingRecorded(claimId);

        // The refusal was the document's alone.
        bytes32 good = _doc(prac, patient);
        vm.prank(prac);
        insurance.submitClaim(claimId, patient, ins, good, uint128(amount), category);
        assertEq(uint8(insurance.claimOf(claimId).status), uint8(IMedLedgerInsurance.ClaimStatus.Paid));
        assertEq(insurance.payoutOf(prac), amount);
        if (mode == 2 || mode == 3) {
            vm.prank(mode == 2 ? prac : prac2);
            insurance.submitClaim(keccak256("rightful"), mode == 2 ? patient2 : patient, ins, doc, uint128(amount), category);
            assertEq(insurance.claimOf(keccak256("rightful")).documentRecordId, doc);
        }
    }

    /// For a claim by prac for patient: 0 an id that is no record (zero now and then), 1 zero,
    /// 2 another patient's claim document, 3 another practitioner's, 4 the patient's own, 5 prac's
    /// record outside CLAIMS, 6 prac's claim document erased by eraseRecord, 7 by eraseAll.
    function _invalidDocument(uint256 mode, bytes32 randomId, uint8 otherCategory) internal returns (bytes32 doc) {
        if (mode == 0) return randomId; // no record exists yet
        if (mode == 1) return bytes32(0);
        if (mode == 2) return _doc(prac, patient2);
        if (mode == 3) return _doc(prac2, patient);
        if (mode == 4) return _add(patient, patient, CLAIMS);
        if (mode == 5) return _add(prac, patient, otherCategory == CLAIMS ? CLAIMS + 1 : otherCategory);
        doc = _doc(prac, patient);
        vm.prank(patient);
        if (mode == 6) m.eraseRecord(doc);
        else m.eraseAll();
        assertTrue(m.isErased(doc));
    }

    /// A refused submission (policy funded with 5 ether, nothing claimed before) left no trace.
    function _assertNothingRecorded(bytes32 claimId) internal view {
        IMedLedgerInsurance.Claim memory c = insurance.claimOf(claimId);
        assertEq(uint8(c.status), uint8(IMedLedgerInsurance.ClaimStatus.None), "refused claim recorded");
        assertEq(c.practitioner, address(0));
        assertEq(c.documentRecordId, bytes32(0));
        assertEq(insurance.payoutOf(prac), 0);
        assertEq(insurance.policyOf(ins).funds, 5 ether);
        IMedLedgerInsurance.AnnualUsage memory u = insurance.annualUsageOf(ins, patient, insurance.currentPolicyYear());
        assertEq(u.paid, 0);
        assertEq(u.deductibleUsed, 0);
        assertEq(address(insurance).balance, 5 ether);
    }

    /// Only a verified practitioner submits, and only to a verified insurer: a pending or
    /// suspended practitioner, or a suspended insurer, is refused whatever the grants.
    function testFuzz_claimNeedsVerifiedParties(uint8 sel, uint256 amount, uint8 category) public {
        amount = bound(amount, 1, 10 ether);
        PolicyModel memory p = PolicyModel({
            covered: ALL, perClaim: 10 ether, annual: 10 ether, deductible: 0, funds: 10 ether, reserved: 0
        });
        _publish(p);
        _grant(patient, prac, ALL, true, T0 + 10 days);
        _grant(patient, pendingPrac, ALL, true, T0 + 10 days);
        _grant(patient, ins, ALL, false, T0 + 10 days);
        // prac's claim document, filed before any suspension (a pending practitioner can file none).
        bytes32 doc = _doc(prac, patient);
        address submitter = prac;
        uint256 mode = sel % 4; // 0: all verified, 1: pending practitioner, 2: suspended one, 3: suspended insurer
        if (mode == 1) submitter = pendingPrac;
        vm.startPrank(admin);
        if (mode == 2) m.suspendAccount(prac, keccak256("s"));
        if (mode == 3) m.suspendAccount(ins, keccak256("s"));
        vm.stopPrank();

        bytes32 claimId = keccak256("c");
        vm.prank(submitter);
        if (mode == 1 || mode == 2) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.NotAVerifiedPractitioner.selector, submitter));
        } else if (mode == 3) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.NotAVerifiedInsurer.selector, ins));
        }
        insurance.submitClaim(claimId, patient, ins, doc, uint128(amount), category);
        assertEq(
            uint8(insurance.claimOf(claimId).status), uint8(mode == 0 ? IMedLedgerInsurance.ClaimStatus.Paid : IMedLedgerInsurance.ClaimStatus.None)
        );
        assertEq(insurance.payoutOf(submitter), mode == 0 ? amount : 0);
    }

    /// Policy funds: withdrawable exactly up to funds - reserved, and ether is conserved.
    function testFuzz_fundAndWithdrawPolicy(uint256 initial, uint256 topUp, uint256 amount) public {
        initial = bound(initial, 0, 100 ether);
        topUp = bound(topUp, 0, 100 ether);
        amount = bound(amount, 0, 250 ether);
        PolicyModel memory p =
            PolicyModel({covered: 1, perClaim: 1, annual: 1, deductible: 0, funds: initial, reserved: 0});
        _publish(p);
        vm.deal(ins, topUp);
        vm.prank(ins);
        if (topUp == 0) vm.expectRevert(IMedLedgerInsurance.NothingToFund.selector);
        insurance.fundPolicy{value: topUp}();
        uint256 funds = initial + topUp;
        assertEq(insurance.policyOf(ins).funds, funds);
        assertEq(address(insurance).balance, funds);

        uint256 before = ins.balance;
        vm.prank(ins);
        if (amount == 0) {
            vm.expectRevert(IMedLedgerInsurance.InvalidAmount.selector);
        } else if (amount > funds) {
            vm.expectRevert(abi.encodeWithSelector(IMedLedgerInsurance.InsufficientAvailableFunds.selector, funds, amount));
        }
        insurance.withdrawPolicyFunds(amount);
        uint256 out = (amount == 0 || amount > funds) ? 0 : amount;
        assertEq(ins.balance - before, out);
        assertEq(insurance.policyOf(ins).funds, funds - out);
        assertEq(address(insurance).balance, funds - out);
    }
    // ------------------------------------------------------------ sponsored transactions (ERC-2771)

    /// A request relayed through the trusted forwarder acts as exactly its signer, whoever relays it.
    function testFuzz_forwardedCallerIsTheSigner(uint256 signerKey, address relayer, bytes32 key) public {
        signerKey = bound(signerKey, 1, 115792089237316195423570985008687907852837564279074904382605163141518161494336);
        address signer = vm.addr(signerKey);
        vm.assume(key != bytes32(0));
        vm.assume(m.accountOf(signer).kind == MedLedger.AccountKind.None);
        MedLedger.AccountKind relayerKind = m.accountOf(relayer).kind;
        ERC2771Forwarder.ForwardRequestData memory request =
            _forwardRequest(signerKey, abi.encodeCall(m.registerPatient, (key)));
        vm.recordLogs();
        vm.prank(relayer);
        fwd.execute(request);
        assertEq(_registeredIn(vm.getRecordedLogs()), signer);
        assertEq(uint8(m.accountOf(signer).kind), uint8(MedLedger.AccountKind.Patient));
        assertEq(m.accountOf(signer).encryptionKey, key);
        if (relayer != signer) assertEq(uint8(m.accountOf(relayer).kind), uint8(relayerKind));
        assertEq(fwd.nonces(signer), 1);
    }

    /// Any other caller appending an address to its calldata is still itself.
    function testFuzz_anAppendedAddressCountsOnlyFromTheForwarder(address caller, address claimed, bytes32 key) public {
        vm.assume(caller != address(fwd) && caller != claimed && key != bytes32(0));
        vm.assume(m.accountOf(caller).kind == MedLedger.AccountKind.None);
        MedLedger.AccountKind claimedKind = m.accountOf(claimed).kind;
        vm.recordLogs();
        vm.prank(caller);
        (bool ok,) = address(m).call(abi.encodePacked(abi.encodeCall(m.registerPatient, (key)), claimed));
        assertTrue(ok);
        assertEq(_registeredIn(vm.getRecordedLogs()), caller);
        assertEq(uint8(m.accountOf(claimed).kind), uint8(claimedKind));
    }
}
