// The OCI spec as runsc's gofer reads it: from --spec-fd, relative paths made
// absolute against the bundle, and the bind mounts the gofer serves ("gofer
// mounts") picked out in spec order.
import { bytesToText } from "../argv";
import * as hostpath from "../host/hostpath";
import { isAbsolute, join, normalize, relative } from "../pathname";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { RunscUsageError } from "./args";

export interface SpecMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  [other: string]: unknown;
}

export interface Spec {
  root: { path: string; readonly?: boolean };
  mounts?: SpecMount[];
  process?: { cwd?: string };
  linux?: { rootfsPropagation?: string };
  [other: string]: unknown;
}

const SPEC_MAX = 16 << 20;

/** Reads the whole spec file from `fd` (from offset 0, as it may be read twice). */
export function readSpec(fd: number, bundle: string): Spec {
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (;;) {
    const buf = new Uint8Array(65536);
    const n = libc.pread(fd, libc.addr(buf), buf.length, off);
    if (n < 0) throw new RunscUsageError(`reading the spec from --spec-fd ${fd}: errno ${-n}`);
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    off += n;
    if (off > SPEC_MAX) throw new RunscUsageError(`the spec on --spec-fd ${fd} is larger than ${SPEC_MAX} bytes`);
  }
  let spec: Spec;
  try {
    spec = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    throw new RunscUsageError(`the spec on --spec-fd ${fd} is not valid JSON: ${(err as Error).message}`);
  }
  if (!spec || typeof spec !== "object" || !spec.root || typeof spec.root.path !== "string" || spec.root.path === "")
    throw new RunscUsageError("the spec has no root.path");
  spec.root.path = absPath(bundle, spec.root.path);
  for (const m of spec.mounts ?? []) {
    if (typeof m.destination !== "string" || !isAbsolute(m.destination))
      throw new RunscUsageError(`Mount.Destination must be an absolute path: ${JSON.stringify(m)}`);
    if (m.source) m.source = absPath(bundle, m.source);
  }
  return spec;
}

const absPath = (base: string, p: string) => (isAbsolute(p) ? normalize(p) : join(base, p));

/** A bind mount with a source: served by the gofer (runsc's IsGoferMount). */
export function isGoferMount(m: SpecMount): boolean {
  const bind = m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
  return bind && !!m.source;
}

/** A mount runsc gives a --gofer-mount-confs entry: a gofer mount, and in
 * today's runsc also an erofs image (runsc's HasMountConfig). */
export function hasMountConfig(m: SpecMount, today: boolean): boolean {
  return isGoferMount(m) || (today && m.type === "erofs");
}

/** Today's runsc: a mount with both uid and gid mappings is id-mapped. */
export function isIdMappedMount(m: SpecMount): boolean {
  return Array.isArray(m.uidMappings) && m.uidMappings.length > 0 && Array.isArray(m.gidMappings) && m.gidMappings.length > 0;
}

export const isReadonlyMount = (m: SpecMount) => (m.options ?? []).includes("ro");

/** Walks `rel` under `root`, following symlinks as if `root` were `/`, so a
 * link in the image can never point a mount outside the root. */
export function resolveSymlinks(root: string, rel: string, follow = 255, base = root): string {
  if (follow === 0) throw new RunscUsageError(`too many symlinks to follow, path: ${join(base, rel)}`);
  for (const name of normalize(rel).split("/")) {
    if (name === "" || name === ".") continue;
    const path = join(base, name);
    if (!path.startsWith(root)) {
      // No ".." out of the root.
      base = root;
      continue;
    }
    const type = hostpath.fileType(pathBytes(path), false);
    if (type === -C.ENOENT) {
      base = path;
      continue;
    }
    if (type < 0) throw new RunscUsageError(`stat ${path}: errno ${-type}`);
    if (type === C.S_IFLNK) {
      const target = hostpath.readLink(pathBytes(path));
      if (typeof target === "number") throw new RunscUsageError(`readlink ${path}: errno ${-target}`);
      const link = bytesToText(target);
      base = resolveSymlinks(root, link, follow - 1, isAbsolute(link) ? root : base);
      continue;
    }
    base = path;
  }
  return base;
}

const OVERLAYFS_SUPER_MAGIC = 0x794c7630;
const NFS_SUPER_MAGIC = 0x6969;
const FUSE_SUPER_MAGIC = 0x65735546;

/** Options the sandbox needs to know about the host filesystem under a mount. */
export function adjustMountOptions(path: string, opts: string[], today: boolean): string[] {
  const out = [...opts];
  const type = hostpath.fsType(pathBytes(path));
  if (type < 0) throw new RunscUsageError(`statfs ${path}: errno ${-type}`);
  if (type === OVERLAYFS_SUPER_MAGIC) out.push("overlayfs_stale_read");
  // The sandbox shares host FDs between its files; NFS (and, for today's
  // runsc, FUSE) flushes on close(2), so sharing must be off there.
  else if (type === NFS_SUPER_MAGIC || (today && type === FUSE_SUPER_MAGIC)) out.push("disable_file_handle_sharing");
  return out;
}

/** The spec's mounts with each gofer mount's destination resolved inside
 * `root` (the mounts are in place by now), as the sandbox must see them. */
export function resolveMounts(mounts: SpecMount[], served: (m: SpecMount, goferIdx: number) => boolean, root: string, today: boolean): SpecMount[] {
  let idx = 1; // 0 is the root
  return mounts.map((m) => {
    if (!hasMountConfig(m, today)) return m;
    if (!served(m, idx++)) return m;
    const dst = resolveSymlinks(root, m.destination);
    const rel = relative(root, dst);
    const opts = adjustMountOptions(join(root, rel), m.options ?? [], today);
    const out: SpecMount = { ...m, destination: join("/", rel) };
    if (opts.length > 0) out.options = opts;
    return out;
  });
}

/** Writes the resolved mounts, as JSON, to runsc's mounts pipe. */
export function writeMounts(fd: number, mounts: SpecMount[]): void {
  const json = Buffer.from(JSON.stringify(mounts.map(goMountJson)), "utf8");
  // A pipe holds 64 KiB; grow it so a long mount list cannot block us while
  // the sandbox waits on us for something else.
  if (json.length > 60000) libc.fcntl(fd, 1031 /* F_SETPIPE_SZ */, Math.min(json.length + 4096, 1 << 20));
  const buf = new Uint8Array(json.buffer, json.byteOffset, json.length);
  let off = 0;
  while (off < buf.length) {
    const n = libc.writeFd(fd, libc.addr(buf) + off, buf.length - off);
    if (n === -C.EINTR) continue;
    if (n < 0) throw new RunscUsageError(`writing the mount list to --mounts-fd ${fd}: errno ${-n}`);
    off += n;
  }
  libc.close(fd);
}

// Field order and omitempty as Go's specs.Mount marshals it.
function goMountJson(m: SpecMount): object {
  const o: Record<string, unknown> = { destination: m.destination };
  if (m.type) o.type = m.type;
  if (m.source) o.source = m.source;
  if (m.options && m.options.length > 0) o.options = m.options;
  for (const k of ["uidMappings", "gidMappings"]) {
    const v = m[k];
    if (Array.isArray(v) && v.length > 0) o[k] = v;
  }
  return o;
}

// ---- issue 14 (byte-exact paths): spec paths are text (JSON); the host
// layer's libc calls take byte strings (one char per byte, written to the
// syscall as they are). A spec path goes through this where it reaches
// them.
/** The UTF-8 bytes of a spec path, as a byte string for libc.openat & co. */
export function pathBytes(p: string): string {
  return Buffer.from(p, "utf8").toString("latin1");
}
