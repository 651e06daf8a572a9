// The lisafs socket framing (gVisor pkg/lisafs/sock.go): each message is an
// 8-byte header (payloadLen u32, message u16, pad u16) and its payload; FDs
// travel as SCM_RIGHTS on the reply's first bytes. The buffer, the donated
// FDs and the partial sends are the serving core's (src/serve/sock.ts).
import * as serve from "../serve/sock";
import { MID, SockHeader } from "./message";

export class Sock extends serve.Sock {
  constructor(
    fd: number,
    private readonly maxMessageSize: number,
  ) {
    super(fd, SockHeader.size, true);
  }

  maxPayload(): number {
    return this.maxMessageSize;
  }

  /** Reads exactly one request: its header, then the payload it announces. */
  receive(): number {
    for (;;) {
      let want = SockHeader.size;
      if (this.have >= SockHeader.size) {
        const payloadLen = this.view.getUint32(SockHeader.payloadLen, true);
        // gVisor's server would read and then refuse it; we do not buffer
        // what no honest client sends.
        if (payloadLen > this.maxMessageSize) return this.closed(`payload too large (${payloadLen} bytes)`);
        want = SockHeader.size + payloadLen;
        if (this.have === want) {
          this.have = 0;
          this.mid = this.view.getUint16(SockHeader.message, true);
          return payloadLen;
        }
        this.grow(want);
      }
      const n = this.recv(want - this.have);
      if (n < 0) return n;
    }
  }

  send(mid: number, failed: boolean, payloadLen: number): boolean {
    this.view.setUint32(SockHeader.payloadLen, payloadLen, true);
    this.view.setUint16(SockHeader.message, failed ? MID.Error : mid, true);
    this.view.setUint16(SockHeader.message + 2, 0, true);
    return this.sendFrame(SockHeader.size + payloadLen);
  }
}
