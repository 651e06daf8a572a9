// The served directory: a MountRoot, opened once when the gofer starts
// serving a path, and a Mount, what one connection serves of it (the
// connection's root, policy and FD count).
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import type { Errno } from "./errno";
import { HostFile } from "./file";
import { OPEN_FLAGS } from "./lookup";
import type { Node } from "./node";
import { isSupportedType, type Policy } from "./policy";
import { reopen } from "./procfd";
import { type StatBuffer, statFd } from "./stat";

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

  /**
   * Opens the mount point again, through its anchor (never by path): the
   * root of the connection, held read-only (a dup of the O_PATH anchor where
   * that is refused), its stat in `st`. The errno the anchor failed to open
   * with, the reopen's or statx's, or EPERM for a type the gofer does not
   * serve. Allowed on a read-only mount; donates nothing (the Mount
   * handler donates a dup of the root's FD when Policy.donateMountFd).
   */
  openRoot(st: StatBuffer): HostFile | Errno {
    if (this.anchorFd < 0) return this.anchorFd;
    let fd = reopen(this.anchorFd, C.O_RDONLY | C.O_NONBLOCK);
    if (fd < 0 && fd !== -C.ENOENT) fd = libc.dup(this.anchorFd);
    if (fd < 0) return fd;
    let rc = statFd(fd, st);
    if (rc === 0 && !isSupportedType(st.mode())) rc = -C.EPERM;
    if (rc < 0) {
      libc.close(fd);
      return rc;
    }
    return new HostFile(this, this.node, fd, st.ftype(), true);
  }

  /** The connection is gone; the anchor stays with its MountRoot. */
  close(): void {}

  /** Runs `op` with a directory FD of `node`'s parent and the node's name,
   * and answers what it answers; EINVAL for the mount point itself, ENOENT
   * for a deleted node or one outside this mount. The FD is the one an open
   * file already holds for the parent when there is one (gVisor uses the
   * parent fid's file), or the mount point's; otherwise it is opened by
   * walking from the mount point one name at a time (2 + depth syscalls)
   * and closed after `op`. */
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
