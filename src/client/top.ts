// `gofer client top --metrics ADDR`: a live view of a gofer started with
// --metrics (like diod's dtop): per message, its count, rate, errors, bytes
// and p50/p99 from the latency histogram, and the gauges, redrawn in place.
import { Command, Option } from "commander";
import { parseListen } from "../listen";
import { parsePrometheusText, type Sample } from "./prom";

export interface Row {
  protocol: string;
  message: string;
  count: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  /** Cumulative histogram: [le seconds, count], ascending, +Inf last. */
  buckets: [number, number][];
}

export interface Frame {
  rows: Map<string, Row>;
  gauges: Record<string, number>;
  at: number;
}

/** The per-message rows and gauges of one scrape. */
export function frameOf(samples: Sample[], at: number): Frame {
  const rows = new Map<string, Row>();
  const row = (s: Sample): Row => {
    const key = `${s.labels.protocol}\0${s.labels.message}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { protocol: s.labels.protocol, message: s.labels.message, count: 0, errors: 0, bytesIn: 0, bytesOut: 0, buckets: [] }));
    return r;
  };
  const gauges: Record<string, number> = {};
  for (const s of samples) {
    switch (s.name) {
      case "gofer_requests_total":
        row(s).count = s.value;
        break;
      case "gofer_request_errors_total":
        row(s).errors += s.value;
        break;
      case "gofer_request_bytes_total":
        row(s).bytesIn = s.value;
        break;
      case "gofer_reply_bytes_total":
        row(s).bytesOut = s.value;
        break;
      case "gofer_request_duration_seconds_bucket":
        row(s).buckets.push([s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value]);
        break;
      default:
        if (s.name.startsWith("gofer_") && Object.keys(s.labels).length === 0) gauges[s.name.slice(6)] = s.value;
    }
  }
  for (const r of rows.values()) r.buckets.sort((a, b) => a[0] - b[0]);
  return { rows, gauges, at };
}

/** The upper bound of the bucket holding quantile q of a cumulative
 * histogram (its counts less `prev`'s, when given), or null if empty. */
export function quantile(buckets: [number, number][], q: number, prev?: [number, number][]): number | null {
  const counts = buckets.map(([le, c], i) => [le, c - (prev?.[i]?.[1] ?? 0)] as [number, number]);
  const total = counts.length ? counts[counts.length - 1][1] : 0;
  if (total <= 0) return null;
  for (const [le, c] of counts) if (c >= q * total) return le;
  return Infinity;
}

const human = (n: number) => {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n}B` : `${n.toFixed(1)}${u[i]}`;
};
const dur = (s: number | null) =>
  s === null ? "-" : s === Infinity ? ">8s" : s < 1e-3 ? `${Math.round(s * 1e6)}µs` : s < 1 ? `${(s * 1e3).toFixed(s < 1e-2 ? 2 : 1)}ms` : `${s.toFixed(2)}s`;

/** One screen: the gauges, then a row per message type (busiest first).
 * With `prev`, rates and quantiles are over the interval since it. */
export function render(where: string, f: Frame, prev: Frame | null): string {
  const g = f.gauges;
  const dt = prev ? (f.at - prev.at) / 1000 : 0;
  const out: string[] = [];
  out.push(`gofer top — ${where} — ${new Date(f.at).toISOString().replace("T", " ").slice(0, 19)} UTC${prev ? `, rates over ${dt.toFixed(1)}s` : ""}`);
  out.push(
    `connections ${g.connections ?? "-"}  channels ${g.channels ?? "-"}  open fds ${g.open_fds ?? "-"}  path nodes ${g.path_nodes ?? "-"}  ` +
      `memory anon ${g.memory_anonymous_bytes === undefined ? "-" : human(g.memory_anonymous_bytes)} rss ${g.memory_rss_bytes === undefined ? "-" : human(g.memory_rss_bytes)}`,
  );
  out.push("");
  const head = ["PROTO", "MESSAGE", "COUNT", "RATE/s", "ERRORS", "IN", "OUT", "IN/s", "OUT/s", "P50", "P99"];
  const table: string[][] = [head];
  const rows = [...f.rows.values()].sort((a, b) => {
    const pa = prev?.rows.get(`${a.protocol}\0${a.message}`);
    const pb = prev?.rows.get(`${b.protocol}\0${b.message}`);
    return b.count - (pb?.count ?? 0) - (a.count - (pa?.count ?? 0)) || a.message.localeCompare(b.message);
  });
  for (const r of rows) {
    const p = prev?.rows.get(`${r.protocol}\0${r.message}`);
    const rate = (now: number, before: number | undefined) => (prev && dt > 0 ? ((now - (before ?? 0)) / dt).toFixed(1) : "-");
    const rateBytes = (now: number, before: number | undefined) => (prev && dt > 0 ? human(Math.round((now - (before ?? 0)) / dt)) : "-");
    const delta = p && r.count > p.count ? p.buckets : undefined;
    table.push([
      r.protocol,
      r.message,
      String(r.count),
      rate(r.count, p?.count),
      String(r.errors),
      human(r.bytesIn),
      human(r.bytesOut),
      rateBytes(r.bytesIn, p?.bytesIn),
      rateBytes(r.bytesOut, p?.bytesOut),
      dur(quantile(r.buckets, 0.5, delta)),
      dur(quantile(r.buckets, 0.99, delta)),
    ]);
  }
  if (rows.length === 0) table.push(["-", "(no requests yet)", "", "", "", "", "", "", "", "", ""]);
  const widths = head.map((_, i) => Math.max(...table.map((t) => t[i].length)));
  for (const t of table) out.push(t.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd());
  return `${out.join("\n")}\n`;
}

/** Fetches and parses one scrape of `where` (unix:/path or tcp:host:port). */
export async function scrape(where: string): Promise<Sample[]> {
  const addr = parseListen(where, true);
  const res =
    addr.kind === "unix"
      ? await fetch("http://localhost/metrics", { unix: addr.path })
      : await fetch(`http://${addr.host}:${addr.port}/metrics`);
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return parsePrometheusText(await res.text());
}

class TopUsage extends Error {}

async function top(opts: { metrics?: string; once: boolean; interval: string }): Promise<number> {
  const where = opts.metrics;
  if (!where) throw new TopUsage("--metrics is required: the address the gofer was started with, e.g. --metrics unix:/run/gofer-metrics.sock");
  try {
    parseListen(where, true);
  } catch (err) {
    throw new TopUsage((err as Error).message.replace(/^--listen/, "--metrics"));
  }
  const interval = Number(opts.interval);
  if (!(interval > 0)) throw new TopUsage(`--interval ${JSON.stringify(opts.interval)} is not a positive number of seconds`);
  let prev: Frame | null = null;
  for (;;) {
    let f: Frame;
    try {
      f = frameOf(await scrape(where), Date.now());
    } catch (err) {
      const e = err as Error & { code?: string };
      process.stderr.write(`gofer client top: ${where}: cannot read the metrics (${e.code ?? e.message}); is a gofer running with --metrics ${where}?\n`);
      return 1;
    }
    const screen = render(where, f, prev);
    if (opts.once) {
      process.stdout.write(screen);
      return 0;
    }
    // Home and clear, then the frame: redrawn in place like top(1).
    process.stdout.write(`\x1b[H\x1b[2J${screen}`);
    prev = f;
    await Bun.sleep(interval * 1000);
  }
}

/** The `top` subcommand, for `gofer client`'s commander program. */
export function topCommand(): Command {
  return new Command("top")
    .description("live metrics of a gofer started with --metrics (like diod's dtop)")
    .requiredOption("--metrics <addr>", "the gofer's --metrics address: unix:/path.sock or tcp:127.0.0.1:PORT")
    .addOption(new Option("--interval <seconds>", "time between frames").default("1"))
    .option("--once", "print one frame and exit", false)
    .action(async (o: { metrics?: string; once: boolean; interval: string }) => {
      try {
        process.exitCode = await top(o);
      } catch (err) {
        if (!(err instanceof TopUsage)) throw err;
        process.stderr.write(`gofer client top: ${err.message}\n`);
        process.exitCode = 2;
      }
    });
}
