// The 9P socket transport (gVisor pkg/p9/transport.go): each message is
// size u32 (the whole message), type u8, tag u16, then its body. A response
// may carry one host FD as SCM_RIGHTS on its first bytes.
//
// The socket is non-blocking and owned by the event loop: a request may
// arrive in pieces, and a response the client does not read is kept until the
// socket is writable again, never blocking the thread that serves everyone.
import * as C from "../ffi/constants";
import { cmsgSpace } from "../ffi/layout";
import * as libc from "../ffi/libc";
import { closeReceivedFds, DonatedFds, MAX_RECV_FDS, msgAddr, Outbox, setupMsg } from "../ffi/scm";
import { Header, MAX_MESSAGE_SIZE } from "./message";
import type { P9Comm } from "./comm";

const INITIAL_BUF = 64 * 1024;

export type SockEvent =
  | { kind: "message"; type: number; tag: number; bodyLen: number }
  | { kind: "wait" }
  | { kind: "closed"; reason: string };

const WAIT: SockEvent = { kind: "wait" };

export class P9Sock implements P9Comm {
  u8: Uint8Array;
  view: DataView;
  addr: number;
  readonly bodyOff: number = Header.size;
  readonly name: string;
  /** Negotiated by Tversion; until then the protocol's maximum. */
  msize = MAX_MESSAGE_SIZE;
  private have = 0;
  /** Bytes read past the message being served (a pipelining client), kept
   * aside because the response is built in place over the request. */
  private extra: Uint8Array | null = null;
  private extraOff = 0;
  /** The last recvmsg got less than it asked for: the socket was empty
   * then, so the next read would most likely be an EAGAIN; poll tells us
   * instead when more arrives. */
  private drained = false;
  private readonly donated = new DonatedFds();
  private readonly out: Outbox;

  constructor(
    readonly fd: number,
    /** Whether FDs can travel on this socket (Unix, not TCP). */
    readonly canDonate: boolean,
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

  reserve(bodySize: number): boolean {
    if (Header.size + bodySize > this.msize) return false;
    this.grow(Header.size + bodySize);
    return true;
  }

  /** Largest body a response may have. */
  maxBody(): number {
    return this.msize - Header.size;
  }

  donate(fd: number): void {
    this.donated.add(fd);
  }

  blocked(): boolean {
    return this.out.blocked();
  }

  /** Reads until one whole request is buffered, the socket would block, or
   * the peer is gone or broke the framing. */
  receive(): SockEvent {
    if (this.extra) {
      // Requests read ahead are served one by one, each copied alone into
      // the work buffer (linear in what was read, however small they are).
      const e = this.extra;
      const left = e.byteLength - this.extraOff;
      if (left >= Header.size) {
        const size = new DataView(e.buffer, e.byteOffset + this.extraOff).getUint32(Header.length, true);
        const bad = this.badSize(size);
        if (bad) return { kind: "closed", reason: bad };
        if (left >= size) {
          this.grow(size);
          this.u8.set(e.subarray(this.extraOff, this.extraOff + size));
          this.extraOff += size;
          if (this.extraOff === e.byteLength) this.extra = null;
          return this.message(size);
        }
      }
      // The start of a request: move it over and read the rest.
      this.grow(left);
      this.u8.set(e.subarray(this.extraOff));
      this.have = left;
      this.extra = null;
    }
    for (;;) {
      if (this.have >= Header.size) {
        const size = this.view.getUint32(Header.length, true);
        const bad = this.badSize(size);
        if (bad) return { kind: "closed", reason: bad };
        if (this.have >= size) {
          if (this.have > size) {
            this.extra = this.u8.slice(size, this.have);
            this.extraOff = 0;
          }
          this.have = 0;
          return this.message(size);
        }
        this.grow(size);
      }
      if (this.drained) {
        this.drained = false;
        return WAIT;
      }
      // As much as the buffer holds: usually the whole request in one call.
      const ask = this.u8.byteLength - this.have;
      setupMsg(this.addr + this.have, ask, cmsgSpace(4 * MAX_RECV_FDS));
      const n = libc.recvmsg(this.fd, msgAddr, C.MSG_DONTWAIT | C.MSG_CMSG_CLOEXEC);
      if (n === -C.EAGAIN || n === -C.EINTR) return WAIT;
      if (n < 0) return { kind: "closed", reason: `recvmsg: errno ${-n}` };
      if (closeReceivedFds() > 0) return { kind: "closed", reason: "client sent FDs" };
      if (n === 0) return { kind: "closed", reason: "EOF" };
      this.have += n;
      this.drained = n < ask;
    }
  }

  /** Why a request's size field breaks the connection, if it does. */
  private badSize(size: number): string | null {
    if (size < Header.size) return `message size ${size} is below the header size`;
    // As gVisor's recv: a message above msize is a broken connection.
    if (size > this.msize) return `message of ${size} bytes exceeds msize ${this.msize}`;
    return null;
  }

  /** The request now at the start of the work buffer. */
  private message(size: number): SockEvent {
    const m = this.nextMessage;
    m.type = this.u8[Header.type];
    m.tag = this.view.getUint16(Header.tag, true);
    m.bodyLen = size - Header.size;
    return m;
  }

  /** The event receive() returns for a request, reused: it is read before
   * the next receive(). */
  private readonly nextMessage = { kind: "message" as const, type: 0, tag: 0, bodyLen: 0 };

  /** Makes the next receive() read the socket even after a short read (the
   * peer hung up: nothing more can arrive, but what it sent is served). */
  readAgain(): void {
    this.drained = false;
  }

  /** Sends the response whose body was built in place, with the donated FD.
   * Returns false if the connection is broken. */
  send(type: number, tag: number, bodyLen: number): boolean {
    const total = Header.size + bodyLen;
    this.view.setUint32(Header.length, total, true);
    this.u8[Header.type] = type;
    this.view.setUint16(Header.tag, tag, true);
    return this.out.send(this.u8, this.addr, total, this.donated.take());
  }

  /** Continues a partial send; true when nothing is pending any more. */
  flush(): boolean | "broken" {
    return this.out.flush();
  }

  discardFds(): void {
    this.donated.discard();
  }

  close(): void {
    this.discardFds();
    this.out.clear();
    libc.close(this.fd);
  }
}
