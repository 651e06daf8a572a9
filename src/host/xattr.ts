// Which extended attributes a client may see and change (Policy.xattr), and
// reading a file's list of them. Getting a value is always allowed.
import { byteString } from "../ffi/bytestring";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import type { Errno } from "./errno";
import type { Policy } from "./policy";

/**
 * Whether the client may set or remove the xattr `name` of a file of type
 * `ftype`: EOPNOTSUPP with the policy "none" (and, with "user", for any
 * other namespace: the same answer as with the extension off); EROFS on a
 * read-only mount; EINVAL for "" or a name with NUL (and "user." alone);
 * EPERM for trusted.* ("all"), and for user.* on anything but a regular
 * file or directory (as Linux).
 */
export function xattrWriteAllowed(policy: Policy, name: string, ftype: number): Errno {
  const which = policy.xattr;
  if (which === "none") return -C.EOPNOTSUPP;
  if (policy.readonly) return -C.EROFS;
  if (name === "" || name.indexOf("\0") >= 0) return -C.EINVAL;
  if (which === "all") {
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
  if (ftype !== C.S_IFREG && ftype !== C.S_IFDIR) return -C.EPERM;
  return 0;
}

/**
 * The names (byte strings) `list` reports that the policy shows: every one
 * but trusted.* with "all", user.* with "user"; EOPNOTSUPP with "none".
 * `list(out, size)` is a flistxattr or llistxattr into the buffer at `out`:
 * its errno is answered (ERANGE past 64 KiB of names).
 */
export function listXattrs(policy: Policy, list: (out: number, size: number) => number): string[] | Errno {
  if (policy.xattr === "none") return -C.EOPNOTSUPP;
  const n = list(xattrListAddr, xattrList.byteLength);
  if (n < 0) return n;
  const names: string[] = [];
  for (let p = 0; p < n; ) {
    let e = p;
    while (e < n && xattrList[e] !== 0) e++;
    const name = byteString(xattrList, p, e);
    if (policy.xattr === "all" ? !name.startsWith("trusted.") : name.startsWith("user.")) names.push(name);
    p = e + 1;
  }
  return names;
}

/** The kernel writes the list of names here. */
const xattrList = libc.scratchBytes(65536);
const xattrListAddr = libc.addr(xattrList);
