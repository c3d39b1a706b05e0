//! The browser half of the app: the Leptos views, the wallet bridge and the escrow client. Built
//! only for wasm32 (see the crate docs).

mod chain;
mod components;
mod escrow;
mod fhir;
mod key_cache;
mod log;
mod nav;
mod pages;
mod records;
mod recovery;
mod relay;
mod rotation;
mod session;
mod state;
mod wallet;

use wasm_bindgen::prelude::*;

/// Entry point: mounts the app on `<body>`.
#[wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(pages::app::App);
}
