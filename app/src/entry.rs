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
    /// A measurement in another unit could not be read.
    #[error("{field} must be written as {example}")]
    BadUnit {
        /// The field's label.
        field: &'static str,
        /// How to write it.
        example: &'static str,
    },
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

    /// What the entry is about, for a heading: its condition (with since when), else what kind of
    /// details it holds.
    pub fn title(&self) -> String {
        let condition = self.condition.trim();
        let since = self.since.trim();
        match (condition.is_empty(), since.is_empty()) {
            (false, false) => format!("{condition} — since {since}"),
            (false, true) => condition.to_string(),
            _ if !self.description.trim().is_empty() => {
                let first = self.description.trim().lines().next().unwrap_or("");
                let mut short: String = first.chars().take(60).collect();
                if first.chars().count() > 60 {
                    short.push('…');
                }
                short
            }
            _ => "Personal details".to_string(),
        }
    }

    /// One line under the title: whose entry, and the measurements it holds.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.name.trim().to_string()];
        if !self.birth_date.is_empty() {
            parts.push(format!("born {}", self.birth_date));
        }
        if !self.blood_group.is_empty() {
            parts.push(format!("blood group {}", self.blood_group));
        }
        if !self.weight_kg.trim().is_empty() {
            parts.push(format!("{} kg", self.weight_kg.trim()));
        }
        if !self.height_cm.trim().is_empty() {
            parts.push(format!("{} cm", self.height_cm.trim()));
        }
        parts.retain(|p| !p.is_empty());
        parts.join(" · ")
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

    /// The entry as the form was filled in: the weight and height typed in `weight` and `height`
    /// units become kilograms and centimetres, then every field is checked ([`Self::validate`]).
    pub fn from_form(
        mut self,
        weight: WeightUnit,
        height: HeightUnit,
        today: &str,
    ) -> Result<Self, EntryError> {
        self.weight_kg = weight_in_kg(&self.weight_kg, weight)?;
        self.height_cm = height_in_cm(&self.height_cm, height)?;
        self.validate(today)?;
        Ok(self)
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

/// A unit a weight may be typed in; entries always store kilograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightUnit {
    /// Kilograms.
    Kg,
    /// Pounds.
    Lb,
}

/// A unit a height may be typed in; entries always store centimetres.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeightUnit {
    /// Centimetres.
    Cm,
    /// Feet and inches: `5'7"`, `5 ft 7 in`, `5 7` or `5'`.
    FeetInches,
}

const KG_PER_LB: f64 = 0.453_592_37;
const CM_PER_INCH: f64 = 2.54;

/// Kilograms (one decimal, as typed forms keep them) from a weight typed in `unit`; empty stays
/// empty (the field is optional), and anything unreadable is an error naming the format.
pub fn weight_in_kg(typed: &str, unit: WeightUnit) -> Result<String, EntryError> {
    let typed = typed.trim();
    if typed.is_empty() || unit == WeightUnit::Kg {
        return Ok(typed.to_string());
    }
    let lb = typed
        .trim_end_matches("lbs")
        .trim_end_matches("lb")
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or(EntryError::BadUnit {
            field: "weight",
            example: "pounds, e.g. 135 or 135.5",
        })?;
    Ok(one_decimal(lb * KG_PER_LB))
}

/// Centimetres (one decimal) from a height typed in `unit`; see [`weight_in_kg`].
pub fn height_in_cm(typed: &str, unit: HeightUnit) -> Result<String, EntryError> {
    let typed = typed.trim();
    if typed.is_empty() || unit == HeightUnit::Cm {
        return Ok(typed.to_string());
    }
    let bad = EntryError::BadUnit {
        field: "height",
        example: "feet and inches, e.g. 5'7\" or 5 ft 7 in",
    };
    // Every separator people write between feet and inches becomes a space.
    let spaced: String = typed
        .replace("ft", " ")
        .replace("in", " ")
        .chars()
        .map(|c| {
            if matches!(c, '\'' | '"' | '′' | '″') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let numbers: Vec<f64> = spaced
        .split_whitespace()
        .map(|n| n.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad.clone())?;
    let (feet, inches) = match numbers.as_slice() {
        [feet] => (*feet, 0.0),
        [feet, inches] if *inches < 12.0 => (*feet, *inches),
        _ => return Err(bad),
    };
    if !(feet.is_finite() && inches.is_finite())
        || feet < 0.0
        || inches < 0.0
        || feet + inches == 0.0
    {
        return Err(bad);
    }
    Ok(one_decimal((feet * 12.0 + inches) * CM_PER_INCH))
}

fn one_decimal(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
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
    #[test]
    fn pounds_and_feet_become_kilograms_and_centimetres() {
        assert_eq!(weight_in_kg("135.6", WeightUnit::Lb).as_deref(), Ok("61.5"));
        assert_eq!(
            weight_in_kg("200 lbs", WeightUnit::Lb).as_deref(),
            Ok("90.7")
        );
        assert_eq!(
            weight_in_kg(" 61.5 ", WeightUnit::Kg).as_deref(),
            Ok("61.5")
        );
        assert_eq!(weight_in_kg("", WeightUnit::Lb).as_deref(), Ok(""));
        assert!(matches!(
            weight_in_kg("heavy", WeightUnit::Lb),
            Err(EntryError::BadUnit { .. })
        ));
        assert!(weight_in_kg("-3", WeightUnit::Lb).is_err());
        for typed in ["5'7\"", "5 ft 7 in", "5 7", "5′7″", "5' 7"] {
            assert_eq!(
                height_in_cm(typed, HeightUnit::FeetInches).as_deref(),
                Ok("170.2"),
                "{typed}"
            );
        }
        assert_eq!(
            height_in_cm("6'", HeightUnit::FeetInches).as_deref(),
            Ok("182.9")
        );
        assert_eq!(height_in_cm("170", HeightUnit::Cm).as_deref(), Ok("170"));
        for bad in ["5 13", "tall", "5 7 2", "0"] {
            assert!(height_in_cm(bad, HeightUnit::FeetInches).is_err(), "{bad}");
        }
        // The converted values pass the entry's own range checks.
        let mut e = StructuredEntry::new();
        e.name = "Ada".into();
        e.weight_kg = weight_in_kg("135.6", WeightUnit::Lb).expect("pounds");
        e.height_cm = height_in_cm("5'7", HeightUnit::FeetInches).expect("feet");
        assert_eq!(e.validate("2026-01-01"), Ok(()));
    }

    #[test]
    fn a_filled_in_form_is_converted_then_checked() {
        let mut typed = StructuredEntry::new();
        typed.name = "Ada".into();
        typed.weight_kg = "135.6".into();
        typed.height_cm = "5'7\"".into();
        let e = typed
            .clone()
            .from_form(WeightUnit::Lb, HeightUnit::FeetInches, "2026-01-01")
            .expect("a valid form");
        assert_eq!(
            (e.weight_kg.as_str(), e.height_cm.as_str()),
            ("61.5", "170.2")
        );
        // A unit the text does not read in is refused before the ranges are checked.
        let mut bad = typed.clone();
        bad.weight_kg = "heavy".into();
        assert!(matches!(
            bad.from_form(WeightUnit::Lb, HeightUnit::Cm, "2026-01-01"),
            Err(EntryError::BadUnit { .. })
        ));
        // The entry's own rules apply to what the form became.
        let mut early = typed;
        early.birth_date = "1990-02-28".into();
        early.since = "1989-06".into();
        assert_eq!(
            early.from_form(WeightUnit::Lb, HeightUnit::FeetInches, "2026-01-01"),
            Err(EntryError::SinceBeforeBirth)
        );
    }

    #[test]
    fn an_entry_is_titled_by_its_condition_and_summed_up_in_a_line() {
        let mut e = StructuredEntry::new();
        e.name = "Ada Lovelace".into();
        assert_eq!(e.title(), "Personal details");
        e.description = "Wheeze on exertion.\nSecond line.".into();
        assert_eq!(e.title(), "Wheeze on exertion.");
        e.condition = "Asthma".into();
        assert_eq!(e.title(), "Asthma");
        e.since = "2019-06".into();
        assert_eq!(e.title(), "Asthma — since 2019-06");
        e.blood_group = "AB-".into();
        e.weight_kg = "61.5".into();
        assert_eq!(e.summary(), "Ada Lovelace · blood group AB- · 61.5 kg");
    }

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
