//! The `licence_events` table (migration 0015): the licensing contract's events as the follower saw
//! them, for the console's audit export and for organisations' names.

use std::collections::HashMap;

use medledger_protocol::api::licensing::{LicenceEvent, LicenceEventKind};
use sqlx::Row;

use super::{address_text, db_int, u64_in, DbError, Index};

const LICENCE_EVENT_COLUMNS: &str =
    "block, log_index, time, organisation, event, account, actor, detail";

impl Index {
    /// Stores one licence event (a replayed log changes nothing).
    pub async fn licence_event(&self, e: &LicenceEvent) -> Result<(), DbError> {
        sqlx::query(&format!(
            "INSERT INTO licence_events ({LICENCE_EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (block, log_index) DO NOTHING"
        ))
        .bind(db_int(e.block))
        .bind(db_int(e.log_index))
        .bind(db_int(e.time))
        .bind(i64::from(e.organisation))
        .bind(e.event.as_str())
        .bind(e.account.map(address_text))
        .bind(e.actor.map(address_text))
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The licence events logged in blocks whose time is in `from..to`, of one organisation or of
    /// all (`None`), oldest first, at most `limit`.
    pub async fn licence_events(
        &self,
        from: u64,
        to: u64,
        organisation: Option<u32>,
        limit: u32,
    ) -> Result<Vec<LicenceEvent>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {LICENCE_EVENT_COLUMNS} FROM licence_events WHERE time >= $1 AND time < $2 AND ($3 = 0 OR organisation = $3) ORDER BY block, log_index LIMIT $4"
        ))
        .bind(db_int(from))
        .bind(db_int(to))
        .bind(i64::from(organisation.unwrap_or(0)))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(licence_event_of).collect()
    }

    /// An organisation's membership events (admins added and removed, practitioners joined and
    /// released, patients enrolled and leaving), oldest first, at most `limit`.
    pub async fn membership_events(
        &self,
        organisation: u32,
        limit: u32,
    ) -> Result<Vec<LicenceEvent>, DbError> {
        use LicenceEventKind as K;
        let rows = sqlx::query(&format!(
            "SELECT {LICENCE_EVENT_COLUMNS} FROM licence_events WHERE organisation = $1 \
             AND event IN ($2, $3, $4, $5, $6, $7) ORDER BY block, log_index LIMIT $8"
        ))
        .bind(i64::from(organisation))
        .bind(K::AdminAdded.as_str())
        .bind(K::AdminRemoved.as_str())
        .bind(K::PractitionerJoined.as_str())
        .bind(K::PractitionerReleased.as_str())
        .bind(K::PatientEnrolled.as_str())
        .bind(K::EnrolmentEnded.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(licence_event_of).collect()
    }

    /// The organisations whose licence events name `account`, by id.
    pub async fn organisations_naming(
        &self,
        account: alloy_primitives::Address,
    ) -> Result<Vec<u32>, DbError> {
        let rows = sqlx::query(
            "SELECT DISTINCT organisation FROM licence_events WHERE account = $1 ORDER BY organisation",
        )
        .bind(address_text(account))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get("organisation")?;
                u32::try_from(id).map_err(|_| DbError::Corrupt("organisation"))
            })
            .collect()
    }

    /// Each organisation's name, from its `created` event.
    pub async fn organisation_names(&self) -> Result<HashMap<u32, String>, DbError> {
        let rows = sqlx::query("SELECT organisation, detail FROM licence_events WHERE event = $1")
            .bind(LicenceEventKind::Created.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut names = HashMap::new();
        for r in &rows {
            let id = u32::try_from(u64_in(r, "organisation")?)
                .map_err(|_| DbError::Corrupt("organisation"))?;
            let detail: String = r.try_get("detail")?;
            names.insert(id, name_in(&detail).to_string());
        }
        Ok(names)
    }
}

/// The name a `created` event's detail carries: `paidUntil=… annualFeeWei=… name=…`, the name
/// last (the fields before it are numbers, so the first ` name=` is where it starts, whatever the
/// name holds).
fn name_in(detail: &str) -> &str {
    detail.split_once(" name=").map_or("", |(_, name)| name)
}

fn licence_event_of(r: &sqlx::any::AnyRow) -> Result<LicenceEvent, DbError> {
    let optional_address = |column: &'static str| -> Result<_, DbError> {
        let text: Option<String> = r.try_get(column)?;
        text.map(|t| t.parse().map_err(|_| DbError::Corrupt(column)))
            .transpose()
    };
    let event: String = r.try_get("event")?;
    Ok(LicenceEvent {
        block: u64_in(r, "block")?,
        log_index: u64_in(r, "log_index")?,
        time: u64_in(r, "time")?,
        organisation: u32::try_from(u64_in(r, "organisation")?)
            .map_err(|_| DbError::Corrupt("organisation"))?,
        event: LicenceEventKind::parse(&event).ok_or(DbError::Corrupt("event"))?,
        account: optional_address("account")?,
        actor: optional_address("actor")?,
        detail: r.try_get("detail")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::scratch_index;
    use alloy_primitives::Address;

    fn event(block: u64, time: u64, organisation: u32, kind: LicenceEventKind) -> LicenceEvent {
        LicenceEvent {
            block,
            log_index: 0,
            time,
            organisation,
            event: kind,
            account: Some(Address::repeat_byte(block as u8)),
            actor: None,
            detail: format!("paidUntil=5 annualFeeWei=0 name=Org {organisation}, the one name=x"),
        }
    }

    #[tokio::test]
    async fn licence_events_are_kept_once_and_read_by_period_and_organisation() {
        let (_dir, idx) = scratch_index().await;
        let created = event(1, 100, 1, LicenceEventKind::Created);
        for e in [
            created.clone(),
            created.clone(), // a replayed log
            event(2, 200, 2, LicenceEventKind::Created),
            event(3, 300, 1, LicenceEventKind::PractitionerJoined),
        ] {
            idx.licence_event(&e).await.expect("stored");
        }
        let all = idx
            .licence_events(0, u64::MAX, None, 100)
            .await
            .expect("read");
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], created);
        let first_org = idx
            .licence_events(0, 1_000, Some(1), 100)
            .await
            .expect("read");
        assert_eq!(
            first_org.iter().map(|e| e.block).collect::<Vec<_>>(),
            [1, 3]
        );
        let period = idx.licence_events(200, 300, None, 100).await.expect("read");
        assert_eq!(
            period.iter().map(|e| e.block).collect::<Vec<_>>(),
            [2],
            "`to` excluded"
        );
        let names = idx.organisation_names().await.expect("names");
        assert_eq!(names[&1], "Org 1, the one name=x");
        assert_eq!(names.len(), 2);
    }
}
