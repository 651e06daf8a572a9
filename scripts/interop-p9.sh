#!/usr/bin/env bash
# 9P interop test: drives dist/gofer over 9P2000.L (gVisor's "Google"
# extensions up to 13, flipcall channels, FD donation) through gVisor's real
# p9 client (gvisor.dev/gvisor/pkg/p9) and checks every result against the
# host and against the errnos of gVisor's p9 gofer (pkg/p9 handlers in front
# of fsgofer).
#
# Usage: scripts/interop-p9.sh [--gofer PATH] [p9_interop flags...]
#   Flags go to build/p9_interop, e.g. --configs rw,ro, --debug,
#   --server-log FILE, --protocol p9. Configurations: rw (Google.13,
#   channels), rw-nochan (Google.7, socket only), v0 (plain 9P2000.L),
#   ro, ro-nochan (:ro), proto-p9 (--protocol p9), uds, uds-nochan
#   (--host-uds open), fifo (--host-fifo open), xattr, xattr-ro
#   (--xattr-user).
#
# Exits non-zero if the toolchain is missing, the build fails, dist/gofer is
# missing, or any check fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/lib.sh"

gofer="$GOFER_ROOT/dist/gofer"
args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--gofer) gofer="$2"; shift 2 ;;
	--gofer=*) gofer="${1#--gofer=}"; shift ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done

gofer_go_env
gofer_go_build p9

if [[ ! -x "$gofer" ]]; then
	echo "FAIL: our gofer $gofer does not exist or is not executable (build it first)" >&2
	exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "note: not root: fixtures live in a plain temp dir (no tmpfs, no chown/block-device checks)" >&2
fi

exec "$GOFER_ROOT/build/p9_interop" --gofer "$gofer" "${args[@]}"
