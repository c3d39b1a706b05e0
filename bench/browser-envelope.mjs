// Envelope v1 in real browsers (bench/README.md): in each of headless Chromium and Firefox ESR, on
// the same 64 KiB chunks in the same page, in every run and in an order that alternates from run
// to run:
//   - the anchor, raw WebCrypto doing the envelope's work: AES-256-GCM encrypt of each chunk and
//     SHA-256 of each sealed chunk (decrypt: SHA-256 of each sealed chunk and AES-256-GCM decrypt,
//     both in flight together), with 1, 4, 16 and 64 chunks kept in flight (a chunk starts as
//     soon as one finishes); the browser's best concurrency is the setting with the highest
//     median rate over the runs, and each run's anchor is its measurement at that setting;
//   - the envelope through medledger's WebCrypto path (seal + SHA-256 per chunk for h1, 16 chunks
//     in flight as the app runs it), and its decryption (open + SHA-256 per chunk) fed 1 MiB frames
//     as a streamed download would;
//   - a file sealed as the app seals one (256 KiB chunks read from a Blob): 32 chunks read at once
//     and sealed together, as the app does, against one read per chunk, 8 a batch, as it did;
//   - the envelope through aes-gcm + sha2 compiled to WASM (the slow path), on a smaller body;
//   - memory while encrypting a 200 MiB body (WASM linear memory; JS heap where the browser tells).
// Each run's envelope rate is divided by the same run's anchor; the medians and spreads of those
// ratios are the figures. Every timed phase starts from the same kind of page: its input made
// beforehand (the anchor's sealed chunks, the envelope's sealed body as 1 MiB frames) and, in
// Chromium, the heap collected first (`--js-flags=--expose-gc`; Firefox has no such switch).
// Also printed, for comparison with older reports: the ratio to the fastest of the four settings in
// each run, which divides one sample by the best of four and so leans low on a noisy machine.
// Needs the harness built: scripts/build-wasm.sh medledger-wasm-harness target-wasm/harness
//
//   node bench/browser-envelope.mjs [MiB, default 64] [runs, default 5]
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve, BROWSERS, selectedBrowsers } from "../e2e/lib/browsers.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
// HARNESS_PKG: another build of the harness (to compare two builds on one machine).
const PKG = process.env.HARNESS_PKG || join(ROOT, "target-wasm", "harness");
const MIB = Number(process.argv[2] || 64);
const RUNS = Number(process.argv[3] || 5);
const IN_FLIGHT = [1, 4, 16, 64];
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
    // `gc()` in the page, so that each timed phase starts from a collected heap (Chromium only).
    const browser = await BROWSERS[name].launch(name === "chromium" ? ["--js-flags=--expose-gc"] : []);
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => window.harness !== undefined, null, { timeout: 30000 });
      const version = browser.version();
      const runs = [];
      for (let r = 0; r < RUNS; r++) {
        runs.push(
          await page.evaluate(
            async ({ MIB, CHUNK, IN_FLIGHT, envelopeFirst }) => {
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
              // The sealed chunks as the envelope's decryptor receives them: joined and cut into 1 MiB
              // frames, each chunk a view of its frame (a chunk split across two frames is copied
              // out, here before the clock starts). Firefox opens views of large buffers much faster
              // than the separate 64 KiB buffers `encrypt` returns, so this is also the anchor's
              // fastest input.
              const FRAME = 1 << 20;
              let sealed = [];
              for (let i = 0; i < chunks; i++) {
                sealed.push(new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: iv(i), additionalData: aad }, key, chunk)));
              }
              const sealedLen = sealed[0].length;
              const joined = new Uint8Array(sealedLen * chunks);
              for (let i = 0; i < chunks; i++) joined.set(sealed[i], i * sealedLen);
              const frames = [];
              for (let at = 0; at < joined.length; at += FRAME) frames.push(joined.slice(at, at + FRAME));
              sealed = sealed.map((_, i) => {
                const at = i * sealedLen;
                const [f, off] = [Math.floor(at / FRAME), at % FRAME];
                return off + sealedLen <= FRAME ? frames[f].subarray(off, off + sealedLen) : joined.slice(at, at + sealedLen);
              });
              // Every timed phase starts from a collected heap where the browser allows it.
              const settle = () => (typeof gc === "function" ? gc() : undefined);
              // `k` chunks in flight at all times (a chunk starts as soon as one finishes), each
              // doing `work(i)`; milliseconds.
              const timed = async (k, work) => {
                settle();
                const t = performance.now();
                let next = 0;
                const lane = async () => {
                  while (next < chunks) await work(next++);
                };
                await Promise.all(Array.from({ length: Math.min(k, chunks) }, lane));
                return performance.now() - t;
              };
              const sealAndHash = (i) =>
                crypto.subtle.encrypt({ name: "AES-GCM", iv: iv(i), additionalData: aad }, key, chunk).then((ct) => crypto.subtle.digest("SHA-256", ct));
              const hashAndOpen = (i) =>
                Promise.all([crypto.subtle.digest("SHA-256", sealed[i]), crypto.subtle.decrypt({ name: "AES-GCM", iv: iv(i), additionalData: aad }, key, sealed[i])]);
              const anchors = async () => {
                const encrypt = {};
                const decrypt = {};
                for (const k of IN_FLIGHT) {
                  encrypt[k] = await timed(k, sealAndHash);
                  decrypt[k] = await timed(k, hashAndOpen);
                }
                return { encrypt, decrypt };
              };
              // The envelope's sealed body, as the network would deliver it, made before any timing.
              const body = await window.harness.bench_seal_body(chunk, total);
              const envelope = async () => {
                settle();
                const enc = JSON.parse(await window.harness.bench_webcrypto(chunk, total, 16));
                settle();
                const decrypt = await window.harness.bench_open_body(body);
                return { encrypt: enc.encrypt_ms, decrypt };
              };
              // A file sealed as the app seals one: 256 KiB chunks read from a Blob, either 8 a batch
              // with one read per chunk (the app before) or 32 a batch with one read for the batch
              // (the app now).
              const APP_CHUNK = 256 * 1024;
              const appChunk = new Uint8Array(APP_CHUNK);
              for (let at = 0; at < APP_CHUNK; at += CHUNK) appChunk.set(chunk, at);
              const file = new Blob(Array.from({ length: Math.ceil(total / APP_CHUNK) }, () => appChunk));
              const sealFile = async (batch, oneRead) => {
                settle();
                return JSON.parse(await window.harness.bench_seal_blob(file, APP_CHUNK, batch, oneRead)).encrypt_ms;
              };
              const fileSealing = {};
              for (const now of envelopeFirst ? [true, false] : [false, true]) {
                fileSealing[now ? "now" : "before"] = now ? await sealFile(32, true) : await sealFile(8, false);
              }
              let anchor, env;
              if (envelopeFirst) {
                env = await envelope();
                anchor = await anchors();
              } else {
                anchor = await anchors();
                env = await envelope();
              }
              sealed.length = 0;
              body.free();
              // The WASM path is ~20x slower: an eighth of the body is plenty.
              const wasmBytes = Math.max(CHUNK, Math.floor(total / 8 / CHUNK) * CHUNK);
              const wasm = JSON.parse(window.harness.bench_wasm_aes(chunk, wasmBytes));
              return { total, anchor, env, fileSealing, fileBytes: file.size, wasmBytes, wasmEncrypt: wasm.encrypt_ms };
            },
            { MIB, CHUNK, IN_FLIGHT, envelopeFirst: r % 2 === 1 }
          )
        );
      }
      // Memory: a 200 MiB body through the WebCrypto path, nothing kept.
      const memory = await page.evaluate(async (CHUNK) => {
        const heap = () => (performance.memory ? performance.memory.usedJSHeapSize : null);
        const wasmBefore = window.harness.wasm_memory_bytes();
        const heapBefore = heap();
        const chunk = crypto.getRandomValues(new Uint8Array(CHUNK));
        const r = JSON.parse(await window.harness.bench_webcrypto(chunk, 200 * 1024 * 1024, 16));
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
const spread = (xs) => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
for (const [name, { version, runs, memory }] of Object.entries(results)) {
  console.log(`${name} ${version}`);
  for (const op of ["encrypt", "decrypt"]) {
    // The browser's best concurrency: the in-flight setting with the highest median rate.
    const medianRate = (k) => median(runs.map((r) => mbps(r.total, r.anchor[op][k])));
    const bestK = IN_FLIGHT.reduce((a, b) => (medianRate(b) > medianRate(a) ? b : a));
    const anchorRate = runs.map((r) => mbps(r.total, r.anchor[op][bestK]));
    const envRate = runs.map((r) => mbps(r.total, r.env[op]));
    const ratios = runs.map((_, i) => envRate[i] / anchorRate[i]);
    // For comparison with older reports: each run's fastest setting, whichever it was.
    const luckiest = runs.map((r, i) => envRate[i] / mbps(r.total, Math.min(...Object.values(r.anchor[op]))));
    const perK = IN_FLIGHT.map((k) => `${k}: ${medianRate(k).toFixed(0)}`).join(", ");
    console.log(`  ${op}: anchor (AES-GCM + SHA-256 per chunk, raw WebCrypto) ${median(anchorRate).toFixed(0)} MB/s at ${bestK} in flight [median MB/s by chunks in flight: ${perK}]`);
    console.log(`  ${op}: envelope + h1 (WebCrypto)   ${median(envRate).toFixed(0)} MB/s; per-run ratio to the anchor: ${spread(ratios)}`);
    console.log(`  ${op}: per-run ratio to the fastest setting of each run: ${spread(luckiest)}`);
  }
  const fileRate = (how) => runs.map((r) => mbps(r.fileBytes, r.fileSealing[how]));
  const [now, before] = [fileRate("now"), fileRate("before")];
  console.log(
    `  file encrypt as the app (256 KiB chunks from a Blob): one read per 32 chunks (now) ${median(now).toFixed(0)} MB/s, one read per chunk, 8 a batch (before) ${median(before).toFixed(0)} MB/s; per-run ratio: ${spread(runs.map((_, i) => now[i] / before[i]))}`
  );
  const wasmE = median(runs.map((r) => mbps(r.wasmBytes, r.wasmEncrypt)));
  console.log(`  envelope encrypt + h1 (aes-gcm + sha2 in WASM)  ${wasmE.toFixed(0)} MB/s`);
  const mib = (b) => (b === null ? "n/a" : `${(b / 1048576).toFixed(1)} MiB`);
  console.log(`  200 MiB encrypt: ${(memory.encryptMs / 1000).toFixed(1)} s; WASM memory ${mib(memory.wasmBefore)} -> ${mib(memory.wasmAfter)}; JS heap ${mib(memory.heapBefore)} -> ${mib(memory.heapAfter)}`);
}
