// The tests' 9P client is the one `gofer client` uses (src/client/p9.ts);
// here: starting servers for it.
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../../src/ffi/constants";
import * as libc from "../../src/ffi/libc";
import { P9Client } from "../../src/client/p9";
import { REPLY_TIMEOUT_MS } from "../../src/client/transport";
import { GOFER, type Fixture, Gofer, type GoferOptions } from "./fixture";

export * from "../../src/client/p9";
export { TransportError } from "../../src/client/transport";

// ---- starting servers -----------------------------------------------------------

/** A gofer on --io-fd socketpairs whose connections speak 9P. */
export function startP9(fx: Fixture, o: GoferOptions = {}): { g: Gofer; clients: P9Client[]; c: P9Client } {
  const g = Gofer.start(fx, o);
  const clients = g.clients.map((lc) => new P9Client(lc.fd, () => lc.disconnect()));
  return { g, clients, c: clients[0] };
}

/** Tversion + Tattach of fid `rootFid` (default 1). */
export function session(c: P9Client, version = "9P2000.L.Google.13", rootFid = 1): void {
  c.version(1 << 20, version);
  c.attach(rootFid);
}

/** `dist/gofer --listen ADDR`: waits for "listening on ..." and returns it. */
export async function startListener(
  fx: Fixture,
  listen: string,
  extra: string[] = [],
): Promise<{ proc: ReturnType<typeof Bun.spawn>; where: string; stop: () => Promise<void> }> {
  const logFile = path.join(fx.logs, `listen-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  const log = fs.openSync(logFile, "a");
  const proc = Bun.spawn([GOFER, "--listen", listen, "--mount", fx.mount, "--log-level", "warn", ...extra], {
    stdio: ["ignore", "pipe", log],
  });
  fs.closeSync(log);
  const stop = async () => {
    proc.kill(9);
    await proc.exited;
  };
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  const deadline = Date.now() + REPLY_TIMEOUT_MS * 2;
  while (!/listening on (\S+)\n/.test(out)) {
    const left = deadline - Date.now();
    const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(1, left)).then(() => null)]);
    if (chunk === null || chunk.done) {
      await stop();
      throw new Error(`gofer --listen ${listen}: no "listening on" line (stdout ${JSON.stringify(out)}); log:\n${fs.readFileSync(logFile, "utf8")}`);
    }
    out += new TextDecoder().decode(chunk.value);
  }
  reader.releaseLock();
  return { proc, where: /listening on (\S+)\n/.exec(out)![1], stop };
}

/** Connects to "unix:/path" or "tcp:HOST:PORT" (blocking connect, then the
 * client's own deadlines). */
export function connectTo(where: string): P9Client {
  if (where.startsWith("unix:")) {
    const p = where.slice(5);
    const s = libc.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
    if (s < 0) throw new Error(`socket: errno ${-s}`);
    const sa = new Uint8Array(110);
    sa[0] = C.AF_UNIX;
    sa.set(Buffer.from(p), 2);
    const rc = libc.connect(s, libc.addr(sa), 2 + Buffer.byteLength(p) + 1);
    if (rc < 0) throw new Error(`connect ${p}: errno ${-rc}`);
    return new P9Client(s);
  }
  const m = /^tcp:([\d.]+):(\d+)$/.exec(where);
  if (!m) throw new Error(`bad address ${where}`);
  const s = libc.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
  if (s < 0) throw new Error(`socket: errno ${-s}`);
  const sa = new Uint8Array(16);
  const v = new DataView(sa.buffer);
  v.setUint16(0, C.AF_INET, true);
  v.setUint16(2, Number(m[2]), false);
  m[1].split(".").forEach((o, i) => (sa[4 + i] = Number(o)));
  const rc = libc.connect(s, libc.addr(sa), 16);
  if (rc < 0) throw new Error(`connect ${where}: errno ${-rc}`);
  return new P9Client(s);
}
