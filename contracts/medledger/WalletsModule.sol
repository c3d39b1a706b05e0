// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedger} from "../interfaces/IMedLedger.sol";
import {MedLedger} from "../MedLedger.sol";
import {MedLedgerBase} from "./MedLedgerBase.sol";

/// @title WalletsModule
/// @notice Which wallet controls which identity. An identity is the address an account registered
/// with, and every module keys its state by it; it never changes. A recovery (MedLedgerRecovery,
/// created by the core's constructor and the only caller of moveIdentity) moves an identity to a
/// new wallet: from that block calls from the new wallet act as the identity and calls from the
/// old one are refused (WalletRetired), whatever they call. MedLedger's _msgSender() asks
/// _identityFor, so every module and every role check sees the identity. IMedLedger documents
/// each call; MedLedger exposes them.
abstract contract WalletsModule is MedLedgerBase {
    /// @dev What a wallet is: the identity a recovery moved to it (zero otherwise), or retired (a
    /// recovery moved its identity away). One slot, so resolving a caller costs one SLOAD.
    struct WalletState {
        address identity;
        bool retired;
    }

    mapping(address wallet => WalletState) private _walletStates;
    /// @dev The wallet an identity moved to; zero while the identity is its own wallet.
    mapping(address identity => address wallet) private _movedTo;

    /// @dev The identity a wallet acts for: the one a recovery moved to it, else the wallet
    /// itself. Refused with WalletRetired for a wallet a recovery moved its identity away from.
    function _identityFor(address wallet) internal view returns (address) {
        WalletState storage w = _walletStates[wallet];
        if (w.identity != address(0)) return w.identity;
        if (w.retired) revert WalletRetired(wallet);
        return wallet;
    }

    /// @dev Only msg.sender counts (not _msgSender): the recovery contract calls directly, never
    /// through the forwarder. The recovery contract's word, checked again here so that the core alone keeps "an
    /// identity has exactly one wallet": the identity is registered, the new wallet is nobody
    /// (not registered, not controlling or retired from an identity).
    function _moveIdentity(address recoveryContract, address identity, address newWallet) internal {
        if (msg.sender != recoveryContract) revert NotRecovery(msg.sender);
        // Slither's incorrect-equality is about balances and timestamps an attacker can nudge;
        // this compares an enum the identity's own registration set.
        // slither-disable-next-line incorrect-equality
        if (_accounts[identity].kind == MedLedger.AccountKind.None) revert NotRegistered(identity);
        WalletState storage fresh = _walletStates[newWallet];
        if (
            newWallet == address(0) || fresh.identity != address(0) || fresh.retired
                || _accounts[newWallet].kind != MedLedger.AccountKind.None
        ) revert WalletInUse(newWallet);
        address oldWallet = _walletOf(identity);
        _walletStates[oldWallet] = WalletState({identity: address(0), retired: true});
        _walletStates[newWallet] = WalletState({identity: identity, retired: false});
        _movedTo[identity] = newWallet;
        emit IdentityMoved(identity, oldWallet, newWallet);
    }

    function _walletOf(address identity) internal view returns (address) {
        address moved = _movedTo[identity];
        return moved == address(0) ? identity : moved;
    }

    function _identityOf(address wallet) internal view returns (address) {
        WalletState storage w = _walletStates[wallet];
        if (w.identity != address(0)) return w.identity;
        return w.retired ? address(0) : wallet;
    }
}
