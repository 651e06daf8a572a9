// The client's path operations over 9P2000.L: each walks a new fid from the
// attach fid, works on it and clunks it. With gVisor's extensions
// ("9P2000.L.Google.N") xattrs use Tgetxattr/Tsetxattr/Tlistxattr and calls
// may go over a flipcall channel; plain 9P2000.L (diod, Linux's v9fs) uses
// Txattrwalk/Txattrcreate.
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { type Attr, AttrMask, Header, OpenFlags, type Qid, QidType, T } from "../p9/message";
import { strerror } from "./errno";
import { P9Client } from "./p9";
import { TransportError } from "./transport";
import { type BenchOp, type Remote, RemoteError, type RemoteStat, type RemoteStatFS, big, errnoOf, splitLast } from "./remote";

/** The version asked for with gVisor's extensions: the highest ours speaks. */
export const GOOGLE_VERSION = "9P2000.L.Google.13";
export const PLAIN_VERSION = "9P2000.L";
/** Twalk carries at most this many names (9P's MAXWELEM). */
const MAX_WALK = 16;
const ROOT_FID = 1;
/** Room for the header of Tread/Rread, Treaddir/Rreaddir and Twrite (9P's
 * IOHDRSZ, 24 bytes); diod refuses a count larger than msize less that. */
const IO_HEADER = Header.size + 17;
const READ_OVERHEAD = IO_HEADER;
const WRITE_OVERHEAD = IO_HEADER;
const XATTR_BYTES = 64 * 1024;
const XATTR_CREATE_REPLACE = 0;

/** Linux's dev_t encoding (as the kernel's new_encode_dev). */
function devOf(d: number | bigint): { major: number; minor: number } {
  const v = big(d);
  return { major: Number(((v >> 8n) & 0xfffn) | ((v >> 32n) & ~0xfffn)), minor: Number((v & 0xffn) | ((v >> 12n) & ~0xffn)) };
}

function toRemoteStat(valid: number, qid: Qid, a: Attr): RemoteStat {
  const ts = (s: number | bigint, ns: number | bigint) => ({ sec: big(s), nsec: Number(ns) });
  return {
    mode: a.mode,
    nlink: big(a.nlink),
    uid: a.uid,
    gid: a.gid,
    size: big(a.size),
    blocks: big(a.blocks),
    blksize: Number(a.blksize),
    ino: big(qid.path),
    rdev: devOf(a.rdev),
    atime: ts(a.atimeSec, a.atimeNsec),
    mtime: ts(a.mtimeSec, a.mtimeNsec),
    ctime: ts(a.ctimeSec, a.ctimeNsec),
    // diod marks a birth time valid and sends zero when it has none.
    btime: valid & AttrMask.BTime && big(a.btimeSec) !== 0n ? ts(a.btimeSec, a.btimeNsec) : undefined,
  };
}

export interface P9Options {
  /** Ask for gVisor's extensions (the server may answer plain 9P2000.L). */
  google: boolean;
  /** Use a flipcall channel when the extensions are on (needs a Unix socket). */
  channels: boolean;
  msize: number;
  /** The attach name: diod wants the exported path; ours walks it from the root. */
  aname: string;
}

export class P9Remote implements Remote {
  readonly c: P9Client;
  readonly description: string;
  readonly mountMs: number;
  private readonly google: boolean;
  private readonly ioCap: number;
  private nextFid = ROOT_FID + 1;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;

  /** Tversion + Tattach over the connected socket `fd` (closed by close()). */
  constructor(fd: number, o: P9Options) {
    this.c = new P9Client(fd);
    const t0 = performance.now();
    const asked = o.google ? GOOGLE_VERSION : PLAIN_VERSION;
    let v: { msize: number; version: string };
    try {
      v = this.c.version(o.msize, asked);
    } catch (e) {
      const errno = errnoOf(e);
      if (errno === null) throw e;
      throw new TransportError(`the server refused Tversion ${asked}: ${strerror(errno)}${o.google ? " (try --protocol 9p)" : ""}`);
    }
    if (!v.version.startsWith(PLAIN_VERSION))
      throw new TransportError(`the server answered Tversion with ${JSON.stringify(v.version)}: it does not speak ${o.google ? GOOGLE_VERSION : PLAIN_VERSION}`);
    this.c.ok(T.attach, { fid: ROOT_FID, afid: 0xffffffff, uname: "", aname: o.aname, uid: this.uid });
    this.mountMs = performance.now() - t0;
    this.google = v.version !== PLAIN_VERSION;
    let cap = v.msize;
    const channel = this.google && o.channels;
    if (channel) cap = Math.min(cap, this.c.channel(0).t.dataCap);
    this.ioCap = cap;
    this.description = `9P version ${v.version} (msize ${v.msize}) over ${channel ? "a flipcall channel" : "the socket"}`;
  }

  private fid(): number {
    return this.nextFid++;
  }

  ping(): void {
    this.c.getattr(ROOT_FID, AttrMask.Mode);
  }

  /** Walks a new fid to `path` (a clone of the root for []); the caller
   * clunks it. */
  private walk(path: string[]): number {
    const fid = this.fid();
    let from = ROOT_FID;
    for (let i = 0; i === 0 || i < path.length; i += MAX_WALK) {
      const names = path.slice(i, i + MAX_WALK);
      const qids = this.c.walk(from, fid, names);
      if (qids.length !== names.length) {
        // A partial walk makes no fid; a later chunk's failure leaves ours.
        if (from === fid) this.c.clunk(fid);
        // It stopped after the names it could walk: past a file that is not
        // a directory, or at a name that is not there.
        const last = qids[qids.length - 1];
        throw new RemoteError(last && !(last.type & QidType.Dir) ? C.ENOTDIR : C.ENOENT);
      }
      from = fid;
    }
    return fid;
  }

  private at<R>(path: string[], fn: (fid: number) => R): R {
    const fid = this.walk(path);
    try {
      return fn(fid);
    } finally {
      this.c.clunk(fid);
    }
  }

  private getattr(fid: number): RemoteStat {
    const g = this.c.getattr(fid, 0x3fff);
    return toRemoteStat(g.valid, g.qid, g.attr);
  }

  /** Opens fid; a host FD the server donates (gVisor's) is closed unused. */
  private lopen(fid: number, flags: number): number {
    const o = this.c.lopen(fid, flags);
    if (o.fd >= 0) libc.close(o.fd);
    return o.iounit;
  }

  stat(path: string[]): RemoteStat {
    return this.at(path, (fid) => this.getattr(fid));
  }

  list(path: string[]): string[] {
    return this.at(path, (fid) => {
      if ((this.getattr(fid).mode & C.S_IFMT) !== C.S_IFDIR) throw new RemoteError(C.ENOTDIR);
      this.lopen(fid, OpenFlags.ReadOnly);
      const names: string[] = [];
      for (let off: number | bigint = 0; ; ) {
        const ents = this.c.readdir(fid, off, this.ioCap - READ_OVERHEAD);
        if (ents.length === 0) return names;
        for (const e of ents) if (e.name !== "." && e.name !== "..") names.push(e.name);
        off = ents[ents.length - 1].offset;
      }
    });
  }

  readlink(path: string[]): string {
    return this.at(path, (fid) => this.c.readlink(fid));
  }

  read(path: string[], sink: (chunk: Uint8Array) => void): void {
    this.at(path, (fid) => {
      if ((this.getattr(fid).mode & C.S_IFMT) === C.S_IFDIR) throw new RemoteError(C.EISDIR);
      const iounit = this.lopen(fid, OpenFlags.ReadOnly);
      const count = Math.min(this.ioCap - READ_OVERHEAD, iounit || Infinity);
      for (let off = 0n; ; ) {
        const b = this.c.read(fid, off, count);
        if (b.byteLength === 0) return;
        sink(b);
        off += BigInt(b.byteLength);
      }
    });
  }

  write(path: string[], source: () => Uint8Array | null, mode: number): bigint {
    const { dir, name } = splitLast(path, C.EISDIR);
    return this.at(dir, (dirFid) => {
      const fid = this.fid();
      let exists: boolean;
      try {
        exists = this.c.walk(dirFid, fid, [name]).length === 1;
      } catch (e) {
        if (errnoOf(e) !== C.ENOENT) throw e;
        exists = false;
      }
      let iounit = 0;
      try {
        if (exists) {
          if ((this.getattr(fid).mode & C.S_IFMT) === C.S_IFDIR) throw new RemoteError(C.EISDIR);
          iounit = this.lopen(fid, OpenFlags.WriteOnly | OpenFlags.Truncate);
        } else {
          // Tlcreate turns a clone of the directory's fid into the new file's.
          this.c.walk(dirFid, fid, []);
          const made = this.c.lcreate(fid, name, OpenFlags.WriteOnly, mode, this.gid);
          if (made.fd >= 0) libc.close(made.fd);
        }
      } catch (e) {
        this.c.clunk(fid);
        throw e;
      }
      try {
        const count = Math.min(this.ioCap - WRITE_OVERHEAD, iounit || Infinity);
        let off = 0n;
        for (let b = source(); b !== null; b = source())
          for (let p = 0; p < b.byteLength; ) {
            const n = this.c.write(fid, off, b.subarray(p, Math.min(b.byteLength, p + count)));
            if (n <= 0) throw new RemoteError(C.EIO);
            p += n;
            off += BigInt(n);
          }
        return off;
      } finally {
        this.c.clunk(fid);
      }
    });
  }

  mkdir(path: string[], mode: number): void {
    const { dir, name } = splitLast(path, C.EEXIST);
    this.at(dir, (dirFid) => this.c.ok(T.mkdir, { dirFid, name, mode, gid: this.gid }));
  }

  remove(path: string[]): void {
    const { dir, name } = splitLast(path, C.EBUSY);
    const isDir = (this.stat(path).mode & C.S_IFMT) === C.S_IFDIR;
    try {
      this.at(dir, (dirFid) => this.c.ok(T.unlinkat, { dirFid, name, flags: isDir ? C.AT_REMOVEDIR : 0 }));
    } catch (e) {
      if (!unsupported(e)) throw e;
      // Servers without Tunlinkat (diod): Tremove, which clunks the fid either way.
      this.c.ok(T.remove, { fid: this.walk(path) });
    }
  }

  rename(from: string[], to: string[]): void {
    const a = splitLast(from, C.EBUSY);
    const b = splitLast(to, C.EBUSY);
    try {
      this.at(a.dir, (oldDirFid) =>
        this.at(b.dir, (newDirFid) => this.c.ok(T.renameat, { oldDirFid, oldName: a.name, newDirFid, newName: b.name })),
      );
    } catch (e) {
      if (!unsupported(e)) throw e;
      // Servers without Trenameat (diod): Trename of the file's fid.
      this.at(from, (fid) => this.at(b.dir, (dirFid) => this.c.ok(T.rename, { fid, dirFid, name: b.name })));
    }
  }

  statfs(): RemoteStatFS {
    const s = this.c.ok(T.statfs, { fid: ROOT_FID }).stat;
    return {
      type: big(s.type),
      bsize: big(s.bsize),
      blocks: big(s.blocks),
      bfree: big(s.bfree),
      bavail: big(s.bavail),
      files: big(s.files),
      ffree: big(s.ffree),
      namelen: big(s.namelen),
    };
  }

  /** Reads an xattr fid made by Txattrwalk (plain 9P2000.L). */
  private xattrWalk(fid: number, name: string): Uint8Array {
    const x = this.fid();
    const size = Number(this.c.ok(T.xattrwalk, { fid, newFid: x, name }).size);
    try {
      const out = new Uint8Array(size);
      for (let off = 0; off < size; ) {
        const b = this.c.read(x, off, Math.min(size - off, this.ioCap - READ_OVERHEAD));
        if (b.byteLength === 0) break;
        out.set(b, off);
        off += b.byteLength;
      }
      return out;
    } finally {
      this.c.clunk(x);
    }
  }

  xattrList(path: string[]): string[] {
    return this.at(path, (fid) => {
      if (this.google) return this.c.ok(T.listxattr, { fid, size: XATTR_BYTES }).names as string[];
      // Txattrwalk of "" reads the names, each NUL-terminated.
      const b = this.xattrWalk(fid, "");
      return Buffer.from(b)
        .toString("latin1")
        .split("\0")
        .filter((n) => n !== "");
    });
  }

  xattrGet(path: string[], name: string): Uint8Array {
    return this.at(path, (fid) => {
      if (!this.google) return this.xattrWalk(fid, name);
      const v: string = this.c.ok(T.getxattr, { fid, name, size: XATTR_BYTES }).value;
      return Buffer.from(v, "latin1");
    });
  }

  xattrSet(path: string[], name: string, value: Uint8Array): void {
    if (this.google)
      return void this.at(path, (fid) =>
        this.c.ok(T.setxattr, { fid, name, value: Buffer.from(value).toString("latin1"), flags: XATTR_CREATE_REPLACE }),
      );
    // Txattrcreate turns the fid into one that takes the value by Twrite;
    // the server sets it at Tclunk.
    const fid = this.walk(path);
    let clunked = false;
    try {
      this.c.ok(T.xattrcreate, { fid, name, size: value.byteLength, flags: XATTR_CREATE_REPLACE });
      for (let p = 0; p < value.byteLength; ) {
        const n = this.c.write(fid, p, value.subarray(p, Math.min(value.byteLength, p + this.ioCap - WRITE_OVERHEAD)));
        if (n <= 0) throw new RemoteError(C.EIO);
        p += n;
      }
      clunked = true;
      this.c.clunk(fid);
    } finally {
      if (!clunked) this.c.clunk(fid);
    }
  }

  benchOps(path: string[]): BenchOp[] {
    const file = this.walk(path);
    const open = this.fid();
    this.c.walk(file, open, []);
    this.lopen(open, OpenFlags.ReadOnly);
    const walked = this.fid();
    return [
      { name: "getattr (fstat)", run: () => void this.c.getattr(file, 0x3fff), done: () => {} },
      { name: "read 4 KiB (pread)", run: () => void this.c.read(open, 0, 4096), done: () => this.c.clunk(open) },
      {
        name: `walk ${path.length} name${path.length === 1 ? "" : "s"}`,
        run: () => void this.c.walk(ROOT_FID, walked, path.slice(0, MAX_WALK)),
        after: () => this.c.clunk(walked),
        done: () => this.c.clunk(file),
      },
    ];
  }

  close(): void {
    this.c.close();
  }
}

/** The server does not have that message (diod answers EOPNOTSUPP). */
function unsupported(e: unknown): boolean {
  const errno = errnoOf(e);
  return errno === C.EOPNOTSUPP || errno === C.ENOSYS;
}
