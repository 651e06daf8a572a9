// The release executables as built (docs/shipping.md): each cross-built
// file's ELF header names its machine and dynamic loader, and the arm64 one
// runs under qemu-user (Debian's qemu-user-static with libc6-arm64-cross as
// its sysroot) serving a real client over a socketpair, with and without
// flipcall channels. The musl builds cannot be started here (no musl
// libstdc++/libgcc_s in Debian): their headers are what is checked.
import { beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { bytesOf } from "./lib/client";
import { ensureBuilt, eventually, GOFER, Gofer, REPO, useFixture } from "./lib/fixture";
import { TRANSPORTS } from "./lib/session";

const QEMU = "qemu-aarch64-static";
/** Where qemu finds the aarch64 loader and glibc (Debian's libc6-arm64-cross). */
const SYSROOT = "/usr/aarch64-linux-gnu";
const ARM64 = `${GOFER}-linux-arm64`;
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;
/** A qemu-emulated start takes seconds (JIT-less JSC start-up translated
 * instruction by instruction); only waits use this, nothing asserts speed. */
const START_MS = 60_000;

const EM_X86_64 = 62;
const EM_AARCH64 = 183;
const PT_INTERP = 3;

/** e_machine and the PT_INTERP path of a 64-bit little-endian ELF file. */
function elfInfo(file: string): { machine: number; interp: string } {
  const fd = fs.openSync(file, "r");
  try {
    const hdr = Buffer.alloc(64);
    fs.readSync(fd, hdr, 0, 64, 0);
    if (hdr.readUInt32BE(0) !== 0x7f454c46 || hdr[4] !== 2 || hdr[5] !== 1) throw new Error(`${file}: not a 64-bit LE ELF`);
    const phoff = Number(hdr.readBigUInt64LE(32));
    const phentsize = hdr.readUInt16LE(54);
    const phnum = hdr.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    fs.readSync(fd, ph, 0, ph.length, phoff);
    let interp = "";
    for (let i = 0; i < phnum; i++) {
      const p = ph.subarray(i * phentsize);
      if (p.readUInt32LE(0) !== PT_INTERP) continue;
      const off = Number(p.readBigUInt64LE(8));
      const size = Number(p.readBigUInt64LE(32));
      const b = Buffer.alloc(size);
      fs.readSync(fd, b, 0, size, off);
      interp = b.toString("latin1").replace(/\0+$/, "");
    }
    return { machine: hdr.readUInt16LE(18), interp };
  } finally {
    fs.closeSync(fd);
  }
}

/** The shared libraries a file needs (readelf -d), for the musl builds'
 * dependency on a musl libstdc++ and libgcc_s. */
function needed(file: string): string[] {
  const r = spawnSync("readelf", ["-d", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`readelf -d ${file}: ${r.stderr}`);
  return [...r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}

const fx = useFixture();
beforeAll(() => {
  ensureBuilt(["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"]);
  if (spawnSync(QEMU, ["--version"]).status !== 0 || !fs.existsSync(`${SYSROOT}/lib/ld-linux-aarch64.so.1`))
    throw new Error(`${QEMU} or ${SYSROOT} is missing: apt-get install qemu-user-static libc6-arm64-cross (scripts/test.sh does)`);
});

describe("release executables' ELF headers", () => {
  const cases: [string, number, string][] = [
    ["linux-x64", EM_X86_64, "/lib64/ld-linux-x86-64.so.2"],
    ["linux-arm64", EM_AARCH64, "/lib/ld-linux-aarch64.so.1"],
    ["linux-x64-musl", EM_X86_64, "/lib/ld-musl-x86_64.so.1"],
    ["linux-arm64-musl", EM_AARCH64, "/lib/ld-musl-aarch64.so.1"],
  ];
  for (const [target, machine, interp] of cases)
    test(`${target}: machine ${machine}, loader ${interp}`, () => {
      expect(elfInfo(`${GOFER}-${target}`)).toEqual({ machine, interp });
    });
  test("the musl builds need libstdc++.so.6 and libgcc_s.so.1 beside musl", () => {
    for (const t of ["linux-x64-musl", "linux-arm64-musl"])
      expect(needed(`${GOFER}-${t}`)).toEqual(expect.arrayContaining(["libstdc++.so.6", "libgcc_s.so.1"]));
  });
});

describe("dist/gofer-linux-arm64 under qemu-aarch64", () => {
  const wrap = [QEMU, "-L", SYSROOT];

  test("--version", () => {
    const r = spawnSync(QEMU, ["-L", SYSROOT, ARM64, "--version"], { encoding: "utf8", timeout: START_MS });
    expect({ status: r.status, out: r.stdout.trim() }).toEqual({ status: 0, out: VERSION });
  });

  for (const transport of TRANSPORTS)
    test(`mount, walk, read, write, list (${transport})`, async () => {
      const dir = path.join(fx.mount, `arm64-${transport}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, "greeting"), "hello from the host\n");
      fs.mkdirSync(path.join(dir, "sub"));
      // Mount is the first request: wait until the emulated gofer serves, so
      // the client's per-reply deadline measures a reply, not qemu's start.
      const g = Gofer.start(fx, { wrap, gofer: ARM64, logLevel: "info" });
      try {
        expect(await eventually(() => g.log().includes('"msg":"gofer serving"'), START_MS)).toBe(true);
        const c = g.client;
        const root = c.mount().root;
        if (transport === "channel") c.channel();
        const d = c.walkTo(root.id, `arm64-${transport}`);
        // A two-name walk in one request ends at a directory.
        expect(c.walk(root.id, [`arm64-${transport}`, "sub"]).inodes.length).toBe(2);
        // Read what the host wrote.
        const greeting = c.walkTo(d.id, "greeting");
        const ro = c.openAt(greeting.id, C.O_RDONLY);
        expect(Buffer.from(c.pread(ro.id, 0, 100)).toString()).toBe("hello from the host\n");
        // Create and write a file; the host sees the bytes.
        const made = c.openCreateAt(d.id, "written", C.O_RDWR, { mode: 0o644 });
        expect(c.pwrite(made.id, 0, bytesOf("written on arm64\n"))).toBe(17);
        c.fsync([made.id]);
        expect(fs.readFileSync(path.join(dir, "written"), "utf8")).toBe("written on arm64\n");
        expect(c.fstat(made.child.id).size).toBe(17n);
        // A directory made by the client shows on the host and in a listing.
        c.mkdirAt(d.id, "made-by-client", { mode: 0o755 });
        expect(fs.statSync(path.join(dir, "made-by-client")).isDirectory()).toBe(true);
        const listing = c.getdents64(c.openAt(d.id, C.O_RDONLY).id, 4096).map((e) => e.name);
        expect(listing.filter((n) => n !== "." && n !== "..").sort()).toEqual(["greeting", "made-by-client", "sub", "written"]);
        // It really was the aarch64 build serving: qemu is the process image.
        expect(fs.readlinkSync(`/proc/${g.pid}/exe`)).toMatch(/qemu-aarch64/);
        if (transport === "channel") expect(c.viaChannel ? c.channels.length : -1).toBe(1);
      } finally {
        expect(await g.stop()).toBe(0);
      }
    });

  // libc.sigaction is rt_sigaction itself: on arm64 with no restorer of
  // ours, the kernel returns from the handler through its vDSO. A handler
  // that did not return would end the gofer.
  test("a caught signal (SIGUSR1 with --metrics) is handled and the gofer serves on", async () => {
    const sock = path.join(fx.logs, "arm64-metrics.sock");
    const g = Gofer.start(fx, { wrap, gofer: ARM64, logLevel: "info", flags: ["--metrics", `unix:${sock}`] });
    try {
      expect(await eventually(() => g.log().includes('"msg":"gofer serving"'), START_MS)).toBe(true);
      const c = g.client;
      const root = c.mount().root;
      c.channel();
      c.fstat(root.id);
      for (let i = 1; i <= 2; i++) {
        process.kill(g.pid, "SIGUSR1");
        const records = () => g.log().split("\n").filter((x) => x.includes('"msg":"metrics"')).length;
        expect(await eventually(() => records() === i, START_MS)).toBe(true);
        expect(c.fstat(root.id).ino).toBe(root.stat.ino);
      }
    } finally {
      expect(await g.stop()).toBe(0);
    }
  });
});
