#!/usr/bin/env bash
# Reads the output of a whole test run (a file) and prints one closing line,
# "total: N passed, M failed", summing what each runner reported: cargo test, Truffle's mocha,
# forge, node --test, and the project's own scripts' "NAME: N passed, M failed" lines.
set -euo pipefail
# MEDLEDGER_STAGE_FAILED=1: a stage failed without a runner counting it (a lint, a build): one more.
sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1" | awk -v stage_failed="${MEDLEDGER_STAGE_FAILED:-0}" '
  /test result: (ok|FAILED)\. [0-9]+ passed; [0-9]+ failed/ {
    match($0, /[0-9]+ passed/); p += substr($0, RSTART, RLENGTH) + 0
    match($0, /[0-9]+ failed/); f += substr($0, RSTART, RLENGTH) + 0; next }
  /^ *[0-9]+ passing/ { p += $1; next }
  /^ *[0-9]+ failing/ { f += $1; next }
  /^Ran [0-9]+ test suites.*tests passed, [0-9]+ failed/ {
    match($0, /[0-9]+ tests passed/); p += substr($0, RSTART, RLENGTH) + 0
    match($0, /[0-9]+ failed/); f += substr($0, RSTART, RLENGTH) + 0; next }
  /^# pass [0-9]+$/ { p += $3; next }
  /^# fail [0-9]+$/ { f += $3; next }
  /^[a-z0-9 -]+: [0-9]+ passed, [0-9]+ failed$/ {
    match($0, /[0-9]+ passed/); p += substr($0, RSTART, RLENGTH) + 0
    match($0, /[0-9]+ failed/); f += substr($0, RSTART, RLENGTH) + 0; next }
  END { if (stage_failed && f == 0) f = 1; printf "total: %d passed, %d failed\n", p, f }
'
