//! The console's licensing views (docs/licensing.md, docs/api.md "Organisations"): organisations
//! with their licence and seats (`GET /api/console/organisations`) and the audit export of licence
//! events (`GET /api/console/licensing/audit`, JSON or CSV).

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

/// An organisation's licence now (`MedLedger.LicenceStatus`, the core's `licenceStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LicenceStatus {
    /// Paid, no notice.
    Active,
    /// Notice given, not yet run out: still licensed.
    UnderNotice,
    /// The subscription ended: its practitioners read and write nothing.
    Lapsed,
    /// Terminated (notice ran out, or at once): its practitioners read and write nothing.
    Terminated,
}

wire_names!(LicenceStatus {
    Active => "active",
    UnderNotice => "under-notice",
    Lapsed => "lapsed",
    Terminated => "terminated",
});

impl LicenceStatus {
    /// The status of the contract's enum number (1..=4); `None` for 0 (no organisation) and for a
    /// number this code does not know.
    pub fn from_chain_number(n: u8) -> Option<LicenceStatus> {
        match n {
            1 => Some(LicenceStatus::Active),
            2 => Some(LicenceStatus::UnderNotice),
            3 => Some(LicenceStatus::Lapsed),
            4 => Some(LicenceStatus::Terminated),
            _ => None,
        }
    }

    /// Whether the organisation's practitioners may read and write (Active or UnderNotice).
    pub fn licensed(self) -> bool {
        matches!(self, LicenceStatus::Active | LicenceStatus::UnderNotice)
    }
}

/// A patient's enrolment with an organisation (`IMedLedgerLicensing.Enrolment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrolmentState {
    /// The organisation offered it; the patient has not answered.
    Offered,
    /// The patient accepted: a patient seat.
    Enrolled,
}

impl EnrolmentState {
    /// The state of the contract's enum number; `None` for 0 (no enrolment) and for a number this
    /// code does not know.
    pub fn from_chain_number(n: u8) -> Option<EnrolmentState> {
        match n {
            1 => Some(EnrolmentState::Offered),
            2 => Some(EnrolmentState::Enrolled),
            _ => None,
        }
    }
}

/// Seats of one role: taken and allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SeatCount {
    /// Taken now.
    pub used: u32,
    /// The organisation's limit.
    pub limit: u32,
}

/// Seats per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrganisationSeats {
    /// The organisation's admins.
    pub admins: SeatCount,
    /// Practitioners verified for it.
    pub practitioners: SeatCount,
    /// Patients enrolled with it.
    pub patients: SeatCount,
}

/// One organisation as the console shows it: its name from its creation event, everything else
/// from the contracts at the chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrganisationView {
    /// Its id (1, 2, …).
    pub id: u32,
    /// Its public name (empty until the follower has seen its creation).
    pub name: String,
    /// The licence now.
    pub status: LicenceStatus,
    /// The subscription runs while the chain's time is before this (Unix seconds).
    pub paid_until: u64,
    /// When notice runs out or ran out (Unix seconds); `None` without notice.
    pub terminates_at: Option<u64>,
    /// One year's renewal on chain, in wei (decimal); "0" when renewals are recorded by the
    /// platform admin.
    pub annual_fee_wei: String,
    /// Seats per role.
    pub seats: OrganisationSeats,
    /// Who holds them, as the follower has indexed the licensing contract's events (a block or two
    /// behind `seats`, which the contract answers at the head).
    #[serde(default)]
    pub members: OrganisationMembers,
}

/// The accounts holding an organisation's seats, each list in the order they joined.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrganisationMembers {
    /// Its admins.
    #[serde(with = "checksummed_vec")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<Address>"))]
    pub admins: Vec<Address>,
    /// Its practitioners (verified by it and not released).
    #[serde(with = "checksummed_vec")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<Address>"))]
    pub practitioners: Vec<Address>,
    /// Its enrolled patients (offers not yet accepted are not members).
    #[serde(with = "checksummed_vec")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<Address>"))]
    pub patients: Vec<Address>,
}

impl OrganisationMembers {
    /// The members after one organisation's licence events, oldest first (events of other
    /// organisations, and those that change no membership, are passed over).
    pub fn replay<'a>(
        organisation: u32,
        events: impl IntoIterator<Item = &'a LicenceEvent>,
    ) -> Self {
        let mut members = OrganisationMembers::default();
        for e in events
            .into_iter()
            .filter(|e| e.organisation == organisation)
        {
            let Some(account) = e.account else { continue };
            let (list, joins) = match e.event {
                LicenceEventKind::AdminAdded => (&mut members.admins, true),
                LicenceEventKind::AdminRemoved => (&mut members.admins, false),
                LicenceEventKind::PractitionerJoined => (&mut members.practitioners, true),
                LicenceEventKind::PractitionerReleased => (&mut members.practitioners, false),
                LicenceEventKind::PatientEnrolled => (&mut members.patients, true),
                LicenceEventKind::EnrolmentEnded => (&mut members.patients, false),
                _ => continue,
            };
            list.retain(|a| *a != account);
            if joins {
                list.push(account);
            }
        }
        members
    }
}

/// `GET /api/console/organisations`: what the signed-in admin may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Organisations {
    /// `None` for a platform admin (every organisation); the organisation an organisation admin
    /// administers (that one only).
    pub scope: Option<u32>,
    /// The organisations in scope, by id.
    pub organisations: Vec<OrganisationView>,
}

/// One organisation's public name (`GET /api/organisations`), from its `OrganisationCreated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrganisationName {
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: String,
}

/// `GET /api/organisations`: every organisation's name the escrow has indexed, by id, so that the
/// app names the hospitals a patient is enrolled with or a practitioner belongs to (the names are
/// public on chain already).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrganisationNames {
    /// By id.
    pub organisations: Vec<OrganisationName>,
    /// The organisations whose licence events name the caller (an offer, an enrolment, a seat),
    /// by id: where the app looks for the caller's enrolments on chain, rather than asking every
    /// organisation.
    #[serde(default)]
    pub involving_you: Vec<u32>,
}

/// What a licence event records (one per event of the licensing contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LicenceEventKind {
    /// `OrganisationCreated`.
    Created,
    /// `SeatsChanged`.
    SeatsChanged,
    /// `AnnualFeeChanged`.
    FeeChanged,
    /// `SubscriptionRenewed`: paid on chain (an amount) or recorded (none).
    Renewed,
    /// `LicenceNoticeGiven`.
    NoticeGiven,
    /// `LicenceTerminated`.
    Terminated,
    /// `LicenceReinstated`.
    Reinstated,
    /// `OrganisationAdminAdded`.
    AdminAdded,
    /// `OrganisationAdminRemoved`.
    AdminRemoved,
    /// `PractitionerJoined`: a practitioner seat taken.
    PractitionerJoined,
    /// `PractitionerReleased`: a practitioner seat freed.
    PractitionerReleased,
    /// `EnrolmentOffered`.
    EnrolmentOffered,
    /// `PatientEnrolled`: a patient seat taken.
    PatientEnrolled,
    /// `EnrolmentEnded`.
    EnrolmentEnded,
}

wire_names!(LicenceEventKind {
    Created => "created",
    SeatsChanged => "seats-changed",
    FeeChanged => "fee-changed",
    Renewed => "renewed",
    NoticeGiven => "notice-given",
    Terminated => "terminated",
    Reinstated => "reinstated",
    AdminAdded => "admin-added",
    AdminRemoved => "admin-removed",
    PractitionerJoined => "practitioner-joined",
    PractitionerReleased => "practitioner-released",
    EnrolmentOffered => "enrolment-offered",
    PatientEnrolled => "patient-enrolled",
    EnrolmentEnded => "enrolment-ended",
});

/// One licence event, as the follower indexed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LicenceEvent {
    /// The block it was logged in.
    pub block: u64,
    /// Its index in the block's logs.
    pub log_index: u64,
    /// The block's time (Unix seconds).
    pub time: u64,
    /// The organisation.
    pub organisation: u32,
    /// What happened.
    pub event: LicenceEventKind,
    /// The account it is about (an admin, a practitioner, a patient), if any.
    #[serde(with = "checksummed_opt")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Address>"))]
    pub account: Option<Address>,
    /// Who did it, when the event names them.
    #[serde(with = "checksummed_opt")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Address>"))]
    pub actor: Option<Address>,
    /// The event's figures in words, e.g. `paidUntil=1767225600 amountWei=0`, `name=St Mary`.
    pub detail: String,
}

/// `GET /api/console/licensing/audit?from=&to=` (JSON): the licence events logged in blocks whose
/// time is in `from..to` (Unix seconds, `to` excluded), oldest first, and the agreement's
/// acceptances signed in it. In the CSV form both are lines of one table, by time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct LicenceAudit {
    /// The period's start.
    pub from: u64,
    /// The period's end (excluded).
    pub to: u64,
    /// `None` for every organisation (a platform admin); an organisation admin's own otherwise.
    pub scope: Option<u32>,
    /// The events.
    pub events: Vec<LicenceEvent>,
    /// The licence agreement's acceptances signed in the period (by the scope's accounts: those
    /// its licence events name), oldest first.
    #[serde(default)]
    pub acceptances: Vec<super::agreement::AgreementAcceptance>,
}

/// The CSV columns of the audit export, in order.
pub const AUDIT_CSV_HEADER: &str = "block,logIndex,time,organisation,event,account,actor,detail";

impl LicenceEvent {
    /// The event as one CSV line (no line break), in [`AUDIT_CSV_HEADER`]'s order. Only `detail`
    /// can hold a comma or a quote (an organisation's name): it is always quoted, quotes doubled.
    pub fn csv_line(&self) -> String {
        let address = |a: Option<Address>| a.map(|a| a.to_checksum(None)).unwrap_or_default();
        format!(
            "{},{},{},{},{},{},{},\"{}\"",
            self.block,
            self.log_index,
            self.time,
            self.organisation,
            self.event.as_str(),
            address(self.account),
            address(self.actor),
            self.detail.replace('"', "\"\"")
        )
    }
}

/// `Vec<Address>` checksummed.
mod checksummed_vec {
    use alloy_primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &[Address], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|a| a.to_checksum(None)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Address>, D::Error> {
        let texts = <Vec<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        texts
            .iter()
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

/// `Option<Address>` checksummed, or null.
mod checksummed_opt {
    use alloy_primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.serialize_str(&a.to_checksum(None)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
        let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        text.map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_statuses_follow_the_contracts_numbering() {
        for (n, s) in (1u8..=4).zip(LicenceStatus::ALL) {
            assert_eq!(LicenceStatus::from_chain_number(n), Some(*s));
        }
        assert_eq!(LicenceStatus::from_chain_number(0), None, "no organisation");
        assert_eq!(LicenceStatus::from_chain_number(5), None);
        let licensed: Vec<bool> = LicenceStatus::ALL.iter().map(|s| s.licensed()).collect();
        assert_eq!(licensed, [true, true, false, false]);
        for k in LicenceEventKind::ALL {
            assert_eq!(LicenceEventKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(LicenceEventKind::ALL.len(), 14);
        assert_eq!(EnrolmentState::from_chain_number(0), None, "no enrolment");
        assert_eq!(
            EnrolmentState::from_chain_number(1),
            Some(EnrolmentState::Offered)
        );
        assert_eq!(
            EnrolmentState::from_chain_number(2),
            Some(EnrolmentState::Enrolled)
        );
        assert_eq!(EnrolmentState::from_chain_number(3), None);
    }

    #[test]
    fn an_event_becomes_one_csv_line_with_its_detail_quoted() {
        let e = LicenceEvent {
            block: 7,
            log_index: 2,
            time: 1_700_000_000,
            organisation: 1,
            event: LicenceEventKind::Created,
            account: Some(Address::repeat_byte(0xab)),
            actor: None,
            detail: "name=St \"Mary\", Leeds".into(),
        };
        let line = e.csv_line();
        assert_eq!(
            line,
            format!(
                "7,2,1700000000,1,created,{},,\"name=St \"\"Mary\"\", Leeds\"",
                Address::repeat_byte(0xab).to_checksum(None)
            )
        );
        assert_eq!(AUDIT_CSV_HEADER.split(',').count(), 8);
        let json = serde_json::to_value(&e).expect("serialise");
        assert_eq!(json["actor"], serde_json::Value::Null);
        let back: LicenceEvent = serde_json::from_value(json).expect("parse");
        assert_eq!(back, e);
    }

    #[test]
    fn members_are_replayed_from_the_organisations_events() {
        let [a, b, c, d] = [1u8, 2, 3, 4].map(Address::repeat_byte);
        let event = |organisation, kind, account| LicenceEvent {
            block: 1,
            log_index: 0,
            time: 0,
            organisation,
            event: kind,
            account: Some(account),
            actor: None,
            detail: String::new(),
        };
        use LicenceEventKind as K;
        let events = [
            event(1, K::AdminAdded, a),
            event(1, K::PractitionerJoined, b),
            event(1, K::PractitionerJoined, c),
            event(2, K::PractitionerJoined, d),
            event(1, K::EnrolmentOffered, d),
            event(1, K::PractitionerReleased, b),
            event(1, K::PatientEnrolled, d),
            event(1, K::PractitionerJoined, b),
            event(1, K::EnrolmentEnded, d),
            event(1, K::AdminAdded, c),
        ];
        let m = OrganisationMembers::replay(1, &events);
        assert_eq!(m.admins, [a, c]);
        assert_eq!(
            m.practitioners,
            [c, b],
            "b released and joined again: listed once, last"
        );
        assert!(
            m.patients.is_empty(),
            "an offer is no enrolment, and d's enrolment ended"
        );
        let json = serde_json::to_value(&m).expect("json");
        assert_eq!(json["admins"][0], a.to_checksum(None));
        let back: OrganisationMembers = serde_json::from_value(json).expect("parse");
        assert_eq!(back, m);
    }
}
