// Command line: flags to a validated configuration. Every mistake a person can
// make here ends in one line saying what was wrong and what to do, exit 2.
import { Command, CommanderError, Option } from "commander";
import { realpathSync, statSync } from "node:fs";
import * as libc from "./ffi/libc";
import * as C from "./ffi/constants";
import type { HostFifo, HostUds, Policy } from "./host/file";
import type { LogLevel } from "./log";
import type { LoopMode } from "./loop/loop";
import { type ListenAddr, parseListen } from "./listen";
import { bytesToText } from "./argv";
import type { Protocol, ServeSpec } from "./server";
import type { TraceFilter } from "./observe/trace";

export const VERSION = "0.1.0";

export interface Config {
  specs: ServeSpec[];
  /** --listen: serve connections made to this address with `listenSpec`. */
  listen?: ListenAddr;
  listenSpec?: Omit<ServeSpec, "fd">;
  protocol: Protocol;
  loopMode: LoopMode | "auto";
  logLevel: LogLevel;
  logFd: number;
  maxConnections: number;
  fdsPerConnection?: number;
  /** --trace: which messages to log (absent: tracing off). */
  trace?: TraceFilter;
  /** --metrics: where to serve the Prometheus text (absent: metrics off). */
  metrics?: ListenAddr;
}

export class UsageError extends Error {}

const collect = (v: string, prev: string[]) => [...prev, v];

function program(): Command {
  return new Command("gofer")
    .description("Serve host directories to a gVisor sandbox over lisafs or 9P (gVisor's gofer protocols).")
    .version(VERSION, "--version")
    .option("--io-fd <fd>", "inherited connected socket to serve (repeatable; the i-th serves the i-th --mount)", collect, [])
    .option("--mount <path[:ro]>", "absolute host path to serve; ':ro' refuses every change (repeatable)", collect, [])
    .option("--listen <addr>", "serve standard 9P clients that connect to unix:/path.sock or tcp:127.0.0.1:PORT (one --mount)")
    .option("--listen-remote", "let --listen tcp: use a non-loopback address", false)
    .addOption(new Option("--protocol <name>", "protocol of the connections (auto: from their first bytes)").choices(["auto", "lisafs", "p9"]).default("auto"))
    .addOption(
      new Option("--host-uds <policy>", "host Unix sockets the sandbox may open/create").choices(["none", "open", "create", "all"]).default("none"),
    )
    .addOption(new Option("--host-fifo <policy>", "host FIFOs the sandbox may open").choices(["none", "open"]).default("none"))
    .option("--donate-mount-fd", "donate the mount point's host FD to the client (directfs)", false)
    .option("--xattr-user", "extension: let the sandbox set, list and remove user.* xattrs", false)
    .addOption(
      new Option("--lisafs <semantics>", "gVisor release whose lisafs semantics clients get (auto: 20240729's until a client sends a message only today's send)")
        .choices(["auto", "today"])
        .default("auto"),
    )
    .addOption(
      new Option("--event-loop <mode>", "how the loop waits (auto picks futex_waitv when the kernel has it)")
        .choices(["auto", "waitv", "threads"])
        .default(process.env.GOFER_EVENT_LOOP ?? "auto"),
    )
    .addOption(
      new Option("--log-level <level>", "log verbosity").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("warn"),
    )
    .option("--log-fd <fd>", "write logs to this inherited FD instead of stderr")
    .option("--max-connections <n>", "with --listen: connections served at once; more are closed on arrival", "1024")
    .option("--fds-per-connection <n>", "host FDs one connection may hold (default: half of what the FD limit leaves)")
    .option("--trace [messages]", "log each request and reply, decoded (optionally only these comma-separated message names or IDs)")
    .option("--metrics <addr>", "serve Prometheus metrics on unix:/path.sock or tcp:127.0.0.1:PORT (SIGUSR1 logs them too)")
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .allowExcessArguments(false);
}

function parseFd(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} ${JSON.stringify(v)} is not an FD number; pass a non-negative integer like --io-fd 3`);
  return Number(v);
}

function parseMount(v: string): { path: string; readonly: boolean } {
  let path = v;
  let readonly = false;
  if (v.endsWith(":ro")) {
    path = v.slice(0, -3);
    readonly = true;
  } else if (v.endsWith(":rw")) {
    path = v.slice(0, -3);
  }
  if (!path.startsWith("/")) throw new UsageError(`--mount ${JSON.stringify(bytesToText(v))} is not absolute; give the full host path, e.g. --mount ${"/srv/rootfs"}`);
  // `path` is a byte string (src/argv.ts): node:fs gets it as a Buffer of
  // those bytes, and gives the resolved path back as bytes.
  try {
    const b = Buffer.from(path, "latin1");
    statSync(b);
    path = (realpathSync(b, { encoding: "buffer" }) as Buffer).toString("latin1");
  } catch {
    throw new UsageError(`--mount ${JSON.stringify(bytesToText(path))} does not exist; create it or fix the path`);
  }
  return { path, readonly };
}

/** Parses argv (without node/bun and script). Throws UsageError, or
 * CommanderError for --help/--version (exit code 0). */
export function parseArgs(argv: string[]): Config {
  const cmd = program();
  try {
    cmd.parse(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) throw err;
      throw new UsageError(`${err.message.replace(/^error: /, "")}; see gofer --help`);
    }
    throw err;
  }
  const o = cmd.opts();
  const fds = (o.ioFd as string[]).map((v) => parseFd("--io-fd", v));
  const mounts = (o.mount as string[]).map(parseMount);
  let listen: ListenAddr | undefined;
  if (o.listen !== undefined) {
    try {
      listen = parseListen(o.listen as string, Boolean(o.listenRemote));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (fds.length > 0) throw new UsageError("--listen and --io-fd cannot be combined; run one gofer per way of serving");
    if (mounts.length !== 1) throw new UsageError(`--listen serves one directory; give exactly one --mount (got ${mounts.length})`);
    if (o.protocol === "lisafs") throw new UsageError("--listen serves 9P clients; drop --protocol lisafs");
  } else if (fds.length === 0)
    throw new UsageError("no --io-fd given; pass the inherited socket FD to serve, e.g. --io-fd 3 --mount /srv/rootfs (or --listen unix:/path.sock for 9P clients)");
  if (!listen && fds.length !== mounts.length)
    throw new UsageError(`${fds.length} --io-fd but ${mounts.length} --mount; give one --mount per --io-fd, in the same order`);
  if (new Set(fds).size !== fds.length) throw new UsageError("the same --io-fd is given twice; each connection needs its own socket");
  for (const fd of fds) {
    const rc = libc.socketType(fd);
    if (rc === -C.EBADF) throw new UsageError(`--io-fd ${fd} is not an open FD; start gofer with that FD inherited from the runtime`);
    if (rc < 0) throw new UsageError(`--io-fd ${fd} is not a socket; pass a connected Unix socket (e.g. one end of a socketpair)`);
    if (libc.checkConnected(fd) < 0) throw new UsageError(`--io-fd ${fd} is a socket but not connected; pass a connected Unix socket`);
  }
  let logFd = 2;
  if (o.logFd !== undefined) {
    logFd = parseFd("--log-fd", o.logFd);
    if (libc.fcntl(logFd, C.F_GETFD) < 0) throw new UsageError(`--log-fd ${logFd} is not an open FD; pass an inherited, writable FD`);
  }
  const positive = (flag: string, v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag} ${JSON.stringify(v)} is not a positive integer`);
    return Number(v);
  };
  const maxConnections = positive("--max-connections", o.maxConnections as string);
  const fdsPerConnection = o.fdsPerConnection === undefined ? undefined : positive("--fds-per-connection", o.fdsPerConnection as string);
  let trace: TraceFilter | undefined;
  if (o.trace !== undefined) {
    try {
      // Loaded only with --trace: it brings both protocols' message tables.
      trace = (require("./observe/trace") as typeof import("./observe/trace")).parseTraceFilter(o.trace as string | true);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  let metrics: ListenAddr | undefined;
  if (o.metrics !== undefined) {
    try {
      metrics = parseListen(o.metrics as string, false);
    } catch (err) {
      throw new UsageError((err as Error).message.replace(/^--listen/, "--metrics").replace(/; the gofer serves.*$/, "; metrics are served on loopback or a Unix socket only"));
    }
  }
  const policyFor = (i: number): Policy => ({
    readonly: mounts[i].readonly,
    hostUds: o.hostUds as HostUds,
    hostFifo: o.hostFifo as HostFifo,
    xattr: o.xattrUser ? "user" : "none",
    donateMountFd: Boolean(o.donateMountFd),
    lisafs: o.lisafs as "auto" | "today",
  });
  const specs = fds.map((fd, i) => ({ fd, hostPath: mounts[i].path, policy: policyFor(i) }));
  return {
    specs,
    listen,
    listenSpec: listen ? { hostPath: mounts[0].path, policy: policyFor(0) } : undefined,
    protocol: o.protocol as Protocol,
    loopMode: o.eventLoop as LoopMode | "auto",
    logLevel: o.logLevel as LogLevel,
    logFd,
    maxConnections,
    fdsPerConnection,
    trace,
    metrics,
  };
}

export function helpText(): string {
  return program().helpInformation();
}
