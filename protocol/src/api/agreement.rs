//! The licence agreement (EULA, docs/licensing.md "The agreement"): its versions as served
//! (`GET /api/agreement`), an account's signed acceptance (`POST /api/agreement`) and the
//! acceptances in the console's audit export. A version is published by the keccak256 hash of its
//! exact UTF-8 text; the acceptance signs that hash (identity::AgreementAcceptanceMessage).

use alloy_primitives::{keccak256, Address, B256};
use serde::{Deserialize, Serialize};

/// The hash a version of the agreement is published by: keccak256 of its exact UTF-8 text.
pub fn agreement_hash(text: &str) -> B256 {
    keccak256(text.as_bytes())
}

/// Where a signed-in account stands with the agreement (in `GET /api/auth/session`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgreementStatus {
    /// The version every account must have accepted.
    pub current: u32,
    /// The latest version this account accepted, if any.
    pub accepted: Option<u32>,
}

impl AgreementStatus {
    /// True until the account has accepted the current version: the escrow refuses everything
    /// but sign-in, the agreement and health until then (error `agreement-required`).
    pub fn needs_acceptance(&self) -> bool {
        self.accepted.is_none_or(|v| v < self.current)
    }
}

/// `GET /api/agreement`: the current version's text, and the caller's standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgreementText {
    /// Its version (1, 2, …).
    pub version: u32,
    /// [`agreement_hash`] of `text`: what an acceptance signs.
    pub text_hash: B256,
    /// The agreement, Markdown.
    pub text: String,
    /// The latest version the caller accepted, if any.
    pub accepted: Option<u32>,
}

/// Body of `POST /api/agreement`: the signed-in account's acceptance of the current version,
/// signed by its wallet over [`crate::identity::AgreementAcceptanceMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptAgreementBody {
    /// The version accepted: must be the current one.
    pub version: u32,
    /// The hash of the text accepted: must be the current version's.
    pub text_hash: B256,
    /// When (Unix seconds): at most a day behind the escrow's clock and five minutes ahead.
    pub accepted_at: u64,
    /// The 65-byte EIP-712 signature, 0x-hex.
    pub signature: String,
}

/// One stored acceptance (the answer of `POST /api/agreement`, and a line of the audit export).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgreementAcceptance {
    /// Who accepted.
    #[serde(with = "super::checksummed")]
    #[cfg_attr(feature = "schema", schemars(with = "Address"))]
    pub account: Address,
    /// The version.
    pub version: u32,
    /// The hash of the version's text.
    pub text_hash: B256,
    /// When, as signed (Unix seconds).
    pub accepted_at: u64,
    /// The account's EIP-712 signature, 0x-hex: anyone holding the text can check it.
    pub signature: String,
    /// The access-log entry that records it (anchored on chain with the log).
    pub log_seq: u64,
    /// When the escrow recorded it (the entry's time, Unix seconds).
    pub recorded_at: u64,
}

impl AgreementAcceptance {
    /// The acceptance as one line of the licence audit's CSV (`AUDIT_CSV_HEADER`): no block or
    /// log index (it is not a chain event), the time it was recorded, the organisation given by
    /// the caller's scope; the signed time is in the detail.
    pub fn csv_line(&self, organisation: Option<u32>) -> String {
        format!(
            ",,{},{},agreement-accepted,{},{},\"version={} textHash={} acceptedAt={} logSeq={} signature={}\"",
            self.recorded_at,
            organisation.map(|o| o.to_string()).unwrap_or_default(),
            self.account.to_checksum(None),
            self.account.to_checksum(None),
            self.version,
            self.text_hash,
            self.accepted_at,
            self.log_seq,
            self.signature
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_version_needs_acceptance_again() {
        let status = |accepted| AgreementStatus {
            current: 2,
            accepted,
        };
        assert!(status(None).needs_acceptance());
        assert!(status(Some(1)).needs_acceptance());
        assert!(!status(Some(2)).needs_acceptance());
    }

    #[test]
    fn the_hash_is_of_the_exact_text() {
        assert_ne!(agreement_hash("terms\n"), agreement_hash("terms"));
        assert_eq!(agreement_hash(""), alloy_primitives::KECCAK256_EMPTY);
    }

    #[test]
    fn an_acceptance_is_one_csv_line_of_the_audit_columns() {
        let a = AgreementAcceptance {
            account: Address::repeat_byte(0xab),
            version: 3,
            text_hash: B256::repeat_byte(1),
            accepted_at: 1_700_000_000,
            signature: "0x12".into(),
            log_seq: 9,
            recorded_at: 1_700_000_060,
        };
        let line = a.csv_line(Some(4));
        assert!(
            line.starts_with(",,1700000060,4,agreement-accepted,"),
            "{line}"
        );
        assert!(line.contains("acceptedAt=1700000000 "), "{line}");
        assert!(line.ends_with("logSeq=9 signature=0x12\""), "{line}");
        assert_eq!(line.split(',').count(), 8);
    }
}
