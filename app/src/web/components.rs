//! Small shared view pieces: notices (and the note an action's outcome makes), the loading
//! fallback, why an access looked unusual, progress, category pickers, the opened-record view,
//! and the names pages show for addresses.

use std::collections::HashMap;

use alloy_primitives::Address;
use leptos::prelude::*;
use medledger_protocol::contract::Category;
use medledger_protocol::label::RecordLabel;

use super::records::{Identity, Listing};
use crate::entry::{StructuredEntry, MEDIA_TYPE};
use crate::people::Directory;

/// A message shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Something worked.
    Done(String),
    /// Something failed: what happened and what to do.
    Failed(String),
}

/// What a user's action ends with: a sentence saying what was done, or what failed and what to
/// do. Every submit is an [`Action`] with this output.
pub type Outcome = Result<String, String>;

impl From<Outcome> for Note {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Ok(m) => Note::Done(m),
            Err(e) => Note::Failed(e),
        }
    }
}

/// The note `action` shows: none while it runs (a new press clears the last outcome, so a test or
/// a person never reads the previous one as the new), then its latest outcome.
pub fn outcome_note<I: 'static>(action: Action<I, Outcome>) -> Signal<Option<Note>> {
    let (pending, value) = (action.pending(), action.value());
    Signal::derive(move || {
        if pending.get() {
            None
        } else {
            value.get().map(Note::from)
        }
    })
}

/// A resource's failure as a note (nothing while it loads or when it loaded).
pub fn failure_note<T, E>(resource: LocalResource<Result<T, E>>) -> Signal<Option<Note>>
where
    T: 'static,
    E: std::fmt::Display + 'static,
{
    Signal::derive(move || {
        resource.with(|r| match r {
            Some(Err(e)) => Some(Note::Failed(e.to_string())),
            _ => None,
        })
    })
}

/// What the resources read in `children` hold, once loaded: a [`Transition`] that says
/// "Loading…" until the first load, then keeps showing the last values while they reload (so a
/// refresh does not blank a list). `reloading` follows whether they are loading again.
///
/// One component for every list, so the app carries one `Transition` (its children type-erased)
/// rather than one per page.
#[component]
pub fn WhenLoaded(
    children: Children,
    #[prop(optional, into)] reloading: Option<SignalSetter<bool>>,
) -> impl IntoView {
    let reloading = reloading.unwrap_or_else(|| SignalSetter::map(|_| {}));
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> } set_pending=reloading>
            {children()}
        </Transition>
    }
}

/// Shows a note (status or alert for screen readers).
#[component]
pub fn NoteView(#[prop(into)] note: Signal<Option<Note>>) -> impl IntoView {
    move || {
        note.get().map(|n| match n {
            Note::Done(m) => {
                view! { <p class="note done" role="status" data-testid="note-done">{m}</p> }
                    .into_any()
            }
            Note::Failed(m) => {
                view! { <p class="note failed" role="alert" data-testid="note-failed">{m}</p> }
                    .into_any()
            }
        })
    }
}

/// Why the risk model found an access unusual, strongest first, as a small list (nothing when
/// there is no reason to show).
#[component]
pub fn ReasonList(reasons: Vec<String>) -> impl IntoView {
    (!reasons.is_empty()).then(|| {
        view! {
            <ul class="reasons" aria-label="why it looked unusual" data-testid="reasons">
                {reasons.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}
            </ul>
        }
    })
}

/// A labelled progress bar for long actions.
#[component]
pub fn ProgressView(label: Signal<String>, fraction: Signal<f64>) -> impl IntoView {
    view! {
        <div class="progress" role="group" aria-label="progress">
            <label>
                {move || label.get()}
                <progress max="100" value=move || format!("{:.0}", fraction.get() * 100.0)></progress>
            </label>
        </div>
    }
}

/// A `<select>` of categories; `value` holds the number.
#[component]
pub fn CategorySelect(
    value: RwSignal<u8>,
    #[prop(into)] label: String,
    #[prop(optional)] allowed: Option<Signal<Vec<u8>>>,
) -> impl IntoView {
    let options = move || {
        let allowed = allowed.map(|a| a.get());
        Category::ALL
            .iter()
            .filter(|c| allowed.as_ref().is_none_or(|a| a.contains(&c.number())))
            .map(|c| {
                let n = c.number();
                view! { <option value=n.to_string() selected=move || value.get() == n>{category_name(n)}</option> }
            })
            .collect_view()
    };
    view! {
        <label class="field">
            {label}
            <select on:change=move |ev| {
                if let Ok(n) = event_target_value(&ev).parse::<u8>() {
                    value.set(n);
                }
            }>{options}</select>
        </label>
    }
}

/// Checkboxes for a set of categories (a grant's or policy's mask).
#[component]
pub fn CategoryChecks(selected: RwSignal<Vec<u8>>, #[prop(into)] legend: String) -> impl IntoView {
    view! {
        <fieldset class="checks">
            <legend>{legend}</legend>
            {Category::ALL
                .iter()
                .map(|c| {
                    let n = c.number();
                    view! {
                        <label>
                            <input
                                type="checkbox"
                                prop:checked=move || selected.with(|s| s.contains(&n))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    selected.update(|s| {
                                        s.retain(|x| *x != n);
                                        if on {
                                            s.push(n);
                                        }
                                    });
                                }
                            />
                            {category_name(n)}
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}

/// The display name of category `n` ("Laboratory").
pub fn category_name(n: u8) -> String {
    crate::format::capitalised(Category::from_number(n).map_or("other", |c| c.name()))
}

/// What an opened record shows: a structured entry's fields, or a download link.
#[derive(Clone, PartialEq)]
pub struct OpenedView {
    /// Record id (short).
    pub id: String,
    /// What the record is about: an entry's condition, a claim's diagnosis, or the file's name.
    pub title: String,
    /// One line under the title (an entry's measurements, a file's type and size).
    pub summary: String,
    /// The name a download is saved under.
    pub file_name: String,
    /// Object URL of the plaintext blob.
    pub url: String,
    /// The fields when it is a structured entry or a claim document.
    pub fields: Option<Vec<(String, String)>>,
    /// Inline text for small text files.
    pub text: Option<String>,
    /// Released through an emergency window.
    pub emergency: bool,
    /// A FHIR document's inline attachments, as files: name and object URL.
    pub attachments: Vec<(String, String)>,
    /// Checked against an on-chain anchor (false: a record of yours still waiting for the chain).
    pub anchored: bool,
}

impl OpenedView {
    /// From an opened record.
    pub fn from_record(id: String, r: &super::records::OpenedRecord) -> Self {
        let url = web_sys::Url::create_object_url_with_blob(&r.blob).unwrap_or_default();
        let file_name = if r.metadata.file_name.is_empty() {
            "record".to_string()
        } else {
            r.metadata.file_name.clone()
        };
        let small = r.small.as_deref();
        let label = crate::labels::label_for(
            &r.metadata.media_type,
            &r.metadata.file_name,
            r.blob.size() as u64,
            small,
        );
        let (title, summary) = (label.title, label.summary);
        let fields = if r.metadata.media_type == MEDIA_TYPE {
            small
                .and_then(|b| StructuredEntry::from_bytes(b).ok())
                .map(|e| {
                    e.fields()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                })
        } else if r.metadata.media_type == crate::claim::MEDIA_TYPE {
            small
                .and_then(|b| crate::claim::ClaimDocument::from_bytes(b).ok())
                .map(|d| d.fields())
        } else {
            None
        };
        let text = if r.metadata.media_type.starts_with("text/") {
            r.small
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        } else {
            None
        };
        let attachments = if r.metadata.media_type == medledger_protocol::fhir::MEDIA_TYPE {
            small.map(attachment_files).unwrap_or_default()
        } else {
            Vec::new()
        };
        Self {
            id,
            title,
            summary,
            file_name,
            url,
            fields,
            text,
            attachments,
            emergency: r.emergency,
            anchored: r.anchored,
        }
    }
}

/// The inline attachments of a FHIR DocumentReference's JSON, each decoded from base64 into a
/// file: its name (the attachment's title, else "attachment N") and an object URL. One that does
/// not decode is left out.
fn attachment_files(resource_json: &[u8]) -> Vec<(String, String)> {
    let Ok(resource) = medledger_protocol::fhir::Resource::from_slice(resource_json) else {
        return Vec::new();
    };
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let file = |(n, a): (usize, &medledger_protocol::fhir::model::Attachment)| {
        // atob gives one character a byte: the bytes are their codes.
        let binary = window.atob(a.data.as_deref()?.trim()).ok()?;
        let bytes: Vec<u8> = binary.chars().map(|c| c as u32 as u8).collect();
        let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(&bytes[..]));
        let props = web_sys::BlobPropertyBag::new();
        props.set_type(
            a.content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        );
        let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &props).ok()?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
        let name = a
            .title
            .clone()
            .unwrap_or_else(|| format!("attachment {}", n + 1));
        Some((name, url))
    };
    resource
        .inline_attachments()
        .into_iter()
        .enumerate()
        .filter_map(file)
        .collect()
}

/// Shows an opened record.
#[component]
pub fn OpenedPanel(opened: RwSignal<Option<OpenedView>>) -> impl IntoView {
    move || {
        opened.get().map(|o| {
            let fields = o.fields.clone().map(|f| {
                view! {
                    <dl class="entry" data-testid="entry-fields">
                        {f.into_iter()
                            .map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> })
                            .collect_view()}
                    </dl>
                }
            });
            let text = o.text.clone().map(|t| view! { <pre data-testid="record-text">{t}</pre> });
            view! {
                <section class="opened" aria-label="opened record" data-testid="opened">
                    <h3 title=format!("record {}", o.id) data-testid="opened-title">{o.title.clone()}</h3>
                    <p class="summary" data-testid="opened-summary">{o.summary.clone()}</p>
                    {if o.anchored {
                        view! { <p class="ok" data-testid="integrity">"Integrity checked: the ciphertext's hash matches the chain's anchor and every chunk's tag verified."</p> }.into_any()
                    } else {
                        view! { <p class="warn" data-testid="integrity">"Every chunk's tag verified; the record is not anchored on chain yet, so its hash was checked against the escrow's only."</p> }.into_any()
                    }}
                    {o.emergency.then(|| view! { <p class="warn">"Released under an emergency window; the patient is told."</p> })}
                    {fields}
                    {text}
                    {(!o.attachments.is_empty()).then(|| view! {
                        <ul class="attachments" data-testid="attachments">
                            {o.attachments.iter().map(|(name, url)| view! { <li><a href=url.clone() download=name.clone()>"Attachment: " {name.clone()}</a></li> }).collect_view()}
                        </ul>
                    })}
                    <a href=o.url.clone() download=o.file_name.clone() data-testid="download">"Download " {o.file_name.clone()}</a>
                    " "
                    <button on:click=move |_| opened.set(None)>"Close"</button>
                </section>
            }
        })
    }
}

/// A record's title and summary line (from its label), or its category when it has no label
/// this browser can open.
#[component]
pub fn RecordTitle(
    #[prop(into)] label: Signal<Option<RecordLabel>>,
    category: u8,
) -> impl IntoView {
    view! {
        <td class="card-title" data-testid="record-title">
            {move || match label.get() {
                Some(l) => view! { <span class="title">{l.title}</span><span class="summary">{l.summary}</span> }.into_any(),
                None => view! { <span class="title">{format!("{} record", category_name(category))}</span> }.into_any(),
            }}
        </td>
    }
}

/// Whom the pages name: verified practitioners and insurers (the escrow's directory, loaded as a
/// resource), and patients by the name their records' labels give (what the patient shares,
/// nothing more).
#[derive(Clone, Copy)]
pub struct Names {
    /// The signed-in account, called "you".
    me: Option<Address>,
    /// Verified practitioners and insurers.
    people: LocalResource<Directory>,
    /// Patients by the name their labels give.
    patients: RwSignal<HashMap<Address, String>>,
}

impl Names {
    /// Starts loading the directory as seen by `me` (who is called "you"). Without it, or while
    /// it loads, people are named by short addresses.
    pub fn new(me: Option<Address>) -> Self {
        Self {
            me,
            people: LocalResource::new(move || async move {
                super::escrow::people(me)
                    .await
                    .unwrap_or_else(|_| Directory::new(me, []))
            }),
            patients: RwSignal::new(HashMap::new()),
        }
    }

    /// Loads the directory again: someone verified since it loaded gets their name.
    pub fn refresh(self) {
        self.people.refetch();
    }

    fn with_directory<T>(self, f: impl FnOnce(&Directory) -> T) -> T {
        self.people.with(|d| match d {
            Some(d) => f(d),
            None => f(&Directory::new(self.me, [])),
        })
    }

    /// A practitioner's or insurer's name (or "you", or a short address before they are known).
    pub fn person(self, who: Address) -> String {
        self.with_directory(|d| d.who(&who))
    }

    /// Everyone the directory lists, by name: whom a patient may pick to share with.
    pub fn listed(self) -> Vec<(Address, String)> {
        self.with_directory(|d| {
            let mut people: Vec<(Address, String)> =
                d.listed().map(|(a, _)| (*a, d.who(a))).collect();
            people.sort_by(|x, y| x.1.cmp(&y.1));
            people
        })
    }

    /// Anyone: a listed practitioner or insurer by their profile, a patient by their shared
    /// name, else an unlisted account by its short address.
    pub fn anyone(self, who: Address) -> String {
        if self.with_directory(|d| d.person(&who).is_some()) {
            return self.person(who);
        }
        match self.patients.with(|n| n.get(&who).cloned()) {
            Some(name) => name,
            None => self.person(who),
        }
    }

    /// A patient's name, or "Patient 0x12ab…" before one is known.
    pub fn patient(self, who: Address) -> String {
        self.patients
            .with(|n| n.get(&who).cloned())
            .unwrap_or_else(|| format!("Patient {}", crate::format::short_address(&who)))
    }

    /// Remembers the name `patient`'s records give (when they give one).
    pub fn learn(self, patient: Address, listing: &Listing) {
        if let Some(name) = listing.patient_name(patient) {
            self.patients.update(|n| {
                n.insert(patient, name);
            });
        }
    }

    /// Learns each patient's name from the records of theirs the reader may list.
    pub async fn learn_all(self, me: &Identity, patients: &[Address]) {
        for &patient in patients {
            if let Ok(listing) = super::records::list(me, patient).await {
                self.learn(patient, &listing);
            }
        }
    }
}
