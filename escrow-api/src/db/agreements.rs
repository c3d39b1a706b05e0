//! The `agreement_acceptances` table (migration 0016): each account's signed acceptance of each
//! version of the licence agreement, written with the access-log entry that records it.

use alloy_primitives::{Address, B256};
use medledger_protocol::api::agreement::AgreementAcceptance;
use medledger_protocol::api::licensing::LicenceEventKind;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{address_in, address_text, b256_in, b256_text, db_int, u64_in, DbError, Index};

/// An acceptance to store (its log seq is the entry's it is written with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAcceptance {
    /// Who accepted.
    pub account: Address,
    /// The version.
    pub version: u32,
    /// keccak256 of the version's text.
    pub text_hash: B256,
    /// When, as signed (Unix seconds).
    pub accepted_at: u64,
    /// The EIP-712 signature, 0x-hex.
    pub signature: String,
}

const ACCEPTANCE_COLUMNS: &str =
    "account, version, text_hash, accepted_at, signature, log_seq, recorded_at";

/// Inserts an acceptance within `tx`, recorded by the entry `log_seq`. An account that accepts a
/// version twice (two tabs) keeps its first acceptance; the second entry in the log says so too.
pub(super) async fn insert_acceptance_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    a: &NewAcceptance,
    entry: &super::LogRow,
) -> Result<(), DbError> {
    sqlx::query(&format!(
        "INSERT INTO agreement_acceptances ({ACCEPTANCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (account, version) DO NOTHING"
    ))
    .bind(address_text(a.account))
    .bind(i64::from(a.version))
    .bind(b256_text(a.text_hash))
    .bind(db_int(a.accepted_at))
    .bind(&a.signature)
    .bind(entry.seq)
    .bind(entry.at)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO agreement_texts (version, text_hash) VALUES ($1, $2) \
         ON CONFLICT (version, text_hash) DO NOTHING",
    )
    .bind(i64::from(a.version))
    .bind(b256_text(a.text_hash))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn acceptance_of(r: &AnyRow) -> Result<AgreementAcceptance, DbError> {
    Ok(AgreementAcceptance {
        account: address_in(r, "account")?,
        version: u32::try_from(u64_in(r, "version")?).map_err(|_| DbError::Corrupt("version"))?,
        text_hash: b256_in(r, "text_hash")?,
        accepted_at: u64_in(r, "accepted_at")?,
        signature: r.try_get("signature")?,
        log_seq: u64_in(r, "log_seq")?,
        recorded_at: u64_in(r, "recorded_at")?,
    })
}

impl Index {
    /// The stored acceptance of `version` by `account`.
    pub async fn agreement_acceptance(
        &self,
        account: Address,
        version: u32,
    ) -> Result<Option<AgreementAcceptance>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {ACCEPTANCE_COLUMNS} FROM agreement_acceptances WHERE account = $1 AND version = $2"
        ))
        .bind(address_text(account))
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(acceptance_of).transpose()
    }

    /// The latest version `account` accepted.
    pub async fn accepted_agreement(&self, account: Address) -> Result<Option<u32>, DbError> {
        let row = sqlx::query(
            "SELECT MAX(version) AS version FROM agreement_acceptances WHERE account = $1",
        )
        .bind(address_text(account))
        .fetch_one(&self.pool)
        .await?;
        version_in(&row, "version")
    }

    /// Acceptances recorded in `from..to` (Unix seconds), oldest first, at most `limit`: every
    /// account's (`None`), or those of the accounts that joined an organisation (its admins,
    /// practitioners and enrolled patients, past or present; an offer of enrolment, which an
    /// admin may make to any patient, is no membership).
    pub async fn agreement_acceptances(
        &self,
        from: u64,
        to: u64,
        organisation: Option<u32>,
        limit: u32,
    ) -> Result<Vec<AgreementAcceptance>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCEPTANCE_COLUMNS} FROM agreement_acceptances \
             WHERE recorded_at >= $1 AND recorded_at < $2 AND ($3 = 0 OR account IN \
             (SELECT account FROM licence_events WHERE organisation = $3 AND event IN ($5, $6, $7))) \
             ORDER BY recorded_at, log_seq LIMIT $4"
        ))
        .bind(db_int(from))
        .bind(db_int(to))
        .bind(i64::from(organisation.unwrap_or(0)))
        .bind(i64::from(limit))
        .bind(LicenceEventKind::AdminAdded.as_str())
        .bind(LicenceEventKind::PractitionerJoined.as_str())
        .bind(LicenceEventKind::PatientEnrolled.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(acceptance_of).collect()
    }
}

impl Index {
    /// Each (version, text hash) some account accepted: what the published texts must still be.
    pub async fn accepted_texts(&self) -> Result<Vec<(u32, B256)>, DbError> {
        let rows = sqlx::query("SELECT version, text_hash FROM agreement_texts")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let version = u32::try_from(u64_in(r, "version")?)
                    .map_err(|_| DbError::Corrupt("version"))?;
                Ok((version, b256_in(r, "text_hash")?))
            })
            .collect()
    }
}

/// A nullable version column (`MAX` over no rows is NULL).
pub(super) fn version_in(r: &AnyRow, column: &'static str) -> Result<Option<u32>, DbError> {
    let v: Option<i64> = r.try_get(column)?;
    v.map(|v| u32::try_from(v).map_err(|_| DbError::Corrupt(column)))
        .transpose()
}
