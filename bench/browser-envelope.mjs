// Envelope v1 in real browsers (bench/README.md): in each of headless Chromium and Firefox ESR, on
// the same 64 KiB chunks in the same page and run,
//   - raw WebCrypto AES-256-GCM encrypt and decrypt, one awaited call per chunk (the ceiling);
//     output not kept, like the envelope's encryption here;
//   - the envelope through medledger's WebCrypto path (seal + SHA-256 per chunk for h1), and its
//     decryption (open + SHA-256 per chunk) fed 1 MiB frames as a streamed download would;
//   - the envelope through aes-gcm + sha2 compiled to WASM (the slow path), on a smaller body;
//   - memory while encrypting a 200 MiB body (WASM linear memory; JS heap where the browser tells).
// Needs the harness built: scripts/build-wasm.sh medledger-wasm-harness target-wasm/harness
//
//   node bench/browser-envelope.mjs [MiB, default 64] [runs, default 3]
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve, BROWSERS, selectedBrowsers } from "../e2e/lib/browsers.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const PKG = join(ROOT, "target-wasm", "harness");
const MIB = Number(process.argv[2] || 64);
const RUNS = Number(process.argv[3] || 3);
const CHUNK = 65536;

if (!existsSync(join(PKG, "medledger_wasm_harness_bg.wasm"))) {
  console.error(`${PKG} is empty: run scripts/build-wasm.sh medledger-wasm-harness target-wasm/harness`);
  process.exit(1);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);

const server = await serve({ "/pkg/": PKG, "/": join(ROOT, "e2e", "wasm-harness", "www") });
const results = {};
try {
  for (const name of selectedBrowsers()) {
    const browser = await BROWSERS[name].launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => window.harness !== undefined, null, { timeout: 30000 });
      const version = browser.version();
      const runs = [];
      for (let r = 0; r < RUNS; r++) {
        runs.push(
          await page.evaluate(
            async ({ MIB, CHUNK }) => {
              const total = MIB * 1024 * 1024;
              const chunks = Math.ceil(total / CHUNK);
              const chunk = crypto.getRandomValues(new Uint8Array(CHUNK));
              const aad = crypto.getRandomValues(new Uint8Array(110));
              const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
              const iv = (i) => {
                const v = new Uint8Array(12);
                new DataView(v.buffer).setUint32(8, i);
                return v;
              };
              // Raw WebCrypto encryption, one awaited call per chunk, output dropped as it comes.
              let t = performance.now();
              for (let i = 0; i < chunks; i++) {
                await crypto.subtle.encrypt({ name: "AES-GCM", iv: iv(i), additionalData: aad }, key, chunk);
              }
              const rawEncrypt = performance.now() - t;
              // The same, 16 chunks (1 MiB) in flight at a time, as a file read in 1 MiB slices allows.
              t = performance.now();
              for (let i = 0; i < chunks; i += 16) {
                const batch = [];
                for (let j = i; j < Math.min(i + 16, chunks); j++) batch.push(crypto.subtle.encrypt({ name: "AES-GCM", iv: iv(j), additionalData: aad }, key, chunk));
                await Promise.all(batch);
              }
              const rawEncrypt16 = performance.now() - t;
              const encOnly = JSON.parse(await window.harness.bench_webcrypto(chunk, total, false, 1));
              const encOnly16 = JSON.parse(await window.harness.bench_webcrypto(chunk, total, false, 16));
              // Raw WebCrypto decryption of ciphertexts kept from an encryption pass.
              const sealed = [];
              for (let i = 0; i < chunks; i++) {
                sealed.push(await crypto.subtle.encrypt({ name: "AES-GCM", iv: iv(i), additionalData: aad }, key, chunk));
              }
              t = performance.now();
              for (let i = 0; i < chunks; i++) {
                await crypto.subtle.decrypt({ name: "AES-GCM", iv: iv(i), additionalData: aad }, key, sealed[i]);
              }
              const rawDecrypt = performance.now() - t;
              sealed.length = 0;
              const env = JSON.parse(await window.harness.bench_webcrypto(chunk, total, true, 16));
              // The WASM path is ~20x slower: an eighth of the body is plenty.
              const wasmBytes = Math.max(CHUNK, Math.floor(total / 8 / CHUNK) * CHUNK);
              const wasm = JSON.parse(window.harness.bench_wasm_aes(chunk, wasmBytes));
              return { total, rawEncrypt, rawEncrypt16, rawDecrypt, envEncrypt: encOnly.encrypt_ms, envEncrypt16: encOnly16.encrypt_ms, envDecrypt: env.decrypt_ms, wasmBytes, wasmEncrypt: wasm.encrypt_ms };
            },
            { MIB, CHUNK }
          )
        );
      }
      // Memory: a 200 MiB body through the WebCrypto path, nothing kept.
      const memory = await page.evaluate(async (CHUNK) => {
        const heap = () => (performance.memory ? performance.memory.usedJSHeapSize : null);
        const wasmBefore = window.harness.wasm_memory_bytes();
        const heapBefore = heap();
        const chunk = crypto.getRandomValues(new Uint8Array(CHUNK));
        const r = JSON.parse(await window.harness.bench_webcrypto(chunk, 200 * 1024 * 1024, false, 16));
        return { wasmBefore, wasmAfter: window.harness.wasm_memory_bytes(), heapBefore, heapAfter: heap(), encryptMs: r.encrypt_ms };
      }, CHUNK);
      results[name] = { version, runs, memory };
    } finally {
      await browser.close();
    }
  }
} finally {
  await server.close();
}

console.log(`== ${new Date().toISOString()} ${MIB} MiB per run, ${RUNS} runs, 64 KiB chunks, load ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")}`);
for (const [name, { version, runs, memory }] of Object.entries(results)) {
  const m = (key, bytes) => median(runs.map((r) => mbps(bytes(r), r[key])));
  const rawE = m("rawEncrypt", (r) => r.total);
  const rawD = m("rawDecrypt", (r) => r.total);
  const envE = m("envEncrypt", (r) => r.total);
  const envD = m("envDecrypt", (r) => r.total);
  const wasmE = m("wasmEncrypt", (r) => r.wasmBytes);
  console.log(`${name} ${version}`);
  const rawE16 = m("rawEncrypt16", (r) => r.total);
  const envE16 = m("envEncrypt16", (r) => r.total);
  console.log(`  raw WebCrypto AES-GCM encrypt, 1 chunk at a time   ${rawE.toFixed(0).padStart(6)} MB/s`);
  console.log(`  envelope encrypt + h1 (WebCrypto), 1 at a time     ${envE.toFixed(0).padStart(6)} MB/s  ${((100 * envE) / rawE).toFixed(0)} % of raw`);
  console.log(`  raw WebCrypto AES-GCM encrypt, 16 in flight        ${rawE16.toFixed(0).padStart(6)} MB/s`);
  console.log(`  envelope encrypt + h1 (WebCrypto), 16 in flight    ${envE16.toFixed(0).padStart(6)} MB/s  ${((100 * envE16) / rawE16).toFixed(0)} % of raw 16, ${((100 * envE16) / rawE).toFixed(0)} % of raw 1`);
  console.log(`  raw WebCrypto AES-GCM decrypt, 1 chunk at a time   ${rawD.toFixed(0).padStart(6)} MB/s`);
  console.log(`  envelope decrypt + h1 (WebCrypto), 1 MiB frames   ${envD.toFixed(0).padStart(6)} MB/s  ${((100 * envD) / rawD).toFixed(0)} % of raw`);
  console.log(`  envelope encrypt + h1 (aes-gcm + sha2 in WASM)     ${wasmE.toFixed(0).padStart(6)} MB/s`);
  const mib = (b) => (b === null ? "n/a" : `${(b / 1048576).toFixed(1)} MiB`);
  console.log(`  200 MiB encrypt: ${(memory.encryptMs / 1000).toFixed(1)} s; WASM memory ${mib(memory.wasmBefore)} -> ${mib(memory.wasmAfter)}; JS heap ${mib(memory.heapBefore)} -> ${mib(memory.heapAfter)}`);
}
