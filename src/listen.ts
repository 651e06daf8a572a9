// Listening sockets for standard 9P clients (`--listen unix:PATH` or
// `--listen tcp:HOST:PORT`): what a runtime would otherwise hand us as an
// inherited --io-fd, made by the gofer itself.
import * as C from "./ffi/constants";
import { SockaddrUn } from "./ffi/layout";
import * as libc from "./ffi/libc";

export type ListenAddr = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

const SOCKADDR_IN = 16;

/** Parses a --listen value; throws Error with a message a person can act on. */
export function parseListen(v: string, allowRemote: boolean): ListenAddr {
  if (v.startsWith("unix:")) {
    const path = v.slice(5);
    if (!path.startsWith("/")) throw new Error(`--listen ${JSON.stringify(v)}: the socket path must be absolute, e.g. unix:/run/gofer.sock`);
    if (path.length >= SockaddrUn.pathMax /* bytes: a byte string */) throw new Error(`--listen ${JSON.stringify(v)}: the socket path is longer than ${SockaddrUn.pathMax - 1} bytes`);
    return { kind: "unix", path };
  }
  const m = /^tcp:([^:]+):(\d+)$/.exec(v);
  if (m) {
    const host = m[1] === "localhost" ? "127.0.0.1" : m[1];
    const port = Number(m[2]);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.split(".").some((o) => Number(o) > 255))
      throw new Error(`--listen ${JSON.stringify(v)}: the host must be an IPv4 address, e.g. tcp:127.0.0.1:5640`);
    if (port > 65535) throw new Error(`--listen ${JSON.stringify(v)}: port ${port} is out of range`);
    if (!host.startsWith("127.") && !allowRemote)
      throw new Error(`--listen ${JSON.stringify(v)} is not a loopback address; the gofer serves the host's files unauthenticated, so add --listen-remote to mean it`);
    return { kind: "tcp", host, port };
  }
  throw new Error(`--listen ${JSON.stringify(v)} is not unix:/path or tcp:HOST:PORT`);
}

/** The sockaddr_un or sockaddr_in of `a`, and its length for bind/connect. */
export function socketAddress(a: ListenAddr): { sa: Uint8Array; len: number } {
  if (a.kind === "unix") {
    const sa = new Uint8Array(SockaddrUn.size);
    sa[SockaddrUn.family] = C.AF_UNIX;
    // A byte string (src/argv.ts): its bytes, exactly.
    const p = Buffer.from(a.path, "latin1");
    sa.set(p, SockaddrUn.path);
    return { sa, len: SockaddrUn.path + p.byteLength + 1 };
  }
  const sa = new Uint8Array(SOCKADDR_IN);
  const v = new DataView(sa.buffer);
  v.setUint16(0, C.AF_INET, true);
  v.setUint16(2, a.port, false);
  a.host.split(".").forEach((o, i) => (sa[4 + i] = Number(o)));
  return { sa, len: SOCKADDR_IN };
}

/** Creates, binds and listens; returns the non-blocking socket and the
 * address it is bound to (the port filled in when 0 was asked), or -errno. */
export function listenOn(a: ListenAddr): { fd: number; where: string } | number {
  const domain = a.kind === "unix" ? C.AF_UNIX : C.AF_INET;
  const fd = libc.socket(domain, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0);
  if (fd < 0) return fd;
  const fail = (rc: number) => {
    libc.close(fd);
    return rc;
  };
  if (a.kind === "tcp") libc.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1);
  const { sa, len } = socketAddress(a);
  const brc = libc.bind(fd, libc.addr(sa), len);
  if (brc < 0) return fail(brc);
  const rc = libc.listen(fd, 128);
  if (rc < 0) return fail(rc);
  if (a.kind === "unix") return { fd, where: `unix:${a.path}` };
  libc.getsockname(fd, sa);
  return { fd, where: `tcp:${a.host}:${new DataView(sa.buffer).getUint16(2, false)}` };
}

/** Accepts one pending connection (non-blocking, close-on-exec); TCP ones
 * get TCP_NODELAY, since every 9P exchange is a small request and reply. */
export function acceptOne(listenFd: number, tcp: boolean): number {
  const fd = libc.accept4(listenFd, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
  if (fd >= 0 && tcp) libc.setsockoptInt(fd, C.IPPROTO_TCP, C.TCP_NODELAY, 1);
  return fd;
}
