// The client's path operations over lisafs: each walks from the mount
// root's control FD, does its work on the control or open FDs the server
// hands out, and closes them again. Calls go over a flipcall channel unless
// channels are turned off (then over the socket, as gVisor does when a
// channel cannot be made).
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { WalkStatus } from "../lisafs/message";
import { Client, type Inode, type Stat } from "./lisafs";
import { type BenchOp, type Remote, RemoteError, type RemoteStat, type RemoteStatFS, splitLast } from "./remote";

/** The largest PRead/PWrite a call asks for (a channel's window may allow less). */
const IO_CHUNK = 512 * 1024;
/** Room left in a message for the reply's or request's fixed fields. */
const IO_OVERHEAD = 64;
const LIST_BYTES = 64 * 1024;
const XATTR_BYTES = 64 * 1024;

function toRemoteStat(s: Stat): RemoteStat {
  return {
    mode: s.mode,
    nlink: BigInt(s.nlink),
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    blocks: s.blocks,
    blksize: s.blksize,
    ino: s.ino,
    dev: { major: s.devMajor, minor: s.devMinor },
    rdev: { major: s.rdevMajor, minor: s.rdevMinor },
    atime: s.atime,
    mtime: s.mtime,
    ctime: s.ctime,
    btime: s.mask & C.STATX_BTIME ? s.btime : undefined,
  };
}

export class LisafsRemote implements Remote {
  readonly c: Client;
  readonly description: string;
  readonly mountMs: number;
  private readonly root: Inode;
  private readonly chunk: number;

  /** Mounts over the connected socket `fd` (taken over: closed by close()). */
  constructor(fd: number, channels: boolean) {
    this.c = new Client(fd);
    const t0 = performance.now();
    const m = this.c.mount();
    this.mountMs = performance.now() - t0;
    for (const f of m.fds) libc.close(f);
    this.root = m.root;
    let cap = m.maxMessageSize;
    if (channels) {
      const ch = this.c.channel();
      cap = Math.min(cap, ch.dataCap);
    }
    this.chunk = Math.max(4096, Math.min(IO_CHUNK, cap - IO_OVERHEAD));
    this.description = `lisafs over ${channels ? "a flipcall channel" : "the socket"}, max message ${m.maxMessageSize} bytes`;
  }

  ping(): void {
    this.c.fstat(this.root.id);
  }

  /** Walks to `path`; returns the inodes it made (the last is the target).
   * The caller closes them (closeAll). */
  private walk(path: string[]): Inode[] {
    if (path.length === 0) return [];
    const w = this.c.walk(this.root.id, path);
    if (w.inodes.length === path.length) return w.inodes;
    this.closeAll(w.inodes);
    // A symlink before the last name: the server does not follow it.
    throw new RemoteError(w.status === WalkStatus.ComponentSymlink ? C.ENOTDIR : C.ENOENT);
  }

  private closeAll(inodes: Inode[]): void {
    if (inodes.length > 0) this.c.close(inodes.map((i) => i.id));
  }

  /** Runs fn on the target's control FD and stat, closing what the walk made. */
  private at<R>(path: string[], fn: (id: number, stat: Stat) => R): R {
    const inodes = this.walk(path);
    try {
      if (inodes.length === 0) return fn(this.root.id, this.c.fstat(this.root.id));
      const last = inodes[inodes.length - 1];
      return fn(last.id, last.stat);
    } finally {
      this.closeAll(inodes);
    }
  }

  /** Opens the target (flags: O_RDONLY...) and runs fn on the open FD's ID. */
  private open<R>(id: number, flags: number, fn: (openId: number) => R): R {
    const o = this.c.openAt(id, flags);
    // A donated host FD (directfs): this client uses the RPCs instead.
    if (o.hostFd >= 0) libc.close(o.hostFd);
    try {
      return fn(o.id);
    } finally {
      this.c.close([o.id]);
    }
  }

  stat(path: string[]): RemoteStat {
    return this.at(path, (_id, st) => toRemoteStat(st));
  }

  list(path: string[]): string[] {
    return this.at(path, (id, st) => {
      if ((st.mode & C.S_IFMT) !== C.S_IFDIR) throw new RemoteError(C.ENOTDIR);
      return this.open(id, C.O_RDONLY, (dir) => {
        const names: string[] = [];
        for (;;) {
          const ents = this.c.getdents64(dir, LIST_BYTES);
          if (ents.length === 0) return names;
          for (const e of ents) if (e.name !== "." && e.name !== "..") names.push(e.name);
        }
      });
    });
  }

  readlink(path: string[]): string {
    return this.at(path, (id) => this.c.readlinkAt(id));
  }

  read(path: string[], sink: (chunk: Uint8Array) => void): void {
    this.at(path, (id, st) => {
      if ((st.mode & C.S_IFMT) === C.S_IFDIR) throw new RemoteError(C.EISDIR);
      this.open(id, C.O_RDONLY, (f) => {
        for (let off = 0n; ; ) {
          const b = this.c.pread(f, off, this.chunk);
          if (b.byteLength === 0) return;
          sink(b);
          off += BigInt(b.byteLength);
        }
      });
    });
  }

  write(path: string[], source: () => Uint8Array | null, mode: number): bigint {
    const { dir, name } = splitLast(path, C.EISDIR);
    return this.at(dir, (dirId) => {
      const pump = (f: number): bigint => {
        let off = 0n;
        for (let b = source(); b !== null; b = source())
          for (let p = 0; p < b.byteLength; ) {
            const n = this.c.pwrite(f, off, b.subarray(p, Math.min(b.byteLength, p + this.chunk)));
            if (n <= 0) throw new RemoteError(C.EIO);
            p += n;
            off += BigInt(n);
          }
        return off;
      };
      const w = this.c.walk(dirId, [name]);
      if (w.inodes.length === 1) {
        try {
          if ((w.inodes[0].stat.mode & C.S_IFMT) === C.S_IFDIR) throw new RemoteError(C.EISDIR);
          return this.open(w.inodes[0].id, C.O_WRONLY | C.O_TRUNC, pump);
        } finally {
          this.closeAll(w.inodes);
        }
      }
      const made = this.c.openCreateAt(dirId, name, C.O_WRONLY, { mode });
      if (made.hostFd >= 0) libc.close(made.hostFd);
      try {
        return pump(made.id);
      } finally {
        this.c.close([made.id, made.child.id]);
      }
    });
  }

  mkdir(path: string[], mode: number): void {
    const { dir, name } = splitLast(path, C.EEXIST);
    this.at(dir, (dirId) => this.c.close([this.c.mkdirAt(dirId, name, { mode }).id]));
  }

  remove(path: string[]): void {
    const { dir, name } = splitLast(path, C.EBUSY);
    this.at(dir, (dirId) => {
      const w = this.c.walk(dirId, [name]);
      this.closeAll(w.inodes);
      if (w.inodes.length !== 1) throw new RemoteError(C.ENOENT);
      const isDir = (w.inodes[0].stat.mode & C.S_IFMT) === C.S_IFDIR;
      this.c.unlinkAt(dirId, name, isDir ? C.AT_REMOVEDIR : 0);
    });
  }

  rename(from: string[], to: string[]): void {
    const a = splitLast(from, C.EBUSY);
    const b = splitLast(to, C.EBUSY);
    this.at(a.dir, (oldDir) => this.at(b.dir, (newDir) => this.c.renameAt(oldDir, a.name, newDir, b.name)));
  }

  statfs(): RemoteStatFS {
    const s = this.c.fstatfs(this.root.id);
    return {
      type: s.type,
      bsize: s.blockSize,
      blocks: s.blocks,
      bfree: s.blocksFree,
      bavail: s.blocksAvailable,
      files: s.files,
      ffree: s.filesFree,
      namelen: s.nameLength,
    };
  }

  xattrList(path: string[]): string[] {
    return this.at(path, (id) => this.c.flistxattr(id, XATTR_BYTES));
  }

  xattrGet(path: string[], name: string): Uint8Array {
    return this.at(path, (id) => this.c.fgetxattr(id, name, XATTR_BYTES));
  }

  xattrSet(path: string[], name: string, value: Uint8Array): void {
    this.at(path, (id) => this.c.fsetxattr(id, name, value));
  }

  benchOps(path: string[]): BenchOp[] {
    const inodes = this.walk(path);
    if (inodes.length === 0) throw new RemoteError(C.EISDIR);
    const file = inodes[inodes.length - 1];
    const o = this.c.openAt(file.id, C.O_RDONLY);
    if (o.hostFd >= 0) libc.close(o.hostFd);
    const walked: number[] = [];
    return [
      { name: "fstat", run: () => void this.c.fstat(file.id), done: () => {} },
      { name: "pread 4 KiB", run: () => void this.c.pread(o.id, 0, 4096), done: () => this.c.close([o.id]) },
      {
        name: `walk ${path.length} name${path.length === 1 ? "" : "s"}`,
        run: () => {
          for (const i of this.c.walk(this.root.id, path).inodes) walked.push(i.id);
        },
        // The control FDs each walk made, closed outside the timing.
        after: () => this.c.close(walked.splice(0)),
        done: () => this.closeAll(inodes),
      },
    ];
  }

  close(): void {
    this.c.disconnect();
  }
}
