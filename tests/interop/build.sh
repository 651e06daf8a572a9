#!/usr/bin/env bash
# Builds the Go programs that drive a gofer through gVisor's real lisafs
# and p9 clients into build/: lisafs_interop, p9_interop, lisafs_bench,
# p9_bench,
# lisafs_demo.
# Usage: tests/interop/build.sh [interop|p9|bench|p9bench|demo]...   (default: all)
# A missing toolchain fails (see lib.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
gofer_go_env
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(interop p9 bench p9bench demo)
for t in "${targets[@]}"; do
	gofer_go_build "$t"
done
