// The lisafs channel framing (gVisor pkg/lisafs/channel.go): the datagram in
// the packet window starts with a 4-byte header (message u16, numFDs u8,
// pad u8); the FDs a reply donates go first on the channel's FD socket, one
// per message, and numFDs says how many made it. The window, the FD socket
// and the loop's watch are the serving core's (src/serve/channel.ts).
import * as serve from "../serve/channel";
import { ChannelHeader, MID } from "./message";

export class Channel extends serve.Channel {
  maxPayload(): number {
    return this.endpoint.dataCap - ChannelHeader.size;
  }

  request(): number {
    const len = this.endpoint.dataLen();
    if (len < ChannelHeader.size || len > this.endpoint.dataCap) return -1;
    this.mid = this.view.getUint16(ChannelHeader.message, true);
    return len - ChannelHeader.size;
  }

  respond(mid: number, failed: boolean, payloadLen: number): boolean {
    const sent = this.sendFds(255);
    this.view.setUint16(ChannelHeader.message, failed ? MID.Error : mid, true);
    this.u8[ChannelHeader.numFDs] = sent;
    this.u8[ChannelHeader.numFDs + 1] = 0;
    return this.endpoint.reply(ChannelHeader.size + payloadLen);
  }
}
