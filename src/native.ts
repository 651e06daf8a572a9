// Entry point of the native command line, `gofer --io-fd N --mount PATH ...`
// (src/main.ts loads it).
import { ClientRequest, InfoRequest, parseArgs, UsageError } from "./cli";
import * as libc from "./ffi/libc";
import { confine } from "./confine";
import { MountRoot } from "./host/mount";
import { openProcSelfFd } from "./host/procfd";
import { bytesToText, rawArgs } from "./argv";
import { loadEntry } from "./entry";
import { makeLogger } from "./log";
import type { ListenAddr } from "./listen";
import { Server } from "./server";

function fail(msg: string, code: number): never {
  process.stderr.write(`gofer: ${msg}\n`);
  process.exit(code);
}

function describe(a: ListenAddr): string {
  return a.kind === "unix" ? `unix:${a.path}` : `tcp:${a.host}:${a.port}`;
}
function hint(errno: number): string {
  if (errno === 98) return " (address in use: another server is there, or remove a stale socket file)";
  if (errno === 13) return " (permission denied: choose a directory or port you may use)";
  if (errno === 2) return " (the socket's directory does not exist)";
  return "";
}

/** The native form. Its paths are bytes, exact from argv to the syscall. */
export function nativeMain(argv: string[] = rawArgs()): void {
  let config;
  try {
    config = parseArgs(argv);
  } catch (err) {
    if (err instanceof InfoRequest) {
      process.stdout.write(err.output);
      process.exit(0);
    }
    if (err instanceof ClientRequest) {
      void loadEntry<typeof import("./client-form")>("client-form").then((m) => m.clientMain(err.args));
      return;
    }
    if (err instanceof UsageError) fail(err.message, 2);
    throw err;
  }
  const log = makeLogger(config.logLevel, config.logFd);
  const rc = openProcSelfFd();
  if (rc < 0) fail(`cannot open /proc/self/fd (errno ${-rc}); mount /proc in the gofer's namespace`, 1);
  // The client sends modes with the sandbox's umask already applied.
  libc.umask(0);
  // `:ro` held by the kernel too, for what we donate (issue 14).
  for (const spec of config.listenSpec ? [config.listenSpec] : config.specs) {
    if (!spec.policy.readonly) continue;
    const ro = MountRoot.openReadonly(spec.hostPath);
    if (typeof ro !== "number") {
      spec.root = ro;
      continue;
    }
    if (spec.policy.donateMountFd)
      fail(
        `--donate-mount-fd with the read-only mount ${bytesToText(spec.hostPath)} needs the kernel to hold it read-only (a private read-only copy of the mount: open_tree and mount_setattr, CAP_SYS_ADMIN, Linux 5.12), which failed with errno ${-ro}; drop --donate-mount-fd or run with that privilege`,
        2,
      );
    spec.policy = { ...spec.policy, readonlyNotEnforced: true };
    log.warn(
      { mount: bytesToText(spec.hostPath), errno: -ro },
      "read-only mount not enforced by the kernel: its files are served without donating their FDs, FIFOs and devices refused",
    );
  }
  // Trace and metrics records are written whatever --log-level says. The
  // modules are loaded only when asked for.
  const setup = config.trace || config.metrics ? (require("./observe/setup") as typeof import("./observe/setup")) : null;
  const observe = setup?.observation(config.trace, config.metrics !== undefined, makeLogger("info", config.logFd), "info");
  const server = new Server({
    protocol: config.protocol,
    loopMode: config.loopMode,
    log,
    maxConnections: config.maxConnections,
    fdsPerConnection: config.fdsPerConnection ?? "share",
    observe,
  });
  if (setup && config.metrics && observe?.metrics) {
    const ep = setup.startMetrics(server, observe.metrics, config.metrics, makeLogger("info", config.logFd));
    if (typeof ep === "number") fail(`cannot serve metrics on ${describe(config.metrics)}: errno ${-ep}${hint(-ep)}`, 1);
    process.stdout.write(Buffer.from(`metrics on ${ep.where}\n`, "latin1"));
  }
  for (const spec of config.specs) server.serve(spec);
  if (config.listen && config.listenSpec) {
    const where = server.listen(config.listen, config.listenSpec);
    if (typeof where === "number") fail(`cannot listen on ${describe(config.listen)}: errno ${-where}${hint(-where)}`, 1);
    // The bound address (with the port a tcp:...:0 got), for whoever started us.
    // Its bytes as given (a unix: path is a byte string, src/argv.ts).
    process.stdout.write(Buffer.from(`listening on ${where}\n`, "latin1"));
  }
  confine(log, [...config.specs, ...(config.listenSpec ? [config.listenSpec] : [])].some((s) => s.policy.deviceNodes === true));
  server.run();
  log.info({ loop: server.loop.stats }, "all clients gone; exiting");
  // _exit, not process.exit: the loop's helper Workers may still sit in a
  // syscall, and Bun's orderly exit tears them down unreliably (seen as
  // SIGILL). Logs are written synchronously, so nothing is lost.
  libc.exitNow(0);
}

