//! FHIR R4 (4.0.1) in and out (docs/fhir.md). A clinic's or a patient's FHIR file is read here
//! ([`input`]): each resource of a type medledger imports becomes its own encrypted record, in the
//! consent category it maps to ([`Resource::category`]), holding the resource's JSON with every
//! element kept. [`export`] writes what a reader can open back out as one `collection` Bundle,
//! with grants as `Consent` and the access log as `AuditEvent` resources. [`summary`] is the
//! clinical summary the app shows. Typed models of the resources handled are in [`model`].

pub mod export;
pub mod input;
pub mod model;
pub mod resource;
pub mod summary;

pub use input::{read_input, Entry, Import, InputError, Note, MAX_INPUT_BYTES};
pub use resource::{Resource, ResourceError, ResourceType};

/// The FHIR version medledger reads and writes.
pub const FHIR_VERSION: &str = "4.0.1";
/// The media type a resource's record carries inside its envelope.
pub const MEDIA_TYPE: &str = "application/fhir+json";
