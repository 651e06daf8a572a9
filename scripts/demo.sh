#!/usr/bin/env bash
# The README's main job: set everything up on a fresh machine, then run a
# command in a real gVisor sandbox (runsc, ptrace platform) whose root
# filesystem and a writable bind mount are served by dist/gofer.
#   npm run demo                               # the default command below, under today's gVisor (runsc-latest)
#   npm run demo -- CMD ARGS...                # your own command in the sandbox
#   npm run demo -- --runsc 20240729 [CMD ARGS...]   # under gVisor release 20240729 instead
#   RUNSC_VERSION=20240729 npm run demo        # the same
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

version=${RUNSC_VERSION:-latest}
case ${1:-} in
  --latest) version=latest; shift ;;
  --runsc) version=${2:?--runsc needs a version: latest or 20240729}; shift 2 ;;
esac
case $version in
  20240729) runsc_name=runsc setup_flags=() ;;
  latest | today) version=latest runsc_name=runsc-latest setup_flags=(--latest) ;;
  *) echo "demo: the runsc version must be latest (today's gVisor) or 20240729, not '$version'" >&2; exit 2 ;;
esac

npm install --no-audit --no-fund --loglevel=error >&2
bash scripts/gvisor-setup.sh "${setup_flags[@]}" >&2
node_modules/.bin/bun run build.ts >&2

RUNSC=${GVISOR_REF_HOME:-/opt/gvisor-ref}/bin/$runsc_name
echo "== runsc: $RUNSC (gVisor $version), gofer: $REPO/dist/gofer" >&2
work=$REPO/build/demo
# Today's runsc bind-mounts the gofers' network namespace at STATE/null-netns
# (shared by the sandboxes of one --root) and leaves it there.
unmount_under() { grep -o " $1/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount 2>/dev/null || true; }
unmount_under "$work"
rm -rf "$work" && mkdir -p "$work/data" "$work/state" "$work/logs"
printf 'hello from the host, through gofer\n' >"$work/data/hello.txt"

if [[ $# -eq 0 ]]; then
  set -- /bin/sh -c '
    echo "== uname -a"; uname -a
    echo "== ls -l / (the root, served by gofer)"; ls -l /
    echo "== cat /etc/hostname"; cat /etc/hostname
    echo "== cat /data/hello.txt (a bind mount, served by gofer)"; cat /data/hello.txt
    echo "== write /data/from-sandbox.txt"; echo "written inside gVisor" >/data/from-sandbox.txt
    echo "== ls /usr/bin | wc -l"; ls /usr/bin | wc -l'
fi
node_modules/.bin/bun scripts/runsc-bundle.ts "$work/bundle" --mount "$work/data:/data" -- "$@" >/dev/null

# --overlay2=none: writes reach the host through the gofer. The sandbox's
# stdout goes through a pipe (gVisor writes a file stdout from offset 0).
set +e
RUNSC_GOFER_OVERRIDE=$REPO/dist/gofer "$RUNSC" --root="$work/state" --rootless=false --network=none \
  --platform=ptrace --overlay2=none --debug --debug-log="$work/logs/" \
  run --bundle "$work/bundle" "gofer-demo-$$" | cat
rc=${PIPESTATUS[0]}
set -e
"$RUNSC" --root="$work/state" delete -force "gofer-demo-$$" >/dev/null 2>&1 || true
unmount_under "$work"

echo "== on the host afterwards: $work/data"
ls -l "$work/data"
[[ -f $work/data/from-sandbox.txt ]] && cat "$work/data/from-sandbox.txt"
echo "== who served the files (dist/gofer's log, $work/logs/*gofer*)"
grep -h '"msg":"serving"' "$work"/logs/*gofer* | sed 's/.*"path":"\([^"]*\)".*"readonly":\([a-z]*\).*/  served \1 (read-only: \2)/'
exit "$rc"
