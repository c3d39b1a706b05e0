//! Page navigation in the browser: the current page follows the location's fragment
//! ([`crate::route`]), so links, the back and forward buttons and reloads all move it, and the
//! document's title names it.

use leptos::prelude::*;

use crate::route::{Audience, Page};

fn location_fragment() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// The current page for `audience`, kept in step with the location while the calling view lives.
pub fn current_page(audience: Audience) -> ReadSignal<Page> {
    let page = RwSignal::new(audience.resolve(&location_fragment()));
    let listener = window_event_listener(leptos::ev::hashchange, move |_| {
        page.set(audience.resolve(&location_fragment()));
    });
    on_cleanup(move || listener.remove());
    Effect::new(move |_| {
        let label = page.get().label();
        document().set_title(&format!("{label} · medledger"));
    });
    page.read_only()
}

/// The audience's pages as links; the current one is marked for screen readers and the eye.
#[component]
pub fn PageNav(audience: Audience, current: ReadSignal<Page>) -> impl IntoView {
    view! {
        <nav class="sections" aria-label="pages" data-testid="pages">
            {audience
                .pages()
                .iter()
                .map(|&p| {
                    view! {
                        <a href=p.href() aria-current=move || (current.get() == p).then_some("page")>
                            {p.label()}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}
