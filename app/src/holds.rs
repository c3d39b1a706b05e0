//! Reads the escrow held for the patient's approval (docs/risk.md, "Hold"): which holds the page
//! lists and in what order, the message the patient's wallet signs to decide one, and the
//! sentences the patient reads about them. The views only show what these functions give.

use alloy_primitives::{hex, Address};
use medledger_protocol::api::{Hold, HoldDecisionBody, HoldState};
use medledger_protocol::identity::HoldDecisionMessage;

use crate::format::{capitalised, datetime};

/// How long a decided hold stays listed: the escrow lists those decided in the last 30 days, and
/// a page left open drops them as they age past it.
pub const DECIDED_SHOWN_SECS: u64 = 30 * 86_400;

/// The holds as the page lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldLists {
    /// Waiting for the patient, newest first.
    pub pending: Vec<Hold>,
    /// Decided in the last [`DECIDED_SHOWN_SECS`], most recently decided first.
    pub decided: Vec<Hold>,
}

impl HoldLists {
    /// Sorts the escrow's holds into the two lists as of `now` (Unix seconds).
    pub fn new(holds: &[Hold], now: u64) -> Self {
        let mut pending: Vec<Hold> = holds
            .iter()
            .filter(|h| h.state == HoldState::Pending)
            .cloned()
            .collect();
        // The id breaks ties: two reads held in the same second keep one order across reloads.
        pending.sort_by_key(|h| std::cmp::Reverse((h.created_at, h.id)));
        let since = now.saturating_sub(DECIDED_SHOWN_SECS);
        let mut decided: Vec<Hold> = holds
            .iter()
            .filter(|h| h.state != HoldState::Pending && decided_at(h) >= since)
            .cloned()
            .collect();
        decided.sort_by_key(|h| std::cmp::Reverse((decided_at(h), h.id)));
        HoldLists { pending, decided }
    }
}

/// When a hold was decided; one the escrow sent without the time counts from when it was held.
fn decided_at(hold: &Hold) -> u64 {
    hold.decided_at.unwrap_or(hold.created_at)
}

/// What the patient's wallet signs (`eth_signTypedData_v4`) to approve or deny `hold` as
/// `patient` on the deployment of `chain_id` and `contract`.
pub fn decision_message(
    hold: &Hold,
    chain_id: u64,
    contract: Address,
    patient: Address,
    approve: bool,
) -> HoldDecisionMessage {
    HoldDecisionMessage {
        chain_id,
        contract,
        hold: hold.id,
        created_at: hold.created_at,
        record_id: hold.record_id,
        reader: hold.reader,
        patient,
        approve,
    }
}

/// The body of `POST /api/holds/{id}`: the decision with the wallet's signature, `0x` hex.
pub fn decision_body(approve: bool, signature: &[u8]) -> HoldDecisionBody {
    HoldDecisionBody {
        approve,
        signature: format!("0x{}", hex::encode(signature)),
    }
}

/// Why a hold was made, for the list under it: the escrow's reasons, strongest first, or one
/// general sentence when it gave none.
pub fn reasons(hold: &Hold) -> Vec<String> {
    let given: Vec<String> = hold
        .reasons
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    if given.is_empty() {
        vec!["it did not look like this reader's usual reads".into()]
    } else {
        given
    }
}

/// A decided hold in words, for the read-only list ("You approved Dr. Lee's read of your
/// History record on …"); `None` for one still pending. `reader` and `what` are what the page
/// calls the reader and the record.
pub fn decided_sentence(hold: &Hold, reader: &str, what: &str) -> Option<String> {
    let (verb, after) = match hold.state {
        HoldState::Pending => return None,
        HoldState::Expired => {
            let on = hold
                .decided_at
                .map(|t| format!(" on {}", datetime(t)))
                .unwrap_or_default();
            return Some(format!(
                "{reader}'s read of {what} was not answered and expired{on}. If they read it again and it still looks unusual, you are asked again.",
                reader = capitalised(reader)
            ));
        }
        HoldState::Approved => ("approved", "They may open it without asking again until"),
        HoldState::Denied => ("refused", "Their reads of it are refused until"),
    };
    let on = hold
        .decided_at
        .map(|t| format!(" on {}", datetime(t)))
        .unwrap_or_default();
    let until = hold
        .applies_until
        .map(|t| format!(" {after} {}.", datetime(t)))
        .unwrap_or_default();
    Some(format!("You {verb} {reader}'s read of {what}{on}.{until}"))
}

/// What the patient is told once the escrow took their decision on `hold` (as it answered it).
pub fn decision_outcome(hold: &Hold, reader: &str, what: &str) -> String {
    match hold.state {
        HoldState::Approved => format!(
            "Approved: {} can open {what} when they try again.",
            capitalised(reader)
        ),
        HoldState::Denied => format!(
            "Denied: {} cannot open {what}; they are told you declined.",
            capitalised(reader)
        ),
        HoldState::Expired => format!(
            "That request expired before your answer: {} is asked to try again, and you are asked again if it still looks unusual.",
            capitalised(reader)
        ),
        // The escrow answers a decision with the decided hold; say plainly if it did not.
        HoldState::Pending => {
            "The escrow has not recorded your decision yet: refresh and try again.".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;

    const DAY: u64 = 86_400;
    const NOW: u64 = 1_800_000_000;

    fn hold(id: u64, state: HoldState, created_at: u64, decided_at: Option<u64>) -> Hold {
        Hold {
            id,
            reader: Address::repeat_byte(2),
            patient: Address::repeat_byte(1),
            record_id: B256::repeat_byte(9),
            created_at,
            score_milli: 910,
            reasons: vec!["first read of this patient".into()],
            state,
            decided_at,
            applies_until: decided_at.map(|t| t + 30 * DAY),
        }
    }

    #[test]
    fn pending_holds_come_newest_first_and_old_decisions_drop_out() {
        let holds = [
            hold(1, HoldState::Pending, NOW - 300, None),
            hold(2, HoldState::Approved, NOW - 5 * DAY, Some(NOW - 4 * DAY)),
            hold(3, HoldState::Pending, NOW - 100, None),
            hold(4, HoldState::Denied, NOW - 40 * DAY, Some(NOW - 31 * DAY)),
            hold(5, HoldState::Denied, NOW - 3 * DAY, Some(NOW - DAY)),
            hold(6, HoldState::Pending, NOW - 100, None),
            hold(7, HoldState::Expired, NOW - 9 * DAY, Some(NOW - 2 * DAY)),
        ];
        let lists = HoldLists::new(&holds, NOW);
        let ids = |l: &[Hold]| l.iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(&lists.pending), [6, 3, 1]);
        assert_eq!(
            ids(&lists.decided),
            [5, 7, 2],
            "an expired hold among the decided"
        );
        assert_eq!(HoldLists::new(&[], NOW), HoldLists::default());
    }

    #[test]
    fn the_signed_message_names_the_hold_its_record_reader_and_the_signer() {
        let h = hold(7, HoldState::Pending, NOW, None);
        let (contract, me) = (Address::repeat_byte(0xcc), Address::repeat_byte(1));
        let m = decision_message(&h, 1337, contract, me, true);
        assert_eq!(
            m,
            HoldDecisionMessage {
                chain_id: 1337,
                contract,
                hold: 7,
                created_at: NOW,
                record_id: h.record_id,
                reader: h.reader,
                patient: me,
                approve: true,
            }
        );
        let json = m.typed_data_json();
        assert_eq!(json["primaryType"], "HoldDecision");
        assert_eq!(json["message"]["approve"], true);
        // Approving and denying are different signatures.
        let deny = decision_message(&h, 1337, contract, me, false);
        assert_ne!(m.signing_hash(), deny.signing_hash());
    }

    #[test]
    fn the_body_carries_the_signature_as_0x_hex() {
        let body = decision_body(false, &[0xab; 65]);
        assert!(!body.approve);
        assert_eq!(body.signature.len(), 2 + 130);
        assert!(body.signature.starts_with("0xabab"));
        let wire = serde_json::to_value(&body).expect("serialises");
        assert_eq!(wire["approve"], false);
        assert!(wire["signature"].is_string());
    }

    #[test]
    fn reasons_are_listed_or_replaced_by_a_general_one() {
        let mut h = hold(1, HoldState::Pending, NOW, None);
        assert_eq!(reasons(&h), ["first read of this patient"]);
        h.reasons = vec![" ".into()];
        assert_eq!(reasons(&h).len(), 1);
        assert!(reasons(&h)[0].contains("usual"));
    }

    #[test]
    fn decided_holds_read_as_sentences() {
        let what = "your History record “Asthma”";
        let approved = hold(1, HoldState::Approved, NOW - DAY, Some(NOW));
        let s = decided_sentence(&approved, "Dr. Lee (St Luke's)", what).expect("decided");
        assert!(
            s.starts_with(
                "You approved Dr. Lee (St Luke's)'s read of your History record “Asthma” on "
            ),
            "{s}"
        );
        assert!(s.contains("without asking again until"), "{s}");
        let denied = hold(2, HoldState::Denied, NOW - DAY, Some(NOW));
        let s = decided_sentence(&denied, "Dr. Lee", what).expect("decided");
        assert!(s.starts_with("You refused Dr. Lee's read of"), "{s}");
        assert!(!s.contains("0x"), "{s}");
        assert_eq!(
            decided_sentence(&hold(3, HoldState::Pending, NOW, None), "x", what),
            None
        );
        let mut expired = hold(4, HoldState::Expired, NOW - 8 * DAY, Some(NOW - DAY));
        expired.applies_until = None;
        let s = decided_sentence(&expired, "dr. Lee", what).expect("listed");
        assert!(
            s.starts_with(
                "Dr. Lee's read of your History record “Asthma” was not answered and expired on "
            ),
            "{s}"
        );
        assert!(s.contains("asked again"), "{s}");
        assert!(decision_outcome(&approved, "an unlisted account", what)
            .starts_with("Approved: An unlisted account can open"));
        assert!(decision_outcome(&denied, "Dr. Lee", what).starts_with("Denied: Dr. Lee cannot"));
    }
}
