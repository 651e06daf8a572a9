// The host-file layer: the semantics of gVisor's runsc/fsgofer on host files,
// shared by the lisafs and p9 servers. It knows files, names and policies;
// it knows nothing of wire formats or file IDs.
//
// Every lookup is one name at a time, relative to an FD we hold, with
// O_NOFOLLOW; names are checked before use; no path is ever resolved from "/"
// except the mount point itself, which the user named on the command line.
import { byteString } from "../ffi/bytestring";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { Dirent64, Statfs, Statx } from "../ffi/layout";
import { mountPointsIn, openMountinfo } from "./mounts";
import { Node } from "./node";

/** Negative errno. */
export type Errno = number;

export type HostUds = "none" | "open" | "create" | "all";
export type HostFifo = "none" | "open";

export type XattrPolicy = "none" | "user" | "all";

export interface Policy {
  readonly: boolean;
  hostUds: HostUds;
  hostFifo: HostFifo;
  /**
   * Which xattrs the client may set, list and remove (getting is always
   * allowed): "none", as 20240729's gofer; "user", the native form's
   * --xattr-user extension (user.* only); "all", as today's runsc's gofer
   * (every namespace the kernel lets us have, never trusted.*).
   */
  xattr: XattrPolicy;
  /**
   * Which gVisor release's lisafs semantics a connection gets where today's
   * differ in a way a 20240729 client would notice (docs/lisafs-today.md).
   * "auto" (the default): 20240729's until the client sends a message only
   * today's clients know (ConnectWithCreds, RenameAt2); "today": today's
   * from the first message.
   */
  lisafs?: "auto" | "today";
  /** Donate the mount point's host FD (directfs). */
  donateMountFd: boolean;
  /**
   * A read-only mount whose files the kernel does not hold read-only (the
   * native form when MountRoot.openReadonly was refused): a donated FD
   * would take fchmod, fchown, futimens and fsetxattr past our EROFS, so
   * regular files are served without donating their FD, and FIFOs and
   * character devices (which need theirs donated) are refused with EPERM.
   */
  readonlyNotEnforced?: boolean;
  /** Host character devices: "open" them for the client (the default, as
   * 20240729's gofer) or "refuse" with EPERM (today's runsc's gofer unless
   * --character-device-policy allows passthrough). */
  charDevices?: "open" | "refuse";
  /** Standard 9P2000.L clients (not gVisor's) may create character and
   * block device nodes with Tmknod (--allow-device-nodes; off: EPERM). */
  deviceNodes?: boolean;
}

/** Which nodes mknod makes besides regular files: "whiteouts", today's
 * gVisor gofer's overlayfs whiteouts (a character device 0/0); "specials",
 * FIFOs and sockets, for a standard 9P2000.L client as diod makes them;
 * "devices", those and character and block devices (--allow-device-nodes). */
export type MknodKinds = "regular" | "whiteouts" | "specials" | "devices";

function mknodAllowed(type: number, kinds: MknodKinds, major: number, minor: number): boolean {
  switch (type) {
    case C.S_IFREG:
      return true;
    case C.S_IFIFO:
    case C.S_IFSOCK:
      return kinds === "specials" || kinds === "devices";
    case C.S_IFCHR:
      return kinds === "devices" || (kinds === "whiteouts" && major === 0 && minor === 0);
    case C.S_IFBLK:
      return kinds === "devices";
    default:
      return false;
  }
}

/** A device number as mknodat's 32-bit `dev` argument (Linux's
 * new_encode_dev: 12 bits of major, 20 of minor; mknod checks the range). */
function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & 0xfff00) << 12)) >>> 0;
}

const udsOpen = (p: Policy) => p.hostUds === "open" || p.hostUds === "all";
const udsCreate = (p: Policy) => p.hostUds === "create" || p.hostUds === "all";

const OPEN_FLAGS = C.O_NOFOLLOW | C.O_CLOEXEC;
const UNIX_PATH_MAX = 108;

/** A name the client may use: not "", ".", "..", and no "/" or NUL. */
export function checkName(name: string): Errno {
  if (name === "" || name === "." || name === "..") return -C.EINVAL;
  if (name.indexOf("/") >= 0 || name.indexOf("\0") >= 0) return -C.EINVAL;
  return 0;
}

// ---- stat ------------------------------------------------------------------

const statBuf = libc.pinnedBytes(Statx.size);
const statView = new DataView(statBuf.buffer);
const statAddr = libc.addr(statBuf);

/**
 * The stat of the last successful statFd/walk/create, as a Linux statx record
 * as today's reference gofer reports it (statx of the basic stats and btime:
 * the kernel's mask and btime, no attributes). 20240729's gofer reported an
 * fstat (mask STATX_BASIC_STATS, no btime): lisafs's putStat rewrites those
 * two fields for its clients (docs/lisafs-today.md). Valid until the next
 * host call that stats.
 */
export const lastStat = {
  bytes: statBuf,
  view: statView,
  mode: (): number => statView.getUint16(Statx.mode, true),
  ftype: (): number => statView.getUint16(Statx.mode, true) & C.S_IFMT,
  ino: (): bigint => statView.getBigUint64(Statx.ino, true),
  devMajor: (): number => statView.getUint32(Statx.devMajor, true),
  devMinor: (): number => statView.getUint32(Statx.devMinor, true),
  uid: (): number => statView.getUint32(Statx.uid, true),
  gid: (): number => statView.getUint32(Statx.gid, true),
};

export function statFd(fd: number): Errno {
  return normalizeStat(libc.statxAddr(fd, libc.EMPTY, C.AT_SYMLINK_NOFOLLOW | C.AT_EMPTY_PATH, STAT_MASK, statAddr));
}

/** statx of dirfd/<NUL-terminated name at nameAddr>, not following symlinks. */
function statAtAddr(dirfd: number, nameAddr: number): Errno {
  return normalizeStat(libc.statxAddr(dirfd, nameAddr, C.AT_SYMLINK_NOFOLLOW, STAT_MASK, statAddr));
}

/** What every stat asks for (today's gofer: STATX_BASIC_STATS|STATX_BTIME). */
const STAT_MASK = C.STATX_BASIC_STATS | C.STATX_BTIME;

function normalizeStat(rc: number): Errno {
  if (rc < 0) return rc;
  // Neither reference reports attributes.
  statView.setBigUint64(Statx.attributes, 0n, true);
  statView.setBigUint64(Statx.attributesMask, 0n, true);
  return 0;
}

/** File types the gofer serves at all (gVisor: no block devices). */
export function isSupportedType(mode: number): boolean {
  switch (mode & C.S_IFMT) {
    case C.S_IFREG:
    case C.S_IFDIR:
    case C.S_IFLNK:
    case C.S_IFCHR:
    case C.S_IFSOCK:
    case C.S_IFIFO:
      return true;
    default:
      return false;
  }
}

/** Opens dirfd/name read-only and non-blocking, falling back to O_PATH when
 * that is refused (no read permission, a socket...). Stops at ENOENT. */
export function tryOpenAt(dirfd: number, name: string, extra = 0): number {
  let fd = libc.openat(dirfd, name, C.O_RDONLY | C.O_NONBLOCK | OPEN_FLAGS | extra);
  if (fd >= 0 || fd === -C.ENOENT) return fd;
  fd = libc.openat(dirfd, name, C.O_PATH | OPEN_FLAGS | extra);
  return fd;
}

// /proc/self/fd lets the gofer reopen a file it holds with other flags
// without resolving its path again.
let procSelfFd = -1;
export function openProcSelfFd(path = "/proc/self/fd"): Errno {
  const fd = libc.openat(C.AT_FDCWD, path, C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC);
  if (fd < 0) return fd;
  procSelfFd = fd;
  // Held for life, like /proc/self/fd itself: opened here, so that it is
  // part of the process from the start rather than appearing at the first
  // listing.
  openMountinfo(fd);
  return 0;
}

/** Runs a socket call on the address `rel`, a path relative to our
 * /proc/self/fd directory, which is made the working directory first: the
 * path then needs no /proc in our mount view (gone after runsc's chroot). */
function viaProcSelfFd(rel: string, call: (sa: number, len: number) => number): number {
  const rc = libc.fchdir(procSelfFd);
  if (rc < 0) return rc;
  return withSockaddr(rel, call);
}

/**
 * Opens dirfd/name without ever opening a special file: O_PATH first, and
 * only a regular file or directory is then reopened read-only through its
 * FD (as tryOpenAt holds it; O_PATH still if that is refused). A FIFO held
 * open for reading would let the client's non-blocking writer open where it
 * should get ENXIO, and opening a device node can act on the device. The
 * stat is left in lastStat.
 */
export function openQuietlyAt(dirfd: number, name: string): number {
  const path = libc.openat(dirfd, name, C.O_PATH | OPEN_FLAGS);
  if (path < 0) return path;
  const rc = statFd(path);
  if (rc < 0) {
    libc.close(path);
    return rc;
  }
  const type = lastStat.ftype();
  if (type !== C.S_IFREG && type !== C.S_IFDIR) return path;
  const fd = reopen(path, C.O_RDONLY | C.O_NONBLOCK | OPEN_FLAGS);
  if (fd < 0) return path;
  libc.close(path);
  return fd;
}

function reopen(fd: number, flags: number): number {
  return libc.openat(procSelfFd, String(fd), (flags | C.O_CLOEXEC) & ~C.O_NOFOLLOW);
}

function setNonblock(fd: number): void {
  const fl = libc.fcntl(fd, C.F_GETFL);
  if (fl >= 0 && (fl & C.O_NONBLOCK) === 0) libc.fcntl(fd, C.F_SETFL, fl | C.O_NONBLOCK);
}

/** Makes an fd ready to hand to the sandbox: non-blocking, as gVisor's gofer
 * donates them. */
export function prepareDonation(fd: number): number {
  setNonblock(fd);
  return fd;
}

// ---- mounts ----------------------------------------------------------------

/**
 * A served directory (or file), opened once, when the gofer starts serving
 * it: an O_PATH FD of the mount point from which every connection's root
 * and every walk is derived. The path is never resolved again, so a client
 * that renames a directory above a nested mount point and puts a symlink in
 * its place (`--mount /x/a --mount /x/a/b/c`) cannot redirect the next
 * Mount or Tattach of the nested one (issue 14).
 */
export class MountRoot {
  private constructor(
    /** The path as given (a byte string), for logs and the node tree. */
    readonly hostPath: string,
    /** O_PATH FD of the mount point, or -errno if it could not be opened. */
    readonly fd: number,
    /** Set for a detached copy (openReadonly): paths the kernel reports for
     * its FDs are relative to it, and this is where it was copied from. */
    readonly detachedFrom: string | null = null,
  ) {}

  /** Opens `hostPath` (a byte string, absolute) once. Never throws: a root
   * that cannot be opened answers every Mount/Tattach with the errno. */
  static open(hostPath: string): MountRoot {
    return new MountRoot(hostPath, libc.openat(C.AT_FDCWD, hostPath, C.O_PATH | C.O_CLOEXEC));
  }

  /** A root anchored at an FD the caller opened (and hands over). */
  static fromFd(hostPath: string, fd: number): MountRoot {
    return new MountRoot(hostPath, fd);
  }

  /**
   * Opens `hostPath` as a private, detached, read-only copy of its mount
   * tree (open_tree(OPEN_TREE_CLONE | AT_RECURSIVE), then mount_setattr
   * MOUNT_ATTR_RDONLY on the whole copy): every FD derived from it, donated
   * ones included, is on a read-only mount, so the kernel refuses writes,
   * fchmod, fchown, futimens, fsetxattr, and creating or removing entries
   * with EROFS whoever holds the FD. Nothing is attached anywhere: the
   * host's mount table does not change, and the copy goes when its last FD
   * closes. Needs CAP_SYS_ADMIN over our mount namespace and Linux 5.12;
   * returns -errno otherwise (EPERM, ENOSYS).
   */
  static openReadonly(hostPath: string): MountRoot | Errno {
    const fd = libc.syscall(SYS_open_tree, C.AT_FDCWD, libc.cstr(hostPath), OPEN_TREE_CLONE | C.O_CLOEXEC | AT_RECURSIVE, 0, 0);
    if (fd < 0) return fd;
    mountAttr.fill(0n);
    mountAttr[0] = MOUNT_ATTR_RDONLY;
    const rc = libc.syscall(SYS_mount_setattr, fd, libc.EMPTY, C.AT_EMPTY_PATH | AT_RECURSIVE, libc.addr(mountAttr), 32);
    if (rc < 0) {
      libc.close(fd);
      return rc;
    }
    return new MountRoot(hostPath, fd, hostPath);
  }
}

// open_tree(2) and mount_setattr(2): the same numbers on x86-64 and arm64.
const SYS_open_tree = 428;
const SYS_mount_setattr = 442;
const OPEN_TREE_CLONE = 1;
const AT_RECURSIVE = 0x8000;
const MOUNT_ATTR_RDONLY = 1n;
/** struct mount_attr: attr_set, attr_clr, propagation, userns_fd. */
const mountAttr = new BigUint64Array(libc.pinnedBytes(32).buffer);

/** FDs one connection may hold at once (control, open, writable and
 * bound-socket FDs together) unless the server sets another: see
 * Server's per-connection limit and docs/hardening.md. */
export const DEFAULT_FDS_PER_CONNECTION = 65536;

/** The host directory (or file) one connection serves, and its policy. */
export class Mount {
  readonly node: Node;
  /** O_PATH FD of the mount point: the anchor for every path walk. Owned by
   * the MountRoot, shared by every connection of that mount. */
  private readonly anchorFd: number;
  /** Host FDs this connection's files hold now. */
  held = 0;
  /** The most it may hold; requests that would open more get EMFILE. */
  fdLimit = DEFAULT_FDS_PER_CONNECTION;
  /** The client is a standard 9P2000.L one (Linux's v9fs, diod's tools), not
   * gVisor's: its kernel serves FIFOs, sockets and devices itself, so they
   * are walked to and held by O_PATH (openQuietlyAt), block devices too,
   * and never opened. Set by the 9P server on Tversion. */
  standardClient = false;

  constructor(
    readonly root: MountRoot,
    readonly policy: Policy,
    tree: Node,
  ) {
    let n = tree;
    for (const part of root.hostPath.split("/")) if (part !== "") n = n.child(part);
    this.node = n;
    this.anchorFd = root.fd;
  }

  get hostPath(): string {
    return this.root.hostPath;
  }

  /** Whether this connection holds as many FDs as it may. */
  atFdLimit(): boolean {
    return this.held >= this.fdLimit;
  }

  /** Opens the mount point again, through its anchor (never by path); the
   * result is the root of the connection. */
  openRoot(): HostFile | Errno {
    if (this.anchorFd < 0) return this.anchorFd;
    let fd = reopen(this.anchorFd, C.O_RDONLY | C.O_NONBLOCK);
    if (fd < 0 && fd !== -C.ENOENT) fd = libc.dup(this.anchorFd);
    if (fd < 0) return fd;
    let rc = statFd(fd);
    if (rc === 0 && !isSupportedType(lastStat.mode())) rc = -C.EPERM;
    if (rc < 0) {
      libc.close(fd);
      return rc;
    }
    return new HostFile(this, this.node, fd, lastStat.ftype(), true);
  }

  /** The connection is gone; the anchor stays with its MountRoot. */
  close(): void {}

  /** Runs `op` with a directory FD of `node`'s parent and the node's name.
   * The FD is the one an open file already holds for the parent when there
   * is one (gVisor uses the parent fid's file), or the mount point's;
   * otherwise it is opened by walking from the mount point one name at a
   * time (2 + depth syscalls) and closed after `op`. */
  withParent(node: Node, op: (dirFd: number, name: string) => Errno): Errno {
    const parent = node.parent;
    if (node === this.node || !parent) return -C.EINVAL;
    if (node.deleted || !(parent === this.node || parent.isBelow(this.node))) return -C.ENOENT;
    if (parent.dirFd >= 0) return op(parent.dirFd, node.name);
    if (parent === this.node) return op(this.anchorFd, node.name);
    const names = parent.pathFrom(this.node)!;
    let cur = libc.dup(this.anchorFd);
    if (cur < 0) return cur;
    for (const name of names) {
      const next = libc.openat(cur, name, C.O_PATH | C.O_DIRECTORY | OPEN_FLAGS);
      libc.close(cur);
      if (next < 0) return next;
      cur = next;
    }
    const rc = op(cur, node.name);
    libc.close(cur);
    return rc;
  }
}

// ---- files -----------------------------------------------------------------

export interface SetStatArgs {
  mask: number;
  mode: number;
  uid: number;
  gid: number;
  size: number | bigint;
  atimeSec: number | bigint;
  atimeNsec: number | bigint;
  mtimeSec: number | bigint;
  mtimeNsec: number | bigint;
  /** Truncate a file that is not regular through the FD held for it (EINVAL
   * for a directory, EBADF for an O_PATH one), as gVisor's 9P gofer does,
   * instead of reopening it for writing (lisafs). */
  truncateHeldFd?: boolean;
  /** A symlink's mode cannot change (Linux refuses it): EOPNOTSUPP without a
   * host call, as today's gVisor gofer; otherwise the O_PATH FD's fchmod
   * answers (EBADF), as 20240729's. */
  symlinkModeNotSupported?: boolean;
}

const xattrList = libc.pinnedBytes(65536);
const xattrListAddr = libc.addr(xattrList);
const timesBuf = new BigInt64Array(libc.pinnedBytes(4 * 8).buffer);
const timesAddr = libc.addr(timesBuf);

/** A file the client has walked to (gVisor's control FD): held open
 * read-only or O_PATH, never used for I/O the client asked for. */
export class HostFile {
  private writableFd = -1;
  closed = false;
  /** Made by BindAt. gVisor's gofer keeps the socket itself as such a
   * file's FD, so xattr reads on it answer EOPNOTSUPP (sockfs has none);
   * the sandbox relies on that (ls -l stays quiet), so we answer the same. */
  boundSocket = false;

  constructor(
    readonly mount: Mount,
    readonly node: Node,
    public fd: number,
    readonly ftype: number,
    readonly isMountPoint = false,
  ) {
    node.acquire();
    if (ftype === C.S_IFDIR) node.addDirFd(fd);
    mount.held++;
  }

  get policy(): Policy {
    return this.mount.policy;
  }
  isDir(): boolean {
    return this.ftype === C.S_IFDIR;
  }
  isRegular(): boolean {
    return this.ftype === C.S_IFREG;
  }
  isSymlink(): boolean {
    return this.ftype === C.S_IFLNK;
  }
  isSocket(): boolean {
    return this.ftype === C.S_IFSOCK;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.isDir()) this.node.removeDirFd(this.fd);
    libc.close(this.fd);
    this.mount.held--;
    if (this.writableFd >= 0) {
      libc.close(this.writableFd);
      this.mount.held--;
    }
    this.fd = this.writableFd = -1;
    this.node.release();
  }

  stat(): Errno {
    return statFd(this.fd);
  }

  private getWritableFd(): number {
    if (this.writableFd < 0) {
      if (this.mount.atFdLimit()) return -C.EMFILE;
      // Non-blocking: a FIFO opened for writing waits for a reader, and a
      // device or a file under a lease can wait too; this FD is never
      // donated, only truncated and timed through.
      const fd = reopen(this.fd, C.O_WRONLY | C.O_NONBLOCK);
      if (fd < 0) return fd;
      this.writableFd = fd;
      this.mount.held++;
    }
    return this.writableFd;
  }

  private child(fd: number, name: string, ftype: number): HostFile {
    return new HostFile(this.mount, this.node.child(name), fd, ftype);
  }

  /** Applies the attributes in `a.mask`; returns the mask of those that
   * failed and the errno of the last failure (gVisor's SetStat contract). */
  setStat(a: SetStatArgs): { failureMask: number; failureErrno: number } {
    let failureMask = 0;
    let failureErrno = 0;
    const fail = (bits: number, rc: number) => {
      failureMask |= bits;
      failureErrno = -rc;
    };
    if (a.mask & C.STATX_MODE && a.symlinkModeNotSupported && this.isSymlink()) {
      fail(C.STATX_MODE, -C.EOPNOTSUPP);
    } else if (a.mask & C.STATX_MODE) {
      const mode = a.mode & ~C.S_IFMT & 0xffff;
      // fchmod refuses O_PATH FDs (how sockets are held); the FD's /proc
      // link reaches the same inode without resolving its path.
      let rc = libc.fchmod(this.fd, mode);
      if (rc === -C.EBADF && !this.isSymlink()) rc = libc.fchmodat(procSelfFd, String(this.fd), mode, 0);
      if (rc < 0) fail(C.STATX_MODE, rc);
    }
    if (a.mask & C.STATX_SIZE) {
      let rc: number;
      if (a.truncateHeldFd && !this.isRegular()) rc = libc.ftruncate(this.fd, a.size);
      else {
        rc = this.getWritableFd();
        if (rc >= 0) rc = libc.ftruncate(rc, a.size);
      }
      if (rc < 0) fail(C.STATX_SIZE, rc);
    }
    const timeBits = a.mask & (C.STATX_ATIME | C.STATX_MTIME);
    if (timeBits) {
      timesBuf[0] = 0n;
      timesBuf[1] = BigInt(C.UTIME_OMIT);
      timesBuf[2] = 0n;
      timesBuf[3] = BigInt(C.UTIME_OMIT);
      if (a.mask & C.STATX_ATIME) {
        timesBuf[0] = BigInt(a.atimeSec);
        timesBuf[1] = BigInt(a.atimeNsec);
      }
      if (a.mask & C.STATX_MTIME) {
        timesBuf[2] = BigInt(a.mtimeSec);
        timesBuf[3] = BigInt(a.mtimeNsec);
      }
      let rc: number;
      if (this.isSymlink()) {
        rc = this.mount.withParent(this.node, (dir, name) =>
          libc.utimensat(dir, name, timesAddr, C.AT_SYMLINK_NOFOLLOW),
        );
      } else {
        let fd = this.fd;
        if (this.isRegular()) {
          const w = this.getWritableFd();
          if (w >= 0) fd = w;
        }
        // glibc's utimensat refuses a NULL path and an O_PATH FD cannot take
        // futimens, so go through the FD's /proc/self/fd link (it names the
        // open file itself, never a path that could have been swapped).
        rc = libc.utimensat(procSelfFd, String(fd), timesAddr, 0);
      }
      if (rc < 0) fail(timeBits, rc);
    }
    const ownBits = a.mask & (C.STATX_UID | C.STATX_GID);
    if (ownBits) {
      const uid = a.mask & C.STATX_UID ? a.uid : -1;
      const gid = a.mask & C.STATX_GID ? a.gid : -1;
      const rc = libc.fchownat(this.fd, "", uid, gid, C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW);
      if (rc < 0) fail(ownBits, rc);
    }
    return { failureMask, failureErrno };
  }

  /** Opens the child `name`; its stat is left in lastStat. */
  walk(name: string): HostFile | Errno {
    let rc = checkName(name);
    if (rc < 0) return rc;
    if (this.mount.standardClient) {
      const fd = openQuietlyAt(this.fd, name);
      return fd < 0 ? fd : this.child(fd, name, lastStat.ftype());
    }
    const fd = tryOpenAt(this.fd, name);
    if (fd < 0) return fd;
    rc = statFd(fd);
    if (rc === 0 && !isSupportedType(lastStat.mode())) rc = -C.EPERM;
    if (rc < 0) {
      libc.close(fd);
      return rc;
    }
    return this.child(fd, name, lastStat.ftype());
  }

  /**
   * Stats each name of `names` in turn without keeping anything open; an
   * empty first name stats this file itself. Stops quietly at a missing
   * component or after a symlink. `record` is called with lastStat filled.
   */
  walkStat(names: string[], record: () => void, stopAfterNonDir = false): Errno {
    let i = 0;
    if (names.length > 0 && names[0] === "") {
      const rc = statFd(this.fd);
      if (rc < 0) return rc;
      record();
      i = 1;
    }
    if (this.isSymlink()) return 0;
    let cur = this.fd;
    const done = (rc: Errno) => {
      if (cur !== this.fd) libc.close(cur);
      return rc;
    };
    // gVisor's gofer opens every component (O_PATH) and fstats it: three
    // syscalls each. A statx by name, and an open only to descend into a
    // directory, gives the same answers with two for inner components and
    // one for the last. Both stay on FDs we hold, one name at a time.
    for (; i < names.length; i++) {
      const name = names[i];
      let rc = checkName(name);
      if (rc < 0) return done(rc);
      rc = libc.statx(cur, name, C.AT_SYMLINK_NOFOLLOW, STAT_MASK, statAddr);
      if (rc === -C.ENOENT) break;
      rc = normalizeStat(rc);
      if (rc < 0) return done(rc);
      if (!isSupportedType(lastStat.mode())) return done(-C.EPERM);
      record();
      if (lastStat.ftype() === C.S_IFLNK || i === names.length - 1) break;
      if (stopAfterNonDir && lastStat.ftype() !== C.S_IFDIR) break;
      // Walking on: through a directory only (ENOTDIR otherwise, as the
      // reference's next openat gives).
      const next = libc.openat(cur, name, C.O_PATH | C.O_DIRECTORY | OPEN_FLAGS);
      if (next === -C.ENOENT) break;
      if (next < 0) return done(next);
      if (cur !== this.fd) libc.close(cur);
      cur = next;
    }
    return done(0);
  }

  /** A second HostFile on the same file and node (9P's walk of no names).
   * A dup suffices: control FDs are never read or seeked through. */
  clone(): HostFile | Errno {
    const fd = libc.dup(this.fd);
    if (fd < 0) return fd;
    return new HostFile(this.mount, this.node, fd, this.ftype, this.isMountPoint);
  }

  /** Unlinks this file from its parent directory, found through the node
   * tree from the mount point (9P's Tremove names no directory). */
  unlinkSelf(flags: number): Errno {
    let rc = this.refuseWrite();
    if (rc < 0) return rc;
    const parentNode = this.node.parent;
    const name = this.node.name;
    rc = this.mount.withParent(this.node, (dir) => libc.unlinkat(dir, name, flags & C.AT_REMOVEDIR));
    if (rc < 0) return rc;
    parentNode?.removeChild(name);
    return 0;
  }

  /** Moves this file to newDir/newName (9P's Trename). */
  renameSelf(newDir: HostFile, newName: string): Errno {
    let rc = checkName(newName);
    if (rc < 0) return rc;
    const parentNode = this.node.parent;
    if (!parentNode) return -C.EINVAL;
    // Onto itself: success without a host call, read-only mount included (as
    // gVisor's 9P handler).
    if (parentNode === newDir.node && this.node.name === newName) return 0;
    rc = this.refuseWrite();
    if (rc < 0) return rc;
    const oldName = this.node.name;
    rc = this.mount.withParent(this.node, (dir) => libc.renameat(dir, oldName, newDir.fd, newName));
    if (rc < 0) return rc;
    parentNode.renameChild(oldName, newDir.node, newName);
    return 0;
  }

  /** Opens this file for I/O with `flags` (access mode and O_TRUNC). */
  open(flags: number): { open: OpenFile; donate: number } | Errno {
    if (this.ftype === C.S_IFIFO && this.policy.hostFifo !== "open") return -C.EPERM;
    if (this.ftype === C.S_IFSOCK && !udsOpen(this.policy)) return -C.EPERM;
    if (this.ftype === C.S_IFCHR && this.policy.charDevices === "refuse") return -C.EPERM;
    if (this.ftype === C.S_IFBLK || (this.ftype === C.S_IFCHR && this.mount.standardClient)) return -C.EPERM;
    const noDonation = this.policy.readonly && this.policy.readonlyNotEnforced;
    if (noDonation && (this.ftype === C.S_IFIFO || this.ftype === C.S_IFCHR)) return -C.EPERM;
    // Always O_NONBLOCK, and kept: one thread serves every connection, so no
    // open or later read may wait. A FIFO open waits for the other end (gVisor's
    // client asks for O_NONBLOCK anyway and retries on ENXIO); a tty or
    // serial device's open can wait for carrier, and its reads for input; an
    // open of a regular file under another process's lease waits up to
    // /proc/sys/fs/lease-break-time (O_NONBLOCK: EWOULDBLOCK instead). The
    // donated copy shares this open file description, so the sandbox sees
    // O_NONBLOCK too, as it does from gVisor's gofer, whose DonateFD sets it
    // on every FD it donates (pkg/lisafs/communicator.go). Regular files
    // ignore the flag for I/O. What can still block: a file on a FUSE or
    // NFS mount whose server does not answer (docs/hardening.md).
    const fd = reopen(this.fd, flags | C.O_NONBLOCK | OPEN_FLAGS);
    if (fd < 0) return fd;
    let donate = -1;
    if (noDonation) {
      // Served through our FD only (see Policy.readonlyNotEnforced).
    } else if (
      this.ftype === C.S_IFREG ||
      this.ftype === C.S_IFIFO ||
      this.ftype === C.S_IFCHR ||
      (this.isMountPoint && this.policy.donateMountFd)
    ) {
      donate = libc.dup(fd);
      if (donate < 0 && this.ftype !== C.S_IFREG) {
        libc.close(fd);
        return donate;
      }
    }
    return { open: new OpenFile(this, fd, flags), donate };
  }

  private refuseWrite(): Errno {
    return this.policy.readonly ? -C.EROFS : 0;
  }

  /** Creates and opens a regular file; its stat is left in lastStat. */
  openCreate(
    mode: number,
    uid: number,
    gid: number,
    name: string,
    flags: number,
  ): { child: HostFile; open: OpenFile; donate: number } | Errno {
    let rc = this.refuseWrite() || checkName(name);
    if (rc < 0) return rc;
    const createFlags = C.O_CREAT | C.O_EXCL | C.O_RDONLY | C.O_NONBLOCK | OPEN_FLAGS;
    const childFd = libc.openat(this.fd, name, createFlags, mode & 0o7777);
    if (childFd < 0) return childFd;
    rc = libc.fchownat(childFd, "", uid, gid, C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW);
    let openFd = -1;
    if (rc === 0) rc = statFd(childFd);
    if (rc === 0) openFd = rc = reopen(childFd, flags | C.O_NONBLOCK | OPEN_FLAGS);
    if (rc < 0) {
      libc.unlinkat(this.fd, name, 0);
      libc.close(childFd);
      return rc;
    }
    const child = this.child(childFd, name, C.S_IFREG);
    const open = new OpenFile(child, openFd, flags);
    return { child, open, donate: libc.dup(openFd) };
  }

  /** Shared tail of mkdir/mknod/symlink/link: open the new entry, chown it,
   * stat it, and remove it again if any step fails. */
  private adopt(
    name: string,
    openFlags: number | "try",
    owner: { uid: number; gid: number } | null,
    removeFlags: number,
  ): HostFile | Errno {
    const fd =
      openFlags !== "try"
        ? libc.openat(this.fd, name, openFlags | OPEN_FLAGS)
        : this.mount.standardClient
          ? openQuietlyAt(this.fd, name)
          : tryOpenAt(this.fd, name);
    let rc = fd < 0 ? fd : 0;
    if (rc === 0 && owner)
      rc = libc.fchownat(fd, "", owner.uid, owner.gid, C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW);
    if (rc === 0) rc = statFd(fd);
    if (rc < 0) {
      if (fd >= 0) libc.close(fd);
      libc.unlinkat(this.fd, name, removeFlags);
      return rc;
    }
    return this.child(fd, name, lastStat.ftype());
  }

  mkdir(mode: number, uid: number, gid: number, name: string): HostFile | Errno {
    const rc = this.refuseWrite() || checkName(name) || libc.mkdirat(this.fd, name, mode & 0o7777);
    if (rc < 0) return rc;
    return this.adopt(name, "try", { uid, gid }, C.AT_REMOVEDIR);
  }

  /** Regular files only by default, as gVisor's gofer: never device nodes,
   * FIFOs or sockets on the host through mknod unless `kinds` allows them
   * (see MknodKinds). A special node is adopted by O_PATH, never opened. */
  mknod(mode: number, uid: number, gid: number, name: string, kinds: MknodKinds = "regular", major = 0, minor = 0): HostFile | Errno {
    let rc = this.refuseWrite() || checkName(name);
    if (rc < 0) return rc;
    const type = mode & C.S_IFMT;
    if (!mknodAllowed(type, kinds, major, minor)) return -C.EPERM;
    if (major > 0xfff || minor > 0xfffff) return -C.EINVAL;
    rc = libc.mknodat(this.fd, name, (mode & 0o7777) | type, encodeDev(major, minor));
    if (rc < 0) return rc;
    return this.adopt(name, type === C.S_IFREG ? "try" : C.O_PATH, { uid, gid }, 0);
  }

  symlink(name: string, target: string, uid: number, gid: number): HostFile | Errno {
    let rc = this.refuseWrite() || checkName(name);
    if (rc < 0) return rc;
    if (target.indexOf("\0") >= 0) return -C.EINVAL;
    rc = libc.symlinkat(target, this.fd, name);
    if (rc < 0) return rc;
    return this.adopt(name, C.O_PATH, { uid, gid }, 0);
  }

  /** Hard-links this file as dir/name. */
  link(dir: HostFile, name: string): HostFile | Errno {
    let rc = this.refuseWrite() || checkName(name);
    if (rc < 0) return rc;
    rc = this.mount.withParent(this.node, (parent, self) => libc.linkat(parent, self, dir.fd, name, 0));
    if (rc < 0) return rc;
    return dir.adopt(name, "try", null, 0);
  }

  /** Fills a struct statfs in `out`. */
  statfs(out: Uint8Array): Errno {
    if (out.byteLength < Statfs.size) return -C.EINVAL;
    return libc.fstatfs(this.fd, libc.addr(out));
  }

  /** Reads the symlink target into out[0..]; returns its length. */
  readlink(out: Uint8Array, outAddr: number): number {
    const n = libc.readlinkat(this.fd, "", outAddr, out.byteLength);
    if (n < 0) return n;
    return n;
  }

  /** Connects a new socket of `sockType` to this socket file. */
  connect(sockType: number): number {
    if (!udsOpen(this.policy)) return -C.EPERM;
    if (!isSockTypeSupported(sockType)) return -C.ENXIO;
    // Non-blocking (as the donated copy is anyway): Accept with no pending
    // connection answers EAGAIN instead of stalling the event loop.
    const sock = libc.socket(C.AF_UNIX, sockType | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, 0);
    if (sock < 0) return sock;
    // Through our own FD's /proc link, not the file's path: whatever has been
    // renamed or swapped for a symlink since the walk, this reaches the very
    // socket the client walked to, and never leaves the mount.
    const rc = viaProcSelfFd(String(this.fd), (sa, len) => libc.connect(sock, sa, len));
    if (rc < 0) {
      libc.close(sock);
      return rc;
    }
    return sock;
  }

  /** Creates and binds a socket file `name` in this directory. */
  bindAt(
    name: string,
    sockType: number,
    mode: number,
    uid: number,
    gid: number,
  ): { child: HostFile; socket: BoundSocket; donate: number } | Errno {
    let rc = checkName(name);
    if (rc < 0) return rc;
    if (!udsCreate(this.policy)) return -C.EPERM;
    if (this.policy.readonly) return -C.EROFS;
    if (!isSockTypeSupported(sockType)) return -C.ENXIO;
    // Non-blocking (as the donated copy is anyway): Accept with no pending
    // connection answers EAGAIN instead of stalling the event loop.
    const sock = libc.socket(C.AF_UNIX, sockType | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, 0);
    if (sock < 0) return sock;
    rc = libc.fchmod(sock, mode & 0o7777);
    if (rc === 0) rc = viaProcSelfFd(`${this.fd}/${name}`, (sa, len) => libc.bind(sock, sa, len));
    if (rc < 0) {
      libc.close(sock);
      return rc;
    }
    // The socket file exists from here on; adopt() removes it on failure.
    const child = this.adopt(name, "try", { uid, gid }, 0);
    if (typeof child === "number") {
      libc.close(sock);
      return child;
    }
    const donate = libc.dup(sock);
    if (donate < 0) {
      child.close();
      libc.unlinkat(this.fd, name, 0);
      libc.close(sock);
      return donate;
    }
    child.boundSocket = true;
    return { child, socket: new BoundSocket(child, sock), donate };
  }

  unlink(name: string, flags: number): Errno {
    const rc = this.refuseWrite() || checkName(name) || libc.unlinkat(this.fd, name, flags & C.AT_REMOVEDIR);
    if (rc < 0) return rc;
    this.node.removeChild(name);
    return 0;
  }

  /**
   * Connect with the effective uid/gid `uid`/`gid` (today's
   * ConnectWithCreds). As gVisor's gofer: the serving thread's real/effective
   * gid then uid are switched with raw setregid/setreuid (per thread, not
   * glibc's all-threads wrappers), each only if it differs from ours; a
   * refused switch is ignored and the connect goes ahead with our own;
   * restored right after. Our single serving thread runs nothing else
   * between the switch and the restore (the call is synchronous), so no
   * other request ever runs with the client's credentials.
   */
  connectWithCreds(sockType: number, uid: number, gid: number): number {
    if (!udsOpen(this.policy)) return -C.EPERM;
    const ids = processIds();
    const gidChanged = gid !== ids.egid && libc.syscall(C.SYS_setregid, ids.rgid, gid) === 0;
    const uidChanged = uid !== ids.euid && libc.syscall(C.SYS_setreuid, ids.ruid, uid) === 0;
    try {
      return this.connect(sockType);
    } finally {
      // Failing to restore would leave the gofer running as the client's
      // user: gVisor's gofer panics; so do we (the process ends).
      if (uidChanged && libc.syscall(C.SYS_setreuid, ids.ruid, ids.euid) !== 0) credsLost("euid");
      if (gidChanged && libc.syscall(C.SYS_setregid, ids.rgid, ids.egid) !== 0) credsLost("egid");
    }
  }

  /** renameat2 with `flags`: 0 for RenameAt and 9P's renames; today's
   * RenameAt2 passes the client's as they are (the host decides which it
   * takes, as gVisor's gofer). Onto itself: success without a host call,
   * whatever the flags (as the reference's handler). Keeps the node tree
   * right, RENAME_EXCHANGE swapping the two entries' nodes. */
  renameAt(oldName: string, newDir: HostFile, newName: string, flags = 0): Errno {
    const ontoItself = newDir.node === this.node && oldName === newName;
    const rc =
      this.refuseWrite() ||
      checkName(oldName) ||
      checkName(newName) ||
      (ontoItself ? 0 : libc.renameat2(this.fd, oldName, newDir.fd, newName, flags));
    if (rc < 0 || ontoItself) return rc;
    if (flags & C.RENAME_EXCHANGE) this.node.exchangeChild(oldName, newDir.node, newName);
    else this.node.renameChild(oldName, newDir.node, newName);
    return 0;
  }

  /** fgetxattr. With `byPath` (today's gofer), a symlink's or socket's
   * xattrs are reached by path: its O_PATH FD makes f*xattr fail with EBADF. */
  getXattr(name: string, out: number, size: number, byPath = false): number {
    if (name.indexOf("\0") >= 0) return -C.EINVAL;
    if (this.boundSocket) return -C.EOPNOTSUPP;
    if (byPath && this.xattrByPath()) return this.viaPath((p) => libc.lgetxattr(p, name, out, size));
    return libc.fgetxattr(this.xattrFd(), name, out, size);
  }

  /** fsetxattr, as the policy allows (see Policy.xattr). */
  setXattr(name: string, value: number, len: number, flags: number, byPath = false): Errno {
    const rc = this.xattrWriteAllowed(name);
    if (rc < 0) return rc;
    flags &= C.XATTR_CREATE | C.XATTR_REPLACE;
    if (byPath && this.xattrByPath()) return this.viaPath((p) => libc.lsetxattr(p, name, value, len, flags));
    return libc.fsetxattr(this.xattrFd(), name, value, len, flags);
  }

  /** The names of this file's xattrs the policy shows (byte strings). */
  listXattr(byPath = false): string[] | Errno {
    if (this.policy.xattr === "none") return -C.EOPNOTSUPP;
    const n =
      byPath && this.xattrByPath()
        ? this.viaPath((p) => libc.llistxattr(p, xattrListAddr, xattrList.byteLength))
        : libc.flistxattr(this.xattrFd(), xattrListAddr, xattrList.byteLength);
    if (n < 0) return n;
    const names: string[] = [];
    for (let p = 0; p < n; ) {
      let e = p;
      while (e < n && xattrList[e] !== 0) e++;
      const name = byteString(xattrList, p, e);
      if (this.policy.xattr === "all" ? !name.startsWith("trusted.") : name.startsWith("user.")) names.push(name);
      p = e + 1;
    }
    return names;
  }

  removeXattr(name: string, byPath = false): Errno {
    const rc = this.xattrWriteAllowed(name);
    if (rc < 0) return rc;
    if (byPath && this.xattrByPath()) return this.viaPath((p) => libc.lremovexattr(p, name));
    return libc.fremovexattr(this.xattrFd(), name);
  }

  private xattrWriteAllowed(name: string): Errno {
    const policy = this.policy.xattr;
    if (policy === "none") return -C.EOPNOTSUPP;
    if (this.policy.readonly) return -C.EROFS;
    if (name === "" || name.indexOf("\0") >= 0) return -C.EINVAL;
    if (policy === "all") {
      // Never trusted.*: it would let a sandbox write what the host trusts
      // (overlayfs's own metadata among it). The kernel says EPERM to a
      // process without CAP_SYS_ADMIN, which runsc's gofer is.
      return name.startsWith("trusted.") ? -C.EPERM : 0;
    }
    if (name === "user.") return -C.EINVAL;
    // Other namespaces are not offered by the extension at all: the same
    // answer as with it off.
    if (!name.startsWith("user.")) return -C.EOPNOTSUPP;
    // As Linux: user xattrs live only on regular files and directories.
    if (!this.isRegular() && !this.isDir()) return -C.EPERM;
    return 0;
  }

  /** Whether this file's FD is an O_PATH one f*xattr cannot use. */
  private xattrByPath(): boolean {
    return this.isSymlink() || this.isSocket();
  }

  /** Runs `op` on this file's path through its parent's FD in our
   * /proc/self/fd (the last component is never followed by l*xattr). */
  private viaPath(op: (path: string) => number): number {
    return this.mount.withParent(this.node, (dirFd, name) => {
      const rc = libc.fchdir(procSelfFd);
      return rc < 0 ? rc : op(`${dirFd}/${name}`);
    });
  }

  // An O_PATH control FD makes f*xattr fail with EBADF, as in gVisor.
  private xattrFd(): number {
    return this.fd;
  }
}

let ids: { ruid: number; euid: number; rgid: number; egid: number } | null = null;
/** This thread's real and effective ids, read once (they never change but
 * for ConnectWithCreds's switch, which restores them). */
function processIds(): { ruid: number; euid: number; rgid: number; egid: number } {
  return (ids ??= {
    ruid: libc.syscall(C.SYS_getuid),
    euid: libc.syscall(C.SYS_geteuid),
    rgid: libc.syscall(C.SYS_getgid),
    egid: libc.syscall(C.SYS_getegid),
  });
}

function credsLost(which: string): never {
  process.stderr.write(`gofer: failed to restore ${which} after ConnectWithCreds\n`);
  process.exit(128);
}

function isSockTypeSupported(t: number): boolean {
  return t === C.SOCK_STREAM || t === C.SOCK_DGRAM || t === C.SOCK_SEQPACKET;
}

const sockaddr = libc.pinnedBytes(112);
const sockaddrAddr = libc.addr(sockaddr);
/** Runs fn with a sockaddr_un for `path`; EINVAL if it does not fit. */
function withSockaddr(path: string, fn: (sa: number, len: number) => number): number {
  if (path.length >= UNIX_PATH_MAX) return -C.EINVAL;
  sockaddr.fill(0);
  sockaddr[0] = C.AF_UNIX;
  for (let i = 0; i < path.length; i++) sockaddr[2 + i] = path.charCodeAt(i);
  return fn(sockaddrAddr, 2 + path.length + 1);
}

/** A file opened for I/O (gVisor's open FD). */
export class OpenFile {
  readonly readable: boolean;
  readonly writable: boolean;
  closed = false;

  constructor(
    readonly file: HostFile,
    public fd: number,
    flags: number,
  ) {
    const acc = flags & C.O_ACCMODE;
    this.readable = acc === C.O_RDONLY || acc === C.O_RDWR;
    this.writable = acc === C.O_WRONLY || acc === C.O_RDWR;
    file.mount.held++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc.close(this.fd);
    this.file.mount.held--;
    this.fd = -1;
  }

  stat(): Errno {
    return statFd(this.fd);
  }

  /** pread into memory at `dst`; short reads at EOF are not errors. */
  read(dst: number, len: number, off: number | bigint): number {
    return libc.pread(this.fd, dst, len, off);
  }

  write(src: number, len: number, off: number | bigint): number {
    if (this.file.policy.readonly) return -C.EROFS;
    return libc.pwrite(this.fd, src, len, off);
  }

  sync(): Errno {
    return libc.fsync(this.fd);
  }

  allocate(mode: number, off: number | bigint, len: number | bigint): Errno {
    if (this.file.policy.readonly) return -C.EROFS;
    return libc.fallocate(this.fd, mode, off, len);
  }

  rewind(): Errno {
    const rc = libc.lseek(this.fd, 0, 0);
    this.dirPos = 0n;
    this.mountPoints = undefined;
    return rc < 0 ? rc : 0;
  }

  /** Names in this directory that something is mounted on, found again at
   * each rewind: their dirents carry the covered inode, not the mount's. */
  private mountPoints: ReadonlySet<string> | undefined;

  /** Directory position (a d_off cookie) after the last entry scanDir consumed. */
  private dirPos = 0n;

  /**
   * Reads directory entries worth up to `count` bytes of host dirents (as
   * gVisor's Getdent64), calling `emit` for each with lastStat holding the
   * entry's stat (for its device). Entries that vanish before the stat are
   * skipped. The name is bytes [nameStart, nameEnd) of `names`, valid only
   * during the call; numbers rather than views and BigInts, so that a listing
   * allocates nothing per entry.
   */
  readDirents(count: number, emit: DirentSink): Errno {
    let bytesRead = 0;
    while (bytesRead < count) {
      const want = Math.min(direntBuf.byteLength, count - bytesRead);
      const got = libc.getdents64(this.fd, direntAddr, want);
      if (got === -C.EINVAL && want < UNIX_DIRENT_MAX) break;
      if (got < 0) return got;
      if (got === 0) break;
      for (let p = 0; p + Dirent64.name <= got; ) {
        const reclen = direntView.getUint16(p + Dirent64.reclen, true);
        if (reclen === 0) break;
        const nameStart = p + Dirent64.name;
        const end = direntNameEnd(p, reclen);
        if (end >= 0 && statAtAddr(this.fd, direntAddr + nameStart) === 0) {
          emit(
            direntView.getUint32(p + Dirent64.ino, true),
            direntView.getUint32(p + Dirent64.ino + 4, true),
            direntView.getUint32(p + Dirent64.off, true),
            direntView.getUint32(p + Dirent64.off + 4, true),
            direntBuf[p + Dirent64.type],
            direntBuf,
            nameStart,
            end,
          );
          bytesRead += reclen;
        }
        p += reclen;
      }
    }
    return 0;
  }
  /** Directory position (a d_off cookie) where the last batch began. */
  private batchPos = 0n;

  /**
   * Reads the next getdents64 buffer's worth of entries (about `sizeHint`
   * bytes of host dirents) into `dirBatch`, without "." and "..", skipping
   * the first `skip` names (`dirBatch.skipped` says how many were); an entry
   * whose d_type is unknown (some filesystems) or that is a mount point is
   * stat'ed (its `statted` slot is 1 and its device is in the devMajor and
   * devMinor slots), and left out if it is gone. Returns the number of
   * entries, or -errno; `dirBatch.end` is set at the end of the directory.
   * The position moves past the whole batch; `unreadFrom` puts back entries
   * the caller did not use. A batch rather than a callback per entry: the
   * caller's encoding loop stays one monomorphic loop the JIT compiles well
   * (a callback listing ran 1.2–4.5 ms per 10,000 entries depending on what
   * the JIT made of it).
   */
  readDirBatch(skip: number, sizeHint: number): number {
    const mounts = (this.mountPoints ??= mountPointsIn(procSelfFd, this.fd, this.file.mount.root.detachedFrom));
    const e = dirBatch.entries;
    dirBatch.count = 0;
    dirBatch.skipped = 0;
    dirBatch.end = false;
    const want = Math.min(direntBuf.byteLength, Math.max(UNIX_DIRENT_MAX, sizeHint));
    const got = libc.getdents64(this.fd, direntAddr, want);
    if (got < 0) return got;
    if (got === 0) {
      dirBatch.end = true;
      return 0;
    }
    this.batchPos = this.dirPos;
    let count = 0;
    let prev = 0; // record before the current one, + 1 (0: none in this buffer)
    let last = 0;
    for (let p = 0; p + Dirent64.name <= got; ) {
      const reclen = direntView.getUint16(p + Dirent64.reclen, true);
      if (reclen === 0) break;
      const nameStart = p + Dirent64.name;
      const end = direntNameEnd(p, reclen);
      if (end >= 0) {
        if (skip > 0) {
          skip--;
          dirBatch.skipped++;
        } else {
          let dtype = direntBuf[p + Dirent64.type];
          let inoLo = direntView.getUint32(p + Dirent64.ino, true);
          let inoHi = direntView.getUint32(p + Dirent64.ino + 4, true);
          let present = true;
          let statted = 0;
          let devMajor = 0;
          let devMinor = 0;
          if (dtype === DT_UNKNOWN || (mounts.size > 0 && mounts.has(byteString(direntBuf, nameStart, end)))) {
            present = statAtAddr(this.fd, direntAddr + nameStart) === 0;
            if (present) {
              statted = 1;
              devMajor = lastStat.devMajor();
              devMinor = lastStat.devMinor();
              dtype = (lastStat.mode() >> 12) & 0xf; // S_IFMT >> 12 is the DT_ value
              inoLo = statView.getUint32(Statx.ino, true);
              inoHi = statView.getUint32(Statx.ino + 4, true);
            }
          }
          if (present) {
            const at = count * DirEntry.slots;
            e[at + DirEntry.nameStart] = nameStart;
            e[at + DirEntry.nameEnd] = end;
            e[at + DirEntry.type] = dtype;
            e[at + DirEntry.inoLo] = inoLo;
            e[at + DirEntry.inoHi] = inoHi;
            e[at + DirEntry.statted] = statted;
            e[at + DirEntry.devMajor] = devMajor;
            e[at + DirEntry.devMinor] = devMinor;
            e[at + DirEntry.prevRecord] = prev;
            count++;
          }
        }
      }
      prev = p + 1;
      last = p;
      p += reclen;
    }
    this.dirPos = direntView.getBigInt64(last + Dirent64.off, true);
    dirBatch.count = count;
    return count;
  }

  /** Puts entries [i, count) of the last batch back: the next batch starts
   * with entry i, without a rescan from the start. */
  unreadFrom(i: number): Errno {
    const prev = dirBatch.entries[i * DirEntry.slots + DirEntry.prevRecord];
    this.dirPos = prev === 0 ? this.batchPos : direntView.getBigInt64(prev - 1 + Dirent64.off, true);
    const rc = libc.lseek(this.fd, this.dirPos, 0);
    return rc < 0 ? rc : 0;
  }
}

/** Slots of one entry in `dirBatch.entries`. */
export const DirEntry = {
  nameStart: 0,
  nameEnd: 1,
  type: 2,
  inoLo: 3,
  inoHi: 4,
  statted: 5,
  prevRecord: 6,
  devMajor: 7,
  devMinor: 8,
  slots: 9,
} as const;

/** Receives one directory entry: inode and d_off as 32-bit halves, d_type,
 * and the name as bytes [nameStart, nameEnd) of `names`. */
export type DirentSink = (
  inoLo: number,
  inoHi: number,
  offLo: number,
  offHi: number,
  type: number,
  names: Uint8Array,
  nameStart: number,
  nameEnd: number,
) => void;

/** Copies bytes [start, end) of src to dst at `at`. A loop: names are short,
 * and a subarray per entry would be garbage. */
export function copyName(dst: Uint8Array, at: number, src: Uint8Array, start: number, end: number): void {
  for (let i = start; i < end; i++) dst[at++] = src[i];
}

const DT_UNKNOWN = 0;

/** Where the name of the dirent record at `p` of direntBuf ends, or -1 for
 * "." and "..", which gVisor's gofer never reports (the sentry makes its
 * own). */
function direntNameEnd(p: number, reclen: number): number {
  const start = p + Dirent64.name;
  let end = start;
  while (end < p + reclen && direntBuf[end] !== 0) end++;
  const dots = direntBuf[start] === 0x2e && (end === start + 1 || (end === start + 2 && direntBuf[start + 1] === 0x2e));
  return dots ? -1 : end;
}

const UNIX_DIRENT_MAX = 280;
// Large enough for a whole 9P reply's worth of entries in one getdents64.
const direntBuf = libc.pinnedBytes(65536);
const direntView = new DataView(direntBuf.buffer);
const direntAddr = libc.addr(direntBuf);
const MIN_DIRENT = 24; // an 8-byte-aligned record with a 1-byte name

/** The entries of the last OpenFile.readDirBatch: `count` entries, entry i's
 * slots (DirEntry) at entries[i * DirEntry.slots...], its name bytes
 * [nameStart, nameEnd) of `names`. Valid until the next batch. */
export const dirBatch = {
  names: direntBuf,
  entries: new Uint32Array((direntBuf.byteLength / MIN_DIRENT + 1) * DirEntry.slots),
  count: 0,
  skipped: 0,
  end: false,
};

/** A socket the client bound (BindAt), which it may Listen on and Accept. */
export class BoundSocket {
  closed = false;
  constructor(
    readonly file: HostFile,
    public sock: number,
  ) {
    file.mount.held++;
  }

  listen(backlog: number): Errno {
    return libc.listen(this.sock, backlog);
  }

  accept(): number {
    return libc.accept4(this.sock, C.O_NONBLOCK | C.O_CLOEXEC);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc.close(this.sock);
    this.file.mount.held--;
  }
}
