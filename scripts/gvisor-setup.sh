#!/usr/bin/env bash
# Installs the gVisor reference (Go toolchain, gVisor's Go clients, runsc
# 20240729) with ../shared/gvisor/setup.sh, which the project expects beside
# this checkout. With --latest, also today's gVisor (bin/runsc-latest and its
# Go sources) with ../shared/gvisor/setup-latest.sh, which runs setup.sh
# first. Used by the README's two commands and the demo client. Fails (never
# skips) when a script is missing or does not finish.
#   bash scripts/gvisor-setup.sh            # 20240729: /opt/gvisor-ref/bin/runsc{,-stock}
#   bash scripts/gvisor-setup.sh --latest   # and today's: /opt/gvisor-ref/bin/runsc-latest
set -euo pipefail
cd "$(dirname "$0")/.."
latest=false
case "${1:-}" in
  "") ;;
  --latest) latest=true ;;
  *) echo "usage: $0 [--latest]" >&2; exit 2 ;;
esac
script=../shared/gvisor/setup.sh
$latest && script=../shared/gvisor/setup-latest.sh
if [[ ! -f $script ]]; then
  echo "FATAL: $script not found beside $PWD; clone this project next to the shared/ directory and run it from there" >&2
  exit 1
fi
bash "$script"
if $latest && [[ ! -x ${GVISOR_REF_HOME:-/opt/gvisor-ref}/bin/runsc-latest ]]; then
  echo "FATAL: $script finished but ${GVISOR_REF_HOME:-/opt/gvisor-ref}/bin/runsc-latest is not there" >&2
  exit 1
fi
