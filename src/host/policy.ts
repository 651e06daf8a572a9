// What a mount lets its clients do, and the rules that follow from it. The
// host layer applies these for both protocols; nothing here makes a syscall.
import * as C from "../ffi/constants";
import type { Errno } from "./errno";

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

/** Whether mknod may make a node of file type `type` (S_IFMT bits). */
export function mknodAllowed(type: number, kinds: MknodKinds, major: number, minor: number): boolean {
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

/** The client may connect to host sockets it walks to. */
export const udsOpen = (p: Policy): boolean => p.hostUds === "open" || p.hostUds === "all";
/** The client may bind sockets on the host. */
export const udsCreate = (p: Policy): boolean => p.hostUds === "create" || p.hostUds === "all";

/** File types the gofer serves at all to gVisor's clients (as gVisor's
 * gofer: no block devices). A standard client reaches every type
 * (Mount.standardClient). */
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

/**
 * Whether a file of type `ftype` may be opened for I/O: EPERM for a FIFO
 * unless host FIFOs are open, a socket unless host sockets are, a character
 * device the policy refuses or a standard client's (its kernel serves
 * those), any block device, and on a read-only mount the kernel does not
 * enforce, a FIFO or character device (they would need their FD donated).
 */
export function mayOpen(policy: Policy, ftype: number, standardClient: boolean): Errno {
  if (ftype === C.S_IFIFO && policy.hostFifo !== "open") return -C.EPERM;
  if (ftype === C.S_IFSOCK && !udsOpen(policy)) return -C.EPERM;
  if (ftype === C.S_IFCHR && policy.charDevices === "refuse") return -C.EPERM;
  if (ftype === C.S_IFBLK || (ftype === C.S_IFCHR && standardClient)) return -C.EPERM;
  if (donationRefused(policy) && (ftype === C.S_IFIFO || ftype === C.S_IFCHR)) return -C.EPERM;
  return 0;
}

/** No FD is donated for an opened file (see Policy.readonlyNotEnforced). */
export const donationRefused = (p: Policy): boolean => p.readonly && p.readonlyNotEnforced === true;
