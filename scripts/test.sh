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

step "Docker (tests/e2e/docker.test.ts): Debian's docker.io and busybox-static via scripts/docker-setup.sh; the test starts dockerd and stops it"
bash scripts/docker-setup.sh --install-only
# Should the test die before its afterAll, the dockerd it started stops here.
[[ -f /run/gofer-dockerd.pid ]] || trap 'bash scripts/docker-setup.sh --stop >&2 || true' EXIT

step "qemu-user and an arm64 sysroot (tests/arm64.test.ts and others run arm64 builds under qemu-aarch64-static; Debian's qemu-user-static, libc6-arm64-cross; readelf from binutils)"
arm64_pkgs=(qemu-user-static libc6-arm64-cross binutils)
arm64_missing() { ! command -v qemu-aarch64-static >/dev/null || ! command -v readelf >/dev/null || [[ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]]; }
if arm64_missing; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${arm64_pkgs[@]}" >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${arm64_pkgs[@]}" >&2; } || true
fi
if arm64_missing; then
  echo "FATAL: qemu-aarch64-static, readelf or /usr/aarch64-linux-gnu is missing and 'apt-get install -y ${arm64_pkgs[*]}' did not install them" >&2
  exit 1
fi

BUN=node_modules/.bin/bun
step "build dist/gofer and the release targets (dist/gofer-linux-{x64,arm64}[-musl], docs/shipping.md)"
"$BUN" run build.ts --all

step "type-check"
node_modules/.bin/tsc --noEmit -p .

step "bun test (unit, hostile input, event loop paths, CLI, runsc form; tests/e2e: real sandboxes under runsc 20240729 and today's, and under Docker)"
"$BUN" test

step "exhaustion and hostile-input tests in the other loop modes: threads, the poller Worker (the fallback), both (the run above: waitv, native poller)"
for mode in "threads 1" "waitv 0" "threads 0"; do
  read -r loop native <<<"$mode"
  GOFER_EVENT_LOOP=$loop GOFER_NATIVE_POLLER=$native "$BUN" test tests/limits.test.ts tests/hostile.test.ts tests/p9-hostile.test.ts
done

step "interop: gVisor's Go lisafs client against dist/gofer"
bash scripts/interop.sh

step "interop: gVisor's Go p9 client against dist/gofer"
bash scripts/interop-p9.sh

step "v9fs: the Linux kernel's 9p client (qemu) mounts dist/gofer --listen as it mounts diod; smoke workload"
bash scripts/v9fs-smoke.sh

echo "all tests passed" >&2
