// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IMedLedger} from "../interfaces/IMedLedger.sol";
import {MedLedger} from "../MedLedger.sol";
import {ConsentModule} from "./ConsentModule.sol";

/// @title RecordsModule
/// @notice Records and erasure: anchoring records one at a time or in batches (each under the
/// consent module's canWrite), erasing one record or all of a patient's, and the escrow's
/// confirmations that it shredded what was erased. IMedLedger documents each call; MedLedger
/// exposes them.
abstract contract RecordsModule is ConsentModule {
    /// @inheritdoc IMedLedger
    /// @dev At about 99k gas each in a full batch (bench/gas.md), about 10M gas, well inside a
    /// 30M-gas block.
    uint256 public constant MAX_RECORD_BATCH = 100;

    function _addRecords(MedLedger.NewRecord[] calldata batch) internal {
        if (batch.length == 0 || batch.length > MAX_RECORD_BATCH) revert InvalidBatchSize(batch.length);
        for (uint256 i = 0; i < batch.length; ++i) {
            MedLedger.NewRecord calldata r = batch[i];
            _addRecord(r.recordId, r.patient, r.ciphertextHash, r.category, r.supersedes);
        }
    }

    function _addRecord(bytes32 recordId, address patient, bytes32 ciphertextHash, uint8 category, bytes32 supersedes)
        internal
    {
        address sender = _msgSender();
        if (recordId == bytes32(0)) revert InvalidRecordId();
        if (ciphertextHash == bytes32(0)) revert InvalidCiphertextHash();
        if (_records[recordId].patient != address(0)) revert RecordExists(recordId);
        if (!_canWrite(patient, sender, category)) revert WriteNotPermitted(patient, sender, category);
        if (supersedes != bytes32(0)) {
            MedLedger.Record storage old = _records[supersedes];
            if (old.patient != patient || _isErased(old)) revert InvalidSupersedes(supersedes);
        }
        _records[recordId] = MedLedger.Record({
            patient: patient,
            author: sender,
            ciphertextHash: ciphertextHash,
            supersedes: supersedes,
            createdAt: uint64(block.timestamp),
            epoch: _erasureEpoch[patient],
            category: category,
            erased: false,
            shredConfirmed: false
        });
        emit RecordAdded(recordId, patient, sender, ciphertextHash, category, supersedes);
    }

    function _eraseRecord(bytes32 recordId) internal {
        address sender = _msgSender();
        MedLedger.Record storage r = _records[recordId];
        if (r.patient == address(0)) revert UnknownRecord(recordId);
        if (r.patient != sender) revert NotRecordOwner(recordId, sender);
        if (_isErased(r)) revert RecordAlreadyErased(recordId);
        r.erased = true;
        emit RecordErased(recordId, sender);
    }

    /// @dev Moves the patient's erasure epoch on: every record added before is erased at once.
    function _eraseAll() internal {
        address sender = _msgSender();
        _requirePatient(sender);
        uint64 epoch = ++_erasureEpoch[sender];
        emit AllRecordsErased(sender, epoch);
    }

    function _confirmShredded(bytes32 recordId, bytes32 receiptHash) internal onlyRole(ESCROW_ROLE) {
        MedLedger.Record storage r = _records[recordId];
        if (r.patient == address(0)) revert UnknownRecord(recordId);
        if (!_isErased(r)) revert RecordNotErased(recordId);
        if (r.shredConfirmed) revert ShredAlreadyConfirmed(recordId);
        if (receiptHash == bytes32(0)) revert InvalidReceiptHash();
        r.shredConfirmed = true;
        emit ShredConfirmed(recordId, receiptHash);
    }

    function _recordOf(bytes32 recordId) internal view returns (MedLedger.Record memory) {
        return _records[recordId];
    }

    /// @dev isErased by id: unlike _isErased, refuses an unknown id.
    function _isErasedById(bytes32 recordId) internal view returns (bool) {
        MedLedger.Record storage r = _records[recordId];
        if (r.patient == address(0)) revert UnknownRecord(recordId);
        return _isErased(r);
    }

    function _erasureEpochOf(address patient) internal view returns (uint64) {
        return _erasureEpoch[patient];
    }
}
