// Whole-path file operations for the gofer's own set-up (the --mount paths
// of the native form; runsc's form: mount points, the new root, /proc
// links), through libc. Not for client
// requests: those go through a MountRoot's *at calls and never leave it.
// Paths are byte strings; results are values or -errno, never exceptions.
// Why not node:fs: loading it costs every gofer ~1.6 MiB of memory
// (docs/benchmarks-runsc.md).
import { byteString } from "../ffi/bytestring";
import * as C from "../ffi/constants";
import { Statfs, Statx } from "../ffi/layout";
import * as libc from "../ffi/libc";
import { dirname } from "../pathname";

/** The canonical absolute path of `path`, as realpath(3) resolves it, asked
 * of the kernel: open it (following every symlink), read back the path of
 * what was opened from /proc/self/fd. Or -errno. */
export function realPath(path: string): string | number {
  const fd = libc.openat(C.AT_FDCWD, path, C.O_PATH | C.O_CLOEXEC);
  if (fd < 0) return fd;
  const target = readLink(`/proc/self/fd/${fd}`);
  libc.close(fd);
  // The kernel marks a path it could not reach from our root.
  if (typeof target === "string" && !target.startsWith("/")) return -C.ENOENT;
  return target;
}

/** The target of the symlink at `path`, or -errno. */
export function readLink(path: string): string | number {
  const buf = libc.pinnedBytes(C.PATH_MAX);
  const n = libc.readlinkat(C.AT_FDCWD, path, libc.addr(buf), buf.byteLength);
  if (n < 0) return n;
  return byteString(buf, 0, n);
}

/** The S_IFMT bits of `path` (its own if a symlink and !follow), or -errno. */
export function fileType(path: string, follow: boolean): number {
  const buf = libc.pinnedBytes(Statx.size);
  const rc = libc.statx(C.AT_FDCWD, path, follow ? 0 : C.AT_SYMLINK_NOFOLLOW, C.STATX_TYPE, libc.addr(buf));
  if (rc < 0) return rc;
  return new DataView(buf.buffer).getUint16(Statx.mode, true) & C.S_IFMT;
}

/** f_type of the filesystem `path` is on, or -errno. */
export function fsType(path: string): number {
  const fd = libc.openat(C.AT_FDCWD, path, C.O_PATH | C.O_CLOEXEC);
  if (fd < 0) return fd;
  const buf = libc.pinnedBytes(Statfs.size);
  const rc = libc.fstatfs(fd, libc.addr(buf));
  libc.close(fd);
  return rc < 0 ? rc : Number(new DataView(buf.buffer).getBigInt64(Statfs.type, true));
}

/** mkdir -p: 0 if `path` is a directory at the end, or -errno. */
export function mkdirAll(path: string, mode: number): number {
  const rc = libc.mkdirat(C.AT_FDCWD, path, mode);
  if (rc === 0) return 0;
  if (rc === -C.EEXIST) return fileType(path, true) === C.S_IFDIR ? 0 : -C.ENOTDIR;
  if (rc !== -C.ENOENT) return rc;
  const parent = dirname(path);
  if (parent === path) return rc;
  const prc = mkdirAll(parent, mode);
  if (prc < 0) return prc;
  const again = libc.mkdirat(C.AT_FDCWD, path, mode);
  return again === -C.EEXIST && fileType(path, true) === C.S_IFDIR ? 0 : again;
}

/** Creates `path` as an empty file if it does not exist (touch). 0 or -errno. */
export function touch(path: string, mode: number): number {
  const fd = libc.openat(C.AT_FDCWD, path, C.O_WRONLY | C.O_CREAT | C.O_APPEND | C.O_CLOEXEC | C.O_NOFOLLOW, mode);
  if (fd < 0) return fd;
  libc.close(fd);
  return 0;
}

/** Up to `max` bytes of `path` from its start, or -errno. */
export function readFile(path: string, max = 1 << 24): Uint8Array | number {
  const fd = libc.openat(C.AT_FDCWD, path, C.O_RDONLY | C.O_CLOEXEC);
  if (fd < 0) return fd;
  const data = readToEnd(fd, max);
  libc.close(fd);
  return data;
}

/** Up to `max` bytes of `fd` from its current offset to its end, or -errno. */
export function readToEnd(fd: number, max = 1 << 24): Uint8Array | number {
  let buf = libc.pinnedBytes(Math.min(max, 1 << 16));
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      if (len >= max) break;
      const bigger = libc.pinnedBytes(Math.min(max, buf.length * 2));
      bigger.set(buf);
      buf = bigger;
    }
    const n = libc.readFd(fd, libc.addr(buf) + len, buf.length - len);
    if (n < 0) return n;
    if (n === 0) break;
    len += n;
  }
  return buf.subarray(0, len);
}

/** Creates or truncates `path` with `data`. 0 or -errno (-EIO for a short write). */
export function writeFile(path: string, data: Uint8Array, mode: number): number {
  const fd = libc.openat(C.AT_FDCWD, path, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_CLOEXEC | C.O_NOFOLLOW, mode);
  if (fd < 0) return fd;
  const copy = libc.pinnedBytes(data.length);
  copy.set(data);
  let off = 0;
  while (off < copy.length) {
    const n = libc.writeFd(fd, libc.addr(copy) + off, copy.length - off);
    if (n <= 0) {
      libc.close(fd);
      return n < 0 ? n : -C.EIO;
    }
    off += n;
  }
  libc.close(fd);
  return 0;
}
