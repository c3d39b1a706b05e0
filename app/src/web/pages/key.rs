//! The account's encryption key on the Account page: rotate it (a new key from the wallet, every
//! record key moved to it, the old one useless afterwards), with a progress bar and Retry, and
//! finish a rotation an earlier visit left half done. The steps are `web::rotation`'s; the words
//! are `crate::rotation`'s.

use leptos::prelude::*;
use medledger_protocol::wrap::KeyPair;

use super::super::components::{outcome_note, NoteView, Outcome, ProgressView};
use super::super::rotation::{self, Rotation};
use super::super::state::{app_state, AppState};
use crate::rotation::{done_text, step_text, unfinished_text, Step};

/// The bar both actions draw.
#[derive(Clone, Copy)]
struct Bar {
    label: RwSignal<String>,
    fraction: RwSignal<f64>,
}

impl Bar {
    fn show(self, step: Step) {
        let (label, fraction) = step_text(step);
        self.label.set(label);
        self.fraction.set(fraction);
    }

    fn clear(self) {
        self.label.set(String::new());
    }
}

/// From now on the page holds the new key (the chain's): what it opens, lists and wraps uses it.
/// The key this device remembered is forgotten: the next sign-in derives the new one.
fn adopt(state: AppState, keys: &KeyPair) {
    if let Some(me) = state.identity() {
        let slot = super::super::session::key_slot(&me.contract, me.wallet);
        leptos::task::spawn_local(super::super::key_cache::forget(slot));
    }
    let keys = keys.clone();
    state.signed_in.update(|s| {
        if let Some(s) = s.as_mut() {
            s.on_chain.encryption_key = alloy_primitives::B256::from(keys.public().0);
            s.keys = keys;
            s.recovered = false;
        }
    });
}

/// Rotates the key, or goes on with the rotation a failed step left in `pending`.
async fn rotate(
    state: AppState,
    pending: RwSignal<Option<Rotation>, LocalStorage>,
    bar: Bar,
) -> Outcome {
    let me = state.identity().ok_or("Sign in first.")?;
    let progress = move |step: Step| bar.show(step);
    let mut rotation = match pending.get_untracked() {
        Some(r) => r,
        None => {
            let started = rotation::start(&me, state.deploy_block(), &progress).await;
            started.inspect_err(|_| bar.clear())?
        }
    };
    let completed =
        rotation::complete(&me, &mut rotation, &progress, &|keys| adopt(state, keys)).await;
    bar.clear();
    match completed {
        Ok(()) => {
            pending.set(None);
            Ok(done_text(rotation.moved, rotation.unopened))
        }
        Err(e) => {
            pending.set(Some(rotation));
            Err(format!("{e} — press Retry to go on from where it stopped."))
        }
    }
}

/// Rotating the account's encryption key, and finishing one left half done.
#[component]
pub fn KeySection(on_rotated: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let state = app_state();
    let bar = Bar {
        label: RwSignal::new(String::new()),
        fraction: RwSignal::new(0.0),
    };
    let pending = RwSignal::new_local(None::<Rotation>);
    let stale = LocalResource::new(move || async move {
        let me = state.identity()?;
        rotation::stale_wraps(&me).await.ok()
    });
    let run = Action::new_local(move |_: &()| async move {
        let outcome = rotate(state, pending, bar).await;
        if outcome.is_ok() {
            stale.refetch();
            on_rotated();
        }
        outcome
    });
    let finish = Action::new_local(move |_: &()| async move {
        let me = state.identity().ok_or("Sign in first.")?;
        let progress = move |step: Step| bar.show(step);
        let done = rotation::finish_previous(&me, state.deploy_block(), &progress).await;
        bar.clear();
        let rotation = done?;
        stale.refetch();
        on_rotated();
        Ok(done_text(rotation.moved, rotation.unopened))
    });
    let busy = move || run.pending().get() || finish.pending().get();
    let unfinished = move || stale.get().flatten().filter(|n| *n > 0);
    view! {
        <section id="key" aria-labelledby="key-h" data-testid="key-rotation">
            <h2 id="key-h">"Your encryption key"</h2>
            <p>"Every record key you hold is wrapped to an encryption key your browser computes from your wallet's signature. If a device that was signed in may have been lost or shared, rotate it: your wallet makes a new key, this browser moves every record key you hold to it, and the old one opens nothing the escrow releases any more. Keys made for other people stay as they are."</p>
            <Show when=move || state.signed_in.with(|s| s.as_ref().is_some_and(|s| s.recovered))>
                <div class="note failed" role="alert" data-testid="recovered-rotate">
                    <p>"Your guardians gave your key back to this wallet. The lost wallet could still compute that key: rotate it now, so that only this wallet's key opens your records."</p>
                </div>
            </Show>
            {move || unfinished().map(|n| view! {
                <div class="note failed" role="alert" data-testid="rotation-unfinished">
                    <p>{unfinished_text(n)}</p>
                    <button on:click=move |_| { finish.dispatch_local(()); } disabled=busy data-testid="finish-rotation">"Finish the rotation"</button>
                </div>
            })}
            <button on:click=move |_| { run.dispatch_local(()); } disabled=busy data-testid="rotate-key">
                {move || if pending.with(Option::is_some) { "Retry" } else { "Rotate my encryption key" }}
            </button>
            <Show when=move || !bar.label.get().is_empty()>
                <ProgressView label=Signal::derive(move || bar.label.get()) fraction=Signal::derive(move || bar.fraction.get())/>
            </Show>
            <div data-testid="rotation-outcome"><NoteView note=outcome_note(run)/></div>
            <NoteView note=outcome_note(finish)/>
        </section>
    }
}
