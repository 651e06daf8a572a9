#!/usr/bin/env bash
# The whole test suite (what CI runs): installs what it needs (gVisor
# 20240729 and today's), builds dist/gofer, type-checks, runs the bun tests
# (tests/e2e: real sandboxes under both runscs) and the interop tests against
# gVisor's real Go client. A missing toolchain fails the run; nothing skips.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "npm packages (bun, typescript, commander, pino)"
npm install --no-audit --no-fund --loglevel=error

step "gVisor references: 20240729 (Go toolchain, lisafs client, runsc) and today's (runsc-latest) via ../shared/gvisor/setup-latest.sh"
bash scripts/gvisor-setup.sh --latest

step "diod (its 9P client tools drive tests/p9-diod.test.ts; the Debian package diod)"
diod_tools=(diod diodls diodcat diodload)
diod_missing() { local t; for t in "${diod_tools[@]}"; do [[ -x /usr/sbin/$t ]] || command -v "$t" >/dev/null || return 0; done; return 1; }
if diod_missing; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y diod >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y diod >&2; } || true
fi
if diod_missing; then
  echo "FATAL: diod's tools (${diod_tools[*]}) are missing and 'apt-get install -y diod' did not install them" >&2
  exit 1
fi

BUN=node_modules/.bin/bun
step "build dist/gofer"
"$BUN" run build.ts

step "type-check"
node_modules/.bin/tsc --noEmit -p .

step "bun test (unit, hostile input, event loop paths, CLI, runsc form; tests/e2e: real sandboxes under runsc 20240729 and today's)"
"$BUN" test

step "interop: gVisor's Go lisafs client against dist/gofer"
bash scripts/interop.sh

step "interop: gVisor's Go p9 client against dist/gofer"
bash scripts/interop-p9.sh

step "v9fs: the Linux kernel's 9p client (qemu) mounts dist/gofer --listen as it mounts diod; smoke workload"
bash scripts/v9fs-smoke.sh

echo "all tests passed" >&2
