// A small synchronous 9P client for the tests: the socket framing (size u32,
// type u8, tag u16; a reply may carry one FD as SCM_RIGHTS) and gVisor's
// flipcall channels (Tchannel: type u8, hasFD u8, body; the FD on the
// channel's SOCK_SEQPACKET socket). Every layout comes from
// src/p9/message.ts (Requests, Responses); nothing here redeclares one.
//
// Every wait has a deadline (REPLY_TIMEOUT_MS): a server that stops
// answering fails the test with a TransportError instead of hanging it.
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../../src/ffi/constants";
import * as libc from "../../src/ffi/libc";
import {
  ChannelHeader,
  type Decoded,
  decode,
  decodeDirents,
  encode,
  Header,
  NO_FID,
  Requests,
  Responses,
  Rlerror,
  T,
  TYPE_NAMES,
} from "../../src/p9/message";
import { ChannelTransport, REPLY_TIMEOUT_MS, TransportError, recvmsg, sendmsg, waitFd } from "./client";
import { GOFER, type Fixture, Gofer, type GoferOptions } from "./fixture";

export { T, NO_FID } from "../../src/p9/message";
export { TransportError } from "./client";

/** An Rlerror reply. */
export class P9Error extends Error {
  constructor(
    readonly errno: number,
    readonly type: number,
  ) {
    super(`${TYPE_NAMES[type] ?? `type ${type}`}: errno ${errno}`);
  }
}

/** Runs fn; 0 if it succeeded, the errno if it threw a P9Error. */
export function p9errno(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof P9Error) return e.errno;
    throw e;
  }
}

/** One reply: its type and tag, body bytes (own buffer), decoded fields. */
export interface P9Reply {
  type: number;
  tag: number;
  body: Uint8Array;
  view: DataView;
  fds: number[];
}

const ENC = new Uint8Array(2 * 1024 * 1024 + 64);
const ENC_VIEW = new DataView(ENC.buffer);

/** Encodes a request body for `type` from named values with the server's table. */
export function encodeBody(type: number, values: Decoded): Uint8Array {
  const layout = Requests[type];
  if (!layout) throw new Error(`no request layout for type ${type}`);
  const end = encode(layout, values, ENC, ENC_VIEW, 0);
  if (end < 0) throw new Error("request does not fit");
  return ENC.slice(0, end);
}

/** A whole socket frame: header + body, `size` overridable for hostile tests. */
export function frame(type: number, tag: number, body: Uint8Array, size?: number): Uint8Array {
  const b = new Uint8Array(Header.size + body.byteLength);
  const v = new DataView(b.buffer);
  v.setUint32(Header.length, size ?? b.byteLength, true);
  b[Header.type] = type;
  v.setUint16(Header.tag, tag, true);
  b.set(body, Header.size);
  return b;
}

/** Sends all of buf on a socket (FDs with the first bytes). */
export function sendAll(fd: number, buf: Uint8Array, fds: number[] = []): void {
  let off = 0;
  while (off < buf.byteLength) {
    waitFd(fd, C.POLLOUT);
    const n = sendmsg(fd, buf, off, buf.byteLength - off, off === 0 ? fds : [], C.MSG_DONTWAIT);
    if (n === -C.EAGAIN || n === -C.EINTR) continue;
    if (n < 0) throw new TransportError(`sendmsg: errno ${-n}`);
    off += n;
  }
}

function recvExact(fd: number, buf: Uint8Array, len: number, fds: number[]): void {
  let got = 0;
  while (got < len) {
    waitFd(fd, C.POLLIN);
    const r = recvmsg(fd, buf, got, len - got, C.MSG_DONTWAIT);
    fds.push(...r.fds);
    if (r.n === -C.EAGAIN || r.n === -C.EINTR) continue;
    if (r.n < 0) throw new TransportError(`recvmsg: errno ${-r.n}`);
    if (r.n === 0) throw new TransportError("connection closed by the server");
    got += r.n;
  }
}

/** A p9 channel: a flipcall window driven by the lisafs test client's
 * ChannelTransport (same flipcall protocol), with p9's framing. */
export class P9Channel {
  constructor(readonly t: ChannelTransport) {}

  roundTrip(type: number, body: Uint8Array, opts: { hasFd?: number; dataLen?: number } = {}): P9Reply {
    const t = this.t;
    if (ChannelHeader.size + body.byteLength > t.dataCap) throw new TransportError("request does not fit the channel");
    t.data[ChannelHeader.type] = type;
    t.data[ChannelHeader.hasFd] = opts.hasFd ?? 0;
    t.data.set(body, ChannelHeader.size);
    const len = t.flip(opts.dataLen ?? ChannelHeader.size + body.byteLength);
    if (len < ChannelHeader.size || len > t.dataCap) throw new TransportError(`bad reply length ${len}`);
    const rtype = t.data[ChannelHeader.type];
    const hasFd = t.data[ChannelHeader.hasFd] !== 0;
    const rbody = t.data.slice(ChannelHeader.size, len);
    const fds: number[] = [];
    if (hasFd) {
      // The FD was sent before the reply: it is already queued.
      waitFd(t.fdSock, C.POLLIN);
      const one = new Uint8Array(1);
      const r = recvmsg(t.fdSock, one, 0, 1, C.MSG_DONTWAIT);
      fds.push(...r.fds);
      if (r.fds.length === 0) throw new TransportError(`hasFD set but no FD came (${r.n})`);
    }
    return { type: rtype, tag: 0, body: rbody, view: new DataView(rbody.buffer), fds };
  }

  close(): void {
    this.t.close();
  }
}

export class P9Client {
  private tag = 1;
  private readonly hdr = new Uint8Array(Header.size);
  readonly channels: P9Channel[] = [];
  /** Calls go over this channel when set, else the socket. */
  active: P9Channel | null = null;
  closed = false;
  /** FDs the server sent with replies the caller did not want (closed). */
  strayFds = 0;

  constructor(
    readonly fd: number,
    private readonly closer: () => void = () => libc.close(fd),
  ) {}

  // ---- raw framing -------------------------------------------------------------

  sendRaw(bytes: Uint8Array, fds: number[] = []): void {
    sendAll(this.fd, bytes, fds);
  }

  /** Reads one reply frame from the socket. */
  receive(): P9Reply {
    const fds: number[] = [];
    recvExact(this.fd, this.hdr, Header.size, fds);
    const hv = new DataView(this.hdr.buffer);
    const size = hv.getUint32(Header.length, true);
    if (size < Header.size || size > 64 * 1024 * 1024) throw new TransportError(`bad reply size ${size}`);
    const body = new Uint8Array(size - Header.size);
    recvExact(this.fd, body, body.byteLength, fds);
    return { type: this.hdr[Header.type], tag: hv.getUint16(Header.tag, true), body, view: new DataView(body.buffer), fds };
  }

  /** One request/reply on the socket with an encoded body (tag checked). */
  roundTripSock(type: number, body: Uint8Array, fds: number[] = []): P9Reply {
    const tag = this.tag;
    this.tag = (this.tag % 0xfffe) + 1;
    this.sendRaw(frame(type, tag, body), fds);
    const r = this.receive();
    if (r.tag !== tag) throw new Error(`reply tag ${r.tag}, expected ${tag}`);
    return r;
  }

  /** Sends `type` with named values over the active transport; the raw reply. */
  call(type: number, values: Decoded = {}): P9Reply {
    const body = encodeBody(type, values);
    return this.active ? this.active.roundTrip(type, body) : this.roundTripSock(type, body);
  }

  /** Like call, but throws P9Error on Rlerror (closing FDs), checks the reply
   * type and decodes the body with the Responses table. */
  rpc(type: number, values: Decoded = {}): { r: Decoded; reply: P9Reply } {
    const reply = this.call(type, values);
    if (reply.type === Rlerror) {
      for (const f of reply.fds) libc.close(f);
      throw new P9Error(reply.view.getUint32(0, true), type);
    }
    if (reply.type !== type + 1) throw new Error(`reply to ${TYPE_NAMES[type]} is ${TYPE_NAMES[reply.type] ?? reply.type}`);
    const r = decode(Responses[type], reply.body, reply.view, 0, reply.body.byteLength);
    if (!r) throw new Error(`${TYPE_NAMES[type + 1]} is too short (${reply.body.byteLength} bytes)`);
    return { r, reply };
  }

  /** rpc, closing any FD the reply carried; returns the decoded fields. */
  ok(type: number, values: Decoded = {}): Decoded {
    const { r, reply } = this.rpc(type, values);
    for (const f of reply.fds) {
      libc.close(f);
      this.strayFds++;
    }
    return r;
  }

  /** The errno of a call (0 on success; FDs closed). */
  errno(type: number, values: Decoded = {}): number {
    return p9errno(() => this.ok(type, values));
  }

  // ---- typed messages ------------------------------------------------------------

  version(msize = 1 << 20, version = "9P2000.L.Google.13"): { msize: number; version: string } {
    const r = this.ok(T.version, { msize, version });
    return { msize: r.msize, version: r.version };
  }

  attach(fid = 1, aname = "", afid = NO_FID): Decoded {
    return this.ok(T.attach, { fid, afid, uname: "", aname, uid: 0 }).qid;
  }

  walk(fid: number, newFid: number, names: string[]): Decoded[] {
    return this.ok(T.walk, { fid, newFid, names }).qids;
  }

  walkgetattr(fid: number, newFid: number, names: string[]): { valid: number; attr: Decoded; qids: Decoded[] } {
    const r = this.ok(T.walkgetattr, { fid, newFid, names });
    return { valid: Number(r.valid), attr: r.attr, qids: r.qids };
  }

  /** Returns the QID and the donated host FD (-1 if none). */
  lopen(fid: number, flags: number): { qid: Decoded; iounit: number; fd: number } {
    const { r, reply } = this.rpc(T.lopen, { fid, flags });
    if (reply.fds.length > 1) throw new Error(`Rlopen carried ${reply.fds.length} FDs`);
    return { qid: r.qid, iounit: r.iounit, fd: reply.fds[0] ?? -1 };
  }

  lcreate(fid: number, name: string, flags: number, mode = 0o644, gid = 0): { qid: Decoded; fd: number } {
    const { r, reply } = this.rpc(T.lcreate, { fid, name, flags, mode, gid });
    return { qid: r.qid, fd: reply.fds[0] ?? -1 };
  }

  ucreate(fid: number, name: string, flags: number, mode: number, uid: number, gid: number): { qid: Decoded; fd: number } {
    const { r, reply } = this.rpc(T.ucreate, { fid, name, flags, mode, gid, uid });
    return { qid: r.qid, fd: reply.fds[0] ?? -1 };
  }

  read(fid: number, offset: number | bigint, count: number): Uint8Array {
    const { r, reply } = this.rpc(T.read, { fid, offset, count });
    if (r.data.off + r.data.len !== reply.body.byteLength) throw new Error("Rread has trailing bytes");
    return reply.body.slice(r.data.off, r.data.off + r.data.len);
  }

  write(fid: number, offset: number | bigint, data: Uint8Array): number {
    return this.ok(T.write, { fid, offset, data }).count;
  }

  clunk(fid: number): void {
    this.ok(T.clunk, { fid });
  }

  getattr(fid: number, mask = 0x3fff): { valid: number; qid: Decoded; attr: Decoded } {
    const r = this.ok(T.getattr, { fid, mask });
    return { valid: Number(r.valid), qid: r.qid, attr: r.attr };
  }

  setattr(fid: number, valid: number, attr: Decoded): void {
    this.ok(T.setattr, { fid, valid, attr });
  }

  /** Entries of one Treaddir. */
  readdir(fid: number, offset: number | bigint, count: number): Decoded[] {
    const { r, reply } = this.rpc(T.readdir, { fid, offset, count });
    if (r.entries.off + r.entries.len !== reply.body.byteLength) throw new Error("Rreaddir has trailing bytes");
    const ents = decodeDirents(reply.body, reply.view, r.entries.off, r.entries.len);
    if (!ents) throw new Error("Rreaddir entries are malformed");
    return ents;
  }

  readlink(fid: number): string {
    return this.ok(T.readlink, { fid }).target;
  }

  // ---- channels -----------------------------------------------------------------

  /** Tchannel id (control 0: the memfd, 1: the FD socket), as gVisor's client;
   * routes later calls over it when `activate`. */
  channel(id: number, activate = true): P9Channel {
    const a = this.roundTripSock(T.channel, encodeBody(T.channel, { id, control: 0 }));
    const ra = this.checkChannelReply(a);
    const b = this.roundTripSock(T.channel, encodeBody(T.channel, { id, control: 1 }));
    const rb = this.checkChannelReply(b, a.fds);
    if (Number(rb.offset) !== Number(ra.offset) || Number(rb.length) !== Number(ra.length)) throw new Error("Rchannel windows differ");
    const ch = new P9Channel(new ChannelTransport(a.fds[0], b.fds[0], Number(ra.offset), Number(ra.length)));
    this.channels.push(ch);
    if (activate) this.active = ch;
    return ch;
  }

  private checkChannelReply(r: P9Reply, alsoClose: number[] = []): Decoded {
    if (r.type === Rlerror) {
      for (const f of [...r.fds, ...alsoClose]) libc.close(f);
      throw new P9Error(r.view.getUint32(0, true), T.channel);
    }
    const d = decode(Responses[T.channel], r.body, r.view, 0, r.body.byteLength);
    if (r.type !== T.channel + 1 || !d || r.fds.length !== 1) throw new Error(`bad Rchannel: type ${r.type}, ${r.fds.length} FDs`);
    return d;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const ch of this.channels) ch.close();
    this.closer();
  }
}

// ---- starting servers -----------------------------------------------------------

/** A gofer on --io-fd socketpairs whose connections speak 9P. */
export function startP9(fx: Fixture, o: GoferOptions = {}): { g: Gofer; clients: P9Client[]; c: P9Client } {
  const g = Gofer.start(fx, o);
  const clients = g.clients.map((lc) => new P9Client(lc.fd, () => lc.disconnect()));
  return { g, clients, c: clients[0] };
}

/** Tversion + Tattach of fid `rootFid` (default 1). */
export function session(c: P9Client, version = "9P2000.L.Google.13", rootFid = 1): void {
  c.version(1 << 20, version);
  c.attach(rootFid);
}

/** `dist/gofer --listen ADDR --mount MOUNT` (default fx.mount, ":ro"
 * allowed): waits for "listening on ..." and returns it. */
export async function startListener(
  fx: Fixture,
  listen: string,
  extra: string[] = [],
  mount = fx.mount,
): Promise<{ proc: ReturnType<typeof Bun.spawn>; where: string; stop: () => Promise<void> }> {
  const logFile = path.join(fx.logs, `listen-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  const log = fs.openSync(logFile, "a");
  const proc = Bun.spawn([GOFER, "--listen", listen, "--mount", mount, "--log-level", "warn", ...extra], {
    stdio: ["ignore", "pipe", log],
  });
  fs.closeSync(log);
  const stop = async () => {
    proc.kill(9);
    await proc.exited;
  };
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  const deadline = Date.now() + REPLY_TIMEOUT_MS * 2;
  while (!/listening on (\S+)\n/.test(out)) {
    const left = deadline - Date.now();
    const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(1, left)).then(() => null)]);
    if (chunk === null || chunk.done) {
      await stop();
      throw new Error(`gofer --listen ${listen}: no "listening on" line (stdout ${JSON.stringify(out)}); log:\n${fs.readFileSync(logFile, "utf8")}`);
    }
    out += new TextDecoder().decode(chunk.value);
  }
  reader.releaseLock();
  return { proc, where: /listening on (\S+)\n/.exec(out)![1], stop };
}

/** Connects to "unix:/path" or "tcp:HOST:PORT" (blocking connect, then the
 * client's own deadlines). */
export function connectTo(where: string): P9Client {
  if (where.startsWith("unix:")) {
    const p = where.slice(5);
    const s = libc.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
    if (s < 0) throw new Error(`socket: errno ${-s}`);
    const sa = new Uint8Array(110);
    sa[0] = C.AF_UNIX;
    sa.set(Buffer.from(p), 2);
    const rc = libc.connect(s, libc.addr(sa), 2 + Buffer.byteLength(p) + 1);
    if (rc < 0) throw new Error(`connect ${p}: errno ${-rc}`);
    return new P9Client(s);
  }
  const m = /^tcp:([\d.]+):(\d+)$/.exec(where);
  if (!m) throw new Error(`bad address ${where}`);
  const s = libc.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
  if (s < 0) throw new Error(`socket: errno ${-s}`);
  const sa = new Uint8Array(16);
  const v = new DataView(sa.buffer);
  v.setUint16(0, C.AF_INET, true);
  v.setUint16(2, Number(m[2]), false);
  m[1].split(".").forEach((o, i) => (sa[4 + i] = Number(o)));
  const rc = libc.connect(s, libc.addr(sa), 16);
  if (rc < 0) throw new Error(`connect ${where}: errno ${-rc}`);
  return new P9Client(s);
}
