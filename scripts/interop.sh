#!/usr/bin/env bash
# Interop test: drives a gofer through gVisor's real lisafs client
# (gvisor.dev/gvisor/pkg/lisafs) and checks every result against the host.
#
# Usage: scripts/interop.sh [--server ours|ref] [--client 20240729|today|both] [--gofer PATH] [lisafs_interop flags...]
#   --server ours (default) tests dist/gofer; --server ref tests gVisor's own
#   gofer, which is the specification: runsc-stock for 20240729's client,
#   runsc-latest for today's. --client both (default) runs the checks with
#   20240729's client and then with today's (build/lisafs_interop_today).
#   Other flags go to build/lisafs_interop (e.g. --configs rw,ro, --debug,
#   --server-log FILE). Configurations: rw, ro (:ro), donate
#   (--donate-mount-fd), uds-open, uds-create (--host-uds), xattr (--xattr-user).
#
# Exits non-zero if the toolchain is missing, the build fails, dist/gofer is
# missing, or any check fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/lib.sh"

server=ours
client=both
gofer="$GOFER_ROOT/dist/gofer"
args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--server) server="$2"; shift 2 ;;
	--server=*) server="${1#--server=}"; shift ;;
	--gofer) gofer="$2"; shift 2 ;;
	--gofer=*) gofer="${1#--gofer=}"; shift ;;
	--client) client="$2"; shift 2 ;;
	--client=*) client="${1#--client=}"; shift ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done

case "$client" in
20240729|today|both) ;;
*) echo "--client must be 20240729, today or both" >&2; exit 2 ;;
esac
# Each generation builds in its own Go environment (a subshell each).
if [[ "$client" != today ]]; then
	(gofer_go_env && gofer_go_build interop)
fi
if [[ "$client" != 20240729 ]]; then
	(gofer_go_env today && gofer_go_build interop-today)
fi

case "$server" in
ours)
	if [[ ! -x "$gofer" ]]; then
		echo "FAIL: our gofer $gofer does not exist or is not executable (build it first)" >&2
		exit 1
	fi
	;;
ref)
	if [[ "$client" != today ]]; then
		[[ -x "$GOFER_RUNSC_STOCK" ]] || { echo "FATAL: $GOFER_RUNSC_STOCK missing" >&2; exit 2; }
	fi
	if [[ "$client" != 20240729 ]]; then
		[[ -x "$GOFER_RUNSC_LATEST" ]] || { echo "FATAL: $GOFER_RUNSC_LATEST missing (bash ../shared/gvisor/setup-latest.sh)" >&2; exit 2; }
	fi
	;;
*) echo "--server must be ours or ref" >&2; exit 2 ;;
esac
if [[ $(id -u) -ne 0 ]]; then
	echo "note: not root: fixtures live in a plain temp dir (no tmpfs, no chown/block-device checks)" >&2
fi

rc=0
if [[ "$client" != today ]]; then
	echo "== lisafs interop with gVisor 20240729's client (server $server)" >&2
	"$GOFER_ROOT/build/lisafs_interop" --server "$server" --gofer "$gofer" \
		--runsc "$GOFER_RUNSC_STOCK" "${args[@]}" || rc=1
fi
if [[ "$client" != 20240729 ]]; then
	echo "== lisafs interop with today's gVisor client (server $server)" >&2
	"$GOFER_ROOT/build/lisafs_interop_today" --server "$server" --gofer "$gofer" \
		--runsc "$GOFER_RUNSC_LATEST" "${args[@]}" || rc=1
fi
exit $rc
