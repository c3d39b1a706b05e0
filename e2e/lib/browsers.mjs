// Shared by every browser test and benchmark: a static file server on 127.0.0.1 and the two real
// browsers from Debian (Chromium and Firefox ESR) driven by playwright-core. Never downloads a
// browser: the executables are the system's.
import { createServer } from "node:http";
import { createReadStream, existsSync, statSync } from "node:fs";
import { extname, join, normalize, sep } from "node:path";
import { chromium, firefox } from "playwright-core";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".css": "text/css",
};

/** Serves `mounts` ({ "/prefix/": "/abs/dir" }) on a free loopback port; resolves to { url, close }. */
export function serve(mounts) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(dir, path.slice(prefix.length) || "index.html"));
      if (!file.startsWith(normalize(dir) + sep) && file !== normalize(dir)) break;
      if (!existsSync(file) || !statSync(file).isFile()) break;
      res.writeHead(200, { "content-type": TYPES[extname(file)] || "application/octet-stream", "cache-control": "no-store" });
      createReadStream(file).pipe(res);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end(`not found: ${path}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

export const BROWSERS = {
  chromium: {
    executable: "/usr/bin/chromium",
    // `extraArgs`: more command-line switches (a benchmark's `--js-flags=--expose-gc`).
    launch: (extraArgs = []) =>
      chromium.launch({
        executablePath: "/usr/bin/chromium",
        headless: true,
        // This machine has no network beyond loopback: keep Chromium from calling home.
        args: ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", ...extraArgs],
      }),
  },
  firefox: {
    executable: "/usr/bin/firefox-esr",
    // WebDriver BiDi against the system Firefox ESR; playwright-core 1.64.1 is pinned for this.
    launch: () => firefox.launch({ channel: "moz-firefox", executablePath: "/usr/bin/firefox-esr", headless: true }),
  },
};

/** The browsers to run: all by default, or MEDLEDGER_BROWSERS=chromium,firefox. Fails loudly when one is missing. */
export function selectedBrowsers() {
  const names = (process.env.MEDLEDGER_BROWSERS || "chromium,firefox").split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    const b = BROWSERS[name];
    if (!b) throw new Error(`unknown browser ${name} (known: ${Object.keys(BROWSERS).join(", ")})`);
    if (!existsSync(b.executable)) throw new Error(`${b.executable} is missing: run scripts/deps.sh --browsers (apt-get install chromium firefox-esr)`);
  }
  return names;
}
