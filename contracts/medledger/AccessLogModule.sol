// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IMedLedger} from "../interfaces/IMedLedger.sol";
import {MedLedger} from "../MedLedger.sol";
import {MedLedgerBase} from "./MedLedgerBase.sol";

/// @title AccessLogModule
/// @notice Access-log anchors: the escrow anchors the Merkle root of each contiguous batch of its
/// access log, and anyone checks an entry against an anchored batch. Reads no other module's
/// state. IMedLedger documents each call; MedLedger exposes them.
abstract contract AccessLogModule is MedLedgerBase {
    MedLedger.LogAnchor[] private _anchors;
    /// @inheritdoc IMedLedger
    uint64 public nextLogSeq;

    function _anchorAccessLog(bytes32 root, uint64 firstSeq, uint64 lastSeq) internal onlyRole(ESCROW_ROLE) {
        if (root == bytes32(0)) revert InvalidLogRoot();
        if (firstSeq != nextLogSeq || lastSeq < firstSeq) revert InvalidLogRange(nextLogSeq, firstSeq, lastSeq);
        nextLogSeq = lastSeq + 1;
        _anchors.push(
            MedLedger.LogAnchor({root: root, firstSeq: firstSeq, lastSeq: lastSeq, anchoredAt: uint64(block.timestamp)})
        );
        emit AccessLogAnchored(_anchors.length - 1, root, firstSeq, lastSeq);
    }

    function _anchorCount() internal view returns (uint256) {
        return _anchors.length;
    }

    function _anchorAt(uint256 anchorIndex) internal view returns (MedLedger.LogAnchor memory) {
        if (anchorIndex >= _anchors.length) revert UnknownAnchor(anchorIndex);
        return _anchors[anchorIndex];
    }

    /// @dev keccak256(bytes.concat(keccak256(abi.encode(seq, entryHash)))): docs/contract.md.
    function _logLeaf(uint64 seq, bytes32 entryHash) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(seq, entryHash))));
    }

    function _verifyLogEntry(uint256 anchorIndex, uint64 seq, bytes32 entryHash, bytes32[] calldata proof)
        internal
        view
        returns (bool)
    {
        if (anchorIndex >= _anchors.length) revert UnknownAnchor(anchorIndex);
        MedLedger.LogAnchor storage a = _anchors[anchorIndex];
        if (seq < a.firstSeq || seq > a.lastSeq) return false;
        return MerkleProof.verifyCalldata(proof, a.root, _logLeaf(seq, entryHash));
    }
}
