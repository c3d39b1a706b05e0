//! FHIR in the app, apart from the browser: which resources of a checked import are new (an import
//! stopped half-way is resumed by importing the same file again: what is stored is recognised by
//! its label's `Type/id`), what a structured entry of the sample table is in FHIR (Patient,
//! Observations with their LOINC codes, Condition), which parts of a clinical summary consent
//! hides from a reader, and the geometry of a vital's chart. The browser side is
//! `web/fhir.rs`; the format itself is `protocol::fhir`.

use std::collections::HashSet;

use alloy_primitives::B256;
use medledger_protocol::contract::Category;
use medledger_protocol::envelope::RecordKind;
use medledger_protocol::fhir::summary::Series;
use medledger_protocol::fhir::{Import, MEDIA_TYPE};
use medledger_protocol::identity::days_from_civil;
use serde_json::{json, Value};

use crate::entry::StructuredEntry;

/// One resource to store: its bytes, the category it goes in, and what a download calls it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResource {
    /// `Type/id`.
    pub key: String,
    /// The resource's JSON, as stored.
    pub data: Vec<u8>,
    /// The consent category number.
    pub category: u8,
    /// `Type-id.json`.
    pub file_name: String,
}

impl NewResource {
    /// Its media type and kind in the envelope.
    pub const MEDIA_TYPE: &'static str = MEDIA_TYPE;
    /// Resources are structured data.
    pub const KIND: RecordKind = RecordKind::Structured;
}

/// The resources of `import` not stored yet (`stored` holds the `Type/id` of those that are), in
/// input order, and how many were already stored.
pub fn still_to_store(import: &Import, stored: &HashSet<String>) -> (Vec<NewResource>, usize) {
    let mut new = Vec::new();
    let mut already = 0;
    for entry in &import.entries {
        if stored.contains(&entry.key) {
            already += 1;
            continue;
        }
        new.push(NewResource {
            key: entry.key.clone(),
            data: serde_json::to_vec(&entry.json).unwrap_or_default(),
            category: entry.resource.category().number(),
            file_name: format!("{}.json", entry.key.replace('/', "-")),
        });
    }
    (new, already)
}

/// For an author who may write only `categories` (numbers; a doctor's write grant): the resources
/// they may add, and how many of each other category are left out.
pub fn writable(
    new: Vec<NewResource>,
    categories: &[u8],
) -> (Vec<NewResource>, std::collections::BTreeMap<u8, usize>) {
    let mut refused = std::collections::BTreeMap::new();
    let allowed = new
        .into_iter()
        .filter(|r| {
            let ok = categories.contains(&r.category);
            if !ok {
                *refused.entry(r.category).or_insert(0) += 1;
            }
            ok
        })
        .collect();
    (allowed, refused)
}

/// "3 Vitals, 2 Laboratory": what a write grant leaves out, for the author.
pub fn refused_text(refused: &std::collections::BTreeMap<u8, usize>) -> String {
    let parts: Vec<String> = refused
        .iter()
        .map(|(c, n)| {
            let name = Category::from_number(*c).map_or("unknown", |c| c.name());
            format!("{n} {name}")
        })
        .collect();
    parts.join(", ")
}

/// How an import's preview reads: "12 Observation, 3 Condition".
pub fn counts_text(import: &Import) -> String {
    let counts = import.counts();
    let parts: Vec<String> = counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    parts.join(", ")
}

/// What the patient reads after a file is checked: what it holds, what is new, what is not taken
/// and what must be fixed.
pub fn preview_text(import: &Import, new: usize, already: usize) -> String {
    let mut text = match import.entries.len() {
        0 => "The file holds no resource medledger imports".to_string(),
        n => format!("Found {n} resource(s) to import: {}", counts_text(import)),
    };
    if already > 0 {
        text.push_str(&format!(
            "; {already} of them are already imported, {new} are new"
        ));
    }
    if !import.skipped.is_empty() {
        text.push_str(&format!(
            "; {} not imported (listed below)",
            import.skipped.len()
        ));
    }
    match import.problems.len() {
        0 if import.entries.is_empty() || new == 0 => text.push_str(". There is nothing new to import."),
        0 => text.push_str(". Nothing is stored until you press Encrypt and import."),
        n => text.push_str(&format!(". {n} problem(s) must be fixed in the file first (listed below); nothing was imported.")),
    }
    text
}

/// LOINC, SNOMED CT and UCUM, as the entry's resources use them.
const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const UCUM: &str = "http://unitsofmeasure.org";

/// SNOMED CT's ABO and Rh(D) blood groups.
const BLOOD_GROUP_CODES: [(&str, &str, &str); 8] = [
    ("A+", "278149003", "Blood group A Rh(D) positive"),
    ("A-", "278152006", "Blood group A Rh(D) negative"),
    ("B+", "278150003", "Blood group B Rh(D) positive"),
    ("B-", "278153001", "Blood group B Rh(D) negative"),
    ("AB+", "278151004", "Blood group AB Rh(D) positive"),
    ("AB-", "278154007", "Blood group AB Rh(D) negative"),
    ("O+", "278147001", "Blood group O Rh(D) positive"),
    ("O-", "278148006", "Blood group O Rh(D) negative"),
];

/// A structured entry (record `record_id`, written on `date`, `YYYY-MM-DD`) as FHIR: a Patient with
/// its name, birth date, phone and address; Observations for weight (LOINC 29463-7), height
/// (8302-2) and ABO/Rh blood group (882-1, the group as SNOMED CT); a Condition with its onset.
/// Ids come from the record id, so an entry exports the same resources every time.
pub fn entry_resources(entry: &StructuredEntry, record_id: B256, date: &str) -> Vec<Value> {
    let base = format!("entry-{}", alloy_primitives::hex::encode(&record_id[..8]));
    let patient_id = format!("{base}-patient");
    let subject = json!({ "reference": format!("Patient/{patient_id}") });
    let mut patient = json!({
        "resourceType": "Patient",
        "id": patient_id,
        "name": [{ "text": entry.name.trim() }],
    });
    let text = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    if let Some(born) = text(&entry.birth_date) {
        patient["birthDate"] = json!(born);
    }
    if let Some(phone) = text(&entry.phone) {
        patient["telecom"] = json!([{ "system": "phone", "value": phone }]);
    }
    if let Some(address) = text(&entry.address) {
        patient["address"] = json!([{ "text": address }]);
    }
    let mut out = vec![patient];
    let observation = |suffix: &str, code: &str, display: &str, value: (&str, Value)| {
        let mut o = json!({
            "resourceType": "Observation",
            "id": format!("{base}-{suffix}"),
            "status": "final",
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs" }] }],
            "code": { "coding": [{ "system": LOINC, "code": code, "display": display }], "text": display },
            "subject": subject,
            "effectiveDateTime": date,
        });
        o[value.0] = value.1;
        o
    };
    let quantity = |v: &str, unit: &str| -> Option<(&'static str, Value)> {
        let number: serde_json::Number = v.trim().parse().ok()?;
        Some((
            "valueQuantity",
            json!({ "value": number, "unit": unit, "system": UCUM, "code": unit }),
        ))
    };
    if let Some(q) = quantity(&entry.weight_kg, "kg") {
        out.push(observation("weight", "29463-7", "Body weight", q));
    }
    if let Some(q) = quantity(&entry.height_cm, "cm") {
        out.push(observation("height", "8302-2", "Body height", q));
    }
    if let Some((_, code, display)) = BLOOD_GROUP_CODES
        .iter()
        .find(|(g, ..)| *g == entry.blood_group)
    {
        let value = json!({ "coding": [{ "system": SNOMED, "code": code, "display": display }], "text": entry.blood_group });
        let mut o = observation(
            "blood-group",
            "882-1",
            "ABO and Rh group [Type] in Blood",
            ("valueCodeableConcept", value),
        );
        o["category"][0]["coding"][0] = json!({ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory", "display": "Laboratory" });
        out.push(o);
    }
    if let Some(condition) = text(&entry.condition) {
        let mut c = json!({
            "resourceType": "Condition",
            "id": format!("{base}-condition"),
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
            "code": { "text": condition },
            "subject": subject,
        });
        if let Some(since) = text(&entry.since) {
            c["onsetDateTime"] = json!(since);
        }
        if let Some(note) = text(&entry.description) {
            c["note"] = json!([{ "text": note }]);
        }
        out.push(c);
    }
    out
}

/// A part of the clinical summary and the category its resources are stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Problem list.
    Problems,
    /// Current medications.
    Medications,
    /// Allergies.
    Allergies,
    /// Latest vitals and their charts.
    Vitals,
    /// Immunizations.
    Immunizations,
}

impl Part {
    /// Every part, in page order.
    pub const ALL: [Part; 5] = [
        Self::Problems,
        Self::Medications,
        Self::Allergies,
        Self::Vitals,
        Self::Immunizations,
    ];

    /// Its heading.
    pub fn heading(self) -> &'static str {
        match self {
            Self::Problems => "Problems",
            Self::Medications => "Medications",
            Self::Allergies => "Allergies",
            Self::Vitals => "Latest vitals",
            Self::Immunizations => "Immunizations",
        }
    }

    /// The category its resources are stored in (docs/fhir.md "Mapping").
    pub fn category(self) -> Category {
        match self {
            Self::Problems | Self::Allergies | Self::Immunizations => Category::History,
            Self::Medications => Category::Medication,
            Self::Vitals => Category::Vitals,
        }
    }

    /// What a reader without that category is told, instead of an empty list.
    pub fn hidden_text(self) -> String {
        format!(
            "Not shared with you: the patient has not granted you the {} category.",
            self.category().name()
        )
    }
}

/// Whether a reader granted `categories` (numbers) sees `part`. The patient passes every category.
pub fn shows(part: Part, categories: &[u8]) -> bool {
    categories.contains(&part.category().number())
}

/// A chart's drawing: one polyline per line of the series, in a `width` × `height` box.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Lines: name and SVG `points` ("x,y x,y").
    pub lines: Vec<(String, String)>,
    /// Lowest and highest value on the y axis.
    pub y_range: (f64, f64),
    /// First and last date on the x axis.
    pub x_range: (String, String),
}

/// Days since 1970 of a FHIR date or dateTime's date part (`YYYY`, `YYYY-MM`, `YYYY-MM-DD...`).
fn day_of(date: &str) -> Option<i64> {
    let mut parts = date.get(..date.len().min(10))?.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next().map_or(Some(1), |m| m.parse().ok())?;
    let day: u32 = parts.next().map_or(Some(1), |d| d.parse().ok())?;
    Some(days_from_civil(year, month, day))
}

/// The chart of `series` in a `width` × `height` box with `pad` around it: x by date, y by value.
/// `None` when there are fewer than two dated points to draw.
pub fn chart(series: &Series, width: f64, height: f64, pad: f64) -> Option<Chart> {
    let points: Vec<(i64, f64)> = series
        .lines
        .iter()
        .flat_map(|(_, line)| line.iter())
        .filter_map(|p| Some((day_of(&p.date)?, p.value)))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let (x0, x1) = points
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), (x, _)| {
            (lo.min(*x), hi.max(*x))
        });
    let (y0, y1) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), (_, y)| {
            (lo.min(*y), hi.max(*y))
        });
    let span_x = (x1 - x0).max(1) as f64;
    let span_y = if y1 > y0 { y1 - y0 } else { 1.0 };
    let lines = series
        .lines
        .iter()
        .map(|(name, line)| {
            let xy: Vec<String> = line
                .iter()
                .filter_map(|p| {
                    let x = pad + (day_of(&p.date)? - x0) as f64 / span_x * (width - 2.0 * pad);
                    let y = height - pad - (p.value - y0) / span_y * (height - 2.0 * pad);
                    Some(format!("{x:.1},{y:.1}"))
                })
                .collect();
            (name.clone(), xy.join(" "))
        })
        .collect();
    let first = series
        .lines
        .iter()
        .flat_map(|(_, l)| l.iter())
        .min_by_key(|p| day_of(&p.date));
    let last = series
        .lines
        .iter()
        .flat_map(|(_, l)| l.iter())
        .max_by_key(|p| day_of(&p.date));
    let date = |p: Option<&medledger_protocol::fhir::summary::Point>| {
        p.map(|p| p.date.chars().take(10).collect())
            .unwrap_or_default()
    };
    Some(Chart {
        lines,
        y_range: (y0, y1),
        x_range: (date(first), date(last)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_protocol::fhir::summary::{summarise, Point};
    use medledger_protocol::fhir::{read_input, Resource};

    fn entry() -> StructuredEntry {
        StructuredEntry {
            name: "Ada Lovelace".into(),
            birth_date: "1990-12-10".into(),
            weight_kg: "61.5".into(),
            height_cm: "168".into(),
            blood_group: "O-".into(),
            condition: "Asthma".into(),
            since: "2019-06".into(),
            ..StructuredEntry::new()
        }
    }

    #[test]
    fn an_entry_is_a_patient_three_observations_and_a_condition_that_import_back() {
        let resources = entry_resources(&entry(), B256::repeat_byte(7), "2026-11-30");
        let kinds: Vec<&str> = resources
            .iter()
            .map(|r| r["resourceType"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            kinds,
            [
                "Patient",
                "Observation",
                "Observation",
                "Observation",
                "Condition"
            ]
        );
        assert_eq!(resources[1]["code"]["coding"][0]["code"], "29463-7");
        assert_eq!(resources[1]["valueQuantity"]["value"].to_string(), "61.5");
        assert_eq!(resources[2]["code"]["coding"][0]["code"], "8302-2");
        assert_eq!(resources[3]["code"]["coding"][0]["code"], "882-1");
        assert_eq!(
            resources[3]["valueCodeableConcept"]["coding"][0]["code"],
            "278148006"
        );
        assert_eq!(resources[4]["onsetDateTime"], "2019-06");
        // They read back as resources, with references that resolve among themselves.
        let bundle = medledger_protocol::fhir::export::collection_bundle(resources, 0);
        let import = read_input(
            &serde_json::to_vec(&bundle).unwrap_or_default(),
            &HashSet::new(),
        )
        .expect("the entry's bundle reads back");
        assert!(import.importable(), "{:?}", import.problems);
        let summary = summarise(
            &import
                .entries
                .iter()
                .map(|e| e.resource.clone())
                .collect::<Vec<_>>(),
        );
        assert_eq!(summary.problems[0].name, "Asthma");
        assert_eq!(
            summary.patient.as_ref().map(|p| p.name.as_str()),
            Some("Ada Lovelace")
        );
        assert!(summary.vitals.iter().any(|v| v.detail == "61.5 kg"));
    }

    #[test]
    fn an_entry_without_measurements_is_only_a_patient() {
        let bare = StructuredEntry {
            name: "Ada".into(),
            ..StructuredEntry::new()
        };
        let resources = entry_resources(&bare, B256::ZERO, "2026-11-30");
        assert_eq!(resources.len(), 1);
        assert!(resources[0].get("birthDate").is_none());
    }

    #[test]
    fn a_stored_resource_is_not_stored_again() {
        let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [
            { "resource": { "resourceType": "Patient", "id": "p" } },
            { "resource": { "resourceType": "Condition", "id": "c", "subject": { "reference": "Patient/p" } } },
        ]});
        let import = read_input(
            &serde_json::to_vec(&bundle).unwrap_or_default(),
            &HashSet::new(),
        )
        .expect("reads");
        let stored = HashSet::from(["Patient/p".to_string()]);
        let (new, already) = still_to_store(&import, &stored);
        assert_eq!(already, 1);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].key, "Condition/c");
        assert_eq!(new[0].category, Category::History.number());
        assert_eq!(new[0].file_name, "Condition-c.json");
        let back = Resource::from_slice(&new[0].data).expect("stored bytes are the resource");
        assert_eq!(back.key(), "Condition/c");
        assert_eq!(counts_text(&import), "1 Patient, 1 Condition");
    }

    #[test]
    fn a_doctor_adds_only_the_categories_their_grant_lets_them_write() {
        let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [
            { "resource": { "resourceType": "Condition", "id": "c" } },
            { "resource": { "resourceType": "MedicationStatement", "id": "m" } },
            { "resource": { "resourceType": "Observation", "id": "o", "category": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs" }] }] } },
        ]});
        let import = read_input(
            &serde_json::to_vec(&bundle).unwrap_or_default(),
            &HashSet::new(),
        )
        .expect("reads");
        let (new, _) = still_to_store(&import, &HashSet::new());
        let grant = [Category::History.number(), Category::Medication.number()];
        let (allowed, refused) = writable(new, &grant);
        let keys: Vec<&str> = allowed.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["Condition/c", "MedicationStatement/m"]);
        assert_eq!(refused_text(&refused), "1 vitals");
    }

    #[test]
    fn a_reader_sees_only_the_parts_of_granted_categories() {
        let granted = [Category::Vitals.number(), Category::Medication.number()];
        let shown: Vec<Part> = Part::ALL
            .into_iter()
            .filter(|p| shows(*p, &granted))
            .collect();
        assert_eq!(shown, [Part::Medications, Part::Vitals]);
        assert!(Part::Problems.hidden_text().contains("history"));
    }

    #[test]
    fn a_chart_spans_its_box_by_date_and_value() {
        let series = Series {
            name: "Body weight".into(),
            unit: "kg".into(),
            lines: vec![(
                "weight".into(),
                vec![
                    Point {
                        date: "2024-01-01".into(),
                        value: 60.0,
                    },
                    Point {
                        date: "2024-01-11T08:00:00Z".into(),
                        value: 70.0,
                    },
                    Point {
                        date: "2024-01-06".into(),
                        value: 65.0,
                    },
                ],
            )],
        };
        let c = chart(&series, 110.0, 60.0, 5.0).expect("three points draw");
        assert_eq!(c.lines[0].1, "5.0,55.0 105.0,5.0 55.0,30.0");
        assert_eq!(c.y_range, (60.0, 70.0));
        assert_eq!(
            c.x_range,
            ("2024-01-01".to_string(), "2024-01-11".to_string())
        );
        let one = Series {
            lines: vec![(
                "w".into(),
                vec![Point {
                    date: "2024".into(),
                    value: 1.0,
                }],
            )],
            ..series
        };
        assert!(chart(&one, 100.0, 50.0, 5.0).is_none());
    }
}
