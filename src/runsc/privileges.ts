// Giving up privileges as runsc's gofer does. Capabilities are per thread
// and Bun runs threads of its own before any of our code, so dropping them
// in place would leave those threads privileged. Instead the bounding set
// of this thread is cut down and the process re-executes itself: every
// thread of the new image starts with only the kept capabilities.
//
// /proc must be gone from our view once we serve, but unmounting it needs
// CAP_SYS_ADMIN, which the re-executed process no longer has. So, as runsc
// does, a child started before the drop (the "umounter") waits on a pipe
// and unmounts /proc when told to.
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import type { CapSets } from "./threadcaps";

// CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID,
// CAP_SYS_CHROOT: what runsc's gofer keeps to serve files.
export const GOFER_CAPS = [0, 1, 2, 3, 4, 18];
const CAP_SETGID = 6;
const CAP_SETUID = 7;

/** The capability sets each runsc's gofer keeps (runsc/cmd/gofer.go):
 * 20240729's in bounding, effective and permitted; today's in all five,
 * plus SETUID/SETGID in the first three when host sockets may be opened. */
export function goferCaps(today: boolean, udsOpen: boolean): CapSets {
  if (!today) return { bounding: GOFER_CAPS, effective: GOFER_CAPS, permitted: GOFER_CAPS, inheritable: [], ambient: [] };
  const withUds = udsOpen ? [...GOFER_CAPS, CAP_SETGID, CAP_SETUID] : GOFER_CAPS;
  return { bounding: withUds, effective: withUds, permitted: withUds, inheritable: GOFER_CAPS, ambient: GOFER_CAPS };
}

const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const SYS_capset = process.arch === "arm64" ? 91 : 126;

export class PrivilegeError extends Error {}

/** Limits this thread to `keep` (bounding, effective, permitted; no
 * inheritable or ambient), so that execve passes on only those. */
export function restrictCapabilities(keep: number[]): void {
  for (let cap = 0; cap < 64; cap++) {
    if (keep.includes(cap)) continue;
    const rc = libc.prctl(C.PR_CAPBSET_DROP, cap);
    if (rc === -C.EINVAL) break; // past the kernel's last capability
    if (rc < 0) throw new PrivilegeError(`dropping capability ${cap} from the bounding set: errno ${-rc}`);
  }
  libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
  let lo = 0;
  let hi = 0;
  for (const cap of keep) {
    if (cap < 32) lo |= 1 << cap;
    else hi |= 1 << (cap - 32);
  }
  const header = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
  // Two __user_cap_data_struct {effective, permitted, inheritable}.
  const data = new Uint32Array([lo >>> 0, lo >>> 0, 0, hi >>> 0, hi >>> 0, 0]);
  const rc = libc.syscall(SYS_capset, libc.addr(header), libc.addr(data));
  void header[0], data[0]; // keep both alive until the call has returned
  if (rc < 0) throw new PrivilegeError(`capset: errno ${-rc}`);
}

function environWith(libraryPath: string): Record<string, string | undefined> {
  const vars = { ...process.env };
  if (libraryPath) vars.LD_LIBRARY_PATH = vars.LD_LIBRARY_PATH ? `${libraryPath}:${vars.LD_LIBRARY_PATH}` : libraryPath;
  return vars;
}

/** Re-executes this binary with `argv` (argv[0] excluded). Returns only on failure. */
export function reexec(argv: string[], libraryPath = ""): never {
  const vars = environWith(libraryPath);
  // JSC's top tier (FTL) keeps a JIT thread compiling for seconds into a
  // sandbox's life, on CPUs the sentry needs: a stat-heavy walk ran 4.1–4.4 s
  // without it against 4.5–5.1 s with it (reference: 4.0–4.2 s). The
  // re-exec is our chance to set JSC options; a user's own setting wins.
  vars.BUN_JSC_useFTLJIT ??= "0";
  const env = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  const rc = libc.execve("/proc/self/exe", [process.argv0 || "gofer", ...argv], env);
  throw new PrivilegeError(`re-executing /proc/self/exe: errno ${-rc}`);
}

/** Starts the umounter from `exePath` (our binary as seen in the new root;
 * Bun's spawn does not take /proc/self/exe) and returns the FD to signal it
 * with. It must start inside the new root: started before pivot_root, it
 * could lose its shared libraries while still loading them. Its stderr
 * goes to `logFd` when there is one. */
export function spawnProcUmounter(exePath: string, smallUmounter: string | null, libraryPath: string, logFd: number): number {
  const p = libc.pipe2(0);
  if (typeof p === "number") throw new PrivilegeError(`pipe for the /proc umounter: errno ${-p}`);
  const [rd, wr] = p;
  // The small umounter when there is one (setup.ts), else our own binary.
  const argv = smallUmounter ? [smallUmounter] : [exePath, "umount", "--sync-fd=3", "/proc"];
  Bun.spawn(argv, {
    stdio: ["ignore", "ignore", logFd >= 0 ? logFd : "inherit", rd],
    env: environWith(libraryPath),
    cwd: "/",
  });
  libc.close(rd);
  // Kept across the re-exec: the re-executed gofer signals on it.
  return wr;
}

/** Tells the umounter to go. Its result is checked later, by `checkProcGone`,
 * so that serving does not wait on it (~60 ms, mostly the kernel's
 * unmount). Until then we are chrooted away from /proc anyway. */
export function signalProcUmounter(syncFd: number): void {
  const one = new Uint8Array([0]);
  if (libc.writeFd(syncFd, libc.addr(one), 1) !== 1) throw new PrivilegeError("cannot signal the /proc umounter");
  libc.close(syncFd);
}

/** Reaps the umounter if it is done: "done" (and /proc is gone), "running",
 * or an error. */
export function checkProcUmounter(): "done" | "running" | PrivilegeError {
  const w = libc.waitpid(-1, 1 /* WNOHANG */);
  if (w === -C.ECHILD) return new PrivilegeError("the /proc umounter is gone without being reaped");
  if (typeof w === "number") return new PrivilegeError(`waiting for the /proc umounter: errno ${-w}`);
  if (w[0] === 0) return "running";
  const status = w[1];
  if ((status & 0x7f) !== 0 || ((status >> 8) & 0xff) !== 0) return new PrivilegeError(`the /proc umounter failed (wait status ${status})`);
  return "done";
}

/** The umounter itself (`gofer umount --sync-fd=N PATH`): waits for one byte
 * or EOF on N, then detaches PATH. */
export function umounterMain(argv: string[]): never {
  const fdArg = argv.find((a) => a.startsWith("--sync-fd="));
  const path = argv[argv.length - 1];
  if (!fdArg || !path.startsWith("/")) {
    process.stderr.write("gofer umount: usage: gofer umount --sync-fd=N /path (started by the gofer itself)\n");
    return libc.exitNow(2);
  }
  const fd = Number(fdArg.slice("--sync-fd=".length));
  const b = new Uint8Array(1);
  let n: number;
  do n = libc.readFd(fd, libc.addr(b), 1);
  while (n === -C.EINTR);
  const rc = libc.umount2(path, C.MNT_DETACH);
  if (rc < 0) {
    process.stderr.write(`gofer umount: umount ${path}: errno ${-rc}\n`);
    return libc.exitNow(1);
  }
  return libc.exitNow(0);
}
