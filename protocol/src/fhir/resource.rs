//! One FHIR resource as medledger holds it: its type among those it imports, its typed model,
//! and the consent category it is stored in (docs/fhir.md "Mapping").

use serde_json::Value;

use super::model::*;
use crate::contract::Category;

/// The resource types medledger imports, each stored as its own record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    /// Demographics.
    Patient,
    /// Problems and diagnoses.
    Condition,
    /// Vital signs, laboratory results, findings.
    Observation,
    /// Allergies and intolerances.
    AllergyIntolerance,
    /// Medications taken.
    MedicationStatement,
    /// Prescriptions.
    MedicationRequest,
    /// Medication definitions.
    Medication,
    /// Vaccinations.
    Immunization,
    /// Procedures.
    Procedure,
    /// Result reports.
    DiagnosticReport,
    /// Documents and their attachments.
    DocumentReference,
    /// Visits and stays.
    Encounter,
    /// Practitioners (context of other resources).
    Practitioner,
    /// Practitioners' roles.
    PractitionerRole,
    /// Organisations.
    Organization,
    /// Places.
    Location,
}

impl ResourceType {
    /// Every imported type.
    pub const ALL: [ResourceType; 16] = [
        Self::Patient,
        Self::Condition,
        Self::Observation,
        Self::AllergyIntolerance,
        Self::MedicationStatement,
        Self::MedicationRequest,
        Self::Medication,
        Self::Immunization,
        Self::Procedure,
        Self::DiagnosticReport,
        Self::DocumentReference,
        Self::Encounter,
        Self::Practitioner,
        Self::PractitionerRole,
        Self::Organization,
        Self::Location,
    ];

    /// Its FHIR name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::Condition => "Condition",
            Self::Observation => "Observation",
            Self::AllergyIntolerance => "AllergyIntolerance",
            Self::MedicationStatement => "MedicationStatement",
            Self::MedicationRequest => "MedicationRequest",
            Self::Medication => "Medication",
            Self::Immunization => "Immunization",
            Self::Procedure => "Procedure",
            Self::DiagnosticReport => "DiagnosticReport",
            Self::DocumentReference => "DocumentReference",
            Self::Encounter => "Encounter",
            Self::Practitioner => "Practitioner",
            Self::PractitionerRole => "PractitionerRole",
            Self::Organization => "Organization",
            Self::Location => "Location",
        }
    }

    /// The type of this FHIR name, when medledger imports it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A resource, typed.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // each variant is its type's model
pub enum Resource {
    Patient(Patient),
    Condition(Condition),
    Observation(Observation),
    AllergyIntolerance(AllergyIntolerance),
    MedicationStatement(MedicationStatement),
    MedicationRequest(MedicationRequest),
    Medication(Medication),
    Immunization(Immunization),
    Procedure(Procedure),
    DiagnosticReport(DiagnosticReport),
    DocumentReference(DocumentReference),
    Encounter(Encounter),
    /// Practitioner, PractitionerRole, Organization or Location.
    Supporting(ResourceType, Supporting),
}

/// Why a JSON object is not a resource medledger reads.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResourceError {
    /// No `resourceType`.
    #[error("it has no resourceType, so it is not a FHIR resource")]
    NotFhir,
    /// A type medledger does not import.
    #[error("medledger does not import {0} resources")]
    Unhandled(String),
    /// An element has the wrong shape for FHIR R4.
    #[error("it is not a valid R4 {kind}: {why}")]
    Invalid {
        /// The type.
        kind: ResourceType,
        /// serde's words.
        why: String,
    },
}

const TYPE_FIELD: &str = "resourceType";

fn typed<T: serde::de::DeserializeOwned>(
    kind: ResourceType,
    value: Value,
) -> Result<T, ResourceError> {
    serde_json::from_value(value).map_err(|e| ResourceError::Invalid {
        kind,
        why: e.to_string(),
    })
}

impl Resource {
    /// Reads a resource from its JSON.
    pub fn from_value(mut value: Value) -> Result<Self, ResourceError> {
        let Some(object) = value.as_object_mut() else {
            return Err(ResourceError::NotFhir);
        };
        let name = match object.remove(TYPE_FIELD) {
            Some(Value::String(name)) => name,
            _ => return Err(ResourceError::NotFhir),
        };
        let kind = ResourceType::parse(&name).ok_or(ResourceError::Unhandled(name))?;
        use ResourceType as T;
        Ok(match kind {
            T::Patient => Self::Patient(typed(kind, value)?),
            T::Condition => Self::Condition(typed(kind, value)?),
            T::Observation => Self::Observation(typed(kind, value)?),
            T::AllergyIntolerance => Self::AllergyIntolerance(typed(kind, value)?),
            T::MedicationStatement => Self::MedicationStatement(typed(kind, value)?),
            T::MedicationRequest => Self::MedicationRequest(typed(kind, value)?),
            T::Medication => Self::Medication(typed(kind, value)?),
            T::Immunization => Self::Immunization(typed(kind, value)?),
            T::Procedure => Self::Procedure(typed(kind, value)?),
            T::DiagnosticReport => Self::DiagnosticReport(typed(kind, value)?),
            T::DocumentReference => Self::DocumentReference(typed(kind, value)?),
            T::Encounter => Self::Encounter(typed(kind, value)?),
            T::Practitioner | T::PractitionerRole | T::Organization | T::Location => {
                Self::Supporting(kind, typed(kind, value)?)
            }
        })
    }

    /// Reads a resource from its JSON bytes (a stored record).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ResourceError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| ResourceError::NotFhir)?;
        Self::from_value(value)
    }

    /// The resource as JSON, `resourceType` first.
    pub fn to_value(&self) -> Value {
        let body = match self {
            Self::Patient(r) => serde_json::to_value(r),
            Self::Condition(r) => serde_json::to_value(r),
            Self::Observation(r) => serde_json::to_value(r),
            Self::AllergyIntolerance(r) => serde_json::to_value(r),
            Self::MedicationStatement(r) => serde_json::to_value(r),
            Self::MedicationRequest(r) => serde_json::to_value(r),
            Self::Medication(r) => serde_json::to_value(r),
            Self::Immunization(r) => serde_json::to_value(r),
            Self::Procedure(r) => serde_json::to_value(r),
            Self::DiagnosticReport(r) => serde_json::to_value(r),
            Self::DocumentReference(r) => serde_json::to_value(r),
            Self::Encounter(r) => serde_json::to_value(r),
            Self::Supporting(_, r) => serde_json::to_value(r),
        };
        // Serialising these models cannot fail: every field is a string, number, map or list.
        let Ok(Value::Object(body)) = body else {
            return Value::Null;
        };
        let mut out = serde_json::Map::new();
        out.insert(TYPE_FIELD.into(), Value::String(self.kind().name().into()));
        out.extend(body);
        Value::Object(out)
    }

    /// Its type.
    pub fn kind(&self) -> ResourceType {
        match self {
            Self::Patient(_) => ResourceType::Patient,
            Self::Condition(_) => ResourceType::Condition,
            Self::Observation(_) => ResourceType::Observation,
            Self::AllergyIntolerance(_) => ResourceType::AllergyIntolerance,
            Self::MedicationStatement(_) => ResourceType::MedicationStatement,
            Self::MedicationRequest(_) => ResourceType::MedicationRequest,
            Self::Medication(_) => ResourceType::Medication,
            Self::Immunization(_) => ResourceType::Immunization,
            Self::Procedure(_) => ResourceType::Procedure,
            Self::DiagnosticReport(_) => ResourceType::DiagnosticReport,
            Self::DocumentReference(_) => ResourceType::DocumentReference,
            Self::Encounter(_) => ResourceType::Encounter,
            Self::Supporting(kind, _) => *kind,
        }
    }

    /// Its id.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Patient(r) => r.id.as_deref(),
            Self::Condition(r) => r.id.as_deref(),
            Self::Observation(r) => r.id.as_deref(),
            Self::AllergyIntolerance(r) => r.id.as_deref(),
            Self::MedicationStatement(r) => r.id.as_deref(),
            Self::MedicationRequest(r) => r.id.as_deref(),
            Self::Medication(r) => r.id.as_deref(),
            Self::Immunization(r) => r.id.as_deref(),
            Self::Procedure(r) => r.id.as_deref(),
            Self::DiagnosticReport(r) => r.id.as_deref(),
            Self::DocumentReference(r) => r.id.as_deref(),
            Self::Encounter(r) => r.id.as_deref(),
            Self::Supporting(_, r) => r.id.as_deref(),
        }
    }

    /// `Type/id`: how other resources refer to it.
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind(), self.id().unwrap_or(""))
    }

    /// The attachments a DocumentReference carries inline (`content[].attachment.data`, base64),
    /// each with its title and media type: what the app offers as files to download.
    pub fn inline_attachments(&self) -> Vec<&Attachment> {
        let Self::DocumentReference(d) = self else {
            return Vec::new();
        };
        d.content
            .iter()
            .filter_map(|c| c.attachment.as_ref())
            .filter(|a| a.data.is_some())
            .collect()
    }

    /// The consent category its record is stored in (docs/fhir.md "Mapping").
    pub fn category(&self) -> Category {
        match self {
            Self::Patient(_) | Self::Supporting(..) => Category::General,
            Self::Condition(_)
            | Self::AllergyIntolerance(_)
            | Self::Immunization(_)
            | Self::Procedure(_) => Category::History,
            Self::Observation(o) => observation_category(&o.category),
            Self::MedicationStatement(_) | Self::MedicationRequest(_) | Self::Medication(_) => {
                Category::Medication
            }
            Self::DiagnosticReport(r) => report_category(&r.category),
            Self::DocumentReference(_) | Self::Encounter(_) => Category::Encounters,
        }
    }
}

/// The observation-category code system.
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

fn observation_category(categories: &[CodeableConcept]) -> Category {
    let has = |code: &str| categories.iter().any(|c| c.has(OBSERVATION_CATEGORY, code));
    if has("vital-signs") {
        Category::Vitals
    } else if has("laboratory") {
        Category::Laboratory
    } else if has("imaging") {
        Category::Imaging
    } else if has("social-history") {
        Category::History
    } else if has("exam") || has("procedure") || has("therapy") {
        Category::Encounters
    } else {
        Category::General
    }
}

/// HL7 v2 table 0074 (diagnostic service sections), as R4's DiagnosticReport categories use it.
const SERVICE_SECTION: &str = "http://terminology.hl7.org/CodeSystem/v2-0074";
/// LOINC's report categories that US Core uses.
const LOINC: &str = "http://loinc.org";

fn report_category(categories: &[CodeableConcept]) -> Category {
    let has = |system: &str, codes: &[&str]| {
        categories
            .iter()
            .any(|c| codes.iter().any(|code| c.has(system, code)))
    };
    let imaging = ["RAD", "RX", "CT", "NMR", "NMS", "VUS", "CUS", "OUS"];
    if has(SERVICE_SECTION, &imaging) || has(LOINC, &["LP29684-5"]) {
        Category::Imaging
    } else if has(
        SERVICE_SECTION,
        &[
            "LAB", "CH", "HM", "MB", "MCB", "MYC", "SP", "CP", "SR", "IMM", "BLB", "VR", "TX",
        ],
    ) || has(LOINC, &["LP7839-6"])
    {
        Category::Laboratory
    } else {
        Category::Encounters
    }
}
