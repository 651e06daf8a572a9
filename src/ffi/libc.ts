// libc through bun:ffi. Every wrapper returns its result (>= 0) or -errno, read
// from this thread's errno right after the call; nothing here throws for a
// failed syscall. Pointers are plain numbers (addresses) so callers can point
// into any buffer, including shared memory mappings, without copies.
import { type ConvertFns, dlopen, FFIType as T, ptr, read, type Symbols } from "bun:ffi";
import { SYS_futex, SYS_futex_waitv, SYS_gettid, SYS_pivot_root } from "./constants";

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

// Everything the gofer calls, on every thread (each Worker loads its own
// copy of this module and binds only what it uses).
const S = bindOnUse({
  __errno_location: { args: [], returns: P },
  openat: { args: [i32, P, i32, u32], returns: i32 },
  close: { args: [i32], returns: i32 },
  dup: { args: [i32], returns: i32 },
  fcntl: { args: [i32, i32, i64], returns: i32 },
  pread64: { args: [i32, P, u64, i64], returns: ssize },
  pwrite64: { args: [i32, P, u64, i64], returns: ssize },
  read: { args: [i32, P, u64], returns: ssize },
  write: { args: [i32, P, u64], returns: ssize },
  poll: { args: [P, u64, i32], returns: i32 },
  umask: { args: [u32], returns: u32 },
  fchdir: { args: [i32], returns: i32 },
  getpid: { args: [], returns: i32 },
  _exit: { args: [i32], returns: T.void },
  clock_gettime: { args: [i32, P], returns: i32 },
  syscall: { args: [i64, i64, i64, i64, i64, i64], returns: ssize },
  statx: { args: [i32, P, i32, u32, P], returns: i32 },
  fstatfs: { args: [i32, P], returns: i32 },
  getdents64: { args: [i32, P, u64], returns: ssize },
  lseek: { args: [i32, i64, i32], returns: ssize },
  fsync: { args: [i32], returns: i32 },
  fallocate: { args: [i32, i32, i64, i64], returns: i32 },
  ftruncate: { args: [i32, i64], returns: i32 },
  fchmod: { args: [i32, u32], returns: i32 },
  fchmodat: { args: [i32, P, u32, i32], returns: i32 },
  fchownat: { args: [i32, P, u32, u32, i32], returns: i32 },
  utimensat: { args: [i32, P, P, i32], returns: i32 },
  mkdirat: { args: [i32, P, u32], returns: i32 },
  mknodat: { args: [i32, P, u32, u64], returns: i32 },
  symlinkat: { args: [P, i32, P], returns: i32 },
  linkat: { args: [i32, P, i32, P, i32], returns: i32 },
  renameat: { args: [i32, P, i32, P], returns: i32 },
  renameat2: { args: [i32, P, i32, P, u32], returns: i32 },
  unlinkat: { args: [i32, P, i32], returns: i32 },
  readlinkat: { args: [i32, P, P, u64], returns: ssize },
  fgetxattr: { args: [i32, P, P, u64], returns: ssize },
  fsetxattr: { args: [i32, P, P, u64, i32], returns: i32 },
  flistxattr: { args: [i32, P, u64], returns: ssize },
  fremovexattr: { args: [i32, P], returns: i32 },
  lgetxattr: { args: [P, P, P, u64], returns: ssize },
  lsetxattr: { args: [P, P, P, u64, i32], returns: i32 },
  llistxattr: { args: [P, P, u64], returns: ssize },
  socket: { args: [i32, i32, i32], returns: i32 },
  socketpair: { args: [i32, i32, i32, P], returns: i32 },
  bind: { args: [i32, P, u32], returns: i32 },
  listen: { args: [i32, i32], returns: i32 },
  accept4: { args: [i32, P, P, i32], returns: i32 },
  connect: { args: [i32, P, u32], returns: i32 },
  shutdown: { args: [i32, i32], returns: i32 },
  getpeername: { args: [i32, P, P], returns: i32 },
  recv: { args: [i32, P, u64, i32], returns: ssize },
  getsockopt: { args: [i32, i32, i32, P, P], returns: i32 },
  setsockopt: { args: [i32, i32, i32, P, u32], returns: i32 },
  getsockname: { args: [i32, P, P], returns: i32 },
  sendmsg: { args: [i32, P, i32], returns: ssize },
  recvmsg: { args: [i32, P, i32], returns: ssize },
  memfd_create: { args: [P, u32], returns: i32 },
  mmap: { args: [P, u64, i32, i32, i32, i64], returns: P },
  munmap: { args: [P, u64], returns: i32 },
  eventfd: { args: [u32, i32], returns: i32 },
});
// errno lives in thread-local storage; this module is instantiated once per
// thread (Workers load their own copy), so caching the address is safe.
const errnoAddr = S.__errno_location() as number;

/** errno of the last failed call on this thread. */
export function errno(): number {
  return read.i32(errnoAddr, 0);
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

// Two scratch slots for NUL-terminated names; calls take at most two. Names
// are byte strings (latin1), so every byte the client sent is preserved.
const CSTR_MAX = 65536 + 1;
const cstrBufs = [pinnedBytes(CSTR_MAX), pinnedBytes(CSTR_MAX)];
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

export const openat = (dirfd: number, name: string, flags: number, mode = 0) =>
  r(S.openat(dirfd, cstr(name), flags, mode));
export const close = (fd: number) => r(S.close(fd));
export const dup = (fd: number) => r(S.dup(fd));
export const fcntl = (fd: number, cmd: number, arg = 0) => r(S.fcntl(fd, cmd, arg));
export const statx = (dirfd: number, name: string, flags: number, mask: number, buf: number) =>
  r(S.statx(dirfd, name === "" ? EMPTY : cstr(name), flags, mask, buf));
/** statx with the name given as the address of a NUL-terminated string. */
export const statxAddr = (dirfd: number, nameAddr: number, flags: number, mask: number, buf: number) =>
  r(S.statx(dirfd, nameAddr, flags, mask, buf));
export const fstatfs = (fd: number, buf: number) => r(S.fstatfs(fd, buf));
export const getdents64 = (fd: number, buf: number, len: number) => r(S.getdents64(fd, buf, len));
export const pread = (fd: number, buf: number, len: number, off: number | bigint) =>
  r(S.pread64(fd, buf, len, off));
export const pwrite = (fd: number, buf: number, len: number, off: number | bigint) =>
  r(S.pwrite64(fd, buf, len, off));
export const readFd = (fd: number, buf: number, len: number) => r(S.read(fd, buf, len));
export const writeFd = (fd: number, buf: number, len: number) => r(S.write(fd, buf, len));
export const lseek = (fd: number, off: number | bigint, whence: number) => r(S.lseek(fd, off, whence));
export const fsync = (fd: number) => r(S.fsync(fd));
export const fallocate = (fd: number, mode: number, off: number | bigint, len: number | bigint) =>
  r(S.fallocate(fd, mode, off, len));
export const ftruncate = (fd: number, len: number | bigint) => r(S.ftruncate(fd, len));
export const fchmod = (fd: number, mode: number) => r(S.fchmod(fd, mode));
export const fchmodat = (dirfd: number, name: string, mode: number, flags: number) =>
  r(S.fchmodat(dirfd, cstr(name), mode, flags));
export const fchownat = (dirfd: number, name: string, uid: number, gid: number, flags: number) =>
  r(S.fchownat(dirfd, name === "" ? EMPTY : cstr(name), uid >>> 0, gid >>> 0, flags));
export const utimensat = (dirfd: number, name: string | null, times: number, flags: number) =>
  r(S.utimensat(dirfd, name === null ? 0 : name === "" ? EMPTY : cstr(name), times, flags));
export const mkdirat = (dirfd: number, name: string, mode: number) =>
  r(S.mkdirat(dirfd, cstr(name), mode));
export const mknodat = (dirfd: number, name: string, mode: number, dev: number) =>
  r(S.mknodat(dirfd, cstr(name), mode, dev));
export const symlinkat = (target: string, dirfd: number, name: string) =>
  r(S.symlinkat(cstr(target, 1), dirfd, cstr(name, 0)));
export const linkat = (olddir: number, oldname: string, newdir: number, newname: string, flags: number) =>
  r(S.linkat(olddir, oldname === "" ? EMPTY : cstr(oldname, 0), newdir, cstr(newname, 1), flags));
export const renameat = (olddir: number, oldname: string, newdir: number, newname: string) =>
  r(S.renameat(olddir, cstr(oldname, 0), newdir, cstr(newname, 1)));
export const renameat2 = (olddir: number, oldname: string, newdir: number, newname: string, flags: number) =>
  r(S.renameat2(olddir, cstr(oldname, 0), newdir, cstr(newname, 1), flags));
export const unlinkat = (dirfd: number, name: string, flags: number) =>
  r(S.unlinkat(dirfd, cstr(name), flags));
export const readlinkat = (dirfd: number, name: string, buf: number, len: number) =>
  r(S.readlinkat(dirfd, name === "" ? EMPTY : cstr(name), buf, len));
export const fgetxattr = (fd: number, name: string, buf: number, len: number) =>
  r(S.fgetxattr(fd, cstr(name), buf, len));
export const fsetxattr = (fd: number, name: string, value: number, len: number, flags: number) =>
  r(S.fsetxattr(fd, cstr(name), value, len, flags));
export const flistxattr = (fd: number, buf: number, len: number) => r(S.flistxattr(fd, buf, len));
export const fremovexattr = (fd: number, name: string) => r(S.fremovexattr(fd, cstr(name)));
// By path, not following a last symlink (paths are byte strings, slot 1).
export const lgetxattr = (path: string, name: string, buf: number, len: number) =>
  r(S.lgetxattr(cstr(path, 1), cstr(name), buf, len));
export const lsetxattr = (path: string, name: string, value: number, len: number, flags: number) =>
  r(S.lsetxattr(cstr(path, 1), cstr(name), value, len, flags));
export const llistxattr = (path: string, buf: number, len: number) => r(S.llistxattr(cstr(path, 1), buf, len));
export const lremovexattr = (path: string, name: string) =>
  r(S.syscall(process.arch === "arm64" ? 15 : 198 /* SYS_lremovexattr */, cstr(path, 1), cstr(name), 0, 0, 0));
export const socket = (domain: number, type: number, proto: number) => r(S.socket(domain, type, proto));
export const bind = (fd: number, sa: number, len: number) => r(S.bind(fd, sa, len));
export const listen = (fd: number, backlog: number) => r(S.listen(fd, backlog));
export const accept4 = (fd: number, flags: number) => r(S.accept4(fd, 0, 0, flags));
export const connect = (fd: number, sa: number, len: number) => r(S.connect(fd, sa, len));
export const recv = (fd: number, buf: number, len: number, flags: number) => r(S.recv(fd, buf, len, flags));
/** 0 if fd is a connected socket, else -errno (ENOTCONN, ENOTSOCK, EBADF). */
export function checkConnected(fd: number): number {
  const sa = new Uint8Array(128);
  const len = new Uint32Array([128]);
  return r(S.getpeername(fd, addr(sa), addr(len)));
}
/** Sets an int-valued socket option. */
export function setsockoptInt(fd: number, level: number, opt: number, value: number): number {
  const v = new Int32Array([value]);
  return r(S.setsockopt(fd, level, opt, addr(v), 4));
}
/** The local address of a socket into `sa` (a sockaddr buffer). */
export function getsockname(fd: number, sa: Uint8Array): number {
  const len = new Uint32Array([sa.byteLength]);
  return r(S.getsockname(fd, addr(sa), addr(len)));
}
export const shutdown = (fd: number, how: number) => r(S.shutdown(fd, how));
export const sendmsg = (fd: number, msg: number, flags: number) => r(S.sendmsg(fd, msg, flags));
export const recvmsg = (fd: number, msg: number, flags: number) => r(S.recvmsg(fd, msg, flags));
export const memfdCreate = (name: string, flags: number) => r(S.memfd_create(cstr(name), flags));
export const munmap = (p: number, len: number) => r(S.munmap(p, len));
export const poll = (fds: number, n: number, timeoutMs: number) => r(S.poll(fds, n, timeoutMs));
export const eventfd = (initval: number, flags: number) => r(S.eventfd(initval, flags));
export const umask = (mask: number) => S.umask(mask) as number;
export const getpid = () => S.getpid() as number;
/** clock_gettime into a struct timespec at `ts`. */
export const clockGettime = (clock: number, ts: number) => r(S.clock_gettime(clock, ts));
/** Ends the process at once, every thread with it (no atexit handlers). */
export const exitNow = (code: number): never => {
  S._exit(code);
  throw new Error("unreachable");
};
export const gettid = () => S.syscall(SYS_gettid, 0, 0, 0, 0, 0) as number;

/** mmap; returns the address or -errno. */
export function mmap(len: number, prot: number, flags: number, fd: number, off: number): number {
  const p = S.mmap(0, len, prot, flags, fd, off) as number | null;
  if (p === null || p >= 2 ** 63) return -errno(); // MAP_FAILED
  return p;
}

/** socketpair into two fds, or -errno. */
export function socketpair(domain: number, type: number, proto: number): [number, number] | number {
  const fds = new Int32Array(2);
  const rc = r(S.socketpair(domain, type, proto, addr(fds)));
  return rc < 0 ? rc : [fds[0], fds[1]];
}

/** SO_TYPE of a socket, or -errno (ENOTSOCK for a non-socket). */
export function socketType(fd: number): number {
  const v = new Int32Array(2);
  v[1] = 4;
  const rc = r(S.getsockopt(fd, 1 /* SOL_SOCKET */, 3 /* SO_TYPE */, addr(v), addr(v) + 4));
  return rc < 0 ? rc : v[0];
}

/** SO_PEERCRED of a Unix socket: the peer's pid, uid, gid, or -errno. */
export function peerCred(fd: number): { pid: number; uid: number; gid: number } | number {
  const v = new Int32Array(4);
  v[3] = 12;
  const rc = r(S.getsockopt(fd, 1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, addr(v), addr(v) + 12));
  return rc < 0 ? rc : { pid: v[0], uid: v[1] >>> 0, gid: v[2] >>> 0 };
}

export const futexWait = (uaddr: number, val: number, flags: number, timeout = 0) =>
  r(S.syscall(SYS_futex, uaddr, flags /* FUTEX_WAIT | private */, val, timeout, 0, 0));
export const futexWake = (uaddr: number, n: number, flags: number) =>
  r(S.syscall(SYS_futex, uaddr, 1 | flags, n, 0, 0, 0));
/** futex_waitv(2): waiters is an array of struct futex_waitv. */
export const futexWaitv = (waiters: number, n: number, timeout = 0) =>
  r(S.syscall(SYS_futex_waitv, waiters, n, 0, timeout, 1 /* CLOCK_MONOTONIC */, 0));

export const fchdir = (fd: number) => r(S.fchdir(fd));

// Calls only the runsc launch path makes (mount namespace setup, capability
// drop, re-exec). Opened on first use so a plain `gofer --io-fd` start does
// not pay for their trampolines.
let setupSyms: ReturnType<typeof openSetup> | null = null;
const openSetup = () =>
  dlopen("libc.so.6", {
    mount: { args: [P, P, P, u64, P], returns: i32 },
    umount2: { args: [P, i32], returns: i32 },
    chroot: { args: [P], returns: i32 },
    chdir: { args: [P], returns: i32 },
    prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
    execve: { args: [P, P, P], returns: i32 },
    setrlimit: { args: [i32, P], returns: i32 },
    pipe2: { args: [P, i32], returns: i32 },
    waitpid: { args: [i32, P, i32], returns: i32 },
    geteuid: { args: [], returns: u32 },
    sigaction: { args: [i32, P, P], returns: i32 },
    access: { args: [P, i32], returns: i32 },
  }).symbols;
const X = () => (setupSyms ??= openSetup());

/** A NUL-terminated copy of `s` (UTF-8) that lives as long as the returned array. */
export function cstring(s: string): Uint8Array {
  const b = Buffer.from(`${s}\0`, "utf8");
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
const optStr = (s: string | null) => (s === null ? null : cstring(s));
// Holds buffers whose addresses were handed out until the call returned.
const keep: Uint8Array[] = [];

// Strings below are passed as TypedArrays, which bun:ffi keeps alive for the
// length of the call (a bare address would not keep its buffer from the GC).
/** mount(2); null strings are passed as NULL. */
export const mount = (source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null) =>
  r(X().mount(optStr(source), cstring(target), optStr(fstype), flags, optStr(data)));
export const umount2 = (target: string, flags: number) => r(X().umount2(cstring(target), flags));
export const chroot = (path: string) => r(X().chroot(cstring(path)));
export const access = (path: string, mode: number) => r(X().access(cstring(path), mode));
/** move_mount(2) of the detached tree `fromFd` onto the file `toFd` is open on. */
export const moveMount = (fromFd: number, toFd: number) =>
  r(S.syscall(429 /* SYS_move_mount, both ABIs */, fromFd, EMPTY, toFd, EMPTY, 0x4 /* F_EMPTY_PATH */ | 0x40 /* T_EMPTY_PATH */));
export const chdir = (path: string) => r(X().chdir(cstring(path)));
export const prctl = (op: number, a = 0, b = 0, c = 0, d = 0) => r(X().prctl(op, a, b, c, d));
export function pivotRoot(newRoot: string, putOld: string): number {
  const a = cstring(newRoot);
  const b = cstring(putOld);
  const rc = r(S.syscall(SYS_pivot_root, addr(a), addr(b), 0, 0, 0));
  keep.push(a, b);
  keep.length = 0;
  return rc;
}
export const geteuid = () => X().geteuid() as number;
/** sigaction(2) with glibc's struct sigaction at `act` / `old` (addresses, 0 for NULL). */
export const sigaction = (sig: number, act: number, old: number) => r(X().sigaction(sig, act, old));
/** setrlimit(resource, {cur, max}). */
export function setrlimit(resource: number, cur: number, max: number): number {
  const lim = new BigUint64Array([BigInt(cur), BigInt(max)]);
  return r(X().setrlimit(resource, lim));
}
/** pipe2 into [read, write], or -errno. */
export function pipe2(flags: number): [number, number] | number {
  const fds = new Int32Array(2);
  const rc = r(X().pipe2(fds, flags));
  return rc < 0 ? rc : [fds[0], fds[1]];
}
/** waitpid; returns [pid, status] or -errno. */
export function waitpid(pid: number, flags: number): [number, number] | number {
  const st = new Int32Array(1);
  const rc = r(X().waitpid(pid, st, flags));
  return rc < 0 ? rc : [rc, st[0]];
}
/** execve(2): returns only on failure (-errno). */
export function execve(path: string, argv: string[], env: string[]): number {
  const vec = (list: string[]) => {
    const v = new BigUint64Array(list.length + 1);
    list.forEach((s, i) => {
      const c = cstring(s);
      keep.push(c);
      v[i] = BigInt(addr(c));
    });
    return v;
  };
  const p = cstring(path);
  const av = vec(argv);
  const ev = vec(env);
  const rc = r(X().execve(p, av, ev));
  keep.length = 0;
  return rc;
}
/** A raw system call with integer arguments; result or -errno. */
export const syscall = (nr: number, a = 0, b = 0, c = 0, d = 0, e = 0) => r(S.syscall(nr, a, b, c, d, e));
