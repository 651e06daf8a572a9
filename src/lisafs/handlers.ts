// The lisafs dispatch table and handlers (gVisor pkg/lisafs/handlers.go with
// runsc/fsgofer/lisafs.go's server semantics). A handler gets the decoded
// request, writes its response payload in place into the communicator's
// buffer and returns its length, or returns -errno for an Error reply.
import * as C from "../ffi/constants";
import { setU64, Statfs, Statx as LinuxStatx } from "../ffi/layout";
import * as libc from "../ffi/libc";
import { prepareDonation } from "../host/donate";
import type { HostFile } from "../host/file";
import { checkName } from "../host/lookup";
import { copyName } from "../host/open-file";
import type { XattrPolicy } from "../host/policy";
import type { StatBuffer } from "../host/stat";
import type { Comm } from "../serve/comm";
import type { HandlerTable } from "../serve/connection";
import type { Connection, ControlFD } from "./connection";
import {
  encode,
  farOffset,
  type Fields,
  fieldAt,
  Inode,
  type Layout,
  MID,
  type MIDName,
  type Request,
  Requests,
  Resp,
  Statx,
  WalkStatus,
} from "./message";

/** The handler of message `N`: its decoded request in, the response payload
 * length or -errno out. */
export type Handler<N extends MIDName> = (c: Connection, comm: Comm, req: Request<N>) => number;
/** One handler per message, each typed for its own request: a handler
 * registered under another message's name, or reading a field its request
 * has not, fails the type check (tests/request-types.ts). */
export type MessageHandlers = { [N in MIDName]?: Handler<N> };

const ALLOWED_OPEN_FLAGS = C.O_ACCMODE | C.O_TRUNC;
const SETSTAT_SUPPORTED =
  C.STATX_MODE | C.STATX_UID | C.STATX_GID | C.STATX_SIZE | C.STATX_ATIME | C.STATX_MTIME;

/** What the reference gofer advertises (today's: 20240729's plus
 * ConnectWithCreds and RenameAt2, which a 20240729 client ignores: it only
 * sizes its table by the largest MID); the xattr extension adds FListXattr
 * and FRemoveXattr. Flush is never advertised (neither reference does). */
const SUPPORTED: number[] = [
  MID.Mount, MID.Channel, MID.FStat, MID.SetStat, MID.Walk, MID.WalkStat, MID.OpenAt,
  MID.OpenCreateAt, MID.Close, MID.FSync, MID.PWrite, MID.PRead, MID.MkdirAt, MID.MknodAt,
  MID.SymlinkAt, MID.LinkAt, MID.FStatFS, MID.FAllocate, MID.ReadLinkAt, MID.Connect,
  MID.UnlinkAt, MID.RenameAt, MID.Getdents64, MID.FGetXattr, MID.FSetXattr, MID.BindAt,
  MID.Listen, MID.Accept, MID.ConnectWithCreds, MID.RenameAt2,
];

/** The messages a connection advertises: FListXattr and FRemoveXattr when
 * the mount's policy lets the client change xattrs. */
export function supportedMessages(xattr: XattrPolicy): number[] {
  return xattr !== "none" ? [...SUPPORTED, MID.FListXattr, MID.FRemoveXattr] : SUPPORTED;
}

/** Copies the stat in `st` into the payload at `at`: as today's gofer
 * reports it (statx: the kernel's mask, btime), or for a 20240729 client as
 * its gofer did (fstat: mask STATX_BASIC_STATS, no btime). */
function putStat(c: Connection, comm: Comm, at: number, st: StatBuffer): void {
  const o = comm.payloadOff + at;
  comm.u8.set(st.basic, o);
  if (!c.today) {
    comm.view.setUint32(o + LinuxStatx.mask, C.STATX_BASIC_STATS, true);
    comm.u8.fill(0, o + LinuxStatx.btime, o + LinuxStatx.btime + 16);
  }
}

/** Writes a u64 at payload offset `at`: a count or an ID, a non-negative
 * exact number, as two halves (a BigInt would be garbage on every PRead and
 * PWrite reply); anything else through a BigInt. */
function putU64(comm: Comm, at: number, v: number | bigint): void {
  const off = comm.payloadOff + at;
  if (typeof v === "number" && v >= 0 && v <= Number.MAX_SAFE_INTEGER) setU64(comm.view, off, v);
  else comm.view.setBigUint64(off, BigInt.asUintN(64, BigInt(v)), true);
}

/** Writes an Inode {controlFD `id`, the stat in `st`} at payload offset `at`. */
function putInode(c: Connection, comm: Comm, at: number, id: number, st: StatBuffer): void {
  putU64(comm, at, id);
  putStat(c, comm, at + Inode.stat, st);
}

/** A directory control FD the client may create in. */
function createDir(c: Connection, id: number): ControlFD | number {
  const dir = c.control(id);
  if (typeof dir === "number") return dir;
  if (!dir.file.isDir()) return -C.ENOTDIR;
  if (dir.file.node.deleted) return -C.EINVAL;
  return dir;
}

/** Replies with a new control FD for `child`, whose stat the host call that
 * made it left in `st`. */
function replyInode(c: Connection, comm: Comm, child: HostFile | number, st: StatBuffer): number {
  if (typeof child === "number") return child;
  const fd = c.insertControl(child);
  putInode(c, comm, 0, fd.id, st);
  return Inode.size;
}

const PREAD_OFFSET_AT = fieldAt(Requests[MID.PRead], "offset");
const PWRITE_OFFSET_AT = fieldAt(Requests[MID.PWrite], "offset");

/** The exact offset of a PRead or PWrite whose offset decoded to -1 (2^53 or
 * more, see message.ts "off"), else 0n: the host gets that one, as from
 * gVisor's gofer. Read before the reply is written over the request. */
function farOffsetOf(comm: Comm, req: Request<"PRead" | "PWrite">, at: number): bigint {
  return req.offset < 0 ? farOffset(comm.view, comm.payloadOff, at) : 0n;
}

const statfsBuf = libc.pinnedBytes(Statfs.size);
const statfsView = new DataView(statfsBuf.buffer);

const table: MessageHandlers = {};

table.Error = () => -C.EINVAL;

table.Mount = (c, comm) => {
  const root = c.mount.openRoot(c.stat);
  if (typeof root === "number") return root;
  const fd = c.insertControl(root);
  if (c.mount.policy.donateMountFd) {
    const d = libc.dup(root.fd);
    if (d >= 0) comm.donate(prepareDonation(d));
  }
  const supported = c.supported;
  const len = Resp.Mount.supported + 2 * supported.length;
  if (!comm.reserve(len)) return -C.EIO;
  putInode(c, comm, Resp.Mount.root, fd.id, c.stat);
  const o = comm.payloadOff;
  comm.view.setUint32(o + Resp.Mount.maxMessageSize, c.maxMessageSize, true);
  comm.view.setUint16(o + Resp.Mount.numSupported, supported.length, true);
  for (let i = 0; i < supported.length; i++) comm.view.setUint16(o + Resp.Mount.supported + 2 * i, supported[i], true);
  return len;
};

table.Channel = (c, comm) => {
  const ch = c.createChannel();
  if (typeof ch === "number") return ch;
  comm.donate(prepareDonation(ch.memfd));
  comm.donate(prepareDonation(ch.clientSock));
  putU64(comm, Resp.Channel.dataOffset, ch.offset);
  putU64(comm, Resp.Channel.dataLength, ch.length);
  return Resp.Channel.size;
};

table.FStat = (c, comm, req) => {
  const fd = c.lookup(req.fd);
  if (!fd) return -C.EBADF;
  let rc: number;
  if (fd.kind === "control") rc = fd.file.stat(c.stat);
  else if (fd.kind === "open") rc = fd.file.stat(c.stat);
  else return -C.EINVAL;
  if (rc < 0) return rc;
  putStat(c, comm, 0, c.stat);
  return Statx.size;
};

table.SetStat = (c, comm, req) => {
  if (c.readonly) return -C.EROFS;
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  if (req.mask & ~SETSTAT_SUPPORTED) return -C.EPERM;
  // gVisor's gofer allows SetStat on deleted files (SetAttrOnDeleted).
  // Today's refuses a symlink's mode with EOPNOTSUPP up front.
  const r = fd.file.setStat({ ...req, symlinkModeNotSupported: c.today });
  comm.view.setUint32(comm.payloadOff + Resp.SetStat.failureMask, r.failureMask, true);
  comm.view.setUint32(comm.payloadOff + Resp.SetStat.failureErrno, r.failureErrno, true);
  return Resp.SetStat.size;
};

table.Walk = (c, comm, req) => {
  const start = c.control(req.dirFd);
  if (typeof start === "number") return start;
  if (!start.file.isDir()) return -C.ENOTDIR;
  const path = req.path;
  if (!comm.reserve(Resp.Walk.inodes + path.length * Inode.size)) return -C.EIO;
  let status: number = WalkStatus.Success;
  const made: number[] = [];
  let cur = start.file;
  for (let i = 0; i < path.length; i++) {
    const name = path[i];
    const bad = checkName(name);
    if (bad < 0) {
      for (let i = 0; i < made.length; i++) c.remove(made[i]);
      return bad;
    }
    if (cur.isSymlink()) {
      status = WalkStatus.ComponentSymlink;
      break;
    }
    if (cur.node.deleted) {
      status = WalkStatus.ComponentDoesNotExist;
      break;
    }
    const child = cur.walk(name, c.stat);
    if (child === -C.ENOENT) {
      status = WalkStatus.ComponentDoesNotExist;
      break;
    }
    if (typeof child === "number") {
      for (let i = 0; i < made.length; i++) c.remove(made[i]);
      return child;
    }
    const fd = c.insertControl(child);
    putInode(c, comm, Resp.Walk.inodes + made.length * Inode.size, fd.id, c.stat);
    made.push(fd.id);
    cur = child;
  }
  comm.u8[comm.payloadOff + Resp.Walk.status] = status;
  comm.view.setUint16(comm.payloadOff + Resp.Walk.numInodes, made.length, true);
  return Resp.Walk.inodes + made.length * Inode.size;
};

table.WalkStat = (c, comm, req) => {
  const start = c.control(req.dirFd);
  if (typeof start === "number") return start;
  const path = req.path;
  if (!start.file.isDir() && (path.length > 1 || (path.length === 1 && path[0] !== ""))) return -C.ENOTDIR;
  for (let i = 0; i < path.length; i++) {
    if (i === 0 && path[0] === "") continue;
    const bad = checkName(path[i]);
    if (bad < 0) return bad;
  }
  if (!comm.reserve(Resp.WalkStat.stats + path.length * Statx.size)) return -C.EIO;
  let n = 0;
  const rc = start.file.walkStat(path, c.stat, (st) => {
    putStat(c, comm, Resp.WalkStat.stats + n * Statx.size, st);
    n++;
  });
  if (rc < 0) return rc;
  comm.view.setUint16(comm.payloadOff + Resp.WalkStat.numStats, n, true);
  return Resp.WalkStat.stats + n * Statx.size;
};

table.OpenAt = (c, comm, req) => {
  const flags = req.flags & ALLOWED_OPEN_FLAGS;
  const acc = flags & C.O_ACCMODE;
  const trunc = (flags & C.O_TRUNC) !== 0;
  if (c.readonly && (acc !== C.O_RDONLY || trunc)) return -C.EROFS;
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  if (fd.file.isDir() && (acc !== C.O_RDONLY || trunc)) return -C.EISDIR;
  // Today's gofer opens deleted files (OpenOnDeleted); 20240729's refused.
  if ((fd.file.node.deleted && !c.today) || fd.file.isSymlink()) return -C.EINVAL;
  const r = fd.file.open(flags);
  if (typeof r === "number") return r;
  const ofd = c.insertOpen(fd, r.open);
  if (r.donate >= 0) comm.donate(prepareDonation(r.donate));
  putU64(comm, Resp.OpenAt.openFd, ofd.id);
  return Resp.OpenAt.size;
};

table.OpenCreateAt = (c, comm, req) => {
  if (c.readonly) return -C.EROFS;
  const flags = req.flags & ALLOWED_OPEN_FLAGS;
  const bad = checkName(req.name);
  if (bad < 0) return bad;
  const dir = createDir(c, req.dirFd);
  if (typeof dir === "number") return dir;
  const r = dir.file.openCreate(req.mode, req.uid, req.gid, req.name, flags, c.stat);
  if (typeof r === "number") return r;
  const child = c.insertControl(r.child);
  const ofd = c.insertOpen(child, r.open);
  if (r.donate >= 0) comm.donate(prepareDonation(r.donate));
  putInode(c, comm, Resp.OpenCreateAt.child, child.id, c.stat);
  putU64(comm, Resp.OpenCreateAt.newFd, ofd.id);
  return Resp.OpenCreateAt.size;
};

table.Close = (c, _comm, req) => {
  const ids = req.fds;
  for (let i = 0; i < ids.length; i++) c.remove(ids[i]);
  return 0;
};

table.FSync = (c, _comm, req) => {
  let first = 0;
  const ids = req.fds;
  for (let i = 0; i < ids.length; i++) {
    const fd = c.open(ids[i]);
    const rc = typeof fd === "number" ? fd : fd.file.sync();
    if (rc < 0 && first === 0) first = rc;
  }
  return first;
};

table.PWrite = (c, comm, req) => {
  if (c.readonly) return -C.EROFS;
  const fd = c.open(req.fd);
  if (typeof fd === "number") return fd;
  if (!fd.file.writable) return -C.EBADF;
  const { off, len } = req.buf;
  const far = farOffsetOf(comm, req, PWRITE_OFFSET_AT);
  // Straight from the request bytes in the packet to the file: no copy.
  let done = 0;
  while (done < len) {
    const n = fd.file.write(comm.addr + off + done, len - done, far ? far + BigInt(done) : req.offset + done);
    // An error after some bytes landed (ENOSPC on a filling disk): report
    // the bytes that did, as write(2) does; the next write gets the errno.
    // gVisor's gofer answers the errno and hides the bytes that landed.
    if (n < 0) {
      if (done > 0) break;
      return n;
    }
    if (n === 0) break;
    done += n;
  }
  putU64(comm, Resp.PWrite.count, done);
  return Resp.PWrite.size;
};

table.PRead = (c, comm, req) => {
  const fd = c.open(req.fd);
  if (typeof fd === "number") return fd;
  if (!fd.file.readable) return -C.EBADF;
  const count = req.count;
  if (Resp.PRead.data + count > c.maxMessageSize) return -C.ENOBUFS;
  if (!comm.reserve(Resp.PRead.data + count)) return -C.ENOBUFS;
  const far = farOffsetOf(comm, req, PREAD_OFFSET_AT);
  // Straight from the file into the response area of the packet: no copy.
  const dst = comm.addr + comm.payloadOff + Resp.PRead.data;
  let done = 0;
  while (done < count) {
    const n = fd.file.read(dst + done, count - done, far ? far + BigInt(done) : req.offset + done);
    if (n < 0) return n;
    if (n === 0) break;
    done += n;
  }
  putU64(comm, Resp.PRead.numBytes, done);
  return Resp.PRead.data + done;
};

table.MkdirAt = (c, comm, req) => {
  if (c.readonly) return -C.EROFS;
  const bad = checkName(req.name);
  if (bad < 0) return bad;
  const dir = createDir(c, req.dirFd);
  if (typeof dir === "number") return dir;
  return replyInode(c, comm, dir.file.mkdir(req.mode, req.uid, req.gid, req.name, c.stat), c.stat);
};

table.MknodAt = (c, comm, req) => {
  if (c.readonly) return -C.EROFS;
  const bad = checkName(req.name);
  if (bad < 0) return bad;
  const dir = createDir(c, req.dirFd);
  if (typeof dir === "number") return dir;
  // Today's gofer also creates overlayfs whiteouts (character device 0/0).
  const kinds = c.today ? "whiteouts" : "regular";
  return replyInode(c, comm, dir.file.mknod(req.mode, req.uid, req.gid, req.name, c.stat, kinds, req.major, req.minor), c.stat);
};

table.SymlinkAt = (c, comm, req) => {
  if (c.readonly) return -C.EROFS;
  const bad = checkName(req.name);
  if (bad < 0) return bad;
  const dir = createDir(c, req.dirFd);
  if (typeof dir === "number") return dir;
  return replyInode(c, comm, dir.file.symlink(req.name, req.target, req.uid, req.gid, c.stat), c.stat);
};

table.LinkAt = (c, comm, req) => {
  if (c.readonly) return -C.EROFS;
  const bad = checkName(req.name);
  if (bad < 0) return bad;
  const dir = c.control(req.dirFd);
  if (typeof dir === "number") return dir;
  if (!dir.file.isDir()) return -C.ENOTDIR;
  const target = c.control(req.target);
  if (typeof target === "number") return target;
  if (target.file.isDir()) return -C.EPERM;
  if (dir.file.node.deleted || target.file.node.deleted) return -C.EINVAL;
  return replyInode(c, comm, target.file.link(dir.file, req.name, c.stat), c.stat);
};

table.FStatFS = (c, comm, req) => {
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  const rc = fd.file.statfs(statfsBuf);
  if (rc < 0) return rc;
  const S = Resp.StatFS;
  const get = (at: number) => statfsView.getBigUint64(at, true);
  putU64(comm, S.type, get(Statfs.type));
  putU64(comm, S.blockSize, get(Statfs.bsize));
  putU64(comm, S.blocks, get(Statfs.blocks));
  putU64(comm, S.blocksFree, get(Statfs.bfree));
  putU64(comm, S.blocksAvailable, get(Statfs.bavail));
  putU64(comm, S.files, get(Statfs.files));
  putU64(comm, S.filesFree, get(Statfs.ffree));
  putU64(comm, S.nameLength, get(Statfs.namelen));
  return S.size;
};

table.FAllocate = (c, _comm, req) => {
  if (c.readonly) return -C.EROFS;
  const fd = c.open(req.fd);
  if (typeof fd === "number") return fd;
  if (!fd.file.writable) return -C.EBADF;
  // gVisor's gofer allows this on deleted files (AllocateOnDeleted).
  const mode = Number(BigInt.asUintN(32, req.mode));
  return fd.file.allocate(mode, req.offset, req.length);
};

table.ReadLinkAt = (c, comm, req) => {
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  if (!fd.file.isSymlink()) return -C.EINVAL;
  // gVisor 20240729 means to refuse a deleted symlink with EINVAL but drops
  // that error (its handler tests a stale variable): the client gets an empty
  // target. Sentries in the field see exactly that, so we answer the same.
  if (fd.file.node.deleted) {
    comm.view.setUint16(comm.payloadOff, 0, true);
    return 2;
  }
  const max = 0xffff;
  if (!comm.reserve(2 + max)) return -C.EIO;
  const at = comm.payloadOff + 2;
  const n = fd.file.readlink(comm.u8.subarray(at, at + max), comm.addr + at);
  if (n < 0) return n;
  comm.view.setUint16(comm.payloadOff, n, true);
  return 2 + n;
};

table.Flush = (c, _comm, req) => {
  const fd = c.open(req.fd);
  return typeof fd === "number" ? fd : 0;
};

table.Connect = (c, comm, req) => {
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  if (!fd.file.isSocket()) return -C.ENOTSOCK;
  if (fd.file.node.deleted) return -C.EINVAL;
  const sock = fd.file.connect(req.sockType);
  if (sock < 0) return sock;
  comm.donate(prepareDonation(sock));
  return 0;
};

table.ConnectWithCreds = (c, comm, req) => {
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  if (!fd.file.isSocket()) return -C.ENOTSOCK;
  if (fd.file.node.deleted) return -C.EINVAL;
  const sock = fd.file.connectWithCreds(req.sockType, req.uid, req.gid);
  if (sock < 0) return sock;
  comm.donate(prepareDonation(sock));
  return 0;
};

table.UnlinkAt = (c, _comm, req) => {
  if (c.readonly) return -C.EROFS;
  const bad = checkName(req.name);
  if (bad < 0) return bad;
  const dir = createDir(c, req.dirFd);
  if (typeof dir === "number") return dir;
  return dir.file.unlink(req.name, req.flags);
};

/** RenameAt, and today's RenameAt2 with its renameat2(2) flags (0: RenameAt). */
function rename(c: Connection, req: Request<"RenameAt" | "RenameAt2">, flags: number): number {
  if (c.readonly) return -C.EROFS;
  const bad = checkName(req.oldName) || checkName(req.newName);
  if (bad < 0) return bad;
  const oldDir = c.control(req.oldDir);
  if (typeof oldDir === "number") return oldDir;
  const newDir = c.control(req.newDir);
  if (typeof newDir === "number") return newDir;
  if (!oldDir.file.isDir() || !newDir.file.isDir()) return -C.ENOTDIR;
  if (oldDir.file.node.deleted || newDir.file.node.deleted) return -C.EINVAL;
  return oldDir.file.renameAt(req.oldName, newDir.file, req.newName, flags);
}
table.RenameAt = (c, _comm, req) => rename(c, req, 0);
table.RenameAt2 = (c, _comm, req) => rename(c, req, req.flags);

table.Getdents64 = (c, comm, req) => {
  const fd = c.open(req.dirFd);
  if (typeof fd === "number") return fd;
  if (!fd.control.file.isDir()) return -C.ENOTDIR;
  let count = req.count;
  if (count < 0) {
    const rc = fd.file.rewind();
    if (rc < 0) return rc;
    count = count === -0x80000000 ? 0x7fffffff : -count;
  }
  if (fd.control.file.node.deleted) return -C.EINVAL;
  // Each host entry (reclen >= 24) costs at most reclen + 8 bytes of reply;
  // never read more than the reply can carry, or entries would be lost.
  const room = c.maxMessageSize - 2;
  count = Math.min(count, Math.floor((room * 3) / 4));
  let pos = 2;
  let n = 0;
  let overflow = false;
  const R = Resp.Dirent;
  const rc = fd.file.readDirents(count, c.stat, (inoLo, inoHi, offLo, offHi, type, devMajor, devMinor, names, nameStart, nameEnd) => {
    const nameLen = nameEnd - nameStart;
    if (!comm.reserve(pos + R.name + 2 + nameLen)) {
      overflow = true;
      return;
    }
    const o = comm.payloadOff + pos;
    const v = comm.view;
    v.setUint32(o + R.ino, inoLo, true);
    v.setUint32(o + R.ino + 4, inoHi, true);
    v.setUint32(o + R.devMinor, devMinor, true);
    v.setUint32(o + R.devMajor, devMajor, true);
    v.setUint32(o + R.off, offLo, true);
    v.setUint32(o + R.off + 4, offHi, true);
    comm.u8[o + R.type] = type;
    v.setUint16(o + R.name, nameLen, true);
    copyName(comm.u8, o + R.name + 2, names, nameStart, nameEnd);
    pos += R.name + 2 + nameLen;
    n++;
  });
  if (rc < 0) return rc;
  if (overflow) return -C.EIO;
  comm.view.setUint16(comm.payloadOff, n, true);
  return pos;
};

table.FGetXattr = (c, comm, req) => {
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  if (fd.file.node.deleted) return -C.EINVAL;
  // The value's length is a u16 on the wire. A size query (0): lisafs can
  // only say "n bytes" by sending n bytes; today's gofer reads the whole
  // value and sends it (20240729's sent whatever its buffer held), and so do
  // we, for every client. A value too long for the u16 cannot be read:
  // ERANGE, as a read with a buffer too small gets.
  const max = Math.min(0xffff, c.maxMessageSize - 2);
  const size = req.bufSize === 0 ? max : Math.min(req.bufSize, max);
  if (!comm.reserve(2 + size)) return -C.EIO;
  const n = fd.file.getXattr(req.name, comm.addr + comm.payloadOff + 2, size, c.today);
  if (n < 0) return n;
  comm.view.setUint16(comm.payloadOff, n, true);
  return 2 + n;
};

table.FSetXattr = (c, comm, req) => {
  if (c.readonly) return -C.EROFS;
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  if (fd.file.node.deleted) return -C.EINVAL;
  const v = req.value;
  return fd.file.setXattr(req.name, comm.addr + v.off, v.len, req.flags, c.today);
};

table.FListXattr = (c, comm, req) => {
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  if (fd.file.node.deleted) return -C.EINVAL;
  const names = fd.file.listXattr(c.today);
  if (typeof names === "number") return names;
  let total = 0;
  for (const nm of names) total += nm.length + 1;
  if (req.size !== 0 && total > req.size) return -C.ERANGE;
  let len = 2;
  for (const nm of names) len += 2 + nm.length;
  if (!comm.reserve(len)) return -C.EIO;
  const end = encode([["names", "strs"]], { names }, comm.u8, comm.view, comm.payloadOff);
  return end < 0 ? -C.EIO : end - comm.payloadOff;
};

table.FRemoveXattr = (c, _comm, req) => {
  if (c.readonly) return -C.EROFS;
  const fd = c.control(req.fd);
  if (typeof fd === "number") return fd;
  if (fd.file.node.deleted) return -C.EINVAL;
  return fd.file.removeXattr(req.name, c.today);
};

table.BindAt = (c, comm, req) => {
  // Today's gofer refuses a read-only mount before anything else;
  // 20240729's checked the name and the host-uds policy first.
  if (c.today && c.readonly) return -C.EROFS;
  const bad = checkName(req.name);
  if (bad < 0) return bad;
  const dir = createDir(c, req.dirFd);
  if (typeof dir === "number") return dir;
  const r = dir.file.bindAt(req.name, req.sockType, req.mode, req.uid, req.gid, c.stat);
  if (typeof r === "number") return r;
  const child = c.insertControl(r.child);
  const bound = c.insertBound(child, r.socket);
  comm.donate(prepareDonation(r.donate));
  putInode(c, comm, Resp.BindAt.child, child.id, c.stat);
  putU64(comm, Resp.BindAt.boundSocketFd, bound.id);
  return Resp.BindAt.size;
};

table.Listen = (c, _comm, req) => {
  const fd = c.bound(req.fd);
  if (typeof fd === "number") return fd;
  if (fd.control.file.node.deleted) return -C.EINVAL;
  return fd.socket.listen(req.backlog);
};

table.Accept = (c, comm, req) => {
  const fd = c.bound(req.fd);
  if (typeof fd === "number") return fd;
  if (fd.control.file.node.deleted) return -C.EINVAL;
  const sock = fd.socket.accept();
  if (sock < 0) return sock;
  comm.donate(prepareDonation(sock));
  // gVisor's gofer reports no peer address.
  comm.view.setUint16(comm.payloadOff, 0, true);
  return 2;
};

/** The handlers by message ID, as the dispatcher looks them up. Each was
 * typed for its own message above, and the dispatcher decodes a message by
 * that message's layout, so what it passes a handler is its Request. */
export const handlers: HandlerTable<Connection, Fields<Layout>> = [];
for (const name of Object.keys(table) as MIDName[]) handlers[MID[name]] = table[name] as HandlerTable<Connection, Fields<Layout>>[number];
