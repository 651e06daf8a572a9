// Running one call under the client's effective ids (today's lisafs
// ConnectWithCreds), on the serving thread only.
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";

type Ids = { ruid: number; euid: number; rgid: number; egid: number };

let ids: Ids | null = null;
/** This thread's real and effective ids, read once (they never change but
 * for withIds's switch, which restores them). */
function processIds(): Ids {
  return (ids ??= {
    ruid: libc.syscall(C.SYS_getuid),
    euid: libc.syscall(C.SYS_geteuid),
    rgid: libc.syscall(C.SYS_getgid),
    egid: libc.syscall(C.SYS_getegid),
  });
}

/**
 * Runs `call` with the effective uid/gid `uid`/`gid`, as gVisor's gofer: the
 * serving thread's real/effective gid then uid are switched with raw
 * setregid/setreuid (per thread, not glibc's all-threads wrappers), each only
 * if it differs from ours; a refused switch is ignored and the call goes
 * ahead with our own; restored right after. Our single serving thread runs
 * nothing else between the switch and the restore (the call is
 * synchronous), so no other request ever runs with the client's ids. A
 * failed restore ends the process (as gVisor's gofer panics): it would
 * leave the gofer running as the client's user.
 */
export function withIds(uid: number, gid: number, call: () => number): number {
  const own = processIds();
  const gidChanged = gid !== own.egid && libc.syscall(C.SYS_setregid, own.rgid, gid) === 0;
  const uidChanged = uid !== own.euid && libc.syscall(C.SYS_setreuid, own.ruid, uid) === 0;
  try {
    return call();
  } finally {
    if (uidChanged && libc.syscall(C.SYS_setreuid, own.ruid, own.euid) !== 0) idsLost("euid");
    if (gidChanged && libc.syscall(C.SYS_setregid, own.rgid, own.egid) !== 0) idsLost("egid");
  }
}

function idsLost(which: string): never {
  process.stderr.write(`gofer: failed to restore ${which} after ConnectWithCreds\n`);
  process.exit(128);
}
