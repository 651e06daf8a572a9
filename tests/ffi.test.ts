// Memory we hand to the kernel by address. A small typed array created with
// `new Uint8Array(n)` lives in JSC's GC heap and moves when its `.buffer` is
// first touched; a kept address then points at freed memory that the next
// small array reuses (seen: a cached address of "" later held a socketpair's
// FDs, and every statx(fd, "", AT_EMPTY_PATH) became a lookup of garbage).
// Buffers whose address outlives one call must come from libc.pinnedBytes.
import { describe, expect, test } from "bun:test";
import { ptr, read } from "bun:ffi";
import * as fs from "node:fs";
import * as path from "node:path";
import * as libc from "../src/ffi/libc";

describe("pinned memory", () => {
  test("a plain small typed array moves when its buffer is touched; pinnedBytes does not", () => {
    const plain = new Uint8Array(16);
    const before = ptr(plain);
    void plain.buffer;
    // The hazard this module guards against, so that the next check means something.
    expect(ptr(plain)).not.toBe(before);

    const pinned = libc.pinnedBytes(16);
    const at = libc.addr(pinned);
    void pinned.buffer;
    new DataView(pinned.buffer).setUint8(3, 0xab);
    for (let i = 0; i < 20_000; i++) new Uint8Array(16).buffer;
    Bun.gc(true);
    expect(libc.addr(pinned)).toBe(at);
    expect(read.u8(at, 3)).toBe(0xab);
  });

  test("the empty name stays a NUL byte through churn of small arrays and socketpairs", () => {
    for (let i = 0; i < 2_000; i++) {
      const pair = libc.socketpair(1 /* AF_UNIX */, 1 /* SOCK_STREAM */ | 0o2000000 /* SOCK_CLOEXEC */, 0);
      if (typeof pair === "number") throw new Error(`socketpair: errno ${-pair}`);
      libc.close(pair[0]);
      libc.close(pair[1]);
      void new Uint8Array(1).buffer;
    }
    Bun.gc(true);
    expect(read.u8(libc.EMPTY, 0)).toBe(0);
  });

  test("scratchBytes: a mapping of its own, zero, writable, resident only where written", () => {
    const n = 1 << 20;
    const b = libc.scratchBytes(n);
    expect(b.byteLength).toBe(n);
    const at = libc.addr(b);
    expect(at % 4096).toBe(0);
    // Resident KiB of the mapping holding it (the kernel may merge it with a
    // neighbour of the same kind, so: the one whose range holds `at`).
    const rssOf = () => {
      const lines = fs.readFileSync("/proc/self/smaps", "utf8").split("\n");
      const i = lines.findIndex((l) => {
        const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(l);
        return m !== null && parseInt(m[1], 16) <= at && at < parseInt(m[2], 16);
      });
      expect(i).toBeGreaterThanOrEqual(0);
      return Number(/Rss:\s+(\d+)/.exec(lines.slice(i + 1, i + 8).join("\n"))![1]);
    };
    const before = rssOf();
    expect(b[1] + b[n - 2]).toBe(0);
    b[0] = 1;
    b[n - 1] = 2;
    // Written at its two ends: two pages resident, no more.
    expect(rssOf() - before).toBe(8);
    expect(read.u8(at, n - 1)).toBe(2);
  });

  test("every address kept in a module variable is of pinned (or shared, or mapped) memory", () => {
    // Static check over src/: `const xAddr = libc.addr(buf)` (or addr(buf),
    // or a .map of them) must name a buffer made by pinnedBytes or
    // scratchBytes, or a view of one, of a SharedArrayBuffer, or of a
    // mapping (toArrayBuffer).
    const root = path.join(import.meta.dir, "..", "src");
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith(".ts")) files.push(p);
      }
    };
    walk(root);
    const bad: string[] = [];
    let kept = 0;
    for (const f of files) {
      const src = fs.readFileSync(f, "utf8");
      for (const m of src.matchAll(/^\s*(?:export )?const \w+ = (?:libc\.)?addr\((\w+)\);|^\s*const \w+ = (\w+)\.map\(\(\w+\) => addr\(\w+\)\);/gm)) {
        const buf = m[1] ?? m[2];
        kept++;
        const decl = src.match(new RegExp(`(?:const|let) ${buf} = ([^;]+);`));
        const made = decl?.[1] ?? "";
        if (!/pinnedBytes\(|scratchBytes\(|SharedArrayBuffer|toArrayBuffer/.test(made)) bad.push(`${path.relative(root, f)}: ${buf} = ${made || "?"}`);
      }
    }
    // The scan found the kept addresses at all (it would pass vacuously otherwise).
    expect(kept).toBeGreaterThanOrEqual(10);
    expect(bad).toEqual([]);
  });
});

// libc calls go straight to bun:ffi's native trampolines (libc.ts `direct`),
// which read 32-bit arguments as int32 values and 64-bit ones as numbers or
// BigInts: every kind of argument must still arrive with the right bits.
describe("libc arguments", () => {
  const os = require("node:os") as typeof import("node:os");
  const C = require("../src/ffi/constants") as typeof import("../src/ffi/constants");

  test("64-bit offsets above 2^32 (numbers and BigInts) reach the kernel intact", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-ffi-"));
    try {
      const file = path.join(dir, "sparse");
      const fd = libc.openat(C.AT_FDCWD, file, C.O_RDWR | C.O_CREAT | C.O_CLOEXEC, 0o600);
      expect(fd).toBeGreaterThanOrEqual(0);
      const far = 5 * 2 ** 32 + 3; // 20 GiB and a bit: a sparse file
      const buf = libc.pinnedBytes(4);
      buf.set([1, 2, 3, 4]);
      expect(libc.pwrite(fd, libc.addr(buf), 4, far)).toBe(4);
      expect(fs.statSync(file).size).toBe(far + 4);
      buf.fill(0);
      expect(libc.pread(fd, libc.addr(buf), 4, BigInt(far))).toBe(4);
      expect([...buf]).toEqual([1, 2, 3, 4]);
      expect(libc.lseek(fd, BigInt(2 ** 40), 0)).toBe(2 ** 40);
      expect(libc.ftruncate(fd, 2 ** 33)).toBe(0);
      expect(fs.statSync(file).size).toBe(2 ** 33);
      libc.close(fd);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a u32 above 2^31 keeps its bits: fchownat with uid and gid 0xFFFFFFFF changes nothing", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-ffi-"));
    try {
      const before = fs.statSync(dir);
      const fd = libc.openat(C.AT_FDCWD, dir, C.O_PATH | C.O_CLOEXEC);
      // (uid_t)-1 means "leave it": any other bits would chown the directory.
      expect(libc.fchownat(fd, "", 0xffffffff, 0xffffffff, C.AT_EMPTY_PATH)).toBe(0);
      const after = fs.statSync(dir);
      expect([after.uid, after.gid]).toEqual([before.uid, before.gid]);
      libc.close(fd);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a libc call allocates nothing (bun:ffi's own wrapper made objects per argument)", () => {
    const { heapStats } = require("bun:jsc") as typeof import("bun:jsc");
    const buf = libc.pinnedBytes(8);
    const call = () => libc.pread(-1, libc.addr(buf), 8, 2 ** 33);
    for (let i = 0; i < 2000; i++) call();
    const count = () => {
      const t = heapStats().objectTypeCounts as Record<string, number>;
      return (t.Function ?? 0) + (t.BigInt ?? 0);
    };
    const before = count();
    for (let i = 0; i < 10_000; i++) call();
    // bun:ffi's wrapper: 4 functions and 2 BigInts a call here, 60,000.
    expect(count() - before).toBeLessThan(500);
  });
});

describe("system calls", () => {
  // libc's syscall(2) leaves a failure in errno, which JS then reads: anything
  // that runs on the thread in between and sets errno changes the answer. The
  // gofer makes the system call itself (a few bytes of machine code) and gets
  // the kernel's -errno back in the result.
  test(`the system call instruction itself on ${process.arch}, errno untouched`, () => {
    expect(libc.syscallPath).toBe(process.arch === "x64" || process.arch === "arm64" ? "raw" : "libc");
    // A value in errno that the next failure must not be read from.
    expect(libc.close(-1)).toBe(-9); // EBADF
    const before = libc.errno();
    expect(libc.renameat2(-100, "/nonexistent-a", -100, "/nonexistent-b", 0x80000000)).toBe(-22); // EINVAL
    expect(libc.eventfd(0, -1)).toBe(-22);
    // Nothing went through errno on the raw path: it still says what it said.
    if (libc.syscallPath === "raw") expect(libc.errno()).toBe(before);
  });

  // sigaction goes to rt_sigaction itself on the raw path (no libc
  // trampoline), with the kernel's struct and, on x86-64, our own
  // rt_sigreturn restorer: a handler must return through it, and an action
  // read back must be the one set, in both paths.
  const sigactionScript = `
    const libc = require(${JSON.stringify(path.resolve(import.meta.dir, "../src/ffi/libc.ts"))});
    const { catchSignal } = require(${JSON.stringify(path.resolve(import.meta.dir, "../src/observe/signal.ts"))});
    const SIGUSR2 = 12, SIG_IGN = 1n;
    const act = libc.pinnedBytes(152), old = libc.pinnedBytes(152);
    const view = (b) => new DataView(b.buffer);
    const out = [libc.syscallPath];
    view(act).setBigUint64(0, SIG_IGN, true);
    view(act).setBigUint64(8, 1n << 9n, true); // SIGUSR1 in the mask
    out.push(libc.sigaction(SIGUSR2, libc.addr(act), 0));
    out.push(libc.sigaction(SIGUSR2, 0, libc.addr(old)));
    out.push(view(old).getBigUint64(0, true) === SIG_IGN, view(old).getBigUint64(8, true) === 1n << 9n);
    const flag = catchSignal(SIGUSR2);
    let seen = 0;
    for (let i = 0; i < 3; i++) {
      libc.syscall(${process.arch === "arm64" ? 131 : 234} /* tgkill */, process.pid, libc.gettid(), SIGUSR2);
      if (flag.take()) seen++;
    }
    out.push(seen);
    console.log(JSON.stringify(out));`;
  for (const env of [{}, { GOFER_RAW_SYSCALL: "0" }]) {
    test(`sigaction: an action reads back as set, and a handler returns (${env.GOFER_RAW_SYSCALL === "0" ? "libc's" : "rt_sigaction and our restorer"})`, () => {
      const r = Bun.spawnSync([process.execPath, "-e", sigactionScript], { env: { ...process.env, ...env } });
      expect(r.stderr.toString()).toBe("");
      expect(r.exitCode).toBe(0);
      const path = env.GOFER_RAW_SYSCALL === "0" ? "libc" : "raw";
      expect(JSON.parse(r.stdout.toString())).toEqual([path, 0, 0, true, true, 3]);
    });
  }

  test("the fallback through libc's syscall(2) and errno gives the same answers (GOFER_RAW_SYSCALL=0)", () => {
    const script = `
      const libc = require(${JSON.stringify(path.resolve(import.meta.dir, "../src/ffi/libc.ts"))});
      console.log(JSON.stringify([libc.syscallPath, libc.close(-1), libc.renameat2(-100, "/nonexistent-a", -100, "/nonexistent-b", 0x80000000), libc.getpid() === process.pid]));`;
    const r = Bun.spawnSync([process.execPath, "-e", script], { env: { ...process.env, GOFER_RAW_SYSCALL: "0" } });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toEqual(["libc", -9, -22, true]);
  });
});
