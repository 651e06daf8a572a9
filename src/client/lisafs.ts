// A synchronous lisafs client: the socket transport (8-byte header,
// SCM_RIGHTS on responses) and flipcall channels. Message layouts come from
// src/lisafs/message.ts; nothing here redeclares them. `gofer client` and
// the tests use it (the tests also send malformed messages through `raw`).
import { Statx as StatxL } from "../ffi/layout";
import * as libc from "../ffi/libc";
import {
  ChannelHeader,
  Inode as InodeL,
  MID,
  MAX_MESSAGE_SIZE,
  MID_NAMES,
  Requests,
  Resp,
  SockHeader,
  Statx as StatxWire,
  encode,
} from "../lisafs/message";
import { FlipcallChannel, TransportError, recvAll, sendAll } from "./transport";

export { MID, WalkStatus } from "../lisafs/message";

// ---- errors -----------------------------------------------------------------

/** An Error reply from the server. */
export class LisafsError extends Error {
  constructor(
    readonly errno: number,
    readonly mid: number,
  ) {
    super(`${MID_NAMES[mid] ?? `MID ${mid}`}: errno ${errno}`);
  }
}

/** Runs fn; returns 0 if it succeeded, the errno if it threw a LisafsError. */
export function errnoOf(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof LisafsError) return e.errno;
    throw e;
  }
}

// ---- stat and reply types ------------------------------------------------------

export interface Timestamp {
  sec: bigint;
  nsec: number;
}
export interface Stat {
  mask: number;
  blksize: number;
  nlink: number;
  uid: number;
  gid: number;
  mode: number;
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atime: Timestamp;
  btime: Timestamp;
  ctime: Timestamp;
  mtime: Timestamp;
  rdevMajor: number;
  rdevMinor: number;
  devMajor: number;
  devMinor: number;
}

export function parseStat(v: DataView, off: number): Stat {
  const ts = (o: number): Timestamp => ({ sec: v.getBigInt64(off + o, true), nsec: v.getUint32(off + o + 8, true) });
  return {
    mask: v.getUint32(off + StatxL.mask, true),
    blksize: v.getUint32(off + StatxL.blksize, true),
    nlink: v.getUint32(off + StatxL.nlink, true),
    uid: v.getUint32(off + StatxL.uid, true),
    gid: v.getUint32(off + StatxL.gid, true),
    mode: v.getUint16(off + StatxL.mode, true),
    ino: v.getBigUint64(off + StatxL.ino, true),
    size: v.getBigUint64(off + StatxL.fileSize, true),
    blocks: v.getBigUint64(off + StatxL.blocks, true),
    atime: ts(StatxL.atime),
    btime: ts(StatxL.btime),
    ctime: ts(StatxL.ctime),
    mtime: ts(StatxL.mtime),
    rdevMajor: v.getUint32(off + StatxL.rdevMajor, true),
    rdevMinor: v.getUint32(off + StatxL.rdevMinor, true),
    devMajor: v.getUint32(off + StatxL.devMajor, true),
    devMinor: v.getUint32(off + StatxL.devMinor, true),
  };
}

export interface Inode {
  id: number;
  stat: Stat;
}
function parseInode(v: DataView, off: number): Inode {
  return { id: Number(v.getBigUint64(off + InodeL.controlFd, true)), stat: parseStat(v, off + InodeL.stat) };
}

export interface Reply {
  mid: number;
  payload: DataView;
  bytes: Uint8Array;
  fds: number[];
}

export interface Dirent {
  ino: bigint;
  devMinor: number;
  devMajor: number;
  off: bigint;
  type: number;
  name: string;
}

export interface StatFS {
  type: bigint;
  blockSize: bigint;
  blocks: bigint;
  blocksFree: bigint;
  blocksAvailable: bigint;
  files: bigint;
  filesFree: bigint;
  nameLength: bigint;
}

/** Bytes of a byte string (latin1), as the server treats names. */
export const bytesOf = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const strOf = (b: Uint8Array) => String.fromCharCode(...b);

// ---- transports ------------------------------------------------------------------

interface Transport {
  /** Sends one request (payload already encoded) and waits for its reply. */
  roundTrip(mid: number, payload: Uint8Array): Reply;
  close(): void;
}

class SocketTransport implements Transport {
  private buf = new Uint8Array(64 * 1024);
  constructor(readonly fd: number) {}

  private ensure(n: number): void {
    if (this.buf.byteLength < n) this.buf = new Uint8Array(Math.max(n, this.buf.byteLength * 2));
  }

  send(mid: number, payload: Uint8Array, sendFds: number[] = [], payloadLenOverride?: number): void {
    this.ensure(SockHeader.size + payload.byteLength);
    const v = new DataView(this.buf.buffer);
    v.setUint32(SockHeader.payloadLen, payloadLenOverride ?? payload.byteLength, true);
    v.setUint16(SockHeader.message, mid, true);
    v.setUint16(SockHeader.message + 2, 0, true);
    this.buf.set(payload, SockHeader.size);
    sendAll(this.fd, this.buf, SockHeader.size + payload.byteLength, sendFds);
  }

  receive(): Reply {
    const fds: number[] = [];
    const hdr = new Uint8Array(SockHeader.size);
    recvAll(this.fd, hdr, 0, SockHeader.size, fds);
    const hv = new DataView(hdr.buffer);
    const len = hv.getUint32(SockHeader.payloadLen, true);
    const mid = hv.getUint16(SockHeader.message, true);
    // No reply is larger than a message may be: a bigger length is not lisafs.
    if (len > MAX_MESSAGE_SIZE) throw new TransportError(`reply payload of ${len} bytes is larger than lisafs allows`);
    const bytes = new Uint8Array(len);
    recvAll(this.fd, bytes, 0, len, fds);
    return { mid, bytes, payload: new DataView(bytes.buffer), fds };
  }

  roundTrip(mid: number, payload: Uint8Array): Reply {
    this.send(mid, payload);
    return this.receive();
  }

  close(): void {
    libc.close(this.fd);
  }
}

/** A flipcall channel carrying lisafs (its 4-byte channel header). */
export class ChannelTransport extends FlipcallChannel implements Transport {
  /** Sends a request with an explicit dataLen (for malformed datagrams). */
  roundTripRaw(mid: number, payload: Uint8Array, dataLen?: number): Reply {
    const H = ChannelHeader;
    if (H.size + payload.byteLength > this.dataCap) throw new TransportError("payload does not fit the channel");
    this.dataView.setUint16(H.message, mid, true);
    this.data[H.numFDs] = 0;
    this.data[H.numFDs + 1] = 0;
    this.data.set(payload, H.size);
    const len = this.flip(dataLen ?? H.size + payload.byteLength);
    if (len < H.size || len > this.dataCap) throw new TransportError(`bad reply length ${len}`);
    const rmid = this.dataView.getUint16(H.message, true);
    const numFDs = this.data[H.numFDs];
    const bytes = this.data.slice(H.size, len);
    const fds = this.receiveFds(numFDs);
    return { mid: rmid, bytes, payload: new DataView(bytes.buffer), fds };
  }

  roundTrip(mid: number, payload: Uint8Array): Reply {
    return this.roundTripRaw(mid, payload);
  }

}

// ---- the client ----------------------------------------------------------------

export interface MountReply {
  root: Inode;
  maxMessageSize: number;
  supported: number[];
  fds: number[];
}

export interface CreateOpts {
  mode?: number;
  uid?: number;
  gid?: number;
}

const ENC_BUF = new Uint8Array(4 * 1024 * 1024);
const ENC_VIEW = new DataView(ENC_BUF.buffer);

/** Encodes a request for `mid` from named values with the server's layout. */
export function encodeRequest(mid: number, values: Record<string, unknown>): Uint8Array {
  const layout = Requests[mid];
  if (!layout) throw new Error(`no request layout for MID ${mid}`);
  const end = encode(layout, values, ENC_BUF, ENC_VIEW, 0);
  if (end < 0) throw new Error("request does not fit");
  return ENC_BUF.slice(0, end);
}

export class Client {
  readonly sock: SocketTransport;
  /** Channels created with channel(); the last one made active carries calls. */
  readonly channels: ChannelTransport[] = [];
  private active: Transport;
  disconnected = false;
  /** Default owner for created files (the test runs as root; keep it). */
  uid = process.getuid?.() ?? 0;
  gid = process.getgid?.() ?? 0;

  constructor(readonly fd: number) {
    this.sock = new SocketTransport(fd);
    this.active = this.sock;
  }

  get viaChannel(): boolean {
    return this.active !== this.sock;
  }

  /** Routes later calls over `t` (a channel of this client) or the socket. */
  use(t: ChannelTransport | "socket"): void {
    this.active = t === "socket" ? this.sock : t;
  }

  /** Sends a raw payload over the active transport. */
  raw(mid: number, payload: Uint8Array): Reply {
    return this.active.roundTrip(mid, payload);
  }

  /** Encodes values with the request layout of `mid` and sends them. */
  call(mid: number, values: Record<string, unknown> = {}): Reply {
    return this.raw(mid, encodeRequest(mid, values));
  }

  /** Like call, but throws LisafsError on an Error reply (closing its FDs)
   * and checks the reply's MID. */
  private ok(mid: number, values: Record<string, unknown> = {}): Reply {
    const r = this.call(mid, values);
    if (r.mid === MID.Error) {
      for (const f of r.fds) libc.close(f);
      throw new LisafsError(r.payload.getUint32(Resp.Error.errno, true), mid);
    }
    if (r.mid !== mid) throw new Error(`reply to ${MID_NAMES[mid]} has MID ${r.mid}`);
    return r;
  }

  /** Returns the errno of a call (0 if it succeeded; FDs closed). */
  errno(mid: number, values: Record<string, unknown> = {}): number {
    const r = this.call(mid, values);
    for (const f of r.fds) libc.close(f);
    if (r.mid === MID.Error) return r.payload.getUint32(Resp.Error.errno, true);
    if (r.mid !== mid) throw new Error(`reply to ${MID_NAMES[mid]} has MID ${r.mid}`);
    return 0;
  }

  /** Closes the channels and the socket (the server then drops the connection). */
  disconnect(): void {
    if (this.disconnected) return;
    this.disconnected = true;
    for (const ch of this.channels) ch.close();
    this.sock.close();
  }

  // ---- typed messages ----------------------------------------------------------

  mount(): MountReply {
    const r = this.ok(MID.Mount);
    const R = Resp.Mount;
    const n = r.payload.getUint16(R.numSupported, true);
    const supported: number[] = [];
    for (let i = 0; i < n; i++) supported.push(r.payload.getUint16(R.supported + 2 * i, true));
    if (r.bytes.byteLength !== R.supported + 2 * n) throw new Error("Mount reply has the wrong length");
    return {
      root: parseInode(r.payload, R.root),
      maxMessageSize: r.payload.getUint32(R.maxMessageSize, true),
      supported,
      fds: r.fds,
    };
  }

  /** Creates a channel (always over the socket, as gVisor's client) and
   * optionally routes later calls over it. */
  channel(activate = true): ChannelTransport {
    const r = this.sock.roundTrip(MID.Channel, new Uint8Array(0));
    if (r.mid === MID.Error) {
      for (const f of r.fds) libc.close(f);
      throw new LisafsError(r.payload.getUint32(0, true), MID.Channel);
    }
    if (r.mid !== MID.Channel || r.fds.length !== 2 || r.bytes.byteLength !== Resp.Channel.size)
      throw new Error(`bad Channel reply: mid ${r.mid}, ${r.fds.length} FDs, ${r.bytes.byteLength} bytes`);
    const off = Number(r.payload.getBigUint64(Resp.Channel.dataOffset, true));
    const len = Number(r.payload.getBigUint64(Resp.Channel.dataLength, true));
    const ch = new ChannelTransport(r.fds[0], r.fds[1], off, len);
    this.channels.push(ch);
    if (activate) this.active = ch;
    return ch;
  }

  fstat(fd: number): Stat {
    const r = this.ok(MID.FStat, { fd });
    if (r.bytes.byteLength !== StatxWire.size) throw new Error("FStat reply has the wrong length");
    return parseStat(r.payload, 0);
  }

  setStat(
    fd: number,
    a: { mask: number; mode?: number; uid?: number; gid?: number; size?: number | bigint; atime?: [number | bigint, number]; mtime?: [number | bigint, number] },
  ): { failureMask: number; failureErrno: number } {
    const r = this.ok(MID.SetStat, {
      fd,
      mask: a.mask,
      mode: a.mode ?? 0,
      uid: a.uid ?? 0,
      gid: a.gid ?? 0,
      size: a.size ?? 0,
      atimeSec: a.atime?.[0] ?? 0,
      atimeNsec: a.atime?.[1] ?? 0,
      mtimeSec: a.mtime?.[0] ?? 0,
      mtimeNsec: a.mtime?.[1] ?? 0,
    });
    return {
      failureMask: r.payload.getUint32(Resp.SetStat.failureMask, true),
      failureErrno: r.payload.getUint32(Resp.SetStat.failureErrno, true),
    };
  }

  walk(dirFd: number, path: string[]): { status: number; inodes: Inode[] } {
    const r = this.ok(MID.Walk, { dirFd, path });
    const n = r.payload.getUint16(Resp.Walk.numInodes, true);
    const inodes: Inode[] = [];
    for (let i = 0; i < n; i++) inodes.push(parseInode(r.payload, Resp.Walk.inodes + i * InodeL.size));
    return { status: r.bytes[Resp.Walk.status], inodes };
  }

  /** Walks to a path below dirFd that must exist; returns its inode. */
  walkTo(dirFd: number, path: string): Inode {
    const names = path.split("/").filter((s) => s !== "");
    const w = this.walk(dirFd, names);
    if (w.status !== 0 || w.inodes.length !== names.length) throw new Error(`walk to ${path}: status ${w.status}`);
    // Close the intermediate control FDs.
    const inter = w.inodes.slice(0, -1).map((i) => i.id);
    if (inter.length) this.close(inter);
    return w.inodes[w.inodes.length - 1];
  }

  walkStat(dirFd: number, path: string[]): Stat[] {
    const r = this.ok(MID.WalkStat, { dirFd, path });
    const n = r.payload.getUint16(Resp.WalkStat.numStats, true);
    const out: Stat[] = [];
    for (let i = 0; i < n; i++) out.push(parseStat(r.payload, Resp.WalkStat.stats + i * StatxWire.size));
    return out;
  }

  /** Returns the new open FD's ID and the donated host FD (or -1). */
  openAt(fd: number, flags: number): { id: number; hostFd: number } {
    const r = this.ok(MID.OpenAt, { fd, flags });
    if (r.fds.length > 1) throw new Error("OpenAt donated more than one FD");
    return { id: Number(r.payload.getBigUint64(Resp.OpenAt.openFd, true)), hostFd: r.fds[0] ?? -1 };
  }

  openCreateAt(dirFd: number, name: string, flags: number, o: CreateOpts = {}): { child: Inode; id: number; hostFd: number } {
    const r = this.ok(MID.OpenCreateAt, {
      dirFd,
      name,
      flags,
      mode: o.mode ?? 0o644,
      uid: o.uid ?? this.uid,
      gid: o.gid ?? this.gid,
    });
    return {
      child: parseInode(r.payload, Resp.OpenCreateAt.child),
      id: Number(r.payload.getBigUint64(Resp.OpenCreateAt.newFd, true)),
      hostFd: r.fds[0] ?? -1,
    };
  }

  close(fds: number[]): void {
    this.ok(MID.Close, { fds });
  }

  fsync(fds: number[]): void {
    this.ok(MID.FSync, { fds });
  }

  pwrite(fd: number, offset: number | bigint, data: Uint8Array): number {
    const r = this.ok(MID.PWrite, { fd, offset, buf: data });
    return Number(r.payload.getBigUint64(Resp.PWrite.count, true));
  }

  pread(fd: number, offset: number | bigint, count: number): Uint8Array {
    const r = this.ok(MID.PRead, { fd, offset, count });
    const n = Number(r.payload.getBigUint64(Resp.PRead.numBytes, true));
    if (r.bytes.byteLength !== Resp.PRead.data + n) throw new Error("PRead reply length does not match numBytes");
    return r.bytes.subarray(Resp.PRead.data, Resp.PRead.data + n);
  }

  mkdirAt(dirFd: number, name: string, o: CreateOpts = {}): Inode {
    const r = this.ok(MID.MkdirAt, { dirFd, name, mode: o.mode ?? 0o755, uid: o.uid ?? this.uid, gid: o.gid ?? this.gid });
    return parseInode(r.payload, 0);
  }

  mknodAt(dirFd: number, name: string, mode: number, dev: { major?: number; minor?: number } = {}, o: CreateOpts = {}): Inode {
    const r = this.ok(MID.MknodAt, {
      dirFd,
      name,
      mode,
      major: dev.major ?? 0,
      minor: dev.minor ?? 0,
      uid: o.uid ?? this.uid,
      gid: o.gid ?? this.gid,
    });
    return parseInode(r.payload, 0);
  }

  symlinkAt(dirFd: number, name: string, target: string, o: CreateOpts = {}): Inode {
    const r = this.ok(MID.SymlinkAt, { dirFd, name, target, uid: o.uid ?? this.uid, gid: o.gid ?? this.gid });
    return parseInode(r.payload, 0);
  }

  linkAt(dirFd: number, target: number, name: string): Inode {
    const r = this.ok(MID.LinkAt, { dirFd, target, name });
    return parseInode(r.payload, 0);
  }

  fstatfs(fd: number): StatFS {
    const r = this.ok(MID.FStatFS, { fd });
    const S = Resp.StatFS;
    const g = (o: number) => r.payload.getBigUint64(o, true);
    return {
      type: g(S.type),
      blockSize: g(S.blockSize),
      blocks: g(S.blocks),
      blocksFree: g(S.blocksFree),
      blocksAvailable: g(S.blocksAvailable),
      files: g(S.files),
      filesFree: g(S.filesFree),
      nameLength: g(S.nameLength),
    };
  }

  fallocate(fd: number, mode: number, offset: number | bigint, length: number | bigint): void {
    this.ok(MID.FAllocate, { fd, mode, offset, length });
  }

  readlinkAt(fd: number): string {
    const r = this.ok(MID.ReadLinkAt, { fd });
    const n = r.payload.getUint16(0, true);
    return strOf(r.bytes.subarray(2, 2 + n));
  }

  flush(fd: number): void {
    this.ok(MID.Flush, { fd });
  }

  /** Returns the donated, connected host socket. */
  connect(fd: number, sockType: number): number {
    const r = this.ok(MID.Connect, { fd, sockType });
    if (r.fds.length !== 1) throw new Error(`Connect donated ${r.fds.length} FDs`);
    return r.fds[0];
  }

  /** Today's ConnectWithCreds: Connect with the effective uid/gid given;
   * returns the donated, connected host socket. */
  connectWithCreds(fd: number, sockType: number, uid: number, gid: number): number {
    const r = this.ok(MID.ConnectWithCreds, { fd, sockType, uid, gid });
    if (r.fds.length !== 1) throw new Error(`ConnectWithCreds donated ${r.fds.length} FDs`);
    return r.fds[0];
  }

  unlinkAt(dirFd: number, name: string, flags = 0): void {
    this.ok(MID.UnlinkAt, { dirFd, name, flags });
  }

  renameAt(oldDir: number, oldName: string, newDir: number, newName: string): void {
    this.ok(MID.RenameAt, { oldDir, oldName, newDir, newName });
  }

  /** Today's RenameAt2: RenameAt with renameat2(2) flags. */
  renameAt2(oldDir: number, oldName: string, newDir: number, newName: string, flags: number): void {
    this.ok(MID.RenameAt2, { oldDir, oldName, newDir, newName, flags });
  }

  getdents64(dirFd: number, count: number): Dirent[] {
    const r = this.ok(MID.Getdents64, { dirFd, count });
    const n = r.payload.getUint16(0, true);
    const out: Dirent[] = [];
    const D = Resp.Dirent;
    let p = 2;
    for (let i = 0; i < n; i++) {
      const v = r.payload;
      const nameLen = v.getUint16(p + D.name, true);
      out.push({
        ino: v.getBigUint64(p + D.ino, true),
        devMinor: v.getUint32(p + D.devMinor, true),
        devMajor: v.getUint32(p + D.devMajor, true),
        off: v.getBigUint64(p + D.off, true),
        type: r.bytes[p + D.type],
        name: strOf(r.bytes.subarray(p + D.name + 2, p + D.name + 2 + nameLen)),
      });
      p += D.name + 2 + nameLen;
    }
    if (p !== r.bytes.byteLength) throw new Error("Getdents64 reply has trailing bytes");
    return out;
  }

  fgetxattr(fd: number, name: string, bufSize: number): Uint8Array {
    const r = this.ok(MID.FGetXattr, { fd, name, bufSize });
    const n = r.payload.getUint16(0, true);
    return r.bytes.slice(2, 2 + n);
  }

  fsetxattr(fd: number, name: string, value: Uint8Array, flags = 0): void {
    this.ok(MID.FSetXattr, { fd, name, value, flags });
  }

  flistxattr(fd: number, size: number | bigint): string[] {
    const r = this.ok(MID.FListXattr, { fd, size });
    const n = r.payload.getUint16(0, true);
    const names: string[] = [];
    let p = 2;
    for (let i = 0; i < n; i++) {
      const len = r.payload.getUint16(p, true);
      names.push(strOf(r.bytes.subarray(p + 2, p + 2 + len)));
      p += 2 + len;
    }
    return names;
  }

  fremovexattr(fd: number, name: string): void {
    this.ok(MID.FRemoveXattr, { fd, name });
  }

  bindAt(dirFd: number, name: string, sockType: number, o: CreateOpts = {}): { child: Inode; boundId: number; hostFd: number } {
    const r = this.ok(MID.BindAt, {
      dirFd,
      name,
      sockType,
      mode: o.mode ?? 0o755,
      uid: o.uid ?? this.uid,
      gid: o.gid ?? this.gid,
    });
    if (r.fds.length !== 1) throw new Error(`BindAt donated ${r.fds.length} FDs`);
    return {
      child: parseInode(r.payload, Resp.BindAt.child),
      boundId: Number(r.payload.getBigUint64(Resp.BindAt.boundSocketFd, true)),
      hostFd: r.fds[0],
    };
  }

  listen(fd: number, backlog: number): void {
    this.ok(MID.Listen, { fd, backlog });
  }

  /** Returns the donated accepted socket and the peer address string. */
  accept(fd: number): { hostFd: number; peer: string } {
    const r = this.ok(MID.Accept, { fd });
    if (r.fds.length !== 1) throw new Error(`Accept donated ${r.fds.length} FDs`);
    const n = r.payload.getUint16(0, true);
    return { hostFd: r.fds[0], peer: strOf(r.bytes.subarray(2, 2 + n)) };
  }
}
