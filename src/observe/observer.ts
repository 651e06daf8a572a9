// What a connection calls around each request when --trace or --metrics is
// on. A connection holds `observer: ConnObserver | null`; with both off it
// is null and the dispatch does one null check per request, builds nothing
// and reads no clock.
import { MessageStats, type Metrics, type Protocol } from "./metrics";
import type { Tracer } from "./trace";

/** The transport a request came on, as both protocols' comms expose it. */
export interface ObservedComm {
  u8: Uint8Array;
  view: DataView;
  /** A Channel (src/serve/channel.ts) carries its flipcall endpoint and id; a Sock does not. */
  endpoint?: unknown;
  id?: number;
}

/** Header bytes around a payload, per protocol and transport. */
const HEADER = { lisafs: { sock: 8, channel: 4 }, p9: { sock: 7, channel: 2 } } as const;

export class ConnObserver {
  readonly stats: MessageStats;
  private readonly hdr: { sock: number; channel: number };

  constructor(
    readonly id: number,
    readonly protocol: Protocol,
    private readonly metrics: Metrics | null,
    private readonly tracer: Tracer | null,
    /** Flipcall channels the connection has now. */
    readonly channels: () => number,
  ) {
    this.stats = new MessageStats(protocol);
    this.hdr = HEADER[protocol];
    metrics?.add(this);
  }

  /** Before the handler: traces the request (the handler writes its reply
   * over it) and returns the start time. */
  begin(comm: ObservedComm, mid: number, off: number, len: number, tag = -1): number {
    const t = this.tracer;
    if (t !== null && t.wants(this.protocol, mid))
      t.request(this.protocol, this.where(comm), mid, tag, comm.u8, comm.view, off, len);
    // Bun.nanoseconds: the cheapest clock Bun has (measured here 87-230 ns
    // against performance.now's 147-412 under load; docs/observability.md).
    return Bun.nanoseconds();
  }

  /**
   * After the handler, before the reply is sent (on a channel the client
   * owns the buffer again once it is): records the request and traces the
   * reply. `rc` is the handler's result (-errno or the reply's length),
   * `replyLen` the payload length sent.
   */
  end(comm: ObservedComm, mid: number, reqLen: number, rc: number, off: number, replyLen: number, t0: number, tag = -1): void {
    const us = (Bun.nanoseconds() - t0) / 1000;
    const errno = rc < 0 ? -rc : 0;
    const h = comm.endpoint === undefined ? this.hdr.sock : this.hdr.channel;
    if (this.metrics !== null) this.stats.record(mid, h + reqLen, h + replyLen, errno, us);
    const t = this.tracer;
    if (t !== null && t.wants(this.protocol, mid))
      t.reply(this.protocol, this.where(comm), mid, tag, errno, comm.u8, comm.view, off, replyLen, us);
  }

  /** The connection ended: its counts go to the totals. */
  retire(): void {
    this.metrics?.retire(this);
  }

  private where(comm: ObservedComm): { conn: number; channel: number | null } {
    return { conn: this.id, channel: comm.endpoint === undefined ? null : (comm.id ?? null) };
  }
}

/** What the server needs to observe its connections (null: nothing on). */
export interface Observation {
  metrics: Metrics | null;
  tracer: Tracer | null;
}
