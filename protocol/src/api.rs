//! Shapes of the escrow's HTTP API that the escrow and its clients share, typed once here so that
//! neither end spells a state as a bare string of its own.
//!
//! This module grows as the API's responses move onto shared types (issue 13); what is here is
//! used by the escrow's handlers and index alike.

use serde::{Deserialize, Serialize};

/// What an account registered as on chain (the contract's `AccountKind`, without `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountKind {
    /// A data owner.
    Patient,
    /// A doctor or other practitioner (verified by an admin).
    Practitioner,
    /// An insurer (verified by an admin).
    Insurer,
}

impl AccountKind {
    /// Every kind.
    pub const ALL: [AccountKind; 3] = [
        AccountKind::Patient,
        AccountKind::Practitioner,
        AccountKind::Insurer,
    ];

    /// The contract's number for the kind (`AccountKind` in MedLedger.sol: 1, 2, 3).
    pub fn chain_number(self) -> u8 {
        match self {
            AccountKind::Patient => 1,
            AccountKind::Practitioner => 2,
            AccountKind::Insurer => 3,
        }
    }

    /// The kind the contract's number stands for; `None` for 0 (no account) and numbers this
    /// code does not know (a role added to the contract later is not shown as another one).
    pub fn from_chain_number(n: u8) -> Option<AccountKind> {
        AccountKind::ALL.into_iter().find(|k| k.chain_number() == n)
    }

    /// Applies to be verified by an admin (and is listed in the directory once verified).
    pub fn needs_verification(self) -> bool {
        !matches!(self, AccountKind::Patient)
    }

    /// The status an account of this kind has when it registers.
    pub fn status_at_registration(self) -> AccountStatus {
        if self.needs_verification() {
            AccountStatus::Pending
        } else {
            AccountStatus::Active
        }
    }
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountStatus {
    /// Applied, not verified yet.
    Pending,
    /// Verified (or a patient).
    Active,
    /// Suspended by an admin.
    Suspended,
}

impl AccountStatus {
    /// Every status.
    pub const ALL: [AccountStatus; 3] = [
        AccountStatus::Pending,
        AccountStatus::Active,
        AccountStatus::Suspended,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Pending => "pending",
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
        }
    }

    /// The status a stored name stands for.
    pub fn parse(name: &str) -> Option<AccountStatus> {
        AccountStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The contract's number for the status (`AccountStatus` in MedLedger.sol: 1, 2, 3).
    pub fn chain_number(self) -> u8 {
        match self {
            AccountStatus::Pending => 1,
            AccountStatus::Active => 2,
            AccountStatus::Suspended => 3,
        }
    }

    /// The status the contract's number stands for; `None` for 0 (no account) and unknown ones.
    pub fn from_chain_number(n: u8) -> Option<AccountStatus> {
        AccountStatus::ALL
            .into_iter()
            .find(|s| s.chain_number() == n)
    }
}

/// An event in a practitioner's or insurer's life on chain, as the contract emits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountEvent {
    /// `AccountRegistered`: the account applied (or, for a patient, registered).
    Registered,
    /// `AccountVerified`: an admin verified the application.
    Verified,
    /// `AccountSuspended`: an admin suspended the account.
    Suspended,
    /// `AccountReinstated`: an admin lifted a suspension.
    Reinstated,
}

impl AccountEvent {
    /// Every event, for parsing.
    pub const ALL: [AccountEvent; 4] = [
        AccountEvent::Registered,
        AccountEvent::Verified,
        AccountEvent::Suspended,
        AccountEvent::Reinstated,
    ];

    /// The wire and storage name (`registered`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AccountEvent::Registered => "registered",
            AccountEvent::Verified => "verified",
            AccountEvent::Suspended => "suspended",
            AccountEvent::Reinstated => "reinstated",
        }
    }

    /// The event a stored name stands for.
    pub fn parse(name: &str) -> Option<AccountEvent> {
        AccountEvent::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// One step of an account's history in `GET /api/console/applications`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountHistoryEntry {
    /// The block the event was mined in.
    pub block: u64,
    /// What happened.
    pub event: AccountEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_events_keep_one_name_on_the_wire_and_in_storage() {
        for e in AccountEvent::ALL {
            assert_eq!(AccountEvent::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_value(e).expect("serialises"),
                serde_json::Value::String(e.as_str().into())
            );
        }
        assert_eq!(AccountEvent::parse("deleted"), None);
    }

    #[test]
    fn account_kinds_follow_the_contracts_numbering_and_refuse_unknown_ones() {
        for k in AccountKind::ALL {
            assert_eq!(AccountKind::from_chain_number(k.chain_number()), Some(k));
        }
        assert_eq!(AccountKind::from_chain_number(0), None, "no account");
        assert_eq!(
            AccountKind::from_chain_number(4),
            None,
            "a kind added later"
        );
        assert_eq!(
            AccountKind::Patient.status_at_registration(),
            AccountStatus::Active
        );
        assert_eq!(
            AccountKind::Insurer.status_at_registration(),
            AccountStatus::Pending
        );
        for s in AccountStatus::ALL {
            assert_eq!(AccountStatus::parse(s.as_str()), Some(s));
            assert_eq!(AccountStatus::from_chain_number(s.chain_number()), Some(s));
            assert_eq!(
                serde_json::to_value(s).expect("serialises"),
                serde_json::Value::String(s.as_str().into())
            );
        }
    }
}
