#!/usr/bin/env bash
# Docker with this repo's gofer (README "With Docker", docs/docker.md). As
# root; idempotent:
#   1. installs Debian's docker.io and busybox-static when missing (apt-get);
#   2. adds two runtimes to daemon.json, keeping every other key:
#        gofer           scripts/docker-runtime.sh (today's runsc, runsc-latest)
#        gofer-20240729  the same with --runsc=/opt/gvisor-ref/bin/runsc
#                        --network=none (see below)
#   3. starts dockerd when none answers (and records that in $PIDFILE), or
#      makes the running one reload daemon.json (SIGHUP) when it changed;
#   4. imports the test image $IMAGE (a busybox rootfs; there is no registry).
#
#   scripts/docker-setup.sh                 all of the above
#   scripts/docker-setup.sh --install-only  step 1 only
#   scripts/docker-setup.sh --stop          stop the dockerd this script started (if any)
#
# Environment: DAEMON_JSON (default /etc/docker/daemon.json), GOFER_DOCKER_IMAGE
# (default gofer-busybox:latest), DOCKERD_FLAGS for a dockerd it starts
# (default "--iptables=false --bridge=none": no iptables rules, no docker0
# bridge on the host; containers get loopback only. Plain `dockerd` works
# too; a flag whose key daemon.json already sets is left out, as dockerd
# refuses a setting given twice), DOCKERD_LOG (default /var/log/gofer-dockerd.log),
# DOCKER (the client, default docker).
set -euo pipefail
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
DAEMON_JSON=${DAEMON_JSON:-/etc/docker/daemon.json}
IMAGE=${GOFER_DOCKER_IMAGE:-gofer-busybox:latest}
DOCKERD_FLAGS=${DOCKERD_FLAGS---iptables=false --bridge=none}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/gofer-dockerd.log}
DOCKER=${DOCKER:-docker}
PIDFILE=/run/gofer-dockerd.pid
RUNTIME=$REPO/scripts/docker-runtime.sh

say() { printf 'docker-setup: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# ---- 1. packages -------------------------------------------------------------
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
install_packages() {
  local want=() p
  for p in docker.io busybox-static; do installed "$p" || want+=("$p"); done
  [[ ${#want[@]} -eq 0 ]] && return 0
  say "installing ${want[*]} (apt-get)"
  local apt=(apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${want[@]}")
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" >&2 ||
    { apt-get update -o DPkg::Lock::Timeout=300 >&2 && DEBIAN_FRONTEND=noninteractive "${apt[@]}" >&2; } ||
    die "'apt-get install ${want[*]}' failed; install them by hand (Debian: docker.io busybox-static)"
  for p in "${want[@]}"; do installed "$p" || die "$p is still not installed after apt-get"; done
}

# ---- stop --------------------------------------------------------------------
# Only a dockerd this script started: its pid from $PIDFILE, checked to be dockerd.
stop_ours() {
  [[ -f $PIDFILE ]] || { say "no $PIDFILE: this script started no dockerd; nothing to stop"; return 0; }
  local pid
  pid=$(cat "$PIDFILE")
  if [[ $pid =~ ^[0-9]+$ ]] && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */dockerd ]]; then
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 300); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
    [[ -e /proc/$pid ]] && die "dockerd (pid $pid) did not stop within 30 s"
  else
    say "dockerd of $PIDFILE (pid $pid) is gone already"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  --install-only) install_packages; exit 0 ;;
  --stop) stop_ours; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (use --install-only, --stop or nothing)" ;;
esac
[[ $(id -u) == 0 ]] || die "run as root (it installs packages, writes $DAEMON_JSON and starts dockerd)"
[[ -x $REPO/dist/gofer ]] || die "$REPO/dist/gofer is missing: build it first (npm run build)"
install_packages

# ---- 2. daemon.json ------------------------------------------------------------
# Node is there (npm installs this repo). Prints "changed" or "same", then the
# top-level keys, one a line (to leave out flags that would conflict).
mkdir -p "$(dirname "$DAEMON_JSON")"
merge_out=$(node - "$DAEMON_JSON" "$RUNTIME" <<'EOF'
const fs = require("fs");
const [file, runtime] = process.argv.slice(2);
let text = "";
try { text = fs.readFileSync(file, "utf8"); } catch (e) { if (e.code !== "ENOENT") throw e; }
let conf = {};
if (text.trim() !== "") {
  try { conf = JSON.parse(text); } catch (e) { console.error(`${file} is not valid JSON (${e.message}); fix it first`); process.exit(2); }
}
if (typeof conf !== "object" || conf === null || Array.isArray(conf)) { console.error(`${file} is not a JSON object`); process.exit(2); }
conf.runtimes = Object.assign({}, conf.runtimes, {
  gofer: { path: runtime },
  // 20240729's runsc takes any network namespace for the host's on kernels
  // since 6.x (its test is whether net.core.rmem_default is visible, which
  // is now per namespace) and refuses to start: loopback only, in the sentry.
  "gofer-20240729": { path: runtime, runtimeArgs: ["--runsc=/opt/gvisor-ref/bin/runsc", "--network=none"] },
});
const out = JSON.stringify(conf, null, 2) + "\n";
if (out !== text) {
  fs.writeFileSync(file + ".tmp", out, { mode: 0o644 });
  fs.renameSync(file + ".tmp", file);
}
console.log(out !== text ? "changed" : "same");
for (const k of Object.keys(conf)) console.log(k);
EOF
) || die "could not update $DAEMON_JSON"
changed=$(head -n1 <<<"$merge_out")
keys=$(tail -n +2 <<<"$merge_out")
say "runtimes gofer and gofer-20240729 in $DAEMON_JSON ($changed)"

# ---- 3. dockerd ------------------------------------------------------------------
answers() { "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
# Whether the daemon runs with our two entries as daemon.json has them now.
knows_runtime() {
  "$DOCKER" info --format '{{json .Runtimes}}' 2>/dev/null | node -e '
    const loaded = JSON.parse(require("fs").readFileSync(0, "utf8") || "{}");
    const want = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).runtimes;
    const same = (a, b) => a && b && a.path === b.path && JSON.stringify(a.runtimeArgs ?? []) === JSON.stringify(b.runtimeArgs ?? []);
    process.exit(["gofer", "gofer-20240729"].every((n) => same(loaded[n], want[n])) ? 0 : 1);
  ' "$DAEMON_JSON"
}
if answers; then
  if ! knows_runtime; then
    dpid=$(cat /var/run/docker.pid 2>/dev/null || true)
    [[ $dpid =~ ^[0-9]+$ ]] || die "dockerd answers but /var/run/docker.pid does not name it; restart it to load $DAEMON_JSON"
    say "dockerd (pid $dpid) is running: reloading its configuration (SIGHUP)"
    kill -HUP "$dpid"
    for _ in $(seq 1 50); do knows_runtime && break; sleep 0.1; done
    knows_runtime || die "dockerd (pid $dpid) still lacks runtime gofer after SIGHUP: does it read $DAEMON_JSON (--config-file)? see its log"
  fi
else
  flags=()
  for f in $DOCKERD_FLAGS; do
    k=${f#--}; k=${k%%=*}
    if grep -qx -- "$k" <<<"$keys"; then say "leaving out $f: $DAEMON_JSON sets $k"; else flags+=("$f"); fi
  done
  say "starting dockerd ${flags[*]} --config-file=$DAEMON_JSON (log: $DOCKERD_LOG)"
  setsid dockerd "${flags[@]}" --config-file="$DAEMON_JSON" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 600); do answers && break; [[ -e /proc/$(cat "$PIDFILE") ]] || break; sleep 0.1; done
  if ! answers; then
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    stop_ours || true
    die "dockerd did not come up within 60 s (its log is above; try other DOCKERD_FLAGS)"
  fi
  knows_runtime || die "dockerd came up without runtime gofer (see $DOCKERD_LOG)"
fi

# ---- 4. the test image -------------------------------------------------------------
if ! "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root}
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for a in $("$rootfs/bin/busybox" --list); do [[ -e $rootfs/bin/$a ]] || ln -s busybox "$rootfs/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  printf 'this image is served by the gofer\n' >"$rootfs/etc/gofer-image.txt"
  tar -C "$rootfs" --numeric-owner -c . | "$DOCKER" import --change 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
  say "imported $IMAGE (busybox $("$rootfs/bin/busybox" | head -n1 | awk '{print $2}'))"
fi
say "ready: docker run --rm --runtime=gofer $IMAGE ls /"
