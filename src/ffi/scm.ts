// SCM_RIGHTS messages on Unix sockets: one msghdr/iovec/control area for
// every socket of the process (the loop is single-threaded and each call
// completes before the next). Both protocols' transports use these.
import * as C from "./constants";
import { cmsgSpace, Cmsghdr, Iovec, Msghdr, setU64 } from "./layout";
import * as libc from "./libc";

export const MAX_RECV_FDS = 16;
const MAX_SEND_FDS = 253; // SCM_MAX_FD

const msg = libc.pinnedBytes(Msghdr.size);
const msgView = new DataView(msg.buffer);
export const msgAddr = libc.addr(msg);
const iov = libc.pinnedBytes(Iovec.size);
const iovView = new DataView(iov.buffer);
const iovAddr = libc.addr(iov);
const ctl = libc.pinnedBytes(cmsgSpace(4 * MAX_SEND_FDS));
const ctlView = new DataView(ctl.buffer);
const ctlAddr = libc.addr(ctl);

export function setupMsg(bufAddr: number, len: number, controlLen: number): void {
  msg.fill(0);
  setU64(iovView, Iovec.base, bufAddr);
  setU64(iovView, Iovec.len, len);
  setU64(msgView, Msghdr.iov, iovAddr);
  setU64(msgView, Msghdr.iovlen, 1);
  if (controlLen > 0) {
    setU64(msgView, Msghdr.control, ctlAddr);
    setU64(msgView, Msghdr.controllen, controlLen);
  }
}

/** The FDs that came with the last recvmsg, in order. */
function receivedFds(): readonly number[] {
  const controlLen = msgView.getUint32(Msghdr.controllen, true);
  // The common case, every message of a well-behaved client: no garbage.
  if (controlLen < Cmsghdr.data) return NO_FDS;
  const fds: number[] = [];
  let off = 0;
  while (off + Cmsghdr.data <= controlLen) {
    const len = Number(ctlView.getBigUint64(off + Cmsghdr.len, true));
    if (len < Cmsghdr.data) break;
    if (ctlView.getInt32(off + Cmsghdr.level, true) === C.SOL_SOCKET && ctlView.getInt32(off + Cmsghdr.type, true) === C.SCM_RIGHTS) {
      for (let p = off + Cmsghdr.data; p + 4 <= off + len && p + 4 <= controlLen; p += 4) fds.push(ctlView.getInt32(p, true));
    }
    off += (len + 7) & ~7;
  }
  return fds;
}

/** Closes any FDs that came with the last recvmsg: gofer clients never send
 * FDs, and a hostile one must not make us hold its FDs. Returns how many
 * there were. */
export function closeReceivedFds(): number {
  const fds = receivedFds();
  closeAll(fds);
  return fds.length;
}

/** One recvmsg of up to `len` bytes into `bufAddr`, taking up to
 * MAX_RECV_FDS FDs (close-on-exec) with it: for the few peers that do send
 * FDs (runsc's RPC replies, the sandbox's pidfd). */
export function recvWithFds(fd: number, bufAddr: number, len: number, flags: number): { n: number; fds: readonly number[] } {
  setupMsg(bufAddr, len, cmsgSpace(4 * MAX_RECV_FDS));
  const n = libc.recvmsg(fd, msgAddr, flags | C.MSG_CMSG_CLOEXEC);
  return { n, fds: n >= 0 ? receivedFds() : [] };
}

/** Sends one SCM_RIGHTS message carrying `fds` and `len` bytes at `bufAddr`
 * (len may be 0 on a SOCK_SEQPACKET socket). Returns bytes sent or -errno. */
export function sendWithFds(fd: number, bufAddr: number, len: number, fds: readonly number[]): number {
  const n = Math.min(fds.length, MAX_SEND_FDS);
  const controlLen = n > 0 ? cmsgSpace(4 * n) : 0;
  // len 0 keeps one empty iovec rather than msg_iovlen 0: the same to the
  // kernel, but qemu-user (Debian's 7.2) returns 0 for msg_iovlen 0 without
  // sending, so a channel's donated FD never arrived there (docs/shipping.md).
  setupMsg(bufAddr, len, controlLen);
  if (n > 0) {
    ctl.fill(0, 0, controlLen);
    setU64(ctlView, Cmsghdr.len, 16 + 4 * n);
    ctlView.setInt32(Cmsghdr.level, C.SOL_SOCKET, true);
    ctlView.setInt32(Cmsghdr.type, C.SCM_RIGHTS, true);
    for (let i = 0; i < n; i++) ctlView.setInt32(Cmsghdr.data + 4 * i, fds[i], true);
  }
  return libc.sendmsg(fd, msgAddr, C.MSG_DONTWAIT | C.MSG_NOSIGNAL);
}

export function closeAll(fds: readonly number[]): void {
  for (let i = 0; i < fds.length; i++) libc.close(fds[i]);
}

/** No FDs to send: shared, so a reply without FDs allocates no array. */
export const NO_FDS: readonly number[] = Object.freeze([]);

/** The FDs donated with the response being built: ours until they are sent
 * or dropped. */
export class DonatedFds {
  private fds: number[] = [];

  add(fd: number): void {
    this.fds.push(fd);
  }

  /** Hands the FDs over (the taker closes them); NO_FDS when there are none,
   * the common case, which allocates nothing. */
  take(): readonly number[] {
    if (this.fds.length === 0) return NO_FDS;
    const fds = this.fds;
    this.fds = [];
    return fds;
  }

  discard(): void {
    closeAll(this.take());
  }
}

/**
 * A non-blocking socket's outgoing side: a response is sent at once, and
 * what the socket does not take (all of it, or the tail) is kept with the
 * FDs that go with its first byte, to be sent when the socket is writable
 * again. Our copies of donated FDs are closed once sent or dropped.
 */
export class Outbox {
  private rest: Uint8Array | null = null;
  private restFds: readonly number[] = NO_FDS;

  constructor(private readonly sock: number) {}

  /** Whether a response is still waiting for the socket. */
  blocked(): boolean {
    return this.rest !== null;
  }

  /** Sends bytes [0, len) of `buf` (at address `bufAddr`) with `fds`.
   * false: the connection is broken. */
  send(buf: Uint8Array, bufAddr: number, len: number, fds: readonly number[]): boolean {
    const n = sendWithFds(this.sock, bufAddr, len, fds);
    if (n === -C.EAGAIN) {
      this.rest = buf.slice(0, len);
      this.restFds = fds;
      return true;
    }
    closeAll(fds);
    if (n < 0) return false;
    if (n < len) this.rest = buf.slice(n, len);
    return true;
  }

  /** Continues a blocked send: true when nothing is left, false if the
   * socket is still full. */
  flush(): boolean | "broken" {
    const rest = this.rest;
    if (!rest) return true;
    const n = sendWithFds(this.sock, libc.addr(rest), rest.byteLength, this.restFds);
    if (n === -C.EAGAIN) return false;
    closeAll(this.restFds);
    this.restFds = NO_FDS;
    if (n < 0) return "broken";
    this.rest = n < rest.byteLength ? rest.slice(n) : null;
    return this.rest === null;
  }

  /** Drops what is left (the connection is closing). */
  clear(): void {
    closeAll(this.restFds);
    this.restFds = NO_FDS;
    this.rest = null;
  }
}
