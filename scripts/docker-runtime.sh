#!/bin/sh
# An OCI runtime for Docker (daemon.json "runtimes") and containerd: gVisor's
# runsc, on the ptrace platform, with this repo's dist/gofer as its gofer
# (runsc's RUNSC_GOFER_OVERRIDE hook execs it with runsc's gofer argv and
# FDs). Docker runs it as `docker-runtime.sh [runtimeArgs...] --root ...
# --log ... --log-format json create|start|state|kill|delete ...`.
#
# Its own options (in a daemon.json entry's "runtimeArgs"); every other
# argument goes to runsc as it is:
#   --runsc=PATH   the runsc (default /opt/gvisor-ref/bin/runsc-latest, today's;
#                  /opt/gvisor-ref/bin/runsc is gVisor 20240729). It must carry
#                  the RUNSC_GOFER_OVERRIDE hook (scripts/gvisor-setup.sh).
#   --gofer=PATH   the gofer (default: dist/gofer next to this script's repo)
# Docker passes no environment to a runtime, hence options, not variables.
set -eu
here=$(dirname "$(readlink -f "$0")")
runsc=/opt/gvisor-ref/bin/runsc-latest
gofer=$here/../dist/gofer
# Taken out wherever they are (runsc has no such flags; a container's own
# argv is in its bundle, never here); the rest keeps its order.
n=$#
for a in "$@"; do
  case $a in
    --runsc=*) runsc=${a#--runsc=} ;;
    --gofer=*) gofer=${a#--gofer=} ;;
    *) set -- "$@" "$a" ;;
  esac
done
shift "$n"
gofer=$(readlink -f "$gofer" || echo "$gofer")
for p in "$runsc" "$gofer"; do
  if [ ! -f "$p" ] || [ ! -x "$p" ]; then
    # containerd shows the runtime's stderr when it fails.
    echo "docker-runtime.sh: $p is missing or not executable (build the gofer with 'npm run build'; install runsc with 'bash scripts/gvisor-setup.sh --latest')" >&2
    exit 1
  fi
done
RUNSC_GOFER_OVERRIDE=$gofer
export RUNSC_GOFER_OVERRIDE
exec "$runsc" --platform=ptrace "$@"
