//! An access's score in words: which of its features set it apart from its nearest normal
//! accesses, said the way a patient or an admin would understand it ("first read of this
//! patient", "03:12, outside this reader's usual hours", "38 patients in the last hour").
//!
//! The departures come from the model ([`KnnModel::departures`]): the mean standardised
//! difference between the access and its nearest reference accesses (those the score's bounded
//! search found; for an access farther out than any normal one, the reference's mean), per
//! feature. A feature
//! is a reason only in its suspicious direction (more reads, a first read, a rarer hour for this
//! reader), and features that say the same thing (the hour's sine, cosine and the reader's share
//! of that hour) give one reason.

use medledger_protocol::contract::Category;

use crate::access::Access;
use crate::features::{Observed, DIM};
use crate::model::{KnnModel, Scored};

/// At most this many reasons are given.
pub const MAX_REASONS: usize = 3;

/// A departure smaller than this (in standard deviations) explains nothing.
const MIN_DEPARTURE: f64 = 0.5;

/// One reason an access scored as it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The reader had never accessed this patient.
    FirstRead,
    /// A first read that nothing explains: nobody else cares for the patient this week and the
    /// grant is not new.
    UnexplainedFirstRead,
    /// Local time of day, outside the reader's usual hours.
    UnusualHour {
        /// Hour (0–23).
        hour: u32,
        /// Minute (0–59).
        minute: u32,
    },
    /// A day of the week the access is rare on.
    UnusualDay,
    /// A category this reader seldom opens.
    UnusualCategory(Category),
    /// Distinct patients in the reader's last hour.
    PatientsLastHour(u64),
    /// The reader's accesses in the last 5 minutes.
    ReadsLast5Minutes(u64),
    /// The reader's accesses in the last hour.
    ReadsLastHour(u64),
    /// The reader's accesses in the last 24 hours.
    ReadsLastDay(u64),
    /// The reader's refusals in the last 24 hours.
    RecentRefusals(u64),
    /// Released inside an emergency window, without the patient's grant.
    Emergency,
    /// The attempt was refused.
    Refused,
    /// An unusually large record.
    LargeRecord(u64),
    /// An old grant, unused so far (or a read under no grant).
    OldGrant,
    /// The reader is an insurer.
    Insurer,
    /// Something else about the access (its record's age, the reader's role) is unusual.
    Other,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::FirstRead => f.write_str("first read of this patient by this reader"),
            Reason::UnexplainedFirstRead => f.write_str(
                "first read of a patient nobody else is caring for this week, under an old grant",
            ),
            Reason::UnusualHour { hour, minute } => {
                write!(
                    f,
                    "{hour:02}:{minute:02}, outside this reader's usual hours"
                )
            }
            Reason::UnusualDay => f.write_str("an unusual day of the week"),
            Reason::UnusualCategory(c) => {
                write!(f, "{} records, which this reader seldom opens", c.name())
            }
            Reason::PatientsLastHour(n) => {
                write!(f, "{} in the last hour", counted(*n, "patient", "patients"))
            }
            Reason::ReadsLast5Minutes(n) => {
                write!(f, "{} in the last 5 minutes", counted(*n, "read", "reads"))
            }
            Reason::ReadsLastHour(n) => {
                write!(f, "{} in the last hour", counted(*n, "read", "reads"))
            }
            Reason::ReadsLastDay(n) => {
                write!(f, "{} in the last 24 hours", counted(*n, "read", "reads"))
            }
            Reason::RecentRefusals(n) => write!(
                f,
                "{} in the last 24 hours",
                counted(*n, "refused attempt", "refused attempts")
            ),
            Reason::Emergency => f.write_str("emergency access, without your grant"),
            Reason::Refused => f.write_str("the attempt was refused"),
            Reason::LargeRecord(bytes) => write!(f, "a large record ({})", size_words(*bytes)),
            Reason::OldGrant => f.write_str("a grant unused until now"),
            Reason::Insurer => f.write_str("read by an insurer"),
            Reason::Other => f.write_str("an unusual pattern of access"),
        }
    }
}

fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn size_words(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

/// Which way a feature is suspicious.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Higher than its neighbours.
    Higher,
    /// Lower than its neighbours.
    Lower,
    /// Either way (a time of day, a size).
    Either,
}

/// Per feature (in `features::NAMES` order): the direction that is suspicious.
const DIRECTION: [Direction; DIM] = [
    Direction::Either, // practitioner
    Direction::Higher, // insurer
    Direction::Either, // hour sine
    Direction::Either, // hour cosine
    Direction::Either, // weekday sine
    Direction::Either, // weekday cosine
    Direction::Lower,  // share of the reader's accesses at this hour
    Direction::Lower,  // share in this category
    Direction::Either, // hours since the grant began
    Direction::Higher, // first read
    Direction::Lower,  // others' accesses to the patient this week
    Direction::Higher, // unexplained first read
    Direction::Higher, // last 5 minutes
    Direction::Higher, // last hour
    Direction::Higher, // last 24 hours
    Direction::Higher, // distinct patients in the last hour
    Direction::Higher, // refusals
    Direction::Higher, // emergency
    Direction::Higher, // refused
    Direction::Higher, // size
    Direction::Either, // record age
];

/// The reasons `access` (whose features are `observed`) scored as it did, strongest first, at
/// most [`MAX_REASONS`]; `utc_offset_secs` gives the local time for the hour's reason.
pub fn explain(
    model: &KnnModel,
    access: &Access,
    observed: &Observed,
    utc_offset_secs: i64,
) -> Vec<Reason> {
    let scored = model.score_detailed(&observed.features);
    explain_scored(model, &scored, access, observed, utc_offset_secs)
}

/// [`explain`] of an access already scored by [`KnnModel::score_detailed`] (no second search).
pub fn explain_scored(
    model: &KnnModel,
    scored: &Scored,
    access: &Access,
    observed: &Observed,
    utc_offset_secs: i64,
) -> Vec<Reason> {
    let departures = model.departures_of(scored);
    let mut ranked: Vec<(usize, f64)> = departures
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let strength = match DIRECTION[i] {
                Direction::Higher => *d,
                Direction::Lower => -*d,
                Direction::Either => d.abs(),
            };
            (strength >= MIN_DEPARTURE).then_some((i, strength))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut reasons: Vec<Reason> = Vec::new();
    for (feature, _) in ranked {
        let reason = reason_of(feature, access, observed, utc_offset_secs);
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
        if reasons.len() == MAX_REASONS {
            break;
        }
    }
    reasons
}

/// The count a `log1p` feature stands for.
fn count(feature: f64) -> u64 {
    feature.exp_m1().round().max(0.0) as u64
}

fn reason_of(feature: usize, a: &Access, o: &Observed, utc_offset_secs: i64) -> Reason {
    let x = &o.features;
    match feature {
        1 => Reason::Insurer,
        2 | 3 | 6 => {
            let local = a.at.saturating_add_signed(utc_offset_secs);
            Reason::UnusualHour {
                hour: o.hour,
                minute: u32::try_from((local % 3_600) / 60).unwrap_or(0),
            }
        }
        4 | 5 => Reason::UnusualDay,
        7 => Reason::UnusualCategory(a.category),
        8 => Reason::OldGrant,
        9 => Reason::FirstRead,
        10 | 11 => Reason::UnexplainedFirstRead,
        12 => Reason::ReadsLast5Minutes(count(x[12])),
        13 => Reason::ReadsLastHour(count(x[13])),
        14 => Reason::ReadsLastDay(count(x[14])),
        15 => Reason::PatientsLastHour(u64::from(o.patients_last_hour)),
        16 => Reason::RecentRefusals(count(x[16])),
        17 => Reason::Emergency,
        18 => Reason::Refused,
        19 => Reason::LargeRecord(a.bytes),
        _ => Reason::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::features::FeatureState;
    use alloy_primitives::Address;

    fn access(at: u64, reader: u8, patient: u8) -> Access {
        Access {
            at,
            reader: Address::repeat_byte(reader),
            role: Role::Practitioner,
            patient: Address::repeat_byte(patient),
            category: Category::Vitals,
            granted: true,
            emergency: false,
            bytes: 4_096,
            grant_since: Some(at.saturating_sub(3 * 86_400)),
            record_created: at.saturating_sub(86_400),
            label: None,
        }
    }

    /// Four readers, each reading their own ten patients on weekdays from 09:00 to 16:00, for
    /// four weeks; then reader 1 reads 30 strangers within minutes at 03:00.
    fn fitted() -> (KnnModel, FeatureState, Vec<Access>) {
        let mut state = FeatureState::new(0);
        let mut reference = Vec::new();
        let start = 1_767_571_200; // a Monday, 00:00 UTC
        for day in 0..28u64 {
            if day % 7 >= 5 {
                continue;
            }
            for hour in 9..16u64 {
                for reader in 1..=4u8 {
                    let patient = reader * 10 + u8::try_from((day + hour) % 10).unwrap_or(0);
                    let at = start + day * 86_400 + hour * 3_600 + u64::from(reader) * 60;
                    reference.push(state.observe(&access(at, reader, patient)).features);
                }
            }
        }
        let model = KnnModel::fit(&reference, 5).expect("fit");
        let night = start + 28 * 86_400 + 3 * 3_600 + 12 * 60;
        let burst = (0..30u8)
            .map(|i| access(night + u64::from(i) * 5, 1, 200 + i))
            .collect();
        (model, state, burst)
    }

    #[test]
    fn a_night_burst_of_strangers_is_explained_by_its_hour_first_reads_and_count() {
        let (model, mut state, burst) = fitted();
        let mut last = None;
        for a in &burst {
            last = Some((a.clone(), state.observe(a)));
        }
        let (a, o) = last.expect("a burst");
        let reasons = explain(&model, &a, &o, 0);
        assert!(
            !reasons.is_empty() && reasons.len() <= MAX_REASONS,
            "{reasons:?}"
        );
        let words: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        assert!(
            words.iter().any(|w| w.contains("patients in the last hour")
                || w.contains("reads in the last")
                || w.contains("first read")
                || w.contains("03:1")),
            "{words:?}"
        );
        assert!(model.score(&o.features) > 0.99);
    }

    #[test]
    fn an_ordinary_read_has_no_reason() {
        let (model, mut state, _) = fitted();
        let start = 1_767_571_200 + 35 * 86_400 + 10 * 3_600 + 60; // a Monday, 10:01
        let a = access(start, 1, 13);
        let o = state.observe(&a);
        assert_eq!(explain(&model, &a, &o, 0), Vec::<Reason>::new());
    }

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(
            Reason::UnusualHour {
                hour: 3,
                minute: 12
            }
            .to_string(),
            "03:12, outside this reader's usual hours"
        );
        assert_eq!(
            Reason::PatientsLastHour(38).to_string(),
            "38 patients in the last hour"
        );
        assert_eq!(
            Reason::LargeRecord(3 << 20).to_string(),
            "a large record (3.0 MiB)"
        );
        assert_eq!(count(30f64.ln_1p()), 30);
        assert_eq!(
            Reason::ReadsLastDay(1).to_string(),
            "1 read in the last 24 hours"
        );
    }
}
