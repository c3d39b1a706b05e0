//! Writes the export Bundle medledger makes of FHIR files, for the independent R4 check
//! (`scripts/fhir-validate-export.sh`): every resource of each file given, read as the app reads an
//! import, plus a grant as a `Consent` and access-log entries (a release and a refusal) as
//! `AuditEvent`s, exactly as the app's export writes them.
//! Usage: cargo run -p medledger-protocol --example fhir_export -- FILE... > bundle.json

use std::collections::HashSet;

use alloy_primitives::{Address, B256};
use medledger_protocol::api::{AccessAction, GrantSummary, LogEntry};
use medledger_protocol::contract::Category;
use medledger_protocol::fhir::export::{audit_event, collection_bundle, consent};
use medledger_protocol::fhir::read_input;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut resources = Vec::new();
    let mut known = HashSet::new();
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        let import = read_input(&bytes, &known).map_err(|e| format!("{path}: {e}"))?;
        if !import.importable() {
            return Err(format!("{path}: {:?}", import.problems).into());
        }
        for entry in import.entries {
            known.insert(entry.key);
            resources.push(entry.json);
        }
    }
    let (patient, doctor) = (Address::repeat_byte(0x11), Address::repeat_byte(0x22));
    let grant = GrantSummary {
        patient,
        grantee: doctor,
        categories: Category::mask([Category::History, Category::Medication]).to_string(),
        allow_write: true,
        expiry: 1_900_000_000,
        granted_block: 42,
        active: true,
    };
    let patient_key = known.iter().find(|k| k.starts_with("Patient/")).cloned();
    resources.push(consent(&grant, 1_700_000_000, patient_key.as_deref()));
    for (seq, granted, action) in [
        (1, true, AccessAction::Read),
        (2, false, AccessAction::Read),
        (3, true, AccessAction::Upload),
        (4, true, AccessAction::HoldDecision),
    ] {
        let entry = LogEntry {
            seq,
            at: 1_700_000_000 + seq,
            actor: doctor,
            patient,
            record_id: B256::repeat_byte(seq as u8),
            action,
            granted,
            reason: if granted {
                "consent".into()
            } else {
                "no-consent".into()
            },
            score_milli: 0,
            flagged: false,
            reasons: Vec::new(),
            prev_hash: None,
            entry_hash: B256::ZERO,
            anchor: None,
            proof: None,
        };
        resources.push(audit_event(&entry));
    }
    let bundle = collection_bundle(resources, 1_700_000_100);
    println!("{}", serde_json::to_string_pretty(&bundle)?);
    Ok(())
}
