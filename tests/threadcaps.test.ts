// The in-place capability drop (src/runsc/threadcaps.ts): a child Bun
// process with threads of its own (JSC's, Bun's, a Worker) applies runsc's
// gofer capabilities, starts another Worker, and reports every thread's
// sets from /proc. Each thread must hold exactly the gofer's sets; with the
// broadcast turned off the same check must find privileged threads.
import { afterAll, describe, expect, test } from "bun:test";
import * as path from "node:path";

const BUN = process.execPath;
const CHILD = path.join(import.meta.dir, "lib", "threadcaps-child.ts");

type Task = Record<"Name" | "CapInh" | "CapPrm" | "CapEff" | "CapBnd" | "CapAmb" | "SigBlk", string>;
interface Result {
  mainTid: number;
  ms: number;
  error: string | null;
  report: { signal: number; threads: number; passes: number } | null;
  answers: number[];
  before: Record<string, Task>;
  after: Record<string, Task>;
}

function run(...args: string[]): Result {
  const p = Bun.spawnSync([BUN, CHILD, ...args], { stdout: "pipe", stderr: "pipe", timeout: 30000 });
  if (p.exitCode !== 0) throw new Error(`child exited ${p.exitCode}: ${p.stderr.toString()}`);
  return JSON.parse(p.stdout.toString().trim().split("\n").pop()!) as Result;
}

// Computed here from the cap numbers (runsc/cmd/gofer.go), not from the module.
const hex = (caps: number[]) => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n).toString(16).padStart(16, "0");
const GOFER = [0, 1, 2, 3, 4, 18]; // CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID SYS_CHROOT
const UDS = [...GOFER, 6, 7]; // + SETGID SETUID
const expectedGofer = { CapBnd: hex(GOFER), CapEff: hex(GOFER), CapPrm: hex(GOFER), CapInh: hex(GOFER), CapAmb: hex(GOFER) };
const expectedUds = { CapBnd: hex(UDS), CapEff: hex(UDS), CapPrm: hex(UDS), CapInh: hex(GOFER), CapAmb: hex(GOFER) };

/** Threads whose sets differ from `want`, as "tid name: field value". */
function offenders(tasks: Record<string, Task>, want: Record<string, string>): string[] {
  const bad: string[] = [];
  for (const [tid, t] of Object.entries(tasks))
    for (const [k, v] of Object.entries(want)) if (t[k as keyof Task] !== v) bad.push(`${tid} ${t.Name}: ${k} ${t[k as keyof Task]} want ${v}`);
  return bad;
}

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot || process.arch !== "x64")("capabilities applied in place on every thread", () => {
  test("every thread, including ones started before and after, holds exactly the gofer's sets", () => {
    const r = run("all");
    expect(r.error).toBeNull();
    // Before: threads other than ours held far more (so the check can fail).
    const others = Object.entries(r.before).filter(([tid]) => Number(tid) !== r.mainTid);
    expect(others.length).toBeGreaterThanOrEqual(3);
    const full = r.before[String(r.mainTid)].CapEff;
    expect(BigInt(`0x${full}`) & ~BigInt(`0x${expectedGofer.CapEff}`)).not.toBe(0n);
    expect(others.some(([, t]) => t.CapEff === full && t.CapBnd === full)).toBe(true);
    expect(offenders(r.before, expectedGofer).length).toBeGreaterThan(0);
    // After: all of them, and the Worker started afterwards, hold the gofer's.
    expect(offenders(r.after, expectedGofer)).toEqual([]);
    const started = Object.keys(r.after).filter((tid) => !(tid in r.before));
    expect(started.length).toBeGreaterThanOrEqual(1);
    expect(r.report!.threads).toBeGreaterThanOrEqual(others.length + 1);
    // Threads still work: the old Worker answers after the change, the new one too.
    expect(r.answers).toEqual([2, 11, 101]);
    console.log(`applyCapsToAllThreads: ${r.ms.toFixed(2)} ms, ${r.report!.threads} threads, ${r.report!.passes} passes, signal ${r.report!.signal}`);
  });

  test("with host UDS open: SETUID and SETGID kept in bounding, effective, permitted only", () => {
    const r = run("all", "uds");
    expect(r.error).toBeNull();
    expect(offenders(r.after, expectedUds)).toEqual([]);
    expect(r.answers).toEqual([2, 11, 101]);
  });

  test("negative control: the calling thread alone leaves the other threads privileged, and the check sees it", () => {
    const r = run("self");
    expect(r.error).toBeNull();
    expect(offenders({ [r.mainTid]: r.after[String(r.mainTid)] }, expectedGofer)).toEqual([]);
    const bad = offenders(r.after, expectedGofer);
    const badTids = new Set(bad.map((b) => b.split(" ")[0]));
    const preexisting = Object.keys(r.before).filter((tid) => Number(tid) !== r.mainTid && tid in r.after);
    for (const tid of preexisting) expect(badTids.has(tid)).toBe(true);
  });

  test("a thread blocking the highest real-time signal: another is chosen", () => {
    const r = run("block64");
    expect(r.error).toBeNull();
    expect(r.report!.signal).toBeLessThan(64);
    expect(Object.values(r.before).some((t) => t.SigBlk === "8000000000000000")).toBe(true);
    expect(offenders(r.after, expectedGofer)).toEqual([]);
    expect(r.answers).toEqual([2, 11, 101]);
  });

  test("a thread blocking every real-time signal for a moment (as one being created does): the pick waits for it", () => {
    const r = run("blockrt-brief");
    expect(r.error).toBeNull();
    expect(Object.values(r.before).some((t) => t.SigBlk === "fffffffc00000000")).toBe(true);
    expect(r.report!.signal).toBeGreaterThanOrEqual(35);
    expect(offenders(r.after, expectedGofer)).toEqual([]);
    expect(r.answers).toEqual([2, 11, 101]);
  });

  test("a thread blocking every real-time signal: a clear error, nothing changed", () => {
    const r = run("blockrt");
    expect(r.error).toContain("no free real-time signal");
    const full = r.before[String(r.mainTid)].CapEff;
    for (const t of Object.values(r.after)) expect(t.CapEff).toBe(full);
  });
});

// The AArch64 handler, compiled for arm64 and run under qemu-aarch64. qemu's
// own helper threads block every signal (so no signal looks free, and they
// would never answer one): the child forces signal 40 and applies to the
// calling thread only. That checks the handler's instructions and system
// calls on arm64; the broadcast around it is the same TS as on x86-64.
describe.skipIf(!isRoot)("arm64 handler under qemu-aarch64, calling thread", () => {
  let exe = "";
  const runArm64 = (...args: string[]): Result => {
    if (!exe) {
      exe = path.join(require("node:os").tmpdir(), `gofer-threadcaps-child-arm64-${process.pid}`);
      const b = Bun.spawnSync([BUN, "build", "--compile", "--target=bun-linux-arm64", CHILD, "--outfile", exe], { stderr: "pipe" });
      if (b.exitCode !== 0) throw new Error(`building the arm64 child: ${b.stderr.toString()}`);
    }
    const p = Bun.spawnSync(["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", exe, ...args], { stdout: "pipe", stderr: "pipe", timeout: 90000 });
    if (p.exitCode !== 0) throw new Error(`arm64 child exited ${p.exitCode}: ${p.stderr.toString()}`);
    return JSON.parse(p.stdout.toString().trim().split("\n").pop()!) as Result;
  };
  afterAll(() => {
    if (exe) require("node:fs").rmSync(exe, { force: true });
  });

  // One run (~20 s emulated): host UDS open, so every step has work to do
  // (bounding drop, capset with inheritable narrower than permitted, ambient
  // clear and raise).
  for (const [name, args, want] of [["with host UDS open", ["uds"], expectedUds]] as const)
    test(name, () => {
      const r = runArm64("self", ...args, "--signal=40");
      expect(r.error).toBeNull();
      expect(r.report!.threads).toBe(1);
      expect(offenders({ [r.mainTid]: r.after[String(r.mainTid)] }, want)).toEqual([]);
      // The threads that existed before still hold everything: it was the handler, on this thread.
      const full = r.before[String(r.mainTid)].CapEff;
      const preexisting = Object.keys(r.before).filter((tid) => Number(tid) !== r.mainTid && tid in r.after);
      expect(preexisting.length).toBeGreaterThanOrEqual(3);
      for (const tid of preexisting) expect(r.after[tid].CapEff).toBe(full);
      expect(r.answers).toEqual([2, 11, 101]);
    }, 180_000);
});
