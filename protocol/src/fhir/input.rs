//! Reading what a user picks to import: a FHIR R4 JSON Bundle, a single resource, or NDJSON as
//! FHIR bulk data export writes it. Everything is checked before anything is stored: the input is
//! JSON, FHIR, R4 (other versions are recognised and named), within [`MAX_INPUT_BYTES`]; each
//! resource is of a type medledger imports (others are listed as skipped, with why), valid for its
//! model, with an id (given from its `fullUrl` when it has none); and every reference resolves to
//! a resource of the same input, to one the patient imported before, or to a `#contained`
//! resource; a `urn:` or `#` reference that resolves nowhere stops the import, a `Type/id` one
//! (the source server's resource) is kept with a warning. References are rewritten to `Type/id`, the one form records keep, so that export can
//! resolve them again (docs/fhir.md "References").

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::resource::{Resource, ResourceType};

/// The largest input read at once. The browser holds the file and its parsed tree in memory; a
/// bulk data export comes one file per resource type, each of which can be imported in turn.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// Why an input cannot be read at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    /// Larger than [`MAX_INPUT_BYTES`].
    #[error("the file is {} MB; medledger imports FHIR files of up to {} MB at a time (split a bulk export by resource type)", .bytes / 1_000_000, .limit / 1_000_000)]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON, nor NDJSON.
    #[error("the file is not JSON: {why} (line {line}, column {column})")]
    NotJson {
        /// Where it stops being JSON.
        line: usize,
        /// The column there.
        column: usize,
        /// serde's words.
        why: String,
    },
    /// JSON, but not a FHIR resource or bundle.
    #[error("the file is JSON but not FHIR: {0}")]
    NotFhir(String),
    /// FHIR of another version.
    #[error(
        "the file looks like FHIR {version}, not R4 ({evidence}); medledger reads FHIR R4 (4.0.1)"
    )]
    OtherVersion {
        /// The version it looks like.
        version: &'static str,
        /// What gave it away.
        evidence: String,
    },
    /// Nothing in it.
    #[error("the file holds no resources")]
    Empty,
}

/// One resource ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `Type/id`.
    pub key: String,
    /// Its typed model.
    pub resource: Resource,
    /// Its JSON as the record keeps it: the input's, with the id given and references rewritten.
    pub json: Value,
}

/// Something in the input that is not imported, or a concern about what is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Which resource (`Type/id`, or the entry's position).
    pub resource: String,
    /// What about it.
    pub note: String,
}

/// What an input holds, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Import {
    /// The resources to store, in input order.
    pub entries: Vec<Entry>,
    /// Resources not imported, and why (a type medledger does not take, a search outcome).
    pub skipped: Vec<Note>,
    /// What stops the import until the file is fixed (a broken reference, an invalid resource, a
    /// duplicate id). Nothing is stored while there is one.
    pub problems: Vec<Note>,
    /// What is imported as written but worth knowing (a reference to a resource not imported).
    pub warnings: Vec<Note>,
}

impl Import {
    /// How many resources of each type are to be stored.
    pub fn counts(&self) -> BTreeMap<ResourceType, usize> {
        let mut counts = BTreeMap::new();
        for e in &self.entries {
            *counts.entry(e.resource.kind()).or_insert(0) += 1;
        }
        counts
    }

    /// Whether it can be stored: something to store and no problem.
    pub fn importable(&self) -> bool {
        !self.entries.is_empty() && self.problems.is_empty()
    }
}

/// One resource as found, before checks.
struct Found {
    full_url: Option<String>,
    json: Value,
    place: String,
}

/// Reads and checks an input. `known` holds the `Type/id` keys of resources the patient imported
/// before, which references may point to.
pub fn read_input(bytes: &[u8], known: &HashSet<String>) -> Result<Import, InputError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge {
            bytes: bytes.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let mut import = Import::default();
    let found = found_in(parse_json(bytes)?, &mut import)?;
    if let Some((version, evidence)) = found.iter().find_map(|f| other_version(&f.json)) {
        return Err(InputError::OtherVersion { version, evidence });
    }
    let (urls, mut pending) = give_ids(found, &mut import);
    one_patient(&pending, &mut import);
    resolve_references(&mut pending, &urls, known, &mut import);
    // Typed once, after the references are rewritten.
    for (key, json) in pending {
        match Resource::from_value(json.clone()) {
            Ok(resource) => import.entries.push(Entry {
                key,
                resource,
                json,
            }),
            Err(e) => import.problems.push(Note {
                resource: key,
                note: e.to_string(),
            }),
        }
    }
    if import.entries.is_empty() && import.skipped.is_empty() && import.problems.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(import)
}

/// The input as JSON values: one document, or one per NDJSON line.
fn parse_json(bytes: &[u8]) -> Result<Vec<Value>, InputError> {
    let whole = match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => return Ok(vec![value]),
        Err(e) => e,
    };
    let not_json = |e: &serde_json::Error, line: usize| InputError::NotJson {
        line,
        column: e.column(),
        why: e
            .to_string()
            .split(" at line")
            .next()
            .unwrap_or("")
            .to_string(),
    };
    // NDJSON: every non-empty line a JSON object. Anything else is reported where the whole
    // document stopped parsing.
    let mut values = Vec::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(value @ Value::Object(_)) => values.push(value),
            Ok(_) | Err(_) if values.is_empty() => return Err(not_json(&whole, whole.line())),
            Ok(_) => {
                return Err(InputError::NotJson {
                    line: n + 1,
                    column: 1,
                    why: "an NDJSON line that is not a JSON object".into(),
                })
            }
            Err(e) => return Err(not_json(&e, n + 1)),
        }
    }
    Ok(values)
}

/// The resources of the input's documents: a Bundle's entries, or the documents themselves.
fn found_in(documents: Vec<Value>, import: &mut Import) -> Result<Vec<Found>, InputError> {
    let mut found = Vec::new();
    let many = documents.len() > 1;
    for (n, doc) in documents.into_iter().enumerate() {
        let place = if many {
            format!("line {}", n + 1)
        } else {
            "the file".to_string()
        };
        match doc.get("resourceType").and_then(Value::as_str) {
            None if doc.is_object() => {
                let what = format!("{place} is a JSON object without a resourceType");
                return Err(InputError::NotFhir(what));
            }
            None => return Err(InputError::NotFhir(format!("{place} is not a JSON object"))),
            Some("Bundle") => bundle_entries(doc, &place, &mut found, import),
            Some(_) => found.push(Found {
                full_url: None,
                json: doc,
                place,
            }),
        }
    }
    Ok(found)
}

fn bundle_entries(bundle: Value, place: &str, found: &mut Vec<Found>, import: &mut Import) {
    let Value::Object(mut bundle) = bundle else {
        return;
    };
    let Some(Value::Array(entries)) = bundle.remove("entry") else {
        return;
    };
    for (n, mut entry) in entries.into_iter().enumerate() {
        let place = format!("entry {} of {place}", n + 1);
        let outcome = entry.pointer("/search/mode").and_then(Value::as_str) == Some("outcome");
        let full_url = entry
            .get("fullUrl")
            .and_then(Value::as_str)
            .map(str::to_string);
        match entry.get_mut("resource").map(Value::take) {
            Some(_) if outcome => import.skipped.push(Note {
                resource: place,
                note: "a search outcome, not part of the record".into(),
            }),
            Some(json @ Value::Object(_)) => found.push(Found {
                full_url,
                json,
                place,
            }),
            _ => import.problems.push(Note {
                resource: place,
                note: "the entry has no resource".into(),
            }),
        }
    }
}

/// FHIR versions recognised by what only they have, and the evidence.
fn other_version(json: &Value) -> Option<(&'static str, String)> {
    const OLDER: [&str; 12] = [
        "MedicationOrder",
        "DiagnosticOrder",
        "ProcedureRequest",
        "ReferralRequest",
        "DeviceUseRequest",
        "Order",
        "OrderResponse",
        "BodySite",
        "DataElement",
        "EligibilityRequest",
        "ProcessRequest",
        "Sequence",
    ];
    const NEWER: [&str; 12] = [
        "ActorDefinition",
        "ArtifactAssessment",
        "DeviceDispense",
        "DeviceUsage",
        "EncounterHistory",
        "FormularyItem",
        "GenomicStudy",
        "ImagingSelection",
        "InventoryItem",
        "Permission",
        "Requirements",
        "Transport",
    ];
    let kind = json
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let id = json.get("id").and_then(Value::as_str).unwrap_or("(no id)");
    if let Some(version) = json.get("fhirVersion").and_then(Value::as_str) {
        if !version.starts_with("4.0") {
            let named = match version.split('.').next() {
                Some("5") => "R5",
                Some("4") => "R4B",
                Some("3") => "STU3",
                _ => "DSTU2",
            };
            return Some((named, format!("{kind} {id} declares fhirVersion {version}")));
        }
    }
    if OLDER.contains(&kind) {
        return Some((
            "DSTU2 or STU3",
            format!("{kind} {id} is a type R4 replaced"),
        ));
    }
    if NEWER.contains(&kind) {
        return Some(("R5", format!("{kind} {id} is a type R4 does not have")));
    }
    let shape = |what: &str| format!("{kind} {id} has {what}");
    match kind {
        "Encounter" if json.get("class").is_some_and(Value::is_array) => {
            Some(("R5", shape("class as a list")))
        }
        "Condition" | "AllergyIntolerance"
            if json.get("clinicalStatus").is_some_and(Value::is_string) =>
        {
            Some((
                "STU3 or DSTU2",
                shape("clinicalStatus as a code, not a CodeableConcept"),
            ))
        }
        "AllergyIntolerance" if json.get("substance").is_some() => {
            Some(("DSTU2", shape("substance, which R4 calls code")))
        }
        _ => None,
    }
}

/// A resource's id as its `fullUrl` says it: a `urn:uuid:` or the last segment of a RESTful URL.
fn id_from_url(url: &str) -> Option<String> {
    let id = url
        .strip_prefix("urn:uuid:")
        .or_else(|| url.rsplit('/').next())?;
    valid_id(id).then(|| id.to_string())
}

/// FHIR's id rule: 1 to 64 of `A-Z a-z 0-9 - .`.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// An id for a resource that has none and no usable `fullUrl`: from its content, so that the
/// same file imported again gives the same ids (and is recognised as imported).
fn id_from_content(json: &Value) -> String {
    let bytes = serde_json::to_vec(json).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A resource of a handled type, its `Type/id`, before its references are resolved.
type Pending = Vec<(String, Value)>;

/// Gives each found resource its id; lists those of types medledger does not import as skipped.
/// Returns the map from every `fullUrl` to its `Type/id`, and the resources to import.
fn give_ids(found: Vec<Found>, import: &mut Import) -> (HashMap<String, String>, Pending) {
    let mut pending = Vec::new();
    let mut urls = HashMap::new();
    let mut seen = HashSet::new();
    for Found {
        full_url,
        mut json,
        place,
    } in found
    {
        let kind = json["resourceType"].as_str().unwrap_or("").to_string();
        let given = json.get("id").and_then(Value::as_str).map(str::to_string);
        let id = match given {
            Some(id) if valid_id(&id) => id,
            Some(id) => {
                let note = format!("its id {id:?} is not a FHIR id (1–64 letters, digits, - or .)");
                import.problems.push(Note {
                    resource: format!("{kind} in {place}"),
                    note,
                });
                continue;
            }
            None => {
                let id = full_url.as_deref().and_then(id_from_url);
                let id = id.unwrap_or_else(|| id_from_content(&json));
                json["id"] = Value::String(id.clone());
                id
            }
        };
        let key = format!("{kind}/{id}");
        if let Some(url) = full_url {
            urls.insert(url, key.clone());
        }
        if !seen.insert(key.clone()) {
            let note = "another resource of the input has the same type and id".to_string();
            import.problems.push(Note {
                resource: key,
                note,
            });
            continue;
        }
        match ResourceType::parse(&kind) {
            Some(_) => pending.push((key, json)),
            None => import.skipped.push(Note {
                resource: key,
                note: format!("medledger does not import {kind} resources (docs/fhir.md)"),
            }),
        }
    }
    (urls, pending)
}

/// An input is one patient's: a file with several Patient resources (a family's Bundle, a group's
/// bulk export) would store other people's records as this patient's and open them to this
/// patient's grantees. Each Patient after the first is a problem.
fn one_patient(pending: &Pending, import: &mut Import) {
    let patients: Vec<&String> = pending
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("Patient/"))
        .collect();
    if let Some((first, others)) = patients.split_first() {
        for other in others {
            import.problems.push(Note {
                resource: (*other).clone(),
                note: format!("a second patient in the file (the first is {first}): import one patient's records at a time"),
            });
        }
    }
}

/// Calls `visit` with every `reference` string of a resource, its contained resources included.
pub fn visit_references(json: &mut Value, visit: &mut impl FnMut(&mut String)) {
    match json {
        Value::Object(map) => {
            for (name, value) in map.iter_mut() {
                match value {
                    Value::String(reference) if name == "reference" => visit(reference),
                    _ => visit_references(value, visit),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| visit_references(v, visit)),
        _ => {}
    }
}

/// Where a reference points, once resolved.
enum Target {
    /// A resource of the input or imported before: its `Type/id`.
    Key(String),
    /// A contained resource, or the resource itself (`#`).
    Contained,
    /// A resource of the input medledger does not import.
    Skipped(String),
    /// Another server's resource: kept as written.
    External,
    /// `Type/id` of a resource neither in the input nor imported before (the source server's,
    /// most often the patient of a resource exported alone): kept as written, with a warning.
    Elsewhere,
    /// Nowhere.
    Broken,
}

/// Rewrites every reference to `Type/id` and reports those that resolve nowhere.
fn resolve_references(
    pending: &mut Pending,
    urls: &HashMap<String, String>,
    known: &HashSet<String>,
    import: &mut Import,
) {
    let keys: HashSet<String> = pending.iter().map(|(key, _)| key.clone()).collect();
    let skipped: HashSet<String> = import.skipped.iter().map(|n| n.resource.clone()).collect();
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    for (key, json) in pending.iter_mut() {
        let contained = contained_ids(json);
        let key = key.clone();
        visit_references(json, &mut |reference| {
            match resolve(
            reference, urls, &keys, known, &skipped, &contained,
        ) {
            Target::Key(target) => *reference = target,
            Target::Contained | Target::External => {}
            Target::Skipped(target) => warnings.push(Note {
                resource: key.clone(),
                note: format!("refers to {target}, which is not imported; kept as written"),
            }),
            Target::Elsewhere => warnings.push(Note {
                resource: key.clone(),
                note: format!("refers to {reference}, which is neither in the file nor imported before; kept as written"),
            }),
            Target::Broken => problems.push(Note {
                resource: key.clone(),
                note: format!("refers to {reference}, which is not in the file (a reference of this form only points inside its file)"),
            }),
        }
        });
    }
    import.problems.extend(problems);
    import.warnings.extend(warnings);
}

fn contained_ids(json: &Value) -> HashSet<String> {
    let contained = json.get("contained").and_then(Value::as_array);
    contained
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("id").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn resolve(
    reference: &str,
    urls: &HashMap<String, String>,
    keys: &HashSet<String>,
    known: &HashSet<String>,
    skipped: &HashSet<String>,
    contained: &HashSet<String>,
) -> Target {
    if let Some(local) = reference.strip_prefix('#') {
        return match local.is_empty() || contained.contains(local) {
            true => Target::Contained,
            false => Target::Broken,
        };
    }
    if let Some(key) = urls.get(reference) {
        return match keys.contains(key) {
            true => Target::Key(key.clone()),
            false => Target::Skipped(key.clone()),
        };
    }
    // `Type/id`, `Type/id/_history/n`, or the same at the end of an absolute URL.
    let plain = reference.split("/_history/").next().unwrap_or(reference);
    let mut tail = plain.rsplit('/');
    let (id, kind) = (tail.next().unwrap_or(""), tail.next().unwrap_or(""));
    let key = format!("{kind}/{id}");
    let relative = !reference.contains(':');
    if keys.contains(&key) || (relative && known.contains(&key)) {
        return Target::Key(key);
    }
    if skipped.contains(&key) {
        return Target::Skipped(key);
    }
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return Target::External;
    }
    if relative && !kind.is_empty() && valid_id(id) {
        return Target::Elsewhere;
    }
    Target::Broken
}
