// The tests' 9P client is the one `gofer client` uses (src/client/p9.ts);
// here: starting servers for it.
import * as fs from "node:fs";
import * as path from "node:path";
import { connectTarget, parseTarget } from "../../src/client/connect";
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

/** `dist/gofer --listen ADDR --mount MOUNT` (default fx.mount, ":ro"
 * allowed): waits for "listening on ..." and returns it. */
export async function startListener(
  fx: Fixture,
  listen: string,
  extra: string[] = [],
  mount = fx.mount,
): Promise<{ proc: ReturnType<typeof Bun.spawn>; where: string; stop: () => Promise<void> }> {
  const logFile = path.join(fx.logs, `listen-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  const log = fs.openSync(logFile, "a");
  const proc = Bun.spawn([GOFER, "--listen", listen, "--mount", mount, "--log-level", "warn", ...extra], {
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

/** Connects to "unix:/path" or "tcp:HOST:PORT" (as `gofer client` does). */
export function connectTo(where: string): P9Client {
  const c = connectTarget(parseTarget(where), []);
  if (typeof c === "number") throw new Error(`connect ${where}: errno ${-c}`);
  return new P9Client(c.fd);
}
