// Starts the app: loads the wasm-bindgen glue and the WASM module. A file of its own rather than an
// inline script, so that the page's content-security policy (escrow-api/src/web.rs) can forbid
// inline scripts altogether.
import init from "/medledger_app.js";

init({ module_or_path: "/medledger_app_bg.wasm" }).catch((e) => {
  document.body.textContent = "medledger could not start in this browser: " + e;
});
