// The flags every Ganache of this project starts with (scripts/ganache.args), for the Node
// scripts and the browser suites: read once, comments dropped, split into arguments.
"use strict";

const fs = require("fs");
const path = require("path");

const FILE = path.join(__dirname, "ganache.args");

/** scripts/ganache.args as an argument list. */
function ganacheArgs() {
  return fs
    .readFileSync(FILE, "utf8")
    .split("\n")
    .map((line) => line.replace(/#.*/, ""))
    .join(" ")
    .split(/\s+/)
    .filter(Boolean);
}

module.exports = { ganacheArgs, GANACHE_ARGS_FILE: FILE };
