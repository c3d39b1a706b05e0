//! The access log as the patient reads it: the escrow's entries about their records, each
//! anchored one checked against the chain's anchor (`verifyLogEntry`), newest first, with what
//! the escrow declared lost in a restore.

use alloy_primitives::U256;
use medledger_protocol::contract::MedLedger;

use super::escrow::{self, LogEntry, LogGap};
use super::records::Identity;
use crate::format;

/// An access-log entry and what the chain said of it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    /// The escrow's entry.
    pub entry: LogEntry,
    /// Whether the chain verified it: `None` when it has no proof (not anchored yet, or lost in
    /// a restore).
    pub verified: Option<bool>,
}

/// The log checked against the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedLog {
    /// Newest first.
    pub rows: Vec<LogRow>,
    /// What the check found, for the patient ("3 of 3 anchored entries verified on chain.").
    pub summary: String,
}

/// Loads the signed-in patient's access log and verifies every anchored entry on chain.
pub async fn verified(me: &Identity) -> Result<VerifiedLog, String> {
    let escrow::AccessLog { entries, gaps } =
        escrow::access_log().await.map_err(|e| e.to_string())?;
    let mut rows = Vec::with_capacity(entries.len());
    let (mut ok, mut anchored) = (0, 0);
    for entry in entries {
        let verified = match (&entry.anchor, &entry.proof) {
            (Some(anchor), Some(proof)) => {
                anchored += 1;
                let v = me
                    .contract
                    .view(MedLedger::verifyLogEntryCall {
                        anchorIndex: U256::from(anchor.index),
                        seq: entry.seq,
                        entryHash: entry.entry_hash,
                        proof: proof.clone(),
                    })
                    .await
                    .unwrap_or(false);
                if v {
                    ok += 1;
                }
                Some(v)
            }
            _ => None,
        };
        rows.push(LogRow { entry, verified });
    }
    rows.reverse();
    Ok(VerifiedLog {
        rows,
        summary: format!(
            "{ok} of {anchored} anchored entries verified on chain.{}",
            gaps_notice(&gaps)
        ),
    })
}

/// What the patient is told of entries the escrow lost in a restore.
fn gaps_notice(gaps: &[LogGap]) -> String {
    gaps.iter()
        .map(|g| {
            format!(
                " On {} the escrow said it had lost log entries {} to {} in a restore from a backup: any of them about your records cannot be shown or verified.",
                format::datetime(g.declared_at),
                g.first_seq,
                g.last_seq
            )
        })
        .collect()
}
