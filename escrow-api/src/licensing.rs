//! The console's licensing views (docs/licensing.md, docs/api.md "Organisations"): the
//! organisations in the signed-in admin's scope with their licence and seats, and the audit export
//! of licence events over a period, as JSON or CSV; and, for any signed-in account, the
//! organisations' names (the app names a patient's hospitals with them). A platform admin (the core's ADMIN role) sees
//! every organisation; an organisation's admin (the licensing contract's `adminOrganisation`) sees
//! their own; anyone else is refused. Both are asked of the chain on every request. Licence figures
//! come from the contracts at the head; names and the audit trail from the follower's
//! `licence_events`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use medledger_protocol::api::licensing::{
    LicenceAudit, LicenceStatus, OrganisationMembers, OrganisationName, OrganisationNames,
    OrganisationSeats, OrganisationView, Organisations, SeatCount, AUDIT_CSV_HEADER,
};
use serde::Deserialize;

use crate::auth::Session;
use crate::error::{ApiError, QueryParams};
use crate::server::AppState;

/// Most of an organisation's membership events replayed for its members: far beyond any seat
/// count a hospital holds (each member costs one event to join and one to leave).
const MEMBER_EVENTS_LIMIT: u32 = 1_000_000;

/// Most events one audit export returns; a longer period is asked in pieces.
pub const AUDIT_LIMIT: u32 = 50_000;

/// Whose licensing the signed-in account may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// A platform admin: every organisation.
    Platform,
    /// An admin of this organisation: it alone.
    Organisation(u32),
}

impl Scope {
    fn organisation(self) -> Option<u32> {
        match self {
            Scope::Platform => None,
            Scope::Organisation(o) => Some(o),
        }
    }
}

async fn scope_of(st: &AppState, session: &Session) -> Result<Scope, ApiError> {
    if st.ledger.is_admin(session.address).await? {
        return Ok(Scope::Platform);
    }
    let licensing = st.deployment.licensing.address;
    let organisation = st
        .ledger
        .admin_organisation(licensing, session.address)
        .await?;
    if organisation == 0 {
        return Err(ApiError::forbidden(
            "not-admin",
            "organisations are for platform admins and for an organisation's own admins",
        ));
    }
    Ok(Scope::Organisation(organisation))
}

/// `GET /api/console/organisations`: the organisations in the caller's scope, by id.
pub async fn organisations(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<Organisations>, ApiError> {
    let scope = scope_of(&st, &session).await?;
    let ids: Vec<u32> = match scope {
        Scope::Organisation(o) => vec![o],
        Scope::Platform => {
            let licensing = st.deployment.licensing.address;
            (1..=st.ledger.organisation_count(licensing).await?).collect()
        }
    };
    let names = st.index.organisation_names().await?;
    let mut organisations = Vec::with_capacity(ids.len());
    for id in ids {
        let name = names.get(&id).cloned().unwrap_or_default();
        organisations.push(organisation_view(&st, id, name).await?);
    }
    Ok(Json(Organisations {
        scope: scope.organisation(),
        organisations,
    }))
}

async fn organisation_view(
    st: &AppState,
    id: u32,
    name: String,
) -> Result<OrganisationView, ApiError> {
    let o = st
        .ledger
        .organisation_of(st.deployment.licensing.address, id)
        .await?;
    let (terms, status) = st.ledger.licence_of(id).await?;
    let status = LicenceStatus::from_chain_number(status).ok_or_else(|| {
        ApiError::internal("licence status", &format!("organisation {id}: {status}"))
    })?;
    let events = st.index.membership_events(id, MEMBER_EVENTS_LIMIT).await?;
    let seat = |used: u32, limit: u32| SeatCount { used, limit };
    Ok(OrganisationView {
        id,
        name,
        status,
        paid_until: terms.paidUntil,
        terminates_at: (terms.terminatesAt != 0).then_some(terms.terminatesAt),
        annual_fee_wei: o.annualFee.to_string(),
        seats: OrganisationSeats {
            admins: seat(o.used.admins, o.limits.admins),
            practitioners: seat(o.used.practitioners, o.limits.practitioners),
            patients: seat(o.used.patients, o.limits.patients),
        },
        members: OrganisationMembers::replay(id, &events),
    })
}

/// `GET /api/organisations`: every indexed organisation's name, and those whose licence events
/// name the caller, for any signed-in account.
pub async fn names(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<OrganisationNames>, ApiError> {
    let mut organisations: Vec<OrganisationName> = st
        .index
        .organisation_names()
        .await?
        .into_iter()
        .map(|(id, name)| OrganisationName { id, name })
        .collect();
    organisations.sort_by_key(|o| o.id);
    let involving_you = st.index.organisations_naming(session.address).await?;
    Ok(Json(OrganisationNames {
        organisations,
        involving_you,
    }))
}

/// The audit export's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditFormat {
    /// [`LicenceAudit`] as JSON.
    #[default]
    Json,
    /// `text/csv`: [`AUDIT_CSV_HEADER`], then one line per event.
    Csv,
}

/// Query of `GET /api/console/licensing/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The period's start (Unix seconds, included).
    pub from: u64,
    /// The period's end (Unix seconds, excluded).
    pub to: u64,
    /// `json` (the default) or `csv`.
    #[serde(default)]
    pub format: AuditFormat,
}

/// `GET /api/console/licensing/audit?from=&to=&format=json|csv`: the licence events (creations,
/// seats, fees, renewals, notices, terminations, reinstatements, admins, practitioners' seats,
/// enrolments) logged in the period, of the caller's scope, oldest first.
pub async fn audit(
    State(st): State<AppState>,
    session: Session,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Response, ApiError> {
    let scope = scope_of(&st, &session).await?;
    if q.to <= q.from {
        return Err(ApiError::bad_request(
            "bad-period",
            "`to` must be later than `from` (Unix seconds; `to` is excluded)",
        ));
    }
    let organisation = scope.organisation();
    let events = st
        .index
        .licence_events(q.from, q.to, organisation, AUDIT_LIMIT + 1)
        .await?;
    let acceptances = st
        .index
        .agreement_acceptances(q.from, q.to, organisation, AUDIT_LIMIT + 1)
        .await?;
    if events.len() + acceptances.len() > AUDIT_LIMIT as usize {
        return Err(ApiError::bad_request(
            "period-too-long",
            format!("more than {AUDIT_LIMIT} events in the period: ask for a shorter one"),
        ));
    }
    Ok(match q.format {
        AuditFormat::Json => Json(LicenceAudit {
            from: q.from,
            to: q.to,
            scope: organisation,
            events,
            acceptances,
        })
        .into_response(),
        AuditFormat::Csv => {
            let mut lines: Vec<(u64, String)> =
                events.iter().map(|e| (e.time, e.csv_line())).collect();
            lines.extend(
                acceptances
                    .iter()
                    .map(|a| (a.accepted_at, a.csv_line(organisation))),
            );
            // By time; a stable sort keeps the chain's order among events of one block.
            lines.sort_by_key(|(time, _)| *time);
            let mut body = String::from(AUDIT_CSV_HEADER);
            body.push_str("\r\n");
            for (_, line) in &lines {
                body.push_str(line);
                body.push_str("\r\n");
            }
            let file = format!(
                "attachment; filename=\"licence-audit-{}-{}.csv\"",
                q.from, q.to
            );
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, file),
                ],
                body,
            )
                .into_response()
        }
    })
}
