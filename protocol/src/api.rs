//! Shapes of the escrow's HTTP API that the escrow and its clients share, typed once here so that
//! neither end spells a state as a bare string of its own.
//!
//! This module grows as the API's responses move onto shared types (issue 13); what is here is
//! used by the escrow's handlers and index alike.

use serde::{Deserialize, Serialize};

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
                serde_json::to_value(e).unwrap(),
                serde_json::Value::String(e.as_str().into())
            );
        }
        assert_eq!(AccountEvent::parse("deleted"), None);
    }
}
