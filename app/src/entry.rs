//! Structured entries: the fields of a patient record (the sample patient table of the original
//! design) as a small, versioned JSON document. It is encrypted like any file (envelope kind
//! `Structured`, media type [`MEDIA_TYPE`]); the escrow and the chain never see a field.

use serde::{Deserialize, Serialize};

/// The media type a structured entry travels under inside the envelope's encrypted metadata.
pub const MEDIA_TYPE: &str = "application/vnd.medledger.entry+json";

/// The document's version; a reader refuses versions it does not know rather than guess.
pub const ENTRY_VERSION: u32 = 1;

const MAX_TEXT: usize = 200;
const MAX_DESCRIPTION: usize = 4000;

/// Blood groups a form may choose.
pub const BLOOD_GROUPS: [&str; 9] = ["", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"];

/// One structured entry. Every field but `name` may be empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StructuredEntry {
    /// Document version ([`ENTRY_VERSION`]).
    pub version: u32,
    /// Patient's full name.
    pub name: String,
    /// `YYYY-MM-DD`, or empty.
    pub birth_date: String,
    /// Phone number.
    pub phone: String,
    /// Postal address.
    pub address: String,
    /// Kilograms, as typed (decimal), or empty.
    pub weight_kg: String,
    /// Centimetres, as typed (decimal), or empty.
    pub height_cm: String,
    /// One of [`BLOOD_GROUPS`].
    pub blood_group: String,
    /// Condition or diagnosis.
    pub condition: String,
    /// Free text.
    pub description: String,
    /// When the condition started, as precisely as known: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`
    /// (a year or a month is how people remember it), or empty.
    pub since: String,
}

/// What is wrong with an entry, said so a person can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// A required field is empty.
    #[error("{0} is required")]
    Required(&'static str),
    /// A field is longer than allowed.
    #[error("{field} is too long (at most {max} characters)")]
    TooLong {
        /// The field's label.
        field: &'static str,
        /// Its limit.
        max: usize,
    },
    /// A date is not a real `YYYY-MM-DD` date.
    #[error("{0} must be a date written YYYY-MM-DD")]
    BadDate(&'static str),
    /// A measurement is not a positive number in range.
    #[error("{field} must be a number between {min} and {max}")]
    BadNumber {
        /// The field's label.
        field: &'static str,
        /// Lowest allowed.
        min: u32,
        /// Highest allowed.
        max: u32,
    },
    /// Not one of the blood groups.
    #[error("blood group must be one of A+, A-, B+, B-, AB+, AB-, O+, O-")]
    BadBloodGroup,
    /// A date is in the future where that cannot be.
    #[error("{0} cannot be in the future")]
    Future(&'static str),
    /// "Since" is not a year, a month or a date.
    #[error("since must be a year (2019), a month (2019-06) or a date (2019-06-15)")]
    BadSince,
    /// "Since" ends before the birth date.
    #[error("since cannot be before the birth date")]
    SinceBeforeBirth,
    /// The bytes are not an entry this version reads.
    #[error("not a medledger structured entry: {0}")]
    Format(String),
}

impl StructuredEntry {
    /// An empty entry of the current version.
    pub fn new() -> Self {
        Self {
            version: ENTRY_VERSION,
            ..Self::default()
        }
    }

    /// Checks every field; `today` is `YYYY-MM-DD` (dates after it are refused).
    pub fn validate(&self, today: &str) -> Result<(), EntryError> {
        if self.name.trim().is_empty() {
            return Err(EntryError::Required("name"));
        }
        for (field, value) in [
            ("name", &self.name),
            ("phone", &self.phone),
            ("address", &self.address),
            ("condition", &self.condition),
        ] {
            if value.chars().count() > MAX_TEXT {
                return Err(EntryError::TooLong {
                    field,
                    max: MAX_TEXT,
                });
            }
        }
        if self.description.chars().count() > MAX_DESCRIPTION {
            return Err(EntryError::TooLong {
                field: "description",
                max: MAX_DESCRIPTION,
            });
        }
        if !self.birth_date.is_empty() {
            if !is_date(&self.birth_date) {
                return Err(EntryError::BadDate("birth date"));
            }
            if self.birth_date.as_str() > today {
                return Err(EntryError::Future("birth date"));
            }
        }
        self.check_since(today)?;
        check_number("weight (kg)", &self.weight_kg, 1, 700)?;
        check_number("height (cm)", &self.height_cm, 20, 300)?;
        if !BLOOD_GROUPS.contains(&self.blood_group.as_str()) {
            return Err(EntryError::BadBloodGroup);
        }
        Ok(())
    }

    /// "Since" is a year, a month or a date; its first day is not after `today`, and its last
    /// day is not before the birth date.
    fn check_since(&self, today: &str) -> Result<(), EntryError> {
        let since = self.since.trim();
        if since.is_empty() {
            return Ok(());
        }
        let (first, last) = partial_date_span(since).ok_or(EntryError::BadSince)?;
        if first.as_str() > today {
            return Err(EntryError::Future("since"));
        }
        if !self.birth_date.is_empty() && last.as_str() < self.birth_date.as_str() {
            return Err(EntryError::SinceBeforeBirth);
        }
        Ok(())
    }

    /// The JSON bytes that get encrypted.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Reads a decrypted entry; refuses unknown versions and fields.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EntryError> {
        let entry: StructuredEntry =
            serde_json::from_slice(bytes).map_err(|e| EntryError::Format(e.to_string()))?;
        if entry.version != ENTRY_VERSION {
            return Err(EntryError::Format(format!(
                "version {} (this app reads {ENTRY_VERSION})",
                entry.version
            )));
        }
        Ok(entry)
    }

    /// Label and value of every non-empty field, in form order, for display.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        [
            ("Name", &self.name),
            ("Birth date", &self.birth_date),
            ("Phone", &self.phone),
            ("Address", &self.address),
            ("Weight (kg)", &self.weight_kg),
            ("Height (cm)", &self.height_cm),
            ("Blood group", &self.blood_group),
            ("Condition", &self.condition),
            ("Since", &self.since),
            ("Description", &self.description),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect()
    }
}

fn check_number(field: &'static str, value: &str, min: u32, max: u32) -> Result<(), EntryError> {
    if value.trim().is_empty() {
        return Ok(());
    }
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= f64::from(min) && v <= f64::from(max) => Ok(()),
        _ => Err(EntryError::BadNumber { field, min, max }),
    }
}

/// The first and last day (`YYYY-MM-DD`) of a year `YYYY`, a month `YYYY-MM` or a date; `None`
/// for anything else.
pub fn partial_date_span(s: &str) -> Option<(String, String)> {
    match s.len() {
        4 => {
            let year: u32 = s.parse().ok()?;
            (year >= 1800).then(|| (format!("{s}-01-01"), format!("{s}-12-31")))
        }
        7 => {
            let first = format!("{s}-01");
            if !is_date(&first) {
                return None;
            }
            // The month's last day: the largest of 31..28 that is a date.
            let last = (28..=31)
                .rev()
                .map(|d| format!("{s}-{d}"))
                .find(|d| is_date(d))?;
            Some((first, last))
        }
        10 if is_date(s) => Some((s.to_string(), s.to_string())),
        _ => None,
    }
}

/// A real calendar date written `YYYY-MM-DD`.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    if !(1..=12).contains(&m) || d == 0 || y < 1800 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StructuredEntry {
        StructuredEntry {
            name: "Ada Lovelace".into(),
            birth_date: "1990-02-28".into(),
            phone: "+44 20 7946 0000".into(),
            address: "12 St James's Square, London".into(),
            weight_kg: "61.5".into(),
            height_cm: "168".into(),
            blood_group: "AB-".into(),
            condition: "Asthma".into(),
            description: "Mild, seasonal.".into(),
            since: "2001-04-01".into(),
            ..StructuredEntry::new()
        }
    }

    #[test]
    fn a_full_entry_round_trips_through_its_bytes() {
        let e = sample();
        assert_eq!(e.validate("2026-11-25"), Ok(()));
        let back = StructuredEntry::from_bytes(&e.to_bytes()).expect("reads back");
        assert_eq!(back, e);
        assert_eq!(back.fields().len(), 10);
        assert_eq!(back.fields()[0], ("Name", "Ada Lovelace".to_string()));
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        let today = "2026-11-25";
        let with = |f: fn(&mut StructuredEntry)| {
            let mut e = sample();
            f(&mut e);
            e.validate(today)
        };
        assert_eq!(
            with(|e| e.name = "  ".into()),
            Err(EntryError::Required("name"))
        );
        assert_eq!(
            with(|e| e.birth_date = "1990-02-30".into()),
            Err(EntryError::BadDate("birth date"))
        );
        assert_eq!(
            with(|e| e.since = "2030-01-01".into()),
            Err(EntryError::Future("since"))
        );
        assert!(matches!(
            with(|e| e.weight_kg = "heavy".into()),
            Err(EntryError::BadNumber { .. })
        ));
        assert!(matches!(
            with(|e| e.height_cm = "5".into()),
            Err(EntryError::BadNumber { .. })
        ));
        assert_eq!(
            with(|e| e.blood_group = "C+".into()),
            Err(EntryError::BadBloodGroup)
        );
        assert!(matches!(
            with(|e| e.description = "x".repeat(4001)),
            Err(EntryError::TooLong { .. })
        ));
        assert_eq!(with(|e| e.weight_kg = String::new()), Ok(()));
    }

    #[test]
    fn unknown_versions_and_fields_are_refused() {
        let mut e = sample();
        e.version = 2;
        assert!(StructuredEntry::from_bytes(&e.to_bytes()).is_err());
        let text = String::from_utf8(sample().to_bytes())
            .expect("utf-8")
            .replacen('{', "{\"ssn\": \"1\",", 1);
        assert!(StructuredEntry::from_bytes(text.as_bytes()).is_err());
        assert!(StructuredEntry::from_bytes(b"%PDF-1.7").is_err());
    }

    #[test]
    fn since_is_a_year_a_month_or_a_date_after_birth_and_not_ahead() {
        let today = "2026-11-25";
        let since = |birth: &str, since: &str| {
            let mut e = sample();
            e.birth_date = birth.into();
            e.since = since.into();
            e.validate(today)
        };
        for ok in [
            "2019",
            "2019-06",
            "2019-06-15",
            "2026",
            "2026-11",
            "1990",
            "1990-02",
        ] {
            assert_eq!(since("1990-02-28", ok), Ok(()), "{ok}");
        }
        assert_eq!(since("", "1850"), Ok(()), "no birth date: no lower bound");
        for bad in ["19", "2019-6", "2019-13", "June 2019", "2019-06-31", "1700"] {
            assert_eq!(since("1990-02-28", bad), Err(EntryError::BadSince), "{bad}");
        }
        assert_eq!(
            since("1990-02-28", "2027"),
            Err(EntryError::Future("since"))
        );
        assert_eq!(
            since("1990-02-28", "2026-12"),
            Err(EntryError::Future("since"))
        );
        assert_eq!(
            since("1990-02-28", "1989"),
            Err(EntryError::SinceBeforeBirth)
        );
        assert_eq!(
            since("1990-02-28", "1990-01"),
            Err(EntryError::SinceBeforeBirth)
        );
        assert_eq!(
            since("1990-02-28", "1990-02-27"),
            Err(EntryError::SinceBeforeBirth)
        );
        assert_eq!(
            partial_date_span("2024-02"),
            Some(("2024-02-01".into(), "2024-02-29".into()))
        );
        assert_eq!(
            partial_date_span("2023-02"),
            Some(("2023-02-01".into(), "2023-02-28".into()))
        );
    }

    #[test]
    fn dates_follow_the_calendar() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2024-13-01"));
        assert!(!is_date("2024-1-01"));
        assert!(!is_date("1700-01-01"));
    }
}
