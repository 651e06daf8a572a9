// Kernel struct layouts (and glibc's struct sigaction), declared once as
// offsets and sizes. These are the same on x86-64 and arm64 (both LP64, and
// statx/statfs/msghdr are arch-independent there), which is why the gofer
// uses statx rather than the arch-specific struct stat.

/** Stores a u64 that is a JS number in [0, 2^53) (an address, a length, a
 * count, an ID) as its two 32-bit halves, little-endian: no BigInt is made,
 * and these are written for every message. */
export function setU64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v >>> 0, true);
  view.setUint32(at + 4, Math.floor(v / 0x100000000), true);
}

/** struct statx (linux/stat.h). The kernel writes all 256 bytes. */
export const Statx = {
  size: 256,
  mask: 0, // u32
  blksize: 4, // u32
  attributes: 8, // u64
  nlink: 16, // u32
  uid: 20, // u32
  gid: 24, // u32
  mode: 28, // u16
  ino: 32, // u64
  fileSize: 40, // u64
  blocks: 48, // u64
  attributesMask: 56, // u64
  atime: 64, // statx_timestamp {i64 sec; u32 nsec; i32 pad}
  btime: 80,
  ctime: 96,
  mtime: 112,
  rdevMajor: 128, // u32
  rdevMinor: 132,
  devMajor: 136,
  devMinor: 140,
  /** Bytes up to and including dev_minor: the classic statx record. */
  basicSize: 144,
} as const;

/** struct statfs (64-bit). */
export const Statfs = {
  size: 120,
  type: 0, // i64
  bsize: 8,
  blocks: 16,
  bfree: 24,
  bavail: 32,
  files: 40,
  ffree: 48,
  fsid: 56,
  namelen: 64,
  frsize: 72,
  flags: 80,
} as const;

/** struct linux_dirent64 header; d_name follows at `name`. */
export const Dirent64 = {
  ino: 0, // u64
  off: 8, // i64
  reclen: 16, // u16
  type: 18, // u8
  name: 19,
} as const;

export const Iovec = { size: 16, base: 0, len: 8 } as const;

export const Msghdr = {
  size: 56,
  name: 0,
  namelen: 8,
  iov: 16,
  iovlen: 24,
  control: 32,
  controllen: 40,
  flags: 48,
} as const;

/** struct cmsghdr; CMSG_DATA starts at `data`. */
export const Cmsghdr = { len: 0, level: 8, type: 12, data: 16 } as const;
export const cmsgSpace = (dataLen: number) => 16 + ((dataLen + 7) & ~7);
export const cmsgLen = (dataLen: number) => 16 + dataLen;

export const SockaddrUn = { size: 110, family: 0, path: 2, pathMax: 108 } as const;

export const Pollfd = { size: 8, fd: 0, events: 4, revents: 6 } as const;

export const FutexWaitv = { size: 24, val: 0, uaddr: 8, flags: 16 } as const;

export const Timespec = { size: 16, sec: 0, nsec: 8 } as const;

/** glibc's struct sigaction, what libc.sigaction takes and fills: the
 * handler, sa_mask (128 bytes, of which the kernel's sigset is the first 8),
 * sa_flags (an int, padded), sa_restorer. */
export const Sigaction = { size: 152, handler: 0, mask: 8, maskSize: 128, flags: 136, restorer: 144 } as const;
/** The kernel's struct sigaction for rt_sigaction (sigsetsize 8). */
export const KernelSigaction = { size: 32, handler: 0, flags: 8, restorer: 16, mask: 24 } as const;

// A timespec through an Int32Array view of its 16 bytes, with plain numbers
// (no BigInt: timed waits set one before nearly every sleep while requests
// flow). Index = byte offset / 4.
/** Writes `ms` (>= 0) as a timespec: a duration, or a CLOCK_MONOTONIC time
 * in ms (the loop's absolute deadlines); sub-nanosecond parts are dropped. */
export function setTimespecMs(ts: Int32Array, ms: number): void {
  const sec = Math.floor(ms / 1000);
  ts[Timespec.sec / 4] = sec >>> 0;
  ts[Timespec.sec / 4 + 1] = Math.floor(sec / 0x100000000);
  ts[Timespec.nsec / 4] = (ms % 1000) * 1e6;
  ts[Timespec.nsec / 4 + 1] = 0;
}

/** A timespec (as clock_gettime wrote it) in milliseconds. */
export function getTimespecMs(ts: Int32Array): number {
  const sec = (ts[Timespec.sec / 4] >>> 0) + (ts[Timespec.sec / 4 + 1] >>> 0) * 0x100000000;
  return sec * 1000 + (ts[Timespec.nsec / 4] >>> 0) / 1e6;
}
