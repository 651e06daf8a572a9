// What today's runsc hands its gofer besides the io FDs: a urpc channel to
// runsc itself (--rpc-fd), which opens mount sources the gofer cannot open
// from its own namespace (and id-mapped mounts, which only the host side can
// configure), and a socket on which runsc sends a pidfd of the sandbox
// (--sync-sentry-exit-fd), so the gofer outlives the sandbox process.
//
// urpc is JSON on a stream socket: a call is {"method","arg"}, a reply is
// {"success","err","result"}, and the FDs of a reply come with its first byte.
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { closeAll, recvWithFds } from "../ffi/scm";
import type { SpecMount } from "./spec";

export class HostRpcError extends Error {}

// A reply is a few hundred bytes; anything much larger is not runsc.
const MAX_REPLY = 1 << 20;

/** Writes all of `bytes` to a blocking stream socket. */
function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    const n = libc.writeFd(fd, libc.addr(bytes) + off, bytes.length - off);
    if (n === -C.EINTR) continue;
    if (n <= 0) throw new HostRpcError(`writing to runsc's RPC socket: errno ${-n}`);
    off += n;
  }
}

/** The caller of runsc's goferToHostRPC service. Used only during set-up,
 * before the event loop, so its calls block. */
export class HostRpc {
  constructor(private readonly fd: number) {
    // runsc hands the socket over non-blocking; set-up waits on its replies.
    const fl = libc.fcntl(fd, C.F_GETFL);
    if (fl >= 0 && fl & C.O_NONBLOCK) libc.fcntl(fd, C.F_SETFL, fl & ~C.O_NONBLOCK);
  }

  /** One call; returns the reply's result and the FDs that came with it
   * (the caller owns them). */
  call(method: string, arg: unknown): { result: unknown; fds: readonly number[] } {
    writeAll(this.fd, Buffer.from(JSON.stringify({ method, arg }), "utf8"));
    const chunk = new Uint8Array(4096);
    const first = recvWithFds(this.fd, libc.addr(chunk), 1, 0);
    if (first.n <= 0) throw new HostRpcError(`reading runsc's RPC reply: ${first.n === 0 ? "EOF" : `errno ${-first.n}`}`);
    const parts: Uint8Array[] = [chunk.slice(0, 1)];
    let size = 1;
    for (;;) {
      // A reply is one JSON object: it is whole once it parses.
      const text = Buffer.concat(parts).toString("utf8");
      let reply: { success?: boolean; err?: string; result?: unknown } | undefined;
      try {
        reply = JSON.parse(text);
      } catch {
        reply = undefined;
      }
      if (reply !== undefined) {
        if (!reply.success) {
          closeAll(first.fds);
          throw new HostRpcError(`runsc's ${method}: ${reply.err || "failed"}`);
        }
        return { result: reply.result, fds: first.fds };
      }
      const n = libc.readFd(this.fd, libc.addr(chunk), chunk.length);
      if (n === -C.EINTR) continue;
      if (n <= 0 || size > MAX_REPLY) {
        closeAll(first.fds);
        throw new HostRpcError(`reading runsc's RPC reply: ${n === 0 ? "EOF" : n < 0 ? `errno ${-n}` : "too long"}`);
      }
      parts.push(chunk.slice(0, n));
      size += n;
    }
  }

  /** Has runsc open a mount's source (an O_PATH FD, or for an id-mapped
   * mount a detached mount tree with the mapping applied). */
  openMount(mount: SpecMount, flags: number): number {
    const { fds } = this.call("goferToHostRPC.OpenMount", { Mount: goMount(mount), Flags: flags >>> 0 });
    if (fds.length !== 1) {
      closeAll(fds);
      throw new HostRpcError(`runsc's OpenMount returned ${fds.length} FDs for ${mount.source}`);
    }
    return fds[0];
  }

  close(): void {
    libc.close(this.fd);
  }
}

// specs.Mount's JSON names, as runsc decodes them.
function goMount(m: SpecMount): Record<string, unknown> {
  const o: Record<string, unknown> = { destination: m.destination };
  for (const k of ["type", "source", "options", "uidMappings", "gidMappings"]) if (m[k] !== undefined) o[k] = m[k];
  return o;
}

/** Waits, at most `timeoutMs` for each step, for runsc to send the
 * sandbox's pidfd on `sockFd` and for that process to exit. True if the
 * sandbox is gone (or nothing came to wait on), false on a time-out. */
export function waitSandboxExit(sockFd: number, timeoutMs: number): boolean {
  const pfd = new Uint8Array(8);
  const view = new DataView(pfd.buffer);
  const pollIn = (fd: number): boolean => {
    view.setInt32(0, fd, true);
    view.setInt16(4, C.POLLIN, true);
    view.setInt16(6, 0, true);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const left = Math.max(0, Math.ceil(deadline - performance.now()));
      const n = libc.poll(libc.addr(pfd), 1, left);
      if (n === -C.EINTR) continue;
      return n > 0;
    }
  };
  if (!pollIn(sockFd)) return true;
  const byte = new Uint8Array(1);
  const { n, fds } = recvWithFds(sockFd, libc.addr(byte), 1, C.MSG_DONTWAIT | C.MSG_TRUNC);
  if (n < 0 || fds.length === 0) return true;
  try {
    return pollIn(fds[0]);
  } finally {
    closeAll(fds);
  }
}
