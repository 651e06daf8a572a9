#!/usr/bin/env bash
# The whole test suite (what CI runs): installs what it needs, builds
# dist/gofer, type-checks, runs the bun tests and the interop tests against
# gVisor's real Go client. A missing toolchain fails the run; nothing skips.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "npm packages (bun, typescript, commander, pino)"
npm install --no-audit --no-fund --loglevel=error

step "gVisor reference (Go toolchain, lisafs client, runsc) via ../shared/gvisor/setup.sh"
if [[ ! -f ../shared/gvisor/setup.sh ]]; then
  echo "FATAL: ../shared/gvisor/setup.sh not found; check out the project beside ../shared" >&2
  exit 1
fi
bash ../shared/gvisor/setup.sh

BUN=node_modules/.bin/bun
step "build dist/gofer"
"$BUN" run build.ts

step "type-check"
node_modules/.bin/tsc --noEmit -p .

step "bun test (unit, hostile input, event loop paths, CLI, runsc form; tests/e2e: real sandboxes under runsc)"
"$BUN" test

step "interop: gVisor's Go lisafs client against dist/gofer"
bash scripts/interop.sh

echo "all tests passed" >&2
