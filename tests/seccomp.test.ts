// The serving stage's seccomp filter (src/ffi/seccomp.ts, docs/seccomp.md):
// installed on every thread of a serving gofer, and denying what it lists
// while the rest of the process (threads, files, Workers) keeps working.
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

describe("seccomp filter", () => {
  test("every thread of a serving gofer runs under it, threads started later too, and serving works", async () => {
    fs.writeFileSync(path.join(fx.mount, "f"), "filtered");
    const g = Gofer.start(fx, { flags: ["--event-loop", "threads"], logLevel: "info" });
    const c = g.client;
    const root = c.mount().root.id;
    // A channel in the threads loop starts a watcher thread: after the filter.
    const before = g.tasks();
    c.use(c.channel(false));
    const f = c.walkTo(root, "f");
    const o = c.openAt(f.id, C.O_RDONLY);
    closeAll([o.hostFd]);
    expect(text(c.pread(o.id, 0, 100))).toBe("filtered");
    expect(g.tasks()).toBeGreaterThan(before);
    const tids = fs.readdirSync(`/proc/${g.pid}/task`);
    for (const tid of tids) {
      const st = statusOf(g.pid, tid);
      expect(`${st.Name} ${st.Seccomp} ${st.NoNewPrivs}`).toBe(`${st.Name} 2 1`);
    }
    expect(g.log()).toContain('"msg":"seccomp filter installed"');
    c.use("socket");
    expect(await g.stop()).toBe(0);
  });

  test("denied syscalls get EPERM (clone3 ENOSYS); allowed ones, thread starts included, work", () => {
    const probe = Bun.spawnSync([process.execPath, path.join(import.meta.dir, "lib", "seccomp-probe.ts")], { stderr: "pipe" });
    expect(probe.stderr.toString()).toBe("");
    expect(probe.exitCode).toBe(0);
    const r = JSON.parse(probe.stdout.toString()) as Record<string, number>;
    expect(r.install).toBe(0);
    for (const name of ["execve", "mount", "chroot", "open_by_handle_at", "ptrace", "unshare", "bpf", "clone(CLONE_NEWUSER)"]) {
      expect(`${name} ${r[name]}`).toBe(`${name} ${-EPERM}`);
    }
    expect(r.clone3).toBe(-ENOSYS);
    if (process.arch === "x64") expect(r["x32 getpid"]).toBe(-EPERM);
    expect(r.getpid).toBeGreaterThan(0);
    expect(r.openat).toBeGreaterThanOrEqual(0);
    expect(r.worker).toBe(42);
  });

  test("the probe's calls fail otherwise without the filter (the test can tell)", () => {
    // The same probes in a process without the filter: none gets EPERM, so
    // an EPERM above comes from the filter. Without root, mount, chroot,
    // open_by_handle_at and bpf get EPERM from the kernel itself.
    const probe = Bun.spawnSync([process.execPath, path.join(import.meta.dir, "lib", "seccomp-probe.ts"), "--no-filter"], { stderr: "pipe" });
    expect(probe.exitCode).toBe(0);
    const r = JSON.parse(probe.stdout.toString()) as Record<string, number>;
    expect(r.install).toBe(0);
    const privileged = process.getuid?.() === 0 ? ["mount", "chroot", "open_by_handle_at", "bpf"] : [];
    for (const name of ["execve", "ptrace", "unshare", "clone(CLONE_NEWUSER)", "clone3", ...privileged]) {
      expect(r[name]).toBeLessThan(0);
      expect(`${name} ${r[name]}`).not.toBe(`${name} ${-EPERM}`);
    }
  });
});
