// Request metrics: per connection and per message type, counts, errors by
// errno, bytes in and out and a log-scale latency histogram, kept in flat
// Float64Arrays indexed by message ID so that recording one request is a few
// array increments and no allocation. Totals are not kept on the hot path:
// a scrape sums the live connections and what closed ones left behind
// (docs/observability.md).

export type Protocol = "lisafs" | "p9";

/** Histogram buckets: le = 2^k µs for k = 0..BUCKETS-1 (1 µs .. ~8.4 s),
 * then +Inf. A request's bucket is found with one clz32. */
export const BUCKETS = 24;
/** Upper bound of finite bucket k, in seconds. */
export const bucketBound = (k: number): number => 2 ** k / 1e6;

// Per message: count, errors, bytes in, bytes out, duration sum (s), then
// BUCKETS + 1 non-cumulative bucket counts.
const COUNT = 0;
const ERRORS = 1;
const BYTES_IN = 2;
const BYTES_OUT = 3;
const SUM = 4;
const HIST = 5;
export const STRIDE = HIST + BUCKETS + 1;

/** Message IDs a protocol can carry: lisafs's are u16 but gVisor's table
 * ends at 33; 9P's are u8. Out-of-range IDs count under the last slot. */
export const SLOTS: Record<Protocol, number> = { lisafs: 64, p9: 256 };

/** The counters of one protocol on one connection (or the retired total). */
export class MessageStats {
  readonly v: Float64Array;
  /** (mid << 16 | errno) -> count. Errors are rare: a Map is enough. */
  readonly errnos = new Map<number, number>();
  private readonly slots: number;

  constructor(readonly protocol: Protocol) {
    this.slots = SLOTS[protocol];
    this.v = new Float64Array(this.slots * STRIDE);
  }

  /** Records one request: `errno` 0 for success, `us` its handling time. */
  record(mid: number, bytesIn: number, bytesOut: number, errno: number, us: number): void {
    if (mid >= this.slots) mid = this.slots - 1;
    const o = mid * STRIDE;
    const v = this.v;
    v[o + COUNT]++;
    v[o + BYTES_IN] += bytesIn;
    v[o + BYTES_OUT] += bytesOut;
    v[o + SUM] += us * 1e-6;
    // us in [2^(k-1), 2^k) -> bucket k (le 2^k µs); below 1 µs -> bucket 0.
    const k = us < 1 ? 0 : 32 - Math.clz32(us);
    v[o + HIST + (k < BUCKETS ? k : BUCKETS)]++;
    if (errno !== 0) {
      v[o + ERRORS]++;
      const key = mid * 65536 + errno;
      this.errnos.set(key, (this.errnos.get(key) ?? 0) + 1);
    }
  }

  /** Adds `other`'s counts into this (a connection retiring into the total). */
  add(other: MessageStats): void {
    const a = this.v;
    const b = other.v;
    for (let i = 0; i < a.length; i++) a[i] += b[i];
    for (const [k, n] of other.errnos) this.errnos.set(k, (this.errnos.get(k) ?? 0) + n);
  }

  count(mid: number): number {
    return this.v[mid * STRIDE + COUNT];
  }
}

/** One message type's numbers, read out of a MessageStats for exposition. */
export interface MessageRow {
  mid: number;
  count: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  sum: number;
  /** Non-cumulative bucket counts, BUCKETS + 1 (the last is +Inf). */
  buckets: Float64Array;
}

/** The message types `s` has seen, in ID order. */
export function rows(s: MessageStats): MessageRow[] {
  const out: MessageRow[] = [];
  const v = s.v;
  for (let mid = 0; mid < SLOTS[s.protocol]; mid++) {
    const o = mid * STRIDE;
    if (v[o + COUNT] === 0) continue;
    out.push({
      mid,
      count: v[o + COUNT],
      errors: v[o + ERRORS],
      bytesIn: v[o + BYTES_IN],
      bytesOut: v[o + BYTES_OUT],
      sum: v[o + SUM],
      buckets: v.subarray(o + HIST, o + HIST + BUCKETS + 1),
    });
  }
  return out;
}

/** A connection as the metrics see it. */
export interface ConnectionSource {
  readonly id: number;
  readonly stats: MessageStats;
  /** Flipcall channels it has now. */
  channels(): number;
}

/** Numbers only the process can tell, read at scrape time. */
export interface Gauges {
  openFds: number;
  pathNodes: number;
  channels: number;
  connections: number;
  memoryAnonymousBytes: number;
  memoryRssBytes: number;
}

/**
 * The registry: live connections and the totals of closed ones. Connections
 * register when they start and retire when they end; per-connection series
 * exist for live connections only (at most --max-connections of them, and
 * at most PER_CONNECTION_SERIES are exposed, see exposition.ts).
 */
export class Metrics {
  private readonly live = new Map<number, ConnectionSource>();
  private readonly retired: Record<Protocol, MessageStats> = { lisafs: new MessageStats("lisafs"), p9: new MessageStats("p9") };
  private nextId = 1;

  /** Allocates a connection ID (shared with the trace's `conn` field). */
  newId(): number {
    return this.nextId++;
  }

  add(c: ConnectionSource): void {
    this.live.set(c.id, c);
  }

  retire(c: ConnectionSource): void {
    if (!this.live.delete(c.id)) return;
    this.retired[c.stats.protocol].add(c.stats);
  }

  connections(): ConnectionSource[] {
    return [...this.live.values()];
  }

  /** The total of one protocol: closed connections plus live ones. */
  total(protocol: Protocol): MessageStats {
    const t = new MessageStats(protocol);
    t.add(this.retired[protocol]);
    for (const c of this.live.values()) if (c.stats.protocol === protocol) t.add(c.stats);
    return t;
  }

  liveChannels(): number {
    let n = 0;
    for (const c of this.live.values()) n += c.channels();
    return n;
  }
}
