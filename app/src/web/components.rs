//! Small shared view pieces: notices, progress, category pickers, the opened-record view, and the
//! one helper that runs an async action with a busy flag and a notice.

use std::future::Future;

use leptos::prelude::*;
use leptos::task::spawn_local;
use medledger_protocol::contract::Category;

use crate::entry::{StructuredEntry, MEDIA_TYPE};

/// A message shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Something worked.
    Done(String),
    /// Something failed: what happened and what to do.
    Failed(String),
}

/// Runs `task` with `busy` set, putting its outcome in `note`.
pub fn run<Fut>(busy: RwSignal<bool>, note: RwSignal<Option<Note>>, task: Fut)
where
    Fut: Future<Output = Result<String, String>> + 'static,
{
    if busy.get_untracked() {
        return;
    }
    busy.set(true);
    note.set(None);
    spawn_local(async move {
        let outcome = task.await;
        note.set(Some(match outcome {
            Ok(m) => Note::Done(m),
            Err(e) => Note::Failed(e),
        }));
        busy.set(false);
    });
}

/// Shows a note (status or alert for screen readers).
#[component]
pub fn NoteView(note: RwSignal<Option<Note>>) -> impl IntoView {
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
        Self {
            id,
            title,
            summary,
            file_name,
            url,
            fields,
            text,
            emergency: r.emergency,
            anchored: r.anchored,
        }
    }
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
    labels: RwSignal<
        std::collections::HashMap<alloy_primitives::B256, medledger_protocol::label::RecordLabel>,
    >,
    id: alloy_primitives::B256,
    category: u8,
) -> impl IntoView {
    let label = move || labels.with(|l| l.get(&id).cloned());
    view! {
        <td class="card-title" data-testid="record-title">
            {move || match label() {
                Some(l) => view! { <span class="title">{l.title}</span><span class="summary">{l.summary}</span> }.into_any(),
                None => view! { <span class="title">{format!("{} record", category_name(category))}</span> }.into_any(),
            }}
        </td>
    }
}

/// Whom the pages name: verified practitioners and insurers (the directory), and patients by the
/// name their records' labels give (what the patient shares, nothing more).
#[derive(Clone, Copy)]
pub struct Names {
    /// Verified practitioners and insurers.
    pub people: RwSignal<crate::people::Directory>,
    /// Patients by the name their labels give.
    pub patients: RwSignal<std::collections::HashMap<alloy_primitives::Address, String>>,
}

impl Default for Names {
    fn default() -> Self {
        Self::new()
    }
}

impl Names {
    /// Empty: nobody named yet.
    pub fn new() -> Self {
        Self {
            people: RwSignal::new(crate::people::Directory::default()),
            patients: RwSignal::new(std::collections::HashMap::new()),
        }
    }

    /// Loads the directory (as seen by `me`, who is called "you").
    pub async fn load_directory(self, me: Option<alloy_primitives::Address>) {
        if let Ok(people) = super::escrow::people(me).await {
            self.people.set(people);
        }
    }

    /// A practitioner's or insurer's name (or "you", or a short address before they are known).
    pub fn person(self, who: alloy_primitives::Address) -> String {
        self.people.with(|d| d.who(&who))
    }

    /// Anyone: a listed practitioner or insurer by their profile, a patient by their shared
    /// name, else an unlisted account by its short address.
    pub fn anyone(self, who: alloy_primitives::Address) -> String {
        if self.people.with(|d| d.listed().any(|(a, _)| *a == who)) {
            return self.person(who);
        }
        match self.patients.with(|n| n.get(&who).cloned()) {
            Some(name) => name,
            None => self.person(who),
        }
    }

    /// A patient's name, or "Patient 0x12ab…" before one is known.
    pub fn patient(self, who: alloy_primitives::Address) -> String {
        self.patients
            .with(|n| n.get(&who).cloned())
            .unwrap_or_else(|| format!("Patient {}", crate::format::short_address(&who)))
    }
}
