//! The licence agreement screen (docs/licensing.md, "The agreement"): shown after sign-in, before
//! any other page, while the account has not accepted the current version. It shows the version,
//! the text and its published hash; "I accept" signs the hash of the text shown (never the hash
//! served, when the two differ) in the wallet and sends the acceptance; the gate then moves on to
//! the page it would have shown. The text's blocks, the signed message and the words are
//! [`crate::agreement`]'s.

use leptos::prelude::*;

use super::super::chain::ChainError;
use super::super::components::{failure_note, outcome_note, NoteView, Outcome, WhenLoaded};
use super::super::escrow::{self, AgreementText};
use super::super::state::{app_state, AppState};
use super::super::wallet;
use crate::agreement::{self, Block};

fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// Signs the acceptance of the version `served` in the wallet and sends it; on success the
/// account no longer needs to accept anything, so the gate moves on.
async fn accept(state: AppState, served: AgreementText) -> Outcome {
    let me = state.identity().ok_or("Sign in first.")?;
    let hash = agreement::shown_hash(&served)?;
    let message = agreement::acceptance_message(
        served.version,
        hash,
        me.contract.chain_id,
        me.contract.address,
        me.account,
        now(),
    );
    let signature = wallet::sign_typed_data(me.wallet, &message.typed_data_json())
        .await
        .map_err(|e| ChainError::from(e).to_string())?;
    let accepted = escrow::accept_agreement(&agreement::acceptance_body(&message, &signature))
        .await
        .map_err(|e| e.to_string())?;
    state.set_agreement_needed(false);
    Ok(agreement::accepted_outcome(&accepted))
}

/// The screen.
#[component]
pub fn AgreementPage() -> impl IntoView {
    let state = app_state();
    let served =
        LocalResource::new(|| async { escrow::agreement().await.map_err(|e| e.to_string()) });
    // Accepted meanwhile (in another tab): nothing to ask.
    Effect::new(move |_| {
        if served.with(|s| matches!(s, Some(Ok(t)) if agreement::already_accepted(t))) {
            state.set_agreement_needed(false);
        }
    });
    let accept = Action::new_local(move |text: &AgreementText| {
        let text = text.clone();
        async move {
            let outcome = accept(state, text).await;
            // A refusal may mean a newer version was published meanwhile: show the current one
            // (the text shown stays until it has loaded).
            if outcome.is_err() {
                served.refetch();
            }
            outcome
        }
    });
    let decline = Action::new_local(move |_: &()| super::app::sign_out(state));
    let busy = Signal::derive(move || accept.pending().get() || decline.pending().get());
    let shown = move || {
        served.with(|s| match s {
            Some(Ok(text)) => Some(view! { <AgreementBody served=text.clone() busy accept=move |t| { accept.dispatch_local(t); }/> }),
            _ => None,
        })
    };
    view! {
        <section class="screen agreement" data-testid="agreement" aria-labelledby="agreement-h">
            <WhenLoaded>{shown}</WhenLoaded>
            <NoteView note=failure_note(served)/>
            <NoteView note=outcome_note(accept)/>
            <p>
                <button on:click=move |_| { decline.dispatch_local(()); } disabled=busy data-testid="decline-agreement">{agreement::DECLINE}</button>
            </p>
            <NoteView note=outcome_note(decline)/>
        </section>
    }
}

/// The version's title, why it is shown, its text, its hash and the button. When the text is not
/// the text published, the button is replaced by why it cannot be signed.
#[component]
fn AgreementBody(
    served: AgreementText,
    busy: Signal<bool>,
    accept: impl Fn(AgreementText) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let checked = agreement::shown_hash(&served);
    let hash = served.text_hash.to_string();
    let blocks = agreement::blocks(&served.text);
    let action = match checked {
        Ok(_) => {
            let served = served.clone();
            view! {
                <p>{agreement::ACCEPT_EXPLAINED}</p>
                <button on:click=move |_| accept(served.clone()) disabled=busy data-testid="accept-agreement">{agreement::ACCEPT}</button>
            }
            .into_any()
        }
        Err(e) => {
            view! { <p class="note failed" role="alert" data-testid="agreement-mismatch">{e}</p> }
                .into_any()
        }
    };
    view! {
        <h2 id="agreement-h" data-testid="agreement-title" data-version=served.version.to_string()>{agreement::title(served.version)}</h2>
        <p>{agreement::intro(served.accepted)}</p>
        <div class="agreement-text" tabindex="0" role="region" aria-label="the licence agreement" data-testid="agreement-text">
            {blocks.into_iter().map(|b| view! { <TextBlock block=b/> }).collect_view()}
        </div>
        <p class="agreement-hash">
            {agreement::HASH_EXPLAINED} " "
            <code data-testid="agreement-hash">{hash}</code>
        </p>
        {action}
    }
}

/// One block of the text, as plain text in its element.
#[component]
fn TextBlock(block: Block) -> impl IntoView {
    match block {
        // The page's own title is an h2: the text's headings sit under it.
        Block::Heading { level: 1, text } => view! { <h3>{text}</h3> }.into_any(),
        Block::Heading { level: 2, text } => view! { <h4>{text}</h4> }.into_any(),
        Block::Heading { text, .. } => view! { <h5>{text}</h5> }.into_any(),
        Block::Paragraph(text) => view! { <p>{text}</p> }.into_any(),
        Block::List { ordered, items } => {
            let items = items
                .into_iter()
                .map(|i| view! { <li>{i}</li> })
                .collect_view();
            if ordered {
                view! { <ol>{items}</ol> }.into_any()
            } else {
                view! { <ul>{items}</ul> }.into_any()
            }
        }
    }
}
