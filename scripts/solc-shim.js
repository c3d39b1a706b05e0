#!/usr/bin/env node
// A solc command-line stand-in for forge, backed by the project's solc-js (npm `solc`), so that
// forge compiles offline with exactly the compiler Truffle uses.
//
//   solc-shim.js --version                  -> "Version: 0.8.28+commit.7893614a.Linux.g++"
//   solc-shim.js [--standard-json] [--allow-paths a,b] [--base-path p] [--include-path p] ...
//                                           -> standard-JSON input on stdin, output on stdout
//
// forge parses the version line, so solc-js's platform suffix (".Emscripten.clang") is replaced
// by a native one. Imports are resolved against the base path, the include paths, the allow-paths
// forge passes, the project root and its node_modules.
"use strict";
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
let solc;
try {
  solc = require(path.join(ROOT, "node_modules", "solc"));
} catch (e) {
  process.stderr.write("solc-shim: cannot load node_modules/solc (run 'npm ci' first): " + e.message + "\n");
  process.exit(1);
}

const args = process.argv.slice(2);
if (args.includes("--version") || args.includes("-v")) {
  const v = solc.version().replace(/\.Emscripten\.clang$/, ".Linux.g++");
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + v + "\n");
  process.exit(0);
}

// Directories in which to look for an import, in order.
const dirs = [];
function addDirs(value) {
  for (const d of String(value).split(",")) if (d) dirs.push(path.resolve(d));
}
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const eq = a.indexOf("=");
  const flag = eq > 0 ? a.slice(0, eq) : a;
  if (flag === "--allow-paths" || flag === "--base-path" || flag === "--include-path") {
    if (eq > 0) addDirs(a.slice(eq + 1));
    else if (i + 1 < args.length) addDirs(args[++i]);
  }
}
dirs.push(process.cwd(), ROOT, path.join(ROOT, "node_modules"));

function findImport(importPath) {
  const candidates = path.isAbsolute(importPath) ? [importPath] : dirs.map((d) => path.join(d, importPath));
  for (const p of candidates) {
    try {
      if (fs.statSync(p).isFile()) return { contents: fs.readFileSync(p, "utf8") };
    } catch (_) {
      // not here; try the next directory
    }
  }
  return { error: "solc-shim: file not found: " + importPath + " (searched " + dirs.join(", ") + ")" };
}

// solc.compile() hands the input to the compiler as a string argument, which emscripten copies
// onto the wasm stack; past about 1.3 MB of standard JSON (forge sends every source, forge-std
// included) that overflows it and solc-js dies with "RuntimeError: memory access out of bounds".
// So copy the input to the compiler's heap (solidity_alloc) and call solidity_compile with the
// pointer, with the same import callback solc.compile would install.
const soljson = require(path.join(ROOT, "node_modules", "solc", "soljson.js"));
const core = require(path.join(ROOT, "node_modules", "solc", "bindings", "core.js")).setupCore(soljson);
const solidityCompile = soljson.cwrap("solidity_compile", "string", ["number", "number", "number"]);

function compileOnHeap(input) {
  const callback = core.addFunction((context, kind, data, contents, error) => {
    const k = core.copyFromCString(kind);
    const result = k === "source" ? findImport(core.copyFromCString(data)) : { error: "solc-shim: unsupported callback " + k };
    if (typeof result.contents === "string") core.copyToCString(result.contents, contents);
    if (typeof result.error === "string") core.copyToCString(result.error, error);
  }, "viiiii");
  try {
    const length = soljson.lengthBytesUTF8(input) + 1;
    const pointer = core.alloc(length);
    soljson.stringToUTF8(input, pointer, length);
    return solidityCompile(pointer, callback, 0);
  } finally {
    core.removeFunction(callback);
    core.reset();
  }
}

const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  const input = Buffer.concat(chunks).toString("utf8");
  process.stdout.write(compileOnHeap(input));
});
