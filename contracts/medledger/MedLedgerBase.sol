// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IMedLedger} from "../interfaces/IMedLedger.sol";
import {MedLedger} from "../MedLedger.sol";

/// @title MedLedgerBase
/// @notice The roles, the state that more than one module reads (accounts, grants, records and
/// erasure epochs, emergency windows) and the helpers the modules share. State that one module
/// alone reads lives in that module.
/// @dev The types are MedLedger's (see IMedLedger on why); this base and the modules name them as
/// MedLedger.Account and so on.
abstract contract MedLedgerBase is IMedLedger, AccessControl {
    /// @inheritdoc IMedLedger
    bytes32 public constant ADMIN_ROLE = keccak256("MEDLEDGER_ADMIN");
    /// @inheritdoc IMedLedger
    bytes32 public constant ESCROW_ROLE = keccak256("MEDLEDGER_ESCROW");
    /// @inheritdoc IMedLedger
    uint256 public constant MAX_CATEGORY = 255;

    /// @dev An emergency window and the patient's opt-in period it was opened in.
    struct EmergencyWindow {
        uint64 until;
        uint64 period;
    }

    mapping(address account => MedLedger.Account) internal _accounts;
    mapping(address patient => mapping(address grantee => MedLedger.Grant)) internal _grants;
    mapping(bytes32 recordId => MedLedger.Record) internal _records;
    mapping(address patient => uint64) internal _erasureEpoch;
    /// @dev Written by the emergency module, read by canRead in the consent module.
    mapping(address patient => mapping(address practitioner => EmergencyWindow)) internal _emergencyWindows;
    /// @dev Moves on each time the patient opts out, which closes every window opened before.
    mapping(address patient => uint64) internal _emergencyPeriod;
    /// @dev Licensing, as far as canRead and canWrite need it (LicenceTermsModule writes it, on the
    /// licensing contract's word): each organisation's subscription end and notice, and the
    /// organisation each practitioner was verified for (0: none).
    mapping(uint32 organisation => MedLedger.LicenceTerms) internal _licenceTerms;
    mapping(address practitioner => uint32 organisation) internal _organisationOf;
    /// @dev The licensing contract (MedLedgerLicensing), set once by an admin; zero until then.
    address internal _licensing;
    /// @dev Suspended by a platform admin: only a platform admin lifts it (an organisation's admin
    /// lifts only its own suspensions).
    mapping(address account => bool) internal _suspendedByPlatform;

    // ---------------------------------------------------------------- accounts

    /// @dev The caller's wallet, before WalletsModule maps it to the identity it acts for
    /// (_msgSender). MedLedger implements it (ERC-2771).
    function _wallet() internal view virtual returns (address);

    /// @dev The account, which must be a practitioner or an insurer (any status).
    function _professional(address account) internal view returns (MedLedger.Account storage a) {
        a = _accounts[account];
        if (a.kind != MedLedger.AccountKind.Practitioner && a.kind != MedLedger.AccountKind.Insurer) {
            revert NotAProfessional(account);
        }
    }

    function _requirePatient(address account) internal view {
        if (_accounts[account].kind != MedLedger.AccountKind.Patient) revert NotAPatient(account);
    }

    /// @dev An Active practitioner whose organisation, if any, is licensed now: what reading,
    /// writing, emergency access and claims require of a practitioner.
    function _isVerifiedPractitioner(address account) internal view returns (bool) {
        MedLedger.Account storage a = _accounts[account];
        return a.kind == MedLedger.AccountKind.Practitioner && a.status == MedLedger.AccountStatus.Active
            && _licensed(account);
    }

    /// @dev True unless the account belongs to an organisation whose licence is not Active or
    /// UnderNotice. Only practitioners belong to organisations.
    function _licensed(address account) internal view returns (bool) {
        uint32 organisation = _organisationOf[account];
        if (organisation == 0) return true;
        MedLedger.LicenceStatus status = _licenceStatus(organisation);
        return status == MedLedger.LicenceStatus.Active || status == MedLedger.LicenceStatus.UnderNotice;
    }

    /// @dev The licence status now. Terminated wins over Lapsed, Lapsed over UnderNotice.
    function _licenceStatus(uint32 organisation) internal view returns (MedLedger.LicenceStatus) {
        MedLedger.LicenceTerms storage o = _licenceTerms[organisation];
        if (o.paidUntil == 0) return MedLedger.LicenceStatus.None;
        if (o.terminatesAt != 0 && o.terminatesAt <= block.timestamp) return MedLedger.LicenceStatus.Terminated;
        if (o.paidUntil <= block.timestamp) return MedLedger.LicenceStatus.Lapsed;
        if (o.terminatesAt != 0) return MedLedger.LicenceStatus.UnderNotice;
        return MedLedger.LicenceStatus.Active;
    }

    function _isVerifiedInsurer(address account) internal view returns (bool) {
        MedLedger.Account storage a = _accounts[account];
        return a.kind == MedLedger.AccountKind.Insurer && a.status == MedLedger.AccountStatus.Active;
    }

    // ---------------------------------------------------------------- categories and records

    function _covers(uint256 categories, uint8 category) internal pure returns (bool) {
        return categories & (uint256(1) << category) != 0;
    }

    function _isErased(MedLedger.Record storage r) internal view returns (bool) {
        return r.erased || r.epoch != _erasureEpoch[r.patient];
    }

    // ---------------------------------------------------------------- emergency windows

    /// @dev The end of the window, or 0 if it was opened before the patient's last opt-out.
    function _emergencyUntil(address patient, address practitioner) internal view returns (uint64) {
        EmergencyWindow storage w = _emergencyWindows[patient][practitioner];
        return w.period == _emergencyPeriod[patient] ? w.until : 0;
    }

    function _emergencyOpen(address patient, address practitioner) internal view returns (bool) {
        return _accounts[patient].emergencyOptIn && _emergencyUntil(patient, practitioner) > block.timestamp;
    }
}
