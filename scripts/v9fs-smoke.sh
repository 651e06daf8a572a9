#!/usr/bin/env bash
# The Linux kernel's own 9p client (v9fs, booted in qemu by
# ../shared/v9fs/run-v9fs.sh) mounts `dist/gofer --listen` the way it mounts
# diod (aname = the exported host path, access=any, cache=none) and runs the
# smoke workload (34 checks, ~30 s). Fails unless every check passes.
# V9FS_DIR overrides where run-v9fs.sh lives; extra arguments go to the gofer.
set -euo pipefail
cd "$(dirname "$0")/.."
V9FS_DIR=${V9FS_DIR:-../shared/v9fs}
if [[ ! -x $V9FS_DIR/run-v9fs.sh ]]; then
  echo "FATAL: $V9FS_DIR/run-v9fs.sh is missing; set V9FS_DIR to the v9fs harness (see docs/p9.md)" >&2
  exit 1
fi
[[ -x dist/gofer ]] || { echo "FATAL: dist/gofer is missing; run 'bun run build.ts' first" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
SERVER_CMD="$PWD/dist/gofer --listen tcp:127.0.0.1:{port} --mount {dir} $*" WORKLOAD=smoke TIMEOUT=${TIMEOUT:-300} \
  "$V9FS_DIR/run-v9fs.sh" 2>&1 | tee "$out" >&2 || rc=$?
last=$(tail -n 1 "$out")
if [[ $rc -ne 0 || ! $last =~ ^v9fs-smoke:\ ([0-9]+)\ passed,\ 0\ failed$ || ${BASH_REMATCH[1]} -eq 0 ]]; then
  echo "FATAL: v9fs smoke against dist/gofer --listen failed (exit $rc, '$last'); the logs are in the LOGDIR named above" >&2
  exit 1
fi
echo "v9fs smoke passed (${last#v9fs-smoke: })" >&2
