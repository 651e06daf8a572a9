// A connection's socket, as both protocols use it (gVisor's pkg/lisafs
// sock.go, pkg/p9 transport.go): a pinned buffer that holds one request and
// then the reply built over it, the FDs donated with the reply, and what
// the socket did not take yet. The protocol's subclass does the framing:
// receive() reads a request, send() writes the reply's header and sends.
//
// The socket is non-blocking and owned by the event loop: a request may
// arrive in pieces, and a reply the client does not read is kept until the
// socket is writable again, never blocking the thread that serves everyone.
import * as C from "../ffi/constants";
import { cmsgSpace } from "../ffi/layout";
import * as libc from "../ffi/libc";
import { closeReceivedFds, DonatedFds, MAX_RECV_FDS, msgAddr, Outbox, setupMsg } from "../ffi/scm";
import type { Comm } from "./comm";

// Grows (doubling) to the largest message the connection carries. Requests
// are small but for writes sent over the socket, and JSC zero-fills a
// buffer this size at once: every connection holds all of it.
const INITIAL_BUF = 16 * 1024;
const RECV_CONTROL = cmsgSpace(4 * MAX_RECV_FDS);

/** receive(): nothing more to read now. */
export const WAIT = -1;
/** receive(): the connection is over (closeReason says why). */
export const CLOSED = -2;

export abstract class Sock implements Comm {
  u8: Uint8Array;
  view: DataView;
  addr: number;
  readonly name: string;
  /** The request receive() returned: its message ID (lisafs MID, 9P type)
   * and, where the framing has one, its tag. */
  mid = 0;
  tag = -1;
  /** Why receive() returned CLOSED. */
  closeReason = "";
  /** Bytes of the request being read that are in u8. */
  protected have = 0;
  private readonly donated = new DonatedFds();
  /** Bytes of a reply not yet accepted by the socket. */
  private readonly out: Outbox;

  constructor(
    readonly fd: number,
    /** The framing's header size. */
    readonly payloadOff: number,
    /** Whether FDs can travel on this socket (Unix, not TCP). */
    readonly canDonate: boolean,
  ) {
    this.u8 = libc.pinnedBytes(INITIAL_BUF);
    this.view = new DataView(this.u8.buffer);
    this.addr = libc.addr(this.u8);
    this.name = `sock ${fd}`;
    this.out = new Outbox(fd);
  }

  /**
   * Reads until one whole request is in u8 (its header at 0), the socket
   * would block, or the peer is gone or broke the framing. Returns the
   * request's payload length (mid and tag set), WAIT or CLOSED.
   */
  abstract receive(): number;

  /** Sends the reply built in place to request `mid` (an error reply if
   * `failed`), with the donated FDs. False if the connection is broken. */
  abstract send(mid: number, failed: boolean, payloadLen: number): boolean;

  abstract maxPayload(): number;

  protected grow(size: number): void {
    if (size <= this.u8.byteLength) return;
    const n = libc.pinnedBytes(Math.max(size, this.u8.byteLength * 2));
    n.set(this.u8);
    this.u8 = n;
    this.view = new DataView(n.buffer);
    this.addr = libc.addr(n);
  }

  /** One recvmsg of up to `ask` bytes after the `have` already read: the
   * byte count (added to `have`), or WAIT or CLOSED. A client that sends
   * FDs is disconnected (clients send none), the FDs closed. */
  protected recv(ask: number): number {
    setupMsg(this.addr + this.have, ask, RECV_CONTROL);
    const n = libc.recvmsg(this.fd, msgAddr, C.MSG_DONTWAIT | C.MSG_CMSG_CLOEXEC);
    if (n === -C.EAGAIN || n === -C.EINTR) return WAIT;
    if (n < 0) return this.closed(`recvmsg: errno ${-n}`);
    if (closeReceivedFds() > 0) return this.closed("client sent FDs");
    if (n === 0) return this.closed("EOF");
    this.have += n;
    return n;
  }

  protected closed(reason: string): number {
    this.closeReason = reason;
    return CLOSED;
  }

  /** Sends bytes [0, len) of u8, the framed reply, with the donated FDs. */
  protected sendFrame(len: number): boolean {
    return this.out.send(this.u8, this.addr, len, this.donated.take());
  }

  reserve(size: number): boolean {
    if (size > this.maxPayload()) return false;
    this.grow(this.payloadOff + size);
    return true;
  }

  donate(fd: number): void {
    this.donated.add(fd);
  }

  discardFds(): void {
    this.donated.discard();
  }

  /** True while a reply is waiting for the socket to drain. */
  blocked(): boolean {
    return this.out.blocked();
  }

  /** Continues a partial send; true when nothing is pending any more. */
  flush(): boolean | "broken" {
    return this.out.flush();
  }

  /** The peer hung up: what it sent before is still to be read (a framing
   * that skips reads it expects to come back empty reads again). */
  readAgain(): void {}

  close(): void {
    this.discardFds();
    this.out.clear();
    libc.close(this.fd);
  }
}
