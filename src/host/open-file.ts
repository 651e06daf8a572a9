// A file opened for I/O (gVisor's open FD), and reading an open directory's
// entries: getdents64 into one pinned buffer, entries handed out as numbers
// and byte ranges of it, so a listing allocates nothing per entry.
import { byteString } from "../ffi/bytestring";
import * as C from "../ffi/constants";
import { Dirent64 } from "../ffi/layout";
import * as libc from "../ffi/libc";
import type { Errno } from "./errno";
import type { HostFile } from "./file";
import { mountPointsIn } from "./mountpoints";
import { procSelfFdDir } from "./procfd";
import { type StatBuffer, statAtAddr, statFd } from "./stat";

/** A file opened for I/O (gVisor's open FD): made by HostFile.open and
 * openCreate; it counts as one of the connection's host FDs until closed. */
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

  /** Stats the open file into `st`: 0 or the statx errno. */
  stat(st: StatBuffer): Errno {
    return statFd(this.fd, st);
  }

  /** pread into memory at `dst`: the bytes read (short at EOF, 0 past it) or
   * the errno (EAGAIN for a FIFO or device with nothing to read: every open
   * file is non-blocking). The caller checks that it was opened readable. */
  read(dst: number, len: number, off: number | bigint): number {
    return libc.pread(this.fd, dst, len, off);
  }

  /** pwrite from memory at `src`: the bytes written or the errno; EROFS on a
   * read-only mount. The caller checks that it was opened writable. */
  write(src: number, len: number, off: number | bigint): number {
    if (this.file.policy.readonly) return -C.EROFS;
    return libc.pwrite(this.fd, src, len, off);
  }

  /** fsync: 0 or its errno. Allowed on a read-only mount. */
  sync(): Errno {
    return libc.fsync(this.fd);
  }

  /** fallocate with Linux's FALLOC_FL_* `mode`: 0 or its errno; EROFS on a
   * read-only mount. */
  allocate(mode: number, off: number | bigint, len: number | bigint): Errno {
    if (this.file.policy.readonly) return -C.EROFS;
    return libc.fallocate(this.fd, mode, off, len);
  }

  /** Back to the directory's first entry: 0 or the lseek errno. */
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
   * gVisor's Getdent64), stats each into `st` (for its device) and calls
   * `emit` for it; entries that vanish before the stat are skipped, "." and
   * ".." are never reported. 0 or the getdents64 errno. The name is bytes
   * [nameStart, nameEnd) of `names`, valid only during the call; numbers
   * rather than views and BigInts, so that a listing allocates nothing per
   * entry.
   */
  readDirents(count: number, st: StatBuffer, emit: DirentSink): Errno {
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
        if (end >= 0 && statAtAddr(this.fd, direntAddr + nameStart, st) === 0) {
          emit(
            direntView.getUint32(p + Dirent64.ino, true),
            direntView.getUint32(p + Dirent64.ino + 4, true),
            direntView.getUint32(p + Dirent64.off, true),
            direntView.getUint32(p + Dirent64.off + 4, true),
            direntBuf[p + Dirent64.type],
            st.devMajor(),
            st.devMinor(),
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
   * bytes of host dirents) into the dirent batch and returns it, or the
   * getdents64 errno. "." and ".." are left out, and the first `skip` names
   * skipped (`skipped` says how many were); an entry whose d_type is
   * unknown (some filesystems) or that is a mount point is stat'ed into
   * `st` (its `statted` slot is 1 and its device is in the devMajor and
   * devMinor slots), and left out if it is gone. `end` is set at the end of
   * the directory. The position moves past the whole batch; `unreadFrom`
   * puts back entries the caller did not use. A batch rather than a
   * callback per entry: the caller's encoding loop stays one monomorphic
   * loop the JIT compiles well (a callback listing ran 1.2–4.5 ms per
   * 10,000 entries depending on what the JIT made of it).
   */
  readDirBatch(skip: number, sizeHint: number, st: StatBuffer): DirBatch | Errno {
    const mounts = (this.mountPoints ??= mountPointsIn(procSelfFdDir(), this.fd, this.file.mount.root.detachedFrom));
    const e = batch.entries;
    batch.count = 0;
    batch.skipped = 0;
    batch.end = false;
    const want = Math.min(direntBuf.byteLength, Math.max(UNIX_DIRENT_MAX, sizeHint));
    const got = libc.getdents64(this.fd, direntAddr, want);
    if (got < 0) return got;
    if (got === 0) {
      batch.end = true;
      return batch;
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
          batch.skipped++;
        } else {
          let dtype = direntBuf[p + Dirent64.type];
          let inoLo = direntView.getUint32(p + Dirent64.ino, true);
          let inoHi = direntView.getUint32(p + Dirent64.ino + 4, true);
          let present = true;
          let statted = 0;
          let devMajor = 0;
          let devMinor = 0;
          if (dtype === DT_UNKNOWN || (mounts.size > 0 && mounts.has(byteString(direntBuf, nameStart, end)))) {
            present = statAtAddr(this.fd, direntAddr + nameStart, st) === 0;
            if (present) {
              statted = 1;
              devMajor = st.devMajor();
              devMinor = st.devMinor();
              dtype = (st.mode() >> 12) & 0xf; // S_IFMT >> 12 is the DT_ value
              inoLo = st.inoLo();
              inoHi = st.inoHi();
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
    batch.count = count;
    return batch;
  }

  /** Puts entries [i, count) of the last batch back: the next batch starts
   * with entry i, without a rescan from the start. 0 or the lseek errno. */
  unreadFrom(i: number): Errno {
    const prev = batch.entries[i * DirEntry.slots + DirEntry.prevRecord];
    this.dirPos = prev === 0 ? this.batchPos : direntView.getBigInt64(prev - 1 + Dirent64.off, true);
    const rc = libc.lseek(this.fd, this.dirPos, 0);
    return rc < 0 ? rc : 0;
  }
}

/** Slots of one entry in `DirBatch.entries`. */
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

/** The entries of one OpenFile.readDirBatch: `count` entries, entry i's
 * slots (DirEntry) at entries[i * DirEntry.slots...], its name bytes
 * [nameStart, nameEnd) of `names`. One for the whole process (its names are
 * the pinned buffer getdents64 writes): valid until the next readDirBatch
 * of any open file. */
export interface DirBatch {
  readonly names: Uint8Array;
  readonly entries: Uint32Array;
  count: number;
  /** Entries passed over for the batch's `skip`. */
  skipped: number;
  /** The directory had no more entries. */
  end: boolean;
}

/** Receives one directory entry: inode and d_off as 32-bit halves, d_type,
 * the device it is on, and the name as bytes [nameStart, nameEnd) of
 * `names`. */
export type DirentSink = (
  inoLo: number,
  inoHi: number,
  offLo: number,
  offHi: number,
  type: number,
  devMajor: number,
  devMinor: number,
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
const direntBuf = libc.scratchBytes(65536);
const direntView = new DataView(direntBuf.buffer);
const direntAddr = libc.addr(direntBuf);
const MIN_DIRENT = 24; // an 8-byte-aligned record with a 1-byte name

const batch: DirBatch = {
  names: direntBuf,
  // ~96 KiB, in pages of its own (see libc.scratchBytes).
  entries: new Uint32Array(libc.scratchBytes(4 * (direntBuf.byteLength / MIN_DIRENT + 1) * DirEntry.slots).buffer),
  count: 0,
  skipped: 0,
  end: false,
};
