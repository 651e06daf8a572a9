#!/usr/bin/env bash
# Builds the Go programs that drive a gofer through gVisor's real lisafs
# client: build/lisafs_interop and build/lisafs_bench.
#
# Go runs in GOPATH mode (GO111MODULE=off) against the gVisor source that
# /opt/gvisor-ref/env.sh points at. Our packages are exposed to it through a
# private GOPATH overlay, build/gopath/src/gofer/{tests,bench} -> repo dirs.
#
# Usage: tests/interop/build.sh [interop|bench]...   (default: both)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ENV_SH="${GVISOR_REF_HOME:-/opt/gvisor-ref}/env.sh"

if [[ ! -f "$ENV_SH" ]]; then
	echo "FATAL: $ENV_SH not found: the Go toolchain and gVisor sources are missing." >&2
	echo "       Run 'bash ../shared/gvisor/setup.sh' (needs root) to install them." >&2
	exit 2
fi
# shellcheck disable=SC1090
source "$ENV_SH"
if ! command -v go >/dev/null 2>&1; then
	echo "FATAL: 'go' not on PATH after sourcing $ENV_SH" >&2
	exit 2
fi

overlay="$ROOT/build/gopath/src/gofer"
mkdir -p "$overlay"
for d in tests bench; do
	ln -sfn "$ROOT/$d" "$overlay/$d"
done
export GOPATH="$ROOT/build/gopath:$GOPATH"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(interop bench)
for t in "${targets[@]}"; do
	case "$t" in
	interop) pkg=gofer/tests/interop/lisafs_interop out=lisafs_interop ;;
	bench) pkg=gofer/bench/lisafs out=lisafs_bench ;;
	*) echo "unknown target $t" >&2; exit 2 ;;
	esac
	echo "go build $pkg -> build/$out" >&2
	go vet "$pkg"
	go build -o "$ROOT/build/$out" "$pkg"
done
