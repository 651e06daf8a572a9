// HostFile: a file the client has walked to (gVisor's control FD), and
// every operation on it: the semantics of gVisor's runsc/fsgofer on host
// files, shared by the lisafs and p9 servers. It knows files, names and
// policies; it knows nothing of wire formats or file IDs.
//
// Each operation's contract says what it answers (0, a value, or -errno,
// never a throw), what it does on a read-only mount, which FD it hands the
// caller to donate, and where it leaves a stat: the StatBuffer `st` the
// caller passes (its connection's).
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { Statfs } from "../ffi/layout";
import { withIds } from "./creds";
import type { Errno } from "./errno";
import { checkName, OPEN_FLAGS, openQuietlyAt, tryOpenAt } from "./lookup";
import type { Mount } from "./mount";
import type { Node } from "./node";
import { OpenFile } from "./open-file";
import { donationRefused, isSupportedType, mayOpen, mknodAllowed, type MknodKinds, type Policy, udsCreate, udsOpen } from "./policy";
import { chmodHeld, enterProcSelfFd, reopen, utimensHeld } from "./procfd";
import { BoundSocket, bindIn, connectHeld, isSockTypeSupported, newSocket } from "./socket";
import { type StatBuffer, statAt, statFd } from "./stat";
import { listXattrs, xattrWriteAllowed } from "./xattr";

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

/** Two timespecs (atime, mtime) for utimensat: the kernel reads them here. */
const timesBuf = new BigInt64Array(libc.pinnedBytes(4 * 8).buffer);
const timesAddr = libc.addr(timesBuf);

/** A file the client has walked to (gVisor's control FD): held open
 * read-only or O_PATH, never used for I/O the client asked for. It counts
 * as one of the connection's host FDs (two with its writable FD) until
 * closed, and keeps its Node alive. */
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

  /** Stats this file into `st`: 0 or the statx errno. */
  stat(st: StatBuffer): Errno {
    return statFd(this.fd, st);
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

  /**
   * Applies the attributes in `a.mask` (mode, size, atime/mtime, uid/gid),
   * each tried in turn; returns the mask of those that failed and the errno
   * of the last failure (gVisor's SetStat contract): EOPNOTSUPP for a
   * symlink's mode (with symlinkModeNotSupported), EMFILE if the writable
   * FD a size or time change needs is over the connection's limit, else the
   * kernel's (EPERM, EACCES; EINVAL or EBADF truncating a held FD). Does not
   * look at the read-only policy: both protocols answer EROFS before
   * calling it. Allowed on a deleted file (gVisor's SetAttrOnDeleted).
   */
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
      if (rc === -C.EBADF && !this.isSymlink()) rc = chmodHeld(this.fd, mode);
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
        rc = utimensHeld(fd, timesAddr);
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

  /**
   * Opens the child `name` of this directory as a new HostFile, its stat in
   * `st`. EINVAL for a name checkName refuses; ENOENT for none; EPERM for a
   * type the gofer does not serve to gVisor's clients (a standard client's
   * special files are held by O_PATH, never opened: openQuietlyAt); EMFILE
   * past the FD reserve; else openat's or statx's errno. Allowed on a
   * read-only mount; donates nothing.
   */
  walk(name: string, st: StatBuffer): HostFile | Errno {
    let rc = checkName(name);
    if (rc < 0) return rc;
    if (this.mount.standardClient) {
      const fd = openQuietlyAt(this.fd, name, st);
      return fd < 0 ? fd : this.child(fd, name, st.ftype());
    }
    const fd = tryOpenAt(this.fd, name);
    if (fd < 0) return fd;
    rc = statFd(fd, st);
    if (rc === 0 && !isSupportedType(st.mode())) rc = -C.EPERM;
    if (rc < 0) {
      libc.close(fd);
      return rc;
    }
    return this.child(fd, name, st.ftype());
  }

  /**
   * Stats each name of `names` in turn without keeping anything open; an
   * empty first name stats this file itself. Calls `record(st)` with each
   * stat in `st`, in walk order. Stops quietly at a missing component, after
   * a symlink, after the last name, and with `stopAfterNonDir` after a file
   * that is not a directory. EINVAL for a name checkName refuses; EPERM at a
   * type the gofer does not serve; ENOTDIR descending through a file that is
   * not a directory; else statx's or openat's errno (what was recorded
   * stays recorded). Allowed on a read-only mount.
   */
  walkStat(names: string[], st: StatBuffer, record: (st: StatBuffer) => void, stopAfterNonDir = false): Errno {
    let i = 0;
    if (names.length > 0 && names[0] === "") {
      const rc = statFd(this.fd, st);
      if (rc < 0) return rc;
      record(st);
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
      rc = statAt(cur, name, st);
      if (rc === -C.ENOENT) break;
      if (rc < 0) return done(rc);
      if (!isSupportedType(st.mode())) return done(-C.EPERM);
      record(st);
      if (st.ftype() === C.S_IFLNK || i === names.length - 1) break;
      if (stopAfterNonDir && st.ftype() !== C.S_IFDIR) break;
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
   * A dup suffices: control FDs are never read or seeked through. The dup
   * errno (EMFILE) on failure. */
  clone(): HostFile | Errno {
    const fd = libc.dup(this.fd);
    if (fd < 0) return fd;
    return new HostFile(this.mount, this.node, fd, this.ftype, this.isMountPoint);
  }

  /** Unlinks this file from its parent directory, found through the node
   * tree from the mount point (9P's Tremove names no directory); AT_REMOVEDIR
   * in `flags` for a directory. EROFS on a read-only mount; EINVAL for the
   * mount point; ENOENT once deleted; else unlinkat's errno. */
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

  /** Moves this file to newDir/newName (9P's Trename). EINVAL for a name
   * checkName refuses or the mount point; onto itself: 0 without a host
   * call, read-only mount included (as gVisor's 9P handler); else EROFS on
   * a read-only mount; ENOENT once deleted; renameat's errno. */
  renameSelf(newDir: HostFile, newName: string): Errno {
    let rc = checkName(newName);
    if (rc < 0) return rc;
    const parentNode = this.node.parent;
    if (!parentNode) return -C.EINVAL;
    if (parentNode === newDir.node && this.node.name === newName) return 0;
    rc = this.refuseWrite();
    if (rc < 0) return rc;
    const oldName = this.node.name;
    rc = this.mount.withParent(this.node, (dir) => libc.renameat(dir, oldName, newDir.fd, newName));
    if (rc < 0) return rc;
    parentNode.renameChild(oldName, newDir.node, newName);
    return 0;
  }

  /**
   * Opens this file for I/O with `flags` (access mode and O_TRUNC), always
   * non-blocking. EPERM where the policy refuses the file's type (mayOpen);
   * else the reopen's errno (ENXIO: a FIFO's writer with no reader;
   * EWOULDBLOCK: a lease; EACCES; EMFILE). Does not look at the read-only
   * policy: both protocols refuse write access and O_TRUNC there (EROFS)
   * before calling it. Donates (`donate`, -1 for none) a dup of the open FD
   * for a regular file, a FIFO, a character device and, with
   * Policy.donateMountFd, the mount point; none on a read-only mount the
   * kernel does not enforce. A failed dup: a regular file goes without, any
   * other answers the dup's errno.
   */
  open(flags: number): { open: OpenFile; donate: number } | Errno {
    const refused = mayOpen(this.policy, this.ftype, this.mount.standardClient);
    if (refused < 0) return refused;
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
    if (donationRefused(this.policy)) {
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

  /**
   * Creates the regular file `name` in this directory (O_EXCL, `mode`'s
   * permission bits, owned by uid/gid) and opens it with `flags`; the new
   * HostFile's stat is in `st`. EROFS on a read-only mount; EINVAL for a
   * name checkName refuses; EEXIST; else openat's, fchownat's (EPERM),
   * statx's or the reopen's errno, the new file removed again. Donates
   * (`donate`) a dup of the open FD, or the dup's errno if it failed.
   */
  openCreate(
    mode: number,
    uid: number,
    gid: number,
    name: string,
    flags: number,
    st: StatBuffer,
  ): { child: HostFile; open: OpenFile; donate: number } | Errno {
    let rc = this.refuseWrite() || checkName(name);
    if (rc < 0) return rc;
    const createFlags = C.O_CREAT | C.O_EXCL | C.O_RDONLY | C.O_NONBLOCK | OPEN_FLAGS;
    const childFd = libc.openat(this.fd, name, createFlags, mode & 0o7777);
    if (childFd < 0) return childFd;
    rc = libc.fchownat(childFd, "", uid, gid, C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW);
    let openFd = -1;
    if (rc === 0) rc = statFd(childFd, st);
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

  /** Shared tail of mkdir/mknod/symlink/link/bindAt: open the new entry,
   * chown it, stat it into `st`, and remove it again if any step fails. */
  private adopt(
    name: string,
    openFlags: number | "try",
    owner: { uid: number; gid: number } | null,
    removeFlags: number,
    st: StatBuffer,
  ): HostFile | Errno {
    const fd =
      openFlags !== "try"
        ? libc.openat(this.fd, name, openFlags | OPEN_FLAGS)
        : this.mount.standardClient
          ? openQuietlyAt(this.fd, name, st)
          : tryOpenAt(this.fd, name);
    let rc = fd < 0 ? fd : 0;
    if (rc === 0 && owner)
      rc = libc.fchownat(fd, "", owner.uid, owner.gid, C.AT_EMPTY_PATH | C.AT_SYMLINK_NOFOLLOW);
    if (rc === 0) rc = statFd(fd, st);
    if (rc < 0) {
      if (fd >= 0) libc.close(fd);
      libc.unlinkat(this.fd, name, removeFlags);
      return rc;
    }
    return this.child(fd, name, st.ftype());
  }

  /** Makes the directory `name` here (`mode`'s permission bits, owned by
   * uid/gid) and returns it, its stat in `st`. EROFS on a read-only mount;
   * EINVAL for a name checkName refuses; EEXIST; else mkdirat's, or (the
   * directory removed again) the open's, fchownat's or statx's errno. */
  mkdir(mode: number, uid: number, gid: number, name: string, st: StatBuffer): HostFile | Errno {
    const rc = this.refuseWrite() || checkName(name) || libc.mkdirat(this.fd, name, mode & 0o7777);
    if (rc < 0) return rc;
    return this.adopt(name, "try", { uid, gid }, C.AT_REMOVEDIR, st);
  }

  /** Makes the node `name` here of `mode`'s type and permission bits, owned
   * by uid/gid, and returns it, its stat in `st`. Regular files only by
   * default, as gVisor's gofer: never device nodes, FIFOs or sockets on the
   * host through mknod unless `kinds` allows them (EPERM; see MknodKinds).
   * A special node is adopted by O_PATH, never opened. EROFS on a
   * read-only mount; EINVAL for a name checkName refuses or a device number
   * out of range; else as mkdir. */
  mknod(mode: number, uid: number, gid: number, name: string, st: StatBuffer, kinds: MknodKinds = "regular", major = 0, minor = 0): HostFile | Errno {
    let rc = this.refuseWrite() || checkName(name);
    if (rc < 0) return rc;
    const type = mode & C.S_IFMT;
    if (!mknodAllowed(type, kinds, major, minor)) return -C.EPERM;
    if (major > 0xfff || minor > 0xfffff) return -C.EINVAL;
    rc = libc.mknodat(this.fd, name, (mode & 0o7777) | type, encodeDev(major, minor));
    if (rc < 0) return rc;
    return this.adopt(name, type === C.S_IFREG ? "try" : C.O_PATH, { uid, gid }, 0, st);
  }

  /** Makes the symlink `name` here pointing at `target`, owned by uid/gid,
   * and returns it (held by O_PATH), its stat in `st`. EROFS on a read-only
   * mount; EINVAL for a name checkName refuses or a NUL in the target; else
   * as mkdir. */
  symlink(name: string, target: string, uid: number, gid: number, st: StatBuffer): HostFile | Errno {
    let rc = this.refuseWrite() || checkName(name);
    if (rc < 0) return rc;
    if (target.indexOf("\0") >= 0) return -C.EINVAL;
    rc = libc.symlinkat(target, this.fd, name);
    if (rc < 0) return rc;
    return this.adopt(name, C.O_PATH, { uid, gid }, 0, st);
  }

  /** Hard-links this file as dir/name (found by its parent's FD: linkat of
   * an FD needs a capability) and returns the new name's HostFile, its stat
   * in `st`. EROFS on a read-only mount; EINVAL for a name checkName
   * refuses; ENOENT once this file is deleted; else linkat's errno (EEXIST,
   * EXDEV, EPERM for a directory) or as mkdir. */
  link(dir: HostFile, name: string, st: StatBuffer): HostFile | Errno {
    let rc = this.refuseWrite() || checkName(name);
    if (rc < 0) return rc;
    rc = this.mount.withParent(this.node, (parent, self) => libc.linkat(parent, self, dir.fd, name, 0));
    if (rc < 0) return rc;
    return dir.adopt(name, "try", null, 0, st);
  }

  /** Fills a struct statfs in `out`: 0, EINVAL if it is too small, or
   * fstatfs's errno. */
  statfs(out: Uint8Array): Errno {
    if (out.byteLength < Statfs.size) return -C.EINVAL;
    return libc.fstatfs(this.fd, libc.addr(out));
  }

  /** Reads this symlink's target into out[0..] (at address `outAddr`):
   * its length (cut at out's length) or readlinkat's errno. */
  readlink(out: Uint8Array, outAddr: number): number {
    return libc.readlinkat(this.fd, "", outAddr, out.byteLength);
  }

  /** Connects a new non-blocking socket of `sockType` to this socket file
   * (through this file's FD: connectHeld) and returns it, for the caller to
   * donate. EPERM unless the policy opens host sockets; ENXIO for a type
   * other than stream, datagram or seqpacket; else socket's or connect's
   * errno (ECONNREFUSED, EPROTOTYPE). Allowed on a read-only mount. */
  connect(sockType: number): number {
    if (!udsOpen(this.policy)) return -C.EPERM;
    if (!isSockTypeSupported(sockType)) return -C.ENXIO;
    const sock = newSocket(sockType);
    if (sock < 0) return sock;
    const rc = connectHeld(sock, this.fd);
    if (rc < 0) {
      libc.close(sock);
      return rc;
    }
    return sock;
  }

  /**
   * Creates and binds a socket file `name` in this directory (`mode`'s
   * permission bits, owned by uid/gid): the socket file's HostFile (stat in
   * `st`), the bound socket the client may listen and accept on, and a dup
   * of the socket to donate. EINVAL for a name checkName refuses; EPERM
   * unless the policy creates host sockets; EROFS on a read-only mount;
   * ENXIO for a type other than stream, datagram or seqpacket; else
   * socket's, fchmod's, bind's (EADDRINUSE), the adoption's or the dup's
   * errno, nothing left behind.
   */
  bindAt(
    name: string,
    sockType: number,
    mode: number,
    uid: number,
    gid: number,
    st: StatBuffer,
  ): { child: HostFile; socket: BoundSocket; donate: number } | Errno {
    let rc = checkName(name);
    if (rc < 0) return rc;
    if (!udsCreate(this.policy)) return -C.EPERM;
    if (this.policy.readonly) return -C.EROFS;
    if (!isSockTypeSupported(sockType)) return -C.ENXIO;
    const sock = newSocket(sockType);
    if (sock < 0) return sock;
    rc = libc.fchmod(sock, mode & 0o7777);
    if (rc === 0) rc = bindIn(sock, this.fd, name);
    if (rc < 0) {
      libc.close(sock);
      return rc;
    }
    // The socket file exists from here on; adopt() removes it on failure.
    const child = this.adopt(name, "try", { uid, gid }, 0, st);
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

  /** Removes the entry `name` here (AT_REMOVEDIR in `flags`: a directory).
   * EROFS on a read-only mount; EINVAL for a name checkName refuses; else
   * unlinkat's errno (ENOENT, ENOTEMPTY, EISDIR, ENOTDIR). */
  unlink(name: string, flags: number): Errno {
    const rc = this.refuseWrite() || checkName(name) || libc.unlinkat(this.fd, name, flags & C.AT_REMOVEDIR);
    if (rc < 0) return rc;
    this.node.removeChild(name);
    return 0;
  }

  /** connect() with the effective uid/gid `uid`/`gid` (today's
   * ConnectWithCreds; see withIds): the same answers, EPERM first unless
   * the policy opens host sockets. */
  connectWithCreds(sockType: number, uid: number, gid: number): number {
    if (!udsOpen(this.policy)) return -C.EPERM;
    return withIds(uid, gid, () => this.connect(sockType));
  }

  /** renameat2 of this directory's `oldName` to newDir/newName with `flags`:
   * 0 for RenameAt and 9P's renames; today's RenameAt2 passes the client's
   * as they are (the host decides which it takes, as gVisor's gofer). EROFS
   * on a read-only mount (onto itself too); EINVAL for a name checkName
   * refuses; onto itself otherwise: 0 without a host call, whatever the
   * flags (as the reference's handler); else renameat2's errno. Keeps the
   * node tree right, RENAME_EXCHANGE swapping the two entries' nodes. */
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

  /** fgetxattr of `name` into `size` bytes at `out`: the value's length or
   * the errno (ENODATA; ERANGE if it does not fit; EINVAL for a NUL in the
   * name; EOPNOTSUPP on a bound socket, as gVisor's gofer). Allowed whatever
   * the xattr policy and on a read-only mount. With `byPath` (today's
   * gofer), a symlink's or socket's xattrs are reached by path: its O_PATH
   * FD makes f*xattr fail with EBADF. */
  getXattr(name: string, out: number, size: number, byPath = false): number {
    if (name.indexOf("\0") >= 0) return -C.EINVAL;
    if (this.boundSocket) return -C.EOPNOTSUPP;
    if (byPath && this.xattrByPath()) return this.viaPath((p) => libc.lgetxattr(p, name, out, size));
    return libc.fgetxattr(this.xattrFd(), name, out, size);
  }

  /** fsetxattr of `name` to the `len` bytes at `value` (XATTR_CREATE and
   * XATTR_REPLACE of `flags` kept): 0, what xattrWriteAllowed refuses (EROFS
   * on a read-only mount among it), or the kernel's errno. */
  setXattr(name: string, value: number, len: number, flags: number, byPath = false): Errno {
    const rc = xattrWriteAllowed(this.policy, name, this.ftype);
    if (rc < 0) return rc;
    flags &= C.XATTR_CREATE | C.XATTR_REPLACE;
    if (byPath && this.xattrByPath()) return this.viaPath((p) => libc.lsetxattr(p, name, value, len, flags));
    return libc.fsetxattr(this.xattrFd(), name, value, len, flags);
  }

  /** The names of this file's xattrs the policy shows (byte strings; see
   * listXattrs): EOPNOTSUPP with the policy "none". Allowed on a read-only
   * mount. */
  listXattr(byPath = false): string[] | Errno {
    if (byPath && this.xattrByPath()) {
      return listXattrs(this.policy, (out, size) => this.viaPath((p) => libc.llistxattr(p, out, size)));
    }
    return listXattrs(this.policy, (out, size) => libc.flistxattr(this.xattrFd(), out, size));
  }

  /** fremovexattr of `name`: 0, what xattrWriteAllowed refuses (EROFS on a
   * read-only mount among it), or the kernel's errno (ENODATA). */
  removeXattr(name: string, byPath = false): Errno {
    const rc = xattrWriteAllowed(this.policy, name, this.ftype);
    if (rc < 0) return rc;
    if (byPath && this.xattrByPath()) return this.viaPath((p) => libc.lremovexattr(p, name));
    return libc.fremovexattr(this.xattrFd(), name);
  }

  /** Whether this file's FD is an O_PATH one f*xattr cannot use. */
  private xattrByPath(): boolean {
    return this.isSymlink() || this.isSocket();
  }

  /** Runs `op` on this file's path through its parent's FD in our
   * /proc/self/fd (the last component is never followed by l*xattr). */
  private viaPath(op: (path: string) => number): number {
    return this.mount.withParent(this.node, (dirFd, name) => {
      const rc = enterProcSelfFd();
      return rc < 0 ? rc : op(`${dirFd}/${name}`);
    });
  }

  // An O_PATH control FD makes f*xattr fail with EBADF, as in gVisor.
  private xattrFd(): number {
    return this.fd;
  }
}

/** A device number as mknodat's 32-bit `dev` argument (Linux's
 * new_encode_dev: 12 bits of major, 20 of minor; mknod checks the range). */
function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & 0xfff00) << 12)) >>> 0;
}
