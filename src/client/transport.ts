// The client side of the gofer's transports: blocking socket I/O with
// deadlines (SCM_RIGHTS included) and gVisor's flipcall channel (a shared
// memory packet window + a SOCK_SEQPACKET FD socket). Both protocol clients
// (lisafs.ts, p9.ts) ride on these; `gofer client` and the tests use them.
//
// Every wait has a deadline, so a server that stops answering ends in a
// TransportError instead of a hang.
import { toArrayBuffer } from "bun:ffi";
import * as C from "../ffi/constants";
import { Cmsghdr, Iovec, Msghdr, Pollfd, cmsgSpace } from "../ffi/layout";
import * as libc from "../ffi/libc";

/** How long any single wait for the server may take. */
export const REPLY_TIMEOUT_MS = 5_000;

/** The connection or channel went away (EOF, shutdown) or timed out. */
export class TransportError extends Error {}

// ---- low-level socket helpers -------------------------------------------------

const MAX_RECV_FDS = 16;

/** Waits until fd is ready for `events`; throws TransportError on timeout. */
export function waitFd(fd: number, events: number, timeoutMs = REPLY_TIMEOUT_MS): number {
  const pfd = new Uint8Array(Pollfd.size);
  const v = new DataView(pfd.buffer);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    v.setInt32(Pollfd.fd, fd, true);
    v.setInt16(Pollfd.events, events, true);
    v.setInt16(Pollfd.revents, 0, true);
    const left = deadline - Date.now();
    if (left <= 0) throw new TransportError(`timed out waiting on fd ${fd}`);
    const rc = libc.poll(libc.addr(pfd), 1, Math.min(left, 1000));
    if (rc === -C.EINTR || rc === 0) continue;
    if (rc < 0) throw new TransportError(`poll: errno ${-rc}`);
    return v.getUint16(Pollfd.revents, true);
  }
}

/** True if fd becomes readable (data or EOF) within timeoutMs. */
export function readable(fd: number, timeoutMs: number): boolean {
  try {
    return (waitFd(fd, C.POLLIN, timeoutMs) & (C.POLLIN | C.POLLHUP | C.POLLERR)) !== 0;
  } catch (e) {
    if (e instanceof TransportError) return false;
    throw e;
  }
}

/** One sendmsg of buf[off, off+len) with optional SCM_RIGHTS; returns bytes or -errno. */
export function sendmsg(fd: number, buf: Uint8Array, off: number, len: number, fds: number[] = [], flags = 0): number {
  const msg = new Uint8Array(Msghdr.size);
  const mv = new DataView(msg.buffer);
  const iov = new Uint8Array(Iovec.size);
  const iv = new DataView(iov.buffer);
  iv.setBigUint64(Iovec.base, BigInt(libc.addr(buf) + off), true);
  iv.setBigUint64(Iovec.len, BigInt(len), true);
  mv.setBigUint64(Msghdr.iov, BigInt(libc.addr(iov)), true);
  mv.setBigUint64(Msghdr.iovlen, 1n, true);
  let ctl: Uint8Array | null = null;
  if (fds.length > 0) {
    ctl = new Uint8Array(cmsgSpace(4 * fds.length));
    const cv = new DataView(ctl.buffer);
    cv.setBigUint64(Cmsghdr.len, BigInt(Cmsghdr.data + 4 * fds.length), true);
    cv.setInt32(Cmsghdr.level, C.SOL_SOCKET, true);
    cv.setInt32(Cmsghdr.type, C.SCM_RIGHTS, true);
    fds.forEach((f, i) => cv.setInt32(Cmsghdr.data + 4 * i, f, true));
    mv.setBigUint64(Msghdr.control, BigInt(libc.addr(ctl)), true);
    mv.setBigUint64(Msghdr.controllen, BigInt(ctl.byteLength), true);
  }
  const n = libc.sendmsg(fd, libc.addr(msg), flags | C.MSG_NOSIGNAL);
  void ctl; // kept alive until the call returns
  return n;
}

/** One recvmsg into buf[off, off+len); returns {n (bytes or -errno), fds}. FDs are CLOEXEC. */
export function recvmsg(fd: number, buf: Uint8Array, off: number, len: number, flags = 0): { n: number; fds: number[] } {
  const msg = new Uint8Array(Msghdr.size);
  const mv = new DataView(msg.buffer);
  const iov = new Uint8Array(Iovec.size);
  const iv = new DataView(iov.buffer);
  const ctl = new Uint8Array(cmsgSpace(4 * MAX_RECV_FDS));
  const cv = new DataView(ctl.buffer);
  iv.setBigUint64(Iovec.base, BigInt(libc.addr(buf) + off), true);
  iv.setBigUint64(Iovec.len, BigInt(len), true);
  mv.setBigUint64(Msghdr.iov, BigInt(libc.addr(iov)), true);
  mv.setBigUint64(Msghdr.iovlen, 1n, true);
  mv.setBigUint64(Msghdr.control, BigInt(libc.addr(ctl)), true);
  mv.setBigUint64(Msghdr.controllen, BigInt(ctl.byteLength), true);
  const n = libc.recvmsg(fd, libc.addr(msg), flags | C.MSG_CMSG_CLOEXEC);
  const fds: number[] = [];
  if (n >= 0) {
    const controlLen = Number(mv.getBigUint64(Msghdr.controllen, true));
    for (let p = 0; p + Cmsghdr.data <= controlLen; ) {
      const clen = Number(cv.getBigUint64(p + Cmsghdr.len, true));
      if (clen < Cmsghdr.data) break;
      if (cv.getInt32(p + Cmsghdr.level, true) === C.SOL_SOCKET && cv.getInt32(p + Cmsghdr.type, true) === C.SCM_RIGHTS)
        for (let q = p + Cmsghdr.data; q + 4 <= p + clen; q += 4) fds.push(cv.getInt32(q, true));
      p += (clen + 7) & ~7;
    }
  }
  return { n, fds };
}

/** Sends all of buf (FDs on the first bytes); throws on failure. */
export function sendAll(fd: number, buf: Uint8Array, len: number, fds: number[] = []): void {
  let off = 0;
  while (off < len) {
    waitFd(fd, C.POLLOUT);
    const n = sendmsg(fd, buf, off, len - off, off === 0 ? fds : [], C.MSG_DONTWAIT);
    if (n === -C.EAGAIN || n === -C.EINTR) continue;
    if (n < 0) throw new TransportError(`sendmsg: errno ${-n}`);
    off += n;
  }
}

/** Reads exactly len bytes into buf at off, collecting FDs; throws on EOF. */
export function recvAll(fd: number, buf: Uint8Array, off: number, len: number, fds: number[]): void {
  let got = 0;
  while (got < len) {
    waitFd(fd, C.POLLIN);
    const r = recvmsg(fd, buf, off + got, len - got, C.MSG_DONTWAIT);
    fds.push(...r.fds);
    if (r.n === -C.EAGAIN || r.n === -C.EINTR) continue;
    if (r.n < 0) throw new TransportError(`recvmsg: errno ${-r.n}`);
    if (r.n === 0) throw new TransportError("connection closed by the server");
    got += r.n;
  }
}

/** Returns true once fd reaches EOF (the peer closed it), false if it is
 * still open after timeoutMs. Data that arrives meanwhile is discarded and
 * FDs closed. */
export function waitEOF(fd: number, timeoutMs = REPLY_TIMEOUT_MS): boolean {
  const deadline = Date.now() + timeoutMs;
  const buf = new Uint8Array(65536);
  while (Date.now() < deadline) {
    if (!readable(fd, Math.max(1, deadline - Date.now()))) return false;
    const r = recvmsg(fd, buf, 0, buf.byteLength, C.MSG_DONTWAIT);
    for (const f of r.fds) libc.close(f);
    if (r.n === 0 || r.n === -C.ECONNRESET) return true;
  }
  return false;
}

// ---- flipcall channels --------------------------------------------------------

const PACKET_HEADER = 16; // flipcall: connState u32, dataLen u32, reserved
const STATE_CLIENT = 0;
const STATE_SERVER = 1;
const STATE_SHUTDOWN = 2;

/** A flipcall channel, client side: the packet window and its FD socket;
 * each protocol puts its own framing in `data`. */
export class FlipcallChannel {
  readonly base: number;
  readonly words: Int32Array;
  readonly data: Uint8Array;
  readonly dataView: DataView;
  private readonly timeout = new BigInt64Array(2);
  closed = false;

  constructor(
    readonly memfd: number,
    readonly fdSock: number,
    readonly offset: number,
    readonly length: number,
  ) {
    const base = libc.mmap(length, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, memfd, offset);
    if (base < 0) throw new TransportError(`mmap of the channel failed: errno ${-base}`);
    this.base = base;
    const ab = toArrayBuffer(base, 0, length);
    this.words = new Int32Array(ab, 0, 2);
    this.data = new Uint8Array(ab, PACKET_HEADER, length - PACKET_HEADER);
    this.dataView = new DataView(ab, PACKET_HEADER, length - PACKET_HEADER);
    // Connection handshake: "{}\n", as flipcall's client sends.
    this.data.set([0x7b, 0x7d, 0x0a], 0);
    this.flip(3);
  }

  get dataCap(): number {
    return this.data.byteLength;
  }

  /** Publishes dataLen bytes, hands the packet to the server and waits for it
   * to come back. Returns the reply's dataLen. */
  flip(dataLen: number): number {
    if (this.closed) throw new TransportError("channel closed");
    Atomics.store(this.words, 1, dataLen);
    const prev = Atomics.compareExchange(this.words, 0, STATE_CLIENT, STATE_SERVER);
    if (prev !== STATE_CLIENT) throw new TransportError(`channel state ${prev}, not client-active`);
    libc.futexWake(this.base, 1, 0);
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    for (;;) {
      const st = Atomics.load(this.words, 0);
      if (st === STATE_CLIENT) break;
      if (st === STATE_SHUTDOWN) throw new TransportError("channel shut down by the server");
      const left = deadline - Date.now();
      if (left <= 0) throw new TransportError("timed out waiting for the channel reply");
      const ms = Math.min(left, 1000);
      this.timeout[0] = BigInt(Math.floor(ms / 1000));
      this.timeout[1] = BigInt((ms % 1000) * 1e6);
      libc.futexWait(this.base, st, 0, libc.addr(this.timeout));
    }
    return Atomics.load(this.words, 1) >>> 0;
  }

  /** Receives `n` FDs the server queued on the channel's FD socket (one
   * byte and one FD per message, sent before the reply). */
  receiveFds(n: number): number[] {
    const fds: number[] = [];
    const one = new Uint8Array(1);
    for (let i = 0; i < n; i++) {
      waitFd(this.fdSock, C.POLLIN);
      const r = recvmsg(this.fdSock, one, 0, 1, C.MSG_DONTWAIT);
      if (r.fds.length === 0) throw new TransportError(`receiving a donated FD: ${r.n < 0 ? `errno ${-r.n}` : "none came"}`);
      fds.push(...r.fds);
    }
    return fds;
  }

  /** Marks the channel shut down (as flipcall's client does) and unmaps it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.words, 0, STATE_SHUTDOWN);
    libc.futexWake(this.base, 0x7fffffff, 0);
    libc.munmap(this.base, this.length);
    libc.close(this.fdSock);
    libc.close(this.memfd);
  }
}

