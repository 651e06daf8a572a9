// The serving stage's seccomp filter, an allow-list (src/ffi/seccomp.ts,
// docs/seccomp.md): installed on every thread of a serving gofer in every
// loop mode, with the whole protocol working under it; and every class of
// call outside the list answered EPERM (clone3 ENOSYS) in a process of its
// own that installs the same filter.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { closeAll, text } from "./lib/assert";
import { Gofer, useFixture } from "./lib/fixture";

const fx = useFixture();
const EPERM = 1;
const ENOSYS = 38;

function statusOf(pid: number, tid: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8").split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** Each thread's name, seccomp mode and no_new_privs. */
function threadFilters(pid: number): { name: string; state: string }[] {
  return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
    const st = statusOf(pid, tid);
    return { name: st.Name, state: `${st.Name}: Seccomp ${st.Seccomp}, NoNewPrivs ${st.NoNewPrivs}` };
  });
}

function runProbe(...args: string[]): Record<string, number> {
  const probe = Bun.spawnSync([process.execPath, path.join(import.meta.dir, "lib", "seccomp-probe.ts"), ...args], { stderr: "pipe" });
  expect(probe.stderr.toString()).toBe("");
  expect(probe.exitCode).toBe(0);
  return JSON.parse(probe.stdout.toString()) as Record<string, number>;
}

/** Calls outside the allow-list (or outside its argument rules), each a
 * class the filter must stop: the probe's names (tests/lib/seccomp-probe.ts). */
const REFUSED = [
  "execve", "mount", "chroot", "open_by_handle_at", "ptrace", "unshare", "setns", "bpf", "userfaultfd",
  "perf_event_open", "keyctl",
  "io_uring_setup", "io_uring_enter", "io_uring_register", "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
  "process_madvise", "kcmp", "memfd_secret", "personality", "kill",
  "mknodat(S_IFCHR 1:3)", "mknodat(S_IFBLK)",
  "socket(AF_INET)", "socket(AF_INET6)", "socket(AF_NETLINK)", "socketpair(AF_INET)",
  "ioctl(TIOCSTI)", "ioctl(FIONREAD)", "fcntl(F_SETLEASE)", "fcntl(F_SETOWN)",
  "clone(CLONE_NEWUSER)", "clone(process)", "tgkill(other)", "prctl(PR_GET_DUMPABLE)", "prctl(PR_CAPBSET_READ)",
  "sched_setscheduler(SCHED_FIFO)",
  ...(process.arch === "x64" ? ["modify_ldt", "mknod"] : []),
];

/** The loop's modes: direct (no channel: the main thread polls), the
 * native poller thread, the poller Worker (the fallback, forced here with
 * GOFER_NATIVE_POLLER=0), and a watcher Worker per channel (threads). */
const MODES: { name: string; flags: string[]; env: Record<string, string> }[] = [
  { name: "waitv, native poller", flags: ["--event-loop", "waitv"], env: {} },
  { name: "waitv, poller Worker", flags: ["--event-loop", "waitv"], env: { GOFER_NATIVE_POLLER: "0" } },
  { name: "threads", flags: ["--event-loop", "threads"], env: { GOFER_NATIVE_POLLER: "0" } },
];

describe("seccomp filter", () => {
  for (const m of MODES) {
    test(`${m.name}: every thread runs under it, threads started later too, and the protocol works (direct, then on a channel)`, async () => {
      fs.writeFileSync(path.join(fx.mount, "f"), "filtered");
      const g = Gofer.start(fx, { flags: m.flags, env: m.env, logLevel: "info" });
      const c = g.client;
      const root = c.mount().root.id;
      // Direct mode: before the first channel, on the socket.
      const f = c.walkTo(root, "f");
      const o = c.openAt(f.id, C.O_RDONLY);
      closeAll([o.hostFd]);
      expect(text(c.pread(o.id, 0, 100))).toBe("filtered");
      // A channel starts the poller (and in threads mode a watcher): after the filter.
      const before = g.tasks();
      c.use(c.channel(false));
      expect(g.tasks()).toBeGreaterThan(before);
      const sub = `d-${m.name.replace(/\W+/g, "-")}`;
      const d = c.mkdirAt(root, sub);
      const made = c.openCreateAt(d.id, "new", C.O_RDWR);
      closeAll([made.hostFd]);
      expect(c.pwrite(made.id, 0, new TextEncoder().encode("written under the filter"))).toBe(24);
      c.fallocate(made.id, 0, 0, 4096);
      c.fsync([made.id]);
      expect(text(c.pread(made.id, 0, 7))).toBe("written");
      c.mknodAt(d.id, "node", C.S_IFREG | 0o644);
      c.symlinkAt(d.id, "link", "new");
      c.linkAt(d.id, made.child.id, "hard");
      c.renameAt(d.id, "hard", root, "moved");
      const dir = c.openAt(d.id, C.O_RDONLY);
      closeAll([dir.hostFd]);
      expect(c.getdents64(dir.id, 4096).map((e) => e.name).sort()).toEqual(["link", "new", "node"]);
      expect(c.fstatfs(root).blockSize).toBeGreaterThan(0);
      c.unlinkAt(root, "moved");
      expect(fs.readFileSync(path.join(fx.mount, sub, "new"), "utf8").slice(0, 24)).toBe("written under the filter");
      // Idle: the loop collects garbage (JSC stops the other threads with signals).
      await Bun.sleep(800);
      c.fstat(root);
      const threads = threadFilters(g.pid);
      for (const t of threads) expect(t.state).toBe(`${t.name}: Seccomp 2, NoNewPrivs 1`);
      // The poller this mode means: the native thread (x86-64, arm64), or a Worker.
      const native = ["x64", "arm64"].includes(process.arch) && m.env.GOFER_NATIVE_POLLER !== "0";
      expect(threads.some((t) => t.name === "gofer-poller")).toBe(native);
      c.use("socket");
      expect(await g.stop()).toBe(0);
      expect(g.log()).toContain('"msg":"seccomp filter installed"');
      expect(g.log()).toMatch(/"idleCollections":[1-9]/);
      expect(g.log()).not.toContain('"level":50');
    });
  }

  test("every class outside the allow-list gets EPERM (clone3 ENOSYS); what serving needs works, a Worker and a full GC too", () => {
    const r = runProbe();
    expect(r.install).toBe(0);
    for (const name of REFUSED) expect(`${name} ${r[name]}`).toBe(`${name} ${-EPERM}`);
    expect(r.clone3).toBe(-ENOSYS);
    if (process.arch === "x64") expect(r["x32 getpid"]).toBe(-EPERM);
    // Allowed, by number or by the argument rules: another errno or success.
    for (const name of ["mknodat(S_IFREG)", "mknodat(S_IFIFO)", "mknodat(S_IFSOCK)", "mknodat(whiteout 0:0)"]) {
      expect(`${name} ${r[name]}`).toBe(`${name} -2`); // ENOENT: the kernel's answer
    }
    expect(r["ioctl(TCGETS)"]).toBe(-9); // EBADF: the kernel's answer
    expect(r["fcntl(F_GETFL)"]).toBe(-9);
    expect(r["socket(AF_UNIX)"]).toBe(0);
    expect(r["tgkill(self)"]).toBe(0);
    expect(r["prctl(PR_GET_NAME)"]).toBe(0);
    expect(r["prctl(PR_SET_VMA)"]).not.toBe(-EPERM);
    expect(r["sched_setscheduler(SCHED_OTHER)"]).toBe(0);
    expect(r.getpid).toBeGreaterThan(0);
    expect(r.openat).toBeGreaterThanOrEqual(0);
    expect(r.worker).toBe(42);
  });

  test("the probe's calls fail otherwise without the filter (the test can tell)", () => {
    // The same probes in a process without the filter: none gets EPERM, so
    // an EPERM above comes from the filter. Without root, several get EPERM
    // from the kernel itself.
    if (process.getuid?.() !== 0) throw new Error("tests/seccomp.test.ts runs as root (as the suite does)");
    const r = runProbe("--no-filter");
    expect(r.install).toBe(0);
    for (const name of [...REFUSED, "clone3"]) {
      expect(typeof r[name]).toBe("number");
      expect(`${name} ${r[name]}`).not.toBe(`${name} ${-EPERM}`);
    }
  });

  test("GOFER_SECCOMP=log's filter lets the same calls through (the kernel logs them); other ABIs stay refused", () => {
    const r = runProbe("--log");
    expect(r.install).toBe(0);
    for (const name of REFUSED) expect(`${name} ${r[name]}`).not.toBe(`${name} ${-EPERM}`);
    if (process.arch === "x64") expect(r["x32 getpid"]).toBe(-EPERM);
    expect(r.worker).toBe(42);
  });

  test("GOFER_SECCOMP=off serves unfiltered and says so; a value that is no mode is refused", async () => {
    const g = Gofer.start(fx, { env: { GOFER_SECCOMP: "off" }, logLevel: "info" });
    g.client.mount();
    for (const t of threadFilters(g.pid)) expect(t.state).toBe(`${t.name}: Seccomp 0, NoNewPrivs 0`);
    expect(await g.stop()).toBe(0);
    expect(g.log()).toContain("GOFER_SECCOMP=off: serving without a syscall filter");
    const bad = Gofer.start(fx, { env: { GOFER_SECCOMP: "lax" } });
    expect(await bad.exitCode()).toBe(2);
    expect(bad.log()).toContain("GOFER_SECCOMP=lax: not a mode");
    await bad.stop();
  });
});
