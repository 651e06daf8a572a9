// Assertions shared by the test files: lisafs and 9P results against the host.
import { expect } from "bun:test";
import * as fs from "node:fs";
import * as C from "../../src/ffi/constants";
import * as libc from "../../src/ffi/libc";
import { QidType } from "../../src/p9/message";
import { errnoOf, waitFd, type Stat } from "./client";
import { devMajor, devMinor } from "./fixture";

/** A Stat from the server describes the host file at p (not following a
 * final symlink). Atime is not compared: reading a file may update it. */
export function expectStatOf(s: Stat, p: string, gen: "20240729" | "today" | "any" = "20240729"): void {
  const st = fs.lstatSync(p, { bigint: true });
  if (gen === "any") gen = s.mask === C.STATX_BASIC_STATS ? "20240729" : "today";
  if (gen === "today") {
    // Today's gofer reports a statx: the kernel's mask (basic stats, btime,
    // and whatever else it sets, e.g. STATX_MNT_ID) and the birth time.
    expect(s.mask & (C.STATX_BASIC_STATS | C.STATX_BTIME)).toBe(C.STATX_BASIC_STATS | C.STATX_BTIME);
    expect(s.btime.sec * 1_000_000_000n + BigInt(s.btime.nsec)).toBe(st.birthtimeNs);
  } else expect(s.mask).toBe(C.STATX_BASIC_STATS);
  expect(s.ino).toBe(st.ino);
  expect(s.mode).toBe(Number(st.mode));
  expect(BigInt(s.nlink)).toBe(st.nlink);
  expect(BigInt(s.uid)).toBe(st.uid);
  expect(BigInt(s.gid)).toBe(st.gid);
  expect(s.size).toBe(st.size);
  expect(s.blocks).toBe(st.blocks);
  expect(BigInt(s.blksize)).toBe(st.blksize);
  expect(s.devMajor).toBe(devMajor(st.dev));
  expect(s.devMinor).toBe(devMinor(st.dev));
  expect(s.rdevMajor).toBe(devMajor(st.rdev));
  expect(s.rdevMinor).toBe(devMinor(st.rdev));
  expect(s.mtime.sec * 1_000_000_000n + BigInt(s.mtime.nsec)).toBe(st.mtimeNs);
  expect(s.ctime.sec * 1_000_000_000n + BigInt(s.ctime.nsec)).toBe(st.ctimeNs);
  if (gen === "today") return;
  // 20240729's gofer reports fstat-derived stats: no birth time.
  expect(s.btime.sec).toBe(0n);
  expect(s.btime.nsec).toBe(0);
}

/** fn fails with exactly this errno. */
export function expectErrno(fn: () => unknown, errno: number): void {
  expect(errnoOf(fn)).toBe(errno);
}

/** The host FD refers to the same file as path p. */
export function expectSameFile(fd: number, p: string): void {
  const a = fs.fstatSync(fd, { bigint: true });
  const b = fs.statSync(p, { bigint: true });
  expect(a.ino).toBe(b.ino);
  expect(a.dev).toBe(b.dev);
}

export function isNonblocking(fd: number): boolean {
  const fl = libc.fcntl(fd, C.F_GETFL);
  expect(fl).toBeGreaterThanOrEqual(0);
  return (fl & C.O_NONBLOCK) !== 0;
}

export function accessMode(fd: number): number {
  const fl = libc.fcntl(fd, C.F_GETFL);
  expect(fl).toBeGreaterThanOrEqual(0);
  return fl & C.O_ACCMODE;
}

/** Reads up to n bytes at offset from a host FD. */
export function hostPread(fd: number, n: number, off = 0): Uint8Array {
  const buf = new Uint8Array(n);
  const got = libc.pread(fd, libc.addr(buf), n, off);
  if (got < 0) throw new Error(`pread: errno ${-got}`);
  return buf.subarray(0, got);
}

export const text = (b: Uint8Array) => new TextDecoder().decode(b);
export const bytes = (s: string) => new TextEncoder().encode(s);

/** Closes host FDs returned by the server. */
export function closeAll(fds: number[]): void {
  for (const f of fds) if (f >= 0) libc.close(f);
}

// ---- Unix sockets on the host (the test's side) ----------------------------------

function sockaddr(p: string): Uint8Array {
  const sa = new Uint8Array(110);
  sa[0] = C.AF_UNIX;
  for (let i = 0; i < p.length; i++) sa[2 + i] = p.charCodeAt(i);
  return sa;
}

/** A listening (non-blocking) Unix socket at path p, made by the test on the host. */
export function hostListen(p: string, type = C.SOCK_STREAM, backlog = 16): number {
  const s = libc.socket(C.AF_UNIX, type | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, 0);
  if (s < 0) throw new Error(`socket: errno ${-s}`);
  const sa = sockaddr(p);
  let rc = libc.bind(s, libc.addr(sa), 2 + p.length + 1);
  if (rc < 0) throw new Error(`bind ${p}: errno ${-rc}`);
  if (type !== C.SOCK_DGRAM) {
    rc = libc.listen(s, backlog);
    if (rc < 0) throw new Error(`listen: errno ${-rc}`);
  }
  return s;
}

/** Connects a new host socket to p; returns it or -errno. */
export function hostConnect(p: string, type = C.SOCK_STREAM): number {
  const s = libc.socket(C.AF_UNIX, type | C.SOCK_CLOEXEC, 0);
  if (s < 0) return s;
  const sa = sockaddr(p);
  const rc = libc.connect(s, libc.addr(sa), 2 + p.length + 1);
  if (rc < 0) {
    libc.close(s);
    return rc;
  }
  return s;
}

/** accept4 on a hostListen socket; -EAGAIN if none is pending. */
export function hostAccept(s: number): number {
  return libc.accept4(s, C.O_NONBLOCK | C.O_CLOEXEC);
}

export function writeStr(fd: number, s: string): number {
  const b = bytes(s);
  return libc.writeFd(fd, libc.addr(b), b.byteLength);
}

/** Reads whatever is available (waiting up to the reply timeout). */
export function readStr(fd: number, max = 4096): string {
  waitFd(fd, C.POLLIN);
  const b = new Uint8Array(max);
  const n = libc.readFd(fd, libc.addr(b), max);
  if (n < 0) throw new Error(`read: errno ${-n}`);
  return text(b.subarray(0, n));
}

// ---- xattrs on the host -------------------------------------------------------------

function withFd<T>(p: string, fn: (fd: number) => T): T {
  const fd = fs.openSync(p, "r");
  try {
    return fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function hostSetXattr(p: string, name: string, value: string): void {
  const v = bytes(value);
  const rc = withFd(p, (fd) => libc.fsetxattr(fd, name, libc.addr(v.byteLength ? v : new Uint8Array(1)), v.byteLength, 0));
  if (rc < 0) throw new Error(`fsetxattr ${name}: errno ${-rc}`);
}

/** The value, or null if the file has no such attribute. */
export function hostGetXattr(p: string, name: string): string | null {
  const buf = new Uint8Array(65536);
  const n = withFd(p, (fd) => libc.fgetxattr(fd, name, libc.addr(buf), buf.byteLength));
  if (n === -C.ENODATA) return null;
  if (n < 0) throw new Error(`fgetxattr ${name}: errno ${-n}`);
  return text(buf.subarray(0, n));
}

/** All attribute names (every namespace the caller may see), sorted. */
export function hostListXattr(p: string): string[] {
  const buf = new Uint8Array(65536);
  const n = withFd(p, (fd) => libc.flistxattr(fd, libc.addr(buf), buf.byteLength));
  if (n < 0) throw new Error(`flistxattr: errno ${-n}`);
  return text(buf.subarray(0, n)).split("\0").filter((s) => s !== "").sort();
}

// ---- 9P results against the host ---------------------------------------------------

/** The QID path the server must give a host file: device index << 56 | ino. */
export function qidPathOf(p: string, devIndex = 0): bigint {
  const st = fs.lstatSync(p, { bigint: true });
  return (BigInt(devIndex) << 56n) | st.ino;
}
export const big = (x: number | bigint) => BigInt(x);

/** p9.Attr from the server describes the host file at p (not following). */
export function expectAttrOf(attr: Record<string, number | bigint>, p: string): void {
  const st = fs.lstatSync(p, { bigint: true });
  expect(big(attr.mode)).toBe(st.mode);
  expect(big(attr.uid)).toBe(st.uid);
  expect(big(attr.gid)).toBe(st.gid);
  expect(big(attr.nlink)).toBe(st.nlink);
  expect(big(attr.size)).toBe(st.size);
  expect(big(attr.blocks)).toBe(st.blocks);
  expect(big(attr.blksize)).toBe(st.blksize);
  expect(big(attr.rdev)).toBe(st.rdev);
  expect(big(attr.mtimeSec) * 1_000_000_000n + big(attr.mtimeNsec)).toBe(st.mtimeNs);
  expect(big(attr.ctimeSec) * 1_000_000_000n + big(attr.ctimeNsec)).toBe(st.ctimeNs);
}

export function expectQidOf(qid: Record<string, number | bigint>, p: string, devIndex = 0): void {
  const st = fs.lstatSync(p);
  expect(big(qid.path)).toBe(qidPathOf(p, devIndex));
  expect(qid.type).toBe(st.isDirectory() ? QidType.Dir : st.isSymbolicLink() ? QidType.Symlink : QidType.Regular);
}
