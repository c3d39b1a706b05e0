// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {MedLedger} from "../contracts/MedLedger.sol";
import {MedLedgerForwarder} from "../contracts/MedLedgerForwarder.sol";
import {RecoveryHandler} from "./RecoveryHandler.sol";

/// @notice Invariants of recovery (MedLedgerRecovery and the core's wallets) under random
/// sequences of guardian changes, requests, approvals (by guardians and by anyone), cancellations,
/// completions, calls from every wallet and time (RecoveryHandler): an identity has exactly one
/// controlling wallet; a retired wallet controls nothing and is refused; the core agrees with the
/// handler's model on every identity's wallet; and no call's outcome differed from the model's
/// (no completion without enough approvals after the delay, no approval counted from a
/// non-guardian, no request from a wallet that is somebody).
contract RecoveryInvariants is StdInvariant, Test {
    MedLedger internal m;
    RecoveryHandler internal h;

    function setUp() public {
        vm.warp(1_700_000_000);
        m = new MedLedger(makeAddr("admin"), makeAddr("escrow"), address(new MedLedgerForwarder()));
        h = new RecoveryHandler(m);
        targetContract(address(h));
    }

    /// An identity has exactly one controlling wallet: the one walletOf names, which identityOf
    /// maps back, and no other wallet the handler uses maps to it.
    function invariant_oneWalletPerIdentity() public view {
        address[5] memory ids = h.identityList();
        address[] memory wallets = h.allWallets();
        for (uint256 i; i < ids.length; ++i) {
            address wallet = m.walletOf(ids[i]);
            assertEq(wallet, h.modelWalletOf(ids[i]), "walletOf agrees with the model");
            assertEq(m.identityOf(wallet), ids[i], "the controlling wallet acts for the identity");
            uint256 controllers;
            for (uint256 j; j < wallets.length; ++j) {
                if (m.identityOf(wallets[j]) == ids[i]) ++controllers;
            }
            assertEq(controllers, 1, "exactly one wallet acts for each identity");
        }
    }

    /// A retired wallet acts for nobody, and controls no identity.
    function invariant_retiredWalletsHaveNoPower() public view {
        address[] memory wallets = h.allWallets();
        for (uint256 j; j < wallets.length; ++j) {
            if (h.modelRetired(wallets[j])) assertEq(m.identityOf(wallets[j]), address(0), "retired");
        }
    }

    function invariant_modelAgreesOnEveryCall() public view {
        assertEq(h.mismatches(), 0, "a call's outcome differed from the model's");
    }
}
