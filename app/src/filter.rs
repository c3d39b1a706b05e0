//! Which records a list shows: the practitioner's filters by category and by the day a record
//! was added, read from the form's fields as typed.

use crate::format::end_of_day;

/// A record list's filter; an empty field does not filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Only this category.
    pub category: Option<u8>,
    /// Added at or after this second (the start of the "from" day, UTC).
    pub from: Option<u64>,
    /// Added at or before this second (the end of the "to" day, UTC).
    pub to: Option<u64>,
}

impl RecordFilter {
    /// From the form: a category number (empty for all) and two `YYYY-MM-DD` dates (empty or
    /// unreadable for no bound).
    pub fn from_form(category: &str, from: &str, to: &str) -> Self {
        Self {
            category: category.parse().ok(),
            from: end_of_day(from).map(|t| t - 86_399),
            to: end_of_day(to),
        }
    }

    /// Whether a record of `category` added at `created` (unix seconds) is shown.
    pub fn admits(&self, category: u8, created: u64) -> bool {
        self.category.is_none_or(|c| c == category)
            && self.from.is_none_or(|f| created >= f)
            && self.to.is_none_or(|t| created <= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_keeps_the_category_and_the_days_asked_for() {
        let all = RecordFilter::from_form("", "", "");
        assert_eq!(all, RecordFilter::default());
        assert!(all.admits(4, 0));
        // 2024-03-01T00:00:00Z and the last second of that day.
        let (start, end) = (1_709_251_200, 1_709_251_200 + 86_399);
        let day = RecordFilter::from_form("2", "2024-03-01", "2024-03-01");
        assert!(day.admits(2, start) && day.admits(2, end));
        assert!(!day.admits(2, start - 1) && !day.admits(2, end + 1));
        assert!(!day.admits(3, start));
        let open_ended = RecordFilter::from_form("", "2024-03-01", "not a date");
        assert!(open_ended.admits(0, end + 10 * 86_400));
        assert!(!open_ended.admits(0, start - 1));
    }
}
