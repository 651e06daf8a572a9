// --setup-root: build the gofer's view of the filesystem the way runsc's
// gofer does, inside the mount namespace runsc started us in. A tmpfs at
// /proc/fs becomes the new root; it holds proc (to re-exec and to find our
// FDs), fs (our /proc/self/fd, bind-mounted so ".." cannot climb out of it),
// etc/localtime, and root: the container's rootfs with every gofer mount
// bound at its (symlink-resolved) destination. After pivot_root the host's
// tree is gone from our view.
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, readlinkSync, readSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { dlopen } from "bun:ffi";
import type { Logger } from "../log";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { type GoferMountConf, usesLisafs, usesOverlay } from "./args";
import { isGoferMount, isReadonlyMount, resolveSymlinks, type Spec } from "./spec";
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
    // As runsc: "set" options OR in, "clear" options toggle.
    v = m[0] ? v | m[1] : v ^ m[1];
  }
  return v >>> 0;
}
export const optionsToFlags = (opts: string[]) => toFlags(opts, OPTION_FLAGS);
export const propagationToFlags = (opts: string[]) => toFlags(opts, PROPAGATION_FLAGS);

function check(rc: number, what: string): void {
  if (rc < 0) throw new SetupError(`${what}: errno ${-rc}`);
}

/** mount(2) onto `dst` through the /proc link of an FD opened on it, after
 * checking that FD is `dst` itself: a symlink swapped into the path cannot
 * redirect the mount elsewhere. */
export function safeMount(src: string | null, dst: string, fstype: string | null, flags: number, procPath: string): void {
  const fd = libc.openat(C.AT_FDCWD, dst, C.O_PATH | C.O_CLOEXEC);
  check(fd, `open ${dst} for mounting`);
  try {
    const link = join(procPath, "self/fd", String(fd));
    const target = readlinkSync(link);
    if (target !== dst) throw new SetupError(`failed to safely mount: expected to open ${dst}, but found ${target}`);
    check(libc.mount(src, link, fstype, flags), `mount ${src ?? ""} on ${dst} (flags ${flags.toString(16)})`);
  } finally {
    libc.close(fd);
  }
}

/** Creates the mount point (a directory, or a file for a file source) and mounts. */
function safeSetupAndMount(src: string, dst: string, fstype: string | null, flags: number, procPath: string): void {
  if (statSync(src).isDirectory()) {
    mkdirSync(dst, { recursive: true, mode: 0o777 });
  } else {
    mkdirSync(dirname(dst), { recursive: true, mode: 0o777 });
    closeSync(openSync(dst, "a", 0o777));
  }
  safeMount(src, dst, fstype, flags, procPath);
}

export interface SetupOptions {
  spec: Spec;
  mountConfs: GoferMountConf[];
  serveDev: boolean;
  /** --TESTONLY-unsafe-nonroot: no new root; mount in place. */
  inPlace: boolean;
  log: Logger;
}

export function setupRootFs(o: SetupOptions): void {
  const { spec, log } = o;
  // Nothing we mount may propagate back to the host's namespace.
  safeMount(null, "/", null, C.MS_SLAVE | C.MS_REC, "/proc");
  let root = spec.root.path;
  let procPath = "/proc";
  if (!o.inPlace) {
    const flags = C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC;
    safeMount("runsc-root", PROC_FD_BIND, "tmpfs", flags, "/proc");
    check(libc.mount(null, PROC_FD_BIND, null, C.MS_UNBINDABLE), "make /proc/fs unbindable");
    for (const d of ["proc", "root", "etc"]) mkdirSync(join(PROC_FD_BIND, d), { mode: 0o755 });
    check(libc.mount("/proc", "/proc/fs/proc", null, flags | C.MS_RDONLY | C.MS_BIND | C.MS_REC), "bind /proc");
    // Bound (not opened) so the FD we keep cannot be walked up with "..".
    check(libc.mount("/proc/fs/proc/self/fd", `/proc/fs${PROC_FD_BIND}`, null, C.MS_RDONLY | C.MS_BIND | flags), "bind /proc/self/fd");
    try {
      copyFileSync("/etc/localtime", "/proc/fs/etc/localtime");
    } catch (err) {
      log.warn({ err: (err as Error).message }, "cannot copy /etc/localtime; UTC will be used");
    }
    root = "/proc/fs/root";
    procPath = "/proc/fs/proc";
  }
  const rootConf = o.mountConfs[0];
  if (usesLisafs(rootConf)) {
    safeMount(spec.root.path, root, "bind", C.MS_BIND | C.MS_REC, procPath);
    let prop = C.MS_SLAVE | C.MS_REC;
    if (spec.linux?.rootfsPropagation) prop = propagationToFlags([spec.linux.rootfsPropagation]);
    safeMount(null, root, null, prop, procPath);
  }
  let idx = 1;
  for (const m of spec.mounts ?? []) {
    if (!isGoferMount(m)) continue;
    const conf = o.mountConfs[idx++];
    if (!conf || !usesLisafs(conf)) continue;
    const dst = resolveSymlinks(root, m.destination);
    let flags = optionsToFlags(m.options ?? []) | C.MS_BIND;
    // Writes go to the sandbox's overlay, never here.
    if (usesOverlay(conf)) flags |= C.MS_RDONLY;
    log.info({ src: m.source, dst, flags }, "mounting");
    safeSetupAndMount(m.source as string, dst, m.type ?? null, flags, procPath);
    const prop = propagationToFlags(m.options ?? []);
    if (prop !== 0) safeMount(null, dst, null, prop, procPath);
    // A bind mount ignores MS_RDONLY (and runsc's option table even turns
    // "rw" into it); runsc leaves the bind writable and relies on the
    // protocol check. For a mount served read-only we also make the host
    // refuse, where the kernel lets us.
    if (isReadonlyMount(m) || usesOverlay(conf)) remountReadonly(dst, flags, procPath, log);
  }
  if (o.serveDev) mkdirSync(join(root, "dev"), { recursive: true, mode: 0o777 });
  const cwd = spec.process?.cwd;
  if (cwd) mkdirSync(resolveSymlinks(root, cwd), { recursive: true, mode: 0o755 });
  if (usesLisafs(rootConf) && (spec.root.readonly || usesOverlay(rootConf))) {
    log.info({ root }, "remounting root read-only");
    safeMount(root, root, "bind", C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV, procPath);
  }
  if (!o.inPlace) {
    libraryPath = bindLoaderFiles(PROC_FD_BIND, log);
    pivotRoot(PROC_FD_BIND);
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
    mkdirSync(dir, { mode: 0o755 });
    check(libc.mount("umounter", dir, "tmpfs", C.MS_NOSUID | C.MS_NODEV, "size=16k,mode=755"), "tmpfs for the umounter");
    writeFileSync(join(newRoot, UMOUNTER_IN_NEW_ROOT), elf, { mode: 0o755 });
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
  const exe = readlinkSync("/proc/self/exe");
  // Our own binary too, for starting the umounter by path.
  closeSync(openSync(join(newRoot, SELF_IN_NEW_ROOT), "a", 0o755));
  check(libc.mount(exe, join(newRoot, SELF_IN_NEW_ROOT), null, C.MS_BIND), "bind our binary into the new root");
  libc.mount(null, join(newRoot, SELF_IN_NEW_ROOT), null, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV);
  haveSmallUmounter = bindSmallUmounter(newRoot, log);
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const path = line.slice(line.indexOf("/"));
    if (line.includes("/") && path !== exe && /\.so(\.|$)/.test(path)) files.add(path);
  }
  const dirs = new Set<string>();
  for (const f of files) {
    const dst = join(newRoot, f);
    mkdirSync(dirname(dst), { recursive: true, mode: 0o755 });
    closeSync(openSync(dst, "a", 0o644));
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
  const fd = openSync(path, "r");
  const elf = Buffer.alloc(1 << 16);
  const n = readSync(fd, elf, 0, elf.length, 0);
  closeSync(fd);
  if (n < 64) return "";
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
    return Buffer.from(elf.subarray(off, off + size)).toString("latin1").replace(/\0.*$/s, "");
  }
  return "";
}

function remountReadonly(dst: string, flags: number, procPath: string, log: Logger): void {
  const keep = flags & (C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC);
  try {
    safeMount(null, dst, null, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | keep, procPath);
  } catch (err) {
    // Flags locked by the source mount (e.g. nosuid) make the kernel refuse.
    log.info({ dst, err: (err as Error).message }, "read-only bind remount refused; the gofer still refuses writes");
  }
}

/** Makes `dir` the root: pivot_root(".", ".") stacks the old root on the new
 * one, and detaching it leaves only the new root in view. */
function pivotRoot(dir: string): void {
  check(libc.chdir(dir), `chdir ${dir}`);
  check(libc.pivotRoot(".", "."), "pivot_root (the root mount needs a parent)");
  check(libc.umount2(".", C.MNT_DETACH), "detach the old root");
  check(libc.chdir("/"), "chdir /");
}
