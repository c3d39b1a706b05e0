//! People instead of addresses, and the access log in words. The escrow's directory gives each
//! verified practitioner's and insurer's name and organisation; [`Directory::who`] turns an
//! address into what a patient reads ("you", "Dr. Priya Raman (St Luke's)"), and [`log_sentence`]
//! turns an access-log entry into a sentence without internal codes. The full address stays
//! available in the views (an element's title), never as the text a person has to read.

use std::collections::HashMap;

use alloy_primitives::Address;
use medledger_protocol::label::RecordLabel;

/// A verified practitioner or insurer as the directory lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their name ("Dr. Priya Raman").
    pub name: String,
    /// Their organisation ("St Luke's"), possibly empty.
    pub organisation: String,
}

/// Names by address, with the signed-in account's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    me: Option<Address>,
    people: HashMap<Address, Person>,
}

impl Directory {
    /// The directory as seen by `me`.
    pub fn new(me: Option<Address>, people: impl IntoIterator<Item = (Address, Person)>) -> Self {
        Directory {
            me,
            people: people.into_iter().collect(),
        }
    }

    /// The person at `address`, when the directory lists them.
    pub fn person(&self, address: &Address) -> Option<&Person> {
        self.people.get(address)
    }

    /// Everyone listed, in no particular order.
    pub fn listed(&self) -> impl Iterator<Item = (&Address, &Person)> {
        self.people.iter()
    }

    /// What to call `address` in a sentence: "you", a listed name with its organisation, "someone
    /// who was not signed in" for the zero address, else "an unlisted account 0x1234…abcd".
    pub fn who(&self, address: &Address) -> String {
        if Some(*address) == self.me {
            return "you".into();
        }
        if address.is_zero() {
            return "someone who was not signed in".into();
        }
        match self.people.get(address) {
            Some(p) => {
                // Two listed people of one name and organisation are told apart by address.
                let twins = self
                    .people
                    .values()
                    .filter(|q| q.name == p.name && q.organisation == p.organisation)
                    .count();
                let mut details: Vec<String> = Vec::new();
                if !p.organisation.trim().is_empty() {
                    details.push(p.organisation.clone());
                }
                if twins > 1 {
                    details.push(crate::format::short_address(address));
                }
                if details.is_empty() {
                    p.name.clone()
                } else {
                    format!("{} ({})", p.name, details.join(", "))
                }
            }
            None => format!(
                "an unlisted account {}",
                crate::format::short_address(address)
            ),
        }
    }
}

/// A patient's name as their records tell it: the name in the newest label that carries one
/// among the records the patient wrote themselves (`records` gives each record's author and
/// label, newest first). A practitioner with write access cannot rename the patient.
pub fn patient_name<'a>(
    patient: Address,
    records: impl IntoIterator<Item = (Address, Option<&'a RecordLabel>)>,
) -> Option<String> {
    records
        .into_iter()
        .filter(|(author, _)| *author == patient)
        .find_map(|(_, label)| label?.patient_name.clone())
}

/// The facts of one access-log entry that its sentence needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFacts<'a> {
    /// `read`, `upload`, `shred`, `add-wrap`, `receipt`, `hold-decision`, `rewrap`.
    pub action: &'a str,
    /// Released or done; else refused.
    pub granted: bool,
    /// The escrow's reason code.
    pub reason: &'a str,
    /// What to call the reader: of a key given to them (`add-wrap`), or whose read held for the
    /// patient's approval was decided (`hold-decision`), when the page knows who that was.
    pub reader: Option<&'a str>,
}

/// The reader an `add-wrap` entry names (its reason is `reader:<address>`).
pub fn reader_of(reason: &str) -> Option<Address> {
    reason.strip_prefix("reader:")?.parse().ok()
}

use crate::format::capitalised;

/// Why a request was refused, for a patient.
fn refusal_reason(reason: &str) -> &'static str {
    match reason {
        "no-session" => "they were not signed in",
        "no-session-flood" => {
            "many requests without signing in came from one place, and were all refused"
        }
        "rate-limited" => "they sent too many requests in a short time",
        "unknown-record" => "there is no such record",
        "erased" => "the record is erased",
        "no-read-consent" => {
            "you have not shared this category with them, or the sharing was revoked or has expired"
        }
        "no-write-consent" => "you have not allowed them to add records",
        "licence-inactive" => "their hospital's licence to use medledger has lapsed or ended",
        "agreement-required" => "they had not accepted the licence agreement",
        "bad-signature" => "their wallet's signature did not match the request",
        "key-not-current" => "that key is not their encryption key on the blockchain",
        "no-wrap-to-move" => "they held no key to it to move",
        "h1-mismatch" => "the stored file did not match its fingerprint on the blockchain",
        "no-wrapped-key" => "no key for the record had been made for them yet",
        "chain-unavailable" => "the blockchain could not be asked, so nothing was released",
        "not-your-record" => "it is not their record",
        "reader-not-granted" => "that person may not read it",
        "break-glass-failed" => "emergency access could not be opened",
        "bad-range" => "they asked for a part of the file that does not exist",
        "blobs-unavailable" => "the storage did not answer, so nothing was released",
        "hold-denied" => "you denied it when it was held for your approval",
        _ => "the escrow refused it",
    }
}

/// How a log sentence names one of the patient's records: by category, and by its title when the
/// patient's browser could open the record's label ("your History record “Asthma”").
pub fn record_phrase(category: &str, title: Option<&str>) -> String {
    match title.map(str::trim).filter(|t| !t.is_empty()) {
        Some(title) => format!("your {category} record “{title}”"),
        None => format!("your {category} record"),
    }
}

/// The sentence for an entry: `who` did (or tried to do) `action` to `what` ("your History
/// record"); no internal code appears in it.
pub fn log_sentence(facts: LogFacts<'_>, who: &str, what: &str) -> String {
    let who = capitalised(who);
    if let Some(sentence) = hold_sentence(facts, &who, what) {
        return sentence;
    }
    if !facts.granted {
        let attempt = match facts.action {
            "upload" => format!("{who} tried to add {what}"),
            "add-wrap" => format!("{who} tried to give someone the key to {what}"),
            "receipt" => format!("{who} asked for the erasure receipt of {what}"),
            "shred" => format!("{who} tried to erase {what}"),
            "rewrap" => format!("{who} tried to move their key to {what} to a new encryption key"),
            _ => format!("{who} tried to open {what}"),
        };
        return format!(
            "{attempt}: refused, because {}.",
            refusal_reason(facts.reason)
        );
    }
    match (facts.action, facts.reason) {
        ("read", "emergency") => {
            format!("{who} opened {what} with emergency access (you had turned it on).")
        }
        ("read", _) if who == "You" => format!("You opened {what}."),
        ("read", _) => format!("{who} opened {what}, as your sharing allows."),
        ("upload", _) => format!("{who} added {what}."),
        ("shred", _) => capitalised(&format!("{what} was erased: its keys are destroyed.")),
        ("add-wrap", _) => format!(
            "{who} gave {} the key to {what}.",
            facts.reader.unwrap_or("a reader you shared with")
        ),
        // A reader moved their own key to the one they rotated to: the same reader, a new key.
        ("rewrap", _) if who == "You" => {
            format!("You moved your key to {what} to your new encryption key.")
        }
        ("rewrap", _) => format!(
            "{who} moved their key to {what} to their new encryption key; they read no more than before."
        ),
        _ => format!("{who}: {} on {what}.", facts.action),
    }
}

/// The sentence of an entry about a read held for the patient's approval (docs/risk.md, "Hold"),
/// or `None` for any other entry. Held reads are logged as refused reads, yet nothing was refused
/// for good: the patient is being asked, so they get a sentence of their own.
fn hold_sentence(facts: LogFacts<'_>, who: &str, what: &str) -> Option<String> {
    match (facts.action, facts.granted, facts.reason) {
        // Written when the patient decides: the actor is the patient, `granted` the approval.
        ("hold-decision", approved, _) => {
            let verb = if approved { "approved" } else { "refused" };
            Some(match facts.reader {
                Some(reader) => format!("{who} {verb} {reader}'s read of {what}."),
                None => format!("{who} {verb} a read of {what} that was held for your approval."),
            })
        }
        ("read", false, "held" | "held-for-approval") => Some(format!(
            "{who} asked to read {what}; held for your approval."
        )),
        ("read", true, "consent-approved") => {
            Some(format!("{who} read {what} after your approval."))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_named_by_its_title_when_there_is_one() {
        assert_eq!(
            record_phrase("History", Some("Asthma")),
            "your History record “Asthma”"
        );
        assert_eq!(record_phrase("History", Some("  ")), "your History record");
        assert_eq!(record_phrase("Imaging", None), "your Imaging record");
    }

    #[test]
    fn a_patient_is_named_by_their_own_newest_label_that_names_them() {
        let (patient, doctor) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let label = |title: &str, name: Option<&str>| RecordLabel {
            title: title.into(),
            summary: String::new(),
            patient_name: name.map(Into::into),
            fhir: None,
        };
        let (by_doctor, untitled, newer, older) = (
            label("Discharge", Some("Someone Else")),
            label("scan.bin", None),
            label("Asthma", Some("Ada Lovelace")),
            label("Flu", Some("Ada Byron")),
        );
        let records = [
            (doctor, Some(&by_doctor)),
            (patient, None),
            (patient, Some(&untitled)),
            (patient, Some(&newer)),
            (patient, Some(&older)),
        ];
        assert_eq!(
            patient_name(patient, records).as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(patient_name(patient, records[..3].iter().copied()), None);
    }

    fn dir() -> (Directory, Address, Address) {
        let me = Address::repeat_byte(1);
        let doctor = Address::repeat_byte(2);
        let d = Directory::new(
            Some(me),
            [(
                doctor,
                Person {
                    name: "Dr. Priya Raman".into(),
                    organisation: "St Luke's".into(),
                },
            )],
        );
        (d, me, doctor)
    }

    #[test]
    fn addresses_become_names() {
        let (d, me, doctor) = dir();
        assert_eq!(d.who(&me), "you");
        assert_eq!(d.who(&doctor), "Dr. Priya Raman (St Luke's)");
        assert_eq!(d.who(&Address::ZERO), "someone who was not signed in");
        let stranger = d.who(&Address::repeat_byte(0xab));
        assert!(stranger.starts_with("an unlisted account 0x"), "{stranger}");
        // Namesakes in one organisation are told apart; the organisation may be empty.
        let (a, b, c) = (
            Address::repeat_byte(0xa),
            Address::repeat_byte(0xb),
            Address::repeat_byte(0xc),
        );
        let person = |name: &str, org: &str| Person {
            name: name.into(),
            organisation: org.into(),
        };
        let d = Directory::new(
            None,
            [
                (a, person("Dr. Lee", "St Luke's")),
                (b, person("Dr. Lee", "St Luke's")),
                (c, person("Dr. Kim", "")),
            ],
        );
        assert_ne!(d.who(&a), d.who(&b));
        assert!(
            d.who(&a).starts_with("Dr. Lee (St Luke's, 0x"),
            "{}",
            d.who(&a)
        );
        assert_eq!(d.who(&c), "Dr. Kim");
    }

    #[test]
    fn entries_read_as_sentences_without_codes() {
        let (d, me, doctor) = dir();
        let what = "your History record";
        let read = |granted, reason| {
            log_sentence(
                LogFacts {
                    action: "read",
                    granted,
                    reason,
                    reader: None,
                },
                &d.who(&doctor),
                what,
            )
        };
        assert_eq!(
            read(true, "consent"),
            "Dr. Priya Raman (St Luke's) opened your History record, as your sharing allows."
        );
        assert_eq!(read(true, "consent-range"), read(true, "consent"));
        assert!(read(true, "emergency").contains("emergency access"));
        let refused = read(false, "no-read-consent");
        assert!(
            refused.starts_with(
                "Dr. Priya Raman (St Luke's) tried to open your History record: refused"
            ),
            "{refused}"
        );
        assert!(refused.contains("revoked"), "{refused}");
        let upload = log_sentence(
            LogFacts {
                action: "upload",
                granted: true,
                reason: "stored-pending",
                reader: None,
            },
            &d.who(&me),
            what,
        );
        assert_eq!(upload, "You added your History record.");
        let shred = log_sentence(
            LogFacts {
                action: "shred",
                granted: true,
                reason: "receipt:0xabc",
                reader: None,
            },
            &d.who(&me),
            what,
        );
        assert_eq!(
            shred,
            "Your History record was erased: its keys are destroyed."
        );
        let own = log_sentence(
            LogFacts {
                action: "read",
                granted: true,
                reason: "consent",
                reader: None,
            },
            &d.who(&me),
            what,
        );
        assert_eq!(own, "You opened your History record.");
        let reason = format!("reader:{doctor}");
        let reader = reader_of(&reason).map(|a| d.who(&a));
        assert_eq!(reader.as_deref(), Some("Dr. Priya Raman (St Luke's)"));
        let gave = log_sentence(
            LogFacts {
                action: "add-wrap",
                granted: true,
                reason: &reason,
                reader: reader.as_deref(),
            },
            "you",
            what,
        );
        assert_eq!(
            gave,
            "You gave Dr. Priya Raman (St Luke's) the key to your History record."
        );
        // No reason code or hex reaches a patient, whatever the escrow answered.
        for reason in [
            "no-session",
            "no-session-flood",
            "rate-limited",
            "unknown-record",
            "erased",
            "no-read-consent",
            "no-write-consent",
            "h1-mismatch",
            "no-wrapped-key",
            "chain-unavailable",
            "not-your-record",
            "reader-not-granted",
            "break-glass-failed",
            "bad-range",
            "blobs-unavailable",
            "hold-denied",
            "something-new",
        ] {
            for action in ["read", "upload", "add-wrap", "receipt", "shred"] {
                let s = log_sentence(
                    LogFacts {
                        action,
                        granted: false,
                        reason,
                        reader: None,
                    },
                    "someone",
                    what,
                );
                // Codes are hyphenated words; "erased" is also plain English.
                assert!(!reason.contains('-') || !s.contains(reason), "{s}");
                assert!(!s.contains("0x"), "{s}");
                assert!(s.contains("refused"), "{s}");
            }
        }
        for (action, reason) in [("add-wrap", "reader:0x1234"), ("shred", "receipt:0xab")] {
            let s = log_sentence(
                LogFacts {
                    action,
                    granted: true,
                    reason,
                    reader: None,
                },
                "you",
                what,
            );
            assert!(!s.contains("0x"), "{s}");
        }
    }

    #[test]
    fn a_moved_key_reads_as_the_same_reader_with_a_new_key() {
        let what = "your History record “Asthma”";
        let facts = LogFacts {
            action: "rewrap",
            granted: true,
            reason: "key-rotated",
            reader: None,
        };
        assert_eq!(
            log_sentence(facts, "you", what),
            "You moved your key to your History record “Asthma” to your new encryption key."
        );
        let theirs = log_sentence(facts, "Dr. Lee", what);
        assert!(theirs.starts_with("Dr. Lee moved their key to"), "{theirs}");
        assert!(theirs.contains("no more than before"), "{theirs}");
        let refused = LogFacts {
            granted: false,
            reason: "key-not-current",
            ..facts
        };
        assert_eq!(
            log_sentence(refused, "Dr. Lee", what),
            "Dr. Lee tried to move their key to your History record “Asthma” to a new encryption key: refused, because that key is not their encryption key on the blockchain."
        );
    }

    #[test]
    fn held_reads_and_the_patients_decisions_read_as_sentences() {
        let (d, me, doctor) = dir();
        let what = "your History record “Asthma”";
        let sentence = |action, granted, reason, who: Address, reader: Option<&str>| {
            log_sentence(
                LogFacts {
                    action,
                    granted,
                    reason,
                    reader,
                },
                &d.who(&who),
                what,
            )
        };
        let dr = d.who(&doctor);
        assert_eq!(
            sentence("read", false, "held", doctor, None),
            "Dr. Priya Raman (St Luke's) asked to read your History record “Asthma”; held for your approval."
        );
        assert_eq!(
            sentence("read", false, "held-for-approval", doctor, None),
            sentence("read", false, "held", doctor, None)
        );
        let denied = sentence("read", false, "hold-denied", doctor, None);
        assert!(
            denied.starts_with(
                "Dr. Priya Raman (St Luke's) tried to open your History record “Asthma”: refused"
            ),
            "{denied}"
        );
        assert!(denied.contains("you denied it"), "{denied}");
        assert_eq!(
            sentence("read", true, "consent-approved", doctor, None),
            "Dr. Priya Raman (St Luke's) read your History record “Asthma” after your approval."
        );
        assert_eq!(
            sentence("hold-decision", true, "approved", me, Some(&dr)),
            "You approved Dr. Priya Raman (St Luke's)'s read of your History record “Asthma”."
        );
        assert_eq!(
            sentence("hold-decision", false, "denied", me, Some(&dr)),
            "You refused Dr. Priya Raman (St Luke's)'s read of your History record “Asthma”."
        );
        // A decision whose hold the page no longer lists still reads as one, without a code.
        let unknown = sentence("hold-decision", false, "denied", me, None);
        assert_eq!(
            unknown,
            "You refused a read of your History record “Asthma” that was held for your approval."
        );
    }
}
