// Stats of host files, into a pinned statx record the caller owns and
// passes: each protocol connection has one, hands it to every host call that
// stats, and encodes its reply from it. Pinned because the kernel writes it
// at its address; one per connection, so no request allocates one.
import * as C from "../ffi/constants";
import { Statx } from "../ffi/layout";
import * as libc from "../ffi/libc";
import type { Errno } from "./errno";

/**
 * A Linux statx record as today's reference gofer reports it (statx of the
 * basic stats and btime: the kernel's mask and btime, no attributes).
 * 20240729's gofer reported an fstat (mask STATX_BASIC_STATS, no btime):
 * lisafs's putStat rewrites those two fields for its clients
 * (docs/lisafs-today.md). What it holds is the last stat a host call made
 * into it; a call that fails may leave it half written.
 */
export class StatBuffer {
  /** The whole struct statx. */
  readonly bytes = libc.pinnedBytes(Statx.size);
  /** Its first Statx.basicSize bytes: the classic record (lisafs's Statx). */
  readonly basic = this.bytes.subarray(0, Statx.basicSize);
  readonly view = new DataView(this.bytes.buffer);
  /** Its address, for statx(2). */
  readonly addr = libc.addr(this.bytes);

  mode(): number {
    return this.view.getUint16(Statx.mode, true);
  }
  /** The S_IFMT bits of the mode. */
  ftype(): number {
    return this.view.getUint16(Statx.mode, true) & C.S_IFMT;
  }
  /** The inode number's low and high 32 bits (numbers, not a BigInt). */
  inoLo(): number {
    return this.view.getUint32(Statx.ino, true);
  }
  inoHi(): number {
    return this.view.getUint32(Statx.ino + 4, true);
  }
  devMajor(): number {
    return this.view.getUint32(Statx.devMajor, true);
  }
  devMinor(): number {
    return this.view.getUint32(Statx.devMinor, true);
  }
  uid(): number {
    return this.view.getUint32(Statx.uid, true);
  }
  gid(): number {
    return this.view.getUint32(Statx.gid, true);
  }
}

/** What every stat asks for (today's gofer: STATX_BASIC_STATS|STATX_BTIME). */
const STAT_MASK = C.STATX_BASIC_STATS | C.STATX_BTIME;

/** Stats the file `fd` holds (any FD, O_PATH included) into `st`; 0 or the
 * statx errno. */
export function statFd(fd: number, st: StatBuffer): Errno {
  return normalize(libc.statxAddr(fd, libc.EMPTY, C.AT_SYMLINK_NOFOLLOW | C.AT_EMPTY_PATH, STAT_MASK, st.addr), st);
}

/** Stats dirfd/<the NUL-terminated name at nameAddr> into `st`, not
 * following a symlink; 0 or the statx errno (ENOENT for a vanished name). */
export function statAtAddr(dirfd: number, nameAddr: number, st: StatBuffer): Errno {
  return normalize(libc.statxAddr(dirfd, nameAddr, C.AT_SYMLINK_NOFOLLOW, STAT_MASK, st.addr), st);
}

/** Stats dirfd/name into `st`, not following a symlink; 0 or the statx
 * errno. `name` is one component, checked by the caller. */
export function statAt(dirfd: number, name: string, st: StatBuffer): Errno {
  return normalize(libc.statx(dirfd, name, C.AT_SYMLINK_NOFOLLOW, STAT_MASK, st.addr), st);
}

function normalize(rc: number, st: StatBuffer): Errno {
  if (rc < 0) return rc;
  // Neither reference reports attributes.
  st.view.setBigUint64(Statx.attributes, 0n, true);
  st.view.setBigUint64(Statx.attributesMask, 0n, true);
  return 0;
}
