// The p9 channel framing (gVisor pkg/p9/transport_flipcall.go): the packet
// window carries one message at a time as type u8, hasFD u8, body (no size,
// no tag); a reply's FD (at most one) goes first on the channel's FD
// socket. The window, the FD socket and the loop's watch are the serving
// core's (src/serve/channel.ts).
import * as serve from "../serve/channel";
import { ChannelHeader, Rlerror } from "./message";
import type { Sock } from "./sock";

export class Channel extends serve.Channel {
  constructor(
    server: serve.ChannelServer,
    parts: serve.ChannelParts,
    /** The connection's socket: its msize bounds a reply here too. */
    private readonly sock: Sock,
  ) {
    super(server, parts, ChannelHeader.size);
  }

  maxPayload(): number {
    return Math.min(this.endpoint.dataCap, this.sock.msize) - ChannelHeader.size;
  }

  request(): number {
    const len = this.endpoint.dataLen();
    if (len < ChannelHeader.size || len > this.endpoint.dataCap) return -1;
    // Clients never send FDs; a request claiming one is malformed.
    if (this.u8[ChannelHeader.hasFd] !== 0) return -1;
    this.mid = this.u8[ChannelHeader.type];
    return len - ChannelHeader.size;
  }

  respond(type: number, failed: boolean, bodyLen: number): boolean {
    const sent = this.sendFds(1);
    this.u8[ChannelHeader.type] = failed ? Rlerror : type + 1;
    this.u8[ChannelHeader.hasFd] = sent;
    return this.endpoint.reply(ChannelHeader.size + bodyLen);
  }
}
