// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedger} from "./IMedLedger.sol";

/// @title IMedLedgerRecovery
/// @notice The external face of medledger's recovery contract, created by the core's constructor:
/// social recovery of a patient's identity. The patient names guardians (registered accounts) and
/// a threshold t of n and a delay; a new wallet asks to take the identity over; t guardians
/// approve that wallet; once the delay has passed the new wallet completes, and the core moves the
/// identity to it (IMedLedger.moveIdentity): from that block the identity's records, grants,
/// claims and roles answer to the new wallet and the old one can do nothing. Every function,
/// event and custom error, documented.
/// @dev Callers are known by their identity (IMedLedger.identityOf of the caller's wallet), so a
/// guardian or patient whose own identity moved acts from their new wallet. Calls may come through
/// the core's trusted ERC-2771 forwarder (a relayer pays). The recovery secret itself (the key
/// seed's shares, docs/formats.md 9) never comes here: guardians hold their shares sealed to their
/// own keys, and re-seal them to the transport key of the request they approve.
interface IMedLedgerRecovery {
    // ================================================================ errors

    /// @notice The caller's wallet was retired by a recovery (as IMedLedger.WalletRetired).
    error WalletRetired(address wallet);

    /// @notice requestRecovery or completeRecovery from a wallet that is registered itself or
    /// controls an identity (as IMedLedger.WalletInUse): an identity moves only to a wallet that
    /// is nobody yet.
    error WalletInUse(address wallet);

    /// @notice setGuardians by an account that is not a patient (as IMedLedger.NotAPatient).
    error NotAPatient(address account);

    /// @notice setGuardians with more than MAX_GUARDIANS, a threshold of zero with guardians (or
    /// guardians without one), a threshold above their number, or a delay above
    /// MAX_RECOVERY_DELAY.
    error InvalidGuardianSet(uint256 guardians, uint8 threshold, uint32 delay);

    /// @notice setGuardians naming an unregistered account, the patient, or one account twice.
    /// @param guardian the account named
    error InvalidGuardian(address guardian);

    /// @notice requestRecovery or cancelRecovery for an identity with no guardians.
    error NoGuardians(address identity);

    /// @notice requestRecovery with a zero transport key.
    error InvalidTransportKey();

    /// @notice approveRecovery or completeRecovery of a request that was never made, or that a
    /// guardian change, a cancellation, a completed recovery or a later request of the same wallet
    /// voided (an approval names its request's number).
    error NoRecoveryRequest(address identity, address newWallet);

    /// @notice approveRecovery by an account that is not among the identity's guardians.
    error NotAGuardian(address identity, address account);

    /// @notice approveRecovery by a guardian who approved this request already.
    error AlreadyApproved(address identity, address newWallet, address guardian);

    /// @notice completeRecovery before the threshold of approvals or before the delay has passed
    /// since the approval that reached it.
    /// @param approvals the approvals so far
    /// @param readyAt the chain time from which the delay allows completion (0: the threshold is
    /// not reached)
    error RecoveryNotReady(address identity, address newWallet, uint256 approvals, uint64 readyAt);

    // ================================================================ events

    /// @notice A patient named guardians (or none: recovery off). Every open request is void.
    /// @param identity the patient
    /// @param guardians the guardians, in the order approvals are counted
    /// @param threshold approvals a recovery needs
    /// @param delay seconds from a request to its earliest completion
    /// @param epoch the identity's new recovery epoch
    event GuardiansChanged(address indexed identity, address[] guardians, uint8 threshold, uint32 delay, uint64 epoch);

    /// @notice A new wallet asks to take an identity over.
    /// @param transportKey the X25519 public key the new wallet's app made for this request:
    /// guardians seal the identity's recovery shares to it
    /// @param epoch the recovery epoch the request belongs to
    /// @param requestId the request's number, which approvals name
    event RecoveryRequested(
        address indexed identity, address indexed newWallet, bytes32 transportKey, uint64 epoch, uint64 requestId
    );

    /// @notice A guardian approved a new wallet's request.
    /// @param approvals the request's approvals, this one counted
    event RecoveryApproved(
        address indexed identity, address indexed newWallet, address indexed guardian, uint256 approvals
    );

    /// @notice The identity's wallet voided every open request and approval.
    /// @param epoch the identity's new recovery epoch
    event RecoveryCancelled(address indexed identity, uint64 epoch);

    /// @notice A recovery completed: the core moved the identity to newWallet (its IdentityMoved
    /// in the same transaction), and every other open request is void.
    /// @param epoch the identity's new recovery epoch
    event RecoveryCompleted(address indexed identity, address indexed newWallet, uint64 epoch);

    // ================================================================ constants

    /// @notice Most guardians a patient may name.
    // slither-disable-next-line naming-convention
    function MAX_GUARDIANS() external view returns (uint256);

    /// @notice Longest delay a patient may set between a recovery request and its completion.
    // slither-disable-next-line naming-convention
    function MAX_RECOVERY_DELAY() external view returns (uint32);

    /// @notice The core whose identities this contract moves.
    function core() external view returns (IMedLedger);

    // ================================================================ recovery

    /// @notice The calling patient names guardians (registered accounts other than the patient)
    /// and the approvals a recovery needs, or clears them (an empty list and threshold 0). Voids
    /// every open request. Refused with NotAPatient, InvalidGuardianSet or InvalidGuardian.
    /// @param guardians at most MAX_GUARDIANS identities, each once
    /// @param threshold approvals a recovery needs, 1..guardians.length
    /// @param delay seconds from a request to its earliest completion, at most MAX_RECOVERY_DELAY:
    /// the time the patient has to cancel a recovery they did not ask for
    function setGuardians(address[] calldata guardians, uint8 threshold, uint32 delay) external;

    /// @notice A new wallet, registered as nothing and controlling nothing, asks to take the
    /// identity over. A later request by the same wallet replaces its earlier one (a new number;
    /// approvals start again). Refused with WalletInUse, NoGuardians or InvalidTransportKey.
    /// @param identity the identity to take over
    /// @param transportKey the X25519 public key guardians seal the shares to (RecoveryRequested)
    function requestRecovery(address identity, bytes32 transportKey) external;

    /// @notice A guardian of the identity approves newWallet's open request numbered requestId
    /// (RecoveryRequested). The approval that reaches the threshold starts the delay. Refused with
    /// NoRecoveryRequest (no such open request, or another number), NotAGuardian or
    /// AlreadyApproved.
    function approveRecovery(address identity, address newWallet, uint64 requestId) external;

    /// @notice The identity's wallet voids every open request and approval (a recovery it did not
    /// ask for). Refused with NoGuardians.
    function cancelRecovery() external;

    /// @notice newWallet takes the identity over once threshold guardians approved its open
    /// request and the delay has passed since the approval that reached the threshold: the core
    /// moves the identity (IMedLedger.IdentityMoved).
    /// Refused with WalletInUse, NoRecoveryRequest or RecoveryNotReady.
    /// @param identity the identity named in the request
    function completeRecovery(address identity) external;

    /// @notice An identity's guardians, threshold, delay and recovery epoch.
    function guardiansOf(address identity)
        external
        view
        returns (address[] memory guardians, uint8 threshold, uint32 delay, uint64 epoch);

    /// @notice newWallet's request for identity: its number, when it was made, its approvals,
    /// when it may complete (0 until the threshold is reached), and whether it is still open (of
    /// the current epoch).
    function recoveryOf(address identity, address newWallet)
        external
        view
        returns (uint64 requestId, uint64 requestedAt, uint256 approvals, uint64 readyAt, bool open);
}
