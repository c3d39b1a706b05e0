//! Typed models of the FHIR R4 (4.0.1) resources medledger reads, and of the data types they use.
//! Only the elements the mapping and the clinical summary need are typed; every other element of a
//! resource (its `meta`, `text`, `extension`s, `contained` resources, identifiers, and anything a
//! profile adds) lands in the `other` map of its struct and is written back unchanged, so a
//! resource read and written again is the JSON it was (`tests/fhir.rs` checks every fixture).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The elements a model does not type, kept in their order.
pub type Other = Map<String, Value>;

/// A code from a terminology.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coding {
    /// The code system's URI (`http://loinc.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Its text in the code system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Other,
}

/// Codes for one concept, and its text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeableConcept {
    /// The concept in one or more code systems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// How a person wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Other,
}

impl CodeableConcept {
    /// What to call the concept: its text, else the first coding's display, else its code.
    pub fn name(&self) -> Option<&str> {
        self.text
            .as_deref()
            .or_else(|| self.coding.iter().find_map(|c| c.display.as_deref()))
            .or_else(|| self.coding.iter().find_map(|c| c.code.as_deref()))
    }

    /// Whether one of its codings is `code` of `system`.
    pub fn has(&self, system: &str, code: &str) -> bool {
        self.coding
            .iter()
            .any(|c| c.system.as_deref() == Some(system) && c.code.as_deref() == Some(code))
    }

    /// Whether one of its codings is `code` in any system.
    pub fn has_code(&self, code: &str) -> bool {
        self.coding.iter().any(|c| c.code.as_deref() == Some(code))
    }
}

/// A reference to another resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// `Type/id`, an absolute URL, a `urn:uuid:`, or `#id` for a contained resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Text for the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Everything else (type, identifier).
    #[serde(flatten)]
    pub other: Other,
}

/// A measured amount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quantity {
    /// The number, as written (a JSON number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Number>,
    /// The unit as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The unit's code (UCUM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Everything else (system, comparator).
    #[serde(flatten)]
    pub other: Other,
}

impl Quantity {
    /// The value as a float, when it is one.
    pub fn number(&self) -> Option<f64> {
        self.value.as_ref().and_then(|n| n.as_f64())
    }

    /// The unit to show: `unit`, else its code.
    pub fn unit_shown(&self) -> &str {
        self.unit.as_deref().or(self.code.as_deref()).unwrap_or("")
    }
}

/// A time span.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    /// Its start (a FHIR dateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Other,
}

/// A person's name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HumanName {
    /// The whole name as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Given names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    /// Everything else (use, prefix, period).
    #[serde(flatten)]
    pub other: Other,
}

impl HumanName {
    /// The name to show: its text, else given names and family name.
    pub fn shown(&self) -> String {
        if let Some(text) = &self.text {
            return text.clone();
        }
        let mut parts: Vec<&str> = self.given.iter().map(String::as_str).collect();
        parts.extend(self.family.as_deref());
        parts.join(" ")
    }
}

/// Dosage text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dosage {
    /// How to take it, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Other,
}

/// Content attached to a document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The bytes, base64, when inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Its title (a file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Everything else (url, size, hash).
    #[serde(flatten)]
    pub other: Other,
}

/// Defines a resource struct: `id`, the typed elements given, and `other`.
macro_rules! resource {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty $(=> $json:literal)?),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// The resource's id.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id: Option<String>,
            $(
                $(#[$fdoc])*
                #[serde(default, skip_serializing_if = "Skip::skip" $(, rename = $json)?)]
                pub $field: $ty,
            )*
            /// Every element not typed here.
            #[serde(flatten)]
            pub other: Other,
        }
    };
}

/// Whether an element is absent (written back absent).
trait Skip {
    fn skip(&self) -> bool;
}

impl<T> Skip for Option<T> {
    fn skip(&self) -> bool {
        self.is_none()
    }
}

impl<T> Skip for Vec<T> {
    fn skip(&self) -> bool {
        self.is_empty()
    }
}

resource!(
    /// Demographics.
    Patient {
        /// Names.
        name: Vec<HumanName>,
        /// `male`, `female`, `other`, `unknown`.
        gender: Option<String>,
        /// A FHIR date.
        birth_date: Option<String>,
    }
);

resource!(
    /// A problem, diagnosis or health concern.
    Condition {
        /// `active`, `resolved`... (condition-clinical).
        clinical_status: Option<CodeableConcept>,
        /// `confirmed`, `entered-in-error`... (condition-ver-status).
        verification_status: Option<CodeableConcept>,
        /// problem-list-item, encounter-diagnosis, health-concern.
        category: Vec<CodeableConcept>,
        /// What the condition is.
        code: Option<CodeableConcept>,
        /// Whose.
        subject: Option<Reference>,
        /// When it began, as a dateTime.
        onset_date_time: Option<String>,
        /// When it was recorded.
        recorded_date: Option<String>,
    }
);

resource!(
    /// One part of a multi-part observation (blood pressure's systolic and diastolic).
    ObservationComponent {
        /// What this part is.
        code: Option<CodeableConcept>,
        /// Its measured value.
        value_quantity: Option<Quantity>,
    }
);

resource!(
    /// A measurement or finding: vital signs, laboratory results, imaging findings, history.
    Observation {
        /// `final`, `amended`, `entered-in-error`...
        status: Option<String>,
        /// vital-signs, laboratory, imaging, social-history...
        category: Vec<CodeableConcept>,
        /// What was observed.
        code: Option<CodeableConcept>,
        /// Whose.
        subject: Option<Reference>,
        /// When, as a dateTime.
        effective_date_time: Option<String>,
        /// When, as a period.
        effective_period: Option<Period>,
        /// When it was released.
        issued: Option<String>,
        /// A measured value.
        value_quantity: Option<Quantity>,
        /// A coded value.
        value_codeable_concept: Option<CodeableConcept>,
        /// A text value.
        value_string: Option<String>,
        /// Parts of a panel.
        component: Vec<ObservationComponent>,
    }
);

resource!(
    /// An allergy or intolerance.
    AllergyIntolerance {
        /// `active`, `inactive`, `resolved`.
        clinical_status: Option<CodeableConcept>,
        /// `confirmed`, `entered-in-error`...
        verification_status: Option<CodeableConcept>,
        /// `low`, `high`, `unable-to-assess`.
        criticality: Option<String>,
        /// To what.
        code: Option<CodeableConcept>,
        /// Whose.
        patient: Option<Reference>,
        /// When it began.
        onset_date_time: Option<String>,
    }
);

resource!(
    /// A medication the patient takes or took.
    MedicationStatement {
        /// `active`, `completed`, `stopped`...
        status: Option<String>,
        /// The medication, coded.
        medication_codeable_concept: Option<CodeableConcept>,
        /// The medication, as a reference (often to a contained Medication).
        medication_reference: Option<Reference>,
        /// Whose.
        subject: Option<Reference>,
        /// When, as a dateTime.
        effective_date_time: Option<String>,
        /// When, as a period.
        effective_period: Option<Period>,
        /// How.
        dosage: Vec<Dosage>,
    }
);

resource!(
    /// A prescription.
    MedicationRequest {
        /// `active`, `completed`, `stopped`, `on-hold`...
        status: Option<String>,
        /// The medication, coded.
        medication_codeable_concept: Option<CodeableConcept>,
        /// The medication, as a reference.
        medication_reference: Option<Reference>,
        /// Whose.
        subject: Option<Reference>,
        /// When it was written.
        authored_on: Option<String>,
        /// How to take it.
        dosage_instruction: Vec<Dosage>,
    }
);

resource!(
    /// A medication's definition (referenced by statements and requests).
    Medication {
        /// What it is.
        code: Option<CodeableConcept>,
    }
);

resource!(
    /// A vaccination.
    Immunization {
        /// `completed`, `entered-in-error`, `not-done`.
        status: Option<String>,
        /// The vaccine (CVX).
        vaccine_code: Option<CodeableConcept>,
        /// Whose.
        patient: Option<Reference>,
        /// When, as a dateTime.
        occurrence_date_time: Option<String>,
        /// When, in words.
        occurrence_string: Option<String>,
    }
);

resource!(
    /// Something done to the patient.
    Procedure {
        /// `completed`, `in-progress`...
        status: Option<String>,
        /// What.
        code: Option<CodeableConcept>,
        /// Whose.
        subject: Option<Reference>,
        /// When, as a dateTime.
        performed_date_time: Option<String>,
        /// When, as a period.
        performed_period: Option<Period>,
    }
);

resource!(
    /// A report of results (laboratory, imaging).
    DiagnosticReport {
        /// `final`, `preliminary`...
        status: Option<String>,
        /// LAB, RAD, or a LOINC category.
        category: Vec<CodeableConcept>,
        /// What report.
        code: Option<CodeableConcept>,
        /// Whose.
        subject: Option<Reference>,
        /// When, as a dateTime.
        effective_date_time: Option<String>,
        /// The observations it reports.
        result: Vec<Reference>,
        /// Its conclusion in words.
        conclusion: Option<String>,
    }
);

resource!(
    /// One content item of a document.
    DocumentContent {
        /// The document's bytes or where they are.
        attachment: Option<Attachment>,
    }
);

resource!(
    /// A document (a note, a letter, a scan) and its attachments.
    DocumentReference {
        /// `current`, `superseded`, `entered-in-error`.
        status: Option<String>,
        /// What kind of document.
        type_: Option<CodeableConcept> => "type",
        /// Whose.
        subject: Option<Reference>,
        /// When it was made.
        date: Option<String>,
        /// Its attachments.
        content: Vec<DocumentContent>,
    }
);

resource!(
    /// A visit or stay.
    Encounter {
        /// `finished`, `in-progress`... (R4's codes).
        status: Option<String>,
        /// Inpatient, ambulatory... (a Coding in R4).
        class: Option<Coding>,
        /// What kind of visit.
        type_: Vec<CodeableConcept> => "type",
        /// Whose.
        subject: Option<Reference>,
        /// When.
        period: Option<Period>,
    }
);

resource!(
    /// A resource that gives others context (a practitioner, an organisation, a place): kept
    /// whole, typed only by its id.
    Supporting {}
);
