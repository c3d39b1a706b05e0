//! One access attempt as the risk model sees it: the raw fields its features come from, never a
//! record's contents, and the JSON Lines format that `medledger-risk` reads and writes (one
//! attempt a line, in time order; docs/risk.md, "Access log format").

use std::io::{BufRead, Write};

use alloy_primitives::Address;
use medledger_protocol::contract::Category;
use serde::{Deserialize, Serialize};

/// Who the reader is to the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A patient reading their own records.
    Patient,
    /// A verified practitioner.
    Practitioner,
    /// A verified insurer.
    Insurer,
}

/// What an access is, in a labelled log: normal, or one of the anomalies the model is meant to
/// catch (docs/risk.md, "The synthetic hospital").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    /// Ordinary work.
    Normal,
    /// A first look at patients outside one's care, whose consent is old and broad.
    Snooping,
    /// Many records of many patients within minutes.
    BulkExport,
    /// Reads far outside the reader's shift.
    OffHours,
    /// Categories the reader's specialty never needs.
    OutOfSpecialty,
    /// A known account used by someone else: other hours, patients and categories.
    StolenCredential,
    /// Emergency access used again and again by someone who is not in emergency care.
    RepeatedEmergency,
}

impl Label {
    /// The anomalous kinds, in report order.
    pub const ANOMALIES: [Label; 6] = [
        Label::Snooping,
        Label::BulkExport,
        Label::OffHours,
        Label::OutOfSpecialty,
        Label::StolenCredential,
        Label::RepeatedEmergency,
    ];

    /// The name used in the JSON Lines format and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Label::Normal => "normal",
            Label::Snooping => "snooping",
            Label::BulkExport => "bulk-export",
            Label::OffHours => "off-hours",
            Label::OutOfSpecialty => "out-of-specialty",
            Label::StolenCredential => "stolen-credential",
            Label::RepeatedEmergency => "repeated-emergency",
        }
    }

    /// Whether this is one of the anomalies.
    pub fn is_anomaly(self) -> bool {
        self != Label::Normal
    }
}

/// One access attempt: a release or a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Access {
    /// When, in Unix seconds.
    pub at: u64,
    /// Who asked.
    pub reader: Address,
    /// What the reader is.
    pub role: Role,
    /// Whose record.
    pub patient: Address,
    /// The record's category (its on-chain number).
    #[serde(with = "category_number")]
    pub category: Category,
    /// Released (true) or refused (false).
    pub granted: bool,
    /// Released inside an emergency window rather than under consent.
    pub emergency: bool,
    /// The record's size in bytes.
    pub bytes: u64,
    /// When the grant the reader holds from this patient began (Unix seconds); absent without
    /// one (a patient's own record, an emergency, a refusal for want of consent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_since: Option<u64>,
    /// When the record was anchored (Unix seconds).
    pub record_created: u64,
    /// In a labelled log: what this access is. A deployment's own log has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
}

mod category_number {
    use medledger_protocol::contract::Category;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(c: &Category, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(c.number())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Category, D::Error> {
        let n = u8::deserialize(d)?;
        Category::from_number(n).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "category {n} is not one of ours (0 to {})",
                Category::ALL.len() - 1
            ))
        })
    }
}

/// Why an access log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A line is not an access in the documented format.
    #[error("line {line}: not an access: {message}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A line is earlier than the one before it (features are computed in time order).
    #[error("line {line}: at {at} is earlier than the line before it ({previous}); sort the log by time")]
    OutOfOrder {
        /// 1-based line number.
        line: usize,
        /// Its time.
        at: u64,
        /// The previous line's time.
        previous: u64,
    },
    /// No access at all.
    #[error("the log holds no access")]
    Empty,
}

/// Reads a JSON Lines access log (blank lines skipped), checking that it is in time order.
pub fn read_log(input: impl BufRead) -> Result<Vec<Access>, LogError> {
    let mut out: Vec<Access> = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let access: Access = serde_json::from_str(&line).map_err(|e| LogError::Malformed {
            line: i + 1,
            message: e.to_string(),
        })?;
        if let Some(previous) = out.last().map(|a| a.at) {
            if access.at < previous {
                return Err(LogError::OutOfOrder {
                    line: i + 1,
                    at: access.at,
                    previous,
                });
            }
        }
        out.push(access);
    }
    if out.is_empty() {
        return Err(LogError::Empty);
    }
    Ok(out)
}

/// Writes accesses as JSON Lines.
pub fn write_log(mut out: impl Write, accesses: &[Access]) -> Result<(), LogError> {
    for a in accesses {
        let line = serde_json::to_string(a).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(at: u64) -> Access {
        Access {
            at,
            reader: Address::repeat_byte(1),
            role: Role::Practitioner,
            patient: Address::repeat_byte(2),
            category: Category::Laboratory,
            granted: true,
            emergency: false,
            bytes: 4096,
            grant_since: Some(at - 86_400),
            record_created: at - 3_600,
            label: Some(Label::Snooping),
        }
    }

    #[test]
    fn a_log_round_trips_through_json_lines() {
        let log = vec![access(1_700_000_000), access(1_700_000_060)];
        let mut bytes = Vec::new();
        write_log(&mut bytes, &log).expect("write");
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(text.contains("\"category\":3"), "{text}");
        assert!(text.contains("\"label\":\"snooping\""), "{text}");
        assert!(text.contains("\"role\":\"practitioner\""), "{text}");
        assert_eq!(read_log(&bytes[..]).expect("read"), log);
    }

    #[test]
    fn bad_lines_are_named_by_number_and_cause() {
        let good = serde_json::to_string(&access(100_000)).expect("json");
        let cases = [
            (format!("{good}\nnot json\n"), "line 2: not an access"),
            (
                good.replace("\"category\":3", "\"category\":9"),
                "category 9 is not one of ours",
            ),
            (
                good.replace("\"granted\":true,", ""),
                "missing field `granted`",
            ),
            (
                good.replace("\"bytes\"", "\"size\""),
                "unknown field `size`",
            ),
            (
                format!(
                    "{}\n{}\n",
                    serde_json::to_string(&access(100_000)).expect("json"),
                    serde_json::to_string(&access(99_000)).expect("json")
                ),
                "line 2: at 99000 is earlier",
            ),
            ("\n\n".to_string(), "holds no access"),
        ];
        for (input, expected) in cases {
            let err = read_log(input.as_bytes()).expect_err(&input).to_string();
            assert!(err.contains(expected), "{err:?} should say {expected:?}");
        }
    }
}
