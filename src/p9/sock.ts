// The 9P socket framing (gVisor pkg/p9/transport.go): each message is size
// u32 (the whole message), type u8, tag u16, then its body. A reply may
// carry one host FD as SCM_RIGHTS on its first bytes. The buffer, the
// donated FDs and the partial sends are the serving core's
// (src/serve/sock.ts).
import * as serve from "../serve/sock";
import { Header, MAX_MESSAGE_SIZE, Rlerror } from "./message";

export class Sock extends serve.Sock {
  /** Negotiated by Tversion; until then the protocol's maximum. */
  msize = MAX_MESSAGE_SIZE;
  /** Bytes read past the message being served (a pipelining client), kept
   * aside because the reply is built in place over the request. */
  private extra: Uint8Array | null = null;
  private extraOff = 0;
  /** The last recvmsg got less than it asked for: the socket was empty
   * then, so the next read would most likely be an EAGAIN; poll tells us
   * instead when more arrives. */
  private drained = false;

  constructor(fd: number, canDonate: boolean) {
    super(fd, Header.size, canDonate);
  }

  /** Largest body a reply may have. */
  maxPayload(): number {
    return this.msize - Header.size;
  }

  /** Reads as much as the buffer holds (usually the whole request in one
   * call); requests read past the first are served one by one. */
  receive(): number {
    if (this.extra) {
      // Requests read ahead are served one by one, each copied alone into
      // the work buffer (linear in what was read, however small they are).
      const e = this.extra;
      const left = e.byteLength - this.extraOff;
      if (left >= Header.size) {
        const size = new DataView(e.buffer, e.byteOffset + this.extraOff).getUint32(Header.length, true);
        const bad = this.badSize(size);
        if (bad) return this.closed(bad);
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
        if (bad) return this.closed(bad);
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
        return serve.WAIT;
      }
      const ask = this.u8.byteLength - this.have;
      const n = this.recv(ask);
      if (n < 0) return n;
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

  /** The request now at the start of the work buffer: its body length. */
  private message(size: number): number {
    this.mid = this.u8[Header.type];
    this.tag = this.view.getUint16(Header.tag, true);
    return size - Header.size;
  }

  /** Makes the next receive() read the socket even after a short read (the
   * peer hung up: nothing more can arrive, but what it sent is served). */
  override readAgain(): void {
    this.drained = false;
  }

  send(type: number, failed: boolean, bodyLen: number): boolean {
    const total = Header.size + bodyLen;
    this.view.setUint32(Header.length, total, true);
    this.u8[Header.type] = failed ? Rlerror : type + 1;
    this.view.setUint16(Header.tag, this.tag, true);
    return this.sendFrame(total);
  }
}
