// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IMedLedger} from "../interfaces/IMedLedger.sol";
import {MedLedger} from "../MedLedger.sol";
import {ConsentModule} from "./ConsentModule.sol";

/// @title RecordRootsModule
/// @notice Records anchored many at a time under one Merkle root: a bulk import (a hospital's back
/// catalogue, a FHIR bundle) costs one transaction and three storage slots whatever its size. The
/// records are the tree's leaves; the chain keeps only the root, its patient, author, size, the
/// categories its leaves may have and the erasure epoch. A reader (the escrow) proves a record's
/// leaf to have it decided: the consent decision is the one canRead makes, record by record.
/// Erasure is per record (a flag per erased id) or per patient (eraseAll's epoch, which the root
/// remembers). IMedLedger documents each call; MedLedger exposes them.
abstract contract RecordRootsModule is ConsentModule {
    /// @inheritdoc IMedLedger
    /// @dev 2^20: a proof is at most 20 hashes, and the escrow's index holds every leaf.
    uint32 public constant MAX_ROOT_RECORDS = 1 << 20;

    uint8 private constant ROOTED_ERASED = 1;
    uint8 private constant ROOTED_SHREDDED = 2;

    mapping(bytes32 root => MedLedger.RecordRoot) private _roots;
    /// @dev ROOTED_ERASED and ROOTED_SHREDDED bits of a record under a root; zero for a live one.
    mapping(bytes32 root => mapping(bytes32 recordId => uint8)) private _rootedState;

    function _anchorRecordRoot(address patient, bytes32 root, uint32 count, uint256 categories) internal {
        address sender = _msgSender();
        if (root == bytes32(0)) revert InvalidRecordRoot();
        if (_roots[root].patient != address(0)) revert RecordRootExists(root);
        if (count == 0 || count > MAX_ROOT_RECORDS) revert InvalidRootCount(count);
        if (categories == 0) revert InvalidCategories();
        // The caller must be able to write every category its leaves may have: one canWrite per
        // category named (the lowest set bit each time), not per record.
        for (uint256 rest = categories; rest != 0; rest &= rest - 1) {
            uint8 category = uint8(Math.log2(rest & (~rest + 1)));
            if (!_canWrite(patient, sender, category)) revert WriteNotPermitted(patient, sender, category);
        }
        _roots[root] = MedLedger.RecordRoot({
            patient: patient,
            createdAt: uint64(block.timestamp),
            count: count,
            author: sender,
            epoch: _erasureEpoch[patient],
            shredConfirmed: false,
            categories: categories
        });
        emit RecordRootAnchored(root, patient, sender, count, categories);
    }

    /// @dev keccak256(bytes.concat(keccak256(abi.encode(index, recordId, ciphertextHash,
    /// category)))): OpenZeppelin's leaf layout, hashed twice so no inner node passes for a leaf.
    function _rootedLeaf(MedLedger.RootedRecord calldata r) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(r.index, r.recordId, r.ciphertextHash, r.category))));
    }

    /// @dev Whether `r` is leaf r.index of the anchored `root`, with a category the root allows.
    function _isRootedRecord(bytes32 root, MedLedger.RootedRecord calldata r, bytes32[] calldata proof)
        internal
        view
        returns (bool)
    {
        MedLedger.RecordRoot storage rr = _roots[root];
        if (rr.patient == address(0) || r.index >= rr.count) return false;
        if (r.recordId == bytes32(0) || r.ciphertextHash == bytes32(0)) return false;
        if (!_covers(rr.categories, r.category)) return false;
        return MerkleProof.verifyCalldata(proof, root, _rootedLeaf(r));
    }

    function _rootedErased(MedLedger.RecordRoot storage rr, bytes32 root, bytes32 recordId)
        private
        view
        returns (bool)
    {
        return rr.epoch != _erasureEpoch[rr.patient] || _rootedState[root][recordId] & ROOTED_ERASED != 0;
    }

    /// @dev The read decision for a record under a root (IMedLedger.canReadRooted).
    function _canReadRooted(
        address patient,
        address reader,
        bytes32 root,
        MedLedger.RootedRecord calldata r,
        bytes32[] calldata proof
    ) internal view returns (bool) {
        MedLedger.RecordRoot storage rr = _roots[root];
        if (rr.patient != patient || !_isRootedRecord(root, r, proof)) return false;
        if (_rootedErased(rr, root, r.recordId)) return false;
        return _mayRead(patient, reader, r.category);
    }

    function _eraseRootedRecord(bytes32 root, bytes32 recordId) internal {
        address sender = _msgSender();
        MedLedger.RecordRoot storage rr = _knownRoot(root);
        if (recordId == bytes32(0)) revert InvalidRecordId();
        if (rr.patient != sender) revert NotRecordOwner(recordId, sender);
        if (_rootedErased(rr, root, recordId)) revert RecordAlreadyErased(recordId);
        _rootedState[root][recordId] = ROOTED_ERASED;
        emit RootedRecordErased(root, recordId, sender);
    }

    function _confirmRootedShredded(bytes32 root, bytes32 recordId, bytes32 receiptHash)
        internal
        onlyRole(ESCROW_ROLE)
    {
        MedLedger.RecordRoot storage rr = _knownRoot(root);
        if (!_rootedErased(rr, root, recordId)) revert RecordNotErased(recordId);
        if (rr.shredConfirmed || _rootedState[root][recordId] & ROOTED_SHREDDED != 0) {
            revert ShredAlreadyConfirmed(recordId);
        }
        if (receiptHash == bytes32(0)) revert InvalidReceiptHash();
        _rootedState[root][recordId] |= ROOTED_SHREDDED;
        emit RootedShredConfirmed(root, recordId, receiptHash);
    }

    /// @dev After eraseAll every record of an older root is erased: one confirmation for them all.
    function _confirmRootShredded(bytes32 root, bytes32 receiptHash) internal onlyRole(ESCROW_ROLE) {
        MedLedger.RecordRoot storage rr = _knownRoot(root);
        if (rr.epoch == _erasureEpoch[rr.patient]) revert RecordRootNotErased(root);
        if (rr.shredConfirmed) revert ShredAlreadyConfirmed(root);
        if (receiptHash == bytes32(0)) revert InvalidReceiptHash();
        rr.shredConfirmed = true;
        emit RecordRootShredConfirmed(root, receiptHash);
    }

    function _recordRootOf(bytes32 root) internal view returns (MedLedger.RecordRoot memory) {
        return _roots[root];
    }

    function _isRootedErasedById(bytes32 root, bytes32 recordId) internal view returns (bool) {
        return _rootedErased(_knownRoot(root), root, recordId);
    }

    function _knownRoot(bytes32 root) private view returns (MedLedger.RecordRoot storage rr) {
        rr = _roots[root];
        if (rr.patient == address(0)) revert UnknownRecordRoot(root);
    }
}
