// Host Unix sockets for the client: connecting to a socket file it walked
// to, and sockets it binds (BindAt) and then listens and accepts on. Every
// socket is non-blocking, as its donated copy is anyway: an Accept with no
// pending connection answers EAGAIN instead of stalling the event loop.
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import type { Errno } from "./errno";
import type { HostFile } from "./file";
import { enterProcSelfFd } from "./procfd";

const UNIX_PATH_MAX = 108;

/** The socket types a client may ask for (stream, datagram, seqpacket). */
export function isSockTypeSupported(t: number): boolean {
  return t === C.SOCK_STREAM || t === C.SOCK_DGRAM || t === C.SOCK_SEQPACKET;
}

/** A new non-blocking AF_UNIX socket of `sockType`, or the socket errno. */
export function newSocket(sockType: number): number {
  return libc.socket(C.AF_UNIX, sockType | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, 0);
}

/** Connects `sock` to the socket file held as FD `fd`, through the FD's
 * /proc/self/fd link rather than the file's path: whatever has been renamed
 * or swapped for a symlink since the walk, this reaches the very socket the
 * client walked to, and never leaves the mount. 0 or the connect errno. */
export function connectHeld(sock: number, fd: number): Errno {
  return viaProcSelfFd(String(fd), (sa, len) => libc.connect(sock, sa, len));
}

/** Binds `sock` as `name` in the directory held as FD `dirFd`, through that
 * FD's /proc/self/fd link. 0 or the bind errno (EADDRINUSE for a name that
 * exists; EINVAL if the path would not fit a sockaddr_un). */
export function bindIn(sock: number, dirFd: number, name: string): Errno {
  return viaProcSelfFd(`${dirFd}/${name}`, (sa, len) => libc.bind(sock, sa, len));
}

/** Runs a socket call on the address `rel`, a path relative to our
 * /proc/self/fd directory, which is made the working directory first. */
function viaProcSelfFd(rel: string, call: (sa: number, len: number) => number): number {
  const rc = enterProcSelfFd();
  if (rc < 0) return rc;
  if (rel.length >= UNIX_PATH_MAX) return -C.EINVAL;
  sockaddr.fill(0);
  sockaddr[0] = C.AF_UNIX;
  for (let i = 0; i < rel.length; i++) sockaddr[2 + i] = rel.charCodeAt(i);
  return call(sockaddrAddr, 2 + rel.length + 1);
}

/** A sockaddr_un: the kernel reads it at its address. */
const sockaddr = libc.pinnedBytes(112);
const sockaddrAddr = libc.addr(sockaddr);

/** A socket the client bound (BindAt), which it may Listen on and Accept.
 * It counts as one of the connection's host FDs until closed. */
export class BoundSocket {
  closed = false;
  constructor(
    readonly file: HostFile,
    public sock: number,
  ) {
    file.mount.held++;
  }

  /** listen(2): 0 or its errno. */
  listen(backlog: number): Errno {
    return libc.listen(this.sock, backlog);
  }

  /** A new non-blocking connection, for the caller to donate, or the accept
   * errno (EAGAIN: none pending; EINVAL: not listening). */
  accept(): number {
    return libc.accept4(this.sock, C.O_NONBLOCK | C.O_CLOEXEC);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc.close(this.sock);
    this.file.mount.held--;
  }
}
