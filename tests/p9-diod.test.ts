// 9P interop with diod's client tools (Debian package diod: diodls, diodcat,
// diodload), standard 9P2000.L clients built on diod's libnpclient, against
// `dist/gofer --listen unix:PATH|tcp:HOST:PORT --mount DIR[:ro]`: listings
// match the host, reads are byte-exact, diodload's multi-connection load runs
// without a single error, a read-only mount refuses diodload's writes with
// EROFS. The same tools against diod itself serving the same tree give the
// outputs ours must match.
//
// What the tools do (diod 1.0.24): each connects (-s /path/to/socket or
// -s HOST:PORT), sends Tversion "9P2000.L" (msize -m, default 65536; they
// insist on "9P2000.L" back), Tauth (an Rlerror of ENOENT or 0 means "no
// auth needed"; any other error is fatal), Tattach with the aname (-a,
// default "ctl") and n_uname = euid. diodls readdirs (-l: walks every entry,
// "." and ".." included, and getattrs it); diodcat walks and opens each path
// and reads it; diodload (always aname "ctl") opens "zero" O_RDONLY and "null"
// O_WRONLY from the attach point and loops pread/pwrite of msize bytes at
// offset 0 in -n threads, each on its own connection, for -r seconds, or with
// -g loops Tgetattr on "null". diodload prints per-thread errors on stderr but
// exits 0; its last line is "diodload: N ops/s, R rMB/s, W wMB/s".
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePort, GOFER, snapshot, useFixture } from "./lib/fixture";

const fx = useFixture();

// ---- tools ---------------------------------------------------------------------

const SBIN = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", ...(process.env.PATH ?? "").split(":")];
/** Absolute path of a diod tool; a missing one fails the test (never skips). */
function tool(name: string): string {
  for (const d of SBIN) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  throw new Error(`${name} not found: install Debian's diod package (apt-get install -y diod; scripts/test.sh does)`);
}

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}
/** Runs a diod client tool (with its own -t timeout where it has one). */
function run(name: string, args: string[], timeoutMs = 30_000): Run {
  const r = Bun.spawnSync([tool(name), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  return { code: r.exitCode, stdout: Buffer.from(r.stdout), stderr: r.stderr.toString() };
}

// ---- servers -------------------------------------------------------------------

let seq = 0;

class Server {
  constructor(
    readonly kind: "ours" | "diod",
    readonly proc: ReturnType<typeof Bun.spawn>,
    /** The tools' -s argument. */
    readonly addr: string,
    readonly logFile: string,
  ) {}
  log(): string {
    try {
      return fs.readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }
  async stop(): Promise<void> {
    this.proc.kill(9);
    await this.proc.exited;
  }
}

async function connects(addr: string): Promise<boolean> {
  try {
    const handlers = { socket: { data() {} } };
    const attempt = addr.startsWith("/")
      ? Bun.connect({ unix: addr, ...handlers })
      : Bun.connect({ hostname: addr.split(":")[0], port: Number(addr.split(":")[1]), ...handlers });
    const sock = await Promise.race([attempt, Bun.sleep(2000).then(() => null)]);
    if (sock === null) {
      attempt.then((x) => x.end()).catch(() => {});
      return false;
    }
    sock.end();
    return true;
  } catch {
    return false;
  }
}

/** Starts a server and waits until it accepts connections. */
async function start(kind: "ours" | "diod", transport: "unix" | "tcp", mount: string, ro = false): Promise<Server> {
  const n = ++seq;
  const addr = transport === "unix" ? path.join(fx.logs, `${kind}-${n}.sock`) : `127.0.0.1:${await freePort()}`;
  const argv =
    kind === "ours"
      ? [GOFER, "--listen", transport === "unix" ? `unix:${addr}` : `tcp:${addr}`, "--mount", ro ? `${mount}:ro` : mount, "--log-level", "warn"]
      : // -e ctl: diod's synthetic ctl file system, where diodload's zero/null live.
        [tool("diod"), "-f", "-n", "-N", "-c", "/dev/null", "-L", "stderr", "-e", mount, "-e", "ctl", "-l", addr, ...(ro ? ["-o", "ro"] : [])];
  const logFile = path.join(fx.logs, `${kind}-${n}.log`);
  const log = fs.openSync(logFile, "a");
  const proc = Bun.spawn(argv, { stdio: ["ignore", log, log] });
  fs.closeSync(log);
  const s = new Server(kind, proc, addr, logFile);
  const deadline = Date.now() + 20_000;
  while (!(await connects(addr))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await s.stop();
      const exists = transport === "unix" ? `, socket file ${fs.existsSync(addr) ? "exists" : "missing"}` : "";
      throw new Error(`${argv.join(" ")}: not accepting connections after 20 s (exit ${proc.exitCode}${exists}); log:\n${s.log()}`);
    }
    await Bun.sleep(20);
  }
  return s;
}

/** The attach name: diod wants the exported path; ours, like gVisor's p9
 * server, walks the aname from the served root ("/" or "" is the root). */
function aname(s: Server, mount: string): string {
  return s.kind === "diod" ? mount : "/";
}

function tools(s: Server, mount: string): string[] {
  return ["-t", "20", "-s", s.addr, "-a", aname(s, mount)];
}

// ---- the tree ------------------------------------------------------------------------

const BIG = 3 * 1024 * 1024 + 12_345; // several msize-sized reads, an odd tail
let bigData: Buffer;

function populate(m: string): void {
  fs.writeFileSync(path.join(m, "a.txt"), "hello from the gofer\n");
  fs.writeFileSync(path.join(m, "empty"), "");
  fs.writeFileSync(path.join(m, "with space.txt"), "spaced\n");
  fs.writeFileSync(path.join(m, ".hidden"), "hidden\n");
  bigData = Buffer.alloc(BIG);
  for (let i = 0; i < BIG; i++) bigData[i] = (i * 7 + (i >> 11) + (i >> 17)) & 0xff;
  fs.writeFileSync(path.join(m, "big.bin"), bigData);
  fs.mkdirSync(path.join(m, "sub/deeper"), { recursive: true });
  fs.writeFileSync(path.join(m, "sub/f"), "sub file\n");
  fs.writeFileSync(path.join(m, "sub/deeper/g"), "deeper file\n");
  fs.symlinkSync("a.txt", path.join(m, "link"));
  fs.symlinkSync("../decoy/secret", path.join(m, "escape"));
  fs.chmodSync(path.join(m, "a.txt"), 0o640);
  // diodload's files: it attaches aname "ctl" and opens zero and null there.
  // Present at the root and in ctl/, whichever the aname resolves to.
  for (const d of [m, path.join(m, "ctl")]) {
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, "zero"), Buffer.alloc(1 << 20));
    fs.writeFileSync(path.join(d, "null"), "");
  }
}

// ---- expectations from the host ----------------------------------------------------

/** diodls's mode string (utils/diodls.c mode2str: d or -, rwx bits, "."). */
function modeStr(mode: number): string {
  let s = (mode & 0o170000) === 0o040000 ? "d" : "-";
  const bits = "rwxrwxrwx";
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : "-";
  return s + ".";
}
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** ctime(3) characters 4..16: "Dec  2 21:27" (local time, like diodls). */
function ctimeMid(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p2(d.getHours())}:${p2(d.getMinutes())}`;
}
/** What diodls -l prints for a host path (lstat: a symlink shows as itself). */
function longLine(hostPath: string, name: string): string {
  const st = fs.lstatSync(hostPath);
  const user = st.uid === 0 ? "root" : String(st.uid);
  const group = st.gid === 0 ? "root" : String(st.gid);
  return `${modeStr(st.mode).padStart(10)} ${String(st.nlink).padStart(4)} ${user} ${group} ${String(st.size).padStart(12)} ${ctimeMid(st.mtimeMs)} ${name}`;
}

function lines(b: Buffer | string): string[] {
  return b
    .toString()
    .split("\n")
    .filter((l) => l !== "");
}

function hostNames(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

// ---- checks, shared by the transports ---------------------------------------------------

function expectOk(r: Run, what: string, s: Server): void {
  if (r.code !== 0 || r.stderr !== "")
    throw new Error(`${what}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}\n--- ${s.kind} server log:\n${s.log().slice(-4000)}`);
}

function diodls(s: Server, mount: string, args: string[] = []): Run {
  return run("diodls", [...tools(s, mount), ...args]);
}
function diodcat(s: Server, mount: string, args: string[]): Run {
  return run("diodcat", [...tools(s, mount), ...args]);
}

/** diodls -l of the root: every entry's line (. and .. checked apart). */
function longListing(s: Server, mount: string): { entries: string[]; dot?: string; dotdot?: string; stderr: string } {
  const r = diodls(s, mount, ["-l"]);
  if (r.code !== 0) throw new Error(`diodls -l: exit ${r.code}: ${r.stderr}\n${s.log().slice(-4000)}`);
  // diodls's errn() messages end their format in "\n", then ": strerror".
  const out: { entries: string[]; dot?: string; dotdot?: string; stderr: string } = { entries: [], stderr: r.stderr.replace(/\n: /g, ": ") };
  for (const l of lines(r.stdout)) {
    if (l.endsWith(" ..")) out.dotdot = l;
    else if (l.endsWith(" .")) out.dot = l;
    else out.entries.push(l);
  }
  out.entries.sort();
  return out;
}

function listingChecks(get: () => { s: Server; mount: string }) {
  test("diodls lists the root exactly as the host does", () => {
    const { s, mount } = get();
    const r = diodls(s, mount);
    expectOk(r, "diodls", s);
    expect(lines(r.stdout).sort()).toEqual(hostNames(mount));
  });

  test("diodls -l of the root: each entry as lstat says, or the 9P spec's EBUSY; . and .. never the parent", () => {
    const { s, mount } = get();
    const l = longListing(s, mount);
    const names = hostNames(mount);
    // diodls -l walks each entry from the fid it opened for readdir. The 9P
    // spec forbids walking from an opened fid and gVisor's p9 server answers
    // EBUSY; diod allows it. Either every entry is listed as the host has it,
    // or every walk got EBUSY.
    const stderr = lines(l.stderr);
    if (l.entries.length > 0) {
      expect(l.entries).toEqual(names.map((n) => longLine(path.join(mount, n), n)).sort());
      for (const e of stderr) expect(e).toMatch(/^diodls: npc_walk \.\.?: /);
    } else {
      expect(stderr.filter((e) => !/^diodls: npc_walk \.\.?: /.test(e)).sort()).toEqual(names.map((n) => `diodls: npc_walk ${n}: Device or resource busy`).sort());
    }
    // "." and "..", if listed, are the served root (9P: ".." of the root is
    // the root), never the directory above it.
    if (l.dot !== undefined) expect(l.dot).toBe(longLine(mount, "."));
    if (l.dotdot !== undefined) expect(l.dotdot).toBe(longLine(mount, ".."));
  });

  test("diodls -l of named files (walked from the attach fid): mode, links, owner, size, mtime as lstat says", () => {
    const { s, mount } = get();
    // (A directory argument would be opened and its entries walked from the
    // open fid, as above.)
    const names = ["a.txt", "big.bin", "empty", "with space.txt", ".hidden", "sub/deeper/g"];
    const r = diodls(s, mount, ["-l", ...names]);
    expectOk(r, `diodls -l ${names.join(" ")}`, s);
    expect(lines(r.stdout)).toEqual(names.map((n) => longLine(path.join(mount, n), n)));
  });

  test("diodls of a subdirectory, a nested one and single files", () => {
    const { s, mount } = get();
    const r = diodls(s, mount, ["sub", "sub/deeper", "a.txt", "empty"]);
    expectOk(r, "diodls sub sub/deeper a.txt empty", s);
    // One section per argument (a directory's "NAME:" header and entries in
    // readdir order), separated by blank lines.
    const sections = r.stdout
      .toString()
      .split("\n\n")
      .map((sec) => lines(sec));
    const sorted = (sec: string[]) => [sec[0], ...sec.slice(1).sort()];
    expect(sections.map(sorted)).toEqual([
      ["sub:", ...hostNames(path.join(mount, "sub"))],
      ["sub/deeper:", ...hostNames(path.join(mount, "sub/deeper"))],
      ["a.txt", "empty"],
    ]);
  });

  test("symlinks: opened and read if the server follows them within the mount, else EINVAL; never out of it", () => {
    const { s, mount } = get();
    // diodls and diodcat Tlopen what they are given (diodls: to try it as a
    // directory). diod's open() follows a symlink; gVisor's p9 server refuses
    // to open one (EINVAL): Linux's v9fs client never opens symlinks, it
    // reads them (Treadlink).
    const cat = diodcat(s, mount, ["link"]);
    if (cat.code === 0) expect(cat.stdout.toString()).toBe(fs.readFileSync(path.join(mount, "a.txt"), "utf8"));
    else expect({ code: cat.code, stderr: cat.stderr }).toEqual({ code: 1, stderr: "diodcat: open link: Invalid argument\n" });
    const ls = diodls(s, mount, ["link"]);
    if (ls.code === 0) expect(ls.stdout.toString()).toBe("link\n");
    else expect({ code: ls.code, stderr: ls.stderr }).toEqual({ code: 1, stderr: "diodls: link: Invalid argument\n" });
    const out = diodcat(s, mount, ["escape"]);
    expect({ code: out.code, stdout: out.stdout.toString() }).toEqual({ code: 1, stdout: "" });
  });

  test("diodls of a missing name: ENOENT, exit 1", () => {
    const { s, mount } = get();
    const r = diodls(s, mount, ["nope"]);
    expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 1, stderr: "diodls: nope: No such file or directory" });
  });

  test("diodcat reads small, empty, spaced, hidden and nested files byte-exactly", () => {
    const { s, mount } = get();
    const names = ["a.txt", "empty", "with space.txt", ".hidden", "sub/f", "sub/deeper/g"];
    for (const n of names) {
      const r = diodcat(s, mount, [n]);
      expectOk(r, `diodcat ${n}`, s);
      expect({ n, got: r.stdout.toString() }).toEqual({ n, got: fs.readFileSync(path.join(mount, n), "utf8") });
    }
    const all = diodcat(s, mount, names);
    expectOk(all, "diodcat (several files)", s);
    expect(all.stdout.toString()).toBe(names.map((n) => fs.readFileSync(path.join(mount, n), "utf8")).join(""));
  });

  for (const msize of [8192, 65536, 1 << 20]) {
    test(`diodcat reads a ${(BIG / 1048576).toFixed(1)} MiB file byte-exactly, msize ${msize}`, () => {
      const { s, mount } = get();
      const r = diodcat(s, mount, ["-m", String(msize), "big.bin"]);
      expectOk(r, `diodcat -m ${msize} big.bin`, s);
      expect(r.stdout.length).toBe(BIG);
      expect(r.stdout.equals(bigData)).toBe(true);
    });
  }

  test("diodcat of a missing file, a directory, and a path out of the mount fails without leaking", () => {
    const { s, mount } = get();
    const missing = diodcat(s, mount, ["nope"]);
    expect({ code: missing.code, stderr: missing.stderr.trim() }).toEqual({ code: 1, stderr: "diodcat: open nope: No such file or directory" });
    const dir = diodcat(s, mount, ["sub"]);
    expect(dir.code).toBe(1);
    expect(dir.stdout.length).toBe(0);
    for (const p of ["../decoy/secret", "../../decoy/secret", "sub/../../decoy/secret"]) {
      const r = diodcat(s, mount, [p]);
      expect({ p, code: r.code, out: r.stdout.toString() }).toEqual({ p, code: 1, out: "" });
    }
  });
}

const LOAD_RE = /^diodload: (\d+) ops\/s, (\d+) rMB\/s, (\d+) wMB\/s$/;

function diodload(s: Server, args: string[]): { ops: number; rmb: number; errors: string[] } {
  const r = run("diodload", ["-s", s.addr, "-r", "1", "-n", "4", ...args], 60_000);
  if (r.code !== 0) throw new Error(`diodload ${args.join(" ")}: exit ${r.code}: ${r.stderr}\n${s.log().slice(-4000)}`);
  const ls = lines(r.stderr);
  const summary = ls.at(-1) ?? "";
  const m = LOAD_RE.exec(summary);
  if (!m) throw new Error(`diodload ${args.join(" ")}: no summary line in ${JSON.stringify(r.stderr)}`);
  return { ops: Number(m[1]), rmb: Number(m[2]), errors: ls.slice(0, -1) };
}

function loadChecks(get: () => { s: Server; mount: string }) {
  test("diodload: 4 connections reading zero and writing null, no errors", () => {
    const { s, mount } = get();
    for (const n of ["null", "ctl/null"]) fs.writeFileSync(path.join(mount, n), "");
    const r = diodload(s, []);
    if (r.errors.length) throw new Error(`diodload reported:\n${r.errors.join("\n")}\n--- server log:\n${s.log().slice(-4000)}`);
    expect(r.ops).toBeGreaterThan(0);
    expect(r.rmb).toBeGreaterThan(0);
    // The writes reached a host file (ctl/null if the aname "ctl" is walked
    // from the root as gVisor's p9 does, the root's null if it is ignored).
    const written = ["null", "ctl/null"].map((n) => fs.statSync(path.join(mount, n)).size);
    expect(Math.max(...written)).toBeGreaterThan(0);
  });

  test("diodload --getattr: 4 connections, no errors", () => {
    const { s } = get();
    const r = diodload(s, ["-g"]);
    if (r.errors.length) throw new Error(`diodload -g reported:\n${r.errors.join("\n")}\n--- server log:\n${s.log().slice(-4000)}`);
    expect(r.ops).toBeGreaterThan(0);
  });
}

// ---- the suites ---------------------------------------------------------------------------

beforeAll(() => {
  for (const t of ["diod", "diodls", "diodcat", "diodload"]) tool(t);
  populate(fx.mount);
});

for (const transport of ["unix", "tcp"] as const) {
  describe(`dist/gofer --listen ${transport}`, () => {
    let s: Server;
    beforeAll(async () => {
      s = await start("ours", transport, fx.mount);
    });
    afterAll(async () => {
      await s?.stop();
    });
    listingChecks(() => ({ s, mount: fx.mount }));
    loadChecks(() => ({ s, mount: fx.mount }));
    test("the listener outlives its connections", async () => {
      expect(s.proc.exitCode).toBeNull();
      expect(await connects(s.addr)).toBe(true);
      expectOk(diodls(s, fx.mount), "diodls after everything", s);
    });
  });
}

describe("dist/gofer --listen unix, read-only mount", () => {
  let s: Server;
  let before: string[];
  beforeAll(async () => {
    before = snapshot(fx.mount);
    s = await start("ours", "unix", fx.mount, true);
  });
  afterAll(async () => {
    await s?.stop();
  });
  listingChecks(() => ({ s, mount: fx.mount }));
  test("diodload's opens of null for writing get EROFS in every connection; nothing changes", () => {
    const r = diodload(s, []);
    expect(r.errors.length).toBe(4);
    for (const e of r.errors) expect(e).toBe("diodload: open null: Read-only file system");
    expect(r.ops).toBe(0);
    expect(snapshot(fx.mount)).toEqual(before);
  });
  test("diodload --getattr works read-only", () => {
    const r = diodload(s, ["-g"]);
    expect(r.errors).toEqual([]);
    expect(r.ops).toBeGreaterThan(0);
  });
});

// The same tools against diod serving the same tree: what ours must match.
describe("same outputs as diod", () => {
  let ours: Server;
  let diod: Server;
  beforeAll(async () => {
    ours = await start("ours", "unix", fx.mount);
    diod = await start("diod", "unix", fx.mount);
  });
  afterAll(async () => {
    await ours?.stop();
    await diod?.stop();
  });
  test("diodls, diodls of a subdirectory, diodls -l of named files", () => {
    for (const args of [[], ["sub", "a.txt"]]) {
      const a = diodls(ours, fx.mount, args);
      const b = diodls(diod, fx.mount, args);
      expectOk(b, `diod: diodls ${args.join(" ")}`, diod);
      expectOk(a, `ours: diodls ${args.join(" ")}`, ours);
      expect(lines(a.stdout).sort()).toEqual(lines(b.stdout).sort());
    }
    const named = ["-l", "a.txt", "big.bin", "sub/deeper/g"];
    const a = diodls(ours, fx.mount, named);
    const b = diodls(diod, fx.mount, named);
    expectOk(a, "ours: diodls -l (named files)", ours);
    expect(a.stdout.toString()).toBe(b.stdout.toString());
  });
  test("diodcat of every file", () => {
    for (const n of ["a.txt", "empty", "with space.txt", "sub/deeper/g", "big.bin"]) {
      const a = diodcat(ours, fx.mount, [n]);
      const b = diodcat(diod, fx.mount, [n]);
      expectOk(b, `diod: diodcat ${n}`, diod);
      expectOk(a, `ours: diodcat ${n}`, ours);
      expect({ n, same: a.stdout.equals(b.stdout) }).toEqual({ n, same: true });
    }
  });
  test("errors: the same exit codes and messages", () => {
    for (const [t, args] of [
      ["diodls", ["nope"]],
      ["diodcat", ["nope"]],
      ["diodcat", ["sub"]],
    ] as const) {
      const a = run(t, [...tools(ours, fx.mount), ...args]);
      const b = run(t, [...tools(diod, fx.mount), ...args]);
      expect({ t, args, code: a.code, stderr: a.stderr }).toEqual({ t, args, code: b.code, stderr: b.stderr });
    }
  });
  test("diodload runs against both (diod: its synthetic ctl; ours: host files)", () => {
    for (const s of [diod, ours]) {
      const r = diodload(s, []);
      expect({ kind: s.kind, errors: r.errors }).toEqual({ kind: s.kind, errors: [] });
      expect(r.ops).toBeGreaterThan(0);
    }
  });
});
