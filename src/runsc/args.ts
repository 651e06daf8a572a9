// runsc's way of starting its gofer: `[runsc global flags...] gofer [gofer
// flags...]`, parsed with Go's flag package rules (one or two dashes,
// `--name=value` or `--name value`, booleans bare or `=true/false`, the last
// occurrence wins, lists accumulate). Global flags we do not use are
// tolerated, as runsc adds new ones between releases.

export class RunscUsageError extends Error {}

export type GoferMountConf = {
  lower: "none" | "lisafs" | "erofs";
  upper: "none" | "memory" | "self" | "anon";
  /** Today's runsc: the overlay's size limit (`:size=N`), for the sandbox; the gofer only carries it. */
  size?: string;
};

export interface RunscArgs {
  /** Global flags, as given (name -> last value; bare booleans are "true"). */
  global: Map<string, string>;
  bundle: string;
  ioFds: number[];
  mountConfs: GoferMountConf[];
  devIoFd: number;
  specFd: number;
  mountsFd: number;
  applyCaps: boolean;
  setupRoot: boolean;
  syncUsernsFd: number;
  syncNvproxyFd: number;
  procMountSyncFd: number;
  /** Today's runsc: closed by runsc once it has finished the container's filesystem (filestores) in our mount namespace. */
  syncChrootFd: number;
  /** Today's runsc: a socket to runsc (urpc) that opens mount sources we cannot open ourselves. */
  rpcFd: number;
  /** Today's runsc: a disabled io_uring pinning sandbox FDs; held open, never used. */
  pinRingFd: number;
  /** Today's runsc: a socket on which runsc sends a pidfd of the sandbox; we wait on it before exiting. */
  sentryExitSyncFd: number;
  /** Today's runsc: the IDs to become once user namespace mappings exist. */
  uid: number;
  gid: number;
  /** Today's runsc passes the container ID as the one positional argument; 20240729's passes none. */
  containerId: string | undefined;
  /** Gofer flags we do not know (a newer runsc's), kept to be logged. */
  unknownFlags: string[];
  /** Profiling FDs runsc may pass (we write no profiles, but keep them open). */
  profileFds: number[];
  /** The argv this process was started with, for re-executing itself. */
  argv: string[];
}

// Global flags that take a value: only these may be written `--name value`;
// any other flag without `=` is a boolean (runsc itself always writes `=`).
const GLOBAL_VALUE_FLAGS = new Set([
  "root", "log", "log-format", "log-fd", "debug-log", "debug-log-fd", "debug-log-format", "debug-command",
  "panic-log", "panic-log-fd", "coverage-fd", "platform", "platform_device_path", "network", "overlay2",
  "host-uds", "host-fifo", "file-access", "file-access-mounts", "fdlimit", "dcache", "watchdog-action",
  "panic-signal", "profile-block", "profile-cpu", "profile-heap", "profile-mutex", "trace", "strace-syscalls",
  "strace-log-size", "num-network-channels", "gso", "qdisc", "nvproxy-driver-version", "reference-leak",
  "cpu-num-from-quota", "allow-flag-override", "oci-seccomp", "systemd-cgroup", "metric-server",
  "profiling-metrics", "profiling-metrics-rate-us", "TESTONLY-test-name-env", "pod-init-config",
  "buffer-pooling", "xdp", "iouring", "traceback", "host-settings", "restore-spec-validation",
  "character-device-policy",
]);

const GOFER_BOOL = new Set(["apply-caps", "setup-root"]);
const GOFER_INT = new Set([
  "dev-io-fd", "spec-fd", "mounts-fd", "sync-userns-fd", "sync-nvproxy-fd", "proc-mount-sync-fd",
  "sync-chroot-fd", "rpc-fd", "pin-ring-fd", "sync-sentry-exit-fd", "uid", "gid",
  "profile-block-fd", "profile-cpu-fd", "profile-heap-fd", "profile-mutex-fd", "trace-fd",
]);
const GOFER_STRING = new Set(["bundle", "io-fds", "gofer-mount-confs"]);

/** True when argv (without argv[0]) is runsc's gofer invocation. */
export function isRunscForm(argv: string[]): boolean {
  return subcommandIndex(argv) >= 0 && argv[subcommandIndex(argv)] === "gofer";
}

/** Index of the first positional argument after the global flags, or -1. */
function subcommandIndex(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return i + 1 < argv.length ? i + 1 : -1;
    if (!a.startsWith("-") || a === "-") return i;
    const { name, value } = splitFlag(a);
    if (value === undefined && GLOBAL_VALUE_FLAGS.has(name)) i++;
  }
  return -1;
}

function splitFlag(a: string): { name: string; value: string | undefined } {
  const body = a.replace(/^--?/, "");
  const eq = body.indexOf("=");
  return eq < 0 ? { name: body, value: undefined } : { name: body.slice(0, eq), value: body.slice(eq + 1) };
}

export function parseGoBool(name: string, v: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
  throw new RunscUsageError(`invalid boolean value ${JSON.stringify(v)} for -${name}`);
}

function parseInt32(name: string, v: string): number {
  if (!/^-?\d+$/.test(v)) throw new RunscUsageError(`invalid value ${JSON.stringify(v)} for flag -${name}: not an integer`);
  const n = Number(v);
  if (n < -1) throw new RunscUsageError(`flag -${name} must be >= -1: ${n}`);
  return n;
}

function parseMountConf(v: string): GoferMountConf {
  const parts = v.split(":");
  const [lower, upper, sizeArg] = parts;
  if (parts.length < 2 || parts.length > 3) throw new RunscUsageError(`invalid gofer mount config format: ${JSON.stringify(v)}`);
  if (sizeArg !== undefined && !sizeArg.startsWith("size=")) throw new RunscUsageError(`invalid gofer mount config format: ${JSON.stringify(v)}`);
  if (!["none", "lisafs", "erofs"].includes(lower)) throw new RunscUsageError(`invalid gofer mount config lower layer type: ${lower}`);
  if (!["none", "memory", "self", "anon"].includes(upper)) throw new RunscUsageError(`invalid gofer mount config upper layer type: ${upper}`);
  if (lower === "none" && upper === "none") throw new RunscUsageError(`invalid gofer mount config: ${JSON.stringify(v)}`);
  const conf = { lower, upper } as GoferMountConf;
  if (sizeArg !== undefined) conf.size = sizeArg.slice("size=".length);
  return conf;
}

export const usesLisafs = (c: GoferMountConf) => c.lower === "lisafs";
/** An overlay above the mount takes the writes, so the gofer serves it read-only. */
export const usesOverlay = (c: GoferMountConf) => c.lower !== "none" && c.upper !== "none";

export function parseRunscArgs(argv: string[]): RunscArgs {
  const sub = subcommandIndex(argv);
  if (sub < 0 || argv[sub] !== "gofer") throw new RunscUsageError("not a runsc gofer command line");
  const global = new Map<string, string>();
  for (let i = 0; i < sub; i++) {
    const a = argv[i];
    if (a === "--") break;
    const { name, value } = splitFlag(a);
    if (value !== undefined) global.set(name, value);
    else if (GLOBAL_VALUE_FLAGS.has(name)) global.set(name, argv[++i] ?? "");
    else global.set(name, "true");
  }
  const out: RunscArgs = {
    global,
    bundle: "",
    ioFds: [],
    mountConfs: [],
    devIoFd: -1,
    specFd: -1,
    mountsFd: -1,
    applyCaps: true,
    setupRoot: true,
    syncUsernsFd: -1,
    syncNvproxyFd: -1,
    procMountSyncFd: -1,
    syncChrootFd: -1,
    rpcFd: -1,
    pinRingFd: -1,
    sentryExitSyncFd: -1,
    uid: 0,
    gid: 0,
    containerId: undefined,
    unknownFlags: [],
    profileFds: [],
    argv,
  };
  const ints = new Map<string, number>();
  const positional: string[] = [];
  for (let i = sub + 1; i < argv.length; i++) {
    const a = argv[i];
    // As Go's flag package: the first non-flag argument ends the flags.
    if (a === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      positional.push(...argv.slice(i));
      break;
    }
    let { name, value } = splitFlag(a);
    if (GOFER_BOOL.has(name)) {
      const b = value === undefined ? true : parseGoBool(name, value);
      if (name === "apply-caps") out.applyCaps = b;
      else out.setupRoot = b;
      continue;
    }
    if (!GOFER_INT.has(name) && !GOFER_STRING.has(name)) {
      // A newer runsc's flag: runsc writes gofer flags it adds as
      // `--name=value` or bare booleans, so neither takes the next word.
      out.unknownFlags.push(a);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new RunscUsageError(`flag needs an argument: -${name}`);
      value = argv[++i];
    }
    if (name === "bundle") out.bundle = value;
    else if (name === "io-fds") for (const s of value.split(",")) out.ioFds.push(parseInt32(name, s));
    else if (name === "gofer-mount-confs") for (const s of value.split(",")) out.mountConfs.push(parseMountConf(s));
    else ints.set(name, parseInt32(name, value));
  }
  out.devIoFd = ints.get("dev-io-fd") ?? -1;
  out.specFd = ints.get("spec-fd") ?? -1;
  out.mountsFd = ints.get("mounts-fd") ?? -1;
  out.syncUsernsFd = ints.get("sync-userns-fd") ?? -1;
  out.syncNvproxyFd = ints.get("sync-nvproxy-fd") ?? -1;
  out.procMountSyncFd = ints.get("proc-mount-sync-fd") ?? -1;
  out.syncChrootFd = ints.get("sync-chroot-fd") ?? -1;
  out.rpcFd = ints.get("rpc-fd") ?? -1;
  out.pinRingFd = ints.get("pin-ring-fd") ?? -1;
  out.sentryExitSyncFd = ints.get("sync-sentry-exit-fd") ?? -1;
  out.uid = ints.get("uid") ?? 0;
  out.gid = ints.get("gid") ?? 0;
  if (positional.length > 1) throw new RunscUsageError(`gofer takes at most one argument, the container ID; got ${JSON.stringify(positional)}`);
  out.containerId = positional[0];
  for (const [name, fd] of ints) if ((name.startsWith("profile-") || name === "trace-fd") && fd >= 0) out.profileFds.push(fd);
  if (out.bundle === "" || out.ioFds.length < 1 || out.specFd < 0)
    throw new RunscUsageError("gofer needs --bundle, --spec-fd and at least one --io-fds (this form is meant to be started by runsc)");
  if (out.mountConfs.length === 0) throw new RunscUsageError("gofer needs --gofer-mount-confs (root first, then each gofer mount)");
  return out;
}

/** The global flags runsc's gofer acts on. */
export interface RunscConfig {
  directfs: boolean;
  hostUds: "none" | "open" | "create" | "all";
  hostFifo: "none" | "open";
  fdLimit: number;
  debug: boolean;
  logFd: number;
  debugLogFd: number;
  /** --TESTONLY-unsafe-nonroot: serve the bundle's root in place, no pivot_root. */
  unsafeNonroot: boolean;
  /** Today's --character-device-policy: whether host character devices on
   * gofer mounts may be opened through the gofer (not emulated-only). */
  charDevicePassthrough: boolean;
}

export function runscConfig(global: Map<string, string>): RunscConfig {
  const bool = (n: string, d: boolean) => (global.has(n) ? parseGoBool(n, global.get(n) as string) : d);
  const int = (n: string) => (global.has(n) ? parseInt32(n, global.get(n) as string) : -1);
  const hostUds = global.get("host-uds") ?? "none";
  if (!["none", "open", "create", "all"].includes(hostUds)) throw new RunscUsageError(`invalid host UDS type ${JSON.stringify(hostUds)}`);
  const hostFifo = global.get("host-fifo") ?? "none";
  if (!["none", "open"].includes(hostFifo)) throw new RunscUsageError(`invalid host fifo type ${JSON.stringify(hostFifo)}`);
  const charDev = global.get("character-device-policy") ?? "";
  if (!["", "emulated-only", "prefer-emulated", "passthrough"].includes(charDev))
    throw new RunscUsageError(`invalid character device policy ${JSON.stringify(charDev)}`);
  return {
    charDevicePassthrough: charDev === "prefer-emulated" || charDev === "passthrough",
    directfs: bool("directfs", true),
    hostUds: hostUds as RunscConfig["hostUds"],
    hostFifo: hostFifo as RunscConfig["hostFifo"],
    fdLimit: int("fdlimit"),
    debug: bool("debug", false),
    logFd: int("log-fd"),
    debugLogFd: int("debug-log-fd"),
    unsafeNonroot: bool("TESTONLY-unsafe-nonroot", false),
  };
}
