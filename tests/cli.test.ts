// The command line and the process lifecycle: every usage mistake is one
// line on stderr and exit 2; --version/--help exit 0; the gofer exits 0 when
// its last client has gone.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { commanderFlags, scanFlags } from "../src/cli";
import { readable, sendmsg, waitEOF } from "./lib/client";
import { GOFER, Gofer, useFixture } from "./lib/fixture";

const fx = useFixture();

/** Runs the gofer with argv and extra FDs (placed at 3, 4, ...). */
async function run(argv: string[], fds: number[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([GOFER, ...argv], { stdio: ["ignore", "pipe", "pipe", ...fds] });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

function socketpair(): [number, number] {
  const p = libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
  if (typeof p === "number") throw new Error(`socketpair: errno ${-p}`);
  return p;
}

/** A usage error: exit 2, exactly one line on stderr naming the problem. */
async function expectUsage(argv: string[] | ((m: string) => string[]), mention: RegExp, fds?: () => number[]) {
  const args = typeof argv === "function" ? argv(fx.mount) : argv;
  const extra = fds?.() ?? [];
  const r = await run(args, extra);
  for (const f of extra) libc.close(f);
  expect({ args, code: r.code }).toEqual({ args, code: 2 });
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(lines.length).toBe(1);
  expect(lines[0]).toStartWith("gofer: ");
  expect(lines[0]).toMatch(mention);
  expect(r.stdout).toBe("");
}

describe("usage errors exit 2 with one line", () => {
  const withSocket = () => {
    const [a, b] = socketpair();
    libc.close(a);
    return [b];
  };
  test("no --io-fd", () => expectUsage([], /--io-fd/));
  test("no --io-fd but a mount", () => expectUsage((m) => ["--mount", m], /--io-fd/));
  test("--io-fd without --mount", () => expectUsage(["--io-fd", "3"], /--mount/, withSocket));
  test("more mounts than FDs", () => expectUsage((m) => ["--io-fd", "3", "--mount", m, "--mount", m], /--mount/, withSocket));
  test("a relative mount path", () => expectUsage(["--io-fd", "3", "--mount", "relative/dir"], /absolute/, withSocket));
  test("a missing mount path", () => expectUsage((m) => ["--io-fd", "3", "--mount", `${m}/does-not-exist`], /does not exist/, withSocket));
  test("a missing read-only mount path", () => expectUsage((m) => ["--io-fd", "3", "--mount", `${m}/nope:ro`], /does not exist/, withSocket));
  test("--io-fd not a number", () => expectUsage((m) => ["--io-fd", "three", "--mount", m], /--io-fd/));
  test("--io-fd not open", () => expectUsage((m) => ["--io-fd", "57", "--mount", m], /not an open FD/));
  test("--io-fd not a socket", () =>
    expectUsage((m) => ["--io-fd", "3", "--mount", m], /not a socket/, () => [fs.openSync(path.join(fx.root, "logs"), "r")]));
  test("--io-fd a socket that is not connected", () =>
    expectUsage((m) => ["--io-fd", "3", "--mount", m], /not connected/, () => [libc.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0)]));
  test("the same --io-fd twice", () => expectUsage((m) => ["--io-fd", "3", "--mount", m, "--io-fd", "3", "--mount", m], /twice/, withSocket));
  test("an unknown flag", () => expectUsage((m) => ["--io-fd", "3", "--mount", m, "--frobnicate"], /frobnicate/, withSocket));
  test("a stray argument", () => expectUsage((m) => ["--io-fd", "3", "--mount", m, "extra"], /extra|argument/, withSocket));
  for (const [flag, bad] of [
    ["--host-uds", "everything"],
    ["--host-fifo", "all"],
    ["--event-loop", "spin"],
    ["--protocol", "nfs"],
    ["--log-level", "loud"],
  ])
    test(`${flag} ${bad}`, () => expectUsage((m) => ["--io-fd", "3", "--mount", m, flag, bad], new RegExp(bad), withSocket));
  test("--listen with --io-fd", () => expectUsage((m) => ["--io-fd", "3", "--mount", m, "--listen", "unix:/tmp/x.sock"], /--listen and --io-fd/, withSocket));
  test("--listen with two mounts", () => expectUsage((m) => ["--mount", m, "--mount", m, "--listen", "unix:/tmp/x.sock"], /exactly one --mount/));
  test("--listen on a non-loopback address", () => expectUsage((m) => ["--mount", m, "--listen", "tcp:0.0.0.0:5640"], /--listen-remote/));
  test("--listen with a relative socket path", () => expectUsage((m) => ["--mount", m, "--listen", "unix:x.sock"], /absolute/));
  test("--listen with a bad address", () => expectUsage((m) => ["--mount", m, "--listen", "udp:1"], /unix:\/path or tcp:HOST:PORT/));
  test("--log-fd not open", () => expectUsage((m) => ["--io-fd", "3", "--mount", m, "--log-fd", "58"], /--log-fd/, withSocket));
  test("--log-fd not a number", () => expectUsage((m) => ["--io-fd", "3", "--mount", m, "--log-fd", "x"], /--log-fd/, withSocket));
});

describe("--version and --help", () => {
  test("--version prints the version and exits 0", async () => {
    const r = await run(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(import.meta.dir, "../package.json"), "utf8")).version);
  });
  test("--help describes the flags and exits 0", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    for (const flag of ["--io-fd", "--mount", "--host-uds", "--host-fifo", "--donate-mount-fd", "--xattr-user", "--event-loop", "--log-level", "--log-fd", "--protocol"])
      expect(r.stdout).toContain(flag);
    // Printed once.
    expect(r.stdout.match(/Usage:/g)?.length).toBe(1);
    expect(r.stderr).toBe("");
    // The client is listed, though a gofer start does not load it.
    expect(r.stdout).toMatch(/client .*talk to a running gofer/);
  });
  test("`client` after server flags is the client, its own help included", async () => {
    const direct = await run(["client", "--help"]);
    const after = await run(["--log-level", "warn", "client", "--help"]);
    expect(direct.code).toBe(0);
    expect(direct.stdout).toContain("Usage: gofer client");
    expect(after).toEqual(direct);
    const bad = await run(["--log-level", "warn", "client", "frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("frobnicate");
  });
});

describe("process lifecycle", () => {
  test("exits 0 when its only client closes", async () => {
    const g = Gofer.start(fx);
    g.client.mount();
    g.client.channel();
    g.client.fstat(1);
    expect(await g.stop()).toBe(0);
  });

  test("exits 0 when a client leaves without sending anything", async () => {
    const g = Gofer.start(fx);
    expect(await g.stop()).toBe(0);
  });

  test("stays up while any client remains; exits 0 after the last", async () => {
    const g = Gofer.start(fx, { mounts: (f) => [f.mount, `${f.mount}:ro`, f.mount] });
    const [a, b, c] = g.clients;
    const roots = g.clients.map((x) => x.mount().root.id);
    a.disconnect();
    c.channel();
    c.disconnect();
    expect(b.fstat(roots[1]).ino).toBe(fs.statSync(fx.mount, { bigint: true }).ino);
    expect(await g.exitCode(300)).toBe(null);
    b.disconnect();
    expect(await g.exitCode()).toBe(0);
  });

  test("exits 0 after a client is dropped for misbehaving", async () => {
    const g = Gofer.start(fx);
    const hdr = new Uint8Array(8);
    new DataView(hdr.buffer).setUint32(0, 0xffffffff, true);
    expect(sendmsg(g.client.fd, hdr, 0, 8)).toBe(8);
    expect(waitEOF(g.client.fd)).toBe(true);
    expect(await g.exitCode()).toBe(0);
  });

  test("--log-fd sends the logs to that FD", async () => {
    const logPath = path.join(fx.logs, "via-log-fd.jsonl");
    const logFd = fs.openSync(logPath, "w");
    const [mine, theirs] = socketpair();
    const proc = Bun.spawn([GOFER, "--io-fd", "3", "--mount", fx.mount, "--log-level", "info", "--log-fd", "4"], {
      stdio: ["ignore", "ignore", "pipe", theirs, logFd],
    });
    libc.close(theirs);
    fs.closeSync(logFd);
    const hdr = new Uint8Array(8);
    new DataView(hdr.buffer).setUint16(4, 1, true); // Mount
    expect(sendmsg(mine, hdr, 0, 8)).toBe(8);
    expect(readable(mine, 5000)).toBe(true);
    libc.close(mine);
    expect(await proc.exited).toBe(0);
    expect(await new Response(proc.stderr).text()).toBe("");
    const lines = fs.readFileSync(logPath, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.some((l) => l.msg === "gofer serving")).toBe(true);
  });
});

// A runtime's plain command line is read without loading commander
// (src/cli.ts scanFlags); it must mean exactly what commander makes of it,
// and everything else must be left to commander.
describe("the flag scan agrees with commander", () => {
  const valued: [string, string[]][] = [
    ["--io-fd", ["3", "17"]],
    ["--mount", ["/srv/a", "/srv/b:ro", "/srv/\xe4\xb8\x80"]],
    ["--listen", ["unix:/tmp/x.sock", "tcp:127.0.0.1:0"]],
    ["--protocol", ["auto", "lisafs", "p9"]],
    ["--host-uds", ["none", "open", "create", "all"]],
    ["--host-fifo", ["none", "open"]],
    ["--lisafs", ["auto", "today"]],
    ["--event-loop", ["auto", "waitv", "threads"]],
    ["--log-level", ["trace", "warn", "silent"]],
    ["--log-fd", ["2", "9"]],
    ["--max-connections", ["1", "64"]],
    ["--fds-per-connection", ["100"]],
    ["--metrics", ["unix:/tmp/m.sock", "tcp:127.0.0.1:0"]],
  ];
  const booleans = ["--listen-remote", "--donate-mount-fd", "--xattr-user", "--allow-device-nodes"];
  // Deterministic pseudo-random command lines from the tables above.
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const lines: string[][] = [[]];
  for (let i = 0; i < 400; i++) {
    const argv: string[] = [];
    for (let k = rnd(7); k >= 0; k--) {
      if (rnd(4) === 0) {
        argv.push(booleans[rnd(booleans.length)]);
        continue;
      }
      const [flag, vals] = valued[rnd(valued.length)];
      const v = vals[rnd(vals.length)];
      if (rnd(2)) argv.push(flag, v);
      else argv.push(`${flag}=${v}`);
    }
    lines.push(argv);
  }
  test("every line the scan takes, commander reads the same", () => {
    let taken = 0;
    for (const argv of lines) {
      const scanned = scanFlags(argv);
      if (scanned === null) continue;
      taken++;
      expect({ argv, flags: scanned }).toEqual({ argv, flags: commanderFlags(argv) });
    }
    // Most well-formed lines must not need commander at all.
    expect(taken).toBeGreaterThan(lines.length * 0.9);
  });
  test("help, version, mistakes and odd forms are left to commander", () => {
    for (const argv of [
      ["--help"],
      ["--version"],
      ["-h"],
      ["--io-fd"],
      ["--io-fd", "--mount"],
      ["--frobnicate"],
      ["--io-fd", "3", "extra"],
      ["--protocol", "nfs"],
      ["--log-level=loud"],
      ["--xattr-user=yes"],
      ["client", "ls"],
      ["--trace"],
      ["--trace=Walk,FStat"],
    ])
      expect({ argv, flags: scanFlags(argv) }).toEqual({ argv, flags: null });
  });
});

describe("entry points", () => {
  // Each command-line form is its own entry point (src/entry.ts): a start
  // makes a function object for every function of the bundle it loads, run
  // or not, so a form's bundle must not carry another form's code. Read
  // from the source maps build.ts writes beside the executable.
  const sources = (entry: string): string[] => {
    const map = JSON.parse(fs.readFileSync(path.join(path.dirname(GOFER), `${entry}.js.map`), "utf8")) as { sources: string[] };
    return map.sources.map((s) => s.replace(/^(\.\.\/)+/, ""));
  };
  test("the dispatcher carries only what picks a form", () => {
    expect(sources("main").sort()).toEqual(["src/entry.ts", "src/main.ts", "src/runsc/args.ts"]);
  });
  test("the native form carries neither the client nor runsc's form", () => {
    const native = sources("native");
    expect(native).toContain("src/lisafs/handlers.ts");
    expect(native.filter((s) => s.startsWith("src/client/") || s.startsWith("src/runsc/"))).toEqual(["src/client/about.ts"]);
  });
  test("runsc's form carries neither the client nor the native command line", () => {
    const runsc = sources("runsc-form");
    expect(runsc).toContain("src/runsc/gofer.ts");
    expect(runsc.filter((s) => s.startsWith("src/client/") || s === "src/native.ts" || s === "src/cli.ts")).toEqual([]);
  });
});
