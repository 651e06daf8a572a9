// The lisafs socket transport (gVisor pkg/lisafs/sock.go): each message is an
// 8-byte header (payloadLen u32, message u16, pad u16) and its payload; FDs
// travel as SCM_RIGHTS on the response's first bytes.
//
// The socket is non-blocking and owned by the event loop: a request may
// arrive in pieces, and a response the client does not read is kept until the
// socket is writable again, never blocking the thread that serves everyone.
import * as C from "../ffi/constants";
import { cmsgSpace } from "../ffi/layout";
import * as libc from "../ffi/libc";
import { closeReceivedFds, DonatedFds, MAX_RECV_FDS, msgAddr, Outbox, setupMsg } from "../ffi/scm";
import type { Comm } from "./comm";
import { SockHeader } from "./message";

const INITIAL_BUF = 64 * 1024;

export type SockEvent =
  | { kind: "message"; mid: number; payloadLen: number }
  | { kind: "wait" }
  | { kind: "closed"; reason: string };

export class SockComm implements Comm {
  u8: Uint8Array;
  view: DataView;
  addr: number;
  readonly payloadOff = SockHeader.size;
  readonly name: string;
  private have = 0;
  private readonly donated = new DonatedFds();
  /** Bytes of a response not yet accepted by the socket. */
  private readonly out: Outbox;

  constructor(
    readonly fd: number,
    private readonly maxMessageSize: number,
  ) {
    this.u8 = libc.pinnedBytes(INITIAL_BUF);
    this.view = new DataView(this.u8.buffer);
    this.addr = libc.addr(this.u8);
    this.name = `sock ${fd}`;
    this.out = new Outbox(fd);
  }

  private grow(size: number): void {
    if (size <= this.u8.byteLength) return;
    const n = libc.pinnedBytes(Math.max(size, this.u8.byteLength * 2));
    n.set(this.u8);
    this.u8 = n;
    this.view = new DataView(n.buffer);
    this.addr = libc.addr(n);
  }

  reserve(size: number): boolean {
    if (size > this.maxMessageSize) return false;
    this.grow(this.payloadOff + size);
    return true;
  }

  donate(fd: number): void {
    this.donated.add(fd);
  }

  /** True while a response is waiting for the socket to drain. */
  blocked(): boolean {
    return this.out.blocked();
  }

  /** Reads until one whole request is buffered, the socket would block, or
   * the peer is gone. */
  receive(): SockEvent {
    for (;;) {
      let want = SockHeader.size;
      if (this.have >= SockHeader.size) {
        const payloadLen = this.view.getUint32(SockHeader.payloadLen, true);
        // gVisor's server would read and then refuse it; we do not buffer
        // what no honest client sends.
        if (payloadLen > this.maxMessageSize) return { kind: "closed", reason: `payload too large (${payloadLen} bytes)` };
        want = SockHeader.size + payloadLen;
        if (this.have === want) {
          this.have = 0;
          return { kind: "message", mid: this.view.getUint16(SockHeader.message, true), payloadLen };
        }
        this.grow(want);
      }
      setupMsg(this.addr + this.have, want - this.have, cmsgSpace(4 * MAX_RECV_FDS));
      const n = libc.recvmsg(this.fd, msgAddr, C.MSG_DONTWAIT | C.MSG_CMSG_CLOEXEC);
      if (n === -C.EAGAIN || n === -C.EINTR) return { kind: "wait" };
      if (n < 0) return { kind: "closed", reason: `recvmsg: errno ${-n}` };
      if (closeReceivedFds() > 0) return { kind: "closed", reason: "client sent FDs" };
      if (n === 0) return { kind: "closed", reason: "EOF" };
      this.have += n;
    }
  }

  /** Sends the response built in place (header + payload) with the donated
   * FDs, then closes our copies of them. Returns false if the connection is
   * broken. */
  send(mid: number, payloadLen: number): boolean {
    this.view.setUint32(SockHeader.payloadLen, payloadLen, true);
    this.view.setUint16(SockHeader.message, mid, true);
    this.view.setUint16(SockHeader.message + 2, 0, true);
    const total = SockHeader.size + payloadLen;
    return this.out.send(this.u8, this.addr, total, this.donated.take());
  }

  /** Continues a partial send; true when nothing is pending any more. */
  flush(): boolean | "broken" {
    return this.out.flush();
  }

  /** Drops FDs collected for a response that will not be sent. */
  discardFds(): void {
    this.donated.discard();
  }

  close(): void {
    this.discardFds();
    this.out.clear();
    libc.close(this.fd);
  }
}
