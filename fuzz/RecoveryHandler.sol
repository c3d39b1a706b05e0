// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IMedLedger} from "../contracts/interfaces/IMedLedger.sol";
import {IMedLedgerRecovery} from "../contracts/interfaces/IMedLedgerRecovery.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerRecovery} from "../contracts/MedLedgerRecovery.sol";

/// @notice Drives MedLedgerRecovery and the core's wallets for RecoveryInvariants: three patients
/// (identities 0..2), two practitioners (identities 3, 4; guardians only) and eight wallets that
/// start as nobody. Actions: a patient's current wallet names guardians (or clears them), any
/// wallet asks to take a patient over, a guardian approves from its current wallet or from any
/// wallet, a patient's wallet (or any wallet) cancels, any wallet completes, any wallet acts on
/// the core (rotateEncryptionKey), and time moves on.
///
/// Its model: each identity's wallet and which wallets are retired, moved only when a completion
/// succeeds, and each completion checked against what the request had when it succeeded (enough
/// approvals, the delay passed). Every call is caught: the model says whether it had to succeed,
/// and a disagreement is counted in `mismatches`, which the invariants require to stay 0.
contract RecoveryHandler is Test {
    MedLedger internal immutable m;
    MedLedgerRecovery internal immutable rec;

    uint256 internal constant IDENTITIES = 5;
    uint256 internal constant PATIENTS = 3;
    uint256 internal constant WALLETS = 8;

    address[IDENTITIES] internal identities;
    address[WALLETS] internal fresh;

    /// Model: the wallet each identity answers to, and wallets retired.
    mapping(address identity => address wallet) public modelWalletOf;
    mapping(address wallet => bool) public modelRetired;

    /// The wallet that last asked for each patient: approvals and completions mostly aim at it,
    /// so that sequences reach completion often.
    mapping(address patient => address wallet) internal lastRequester;

    uint256 public mismatches;
    uint256 public completions;
    uint256 public refusedAsRetired;

    constructor(MedLedger m_) {
        m = m_;
        rec = MedLedgerRecovery(m.recovery());
        for (uint256 i; i < IDENTITIES; ++i) {
            identities[i] = makeAddr(string.concat("identity", vm.toString(i)));
            vm.prank(identities[i]);
            if (i < PATIENTS) m.registerPatient(bytes32(i + 1));
            else m.applyAsPractitioner(bytes32(i + 1), bytes32(uint256(7)));
            modelWalletOf[identities[i]] = identities[i];
        }
        for (uint256 i; i < WALLETS; ++i) {
            fresh[i] = makeAddr(string.concat("wallet", vm.toString(i)));
        }
    }

    // ---------------------------------------------------------------- actions

    function setGuardians(uint256 patientSeed, uint256 maskSeed, uint256 thresholdSeed, uint32 delaySeed) external {
        address patient = identities[patientSeed % PATIENTS];
        address[] memory guardians = _guardiansFrom(patient, maskSeed);
        uint8 threshold = guardians.length == 0 ? 0 : uint8(1 + thresholdSeed % guardians.length);
        uint32 delay = uint32(delaySeed % 3 days);
        vm.prank(modelWalletOf[patient]);
        try rec.setGuardians(guardians, threshold, delay) {} catch {
            ++mismatches; // the patient's current wallet, a valid set: never refused
        }
    }

    function request(uint256 patientSeed, uint256 walletSeed) external {
        address patient = identities[patientSeed % PATIENTS];
        address wallet = _anyWallet(walletSeed);
        (, uint8 threshold,,) = rec.guardiansOf(patient);
        bool nobody = !modelRetired[wallet] && !_controls(wallet);
        vm.prank(wallet);
        try rec.requestRecovery(patient, bytes32(uint256(1))) {
            if (!nobody || threshold == 0) ++mismatches;
            lastRequester[patient] = wallet;
        } catch {
            if (nobody && threshold != 0) ++mismatches;
        }
    }

    function approve(uint256 patientSeed, uint256 walletSeed, uint256 guardianSeed, bool fromAnyWallet) external {
        address patient = identities[patientSeed % PATIENTS];
        address newWallet = _target(patient, walletSeed);
        address caller = fromAnyWallet ? _anyWallet(guardianSeed) : _guardianWallet(patient, guardianSeed);
        vm.prank(caller);
        try rec.approveRecovery(patient, newWallet) {
            // Only a guardian's current wallet is counted.
            if (modelRetired[caller] || !_isGuardian(patient, _modelIdentityOf(caller))) ++mismatches;
        } catch {}
    }

    function cancel(uint256 patientSeed, uint256 walletSeed, bool fromAnyWallet) external {
        address patient = identities[patientSeed % PATIENTS];
        address caller = fromAnyWallet ? _anyWallet(walletSeed) : modelWalletOf[patient];
        (, uint8 threshold,, uint64 epochBefore) = rec.guardiansOf(patient);
        vm.prank(caller);
        try rec.cancelRecovery() {
            (,,, uint64 epochAfter) = rec.guardiansOf(patient);
            // A cancel by anyone else moves someone else's epoch, never this patient's.
            if (_modelIdentityOf(caller) == patient && epochAfter != epochBefore + 1) ++mismatches;
            if (_modelIdentityOf(caller) != patient && epochAfter != epochBefore) ++mismatches;
        } catch {
            if (caller == modelWalletOf[patient] && threshold != 0) ++mismatches;
        }
    }

    function complete(uint256 patientSeed, uint256 walletSeed) external {
        address patient = identities[patientSeed % PATIENTS];
        address wallet = _target(patient, walletSeed);
        (address[] memory guardians, uint8 threshold, uint32 delay,) = rec.guardiansOf(patient);
        (uint64 requestedAt, uint256 approvals, bool open) = rec.recoveryOf(patient, wallet);
        bool ready = open && threshold != 0 && approvals >= threshold && block.timestamp >= requestedAt + delay
            && !modelRetired[wallet] && !_controls(wallet);
        guardians; // the set is the one the request was approved under (open: same epoch)
        vm.prank(wallet);
        try rec.completeRecovery(patient) {
            if (!ready) ++mismatches;
            address old = modelWalletOf[patient];
            modelRetired[old] = true;
            modelWalletOf[patient] = wallet;
            ++completions;
        } catch {
            if (ready) ++mismatches;
        }
    }

    function act(uint256 walletSeed, bytes32 key) external {
        address wallet = _anyWallet(walletSeed);
        if (key == bytes32(0)) key = bytes32(uint256(99));
        vm.prank(wallet);
        try m.rotateEncryptionKey(key) {
            if (modelRetired[wallet]) ++mismatches;
        } catch (bytes memory reason) {
            if (modelRetired[wallet]) {
                if (keccak256(reason) != keccak256(abi.encodeWithSelector(IMedLedger.WalletRetired.selector, wallet))) {
                    ++mismatches;
                }
                ++refusedAsRetired;
            }
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

    /// The patient's last requester three times in four (when there is one), else any wallet.
    function _target(address patient, uint256 seed) internal view returns (address) {
        address last = lastRequester[patient];
        return last != address(0) && seed % 4 != 0 ? last : _anyWallet(seed >> 2);
    }

    /// The current wallet of one of the patient's guardians (of any identity when it has none).
    function _guardianWallet(address patient, uint256 seed) internal view returns (address) {
        (address[] memory guardians,,,) = rec.guardiansOf(patient);
        if (guardians.length == 0) return modelWalletOf[identities[seed % IDENTITIES]];
        return modelWalletOf[guardians[seed % guardians.length]];
    }

    function _anyWallet(uint256 seed) internal view returns (address) {
        uint256 i = seed % (IDENTITIES + WALLETS);
        return i < IDENTITIES ? identities[i] : fresh[i - IDENTITIES];
    }

    /// The identity the model says `wallet` acts for (zero when retired).
    function _modelIdentityOf(address wallet) internal view returns (address) {
        if (modelRetired[wallet]) return address(0);
        for (uint256 i; i < IDENTITIES; ++i) {
            if (modelWalletOf[identities[i]] == wallet) return identities[i];
        }
        return wallet;
    }

    /// True when `wallet` controls an identity or is one (registered): not nobody.
    function _controls(address wallet) internal view returns (bool) {
        for (uint256 i; i < IDENTITIES; ++i) {
            if (modelWalletOf[identities[i]] == wallet || identities[i] == wallet) return true;
        }
        return false;
    }

    function _isGuardian(address patient, address who) internal view returns (bool) {
        (address[] memory guardians,,,) = rec.guardiansOf(patient);
        for (uint256 i; i < guardians.length; ++i) {
            if (guardians[i] == who) return true;
        }
        return false;
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
