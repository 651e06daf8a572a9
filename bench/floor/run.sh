#!/usr/bin/env bash
# Builds the floor benchmark and runs its driver (bench/floor/README.md):
#   bench/floor/run.sh [run.ts flags]        e.g. --placements unpinned --servers go,bun,c --rounds 12
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/build.sh"
cd "$here/../.."
bun=bun
command -v bun >/dev/null || bun="npx bun"
exec $bun run "$here/run.ts" "$@"
