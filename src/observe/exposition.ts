// The metrics as numbers (a snapshot) and as Prometheus's text exposition
// format (version 0.0.4). A snapshot is read from the counters at the time
// of the scrape: nothing is formatted or kept on the request path.
import { readdirSync, readFileSync } from "node:fs";
import { bucketBound, BUCKETS, type Gauges, type Metrics, type Protocol, rows } from "./metrics";
import { messageName } from "./trace";

/** Live connections that get their own series (the rest count in the
 * totals only): bounds a scrape's size whatever --max-connections is. */
export const PER_CONNECTION_SERIES = 64;

export interface MessageSnapshot {
  protocol: Protocol;
  message: string;
  count: number;
  /** errno -> requests that failed with it. */
  errors: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  durationSecondsSum: number;
  /** Cumulative counts for le = bucketBound(k), then +Inf. */
  buckets: number[];
}

export interface Snapshot {
  messages: MessageSnapshot[];
  connections: { connection: number; messages: MessageSnapshot[] }[];
  gauges: Gauges;
}

function messagesOf(protocol: Protocol, s: ReturnType<Metrics["total"]>): MessageSnapshot[] {
  const errs = new Map<number, Record<string, number>>();
  for (const [key, n] of s.errnos) {
    const mid = Math.floor(key / 65536);
    let e = errs.get(mid);
    if (!e) errs.set(mid, (e = {}));
    e[String(key % 65536)] = n;
  }
  return rows(s).map((r) => {
    const buckets: number[] = [];
    let acc = 0;
    for (let k = 0; k <= BUCKETS; k++) buckets.push((acc += r.buckets[k]));
    return {
      protocol,
      message: messageName(protocol, r.mid),
      count: r.count,
      errors: errs.get(r.mid) ?? {},
      bytesIn: r.bytesIn,
      bytesOut: r.bytesOut,
      durationSecondsSum: r.sum,
      buckets,
    };
  });
}

export function snapshot(m: Metrics, gauges: Gauges): Snapshot {
  const messages = [...messagesOf("lisafs", m.total("lisafs")), ...messagesOf("p9", m.total("p9"))];
  const connections = m
    .connections()
    .slice(0, PER_CONNECTION_SERIES)
    .map((c) => ({ connection: c.id, messages: messagesOf(c.stats.protocol, c.stats) }));
  return { messages, connections, gauges };
}

/** A label value, escaped as the format asks (backslash, quote, newline). */
const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** Renders a snapshot in the text exposition format. */
export function exposition(s: Snapshot): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const lbl = (m: MessageSnapshot, conn?: number) =>
    `${conn === undefined ? "" : `connection="${conn}",`}protocol="${m.protocol}",message="${esc(m.message)}"`;
  const counters = (prefix: string, scope: string, list: { conn?: number; messages: MessageSnapshot[] }[]) => {
    family(`${prefix}requests_total`, "counter", `Requests served${scope}, by protocol and message.`);
    for (const g of list) for (const m of g.messages) out.push(`${prefix}requests_total{${lbl(m, g.conn)}} ${m.count}`);
    family(`${prefix}request_errors_total`, "counter", `Requests answered with an error${scope}, by errno.`);
    for (const g of list)
      for (const m of g.messages)
        for (const [errno, n] of Object.entries(m.errors)) out.push(`${prefix}request_errors_total{${lbl(m, g.conn)},errno="${errno}"} ${n}`);
    family(`${prefix}request_bytes_total`, "counter", `Bytes received in requests${scope}, headers included.`);
    for (const g of list) for (const m of g.messages) out.push(`${prefix}request_bytes_total{${lbl(m, g.conn)}} ${m.bytesIn}`);
    family(`${prefix}reply_bytes_total`, "counter", `Bytes sent in replies${scope}, headers included.`);
    for (const g of list) for (const m of g.messages) out.push(`${prefix}reply_bytes_total{${lbl(m, g.conn)}} ${m.bytesOut}`);
  };
  counters("gofer_", "", [{ messages: s.messages }]);
  family("gofer_request_duration_seconds", "histogram", "Time from a request's arrival to its reply being ready.");
  for (const m of s.messages) {
    const l = lbl(m);
    for (let k = 0; k < BUCKETS; k++) out.push(`gofer_request_duration_seconds_bucket{${l},le="${bucketBound(k)}"} ${m.buckets[k]}`);
    out.push(`gofer_request_duration_seconds_bucket{${l},le="+Inf"} ${m.buckets[BUCKETS]}`);
    out.push(`gofer_request_duration_seconds_sum{${l}} ${m.durationSecondsSum}`);
    out.push(`gofer_request_duration_seconds_count{${l}} ${m.count}`);
  }
  counters(
    "gofer_connection_",
    " on one live connection",
    s.connections.map((c) => ({ conn: c.connection, messages: c.messages })),
  );
  const g = s.gauges;
  const gauge = (name: string, help: string, v: number) => {
    family(name, "gauge", help);
    out.push(`${name} ${v}`);
  };
  gauge("gofer_open_fds", "Host FDs the gofer process holds.", g.openFds);
  gauge("gofer_path_nodes", "Nodes in the path tree (docs/path-tracking.md).", g.pathNodes);
  gauge("gofer_channels", "Flipcall channels of live connections.", g.channels);
  gauge("gofer_connections", "Connections being served.", g.connections);
  gauge("gofer_memory_anonymous_bytes", "Anonymous memory of the process.", g.memoryAnonymousBytes);
  gauge("gofer_memory_rss_bytes", "Resident memory of the process.", g.memoryRssBytes);
  return `${out.join("\n")}\n`;
}

/** Process memory from /proc/self/status: VmRSS and RssAnon (the
 * kernel's count of anonymous resident pages), read from the mm's counters.
 * smaps_rollup would walk every mapping: 3-5 ms for Bun's address space,
 * and a scrape must not hold the loop that long. Zeros without /proc. */
export function memory(): { anonymous: number; rss: number } {
  try {
    const t = readFileSync("/proc/self/status", "latin1");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(t)?.[1] ?? 0) * 1024;
    return { anonymous: kb("RssAnon"), rss: kb("VmRSS") };
  } catch {
    return { anonymous: 0, rss: 0 };
  }
}

/** FDs the process holds (the listing's own FD not counted); 0 without /proc. */
export function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return 0;
  }
}
