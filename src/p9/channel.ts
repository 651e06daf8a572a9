// A p9 flipcall channel (gVisor pkg/p9/transport_flipcall.go): a packet
// window carrying one message at a time as type u8, hasFD u8, body (no size,
// no tag), and a SOCK_SEQPACKET socket on which a response's FD travels
// before the response itself.
import * as libc from "../ffi/libc";
import { ConnState, ServerEndpoint } from "../flipcall/flipcall";
import { sendWithFds } from "../ffi/scm";
import type { P9Comm } from "./comm";
import { ChannelHeader } from "./message";

export class P9Channel implements P9Comm {
  readonly u8: Uint8Array;
  readonly view: DataView;
  readonly addr: number;
  readonly bodyOff: number = ChannelHeader.size;
  readonly canDonate = true;
  readonly name: string;
  private fd: number | null = null;
  dead = false;

  constructor(
    readonly endpoint: ServerEndpoint,
    /** Our end of the FD socketpair. */
    readonly fdSock: number,
    /** The client's end, handed out (dup'd) by Tchannel with control 1. */
    readonly clientSock: number,
    readonly id: number,
    private readonly msize: () => number,
  ) {
    this.u8 = endpoint.data;
    this.view = endpoint.dataView;
    this.addr = endpoint.dataAddr;
    this.name = `channel ${id}`;
  }

  reserve(size: number): boolean {
    return size <= this.maxBody();
  }

  maxBody(): number {
    return Math.min(this.endpoint.dataCap, this.msize()) - ChannelHeader.size;
  }

  donate(fd: number): void {
    if (this.fd !== null) libc.close(this.fd);
    this.fd = fd;
  }

  pending(): boolean {
    return !this.dead && this.endpoint.state() !== ConnState.ClientActive;
  }

  /** The request in the packet: its type and body length, or null if the
   * datagram is malformed (the channel is then dropped, as gVisor's serving
   * goroutine gives up on it). */
  request(): { type: number; bodyLen: number } | null {
    const len = this.endpoint.dataLen();
    if (len < ChannelHeader.size || len > this.endpoint.dataCap) return null;
    // Clients never send FDs; a request claiming one is malformed.
    if (this.u8[ChannelHeader.hasFd] !== 0) return null;
    return { type: this.u8[ChannelHeader.type], bodyLen: len - ChannelHeader.size };
  }

  /** Sends the response built in place; its FD first, on the FD socket. */
  respond(type: number, bodyLen: number): boolean {
    let sent = 0;
    if (this.fd !== null) {
      if (sendWithFds(this.fdSock, 0, 0, [this.fd]) >= 0) sent = 1;
      libc.close(this.fd);
      this.fd = null;
    }
    this.u8[ChannelHeader.type] = type;
    this.u8[ChannelHeader.hasFd] = sent;
    return this.endpoint.reply(ChannelHeader.size + bodyLen);
  }

  discardFds(): void {
    if (this.fd !== null) libc.close(this.fd);
    this.fd = null;
  }

  shutdown(): void {
    this.dead = true;
    this.endpoint.shutdown();
  }

  destroy(): void {
    this.discardFds();
    libc.close(this.fdSock);
    libc.close(this.clientSock);
    this.endpoint.unmap();
  }
}
