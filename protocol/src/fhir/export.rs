//! Writing a reader's records out as one FHIR R4 Bundle of type `collection`: the imported
//! resources as they were stored, medledger's own facts as resources (a grant as a `Consent`, an
//! access-log entry as an `AuditEvent`), each entry given a `fullUrl` and every reference between
//! entries rewritten to it (docs/fhir.md "Export").

use std::collections::HashMap;

use alloy_primitives::Address;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::input::visit_references;
use crate::api::{AccessAction, GrantSummary, LogEntry};
use crate::contract::Category;
use crate::identity::format_rfc3339;

/// The identifier system for an Ethereum account (its EIP-55 checksummed address).
pub const ACCOUNT_SYSTEM: &str = "https://eips.ethereum.org/EIPS/eip-55";
/// The code system of medledger's consent categories (docs/fhir.md).
pub const CATEGORY_SYSTEM: &str = "urn:medledger:category";
/// The identifier system of a medledger record id.
pub const RECORD_SYSTEM: &str = "urn:medledger:record";

/// The `fullUrl` of the resource `Type/id` in an export: `urn:uuid:` of its id when the id is a
/// UUID (what a bundle that came with `urn:uuid:` references gave it), else of a UUID made from
/// `Type/id`, so the same resource has the same `fullUrl` in every export.
pub fn full_url(key: &str) -> String {
    let id = key.rsplit('/').next().unwrap_or("");
    if is_uuid(id) {
        return format!("urn:uuid:{}", id.to_ascii_lowercase());
    }
    let d = Sha256::digest(key.as_bytes());
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    // RFC 9562 version 8 (custom) with the variant bits set.
    let version = format!("8{}", &hex[13..16]);
    let variant = format!(
        "{:x}{}",
        0x8 | (u8::from_str_radix(&hex[16..17], 16).unwrap_or(0) & 0x3),
        &hex[17..20]
    );
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        version,
        variant,
        &hex[20..32]
    )
}

fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn key_of(resource: &Value) -> Option<String> {
    let kind = resource.get("resourceType")?.as_str()?;
    let id = resource.get("id")?.as_str()?;
    Some(format!("{kind}/{id}"))
}

/// A `collection` Bundle of `resources` (each with a `resourceType` and an `id`), made at
/// `timestamp` (Unix seconds). A resource that appears twice (the same `Type/id`) is written once,
/// its first copy.
pub fn collection_bundle(resources: Vec<Value>, timestamp: i64) -> Value {
    let mut urls = HashMap::new();
    let mut kept = Vec::new();
    for resource in resources {
        let Some(key) = key_of(&resource) else {
            continue;
        };
        if urls.contains_key(&key) {
            continue;
        }
        urls.insert(key.clone(), full_url(&key));
        kept.push((key, resource));
    }
    let entries: Vec<Value> = kept
        .into_iter()
        .map(|(key, mut resource)| {
            visit_references(&mut resource, &mut |reference| {
                if let Some(url) = urls.get(reference.as_str()) {
                    *reference = url.clone();
                }
            });
            json!({ "fullUrl": urls[&key], "resource": resource })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": format_rfc3339(timestamp),
        "entry": entries,
    })
}

fn account(address: Address, display: Option<&str>) -> Value {
    let mut reference = json!({
        "identifier": { "system": ACCOUNT_SYSTEM, "value": address.to_checksum(None) }
    });
    if let Some(display) = display {
        reference["display"] = Value::String(display.to_string());
    }
    reference
}

/// A grant as a FHIR `Consent`: the patient permits the grantee to read (and, for a write grant,
/// to add) records of the granted categories, from the grant's block to its expiry. `patient`
/// is the `Type/id` of the exported Patient resource, when there is one.
pub fn consent(grant: &GrantSummary, granted_at: i64, patient: Option<&str>) -> Value {
    let mask = grant.categories.parse().unwrap_or_default();
    let classes: Vec<Value> = Category::from_mask(mask)
        .into_iter()
        .map(|c| json!({ "system": CATEGORY_SYSTEM, "code": c.name() }))
        .collect();
    let mut period = json!({ "start": format_rfc3339(granted_at) });
    if grant.expiry != u64::MAX {
        period["end"] = Value::String(format_rfc3339(grant.expiry.min(i64::MAX as u64) as i64));
    }
    let actions = if grant.allow_write {
        vec!["access", "correct"]
    } else {
        vec!["access"]
    };
    let action: Vec<Value> = actions
        .into_iter()
        .map(|a| json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": a }] }))
        .collect();
    let mut patient_ref = account(grant.patient, None);
    if let Some(key) = patient {
        patient_ref["reference"] = Value::String(key.to_string());
    }
    let id = format!("grant-{}-{}", short(grant.grantee), grant.granted_block);
    json!({
        "resourceType": "Consent",
        "id": id,
        "status": if grant.active { "active" } else { "inactive" },
        "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
        "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent" }] }],
        "patient": patient_ref,
        "dateTime": format_rfc3339(granted_at),
        "performer": [account(grant.patient, Some("the patient"))],
        "policyRule": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN" }] },
        "provision": {
            "type": "permit",
            "period": period,
            "actor": [{
                "role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP" }] },
                "reference": account(grant.grantee, None),
            }],
            "action": action,
            "class": classes,
        },
    })
}

fn short(address: Address) -> String {
    alloy_primitives::hex::encode(&address[..6])
}

/// An access-log entry as a FHIR `AuditEvent`: who did what to which record, when, and whether
/// the escrow released it.
pub fn audit_event(entry: &LogEntry) -> Value {
    let (code, display, action) = match entry.action {
        AccessAction::Read => ("read", "Read", "R"),
        AccessAction::Upload => ("create", "Create", "C"),
        AccessAction::AddWrap | AccessAction::Rewrap => ("update", "Update", "U"),
        AccessAction::Shred => ("delete", "Delete", "D"),
        AccessAction::Receipt
        | AccessAction::LogGap
        | AccessAction::HoldDecision
        | AccessAction::AcceptAgreement => ("execute", "Execute", "E"),
    };
    let outcome = if entry.granted { "0" } else { "4" };
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": format!("log-{}", entry.seq),
        "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation" },
        "subtype": [{ "system": "http://hl7.org/fhir/restful-interaction", "code": code, "display": display }],
        "action": action,
        "recorded": format_rfc3339(entry.at.min(i64::MAX as u64) as i64),
        "outcome": outcome,
        "agent": [{ "who": account(entry.actor, None), "requestor": true }],
        "source": { "observer": { "display": "medledger escrow" } },
        "entity": [{
            "what": { "identifier": { "system": RECORD_SYSTEM, "value": entry.record_id.to_string() } },
            "description": format!("record of {}", entry.patient.to_checksum(None)),
        }],
    });
    // FHIR JSON has no empty strings: a reason is written only when there is one.
    if !entry.reason.is_empty() {
        event["outcomeDesc"] = Value::String(entry.reason.clone());
    }
    event
}
