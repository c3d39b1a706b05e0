// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title ReentrantActor (test only)
/// @notice A contract account that registers with the MedLedger core as a practitioner or insurer,
/// acts on MedLedgerInsurance, and, when it is sent ether, calls back into a contract of the
/// test's choosing. Used by the Truffle suite to check that the two ether-sending functions of
/// MedLedgerInsurance cannot be re-entered. Not deployed by any migration.
contract ReentrantActor {
    /// @notice What receive() does with incoming ether.
    enum Mode {
        Accept, // take the ether
        Reenter, // call `reentry` on `reentryTarget` and let a failure bubble up (ether refused)
        ReenterAndCatch, // call `reentry` on `reentryTarget`, record the outcome, take the ether
        Refuse // revert
    }

    Mode public mode;
    address public reentryTarget;
    bytes public reentry;
    uint256 public received;
    uint256 public reentryAttempts;
    bool public lastReentryOk;
    bytes public lastReentryError;

    /// @notice Call `target` as this contract, forwarding any value; bubbles up a revert as is.
    function exec(address target, bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    function setMode(Mode mode_, address target, bytes calldata reentry_) external {
        mode = mode_;
        reentryTarget = target;
        reentry = reentry_;
    }

    receive() external payable {
        received += msg.value;
        if (mode == Mode.Refuse) revert("ReentrantActor: refused");
        if (mode == Mode.Reenter || mode == Mode.ReenterAndCatch) {
            reentryAttempts += 1;
            (bool ok, bytes memory ret) = reentryTarget.call(reentry);
            lastReentryOk = ok;
            lastReentryError = ret;
            if (!ok && mode == Mode.Reenter) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }
}
