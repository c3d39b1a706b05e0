// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title ReentrantActor (test only)
/// @notice A contract account that registers with MedLedger as a practitioner or insurer and,
/// when MedLedger sends it ether, calls back into MedLedger. Used by the Truffle suite to check
/// that the two ether-sending functions cannot be re-entered. Not deployed by any migration.
contract ReentrantActor {
    /// @notice What receive() does with incoming ether.
    enum Mode {
        Accept, // take the ether
        Reenter, // call `reentry` on the ledger and let a failure bubble up (ether refused)
        ReenterAndCatch, // call `reentry`, record the outcome, take the ether
        Refuse // revert
    }

    address public immutable ledger;
    Mode public mode;
    bytes public reentry;
    uint256 public received;
    uint256 public reentryAttempts;
    bool public lastReentryOk;
    bytes public lastReentryError;

    constructor(address ledger_) {
        ledger = ledger_;
    }

    /// @notice Call the ledger as this contract, forwarding any value; bubbles up a revert as is.
    function exec(bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = ledger.call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    function setMode(Mode mode_, bytes calldata reentry_) external {
        mode = mode_;
        reentry = reentry_;
    }

    receive() external payable {
        received += msg.value;
        if (mode == Mode.Refuse) revert("ReentrantActor: refused");
        if (mode == Mode.Reenter || mode == Mode.ReenterAndCatch) {
            reentryAttempts += 1;
            (bool ok, bytes memory ret) = ledger.call(reentry);
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
