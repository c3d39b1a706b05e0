//! FHIR R4 in and out (`protocol::fhir`, docs/fhir.md): every fixture reads, keeps every element
//! through the typed models, exports and imports back to the same resources; each kind of bad
//! input is refused with its own error naming the resource; the mapping and the summary.
//! The export's validity by an independent implementation (PyPI `fhir.resources`) is checked by
//! `scripts/fhir-validate-export.sh`, which the test command runs.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use medledger_protocol::contract::Category;
use medledger_protocol::fhir::export::{collection_bundle, full_url};
use medledger_protocol::fhir::summary::summarise;
use medledger_protocol::fhir::{read_input, Import, InputError, Resource, ResourceType};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fhir")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read(name: &str) -> Import {
    read_input(&fixture(name), &HashSet::new()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const VALID: [&str; 4] = [
    "us-core-bundle.json",
    "restful-bundle.json",
    "single-condition.json",
    "bulk-observations.ndjson",
];

/// The resources of a fixture as they were written, by `Type/id`.
fn written(name: &str) -> Vec<Value> {
    let bytes = fixture(name);
    if name.ends_with(".ndjson") {
        return bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(|l| serde_json::from_slice(l).expect("fixture line"))
            .collect();
    }
    let doc: Value = serde_json::from_slice(&bytes).expect("fixture JSON");
    match doc["resourceType"].as_str() {
        Some("Bundle") => doc["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["resource"].clone())
            .collect(),
        _ => vec![doc],
    }
}

#[test]
fn every_valid_fixture_reads_with_nothing_to_fix() {
    for name in VALID {
        let import = read(name);
        assert!(import.importable(), "{name}: {:?}", import.problems);
        assert!(import.skipped.is_empty(), "{name}: {:?}", import.skipped);
    }
}

#[test]
fn the_fixtures_cover_every_clinical_type_medledger_maps() {
    let mut kinds = HashSet::new();
    for name in VALID {
        kinds.extend(read(name).entries.iter().map(|e| e.resource.kind()));
    }
    for kind in [
        ResourceType::Patient,
        ResourceType::Condition,
        ResourceType::Observation,
        ResourceType::AllergyIntolerance,
        ResourceType::MedicationStatement,
        ResourceType::MedicationRequest,
        ResourceType::Immunization,
        ResourceType::Procedure,
        ResourceType::DiagnosticReport,
        ResourceType::DocumentReference,
        ResourceType::Encounter,
    ] {
        assert!(kinds.contains(&kind), "no fixture has a {kind}");
    }
}

#[test]
fn the_typed_models_keep_every_element() {
    for name in VALID {
        for entry in read(name).entries {
            let back = Resource::from_value(entry.json.clone())
                .expect("reads")
                .to_value();
            assert_eq!(
                back, entry.json,
                "{name}: {} changed through its model",
                entry.key
            );
        }
    }
}

#[test]
fn a_stored_resource_is_the_written_one_with_references_as_type_and_id() {
    // The restful bundle refers by `Patient/123` and by full URL: stored, every reference that
    // points into the file is `Type/id`, and nothing else changed.
    for name in VALID {
        let import = read(name);
        let by_key: BTreeMap<String, &Value> = import
            .entries
            .iter()
            .map(|e| (e.key.clone(), &e.json))
            .collect();
        for original in written(name) {
            let key = format!(
                "{}/{}",
                original["resourceType"].as_str().unwrap_or(""),
                original["id"].as_str().unwrap_or("")
            );
            let stored = by_key
                .get(&key)
                .unwrap_or_else(|| panic!("{name}: {key} not stored"));
            let mut stored = (*stored).clone();
            let mut original = original.clone();
            let mut refs_stored = Vec::new();
            medledger_protocol::fhir::input::visit_references(&mut stored, &mut |r| {
                refs_stored.push(r.clone());
                *r = String::new();
            });
            medledger_protocol::fhir::input::visit_references(&mut original, &mut |r| {
                *r = String::new()
            });
            assert_eq!(
                stored, original,
                "{name}: {key} changed beyond its references"
            );
            for r in refs_stored {
                // Inside the file, `#contained`, another server's URL, or (a resource exported
                // alone) the source server's `Type/id`, which the import warned about.
                let internal = r.starts_with('#') || by_key.contains_key(&r);
                let warned = import
                    .warnings
                    .iter()
                    .any(|w| w.resource == key && w.note.contains(&r));
                assert!(
                    internal || warned || r.starts_with("http"),
                    "{name}: {key} keeps {r}"
                );
            }
        }
    }
}

#[test]
fn import_then_export_then_import_gives_the_same_resources() {
    for name in VALID {
        let first = read(name);
        let resources: Vec<Value> = first.entries.iter().map(|e| e.json.clone()).collect();
        let bundle = collection_bundle(resources, 1_700_000_000);
        assert_eq!(bundle["type"], "collection");
        let bytes = serde_json::to_vec(&bundle).expect("serialises");
        let second = read_input(&bytes, &HashSet::new()).expect("the export reads back");
        assert!(second.importable(), "{name}: {:?}", second.problems);
        let a: Vec<(&str, &Value)> = first
            .entries
            .iter()
            .map(|e| (e.key.as_str(), &e.json))
            .collect();
        let b: Vec<(&str, &Value)> = second
            .entries
            .iter()
            .map(|e| (e.key.as_str(), &e.json))
            .collect();
        assert_eq!(a, b, "{name}: the round trip changed something");
    }
}

#[test]
fn a_bundle_with_uuid_references_exports_as_it_came() {
    // Its ids are the UUIDs of its fullUrls: the export gives each entry its fullUrl back and
    // every reference its urn:uuid form, so entries equal the input's.
    let bytes = fixture("us-core-bundle.json");
    let input: Value = serde_json::from_slice(&bytes).expect("fixture");
    let import = read("us-core-bundle.json");
    let exported = collection_bundle(import.entries.iter().map(|e| e.json.clone()).collect(), 0);
    let input_entries: Vec<Value> = input["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| json!({ "fullUrl": e["fullUrl"], "resource": e["resource"] }))
        .collect();
    assert_eq!(
        exported["entry"].as_array().cloned().unwrap_or_default(),
        input_entries
    );
}

#[test]
fn full_urls_are_stable_uuids() {
    let url = full_url("Condition/c-1");
    assert_eq!(url, full_url("Condition/c-1"));
    assert_ne!(url, full_url("Condition/c-2"));
    let uuid = url.strip_prefix("urn:uuid:").expect("a urn:uuid");
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12]);
    assert!(uuid.as_bytes()[14] == b'8', "version 8: {uuid}");
    assert_eq!(
        full_url("Patient/F8C16E81-7BEE-5B9D-9DA1-F4931F5F0D30"),
        "urn:uuid:f8c16e81-7bee-5b9d-9da1-f4931f5f0d30"
    );
}

#[test]
fn each_kind_of_bad_input_is_named() {
    let err = |name: &str| read_input(&fixture(name), &HashSet::new()).expect_err(name);
    assert!(
        matches!(err("not-json.txt"), InputError::NotJson { line: 1, .. }),
        "{}",
        err("not-json.txt")
    );
    let not_fhir = err("not-fhir.json");
    assert!(matches!(not_fhir, InputError::NotFhir(_)));
    assert!(
        not_fhir.to_string().contains("without a resourceType"),
        "{not_fhir}"
    );
    let r5 = err("r5-encounter.json");
    assert!(
        matches!(r5, InputError::OtherVersion { version: "R5", .. }),
        "{r5}"
    );
    assert!(r5.to_string().contains("Encounter"), "{r5}");
    let dstu2 = err("dstu2-medicationorder.json");
    assert!(matches!(dstu2, InputError::OtherVersion { .. }), "{dstu2}");
    assert!(dstu2.to_string().contains("MedicationOrder"), "{dstu2}");
    let big = vec![b' '; medledger_protocol::fhir::MAX_INPUT_BYTES + 1];
    let too_large = read_input(&big, &HashSet::new()).expect_err("too large");
    assert!(matches!(too_large, InputError::TooLarge { .. }));
    assert!(too_large.to_string().contains("MB"), "{too_large}");
    assert_eq!(
        read_input(b"[]", &HashSet::new()).map(|_| ()),
        Err(InputError::NotFhir("the file is not a JSON object".into()))
    );
    let empty = json!({ "resourceType": "Bundle", "type": "collection" });
    assert_eq!(
        read_input(empty.to_string().as_bytes(), &HashSet::new()).map(|_| ()),
        Err(InputError::Empty)
    );
}

#[test]
fn a_broken_reference_stops_the_import_and_names_the_resource() {
    let import = read("broken-reference.json");
    assert!(!import.importable());
    let problem = import.problems.first().expect("a problem");
    assert!(problem.resource.starts_with("Condition/"), "{problem:?}");
    assert!(problem.note.contains("urn:uuid:"), "{problem:?}");
}

#[test]
fn a_reference_to_a_resource_imported_before_resolves() {
    let observation = json!({ "resourceType": "Observation", "id": "o", "status": "final",
        "code": { "text": "x" }, "subject": { "reference": "Patient/123" } });
    let bytes = observation.to_string();
    // Alone, Patient/123 is the source server's: kept as written, with a warning.
    let alone = read_input(bytes.as_bytes(), &HashSet::new()).expect("reads");
    assert!(alone.importable(), "{:?}", alone.problems);
    assert!(
        alone.warnings[0].note.contains("refers to Patient/123"),
        "{:?}",
        alone.warnings
    );
    let known = HashSet::from(["Patient/123".to_string()]);
    let after = read_input(bytes.as_bytes(), &known).expect("reads");
    assert!(
        after.importable() && after.warnings.is_empty(),
        "{:?}",
        after.warnings
    );
    // A urn:uuid reference only points inside its file: nowhere to be found, it is broken.
    let broken = json!({ "resourceType": "Observation", "id": "o", "status": "final",
        "code": { "text": "x" }, "subject": { "reference": "urn:uuid:0c1d" },
        "hasMember": [{ "reference": "#missing" }] });
    let import = read_input(broken.to_string().as_bytes(), &known).expect("reads");
    assert_eq!(import.problems.len(), 2, "{:?}", import.problems);
}

#[test]
fn an_unhandled_type_is_listed_and_the_rest_imports() {
    let import = read("unhandled-type.json");
    assert!(import.importable(), "{:?}", import.problems);
    assert_eq!(import.skipped.len(), 1, "{:?}", import.skipped);
    assert!(import.skipped[0].resource.starts_with("Coverage/"));
    assert!(import.skipped[0].note.contains("does not import Coverage"));
    assert!(import
        .entries
        .iter()
        .any(|e| e.resource.kind() == ResourceType::Condition));
}

#[test]
fn invalid_shapes_duplicates_and_bad_ids_are_problems() {
    let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [
        { "resource": { "resourceType": "Observation", "id": "o1", "code": "not a concept" } },
        { "resource": { "resourceType": "Condition", "id": "c" } },
        { "resource": { "resourceType": "Condition", "id": "c" } },
        { "resource": { "resourceType": "Condition", "id": "not an id!" } },
        { "fullUrl": "urn:uuid:1" },
    ]});
    let import = read_input(bundle.to_string().as_bytes(), &HashSet::new()).expect("reads");
    let notes: Vec<String> = import
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.resource, p.note))
        .collect();
    assert_eq!(import.problems.len(), 4, "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("Observation/o1: it is not a valid R4 Observation")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("Condition/c: another resource")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("is not a FHIR id")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("has no resource")),
        "{notes:?}"
    );
    assert!(!import.importable());
}

#[test]
fn ndjson_with_a_broken_line_names_the_line() {
    let text = "{\"resourceType\":\"Patient\",\"id\":\"p\"}\n{\"resourceType\": \n";
    match read_input(text.as_bytes(), &HashSet::new()) {
        Err(InputError::NotJson { line: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn resources_go_to_the_categories_docs_fhir_md_gives() {
    let mut by_kind: BTreeMap<String, HashSet<Category>> = BTreeMap::new();
    for name in VALID {
        for e in read(name).entries {
            by_kind
                .entry(e.resource.kind().to_string())
                .or_default()
                .insert(e.resource.category());
        }
    }
    let only = |kind: &str, c: Category| assert_eq!(by_kind[kind], HashSet::from([c]), "{kind}");
    only("Patient", Category::General);
    only("Condition", Category::History);
    only("AllergyIntolerance", Category::History);
    only("Immunization", Category::History);
    only("MedicationStatement", Category::Medication);
    only("MedicationRequest", Category::Medication);
    only("Encounter", Category::Encounters);
    only("DocumentReference", Category::Encounters);
    let observations = &by_kind["Observation"];
    assert!(
        observations.contains(&Category::Vitals) && observations.contains(&Category::Laboratory)
    );
    let reports = &by_kind["DiagnosticReport"];
    assert!(
        reports.contains(&Category::Laboratory) && reports.contains(&Category::Imaging),
        "{reports:?}"
    );
}

#[test]
fn the_summary_of_the_us_core_bundle() {
    let typed: Vec<Resource> = read("us-core-bundle.json")
        .entries
        .into_iter()
        .map(|e| e.resource)
        .collect();
    let s = summarise(&typed);
    assert!(s.patient.is_some());
    assert!(!s.problems.is_empty());
    assert!(s.problems.iter().all(|p| !p.name.is_empty()));
    assert!(
        s.problems
            .iter()
            .any(|p| p.codes.iter().any(|c| c.system == "SNOMED CT")),
        "{:?}",
        s.problems
    );
    assert!(!s.medications.is_empty());
    assert!(
        s.medications
            .iter()
            .any(|m| m.codes.iter().any(|c| c.system == "RxNorm")),
        "{:?}",
        s.medications
    );
    assert!(
        s.allergies
            .first()
            .is_some_and(|a| a.detail.starts_with("high")),
        "{:?}",
        s.allergies
    );
    assert!(!s.immunizations.is_empty());
    assert!(
        s.vitals
            .iter()
            .any(|v| v.codes.iter().any(|c| c.code == "29463-7")),
        "{:?}",
        s.vitals
    );
    let bp = s
        .vitals
        .iter()
        .find(|v| v.codes.iter().any(|c| c.code == "85354-9"))
        .expect("blood pressure");
    assert!(bp.detail.contains('/'), "{bp:?}");
    assert!(
        s.weight
            .lines
            .first()
            .is_some_and(|(_, points)| points.len() >= 2),
        "{:?}",
        s.weight
    );
    assert_eq!(s.blood_pressure.lines.len(), 2);
    // Oldest first on a chart.
    for (_, points) in s.weight.lines.iter().chain(s.blood_pressure.lines.iter()) {
        assert!(points.windows(2).all(|w| w[0].date <= w[1].date));
    }
}

#[test]
fn a_contained_medication_names_the_request() {
    let typed: Vec<Resource> = VALID
        .iter()
        .flat_map(|n| read(n).entries)
        .map(|e| e.resource)
        .collect();
    let requests_by_reference = typed.iter().filter(|r| match r {
        Resource::MedicationRequest(m) => m.medication_codeable_concept.is_none(),
        _ => false,
    });
    assert!(
        requests_by_reference.count() > 0,
        "a fixture names a medication by reference"
    );
    let s = summarise(&typed);
    assert!(
        s.medications.iter().all(|m| m.name != "(not named)"),
        "{:?}",
        s.medications
    );
}

#[test]
fn a_document_reference_offers_its_inline_attachments() {
    let import = read("us-core-bundle.json");
    let documents: Vec<&Resource> = import
        .entries
        .iter()
        .map(|e| &e.resource)
        .filter(|r| r.kind() == ResourceType::DocumentReference)
        .collect();
    let attachments: Vec<_> = documents
        .iter()
        .flat_map(|d| d.inline_attachments())
        .collect();
    assert!(
        !attachments.is_empty(),
        "the fixture's notes carry inline data"
    );
    assert!(attachments
        .iter()
        .all(|a| a.data.as_deref().is_some_and(|d| !d.is_empty())));
    assert!(attachments.iter().any(|a| a
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("text/plain"))));
    let condition = import
        .entries
        .iter()
        .find(|e| e.resource.kind() == ResourceType::Condition);
    assert!(condition.is_some_and(|c| c.resource.inline_attachments().is_empty()));
}

#[test]
fn a_file_of_several_patients_is_refused() {
    let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [
        { "resource": { "resourceType": "Patient", "id": "mother" } },
        { "resource": { "resourceType": "Patient", "id": "child" } },
        { "resource": { "resourceType": "Condition", "id": "c", "subject": { "reference": "Patient/child" } } },
    ]});
    let import = read_input(bundle.to_string().as_bytes(), &HashSet::new()).expect("reads");
    assert!(!import.importable());
    assert_eq!(import.problems.len(), 1, "{:?}", import.problems);
    assert_eq!(import.problems[0].resource, "Patient/child");
    assert!(import.problems[0]
        .note
        .contains("one patient's records at a time"));
}

#[test]
fn an_audit_event_without_a_reason_has_no_empty_outcome_text() {
    use alloy_primitives::{Address, B256};
    use medledger_protocol::api::{AccessAction, LogEntry};
    let mut entry = LogEntry {
        seq: 1,
        at: 1_700_000_000,
        actor: Address::repeat_byte(1),
        patient: Address::repeat_byte(2),
        record_id: B256::repeat_byte(3),
        action: AccessAction::Read,
        granted: true,
        reason: String::new(),
        score_milli: 0,
        flagged: false,
        reasons: Vec::new(),
        prev_hash: None,
        entry_hash: B256::ZERO,
        anchor: None,
        proof: None,
    };
    let event = medledger_protocol::fhir::export::audit_event(&entry);
    assert!(event.get("outcomeDesc").is_none());
    entry.reason = "consent".into();
    assert_eq!(
        medledger_protocol::fhir::export::audit_event(&entry)["outcomeDesc"],
        "consent"
    );
}
