#!/usr/bin/env bash
# Installs the gVisor reference (Go toolchain, gVisor's Go clients, runsc)
# with ../shared/gvisor/setup.sh, which the project expects beside this
# checkout. Used by the README's two commands and the demo client.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f ../shared/gvisor/setup.sh ]]; then
  echo "FATAL: ../shared/gvisor/setup.sh not found beside $PWD; clone this project next to the shared/ directory and run it from there" >&2
  exit 1
fi
bash ../shared/gvisor/setup.sh
