// The flags every Ganache of this project starts with (scripts/ganache.args), for the Node
// scripts and the browser suites: read once when first asked, comments dropped, split into
// arguments.
"use strict";

const fs = require("fs");
const path = require("path");

let args = null;

/** scripts/ganache.args as an argument list (a copy: callers may add to it). */
function ganacheArgs() {
  args ??= fs
    .readFileSync(path.join(__dirname, "ganache.args"), "utf8")
    .split("\n")
    .map((line) => line.replace(/#.*/, ""))
    .join(" ")
    .split(/\s+/)
    .filter(Boolean);
  return [...args];
}

module.exports = { ganacheArgs };
