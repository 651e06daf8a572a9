#!/usr/bin/env bash
# Builds the floor benchmark into build/floor/ (no lock needed):
#   client     gVisor's flipcall client (Go, gVisor 20240729's pkg/flipcall)
#   goserver   a flipcall server in Go (gVisor's pkg/flipcall)
#   bunserver  a bare Bun flipcall server (server.ts; build.ts's options)
#   cserver    the same in C (calibration)
#   noise      background load for the "noisy" placement
# Go runs in GOPATH mode against /opt/gvisor-ref (tests/interop/lib.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../tests/interop/lib.sh"
out="$GOFER_ROOT/build/floor"
mkdir -p "$out"
(
	gofer_go_env
	cd "$GOFER_ROOT"
	unformatted="$(gofmt -l bench/floor)"
	[[ -z "$unformatted" ]] || echo "warning: not gofmt-formatted: $unformatted" >&2
	for p in client goserver; do
		go vet "gofer/bench/floor/$p"
		go build -o "$out/$p" "gofer/bench/floor/$p"
	done
)
gcc -O2 -Wall -Wextra -pthread -o "$out/cserver" "$here/server.c"
gcc -O2 -Wall -Wextra -o "$out/noise" "$here/noise.c"
cd "$GOFER_ROOT"
bun=bun
command -v bun >/dev/null || bun="npx bun"
$bun run "$here/build.ts" "$out/bunserver"
echo "built $out/{client,goserver,cserver,bunserver}" >&2
