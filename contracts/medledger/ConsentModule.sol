// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {MedLedger} from "../MedLedger.sol";
import {MedLedgerBase} from "./MedLedgerBase.sol";

/// @title ConsentModule
/// @notice Consent: a patient's grants and revocations, and the two decisions everything else
/// asks, canRead (the escrow, before it releases) and canWrite (addRecord and anchorRecordRoot,
/// before they anchor).
/// IMedLedger documents each call; MedLedger exposes them.
abstract contract ConsentModule is MedLedgerBase {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @dev Every grantee with a grant that was not revoked (expired ones included).
    mapping(address patient => EnumerableSet.AddressSet) private _grantees;

    function _grant(address grantee, uint256 categories, bool allowWrite, uint64 expiry) internal {
        address sender = _msgSender();
        _requirePatient(sender);
        MedLedger.AccountKind kind = _accounts[grantee].kind;
        // Slither's incorrect-equality: these are enum comparisons of the grantee's kind, not a
        // balance or a timestamp an attacker could steer to an exact value.
        // slither-disable-next-line incorrect-equality
        if (kind != MedLedger.AccountKind.Practitioner && !(kind == MedLedger.AccountKind.Insurer && !allowWrite)) {
            revert InvalidGrantee(grantee);
        }
        if (categories == 0) revert InvalidCategories();
        if (expiry <= block.timestamp) revert ExpiryInPast(expiry);
        _grants[sender][grantee] = MedLedger.Grant({
            categories: categories, canWrite: allowWrite, expiry: expiry, grantedAt: uint64(block.timestamp)
        });
        // add() is false when the grantee is already in the set: a re-grant replaces the terms
        // above and the set already lists the grantee, so there is nothing to act on.
        // slither-disable-next-line unused-return
        _grantees[sender].add(grantee);
        emit ConsentGranted(sender, grantee, categories, allowWrite, expiry);
    }

    function _revoke(address grantee) internal {
        address sender = _msgSender();
        if (!_grantees[sender].remove(grantee)) revert NoActiveGrant(sender, grantee);
        delete _grants[sender][grantee];
        emit ConsentRevoked(sender, grantee);
    }

    function _grantOf(address patient, address grantee) internal view returns (MedLedger.Grant memory) {
        return _grants[patient][grantee];
    }

    function _activeGrants(address patient)
        internal
        view
        returns (address[] memory grantees, MedLedger.Grant[] memory grants)
    {
        EnumerableSet.AddressSet storage all = _grantees[patient];
        uint256 total = all.length();
        // Counters start at Solidity's zero (slither's uninitialized-local, on purpose).
        // slither-disable-next-line uninitialized-local
        uint256 count;
        for (uint256 i; i < total; ++i) {
            if (_grants[patient][all.at(i)].expiry > block.timestamp) ++count;
        }
        grantees = new address[](count);
        grants = new MedLedger.Grant[](count);
        // slither-disable-next-line uninitialized-local
        uint256 j;
        for (uint256 i; i < total; ++i) {
            address g = all.at(i);
            MedLedger.Grant memory gr = _grants[patient][g];
            if (gr.expiry > block.timestamp) {
                grantees[j] = g;
                grants[j] = gr;
                ++j;
            }
        }
    }

    /// @dev The read decision (IMedLedger.canRead).
    function _canRead(address patient, address reader, bytes32 recordId) internal view returns (bool) {
        (bool live, uint8 category) = _liveRecordOf(patient, recordId);
        return live && _mayRead(patient, reader, category);
    }

    /// @dev Whether `recordId` is a record of `patient` that was not erased, and its category.
    function _liveRecordOf(address patient, bytes32 recordId) private view returns (bool live, uint8 category) {
        MedLedger.Record storage r = _records[recordId];
        if (r.patient == address(0) || r.patient != patient || _isErased(r)) return (false, 0);
        return (true, r.category);
    }

    /// @dev The consent half of the read decision, for a live record of `patient` in `category`:
    /// records anchored one by one (canRead) and under a root (canReadRooted) are decided alike.
    function _mayRead(address patient, address reader, uint8 category) internal view returns (bool) {
        (bool anyCategory, uint256 categories) = _readConsent(patient, reader);
        return anyCategory || _covers(categories, category);
    }

    /// @dev What `reader` may read of `patient`'s live records, decided once for the pair so that
    /// canReadMany looks at nothing but each record's own entry: every category (`anyCategory`:
    /// the patient, or a practitioner inside an open emergency window), else the categories of an
    /// unexpired grant (0 when there is none, or when the reader's account is not an active,
    /// licensed practitioner or insurer).
    function _readConsent(address patient, address reader)
        internal
        view
        returns (bool anyCategory, uint256 categories)
    {
        if (reader == patient) return (true, 0);
        MedLedger.Account storage a = _accounts[reader];
        if (a.status != MedLedger.AccountStatus.Active) return (false, 0);
        bool practitioner = a.kind == MedLedger.AccountKind.Practitioner;
        if (!practitioner && a.kind != MedLedger.AccountKind.Insurer) return (false, 0);
        if (!_licensed(reader)) return (false, 0);
        if (practitioner && _emergencyOpen(patient, reader)) return (true, 0);
        MedLedger.Grant storage g = _grants[patient][reader];
        if (g.expiry > block.timestamp) categories = g.categories;
    }

    /// @dev canRead for many records of one patient (IMedLedger.canReadMany): the same decision
    /// as _canRead for each, with the reader's side of it (_readConsent) taken once, because the
    /// escrow asks it for a whole listing and per-record work is what a node spends its time on.
    function _canReadMany(address patient, address reader, bytes32[] calldata recordIds)
        internal
        view
        returns (bool[] memory allowed)
    {
        (bool anyCategory, uint256 categories) = _readConsent(patient, reader);
        allowed = new bool[](recordIds.length);
        for (uint256 i; i < recordIds.length; ++i) {
            (bool live, uint8 category) = _liveRecordOf(patient, recordIds[i]);
            allowed[i] = live && (anyCategory || _covers(categories, category));
        }
    }

    /// @dev The write decision (IMedLedger.canWrite), which the records module applies.
    function _canWrite(address patient, address writer, uint8 category) internal view returns (bool) {
        if (_accounts[patient].kind != MedLedger.AccountKind.Patient) return false;
        if (writer == patient) return true;
        if (!_isVerifiedPractitioner(writer)) return false;
        MedLedger.Grant storage g = _grants[patient][writer];
        return g.canWrite && g.expiry > block.timestamp && _covers(g.categories, category);
    }
}
