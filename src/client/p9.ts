// A synchronous 9P2000.L client (with gVisor's extensions): the socket
// framing (size u32, type u8, tag u16; a reply may carry one FD as
// SCM_RIGHTS) and gVisor's flipcall channels (Tchannel: type u8, hasFD u8,
// body; the FD on the channel's SOCK_SEQPACKET socket). Every layout comes
// from src/p9/message.ts (Requests, Responses); nothing here redeclares one.
// `gofer client` and the tests use it.
import * as libc from "../ffi/libc";
import {
  type Attr,
  ChannelHeader,
  decode,
  decodeDirents,
  type Dirent,
  encode,
  Header,
  type Layout,
  NO_FID,
  type Qid,
  type RequestValuesOf,
  Requests,
  type ResponseOf,
  Responses,
  Rlerror,
  T,
  TYPE_NAMES,
} from "../p9/message";
import { FlipcallChannel, TransportError, recvAll, sendAll } from "./transport";

export { T, NO_FID } from "../p9/message";

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

/** Encodes a request body for `type` from named values with the server's
 * table (typed by it when `type` is a literal such as T.walk). */
export function encodeBody<Ty extends number>(type: Ty, values?: RequestValuesOf<Ty>): Uint8Array {
  const layout: Layout | undefined = Requests[type];
  if (!layout) throw new Error(`no request layout for type ${type}`);
  const end = encode(layout, values ?? {}, ENC, ENC_VIEW, 0);
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

/** A flipcall channel carrying 9P (its 2-byte channel header). */
export class P9Channel {
  constructor(readonly t: FlipcallChannel) {}

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
    // The FD was sent before the reply: it is already queued.
    const fds = hasFd ? t.receiveFds(1) : [];
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
    sendAll(this.fd, bytes, bytes.byteLength, fds);
  }

  /** Reads one reply frame from the socket. */
  receive(): P9Reply {
    const fds: number[] = [];
    recvAll(this.fd, this.hdr, 0, Header.size, fds);
    const hv = new DataView(this.hdr.buffer);
    const size = hv.getUint32(Header.length, true);
    if (size < Header.size || size > 64 * 1024 * 1024) throw new TransportError(`bad reply size ${size}`);
    const body = new Uint8Array(size - Header.size);
    recvAll(this.fd, body, 0, body.byteLength, fds);
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
  call<Ty extends number>(type: Ty, values?: RequestValuesOf<Ty>): P9Reply {
    const body = encodeBody(type, values);
    return this.active ? this.active.roundTrip(type, body) : this.roundTripSock(type, body);
  }

  /** Like call, but throws P9Error on Rlerror (closing FDs), checks the reply
   * type and decodes the body with the Responses table. */
  rpc<Ty extends number>(type: Ty, values?: RequestValuesOf<Ty>): { r: ResponseOf<Ty>; reply: P9Reply } {
    const reply = this.call(type, values);
    if (reply.type === Rlerror) {
      for (const f of reply.fds) libc.close(f);
      throw new P9Error(reply.view.getUint32(0, true), type);
    }
    if (reply.type !== type + 1) throw new Error(`reply to ${TYPE_NAMES[type]} is ${TYPE_NAMES[reply.type] ?? reply.type}`);
    const r = decode(Responses[type], reply.body, reply.view, 0, reply.body.byteLength);
    if (!r) throw new Error(`${TYPE_NAMES[type + 1]} is too short (${reply.body.byteLength} bytes)`);
    // Decoded by the reply table of `type` (its type was checked above).
    return { r: r as ResponseOf<Ty>, reply };
  }

  /** rpc, closing any FD the reply carried; returns the decoded fields. */
  ok<Ty extends number>(type: Ty, values?: RequestValuesOf<Ty>): ResponseOf<Ty> {
    const { r, reply } = this.rpc(type, values);
    for (const f of reply.fds) {
      libc.close(f);
      this.strayFds++;
    }
    return r;
  }

  /** The errno of a call (0 on success; FDs closed). */
  errno<Ty extends number>(type: Ty, values?: RequestValuesOf<Ty>): number {
    return p9errno(() => this.ok(type, values));
  }

  // ---- typed messages ------------------------------------------------------------

  version(msize = 1 << 20, version = "9P2000.L.Google.13"): { msize: number; version: string } {
    const r = this.ok(T.version, { msize, version });
    return { msize: r.msize, version: r.version };
  }

  attach(fid = 1, aname = "", afid = NO_FID): Qid {
    return this.ok(T.attach, { fid, afid, uname: "", aname, uid: 0 }).qid;
  }

  walk(fid: number, newFid: number, names: string[]): Qid[] {
    return this.ok(T.walk, { fid, newFid, names }).qids;
  }

  walkgetattr(fid: number, newFid: number, names: string[]): { valid: number; attr: Attr; qids: Qid[] } {
    const r = this.ok(T.walkgetattr, { fid, newFid, names });
    return { valid: r.valid, attr: r.attr, qids: r.qids };
  }

  /** Returns the QID and the donated host FD (-1 if none). */
  lopen(fid: number, flags: number): { qid: Qid; iounit: number; fd: number } {
    const { r, reply } = this.rpc(T.lopen, { fid, flags });
    if (reply.fds.length > 1) throw new Error(`Rlopen carried ${reply.fds.length} FDs`);
    return { qid: r.qid, iounit: r.iounit, fd: reply.fds[0] ?? -1 };
  }

  lcreate(fid: number, name: string, flags: number, mode = 0o644, gid = 0): { qid: Qid; fd: number } {
    const { r, reply } = this.rpc(T.lcreate, { fid, name, flags, mode, gid });
    return { qid: r.qid, fd: reply.fds[0] ?? -1 };
  }

  ucreate(fid: number, name: string, flags: number, mode: number, uid: number, gid: number): { qid: Qid; fd: number } {
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

  getattr(fid: number, mask = 0x3fff): { valid: number; qid: Qid; attr: Attr } {
    const r = this.ok(T.getattr, { fid, mask });
    return { valid: r.valid, qid: r.qid, attr: r.attr };
  }

  setattr(fid: number, valid: number, attr: RequestValuesOf<typeof T.setattr>["attr"]): void {
    this.ok(T.setattr, { fid, valid, attr });
  }

  /** Entries of one Treaddir. */
  readdir(fid: number, offset: number | bigint, count: number): Dirent[] {
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
    if (rb.offset !== ra.offset || rb.length !== ra.length) throw new Error("Rchannel windows differ");
    const ch = new P9Channel(new FlipcallChannel(a.fds[0], b.fds[0], ra.offset, ra.length));
    this.channels.push(ch);
    if (activate) this.active = ch;
    return ch;
  }

  private checkChannelReply(r: P9Reply, alsoClose: number[] = []): ResponseOf<typeof T.channel> {
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

