// The runsc form of the command line (runsc starting dist/gofer as its
// gofer): argument parsing, and a real gofer process started the way runsc
// starts it in its test-only in-place mode (no new root, no re-exec), spoken
// to over real sockets. The full setup-root / capability path runs under
// real runsc in tests/e2e.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { isRunscForm, parseRunscArgs, runscConfig, RunscUsageError } from "../src/runsc/args";
import { optionsToFlags } from "../src/runsc/setup";
import { resolveSymlinks } from "../src/runsc/spec";
import { Client, LisafsError, waitEOF } from "./lib/client";
import { GOFER, useFixture } from "./lib/fixture";

// What runsc 20240729 passed to its gofer in `runsc do` on this machine.
const RUNSC_DO = [
  "--root=/tmp/runsc-do2789822860", "--overlay2=all:memory", "--network=none", "--platform=ptrace", "--rootless=false",
  "gofer", "--bundle", "/tmp/runsc-do2789822860", "--gofer-mount-confs=lisafs:memory", "--spec-fd=3", "--mounts-fd=4", "--io-fds=5",
];

describe("runsc argv", () => {
  test("runsc's own gofer command line parses", () => {
    expect(isRunscForm(RUNSC_DO)).toBe(true);
    const a = parseRunscArgs(RUNSC_DO);
    expect(a.bundle).toBe("/tmp/runsc-do2789822860");
    expect(a.ioFds).toEqual([5]);
    expect(a.specFd).toBe(3);
    expect(a.mountsFd).toBe(4);
    expect(a.devIoFd).toBe(-1);
    expect(a.mountConfs).toEqual([{ lower: "lisafs", upper: "memory" }]);
    expect(a.applyCaps).toBe(true);
    expect(a.setupRoot).toBe(true);
    const c = runscConfig(a.global);
    expect(c.directfs).toBe(true);
    expect(c.hostUds).toBe("none");
    expect(c.unsafeNonroot).toBe(false);
  });

  test("Go flag forms: one dash, space-separated values, lists, bare and explicit booleans, last wins", () => {
    const a = parseRunscArgs([
      "-root", "/r", "--debug", "--directfs=false", "--host-uds", "all", "--some-future-flag", "--future=x",
      "gofer", "-bundle=/b", "--io-fds=5,6", "--io-fds", "7", "--gofer-mount-confs=lisafs:none,lisafs:self,none:anon,lisafs:none",
      "--spec-fd", "3", "--apply-caps=false", "-setup-root=0", "--setup-root", "--dev-io-fd=9", "--proc-mount-sync-fd=11",
      "--profile-cpu-fd=12",
    ]);
    expect(a.ioFds).toEqual([5, 6, 7]);
    expect(a.mountConfs.map((m) => `${m.lower}:${m.upper}`)).toEqual(["lisafs:none", "lisafs:self", "none:anon", "lisafs:none"]);
    expect(a.applyCaps).toBe(false);
    expect(a.setupRoot).toBe(true);
    expect(a.devIoFd).toBe(9);
    expect(a.procMountSyncFd).toBe(11);
    expect(a.profileFds).toEqual([12]);
    const c = runscConfig(a.global);
    expect(c.debug).toBe(true);
    expect(c.directfs).toBe(false);
    expect(c.hostUds).toBe("all");
    expect(a.global.get("root")).toBe("/r");
  });

  test("today's runsc's gofer command line parses (container ID, sync, RPC and pin-ring FDs, sized overlays)", () => {
    // What today's runsc (release-20260817.0 + 70) passed to its gofer in `runsc do` on this machine.
    const a = parseRunscArgs([
      "--root=/tmp/runsc-do2706431662", "--overlay2=all:memory", "--network=none", "--platform=ptrace", "--rootless=false",
      "gofer", "--bundle", "/tmp/runsc-do2706431662", "--gofer-mount-confs=lisafs:memory,lisafs:self:size=64m,erofs:none",
      "--spec-fd=3", "--mounts-fd=4", "--rpc-fd=5", "--pin-ring-fd=6", "--sync-sentry-exit-fd=7", "--io-fds=8",
      "--sync-chroot-fd=9", "--uid=1000", "--gid=1001", "--a-future-flag=1", "--another-future-bool", "runsc-537394",
    ]);
    expect(a.containerId).toBe("runsc-537394");
    expect([a.specFd, a.mountsFd, a.rpcFd, a.pinRingFd, a.sentryExitSyncFd, a.syncChrootFd]).toEqual([3, 4, 5, 6, 7, 9]);
    expect(a.ioFds).toEqual([8]);
    expect([a.uid, a.gid]).toEqual([1000, 1001]);
    expect(a.mountConfs).toEqual([
      { lower: "lisafs", upper: "memory" },
      { lower: "lisafs", upper: "self", size: "64m" },
      { lower: "erofs", upper: "none" },
    ]);
    expect(a.unknownFlags).toEqual(["--a-future-flag=1", "--another-future-bool"]);
    // 20240729's passes no container ID and none of the new FDs.
    const old = parseRunscArgs(RUNSC_DO);
    expect(old.containerId).toBeUndefined();
    expect([old.rpcFd, old.pinRingFd, old.sentryExitSyncFd, old.syncChrootFd]).toEqual([-1, -1, -1, -1]);
  });

  test("the native command line is not mistaken for runsc's", () => {
    expect(isRunscForm(["--io-fd", "3", "--mount", "/srv"])).toBe(false);
    expect(isRunscForm(["--root=/x", "boot"])).toBe(false);
    expect(isRunscForm([])).toBe(false);
  });

  test("mistakes are refused with what is wrong", () => {
    const bad: [string[], RegExp][] = [
      [["gofer", "--io-fds=5", "--spec-fd=3", "--gofer-mount-confs=lisafs:none"], /--bundle/],
      [["gofer", "--bundle=/b", "--spec-fd=3", "--gofer-mount-confs=lisafs:none"], /--io-fds/],
      [["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=3"], /--gofer-mount-confs/],
      [["gofer", "--bundle=/b", "--io-fds=x", "--spec-fd=3", "--gofer-mount-confs=lisafs:none"], /not an integer/],
      [["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=3", "--gofer-mount-confs=lisafs"], /mount config/],
      [["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=3", "--gofer-mount-confs=none:none"], /mount config/],
      [["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=3", "--gofer-mount-confs=lisafs:none", "id1", "id2"], /at most one argument/],
      [["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=3", "--gofer-mount-confs=lisafs:none:4g"], /mount config format/],
      [["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=3", "--gofer-mount-confs=lisafs:self:size=1g:x"], /mount config format/],
      [["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=3", "--gofer-mount-confs=lisafs:none", "--apply-caps=maybe"], /boolean/],
    ];
    for (const [argv, re] of bad) expect(() => parseRunscArgs(argv)).toThrow(re);
    expect(() => runscConfig(new Map([["host-uds", "everything"]]))).toThrow(RunscUsageError);
  });

  test("mount options map to mount(2) flags as runsc maps them", () => {
    expect(optionsToFlags(["rbind", "ro", "nosuid"])).toBe(C.MS_BIND | C.MS_REC | C.MS_RDONLY | C.MS_NOSUID);
    // "Clear" options clear, as today's runsc has it (20240729's toggled, so
    // "rw" on nothing set MS_RDONLY; a remount with that would be wrong).
    expect(optionsToFlags(["bind", "rw"])).toBe(C.MS_BIND);
    expect(optionsToFlags(["ro", "rw"])).toBe(0);
    expect(optionsToFlags(["noexec", "exec", "nodev"])).toBe(C.MS_NODEV);
    expect(optionsToFlags(["defaults", "shared"])).toBe(0);
  });
});

describe("runsc form, in place (--TESTONLY-unsafe-nonroot --setup-root=false --apply-caps=false)", () => {
  const fx = useFixture();

  test("symlinked mount destinations resolve inside the root, never outside", () => {
    const root = path.join(fx.root, "resolve-root");
    fs.mkdirSync(path.join(root, "real"), { recursive: true });
    fs.symlinkSync("/real", path.join(root, "abs"));
    fs.symlinkSync("../../../../..", path.join(root, "up"));
    fs.symlinkSync("loop2", path.join(root, "loop1"));
    fs.symlinkSync("loop1", path.join(root, "loop2"));
    expect(resolveSymlinks(root, "/abs/data")).toBe(path.join(root, "real/data"));
    expect(resolveSymlinks(root, "/up/etc")).toBe(path.join(root, "etc"));
    expect(resolveSymlinks(root, "/../../x")).toBe(path.join(root, "x"));
    expect(() => resolveSymlinks(root, "/loop1/x")).toThrow(/too many symlinks/);
  });

  /** Starts dist/gofer the way runsc does, with a spec file, a mounts pipe and one socket per served mount. */
  function startRunscForm(spec: object, confs: string, nSockets: number, extraGlobal: string[] = []) {
    const bundle = fs.mkdtempSync(path.join(fx.root, "bundle-"));
    fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify(spec));
    const specFd = fs.openSync(path.join(bundle, "config.json"), "r");
    const mounts = libc.pipe2(C.O_CLOEXEC) as [number, number];
    const pairs = Array.from({ length: nSockets }, () => libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0) as [number, number]);
    const ioFds = pairs.map((_, i) => String(5 + i)).join(",");
    const logPath = path.join(fx.logs, `runsc-form-${path.basename(bundle)}.log`);
    const log = fs.openSync(logPath, "a");
    const argv = [
      GOFER, "--TESTONLY-unsafe-nonroot", "--network=none", "--debug", "--debug-log-fd=2", ...extraGlobal,
      "gofer", "--bundle", bundle, `--gofer-mount-confs=${confs}`, "--spec-fd=3", "--mounts-fd=4", `--io-fds=${ioFds}`,
      "--apply-caps=false", "--setup-root=false",
    ];
    const proc = Bun.spawn(argv, { stdio: ["ignore", log, log, specFd, mounts[1], ...pairs.map((p) => p[1])] });
    fs.closeSync(log);
    fs.closeSync(specFd);
    libc.close(mounts[1]);
    for (const p of pairs) libc.close(p[1]);
    const readMounts = (): unknown => {
      const buf = new Uint8Array(1 << 16);
      let out = "";
      for (;;) {
        const n = libc.readFd(mounts[0], libc.addr(buf), buf.length);
        if (n <= 0) break;
        out += Buffer.from(buf.subarray(0, n)).toString("utf8");
      }
      libc.close(mounts[0]);
      return JSON.parse(out);
    };
    return { proc, clients: pairs.map((p) => new Client(p[0])), readMounts, logPath };
  }

  test("serves the root and each lisafs gofer mount, reports resolved mounts, honors ro and directfs, exits 0", async () => {
    const root = path.join(fx.mount, "rootfs");
    fs.mkdirSync(path.join(root, "real/data"), { recursive: true });
    fs.mkdirSync(path.join(root, "ro"), { recursive: true });
    fs.symlinkSync("/real", path.join(root, "link"));
    fs.writeFileSync(path.join(root, "hello"), "hello from the root\n");
    fs.writeFileSync(path.join(root, "real/data/inside"), "in the mount\n");
    const spec = {
      root: { path: root, readonly: false },
      process: { cwd: "/" },
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        { destination: "/link/data", type: "bind", source: "/unused-when-in-place", options: ["rbind", "rw"] },
        { destination: "/skipped", type: "none", source: "/x", options: ["bind"] },
        { destination: "/ro", type: "bind", source: "/unused-too", options: ["rbind", "ro"] },
      ],
    };
    // Root and two mounts through lisafs; the third gofer mount is the sandbox's own (none:memory).
    const g = startRunscForm(spec, "lisafs:none,lisafs:none,none:memory,lisafs:none", 3, ["--directfs=true"]);
    const mounts = g.readMounts() as { destination: string; type?: string; source?: string; options?: string[] }[];
    expect(mounts.map((m) => m.destination)).toEqual(["/proc", "/real/data", "/skipped", "/ro"]);
    expect(mounts[1]).toEqual({ destination: "/real/data", type: "bind", source: "/unused-when-in-place", options: ["rbind", "rw"] });

    const [rootC, dataC, roC] = g.clients;
    const r = rootC.mount();
    // directfs: the mount point's host FD is donated, and it is the served root.
    expect(r.fds.length).toBe(1);
    const st = fs.fstatSync(r.fds[0]);
    expect(st.ino).toBe(fs.statSync(root).ino);
    for (const f of r.fds) libc.close(f);
    const hello = rootC.walkTo(r.root.id, "hello");
    const { id } = rootC.openAt(hello.id, C.O_RDONLY);
    expect(Buffer.from(rootC.pread(id, 0, 100)).toString()).toBe("hello from the root\n");

    const d = dataC.mount();
    for (const f of d.fds) libc.close(f);
    const inside = dataC.walkTo(d.root.id, "inside");
    const o = dataC.openAt(inside.id, C.O_RDONLY);
    expect(Buffer.from(dataC.pread(o.id, 0, 100)).toString()).toBe("in the mount\n");
    dataC.mkdirAt(d.root.id, "made");
    expect(fs.statSync(path.join(root, "real/data/made")).isDirectory()).toBe(true);

    const ro = roC.mount();
    for (const f of ro.fds) libc.close(f);
    let err = 0;
    try {
      roC.mkdirAt(ro.root.id, "nope");
    } catch (e) {
      err = (e as LisafsError).errno;
    }
    expect(err).toBe(C.EROFS);
    expect(fs.existsSync(path.join(root, "ro/nope"))).toBe(false);

    for (const c of g.clients) c.disconnect();
    expect(await g.proc.exited).toBe(0);
    // --debug traces each message, decoded, at debug level (docs/observability.md).
    const traced = fs.readFileSync(g.logPath, "utf8").split("\n").filter((l) => l.includes('"trace":"request"')).map((l) => JSON.parse(l));
    expect(traced.find((t) => t.message === "Walk" && t.fields.path[0] === "hello")).toMatchObject({ level: 20, protocol: "lisafs", channel: null });
  });

  test("today's runsc (a container ID): every xattr namespace but trusted.*, a symlink's by path, today's lisafs", async () => {
    const root = path.join(fx.mount, "rootfs-today");
    fs.mkdirSync(root, { recursive: true });
    fs.writeFileSync(path.join(root, "f"), "x");
    fs.symlinkSync("f", path.join(root, "sym"));
    const spec = { root: { path: root, readonly: false } };
    const bundle = fs.mkdtempSync(path.join(fx.root, "bundle-"));
    fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify(spec));
    const specFd = fs.openSync(path.join(bundle, "config.json"), "r");
    const pair = libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0) as [number, number];
    const log = fs.openSync(path.join(fx.logs, "runsc-form-today.log"), "a");
    const argv = [
      GOFER, "--TESTONLY-unsafe-nonroot", "--network=none", "--debug", "--debug-log-fd=2",
      "gofer", "--bundle", bundle, "--gofer-mount-confs=lisafs:none", "--spec-fd=3", "--io-fds=4",
      "--apply-caps=false", "--setup-root=false", "runsc-test-id",
    ];
    const proc = Bun.spawn(argv, { stdio: ["ignore", log, log, specFd, pair[1]] });
    fs.closeSync(log);
    fs.closeSync(specFd);
    libc.close(pair[1]);
    const c = new Client(pair[0]);
    const r = c.mount();
    for (const f of r.fds) libc.close(f);
    const f = c.walkTo(r.root.id, "f");
    const errnoOf = (fn: () => unknown): number => {
      try {
        fn();
        return 0;
      } catch (e) {
        return (e as LisafsError).errno;
      }
    };
    const hostGet = (p: string, name: string): string | number => {
      const buf = new Uint8Array(256);
      const n = libc.lgetxattr(p, name, libc.addr(buf), buf.length);
      return n < 0 ? n : Buffer.from(buf.subarray(0, n)).toString();
    };
    // The gofer here runs with every capability, so only its own rule can refuse trusted.*.
    expect(errnoOf(() => c.fsetxattr(f.id, "trusted.overlay.opaque", new TextEncoder().encode("y")))).toBe(C.EPERM);
    expect(hostGet(path.join(root, "f"), "trusted.overlay.opaque")).toBe(-C.ENODATA);
    c.fsetxattr(f.id, "user.k", new TextEncoder().encode("v1"));
    c.fsetxattr(f.id, "security.k", new TextEncoder().encode("v2"));
    expect(hostGet(path.join(root, "f"), "user.k")).toBe("v1");
    expect(hostGet(path.join(root, "f"), "security.k")).toBe("v2");
    expect(c.flistxattr(f.id, 0).sort()).toEqual(["security.k", "user.k"]);
    c.fremovexattr(f.id, "security.k");
    expect(hostGet(path.join(root, "f"), "security.k")).toBe(-C.ENODATA);
    // A symlink's xattrs by path (its O_PATH FD cannot): the kernel's
    // answer for the link itself, not EBADF, and never the target's.
    const sym = c.walkTo(r.root.id, "sym");
    expect(errnoOf(() => c.fgetxattr(sym.id, "user.k", 100))).toBe(C.ENODATA);
    expect(errnoOf(() => c.fsetxattr(sym.id, "trusted.x", new TextEncoder().encode("y")))).toBe(C.EPERM);
    // Today's default --character-device-policy (emulated-only): host
    // character devices are not opened for the sandbox.
    expect(Bun.spawnSync(["mknod", path.join(root, "null"), "c", "1", "3"]).exitCode).toBe(0);
    const dev = c.walkTo(r.root.id, "null");
    expect(errnoOf(() => c.openAt(dev.id, C.O_RDONLY))).toBe(C.EPERM);
    // Today's semantics from the first message: a deleted file can be opened.
    fs.writeFileSync(path.join(root, "gone"), "still here");
    const gone = c.walkTo(r.root.id, "gone");
    c.unlinkAt(r.root.id, "gone", 0);
    const o = c.openAt(gone.id, C.O_RDONLY);
    expect(Buffer.from(c.pread(o.id, 0, 100)).toString()).toBe("still here");
    c.disconnect();
    expect(await proc.exited).toBe(0);
  });

  test("--directfs=false donates no mount point FD", async () => {
    const root = path.join(fx.mount, "rootfs2");
    fs.mkdirSync(root, { recursive: true });
    const g = startRunscForm({ root: { path: root, readonly: true } }, "lisafs:none", 1, ["--directfs=false"]);
    expect(g.readMounts()).toEqual([]);
    const r = g.clients[0].mount();
    expect(r.fds).toEqual([]);
    g.clients[0].disconnect();
    expect(await g.proc.exited).toBe(0);
  });

  test("an FD count that does not match the mounts is fatal, with runsc's exit status and a message", async () => {
    const root = path.join(fx.mount, "rootfs3");
    fs.mkdirSync(root, { recursive: true });
    const g = startRunscForm({ root: { path: root } }, "lisafs:none", 2);
    expect(await g.proc.exited).toBe(128);
    expect(fs.readFileSync(g.logPath, "utf8")).toContain("too many FDs passed for mounts");
    for (const c of g.clients) expect(waitEOF(c.fd)).toBe(true);
  });

  test("a bad runsc command line exits 128 saying what is wrong", async () => {
    const p = Bun.spawn([GOFER, "--root=/x", "gofer", "--bundle=/b", "--spec-fd=3"], { stdio: ["ignore", "pipe", "pipe"] });
    expect(await p.exited).toBe(128);
    expect(await new Response(p.stderr).text()).toContain("--io-fds");
  });
});
