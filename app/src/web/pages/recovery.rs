//! The recovery screens (issue 18): a patient's guardians and kit ([`GuardiansSection`], on the
//! account page), a guardian's help for a recovering account ([`HelpRecoverSection`], every
//! role's account page), and a new wallet's request to take a lost account over
//! ([`RecoverAccount`], beside registering). The steps are `web::recovery`'s.

use alloy_primitives::Address;
use leptos::prelude::*;

use super::super::components::{outcome_note, NoteView, Outcome};
use super::super::recovery::{self, Guardians, Request};
use super::super::state::{app_state, AppState};
use crate::format;

/// A waiting time in whole days, as words.
fn days_words(secs: u32) -> String {
    match secs.div_ceil(86_400) {
        0 => "at once".to_string(),
        1 => "one day".to_string(),
        n => format!("{n} days"),
    }
}

/// Addresses separated by commas, spaces or new lines, each checked.
fn addresses(text: &str) -> Result<Vec<Address>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Address>().map_err(|_| {
                format!("“{s}” is not an account address (0x followed by 40 hex digits).")
            })
        })
        .collect()
}

fn address(text: &str) -> Result<Address, String> {
    match addresses(text)?.as_slice() {
        [one] => Ok(*one),
        _ => Err("Enter one account address (0x followed by 40 hex digits).".into()),
    }
}

/// The guardians form as filled in.
#[derive(Clone)]
struct GuardiansForm {
    guardians: String,
    threshold: String,
    delay_days: String,
}

impl GuardiansForm {
    fn parse(&self) -> Result<Guardians, String> {
        let guardians = addresses(&self.guardians)?;
        let threshold: u8 = self
            .threshold
            .trim()
            .parse()
            .map_err(|_| "The number of approvals must be a whole number.".to_string())?;
        let days: u32 = self
            .delay_days
            .trim()
            .parse()
            .map_err(|_| "The waiting time must be a whole number of days.".to_string())?;
        if threshold < 2 || usize::from(threshold) > guardians.len() {
            return Err("Name at least two guardians, and ask for at least two approvals and no more than the guardians you name.".into());
        }
        Ok(Guardians {
            guardians,
            threshold,
            delay: days.saturating_mul(86_400),
        })
    }
}

/// What the section shows of the account's recovery now.
#[derive(Clone)]
struct RecoveryNow {
    on_chain: Guardians,
    /// Whether the stored kit is for exactly these guardians and the key the account holds now
    /// (after a rotation the kit splits a key that no longer opens anything).
    kit_current: bool,
}

async fn recovery_now(state: AppState) -> Result<RecoveryNow, String> {
    let me = state.identity().ok_or("Sign in first.")?;
    let on_chain = recovery::guardians_of(&me.contract, me.account).await?;
    let kit = recovery::my_kit(&me).await?;
    let version = recovery::key_version(&me, state.deploy_block()).await?;
    let kit_current = kit.is_some_and(|k| {
        k.manifest.set.guardians == on_chain.guardians
            && k.manifest.set.threshold == on_chain.threshold
            && k.manifest.set.key_version == version
    });
    Ok(RecoveryNow {
        on_chain,
        kit_current,
    })
}

/// The patient's guardians: who they are on chain, whether the kit is stored, and naming them.
#[component]
pub fn GuardiansSection() -> impl IntoView {
    let state = app_state();
    let now = LocalResource::new(move || recovery_now(state));
    let sheet = RwSignal::new(None::<String>);
    let guardians = RwSignal::new(String::new());
    let threshold = RwSignal::new("2".to_string());
    let delay_days = RwSignal::new("2".to_string());
    let save = Action::new_local(move |form: &GuardiansForm| {
        let form = form.clone();
        async move {
            let chosen = form.parse()?;
            let me = state.identity().ok_or("Sign in first.")?;
            let stored = recovery::name_guardians(&me, chosen, state.deploy_block()).await;
            now.refetch();
            let stored = stored?;
            sheet.set(Some(stored.sheet));
            let kit = stored.kit;
            Ok(format!(
                "Your guardians are named on chain and your recovery kit is stored: any {} of your {} guardians can help you recover your account.",
                kit.manifest.set.threshold,
                kit.manifest.set.guardians.len()
            )) as Outcome
        }
    });
    let store = Action::new_local(move |_: &()| async move {
        let me = state.identity().ok_or("Sign in first.")?;
        let stored = recovery::store_kit(&me, state.deploy_block()).await;
        now.refetch();
        sheet.set(Some(stored?.sheet));
        Ok("Your recovery kit is stored for the guardians on chain.".to_string()) as Outcome
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch_local(GuardiansForm {
            guardians: guardians.get_untracked(),
            threshold: threshold.get_untracked(),
            delay_days: delay_days.get_untracked(),
        });
    };
    let busy = move || save.pending().get() || store.pending().get();
    view! {
        <section aria-labelledby="guardians-h" data-testid="guardians">
            <h2 id="guardians-h">"Recovery guardians"</h2>
            <p>"If you lose this wallet, people you trust can help you move your account to a new one: a relative, your doctor, a second device of yours. Each holds one share of your key's secret, sealed to their own key; fewer than the number of approvals you ask for learn nothing and can do nothing, and only a wallet that asks for your account, with their approvals and after the waiting time, gets it. While you still have this wallet you can cancel any recovery you did not ask for."</p>
            <Suspense fallback=|| view! { <p>"Reading your guardians…"</p> }>
                {move || now.get().map(|r| match r {
                    Ok(r) if r.on_chain.guardians.is_empty() => view! {
                        <p data-testid="no-guardians">"You have named no guardians: a lost wallet means a lost account."</p>
                    }.into_any(),
                    Ok(r) => view! {
                        <p data-testid="guardians-on-chain">
                            {format!("{} of these {} guardians can recover your account, {} after the last approval: ", r.on_chain.threshold, r.on_chain.guardians.len(), days_words(r.on_chain.delay))}
                            {r.on_chain.guardians.iter().map(|g| format::short_address(g)).collect::<Vec<_>>().join(", ")}
                        </p>
                        {(!r.kit_current).then(|| view! {
                            <div class="note failed" role="alert" data-testid="kit-missing">
                                <p>"Your recovery kit is not stored for these guardians and your current key (a rotation replaces the key the kit splits): until it is, they cannot help."</p>
                                <button on:click=move |_| { store.dispatch_local(()); } disabled=busy data-testid="store-kit">"Store my recovery kit"</button>
                            </div>
                        })}
                    }.into_any(),
                    Err(e) => view! { <p class="note failed">{e}</p> }.into_any(),
                })}
            </Suspense>
            <form on:submit=submit>
                <label class="field">"Guardians' account addresses, separated by commas"
                    <input type="text" prop:value=move || guardians.get() on:input=move |ev| guardians.set(event_target_value(&ev)) data-testid="guardian-addresses"/>
                </label>
                <label class="field">"Approvals a recovery needs"
                    <input type="text" inputmode="numeric" prop:value=move || threshold.get() on:input=move |ev| threshold.set(event_target_value(&ev)) data-testid="guardian-threshold"/>
                </label>
                <label class="field">"Days you have to cancel a recovery after the last approval"
                    <input type="text" inputmode="numeric" prop:value=move || delay_days.get() on:input=move |ev| delay_days.set(event_target_value(&ev)) data-testid="guardian-delay"/>
                </label>
                <p>"Your wallet asks for a signature: it computes your key's secret again, so that this browser can split it among your guardians."</p>
                <button type="submit" disabled=busy data-testid="save-guardians">"Save guardians and store my recovery kit"</button>
            </form>
            <div data-testid="guardians-outcome"><NoteView note=outcome_note(save)/></div>
            <NoteView note=outcome_note(store)/>
            {move || sheet.get().map(|code| view! { <RecoverySheet code sheet/> })}
        </section>
    }
}

/// The recovery sheet of the kit just stored: the first guardian's share as a code, to print or
/// copy and keep offline. Shown once: the page forgets it when the person is done with it.
#[component]
fn RecoverySheet(code: String, sheet: RwSignal<Option<String>>) -> impl IntoView {
    let print = move |_| {
        if let Some(w) = web_sys::window() {
            let _ = w.print();
        }
    };
    view! {
        <div class="card sheet" data-testid="recovery-sheet">
            <h3>"Your recovery sheet"</h3>
            <p>"Print this page or copy the code, and keep it offline (not on this device). If you lose your wallet and one guardian cannot help (or their share does not reach you), type the code at sign-in on your new wallet: it stands in for that guardian's share, your first guardian's. Alone it says nothing about your key; with the other guardians' shares it gives your key back, so keep it as you would a spare house key. Storing a new kit (after a rotation, or with new guardians) makes a new sheet: this one then no longer works."</p>
            <p><code data-testid="sheet-code">{code}</code></p>
            <button on:click=print>"Print"</button>
            <button on:click=move |_| sheet.set(None) data-testid="sheet-done">"I have kept it"</button>
        </div>
    }
}

/// One account address and a button: what a guardian and a recovering wallet each fill in.
#[component]
fn AddressForm(
    label: &'static str,
    button: &'static str,
    #[prop(into)] busy: Signal<bool>,
    /// The input's and the button's `data-testid`.
    testids: (&'static str, &'static str),
    submit: impl Fn(String) + 'static,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit(text.get_untracked());
    };
    view! {
        <form on:submit=on_submit>
            <label class="field">{label}
                <input type="text" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev)) data-testid=testids.0/>
            </label>
            <button type="submit" disabled=move || busy.get() data-testid=testids.1>{button}</button>
        </form>
    }
}

/// A guardian helps a recovering account: the open requests to take it over, each approved after
/// the guardian has checked the new wallet with the patient.
#[component]
pub fn HelpRecoverSection() -> impl IntoView {
    let state = app_state();
    let found = RwSignal::new(None::<(Address, Vec<Request>)>);
    let look = Action::new_local(move |text: &String| {
        let text = text.clone();
        async move {
            let identity = address(&text)?;
            let me = state.identity().ok_or("Sign in first.")?;
            let open =
                recovery::open_requests(&me.contract, identity, state.deploy_block()).await?;
            let n = open.len();
            found.set(Some((identity, open)));
            Ok(match n {
                0 => "No open recovery request for that account.".to_string(),
                1 => "One open recovery request.".to_string(),
                n => format!(
                    "{n} open recovery requests: approve only the one the patient confirms."
                ),
            }) as Outcome
        }
    });
    let approve = Action::new_local(move |(identity, request): &(Address, Request)| {
        let (identity, request) = (*identity, request.clone());
        async move {
            let me = state.identity().ok_or("Sign in first.")?;
            recovery::help(&me, identity, &request, state.deploy_block()).await?;
            Ok(format!(
                "Approved, and your share is with the escrow for {} alone.",
                format::short_address(&request.new_wallet)
            )) as Outcome
        }
    });
    view! {
        <section aria-labelledby="help-h" data-testid="help-recover">
            <h2 id="help-h">"Help someone recover their account"</h2>
            <p>"If someone named you a guardian and lost their wallet, they ask for their account from a new one. Check with them, in person or on a call you trust, that the new wallet's address is theirs: approving hands your share of their key to that wallet."</p>
            <AddressForm label="Their account address" button="Find their recovery requests"
                busy=look.pending() testids=("help-patient", "find-requests")
                submit=move |text| { look.dispatch_local(text); }/>
            <NoteView note=outcome_note(look)/>
            {move || found.get().map(|(identity, open)| open.into_iter().map(|r| {
                let wallet = r.new_wallet.to_checksum(None);
                view! {
                    <div class="card" data-testid="recovery-request">
                        <p>"New wallet " <code>{wallet}</code> {format!(" · request {} · {} approval(s)", r.id, r.approvals)}</p>
                        <button on:click=move |_| { approve.dispatch_local((identity, r.clone())); } disabled=approve.pending() data-testid="approve-recovery">"They confirmed this wallet: approve"</button>
                    </div>
                }
            }).collect_view())}
            <div data-testid="help-outcome"><NoteView note=outcome_note(approve)/></div>
        </section>
    }
}

/// A new wallet asks to take a lost account over, and completes the move once approved.
#[component]
pub fn RecoverAccount() -> impl IntoView {
    let state = app_state();
    let asked = RwSignal::new(None::<Address>);
    let status = LocalResource::new(move || async move {
        let identity = asked.get()?;
        let me = state.identity()?;
        let request = recovery::request_of(&me.contract, identity, me.wallet).await;
        let guardians = recovery::guardians_of(&me.contract, identity).await;
        // The delay runs on the chain's clock, not this computer's.
        let now = recovery::chain_now().await;
        Some(request.and_then(|r| guardians.map(|g| (r, g.threshold, now))))
    });
    let ask = Action::new_local(move |text: &String| {
        let text = text.clone();
        async move {
            let identity = address(&text)?;
            let me = state.identity().ok_or("Sign in first.")?;
            let request = recovery::ask(&me, identity).await?;
            asked.set(Some(identity));
            Ok(format!(
                "Asked (request {}). Give your guardians this wallet's address, {}, so they can check it is yours.",
                request.id,
                me.wallet.to_checksum(None)
            )) as Outcome
        }
    });
    let complete = Action::new_local(move |identity: &Address| {
        let identity = *identity;
        async move {
            let me = state.identity().ok_or("Sign in first.")?;
            recovery::complete(&me, identity).await?;
            // The wallet acts for the account from this block: it signs in again as it.
            super::app::sign_out(state).await?;
            Ok(
                "Your account is this wallet's now. Sign in again to open your records."
                    .to_string(),
            ) as Outcome
        }
    });
    view! {
        <section class="screen" data-testid="recover-account">
            <h2>"Lost your wallet?"</h2>
            <p>"If you named guardians, this wallet can take your account over: your records, grants and claims stay yours, and the lost wallet can do nothing more. Your wallet signs once to make the key your guardians seal their shares to."</p>
            <AddressForm label="Your account's address (the lost wallet's)" button="Ask my guardians"
                busy=ask.pending() testids=("lost-account", "ask-recovery")
                submit=move |text| { ask.dispatch_local(text); }/>
            <NoteView note=outcome_note(ask)/>
            {move || status.get().flatten().map(|s| match s {
                Ok((r, threshold, now)) => {
                    let approved = r.open && r.approvals >= u64::from(threshold) && threshold > 0;
                    // A quiet chain's latest block can be old: this computer's clock counts too, and
                    // the contract refuses (RecoveryNotReady, in words) a move made too early.
                    let local = (js_sys::Date::now() / 1000.0) as u64;
                    let ready = approved && now.is_none_or(|now| now.max(local) >= r.ready_at);
                    view! {
                        <p data-testid="recovery-status">{format!("Request {}: {} of {} approvals.", r.id, r.approvals, threshold)}
                            {(approved && !ready).then(|| format!(" It can complete after {} (press Check again then).", format::datetime(r.ready_at)))}</p>
                        <button on:click=move |_| status.refetch() data-testid="check-recovery">"Check again"</button>
                        {ready.then(|| view! {
                            <button on:click=move |_| { if let Some(i) = asked.get_untracked() { complete.dispatch_local(i); } } disabled=complete.pending() data-testid="complete-recovery">"Take my account over"</button>
                        })}
                    }.into_any()
                }
                Err(e) => view! { <p class="note failed">{e}</p> }.into_any(),
            })}
            <div data-testid="complete-outcome"><NoteView note=outcome_note(complete)/></div>
        </section>
    }
}
