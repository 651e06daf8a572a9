// Child process for tests/threadcaps.test.ts: starts threads (a Worker, JSC
// warmed up), applies the gofer's capabilities in place, starts another
// Worker, and prints one JSON line with every thread's capability sets
// before and after. argv: "all" | "self" (only the calling thread) |
// "block64" | "blockrt" | "blockrt-brief", then optionally "uds".
import * as C from "../../src/ffi/constants";
import * as libc from "../../src/ffi/libc";
import { goferCaps } from "../../src/runsc/privileges";
import { applyCapsToAllThreads, taskStatus } from "../../src/runsc/threadcaps";

const mode = process.argv[2] ?? "all";
const udsOpen = process.argv.includes("uds");
// --signal=N: use signal N rather than pick one (under qemu-user, see threadcaps.test.ts).
const forced = process.argv.find((a) => a.startsWith("--signal="));
const signal = forced ? Number(forced.slice("--signal=".length)) : undefined;
const KEYS = ["Name", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "SigBlk"];

// The worker answers n with n + 1. Sent {sab, block}, it blocks those
// signals on its thread, says so, and sleeps in a futex wait (no temporary
// signal mask, unlike its idle epoll_pwait) until woken through the sab.
const workerSrc = `import { dlopen, FFIType } from "bun:ffi";
self.onmessage = (e) => {
  if (typeof e.data === "number") return postMessage(e.data + 1);
  const { pthread_sigmask } = dlopen("libc.so.6", { pthread_sigmask: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 } }).symbols;
  const set = new BigUint64Array(16);
  for (const s of e.data.block) set[0] |= 1n << BigInt(s - 1);
  if (pthread_sigmask(0 /* SIG_BLOCK */, set, null) !== 0) throw new Error("pthread_sigmask");
  postMessage(-1);
  const word = new Int32Array(e.data.sab);
  if (e.data.unblockAfterMs) {
    Atomics.wait(word, 0, 0, e.data.unblockAfterMs);
    if (pthread_sigmask(1 /* SIG_UNBLOCK */, set, null) !== 0) throw new Error("pthread_sigmask");
  }
  Atomics.wait(word, 0, 0, 10000);
};`;
// "block64" / "blockrt": while the change is made, the first worker's
// thread blocks signal 64 / every real-time signal glibc leaves to
// applications (35-64); "blockrt-brief": every real-time signal for 100 ms
// only, as a thread being created has them all blocked for an instant.
const block = mode === "block64" ? [64] : mode.startsWith("blockrt") ? Array.from({ length: 30 }, (_, i) => 35 + i) : [];
const unblockAfterMs = mode === "blockrt-brief" ? 100 : 0;
const startWorker = () => new Worker(URL.createObjectURL(new Blob([workerSrc])));
const ask = (w: Worker, n: unknown) =>
  new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("worker did not answer")), 5000);
    w.onmessage = (e) => {
      clearTimeout(t);
      resolve(e.data as number);
    };
    w.postMessage(n);
  });

function snapshot(fd: number) {
  const out: Record<string, Record<string, string>> = {};
  const dir = require("node:fs").readdirSync("/proc/self/task") as string[];
  for (const t of dir) {
    const s = taskStatus(fd, Number(t));
    if (s) out[t] = Object.fromEntries(KEYS.map((k) => [k, s[k]]));
  }
  return out;
}

const taskFd = libc.openat(C.AT_FDCWD, "/proc/self/task", C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC);
if (taskFd < 0) throw new Error(`open /proc/self/task: ${taskFd}`);

const w1 = startWorker();
const a1 = await ask(w1, 1);
// Warm JSC so its JIT and GC helper threads exist.
let x = 0;
for (let i = 0; i < 2e6; i++) x += Math.sqrt(i) * (i & 7);
Bun.gc(true);
await Bun.sleep(20);

const sab = new SharedArrayBuffer(4);
if (block.length) {
  await ask(w1, { sab, block, unblockAfterMs } as unknown as number);
  await Bun.sleep(50); // into its futex wait
}
const before = snapshot(taskFd);
const t0 = performance.now();
let report: unknown = null;
let error: string | null = null;
try {
  report = applyCapsToAllThreads(goferCaps(true, udsOpen), taskFd, { onlyCallingThread: mode === "self", verify: mode !== "self", signal });
} catch (e) {
  error = String(e);
}
const ms = performance.now() - t0;
Atomics.store(new Int32Array(sab), 0, 1);
Atomics.notify(new Int32Array(sab), 0);

// A thread started after the change, and the first worker still answering.
const w2 = startWorker();
const a2 = await ask(w2, 10);
const a1again = await ask(w1, 100);
for (let i = 0; i < 2e6; i++) x += Math.sqrt(i) * (i & 3);
Bun.gc(true);
const after = snapshot(taskFd);

console.log(
  JSON.stringify({
    mainTid: libc.gettid(),
    ms,
    error,
    report,
    answers: [a1, a2, a1again],
    before,
    after,
    x: x > 0,
  }, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)),
);
w1.terminate();
w2.terminate();
process.exit(0);
