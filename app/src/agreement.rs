//! The licence agreement (docs/licensing.md, "The agreement"): what the agreement screen shows of
//! the served text (its Markdown as headings, paragraphs and lists, plain text only), the check
//! that the text shown is the text published, the message the wallet signs to accept it and the
//! body sent, and the screen's words. The view only shows what these functions give.

use alloy_primitives::{hex, Address, B256};
use medledger_protocol::api::agreement::{
    agreement_hash, AcceptAgreementBody, AgreementAcceptance, AgreementText,
};
use medledger_protocol::identity::AgreementAcceptanceMessage;

use crate::format;

/// One block of the agreement's text as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// `#` to `######`: its level (1–6) and text.
    Heading { level: u8, text: String },
    /// Lines run together up to a blank line.
    Paragraph(String),
    /// Consecutive list items (`1.` numbered, `-`, `*` or `+` bulleted), each with its
    /// continuation lines run together.
    List { ordered: bool, items: Vec<String> },
}

/// The list marker a line starts with: whether it is numbered, and the item's text after it.
fn list_item(line: &str) -> Option<(bool, &str)> {
    let line = line.trim_start();
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return Some((false, rest));
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = &line[digits..];
        for mark in [". ", ") "] {
            if let Some(text) = rest.strip_prefix(mark) {
                return Some((true, text));
            }
        }
    }
    None
}

/// A heading line's level and text.
fn heading(line: &str) -> Option<(u8, &str)> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    (rest.is_empty() || rest.starts_with(' '))
        .then(|| (hashes as u8, rest.trim().trim_end_matches('#').trim_end()))
}

/// Appends `line` to the text of the block being built, one space between lines.
fn run_on(text: &mut String, line: &str) {
    if !text.is_empty() {
        text.push(' ');
    }
    text.push_str(line.trim());
}

/// The agreement's Markdown as blocks of plain text: headings, paragraphs and lists (what the
/// agreement uses). Everything else is kept as the text it is: nothing is ever read as HTML.
pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    // Whether the last block is still open: a line that is not blank runs on into it.
    let mut open = false;
    for line in markdown.lines() {
        if line.trim().is_empty() {
            open = false;
            continue;
        }
        if let Some((level, text)) = heading(line) {
            out.push(Block::Heading {
                level,
                text: text.to_string(),
            });
            open = false;
            continue;
        }
        if let Some((ordered, text)) = list_item(line) {
            match out.last_mut() {
                Some(Block::List { ordered: o, items }) if *o == ordered => {
                    items.push(text.trim().to_string())
                }
                _ => out.push(Block::List {
                    ordered,
                    items: vec![text.trim().to_string()],
                }),
            }
            open = true;
            continue;
        }
        match out.last_mut() {
            Some(Block::Paragraph(text)) if open => run_on(text, line),
            Some(Block::List { items, .. }) if open => {
                if let Some(item) = items.last_mut() {
                    run_on(item, line);
                }
            }
            _ => out.push(Block::Paragraph(line.trim().to_string())),
        }
        open = true;
    }
    out
}

/// The hash of the text the screen shows, when it is the hash the escrow published for it (so
/// that what the wallet signs covers exactly what was displayed); otherwise why nothing can be
/// signed.
pub fn shown_hash(served: &AgreementText) -> Result<B256, String> {
    let shown = agreement_hash(&served.text);
    if shown == served.text_hash {
        Ok(shown)
    } else {
        Err(hash_mismatch(served.text_hash, shown))
    }
}

/// Whether the signed-in account has already accepted the version served (in another tab, say).
pub fn already_accepted(served: &AgreementText) -> bool {
    served.accepted.is_some_and(|v| v >= served.version)
}

/// What `account`'s wallet signs (`eth_signTypedData_v4`) to accept version `version`, whose
/// text has the hash `text_hash` (from [`shown_hash`]), at `accepted_at` (Unix seconds), on the
/// deployment of `chain_id` and `contract`.
pub fn acceptance_message(
    version: u32,
    text_hash: B256,
    chain_id: u64,
    contract: Address,
    account: Address,
    accepted_at: u64,
) -> AgreementAcceptanceMessage {
    AgreementAcceptanceMessage {
        chain_id,
        contract,
        account,
        version,
        text_hash,
        accepted_at,
    }
}

/// The body of `POST /api/agreement`: the signed message's fields and the wallet's signature,
/// `0x` hex.
pub fn acceptance_body(
    message: &AgreementAcceptanceMessage,
    signature: &[u8],
) -> AcceptAgreementBody {
    AcceptAgreementBody {
        version: message.version,
        text_hash: message.text_hash,
        accepted_at: message.accepted_at,
        signature: format!("0x{}", hex::encode(signature)),
    }
}

// ---- the words ------------------------------------------------------------------------------

/// The screen's title.
pub fn title(version: u32) -> String {
    format!("Licence agreement, version {version}")
}

/// Above the text: why it is shown, for someone who accepted an earlier version or none.
pub fn intro(accepted: Option<u32>) -> String {
    match accepted {
        Some(v) => format!(
            "The licence agreement has changed since you accepted version {v}. Read the new version below: you can use medledger again once you accept it."
        ),
        None => "Before you use medledger, read its licence agreement below. You can use medledger once you accept it.".to_string(),
    }
}

/// Beside the hash: what it is.
pub const HASH_EXPLAINED: &str = "Published hash of this text (keccak256). Your wallet signs this hash with the version and the time: your signature is the proof of what you accepted.";

/// Beside the button: what accepting does.
pub const ACCEPT_EXPLAINED: &str = "Your wallet asks you to sign your acceptance (no transaction, no cost). If you do not accept, sign out: nothing else in medledger can be used until you accept.";

/// The button.
pub const ACCEPT: &str = "I accept";

/// The way out without accepting.
pub const DECLINE: &str = "Decline and sign out";

/// While the text loads.
pub const LOADING: &str = "Loading the licence agreement…";

/// The text shown is not the text published: nothing is signed.
pub fn hash_mismatch(published: B256, shown: B256) -> String {
    format!(
        "The agreement's text does not match the hash the escrow published for it (published {published}, text received {shown}), so it cannot be signed. Nothing was signed. Reload the page; if this persists, tell your medledger operator."
    )
}

/// After the escrow recorded the acceptance.
pub fn accepted_outcome(acceptance: &AgreementAcceptance) -> String {
    format!(
        "You accepted version {} of the licence agreement on {}.",
        acceptance.version,
        format::datetime(acceptance.accepted_at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# medledger licence agreement — version 1\n\nThis agreement is between you\nand the platform.\n\n## 2. Your account\n1. Your account is your wallet. You are\n   responsible for it.\n2. You will not share it.\n\n- a bullet\n- another\n\nA closing <b>paragraph</b>.\n";

    #[test]
    fn the_markdown_is_read_as_headings_paragraphs_and_lists() {
        assert_eq!(
            blocks(SAMPLE),
            vec![
                Block::Heading {
                    level: 1,
                    text: "medledger licence agreement — version 1".into()
                },
                Block::Paragraph("This agreement is between you and the platform.".into()),
                Block::Heading {
                    level: 2,
                    text: "2. Your account".into()
                },
                Block::List {
                    ordered: true,
                    items: vec![
                        "Your account is your wallet. You are responsible for it.".into(),
                        "You will not share it.".into()
                    ]
                },
                Block::List {
                    ordered: false,
                    items: vec!["a bullet".into(), "another".into()]
                },
                // Kept as text: the view never reads it as HTML.
                Block::Paragraph("A closing <b>paragraph</b>.".into()),
            ]
        );
    }

    #[test]
    fn a_paragraph_right_under_a_heading_and_odd_lines_are_kept() {
        assert_eq!(
            blocks("## 5. Licences\nAn organisation's use\nruns on a subscription.\n#hashtag\n"),
            vec![
                Block::Heading {
                    level: 2,
                    text: "5. Licences".into()
                },
                Block::Paragraph("An organisation's use runs on a subscription. #hashtag".into()),
            ]
        );
        assert_eq!(blocks(""), vec![]);
        assert_eq!(
            blocks("2026. A year\n"),
            vec![Block::List {
                ordered: true,
                items: vec!["A year".into()]
            }]
        );
    }

    #[test]
    fn the_agreement_in_the_repository_reads_whole() {
        let text = include_str!("../../docs/eula/v1.md");
        let b = blocks(text);
        assert!(matches!(&b[0], Block::Heading { level: 1, text } if text.contains("version 1")));
        assert!(b
            .iter()
            .any(|x| matches!(x, Block::Heading { level: 2, text } if text == "9. Acceptance")));
        // Every word of the text is shown.
        let shown: usize = b
            .iter()
            .map(|x| match x {
                Block::Heading { text, .. } | Block::Paragraph(text) => {
                    text.split_whitespace().count()
                }
                Block::List { items, .. } => {
                    items.iter().map(|i| i.split_whitespace().count() + 1).sum()
                }
            })
            .sum::<usize>()
            + b.iter()
                .filter(|x| matches!(x, Block::Heading { .. }))
                .count();
        assert_eq!(shown, text.split_whitespace().count());
    }

    fn served(text: &str, hash: B256, accepted: Option<u32>) -> AgreementText {
        AgreementText {
            version: 2,
            text_hash: hash,
            text: text.into(),
            accepted,
        }
    }

    #[test]
    fn only_the_text_published_can_be_signed() {
        let text = "terms\n";
        let good = served(text, agreement_hash(text), None);
        assert_eq!(shown_hash(&good), Ok(agreement_hash(text)));
        let bad = served("terms changed\n", agreement_hash(text), None);
        let said = shown_hash(&bad).expect_err("refused");
        assert!(said.contains("does not match"), "{said}");
        assert!(said.contains(&agreement_hash(text).to_string()), "{said}");
        assert!(said.contains("Nothing was signed"), "{said}");
    }

    #[test]
    fn the_signed_message_and_the_body_carry_the_same_acceptance() {
        let hash = agreement_hash("terms");
        let (contract, account) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let m = acceptance_message(2, hash, 1337, contract, account, 1_700_000_000);
        assert_eq!(
            m,
            AgreementAcceptanceMessage {
                chain_id: 1337,
                contract,
                account,
                version: 2,
                text_hash: hash,
                accepted_at: 1_700_000_000
            }
        );
        let body = acceptance_body(&m, &[0xab; 65]);
        assert_eq!(
            (body.version, body.text_hash, body.accepted_at),
            (2, hash, 1_700_000_000)
        );
        assert_eq!(body.signature, format!("0x{}", "ab".repeat(65)));
        let typed = m.typed_data_json();
        assert_eq!(typed["primaryType"], "AcceptAgreement");
        assert_eq!(typed["message"]["textHash"], hash.to_string());
    }

    #[test]
    fn a_version_already_accepted_is_not_asked_again() {
        let h = B256::ZERO;
        assert!(!already_accepted(&served("", h, None)));
        assert!(!already_accepted(&served("", h, Some(1))));
        assert!(already_accepted(&served("", h, Some(2))));
    }

    #[test]
    fn the_screen_says_why_it_is_shown() {
        assert_eq!(title(2), "Licence agreement, version 2");
        assert!(intro(None).starts_with("Before you use medledger"));
        assert!(intro(Some(1)).contains("since you accepted version 1"));
        let a = AgreementAcceptance {
            account: Address::repeat_byte(2),
            version: 2,
            text_hash: B256::ZERO,
            accepted_at: 86_400,
            signature: "0x".into(),
            log_seq: 1,
            recorded_at: 86_401,
        };
        assert!(accepted_outcome(&a)
            .starts_with("You accepted version 2 of the licence agreement on 1970-01-02"));
    }
}
