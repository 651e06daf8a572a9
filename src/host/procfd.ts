// Our /proc/self/fd directory, held open for life: through it the gofer
// reopens a file it holds with other flags, or names it for a call that
// takes no FD, without resolving the file's path again (a path a client
// could have swapped for a symlink since). Opened once at start-up, before
// runsc's chroot takes /proc out of our mount view.
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import type { Errno } from "./errno";
import { openMountinfo } from "./mountpoints";

let procSelfFd = -1;

/** Opens `path` (our /proc/self/fd, or a bind of it) as the directory every
 * call below goes through; also our mountinfo beside it. 0 or the openat
 * errno. */
export function openProcSelfFd(path = "/proc/self/fd"): Errno {
  const fd = libc.openat(C.AT_FDCWD, path, C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC);
  if (fd < 0) return fd;
  procSelfFd = fd;
  // Held for life, like /proc/self/fd itself: opened here, so that it is
  // part of the process from the start rather than appearing at the first
  // listing.
  openMountinfo(fd);
  return 0;
}

/** The /proc/self/fd directory FD (-1 before openProcSelfFd), for calls
 * that read a held FD's link (mountPointsIn). */
export function procSelfFdDir(): number {
  return procSelfFd;
}

/** Opens the file `fd` holds again with `flags` (O_CLOEXEC added; the link
 * is followed, so O_NOFOLLOW is dropped). The new FD or the openat errno:
 * ENXIO for a FIFO's write end with no reader, EWOULDBLOCK under a lease
 * with O_NONBLOCK, EACCES as the file's permissions say. */
export function reopen(fd: number, flags: number): number {
  return libc.openat(procSelfFd, String(fd), (flags | C.O_CLOEXEC) & ~C.O_NOFOLLOW);
}

/** fchmodat through `fd`'s link: reaches a file held by O_PATH, whose FD
 * fchmod refuses (EBADF). Not for a symlink (Linux cannot change its mode). */
export function chmodHeld(fd: number, mode: number): Errno {
  return libc.fchmodat(procSelfFd, String(fd), mode, 0);
}

/** utimensat through `fd`'s link, with the two timespecs at `timesAddr`:
 * glibc's utimensat refuses a NULL path and an O_PATH FD cannot take
 * futimens; the link names the open file itself, never a path. */
export function utimensHeld(fd: number, timesAddr: number): Errno {
  return libc.utimensat(procSelfFd, String(fd), timesAddr, 0);
}

/** Makes /proc/self/fd the working directory, so that "N/name" names `name`
 * in the directory held as FD N (for calls that take only a path: l*xattr,
 * a socket's bind and connect). The path then needs no /proc in our mount
 * view. 0 or the fchdir errno. */
export function enterProcSelfFd(): Errno {
  return libc.fchdir(procSelfFd);
}
