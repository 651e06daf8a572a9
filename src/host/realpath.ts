// A host path as realpath(3) resolves it, asked of the kernel: open it
// (following every symlink), then read back the path of what was opened
// from /proc/self/fd. No node:fs on the start path: loading it costs a
// gofer ~1.6 MiB of memory for the one stat and realpath of each --mount.
import { byteString } from "../ffi/bytestring";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";

/** The canonical absolute path of `path` (byte strings), or -errno. */
export function realPath(path: string): string | number {
  const fd = libc.openat(C.AT_FDCWD, path, C.O_PATH | C.O_CLOEXEC);
  if (fd < 0) return fd;
  const buf = libc.pinnedBytes(C.PATH_MAX);
  const n = libc.readlinkat(C.AT_FDCWD, `/proc/self/fd/${fd}`, libc.addr(buf), buf.byteLength);
  libc.close(fd);
  if (n < 0) return n;
  // The kernel marks a path it could not reach from our root.
  if (n >= buf.byteLength || buf[0] !== 0x2f) return -C.ENOENT;
  return byteString(buf, 0, n);
}
