// Hostile clients: fuzzed payloads for every message, oversized and garbled
// framing, clients that send FDs or never read, 9P bytes, broken channels,
// host objects that would block, and FD leaks after a connection goes away.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { MAX_MESSAGE_SIZE, Requests, SockHeader, type Kind, type Layout } from "../src/lisafs/message";
import { bytes, closeAll, expectStatOf, hostAccept, hostConnect, hostListen } from "./lib/assert";
import {
  Client,
  MID,
  TransportError,
  encodeRequest,
  readable,
  recvmsg,
  sendmsg,
  waitEOF,
  type Reply,
} from "./lib/client";
import { Gofer, eventually, resetMount, snapshot, useFixture, type Fixture } from "./lib/fixture";
import { TRANSPORTS } from "./lib/session";
import { fuzzCount, fuzzSeed } from "./lib/fuzz";

// A small tmpfs: fuzzed FAllocate/PWrite calls must not eat the machine's RAM.
const fx = useFixture({ tmpfsSize: "64m" });

/** Starts a gofer with two connections to the same tree, both mounted. */
function pair(o: { flags?: string[]; mounts?: (f: Fixture) => string[] } = {}) {
  const g = Gofer.start(fx, { mounts: o.mounts ?? ((f) => [f.mount, f.mount]), flags: o.flags });
  const [a, b] = g.clients;
  const ra = a.mount().root.id;
  const rb = b.mount().root.id;
  return { g, a, b, ra, rb };
}

/** True if the client answers an FStat of `root` (false on timeout/EOF). */
function answers(c: Client, root: number): boolean {
  try {
    c.fstat(root);
    return true;
  } catch (e) {
    if (e instanceof TransportError) return false;
    throw e;
  }
}

// ---- the fuzzer ---------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failure replays exactly. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)];
  const randBytes = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  return { next, int, pick, randBytes };
}
type Rng = ReturnType<typeof prng>;

const NAMES = ["file", "dir", "link", "escape", "inner", "new", "x", "sock", "", ".", "..", "a/b", "/", "a\0b", "..\0", "dir/..", "x".repeat(255), "x".repeat(256), "\xff\xfe"];

function fuzzValue(r: Rng, kind: Kind, maxId: number): unknown {
  switch (kind) {
    case "u8":
      return r.int(256);
    case "u16":
      return r.pick([0, 1, 0o644, 0o755, C.S_IFREG | 0o644, C.S_IFCHR | 0o666, 0xffff, r.int(65536)]);
    case "u32":
      return r.pick([0, 1, 2, 3, 5, 0x7ff, C.O_RDWR | C.O_TRUNC, 0x7fffffff, 0x80000000, 0xffffffff, r.int(2 ** 32)]);
    case "i32":
      return r.pick([0, 1, -1, 24, 4096, -4096, 0x7fffffff, -0x80000000, r.int(2 ** 32) - 2 ** 31]);
    case "u64":
    case "i64":
    case "off":
    case "u64n":
      return r.pick([0n, 1n, 4096n, 2n ** 31n, 2n ** 32n, 2n ** 62n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(r.int(1 << 20))]);
    case "id":
      return r.next() < 0.9 ? r.int(maxId + 3) : r.pick([2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]);
    case "pad16":
    case "pad32":
      return 0;
    case "str":
      return r.next() < 0.8 ? r.pick(NAMES) : String.fromCharCode(...r.randBytes(r.int(300)));
    case "raw16":
      return r.randBytes(r.int(300));
    case "raw32":
      return r.randBytes(r.next() < 0.95 ? r.int(5000) : r.int(200_000));
    case "strs": {
      const n = r.next() < 0.95 ? r.int(6) : r.int(2000);
      return Array.from({ length: n }, () => (r.next() < 0.9 ? r.pick(NAMES.slice(0, 8)) : r.pick(NAMES)));
    }
    case "ids":
      return Array.from({ length: r.int(6) }, () => r.int(maxId + 3));
  }
}

/** One fuzzed request: valid, truncated, padded with garbage, or garbage. */
function fuzzRequest(r: Rng, maxId: number): { mid: number; payload: Uint8Array } {
  const mid = r.next() < 0.95 ? r.int(MID.RenameAt2 + 1) : r.pick([34, 200, 4096, 65535]);
  const layout: Layout = Requests[mid] ?? [];
  const values: Record<string, unknown> = {};
  for (const [name, kind] of layout) values[name] = fuzzValue(r, kind, maxId);
  let payload: Uint8Array;
  try {
    payload = encodeRequest(mid, values);
  } catch {
    payload = new Uint8Array(0);
  }
  switch (r.int(6)) {
    case 0:
    case 1:
      break; // well-formed
    case 2:
      payload = payload.slice(0, r.int(payload.byteLength + 1)); // truncated
      break;
    case 3: {
      const extra = r.randBytes(r.int(64));
      const p = new Uint8Array(payload.byteLength + extra.byteLength);
      p.set(payload);
      p.set(extra, payload.byteLength);
      payload = p;
      break;
    }
    case 4:
      payload = r.randBytes(r.int(512)); // garbage
      break;
    case 5: {
      // Well-formed, with one random byte flipped.
      if (payload.byteLength) payload[r.int(payload.byteLength)] ^= 1 << r.int(8);
      break;
    }
  }
  if (r.next() < 0.002) payload = r.randBytes(r.int(MAX_MESSAGE_SIZE + 1)); // large garbage
  return { mid, payload };
}

function prepareFuzzTree(): void {
  resetMount(fx);
  fs.writeFileSync(path.join(fx.mount, "file"), "fuzz me");
  fs.mkdirSync(path.join(fx.mount, "dir"));
  fs.writeFileSync(path.join(fx.mount, "dir/inner"), "inner");
  fs.symlinkSync("file", path.join(fx.mount, "link"));
  fs.symlinkSync("../decoy/secret", path.join(fx.mount, "escape"));
}

describe.each(TRANSPORTS)("fuzzing over %s", (transport) => {
  test("every reply is a well-formed Error or the request's own message; the gofer survives", async () => {
    prepareFuzzTree();
    const decoyBefore = snapshot(fx.decoy);
    const { g, a, b, ra, rb } = pair();
    if (transport === "channel") a.channel();
    const r = prng(fuzzSeed(transport === "socket" ? 0x5eed1 : 0x5eed2));
    let maxId = 8;
    const stats = { ok: 0, errors: 0, remoteio: 0 };
    const bad: string[] = [];
    for (let i = 0, n = fuzzCount(3000); i < n; i++) {
      const { mid, payload } = fuzzRequest(r, maxId);
      let reply: Reply;
      try {
        reply = a.raw(mid, payload);
      } catch (e) {
        throw new Error(`request #${i} (MID ${mid}, ${payload.byteLength} bytes) got no reply: ${e}\n${g.log().slice(-2000)}`);
      }
      closeAll(reply.fds);
      if (reply.mid === MID.Error) {
        const errno = reply.bytes.byteLength === 4 ? reply.payload.getUint32(0, true) : -1;
        if (errno < 1 || errno > 133) bad.push(`#${i} MID ${mid}: bad error reply (${reply.bytes.byteLength} bytes, errno ${errno})`);
        if (errno === 121) stats.remoteio++;
        stats.errors++;
      } else if (reply.mid !== mid || mid === MID.Error || mid > MID.RenameAt2) {
        bad.push(`#${i} MID ${mid}: reply with MID ${reply.mid}`);
      } else {
        stats.ok++;
        maxId += 2;
      }
      // Refresh the root now and then: the fuzzer may have closed it.
      if (i % 500 === 499) a.mount();
    }
    expect(bad).toEqual([]);
    // A handler that throws answers EREMOTEIO: none may.
    expect(stats.remoteio).toBe(0);
    expect(stats.ok).toBeGreaterThan(100);
    expect(stats.errors).toBeGreaterThan(100);
    // Still serving: this connection (fresh root), and the other one.
    a.use("socket");
    const m = a.mount();
    // A fuzzed ConnectWithCreds or RenameAt2 may have switched `a` to today's semantics.
    expectStatOf(a.fstat(m.root.id), fx.mount, "any");
    expectStatOf(b.fstat(rb), fx.mount);
    expect(snapshot(fx.decoy)).toEqual(decoyBefore);
    expect(await g.stop()).toBe(0);
  });
});

// ---- framing -----------------------------------------------------------------------

describe("socket framing", () => {
  test("a payload length above the max closes that connection only", async () => {
    const { g, a, b, rb } = pair();
    const hdr = new Uint8Array(SockHeader.size);
    new DataView(hdr.buffer).setUint32(SockHeader.payloadLen, MAX_MESSAGE_SIZE + 1, true);
    new DataView(hdr.buffer).setUint16(SockHeader.message, MID.FStat, true);
    expect(sendmsg(a.fd, hdr, 0, hdr.byteLength)).toBe(hdr.byteLength);
    expect(waitEOF(a.fd)).toBe(true);
    expectStatOf(b.fstat(rb), fx.mount);
    const b2 = b.walk(rb, []);
    expect(b2.status).toBe(0);
    expect(await g.stop()).toBe(0);
  });

  test("a payload of exactly the max size is accepted", async () => {
    const { g, a, ra } = pair();
    const payload = new Uint8Array(MAX_MESSAGE_SIZE);
    new DataView(payload.buffer).setBigUint64(0, BigInt(ra), true);
    const r = a.raw(MID.FStat, payload);
    expect(r.mid).toBe(MID.FStat);
    expectStatOf(a.fstat(ra), fx.mount);
    expect(await g.stop()).toBe(0);
  });

  test("a request sent one byte at a time, and 200 pipelined requests, are answered in order", async () => {
    fs.writeFileSync(path.join(fx.mount, "slow"), "x");
    const { g, a, ra } = pair();
    const req = encodeRequest(MID.Walk, { dirFd: ra, path: ["slow"] });
    const msg = new Uint8Array(SockHeader.size + req.byteLength);
    const v = new DataView(msg.buffer);
    v.setUint32(SockHeader.payloadLen, req.byteLength, true);
    v.setUint16(SockHeader.message, MID.Walk, true);
    msg.set(req, SockHeader.size);
    for (let i = 0; i < msg.byteLength; i++) {
      expect(sendmsg(a.fd, msg, i, 1)).toBe(1);
      Bun.sleepSync(1);
    }
    const r = a.sock.receive();
    expect(r.mid).toBe(MID.Walk);
    // Pipelined: alternate FStat (root) and PRead of a bad ID.
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      const mid = i % 2 ? MID.PRead : MID.FStat;
      const p = i % 2 ? encodeRequest(MID.PRead, { fd: 777777, offset: 0, count: 1 }) : encodeRequest(MID.FStat, { fd: ra });
      const m = new Uint8Array(SockHeader.size + p.byteLength);
      const mv = new DataView(m.buffer);
      mv.setUint32(SockHeader.payloadLen, p.byteLength, true);
      mv.setUint16(SockHeader.message, mid, true);
      m.set(p, SockHeader.size);
      parts.push(m);
    }
    const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.byteLength;
    }
    let sent = 0;
    while (sent < all.byteLength) {
      const n = sendmsg(a.fd, all, sent, all.byteLength - sent);
      expect(n).toBeGreaterThan(0);
      sent += n;
    }
    for (let i = 0; i < 200; i++) {
      const rep = a.sock.receive();
      expect(rep.mid).toBe(i % 2 ? MID.Error : MID.FStat);
      if (i % 2) expect(rep.payload.getUint32(0, true)).toBe(C.EBADF);
    }
    expect(await g.stop()).toBe(0);
  });

  test("a client that sends FDs is disconnected, and the gofer does not keep them", async () => {
    const { g, a, b, rb } = pair();
    const secret = fs.openSync(path.join(fx.decoy, "secret"), "r");
    const hdr = new Uint8Array(SockHeader.size);
    new DataView(hdr.buffer).setUint16(SockHeader.message, MID.Mount, true);
    expect(sendmsg(a.fd, hdr, 0, hdr.byteLength, [secret, secret])).toBe(hdr.byteLength);
    fs.closeSync(secret);
    expect(waitEOF(a.fd)).toBe(true);
    const targets = g.fds().map((f) => {
      try {
        return fs.readlinkSync(`/proc/${g.pid}/fd/${f}`);
      } catch {
        return "";
      }
    });
    expect(targets.filter((t) => t.includes("decoy"))).toEqual([]);
    expectStatOf(b.fstat(rb), fx.mount);
    expect(await g.stop()).toBe(0);
  });

  test("9P bytes (Tversion) are answered as 9P on that connection; lisafs clients are unaffected", async () => {
    const g = Gofer.start(fx, { mounts: (f) => [f.mount, f.mount] });
    const [p9, lisa] = g.clients;
    const root = lisa.mount().root.id;
    const version = bytes("9P2000.L");
    const tv = new Uint8Array(4 + 1 + 2 + 4 + 2 + version.byteLength);
    const v = new DataView(tv.buffer);
    v.setUint32(0, tv.byteLength, true);
    tv[4] = 100; // Tversion
    v.setUint16(5, 0xffff, true);
    v.setUint32(7, 8192, true);
    v.setUint16(11, version.byteLength, true);
    tv.set(version, 13);
    expect(sendmsg(p9.fd, tv, 0, tv.byteLength)).toBe(tv.byteLength);
    // Rversion, same tag, msize and version echoed.
    expect(readable(p9.fd, 5000)).toBe(true);
    const reply = new Uint8Array(64);
    const { n } = recvmsg(p9.fd, reply, 0, reply.byteLength);
    const rv = new DataView(reply.buffer);
    expect(n).toBe(tv.byteLength);
    expect(rv.getUint32(0, true)).toBe(tv.byteLength);
    expect(reply[4]).toBe(101);
    expect(rv.getUint16(5, true)).toBe(0xffff);
    expect(rv.getUint32(7, true)).toBe(8192);
    expect(Buffer.from(reply.subarray(13, n)).toString()).toBe("9P2000.L");
    libc.close(p9.fd);
    expectStatOf(lisa.fstat(root), fx.mount);
    expect(await g.stop()).toBe(0);
  });

  test("a client that never reads its responses does not block another connection", async () => {
    const big = path.join(fx.mount, "big");
    const content = new Uint8Array(1 << 20);
    for (let i = 0; i < content.length; i++) content[i] = i & 0xff;
    fs.writeFileSync(big, content);
    const { g, a, b, ra, rb } = pair();
    const f = a.walkTo(ra, "big");
    const o = a.openAt(f.id, C.O_RDONLY);
    closeAll([o.hostFd]);
    // 40 reads of 1 MiB each, never read back (for now): the socket fills.
    const req = encodeRequest(MID.PRead, { fd: o.id, offset: 0, count: 1 << 20 });
    const msg = new Uint8Array(SockHeader.size + req.byteLength);
    const mv = new DataView(msg.buffer);
    mv.setUint32(SockHeader.payloadLen, req.byteLength, true);
    mv.setUint16(SockHeader.message, MID.PRead, true);
    msg.set(req, SockHeader.size);
    for (let i = 0; i < 40; i++) expect(sendmsg(a.fd, msg, 0, msg.byteLength)).toBe(msg.byteLength);
    // The other connection is served meanwhile, over its socket and a channel.
    for (let i = 0; i < 20; i++) expectStatOf(b.fstat(rb), fx.mount);
    const bf = b.walkTo(rb, "big");
    const bo = b.openAt(bf.id, C.O_RDONLY);
    closeAll([bo.hostFd]);
    expect(b.pread(bo.id, 1000, 4)).toEqual(content.subarray(1000, 1004));
    b.channel();
    expect(b.pread(bo.id, 0, 1 << 20)).toEqual(content);
    // The stalled client then gets every reply, intact and in order.
    for (let i = 0; i < 40; i++) {
      const r = a.sock.receive();
      expect(r.mid).toBe(MID.PRead);
      expect(r.bytes.byteLength).toBe(8 + (1 << 20));
      expect(r.bytes.subarray(8)).toEqual(content);
    }
    expect(await g.stop()).toBe(0);
  });
});

describe("channels", () => {
  test("garbage in the state word or a shut-down channel drops the channel, not the connection", async () => {
    const { g, a, ra } = pair();
    const ch1 = a.channel(false);
    const ch2 = a.channel(false);
    Atomics.store(ch1.words, 0, 7);
    libc.futexWake(ch1.base, 1, 0);
    expect(await eventually(() => Atomics.load(ch1.words, 0) === 2)).toBe(true);
    expect(() => ch1.roundTripRaw(MID.FStat, encodeRequest(MID.FStat, { fd: ra }))).toThrow(TransportError);
    // A client shutdown of the other channel (as flipcall's Shutdown).
    Atomics.store(ch2.words, 0, 2);
    libc.futexWake(ch2.base, 1, 0);
    expectStatOf(a.fstat(ra), fx.mount);
    expect(await g.stop()).toBe(0);
  });
});

// ---- host objects that would block -------------------------------------------------------

describe("blocking host objects do not stall other connections", () => {
  test("Connect to a host socket whose backlog is full", async () => {
    const { g, a, b, ra, rb } = pair({ flags: ["--host-uds", "open"] });
    const p = path.join(fx.mount, "busy");
    const l = hostListen(p, C.SOCK_STREAM, 0);
    const filler = hostConnect(p);
    expect(filler).toBeGreaterThanOrEqual(0);
    const busy = a.walkTo(ra, "busy");
    a.sock.send(MID.Connect, encodeRequest(MID.Connect, { fd: busy.id, sockType: C.SOCK_STREAM }));
    const served = answers(b, rb);
    // Free the backlog so a gofer stuck in connect(2) can go on.
    const acc = hostAccept(l);
    closeAll([acc, filler]);
    expect(readable(a.fd, 5000)).toBe(true);
    closeAll(a.sock.receive().fds);
    expect(served).toBe(true);
    closeAll([l]);
    fs.rmSync(p);
    await g.stop();
  });

  for (const [mode, name] of [[C.O_RDONLY, "reading"], [C.O_WRONLY, "writing"]] as const) {
    test(`OpenAt of a host FIFO for ${name} with --host-fifo open`, async () => {
      const p = path.join(fx.mount, `fifo-${name}`);
      Bun.spawnSync(["mkfifo", p]);
      const { g, a, b, ra, rb } = pair({ flags: ["--host-fifo", "open"] });
      const fifo = a.walkTo(ra, `fifo-${name}`);
      a.sock.send(MID.OpenAt, encodeRequest(MID.OpenAt, { fd: fifo.id, flags: mode }));
      const served = answers(b, rb);
      // Open the other end so a gofer stuck in open(2) can go on.
      const other = libc.openat(C.AT_FDCWD, p, (mode === C.O_RDONLY ? C.O_WRONLY : C.O_RDONLY) | C.O_NONBLOCK | C.O_CLOEXEC);
      expect(readable(a.fd, 5000)).toBe(true);
      const reply = a.sock.receive();
      // The open succeeds, and the FIFO is donated.
      expect(reply.mid).toBe(MID.OpenAt);
      expect(reply.fds.length).toBe(1);
      expect(fs.fstatSync(reply.fds[0]).isFIFO()).toBe(true);
      closeAll([...reply.fds, other]);
      expect(served).toBe(true);
      fs.rmSync(p);
      await g.stop();
    });
  }
});

// ---- FD leaks --------------------------------------------------------------------------

describe.each(["waitv", "threads"])("no FD leaks (event loop %s)", (loop) => {
  test("after a busy connection closes, the gofer holds exactly the FDs it held before it", async () => {
    resetMount(fx);
    fs.writeFileSync(path.join(fx.mount, "f"), "data");
    fs.mkdirSync(path.join(fx.mount, "d"));
    const hostSock = hostListen(path.join(fx.mount, "hs"));
    const g = Gofer.start(fx, { mounts: (f) => [f.mount, f.mount, f.mount], flags: ["--host-uds", "all", "--event-loop", loop] });
    const [a, b] = g.clients;
    const rb = b.mount().root.id;
    b.channel();
    b.fstat(rb);
    // In threads mode the first channels start watcher threads, which stay
    // (pooled) for later channels: start them before counting.
    const w = g.clients[2];
    w.mount();
    w.channel(false);
    w.channel(false);
    w.disconnect();
    b.fstat(rb);
    const before = await g.fdsSettled();
    const donated: number[] = [];
    const m = a.mount();
    a.channel();
    a.channel(false);
    const f = a.walkTo(m.root.id, "f");
    const d = a.walkTo(m.root.id, "d");
    const o1 = a.openAt(f.id, C.O_RDWR);
    const o2 = a.openAt(d.id, C.O_RDONLY);
    const oc = a.openCreateAt(d.id, "new", C.O_RDWR);
    donated.push(o1.hostFd, oc.hostFd);
    a.getdents64(o2.id, 4096);
    a.mkdirAt(d.id, "sub");
    a.symlinkAt(d.id, "l", "f");
    a.linkAt(d.id, f.id, "hard");
    a.walkStat(m.root.id, ["d", "sub"]);
    const bd = a.bindAt(d.id, "s", C.SOCK_STREAM);
    donated.push(bd.hostFd);
    a.listen(bd.boundId, 4);
    const peer = hostConnect(path.join(fx.mount, "d/s"));
    donated.push(a.accept(bd.boundId).hostFd, peer);
    donated.push(a.connect(a.walkTo(m.root.id, "hs").id, C.SOCK_STREAM));
    donated.push(hostAccept(hostSock));
    a.setStat(f.id, { mask: C.STATX_SIZE, size: 1 });
    a.errno(MID.Walk, { dirFd: m.root.id, path: ["d", ".."] });
    a.errno(MID.OpenAt, { fd: 424242, flags: 0 });
    expect(g.fds().length).toBeGreaterThan(before.length + 8);
    a.disconnect();
    // The connection's socket and everything it opened are gone: every FD
    // left was there before (same number, same target), and one fewer.
    const leaked = () => g.fdLinks().filter((l) => !before.includes(l));
    await eventually(() => leaked().length === 0 && g.fds().length === before.length - 1);
    expect(leaked()).toEqual([]);
    expect(g.fds().length).toBe(before.length - 1);
    // The other connection is untouched.
    expectStatOf(b.fstat(rb), fx.mount);
    closeAll([...donated, hostSock]);
    expect(await g.stop()).toBe(0);
  });
});

