# Sourced by scripts/interop.sh, scripts/interop-p9.sh and scripts/bench.sh:
# sets up gVisor's Go toolchain and builds the Go programs that drive a gofer
# through gVisor's real lisafs and p9 clients.
#
# Go runs in GOPATH mode (GO111MODULE=off) against the gVisor source that
# /opt/gvisor-ref/env.sh points at. Our packages are exposed to it through a
# private GOPATH overlay: build/gopath/src/gofer/{tests,bench} -> repo dirs.
#
# A missing toolchain is an error, never a skip.

GOFER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GVISOR_REF_HOME="${GVISOR_REF_HOME:-/opt/gvisor-ref}"
GOFER_RUNSC_STOCK="${GOFER_RUNSC_STOCK:-$GVISOR_REF_HOME/bin/runsc-stock}"
# Today's gVisor (../shared/gvisor/setup-latest.sh): its Go client sources and
# toolchain, and its runsc (the reference gofer for today's client).
GVISOR_LATEST_ENV="${GVISOR_LATEST_ENV:-$GVISOR_REF_HOME/latest/env.sh}"
GOFER_RUNSC_LATEST="${GOFER_RUNSC_LATEST:-$GVISOR_REF_HOME/bin/runsc-latest}"

# gofer_go_env [today]: source gVisor's env.sh (20240729's, or with `today`
# today's) and add our GOPATH overlay. Call it in a subshell to switch.
gofer_go_env() {
	local env_sh="$GVISOR_REF_HOME/env.sh" setup=setup.sh
	if [[ "${1:-}" == today ]]; then
		env_sh="$GVISOR_LATEST_ENV" setup=setup-latest.sh
	fi
	if [[ ! -f "$env_sh" ]]; then
		echo "FATAL: $env_sh not found: the Go toolchain and gVisor sources are missing." >&2
		echo "       Install them with: bash ../shared/gvisor/$setup   (needs root)" >&2
		return 2
	fi
	# shellcheck disable=SC1090
	source "$env_sh" || { echo "FATAL: sourcing $env_sh failed" >&2; return 2; }
	if ! command -v go >/dev/null 2>&1; then
		echo "FATAL: 'go' is not on PATH after sourcing $env_sh" >&2
		return 2
	fi
	if [[ ! -d "$GOPATH/src/gvisor.dev/gvisor/pkg/lisafs" || ! -d "$GOPATH/src/gvisor.dev/gvisor/pkg/p9" ]]; then
		echo "FATAL: gVisor sources not found under GOPATH=$GOPATH" >&2
		return 2
	fi
	local overlay="$GOFER_ROOT/build/gopath/src/gofer"
	mkdir -p "$overlay"
	local d
	for d in tests bench; do
		ln -sfn "$GOFER_ROOT/$d" "$overlay/$d"
	done
	export GOPATH="$GOFER_ROOT/build/gopath:$GOPATH"
}

# gofer_go_build interop|interop-today|p9|bench|demo|p9bench: vet and build
# into build/ (p9bench: bench/p9, scripts/bench-p9.sh; interop-today: the
# interop test against today's client, built with the gvisor_today tag in the
# environment of `gofer_go_env today`).
gofer_go_build() {
	local pkg out tags=()
	case "$1" in
	interop) pkg=gofer/tests/interop/lisafs_interop out=lisafs_interop ;;
	interop-today) pkg=gofer/tests/interop/lisafs_interop out=lisafs_interop_today tags=(-tags gvisor_today) ;;
	p9) pkg=gofer/tests/interop/p9_interop out=p9_interop ;;
	bench) pkg=gofer/bench/lisafs out=lisafs_bench ;;
	demo) pkg=gofer/tests/interop/lisafs_demo out=lisafs_demo ;;
	p9bench) pkg=gofer/bench/p9 out=p9_bench ;;
	*) echo "gofer_go_build: unknown target $1" >&2; return 2 ;;
	esac
	echo "building $pkg -> build/$out" >&2
	local unformatted
	unformatted="$(cd "$GOFER_ROOT" && gofmt -l tests/interop bench 2>/dev/null)"
	[[ -z "$unformatted" ]] || echo "warning: not gofmt-formatted: $unformatted" >&2
	(cd "$GOFER_ROOT" && go vet "${tags[@]}" "$pkg" && go build "${tags[@]}" -o "$GOFER_ROOT/build/$out" "$pkg") || {
		echo "FATAL: building $pkg failed" >&2
		return 1
	}
}
