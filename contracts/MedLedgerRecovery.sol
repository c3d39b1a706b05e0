// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {IMedLedger} from "./interfaces/IMedLedger.sol";
import {IMedLedgerRecovery} from "./interfaces/IMedLedgerRecovery.sol";
import {MedLedger} from "./MedLedger.sol";

/// @title MedLedgerRecovery
/// @notice Guardians and recovery requests for medledger's identities (IMedLedgerRecovery
/// documents each call). The core creates it in its constructor and lets only it move an
/// identity (IMedLedger.moveIdentity); it keeps no records, keys or ether.
/// @dev Requests are kept per (identity, new wallet), so a stranger's request cannot displace the
/// patient's. Every request and approval belongs to the identity's recovery epoch: changing the
/// guardians, the patient cancelling and a completed recovery each move the epoch on, which voids
/// every open request and approval at once, without a loop. Each request has its own number,
/// which an approval names, so an approval meant for one request never counts for another (a
/// later request of the same wallet included). The delay runs from the approval that reached the
/// threshold, so the patient always has the whole delay to cancel. Its own size kept the core
/// under EIP-170's 24,576 bytes.
contract MedLedgerRecovery is IMedLedgerRecovery, ERC2771Context {
    /// @inheritdoc IMedLedgerRecovery
    uint256 public constant MAX_GUARDIANS = 10;
    /// @inheritdoc IMedLedgerRecovery
    uint32 public constant MAX_RECOVERY_DELAY = 30 days;

    /// @dev A patient's guardians. threshold 0: no recovery is possible. requests: the number of
    /// the identity's last request (never reset).
    struct GuardianSet {
        address[] guardians;
        uint8 threshold;
        uint32 delay;
        uint64 epoch;
        uint64 requests;
    }

    /// @dev One new wallet's request. approvedBy: bit i for guardians[i]; thresholdAt: when its
    /// approvals reached the threshold (0: not yet).
    struct RecoveryRequest {
        uint64 id;
        uint64 epoch;
        uint64 requestedAt;
        uint64 thresholdAt;
        uint32 approvedBy;
    }

    IMedLedger private immutable _core;
    mapping(address identity => GuardianSet) private _guardianSets;
    mapping(address identity => mapping(address newWallet => RecoveryRequest)) private _recoveries;

    /// @param core_ the core creating this contract (it has no code yet, so none is checked)
    /// @param trustedForwarder_ the core's ERC-2771 forwarder
    constructor(IMedLedger core_, address trustedForwarder_) ERC2771Context(trustedForwarder_) {
        _core = core_;
    }

    /// @inheritdoc IMedLedgerRecovery
    function core() external view returns (IMedLedger) {
        return _core;
    }

    /// @inheritdoc IMedLedgerRecovery
    function setGuardians(address[] calldata guardians, uint8 threshold, uint32 delay) external {
        address identity = _caller();
        if (_core.accountOf(identity).kind != MedLedger.AccountKind.Patient) revert NotAPatient(identity);
        _checkGuardians(identity, guardians, threshold, delay);
        GuardianSet storage set = _guardianSets[identity];
        set.guardians = guardians;
        set.threshold = threshold;
        set.delay = delay;
        uint64 epoch = ++set.epoch;
        emit GuardiansChanged(identity, guardians, threshold, delay, epoch);
    }

    /// @inheritdoc IMedLedgerRecovery
    function requestRecovery(address identity, bytes32 transportKey) external {
        address newWallet = _freshWallet();
        GuardianSet storage set = _guardianSets[identity];
        if (set.threshold == 0) revert NoGuardians(identity);
        if (transportKey == bytes32(0)) revert InvalidTransportKey();
        uint64 id = ++set.requests;
        _recoveries[identity][newWallet] = RecoveryRequest({
            id: id,
            epoch: set.epoch,
            requestedAt: uint64(block.timestamp),
            thresholdAt: 0,
            approvedBy: 0
        });
        emit RecoveryRequested(identity, newWallet, transportKey, set.epoch, id);
    }

    /// @inheritdoc IMedLedgerRecovery
    function approveRecovery(address identity, address newWallet, uint64 requestId) external {
        address guardian = _caller();
        GuardianSet storage set = _guardianSets[identity];
        RecoveryRequest storage r = _openRequest(identity, newWallet, set);
        if (r.id != requestId) revert NoRecoveryRequest(identity, newWallet);
        uint32 bit = _guardianBit(set, guardian, identity);
        if (r.approvedBy & bit != 0) revert AlreadyApproved(identity, newWallet, guardian);
        r.approvedBy |= bit;
        uint256 approvals = _count(r.approvedBy);
        if (approvals == set.threshold) r.thresholdAt = uint64(block.timestamp);
        emit RecoveryApproved(identity, newWallet, guardian, approvals);
    }

    /// @inheritdoc IMedLedgerRecovery
    function cancelRecovery() external {
        address identity = _caller();
        GuardianSet storage set = _guardianSets[identity];
        if (set.threshold == 0) revert NoGuardians(identity);
        uint64 epoch = ++set.epoch;
        emit RecoveryCancelled(identity, epoch);
    }

    /// @inheritdoc IMedLedgerRecovery
    function completeRecovery(address identity) external {
        address newWallet = _freshWallet();
        GuardianSet storage set = _guardianSets[identity];
        RecoveryRequest storage r = _openRequest(identity, newWallet, set);
        uint256 approvals = _count(r.approvedBy);
        uint64 readyAt = _readyAt(r, set);
        if (readyAt == 0 || block.timestamp < readyAt) {
            revert RecoveryNotReady(identity, newWallet, approvals, readyAt);
        }
        // Effects before the call: the new epoch voids this request and every other one. The
        // core is trusted (it created this contract) and emits IdentityMoved.
        uint64 epoch = ++set.epoch;
        emit RecoveryCompleted(identity, newWallet, epoch);
        _core.moveIdentity(identity, newWallet);
    }

    /// @inheritdoc IMedLedgerRecovery
    function guardiansOf(address identity)
        external
        view
        returns (address[] memory guardians, uint8 threshold, uint32 delay, uint64 epoch)
    {
        GuardianSet storage set = _guardianSets[identity];
        return (set.guardians, set.threshold, set.delay, set.epoch);
    }

    /// @inheritdoc IMedLedgerRecovery
    function recoveryOf(address identity, address newWallet)
        external
        view
        returns (uint64 requestId, uint64 requestedAt, uint256 approvals, uint64 readyAt, bool open)
    {
        RecoveryRequest storage r = _recoveries[identity][newWallet];
        GuardianSet storage set = _guardianSets[identity];
        open = r.requestedAt != 0 && r.epoch == set.epoch;
        return (r.id, r.requestedAt, _count(r.approvedBy), _readyAt(r, set), open);
    }

    // ---------------------------------------------------------------- helpers

    /// @dev The caller's identity, as the core resolves its wallet. Refused with WalletRetired.
    function _caller() private view returns (address identity) {
        address wallet = _msgSender();
        identity = _core.identityOf(wallet);
        if (identity == address(0)) revert WalletRetired(wallet);
    }

    /// @dev The caller as a wallet that may take an identity over: not retired, not controlling
    /// an identity, not registered itself.
    function _freshWallet() private view returns (address wallet) {
        wallet = _msgSender();
        address identity = _core.identityOf(wallet);
        if (identity == address(0)) revert WalletRetired(wallet);
        if (identity != wallet || _core.accountOf(wallet).kind != MedLedger.AccountKind.None) {
            revert WalletInUse(wallet);
        }
    }

    /// @dev 1 <= threshold <= n <= MAX_GUARDIANS, or no guardians at all (threshold 0, n 0: the
    /// patient turns recovery off); each guardian registered, not the patient, named once.
    function _checkGuardians(address identity, address[] calldata guardians, uint8 threshold, uint32 delay)
        private
        view
    {
        uint256 n = guardians.length;
        if (n > MAX_GUARDIANS || threshold > n || (threshold == 0) != (n == 0) || delay > MAX_RECOVERY_DELAY) {
            revert InvalidGuardianSet(n, threshold, delay);
        }
        for (uint256 i = 0; i < n; ++i) {
            address g = guardians[i];
            // Slither's calls-loop: at most MAX_GUARDIANS view calls to the core, which created
            // this contract; none can fail but by the caller's own bad input.
            // slither-disable-next-line calls-loop
            if (g == identity || _core.accountOf(g).kind == MedLedger.AccountKind.None) revert InvalidGuardian(g);
            for (uint256 j = 0; j < i; ++j) {
                if (guardians[j] == g) revert InvalidGuardian(g);
            }
        }
    }

    /// @dev newWallet's request for identity, if it belongs to the current epoch.
    function _openRequest(address identity, address newWallet, GuardianSet storage set)
        private
        view
        returns (RecoveryRequest storage r)
    {
        r = _recoveries[identity][newWallet];
        if (r.requestedAt == 0 || r.epoch != set.epoch) revert NoRecoveryRequest(identity, newWallet);
    }

    function _guardianBit(GuardianSet storage set, address guardian, address identity) private view returns (uint32) {
        uint256 n = set.guardians.length;
        for (uint256 i = 0; i < n; ++i) {
            if (set.guardians[i] == guardian) return uint32(1 << i);
        }
        revert NotAGuardian(identity, guardian);
    }

    /// @dev When the request may complete: the delay after its approvals reached the threshold;
    /// 0 while they have not.
    function _readyAt(RecoveryRequest storage r, GuardianSet storage set) private view returns (uint64) {
        return r.thresholdAt == 0 ? 0 : r.thresholdAt + set.delay;
    }

    /// @dev The number of approvals in a bit set (at most MAX_GUARDIANS bits).
    function _count(uint32 approvedBy) private pure returns (uint256 count) {
        for (; approvedBy != 0; approvedBy &= approvedBy - 1) ++count;
    }
}
