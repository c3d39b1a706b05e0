//! What a record is called in lists and when opened: its [`RecordLabel`] (title, summary line,
//! and the patient's name when the record says it), made from the plaintext before it is sealed
//! (`protocol::label`), so every reader sees the name the author's browser gave it.

use medledger_protocol::fhir::summary::describe;
use medledger_protocol::fhir::{Resource, MEDIA_TYPE as FHIR_MEDIA_TYPE};
use medledger_protocol::label::RecordLabel;

use crate::claim::{ClaimDocument, MEDIA_TYPE as CLAIM_MEDIA_TYPE};
use crate::entry::{StructuredEntry, MEDIA_TYPE as ENTRY_MEDIA_TYPE};
use crate::format;

/// A short name for a media type, for people.
fn kind_name(media_type: &str) -> &str {
    // Parameters (`; charset=utf-8`) do not change what the thing is.
    let media_type = media_type.split(';').next().unwrap_or("").trim();
    match media_type {
        "application/pdf" => "PDF document",
        "text/plain" => "note",
        "application/dicom" => "DICOM image",
        "application/json" | "application/fhir+json" => "JSON document",
        t if t.starts_with("image/") => "image",
        t if t.starts_with("text/") => "text",
        _ => "file",
    }
}

/// The label of a record whose plaintext is `data` (when the app has it at hand: entries, claims,
/// notes) or a file of `size` bytes.
pub fn label_for(media_type: &str, file_name: &str, size: u64, data: Option<&[u8]>) -> RecordLabel {
    if media_type == ENTRY_MEDIA_TYPE {
        if let Some(e) = data.and_then(|d| StructuredEntry::from_bytes(d).ok()) {
            return RecordLabel::new(&e.title(), &e.summary(), Some(&e.name));
        }
    }
    if media_type == FHIR_MEDIA_TYPE {
        if let Some(r) = data.and_then(|d| Resource::from_slice(d).ok()) {
            let (title, summary) = describe(&r);
            let mut label = RecordLabel::new(&title, &summary, None);
            // A key longer than the label allows is left out: the record still opens, it is only
            // not recognised when the same file is imported again.
            label.fhir = Some(r.key()).filter(|k| k.len() <= 140);
            return label;
        }
    }
    if media_type == CLAIM_MEDIA_TYPE {
        if let Some(d) = data.and_then(|d| ClaimDocument::from_bytes(d).ok()) {
            let title = format!("Claim: {}", d.diagnosis.trim());
            return RecordLabel::new(&title, &format!("Encounter of {}", d.encounter_date), None);
        }
    }
    if media_type.starts_with("text/") {
        // A note is known by its first line.
        if let Some(first) = data
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|t| t.lines().map(str::trim).find(|l| !l.is_empty()))
        {
            return RecordLabel::new(
                first,
                &format!("{}, {}", kind_name(media_type), format::size(size)),
                None,
            );
        }
    }
    let title = if file_name.trim().is_empty() {
        "Untitled file"
    } else {
        file_name
    };
    RecordLabel::new(
        title,
        &format!("{}, {}", kind_name(media_type), format::size(size)),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_claims_notes_and_files_each_get_a_title_people_recognise() {
        let mut e = StructuredEntry::new();
        e.name = "Ada Lovelace".into();
        e.condition = "Asthma".into();
        e.since = "2019-06".into();
        e.blood_group = "AB-".into();
        let l = label_for(ENTRY_MEDIA_TYPE, "entry.json", 120, Some(&e.to_bytes()));
        assert_eq!(l.title, "Asthma — since 2019-06");
        assert_eq!(l.summary, "Ada Lovelace · blood group AB-");
        assert_eq!(l.patient_name.as_deref(), Some("Ada Lovelace"));

        let note = b"\n  Discharge letter: follow-up in two weeks.\nSecond line";
        let l = label_for("text/plain", "note.txt", note.len() as u64, Some(note));
        assert_eq!(l.title, "Discharge letter: follow-up in two weeks.");
        assert_eq!(l.summary, format!("note, {} B", note.len()));
        assert_eq!(l.patient_name, None);

        let l = label_for("text/plain; charset=utf-8", "n.txt", 3, Some(b"Hi!"));
        assert_eq!((l.title.as_str(), l.summary.as_str()), ("Hi!", "note, 3 B"));

        let l = label_for("application/pdf", "scan-2026.pdf", 3 * 1024 * 1024, None);
        assert_eq!(
            (l.title.as_str(), l.summary.as_str()),
            ("scan-2026.pdf", "PDF document, 3.0 MiB")
        );
        let l = label_for("application/octet-stream", " ", 10, None);
        assert_eq!(l.title, "Untitled file");

        // Bytes that do not parse as what their media type says: named like a file.
        let l = label_for(ENTRY_MEDIA_TYPE, "entry.json", 3, Some(b"{}x"));
        assert_eq!(l.title, "entry.json");
    }
}
