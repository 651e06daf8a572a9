// Per-test-file fixture: a scratch tree (a fresh tmpfs when running as root)
// holding mount/ (what the gofer serves) and decoy/ beside it (the target of
// escape attempts), plus helpers to start dist/gofer on socketpairs.
import { afterAll, beforeAll, setDefaultTimeout } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as C from "../../src/ffi/constants";
import * as libc from "../../src/ffi/libc";
import { Client, REPLY_TIMEOUT_MS } from "./client";

export const REPO = path.resolve(import.meta.dir, "../..");
export const GOFER = path.join(REPO, "dist/gofer");
export const IS_ROOT = process.getuid?.() === 0;

// ---- build -------------------------------------------------------------------

function newestMtime(p: string): number {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of fs.readdirSync(p)) m = Math.max(m, newestMtime(path.join(p, e)));
  return m;
}

let built = false;
/** Builds dist/gofer (and dist/gofer-<target> for each of `targets`, build.ts
 * names) if missing or older than src/ or build.ts. */
export function ensureBuilt(targets: string[] = []): void {
  if (built && targets.length === 0) return;
  const src = Math.max(newestMtime(path.join(REPO, "src")), newestMtime(path.join(REPO, "build.ts")));
  const stale = (file: string) => {
    try {
      return fs.statSync(file).mtimeMs < src;
    } catch {
      return true;
    }
  };
  const wanted = targets.filter((t) => stale(`${GOFER}-${t}`));
  if (stale(GOFER) || wanted.length > 0) {
    const args = ["run", "build.ts", ...wanted.map((t) => `--target=${t}`)];
    const r = spawnSync(path.join(REPO, "node_modules/.bin/bun"), args, { cwd: REPO, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`building dist/gofer failed:\n${r.stdout}\n${r.stderr}`);
  }
  built = true;
}

// ---- the scratch tree ----------------------------------------------------------

export interface Fixture {
  /** The scratch root (a tmpfs mount point when root). */
  root: string;
  /** The directory the gofer serves. */
  mount: string;
  /** A directory beside mount/ that no request may ever reach. */
  decoy: string;
  /** Where gofer logs go (outside mount/ and decoy/). */
  logs: string;
  tmpfs: boolean;
}

/**
 * Registers beforeAll/afterAll for a test file: builds the gofer, creates the
 * scratch tree, and on exit kills leftover gofers and removes everything.
 */
export function useFixture(opts: { tmpfsSize?: string } = {}): Fixture {
  // Generous: a test fails on its own assertions or on a reply deadline
  // (REPLY_TIMEOUT_MS), never on how fast the machine is.
  setDefaultTimeout(60_000);
  const fx = {} as Fixture;
  beforeAll(() => {
    ensureBuilt();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-test-"));
    let tmpfs = false;
    if (IS_ROOT) {
      const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${opts.tmpfsSize ?? "256m"},mode=0755`, "gofer-test", root], {
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`mount -t tmpfs failed: ${r.stderr}`);
      tmpfs = true;
    }
    Object.assign(fx, {
      root,
      mount: path.join(root, "mount"),
      decoy: path.join(root, "decoy"),
      logs: path.join(root, "logs"),
      tmpfs,
    });
    for (const d of [fx.mount, fx.decoy, fx.logs]) fs.mkdirSync(d);
    fs.writeFileSync(path.join(fx.decoy, "secret"), "decoy secret\n");
    fs.mkdirSync(path.join(fx.decoy, "sub"));
    fs.writeFileSync(path.join(fx.decoy, "sub", "file"), "decoy sub file\n");
  });
  afterAll(async () => {
    await stopAll();
    if (!fx.root) return;
    if (fx.tmpfs) spawnSync("umount", ["-l", fx.root]);
    fs.rmSync(fx.root, { recursive: true, force: true });
  });
  return fx;
}

/** Empties mount/ so a test starts from a known tree. */
export function resetMount(fx: Fixture): void {
  // Names are raw bytes (the fuzzer makes non-UTF-8 ones): handle them as Buffers.
  for (const e of fs.readdirSync(fx.mount, { encoding: "buffer" }))
    fs.rmSync(Buffer.concat([Buffer.from(fx.mount + "/"), e]), { recursive: true, force: true });
  fs.chmodSync(fx.mount, 0o755);
}

/** A recursive snapshot of a tree: type, mode, owner, size, content / link
 * target, xattrs not included. Equal snapshots mean an unchanged tree. */
export function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string) => {
    const st = fs.lstatSync(p, { bigint: true });
    let extra = "";
    if (st.isFile()) extra = Bun.hash(fs.readFileSync(p)).toString(16);
    else if (st.isSymbolicLink()) extra = fs.readlinkSync(p);
    out.push(`${rel} mode=${st.mode.toString(8)} uid=${st.uid} gid=${st.gid} size=${st.size} nlink=${st.nlink} mtime=${st.mtimeNs} ${extra}`);
    if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e), `${rel}/${e}`);
  };
  walk(dir, ".");
  return out;
}

// ---- starting the gofer --------------------------------------------------------------

export interface GoferOptions {
  /** One connection per entry: a host path (":ro" allowed); default fx.mount.
   * A function is called at start (the fixture paths exist only then). */
  mounts?: string[] | ((fx: Fixture) => string[]);
  /** Extra flags (policy, event loop...). */
  flags?: string[];
  logLevel?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** A command the gofer runs under, e.g. ["prlimit", "--nofile=256"]. */
  wrap?: string[];
  /** The executable, if not dist/gofer (e.g. dist/gofer-linux-arm64). */
  gofer?: string;
}

const running = new Set<Gofer>();
let goferSeq = 0;

export class Gofer {
  readonly clients: Client[];
  readonly logFile: string;
  private constructor(
    readonly proc: ReturnType<typeof Bun.spawn>,
    clients: Client[],
    logFile: string,
  ) {
    this.clients = clients;
    this.logFile = logFile;
  }

  static start(fx: Fixture, o: GoferOptions = {}): Gofer {
    const mounts = typeof o.mounts === "function" ? o.mounts(fx) : (o.mounts ?? [fx.mount]);
    const pairs = mounts.map(() => {
      const p = libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
      if (typeof p === "number") throw new Error(`socketpair: errno ${-p}`);
      return p;
    });
    const argv = [...(o.wrap ?? []), o.gofer ?? GOFER];
    mounts.forEach((m, i) => argv.push("--io-fd", String(3 + i), "--mount", m));
    argv.push("--log-level", o.logLevel ?? "warn", ...(o.flags ?? []));
    const logFile = path.join(fx.logs, `gofer-${++goferSeq}.log`);
    const log = fs.openSync(logFile, "a");
    const proc = Bun.spawn(argv, {
      stdio: ["ignore", log, log, ...pairs.map((p) => p[1])],
      env: { ...process.env, ...o.env },
    });
    fs.closeSync(log);
    for (const p of pairs) libc.close(p[1]);
    const g = new Gofer(
      proc,
      pairs.map((p) => new Client(p[0])),
      logFile,
    );
    running.add(g);
    return g;
  }

  get client(): Client {
    return this.clients[0];
  }
  get pid(): number {
    return this.proc.pid;
  }
  log(): string {
    try {
      return fs.readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  /** Entries of /proc/<pid>/fd. */
  fds(): string[] {
    return fs.readdirSync(`/proc/${this.pid}/fd`);
  }
  /** "fd -> target" for every open FD of the process. */
  fdLinks(): string[] {
    return this.fds().map((f) => {
      try {
        return `${f} -> ${fs.readlinkSync(`/proc/${this.pid}/fd/${f}`)}`;
      } catch {
        return `${f} -> ?`;
      }
    });
  }
  /** How many FDs of the process refer to host paths starting with prefix. */
  fdsUnder(prefix: string): number {
    return this.fdLinks().filter((l) => l.split(" -> ")[1].startsWith(prefix)).length;
  }
  /** Waits until the FD table stops changing (the gofer has finished
   * tearing down what a client closed: that happens on its own schedule). */
  async fdsSettled(quietMs = 200, timeoutMs = REPLY_TIMEOUT_MS): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let last = this.fdLinks().join("\n");
    let since = Date.now();
    while (Date.now() < deadline) {
      await Bun.sleep(20);
      const now = this.fdLinks().join("\n");
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since >= quietMs) break;
    }
    return this.fdLinks();
  }
  /** Threads of the process. */
  tasks(): number {
    return fs.readdirSync(`/proc/${this.pid}/task`).length;
  }

  /** Resolves with the exit code, or null if it has not exited in time. */
  async exitCode(timeoutMs = REPLY_TIMEOUT_MS): Promise<number | null> {
    const t = new Promise<null>((res) => setTimeout(() => res(null), timeoutMs));
    return Promise.race([this.proc.exited, t]);
  }

  /** Disconnects every client and waits for the process to exit. */
  async stop(): Promise<number | null> {
    for (const c of this.clients) {
      try {
        c.disconnect();
      } catch {}
    }
    const code = await this.exitCode();
    if (code === null) this.proc.kill(9);
    running.delete(this);
    return code;
  }
}

/** Stops every gofer still running (afterAll). */
export async function stopAll(): Promise<void> {
  for (const g of [...running]) {
    const code = await g.stop();
    void code;
  }
}

/** Polls `cond` until true or the deadline (not a timing assertion: a wait
 * for an asynchronous effect, failing only if it never happens). */
export async function eventually(cond: () => boolean, timeoutMs = REPLY_TIMEOUT_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await Bun.sleep(10);
  }
  return cond();
}

/** Linux major/minor from a dev_t as Node reports it. */
export function devMajor(dev: bigint): number {
  return Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
}
export function devMinor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
}

/** A loopback TCP port free at the time of asking. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
