//! The clinical summary a doctor reads at a glance, built from decrypted resources: problem list,
//! current medications, allergies with criticality, latest vitals, immunizations, and the series
//! of weight and blood pressure for a chart. Pure: the app gives it what the reader could open and
//! says separately what consent hides. Also the words a record's label gives a resource.

use std::collections::{BTreeMap, HashMap};

use super::model::{CodeableConcept, Coding, Quantity};
use super::resource::Resource;

/// A code shown beside its text: the code system's common name and the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// "SNOMED CT", "LOINC", "RxNorm", "ICD-10", "CVX".
    pub system: &'static str,
    /// The code.
    pub code: String,
}

/// The code systems whose codes the summary shows, by URI.
const SYSTEMS: [(&str, &str); 7] = [
    ("http://snomed.info/sct", "SNOMED CT"),
    ("http://loinc.org", "LOINC"),
    ("http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "ICD-10-CM"),
    ("http://hl7.org/fhir/sid/icd-10", "ICD-10"),
    ("http://hl7.org/fhir/sid/cvx", "CVX"),
    ("http://unitsofmeasure.org", "UCUM"),
];

/// The known codes of a concept.
pub fn codes(concept: Option<&CodeableConcept>) -> Vec<Code> {
    let codings = concept.map(|c| c.coding.as_slice()).unwrap_or_default();
    codings.iter().filter_map(shown_code).collect()
}

fn shown_code(coding: &Coding) -> Option<Code> {
    let system = coding.system.as_deref()?;
    let (_, name) = SYSTEMS.iter().find(|(uri, _)| *uri == system)?;
    Some(Code {
        system: name,
        code: coding.code.clone()?,
    })
}

/// One line of a list: what, its codes, a detail, and its date.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// What it is, in words.
    pub name: String,
    /// Its codes.
    pub codes: Vec<Code>,
    /// Status, dose, criticality or value, in words.
    pub detail: String,
    /// Its date as FHIR wrote it, when it has one.
    pub date: Option<String>,
}

/// One point of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The FHIR dateTime.
    pub date: String,
    /// The value.
    pub value: f64,
}

/// A vital over time: one or more lines (blood pressure has two) in one unit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// What it is.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// Named lines of points, oldest first.
    pub lines: Vec<(String, Vec<Point>)>,
}

/// What a doctor reads first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The patient's name and birth date, from a Patient resource.
    pub patient: Option<Item>,
    /// Active problems, newest first.
    pub problems: Vec<Item>,
    /// Current medications.
    pub medications: Vec<Item>,
    /// Allergies not resolved; `detail` starts with the criticality.
    pub allergies: Vec<Item>,
    /// The latest value of each vital sign.
    pub vitals: Vec<Item>,
    /// Vaccinations, newest first.
    pub immunizations: Vec<Item>,
    /// Body weight over time.
    pub weight: Series,
    /// Blood pressure over time (systolic and diastolic).
    pub blood_pressure: Series,
}

/// LOINC codes of the vitals charted.
const BODY_WEIGHT: &str = "29463-7";
const BLOOD_PRESSURE: &str = "85354-9";
const SYSTOLIC: &str = "8480-6";
const DIASTOLIC: &str = "8462-4";

fn status_is(concept: Option<&CodeableConcept>, codes: &[&str]) -> bool {
    concept.is_some_and(|c| codes.iter().any(|code| c.has_code(code)))
}

fn name_of(concept: Option<&CodeableConcept>) -> String {
    concept
        .and_then(CodeableConcept::name)
        .unwrap_or("(not named)")
        .to_string()
}

fn quantity(q: &Quantity) -> Option<String> {
    let unit = q.unit_shown();
    let value = q.value.as_ref()?;
    Some(if unit.is_empty() {
        value.to_string()
    } else {
        format!("{value} {unit}")
    })
}

/// Sorts newest first by date; undated last.
fn newest_first(items: &mut [Item]) {
    items.sort_by(|a, b| b.date.cmp(&a.date));
}

/// The summary of `resources`. Entered-in-error resources and refuted conditions are left out;
/// a medication given by reference is named from the Medication it points to (contained or
/// among `resources`).
pub fn summarise(resources: &[Resource]) -> Summary {
    let medications: HashMap<String, &CodeableConcept> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Medication(m) => Some((r.key(), m.code.as_ref()?)),
            _ => None,
        })
        .collect();
    let mut s = Summary::default();
    let mut latest: BTreeMap<String, Item> = BTreeMap::new();
    for resource in resources {
        match resource {
            Resource::Patient(p) => s.patient = Some(patient_item(p)),
            Resource::Condition(c) => s.problems.extend(problem(c)),
            Resource::MedicationStatement(_) | Resource::MedicationRequest(_) => {
                s.medications.extend(medication(resource, &medications));
            }
            Resource::AllergyIntolerance(a) => s.allergies.extend(allergy(a)),
            Resource::Immunization(i) if i.status.as_deref() == Some("completed") => {
                s.immunizations.push(Item {
                    name: name_of(i.vaccine_code.as_ref()),
                    codes: codes(i.vaccine_code.as_ref()),
                    detail: String::new(),
                    date: i
                        .occurrence_date_time
                        .clone()
                        .or(i.occurrence_string.clone()),
                });
            }
            Resource::Observation(o) => vital(o, &mut latest, &mut s),
            _ => {}
        }
    }
    s.vitals = latest.into_values().collect();
    for list in [
        &mut s.problems,
        &mut s.medications,
        &mut s.allergies,
        &mut s.immunizations,
    ] {
        newest_first(list);
    }
    // High criticality first, then newest.
    s.allergies.sort_by_key(|a| !a.detail.starts_with("high"));
    for line in s
        .weight
        .lines
        .iter_mut()
        .chain(s.blood_pressure.lines.iter_mut())
    {
        line.1.sort_by(|a, b| a.date.cmp(&b.date));
    }
    s
}

/// A condition on the problem list: not gone (inactive, resolved, in remission), not wrong
/// (refuted, entered in error).
fn problem(c: &super::model::Condition) -> Option<Item> {
    let gone = status_is(
        c.clinical_status.as_ref(),
        &["inactive", "resolved", "remission"],
    );
    let wrong = status_is(
        c.verification_status.as_ref(),
        &["refuted", "entered-in-error"],
    );
    if gone || wrong {
        return None;
    }
    let since = c.onset_date_time.clone().or(c.recorded_date.clone());
    Some(Item {
        name: name_of(c.code.as_ref()),
        codes: codes(c.code.as_ref()),
        detail: since
            .as_ref()
            .map(|d| format!("since {d}"))
            .unwrap_or_default(),
        date: since,
    })
}

/// A current medication (statement or prescription), named by its code or the Medication it
/// refers to, with its dose in words.
fn medication(
    resource: &Resource,
    medications: &HashMap<String, &CodeableConcept>,
) -> Option<Item> {
    let (status, coded, reference, dose, date, prescribed) = match resource {
        Resource::MedicationStatement(m) => (
            m.status.as_deref(),
            m.medication_codeable_concept.as_ref(),
            m.medication_reference.as_ref(),
            m.dosage.iter().find_map(|d| d.text.clone()),
            m.effective_date_time
                .clone()
                .or(m.effective_period.as_ref().and_then(|p| p.start.clone())),
            false,
        ),
        Resource::MedicationRequest(m) => (
            m.status.as_deref(),
            m.medication_codeable_concept.as_ref(),
            m.medication_reference.as_ref(),
            m.dosage_instruction.iter().find_map(|d| d.text.clone()),
            m.authored_on.clone(),
            true,
        ),
        _ => return None,
    };
    if !current(status) {
        return None;
    }
    let concept = medication_concept(resource, coded, reference, medications);
    let dose = dose.unwrap_or_default();
    let detail = match (prescribed, dose.is_empty()) {
        (true, true) => "prescribed".to_string(),
        (true, false) => format!("prescribed: {dose}"),
        (false, _) => dose,
    };
    Some(Item {
        name: name_of(concept.as_ref()),
        codes: codes(concept.as_ref()),
        detail,
        date,
    })
}

/// An allergy not resolved nor refuted, its criticality first in the detail.
fn allergy(a: &super::model::AllergyIntolerance) -> Option<Item> {
    let gone = status_is(a.clinical_status.as_ref(), &["inactive", "resolved"]);
    let wrong = status_is(
        a.verification_status.as_ref(),
        &["refuted", "entered-in-error"],
    );
    if gone || wrong {
        return None;
    }
    let criticality = match a.criticality.as_deref() {
        Some("high") => "high criticality",
        Some("low") => "low criticality",
        Some("unable-to-assess") => "criticality not assessed",
        _ => "criticality not stated",
    };
    Some(Item {
        name: name_of(a.code.as_ref()),
        codes: codes(a.code.as_ref()),
        detail: criticality.into(),
        date: a.onset_date_time.clone(),
    })
}

fn current(status: Option<&str>) -> bool {
    matches!(status, Some("active" | "intended" | "on-hold") | None)
}

fn patient_item(p: &super::model::Patient) -> Item {
    let name = p
        .name
        .first()
        .map(|n| n.shown())
        .unwrap_or_else(|| "(no name)".into());
    let mut detail = Vec::new();
    if let Some(born) = &p.birth_date {
        detail.push(format!("born {born}"));
    }
    if let Some(gender) = &p.gender {
        detail.push(gender.clone());
    }
    Item {
        name,
        codes: Vec::new(),
        detail: detail.join(", "),
        date: p.birth_date.clone(),
    }
}

/// The medication a statement or request names: coded in it, or a Medication it refers to
/// (contained, or among the resources summarised).
fn medication_concept(
    resource: &Resource,
    coded: Option<&CodeableConcept>,
    reference: Option<&super::model::Reference>,
    medications: &HashMap<String, &CodeableConcept>,
) -> Option<CodeableConcept> {
    if let Some(coded) = coded {
        return Some(coded.clone());
    }
    let target = reference?.reference.as_deref()?;
    match target.strip_prefix('#') {
        Some(local) => contained_medication(resource, local),
        None => medications.get(target).map(|c| (*c).clone()),
    }
}

fn contained_medication(resource: &Resource, local: &str) -> Option<CodeableConcept> {
    let other = match resource {
        Resource::MedicationStatement(m) => &m.other,
        Resource::MedicationRequest(m) => &m.other,
        _ => return None,
    };
    let contained = other.get("contained")?.as_array()?;
    let medication = contained
        .iter()
        .find(|c| c.get("id").and_then(|v| v.as_str()) == Some(local))?;
    serde_json::from_value(medication.get("code")?.clone()).ok()
}

fn vital(o: &super::model::Observation, latest: &mut BTreeMap<String, Item>, s: &mut Summary) {
    let vital_sign = o.category.iter().any(|c| c.has_code("vital-signs"));
    if !vital_sign || matches!(o.status.as_deref(), Some("entered-in-error" | "cancelled")) {
        return;
    }
    let Some(code) = o.code.as_ref() else { return };
    let date = o
        .effective_date_time
        .clone()
        .or(o.effective_period.as_ref().and_then(|p| p.start.clone()))
        .or(o.issued.clone());
    let component = |loinc: &str| {
        o.component
            .iter()
            .find(|c| c.code.as_ref().is_some_and(|k| k.has_code(loinc)))
            .and_then(|c| c.value_quantity.as_ref())
    };
    let value = if code.has_code(BLOOD_PRESSURE) {
        let (sys, dia) = (component(SYSTOLIC), component(DIASTOLIC));
        if let (Some(sys), Some(dia), Some(date)) = (sys, dia, date.as_ref()) {
            push_point(
                &mut s.blood_pressure,
                "Blood pressure",
                "systolic",
                sys,
                date,
            );
            push_point(
                &mut s.blood_pressure,
                "Blood pressure",
                "diastolic",
                dia,
                date,
            );
        }
        match (sys.and_then(|q| q.value.clone()), dia.and_then(quantity)) {
            (Some(sys), Some(dia)) => format!("{sys}/{dia}"),
            _ => return,
        }
    } else {
        let Some(q) = o.value_quantity.as_ref() else {
            return;
        };
        if code.has_code(BODY_WEIGHT) {
            if let Some(date) = date.as_ref() {
                push_point(&mut s.weight, "Body weight", "weight", q, date);
            }
        }
        match quantity(q) {
            Some(v) => v,
            None => return,
        }
    };
    let key = code
        .coding
        .first()
        .and_then(|c| c.code.clone())
        .unwrap_or_else(|| name_of(Some(code)));
    let newer = latest.get(&key).is_none_or(|seen| seen.date < date);
    if newer {
        latest.insert(
            key,
            Item {
                name: name_of(Some(code)),
                codes: codes(Some(code)),
                detail: value,
                date,
            },
        );
    }
}

fn push_point(series: &mut Series, name: &str, line: &str, q: &Quantity, date: &str) {
    let Some(value) = q.number() else { return };
    if series.name.is_empty() {
        series.name = name.to_string();
        series.unit = q.unit_shown().to_string();
    }
    if q.unit_shown() != series.unit {
        return; // one unit per chart; a point in another unit is left out rather than mixed in
    }
    match series.lines.iter_mut().find(|(n, _)| n == line) {
        Some((_, points)) => points.push(Point {
            date: date.to_string(),
            value,
        }),
        None => series.lines.push((
            line.to_string(),
            vec![Point {
                date: date.to_string(),
                value,
            }],
        )),
    }
}

/// A record label's words for a resource: a title ("Problem: Essential hypertension") and a line
/// under it (its date and status).
pub fn describe(resource: &Resource) -> (String, String) {
    let (what, name, detail): (&str, String, Option<String>) = match resource {
        Resource::Patient(p) => {
            let item = patient_item(p);
            ("Patient", item.name, Some(item.detail))
        }
        Resource::Condition(c) => (
            "Problem",
            name_of(c.code.as_ref()),
            c.onset_date_time.clone().map(|d| format!("since {d}")),
        ),
        Resource::Observation(o) => {
            let value = o
                .value_quantity
                .as_ref()
                .and_then(quantity)
                .or(o.value_string.clone());
            let when = o.effective_date_time.clone();
            let detail = [value, when]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
            ("Observation", name_of(o.code.as_ref()), Some(detail))
        }
        Resource::AllergyIntolerance(a) => (
            "Allergy",
            name_of(a.code.as_ref()),
            a.criticality.clone().map(|c| format!("criticality {c}")),
        ),
        Resource::MedicationStatement(m) => (
            "Medication",
            name_of(m.medication_codeable_concept.as_ref()),
            m.status.clone(),
        ),
        Resource::MedicationRequest(m) => (
            "Prescription",
            name_of(m.medication_codeable_concept.as_ref()),
            m.authored_on.clone(),
        ),
        Resource::Medication(m) => ("Medication", name_of(m.code.as_ref()), None),
        Resource::Immunization(i) => (
            "Immunization",
            name_of(i.vaccine_code.as_ref()),
            i.occurrence_date_time.clone(),
        ),
        Resource::Procedure(p) => (
            "Procedure",
            name_of(p.code.as_ref()),
            p.performed_date_time.clone(),
        ),
        Resource::DiagnosticReport(r) => (
            "Report",
            name_of(r.code.as_ref()),
            r.effective_date_time.clone(),
        ),
        Resource::DocumentReference(d) => ("Document", name_of(d.type_.as_ref()), d.date.clone()),
        Resource::Encounter(e) => (
            "Encounter",
            name_of(e.type_.first()),
            e.period.as_ref().and_then(|p| p.start.clone()),
        ),
        Resource::Supporting(kind, r) => {
            let name = r.other.get("name").map(|n| match n {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            (
                kind.name(),
                name.unwrap_or_else(|| r.id.clone().unwrap_or_default()),
                None,
            )
        }
    };
    (
        format!("{what}: {name}"),
        format!("FHIR {} · {}", resource.kind(), detail.unwrap_or_default()),
    )
}
