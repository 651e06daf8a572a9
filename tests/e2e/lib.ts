// Helpers for the end-to-end tests: run real gVisor sandboxes (runsc) once
// with gVisor's own gofer and once with the gofer under test, and compare
// what the sandbox printed and what it left on the host.
//
// Nothing here builds dist/gofer: the gofer under test is used as it is.
import { dlopen, FFIType } from "bun:ffi";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const REPO = path.resolve(import.meta.dir, "../..");
export const IS_ROOT = process.getuid?.() === 0;

/**
 * A runsc with the RUNSC_GOFER_OVERRIDE test hook, and which gVisor it is
 * (the tests' expectations follow each version's reference gofer).
 */
export interface Runsc {
  /** "20240729" or "today": names the describe block and selects the version's expectations. */
  name: Version;
  path: string;
  /** A program that, exec'd with runsc's gofer argv, is this runsc's own gofer (GOFER_UNDER_TEST=reference). */
  reference: string;
  /** The gofer under test for this runsc (GOFER_UNDER_TEST, or `reference`). */
  gofer: string;
}
export type Version = "20240729" | "today";

const HOME = process.env.GVISOR_REF_HOME ?? "/opt/gvisor-ref";
const KNOWN: Record<Version, { path: string; reference: string }> = {
  // runsc-stock is 20240729's runsc without the hook; it runs its own gofer.
  "20240729": { path: `${HOME}/bin/runsc`, reference: `${HOME}/bin/runsc-stock` },
  // Today's hook unsets RUNSC_GOFER_OVERRIDE before the exec, so runsc-latest
  // exec'd as the gofer runs today's own gofer.
  today: { path: `${HOME}/bin/runsc-latest`, reference: `${HOME}/bin/runsc-latest` },
};
const ALIASES: Record<string, Version> = { "20240729": "20240729", today: "today", latest: "today" };

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * The runscs to test. RUNSC (comma-separated) picks some: a name
 * (`20240729`, `today` or its alias `latest`), `NAME=PATH` for another build
 * of that version, or the path of one of the known runscs. Default: both.
 */
export function selectRunscs(spec = process.env.RUNSC ?? "", goferSpec = process.env.GOFER_UNDER_TEST): Runsc[] {
  const items = spec.trim() === "" ? ["20240729", "today"] : spec.split(",").map((x) => x.trim()).filter((x) => x !== "");
  const out: Runsc[] = [];
  for (const item of items) {
    let name: Version | undefined;
    let p: string | undefined;
    const eq = item.indexOf("=");
    if (eq > 0 && ALIASES[item.slice(0, eq)]) {
      name = ALIASES[item.slice(0, eq)];
      p = path.resolve(item.slice(eq + 1));
    } else if (ALIASES[item]) {
      name = ALIASES[item];
      p = KNOWN[name].path;
    } else {
      const real = realpathOr(path.resolve(item));
      name = (Object.keys(KNOWN) as Version[]).find((v) => realpathOr(KNOWN[v].path) === real);
      if (!name) throw new Error(`RUNSC=${item}: not a known runsc; say which version it is, e.g. RUNSC=today=${item} or RUNSC=20240729=${item}`);
      p = path.resolve(item);
    }
    const reference = KNOWN[name].reference;
    const g = goferSpec ?? "dist/gofer";
    const gofer = g === "reference" ? reference : path.resolve(REPO, g);
    out.push({ name, path: p, reference, gofer });
  }
  return out;
}

/** Flags every runsc invocation gets (the state dir --root is added per run). */
export const BASE_FLAGS = ["--rootless=false", "--network=none", "--platform=ptrace"];
/** E2E_RUNSC_DEBUG_DIR=/dir: runsc, the sandbox and the gofer write debug logs there (runsc names the files). */
if (process.env.E2E_RUNSC_DEBUG_DIR) {
  BASE_FLAGS.push("--debug", `--debug-log=${path.resolve(process.env.E2E_RUNSC_DEBUG_DIR)}/`);
}

export type Which = "ref" | "test";
export const LABEL: Record<Which, string> = { ref: "reference gofer", test: "gofer under test" };

/** Throws unless runsc and the gofer under test are executable files. */
export function requireTools(rv: Runsc): void {
  for (const [what, p] of [
    [`runsc ${rv.name}`, rv.path],
    ["gofer under test (GOFER_UNDER_TEST)", rv.gofer],
  ]) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (!fs.statSync(p).isFile()) throw new Error("not a regular file");
    } catch (e) {
      throw new Error(`${what} ${p} is missing or not executable: ${(e as Error).message}`);
    }
  }
}

// ---- scratch space -------------------------------------------------------------

/**
 * A scratch directory (a tmpfs when root) holding bundles, runsc state dirs
 * and the host directories the sandboxes see. `tmpfs()` makes a fresh,
 * separately mounted directory so statfs numbers are the same from run to run.
 */
export class Scratch {
  readonly root: string;
  private mounts: string[] = [];
  private n = 0;

  constructor() {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-e2e-"));
    if (IS_ROOT) this.mountTmpfs(this.root, "512m");
  }

  private mountTmpfs(dir: string, size: string): void {
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "gofer-e2e", dir], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mount -t tmpfs ${dir} failed: ${r.stderr}`);
    this.mounts.push(dir);
  }

  /** A new empty directory under the scratch root. */
  dir(name: string): string {
    const d = path.join(this.root, `${name}-${++this.n}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
  }

  /** A new empty directory that is its own tmpfs of the given size (when root). */
  tmpfs(name: string, size = "64m"): string {
    const d = this.dir(name);
    if (IS_ROOT) this.mountTmpfs(d, size);
    return d;
  }

  cleanup(): void {
    // Mounts others made below the scratch root first, deepest first (today's
    // runsc bind-mounts the gofers' network namespace at STATE/null-netns).
    const others = fs
      .readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(`${this.root}/`) && !this.mounts.includes(m))
      .sort()
      .reverse();
    for (const m of others) spawnSync("umount", [m]);
    for (const m of this.mounts.reverse()) {
      const r = spawnSync("umount", [m], { encoding: "utf8" });
      if (r.status !== 0) spawnSync("umount", ["-l", m]);
    }
    this.mounts = [];
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

// ---- running runsc ---------------------------------------------------------------

export interface RunResult {
  which: Which;
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Gofer processes of this sandbox still alive a few seconds after runsc returned. */
  leftovers: string[];
}

let idCounter = 0;
export function uniqueId(tag: string): string {
  return `e2e-${process.pid}-${++idCounter}-${tag}`;
}

function envFor(rv: Runsc, which: Which): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  delete env.RUNSC_GOFER_OVERRIDE;
  if (which === "test") env.RUNSC_GOFER_OVERRIDE = rv.gofer;
  return env;
}

/** Runs runsc with stdout/stderr on pipes (never a file: gVisor would write it from offset 0). */
export async function spawnRunsc(
  rv: Runsc,
  which: Which,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; onStart?: (pid: number) => void } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number; timedOut: boolean }> {
  requireTools(rv);
  const t0 = performance.now();
  const p = Bun.spawn([rv.path, ...args], {
    cwd: opts.cwd ?? os.tmpdir(),
    env: envFor(rv, which),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  opts.onStart?.(p.pid);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    p.kill("SIGKILL");
  }, opts.timeoutMs ?? 90_000);
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(timer);
  return { code: timedOut ? null : code, stdout, stderr, ms: Math.round(performance.now() - t0), timedOut };
}

/** argv of a live process (empty if it has gone). */
function cmdline(pid: string): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").filter((s) => s !== "");
  } catch {
    return [];
  }
}

function exeOf(pid: string): string {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return "";
  }
}

/**
 * Whether a process is a gofer of `rv`: its argv has the `gofer` subcommand,
 * or its exe is the gofer under test (unless that is runsc itself, as when
 * today's runsc validates the harness as its own gofer: then runsc's other
 * processes would match too).
 */
function goferMatcher(rv: Runsc): (argv: string[], exe: string) => boolean {
  const goferReal = realpathOr(rv.gofer);
  const exeIsGofer = goferReal !== realpathOr(rv.path);
  return (argv, exe) => argv.includes("gofer") || (exeIsGofer && exe === goferReal);
}

/**
 * Live gofer processes for a bundle: argv has `--bundle <bundle>` (or
 * `--bundle=<bundle>`, or a bundle `bundle(b)` accepts) and either the
 * `gofer` subcommand or /proc/PID/exe is the gofer under test.
 */
export function goferProcesses(rv: Runsc, bundle: string | ((b: string) => boolean)): string[] {
  const match = typeof bundle === "string" ? (b: string) => b === bundle : bundle;
  const isGofer = goferMatcher(rv);
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const argv = cmdline(pid);
    let b: string | undefined;
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === "--bundle" && i + 1 < argv.length) b = argv[i + 1];
      else if (argv[i].startsWith("--bundle=")) b = argv[i].slice("--bundle=".length);
    }
    if (b === undefined || !match(b)) continue;
    const exe = exeOf(pid).replace(/ \(deleted\)$/, "");
    if (isGofer(argv, exe)) found.push(`pid ${pid} exe=${exe} argv=${argv.join(" ")}`);
  }
  return found;
}

/** pid -> [ppid, start time] of every live process. */
function procTable(): Map<number, [number, string]> {
  const t = new Map<number, [number, string]>();
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from 3 (state) on
      t.set(Number(pid), [Number(f[1]), f[19]]);
    } catch {}
  }
  return t;
}

/**
 * Watches the process tree under `rootPid` (runsc) while it runs, so that
 * processes the gofer under test starts without `--bundle` in their argv
 * (helpers, re-execs) are known too. `gofers()` lists the ones still alive
 * (same pid and start time) whose exe is the gofer under test or whose argv
 * has the `gofer` subcommand.
 */
export class TreeWatch {
  private seen = new Map<number, { start: string; desc: string; gofer: boolean }>();
  private timer: ReturnType<typeof setInterval>;
  private isGofer: (argv: string[], exe: string) => boolean;

  constructor(
    rv: Runsc,
    private rootPid: number,
  ) {
    this.isGofer = goferMatcher(rv);
    this.sample();
    this.timer = setInterval(() => this.sample(), 50);
  }

  sample(): void {
    const t = procTable();
    const kids = new Map<number, number[]>();
    for (const [pid, [ppid]] of t) kids.set(ppid, [...(kids.get(ppid) ?? []), pid]);
    const todo = [...(kids.get(this.rootPid) ?? [])];
    while (todo.length) {
      const pid = todo.pop() as number;
      todo.push(...(kids.get(pid) ?? []));
      const start = t.get(pid)?.[1] ?? "";
      if (this.seen.get(pid)?.start === start) continue;
      const argv = cmdline(String(pid));
      const exe = exeOf(String(pid)).replace(/ \(deleted\)$/, "");
      this.seen.set(pid, { start, desc: `pid ${pid} exe=${exe} argv=${argv.join(" ")}`, gofer: this.isGofer(argv, exe) });
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  gofers(): string[] {
    const t = procTable();
    const alive: string[] = [];
    for (const [pid, p] of this.seen) if (p.gofer && t.get(pid)?.[1] === p.start) alive.push(p.desc);
    return alive;
  }
}

/**
 * Polls until no gofer of this run is left (by bundle path and by the
 * watched process tree) or `ms` passes; returns what is left.
 */
export async function waitNoGofer(rv: Runsc, bundle: string | ((b: string) => boolean), watch?: TreeWatch, ms = 5000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = [...new Set([...goferProcesses(rv, bundle), ...(watch?.gofers() ?? [])])];
    if (left.length === 0 || Date.now() > deadline) return left;
    await Bun.sleep(50);
  }
}

export interface BundleRun {
  rv: Runsc;
  which: Which;
  bundle: string;
  /** runsc flags before the subcommand, e.g. --directfs=false --overlay2=none. */
  flags?: string[];
  /** Where runsc keeps its state (a private dir, never /var/run/runsc). */
  stateDir: string;
  id?: string;
  /** Kill runsc after this long (default RUN_TIMEOUT_MS: two runs fit in a test's 120 s). */
  timeoutMs?: number;
  /** Runs alongside the sandbox; `finished()` turns true once runsc has returned. */
  during?: (ctx: { id: string; finished: () => boolean }) => Promise<void>;
}

export const RUN_TIMEOUT_MS = 50_000;

/** Every container started, so `sweep()` can delete what an abandoned test left. */
const started: { rv: Runsc; stateDir: string; id: string; deleted: boolean }[] = [];

function deleteForce(rv: Runsc, stateDir: string, id: string): void {
  spawnSync(rv.path, [`--root=${stateDir}`, "delete", "-force", id], { encoding: "utf8", env: envFor(rv, "ref") });
}

/** `runsc run --bundle B ID`, then checks for leftover gofers, then `delete -force`. */
export async function runBundle(o: BundleRun): Promise<RunResult> {
  const id = o.id ?? uniqueId(o.which);
  const global = [`--root=${o.stateDir}`, ...BASE_FLAGS, ...(o.flags ?? [])];
  const entry = { rv: o.rv, stateDir: o.stateDir, id, deleted: false };
  started.push(entry);
  try {
    let watch: TreeWatch | undefined;
    const runP = spawnRunsc(o.rv, o.which, [...global, "run", "--bundle", o.bundle, id], {
      timeoutMs: o.timeoutMs ?? RUN_TIMEOUT_MS,
      onStart: (pid) => {
        watch = new TreeWatch(o.rv, pid);
      },
    });
    let finished = false;
    runP.then(
      () => (finished = true),
      () => (finished = true),
    );
    let duringErr: unknown;
    if (o.during) {
      try {
        await o.during({ id, finished: () => finished });
      } catch (e) {
        duringErr = e;
        // Don't wait for a container that may never finish on its own.
        if (!finished) deleteForce(o.rv, o.stateDir, id);
      }
    }
    const r = await runP;
    watch?.stop();
    const leftovers = await waitNoGofer(o.rv, o.bundle, watch);
    if (r.timedOut) {
      throw new Error(
        `runsc run (${LABEL[o.which]}) did not finish in ${(o.timeoutMs ?? RUN_TIMEOUT_MS) / 1000} s\nstdout:\n${r.stdout}\nstderr (last lines):\n${r.stderr.split("\n").slice(-20).join("\n")}`,
      );
    }
    if (duringErr) throw duringErr;
    return { which: o.which, code: r.code, stdout: r.stdout, stderr: r.stderr, ms: r.ms, leftovers };
  } finally {
    deleteForce(o.rv, o.stateDir, id);
    entry.deleted = true;
  }
}

/**
 * A detached container (`runsc create` + `runsc start`, so no runsc process
 * stays to clean up) whose sandbox process is then SIGKILLed: the gofer, an
 * orphan by then, has to notice its clients are gone and exit by itself.
 * Returns the gofers seen while it ran and those left `ms` after the kill.
 */
export async function killDetachedSandbox(o: { rv: Runsc; which: Which; bundle: string; flags?: string[]; stateDir: string; ms?: number }): Promise<{
  seen: string[];
  leftovers: string[];
}> {
  const id = uniqueId(`${o.which}-detached`);
  const entry = { rv: o.rv, stateDir: o.stateDir, id, deleted: false };
  started.push(entry);
  const global = [`--root=${o.stateDir}`, ...BASE_FLAGS, ...(o.flags ?? [])];
  const run = (args: string[]) => {
    const r = spawnSync(o.rv.path, [...global, ...args], { env: envFor(o.rv, o.which), stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: RUN_TIMEOUT_MS });
    if (r.status !== 0) throw new Error(`runsc ${args[0]} (${LABEL[o.which]}) failed (${r.status ?? r.signal}):\n${(r.stderr ?? "").split("\n").slice(-15).join("\n")}`);
    return r;
  };
  try {
    requireTools(o.rv);
    run(["create", "--bundle", o.bundle, id]);
    run(["start", id]);
    const state = spawnSync(o.rv.path, [`--root=${o.stateDir}`, "state", id], { encoding: "utf8", env: envFor(o.rv, "ref") });
    const sandboxPid = Number(JSON.parse(state.stdout || "{}").pid);
    if (!(sandboxPid > 1)) throw new Error(`runsc state ${id}: no sandbox pid in ${JSON.stringify(state.stdout)} ${state.stderr}`);
    let seen: string[] = [];
    const deadline = Date.now() + 10_000;
    while ((seen = goferProcesses(o.rv, o.bundle)).length === 0 && Date.now() < deadline) await Bun.sleep(50);
    await Bun.sleep(300); // let the container's process start
    process.kill(sandboxPid, "SIGKILL");
    const leftovers = await waitNoGofer(o.rv, o.bundle, undefined, o.ms ?? 5000);
    return { seen, leftovers };
  } finally {
    deleteForce(o.rv, o.stateDir, id);
    entry.deleted = true;
  }
}

/**
 * Cleanup for afterAll: deletes containers whose test was abandoned (a bun
 * timeout), then SIGKILLs any process still running from a bundle or state
 * dir under `root` (only processes this suite started have those paths).
 */
export function sweep(root: string): void {
  for (const e of started) if (!e.deleted) deleteForce(e.rv, e.stateDir, e.id);
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    if (cmdline(pid).some((a) => a.includes(root))) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
  }
}

/** `runsc do CMD...` (host / as the root, overlaid in memory by default). */
export async function runDo(o: { rv: Runsc; which: Which; cmd: string[]; flags?: string[]; stateDir: string; cwd: string }): Promise<RunResult> {
  let watch: TreeWatch | undefined;
  const r = await spawnRunsc(o.rv, o.which, [`--root=${o.stateDir}`, ...BASE_FLAGS, ...(o.flags ?? []), "do", ...o.cmd], {
    cwd: o.cwd,
    timeoutMs: RUN_TIMEOUT_MS,
    onStart: (pid) => {
      watch = new TreeWatch(o.rv, pid);
    },
  });
  watch?.stop();
  if (r.timedOut) throw new Error(`runsc do (${LABEL[o.which]}) timed out\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  // `runsc do` makes its own bundle dir (runsc-do*) under $TMPDIR; the tree watch finds its gofer.
  const leftovers = await waitNoGofer(o.rv, () => false, watch);
  return { which: o.which, code: r.code, stdout: r.stdout, stderr: r.stderr, ms: r.ms, leftovers };
}

// ---- host-side xattrs (bun:ffi; node has no xattr API) ----------------------------

const libc = dlopen("libc.so.6", {
  llistxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  lgetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  lsetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
});
const cstr = (s: string) => Buffer.from(`${s}\0`);

/** user.* (and any other readable) xattrs of a path, not following a final symlink. */
const xNames = Buffer.alloc(65536);
const xValue = Buffer.alloc(65536);
export function hostXattrs(p: string): Record<string, Buffer> {
  const n = Number(libc.symbols.llistxattr(cstr(p), xNames, BigInt(xNames.length)));
  const out: Record<string, Buffer> = {};
  if (n <= 0) return out;
  for (const name of xNames.subarray(0, n).toString("latin1").split("\0")) {
    if (name === "") continue;
    const m = Number(libc.symbols.lgetxattr(cstr(p), cstr(name), xValue, BigInt(xValue.length)));
    if (m >= 0) out[name] = Buffer.from(xValue.subarray(0, m));
  }
  return out;
}

export function setHostXattr(p: string, name: string, value: string): void {
  const v = Buffer.from(value);
  if (libc.symbols.lsetxattr(cstr(p), cstr(name), v, BigInt(v.length), 0) !== 0) throw new Error(`lsetxattr ${p} ${name} failed`);
}

// ---- host-side snapshots -------------------------------------------------------

export const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
export const md5 = (b: Buffer | string) => createHash("md5").update(b).digest("hex");

/** Deterministic pseudo-random bytes (so both runs see the same data). */
export function seededBytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let off = 0;
  for (let i = 0; off < n; i++) {
    const h = createHash("sha256").update(`${seed}:${i}`).digest();
    off += h.copy(out, off);
  }
  return out;
}

const typeName = (st: fs.Stats) =>
  st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isSocket() ? "socket" : st.isFIFO() ? "fifo" : st.isCharacterDevice() ? "chardev" : st.isBlockDevice() ? "blockdev" : "other";

/**
 * One line per entry under `dir` (sorted; the root is "."): type, size, mode,
 * owner, link count, content hash, symlink target, hard-link siblings and
 * xattrs. Times and inode numbers legitimately differ between runs and are
 * left out, except the mtime of paths in `mtimes`.
 */
export function snapshot(dir: string, opts: { mtimes?: string[] } = {}): string {
  const entries: { rel: string; st: fs.Stats; abs: string }[] = [];
  const walk = (abs: string, rel: string) => {
    const st = fs.lstatSync(abs, { bigint: false });
    entries.push({ rel, st, abs });
    if (st.isDirectory()) for (const name of fs.readdirSync(abs).sort()) walk(path.join(abs, name), rel === "." ? name : `${rel}/${name}`);
  };
  walk(dir, ".");
  const byIno = new Map<number, string[]>();
  for (const e of entries) if (!e.st.isDirectory() && e.st.nlink > 1) byIno.set(e.st.ino, [...(byIno.get(e.st.ino) ?? []), e.rel]);
  const lines: string[] = [];
  for (const { rel, st, abs } of entries) {
    const f = [
      rel,
      typeName(st),
      `mode=${(st.mode & 0o7777).toString(8).padStart(4, "0")}`,
      `uid=${st.uid}`,
      `gid=${st.gid}`,
      `nlink=${st.nlink}`,
      `size=${st.size}`,
    ];
    if (st.isFile()) f.push(`sha256=${sha256(fs.readFileSync(abs)).slice(0, 16)}`);
    if (st.isSymbolicLink()) f.push(`target=${JSON.stringify(fs.readlinkSync(abs))}`);
    const sib = byIno.get(st.ino);
    if (sib && sib.length > 1) f.push(`links=${sib.filter((s) => s !== rel).join(",")}`);
    if (opts.mtimes?.includes(rel)) f.push(`mtime=${Math.floor(st.mtimeMs / 1000)}`);
    for (const [k, v] of Object.entries(hostXattrs(abs)).sort()) f.push(`xattr:${k}=${JSON.stringify(v.toString("latin1"))}`);
    lines.push(f.join(" "));
  }
  return `${lines.join("\n")}\n`;
}

// ---- comparing ---------------------------------------------------------------------

/**
 * A unified-style diff of two texts (line based): hunks around the
 * differences with 3 lines of context, at most `maxLines` lines of output.
 */
export function diffText(a: string, b: string, labelA = "reference", labelB = "under test", maxLines = 80): string {
  const A = a.split("\n");
  const B = b.split("\n");
  // Trim the common prefix and suffix, then LCS the middle (bounded).
  let pre = 0;
  while (pre < A.length && pre < B.length && A[pre] === B[pre]) pre++;
  let suf = 0;
  while (suf < A.length - pre && suf < B.length - pre && A[A.length - 1 - suf] === B[B.length - 1 - suf]) suf++;
  const a2 = A.slice(pre, A.length - suf);
  const b2 = B.slice(pre, B.length - suf);
  type Op = { t: " " | "-" | "+"; s: string; ai: number; bi: number };
  const ops: Op[] = [];
  for (let i = 0; i < pre; i++) ops.push({ t: " ", s: A[i], ai: i, bi: i });
  if (a2.length * b2.length <= 4_000_000) {
    const n = a2.length;
    const m = b2.length;
    const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = a2[i] === b2[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a2[i] === b2[j]) {
        ops.push({ t: " ", s: a2[i], ai: pre + i, bi: pre + j });
        i++;
        j++;
      } else if (i < n && (j >= m || L[i + 1][j] >= L[i][j + 1])) {
        ops.push({ t: "-", s: a2[i], ai: pre + i, bi: pre + j });
        i++;
      } else {
        ops.push({ t: "+", s: b2[j], ai: pre + i, bi: pre + j });
        j++;
      }
    }
  } else {
    for (let i = 0; i < a2.length; i++) ops.push({ t: "-", s: a2[i], ai: pre + i, bi: pre });
    for (let j = 0; j < b2.length; j++) ops.push({ t: "+", s: b2[j], ai: A.length - suf, bi: pre + j });
  }
  for (let k = 0; k < suf; k++) ops.push({ t: " ", s: A[A.length - suf + k], ai: A.length - suf + k, bi: B.length - suf + k });
  const out = [`--- ${labelA}`, `+++ ${labelB}`];
  const show = new Array(ops.length).fill(false);
  ops.forEach((o, k) => {
    if (o.t !== " ") for (let c = Math.max(0, k - 3); c <= Math.min(ops.length - 1, k + 3); c++) show[c] = true;
  });
  let last = -2;
  for (let k = 0; k < ops.length; k++) {
    if (!show[k]) continue;
    if (k !== last + 1) out.push(`@@ -${ops[k].ai + 1} +${ops[k].bi + 1} @@`);
    out.push(`${ops[k].t}${JSON.stringify(ops[k].s).slice(1, -1)}`);
    last = k;
    if (out.length >= maxLines) {
      out.push(`... (diff truncated at ${maxLines} lines)`);
      break;
    }
  }
  return out.join("\n");
}

/** Throws with a diff when the gofer under test's `test` differs from the reference's `ref`. */
export function expectSame(what: string, ref: string, test: string): void {
  if (ref === test) return;
  throw new Error(`${what}: the gofer under test differs from the reference\n${diffText(ref, test, LABEL.ref, LABEL.test)}`);
}

/** Throws with a diff when a host tree changed during a run. */
export function expectUnchanged(what: string, before: string, after: string): void {
  if (before === after) return;
  throw new Error(`${what} changed on the host\n${diffText(before, after, "before the run", "after the run")}`);
}

/** A snapshot without the lines of the given paths and what is under them ("." is the root's own line). */
export function without(snap: string, paths: string[]): string {
  return snap
    .split("\n")
    .filter((l) => !paths.some((p) => l.startsWith(`${p} `) || l.startsWith(`${p}/`)))
    .join("\n");
}

/** Compares exit codes and stdout of two runs; the message shows stderr too. */
export function expectSameRun(what: string, ref: RunResult, test: RunResult): void {
  const tail = (s: string) => s.split("\n").slice(-15).join("\n");
  if (ref.code !== test.code) {
    throw new Error(
      `${what}: exit code ${test.code} with the gofer under test, ${ref.code} with the reference\n` +
        `stderr (under test, last lines):\n${tail(test.stderr)}\n${diffText(ref.stdout, test.stdout, LABEL.ref, LABEL.test)}`,
    );
  }
  if (ref.stdout !== test.stdout) {
    throw new Error(
      `${what}: stdout differs\n${diffText(ref.stdout, test.stdout, LABEL.ref, LABEL.test)}\n` + `stderr (under test, last lines):\n${tail(test.stderr)}`,
    );
  }
}

/** Asserts a condition about one run, showing its output on failure. */
export function check(cond: boolean, what: string, r: RunResult): void {
  if (cond) return;
  throw new Error(`${what} (${LABEL[r.which]}, exit ${r.code})\nstdout:\n${r.stdout.slice(0, 4000)}\nstderr (last lines):\n${r.stderr.split("\n").slice(-15).join("\n")}`);
}

/** Host md5 of a file. */
export const md5File = (p: string) => md5(fs.readFileSync(p));
