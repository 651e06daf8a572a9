// A lisafs channel (gVisor pkg/lisafs/channel.go): a flipcall packet window
// for requests and responses, plus a SOCK_SEQPACKET socket on which the FDs a
// response donates travel, one per message. The datagram starts with a
// 4-byte header (message u16, numFDs u8, pad u8).
import * as libc from "../ffi/libc";
import { ConnState, ServerEndpoint } from "../flipcall/flipcall";
import type { Comm } from "./comm";
import { ChannelHeader } from "./message";
import { closeAll, DonatedFds, sendWithFds } from "../ffi/scm";

export class ChannelComm implements Comm {
  readonly u8: Uint8Array;
  readonly view: DataView;
  readonly addr: number;
  readonly payloadOff = ChannelHeader.size;
  readonly name: string;
  private readonly donated = new DonatedFds();
  dead = false;

  constructor(
    readonly endpoint: ServerEndpoint,
    /** Our end of the FD socketpair. */
    readonly fdSock: number,
    readonly id: number,
  ) {
    this.u8 = endpoint.data;
    this.view = endpoint.dataView;
    this.addr = endpoint.dataAddr;
    this.name = `channel ${id}`;
  }

  reserve(size: number): boolean {
    return this.payloadOff + size <= this.endpoint.dataCap;
  }

  donate(fd: number): void {
    this.donated.add(fd);
  }

  /** The state word says the client handed us the packet (or shut down). */
  pending(): boolean {
    return !this.dead && this.endpoint.state() !== ConnState.ClientActive;
  }

  /**
   * The request now in the packet: its message ID and payload length, or
   * null if the datagram is malformed (the channel is then dead, as in
   * gVisor, where the serving goroutine gives up on it).
   */
  request(): { mid: number; payloadLen: number } | null {
    const len = this.endpoint.dataLen();
    if (len < ChannelHeader.size || len > this.endpoint.dataCap) return null;
    return { mid: this.view.getUint16(ChannelHeader.message, true), payloadLen: len - ChannelHeader.size };
  }

  /** Sends the response built in place. FDs go first, on the FD socket; the
   * header says how many made it. */
  respond(mid: number, payloadLen: number): boolean {
    let sent = 0;
    const fds = this.donated.take();
    if (fds.length <= 255) {
      for (const fd of fds) {
        if (sendWithFds(this.fdSock, 0, 0, [fd]) < 0) break;
        sent++;
      }
    }
    closeAll(fds);
    this.view.setUint16(ChannelHeader.message, mid, true);
    this.u8[ChannelHeader.numFDs] = sent;
    this.u8[ChannelHeader.numFDs + 1] = 0;
    return this.endpoint.reply(ChannelHeader.size + payloadLen);
  }

  discardFds(): void {
    this.donated.discard();
  }

  /** Shuts the channel down; the caller unregisters it from the loop before
   * destroy() unmaps it. */
  shutdown(): void {
    this.dead = true;
    this.endpoint.shutdown();
  }

  destroy(): void {
    this.discardFds();
    libc.close(this.fdSock);
    this.endpoint.unmap();
  }
}
