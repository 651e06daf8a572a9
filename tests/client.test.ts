// `gofer client`, run as the built dist/gofer (a process of its own, as an
// operator runs it), against our gofer over every way it is reached and both
// protocols (lisafs with and without flipcall channels; 9P2000.L plain and
// with gVisor's extensions, on the socket and on a channel) and against diod
// for plain 9P. Every command's effect or output is held against the host
// tree it served: listings and stat against GNU ls and stat run on the
// same files (LC_ALL=C, TZ=UTC), contents and xattrs against the host's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { freePort, GOFER, useFixture } from "./lib/fixture";
import { startListener } from "./lib/p9client";

const fx = useFixture();

const ENV = { ...process.env, LC_ALL: "C", TZ: "UTC" };

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `gofer client ARGS` (stdin from `input`; extra FDs passed from 3). */
function client(args: string[], input?: Uint8Array, fds: number[] = []): Run {
  const common = { env: ENV, cwd: fx.logs, timeout: 30_000 };
  const r = fds.length
    ? Bun.spawnSync([GOFER, "client", ...args], { ...common, stdio: ["ignore", "pipe", "pipe", ...fds] })
    : Bun.spawnSync([GOFER, "client", ...args], { ...common, stdin: input ?? "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: Buffer.from(r.stdout ?? new Uint8Array()), stderr: r.stderr?.toString() ?? "" };
}

/** A host command (ls, stat, df) run in the served root. */
function host(argv: string[]): string {
  const r = Bun.spawnSync(argv, { cwd: fx.mount, env: ENV, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: exit ${r.exitCode}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

function ok(r: Run, what: string): Buffer {
  if (r.code !== 0) throw new Error(`gofer client ${what}: exit ${r.code}, stderr: ${r.stderr}`);
  expect(r.stderr).toBe("");
  return r.stdout;
}

/** The host's value of an xattr (lgetxattr), or null when it has none. */
function hostXattr(p: string, name: string): string | null {
  const buf = new Uint8Array(new ArrayBuffer(4096));
  const n = libc.lgetxattr(Buffer.from(p).toString("latin1"), name, libc.addr(buf), buf.byteLength);
  if (n === -C.ENODATA) return null;
  if (n < 0) throw new Error(`lgetxattr ${p} ${name}: errno ${-n}`);
  return Buffer.from(buf.subarray(0, n)).toString("latin1");
}
function setHostXattr(p: string, name: string, value: string): void {
  const v = new Uint8Array(new ArrayBuffer(value.length + 1));
  v.set(Buffer.from(value, "latin1"));
  const rc = libc.lsetxattr(Buffer.from(p).toString("latin1"), name, libc.addr(v), value.length, 0);
  if (rc < 0) throw new Error(`lsetxattr ${p} ${name}: errno ${-rc}`);
}

// ---- servers ---------------------------------------------------------------------

let seq = 0;
const stops: Array<() => Promise<void>> = [];

/** diod serving the mount on a Unix socket (as tests/p9-diod.test.ts starts it). */
async function startDiod(): Promise<string> {
  const sock = path.join(fx.logs, `diod-${++seq}.sock`);
  const logFile = path.join(fx.logs, `diod-${seq}.log`);
  const log = fs.openSync(logFile, "a");
  const proc = Bun.spawn(["/usr/sbin/diod", "-f", "-n", "-N", "-c", "/dev/null", "-L", "stderr", "-e", fx.mount, "-l", sock], {
    stdio: ["ignore", log, log],
  });
  fs.closeSync(log);
  stops.push(async () => {
    proc.kill(9);
    await proc.exited;
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (fs.existsSync(sock)) {
      const fd = libc.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
      const sa = new Uint8Array(110);
      sa[0] = C.AF_UNIX;
      sa.set(Buffer.from(sock), 2);
      const rc = libc.connect(fd, libc.addr(sa), 2 + Buffer.byteLength(sock) + 1);
      libc.close(fd);
      if (rc === 0) return sock;
    }
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`diod did not start; log:\n${fs.readFileSync(logFile, "utf8")}`);
    await Bun.sleep(20);
  }
}

async function listen(addr: string, flags: string[]): Promise<string> {
  const l = await startListener(fx, addr, flags);
  stops.push(l.stop);
  return l.where;
}

// ---- the configurations --------------------------------------------------------------

interface Config {
  name: string;
  /** The client's flags that pick the server, protocol and transport. */
  flags: () => string[];
  kind: "lisafs" | "9p" | "9p-google";
  diod?: boolean;
  /** The server lets the client set user.* xattrs. */
  xattr: "yes" | "no";
}

const addrs: Record<string, string> = {};
const spawnFlags = () => ["--spawn", fx.mount, "--gofer-flag=--xattr-user"];

const CONFIGS: Config[] = [
  { name: "lisafs channel (spawn)", kind: "lisafs", xattr: "yes", flags: spawnFlags },
  { name: "lisafs socket (spawn)", kind: "lisafs", xattr: "yes", flags: () => [...spawnFlags(), "--no-channels"] },
  { name: "lisafs channel (unix socket)", kind: "lisafs", xattr: "yes", flags: () => ["-s", addrs.unix] },
  { name: "9p (unix socket)", kind: "9p", xattr: "no", flags: () => ["-s", addrs.unix, "--protocol", "9p"] },
  { name: "9p-google channel (unix socket)", kind: "9p-google", xattr: "yes", flags: () => ["-s", `unix:${addrs.unix}`, "--protocol", "9p-google"] },
  { name: "9p-google socket (spawn)", kind: "9p-google", xattr: "yes", flags: () => [...spawnFlags(), "--protocol", "9p-google", "--no-channels"] },
  { name: "9p (tcp)", kind: "9p", xattr: "no", flags: () => ["-s", addrs.tcp] },
  { name: "9p (diod)", kind: "9p", diod: true, xattr: "yes", flags: () => ["-s", addrs.diod, "--protocol", "9p", "--aname", fx.mount] },
];

beforeAll(async () => {
  addrs.unix = (await listen(`unix:${path.join(fx.logs, "gofer.sock")}`, ["--xattr-user"])).replace(/^unix:/, "");
  addrs.tcp = await listen(`tcp:127.0.0.1:${await freePort()}`, ["--xattr-user"]);
  addrs.diod = await startDiod();
});

afterAll(async () => {
  for (const s of stops) await s();
});

// ---- the tree ----------------------------------------------------------------------

const BIG = 3 * 1024 * 1024 + 4321; // several messages, an odd tail
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 9)) & 0xff;
  return b;
}

function populate(dir: string): void {
  fs.mkdirSync(path.join(dir, "sub/deeper"), { recursive: true });
  fs.writeFileSync(path.join(dir, "a.txt"), "hello from the gofer\n");
  fs.writeFileSync(path.join(dir, "empty"), "");
  fs.writeFileSync(path.join(dir, ".hidden"), "hidden\n");
  fs.writeFileSync(path.join(dir, "big.bin"), bytes(BIG, 7));
  fs.writeFileSync(path.join(dir, "sub/f"), "sub file\n");
  fs.writeFileSync(path.join(dir, "sub/deeper/g"), "deeper\n");
  fs.symlinkSync("a.txt", path.join(dir, "link"));
  fs.chmodSync(path.join(dir, "a.txt"), 0o640);
  fs.chmodSync(path.join(dir, "sub/deeper"), 0o2750);
  fs.chownSync(path.join(dir, "sub/f"), 1234, 4321);
  // Dates ls shows with the year (older than six months).
  fs.utimesSync(path.join(dir, "sub/f"), new Date("2020-02-03T04:05:06Z"), new Date("2020-02-03T04:05:06Z"));
}

for (const cfg of CONFIGS) {
  describe(cfg.name, () => {
    // Each configuration works in a directory of its own below the root.
    const rel = cfg.name.replace(/[^a-z0-9]+/gi, "-").replace(/-$/, "");
    const hostDir = () => path.join(fx.mount, rel);
    const run = (args: string[], input?: Uint8Array) => client([...cfg.flags(), ...args], input);

    beforeAll(() => populate(hostDir()));

    test("ping: mounts and times a round trip", () => {
      const out = ok(run(["ping", "-c", "3"]), "ping").toString();
      const proto = cfg.kind === "lisafs" ? "lisafs over" : cfg.kind === "9p" ? "9P version 9P2000.L \\(" : "9P version 9P2000.L.Google.13";
      expect(out).toMatch(new RegExp(`^\\S+: ${proto}`));
      expect(out.split("\n")[0]).toContain(cfg.name.includes("channel") ? "over a flipcall channel" : "over the socket");
      expect(out).toMatch(/\nmount: \d+\.\d{3} ms\n/);
      expect(out.match(/round trip \d: \d+\.\d{3} ms\n/g)?.length).toBe(3);
      expect(out).toMatch(/round trips: min\/avg\/max = [\d.]+\/[\d.]+\/[\d.]+ ms\n$/);
    });

    test("ls, ls -A, ls -lRA and ls of a file match GNU ls on the host", () => {
      expect(ok(run(["ls", rel]), "ls").toString()).toBe(host(["ls", rel]));
      expect(ok(run(["ls", "-A", rel]), "ls -A").toString()).toBe(host(["ls", "-A", rel]));
      expect(ok(run(["ls", "-l", "-R", "-A", rel]), "ls -lRA").toString()).toBe(host(["ls", "-lRA", rel]));
      expect(ok(run(["ls", "-R", `${rel}/sub`]), "ls -R").toString()).toBe(host(["ls", "-R", `${rel}/sub`]));
      expect(ok(run(["ls", "-l", `${rel}/link`]), "ls -l link").toString()).toBe(host(["ls", "-l", `${rel}/link`]));
      expect(ok(run(["ls", `${rel}/a.txt`]), "ls file").toString()).toBe(`${rel}/a.txt\n`);
    });

    test("stat matches GNU stat on the host (9P has no device, lisafs no birth time)", () => {
      for (const name of ["a.txt", "sub", "link", "empty", "sub/deeper"]) {
        const p = `${rel}/${name}`;
        const ours = ok(run(["stat", p]), `stat ${p}`).toString().split("\n");
        const theirs = host(["stat", p]).split("\n");
        // Birth: what the server says of it differs by protocol and server.
        const birth = (l: string[]) => l.filter((x) => !x.startsWith(" Birth:"));
        let [o, t] = [birth(ours), birth(theirs)];
        if (cfg.kind !== "lisafs") [o, t] = [o, t].map((l) => l.map((x) => x.replace(/^Device: \S+\t/, "Device: -\t")));
        expect(o).toEqual(t);
      }
    });

    test("cat: the bytes of the host file, small and across many messages", () => {
      expect(ok(run(["cat", `${rel}/a.txt`]), "cat").toString()).toBe("hello from the gofer\n");
      expect(ok(run(["cat", `${rel}/empty`]), "cat empty").byteLength).toBe(0);
      expect(ok(run(["cat", `${rel}/big.bin`]), "cat big").equals(fs.readFileSync(path.join(hostDir(), "big.bin")))).toBe(true);
    });

    test("put: stdin becomes the host file, created and then truncated", () => {
      const data = bytes(1_500_000, 3);
      ok(run(["put", `${rel}/put.bin`], data), "put");
      const h = path.join(hostDir(), "put.bin");
      expect(fs.readFileSync(h).equals(data)).toBe(true);
      expect(fs.statSync(h).mode & 0o777).toBe(0o666 & ~process.umask());
      ok(run(["put", `${rel}/put.bin`], Buffer.from("short\n")), "put again");
      expect(fs.readFileSync(h, "utf8")).toBe("short\n");
    });

    test("mkdir, mv, rm: the host tree changes accordingly", () => {
      ok(run(["mkdir", `${rel}/newdir`]), "mkdir");
      const nd = path.join(hostDir(), "newdir");
      expect(fs.statSync(nd).isDirectory()).toBe(true);
      expect(fs.statSync(nd).mode & 0o777).toBe(0o777 & ~process.umask());
      fs.writeFileSync(path.join(hostDir(), "moveme"), "moving\n");
      ok(run(["mv", `${rel}/moveme`, `${rel}/newdir/moved`]), "mv");
      expect(fs.existsSync(path.join(hostDir(), "moveme"))).toBe(false);
      expect(fs.readFileSync(path.join(nd, "moved"), "utf8")).toBe("moving\n");
      // A directory that is not empty stays.
      const notEmpty = run(["rm", `${rel}/newdir`]);
      expect(notEmpty.code).toBe(1);
      expect(notEmpty.stderr).toBe(`gofer client: ${rel}/newdir: Directory not empty\n`);
      ok(run(["rm", `${rel}/newdir/moved`]), "rm file");
      expect(fs.existsSync(path.join(nd, "moved"))).toBe(false);
      ok(run(["rm", `${rel}/newdir`]), "rm dir");
      expect(fs.existsSync(nd)).toBe(false);
    });

    test("df: the served file system's numbers, as df -k shows them", () => {
      const ours = ok(run(["df"]), "df").toString().split("\n");
      expect(ours[0]).toMatch(/^Filesystem +1K-blocks +Used +Available +Use% +Mounted on$/);
      const theirs = host(["df", "-k", "--output=size,used,avail,pcent", "."]).split("\n")[1].trim().split(/\s+/);
      const row = ours[1].split(/\s+/);
      expect(row.slice(-5, -1)).toEqual(theirs);
      expect(row[row.length - 1]).toBe(cfg.diod ? fx.mount : "/");
    });

    test("xattr: set, list and get against the host's", () => {
      const p = `${rel}/a.txt`;
      const h = path.join(hostDir(), "a.txt");
      const set = run(["xattr", p, "user.gofer", "set by the client"]);
      if (cfg.xattr === "no") {
        // Plain 9P to our gofer: gVisor's p9 has no Txattrcreate.
        expect(set.code).toBe(1);
        expect(set.stderr).toBe(`gofer client: ${p}: Function not implemented\n`);
        expect(hostXattr(h, "user.gofer")).toBeNull();
        return;
      }
      ok(set, "xattr set");
      expect(hostXattr(h, "user.gofer")).toBe("set by the client");
      setHostXattr(h, "user.host", "set on the host");
      expect(ok(run(["xattr", p]), "xattr list").toString().split("\n").filter(Boolean).sort()).toEqual(["user.gofer", "user.host"]);
      expect(ok(run(["xattr", p, "user.host"]), "xattr get").toString()).toBe("set on the host");
      const missing = run(["xattr", p, "user.none"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe(`gofer client: ${p}: No data available\n`);
    });

    test("bench: a table of fstat, pread and walk latencies", () => {
      const out = ok(run(["bench", "-n", "50", `${rel}/a.txt`]), "bench").toString().split("\n");
      expect(out[0]).toContain(`50 round trips each on ${rel}/a.txt`);
      expect(out[1]).toMatch(/^op +n +p50 us +p99 us +mean us$/);
      const rows = out.slice(2).filter(Boolean);
      expect(rows.length).toBe(3);
      expect(rows[0]).toMatch(/fstat/);
      expect(rows[1]).toMatch(/pread/);
      expect(rows[2]).toMatch(/^walk 2 names/);
      for (const r of rows) {
        const [n, p50, p99, mean] = r.split(/\s{2,}/).slice(1).map(Number);
        expect(n).toBe(50);
        expect(p50).toBeGreaterThan(0);
        expect(p99).toBeGreaterThanOrEqual(p50);
        expect(mean).toBeGreaterThan(0);
      }
    });

    test("a missing file: `gofer client: PATH: strerror`, exit 1", () => {
      for (const cmd of [["cat"], ["stat"], ["ls", "-l"], ["rm"]]) {
        const r = run([...cmd, `${rel}/nope`]);
        expect(r.code).toBe(1);
        expect(r.stderr).toBe(`gofer client: ${rel}/nope: No such file or directory\n`);
        expect(r.stdout.byteLength).toBe(0);
      }
      const notDir = run(["ls", `${rel}/a.txt/x`]);
      expect(notDir.code).toBe(1);
      // The server's own errno: a walk through a regular file is ENOTDIR
      // from the host (lisafs, diod); gVisor's p9 server answers EINVAL.
      const why = cfg.kind !== "lisafs" && !cfg.diod ? "Invalid argument" : "Not a directory";
      expect(notDir.stderr).toBe(`gofer client: ${rel}/a.txt/x: ${why}\n`);
    });
  });
}

describe("reaching the server", () => {
  test("fd:N: an inherited socket connected to a gofer's --io-fd", async () => {
    const pair = libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
    if (typeof pair === "number") throw new Error(`socketpair: errno ${-pair}`);
    const g = Bun.spawn([GOFER, "--io-fd", "3", "--mount", fx.mount], { stdio: ["ignore", "inherit", "inherit", pair[1]] });
    libc.close(pair[1]);
    fs.writeFileSync(path.join(fx.mount, "via-fd"), "through an inherited FD\n");
    const r = client(["-s", "fd:3", "cat", "via-fd"], undefined, [pair[0]]);
    libc.close(pair[0]);
    expect(ok(r, "cat via fd:3").toString()).toBe("through an inherited FD\n");
    // The client's exit closed the only connection: the gofer is done.
    expect(await Promise.race([g.exited, Bun.sleep(10_000).then(() => "still running")])).toBe(0);
  });

  test("a socket nobody listens on: exit 1 with the path and strerror", () => {
    const p = path.join(fx.logs, "nobody.sock");
    const r = client(["-s", p, "ls"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`gofer client: ${p}: No such file or directory\n`);
  });

  test("--spawn of a missing directory: exit 1 naming it", () => {
    const missing = path.join(fx.logs, "no-such-dir");
    const r = client(["--spawn", missing, "ls"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`gofer client: ${missing}: No such file or directory\n`);
  });

  test("a server that answers nonsense: one line naming it, exit 1", async () => {
    const sock = path.join(fx.logs, "nonsense.sock");
    // A lisafs header claiming a 4 GiB payload, then the connection ends.
    const reply = new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0]);
    const server = Bun.listen({ unix: sock, socket: { data: (s) => void (s.write(reply), s.end()) } });
    try {
      const p = Bun.spawn([GOFER, "client", "-s", sock, "--no-channels", "ls"], { stdout: "pipe", stderr: "pipe", env: ENV });
      const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      expect(code).toBe(1);
      expect(stderr).toBe(`gofer client: ${sock}: reply payload of 4294967295 bytes is larger than lisafs allows\n`);
    } finally {
      server.stop(true);
    }
  });

  test("9p-google to diod: a message that says to use plain 9p", () => {
    const r = client(["-s", addrs.diod, "--protocol", "9p-google", "--aname", fx.mount, "ping"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gofer client: \S+: the server refused Tversion 9P2000\.L\.Google\.13: .+ \(try --protocol 9p\)\n$/);
  });

  test("usage errors exit 2", () => {
    const cases: string[][] = [
      ["ls"], // no server
      ["-s", "/x", "--spawn", fx.mount, "ls"], // both
      ["--spawn", fx.mount, "ls", "--bogus"],
      ["--spawn", fx.mount, "mv", "only-one"],
      ["--spawn", fx.mount, "--protocol", "nfs", "ls"],
      ["--spawn", fx.mount, "bench", "-n", "0"],
      ["-s", "tcp:nowhere", "ls"],
      ["--spawn", fx.mount, "frobnicate"],
    ];
    for (const args of cases) {
      const r = client(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr.length).toBeGreaterThan(0);
      expect(r.stdout.byteLength).toBe(0);
    }
  });

  test("gofer client --help lists the commands, exit 0", () => {
    const r = client(["--help"]);
    expect(r.code).toBe(0);
    for (const c of ["ls", "stat", "cat", "put", "mkdir", "rm", "mv", "df", "xattr", "ping", "bench"]) expect(r.stdout.toString()).toMatch(new RegExp(`\\n  ${c} `));
  });
});
