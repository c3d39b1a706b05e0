// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";

/// @title MedLedgerForwarder
/// @notice The ERC-2771 forwarder the MedLedger core trusts (sponsored transactions): a patient
/// without ether signs an EIP-712 ForwardRequest(address from,address to,uint256 value,uint256
/// gas,uint256 nonce,uint48 deadline,bytes data) for a call to the core, and a relayer (the
/// escrow) submits it with execute, paying the gas. The forwarder checks the signature, the
/// signer's nonce and the deadline, and calls the core with the signer's address appended, which
/// the core (ERC2771Context) reads as the caller.
/// @dev OpenZeppelin's ERC2771Forwarder unchanged. It exists as a contract of its own so that
/// Truffle has an artifact to deploy (and the migration a code to compare a recorded forwarder
/// with), and to fix the EIP-712 domain the app signs and the relayer verifies against: name
/// "MedLedgerForwarder", version "1", this chain's id, this contract's address. Only the core
/// trusts it; MedLedgerInsurance and MedLedgerLicensing are not forwarded.
contract MedLedgerForwarder is ERC2771Forwarder {
    constructor() ERC2771Forwarder("MedLedgerForwarder") {}
}
