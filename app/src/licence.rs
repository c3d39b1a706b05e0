//! What a hospital's licence means for the person using the app, in words (docs/licensing.md): a
//! practitioner whose organisation's licence lapsed or ended is told they can open and add nothing
//! until it is renewed or reinstated (and why their reads are refused), one under notice is told
//! when it ends; a patient is told what enrolment with a hospital does (and does not) mean.

use medledger_protocol::api::licensing::LicenceStatus;

use crate::format;

/// How loudly a notice speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Everything still works; something will change.
    Warning,
    /// Reading and writing are refused now.
    Blocked,
}

/// What a practitioner of `organisation` is told about its licence, if anything: nothing while it
/// is Active without notice.
pub fn practitioner_notice(
    organisation: &str,
    status: LicenceStatus,
    paid_until: u64,
    terminates_at: Option<u64>,
) -> Option<(Level, String)> {
    let until = |t: u64| format::date(t);
    match status {
        LicenceStatus::Active => None,
        LicenceStatus::UnderNotice => Some((
            Level::Warning,
            format!(
                "The licence of {organisation} to use medledger ends on {}: from then you cannot open patients' records, add records or open emergency access through it. Your hospital's administrators can tell you more.",
                until(terminates_at.unwrap_or(paid_until))
            ),
        )),
        LicenceStatus::Lapsed => Some((
            Level::Blocked,
            format!(
                "The subscription of {organisation} ended on {}: until it is renewed you cannot open patients' records, add records or open emergency access. Patients keep their records and their grants to you; ask your hospital's administrators to renew.",
                until(paid_until)
            ),
        )),
        LicenceStatus::Terminated => Some((
            Level::Blocked,
            format!(
                "The licence of {organisation} to use medledger was terminated{}: you cannot open patients' records, add records or open emergency access through it. Patients keep their records and their grants to you.",
                terminates_at.map(|t| format!(" on {}", until(t))).unwrap_or_default()
            ),
        )),
    }
}

/// The name to show for organisation `id` (its indexed name, or its number until the escrow has
/// seen its creation).
pub fn organisation_name(id: u32, indexed: Option<&str>) -> String {
    match indexed {
        Some(name) if !name.trim().is_empty() => name.to_string(),
        _ => format!("Organisation {id}"),
    }
}

/// What enrolment means, said once above the patient's list of hospitals.
pub const ENROLMENT_EXPLAINED: &str = "A hospital can ask to enrol you as its patient. Enrolment counts you among the patients its licence covers; it gives the hospital and its staff no access to anything: only what you share under Sharing does. You can leave at any time.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_practitioner_is_told_only_what_stops_or_will_stop_them() {
        let day = 86_400;
        assert_eq!(
            practitioner_notice("St Mary's", LicenceStatus::Active, day, None),
            None
        );
        let (level, text) = practitioner_notice(
            "St Mary's",
            LicenceStatus::UnderNotice,
            40 * day,
            Some(30 * day),
        )
        .expect("a notice");
        assert_eq!(level, Level::Warning);
        assert!(
            text.starts_with("The licence of St Mary's to use medledger ends on 1970-01-31"),
            "{text}"
        );
        let (level, text) = practitioner_notice("St Mary's", LicenceStatus::Lapsed, 40 * day, None)
            .expect("lapsed");
        assert_eq!(level, Level::Blocked);
        assert!(text.contains("St Mary's ended on 1970-02-10"), "{text}");
        assert!(text.contains("renew"), "{text}");
        let (level, text) =
            practitioner_notice("X", LicenceStatus::Terminated, 40 * day, Some(2 * day))
                .expect("terminated");
        assert_eq!(level, Level::Blocked);
        assert!(text.contains("terminated on 1970-01-03"), "{text}");
    }

    #[test]
    fn an_organisation_without_an_indexed_name_is_called_by_its_number() {
        assert_eq!(organisation_name(3, Some("Northside")), "Northside");
        assert_eq!(organisation_name(3, Some(" ")), "Organisation 3");
        assert_eq!(organisation_name(3, None), "Organisation 3");
    }
}
