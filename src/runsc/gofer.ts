// Acting as runsc's gofer: started by runsc (or through its
// RUNSC_GOFER_OVERRIDE hook) with runsc's argv and FDs, runsc 20240729's or
// today's. The order of steps is today's runsc/cmd/gofer.go: read the spec;
// wait for runsc's filesystem work; set up the root; resolve and report the
// mounts; open our /proc/self/fd; unmount /proc; drop capabilities on every
// thread; chroot; serve; outlive the sandbox. A re-exec replaces the
// in-place drop only where a user namespace makes it necessary.
import type { Logger } from "../log";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import type { Policy } from "../host/policy";
import { makeLogger } from "../log";
import type { ServeSpec } from "../server";
import { parseRunscArgs, type RunscArgs, runscConfig, type RunscConfig, RunscUsageError, usesLisafs, usesOverlay } from "./args";
import { HostRpc, waitSandboxExit } from "./hostrpc";
import { checkProcUmounter, goferCaps, PrivilegeError, reexec, restrictCapabilities, signalProcUmounter, spawnProcUmounter } from "./privileges";
import { haveSmallUmounter, libraryPath, PROC_FD_BIND, SELF_IN_NEW_ROOT, SetupError, setupRootFs, UMOUNTER_IN_NEW_ROOT } from "./setup";
import { hasMountConfig, isReadonlyMount, pathBytes, readSpec, resolveMounts, type Spec, writeMounts } from "./spec";
import { applyCapsToAllThreads, inPlaceCapsSupported } from "./threadcaps";

// runsc's util.Fatalf exit status.
const FATAL_EXIT = 128;

let fatalFd = -1;
let log: Logger | null = null;

function writeAll(fd: number, line: Buffer): void {
  const bytes = new Uint8Array(line.buffer, line.byteOffset, line.length);
  libc.writeFd(fd, libc.addr(bytes), bytes.length);
}

function fatal(msg: string): never {
  writeAll(2, Buffer.from(`gofer: ${msg}\n`));
  // As runsc's util.Errorf: one JSON object {msg, level, time} on --log-fd,
  // whatever --log-format says. containerd's shim (Docker, Kubernetes) parses
  // that file and shows the last msg; plain text there hides the reason.
  if (fatalFd >= 0) writeAll(fatalFd, Buffer.from(`${JSON.stringify({ msg: `gofer: ${msg}`, level: "error", time: new Date().toISOString() })}\n`));
  log?.fatal(msg);
  return libc.exitNow(FATAL_EXIT);
}

/** Waits until the other end of `fd` is closed (runsc's sync FDs). */
function waitForClose(fd: number, what: string): void {
  const b = new Uint8Array(1);
  let n: number;
  do n = libc.readFd(fd, libc.addr(b), 1);
  while (n === -C.EINTR);
  if (n !== 0) fatal(`failed to sync on ${what} FD ${fd}: read returned ${n}`);
  libc.close(fd);
}

export function runscMain(argv: string[]): never {
  let args: RunscArgs;
  let conf: RunscConfig;
  try {
    args = parseRunscArgs(argv);
    conf = runscConfig(args.global);
  } catch (err) {
    if (err instanceof RunscUsageError) fatal(err.message);
    throw err;
  }
  fatalFd = conf.logFd;
  // As runsc: everything to --debug-log-fd (debug level with --debug), else
  // nothing; fatal errors also to --log-fd and stderr.
  log = makeLogger(conf.debugLogFd >= 0 ? (conf.debug ? "debug" : "info") : "silent", conf.debugLogFd >= 0 ? conf.debugLogFd : 2);
  try {
    run(args, conf, log);
  } catch (err) {
    if (err instanceof RunscUsageError || err instanceof SetupError || err instanceof PrivilegeError) fatal(err.message);
    fatal(`${(err as Error).message ?? err}`);
  }
}

function run(args: RunscArgs, conf: RunscConfig, log: Logger): never {
  // Today's runsc names the container; 20240729's does not.
  const today = args.containerId !== undefined;
  if (args.unknownFlags.length > 0) log.warn({ flags: args.unknownFlags }, "ignoring gofer flags this gofer does not know (a newer runsc?)");
  const spec = readSpec(args.specFd, args.bundle);
  // runsc creates the overlay filestores in our mount namespace first.
  if (args.syncChrootFd >= 0) waitForClose(args.syncChrootFd, "chroot sync");
  if (args.syncNvproxyFd >= 0) waitForClose(args.syncNvproxyFd, "nvproxy sync");
  // A user namespace's IDs are set on this thread only: that needs the
  // re-exec, as runsc's own gofer does then. As root, capabilities are
  // dropped on every thread in place (today's runsc does the same).
  // GOFER_RUNSC_REEXEC=1 forces the re-exec, the path arm64 takes.
  const mustReexec = args.applyCaps && (args.syncUsernsFd >= 0 || !inPlaceCapsSupported() || process.env.GOFER_RUNSC_REEXEC === "1");
  if (args.syncUsernsFd >= 0) {
    waitForClose(args.syncUsernsFd, "userns sync");
    // Now root (or --uid/--gid) in the user namespace runsc mapped for us.
    if (libc.syscall(C.SYS_setuid, args.uid) < 0 || libc.syscall(C.SYS_setgid, args.gid) < 0) fatal("cannot set the UID/GID in the user namespace");
  }
  const rpc = args.rpcFd >= 0 ? new HostRpc(args.rpcFd) : null;
  let procMountSyncFd = args.procMountSyncFd;
  if (args.setupRoot) {
    setupRootFs({
      spec,
      mountConfs: args.mountConfs,
      serveDev: args.devIoFd >= 0,
      inPlace: conf.unsafeNonroot,
      reexec: mustReexec,
      today,
      openMount: rpc ? (m, flags) => rpc.openMount(m, flags) : undefined,
      containerId: args.containerId,
      bundle: args.bundle,
      log,
    });
    if (mustReexec && !conf.unsafeNonroot) {
      if (procMountSyncFd >= 0) fatal("--proc-mount-sync-fd is set together with --setup-root");
      procMountSyncFd = spawnProcUmounter(SELF_IN_NEW_ROOT, haveSmallUmounter ? UMOUNTER_IN_NEW_ROOT : null, libraryPath, conf.debugLogFd);
    }
  }
  const caps = goferCaps(today, conf.hostUds === "open" || conf.hostUds === "all");
  if (mustReexec) {
    restrictCapabilities(caps.bounding);
    const again = [
      ...args.argv.slice(0, args.argv.length - (args.containerId !== undefined ? 1 : 0)),
      "--apply-caps=false",
      "--setup-root=false",
      `--proc-mount-sync-fd=${procMountSyncFd}`,
      "--sync-userns-fd=-1",
      "--sync-nvproxy-fd=-1",
      "--sync-chroot-fd=-1",
      // Closed by the exec, as runsc's: the RPC is for set-up only.
      "--rpc-fd=-1",
      ...(args.containerId !== undefined ? [args.containerId] : []),
    ];
    // Bun marks every inherited FD above 3 close-on-exec when it starts;
    // the ones runsc handed us must survive the re-exec.
    for (const fd of inheritedFds(args, conf, procMountSyncFd)) libc.fcntl(fd, C.F_SETFD, 0);
    log.info("re-executing with the gofer's capabilities");
    reexec(again, libraryPath);
  }
  rpc?.close();

  log.debug({ sinceStartMs: Math.round(performance.now()) }, "serving stage");
  const root = conf.unsafeNonroot ? spec.root.path : "/root";
  const served = (_m: unknown, idx: number) => {
    const c = args.mountConfs[idx];
    if (!c) throw new RunscUsageError(`--gofer-mount-confs has ${args.mountConfs.length} entries but the spec has more gofer mounts`);
    return usesLisafs(c);
  };
  spec.mounts = resolveMounts(spec.mounts ?? [], served, root, today);
  if (args.mountsFd >= 0) writeMounts(args.mountsFd, spec.mounts);
  // Modes arrive with the sandbox's umask already applied.
  libc.umask(0);
  const serveSpecs = connections(spec, args, conf, today);
  const procFd = conf.unsafeNonroot ? "/proc/self/fd" : PROC_FD_BIND;
  // Loaded only now: a first stage that re-executes never serves.
  const { openProcSelfFd } = require("../host/procfd") as typeof import("../host/procfd");
  const { Server } = require("../server") as typeof import("../server");
  const rc = openProcSelfFd(procFd);
  if (rc < 0) fatal(`failed to open ${procFd}: errno ${-rc}`);
  // Our threads, found through /proc before it goes.
  const taskDirFd = args.applyCaps ? libc.openat(C.AT_FDCWD, "/proc/self/task", C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC) : -1;
  if (args.applyCaps && taskDirFd < 0) fatal(`opening /proc/self/task: errno ${-taskDirFd}`);
  // --debug: each message decoded at debug level, as gVisor's gofer logs them.
  // Loaded only then: a start without --debug evaluates none of it.
  const observe =
    conf.debug && conf.debugLogFd >= 0
      ? (require("../observe/setup") as typeof import("../observe/setup")).observation(
          (require("../observe/trace") as typeof import("../observe/trace")).parseTraceFilter(true),
          false,
          log,
          "debug",
        )
      : undefined;
  const server = new Server({ protocol: "lisafs", loopMode: "auto", log, observe });
  if (args.setupRoot && !conf.unsafeNonroot && procMountSyncFd < 0) {
    // No re-exec: we still hold CAP_SYS_ADMIN, so /proc goes now.
    const urc = libc.umount2("/proc", C.MNT_DETACH);
    if (urc < 0) fatal(`error umounting /proc: errno ${-urc}`);
    if (libc.access("/proc/self", C.F_OK) !== -C.ENOENT) fatal("/proc is still accessible");
    log.debug("/proc unmounted");
  } else if (procMountSyncFd >= 0) {
    signalProcUmounter(procMountSyncFd);
    const check = () => {
      const r = checkProcUmounter();
      if (r === "running") return server.loop.whenIdle(check);
      if (r instanceof PrivilegeError) fatal(r.message);
      log.debug("/proc unmounted");
    };
    server.loop.whenIdle(check);
  }
  if (taskDirFd >= 0) {
    applyCapsToAllThreads(caps, taskDirFd);
    libc.close(taskDirFd);
    log.info({ caps }, "capabilities applied to all threads");
  }
  // Only now: a re-executing first stage must not limit what it hands on.
  if (conf.fdLimit > -1) {
    const rc = libc.setrlimit(C.RLIMIT_NOFILE, conf.fdLimit, conf.fdLimit);
    if (rc === -C.EPERM) log.warn({ limit: conf.fdLimit }, "FD limit is higher than the hard limit or system maximum");
    else if (rc < 0) fatal(`failed to set RLIMIT_NOFILE: errno ${-rc}`);
  }
  const chrootRc = libc.chroot(root);
  if (chrootRc < 0) fatal(`failed to chroot to ${root}: errno ${-chrootRc}`);
  if (libc.chdir("/") < 0) fatal("changing working dir");
  log.info({ root }, "process chroot'd");
  for (const s of serveSpecs) {
    log.info({ fd: s.fd, path: s.hostPath, readonly: s.policy.readonly }, "serving");
    server.serve(s);
  }
  // After the chroot, as runsc's gofer installs its filter.
  const { confine } = require("../confine") as typeof import("../confine");
  confine(log);
  server.run();
  log.info("all lisafs servers exited");
  // Today's runsc: stay until the sandbox process is gone (its FDs on our
  // files are released asynchronously otherwise).
  if (args.sentryExitSyncFd >= 0 && !waitSandboxExit(args.sentryExitSyncFd, 500)) {
    log.warn("sandbox still running 500ms after its gofer connections closed; exiting anyway");
  }
  return libc.exitNow(0);
}

/** One connection per io-fd: the root first (when lisafs serves it), then
 * each gofer mount runsc gave an FD, then /dev. Paths are as seen after chroot. */
function connections(spec: Spec, args: RunscArgs, conf: RunscConfig, today: boolean): ServeSpec[] {
  const policy = (readonly: boolean, dev = false): Policy => ({
    readonly,
    // Today's runsc: host character devices only as --character-device-policy
    // allows, but always on the /dev connection (the sentry's device proxies).
    charDevices: !today || dev || conf.charDevicePassthrough ? "open" : "refuse",
    hostUds: conf.hostUds,
    hostFifo: conf.hostFifo,
    // Today's gofer serves every xattr message (the sentry decides);
    // 20240729's refused changes. Never trusted.* (Policy.xattr).
    xattr: today ? "all" : "none",
    // Today's sandbox gets today's lisafs semantics from its first message.
    lisafs: today ? "today" : "auto",
    donateMountFd: conf.directfs,
  });
  const out: ServeSpec[] = [];
  const fds = [...args.ioFds];
  const rootConf = args.mountConfs[0];
  if (usesLisafs(rootConf)) {
    out.push({ fd: fds.shift() as number, hostPath: "/", policy: policy(!!spec.root.readonly || usesOverlay(rootConf)) });
  }
  let idx = 1;
  for (const m of spec.mounts ?? []) {
    if (!hasMountConfig(m, today)) continue;
    const mc = args.mountConfs[idx++];
    if (!usesLisafs(mc)) continue;
    const fd = fds.shift();
    if (fd === undefined) fatal(`no FD found for mount. Did you forget --io-fd? FDs: ${args.ioFds.length}, Mount: ${JSON.stringify(m)}`);
    out.push({ fd, hostPath: pathBytes(m.destination), policy: policy(isReadonlyMount(m) || usesOverlay(mc)) });
  }
  if (fds.length > 0) fatal(`too many FDs passed for mounts. mounts: ${out.length}, FDs: ${args.ioFds.length}`);
  if (args.devIoFd >= 0) out.push({ fd: args.devIoFd, hostPath: "/dev", policy: policy(false, true) });
  for (const s of out) {
    if (libc.socketType(s.fd) < 0) fatal(`io FD ${s.fd} is not a socket; runsc passes a connected socket for each lisafs mount`);
  }
  return out;
}

function inheritedFds(args: RunscArgs, conf: RunscConfig, procMountSyncFd: number): number[] {
  const fds = [
    args.specFd,
    args.mountsFd,
    args.devIoFd,
    procMountSyncFd,
    args.pinRingFd,
    args.sentryExitSyncFd,
    conf.logFd,
    conf.debugLogFd,
    ...args.ioFds,
    ...args.profileFds,
  ];
  return fds.filter((fd) => fd >= 0);
}
