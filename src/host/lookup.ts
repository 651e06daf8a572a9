// Looking up one name in a directory the gofer holds: every lookup is one
// name at a time, relative to an FD we hold, with O_NOFOLLOW; names are
// checked before use; no path is ever resolved from "/" except the mount
// point itself, which the user named on the command line.
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import type { Errno } from "./errno";
import { reopen } from "./procfd";
import { type StatBuffer, statFd } from "./stat";

/** Flags of every open of a client's name: never follow its last
 * component, never leak into a child. */
export const OPEN_FLAGS = C.O_NOFOLLOW | C.O_CLOEXEC;

/** A name the client may use: not "", ".", "..", and no "/" or NUL. 0 or
 * EINVAL. */
export function checkName(name: string): Errno {
  if (name === "" || name === "." || name === "..") return -C.EINVAL;
  if (name.indexOf("/") >= 0 || name.indexOf("\0") >= 0) return -C.EINVAL;
  return 0;
}

/** Opens dirfd/name read-only and non-blocking, falling back to O_PATH when
 * that is refused (no read permission, a socket, a symlink: ELOOP...).
 * Stops at ENOENT. The FD or the openat errno. */
export function tryOpenAt(dirfd: number, name: string, extra = 0): number {
  let fd = libc.openat(dirfd, name, C.O_RDONLY | C.O_NONBLOCK | OPEN_FLAGS | extra);
  if (fd >= 0 || fd === -C.ENOENT) return fd;
  fd = libc.openat(dirfd, name, C.O_PATH | OPEN_FLAGS | extra);
  return fd;
}

/**
 * Opens dirfd/name without ever opening a special file: O_PATH first, and
 * only a regular file or directory is then reopened read-only through its
 * FD (as tryOpenAt holds it; O_PATH still if that is refused). A FIFO held
 * open for reading would let the client's non-blocking writer open where it
 * should get ENXIO, and opening a device node can act on the device. The
 * FD, with its stat in `st`, or the openat or statx errno.
 */
export function openQuietlyAt(dirfd: number, name: string, st: StatBuffer): number {
  const path = libc.openat(dirfd, name, C.O_PATH | OPEN_FLAGS);
  if (path < 0) return path;
  const rc = statFd(path, st);
  if (rc < 0) {
    libc.close(path);
    return rc;
  }
  const type = st.ftype();
  if (type !== C.S_IFREG && type !== C.S_IFDIR) return path;
  const fd = reopen(path, C.O_RDONLY | C.O_NONBLOCK | OPEN_FLAGS);
  if (fd < 0) return path;
  libc.close(path);
  return fd;
}
