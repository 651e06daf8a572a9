// System calls and a few libc functions through bun:ffi. Every wrapper
// returns its result (>= 0) or -errno: a system call's from the kernel itself
// (the instruction, below), a libc function's from errno right after the
// call; nothing here throws for a failed call. Pointers are plain numbers
// (addresses) so callers can point into any buffer, including shared memory
// mappings, without copies.
import { type ConvertFns, dlopen, FFIType as T, linkSymbols, type Pointer, ptr, read, type Symbols, toArrayBuffer } from "bun:ffi";
import {
  AT_FDCWD,
  NR,
  SYS_chdir,
  SYS_chroot,
  SYS_execve,
  SYS_faccessat,
  SYS_futex,
  SYS_futex_waitv,
  SYS_geteuid,
  SYS_gettid,
  SYS_mount,
  SYS_mprotect,
  SYS_pipe2,
  SYS_pivot_root,
  SYS_prctl,
  SYS_prlimit64,
  SYS_umount2,
  SYS_wait4,
} from "./constants";
import { KernelSigaction, setTimespecMs, Sigaction, Timespec } from "./layout";

const { i32, u32, i64, u64, ptr: P } = T;
const ssize = T.i64_fast;

/**
 * Binds each symbol on its first use. bun:ffi compiles a trampoline per
 * symbol (~0.4 ms each here, after ~3.5 ms for the first), and a gofer start
 * calls a fraction of the ~60: binding them in groups cost a native start
 * ~25 ms before the first reply. The getter replaces itself with the
 * function, so later calls are a plain property load.
 */
function bindOnUse<D extends Symbols>(defs: D): ConvertFns<D> {
  // Getters on a prototype that add the function as an own data property:
  // an ordinary add transition, so property loads stay inline-cached (an
  // accessor redefined in place can turn the object into a dictionary).
  const unbound = {};
  const syms = Object.create(unbound) as ConvertFns<D>;
  for (const name of Object.keys(defs)) {
    Object.defineProperty(unbound, name, {
      get() {
        const sym = dlopen("libc.so.6", { [name]: defs[name] }).symbols[name];
        const fn = direct(sym, defs[name].args ?? []);
        Object.defineProperty(syms, name, { value: fn, enumerable: true });
        return fn;
      },
    });
  }
  return syms;
}

/**
 * The symbol's native trampoline behind an argument coercion of our own.
 * bun:ffi's own wrapper allocates on every call (a function object per
 * argument, and a BigInt per 64-bit argument: ~15 objects for a 9P walk);
 * the trampoline takes numbers for 64-bit and pointer arguments as they are,
 * and needs 32-bit arguments as int32 values, which `| 0` makes (the same
 * bits for a u32 above 2^31).
 */
function direct(sym: (...a: any[]) => any, args: readonly unknown[]): any {
  const native = (sym as { native?: (...a: any[]) => any }).native;
  if (typeof native !== "function") return sym;
  const names = args.map((_, i) => `a${i}`);
  const pass = args.map((t, i) => (t === i32 || t === u32 ? `a${i} | 0` : `a${i}`));
  return new Function("native", `return (${names.join(", ")}) => native(${pass.join(", ")});`)(native);
}

// The libc symbols the gofer binds, on every thread (each Worker loads its
// own copy of this module and binds only what it uses). Every other call is
// made through syscall(2) by number (constants.ts NR): bun:ffi compiles a
// trampoline per bound symbol (~0.4 ms of CPU and ~35 KiB of memory each,
// in every process), where one trampoline serves every system call.
// sigaction is libc's only without the raw system call (see sigaction()).
// (clock_gettime is the kernel's too: the loop reads it at most once a
// second, src/loop/loop.ts.)
const S = bindOnUse({
  __errno_location: { args: [], returns: P },
  syscall: { args: [i64, i64, i64, i64, i64, i64, i64], returns: ssize },
  sigaction: { args: [i32, P, P], returns: i32 },
});
type Arg = number | bigint; // a bigint for a 64-bit value past 2^53 (file offsets)
// errno lives in thread-local storage; this module is instantiated once per
// thread (Workers load their own copy), so caching the address is safe.
// It is bound only on the path that reads errno, libc's (no raw system
// call): a trampoline costs ~1 ms of CPU at start and ~0.4 MiB of anonymous
// memory. Bound before the call whose errno is read, never after: binding
// compiles a trampoline, which may itself set errno.
let errnoAddr = 0;
function bindErrno(): number {
  if (errnoAddr === 0) errnoAddr = S.__errno_location() as number;
  return errnoAddr;
}

/**
 * The system call instruction itself, in a few bytes of machine code: it
 * returns the kernel's result, -errno on failure, with no errno in between.
 * libc's syscall(2) stores the error in errno, and reading errno afterwards
 * from JS races with anything that runs on this thread in between and also
 * sets it (a reply once carried EAGAIN for a renameat2 the kernel had
 * refused with EINVAL). Arguments arrive as a C call's (nr, a..f) and move
 * to the kernel's registers.
 */
const RAW_SYSCALL: Partial<Record<string, number[]>> = {
  x64: [
    0x48, 0x89, 0xf8, // mov rax, rdi        the number
    0x48, 0x89, 0xf7, // mov rdi, rsi        a
    0x48, 0x89, 0xd6, // mov rsi, rdx        b
    0x48, 0x89, 0xca, // mov rdx, rcx        c
    0x4d, 0x89, 0xc2, // mov r10, r8         d
    0x4d, 0x89, 0xc8, // mov r8, r9          e
    0x4c, 0x8b, 0x4c, 0x24, 0x08, // mov r9, [rsp+8]   f, the 7th C argument
    0x0f, 0x05, //       syscall
    0xc3, //             ret
  ],
  arm64: [
    0xe8, 0x03, 0x00, 0xaa, // mov x8, x0    the number
    0xe0, 0x03, 0x01, 0xaa, // mov x0, x1    a
    0xe1, 0x03, 0x02, 0xaa, // mov x1, x2    b
    0xe2, 0x03, 0x03, 0xaa, // mov x2, x3    c
    0xe3, 0x03, 0x04, 0xaa, // mov x3, x4    d
    0xe4, 0x03, 0x05, 0xaa, // mov x4, x5    e
    0xe5, 0x03, 0x06, 0xaa, // mov x5, x6    f
    0x01, 0x00, 0x00, 0xd4, // svc #0
    0xc0, 0x03, 0x5f, 0xd6, // ret
  ],
};

/** Where a signal handler returns to on x86-64: rt_sigreturn, as libc's
 * __restore_rt (the kernel insists on one there; arm64's kernel returns
 * through its vDSO when none is given). Mapped beside RAW_SYSCALL. */
const SIGRETURN: Partial<Record<string, number[]>> = {
  x64: [
    0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, // mov rax, 15   rt_sigreturn
    0x0f, 0x05, //                               syscall
  ],
};
const SIGRETURN_OFFSET = 64;
/** Its address, or 0 (no raw page, or an architecture that needs none). */
let sigreturnAddr = 0;

type RawSyscall = (nr: number, a: Arg, b: Arg, c: Arg, d: Arg, e: Arg, f: Arg) => number;

/** Maps RAW_SYSCALL read+execute (through libc's syscall, once) and binds
 * it; null where that is refused (a seccomp filter or an LSM that forbids
 * executable mappings, in a thread started after confinement): the calls
 * then go through libc's syscall and errno. */
function bindRawSyscall(): RawSyscall | null {
  const code = RAW_SYSCALL[process.arch];
  if (!code || process.env.GOFER_RAW_SYSCALL === "0") return null;
  const PAGE = 4096;
  const base = S.syscall(NR.mmap, 0, PAGE, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0) as number;
  if (typeof base !== "number" || base <= 0) return null;
  new Uint8Array(toArrayBuffer(base, 0, PAGE)).set(code);
  const restorer = SIGRETURN[process.arch];
  if (restorer) new Uint8Array(toArrayBuffer(base, SIGRETURN_OFFSET, restorer.length)).set(restorer);
  if (S.syscall(SYS_mprotect, base, PAGE, 5 /* PROT_READ|PROT_EXEC */, 0, 0, 0) !== 0) return null;
  if (restorer) sigreturnAddr = base + SIGRETURN_OFFSET;
  const args = [i64, i64, i64, i64, i64, i64, i64];
  const sym = linkSymbols({ raw: { ptr: base as Pointer, args, returns: ssize } }).symbols.raw;
  return direct(sym, args) as RawSyscall;
}
const raw = bindRawSyscall();
/** How this thread makes system calls (tests, diagnosis). */
export const syscallPath: "raw" | "libc" = raw !== null ? "raw" : "libc";

/** A system call by number (NR) with up to six integer or address
 * arguments: its result, or -errno. */
const sc: (nr: number, a?: Arg, b?: Arg, c?: Arg, d?: Arg, e?: Arg, f?: Arg) => number =
  raw !== null
    ? (nr, a = 0, b = 0, c = 0, d = 0, e = 0, f = 0) => raw(nr, a, b, c, d, e, f)
    : (bindErrno(),
      (nr, a = 0, b = 0, c = 0, d = 0, e = 0, f = 0) => {
        const v = S.syscall(nr, a, b, c, d, e, f) as number;
        return v === -1 ? -errno() : v;
      });

/** errno of the last failed libc call on this thread. */
export function errno(): number {
  return read.i32(bindErrno(), 0);
}

/** Normalizes a libc return value: result, or -errno when it is -1. */
function r(v: number | bigint): number {
  if (typeof v === "bigint") v = Number(v);
  return v < 0 ? -errno() : v;
}

export const addr = (buf: NodeJS.TypedArray | DataView): number => ptr(buf) as number;

/**
 * Bytes whose address may be kept and handed to the kernel again and again:
 * a view of its own ArrayBuffer, whose storage is malloc'd once and stays
 * put. A small `new Uint8Array(n)` starts out in JSC's GC heap and can be
 * re-homed: a cached address of a 1-byte array was later found holding the
 * FDs a socketpair wrote into a fresh array (statx then read a garbage name
 * instead of ""). Every buffer whose address outlives one call comes from here.
 */
export function pinnedBytes(n: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(n));
}

/**
 * Pinned bytes for a buffer that lives as long as the process and is mostly
 * unused (the name slots, a listing batch, an xattr list): a private
 * anonymous mapping of its own, never unmapped, so only the pages a call
 * writes become memory. pinnedBytes below 512 KiB comes zero-filled from
 * JSC's heap, every page resident from the start: four 64 KiB scratch
 * buffers held ~270 KiB of a gofer's anonymous memory before its first
 * request (docs/benchmarks-runsc.md). pinnedBytes where mapping is refused.
 */
export function scratchBytes(n: number): Uint8Array {
  const base = mmap(n, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
  return base < 0 ? pinnedBytes(n) : new Uint8Array(toArrayBuffer(base, 0, n));
}

// Two scratch slots for NUL-terminated names; calls take at most two. Names
// are byte strings (latin1), so every byte the client sent is preserved.
const CSTR_MAX = 65536 + 1;
const cstrBufs = [scratchBytes(CSTR_MAX), scratchBytes(CSTR_MAX)];
const cstrAddrs = cstrBufs.map((b) => addr(b));

/** Writes `s` (a byte string) NUL-terminated into scratch slot `slot`. */
export function cstr(s: string, slot = 0): number {
  const b = cstrBufs[slot];
  const n = s.length;
  for (let i = 0; i < n; i++) b[i] = s.charCodeAt(i);
  b[n] = 0;
  return cstrAddrs[slot];
}
const emptyName = pinnedBytes(1);
/** Address of "" for the AT_EMPTY_PATH calls. */
export const EMPTY = addr(emptyName);

// ---- the FD reserve ---------------------------------------------------------
//
// Linux hands out the lowest free FD number, so a new FD numbered at or
// above N means every number below N is in use. Calls that make an FD on a
// client's behalf go through `guard`: a number at or above `fdCeiling` is
// closed again and reported as EMFILE. The numbers from the ceiling to the
// process limit stay free for what must not fail: Bun's own FDs (a Worker
// takes five), the logger, accepting and refusing a connection. Before the
// server sets it (setFdCeiling) the ceiling is off.
let fdCeiling = Number.POSITIVE_INFINITY;
/** FDs refused by the ceiling so far (tests and logs). */
export const fdGuardStats = { refused: 0 };
/** Keeps FD numbers >= `ceiling` for the process itself (see above). */
export function setFdCeiling(ceiling: number): void {
  fdCeiling = ceiling;
}
export function getFdCeiling(): number {
  return fdCeiling;
}
function guard(fd: number): number {
  if (fd < fdCeiling) return fd;
  if (fd >= 0) {
    sc(NR.close, fd);
    fdGuardStats.refused++;
    return -EMFILE;
  }
  return fd;
}
const EMFILE = 24;

export const openat = (dirfd: number, name: string, flags: number, mode = 0) =>
  guard(sc(NR.openat, dirfd, cstr(name), flags, mode));
export const close = (fd: number) => sc(NR.close, fd);
export const dup = (fd: number) => guard(sc(NR.dup, fd));
export const fcntl = (fd: number, cmd: number, arg = 0) => sc(NR.fcntl, fd, cmd, arg);
export const statx = (dirfd: number, name: string, flags: number, mask: number, buf: number) =>
  sc(NR.statx, dirfd, name === "" ? EMPTY : cstr(name), flags, mask, buf);
/** statx with the name given as the address of a NUL-terminated string. */
export const statxAddr = (dirfd: number, nameAddr: number, flags: number, mask: number, buf: number) =>
  sc(NR.statx, dirfd, nameAddr, flags, mask, buf);
export const fstatfs = (fd: number, buf: number) => sc(NR.fstatfs, fd, buf);
export const getdents64 = (fd: number, buf: number, len: number) => sc(NR.getdents64, fd, buf, len);
export const pread = (fd: number, buf: number, len: number, off: number | bigint) =>
  sc(NR.pread64, fd, buf, len, off);
export const pwrite = (fd: number, buf: number, len: number, off: number | bigint) =>
  sc(NR.pwrite64, fd, buf, len, off);
export const readFd = (fd: number, buf: number, len: number) => sc(NR.read, fd, buf, len);
export const writeFd = (fd: number, buf: number, len: number) => sc(NR.write, fd, buf, len);
export const lseek = (fd: number, off: number | bigint, whence: number) => sc(NR.lseek, fd, off, whence);
export const fsync = (fd: number) => sc(NR.fsync, fd);
export const fallocate = (fd: number, mode: number, off: number | bigint, len: number | bigint) =>
  sc(NR.fallocate, fd, mode, off, len);
export const ftruncate = (fd: number, len: number | bigint) => sc(NR.ftruncate, fd, len);
export const fchmod = (fd: number, mode: number) => sc(NR.fchmod, fd, mode);
export const fchmodat = (dirfd: number, name: string, mode: number, flags: number) =>
  sc(NR.fchmodat, dirfd, cstr(name), mode, flags);
export const fchownat = (dirfd: number, name: string, uid: number, gid: number, flags: number) =>
  sc(NR.fchownat, dirfd, name === "" ? EMPTY : cstr(name), uid >>> 0, gid >>> 0, flags);
export const utimensat = (dirfd: number, name: string | null, times: number, flags: number) =>
  sc(NR.utimensat, dirfd, name === null ? 0 : name === "" ? EMPTY : cstr(name), times, flags);
export const mkdirat = (dirfd: number, name: string, mode: number) =>
  sc(NR.mkdirat, dirfd, cstr(name), mode);
export const mknodat = (dirfd: number, name: string, mode: number, dev: number) =>
  sc(NR.mknodat, dirfd, cstr(name), mode, dev);
export const symlinkat = (target: string, dirfd: number, name: string) =>
  sc(NR.symlinkat, cstr(target, 1), dirfd, cstr(name, 0));
export const linkat = (olddir: number, oldname: string, newdir: number, newname: string, flags: number) =>
  sc(NR.linkat, olddir, oldname === "" ? EMPTY : cstr(oldname, 0), newdir, cstr(newname, 1), flags);
export const renameat = (olddir: number, oldname: string, newdir: number, newname: string) =>
  sc(NR.renameat2, olddir, cstr(oldname, 0), newdir, cstr(newname, 1), 0);
export const renameat2 = (olddir: number, oldname: string, newdir: number, newname: string, flags: number) =>
  sc(NR.renameat2, olddir, cstr(oldname, 0), newdir, cstr(newname, 1), flags);
export const unlinkat = (dirfd: number, name: string, flags: number) =>
  sc(NR.unlinkat, dirfd, cstr(name), flags);
export const readlinkat = (dirfd: number, name: string, buf: number, len: number) =>
  sc(NR.readlinkat, dirfd, name === "" ? EMPTY : cstr(name), buf, len);
export const fgetxattr = (fd: number, name: string, buf: number, len: number) =>
  sc(NR.fgetxattr, fd, cstr(name), buf, len);
export const fsetxattr = (fd: number, name: string, value: number, len: number, flags: number) =>
  sc(NR.fsetxattr, fd, cstr(name), value, len, flags);
export const flistxattr = (fd: number, buf: number, len: number) => sc(NR.flistxattr, fd, buf, len);
export const fremovexattr = (fd: number, name: string) => sc(NR.fremovexattr, fd, cstr(name));
// By path, not following a last symlink (paths are byte strings, slot 1).
export const lgetxattr = (path: string, name: string, buf: number, len: number) =>
  sc(NR.lgetxattr, cstr(path, 1), cstr(name), buf, len);
export const lsetxattr = (path: string, name: string, value: number, len: number, flags: number) =>
  sc(NR.lsetxattr, cstr(path, 1), cstr(name), value, len, flags);
export const llistxattr = (path: string, buf: number, len: number) => sc(NR.llistxattr, cstr(path, 1), buf, len);
export const lremovexattr = (path: string, name: string) =>
  sc(NR.lremovexattr, cstr(path, 1), cstr(name));
export const socket = (domain: number, type: number, proto: number) => guard(sc(NR.socket, domain, type, proto));
export const bind = (fd: number, sa: number, len: number) => sc(NR.bind, fd, sa, len);
export const listen = (fd: number, backlog: number) => sc(NR.listen, fd, backlog);
export const accept4 = (fd: number, flags: number) => guard(sc(NR.accept4, fd, 0, 0, flags));
export const connect = (fd: number, sa: number, len: number) => sc(NR.connect, fd, sa, len);
export const recv = (fd: number, buf: number, len: number, flags: number) => sc(NR.recvfrom, fd, buf, len, flags, 0, 0);
export const send = (fd: number, buf: number, len: number, flags: number) => sc(NR.sendto, fd, buf, len, flags, 0, 0);
/** 0 if fd is a connected socket, else -errno (ENOTCONN, ENOTSOCK, EBADF). */
export function checkConnected(fd: number): number {
  const sa = new Uint8Array(128);
  const len = new Uint32Array([128]);
  return sc(NR.getpeername, fd, addr(sa), addr(len));
}
/** Sets an int-valued socket option. */
export function setsockoptInt(fd: number, level: number, opt: number, value: number): number {
  const v = new Int32Array([value]);
  return sc(NR.setsockopt, fd, level, opt, addr(v), 4);
}
/** The local address of a socket into `sa` (a sockaddr buffer). */
export function getsockname(fd: number, sa: Uint8Array): number {
  const len = new Uint32Array([sa.byteLength]);
  return sc(NR.getsockname, fd, addr(sa), addr(len));
}
export const shutdown = (fd: number, how: number) => sc(NR.shutdown, fd, how);
export const sendmsg = (fd: number, msg: number, flags: number) => sc(NR.sendmsg, fd, msg, flags);
export const recvmsg = (fd: number, msg: number, flags: number) => sc(NR.recvmsg, fd, msg, flags);
export const memfdCreate = (name: string, flags: number) => guard(sc(NR.memfd_create, cstr(name), flags));
export const munmap = (p: number, len: number) => sc(NR.munmap, p, len);
// poll(2) as ppoll (arm64 has no poll): a negative timeout waits forever.
// A timed poll runs before nearly every request of a connection without
// channels: its timespec is written without BigInts (layout.ts).
const pollTimeout = new Int32Array(pinnedBytes(Timespec.size).buffer);
const pollTimeoutAddr = addr(pollTimeout);
export function poll(fds: number, n: number, timeoutMs: number): number {
  if (timeoutMs < 0) return sc(NR.ppoll, fds, n, 0, 0, 0);
  setTimespecMs(pollTimeout, timeoutMs);
  return sc(NR.ppoll, fds, n, pollTimeoutAddr, 0, 0);
}
export const eventfd = (initval: number, flags: number) => sc(NR.eventfd2, initval, flags);
export const umask = (mask: number) => sc(NR.umask, mask);
export const getpid = () => sc(NR.getpid);
/** clock_gettime into a struct timespec at `ts`. */
export const clockGettime = (clock: number, ts: number) => sc(NR.clock_gettime, clock, ts);
/** Ends the process at once, every thread with it (no atexit handlers). */
export const exitNow = (code: number): never => {
  sc(NR.exit_group, code);
  throw new Error("unreachable");
};
export const gettid = () => sc(SYS_gettid);

/** mmap; returns the address or -errno. */
export function mmap(len: number, prot: number, flags: number, fd: number, off: number): number {
  return sc(NR.mmap, 0, len, prot, flags, fd, off);
}

/** socketpair into two fds, or -errno. */
export function socketpair(domain: number, type: number, proto: number): [number, number] | number {
  const fds = new Int32Array(2);
  const rc = sc(NR.socketpair, domain, type, proto, addr(fds));
  if (rc < 0) return rc;
  if (Math.max(fds[0], fds[1]) >= fdCeiling) {
    sc(NR.close, fds[0]);
    sc(NR.close, fds[1]);
    fdGuardStats.refused++;
    return -EMFILE;
  }
  return [fds[0], fds[1]];
}

/** SO_TYPE of a socket, or -errno (ENOTSOCK for a non-socket). */
export function socketType(fd: number): number {
  const v = new Int32Array(2);
  v[1] = 4;
  const rc = sc(NR.getsockopt, fd, 1 /* SOL_SOCKET */, 3 /* SO_TYPE */, addr(v), addr(v) + 4);
  return rc < 0 ? rc : v[0];
}

/** SO_PEERCRED of a Unix socket: the peer's pid, uid, gid, or -errno. */
export function peerCred(fd: number): { pid: number; uid: number; gid: number } | number {
  const v = new Int32Array(4);
  v[3] = 12;
  const rc = sc(NR.getsockopt, fd, 1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, addr(v), addr(v) + 12);
  return rc < 0 ? rc : { pid: v[0], uid: v[1] >>> 0, gid: v[2] >>> 0 };
}

export const futexWait = (uaddr: number, val: number, flags: number, timeout = 0) =>
  sc(SYS_futex, uaddr, flags /* FUTEX_WAIT | private */, val, timeout);
export const futexWake = (uaddr: number, n: number, flags: number) =>
  sc(SYS_futex, uaddr, 1 | flags, n, 0, 0, 0);
/** futex_waitv(2): waiters is an array of struct futex_waitv. */
export const futexWaitv = (waiters: number, n: number, timeout = 0) =>
  sc(SYS_futex_waitv, waiters, n, 0, timeout, 1 /* CLOCK_MONOTONIC */, 0);

export const fchdir = (fd: number) => sc(NR.fchdir, fd);

/** RLIMIT_NOFILE's soft and hard limits, or -errno. */
export function nofileLimit(): { soft: number; hard: number } | number {
  const v = new BigUint64Array(2);
  const rc = sc(SYS_prlimit64, 0, 7 /* RLIMIT_NOFILE */, 0, addr(v), 0, 0);
  if (rc < 0) return rc;
  const cap = (x: bigint) => (x > 1n << 40n ? Number.MAX_SAFE_INTEGER : Number(x));
  return { soft: cap(v[0]), hard: cap(v[1]) };
}
/** Sets RLIMIT_NOFILE's soft limit (the hard one unchanged). */
export function setNofileSoft(soft: number): number {
  const lim = nofileLimit();
  if (typeof lim === "number") return lim;
  const v = new BigUint64Array([BigInt(soft), BigInt(lim.hard)]);
  return sc(SYS_prlimit64, 0, 7, addr(v), 0, 0, 0);
}

// Calls only the runsc launch path makes (mount namespace setup, capability
// drop, re-exec): raw system calls through the syscall(2) trampoline every
// start binds anyway (a libc symbol each would compile a trampoline of its
// own, ~0.4 ms on every start).

/** A NUL-terminated copy of `s` (UTF-8) that lives as long as the returned array. */
export function cstring(s: string): Uint8Array {
  const b = Buffer.from(`${s}\0`, "utf8");
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
// Holds buffers whose addresses were handed out until the call returned.
const keep: Uint8Array[] = [];
/** The address of a NUL-terminated copy of `s` (0 for null), kept alive
 * until `release()`. */
function held(s: string | null): number {
  if (s === null) return 0;
  const c = cstring(s);
  keep.push(c);
  return addr(c);
}
function release<T>(v: T): T {
  keep.length = 0;
  return v;
}
const sys = (nr: number, a = 0, b = 0, c = 0, d = 0, e = 0) => sc(nr, a, b, c, d, e);

/** mount(2); null strings are passed as NULL. */
export const mount = (source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null) =>
  release(sys(SYS_mount, held(source), held(target), held(fstype), flags, held(data)));
export const umount2 = (target: string, flags: number) => release(sys(SYS_umount2, held(target), flags));
export const chroot = (path: string) => release(sys(SYS_chroot, held(path)));
export const access = (path: string, mode: number) => release(sys(SYS_faccessat, AT_FDCWD, held(path), mode, 0));
/** move_mount(2) of the detached tree `fromFd` onto the file `toFd` is open on. */
export const moveMount = (fromFd: number, toFd: number) =>
  sys(429 /* SYS_move_mount, both ABIs */, fromFd, EMPTY, toFd, EMPTY, 0x4 /* F_EMPTY_PATH */ | 0x40 /* T_EMPTY_PATH */);
export const chdir = (path: string) => release(sys(SYS_chdir, held(path)));
export const prctl = (op: number, a = 0, b = 0, c = 0, d = 0) => sys(SYS_prctl, op, a, b, c, d);
export const pivotRoot = (newRoot: string, putOld: string) => release(sys(SYS_pivot_root, held(newRoot), held(putOld)));
export const geteuid = () => sys(SYS_geteuid);
const SA_RESTORER = 0x04000000;
const kernelAct = pinnedBytes(KernelSigaction.size);
const kernelActView = new DataView(kernelAct.buffer);
const kernelOld = pinnedBytes(KernelSigaction.size);
const kernelOldView = new DataView(kernelOld.buffer);

/** sigaction(2) with glibc's struct sigaction (layout.ts Sigaction) at
 * `act` / `old` (addresses, 0 for NULL): 0 or -errno. Through rt_sigaction itself where the raw
 * system call is mapped (on x86-64 with our own rt_sigreturn restorer, as
 * libc gives), so no gofer binds libc's sigaction or errno for it (two
 * trampolines, ~1.3 ms of a runsc-form start); else libc's. */
export function sigaction(sig: number, act: number, old: number): number {
  if (raw === null) return bindErrno(), r(S.sigaction(sig, act, old));
  if (act !== 0) {
    const flags = read.u32(act, Sigaction.flags);
    // An action read back from the kernel keeps the restorer it came with.
    const own = (flags & SA_RESTORER) === 0 && sigreturnAddr !== 0;
    kernelActView.setBigUint64(KernelSigaction.handler, read.u64(act, Sigaction.handler), true);
    kernelActView.setBigUint64(KernelSigaction.flags, BigInt((flags | (own ? SA_RESTORER : 0)) >>> 0), true);
    kernelActView.setBigUint64(KernelSigaction.restorer, own ? BigInt(sigreturnAddr) : read.u64(act, Sigaction.restorer), true);
    kernelActView.setBigUint64(KernelSigaction.mask, read.u64(act, Sigaction.mask), true);
  }
  const rc = sc(NR.rt_sigaction, sig, act !== 0 ? addr(kernelAct) : 0, old !== 0 ? addr(kernelOld) : 0, 8);
  if (rc < 0 || old === 0) return rc;
  const out = new DataView(toArrayBuffer(old as Pointer, 0, Sigaction.size));
  new Uint8Array(out.buffer, out.byteOffset, Sigaction.size).fill(0);
  out.setBigUint64(Sigaction.handler, kernelOldView.getBigUint64(KernelSigaction.handler, true), true);
  out.setBigUint64(Sigaction.mask, kernelOldView.getBigUint64(KernelSigaction.mask, true), true);
  out.setUint32(Sigaction.flags, Number(kernelOldView.getBigUint64(KernelSigaction.flags, true) & 0xffffffffn), true);
  out.setBigUint64(Sigaction.restorer, kernelOldView.getBigUint64(KernelSigaction.restorer, true), true);
  return 0;
}
/** setrlimit(resource, {cur, max}). */
export function setrlimit(resource: number, cur: number, max: number): number {
  const lim = new BigUint64Array([BigInt(cur), BigInt(max)]);
  const rc = sys(SYS_prlimit64, 0, resource, addr(lim), 0);
  void lim[0];
  return rc;
}
/** pipe2 into [read, write], or -errno. */
export function pipe2(flags: number): [number, number] | number {
  const fds = new Int32Array(2);
  const rc = sys(SYS_pipe2, addr(fds), flags);
  return rc < 0 ? rc : [fds[0], fds[1]];
}
/** waitpid; returns [pid, status] or -errno. */
export function waitpid(pid: number, flags: number): [number, number] | number {
  const st = new Int32Array(1);
  const rc = sys(SYS_wait4, pid, addr(st), flags, 0);
  return rc < 0 ? rc : [rc, st[0]];
}
/** execve(2): returns only on failure (-errno). */
export function execve(path: string, argv: string[], env: string[]): number {
  const vec = (list: string[]) => {
    const v = new BigUint64Array(list.length + 1);
    list.forEach((s, i) => {
      v[i] = BigInt(held(s));
    });
    return v;
  };
  const p = held(path);
  const av = vec(argv);
  const ev = vec(env);
  const rc = sys(SYS_execve, p, addr(av), addr(ev));
  void av[0], ev[0];
  return release(rc);
}
/** A raw system call with integer arguments; result or -errno. */
export const syscall = (nr: number, a = 0, b = 0, c = 0, d = 0, e = 0) => sc(nr, a, b, c, d, e);
