// SCM_RIGHTS messages on Unix sockets: one msghdr/iovec/control area for
// every socket of the process (the loop is single-threaded and each call
// completes before the next). Both protocols' transports use these.
import * as C from "./constants";
import { cmsgSpace, Cmsghdr, Iovec, Msghdr } from "./layout";
import * as libc from "./libc";

export const MAX_RECV_FDS = 16;
const MAX_SEND_FDS = 253; // SCM_MAX_FD

const msg = new Uint8Array(Msghdr.size);
const msgView = new DataView(msg.buffer);
export const msgAddr = libc.addr(msg);
const iov = new Uint8Array(Iovec.size);
const iovView = new DataView(iov.buffer);
const iovAddr = libc.addr(iov);
const ctl = new Uint8Array(cmsgSpace(4 * MAX_SEND_FDS));
const ctlView = new DataView(ctl.buffer);
const ctlAddr = libc.addr(ctl);

export function setupMsg(bufAddr: number, len: number, controlLen: number): void {
  msg.fill(0);
  iovView.setBigUint64(Iovec.base, BigInt(bufAddr), true);
  iovView.setBigUint64(Iovec.len, BigInt(len), true);
  msgView.setBigUint64(Msghdr.iov, BigInt(iovAddr), true);
  msgView.setBigUint64(Msghdr.iovlen, 1n, true);
  if (controlLen > 0) {
    msgView.setBigUint64(Msghdr.control, BigInt(ctlAddr), true);
    msgView.setBigUint64(Msghdr.controllen, BigInt(controlLen), true);
  }
}

/** Closes any FDs that came with the last recvmsg: gofer clients never send
 * FDs, and a hostile one must not make us hold its FDs. Returns how many
 * there were. */
export function closeReceivedFds(): number {
  const controlLen = Number(msgView.getBigUint64(Msghdr.controllen, true));
  let closed = 0;
  let off = 0;
  while (off + Cmsghdr.data <= controlLen) {
    const len = Number(ctlView.getBigUint64(off + Cmsghdr.len, true));
    if (len < Cmsghdr.data) break;
    if (ctlView.getInt32(off + Cmsghdr.level, true) === C.SOL_SOCKET && ctlView.getInt32(off + Cmsghdr.type, true) === C.SCM_RIGHTS) {
      for (let p = off + Cmsghdr.data; p + 4 <= off + len && p + 4 <= controlLen; p += 4) {
        libc.close(ctlView.getInt32(p, true));
        closed++;
      }
    }
    off += (len + 7) & ~7;
  }
  return closed;
}

/** Sends one SCM_RIGHTS message carrying `fds` and `len` bytes at `bufAddr`
 * (len may be 0 on a SOCK_SEQPACKET socket). Returns bytes sent or -errno. */
export function sendWithFds(fd: number, bufAddr: number, len: number, fds: number[]): number {
  const n = Math.min(fds.length, MAX_SEND_FDS);
  const controlLen = n > 0 ? cmsgSpace(4 * n) : 0;
  setupMsg(bufAddr, len, controlLen);
  if (len === 0) msgView.setBigUint64(Msghdr.iovlen, 0n, true);
  if (n > 0) {
    ctl.fill(0, 0, controlLen);
    ctlView.setBigUint64(Cmsghdr.len, BigInt(16 + 4 * n), true);
    ctlView.setInt32(Cmsghdr.level, C.SOL_SOCKET, true);
    ctlView.setInt32(Cmsghdr.type, C.SCM_RIGHTS, true);
    for (let i = 0; i < n; i++) ctlView.setInt32(Cmsghdr.data + 4 * i, fds[i], true);
  }
  return libc.sendmsg(fd, msgAddr, C.MSG_DONTWAIT | C.MSG_NOSIGNAL);
}

