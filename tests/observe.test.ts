// --trace, --metrics and `gofer client top` against a real gofer on real
// files and sockets: the trace of a scripted session matches, field by
// field, what the test clients sent for every message type of both
// protocols on the socket and on a flipcall channel; the metrics endpoint
// (checked with the npm parser parse-prometheus-text-format) and the
// SIGUSR1 record report exactly the counts of a known sequence.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import * as libc from "../src/ffi/libc";
import { MID, MID_NAMES, Requests as LisafsRequests, type Layout as LisafsLayout } from "../src/lisafs/message";
import { Requests as P9Requests, SetAttrFields, T, TYPE_NAMES, type Layout as P9Layout } from "../src/p9/message";
import { parsePrometheusText } from "../src/client/prom";
import { Gofer, GOFER, useFixture } from "./lib/fixture";
import { P9Client } from "./lib/p9client";

const fx = useFixture();

// ---- values made from a layout, and what the trace must show for them -----------

const HEAD = 16;
const hex = (b: Uint8Array) => Buffer.from(b.subarray(0, HEAD)).toString("hex");
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
/** An FD ID / fid no table holds: every request fails before touching a file. */
const NO_SUCH = 4242;

type Kind = string;
function valueFor(kind: Kind, name: string, mid: number): unknown {
  switch (kind) {
    case "u8":
      return 7;
    case "u16":
      return 0x1234;
    case "u32":
      return 0x9a00 + mid;
    case "i32":
      return -3;
    case "u64":
    case "off":
    case "u64n":
      return 2 ** 40 + mid;
    case "i64":
      return -5;
    case "id":
      return NO_SUCH;
    case "str":
      return `${name}-${mid}`;
    case "strs":
      return ["a", `b${mid}`];
    case "ids":
      return [NO_SUCH, NO_SUCH + 1];
    case "raw16":
      return bytes(20, mid);
    case "raw32":
    case "data":
      return bytes(300, mid);
    case "setattr":
      return Object.fromEntries(SetAttrFields.map(([n], i) => [n, i + 1]));
  }
  return undefined;
}

function valuesFor(layout: LisafsLayout | P9Layout, mid: number): { sent: Record<string, unknown>; shown: Record<string, unknown> } {
  const sent: Record<string, unknown> = {};
  const shown: Record<string, unknown> = {};
  for (const [name, kind] of layout) {
    if (kind === "pad16" || kind === "pad32") continue;
    const v = valueFor(kind, name, mid);
    if (v === undefined) throw new Error(`no test value for kind ${kind}`);
    sent[name] = v;
    shown[name] = v instanceof Uint8Array ? { len: v.byteLength, head: hex(v) } : v;
  }
  return { sent, shown };
}

interface TraceRecord {
  trace: "request" | "reply";
  protocol: string;
  conn: number;
  channel: number | null;
  message: string;
  mid: number;
  errno?: number;
  latencyUs?: number;
  fields?: Record<string, unknown>;
  tag?: number;
  msg: string;
}

function traceRecords(g: Gofer): TraceRecord[] {
  return g
    .log()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l))
    .filter((r) => r.trace === "request" || r.trace === "reply");
}

async function waitFor<T>(what: string, f: () => T | undefined | null | false, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

// ---- the trace --------------------------------------------------------------------

describe("--trace", () => {
  test("lisafs: every message type, socket and channel, decoded as sent", async () => {
    fs.writeFileSync(path.join(fx.mount, "traced"), "trace me\n");
    const g = Gofer.start(fx, { flags: ["--trace"] });
    const c = g.client;
    const sent: { mid: number; shown: Record<string, unknown>; errno: number; channel: boolean }[] = [];
    const m = c.mount();
    const ch = c.channel(false);
    // A real walk and read first, so that replies with fields are traced too.
    const w = c.walk(m.root.id, ["traced"]);
    const fd = c.openAt(w.inodes[0].id, 0);
    const data = c.pread(fd.id, 0, 64);
    libc.close(fd.hostFd);
    expect(new TextDecoder().decode(data)).toBe("trace me\n");
    for (const via of ["socket", "channel"] as const) {
      c.use(via === "socket" ? "socket" : ch);
      for (let mid = 0; mid < MID_NAMES.length; mid++) {
        const layout = LisafsRequests[mid];
        if (!layout || mid === MID.Mount || mid === MID.Channel) continue;
        const { sent: values, shown } = valuesFor(layout, mid);
        const r = c.call(mid, values);
        for (const f of r.fds) libc.close(f);
        sent.push({ mid, shown, errno: r.mid === MID.Error ? r.payload.getUint32(0, true) : 0, channel: via === "channel" });
      }
    }
    c.disconnect();
    await g.stop();
    const recs = traceRecords(g);
    // Mount, Channel, Walk, OpenAt, PRead: requests and replies, in order.
    const first = recs.slice(0, 10);
    expect(first.map((r) => `${r.trace} ${r.message}`)).toEqual([
      "request Mount", "reply Mount", "request Channel", "reply Channel", "request Walk", "reply Walk",
      "request OpenAt", "reply OpenAt", "request PRead", "reply PRead",
    ]);
    expect(first[1].fields!.maxMessageSize).toBe(m.maxMessageSize);
    expect((first[1].fields!.root as Record<string, unknown>).controlFd).toBe(m.root.id);
    expect(first[4].fields).toEqual({ dirFd: m.root.id, path: ["traced"] });
    expect(first[5].fields!.status).toBe(0);
    expect(first[5].fields!.numInodes).toBe(1);
    expect(first[7].fields).toEqual({ openFd: fd.id });
    expect(first[8].fields).toEqual({ offset: 0, fd: fd.id, count: 64 });
    expect(first[9].fields!.numBytes).toBe(9);
    expect(first[9].fields!.data).toEqual({ len: 9, head: Buffer.from("trace me\n").toString("hex") });
    const rest = recs.slice(10);
    expect(rest.length).toBe(sent.length * 2);
    const conn = first[0].conn;
    sent.forEach((s, i) => {
      const req = rest[2 * i];
      const rep = rest[2 * i + 1];
      const name = MID_NAMES[s.mid];
      expect({ ...req, time: 0, pid: 0, level: 0 }).toMatchObject({ trace: "request", protocol: "lisafs", message: name, mid: s.mid, conn });
      expect(req.fields).toEqual(s.shown);
      expect(req.channel === null).toBe(!s.channel);
      expect(rep.trace).toBe("reply");
      expect(rep.mid).toBe(s.mid);
      expect(rep.errno).toBe(s.errno);
      expect(rep.message).toBe(s.errno ? "Error" : name);
      expect(rep.channel).toBe(req.channel);
      expect(typeof rep.latencyUs).toBe("number");
    });
    // Every message type with a request layout was traced, both ways.
    const types = new Set(sent.map((s) => s.mid));
    expect(types.size).toBe(Object.keys(LisafsRequests).length - 2);
  });

  test("9P: every message type, socket and channel, decoded as sent", async () => {
    fs.writeFileSync(path.join(fx.mount, "traced9"), "nine\n");
    const g = Gofer.start(fx, { flags: ["--trace"] });
    const c = new P9Client(g.client.fd, () => g.client.disconnect());
    c.version(65536, "9P2000.L.Google.13");
    c.attach(1);
    c.walk(1, 2, ["traced9"]);
    c.lopen(2, 0);
    expect(new TextDecoder().decode(c.read(2, 0, 100))).toBe("nine\n");
    const sent: { type: number; shown: Record<string, unknown>; errno: number; channel: boolean }[] = [];
    const ch = c.channel(0, false);
    for (const via of ["socket", "channel"] as const) {
      c.active = via === "socket" ? null : ch;
      for (const [key, layout] of Object.entries(P9Requests)) {
        const type = Number(key);
        if (type === T.version || type === T.channel) continue;
        const { sent: values, shown } = valuesFor(layout, type);
        const r = c.call(type, values);
        for (const f of r.fds) libc.close(f);
        sent.push({ type, shown, errno: r.type === 7 ? r.view.getUint32(0, true) : 0, channel: via === "channel" });
      }
    }
    c.close();
    await g.stop();
    const recs = traceRecords(g);
    const first = recs.slice(0, 10);
    expect(first.map((r) => `${r.trace} ${r.message}`)).toEqual([
      "request Tversion", "reply Rversion", "request Tattach", "reply Rattach", "request Twalk", "reply Rwalk",
      "request Tlopen", "reply Rlopen", "request Tread", "reply Rread",
    ]);
    expect(first[0].fields).toEqual({ msize: 65536, version: "9P2000.L.Google.13" });
    expect(first[0].tag).toBe(1);
    expect(first[4].fields).toEqual({ fid: 1, newFid: 2, names: ["traced9"] });
    expect(first[9].fields).toEqual({ data: { len: 5, head: Buffer.from("nine\n").toString("hex") } });
    // Tchannel twice (the memfd, then the FD socket), on the socket.
    const rest = recs.slice(10).filter((r) => r.mid !== T.channel);
    expect(recs.slice(10).filter((r) => r.mid === T.channel).length).toBe(4);
    expect(rest.length).toBe(sent.length * 2);
    sent.forEach((s, i) => {
      const req = rest[2 * i];
      const rep = rest[2 * i + 1];
      expect(req).toMatchObject({ trace: "request", protocol: "p9", message: TYPE_NAMES[s.type], mid: s.type });
      expect(req.fields).toEqual(s.shown);
      expect(req.channel === null).toBe(!s.channel);
      // Tags travel on the socket only.
      expect(req.tag === undefined).toBe(s.channel);
      expect(rep).toMatchObject({ trace: "reply", mid: s.type, errno: s.errno, message: s.errno ? "Rlerror" : TYPE_NAMES[s.type + 1] });
    });
    expect(new Set(sent.map((s) => s.type)).size).toBe(Object.keys(P9Requests).length - 2);
  });

  test("--trace=NAMES narrows to those messages; a bad name is a usage error", async () => {
    const g = Gofer.start(fx, { flags: ["--trace=FStat,Twalk"] });
    const c = g.client;
    const m = c.mount();
    c.fstat(m.root.id);
    c.walk(m.root.id, ["nope"]);
    c.fstat(m.root.id);
    c.disconnect();
    await g.stop();
    expect(traceRecords(g).map((r) => `${r.trace} ${r.message}`)).toEqual(["request FStat", "reply FStat", "request FStat", "reply FStat"]);
    const bad = spawnSync(GOFER, ["--listen", `unix:${fx.logs}/unused.sock`, "--mount", fx.mount, "--trace=Bogus"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--trace: "Bogus" is not a lisafs message');
  });

  test("garbled requests of every type: traced as sent, counted, the gofer unharmed", async () => {
    const sock = path.join(fx.logs, "garbled.sock");
    const g = Gofer.start(fx, { mounts: [fx.mount, fx.mount], flags: ["--trace", "--metrics", `unix:${sock}`] });
    const [lc, other] = g.clients;
    const m = lc.mount();
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const garbage = () => Uint8Array.from({ length: rand(48) }, () => rand(256));
    let lisafsSent = 1;
    for (let round = 0; round < 3; round++)
      for (let mid = 0; mid < 40; mid++) {
        if (mid === MID.Mount || mid === MID.Channel) continue;
        const r = lc.raw(mid, garbage());
        for (const f of r.fds) libc.close(f);
        lisafsSent++;
      }
    const p = new P9Client(other.fd, () => other.disconnect());
    p.version(65536, "9P2000.L.Google.13");
    let p9Sent = 1;
    for (let round = 0; round < 3; round++)
      for (const key of Object.keys(P9Requests)) {
        const type = Number(key);
        if (type === T.version) continue;
        const r = p.roundTripSock(type, garbage());
        for (const f of r.fds) libc.close(f);
        p9Sent++;
      }
    // Still serving both.
    expect(lc.fstat(m.root.id).mode & 0o170000).toBe(0o040000);
    p.attach(1);
    const fams = parsePrometheusTextFormat(await scrapeText(sock)) as Family[];
    const total = (protocol: string) =>
      fams.find((f) => f.name === "gofer_requests_total")!.metrics.filter((x) => x.labels!.protocol === protocol).reduce((a, x) => a + Number(x.value), 0);
    expect(total("lisafs")).toBe(lisafsSent + 1);
    expect(total("p9")).toBe(p9Sent + 1);
    lc.disconnect();
    p.close();
    expect(await g.stop()).toBe(0);
    const recs = traceRecords(g);
    expect(recs.filter((r) => r.trace === "request").length).toBe(lisafsSent + p9Sent + 2);
    expect(recs.filter((r) => r.trace === "reply").length).toBe(lisafsSent + p9Sent + 2);
    expect(recs.some((r) => r.fields && "malformed" in r.fields)).toBe(true);
    expect(g.log()).not.toContain("tracing a");
  });

  test("off by default: no trace records", async () => {
    const g = Gofer.start(fx, { logLevel: "debug" });
    const m = g.client.mount();
    g.client.fstat(m.root.id);
    await g.stop();
    expect(traceRecords(g)).toEqual([]);
  });
});

// ---- metrics ----------------------------------------------------------------------

interface Family {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

async function scrapeText(sock: string): Promise<string> {
  const r = await fetch("http://localhost/metrics", { unix: sock });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  return r.text();
}

function value(fams: Family[], name: string, labels: Record<string, string> = {}): number | undefined {
  const f = fams.find((x) => x.name === name);
  const m = f?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v) && Object.keys(x.labels ?? {}).length === Object.keys(labels).length);
  return m?.value === undefined ? undefined : Number(m.value);
}

describe("--metrics", () => {
  test("the endpoint and SIGUSR1 report exactly a known sequence; top --once shows it", async () => {
    const sock = path.join(fx.logs, "metrics.sock");
    fs.writeFileSync(path.join(fx.mount, "counted"), "x".repeat(100));
    const g = Gofer.start(fx, { mounts: [fx.mount, fx.mount], flags: ["--metrics", `unix:${sock}`] });
    await waitFor("the metrics socket", () => fs.existsSync(sock));
    const [lc, other] = g.clients;
    // lisafs on the first connection: Mount, a channel, then over it
    // 3 Walk, 4 FStat, 2 failing OpenAt (EBADF).
    const m = lc.mount();
    lc.channel();
    for (let i = 0; i < 3; i++) lc.walk(m.root.id, ["counted"]);
    for (let i = 0; i < 4; i++) lc.fstat(m.root.id);
    for (let i = 0; i < 2; i++) expect(lc.errno(MID.OpenAt, { fd: NO_SUCH, flags: 0 })).toBe(9);
    // 9P on the second: Tversion, Tattach, 2 Tgetattr, then it leaves.
    const p = new P9Client(other.fd, () => other.disconnect());
    p.version(65536, "9P2000.L");
    p.attach(1);
    p.getattr(1);
    p.getattr(1);
    p.close();
    // Its counts stay in the totals; its per-connection series go.
    let fams: Family[] = [];
    await waitFor("the 9P connection to be gone", async () => {
      fams = parsePrometheusTextFormat(await scrapeText(sock)) as Family[];
      return value(fams, "gofer_connections") === 1;
    });
    fams = parsePrometheusTextFormat(await scrapeText(sock)) as Family[];
    const l = (message: string) => ({ protocol: "lisafs", message });
    const n = (message: string) => ({ protocol: "p9", message });
    expect(value(fams, "gofer_requests_total", l("Mount"))).toBe(1);
    expect(value(fams, "gofer_requests_total", l("Channel"))).toBe(1);
    expect(value(fams, "gofer_requests_total", l("Walk"))).toBe(3);
    expect(value(fams, "gofer_requests_total", l("FStat"))).toBe(4);
    expect(value(fams, "gofer_requests_total", l("OpenAt"))).toBe(2);
    expect(value(fams, "gofer_request_errors_total", { ...l("OpenAt"), errno: "9" })).toBe(2);
    expect(value(fams, "gofer_request_errors_total", { ...l("FStat"), errno: "9" })).toBeUndefined();
    expect(value(fams, "gofer_requests_total", n("Tversion"))).toBe(1);
    expect(value(fams, "gofer_requests_total", n("Tattach"))).toBe(1);
    expect(value(fams, "gofer_requests_total", n("Tgetattr"))).toBe(2);
    // Bytes: FStat is an 8-byte FDID in, a 144-byte statx out, plus the
    // 4-byte channel header each way; Tgetattr is fid + mask (12) + 7 in,
    // valid + qid + attr (153) + 7 out.
    expect(value(fams, "gofer_request_bytes_total", l("FStat"))).toBe(4 * (4 + 8));
    expect(value(fams, "gofer_reply_bytes_total", l("FStat"))).toBe(4 * (4 + 144));
    expect(value(fams, "gofer_request_bytes_total", n("Tgetattr"))).toBe(2 * (7 + 12));
    expect(value(fams, "gofer_reply_bytes_total", n("Tgetattr"))).toBe(2 * (7 + 153));
    // The histogram: cumulative, +Inf = _count = requests. The npm parser
    // accepts the family (type HISTOGRAM) but merges the buckets of every
    // label set into one map (it handles unlabelled histograms only), so
    // the per-message numbers are read with our parser (src/client/prom.ts).
    expect(fams.find((f) => f.name === "gofer_request_duration_seconds")!.type).toBe("HISTOGRAM");
    const samples = parsePrometheusText(await scrapeText(sock));
    const walk = samples.filter((x) => x.labels.message === "Walk" && x.labels.protocol === "lisafs");
    const buckets = walk.filter((x) => x.name === "gofer_request_duration_seconds_bucket");
    expect(buckets.length).toBe(25);
    expect(buckets.map((b) => b.labels.le)).toEqual([...Array.from({ length: 24 }, (_, k) => String(2 ** k / 1e6)), "+Inf"]);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    expect(buckets[24].value).toBe(3);
    expect(walk.find((x) => x.name === "gofer_request_duration_seconds_count")!.value).toBe(3);
    expect(walk.find((x) => x.name === "gofer_request_duration_seconds_sum")!.value).toBeGreaterThan(0);
    // Per connection: the live lisafs one only.
    const perConn = fams.find((f) => f.name === "gofer_connection_requests_total")!;
    expect(new Set(perConn.metrics.map((x) => x.labels!.protocol))).toEqual(new Set(["lisafs"]));
    expect(perConn.metrics.find((x) => x.labels!.message === "FStat")!.value).toBe("4");
    // Gauges.
    expect(value(fams, "gofer_channels")).toBe(1);
    expect(value(fams, "gofer_open_fds")).toBeGreaterThan(3);
    expect(value(fams, "gofer_path_nodes")).toBeGreaterThanOrEqual(1);
    expect(value(fams, "gofer_memory_rss_bytes")).toBeGreaterThan(value(fams, "gofer_memory_anonymous_bytes")!);
    expect(value(fams, "gofer_memory_anonymous_bytes")).toBeGreaterThan(1 << 20);
    // Our own parser (used by top) reads the same counters.
    for (const f of fams.find((x) => x.name === "gofer_requests_total")!.metrics)
      expect(samples.find((x) => x.name === "gofer_requests_total" && x.labels.protocol === f.labels!.protocol && x.labels.message === f.labels!.message)!.value).toBe(Number(f.value));

    // SIGUSR1: one record with the same numbers (the loop is in its
    // channel mode now: the signal interrupts futex_waitv).
    process.kill(g.pid, "SIGUSR1");
    const rec = await waitFor("the SIGUSR1 record", () =>
      g
        .log()
        .split("\n")
        .filter((x) => x.startsWith("{"))
        .map((x) => JSON.parse(x))
        .find((x) => x.msg === "metrics"),
    );
    const byName = new Map<string, { count: number; errors: Record<string, number>; bytesIn: number; bytesOut: number }>(
      rec.metrics.messages.map((x: { protocol: string; message: string }) => [`${x.protocol} ${x.message}`, x]),
    );
    for (const f of fams.find((x) => x.name === "gofer_requests_total")!.metrics) {
      const s = byName.get(`${f.labels!.protocol} ${f.labels!.message}`)!;
      expect(s.count).toBe(Number(f.value));
      expect(s.bytesIn).toBe(value(fams, "gofer_request_bytes_total", f.labels)!);
      expect(s.bytesOut).toBe(value(fams, "gofer_reply_bytes_total", f.labels)!);
    }
    expect(byName.size).toBe(fams.find((x) => x.name === "gofer_requests_total")!.metrics.length);
    expect(byName.get("lisafs OpenAt")!.errors).toEqual({ "9": 2 });
    expect(rec.metrics.gauges.connections).toBe(1);
    expect(rec.metrics.gauges.channels).toBe(1);
    // The gofer is still serving after the signal.
    lc.fstat(m.root.id);

    // top --once against it.
    const top = spawnSync(GOFER, ["client", "top", "--metrics", `unix:${sock}`, "--once"], { encoding: "utf8" });
    expect(top.status).toBe(0);
    const rows = top.stdout.split("\n").map((x) => x.trim().split(/\s+/));
    const row = (proto: string, msg: string) => rows.find((r) => r[0] === proto && r[1] === msg);
    expect(row("lisafs", "FStat")?.[2]).toBe("5");
    expect(row("lisafs", "Walk")?.[2]).toBe("3");
    expect(row("lisafs", "OpenAt")?.slice(2, 5)).toEqual(["2", "-", "2"]);
    expect(row("p9", "Tgetattr")?.[2]).toBe("2");
    expect(top.stdout).toContain("connections 1  channels 1");
    lc.disconnect();
    await g.stop();
  });

  test("serves on tcp: too; answers 404 elsewhere; refuses a non-loopback address", async () => {
    const g = Gofer.start(fx, { flags: ["--metrics", "tcp:127.0.0.1:0"] });
    const where = await waitFor("the metrics line", () => /metrics on tcp:127\.0\.0\.1:(\d+)/.exec(g.log()));
    const port = Number(where[1]);
    const m = g.client.mount();
    g.client.fstat(m.root.id);
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    const fams = parsePrometheusTextFormat(await r.text()) as Family[];
    expect(value(fams, "gofer_requests_total", { protocol: "lisafs", message: "FStat" })).toBe(1);
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    const top = spawnSync(GOFER, ["client", "top", "--metrics", `tcp:127.0.0.1:${port}`, "--once"], { encoding: "utf8" });
    expect(top.status).toBe(0);
    expect(top.stdout).toMatch(/lisafs\s+FStat\s+1\s/);
    // No channel: the loop polls the socket itself, and SIGUSR1 interrupts that poll.
    process.kill(g.pid, "SIGUSR1");
    const rec = await waitFor("the SIGUSR1 record", () => g.log().split("\n").find((x) => x.includes('"msg":"metrics"')));
    expect(JSON.parse(rec).metrics.messages.find((x: { message: string }) => x.message === "FStat").count).toBe(1);
    await g.stop();
    const bad = spawnSync(GOFER, ["--listen", `unix:${fx.logs}/unused.sock`, "--mount", fx.mount, "--metrics", "tcp:10.1.2.3:9100"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("loopback");
  });

  test("top: usage errors exit 2, an unreachable gofer exits 1", () => {
    const none = spawnSync(GOFER, ["client", "top", "--once"], { encoding: "utf8" });
    expect(none.status).toBe(2);
    expect(none.stderr).toContain("--metrics");
    const gone = spawnSync(GOFER, ["client", "top", "--once", "--metrics", `unix:${fx.logs}/none.sock`], { encoding: "utf8" });
    expect(gone.status).toBe(1);
    expect(gone.stderr).toContain("gofer client top:");
  });
});

// ---- units: bounds and the pieces top is made of ----------------------------------------

describe("units", () => {
  test("per-connection series are bounded; every line parses; totals include retired connections", async () => {
    const { Metrics, MessageStats } = await import("../src/observe/metrics");
    const { exposition, snapshot, PER_CONNECTION_SERIES } = await import("../src/observe/exposition");
    const m = new Metrics();
    const conns = Array.from({ length: PER_CONNECTION_SERIES + 6 }, () => {
      const stats = new MessageStats("p9");
      stats.record(T.walk, 20, 30, 0, 5);
      stats.record(T.walk, 20, 11, 2, 3000);
      const c = { id: m.newId(), stats, channels: () => 0 };
      m.add(c);
      return c;
    });
    m.retire(conns[0]);
    const gauges = { openFds: 1, pathNodes: 1, channels: 0, connections: conns.length - 1, memoryAnonymousBytes: 0, memoryRssBytes: 0 };
    const text = exposition(snapshot(m, gauges));
    const fams = parsePrometheusTextFormat(text) as Family[];
    const labels = new Set(fams.find((f) => f.name === "gofer_connection_requests_total")!.metrics.map((x) => x.labels!.connection));
    expect(labels.size).toBe(PER_CONNECTION_SERIES);
    expect(labels.has(String(conns[0].id))).toBe(false);
    expect(value(fams, "gofer_requests_total", { protocol: "p9", message: "Twalk" })).toBe(2 * conns.length);
    expect(value(fams, "gofer_request_errors_total", { protocol: "p9", message: "Twalk", errno: "2" })).toBe(conns.length);
    const ours = parsePrometheusText(text);
    const b = ours.filter((x) => x.name === "gofer_request_duration_seconds_bucket");
    // 5 µs lands in le=8e-06, 3000 µs in le=0.004096.
    expect(b.find((x) => x.labels.le === "0.000004")!.value).toBe(0);
    expect(b.find((x) => x.labels.le === "0.000008")!.value).toBe(conns.length);
    expect(b.find((x) => x.labels.le === "0.002048")!.value).toBe(conns.length);
    expect(b.find((x) => x.labels.le === "0.004096")!.value).toBe(2 * conns.length);
  });

  test("top's parser and quantiles", async () => {
    const { frameOf, quantile } = await import("../src/client/top");
    const s = parsePrometheusText('a{x="q\\"uo\\\\te\\n",y="2"} 1.5e3 1700000000\n# HELP b c\nb +Inf\nc NaN\n');
    expect(s[0]).toEqual({ name: "a", labels: { x: 'q"uo\\te\n', y: "2" }, value: 1500 });
    expect(s[1].value).toBe(Infinity);
    expect(Number.isNaN(s[2].value)).toBe(true);
    expect(() => parsePrometheusText("a{x=1} 2")).toThrow(/bad label/);
    const hist: [number, number][] = [
      [1e-6, 0],
      [2e-6, 50],
      [4e-6, 98],
      [8e-6, 100],
      [Infinity, 100],
    ];
    expect(quantile(hist, 0.5)).toBe(2e-6);
    expect(quantile(hist, 0.99)).toBe(8e-6);
    expect(quantile([[Infinity, 0]], 0.5)).toBeNull();
    // Over an interval: only what happened since `prev`.
    const prev: [number, number][] = [
      [1e-6, 0],
      [2e-6, 50],
      [4e-6, 50],
      [8e-6, 50],
      [Infinity, 50],
    ];
    expect(quantile(hist, 0.5, prev)).toBe(4e-6);
    const f = frameOf(parsePrometheusText('gofer_requests_total{protocol="lisafs",message="FStat"} 3\ngofer_open_fds 9\n'), 0);
    expect(f.rows.get("lisafs\0FStat")!.count).toBe(3);
    expect(f.gauges.open_fds).toBe(9);
  });
});
