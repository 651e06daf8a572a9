// Which names in a directory have a filesystem mounted on them. The dirent
// of a mount point carries the inode of the directory it covers, not of the
// mounted root, so a listing that builds identities from dirents (9P's
// Treaddir) stats just those names. The answer comes from our own
// mountinfo, re-read only when the kernel says the mount table changed: a
// mountinfo FD polls POLLPRI after any mount or unmount in our namespace.
// Reading it costs ~0.4 ms here; the poll, one syscall.
import { byteString } from "../ffi/bytestring";
import * as C from "../ffi/constants";
import { Pollfd } from "../ffi/layout";
import * as libc from "../ffi/libc";
import { readToEnd } from "./hostpath";

const NONE: ReadonlySet<string> = new Set();

/** Our mountinfo, or -1 if it could not be opened. */
let infoFd = -1;
/** Mount points by parent directory: "/a/b" -> {"c"} for a mount on /a/b/c. */
let table: Map<string, Set<string>> | null = null;

const pollfd = libc.pinnedBytes(Pollfd.size);
const pollView = new DataView(pollfd.buffer);
const pollAddr = libc.addr(pollfd);
const pathBuf = libc.pinnedBytes(C.PATH_MAX);
const pathAddr = libc.addr(pathBuf);

/**
 * Opens our mountinfo through the /proc/self/fd directory we hold. Where
 * that is a bind of it rather than procfs (runsc's form, after /proc is
 * unmounted) ".." leads elsewhere and nothing opens: mount points then go
 * unreported, which only 9P's Treaddir would use, and runsc speaks lisafs.
 */
export function openMountinfo(procSelfFd: number): void {
  const fd = libc.openat(procSelfFd, "../mountinfo", C.O_RDONLY | C.O_CLOEXEC);
  if (fd >= 0) {
    if (infoFd >= 0) libc.close(infoFd);
    infoFd = fd;
    table = null;
  }
}

/**
 * The names in directory `dirFd` that something is mounted on. Paths come
 * from /proc/self/fd links and mountinfo, both relative to our root. Empty
 * when mountinfo could not be opened: entries then keep their dirent inode.
 */
export function mountPointsIn(procSelfFd: number, dirFd: number, detachedFrom: string | null = null): ReadonlySet<string> {
  const t = mountTable();
  if (t.size === 0) return NONE;
  const n = libc.readlinkat(procSelfFd, String(dirFd), pathAddr, pathBuf.byteLength);
  if (n <= 0 || n >= pathBuf.byteLength) return NONE;
  let p = byteString(pathBuf, 0, n);
  // A directory of a detached read-only copy (MountRoot.openReadonly): its
  // link is relative to the copy, whose mounts are copies of those below
  // the path it was made from, as mountinfo lists them.
  if (detachedFrom !== null) p = p === "/" ? detachedFrom : `${detachedFrom === "/" ? "" : detachedFrom}${p}`;
  return t.get(p) ?? NONE;
}

function mountTable(): Map<string, Set<string>> {
  if (infoFd < 0) return (table ??= new Map());
  if (table && !changed()) return table;
  table = parse(readWhole(infoFd) ?? "");
  return table;
}

/** Whether a mount or unmount happened since the last poll (which resets it). */
function changed(): boolean {
  pollView.setInt32(Pollfd.fd, infoFd, true);
  pollView.setInt16(Pollfd.events, C.POLLPRI, true);
  pollView.setInt16(Pollfd.revents, 0, true);
  const rc = libc.poll(pollAddr, 1, 0);
  return rc !== 0;
}

function parse(info: string): Map<string, Set<string>> {
  const t = new Map<string, Set<string>>();
  for (const line of info.split("\n")) {
    // Fields: id parent major:minor root mount-point ...; octal escapes for
    // space, tab, newline and backslash.
    const f = line.split(" ");
    if (f.length < 5) continue;
    const mp = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const slash = mp.lastIndexOf("/");
    if (slash < 0 || slash === mp.length - 1) continue;
    const parent = slash === 0 ? "/" : mp.slice(0, slash);
    let names = t.get(parent);
    if (!names) t.set(parent, (names = new Set()));
    names.add(mp.slice(slash + 1));
  }
  return t;
}

/** The file from its start, as latin1, or null; bounded at 16 MiB. */
function readWhole(fd: number): string | null {
  if (libc.lseek(fd, 0, 0) < 0) return null;
  const data = readToEnd(fd, 16 << 20);
  return typeof data === "number" ? null : byteString(data, 0, data.length);
}
