// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title BlobStore (test only)
/// @notice Stores bytes on chain as a contract would that kept records themselves: the anchor
/// against which record_roots.test.js compares a record's anchoring gas ("a record's gas at most
/// 1/30 of storing its 4 KiB on chain"), measured in the same run. Not deployed by any migration.
contract BlobStore {
    bytes[] private _blobs;

    /// @notice Appends `data` to storage.
    /// @param data the bytes to keep
    function store(bytes calldata data) external {
        _blobs.push(data);
    }
}
