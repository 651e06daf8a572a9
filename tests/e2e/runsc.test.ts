// End to end: real gVisor sandboxes (runsc, ptrace platform) whose gofer is
// either that runsc's own (the reference) or the gofer under test
// (RUNSC_GOFER_OVERRIDE=$GOFER_UNDER_TEST, default dist/gofer). Every test
// runs under each runsc (gVisor 20240729 and today's; RUNSC picks one), with
// --directfs=true and false. Each test runs the same bundle and script with
// both gofers under the same runsc, and requires the same stdout, the same
// exit code and the same state left on the host, plus a few absolute facts
// (some of them per gVisor version: see VERSIONS) so that two equally broken
// runs cannot pass. See tests/e2e/README.md.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { makeBundle } from "../../scripts/runsc-bundle.ts";
import * as L from "./lib.ts";

const T = 120_000;
let S: L.Scratch;
const timings: { name: string; which: L.Which; ms: number }[] = [];
const RUNSCS = L.selectRunscs();
const suiteStart = performance.now();

beforeAll(() => {
  S = new L.Scratch();
});
afterAll(() => {
  if (S) {
    L.sweep(S.root);
    S.cleanup();
  }
  if (timings.length) {
    const rows = timings.map((t) => `  ${t.ms.toString().padStart(6)} ms  ${t.which.padEnd(4)}  ${t.name}`);
    const under = RUNSCS.map((rv) => `${rv.gofer} under runsc ${rv.name} (${rv.path})`).join("; ");
    const total = ((performance.now() - suiteStart) / 1000).toFixed(1);
    console.log(`e2e sandbox runs (gofer under test: ${under}), ${total} s in all:\n${rows.join("\n")}`);
  }
});

/** Notes the run's time; with E2E_OUTPUT_DIR set, also saves its stdout and stderr there. */
function record(name: string, r: L.RunResult): L.RunResult {
  timings.push({ name, which: r.which, ms: r.ms });
  const out = process.env.E2E_OUTPUT_DIR;
  if (out) {
    fs.mkdirSync(out, { recursive: true });
    const base = path.join(out, `${name.replace(/[^\w.=-]+/g, "_")}.${r.which}`);
    fs.writeFileSync(`${base}.stdout`, r.stdout);
    fs.writeFileSync(`${base}.stderr`, r.stderr);
  }
  return r;
}

/** Runs `make` for the reference, then for the gofer under test. */
async function bothRuns(name: string, make: (which: L.Which) => Promise<L.RunResult>): Promise<Record<L.Which, L.RunResult>> {
  const ref = record(name, await make("ref"));
  const tst = record(name, await make("test"));
  return { ref, test: tst };
}

function noLeftovers(r: L.RunResult): void {
  if (r.leftovers.length) throw new Error(`gofer still running after the sandbox exited (${L.LABEL[r.which]}):\n${r.leftovers.join("\n")}`);
}

function bundle(args: string[], mounts: { source: string; destination: string; readonly?: boolean }[], o: { rwRoot?: boolean } = {}): string {
  const dir = S.dir("bundle");
  return makeBundle({ dir, args, mounts, rwRoot: o.rwRoot });
}

const sh = (script: string) => ["/bin/sh", "-c", script];


// ---- 1. reading ---------------------------------------------------------------

const BIG = 3000;
const bigName = (i: number) => `f${i.toString().padStart(4, "0")}-${"x".repeat(i % 60)}`;

function makeReadData(dir: string): void {
  fs.mkdirSync(path.join(dir, "big"));
  for (let i = 0; i < BIG; i++) fs.writeFileSync(path.join(dir, "big", bigName(i)), `${i}\n`, { mode: i % 7 === 0 ? 0o600 : 0o644 });
  fs.writeFileSync(path.join(dir, "blob.bin"), L.seededBytes(5 * 1024 * 1024 + 123, "blob"));
  fs.mkdirSync(path.join(dir, "tree/a/b/c"), { recursive: true });
  fs.writeFileSync(path.join(dir, "tree/a/one.txt"), "one\n");
  fs.writeFileSync(path.join(dir, "tree/a/b/two.txt"), "two\n");
  fs.writeFileSync(path.join(dir, "tree/a/b/c/three.txt"), "three\n");
  fs.symlinkSync("a/b/two.txt", path.join(dir, "tree/link-to-two"));
  fs.symlinkSync("/etc/hostname", path.join(dir, "tree/abs-link"));
  fs.linkSync(path.join(dir, "tree/a/one.txt"), path.join(dir, "tree/hard-one"));
}

const READ_SCRIPT = String.raw`
st() { stat -c '%n %s %a %u %g %h %F' "$@" 2>&1; }
echo "== etc"; cat /etc/hostname /etc/passwd
ls -la --time-style=+ /etc 2>&1
echo "== usr"; /bin/ls /usr/bin | head -50
ls /usr/share | wc -l
md5sum /usr/bin/ls /bin/sh
st /usr/bin/ls /usr/share /etc/passwd /bin /usr
readlink /bin /lib64
echo "== big"; ls /data/big | wc -l
ls /data/big | md5sum
ls -ln --time-style=+%s /data/big | md5sum
ls /data/big | head -3; ls /data/big | tail -3
cat /data/big/f1234-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
st /data/big /data/big/f0007-xxxxxxx
echo "== blob"; md5sum /data/blob.bin; st /data/blob.bin
dd if=/data/blob.bin bs=4096 skip=100 count=3 2>/dev/null | md5sum
tail -c 1000 /data/blob.bin | md5sum
echo "== tree"; find /data/tree | sort; find /data/tree -type f | sort | xargs cat
readlink /data/tree/link-to-two /data/tree/abs-link; cat /data/tree/link-to-two /data/tree/abs-link
st /data/tree/hard-one /data/tree/a/one.txt /data/tree/link-to-two
echo "== missing"; cat /data/nope 2>&1; echo rc=$?; ls /etc/nope 2>&1; echo rc=$?; cd /data/tree/hard-one 2>&1; echo rc=$?
echo "== overlay root"; echo overlay > /o.txt; cat /o.txt; mkdir /newdir && echo x > /newdir/f && cat /newdir/f
rm /etc/hostname; echo rc=$?; ls /etc; ls /
echo "== mounts"; cat /proc/mounts
echo done
`;

// ---- 2. writing -----------------------------------------------------------------

function makeWriteSeed(dir: string): void {
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, "seeded.txt"), "seed\n");
  L.setHostXattr(path.join(dir, "seeded.txt"), "user.seed", "val");
  fs.mkdirSync(path.join(dir, "old"));
  fs.writeFileSync(path.join(dir, "old/keep.txt"), "keep\n");
  fs.writeFileSync(path.join(dir, "secret"), "secret\n", { mode: 0o600 });
  fs.writeFileSync(path.join(dir, "blob.bin"), L.seededBytes(3 * 1024 * 1024 + 7, "wblob"));
}

/** The sandbox's file operations; every step prints what it did and its status. */
const WRITE_SCRIPT = String.raw`
cd /data || exit 99
st() { stat -c '%n %s %a %u %g %h %F' "$@" 2>&1; }
step() { echo "== $*"; }
step create; echo hello > a.txt; echo rc=$?; cat a.txt; st a.txt
(set -C; echo again > a.txt) 2>&1; echo rc=$?
step write; printf 'abcdefghij' > w.bin; dd if=/dev/zero of=w.bin bs=1 count=3 seek=2 conv=notrunc,fsync 2>/dev/null; echo rc=$?; od -c w.bin; st w.bin
head -c 3000000 blob.bin > copy.bin; md5sum copy.bin; head -c 3000000 blob.bin | md5sum; st copy.bin
step truncate; truncate -s 4 w.bin; echo rc=$?; od -c w.bin; truncate -s 10000 w.bin; st w.bin; md5sum w.bin; truncate -s 0 copy.bin; st copy.bin
step append; echo one >> ap.txt; echo two >> ap.txt; cat ap.txt; st ap.txt
step mkdir; mkdir -p d1/d2 d3; echo rc=$?; mkdir d3 2>&1; echo rc=$?; st d1 d1/d2 d3
step rename; echo moving > d1/m.txt; mv d1/m.txt d3/m2.txt; echo rc=$?; ls d1 d3; cat d3/m2.txt
mv d1/d2 d3/d2moved; echo rc=$?; echo deep > d3/d2moved/deep.txt; mv d3 d4; cat d4/d2moved/deep.txt; mv d4 d3; echo rc=$?
echo new > r1; echo old > r2; mv r1 r2; echo rc=$?; cat r2; ls r1 2>&1
mv old old-renamed; cat old-renamed/keep.txt; ls -R d3
step link; ln a.txt hard.txt; echo rc=$?; ln a.txt d1/hard2.txt; st a.txt hard.txt d1/hard2.txt; ln d1 dirlink 2>&1; echo rc=$?
step symlink; ln -s a.txt sym; ln -s /nonexistent/x dangling; ln -s ../a.txt d1/up; readlink sym dangling d1/up; cat sym d1/up; st sym dangling
cat dangling 2>&1; echo rc=$?
step chmod; chmod 0640 a.txt; chmod 4755 w.bin; chmod 0700 d3; chmod 1777 d1; st a.txt w.bin d3 d1
step chown; chown 1234:5678 ap.txt; echo rc=$?; chown -h 42:43 sym; echo rc=$?; chown 7 d1; st ap.txt sym d1
step utimes; touch -d '2001-02-03 04:05:06' ap.txt; echo rc=$?; stat -c '%Y %X' ap.txt
touch -h -d '2002-01-01 00:00:00' sym; echo rc=$?; stat -c %Y sym; touch -m -d @1234567890 d1; stat -c %Y d1
step unlink; echo x > gone.txt; rm gone.txt; echo rc=$?; ls gone.txt 2>&1; rm hard.txt; st a.txt; rm nonexist 2>&1; echo rc=$?
echo still-here > openrm.txt; exec 3< openrm.txt; rm openrm.txt; cat <&3; exec 3<&-; ls openrm.txt 2>&1
step rmdir; mkdir emptyd; rmdir emptyd; echo rc=$?; rmdir d3 2>&1; echo rc=$?; rmdir a.txt 2>&1; echo rc=$?
step names; n255=$(printf 'n%.0s' $(seq 255)); touch $n255; echo rc=$?; touch "$n255"x 2>/dev/null; echo rc=$?; ls | grep -c nnnnn
step special; mkfifo fifo; echo rc=$?; mknod cdev c 1 3 2>&1; echo rc=$?; st fifo
step fallocate; fallocate -l 1M fa.bin; echo rc=$?; st fa.bin; stat -c %b fa.bin; fallocate -o 2M -l 4096 fa.bin; echo rc=$?; st fa.bin
step statfs; stat -f -c 'type=%T bsize=%s frsize=%S blocks=%b files=%c namelen=%l' /data .
step perms; setpriv --reuid=1000 --regid=1000 --clear-groups sh -c 'cat secret; echo rc=$?; echo x > a.txt; echo rc=$?; touch d1/by-1000; echo rc=$?; id -u' 2>&1
step python
python3 - <<'PY' 2>&1
import errno, os, socket, sys
def t(name, f):
    try:
        print(name, "ok", repr(f()))
    except OSError as e:
        print(name, "err", errno.errorcode.get(e.errno, e.errno))
    sys.stdout.flush()
t("getxattr seeded", lambda: os.getxattr("seeded.txt", "user.seed"))
t("listxattr seeded", lambda: sorted(os.listxattr("seeded.txt")))
t("setxattr", lambda: os.setxattr("a.txt", "user.color", b"blue"))
t("getxattr", lambda: os.getxattr("a.txt", "user.color"))
t("listxattr", lambda: sorted(os.listxattr("a.txt")))
t("replace seeded", lambda: os.setxattr("seeded.txt", "user.seed", b"new"))
t("removexattr seeded", lambda: os.removexattr("seeded.txt", "user.seed"))
t("getxattr missing", lambda: os.getxattr("a.txt", "user.nope"))
t("setxattr trusted", lambda: os.setxattr("a.txt", "trusted.x", b"1"))
t("setxattr dir", lambda: os.setxattr("d1", "user.d", b"dirval"))
t("getxattr dir", lambda: os.getxattr("d1", "user.d"))
t("getxattr selinux", lambda: os.getxattr("seeded.txt", "security.selinux"))
t("getxattr acl", lambda: os.getxattr("seeded.txt", "system.posix_acl_access"))
t("listxattr symlink nofollow", lambda: os.listxattr("sym", follow_symlinks=False))
t("getxattr symlink nofollow", lambda: os.getxattr("sym", "user.x", follow_symlinks=False))
fd = os.open("pf.bin", os.O_CREAT | os.O_RDWR, 0o644)
t("posix_fallocate", lambda: os.posix_fallocate(fd, 0, 65536))
t("pwrite", lambda: os.pwrite(fd, b"PWRITE", 70000))
t("pread", lambda: os.pread(fd, 6, 70000))
t("fsync", lambda: os.fsync(fd))
t("fstat size", lambda: os.fstat(fd).st_size)
t("ftruncate", lambda: os.ftruncate(fd, 100))
os.close(fd)
t("statvfs namemax", lambda: os.statvfs("/data").f_namemax)
t("scandir", lambda: sorted(e.name for e in os.scandir("d1")))
# A Unix socket bound by this process, connected to from a child.
p = "/data/sock"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(p)
s.listen(1)
print("bound", os.path.exists(p), oct(os.stat(p).st_mode)); sys.stdout.flush()
pid = os.fork()
if pid == 0:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(p)
    c.sendall(b"ping from child")
    print("child got", c.recv(100).decode()); sys.stdout.flush()
    os._exit(0)
a, _ = s.accept()
print("parent got", a.recv(100).decode()); sys.stdout.flush()
a.sendall(b"pong")
_, status = os.waitpid(pid, 0)
print("child status", status)
PY
st sock
step final; ls -lan --time-style=+ 2>&1; find . | sort
`;

// ---- 2b. Unix sockets with --host-uds=all ----------------------------------------------

const UDS_SCRIPT = String.raw`
cd /data || exit 99
python3 - <<'PY' 2>&1
import os, socket, sys
def out(*a):
    print(*a); sys.stdout.flush()
# 1. Connect to a socket the host is listening on.
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(30)
c.connect("/data/hostsock")
c.sendall(b"hello host")
out("host replied:", c.recv(100).decode())
c.close()
# 2. Bind in the sandbox; a child process connects.
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("/data/sock")
s.listen(4)
out("sock mode", oct(os.stat("/data/sock").st_mode))
pid = os.fork()
if pid == 0:
    k = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    k.connect("/data/sock")
    k.sendall(b"ping from child")
    out("child got", k.recv(100).decode())
    os._exit(0)
a, _ = s.accept()
out("parent got", a.recv(100).decode())
a.sendall(b"pong")
a.close()
_, status = os.waitpid(pid, 0)
out("child status", status)
# 3. Bind in the sandbox; the host connects (it waits for /data/for-host.ready).
h = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
h.bind("/data/for-host")
h.listen(1)
h.settimeout(30)
open("/data/for-host.ready", "w").close()
a, _ = h.accept()
a.settimeout(30)
out("from host:", a.recv(100).decode())
a.sendall(b"hi host, from the sandbox")
a.close()
PY
stat -c '%n %s %a %u %g %F' hostsock sock for-host for-host.ready 2>&1
ls -lan --time-style=+ 2>&1
`;

/** A host listener at `p` that records what it gets and replies "echo: <it>". */
async function hostListener(p: string, got: string[]): Promise<net.Server> {
  const server = net.createServer((c) => {
    c.on("data", (d) => {
      got.push(d.toString());
      c.end(`echo: ${d}`);
    });
    c.on("error", () => {});
  });
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(p, () => res());
  });
  return server;
}

/** Waits for the sandbox to bind `dir`/for-host, connects, says hello, returns the reply. */
async function connectToSandbox(dir: string, finished: () => boolean): Promise<string> {
  const ready = path.join(dir, "for-host.ready");
  while (!fs.existsSync(ready)) {
    if (finished()) throw new Error("the sandbox exited without binding /data/for-host");
    await Bun.sleep(20);
  }
  return await new Promise<string>((res, rej) => {
    const c = net.connect(path.join(dir, "for-host"));
    let buf = "";
    const timer = setTimeout(() => {
      c.destroy();
      rej(new Error(`no reply from the sandbox's socket (got ${JSON.stringify(buf)})`));
    }, 30_000);
    c.on("connect", () => c.write("hello sandbox"));
    c.on("data", (d) => {
      buf += d.toString();
    });
    c.on("end", () => {
      clearTimeout(timer);
      res(buf);
    });
    c.on("error", (e) => {
      clearTimeout(timer);
      rej(e);
    });
  });
}

// ---- 3. read-only mounts ------------------------------------------------------------

function makeRoSeed(dir: string): void {
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, "file.txt"), "read only\n");
  fs.mkdirSync(path.join(dir, "dir"));
  fs.writeFileSync(path.join(dir, "dir/inner.txt"), "inner\n");
  fs.symlinkSync("file.txt", path.join(dir, "link"));
  L.setHostXattr(path.join(dir, "file.txt"), "user.ro", "yes");
  for (const v of TRUNC_VICTIMS) fs.writeFileSync(path.join(dir, v), `${v}\n`);
}

/**
 * Files the read-only script opens with O_TRUNC. gVisor 20240729 with
 * --directfs=true truncates them on the host (the sentry opens the host file
 * itself and the open reaches the host before the read-only check; the
 * sandbox even sees O_RDONLY|O_TRUNC succeed). Our gofer also remounts such a
 * bind read-only on the host side, so the kernel refuses: a deliberate
 * difference (docs/runsc.md). For our gofer these files must stay as they
 * were and the opens must fail with EROFS; the lines about them are left out
 * of the comparison with the reference.
 */
const TRUNC_VICTIMS = ["trunc-redirect.txt", "trunc-rdonly.txt"];
/** Whether the gofer under test is ours (not a reference run through the override, which the harness is validated with). */
const testingOurs = (rv: L.Runsc) => !/runsc/.test(path.basename(rv.gofer));
/** The output without what the O_TRUNC commands printed (each command's
 * output ends with its "rc=N [command]" line) and without listing lines that
 * show those files' sizes. */
function withoutTruncLines(s: string): string {
  const out: string[] = [];
  let pending: string[] = [];
  for (const l of s.split("\n")) {
    pending.push(l);
    if (/^rc=\d+ \[/.test(l)) {
      if (!l.includes("trunc")) out.push(...pending);
      pending = [];
    }
  }
  out.push(...pending);
  return out.filter((l) => !/trunc|^total /.test(l)).join("\n");
}

const RO_SCRIPT = String.raw`
cd /ro || exit 99
t() { "$@" 2>&1; echo "rc=$? [$*]"; }
cat file.txt dir/inner.txt link; ls -lan --time-style=+ . dir 2>&1
stat -c '%n %s %a %u %g %h %F' file.txt dir link
t touch new.txt
t sh -c 'echo x > trunc-redirect.txt'
t python3 -c 'import os; os.open("trunc-rdonly.txt", os.O_RDONLY | os.O_TRUNC)'
t sh -c 'echo x >> file.txt'
t sh -c 'echo x > dir/new.txt'
t rm file.txt
t rm -r dir
t rm link
t mkdir newdir
t rmdir dir
t chmod 777 file.txt
t chmod 700 dir
t chown 1:1 file.txt
t touch -d '2001-01-01' file.txt
t ln file.txt hard
t ln -s file.txt sym2
t mv file.txt moved.txt
t mv dir/inner.txt inner.txt
t truncate -s 0 file.txt
t mkfifo fifo
t fallocate -l 4096 file.txt
t dd if=/dev/zero of=file.txt bs=1 count=1 conv=notrunc
t python3 -c 'import os; os.setxattr("file.txt", "user.x", b"1")'
t python3 -c 'import os; os.removexattr("file.txt", "user.ro")'
t python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("/ro/sock")'
t python3 -c 'import os; os.open("file.txt", os.O_RDWR)'
t python3 -c 'import os; print(os.getxattr("file.txt", "user.ro"))'
cat file.txt; ls -lan --time-style=+ . 2>&1
stat -c '%n %s' trunc-*.txt
echo "== read-only root"
t touch /newfile
t mkdir /etc/newdir
t sh -c 'echo x >> /etc/hostname'
t sh -c 'echo x > /etc/hosts'
t rm /etc/passwd
t ln -s /x /etc/sym
cat /etc/hostname /etc/hosts; ls /
`;

// ---- what each gVisor version's reference does (the tests' per-version expectations) --------
//
// Found by running the suite with each runsc's own gofer as the gofer under
// test (GOFER_UNDER_TEST=reference); tests/e2e/README.md lists them.

interface VersionFacts {
  /** user.* xattrs can be set, listed and removed from the sandbox (the gofer serves FSetXattr & co.). */
  userXattrs: boolean;
  /** With --directfs=true, getxattr returns the value NUL-padded to the caller's buffer size. */
  directfsXattrPadded: boolean;
  /** With --directfs=true, O_TRUNC opens on a read-only bind mount truncate the host file (and O_RDONLY|O_TRUNC succeeds). */
  directfsRoTruncates: boolean;
  /** The strerror text setxattr/removexattr of a user.* xattr on a read-only bind mount fail with. */
  roXattrError: (op: "setxattr" | "removexattr", directfs: boolean) => string;
  /** `ls -l` prints "Bad file descriptor" for symlinks (the sentry's lgetxattr on them). */
  lsSymlinkEBADF: boolean;
  /** Mount hints may say `directfs=off` for one mount (served over lisafs while --directfs=true). */
  directfsOffHint: boolean;
}

const VERSIONS: Record<L.Version, VersionFacts> = {
  "20240729": {
    userXattrs: false,
    directfsXattrPadded: true,
    directfsRoTruncates: true,
    roXattrError: (op, directfs) => (op === "setxattr" && !directfs ? "Read-only file system" : "Operation not supported"),
    lsSymlinkEBADF: true,
    directfsOffHint: false,
  },
  today: {
    userXattrs: true,
    directfsXattrPadded: false,
    directfsRoTruncates: false,
    roXattrError: () => "Read-only file system",
    lsSymlinkEBADF: false,
    directfsOffHint: true,
  },
};

// ---- 4. mount kinds ---------------------------------------------------------------------------

/**
 * Host sources for one run, under a fresh tmpfs: a file bound read-write and
 * one read-only, a directory with another bind mounted inside it (runsc makes
 * that mount point in the outer source), a directory mounted below a rootfs
 * symlink with an absolute target (`/lnk -> /real`, resolved inside the
 * rootfs), a directory whose mount hint makes it a sandbox-local tmpfs
 * (`share=pod,type=tmpfs`: the host directory is not used), and for today's
 * runsc a directory whose mount hint says `directfs=off`.
 */
function mountKindsBundle(rv: L.Runsc, which: L.Which, script: string): { host: string; bundle: string } {
  const host = S.tmpfs(`mk-${which}`, "32m");
  const w = (p: string, s: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(host, p)), { recursive: true });
    fs.writeFileSync(path.join(host, p), s, { mode });
  };
  w("file.txt", "a bound file\n");
  w("rofile.txt", "a read-only bound file\n");
  w("data/x", "x\n");
  w("data/sub/y", "y\n");
  w("nested/n", "n\n");
  w("under/u", "u\n");
  w("hinted/h", "h\n");
  const at = (p: string) => path.join(host, p);
  fs.utimesSync(at("file.txt"), 1e9, 1e9); // its mtime is compared
  const mounts = [
    { source: at("file.txt"), destination: "/etc/file.txt" },
    { source: at("rofile.txt"), destination: "/etc/rofile.txt", readonly: true },
    { source: at("data"), destination: "/data" },
    { source: at("nested"), destination: "/data/nested" },
    { source: at("under"), destination: "/lnk/under" },
    { source: at("hinted"), destination: "/hinted" },
  ];
  const annotations: Record<string, string> = {
    "dev.gvisor.spec.mount.hinted.source": at("hinted"),
    "dev.gvisor.spec.mount.hinted.type": "tmpfs",
    "dev.gvisor.spec.mount.hinted.share": "pod",
  };
  if (VERSIONS[rv.name].directfsOffHint) {
    w("nodfs/z", "z\n");
    mounts.push({ source: at("nodfs"), destination: "/nodfs" });
    Object.assign(annotations, {
      "dev.gvisor.spec.mount.nodfs.source": at("nodfs"),
      "dev.gvisor.spec.mount.nodfs.type": "bind",
      "dev.gvisor.spec.mount.nodfs.share": "shared",
      "dev.gvisor.spec.mount.nodfs.directfs": "off",
    });
  }
  const b = bundle(sh(script), mounts, { rwRoot: true });
  fs.mkdirSync(path.join(b, "rootfs/real"));
  fs.symlinkSync("/real", path.join(b, "rootfs/lnk"));
  const cfgPath = path.join(b, "config.json");
  const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
  cfg.annotations = annotations;
  fs.writeFileSync(cfgPath, `${JSON.stringify(cfg, null, 2)}\n`);
  return { host, bundle: b };
}

const MOUNT_KINDS_SCRIPT = String.raw`
st() { stat -c '%n %s %a %u %g %h %F' "$@" 2>&1; }
t() { "$@" 2>&1; echo "rc=$? [$*]"; }
echo "== mounts"  # (no awk: /usr/bin/awk is a symlink into the host's /etc/alternatives)
while read -r _ dest type opts _; do
  case $dest in /|/etc/*|/data*|/real*|/lnk*|/hinted|/nodfs) ;; *) continue ;; esac
  case ,$opts, in *,directfs,*) dfs=directfs ;; *) dfs=- ;; esac
  echo "$dest $type $(echo "$opts" | cut -d, -f1) $dfs"
done < /proc/mounts
echo "== file bind"; cat /etc/file.txt; st /etc/file.txt
t sh -c 'echo appended >> /etc/file.txt'; cat /etc/file.txt
t sh -c 'echo replaced > /etc/file.txt'; cat /etc/file.txt
t chmod 600 /etc/file.txt; t touch -d '2001-02-03 04:05:06' /etc/file.txt; st /etc/file.txt; stat -c %Y /etc/file.txt
t rm /etc/file.txt; t mv /etc/file.txt /etc/moved.txt; t ln /etc/file.txt /etc/hard.txt; ls /etc
echo "== read-only file bind"; cat /etc/rofile.txt; st /etc/rofile.txt
t sh -c 'echo x >> /etc/rofile.txt'; t chmod 600 /etc/rofile.txt; t touch /etc/rofile.txt; t truncate -s 0 /etc/rofile.txt; cat /etc/rofile.txt
echo "== a bind mount inside a bind mount"; ls -lan --time-style=+ /data /data/nested 2>&1; cat /data/x /data/sub/y /data/nested/n
t sh -c 'echo w > /data/new'; t sh -c 'echo w > /data/nested/new'; t mkdir /data/nested/sub
t mv /data/x /data/nested/x; t mv /data/new /data/sub/new; t rmdir /data/nested; t mv /data/nested /data/renamed
st /data/nested /data/sub/new /data/nested/x; ls -lan --time-style=+ /data /data/nested 2>&1
echo "== below a symlink"; readlink /lnk; ls -lan --time-style=+ /real /lnk/under 2>&1; cat /lnk/under/u /real/under/u
t sh -c 'echo w > /lnk/under/new'; cat /real/under/new
echo "== tmpfs-hinted bind"; ls -lan --time-style=+ /hinted 2>&1; t cat /hinted/h; t sh -c 'echo w > /hinted/new'; cat /hinted/new
if [ -d /nodfs ]; then
  echo "== directfs=off hint"; cat /nodfs/z; t sh -c 'echo w > /nodfs/new'; t mkdir /nodfs/d; t ln -s new /nodfs/sym; t mv /nodfs/z /nodfs/d/z
  t chmod 640 /nodfs/new; ls -lan --time-style=+ /nodfs /nodfs/d 2>&1; cat /nodfs/sym /nodfs/d/z
fi
echo "== statfs"; stat -f -c '%n %T' / /etc/file.txt /etc/rofile.txt /data /data/nested /lnk/under /hinted
echo done
`;

/** A host snapshot without the lines the mount point runsc makes inside data/ (for /data/nested) adds or changes. */
const withoutNestedMountPoint = (snap: string) =>
  snap
    .split("\n")
    .filter((l) => !l.startsWith("data ") && !l.startsWith("data/nested ") && !l.startsWith("data/nested/"))
    .join("\n");

type Both = (name: string, make: (which: L.Which) => Promise<L.RunResult>) => Promise<Record<L.Which, L.RunResult>>;

function mountKindTests(rv: L.Runsc, V: VersionFacts, directfs: boolean, both: Both): void {
  const dfs = `--directfs=${directfs}`;
  const hostDirs = ["data", "nested", "under", "hinted", ...(V.directfsOffHint ? ["nodfs"] : [])];
  /** Mount points runsc makes in the rootfs (and what is under them). */
  const rootKeep = [".", "etc", "data", "real", "hinted", "nodfs"];

  /** Runs the mount-kinds bundle with both gofers; checks what holds for every overlay setting. */
  const runKinds = async (name: string, flags: string[]) => {
    const st: Record<string, { host: string; hostBefore: string; hostAfter: string; rootBefore: string; rootAfter: string; rootfs: string }> = {};
    const rs = await both(name, async (which) => {
      const { host, bundle: b } = mountKindsBundle(rv, which, MOUNT_KINDS_SCRIPT);
      const mtimes = ["file.txt"];
      const rootfs = path.join(b, "rootfs");
      const hostBefore = L.snapshot(host, { mtimes });
      const rootBefore = L.snapshot(rootfs);
      const r = await L.runBundle({ rv, which, bundle: b, flags: [dfs, ...flags], stateDir: S.dir("state") });
      st[which] = { host, hostBefore, hostAfter: L.snapshot(host, { mtimes }), rootBefore, rootAfter: L.snapshot(rootfs), rootfs };
      return r;
    });
    const common = (which: L.Which) => {
      const r = rs[which];
      const s = st[which];
      check(r, r.code === 0 && r.stdout.endsWith("done\n"), "exit 0, the script ran to the end");
      check(r, r.stdout.includes("== file bind\na bound file\n"), "the bound file read");
      check(r, r.stdout.includes("== read-only file bind\na read-only bound file\n"), "the read-only bound file read");
      check(r, /Read-only file system\nrc=\d \[sh -c echo x >> \/etc\/rofile.txt\]/.test(r.stdout), "appending to the read-only bound file fails with EROFS");
      check(r, r.stdout.includes("x\ny\nn\n"), "the bind mount and the one inside it read");
      check(r, r.stdout.includes("\n/real\n") && r.stdout.includes("u\nu\n"), "the mount below /lnk -> /real read through both paths");
      check(r, /No such file or directory\nrc=1 \[cat \/hinted\/h\]/.test(r.stdout), "the tmpfs-hinted mount does not show the host directory");
      check(r, /\n\/hinted tmpfs rw -\n/.test(r.stdout), "the tmpfs-hinted mount is a sandbox tmpfs");
      check(r, fs.readFileSync(path.join(s.host, "rofile.txt"), "utf8") === "a read-only bound file\n", "the read-only bound file unchanged on the host");
      check(r, fs.readdirSync(path.join(s.host, "hinted")).join(",") === "h", "the tmpfs-hinted host directory untouched");
      for (const d of hostDirs) {
        const left = fs.readdirSync(path.join(s.host, d)).filter((n) => n.startsWith(".gvisor"));
        check(r, left.length === 0, `no overlay filestore left in ${d}/ after the container is deleted (${left.join(", ")})`);
      }
      check(r, fs.lstatSync(path.join(s.rootfs, "real/under")).isDirectory() && fs.readlinkSync(path.join(s.rootfs, "lnk")) === "/real", "the mount point below the symlink made inside the rootfs");
      check(r, !fs.existsSync("/real"), "the symlinked destination was not resolved against the host's /");
      // Only mount points change in the rootfs (read-only root, or an overlay on it).
      L.expectUnchanged(`rootfs (${L.LABEL[which]})`, L.without(s.rootBefore, rootKeep), L.without(s.rootAfter, rootKeep));
    };
    /** The bind mounts' writes reached the host (no overlay on them). */
    const wroteThrough = (which: L.Which) => {
      const r = rs[which];
      const at = (p: string) => path.join(st[which].host, p);
      const read = (p: string) => (fs.existsSync(at(p)) ? fs.readFileSync(at(p), "utf8") : "(missing)");
      check(r, read("file.txt") === "replaced\n", "the bound file rewritten on the host");
      const f = fs.statSync(at("file.txt"));
      check(r, (f.mode & 0o7777) === 0o600 && Math.floor(f.mtimeMs / 1000) === 981173106, "the bound file's chmod and touch -d on the host");
      check(r, read("data/sub/new") === "w\n" && !fs.existsSync(at("data/x")) && !fs.existsSync(at("data/new")), "writes and a rename in the outer bind mount");
      check(r, read("nested/new") === "w\n" && read("nested/x") === "x\n" && fs.statSync(at("nested/sub")).isDirectory(), "writes, a mkdir and a cross-mount move into the inner bind mount");
      check(r, fs.statSync(at("data/nested")).isDirectory(), "runsc made the inner mount point in the outer mount's host directory");
      check(r, read("under/new") === "w\n", "a write below the symlinked destination");
      if (V.directfsOffHint) {
        check(r, read("nodfs/d/z") === "z\n" && fs.readlinkSync(at("nodfs/sym")) === "new" && (fs.statSync(at("nodfs/new")).mode & 0o777) === 0o640, "writes to the directfs=off mount");
      }
    };
    const compare = () => {
      L.expectSameRun(name, rs.ref, rs.test);
      L.expectSame("host directories afterwards", st.ref.hostAfter, st.test.hostAfter);
      L.expectSame("rootfs on the host afterwards (mount points made)", st.ref.rootAfter, st.test.rootAfter);
    };
    return { rs, st, common, wroteThrough, compare };
  };

  test(
    `mount kinds (--overlay2=none): a file bind rw and ro, a bind inside a bind, a mount below a symlink, a tmpfs-hinted dir${V.directfsOffHint ? ", a directfs=off hint" : ""}`,
    async () => {
      const k = await runKinds(`mounts ${dfs}`, ["--overlay2=none"]);
      const facts = (which: L.Which) => {
        const r = k.rs[which];
        k.common(which);
        k.wroteThrough(which);
        check(r, r.stdout.includes("\n/data 9p rw " + (directfs ? "directfs" : "-") + "\n"), "the bind mount in /proc/mounts");
        if (V.directfsOffHint) check(r, r.stdout.includes("\n/nodfs 9p rw -\n"), "the directfs=off mount is served without directfs");
      };
      facts("ref");
      k.compare();
      facts("test");
      noLeftovers(k.rs.ref);
      noLeftovers(k.rs.test);
    },
    T,
  );

  test(
    "--overlay2 root:memory, all:memory and all:self over the same mounts",
    async () => {
      // Every medium runs even when one fails; the failures are reported together.
      const failures: string[] = [];
      for (const medium of ["root:memory", "all:memory", "all:self"]) {
        try {
          const k = await runKinds(`overlay2=${medium} ${dfs}`, [`--overlay2=${medium}`]);
          const facts = (which: L.Which) => {
            const r = k.rs[which];
            k.common(which);
            check(r, /\n\/ overlay rw /.test(r.stdout), "the root is overlaid");
            if (medium.startsWith("root:")) {
              k.wroteThrough(which);
            } else {
              check(r, r.stdout.includes("\n/data overlay rw -\n") && r.stdout.includes("\n/etc/file.txt overlay rw -\n"), "the bind mounts are overlaid");
              check(r, r.stdout.includes("rc=0 [sh -c echo w > /data/nested/new]") && r.stdout.includes("\nreplaced\n"), "writes succeed in the sandbox");
              L.expectUnchanged(`host directories (${L.LABEL[which]})`, withoutNestedMountPoint(k.st[which].hostBefore), withoutNestedMountPoint(k.st[which].hostAfter));
            }
          };
          facts("ref");
          k.compare();
          facts("test");
          noLeftovers(k.rs.ref);
          noLeftovers(k.rs.test);
        } catch (e) {
          failures.push(`--overlay2=${medium}: ${(e as Error).message}`);
        }
      }
      if (failures.length) throw new Error(failures.join("\n\n"));
    },
    T,
  );
}

// ---- the tests: for each runsc, with and without directfs ----------------------------------
//
// Order of checks in each test: absolute facts about the reference's run
// (validates the harness), then reference vs under test (a diff of what
// differs), then absolute facts about the run under test.

for (const rv of RUNSCS) describe(`runsc ${rv.name}`, () => {
  const V = VERSIONS[rv.name];
  /** Runs `make` for the reference, then for the gofer under test; names the runs after this runsc. */
  const both = (name: string, make: (which: L.Which) => Promise<L.RunResult>) => bothRuns(`${rv.name} ${name}`, make);

  test("runsc and the gofer under test are present", () => {
    L.requireTools(rv);
    const r = Bun.spawnSync([rv.path, "--version"]);
    expect(r.exitCode).toBe(0);
  });

  describe.each([true, false])("--directfs=%p", (directfs) => {
    const dfs = `--directfs=${directfs}`;

    test(
      "reading the root filesystem, a 3000-entry directory and a 5 MiB file (overlay root:self)",
      async () => {
        const data = S.tmpfs("readdata", "64m");
        makeReadData(data);
        const dataBefore = L.snapshot(data);
        const names = Array.from({ length: BIG }, (_, i) => bigName(i)).sort();
        const rootfs: Record<string, { before: string; after: string }> = {};
        const dataAfter: Record<string, string> = {};
        const rs = await both(`read ${dfs}`, async (which) => {
          const b = bundle(sh(READ_SCRIPT), [{ source: data, destination: "/data" }], { rwRoot: true });
          const before = L.snapshot(path.join(b, "rootfs"));
          const r = await L.runBundle({ rv, which, bundle: b, flags: [dfs], stateDir: S.dir("state") });
          rootfs[which] = { before, after: L.snapshot(path.join(b, "rootfs")) };
          dataAfter[which] = L.snapshot(data);
          return r;
        });
        const facts = (which: L.Which) => {
          const r = rs[which];
          check(r, r.code === 0, "exit 0");
          check(r, r.stdout.startsWith("== etc\ngofer-e2e\nroot:x:0:0:"), "/etc/hostname and /etc/passwd read");
          check(r, r.stdout.includes(`${L.md5File("/usr/bin/ls")}  /usr/bin/ls\n`), "md5 of /usr/bin/ls matches the host's");
          check(r, r.stdout.includes(`== big\n${BIG}\n`), `${BIG} entries listed`);
          check(r, r.stdout.includes(`${L.md5(`${names.join("\n")}\n`)}  -\n`), "the listing's md5 matches the host's names");
          check(r, r.stdout.includes(`${L.md5File(path.join(data, "blob.bin"))}  /data/blob.bin\n`), "md5 of the 5 MiB file matches");
          check(r, r.stdout.includes("\n1234\n"), "a file in the big directory read");
          check(r, r.stdout.includes("== overlay root\noverlay\nx\n"), "writes to the overlaid root work");
          check(r, r.stdout.endsWith("done\n"), "the script ran to the end");
          // The overlay took every write: the host is untouched, but for the mount point.
          const keep = [".", "data"];
          L.expectUnchanged(`rootfs (${L.LABEL[which]})`, L.without(rootfs[which].before, keep), L.without(rootfs[which].after, keep));
          L.expectUnchanged(`/data (${L.LABEL[which]})`, dataBefore, dataAfter[which]);
        };
        facts("ref");
        L.expectSameRun("reading", rs.ref, rs.test);
        L.expectSame("rootfs on the host afterwards (mount points made)", rootfs.ref.after, rootfs.test.after);
        facts("test");
        noLeftovers(rs.ref);
        noLeftovers(rs.test);
      },
      T,
    );

    test(
      "file operations on a writable bind mount (--overlay2=none): same output, same host state",
      async () => {
        const dirs: Record<string, string> = {};
        const rs = await both(`write ${dfs}`, async (which) => {
          const w = S.tmpfs(`w-${which}`, "64m");
          dirs[which] = w;
          makeWriteSeed(w);
          const b = bundle(sh(WRITE_SCRIPT), [{ source: w, destination: "/data" }]);
          return L.runBundle({ rv, which, bundle: b, flags: [dfs, "--overlay2=none"], stateDir: S.dir("state") });
        });
        const facts = (which: L.Which) => {
          const w = dirs[which];
          const r = rs[which];
          const at = (p: string) => path.join(w, p);
          const exists = (p: string) => fs.existsSync(at(p));
          check(r, r.code === 0, "exit 0");
          check(r, exists("a.txt") && fs.readFileSync(at("a.txt"), "utf8") === "hello\n", "a.txt holds what was written");
          check(r, (fs.statSync(at("a.txt")).mode & 0o7777) === 0o640, "a.txt chmod 0640");
          check(r, exists("ap.txt") && fs.readFileSync(at("ap.txt"), "utf8") === "one\ntwo\n", "ap.txt appended twice");
          const ap = fs.statSync(at("ap.txt"));
          check(r, ap.uid === 1234 && ap.gid === 5678, "ap.txt chown 1234:5678");
          check(r, Math.floor(ap.mtimeMs / 1000) === 981173106, "ap.txt mtime set by touch -d (2001-02-03 04:05:06 UTC)");
          const wb = exists("w.bin") ? fs.readFileSync(at("w.bin")) : Buffer.alloc(0);
          check(r, wb.length === 10000 && wb.subarray(0, 4).equals(Buffer.from("ab\0\0")) && wb.subarray(4).every((x) => x === 0), "w.bin written, truncated, extended");
          check(r, (fs.statSync(at("w.bin")).mode & 0o7777) === 0o4755, "w.bin chmod 4755");
          check(r, exists("d3/m2.txt") && fs.readFileSync(at("d3/m2.txt"), "utf8") === "moving\n" && !exists("d1/m.txt"), "mv across directories");
          check(r, exists("d3/d2moved/deep.txt") && fs.readFileSync(at("d3/d2moved/deep.txt"), "utf8") === "deep\n", "directory renamed twice");
          check(r, exists("r2") && fs.readFileSync(at("r2"), "utf8") === "new\n" && !exists("r1"), "rename over an existing file");
          check(r, exists("old-renamed/keep.txt") && !exists("old"), "directory renamed");
          check(r, fs.readlinkSync(at("sym")) === "a.txt" && fs.lstatSync(at("sym")).uid === 42, "symlink target and lchown");
          check(r, fs.readlinkSync(at("d1/up")) === "../a.txt", "relative symlink in a subdirectory");
          check(r, fs.statSync(at("a.txt")).nlink === 2 && fs.statSync(at("d1/hard2.txt")).ino === fs.statSync(at("a.txt")).ino, "hard link");
          check(r, !exists("gone.txt") && !exists("emptyd") && !exists("openrm.txt") && !exists("hard.txt"), "unlink and rmdir");
          check(r, exists("fa.bin") && fs.statSync(at("fa.bin")).size === 2 * 1024 * 1024 + 4096, "fallocate sizes");
          check(r, exists("d1/by-1000") && fs.statSync(at("d1/by-1000")).uid === 1000, "a file created by uid 1000 is owned by 1000 on the host");
          check(r, fs.readFileSync(at("seeded.txt"), "utf8") === "seed\n", "seeded file kept");
          const xa = (p: string) => JSON.stringify(Object.fromEntries(Object.entries(L.hostXattrs(at(p))).map(([k, v]) => [k, v.toString("latin1")])));
          if (V.userXattrs) {
            // Set, replaced, then removed from the sandbox; set on a file and a directory.
            check(r, xa("seeded.txt") === "{}" && xa("a.txt") === `{"user.color":"blue"}` && xa("d1") === `{"user.d":"dirval"}`, `user.* xattrs set and removed on the host (${xa("seeded.txt")} ${xa("a.txt")} ${xa("d1")})`);
            check(r, r.stdout.includes("\nlistxattr seeded ok ['user.seed']\nsetxattr ok None\ngetxattr ok b'blue'\nlistxattr ok ['user.color']\nreplace seeded ok None\nremovexattr seeded ok None\n"), "user.* xattrs work in the sandbox");
          } else {
            check(r, xa("seeded.txt") === `{"user.seed":"val"}` && xa("a.txt") === "{}" && xa("d1") === "{}", `user.* xattrs unchanged on the host (${xa("seeded.txt")} ${xa("a.txt")} ${xa("d1")})`);
            check(r, r.stdout.includes("\nlistxattr seeded ok []\nsetxattr err ENOTSUP\n") && r.stdout.includes("\nremovexattr seeded err ENOTSUP\n"), "user.* xattrs cannot be set, removed or listed in the sandbox");
          }
          const padded = directfs && V.directfsXattrPadded;
          check(r, r.stdout.includes(padded ? "\ngetxattr seeded ok b'val\\x00\\x00" : "\ngetxattr seeded ok b'val'\n"), `getxattr of a host xattr${padded ? " (NUL-padded with directfs)" : ""}`);
          check(r, r.stdout.includes("ls: sym: Bad file descriptor") === V.lsSymlinkEBADF, `ls -l on a symlink ${V.lsSymlinkEBADF ? "prints" : "does not print"} "Bad file descriptor"`);
          // Like sockets with --host-uds=none, a FIFO made in the sandbox (--host-fifo=none) is the sentry's own.
          check(r, r.stdout.includes("\nfifo 0 644 0 0 2 fifo\n") && !exists("fifo"), "mkfifo: a FIFO in the sandbox, nothing on the host");
          check(r, exists("n".repeat(255)), "a 255-byte name");
          check(r, r.stdout.includes("parent got ping from child\n") && r.stdout.includes("child got pong\n"), "Unix socket inside the sandbox");
          check(r, !exists("sock"), "with --host-uds=none a socket bound in the sandbox does not appear on the host");
          check(r, r.stdout.includes("type=v9fs bsize=4096"), "statfs");
        };
        facts("ref");
        L.expectSameRun("file operations", rs.ref, rs.test);
        const mtimes = ["ap.txt", "sym"];
        L.expectSame("host state of the writable mount afterwards", L.snapshot(dirs.ref, { mtimes }), L.snapshot(dirs.test, { mtimes }));
        facts("test");
        noLeftovers(rs.ref);
        noLeftovers(rs.test);
      },
      T,
    );

    test(
      "Unix sockets with --host-uds=all: connect to the host, bind in the sandbox, host connects in",
      async () => {
        const dirs: Record<string, string> = {};
        const host: Record<string, { got: string[]; fromSandbox: string; err?: string }> = {};
        const rs = await both(`uds ${dfs}`, async (which) => {
          const w = S.tmpfs(`uds-${which}`, "16m");
          dirs[which] = w;
          const b = bundle(sh(UDS_SCRIPT), [{ source: w, destination: "/data" }]);
          const h: { got: string[]; fromSandbox: string; err?: string } = { got: [], fromSandbox: "" };
          host[which] = h;
          const server = await hostListener(path.join(w, "hostsock"), h.got);
          try {
            return await L.runBundle({
              rv,
              which,
              bundle: b,
              flags: [dfs, "--overlay2=none", "--host-uds=all"],
              stateDir: S.dir("state"),
              during: async ({ finished }) => {
                try {
                  h.fromSandbox = await connectToSandbox(w, finished);
                } catch (e) {
                  h.err = (e as Error).message; // reported by the checks below
                }
              },
            });
          } finally {
            server.close();
          }
        });
        const facts = (which: L.Which) => {
          const r = rs[which];
          const h = host[which];
          check(r, r.code === 0, "exit 0");
          check(r, h.got.join("") === "hello host", "the host's listener got the sandbox's message");
          check(r, r.stdout.includes("host replied: echo: hello host\n"), "the sandbox got the host's reply");
          check(r, r.stdout.includes("parent got ping from child\n") && r.stdout.includes("child got pong\n"), "socket inside the sandbox");
          check(r, r.stdout.includes("from host: hello sandbox\n"), "the host connected to the sandbox's socket");
          check(r, h.fromSandbox === "hi host, from the sandbox", `the host got the sandbox's reply (${h.err ?? JSON.stringify(h.fromSandbox)})`);
          for (const s of ["sock", "for-host"]) {
            check(r, fs.existsSync(path.join(dirs[which], s)) && fs.lstatSync(path.join(dirs[which], s)).isSocket(), `${s}, bound in the sandbox, is a socket on the host`);
          }
        };
        facts("ref");
        L.expectSameRun("Unix sockets", rs.ref, rs.test);
        // hostsock was the host's own listener (node removes it on close).
        const snap = (d: string) => L.without(L.snapshot(d), ["hostsock"]);
        L.expectSame("host state afterwards", snap(dirs.ref), snap(dirs.test));
        facts("test");
        noLeftovers(rs.ref);
        noLeftovers(rs.test);
      },
      T,
    );

    test(
      "read-only bind mount and read-only root: every change fails, the host is unchanged",
      async () => {
        const rootfs: Record<string, { before: string; after: string }> = {};
        const ro: Record<string, { before: string; after: string; plain: string }> = {};
        const rs = await both(`ro ${dfs}`, async (which) => {
          const d = S.tmpfs(`ro-${which}`, "16m");
          makeRoSeed(d);
          const mtimes = ["file.txt", "dir", "."];
          const before = L.snapshot(d, { mtimes });
          const b = bundle(sh(RO_SCRIPT), [{ source: d, destination: "/ro", readonly: true }]);
          const rootBefore = L.snapshot(path.join(b, "rootfs"));
          const r = await L.runBundle({ rv, which, bundle: b, flags: [dfs, "--overlay2=none"], stateDir: S.dir("state") });
          ro[which] = { before, after: L.snapshot(d, { mtimes }), plain: L.snapshot(d) };
          rootfs[which] = { before: rootBefore, after: L.snapshot(path.join(b, "rootfs")) };
          return r;
        });
        // See TRUNC_VICTIMS: with directfs 20240729's reference truncates those on the host; ours must not.
        const refTruncates = directfs && V.directfsRoTruncates;
        const stricter = refTruncates && testingOurs(rv);
        const facts = (which: L.Which) => {
          const r = rs[which];
          const exempt = refTruncates && !(which === "test" && stricter) ? TRUNC_VICTIMS : [];
          L.expectUnchanged(`the read-only mount (${L.LABEL[which]})`, L.without(ro[which].before, exempt), L.without(ro[which].after, exempt));
          const keep = [".", "ro"];
          L.expectUnchanged(`the read-only rootfs (${L.LABEL[which]})`, L.without(rootfs[which].before, keep), L.without(rootfs[which].after, keep));
          check(r, r.code === 0, "exit 0");
          check(r, r.stdout.startsWith("read only\ninner\nread only\n"), "reads work");
          check(r, r.stdout.includes("Read-only file system\nrc=1 [touch new.txt]"), "touch on the ro mount fails with EROFS");
          check(r, r.stdout.includes("rc=1 [touch /newfile]"), "touch on the ro root fails");
          check(r, !/rc=0 \[(touch|rm|mkdir|rmdir|chmod|chown|ln|mv|truncate|mkfifo|fallocate|dd)/.test(r.stdout), "no change succeeded");
          if (!refTruncates || which === "test" && stricter) {
            check(r, /Read-only file system\nrc=\d+ \[sh -c echo x > trunc-redirect.txt\]/.test(r.stdout), "O_TRUNC redirect refused with EROFS");
            check(r, /Read-only file system: 'trunc-rdonly.txt'\nrc=1 /.test(r.stdout), "O_RDONLY|O_TRUNC refused with EROFS");
          }
          for (const op of ["setxattr", "removexattr"] as const) {
            const want = V.roXattrError(op, directfs);
            const got = r.stdout.match(new RegExp(`\\[Errno \\d+\\] ([^:\\n]+): 'file.txt'\\nrc=1 \\[python3 -c import os; os.${op}`))?.[1];
            check(r, got === want, `${op} on the read-only mount fails with "${want}" (got ${JSON.stringify(got)})`);
          }
        };
        facts("ref");
        if (stricter) {
          const t = rs.test;
          L.expectSameRun("read-only mounts (trunc lines aside)", { ...rs.ref, stdout: withoutTruncLines(rs.ref.stdout) }, { ...t, stdout: withoutTruncLines(t.stdout) });
          L.expectSame("the read-only mount on the host afterwards", L.without(ro.ref.plain, TRUNC_VICTIMS), L.without(ro.test.plain, TRUNC_VICTIMS));
        } else {
          L.expectSameRun("read-only mounts", rs.ref, rs.test);
          L.expectSame("the read-only mount on the host afterwards", ro.ref.plain, ro.test.plain);
        }
        L.expectSame("rootfs on the host afterwards (mount points made)", rootfs.ref.after, rootfs.test.after);
        facts("test");
        noLeftovers(rs.ref);
        noLeftovers(rs.test);
      },
      T,
    );

    test(
      "runsc do: the host / through the gofer, overlaid in memory",
      async () => {
        // cwd's parent holds only cwd, so `ls -la` shows the same ".." every time.
        const d = path.join(S.dir("do"), "cwd");
        fs.mkdirSync(d);
        fs.writeFileSync(path.join(d, "file.txt"), "from the host\n");
        fs.writeFileSync(path.join(d, "blob.bin"), L.seededBytes(1024 * 1024, "do"));
        fs.mkdirSync(path.join(d, "sub"));
        fs.symlinkSync("file.txt", path.join(d, "link"));
        const before = L.snapshot(d);
        const after: Record<string, string> = {};
        const script = String.raw`cat /etc/hostname; ls /usr | head; pwd; ls -lan --time-style=+ . 2>&1; cat file.txt link; md5sum blob.bin
  echo new > created.txt; cat created.txt; rm file.txt; echo rc=$?; mkdir sub/x; ls -a . sub; id -u`;
        const rs = await both(`do ${dfs}`, async (which) => {
          const r = await L.runDo({ rv, which, cmd: sh(script), flags: [dfs], stateDir: S.dir("state"), cwd: d });
          after[which] = L.snapshot(d);
          return r;
        });
        const facts = (which: L.Which) => {
          const r = rs[which];
          check(r, r.code === 0, "exit 0");
          check(r, r.stdout.startsWith(fs.readFileSync("/etc/hostname", "utf8")), "the host's /etc/hostname");
          check(r, r.stdout.includes(`${d}\n`), "cwd is the host cwd");
          check(r, r.stdout.includes(`from the host\nfrom the host\n${L.md5File(path.join(d, "blob.bin"))}  blob.bin\nnew\n`), "reads");
          L.expectUnchanged(`the cwd (${L.LABEL[which]})`, before, after[which]);
        };
        facts("ref");
        L.expectSameRun("runsc do", rs.ref, rs.test);
        facts("test");
        noLeftovers(rs.ref);
        noLeftovers(rs.test);
      },
      T,
    );

    test(
      "the gofer exits when the sandbox is gone (normal exit; detached container whose sandbox is SIGKILLed)",
      async () => {
        // Normal exit.
        const b1 = bundle(sh("echo ok"), []);
        const rs = await both(`exit ${dfs}`, (which) => L.runBundle({ rv, which, bundle: b1, flags: [dfs], stateDir: S.dir("state") }));
        check(rs.ref, rs.ref.stdout === "ok\n" && rs.ref.code === 0, "echo ok");
        L.expectSameRun("echo ok", rs.ref, rs.test);
        noLeftovers(rs.ref);
        noLeftovers(rs.test);
        // A detached container (runsc create + start): nothing but the gofer itself can notice the sandbox dying.
        for (const which of ["ref", "test"] as const) {
          const b2 = bundle(sh("echo started; sleep 60; echo not-killed"), []);
          const t0 = performance.now();
          const k = await L.killDetachedSandbox({ rv, which, bundle: b2, flags: [dfs], stateDir: S.dir("state") });
          timings.push({ name: `${rv.name} detached, sandbox killed ${dfs}`, which, ms: Math.round(performance.now() - t0) });
          if (k.seen.length === 0) throw new Error(`no gofer process seen for the detached container (${L.LABEL[which]})`);
          if (k.leftovers.length) {
            throw new Error(`gofer still running 5 s after its sandbox was SIGKILLed (${L.LABEL[which]}, detached container):\n${k.leftovers.join("\n")}`);
          }
        }
      },
      T,
    );

    mountKindTests(rv, V, directfs, both);
  });
});

function check(r: L.RunResult, cond: boolean, what: string): void {
  L.check(cond, what, r);
}
