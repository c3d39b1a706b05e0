//! Key rotation's words and progress (formats.md 6.1 "Rotation", docs/api.md "Your wraps"): what
//! the page says at each step and when it is done. The steps themselves are `web::rotation`'s.

/// Where a rotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Asking the escrow which keys it holds for the account: so many so far.
    Listing(usize),
    /// Opening each key with the old key and wrapping it to the new one: done of total.
    Rewrapping(usize, usize),
    /// The new key being registered on chain.
    Registering,
    /// The escrow replacing the old wraps: done of total.
    Moving(usize, usize),
}

/// The progress bar's label and fraction for `step`.
pub fn step_text(step: Step) -> (String, f64) {
    let fraction = |done: usize, total: usize| done as f64 / total.max(1) as f64;
    match step {
        Step::Listing(n) => (format!("Listing your keys: {n} so far"), 0.0),
        Step::Rewrapping(done, total) => (
            format!("Re-wrapping your keys in this browser: {done} of {total}"),
            fraction(done, total),
        ),
        Step::Registering => (
            "Registering your new key on chain: confirm in your wallet".into(),
            1.0,
        ),
        Step::Moving(done, total) => (
            format!("Replacing your keys at the escrow: {done} of {total}"),
            fraction(done, total),
        ),
    }
}

/// What the patient is told when a rotation (or its finishing) is done: how many keys moved, and
/// how many the old key could not open (already moved by an earlier try, or made for another key).
pub fn done_text(moved: usize, unopened: usize) -> String {
    let mut text = match moved {
        0 => "Your encryption key is rotated; there were no keys to move.".to_string(),
        1 => "Your encryption key is rotated: 1 record's key now opens only with the new one."
            .to_string(),
        n => format!(
            "Your encryption key is rotated: {n} records' keys now open only with the new one."
        ),
    };
    if unopened > 0 {
        text.push_str(&format!(
            " {unopened} key(s) did not open with the old key and were left as they were (moved by an earlier try, or made for another key)."
        ));
    }
    text
}

/// What the page says when some of the account's keys do not open with its current key: a
/// rotation registered on chain whose keys were not all moved.
pub fn unfinished_text(stale: usize) -> String {
    format!(
        "{stale} of your records' keys were made for your previous encryption key: a rotation was registered on chain but not finished. Finish it to open those records again (your wallet signs your previous key once more)."
    )
}

/// How many times an account's key changed, from the keys of its `EncryptionKeyRotated` events in
/// chain order (each event's data is the new key): a rotation to the key it already had does not
/// count.
pub fn versions_moved(keys: &[alloy_primitives::B256]) -> u32 {
    let changes = keys
        .iter()
        .enumerate()
        .filter(|(i, key)| *i == 0 || keys[i - 1] != **key)
        .count();
    u32::try_from(changes).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_repeated_to_the_same_key_counts_once() {
        use alloy_primitives::B256;
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        assert_eq!(versions_moved(&[]), 0);
        assert_eq!(versions_moved(&[a]), 1);
        assert_eq!(
            versions_moved(&[a, a]),
            1,
            "a retried transaction mined twice"
        );
        assert_eq!(versions_moved(&[a, b, b, a]), 3);
    }

    #[test]
    fn each_step_has_its_words_and_a_fraction_within_the_bar() {
        assert_eq!(
            step_text(Step::Listing(500)).0,
            "Listing your keys: 500 so far"
        );
        let (text, fraction) = step_text(Step::Rewrapping(25, 50));
        assert_eq!(text, "Re-wrapping your keys in this browser: 25 of 50");
        assert!((fraction - 0.5).abs() < 1e-9);
        assert_eq!(step_text(Step::Moving(0, 0)).1, 0.0, "no division by zero");
        assert!(step_text(Step::Registering).0.contains("wallet"));
    }

    #[test]
    fn the_outcome_counts_what_moved_and_what_was_left() {
        assert!(done_text(0, 0).contains("no keys to move"));
        assert!(done_text(1, 0).contains("1 record's key now opens"));
        let both = done_text(50, 2);
        assert!(both.contains("50 records' keys"), "{both}");
        assert!(both.contains("2 key(s) did not open"), "{both}");
        assert!(unfinished_text(3).starts_with("3 of your records' keys"));
    }
}
