// --setup-root: build the gofer's view of the filesystem the way runsc's
// gofer does, inside the mount namespace runsc started us in. A tmpfs at
// /proc/fs becomes the new root; it holds proc (to re-exec and to find our
// FDs), fs (our /proc/self/fd, bind-mounted so ".." cannot climb out of it),
// etc/localtime, and root: the container's rootfs with every gofer mount
// bound at its (symlink-resolved) destination. After pivot_root the host's
// tree is gone from our view.
import { byteString } from "../ffi/bytestring";
import { dirname, join } from "../pathname";
import * as hostpath from "../host/hostpath";
import { dlopen } from "bun:ffi";
import type { Logger } from "../log";
import * as C from "../ffi/constants";
import { Statfs } from "../ffi/layout";
import * as libc from "../ffi/libc";
import { type GoferMountConf, usesLisafs, usesOverlay } from "./args";
import { hasMountConfig, isIdMappedMount, pathBytes, resolveSymlinks, type Spec, type SpecMount } from "./spec";
import { umounterElf } from "./umounter-elf";

export class SetupError extends Error {}

/** Where our /proc/self/fd is bind-mounted (runsc's procFDBindMount). */
export const PROC_FD_BIND = "/proc/fs";

const OPTION_FLAGS: Record<string, [boolean, number]> = {
  acl: [true, C.MS_POSIXACL],
  async: [false, C.MS_SYNCHRONOUS],
  atime: [false, C.MS_NOATIME],
  bind: [true, C.MS_BIND],
  defaults: [true, 0],
  dev: [false, C.MS_NODEV],
  diratime: [false, C.MS_NODIRATIME],
  dirsync: [true, C.MS_DIRSYNC],
  exec: [false, C.MS_NOEXEC],
  noexec: [true, C.MS_NOEXEC],
  iversion: [true, C.MS_I_VERSION],
  loud: [false, C.MS_SILENT],
  mand: [true, C.MS_MANDLOCK],
  noacl: [false, C.MS_POSIXACL],
  noatime: [true, C.MS_NOATIME],
  nodev: [true, C.MS_NODEV],
  nodiratime: [true, C.MS_NODIRATIME],
  noiversion: [false, C.MS_I_VERSION],
  nomand: [false, C.MS_MANDLOCK],
  norelatime: [false, C.MS_RELATIME],
  nostrictatime: [false, C.MS_STRICTATIME],
  nosuid: [true, C.MS_NOSUID],
  rbind: [true, C.MS_BIND | C.MS_REC],
  relatime: [true, C.MS_RELATIME],
  remount: [true, C.MS_REMOUNT],
  ro: [true, C.MS_RDONLY],
  rw: [false, C.MS_RDONLY],
  silent: [true, C.MS_SILENT],
  strictatime: [true, C.MS_STRICTATIME],
  suid: [false, C.MS_NOSUID],
  sync: [true, C.MS_SYNCHRONOUS],
};
const PROPAGATION_FLAGS: Record<string, [boolean, number]> = {
  private: [true, C.MS_PRIVATE],
  rprivate: [true, C.MS_PRIVATE | C.MS_REC],
  slave: [true, C.MS_SLAVE],
  rslave: [true, C.MS_SLAVE | C.MS_REC],
  unbindable: [true, C.MS_UNBINDABLE],
  runbindable: [true, C.MS_UNBINDABLE | C.MS_REC],
};

function toFlags(opts: string[], table: Record<string, [boolean, number]>): number {
  let v = 0;
  for (const o of opts) {
    const m = table[o];
    if (!m) continue;
    // "set" options OR in, "clear" options clear (20240729's runsc toggled
    // them instead; only a remount can tell, and that runsc never remounted
    // with these flags).
    v = m[0] ? v | m[1] : v & ~m[1];
  }
  return v >>> 0;
}
export const optionsToFlags = (opts: string[]) => toFlags(opts, OPTION_FLAGS);
export const propagationToFlags = (opts: string[]) => toFlags(opts, PROPAGATION_FLAGS);

function check(rc: number, what: string): void {
  if (rc < 0) throw new SetupError(`${what}: errno ${-rc}`);
}

/** Opens `dst` (O_PATH) and runs `op` on that FD and its /proc link, after
 * checking the FD is `dst` itself: a symlink swapped into the path cannot
 * redirect a mount elsewhere. */
function onVerifiedTarget(dst: string, procPath: string, what: string, op: (fd: number, link: string) => void): void {
  const fd = libc.openat(C.AT_FDCWD, pathBytes(dst), C.O_PATH | C.O_CLOEXEC);
  check(fd, `open ${dst} for ${what}`);
  try {
    const link = join(procPath, "self/fd", String(fd));
    const target = hostpath.readLink(link);
    if (typeof target === "number") throw new SetupError(`failed to safely ${what}: readlink ${link}: errno ${-target}`);
    if (target !== pathBytes(dst)) throw new SetupError(`failed to safely ${what}: expected to open ${dst}, but found ${target}`);
    op(fd, link);
  } finally {
    libc.close(fd);
  }
}

/** mount(2) onto `dst` through the /proc link of an FD verified to be it. */
export function safeMount(src: string | null, dst: string, fstype: string | null, flags: number, procPath: string): void {
  onVerifiedTarget(dst, procPath, "mount", (_fd, link) =>
    check(libc.mount(src, link, fstype, flags), `mount ${src ?? ""} on ${dst} (flags ${flags.toString(16)})`),
  );
}

/** Creates the mount point: a directory, or a file for a file source. */
function makeMountPoint(src: string, dst: string): void {
  const type = hostpath.fileType(pathBytes(src), true);
  check(type, `stat ${src}`);
  if (type === C.S_IFDIR) {
    check(hostpath.mkdirAll(pathBytes(dst), 0o777), `mkdir ${dst}`);
  } else {
    check(hostpath.mkdirAll(pathBytes(dirname(dst)), 0o777), `mkdir ${dirname(dst)}`);
    check(hostpath.touch(pathBytes(dst), 0o777), `create ${dst}`);
  }
}

/** Creates the mount point and mounts. */
function safeSetupAndMount(src: string, dst: string, fstype: string | null, flags: number, procPath: string): void {
  makeMountPoint(src, dst);
  safeMount(src, dst, fstype, flags, procPath);
}

export interface SetupOptions {
  spec: Spec;
  mountConfs: GoferMountConf[];
  serveDev: boolean;
  /** --TESTONLY-unsafe-nonroot: no new root; mount in place. */
  inPlace: boolean;
  /** The process will re-execute itself inside the new root: bring what that needs. */
  reexec: boolean;
  /** Today's runsc: erofs mounts have a mount conf; CreateContainer hooks run here. */
  today: boolean;
  /** Today's runsc: opens a mount source we cannot (or an id-mapped one) and returns its FD. */
  openMount?: (m: SpecMount, flags: number) => number;
  containerId?: string;
  bundle: string;
  log: Logger;
}

/** A mount's remount, run once every mount point exists (a read-only mount
 * made earlier would stop later mount points from being created). */
interface PendingRemount {
  dst: string;
  fd: number;
  flags: number;
}

export function setupRootFs(o: SetupOptions): void {
  const { spec, log } = o;
  // Nothing we mount may propagate back to the host's namespace.
  safeMount(null, "/", null, C.MS_SLAVE | C.MS_REC, "/proc");
  let goferRoot = spec.root.path;
  let containerRoot = spec.root.path;
  let procPath = "/proc";
  if (!o.inPlace) {
    const flags = C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC;
    safeMount("runsc-root", PROC_FD_BIND, "tmpfs", flags, "/proc");
    check(libc.mount(null, PROC_FD_BIND, null, C.MS_UNBINDABLE), "make /proc/fs unbindable");
    for (const d of ["proc", "root", "etc"]) check(libc.mkdirat(C.AT_FDCWD, join(PROC_FD_BIND, d), 0o755), `mkdir ${join(PROC_FD_BIND, d)}`);
    check(libc.mount("/proc", "/proc/fs/proc", null, flags | C.MS_RDONLY | C.MS_BIND | C.MS_REC), "bind /proc");
    // Bound (not opened) so the FD we keep cannot be walked up with "..".
    check(libc.mount("/proc/fs/proc/self/fd", `/proc/fs${PROC_FD_BIND}`, null, C.MS_RDONLY | C.MS_BIND | flags), "bind /proc/self/fd");
    const localtime = hostpath.readFile("/etc/localtime", 1 << 20);
    const rc = typeof localtime === "number" ? localtime : hostpath.writeFile("/proc/fs/etc/localtime", localtime, 0o644);
    if (rc < 0) log.warn({ errno: -rc }, "cannot copy /etc/localtime; UTC will be used");
    goferRoot = "/proc/fs/root";
    procPath = "/proc/fs/proc";
  }
  const rootConf = o.mountConfs[0];
  if (usesLisafs(rootConf)) {
    // The rootfs is prepared in place (hooks expect it at root.path), as a
    // mount point of its own, then bound into the new root.
    check(libc.mount(containerRoot, containerRoot, null, C.MS_BIND | C.MS_REC), `self-bind the rootfs ${containerRoot}`);
    let prop = C.MS_SLAVE | C.MS_REC;
    if (spec.linux?.rootfsPropagation) prop = propagationToFlags([spec.linux.rootfsPropagation]);
    check(libc.mount(null, containerRoot, null, prop), `set the rootfs's propagation (${prop.toString(16)})`);
  } else {
    // No gofer root: mounts go straight into the new root's empty directory.
    containerRoot = goferRoot;
  }
  const pending: PendingRemount[] = [];
  try {
    setupMounts(o, containerRoot, procPath, pending);
  } finally {
    applyRemounts(pending, o, log);
  }
  if (o.serveDev) check(hostpath.mkdirAll(pathBytes(join(containerRoot, "dev")), 0o777), "mkdir /dev in the root");
  const cwd = spec.process?.cwd;
  if (cwd) check(hostpath.mkdirAll(pathBytes(resolveSymlinks(containerRoot, cwd)), 0o755), `mkdir the working directory ${cwd}`);
  if (usesLisafs(rootConf)) {
    if (o.today) runCreateContainerHooks(o);
    safeMount(containerRoot, goferRoot, null, C.MS_BIND | C.MS_REC, procPath);
    if (spec.root.readonly || usesOverlay(rootConf)) {
      log.info({ root: goferRoot }, "remounting root read-only");
      safeMount(goferRoot, goferRoot, "bind", C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV, procPath);
    }
  }
  if (!o.inPlace) {
    if (o.reexec) libraryPath = bindLoaderFiles(PROC_FD_BIND, log);
    pivotRoot(PROC_FD_BIND);
  }
}

/** Binds each gofer mount at its symlink-resolved destination under `root`. */
function setupMounts(o: SetupOptions, root: string, procPath: string, pending: PendingRemount[]): void {
  let idx = 1;
  for (const m of o.spec.mounts ?? []) {
    if (!hasMountConfig(m, o.today)) continue;
    const conf = o.mountConfs[idx++];
    if (!conf || !usesLisafs(conf)) continue;
    const dst = resolveSymlinks(root, m.destination);
    let flags = optionsToFlags(m.options ?? []) | C.MS_BIND;
    // Writes go to the sandbox's overlay, never here.
    if (usesOverlay(conf)) flags |= C.MS_RDONLY;
    const idMapped = o.today && isIdMappedMount(m);
    o.log.info({ src: m.source, dst, flags, idMapped }, "mounting");
    let src = m.source as string;
    let srcFd = -1;
    if (idMapped || (o.today && libc.access(src, C.R_OK) < 0)) {
      if (!o.openMount) throw new SetupError(`cannot access mount source ${src} (or it is id-mapped) and runsc gave no --rpc-fd to open it`);
      srcFd = o.openMount(m, flags);
      src = `${procPath}/self/fd/${srcFd}`;
    }
    try {
      if (idMapped) safeSetupAndMoveMount(srcFd, src, dst, procPath);
      else safeSetupAndMount(src, dst, m.type ?? null, flags, procPath);
    } finally {
      if (srcFd >= 0) libc.close(srcFd);
    }
    const fd = libc.openat(C.AT_FDCWD, pathBytes(dst), C.O_PATH | C.O_CLOEXEC);
    check(fd, `open ${dst} after mounting`);
    pending.push({ dst, fd, flags });
    const prop = propagationToFlags(m.options ?? []);
    if (prop !== 0) safeMount(null, dst, null, prop, procPath);
  }
}

// statfs f_flags (ST_*) that the kernel keeps locked on a bind, with the
// mount flag that keeps each.
const LOCKED_FLAGS: [number, number][] = [
  [1 /* ST_RDONLY */, C.MS_RDONLY],
  [8 /* ST_NOEXEC */, C.MS_NOEXEC],
  [4 /* ST_NODEV */, C.MS_NODEV],
  [1024 /* ST_NOATIME */, C.MS_NOATIME],
  [2048 /* ST_NODIRATIME */, C.MS_NODIRATIME],
  [4096 /* ST_RELATIME */, C.MS_RELATIME],
];

/** A plain bind ignores the mount's options: remount each bind with them
 * (read-only included), nosuid always, keeping the flags its source locks. */
function applyRemounts(pending: PendingRemount[], o: SetupOptions, log: Logger): void {
  for (const p of pending.reverse()) {
    try {
      const st = new BigInt64Array(Statfs.size / 8);
      check(libc.fstatfs(p.fd, libc.addr(st)), `statfs ${p.dst}`);
      const stFlags = Number(st[Statfs.flags / 8]);
      let locked = 0;
      for (const [stf, ms] of LOCKED_FLAGS) if ((stFlags & stf) === stf) locked |= ms;
      if ((locked & (C.MS_NOATIME | C.MS_RELATIME)) === 0) locked |= C.MS_STRICTATIME;
      const flags = (p.flags | locked | C.MS_NOSUID | C.MS_REMOUNT) >>> 0;
      const rc = libc.mount(null, `/proc/self/fd/${p.fd}`, null, flags);
      if (rc < 0) {
        // 20240729's runsc did not remount; today's fails the start.
        if (o.today) throw new SetupError(`remount ${p.dst} (flags ${flags.toString(16)}): errno ${-rc}`);
        log.info({ dst: p.dst, errno: -rc }, "remount of a bind with its options refused; the gofer still refuses writes to read-only mounts");
      }
    } finally {
      libc.close(p.fd);
    }
  }
  pending.length = 0;
}

/** Today's runsc: an id-mapped mount arrives as a detached tree (open_tree
 * by runsc, mapping applied); it is moved into place, never re-bound. */
function safeSetupAndMoveMount(treeFd: number, src: string, dst: string, procPath: string): void {
  makeMountPoint(src, dst);
  onVerifiedTarget(dst, procPath, "move mount", (fd) => check(libc.moveMount(treeFd, fd), `move_mount onto ${dst}`));
}

interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** The spec's CreateContainer hooks, as today's runsc's gofer runs them:
 * once the rootfs is prepared at root.path, with the OCI state on stdin. */
function runCreateContainerHooks(o: SetupOptions): void {
  const hooks = ((o.spec.hooks as { createContainer?: Hook[] } | undefined)?.createContainer ?? []) as Hook[];
  if (hooks.length === 0) return;
  const state = JSON.stringify({
    ociVersion: "1.1.0",
    id: o.containerId ?? "",
    status: "creating",
    pid: -1,
    bundle: o.bundle,
    annotations: o.spec.annotations ?? undefined,
  });
  for (const h of hooks) {
    if (typeof h.path !== "string" || h.path.trim() === "") throw new SetupError("error executing CreateContainer hooks: empty path for hook");
    if (!h.path.startsWith("/")) throw new SetupError(`error executing CreateContainer hooks: path for hook is not absolute: ${JSON.stringify(h.path)}`);
    // As runsc: NVIDIA's hooks do not understand gVisor's split.
    if (h.path.endsWith("/nvidia-container-runtime-hook")) continue;
    if (h.path.endsWith("/nvidia-cdi-hook") && (h.args ?? []).includes("disable-device-node-modification")) continue;
    o.log.debug({ hook: h }, "executing CreateContainer hook");
    const args = h.args && h.args.length > 0 ? h.args : [h.path];
    const r = Bun.spawnSync([h.path, ...args.slice(1)], {
      argv0: args[0],
      env: Object.fromEntries((h.env ?? []).map((e) => [e.slice(0, Math.max(0, e.indexOf("="))), e.slice(e.indexOf("=") + 1)])),
      stdin: Buffer.from(state),
      stdout: "pipe",
      stderr: "pipe",
      timeout: h.timeout && h.timeout > 0 ? h.timeout * 1000 : undefined,
    });
    if (!r.success) {
      throw new SetupError(
        `error executing CreateContainer hooks: ${h.path}: exit ${r.exitCode ?? r.signalCode}, stdout: ${r.stdout?.toString() ?? ""}, stderr: ${r.stderr?.toString() ?? ""}`,
      );
    }
  }
}

// Bun's runtime opens these at start (random seeds, stdio fallback).
const RUNTIME_DEVICES = ["/dev/null", "/dev/urandom"];

/** Where our binary is bound in the new root. */
export const SELF_IN_NEW_ROOT = "/gofer";
/** Where the small umounter program is bound in the new root, when there is
 * one for this architecture (umounter-elf.ts). */
export const UMOUNTER_IN_NEW_ROOT = "/umounter/umount-proc";
export let haveSmallUmounter = false;

/** LD_LIBRARY_PATH for re-executing ourselves inside the new root. */
export let libraryPath = "";

/** Our binary is dynamically linked (runsc's is static): to re-execute it
 * inside the new root, its ELF interpreter and the shared libraries it has
 * loaded must be there. Each is bind-mounted read-only at its own path;
 * returns their directories, for LD_LIBRARY_PATH. After the chroot to the
 * container's root they are out of view again. */
/** Puts the small umounter in the new root, at UMOUNTER_IN_NEW_ROOT, on a
 * tmpfs of its own (the new root's is noexec; a memfd cannot be bound,
 * being in no mount namespace), read-only once written. False if there is
 * none for this architecture or a step fails: the Bun umounter is used then. */
function bindSmallUmounter(newRoot: string, log: Logger): boolean {
  const elf = umounterElf();
  if (!elf) return false;
  const dir = join(newRoot, dirname(UMOUNTER_IN_NEW_ROOT));
  try {
    check(libc.mkdirat(C.AT_FDCWD, dir, 0o755), `mkdir ${dir}`);
    check(libc.mount("umounter", dir, "tmpfs", C.MS_NOSUID | C.MS_NODEV, "size=16k,mode=755"), "tmpfs for the umounter");
    check(hostpath.writeFile(join(newRoot, UMOUNTER_IN_NEW_ROOT), elf, 0o755), "write the umounter");
    check(libc.mount(null, dir, null, C.MS_REMOUNT | C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV), "read-only umounter tmpfs");
    return true;
  } catch (err) {
    log.info({ err: (err as Error).message }, "no small umounter; the gofer binary serves as one");
    return false;
  }
}

function bindLoaderFiles(newRoot: string, log: Logger): string {
  // glibc loads libgcc_s on demand (unwinding, thread exit); load it now so
  // it is among the mapped files below.
  try {
    dlopen("libgcc_s.so.1", {});
  } catch {
    log.info("libgcc_s.so.1 not found; continuing without it");
  }
  const files = new Set<string>(RUNTIME_DEVICES);
  const interp = elfInterpreter("/proc/self/exe");
  if (interp) files.add(interp);
  const exe = hostpath.readLink("/proc/self/exe");
  if (typeof exe === "number") throw new SetupError(`readlink /proc/self/exe: errno ${-exe}`);
  // Our own binary too, for starting the umounter by path.
  check(hostpath.touch(join(newRoot, SELF_IN_NEW_ROOT), 0o755), "create the binary's mount point");
  check(libc.mount(exe, join(newRoot, SELF_IN_NEW_ROOT), null, C.MS_BIND), "bind our binary into the new root");
  libc.mount(null, join(newRoot, SELF_IN_NEW_ROOT), null, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV);
  haveSmallUmounter = bindSmallUmounter(newRoot, log);
  const maps = hostpath.readFile("/proc/self/maps");
  if (typeof maps === "number") throw new SetupError(`read /proc/self/maps: errno ${-maps}`);
  // Byte strings: a library's path is passed to mount(2) as it is.
  for (const line of byteString(maps, 0, maps.length).split("\n")) {
    const path = line.slice(line.indexOf("/"));
    if (line.includes("/") && path !== exe && /\.so(\.|$)/.test(path)) files.add(path);
  }
  const dirs = new Set<string>();
  for (const f of files) {
    const dst = join(newRoot, f);
    check(hostpath.mkdirAll(dirname(dst), 0o755), `mkdir ${dirname(dst)}`);
    check(hostpath.touch(dst, 0o644), `create ${dst}`);
    check(libc.mount(f, dst, null, C.MS_BIND), `bind ${f} for re-executing`);
    const isDevice = RUNTIME_DEVICES.includes(f);
    const rc = libc.mount(null, dst, null, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | C.MS_NOSUID | (isDevice ? C.MS_NOEXEC : C.MS_NODEV));
    if (rc < 0) log.info({ file: f, errno: -rc }, "read-only remount of a loader file refused");
    if (f !== interp && !isDevice) dirs.add(dirname(f));
  }
  return [...dirs].join(":");
}

/** PT_INTERP of an ELF file, or "" (static). */
function elfInterpreter(path: string): string {
  const elf = hostpath.readFile(path, 1 << 16);
  if (typeof elf === "number" || elf.length < 64) return "";
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (v.getUint32(0) !== 0x7f454c46) return "";
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length) break;
    if (v.getUint32(ph, true) !== 3 /* PT_INTERP */) continue;
    const off = Number(v.getBigUint64(ph + 8, true));
    const size = Number(v.getBigUint64(ph + 32, true));
    return byteString(elf, off, Math.min(off + size, elf.length)).replace(/\0.*$/s, "");
  }
  return "";
}

/** Makes `dir` the root: pivot_root(".", ".") stacks the old root on the new
 * one, and detaching it leaves only the new root in view. */
function pivotRoot(dir: string): void {
  check(libc.chdir(dir), `chdir ${dir}`);
  check(libc.pivotRoot(".", "."), "pivot_root (the root mount needs a parent)");
  check(libc.umount2(".", C.MNT_DETACH), "detach the old root");
  check(libc.chdir("/"), "chdir /");
}
