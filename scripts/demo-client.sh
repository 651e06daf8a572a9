#!/usr/bin/env bash
# The README's main job: set everything up on a fresh machine, then serve a
# directory with dist/gofer to gVisor's own lisafs client (Go, release
# 20240729), which lists it and reads a file through our gofer.
set -euo pipefail
cd "$(dirname "$0")/.."

npm install --no-audit --no-fund --loglevel=error >&2
bash scripts/gvisor-setup.sh >&2
node_modules/.bin/bun run build.ts >&2
bash tests/interop/build.sh demo >&2

dir="${1:-$PWD/build/demo-root}"
if [[ $# -eq 0 ]]; then
  rm -rf "$dir" && mkdir -p "$dir/etc" "$dir/bin"
  printf 'hello from a directory served by gofer\n' >"$dir/hello.txt"
  printf 'gofer-demo\n' >"$dir/etc/hostname"
  ln -sfn hello.txt "$dir/greeting"
fi
exec build/lisafs_demo -gofer dist/gofer -dir "$dir" -cat "${2:-hello.txt}"
