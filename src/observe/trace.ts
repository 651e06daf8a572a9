// --trace: one log record per request and one per reply, decoded field by
// field from the protocols' message tables (src/lisafs/message.ts,
// src/p9/message.ts): requests by their layouts, 9P replies by theirs,
// lisafs replies by the named offsets of `Resp` (field widths are the gaps
// between offsets). Payloads that are bytes, not fields (a write's buffer, a
// read's data, directory entries) are summarised as length + first bytes.
// Nothing here runs unless --trace was given (docs/observability.md).
import type { Logger } from "../log";
import { Statx } from "../ffi/layout";
import * as L from "../lisafs/message";
import * as P from "../p9/message";
import type { Protocol } from "./metrics";

/** Bytes shown of a payload that is summarised. */
const HEAD_BYTES = 16;
/** Strings longer than this are summarised too. */
const MAX_STRING = 128;
/** Arrays longer than this show their first entries and their length. */
const MAX_ARRAY = 32;

export type Fields = Record<string, unknown>;

/** Length and first bytes (hex) of u8[off, off+len). */
export function summarise(u8: Uint8Array, off: number, len: number): { len: number; head: string } {
  const end = Math.min(off + Math.min(len, HEAD_BYTES), u8.byteLength);
  return { len, head: Buffer.from(u8.buffer, u8.byteOffset + off, Math.max(0, end - off)).toString("hex") };
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** A decoded value made fit for a log line: byte strings as text (latin1 ->
 * JSON escapes what is not printable), bigints as numbers where a number is
 * exact and as decimal strings beyond, in-place byte ranges and long strings
 * summarised. */
function tidy(v: unknown, u8: Uint8Array): unknown {
  if (typeof v === "bigint") return v <= MAX_EXACT && v >= -MAX_EXACT ? Number(v) : v.toString();
  if (typeof v === "string") return v.length > MAX_STRING ? { len: v.length, head: v.slice(0, HEAD_BYTES) } : v;
  if (Array.isArray(v)) {
    const items = v.slice(0, MAX_ARRAY).map((x) => tidy(x, u8));
    return v.length > MAX_ARRAY ? { len: v.length, head: items } : items;
  }
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    // {off, len}: bytes left in place by the decoder (raw16, raw32, data).
    if (typeof o.off === "number" && typeof o.len === "number" && Object.keys(o).length === 2) return summarise(u8, o.off, o.len);
    const out: Fields = {};
    for (const k in o) out[k] = tidy(o[k], u8);
    return out;
  }
  return v;
}

// ---- lisafs replies, derived from Resp's named offsets -------------------------

type ReplyField = { name: string; off: number; width: number | "inode" | "rest" };

const RESP_NAME: Record<string, string> = { FStatFS: "StatFS" };

/** The fields of each lisafs reply that Resp describes, in offset order. */
const lisafsReplies: (ReplyField[] | null)[] = L.MID_NAMES.map((name) => {
  const r = (L.Resp as Record<string, Record<string, number>>)[RESP_NAME[name] ?? name];
  if (!r) return null;
  const fields = Object.entries(r)
    .filter(([k]) => k !== "size")
    .sort((a, b) => a[1] - b[1]);
  return fields.map(([fname, off], i): ReplyField => {
    const next = i + 1 < fields.length ? fields[i + 1][1] : r.size;
    if (next === undefined) return { name: fname, off, width: "rest" };
    const w = next - off;
    return { name: fname, off, width: w === L.Inode.size ? "inode" : w };
  });
});

function readInt(view: DataView, p: number, width: number): number | string | null {
  if (width === 1) return view.getUint8(p);
  if (width === 2) return view.getUint16(p, true);
  if (width === 4) return view.getUint32(p, true);
  if (width === 8) {
    const v = view.getBigUint64(p, true);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  return null;
}

function decodeLisafsReply(mid: number, u8: Uint8Array, view: DataView, off: number, len: number): Fields {
  const layout = lisafsReplies[mid];
  if (!layout) return { payload: summarise(u8, off, len) };
  const out: Fields = {};
  for (const f of layout) {
    const p = off + f.off;
    const left = len - f.off;
    if (f.width === "rest") {
      out[f.name] = summarise(u8, p, Math.max(0, left));
      continue;
    }
    const w = f.width === "inode" ? L.Inode.size : f.width;
    if (left < w) break;
    if (f.width === "inode") {
      const s = p + L.Inode.stat;
      out[f.name] = {
        controlFd: readInt(view, p + L.Inode.controlFd, 8),
        mode: view.getUint16(s + Statx.mode, true),
        ino: readInt(view, s + Statx.ino, 8),
      };
    } else {
      out[f.name] = readInt(view, p, w) ?? summarise(u8, p, w);
    }
  }
  return out;
}

// ---- the filter -----------------------------------------------------------------

/** Which message IDs are traced, per protocol; `all`: every ID, those
 * beyond the tables (a client's unknown lisafs IDs go up to 65535) too. */
export type TraceFilter = Record<Protocol, boolean[]> & { all: boolean };

/**
 * Parses --trace's value: empty or absent traces everything; else a comma
 * list of message names (lisafs's as in MID, e.g. Walk; 9P's with or without
 * the T, e.g. Twalk or walk; any case) or numeric IDs (of either protocol).
 * Throws Error naming what was not understood.
 */
export function parseTraceFilter(spec: string | true): TraceFilter {
  const all = (n: number, v: boolean) => new Array<boolean>(n).fill(v);
  if (spec === true || spec.trim() === "") return { lisafs: all(256, true), p9: all(256, true), all: true };
  const f: TraceFilter = { lisafs: all(256, false), p9: all(256, false), all: false };
  const lisafsByName = new Map(L.MID_NAMES.map((n, i) => [n.toLowerCase(), i]));
  const p9ByName = new Map(Object.entries(P.T).map(([n, v]) => [n.toLowerCase(), v]));
  for (const raw of spec.split(",")) {
    const w = raw.trim();
    if (w === "") continue;
    if (/^\d+$/.test(w)) {
      const n = Number(w);
      if (n > 255) throw new Error(`--trace: message ID ${w} is out of range (0-255)`);
      f.lisafs[n] = true;
      f.p9[n] = true;
      continue;
    }
    const lw = w.toLowerCase();
    const l = lisafsByName.get(lw);
    const p = p9ByName.get(lw) ?? (lw.startsWith("t") ? p9ByName.get(lw.slice(1)) : undefined);
    if (l === undefined && p === undefined)
      throw new Error(`--trace: ${JSON.stringify(w)} is not a lisafs message (${L.MID_NAMES.slice(1).join(", ")}) nor a 9P one (T${Object.keys(P.T).join(", T")})`);
    if (l !== undefined) f.lisafs[l] = true;
    if (p !== undefined) f.p9[p] = true;
  }
  return f;
}

// ---- the tracer -------------------------------------------------------------------

/** Where a request came from, for the record. */
export interface TraceWhere {
  conn: number;
  /** Flipcall channel ID, or null for the connection's socket. */
  channel: number | null;
}

export class Tracer {
  constructor(
    private readonly log: Logger,
    /** pino level the records are written at. */
    private readonly level: "info" | "debug",
    readonly filter: TraceFilter,
  ) {}

  /** Whether message `mid` of `protocol` is traced. */
  wants(protocol: Protocol, mid: number): boolean {
    return this.filter.all || this.filter[protocol][mid] === true;
  }

  /** The request record: its fields decoded by the request layout. Never
   * throws: it runs outside the handlers' guard, on a client's bytes. */
  request(protocol: Protocol, where: TraceWhere, mid: number, tag: number, u8: Uint8Array, view: DataView, off: number, len: number): void {
    try {
      this.requestRecord(protocol, where, mid, tag, u8, view, off, len);
    } catch (err) {
      this.log.error({ err, protocol, mid }, "tracing a request failed");
    }
  }

  private requestRecord(protocol: Protocol, where: TraceWhere, mid: number, tag: number, u8: Uint8Array, view: DataView, off: number, len: number): void {
    let fields: Fields | null;
    if (protocol === "lisafs") {
      fields = mid < L.MID_NAMES.length ? L.requestDecoder(mid)(u8, view, off, len) : null;
    } else {
      const layout = P.Requests[mid];
      fields = layout ? P.decode(layout, u8, view, off, len) : null;
    }
    const rec: Fields = {
      trace: "request",
      protocol,
      conn: where.conn,
      channel: where.channel,
      message: messageName(protocol, mid),
      mid,
      len,
      fields: fields ? tidy(fields, u8) : { malformed: summarise(u8, off, len) },
    };
    if (tag >= 0) rec.tag = tag;
    this.log[this.level](rec, "request");
  }

  /** The reply record: errno, or the fields decoded by the reply's table.
   * Never throws. */
  reply(protocol: Protocol, where: TraceWhere, mid: number, tag: number, errno: number, u8: Uint8Array, view: DataView, off: number, len: number, us: number): void {
    try {
      this.replyRecord(protocol, where, mid, tag, errno, u8, view, off, len, us);
    } catch (err) {
      this.log.error({ err, protocol, mid }, "tracing a reply failed");
    }
  }

  private replyRecord(protocol: Protocol, where: TraceWhere, mid: number, tag: number, errno: number, u8: Uint8Array, view: DataView, off: number, len: number, us: number): void {
    const rec: Fields = {
      trace: "reply",
      protocol,
      conn: where.conn,
      channel: where.channel,
      message: errno === 0 ? messageName(protocol, mid, true) : protocol === "lisafs" ? "Error" : "Rlerror",
      mid,
      len,
      latencyUs: Math.round(us * 10) / 10,
      errno,
    };
    if (tag >= 0) rec.tag = tag;
    if (errno === 0) {
      if (protocol === "lisafs") rec.fields = decodeLisafsReply(mid, u8, view, off, len);
      else {
        const layout = P.Responses[mid];
        const d = layout ? P.decode(layout, u8, view, off, len) : null;
        rec.fields = d ? tidy(d, u8) : { payload: summarise(u8, off, len) };
      }
    }
    this.log[this.level](rec, "reply");
  }
}

/** lisafs: the MID name; 9P: Tname for requests, Rname for replies. */
export function messageName(protocol: Protocol, mid: number, reply = false): string {
  if (protocol === "lisafs") return L.MID_NAMES[mid] ?? `mid${mid}`;
  return P.TYPE_NAMES[reply ? mid + 1 : mid] ?? `type${mid}`;
}
