// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IMedLedger} from "../contracts/interfaces/IMedLedger.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerRecovery} from "../contracts/MedLedgerRecovery.sol";

/// @notice Drives MedLedgerRecovery and the core's wallets for RecoveryInvariants: three patients
/// (identities 0..2), two practitioners (identities 3, 4; guardians, and callers that may not name
/// guardians) and eight wallets that start as nobody. Actions: any wallet names guardians (or
/// clears them), any wallet asks to take a patient over, a guardian (or any wallet) approves a
/// request by its current number or a stale one, any wallet cancels, any wallet completes, any
/// wallet acts on the core (rotateEncryptionKey), and time moves on.
///
/// Its model is its own (ghost state, never read back from the contract to decide): each
/// identity's wallet, retired wallets, each patient's guardians, threshold, delay, epoch and
/// request count, each request's number, epoch, approvals and the time they reached the
/// threshold, and each identity's encryption key. Every call is caught; the model says whether it
/// must succeed, and a disagreement either way is counted in `mismatches`, which the invariants
/// require to stay 0.
contract RecoveryHandler is Test {
    MedLedger internal immutable m;
    MedLedgerRecovery internal immutable rec;

    uint256 internal constant IDENTITIES = 5;
    uint256 internal constant PATIENTS = 3;
    uint256 internal constant WALLETS = 8;

    struct ModelSet {
        address[] guardians;
        uint8 threshold;
        uint32 delay;
        uint64 epoch;
        uint64 requests;
    }

    struct ModelRequest {
        uint64 id;
        uint64 epoch;
        uint32 approvedBy;
        uint64 thresholdAt;
    }

    address[IDENTITIES] internal identities;
    address[WALLETS] internal fresh;

    mapping(address identity => address wallet) public modelWalletOf;
    mapping(address wallet => bool) public modelRetired;
    mapping(address identity => bytes32) internal modelKey;
    mapping(address identity => ModelSet) internal sets;
    mapping(address identity => mapping(address wallet => ModelRequest)) internal requests;
    /// The wallet that last asked for each patient: approvals and completions mostly aim at it,
    /// so that sequences reach completion often.
    mapping(address patient => address wallet) internal lastRequester;

    uint256 public mismatches;
    uint256 public completions;
    uint256 public actsAsIdentity;

    constructor(MedLedger m_) {
        m = m_;
        rec = MedLedgerRecovery(m.recovery());
        for (uint256 i; i < IDENTITIES; ++i) {
            identities[i] = makeAddr(string.concat("identity", vm.toString(i)));
            bytes32 key = bytes32(i + 1);
            vm.prank(identities[i]);
            if (i < PATIENTS) m.registerPatient(key);
            else m.applyAsPractitioner(key, bytes32(uint256(7)));
            modelWalletOf[identities[i]] = identities[i];
            modelKey[identities[i]] = key;
        }
        for (uint256 i; i < WALLETS; ++i) {
            fresh[i] = makeAddr(string.concat("wallet", vm.toString(i)));
        }
    }

    // ---------------------------------------------------------------- actions

    function setGuardians(uint256 callerSeed, uint256 maskSeed, uint256 thresholdSeed, uint32 delaySeed) external {
        // A patient's own wallet three calls in four, else any wallet (refused unless a patient's).
        bool asPatient = (callerSeed >> 8) % 4 != 3;
        address caller = asPatient ? modelWalletOf[identities[callerSeed % PATIENTS]] : _anyWallet(callerSeed);
        address identity = _modelIdentityOf(caller);
        address[] memory guardians = _guardiansFrom(identity, maskSeed);
        // Thresholds of 1 or 2 and delays under a day, so that sequences reach completion.
        uint256 most = guardians.length < 2 ? guardians.length : 2;
        uint8 threshold = guardians.length == 0 ? 0 : uint8(1 + thresholdSeed % most);
        uint32 delay = uint32(delaySeed % 1 days);
        bool ok = identity != address(0) && _isPatient(identity);
        vm.prank(caller);
        try rec.setGuardians(guardians, threshold, delay) {
            if (!ok) ++mismatches;
            ModelSet storage set = sets[identity];
            set.guardians = guardians;
            set.threshold = threshold;
            set.delay = delay;
            ++set.epoch;
            (,,, uint64 epoch) = rec.guardiansOf(identity);
            if (epoch != set.epoch) ++mismatches;
        } catch {
            if (ok) ++mismatches;
        }
    }

    function request(uint256 patientSeed, uint256 walletSeed) external {
        address patient = identities[patientSeed % PATIENTS];
        address wallet = _anyWallet(walletSeed);
        ModelSet storage set = sets[patient];
        bool ok = _nobody(wallet) && set.threshold != 0;
        vm.prank(wallet);
        try rec.requestRecovery(patient, bytes32(uint256(1))) {
            if (!ok) ++mismatches;
            requests[patient][wallet] = ModelRequest({id: ++set.requests, epoch: set.epoch, approvedBy: 0, thresholdAt: 0});
            lastRequester[patient] = wallet;
        } catch {
            if (ok) ++mismatches;
        }
    }

    function approve(uint256 patientSeed, uint256 walletSeed, uint256 callerSeed) external {
        // One call in four from any wallet, one in four with the number of an earlier request
        // (the usual branch at 0: the fuzzer draws small numbers often).
        bool fromAnyWallet = (callerSeed >> 8) % 4 == 3;
        bool staleId = (callerSeed >> 16) % 4 == 3;
        address patient = identities[patientSeed % PATIENTS];
        address newWallet = _target(patient, walletSeed);
        address caller = fromAnyWallet ? _anyWallet(callerSeed) : _guardianWallet(patient, callerSeed);
        ModelRequest storage r = requests[patient][newWallet];
        uint64 id = staleId && r.id > 0 ? r.id - 1 : r.id;
        uint32 bit = _guardianBit(patient, _modelIdentityOf(caller));
        bool ok = !modelRetired[caller] && _open(patient, r) && id == r.id && bit != 0 && r.approvedBy & bit == 0;
        vm.prank(caller);
        try rec.approveRecovery(patient, newWallet, id) {
            if (!ok) ++mismatches;
            r.approvedBy |= bit;
            if (_count(r.approvedBy) == sets[patient].threshold) r.thresholdAt = uint64(block.timestamp);
        } catch {
            if (ok) ++mismatches;
        }
    }

    function cancel(uint256 seed) external {
        // The patient's own wallet one call in four (a cancel voids every open request).
        bool fromAnyWallet = (seed >> 8) % 4 != 3;
        address caller = fromAnyWallet ? _anyWallet(seed) : modelWalletOf[identities[seed % PATIENTS]];
        address identity = _modelIdentityOf(caller);
        bool ok = identity != address(0) && sets[identity].threshold != 0;
        vm.prank(caller);
        try rec.cancelRecovery() {
            if (!ok) ++mismatches;
            ++sets[identity].epoch;
        } catch {
            if (ok) ++mismatches;
        }
    }

    function complete(uint256 patientSeed, uint256 walletSeed) external {
        address patient = identities[patientSeed % PATIENTS];
        address wallet = _target(patient, walletSeed);
        ModelRequest storage r = requests[patient][wallet];
        bool ok = _nobody(wallet) && _open(patient, r) && r.thresholdAt != 0
            && block.timestamp >= r.thresholdAt + sets[patient].delay;
        vm.prank(wallet);
        try rec.completeRecovery(patient) {
            if (!ok) ++mismatches;
            modelRetired[modelWalletOf[patient]] = true;
            modelWalletOf[patient] = wallet;
            ++sets[patient].epoch;
            ++completions;
        } catch {
            if (ok) ++mismatches;
        }
    }

    /// Any wallet rotates its identity's key: it must act as its identity (the key lands on the
    /// identity's account), a retired wallet must be refused with WalletRetired, and a wallet
    /// that is nobody has no account to rotate.
    function act(uint256 walletSeed, uint256 keySeed) external {
        // Half the calls from an identity's current wallet (a moved one's new wallet included),
        // half from any wallet (retired and nobody included).
        address wallet = walletSeed % 2 == 0
            ? modelWalletOf[identities[(walletSeed >> 1) % IDENTITIES]]
            : _anyWallet(walletSeed >> 1);
        address identity = _modelIdentityOf(wallet);
        bytes32 key = bytes32(keySeed % 3 + 100);
        bool registered = identity != address(0) && modelKey[identity] != bytes32(0);
        bool ok = registered && key != modelKey[identity];
        vm.prank(wallet);
        try m.rotateEncryptionKey(key) {
            if (!ok) ++mismatches;
            modelKey[identity] = key;
            if (m.accountOf(identity).encryptionKey != key) ++mismatches;
            if (wallet != identity) ++actsAsIdentity;
        } catch (bytes memory reason) {
            if (ok) ++mismatches;
            bytes memory retired = abi.encodeWithSelector(IMedLedger.WalletRetired.selector, wallet);
            if (modelRetired[wallet] && keccak256(reason) != keccak256(retired)) ++mismatches;
        }
    }

    function warp(uint32 secondsSeed) external {
        vm.warp(block.timestamp + secondsSeed % 2 days);
    }

    // ---------------------------------------------------------------- model and lists

    /// Every address the handler ever uses as a wallet: the identities' own and the fresh ones.
    function allWallets() public view returns (address[] memory all) {
        all = new address[](IDENTITIES + WALLETS);
        for (uint256 i; i < IDENTITIES; ++i) all[i] = identities[i];
        for (uint256 i; i < WALLETS; ++i) all[IDENTITIES + i] = fresh[i];
    }

    function identityList() external view returns (address[IDENTITIES] memory) {
        return identities;
    }

    function _anyWallet(uint256 seed) internal view returns (address) {
        uint256 i = seed % (IDENTITIES + WALLETS);
        return i < IDENTITIES ? identities[i] : fresh[i - IDENTITIES];
    }

    /// The patient's last requester three times in four (when there is one), else any wallet.
    function _target(address patient, uint256 seed) internal view returns (address) {
        address last = lastRequester[patient];
        return last != address(0) && seed % 4 != 0 ? last : _anyWallet(seed >> 2);
    }

    /// The current wallet of one of the patient's guardians (of any identity when it has none).
    function _guardianWallet(address patient, uint256 seed) internal view returns (address) {
        address[] storage guardians = sets[patient].guardians;
        if (guardians.length == 0) return modelWalletOf[identities[seed % IDENTITIES]];
        return modelWalletOf[guardians[seed % guardians.length]];
    }

    /// The identity the model says `wallet` acts for: zero when retired, the wallet itself when
    /// no identity moved to it.
    function _modelIdentityOf(address wallet) internal view returns (address) {
        if (modelRetired[wallet]) return address(0);
        for (uint256 i; i < IDENTITIES; ++i) {
            if (modelWalletOf[identities[i]] == wallet) return identities[i];
        }
        return wallet;
    }

    function _isPatient(address identity) internal view returns (bool) {
        for (uint256 i; i < PATIENTS; ++i) {
            if (identities[i] == identity) return true;
        }
        return false;
    }

    /// A wallet that may take an identity over: not retired, controlling no identity, not one.
    function _nobody(address wallet) internal view returns (bool) {
        if (modelRetired[wallet]) return false;
        for (uint256 i; i < IDENTITIES; ++i) {
            if (modelWalletOf[identities[i]] == wallet || identities[i] == wallet) return false;
        }
        return true;
    }

    function _open(address patient, ModelRequest storage r) internal view returns (bool) {
        return r.id != 0 && r.epoch == sets[patient].epoch;
    }

    function _guardianBit(address patient, address who) internal view returns (uint32) {
        address[] storage guardians = sets[patient].guardians;
        for (uint256 i; i < guardians.length; ++i) {
            if (guardians[i] == who) return uint32(1 << i);
        }
        return 0;
    }

    function _count(uint32 bits) internal pure returns (uint256 n) {
        for (; bits != 0; bits &= bits - 1) ++n;
    }

    /// Guardians drawn from the other identities by the bits of `maskSeed` (possibly none).
    function _guardiansFrom(address patient, uint256 maskSeed) internal view returns (address[] memory out) {
        address[] memory picked = new address[](IDENTITIES);
        uint256 n;
        for (uint256 i; i < IDENTITIES; ++i) {
            if (identities[i] != patient && (maskSeed >> i) & 1 == 1) picked[n++] = identities[i];
        }
        out = new address[](n);
        for (uint256 i; i < n; ++i) out[i] = picked[i];
    }
}
