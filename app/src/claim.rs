//! Claim documents: what a practitioner bills an insurer for one encounter — service lines with
//! codes, dates and amounts — as a small versioned JSON document. It travels as an encrypted record
//! of the Claims category (envelope kind `Claim`); the chain sees only its record (the claim's
//! `documentRecordId`, whose anchor holds the ciphertext hash) and the total. Also the reasons a claim waits for the insurer, said for
//! people, and the CSV an insurer exports.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use crate::entry::is_date;
use crate::format::{ether, parse_ether, AmountError};

/// The media type of a claim document inside the envelope's encrypted metadata.
pub const MEDIA_TYPE: &str = "application/vnd.medledger.claim+json";

/// The document's version.
pub const CLAIM_VERSION: u32 = 1;

/// At most this many service lines per claim.
pub const MAX_LINES: usize = 50;

/// One billed service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceLine {
    /// Procedure or service code (e.g. CPT/ICD/local tariff code).
    pub code: String,
    /// What was done.
    pub description: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Wei, decimal.
    pub amount_wei: String,
}

/// A claim document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimDocument {
    /// [`CLAIM_VERSION`].
    pub version: u32,
    /// The encounter's date, `YYYY-MM-DD`.
    pub encounter_date: String,
    /// Diagnosis or reason for the encounter.
    pub diagnosis: String,
    /// The services billed.
    pub services: Vec<ServiceLine>,
    /// Sum of the lines, wei, decimal (what is claimed on chain).
    pub total_wei: String,
}

/// A service line as typed in the form (amount in ETH).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    /// Code.
    pub code: String,
    /// Description.
    pub description: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// ETH, decimal.
    pub amount_eth: String,
}

/// What is wrong with a claim form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// No service lines.
    #[error("add at least one service")]
    NoServices,
    /// Too many lines.
    #[error("at most {MAX_LINES} services per claim")]
    TooManyServices,
    /// A line without a code.
    #[error("service {0}: the code is required")]
    NoCode(usize),
    /// A bad date.
    #[error("{0}: write the date as YYYY-MM-DD, not in the future")]
    BadDate(String),
    /// A bad amount.
    #[error("service {line}: {source}")]
    Amount {
        /// 1-based line.
        line: usize,
        /// Why.
        source: AmountError,
    },
    /// A zero amount.
    #[error("service {0}: the amount must be more than zero")]
    ZeroAmount(usize),
    /// The total does not fit the contract's uint128.
    #[error("the total is too large")]
    TooLarge,
    /// Not a claim document.
    #[error("not a medledger claim document: {0}")]
    Format(String),
}

impl ClaimDocument {
    /// Builds and checks a document from the form; `today` is `YYYY-MM-DD`.
    pub fn from_form(
        encounter_date: &str,
        diagnosis: &str,
        lines: &[LineInput],
        today: &str,
    ) -> Result<Self, ClaimError> {
        if !is_date(encounter_date) || encounter_date > today {
            return Err(ClaimError::BadDate("encounter date".into()));
        }
        if lines.is_empty() {
            return Err(ClaimError::NoServices);
        }
        if lines.len() > MAX_LINES {
            return Err(ClaimError::TooManyServices);
        }
        let mut total = U256::ZERO;
        let mut services = Vec::with_capacity(lines.len());
        for (i, l) in lines.iter().enumerate() {
            let n = i + 1;
            if l.code.trim().is_empty() {
                return Err(ClaimError::NoCode(n));
            }
            let date = if l.date.is_empty() {
                encounter_date
            } else {
                l.date.as_str()
            };
            if !is_date(date) || date > today {
                return Err(ClaimError::BadDate(format!("service {n}")));
            }
            let wei = parse_ether(&l.amount_eth)
                .map_err(|source| ClaimError::Amount { line: n, source })?;
            if wei.is_zero() {
                return Err(ClaimError::ZeroAmount(n));
            }
            total += wei;
            services.push(ServiceLine {
                code: l.code.trim().into(),
                description: l.description.trim().into(),
                date: date.into(),
                amount_wei: wei.to_string(),
            });
        }
        if total > U256::from(u128::MAX) {
            return Err(ClaimError::TooLarge);
        }
        Ok(Self {
            version: CLAIM_VERSION,
            encounter_date: encounter_date.into(),
            diagnosis: diagnosis.trim().into(),
            services,
            total_wei: total.to_string(),
        })
    }

    /// The total as the contract's `uint128`.
    pub fn total(&self) -> u128 {
        self.total_wei.parse().unwrap_or(0)
    }

    /// The JSON bytes that get encrypted.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Reads a decrypted document, checking the total is the sum of its lines.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ClaimError> {
        let doc: ClaimDocument =
            serde_json::from_slice(bytes).map_err(|e| ClaimError::Format(e.to_string()))?;
        if doc.version != CLAIM_VERSION {
            return Err(ClaimError::Format(format!("version {}", doc.version)));
        }
        let mut sum = U256::ZERO;
        for s in &doc.services {
            sum += s
                .amount_wei
                .parse::<U256>()
                .map_err(|_| ClaimError::Format("a service amount is not a number".into()))?;
        }
        if doc.total_wei.parse::<U256>().ok() != Some(sum) {
            return Err(ClaimError::Format(
                "the total is not the sum of the services".into(),
            ));
        }
        Ok(doc)
    }

    /// Label/value pairs for display.
    pub fn fields(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("Encounter".to_string(), self.encounter_date.clone()),
            ("Diagnosis".to_string(), self.diagnosis.clone()),
        ];
        for s in &self.services {
            let amount = s.amount_wei.parse().map(ether).unwrap_or_default();
            out.push((
                format!("{} ({})", s.code, s.date),
                format!("{} — {amount}", s.description),
            ));
        }
        out.push((
            "Total".to_string(),
            self.total_wei.parse().map(ether).unwrap_or_default(),
        ));
        out
    }
}

/// Why the contract left a claim for the insurer (`PendingReason`), said for people.
pub fn pending_reason(reason: u8) -> &'static str {
    match reason {
        1 => "not settled automatically: the policy does not cover this category",
        2 => "not settled automatically: the amount is above the policy's per-claim limit",
        3 => "not settled automatically: it would exceed the patient's annual limit under this policy",
        4 => "not settled automatically: the policy does not hold enough free funds",
        _ => "waiting for the insurer",
    }
}

/// How a claim's state reads: its status as the escrow indexed it (`submitted`, `pending-review`,
/// `approved`, `denied`, `paid`), whether the contract settled it on submission, its payout and
/// why it waits.
pub fn status_text(
    status: &str,
    automatic: Option<bool>,
    payout: Option<U256>,
    pending: Option<u8>,
) -> String {
    let payout = payout.map(ether).unwrap_or_default();
    match status {
        "paid" if automatic == Some(true) => {
            format!("paid automatically by the contract: {payout}")
        }
        "paid" => format!("paid: {payout}"),
        "approved" => format!("approved for {payout}, awaiting payment"),
        "denied" => "denied by the insurer".to_string(),
        "pending-review" | "submitted" => pending_reason(pending.unwrap_or(0)).to_string(),
        other => other.to_string(),
    }
}

/// One claim row for the CSV export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// Claim id.
    pub claim_id: String,
    /// Submitted, unix.
    pub submitted_at: u64,
    /// Patient address.
    pub patient: String,
    /// Practitioner address.
    pub practitioner: String,
    /// Category number.
    pub category: u8,
    /// Claimed, wei.
    pub amount_wei: String,
    /// State.
    pub status: String,
    /// Paid or approved, wei.
    pub payout_wei: String,
    /// Why it waited, if it did.
    pub pending_reason: String,
}

/// The insurer's CSV export (RFC 4180; every field quoted; amounts in wei so nothing is rounded).
pub fn to_csv(rows: &[CsvRow]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from(
        "claim_id,submitted_at_utc,patient,practitioner,category,amount_wei,status,payout_wei,pending_reason\r\n",
    );
    for r in rows {
        let fields = [
            r.claim_id.clone(),
            crate::format::datetime(r.submitted_at),
            r.patient.clone(),
            r.practitioner.clone(),
            r.category.to_string(),
            r.amount_wei.clone(),
            r.status.clone(),
            r.payout_wei.clone(),
            r.pending_reason.clone(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| quote(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

/// How an opened claim document compares with the claim the chain holds. The contract checks
/// whose record the document is, not what it says; the insurer's review says when the two differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentCheck {
    /// A claim document whose total is the amount claimed.
    Matches,
    /// A claim document whose total is not the amount claimed.
    TotalDiffers {
        /// The document's total, wei.
        document: U256,
        /// The amount on chain, wei.
        claimed: U256,
    },
    /// Not a readable claim document.
    Unreadable(String),
}

impl DocumentCheck {
    /// Compares a decrypted record (its media type and bytes) with the amount claimed on chain.
    pub fn of(media_type: &str, bytes: Option<&[u8]>, claimed: U256) -> Self {
        if media_type != MEDIA_TYPE {
            return Self::Unreadable(format!("it is a {media_type} record"));
        }
        let Some(bytes) = bytes else {
            return Self::Unreadable("it is too large to be one".into());
        };
        let doc = match ClaimDocument::from_bytes(bytes) {
            Ok(d) => d,
            Err(e) => return Self::Unreadable(e.to_string()),
        };
        // from_bytes has checked that the total parses and is the sum of the lines.
        let document = doc.total_wei.parse::<U256>().unwrap_or_default();
        if document == claimed {
            Self::Matches
        } else {
            Self::TotalDiffers { document, claimed }
        }
    }

    /// What to offer the reviewer to approve: the document's total when it is below the amount
    /// claimed (the contract lets an insurer approve less, never more).
    pub fn suggested_payout(&self) -> Option<U256> {
        match self {
            Self::TotalDiffers { document, claimed }
                if document < claimed && !document.is_zero() =>
            {
                Some(*document)
            }
            _ => None,
        }
    }

    /// What the reviewer is told: `Ok` when the document supports the claim.
    pub fn verdict(&self) -> Result<String, String> {
        match self {
            Self::Matches => {
                Ok("Claim document opened and verified; its total is the amount claimed.".into())
            }
            Self::TotalDiffers { document, claimed } => Err(format!(
                "The claim document's services total {} but {} is claimed: check before approving.",
                ether(*document),
                ether(*claimed)
            )),
            Self::Unreadable(why) => Err(format!(
                "This claim's document is not a claim document ({why}): check before approving."
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(code: &str, amount: &str) -> LineInput {
        LineInput {
            code: code.into(),
            description: "consultation".into(),
            date: String::new(),
            amount_eth: amount.into(),
        }
    }

    /// Two services, 0.15 + 0.05 ETH.
    fn asthma_visit() -> ClaimDocument {
        ClaimDocument::from_form(
            "2026-11-20",
            "J45 asthma",
            &[line("99213", "0.15"), line("94010", "0.05")],
            "2026-11-25",
        )
        .expect("valid")
    }

    #[test]
    fn a_claim_state_reads_as_what_happened_to_it() {
        let eth = |s: &str| parse_ether(s).ok();
        assert_eq!(
            status_text("paid", Some(true), eth("0.4"), None),
            "paid automatically by the contract: 0.4 ETH"
        );
        assert_eq!(
            status_text("paid", Some(false), eth("1"), None),
            "paid: 1 ETH"
        );
        assert_eq!(
            status_text("approved", None, eth("0.5"), None),
            "approved for 0.5 ETH, awaiting payment"
        );
        assert_eq!(
            status_text("denied", None, None, None),
            "denied by the insurer"
        );
        assert_eq!(
            status_text("pending-review", None, None, Some(2)),
            pending_reason(2)
        );
        assert_eq!(
            status_text("submitted", None, None, None),
            pending_reason(0)
        );
        assert_eq!(
            status_text("something-new", None, None, None),
            "something-new"
        );
    }

    #[test]
    fn the_review_says_when_a_document_does_not_support_its_claim() {
        let bytes = asthma_visit().to_bytes();
        let check = DocumentCheck::of(
            MEDIA_TYPE,
            Some(&bytes),
            U256::from(200_000_000_000_000_000u128),
        );
        assert_eq!(check, DocumentCheck::Matches);
        assert!(check.verdict().is_ok());

        let check = DocumentCheck::of(
            MEDIA_TYPE,
            Some(&bytes),
            U256::from(900_000_000_000_000_000u128),
        );
        assert_eq!(
            check,
            DocumentCheck::TotalDiffers {
                document: U256::from(200_000_000_000_000_000u128),
                claimed: U256::from(900_000_000_000_000_000u128)
            }
        );
        let said = check.verdict().expect_err("a mismatch is a warning");
        assert!(said.contains("0.2") && said.contains("0.9"), "{said}");
        assert_eq!(
            check.suggested_payout(),
            Some(U256::from(200_000_000_000_000_000u128)),
            "offer the document's total when it is less"
        );
        let over = DocumentCheck::of(
            MEDIA_TYPE,
            Some(&bytes),
            U256::from(100_000_000_000_000_000u128),
        );
        assert!(over.verdict().is_err());
        assert_eq!(
            over.suggested_payout(),
            None,
            "never offer more than claimed"
        );
        assert_eq!(DocumentCheck::Matches.suggested_payout(), None);

        assert!(matches!(
            DocumentCheck::of(
                "image/png",
                Some(&bytes),
                U256::from(200_000_000_000_000_000u128)
            ),
            DocumentCheck::Unreadable(_)
        ));
        assert!(matches!(
            DocumentCheck::of(MEDIA_TYPE, None, U256::from(200_000_000_000_000_000u128)),
            DocumentCheck::Unreadable(_)
        ));
        assert!(matches!(
            DocumentCheck::of(
                MEDIA_TYPE,
                Some(b"{}"),
                U256::from(200_000_000_000_000_000u128)
            ),
            DocumentCheck::Unreadable(_)
        ));
    }

    #[test]
    fn a_form_becomes_a_document_whose_total_is_the_sum() {
        let doc = asthma_visit();
        assert_eq!(doc.total(), 200_000_000_000_000_000);
        assert_eq!(doc.services[0].date, "2026-11-20");
        let back = ClaimDocument::from_bytes(&doc.to_bytes()).expect("reads back");
        assert_eq!(back, doc);
        assert_eq!(
            back.fields().last().map(|f| f.1.clone()),
            Some("0.2 ETH".into())
        );
    }

    #[test]
    fn forms_with_mistakes_are_refused_with_the_line() {
        let today = "2026-11-25";
        assert_eq!(
            ClaimDocument::from_form("2026-11-20", "", &[], today),
            Err(ClaimError::NoServices)
        );
        assert_eq!(
            ClaimDocument::from_form("2026-11-20", "", &[line(" ", "1")], today),
            Err(ClaimError::NoCode(1))
        );
        assert_eq!(
            ClaimDocument::from_form("2026-11-20", "", &[line("a", "1"), line("b", "0")], today),
            Err(ClaimError::ZeroAmount(2))
        );
        assert!(matches!(
            ClaimDocument::from_form("2026-11-20", "", &[line("a", "x")], today),
            Err(ClaimError::Amount { line: 1, .. })
        ));
        assert!(matches!(
            ClaimDocument::from_form("2027-01-01", "", &[line("a", "1")], today),
            Err(ClaimError::BadDate(_))
        ));
    }

    #[test]
    fn a_document_whose_total_was_altered_is_refused() {
        let mut doc = ClaimDocument::from_form("2026-11-20", "", &[line("a", "1")], "2026-11-25")
            .expect("ok");
        doc.total_wei = "2".into();
        assert!(ClaimDocument::from_bytes(&doc.to_bytes()).is_err());
    }

    #[test]
    fn csv_quotes_every_field() {
        let csv = to_csv(&[CsvRow {
            claim_id: "0x01".into(),
            submitted_at: 0,
            patient: "0xP".into(),
            practitioner: "0xD".into(),
            category: 7,
            amount_wei: "10".into(),
            status: "pending-review".into(),
            payout_wei: "".into(),
            pending_reason: pending_reason(2).into(),
        }]);
        let mut lines = csv.split("\r\n");
        assert!(lines.next().is_some_and(|h| h.starts_with("claim_id,")));
        assert_eq!(
            lines.next(),
            Some("\"0x01\",\"1970-01-01 00:00 UTC\",\"0xP\",\"0xD\",\"7\",\"10\",\"pending-review\",\"\",\"not settled automatically: the amount is above the policy's per-claim limit\"")
        );
        assert!(pending_reason(4).contains("funds"));
    }
}
