#!/usr/bin/env bash
# Interop test: drives a gofer through gVisor's real lisafs client
# (gvisor.dev/gvisor/pkg/lisafs) and checks every result against the host.
#
# Usage: scripts/interop.sh [--server ours|ref] [--gofer PATH] [lisafs_interop flags...]
#   --server ours (default) tests dist/gofer; --server ref tests gVisor's own
#   gofer (runsc-stock), which is the specification.
#   Other flags go to build/lisafs_interop (e.g. --configs rw,ro, --debug,
#   --server-log FILE). Configurations: rw, ro (:ro), donate
#   (--donate-mount-fd), uds-open, uds-create (--host-uds), xattr (--xattr-user).
#
# Exits non-zero if the toolchain is missing, the build fails, dist/gofer is
# missing, or any check fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/lib.sh"

server=ours
gofer="$GOFER_ROOT/dist/gofer"
args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--server) server="$2"; shift 2 ;;
	--server=*) server="${1#--server=}"; shift ;;
	--gofer) gofer="$2"; shift 2 ;;
	--gofer=*) gofer="${1#--gofer=}"; shift ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done

gofer_go_env
gofer_go_build interop

case "$server" in
ours)
	if [[ ! -x "$gofer" ]]; then
		echo "FAIL: our gofer $gofer does not exist or is not executable (build it first)" >&2
		exit 1
	fi
	;;
ref)
	[[ -x "$GOFER_RUNSC_STOCK" ]] || { echo "FATAL: $GOFER_RUNSC_STOCK missing" >&2; exit 2; }
	;;
*) echo "--server must be ours or ref" >&2; exit 2 ;;
esac
if [[ $(id -u) -ne 0 ]]; then
	echo "note: not root: fixtures live in a plain temp dir (no tmpfs, no chown/block-device checks)" >&2
fi

exec "$GOFER_ROOT/build/lisafs_interop" --server "$server" --gofer "$gofer" \
	--runsc "$GOFER_RUNSC_STOCK" "${args[@]}"
