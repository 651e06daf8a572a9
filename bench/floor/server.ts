// bunserver: the floor benchmark's flipcall server as a bare Bun program
// (bench/floor/README.md). It is the smallest program in our runtime that
// serves a flipcall channel: no gofer, no event loop, no Worker, just the
// serving thread sleeping in the kernel on the channel's state word, as
// gVisor's flipcall server side does.
//
// The protocol (gVisor pkg/flipcall, server side): the packet window's
// first u32 is the connection state (0: client active, 1: server active,
// 2: shut down), the second the datagram length; the datagram starts at
// byte 16. While the state is 0 the server sleeps on it (a shared futex: the
// client is another process). The first message is the client's connection
// request, answered with the JSON "{}\n"; every other one is a 16-byte
// request (u64 sequence number), answered with 16 bytes: the sequence
// number, the CPU we reply from (u32, sched_getcpu) and a u32 zero. A reply
// sets the state 1 -> 0 and FUTEX_WAKEs one waiter. State 2 ends the server.
//
//   bunserver --fd 3 --offset 0 --length 4096
//             [--wait futex|waitv] [--waitv-timeout-ms N]
//             [--work-us N] [--alloc N] [--gc-every N]
//
// --wait futex (default): FUTEX_WAIT on the state word, as flipcall does.
// --wait waitv: futex_waitv(2) on the state word plus a private "wake" word
//   nobody sets, as our gofer's main thread sleeps; with --waitv-timeout-ms
//   each wait has an absolute CLOCK_MONOTONIC deadline that far ahead, as the
//   gofer's waits have while it is busy (its idle-GC timer).
// --work-us N: N µs of busy JS (arithmetic, checking performance.now())
//   before each reply, standing in for a gofer's handler.
// --alloc N: N small objects allocated per request (a decoded request).
// --gc-every N: an asynchronous young collection (Bun.gc(false)) every N
//   requests, as the gofer's loop asks for one every 4,096 wakes while busy.
//
// Nothing is allocated per round trip otherwise: system calls go through
// libc's syscall(2) by number via bun:ffi's native trampoline (the same
// path src/ffi/libc.ts falls back to), with plain-number arguments, and every
// buffer the kernel sees is a page mapped once at start.
import { dlopen, FFIType as T, toArrayBuffer } from "bun:ffi";

const NR =
  process.arch === "arm64" ? { mmap: 222, futex: 98, futex_waitv: 449 } : { mmap: 9, futex: 202, futex_waitv: 449 };
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
const FUTEX2_SIZE_U32 = 2;
const FUTEX2_PRIVATE = 128;
const CLOCK_MONOTONIC = 1;

const opts = { fd: 3, offset: 0, length: 4096, wait: "futex", waitvTimeoutMs: 0, workUs: 0, alloc: 0, gcEvery: 0 };
{
  const argv = process.argv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === "--fd") opts.fd = Number(v);
    else if (a === "--offset") opts.offset = Number(v);
    else if (a === "--length") opts.length = Number(v);
    else if (a === "--wait") opts.wait = String(v);
    else if (a === "--waitv-timeout-ms") opts.waitvTimeoutMs = Number(v);
    else if (a === "--work-us") opts.workUs = Number(v);
    else if (a === "--alloc") opts.alloc = Number(v);
    else if (a === "--gc-every") opts.gcEvery = Number(v);
    else continue;
    i++;
  }
  if (opts.wait !== "futex" && opts.wait !== "waitv") {
    console.error(`bunserver: --wait futex|waitv, not ${opts.wait}`);
    process.exit(2);
  }
}

const libc = dlopen("libc.so.6", {
  syscall: { args: [T.i64, T.i64, T.i64, T.i64, T.i64, T.i64, T.i64], returns: T.i64_fast },
  sched_getcpu: { args: [], returns: T.i32 },
  clock_gettime: { args: [T.i32, T.ptr], returns: T.i32 },
}).symbols;
// The native trampolines: bun:ffi's wrappers allocate per call.
type Fn = (...a: number[]) => number;
const nat = (f: unknown): Fn => ((f as { native?: Fn }).native ?? f) as Fn;
const syscall = nat(libc.syscall);
const getcpu = nat(libc.sched_getcpu);
const clockGettime = nat(libc.clock_gettime);

const PROT_RW = 3;
const MAP_SHARED = 1;
const MAP_PRIVATE_ANON = 0x22;
const base = syscall(NR.mmap, 0, opts.length, PROT_RW, MAP_SHARED, opts.fd, opts.offset);
if (base < 0 || base === -1) {
  console.error("bunserver: mmap of the packet window failed");
  process.exit(1);
}
const words = new Int32Array(toArrayBuffer(base, 0, opts.length), 0, 8); // header + 16-byte datagram
const data = new Uint8Array(toArrayBuffer(base, 0, opts.length), 16, 16);

// A page of our own for what the kernel reads: futex_waitv's array (two
// 24-byte entries), the private wake word, the deadline.
const scratch = syscall(NR.mmap, 0, 4096, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
const sw = new Uint32Array(toArrayBuffer(scratch, 0, 4096));
const WAKE_WORD = 64; // byte offsets in scratch
const DEADLINE = 128;
const setEntry = (i: number, addr: number, flags: number) => {
  const o = i * 6; // 24 bytes = 6 u32s: u64 val, u64 uaddr, u32 flags, u32 reserved
  sw[o] = 0;
  sw[o + 1] = 0;
  sw[o + 2] = addr % 2 ** 32;
  sw[o + 3] = Math.floor(addr / 2 ** 32);
  sw[o + 4] = flags;
  sw[o + 5] = 0;
};
setEntry(0, base, FUTEX2_SIZE_U32); // shared: sleep while the client is active
setEntry(1, scratch + WAKE_WORD, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE);
const deadlineMs = opts.waitvTimeoutMs;
const deadlineArg = deadlineMs > 0 ? scratch + DEADLINE : 0;
const dl = DEADLINE / 4;

function setDeadline(): void {
  clockGettime(CLOCK_MONOTONIC, scratch + DEADLINE);
  // tv_sec (i64) at dl, dl+1; tv_nsec at dl+2, dl+3. Seconds stay below 2^32.
  let ns = sw[dl + 2] + (deadlineMs % 1000) * 1e6;
  let s = sw[dl] + Math.floor(deadlineMs / 1000);
  if (ns >= 1e9) {
    ns -= 1e9;
    s++;
  }
  sw[dl] = s;
  sw[dl + 2] = ns;
}

/** Sleeps until the state word may have left 0 (client active). */
const sleep: () => void =
  opts.wait === "waitv"
    ? () => {
        if (deadlineArg !== 0) setDeadline();
        syscall(NR.futex_waitv, scratch, 2, 0, deadlineArg, CLOCK_MONOTONIC, 0);
      }
    : () => {
        syscall(NR.futex, base, FUTEX_WAIT, 0, 0, 0, 0);
      };

let sink = 0;
/** ~us µs of busy JS: an LCG, looking at the clock every 32 steps. */
function work(us: number): void {
  const end = performance.now() + us / 1000;
  let x = sink;
  do {
    for (let k = 0; k < 32; k++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  } while (performance.now() < end);
  sink = x;
}

const kept: unknown[] = new Array(64).fill(null);
let allocs = 0;
function allocate(n: number, seq: number): void {
  for (let k = 0; k < n; k++) kept[allocs++ & 63] = { seq, k, at: allocs };
}

const heapCheck = process.env.FLOOR_HEAPSTATS === "1";
let heap0: Record<string, number> = {};
function heapCounts(): Record<string, number> {
  Bun.gc(true);
  return require("bun:jsc").heapStats().objectTypeCounts;
}

function serve(): number {
  let connected = false;
  let requests = 0;
  for (;;) {
    let s = Atomics.load(words, 0);
    while (s === 0) {
      sleep();
      s = Atomics.load(words, 0);
    }
    if (s !== 1) return s === 2 ? 0 : 1;
    let n: number;
    if (!connected) {
      data[0] = 0x7b; // {
      data[1] = 0x7d; // }
      data[2] = 0x0a;
      n = 3;
      connected = true;
      if (heapCheck) heap0 = heapCounts();
    } else {
      if (words[1] !== 16) return 1;
      const lo = words[4];
      const hi = words[5];
      if (opts.alloc > 0) allocate(opts.alloc, lo);
      if (opts.workUs > 0) work(opts.workUs);
      if (opts.gcEvery > 0 && ++requests % opts.gcEvery === 0) Bun.gc(false);
      words[4] = lo;
      words[5] = hi;
      words[6] = getcpu();
      words[7] = 0;
      n = 16;
    }
    words[1] = n;
    if (Atomics.compareExchange(words, 0, 1, 0) !== 1) return Atomics.load(words, 0) === 2 ? 0 : 1;
    syscall(NR.futex, base, FUTEX_WAKE, 1, 0, 0, 0);
  }
}

const rc = serve();
if (heapCheck) {
  // What the serving loop left on the heap: the cell types whose count grew.
  const h1 = heapCounts();
  const grew = Object.entries(h1).filter(([k, v]) => v > (heap0[k] ?? 0)).map(([k, v]) => `${k} +${v - (heap0[k] ?? 0)}`);
  console.error(`bunserver: heap growth over the run: ${grew.join(", ") || "none"}`);
}
process.exit(rc);
