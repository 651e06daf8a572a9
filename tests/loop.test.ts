// The event loop paths: futex_waitv (main thread waits on every channel) and
// the helper-thread fallback (one pooled watcher thread per channel). The same
// protocol subset must work on both.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { bytes, closeAll, expectStatOf, text } from "./lib/assert";
import { Gofer, eventually, useFixture } from "./lib/fixture";

const fx = useFixture();

/** utime + stime of a process, in clock ticks (all threads). */
function cpuTicks(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** mount, channels, walk, read, write, getdents: over the socket and every channel. */
function exercise(g: Gofer, tag: string): void {
  const c = g.client;
  const dir = path.join(fx.mount, tag);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "f"), "loop test");
  const root = c.mount().root.id;
  const transports = ["socket" as const, c.channel(false), c.channel(false)];
  transports.forEach((t, i) => {
    c.use(t);
    const d = c.walkTo(root, tag);
    expectStatOf(d.stat, dir);
    const f = c.walkTo(d.id, "f");
    const o = c.openAt(f.id, C.O_RDWR);
    closeAll([o.hostFd]);
    expect(text(c.pread(o.id, 0, 100))).toStartWith("loop test");
    expect(c.pwrite(o.id, 9, bytes(` ${i}`))).toBe(2);
    expect(fs.readFileSync(path.join(dir, "f"), "utf8")).toBe(`loop test ${i}`);
    const od = c.openAt(d.id, C.O_RDONLY);
    expect(c.getdents64(od.id, 4096).map((e) => e.name)).toEqual(["f"]);
    c.close([o.id, od.id, f.id, d.id]);
  });
  // Interleave: many round trips alternating between the channels.
  for (let i = 0; i < 300; i++) {
    c.use(transports[1 + (i % 2)] as Exclude<(typeof transports)[number], "socket">);
    expect(c.fstat(root).ino).toBe(fs.statSync(fx.mount, { bigint: true }).ino);
  }
}

/** The gofer's threads but Bun's shared pool ("Bun Pool N"), which Bun
 * starts on its own schedule (with the first Worker, in a bytecode build). */
function ownThreads(g: Gofer): number {
  const dir = `/proc/${g.pid}/task`;
  return fs.readdirSync(dir).filter((t) => !fs.readFileSync(`${dir}/${t}/comm`, "utf8").startsWith("Bun Pool")).length;
}

describe("event loop", () => {
  test("--event-loop waitv: works, and channels add no threads", async () => {
    const g = Gofer.start(fx, { flags: ["--event-loop", "waitv"], logLevel: "info" });
    g.client.mount();
    const before = ownThreads(g);
    exercise(g, "waitv");
    // The socket poller's Worker starts with the first channel (and Bun's
    // shared pool with it, not counted): one thread, not one per channel.
    const after = ownThreads(g);
    expect(after - before).toBeLessThan(2);
    expect(await g.stop()).toBe(0);
    expect(g.log()).toContain('"eventLoop":"waitv"');
  });

  test("--event-loop threads: works, with a watcher thread per channel", async () => {
    const g = Gofer.start(fx, { flags: ["--event-loop", "threads"], logLevel: "info" });
    g.client.mount();
    const before = g.tasks();
    exercise(g, "threads");
    const after = g.tasks();
    expect(after - before).toBeGreaterThanOrEqual(2);
    expect(await g.stop()).toBe(0);
    expect(g.log()).toContain('"eventLoop":"threads"');
  });

  // The Worker's code is an entry point of the executable (src/entry.ts).
  // Addressed by its source file's URL, which Bun fixes at build time, it
  // was loaded from the checkout's src/ whenever that existed (every test
  // run) and not at all on a host without one, or after runsc's chroot.
  test("the helper Workers load from the executable, not from a source tree", async () => {
    const src = path.resolve(import.meta.dir, "../src");
    // A mount namespace of the gofer's own, with an empty tmpfs over src/.
    const wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c", `mount -t tmpfs hidden '${src}' && exec "$0" "$@"`];
    for (const native of ["0", "1"]) {
      const g = Gofer.start(fx, { wrap, flags: ["--event-loop", "threads"], env: { GOFER_NATIVE_POLLER: native }, logLevel: "info" });
      const c = g.client;
      const root = c.mount().root.id;
      // A channel: its watcher Worker (and, without the native poller, the
      // socket poller's) must start for this to be answered.
      c.use(c.channel(false));
      expect(c.fstat(root).ino).toBe(fs.statSync(fx.mount, { bigint: true }).ino);
      expect(await g.stop()).toBe(0);
      expect(g.log()).toContain('"eventLoop":"threads"');
    }
  });

  test("GOFER_EVENT_LOOP=threads selects the fallback too; the flag wins over it", async () => {
    const g = Gofer.start(fx, { env: { GOFER_EVENT_LOOP: "threads" }, logLevel: "info" });
    g.client.mount();
    const before = g.tasks();
    g.client.channel();
    g.client.channel();
    expect(g.tasks() - before).toBeGreaterThanOrEqual(2);
    expect(await g.stop()).toBe(0);
    expect(g.log()).toContain('"eventLoop":"threads"');
    const g2 = Gofer.start(fx, { env: { GOFER_EVENT_LOOP: "threads" }, flags: ["--event-loop", "waitv"], logLevel: "info" });
    g2.client.mount();
    expect(await g2.stop()).toBe(0);
    expect(g2.log()).toContain('"eventLoop":"waitv"');
  });

  test("--event-loop auto picks waitv on this kernel", async () => {
    const g = Gofer.start(fx, { flags: ["--event-loop", "auto"], logLevel: "info" });
    g.client.mount();
    expect(await g.stop()).toBe(0);
    // futex_waitv exists since Linux 5.16.
    const [maj, min] = (fs.readFileSync("/proc/sys/kernel/osrelease", "utf8").match(/^(\d+)\.(\d+)/) ?? []).slice(1).map(Number);
    const expected = maj > 5 || (maj === 5 && min >= 16) ? "waitv" : "threads";
    expect(g.log()).toContain(`"eventLoop":"${expected}"`);
  });

  /** The loop's counters, from the gofer's exit log line. */
  function exitStats(g: Gofer): Record<string, number> {
    const line = g.log().split("\n").find((l) => l.includes("all clients gone"));
    expect(line).toBeDefined();
    return JSON.parse(line!).loop;
  }

  for (const mode of ["waitv", "threads"]) {
    test(`--event-loop ${mode}: a busy loop collects young garbage every 4096 wakes, on the socket and on channels`, async () => {
      const g = Gofer.start(fx, { flags: ["--event-loop", mode], logLevel: "info" });
      const c = g.client;
      const root = c.mount().root.id;
      // Before any channel the main thread polls the socket itself...
      for (let i = 0; i < 5000; i++) c.fstat(root);
      // ...then requests arrive on a channel.
      c.use(c.channel(false));
      for (let i = 0; i < 5000; i++) c.fstat(root);
      expect(await g.stop()).toBe(0);
      const stats = exitStats(g);
      const wakes = stats.socketWakes + stats.channelWakes;
      expect(wakes).toBeGreaterThanOrEqual(2 * 4096);
      // A fresh heap would otherwise grow to JSC's 32 MiB before its first
      // collection, through pages never touched (see loop.ts).
      expect(stats.busyCollections).toBe(Math.floor(wakes / 4096));
    });
  }

  for (const mode of ["waitv", "threads"]) {
    test(`--event-loop ${mode}: the idle collection comes once, half a second after the last request, not before`, async () => {
      const g = Gofer.start(fx, { flags: ["--event-loop", mode], logLevel: "info" });
      const c = g.client;
      const root = c.mount().root.id;
      c.use(c.channel(false));
      // Requests 200 ms apart for over a second: each sleep in between is a
      // timed wait whose deadline (waitv: absolute, from the clock the loop
      // carries with performance.now()) lies ahead, so none times out.
      for (let i = 0; i < 7; i++) {
        c.fstat(root);
        await Bun.sleep(200);
      }
      // Then one quiet stretch: one collection, and the next wait is untimed.
      await Bun.sleep(1300);
      c.use("socket");
      expect(await g.stop()).toBe(0);
      expect(exitStats(g).idleCollections).toBe(1);
    });
  }

  for (const mode of ["waitv", "threads"]) {
    test(`--event-loop ${mode}: an idle, mounted client with channels costs no CPU (nothing spins)`, async () => {
      const g = Gofer.start(fx, { flags: ["--event-loop", mode] });
      const root = g.client.mount().root.id;
      g.client.channel();
      g.client.channel();
      g.client.fstat(root);
      // Half a second after the last request the loop collects garbage once
      // (see loop.ts); measure after that.
      await Bun.sleep(1000);
      const t0 = cpuTicks(g.pid);
      await Bun.sleep(1000);
      // A spinning thread would burn ~100 ticks per second; allow a stray one or two.
      expect(cpuTicks(g.pid) - t0).toBeLessThanOrEqual(2);
      g.client.fstat(root);
      expect(await g.stop()).toBe(0);
    });
  }

  test("in threads mode, watcher threads are reused: channel churn adds no threads and no FDs", async () => {
    // A connection may create only MAX_CHANNELS (2-4) channels in its life
    // (as gVisor's), so the churn comes from six more connections, each
    // making one channel, using it and leaving.
    const g = Gofer.start(fx, { mounts: (f) => new Array(8).fill(f.mount), flags: ["--event-loop", "threads"] });
    const [a, b, ...churners] = g.clients;
    b.mount();
    a.mount();
    const base = ownThreads(g);
    a.channel();
    a.channel();
    expect(ownThreads(g)).toBeGreaterThanOrEqual(base + 2);
    const withTwo = ownThreads(g);
    a.disconnect();
    expectStatOf(b.fstat(1), fx.mount);
    // Let the gofer finish with A (its watchers go idle) before the others' channels.
    await g.fdsSettled();
    const fdsBefore = (await g.fdsSettled()).length;
    for (const c of churners) {
      c.mount();
      const ch = c.channel();
      c.use(ch);
      expectStatOf(c.fstat(1), fx.mount);
      c.use("socket");
      ch.close();
      c.disconnect();
      // The gofer notices the shutdown on its own schedule; a channel
      // created before that would rightly need a second watcher.
      await g.fdsSettled(100);
    }
    expect(ownThreads(g)).toBeLessThanOrEqual(withTwo);
    expect(await eventually(() => g.fds().length <= fdsBefore)).toBe(true);
    expect(await g.stop()).toBe(0);
  });

  test("in threads mode, the gofer still exits 0 after channels of an earlier connection closed", async () => {
    const codes: (number | null)[] = [];
    for (let i = 0; i < 8; i++) {
      const g = Gofer.start(fx, { mounts: (f) => [f.mount, f.mount], flags: ["--event-loop", "threads"] });
      const [a, b] = g.clients;
      b.mount();
      a.mount();
      const base = g.tasks();
      a.channel();
      a.channel();
      a.disconnect();
      // Let the gofer drop A (its watchers go idle), then let B go.
      expectStatOf(b.fstat(1), fx.mount);
      codes.push(await g.stop());
    }
    // 132/139 would be the runtime crashing on the way out.
    expect(codes).toEqual(new Array(8).fill(0));
  });
});
