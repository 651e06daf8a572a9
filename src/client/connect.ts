// Where `gofer client` finds its server: a Unix socket path (`unix:` is
// optional), `tcp:HOST:PORT`, an inherited connected socket `fd:N`, or a
// gofer of our own started on a socketpair (`--spawn DIR`). Each ends in one
// connected, blocking socket FD.
import { statSync } from "node:fs";
import * as nodePath from "node:path";
import * as C from "../ffi/constants";
import { SockaddrUn } from "../ffi/layout";
import * as libc from "../ffi/libc";
import { socketAddress } from "../listen";

export type Target =
  | { kind: "unix"; path: string }
  | { kind: "tcp"; host: string; port: number }
  | { kind: "fd"; fd: number }
  | { kind: "spawn"; dir: string };

/** Parses a --server value; throws Error with a message a person can act on. */
export function parseTarget(v: string): Target {
  if (v.startsWith("tcp:")) {
    const m = /^tcp:([^:]+):(\d+)$/.exec(v);
    const host = m?.[1] === "localhost" ? "127.0.0.1" : m?.[1];
    if (!m || !host || !/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.split(".").some((o) => Number(o) > 255) || Number(m[2]) > 65535)
      throw new Error(`--server ${JSON.stringify(v)}: give tcp:IPv4:PORT, e.g. tcp:127.0.0.1:5640`);
    return { kind: "tcp", host, port: Number(m[2]) };
  }
  if (v.startsWith("fd:")) {
    if (!/^fd:\d+$/.test(v)) throw new Error(`--server ${JSON.stringify(v)}: give fd:N with N an inherited socket's number, e.g. fd:3`);
    return { kind: "fd", fd: Number(v.slice(3)) };
  }
  const path = v.startsWith("unix:") ? v.slice(5) : v;
  if (path === "") throw new Error("--server needs a socket path, tcp:HOST:PORT or fd:N");
  if (path.length >= SockaddrUn.pathMax) throw new Error(`--server ${JSON.stringify(v)}: a socket path is at most ${SockaddrUn.pathMax - 1} bytes`);
  return { kind: "unix", path };
}

/** How the target is named in messages. */
export function describeTarget(t: Target): string {
  switch (t.kind) {
    case "unix":
      return t.path;
    case "tcp":
      return `tcp:${t.host}:${t.port}`;
    case "fd":
      return `fd:${t.fd}`;
    case "spawn":
      return `gofer:${nodePath.resolve(t.dir)}`;
  }
}

export interface Connection {
  fd: number;
  /** FDs can travel on it (flipcall channels need that). */
  unix: boolean;
  /** The gofer we started, if any: it exits when the socket closes. */
  child?: ReturnType<typeof Bun.spawn>;
}

/** The command line that runs this same gofer: the compiled binary itself,
 * or Bun with the entry script when run from source. */
function selfCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}

/** Connects to the target; -errno on failure. `goferFlags` go to a spawned gofer. */
export function connectTarget(t: Target, goferFlags: string[]): Connection | number {
  switch (t.kind) {
    case "fd": {
      const type = libc.socketType(t.fd);
      if (type < 0) return type;
      const rc = libc.checkConnected(t.fd);
      if (rc < 0) return rc;
      return { fd: t.fd, unix: true };
    }
    case "unix":
    case "tcp": {
      const fd = libc.socket(t.kind === "unix" ? C.AF_UNIX : C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
      if (fd < 0) return fd;
      const { sa, len } = socketAddress(t);
      const rc = libc.connect(fd, libc.addr(sa), len);
      if (rc < 0) {
        libc.close(fd);
        return rc;
      }
      return { fd, unix: t.kind === "unix" };
    }
    case "spawn": {
      const dir = Buffer.from(nodePath.resolve(t.dir), "latin1");
      try {
        if (!statSync(dir).isDirectory()) return -C.ENOTDIR;
      } catch (e) {
        const n = (e as NodeJS.ErrnoException).errno;
        return typeof n === "number" ? -Math.abs(n) : -C.ENOENT;
      }
      const pair = libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
      if (typeof pair === "number") return pair;
      // The gofer's own warnings go to our stderr; it serves FD 3.
      const child = Bun.spawn([...selfCommand(), "--io-fd", "3", "--mount", dir.toString("utf8"), ...goferFlags], {
        stdio: ["ignore", "ignore", "inherit", pair[1]],
      });
      libc.close(pair[1]);
      return { fd: pair[0], unix: true, child };
    }
  }
}
