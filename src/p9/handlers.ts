// The p9 handlers: gVisor's pkg/p9/handlers.go protocol rules (fid states,
// which errno when) over the semantics of gVisor's 2021 p9 fsgofer (seeds/fsgofer.go),
// on the shared host-file layer. Each handler decodes nothing itself: it gets
// the decoded request, writes its response body in place at comm.payloadOff and
// returns its length, or returns -errno.
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { setU64, Statx } from "../ffi/layout";
import { prepareDonation } from "../host/donate";
import type { HostFile } from "../host/file";
import { checkName } from "../host/lookup";
import { copyName, type DirBatch, DirEntry } from "../host/open-file";
import type { MknodKinds } from "../host/policy";
import type { StatBuffer } from "../host/stat";
import type { Comm } from "../serve/comm";
import type { HandlerTable } from "../serve/connection";
import { type DirentCursor, Fid, type Connection } from "./connection";
import {
  ATTR_SIZE,
  farOffset,
  type Fields,
  fieldAt,
  HIGHEST_VERSION,
  type Layout,
  MAX_MESSAGE_SIZE,
  MIN_MESSAGE_SIZE,
  NO_FID,
  NO_UID,
  OpenFlags,
  parseVersion,
  QID_SIZE,
  QidType,
  R,
  type Request,
  type RequestName,
  Requests,
  type SetAttr,
  SetAttrMask,
  T,
  versionString,
} from "./message";

/** The handler of message `N`: its decoded request in, the reply body length
 * or -errno out. */
export type Handler<N extends RequestName> = (c: Connection, comm: Comm, req: Request<N>) => number;
/** One handler per message, each typed for its own request: a handler
 * registered under another message's name, or reading a field its request
 * has not, fails the type check (tests/request-types.ts). */
export type MessageHandlers = { [N in RequestName]?: Handler<N> };

/** What the 2021 fsgofer's GetAttr reports valid: the basic stats but inode number,
 * btime, gen and data version. */
const ATTR_VALID = 0x6ff;

// ---- encoding from a stat ------------------------------------------------------

function qidType(mode: number): number {
  switch (mode & C.S_IFMT) {
    case C.S_IFDIR:
      return QidType.Dir;
    case C.S_IFLNK:
      return QidType.Symlink;
    case C.S_IFSOCK:
    case C.S_IFIFO:
    case C.S_IFCHR:
      return QidType.AppendOnly; // gVisor's "best approximation"
    default:
      return QidType.Regular;
  }
}

/** Writes the QID of the file whose stat is in `st` at `off`: path is the
 * 2021 fsgofer's makeQID, an 8-bit device index above the low 56 bits of the
 * inode. */
function putQid(c: Connection, comm: Comm, off: number, st: StatBuffer): number {
  const dev = c.deviceIndex(st.devMajor(), st.devMinor());
  if (dev < 0) return dev;
  const v = comm.view;
  comm.u8[off] = qidType(st.mode());
  v.setUint32(off + 1, 0, true);
  v.setUint32(off + 5, st.inoLo(), true);
  v.setUint32(off + 9, ((st.inoHi() & 0x00ffffff) | (dev << 24)) >>> 0, true);
  return 0;
}

/** Writes a u64 that is a 32-bit number (the high word 0). */
function putU32AsU64(v: DataView, p: number, x: number): number {
  v.setUint32(p, x >>> 0, true);
  v.setUint32(p + 4, 0, true);
  return p + 8;
}

/** Copies the 8 bytes of statx field `at` of `sv` (u64 or s64, same bytes). */
function copyStat64(v: DataView, p: number, sv: DataView, at: number): number {
  v.setUint32(p, sv.getUint32(at, true), true);
  v.setUint32(p + 4, sv.getUint32(at + 4, true), true);
  return p + 8;
}

/** Writes p9.Attr of the file whose stat is in `st` at `off`. Word by word:
 * a getattr is among the commonest requests, and BigInts would be garbage
 * per field. */
function putAttr(comm: Comm, off: number, st: StatBuffer): void {
  const v = comm.view;
  const sv = st.view;
  v.setUint32(off, st.mode(), true);
  v.setUint32(off + 4, st.uid(), true);
  v.setUint32(off + 8, st.gid(), true);
  let p = putU32AsU64(v, off + 12, sv.getUint32(Statx.nlink, true));
  // rdev as Linux's new_encode_dev puts it in struct stat's st_rdev.
  const major = sv.getUint32(Statx.rdevMajor, true);
  const minor = sv.getUint32(Statx.rdevMinor, true);
  v.setUint32(p, ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0, true);
  v.setUint32(p + 4, (major & ~0xfff) >>> 0, true);
  p += 8;
  p = copyStat64(v, p, sv, Statx.fileSize);
  p = putU32AsU64(v, p, sv.getUint32(Statx.blksize, true));
  p = copyStat64(v, p, sv, Statx.blocks);
  for (let i = 0; i < STAT_TIMES.length; i++) {
    p = copyStat64(v, p, sv, STAT_TIMES[i]);
    p = putU32AsU64(v, p, sv.getUint32(STAT_TIMES[i] + 8, true));
  }
  comm.u8.fill(0, p, off + ATTR_SIZE); // btime, gen, data version: not valid
}

const STAT_TIMES = [Statx.atime, Statx.mtime, Statx.ctime] as const;

/** Writes the getattr valid mask (a constant below 2^32). */
function putValid(comm: Comm, off: number): void {
  putU32AsU64(comm.view, off, ATTR_VALID);
}

function putStr(comm: Comm, off: number, s: string): number {
  comm.view.setUint16(off, s.length, true);
  for (let i = 0; i < s.length; i++) comm.u8[off + 2 + i] = s.charCodeAt(i);
  return off + 2 + s.length;
}

const closeFd = (fd: number) => libc.close(fd);

const putQidBody = (c: Connection, comm: Comm, st: StatBuffer): number => {
  const rc = putQid(c, comm, comm.payloadOff, st);
  return rc < 0 ? rc : QID_SIZE;
};

// ---- fid checks -------------------------------------------------------------------

/** File types a walk may reach (the 2021 fsgofer's checkSupportedFileType, with the
 * FIFO policy our lisafs side offers). A standard client reaches every type:
 * it walks to stat them, and the host layer holds the special ones by
 * O_PATH and never opens them (Mount.standardClient). */
function walkable(c: Connection, mode: number): boolean {
  if (c.mount.standardClient) return true;
  switch (mode & C.S_IFMT) {
    case C.S_IFREG:
    case C.S_IFDIR:
    case C.S_IFLNK:
      return true;
    case C.S_IFSOCK:
      return c.mount.policy.hostUds !== "none";
    case C.S_IFIFO:
      return c.mount.policy.hostFifo === "open";
    default:
      return false;
  }
}

/** A directory fid that may have children made or removed in it. */
function dirFid(c: Connection, fid: number): Fid | number {
  const f = c.lookup(fid);
  if (!f) return -C.EBADF;
  if (f.deleted || !f.file.isDir() || f.open) return -C.EINVAL;
  return f;
}

/** gVisor's checkSafeName: not "", ".", "..", and no "/" (nor NUL, which no
 * host name holds). */
const safeName = (name: string): number => checkName(name);

// ---- handlers ---------------------------------------------------------------------

/** One handler per message, registered as `table.name = …`, as lisafs does. */
const table: MessageHandlers = {};

table.version = (c, comm, req) => {
  const msize = req.msize;
  const v = parseVersion(req.version);
  if (msize === 0) return -C.EINVAL;
  // A client we cannot talk to gets the standard answer, Rversion "unknown".
  if (v === null) {
    c.sock.msize = Math.max(MIN_MESSAGE_SIZE, Math.min(msize, MAX_MESSAGE_SIZE));
    comm.view.setUint32(comm.payloadOff, c.sock.msize, true);
    return putStr(comm, comm.payloadOff + 4, "unknown") - comm.payloadOff;
  }
  if (v > HIGHEST_VERSION) return -C.EAGAIN; // gVisor's client then asks lower
  if (msize < MIN_MESSAGE_SIZE) return -C.EINVAL;
  // gVisor refuses an msize above its maximum; a standard server offers less.
  if (msize > MAX_MESSAGE_SIZE && v > 0) return -C.EINVAL;
  c.reset();
  c.version = v;
  c.mount.standardClient = v === 0;
  c.sock.msize = Math.min(msize, MAX_MESSAGE_SIZE);
  comm.view.setUint32(comm.payloadOff, c.sock.msize, true);
  return putStr(comm, comm.payloadOff + 4, versionString(v)) - comm.payloadOff;
};

/** No authentication: gVisor answers ENOSYS; standard clients (diod's
 * npclient, for one) take only ENOENT to mean "attach without auth", so a
 * plain 9P2000.L client gets that. */
table.auth = (c) => (c.version === 0 ? -C.ENOENT : -C.ENOSYS);

/** Walks `names` from `from`, one at a time (gVisor's doWalk); each step's
 * QID is written at `qidsOff` when given. Leaves the stat of the file it
 * returns in c.stat. */
function walkNames(c: Connection, comm: Comm, from: Fid, names: string[], qidsOff: number): HostFile | number {
  if (names.length === 0) {
    const clone = from.file.clone();
    if (typeof clone === "number") return clone;
    const rc = clone.stat(c.stat);
    if (rc < 0) {
      clone.close();
      return rc;
    }
    return clone;
  }
  let cur: HostFile = from.file;
  // No closure for the failure path: this runs for every walk.
  let rc = 0;
  for (let i = 0; i < names.length; i++) {
    if (!cur.isDir()) rc = -C.EINVAL;
    else if (cur.node.deleted) rc = -C.ENOENT;
    if (rc < 0) break;
    const next = cur.walk(names[i], c.stat);
    if (typeof next === "number") {
      rc = next;
      break;
    }
    if (cur !== from.file) cur.close();
    cur = next;
    if (!walkable(c, c.stat.mode())) {
      rc = -C.EPERM;
      break;
    }
    if (qidsOff >= 0) {
      if ((i + 1) * QID_SIZE + qidsOff - comm.payloadOff > comm.maxPayload()) {
        rc = -C.ENOMEM;
        break;
      }
      rc = putQid(c, comm, qidsOff + i * QID_SIZE, c.stat);
      if (rc < 0) break;
    }
  }
  if (rc < 0) {
    if (cur !== from.file) cur.close();
    return rc;
  }
  return cur;
}

function checkWalk(c: Connection, req: Request<"walk" | "walkgetattr">): Fid | number {
  const names = req.names;
  for (let i = 0; i < names.length; i++) {
    const rc = safeName(names[i]);
    if (rc < 0) return rc;
  }
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  if (f.open) return -C.EBUSY;
  return f;
}

table.walk = (c, comm, req) => {
  const f = checkWalk(c, req);
  if (typeof f === "number") return f;
  const names = req.names;
  if (!comm.reserve(2 + names.length * QID_SIZE)) return -C.ENOMEM;
  const file = walkNames(c, comm, f, names, comm.payloadOff + 2);
  if (typeof file === "number") return file;
  c.insert(req.newFid, new Fid(file, f.uid));
  comm.view.setUint16(comm.payloadOff, names.length, true);
  return 2 + names.length * QID_SIZE;
};

table.walkgetattr = (c, comm, req) => {
  const f = checkWalk(c, req);
  if (typeof f === "number") return f;
  const names = req.names;
  const off = comm.payloadOff;
  if (!comm.reserve(R.walkgetattr.qids + 2 + names.length * QID_SIZE)) return -C.ENOMEM;
  const file = walkNames(c, comm, f, names, off + R.walkgetattr.qids + 2);
  if (typeof file === "number") return file;
  c.insert(req.newFid, new Fid(file, f.uid));
  putValid(comm, off + R.walkgetattr.valid);
  putAttr(comm, off + R.walkgetattr.attr, c.stat);
  comm.view.setUint16(off + R.walkgetattr.qids, names.length, true);
  return R.walkgetattr.qids + 2 + names.length * QID_SIZE;
};

/**
 * The names to walk from the export's root to attach `aname`. diod's
 * convention first: the exported host path itself is the root, and a path
 * below it names a file there. Otherwise, as before, a path relative to the
 * export ("" and "/" are its root). Empty components (a doubled or trailing
 * "/") are dropped; ".." and "." are refused by the walk's name check, so
 * nothing outside the export can be named.
 */
function attachNames(exportPath: string, aname: string): string[] {
  const names = aname.split("/").filter((n) => n !== "");
  const exported = exportPath.split("/").filter((n) => n !== "");
  if (!aname.startsWith("/") || exported.length === 0 || names.length < exported.length) return names;
  for (let i = 0; i < exported.length; i++) if (names[i] !== exported[i]) return names;
  return names.slice(exported.length);
}

table.attach = (c, comm, req) => {
  if (req.afid !== NO_FID) return -C.EINVAL;
  const uid = c.mount.standardClient ? req.uid : NO_UID;
  const names = attachNames(c.mount.hostPath, req.aname);
  for (const name of names) {
    const bad = safeName(name);
    if (bad < 0) return bad;
  }
  const root = c.mount.openRoot(c.stat);
  if (typeof root === "number") return root;
  let rc = root.stat(c.stat);
  if (rc >= 0) rc = putQid(c, comm, comm.payloadOff, c.stat);
  if (rc < 0) {
    root.close();
    return rc;
  }
  if (names.length === 0) {
    c.insert(req.fid, new Fid(root, uid));
    return QID_SIZE;
  }
  // gVisor's clients get the root's QID whatever the attach name (as
  // gVisor); a standard client, the QID of the file it attached to (as diod),
  // which its kernel takes for the mounted root's inode.
  const qid = comm.u8.slice(comm.payloadOff, comm.payloadOff + QID_SIZE);
  const rootFid = new Fid(root);
  const file = walkNames(c, comm, rootFid, names, -1);
  rootFid.close();
  if (typeof file === "number") return file;
  if (c.version === 0) {
    rc = putQid(c, comm, comm.payloadOff, c.stat);
    if (rc < 0) {
      file.close();
      return rc;
    }
  } else comm.u8.set(qid, comm.payloadOff);
  c.insert(req.fid, new Fid(file, uid));
  return QID_SIZE;
};

table.flush = () => 0;

table.clunk = (c, _comm, req) => (c.clunk(req.fid) ? 0 : -C.EBADF);

table.remove = (c, _comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  let rc: number;
  if (f.file.isMountPoint || f.file.node === c.mount.node || f.deleted) rc = -C.EINVAL;
  // A standard client removes directories with Tremove too (gVisor's never
  // sends it), so a directory is removed as one.
  else rc = f.file.unlinkSelf(f.file.isDir() ? C.AT_REMOVEDIR : 0);
  c.clunk(req.fid);
  return rc;
};

table.lopen = (c, comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  const flags = req.flags;
  const mode = flags & OpenFlags.ModeMask;
  const trunc = flags & OpenFlags.Truncate;
  if (f.deleted || f.open) return -C.EINVAL;
  const ftype = f.file.ftype;
  if (ftype === C.S_IFLNK || ftype === C.S_IFSOCK) return -C.EINVAL;
  if (f.file.isDir() && (mode !== OpenFlags.ReadOnly || trunc)) return -C.EISDIR;
  if ((mode !== OpenFlags.ReadOnly || trunc) && c.readonly) return -C.EROFS;
  if (mode === 3) return -C.EINVAL;
  const res = f.file.open(mode | trunc);
  if (typeof res === "number") return res;
  f.open = res.open;
  f.mode = mode;
  // FDs go with regular files only, as the 2021 fsgofer's newFDMaybe.
  if (res.donate >= 0) {
    if (f.file.isRegular() && comm.canDonate) comm.donate(prepareDonation(res.donate));
    else closeFd(res.donate);
  }
  const rc = f.file.stat(c.stat);
  if (rc < 0) return rc;
  const q = putQid(c, comm, comm.payloadOff, c.stat);
  if (q < 0) return q;
  comm.view.setUint32(comm.payloadOff + QID_SIZE, 0, true); // iounit: the client's msize
  return QID_SIZE + 4;
};


function create(c: Connection, comm: Comm, req: Request<"lcreate" | "ucreate">, uid: number): number {
  let rc = safeName(req.name);
  if (rc < 0) return rc;
  const d = dirFid(c, req.fid);
  if (typeof d === "number") return d;
  if (c.readonly) return -C.EROFS;
  const mode = req.flags & OpenFlags.ModeMask;
  if (mode === 3) return -C.EINVAL;
  // The host FD is opened read-write for a write-only create (as the 2021 fsgofer),
  // so the donated FD can serve the sandbox's page cache.
  const hostFlags = (mode === OpenFlags.WriteOnly ? C.O_RDWR : mode) | (req.flags & OpenFlags.Truncate);
  const res = d.file.openCreate(req.mode & 0o7777, uid, req.gid, req.name, hostFlags, c.stat);
  if (typeof res === "number") return res;
  rc = putQid(c, comm, comm.payloadOff, c.stat);
  const nf = new Fid(res.child, d.uid);
  nf.open = res.open;
  nf.mode = mode;
  // The fid now names the new file; the directory it named is released.
  c.insert(req.fid, nf);
  if (res.donate >= 0) {
    if (comm.canDonate) comm.donate(prepareDonation(res.donate));
    else closeFd(res.donate);
  }
  if (rc < 0) return rc;
  comm.view.setUint32(comm.payloadOff + QID_SIZE, 0, true);
  return QID_SIZE + 4;
}
/** The owner of what a create on directory fid `dirFid` makes, when the
 * request names none: the fid's user (a standard client's access=user). */
const ownerOf = (c: Connection, dirFid: number): number => c.lookup(dirFid)?.uid ?? NO_UID;
table.lcreate = (c, comm, req) => create(c, comm, req, ownerOf(c, req.fid));
table.ucreate = (c, comm, req) => create(c, comm, req, req.uid);

/** Runs a host call that makes a child of a directory fid, leaving its stat
 * in the `st` it is given, and answers its QID. */
function makeChild(
  c: Connection,
  comm: Comm,
  req: Request<"mkdir" | "umkdir" | "symlink" | "usymlink" | "mknod" | "umknod">,
  make: (dir: HostFile, st: StatBuffer) => HostFile | number,
): number {
  const rc = safeName(req.name);
  if (rc < 0) return rc;
  const d = dirFid(c, req.dirFid);
  if (typeof d === "number") return d;
  if (c.readonly) return -C.EROFS;
  const child = make(d.file, c.stat);
  if (typeof child === "number") return child;
  child.close();
  return putQidBody(c, comm, c.stat);
}

table.mkdir = (c, comm, req) =>
  makeChild(c, comm, req, (d, st) => d.mkdir(req.mode & 0o7777, ownerOf(c, req.dirFid), req.gid, req.name, st));
table.umkdir = (c, comm, req) => makeChild(c, comm, req, (d, st) => d.mkdir(req.mode & 0o7777, req.uid, req.gid, req.name, st));
table.symlink = (c, comm, req) =>
  makeChild(c, comm, req, (d, st) => d.symlink(req.name, req.target, ownerOf(c, req.dirFid), req.gid, st));
table.usymlink = (c, comm, req) =>
  makeChild(c, comm, req, (d, st) => d.symlink(req.name, req.target, req.uid, req.gid, st));
/** What Tmknod may make: gVisor's clients, regular files only (its gofer's
 * rule, 20240729's runsc/fsgofer: EPERM otherwise); a standard client, also
 * FIFOs and sockets (its kernel sends Tmknod for mkfifo and for bind), as
 * diod; device nodes only with --allow-device-nodes. */
function mknodKinds(c: Connection): MknodKinds {
  if (!c.mount.standardClient) return "regular";
  return c.mount.policy.deviceNodes ? "devices" : "specials";
}
table.mknod = (c, comm, req) =>
  makeChild(c, comm, req, (d, st) => d.mknod(req.mode, ownerOf(c, req.dirFid), req.gid, req.name, st, mknodKinds(c), req.major, req.minor));
table.umknod = (c, comm, req) =>
  makeChild(c, comm, req, (d, st) => d.mknod(req.mode, req.uid, req.gid, req.name, st, mknodKinds(c), req.major, req.minor));

table.link = (c, _comm, req) => {
  const rc = safeName(req.name);
  if (rc < 0) return rc;
  const d = c.lookup(req.dirFid);
  if (!d) return -C.EBADF;
  const target = c.lookup(req.targetFid);
  if (!target) return -C.EBADF;
  if (d.deleted || !d.file.isDir() || d.open) return -C.EINVAL;
  if (c.readonly) return -C.EROFS;
  const child = target.file.link(d.file, req.name, c.stat);
  if (typeof child === "number") return child;
  child.close();
  return 0;
};

table.renameat = (c, _comm, req) => {
  let rc = safeName(req.oldName) || safeName(req.newName);
  if (rc < 0) return rc;
  const from = c.lookup(req.oldDirFid);
  if (!from) return -C.EBADF;
  const to = c.lookup(req.newDirFid);
  if (!to) return -C.EBADF;
  if (from.deleted || !from.file.isDir() || to.deleted || !to.file.isDir() || from.open) return -C.EINVAL;
  // Renaming a name onto itself succeeds without touching the host (as the
  // reference's handler), read-only mount included.
  if (from.file.node === to.file.node && req.oldName === req.newName) return 0;
  rc = from.file.renameAt(req.oldName, to.file, req.newName);
  return rc < 0 ? rc : 0;
};

table.rename = (c, _comm, req) => {
  const rc = safeName(req.name);
  if (rc < 0) return rc;
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  const to = c.lookup(req.dirFid);
  if (!to) return -C.EBADF;
  if (f.file.node === c.mount.node) return -C.EINVAL;
  if (f.deleted || to.deleted || !to.file.isDir()) return -C.EINVAL;
  return f.file.renameSelf(to.file, req.name);
};

table.unlinkat = (c, _comm, req) => {
  const rc = safeName(req.name);
  if (rc < 0) return rc;
  const d = dirFid(c, req.dirFid);
  if (typeof d === "number") return d;
  return d.file.unlink(req.name, req.flags);
};

table.readlink = (c, comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  if (f.deleted || !f.file.isSymlink()) return -C.EINVAL;
  const room = Math.min(4096, comm.maxPayload() - 2);
  if (!comm.reserve(2 + room)) return -C.ENOMEM;
  const out = comm.u8.subarray(comm.payloadOff + 2, comm.payloadOff + 2 + room);
  const n = f.file.readlink(out, comm.addr + comm.payloadOff + 2);
  if (n < 0) return n;
  if (n >= room) return -C.ENAMETOOLONG;
  comm.view.setUint16(comm.payloadOff, n, true);
  return 2 + n;
};

table.getattr = (c, comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  let rc = f.file.stat(c.stat);
  if (rc < 0) return rc;
  if (!comm.reserve(R.getattr.size)) return -C.ENOMEM;
  const off = comm.payloadOff;
  rc = putQid(c, comm, off + R.getattr.qid, c.stat);
  if (rc < 0) return rc;
  putValid(comm, off + R.getattr.valid);
  putAttr(comm, off + R.getattr.attr, c.stat);
  return R.getattr.size;
};

/** The 2021 fsgofer's SetAttr: EROFS on a read-only mount; only permissions, owner,
 * size and times (CTime is EPERM for gVisor's clients; a standard client's
 * kernel sets it on every change and it is ignored); each change tried in
 * turn, the last failure answered. */
function setattr(c: Connection, f: Fid, valid: number, a: SetAttr): number {
  if (f.deleted) return -C.EINVAL;
  if (c.readonly) return -C.EROFS;
  if (valid === 0) return 0;
  if (c.version === 0) valid &= ~SetAttrMask.CTime;
  const allowed =
    SetAttrMask.Mode | SetAttrMask.UID | SetAttrMask.GID | SetAttrMask.Size | SetAttrMask.ATime | SetAttrMask.MTime |
    SetAttrMask.ATimeSet | SetAttrMask.MTimeSet;
  if (valid & ~allowed) return -C.EPERM;
  let mask = 0;
  if (valid & SetAttrMask.Mode) mask |= C.STATX_MODE;
  if (valid & SetAttrMask.UID) mask |= C.STATX_UID;
  if (valid & SetAttrMask.GID) mask |= C.STATX_GID;
  if (valid & SetAttrMask.Size) mask |= C.STATX_SIZE;
  if (valid & SetAttrMask.ATime) mask |= C.STATX_ATIME;
  if (valid & SetAttrMask.MTime) mask |= C.STATX_MTIME;
  const now = BigInt(C.UTIME_NOW);
  const res = f.file.setStat({
    mask,
    mode: a.mode & 0o7777,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    atimeSec: valid & SetAttrMask.ATimeSet ? a.atimeSec : 0,
    atimeNsec: valid & SetAttrMask.ATimeSet ? a.atimeNsec : now,
    mtimeSec: valid & SetAttrMask.MTimeSet ? a.mtimeSec : 0,
    mtimeNsec: valid & SetAttrMask.MTimeSet ? a.mtimeNsec : now,
    truncateHeldFd: true,
  });
  return res.failureMask ? -res.failureErrno : 0;
}

table.setattr = (c, _comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  return setattr(c, f, req.valid, req.attr);
};

table.setattrclunk = (c, _comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  const rc = setattr(c, f, req.valid, req.attr);
  c.clunk(req.fid);
  return rc;
};

const TREAD_OFFSET_AT = fieldAt(Requests[T.read], "offset");
const TWRITE_OFFSET_AT = fieldAt(Requests[T.write], "offset");

/** The host offset of a Tread or Twrite: the decoded number, or for one of
 * 2^53 or more (decoded -1, see message.ts "off") the exact value, read
 * again from the request, as gVisor's gofer passes it on. */
function hostOffset(comm: Comm, req: Request<"read" | "write">, at: number): number | bigint {
  return req.offset >= 0 ? req.offset : farOffset(comm.view, comm.payloadOff, at);
}

table.read = (c, comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  if (req.count > MAX_MESSAGE_SIZE) return -C.ENOBUFS;
  if (!f.open) return -C.EINVAL;
  if (f.mode === OpenFlags.WriteOnly) return -C.EPERM;
  const count = Math.min(req.count, comm.maxPayload() - R.read.data);
  if (!comm.reserve(R.read.data + count)) return -C.ENOMEM;
  // Straight into the reply.
  const n = f.open.read(comm.addr + comm.payloadOff + R.read.data, count, hostOffset(comm, req, TREAD_OFFSET_AT));
  if (n < 0) return n;
  comm.view.setUint32(comm.payloadOff + R.read.count, n, true);
  return R.read.data + n;
};

table.write = (c, comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  if (!f.open) return -C.EINVAL;
  if (f.mode === OpenFlags.ReadOnly) return -C.EPERM;
  // Straight from the request.
  const n = f.open.write(comm.addr + req.data.off, req.data.len, hostOffset(comm, req, TWRITE_OFFSET_AT));
  if (n < 0) return n;
  comm.view.setUint32(comm.payloadOff, n, true);
  return 4;
};

table.statfs = (c, comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  const buf = new Uint8Array(120);
  const rc = f.file.statfs(buf);
  if (rc < 0) return rc;
  const s = new DataView(buf.buffer);
  const v = comm.view;
  const off = comm.payloadOff;
  v.setUint32(off, Number(s.getBigInt64(0, true) & 0xffffffffn), true); // type
  v.setUint32(off + 4, Number(s.getBigInt64(8, true) & 0xffffffffn), true); // bsize
  for (let i = 0; i < 5; i++) v.setBigUint64(off + 8 + i * 8, s.getBigUint64(16 + i * 8, true), true);
  v.setBigUint64(off + 48, 0n, true); // fsid: the 2021 fsgofer reports none
  v.setUint32(off + 56, Number(s.getBigInt64(64, true) & 0xffffffffn), true); // namelen
  return 60;
};

table.fsync = (c, _comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  if (!f.open) return -C.EINVAL;
  return f.open.sync();
};

table.flushf = (c, _comm, req) => (c.lookup(req.fid) ? 0 : -C.EBADF);

table.allocate = (c, _comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  if (!f.open) return -C.EINVAL;
  if (f.mode === OpenFlags.ReadOnly) return -C.EBADF;
  if (f.deleted) return -C.EINVAL;
  // p9.AllocateMode's bits are Linux's FALLOC_FL_* bits.
  return f.open.allocate(req.mode & 0x7f, req.offset, req.length);
};

table.xattrwalk = (c, _comm, req) => (c.lookup(req.fid) ? -C.ENODATA : -C.EBADF);
table.xattrcreate = (c, _comm, req) => (c.lookup(req.fid) ? -C.ENOSYS : -C.EBADF);

/** Xattrs (an extension, off unless --xattr-user): user.* only. */
function xattrFid(c: Connection, fid: number, name?: string): Fid | number {
  const f = c.lookup(fid);
  if (!f) return -C.EBADF;
  if (f.deleted) return -C.EINVAL;
  if (c.mount.policy.xattr === "none") return -C.EOPNOTSUPP;
  if (name !== undefined && !name.startsWith("user.")) return -C.EOPNOTSUPP;
  return f;
}

table.getxattr = (c, comm, req) => {
  const f = xattrFid(c, req.fid, req.name);
  if (typeof f === "number") return f;
  const max = Math.min(0xffff, comm.maxPayload() - 2);
  const size = req.size === 0 ? max : Math.min(req.size, max);
  if (!comm.reserve(2 + size)) return -C.ENOMEM;
  const n = f.file.getXattr(req.name, comm.addr + comm.payloadOff + 2, size);
  if (n < 0) return n;
  comm.view.setUint16(comm.payloadOff, n, true);
  return 2 + n;
};

table.setxattr = (c, _comm, req) => {
  const f = xattrFid(c, req.fid, req.name);
  if (typeof f === "number") return f;
  const value = Uint8Array.from(req.value, (ch) => ch.charCodeAt(0));
  return f.file.setXattr(req.name, libc.addr(value), value.byteLength, req.flags);
};

table.listxattr = (c, comm, req) => {
  const f = xattrFid(c, req.fid);
  if (typeof f === "number") return f;
  const names = f.file.listXattr();
  if (typeof names === "number") return names;
  let total = 0;
  for (const n of names) total += n.length + 1;
  if (req.size !== 0 && total > req.size) return -C.ERANGE;
  let need = 2;
  for (const n of names) need += 2 + n.length;
  if (!comm.reserve(need)) return -C.ERANGE;
  comm.view.setUint16(comm.payloadOff, names.length, true);
  let p = comm.payloadOff + 2;
  for (const n of names) p = putStr(comm, p, n);
  return p - comm.payloadOff;
};

table.removexattr = (c, _comm, req) => {
  const f = xattrFid(c, req.fid, req.name);
  if (typeof f === "number") return f;
  return f.file.removeXattr(req.name);
};

/** The 2021 fsgofer's Readdir: offsets are entry ordinals; a call at the offset where
 * the last one stopped continues, any other offset (and 0) rewinds and skips.
 * Entries are encoded until the next would pass `count` bytes. QIDs come
 * from the dirent (inode, type) and the directory's device, not from a stat
 * per entry as the 2021 fsgofer did (10x slower for a large directory); only an
 * entry of unknown type or one something is mounted on is stat'ed, so a
 * mount point shows the mounted root, as the 2021 fsgofer's stat does. */
table.readdir = (c, comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  if (f.deleted || !f.file.isDir() || !f.open) return -C.EINVAL;
  const offset = req.offset;
  const budget = Math.min(req.count, comm.maxPayload() - R.read.data);
  if (!comm.reserve(R.read.data + Math.max(0, budget))) return -C.ENOMEM;
  // An open directory stays on its device: stat it once per open fid.
  let dev = f.direntDev;
  if (dev < 0) {
    const rc = f.file.stat(c.stat);
    if (rc < 0) return rc;
    dev = c.deviceIndex(c.stat.devMajor(), c.stat.devMinor());
    if (dev < 0) return dev;
    f.direntDev = dev;
  }
  let rc: number;
  let skip = 0;
  if (f.lastDirentOffset !== offset || offset === 0) {
    rc = f.open.rewind();
    if (rc < 0) return rc;
    skip = offset;
  }
  const start = comm.payloadOff + R.read.data;
  const limit = start + budget;
  const cursor = c.direntCursor;
  cursor.p = start;
  cursor.n = 0;
  for (;;) {
    // 9P entries take about as many bytes as host dirents: ask getdents64 for
    // what the reply still has room for.
    const batch = f.open.readDirBatch(skip, limit - cursor.p, c.stat);
    if (typeof batch === "number") {
      f.lastDirentOffset = -1;
      return batch;
    }
    skip -= batch.skipped;
    if (batch.end) break;
    const used = encodeDirents(c, comm, batch, cursor, limit, offset, dev);
    if (used < batch.count) {
      rc = f.open.unreadFrom(used);
      if (rc < 0) {
        f.lastDirentOffset = -1;
        return rc;
      }
      break;
    }
  }
  f.lastDirentOffset = offset + cursor.n;
  comm.view.setUint32(comm.payloadOff, cursor.p - start, true);
  return cursor.p - comm.payloadOff;
};

/** Encodes entries of `batch` as 9P dirents at cursor.p while they fit
 * below `limit`, advancing `cursor` (the next byte, the entries so far); returns how
 * many entries of the batch it used. Its own small function: the JIT's top
 * tier compiles it in a fraction of the time it took with the loop inlined
 * in the handler (100–135 ms, on the CPU a pinned client shares). */
function encodeDirents(c: Connection, comm: Comm, batch: DirBatch, cursor: DirentCursor, limit: number, offset: number, dev: number): number {
  const v = comm.view;
  const out = comm.u8;
  const names = batch.names;
  const e = batch.entries;
  const count = batch.count;
  const plain = c.version === 0;
  let p = cursor.p;
  let n = cursor.n;
  let i = 0;
  for (; i < count; i++) {
    const at = i * DirEntry.slots;
    const nameStart = e[at + DirEntry.nameStart];
    const nameEnd = e[at + DirEntry.nameEnd];
    const size = R.dirent.name + 2 + (nameEnd - nameStart);
    if (p + size > limit) break;
    const dtype = e[at + DirEntry.type];
    // A stat'ed entry may be a mount point, on a device of its own. Out of
    // device indexes, the entry is left out, as the 2021 fsgofer skips an entry
    // whose QID it cannot make.
    const entryDev = e[at + DirEntry.statted] ? c.deviceIndex(e[at + DirEntry.devMajor], e[at + DirEntry.devMinor]) : dev;
    if (entryDev < 0) continue;
    const qtype = direntQidType(dtype);
    out[p] = qtype;
    v.setUint32(p + R.qidVersion, 0, true);
    v.setUint32(p + R.qidPath, e[at + DirEntry.inoLo], true);
    v.setUint32(p + R.qidPath + 4, ((e[at + DirEntry.inoHi] & 0x00ffffff) | (entryDev << 24)) >>> 0, true);
    n++;
    // offset + n stays far below 2^53: two halves, no BigInt per entry.
    const next = offset + n;
    setU64(v, p + R.dirent.offset, next);
    // gVisor's clients get the QID type, as the 2021 fsgofer sends; a standard
    // 9P2000.L client (Linux) hands the field to readdir as d_type.
    out[p + R.dirent.type] = plain ? dtype : qtype;
    v.setUint16(p + R.dirent.name, nameEnd - nameStart, true);
    copyName(out, p + R.dirent.name + 2, names, nameStart, nameEnd);
    p += size;
  }
  cursor.p = p;
  cursor.n = n;
  return i;
}

/** QID type of a dirent's d_type, as qidType() of the mode. */
function direntQidType(dtype: number): number {
  switch (dtype) {
    case 4: // DT_DIR
      return QidType.Dir;
    case 10: // DT_LNK
      return QidType.Symlink;
    case 12: // DT_SOCK
    case 1: // DT_FIFO
    case 2: // DT_CHR
      return QidType.AppendOnly;
    default:
      return QidType.Regular;
  }
}

table.lconnect = (c, comm, req) => {
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  if (f.deleted || !f.file.isSocket()) return -C.EINVAL;
  const uds = c.mount.policy.hostUds;
  if (uds !== "open" && uds !== "all") return -C.ECONNREFUSED;
  if (!comm.canDonate) return -C.EOPNOTSUPP;
  const types = [C.SOCK_STREAM, C.SOCK_DGRAM, C.SOCK_SEQPACKET];
  const sockType = types[req.sockType];
  if (sockType === undefined) return -C.ENXIO;
  const sock = f.file.connect(sockType);
  if (sock < 0) return sock;
  comm.donate(prepareDonation(sock));
  return 0;
};

table.bind = (c, comm, req) => {
  const rc = safeName(req.name);
  if (rc < 0) return rc;
  const d = dirFid(c, req.dirFid);
  if (typeof d === "number") return d;
  const types = [C.SOCK_STREAM, C.SOCK_DGRAM, C.SOCK_SEQPACKET];
  const sockType = types[req.sockType];
  if (sockType === undefined) return -C.ENXIO;
  const res = d.file.bindAt(req.name, sockType, 0o777, req.uid, req.gid, c.stat);
  if (typeof res === "number") return res;
  closeFd(res.donate);
  const nf = new Fid(res.child);
  nf.bound = res.socket;
  let q = res.child.stat(c.stat);
  if (q >= 0) q = putQid(c, comm, comm.payloadOff + R.bind.qid, c.stat);
  c.insert(req.newFid, nf);
  if (q < 0) return q;
  putValid(comm, comm.payloadOff + R.bind.valid);
  putAttr(comm, comm.payloadOff + R.bind.attr, c.stat);
  return R.bind.size;
};

table.multigetattr = (c, comm, req) => {
  const names = req.names;
  for (let i = 0; i < names.length; i++) {
    if (i === 0 && names[i] === "") continue;
    const rc = safeName(names[i]);
    if (rc < 0) return rc;
  }
  const f = c.lookup(req.fid);
  if (!f) return -C.EBADF;
  if (!comm.reserve(2 + names.length * R.fullStat.size)) return -C.ENOMEM;
  let n = 0;
  let err = 0;
  const off = comm.payloadOff + 2;
  const rc = f.file.walkStat(
    names,
    c.stat,
    (st) => {
      // The reference walks each name and fails the whole request on a type
      // it refuses; no short result.
      if (!walkable(c, st.mode())) {
        if (err === 0) err = -C.EPERM;
        return;
      }
      const p = off + n * R.fullStat.size;
      const q = putQid(c, comm, p + R.fullStat.qid, st);
      if (q < 0) err = q;
      putValid(comm, p + R.fullStat.valid);
      putAttr(comm, p + R.fullStat.attr, st);
      n++;
    },
    true,
  );
  if (rc < 0) return rc;
  if (err < 0) return err;
  comm.view.setUint16(comm.payloadOff, n, true);
  return 2 + n * R.fullStat.size;
};

table.channel = (c, comm, req) => {
  if (!comm.canDonate) return -C.ENOSYS;
  const res = c.channelFor(req.id, req.control);
  if (typeof res === "number") return res;
  comm.donate(res.fd);
  comm.view.setBigUint64(comm.payloadOff, BigInt(res.offset), true);
  comm.view.setBigUint64(comm.payloadOff + 8, BigInt(res.length), true);
  return 16;
};

/** The handlers by T type, as the dispatcher looks them up. Each was typed
 * for its own message above, and the dispatcher decodes a message by that
 * message's layout, so what it passes a handler is its Request. */
export const handlers: HandlerTable<Connection, Fields<Layout>> = [];
for (const name of Object.keys(table) as RequestName[]) handlers[T[name]] = table[name] as HandlerTable<Connection, Fields<Layout>>[number];
