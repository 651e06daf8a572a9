// Command line: flags to a validated configuration. Every mistake a person can
// make here ends in one line saying what was wrong and what to do, exit 2.
import * as libc from "./ffi/libc";
import * as C from "./ffi/constants";
import type { HostFifo, HostUds, Policy } from "./host/policy";
import type { LogLevel } from "./log";
import type { LoopMode } from "./loop/loop";
import { type ListenAddr, parseListen } from "./listen";
import { bytesToText } from "./argv";
import { CLIENT_ABOUT } from "./client/about";
import { realPath } from "./host/hostpath";
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

/** --help or --version: print `output` to stdout and exit 0. */
export class InfoRequest {
  constructor(readonly output: string) {}
}

/** `client` after server flags: run the client on `args` (what follows it). */
export class ClientRequest {
  constructor(readonly args: string[]) {}
}

/**
 * The flags, declared once: commander's program is built from this table,
 * and so is the scan that reads a runtime's plain command line without
 * loading commander (see parseFlags).
 */
interface FlagSpec {
  /** Long flag, with its argument placeholder if it takes one: "--io-fd <fd>". */
  flags: string;
  description: string;
  /** "list": repeatable, values collected in order; "optional": a value
   * may follow or not (`--trace` or `--trace=A,B`), left to commander. */
  kind: "value" | "list" | "boolean" | "optional";
  choices?: readonly string[];
  /** Default value (commander shows it in --help). */
  value?: () => string | boolean;
}

const FLAGS: readonly FlagSpec[] = [
  { flags: "--io-fd <fd>", kind: "list", description: "inherited connected socket to serve (repeatable; the i-th serves the i-th --mount)" },
  { flags: "--mount <path[:ro]>", kind: "list", description: "absolute host path to serve; ':ro' refuses every change (repeatable)" },
  { flags: "--listen <addr>", kind: "value", description: "serve standard 9P clients that connect to unix:/path.sock or tcp:127.0.0.1:PORT (one --mount)" },
  { flags: "--listen-remote", kind: "boolean", value: () => false, description: "let --listen tcp: use a non-loopback address" },
  { flags: "--protocol <name>", kind: "value", choices: ["auto", "lisafs", "p9"], value: () => "auto", description: "protocol of the connections (auto: from their first bytes)" },
  { flags: "--host-uds <policy>", kind: "value", choices: ["none", "open", "create", "all"], value: () => "none", description: "host Unix sockets the sandbox may open/create" },
  { flags: "--host-fifo <policy>", kind: "value", choices: ["none", "open"], value: () => "none", description: "host FIFOs the sandbox may open" },
  { flags: "--donate-mount-fd", kind: "boolean", value: () => false, description: "donate the mount point's host FD to the client (directfs)" },
  {
    flags: "--allow-device-nodes",
    kind: "boolean",
    value: () => false,
    description: "extension: let standard 9P2000.L clients (not gVisor's) create character and block device nodes with Tmknod",
  },
  { flags: "--xattr-user", kind: "boolean", value: () => false, description: "extension: let the sandbox set, list and remove user.* xattrs" },
  {
    flags: "--lisafs <semantics>",
    kind: "value",
    choices: ["auto", "today"],
    value: () => "auto",
    description: "gVisor release whose lisafs semantics clients get (auto: 20240729's until a client sends a message only today's send)",
  },
  {
    flags: "--event-loop <mode>",
    kind: "value",
    choices: ["auto", "waitv", "threads"],
    value: () => process.env.GOFER_EVENT_LOOP ?? "auto",
    description: "how the loop waits (auto picks futex_waitv when the kernel has it)",
  },
  { flags: "--log-level <level>", kind: "value", choices: ["trace", "debug", "info", "warn", "error", "fatal", "silent"], value: () => "warn", description: "log verbosity" },
  { flags: "--log-fd <fd>", kind: "value", description: "write logs to this inherited FD instead of stderr" },
  { flags: "--max-connections <n>", kind: "value", value: () => "1024", description: "with --listen: connections served at once; more are closed on arrival" },
  { flags: "--fds-per-connection <n>", kind: "value", description: "host FDs one connection may hold (default: half of what the FD limit leaves)" },
  {
    flags: "--trace [messages]",
    kind: "optional",
    description: "log each request and reply, decoded (optionally only these comma-separated message names or IDs)",
  },
  { flags: "--metrics <addr>", kind: "value", description: "serve Prometheus metrics on unix:/path.sock or tcp:127.0.0.1:PORT (SIGUSR1 logs them too)" },
];

/** What the flags say, keyed as commander names them (--io-fd: ioFd). */
export type FlagValues = Record<string, string | string[] | boolean | undefined>;

const longName = (spec: FlagSpec) => spec.flags.split(" ")[0];
const attributeName = (spec: FlagSpec) => longName(spec).slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function program(): import("commander").Command {
  // Loaded only for what the scan does not take: --help, --version and every
  // mistake, whose messages are commander's (it costs ~2.5 MiB of memory and
  // ~5 ms of start-up in a gofer that would otherwise never need it).
  const { Command, Option } = require("commander") as typeof import("commander");
  const cmd = new Command("gofer")
    .description("Serve host directories to a gVisor sandbox over lisafs or 9P (gVisor's gofer protocols).")
    .version(VERSION, "--version");
  for (const spec of FLAGS) {
    const opt = new Option(spec.flags, spec.description);
    if (spec.choices) opt.choices(spec.choices);
    if (spec.kind === "list") opt.argParser((v: string, prev: string[]) => [...prev, v]).default([]);
    else if (spec.value) opt.default(spec.value());
    cmd.addOption(opt);
  }
  cmd
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .allowExcessArguments(false)
    // `gofer client ...` (src/client/cli.ts): the server's flags go before
    // `client`, the client's after it; serving is the action of gofer itself.
    .enablePositionalOptions()
    .action(() => {});
  // The client is its own entry point (src/client-form.ts): here `client`
  // only hands what follows it over to that, unparsed, help included.
  cmd
    .command("client")
    .description(CLIENT_ABOUT)
    .argument("[args...]")
    .helpOption(false)
    .allowUnknownOption()
    .action((args: string[]) => {
      throw new ClientRequest(args);
    });
  return cmd;
}

/**
 * The flags of a command line made only of FLAGS in their long forms
 * (`--flag value`, `--flag=value`), each value valid for its choices: what a
 * runtime passes. Anything else (help, version, a mistake, a value that
 * looks like a flag) returns null, for commander to parse and explain.
 */
export function scanFlags(argv: readonly string[]): FlagValues | null {
  const values: FlagValues = {};
  for (const spec of FLAGS) values[attributeName(spec)] = spec.kind === "list" ? [] : spec.value?.();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) return null;
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const spec = FLAGS.find((f) => longName(f) === name);
    if (!spec) return null;
    const key = attributeName(spec);
    if (spec.kind === "optional") return null;
    if (spec.kind === "boolean") {
      if (eq >= 0) return null;
      values[key] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length || argv[i + 1].startsWith("-")) return null;
      value = argv[++i];
    }
    if (spec.choices && !spec.choices.includes(value)) return null;
    if (spec.kind === "list") (values[key] as string[]).push(value);
    else values[key] = value;
  }
  return values;
}

/** The flags as commander parses them. Throws UsageError, or InfoRequest
 * for --help and --version. */
export function commanderFlags(argv: readonly string[]): FlagValues {
  const cmd = program();
  try {
    cmd.parse(argv as string[], { from: "user" });
  } catch (err) {
    const { CommanderError } = require("commander") as typeof import("commander");
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed") throw new InfoRequest(cmd.helpInformation());
      if (err.code === "commander.version") throw new InfoRequest(`${VERSION}\n`);
      if (err.exitCode === 0) throw new InfoRequest("");
      throw new UsageError(`${err.message.replace(/^error: /, "")}; see gofer --help`);
    }
    throw err;
  }
  return cmd.opts() as FlagValues;
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
  // `path` is a byte string (src/argv.ts), and so is what it resolves to.
  const resolved = realPath(path);
  if (typeof resolved === "number")
    throw new UsageError(`--mount ${JSON.stringify(bytesToText(path))} does not exist; create it or fix the path (errno ${-resolved})`);
  return { path: resolved, readonly };
}

/** Parses argv (without node/bun and script). Throws UsageError,
 * InfoRequest for --help/--version, or ClientRequest. */
export function parseArgs(argv: string[]): Config {
  const o = scanFlags(argv) ?? commanderFlags(argv);
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
    logFd = parseFd("--log-fd", o.logFd as string);
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
    deviceNodes: Boolean(o.allowDeviceNodes),
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
