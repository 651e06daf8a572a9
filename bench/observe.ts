// What --metrics and --trace cost: ops/s of small lisafs RPCs over a
// flipcall channel (the hot path) against one gofer per run, with the
// configurations alternated run by run (ABCD ABCD ...) so that the shared
// machine's drift hits them alike. Also the CPU time per request of the
// gofer's main thread (the one that serves; /proc/PID/schedstat), which
// neither the client's cost nor other processes on the CPU blur.
//
//   taskset -c 1 node_modules/.bin/bun bench/observe.ts [--rounds 6] [--iters 20000] [--base PATH]
//
// Configurations: "off" (no flag), "metrics" (--metrics unix:...), "trace"
// (--trace, records to /dev/null), and with --base PATH, the same build
// without this code ("before", e.g. a build of the branch point): off and
// before differing by no more than the noise is "trace off costs nothing".
// The client is tests/lib/client.ts (our TypeScript lisafs client).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { Client } from "../tests/lib/client";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const rounds = Number(opt("--rounds", "6"));
const iters = Number(opt("--iters", "20000"));
const base = opt("--base", "");
const gofer = path.resolve(import.meta.dir, "../dist/gofer");

// --micro: the hook alone, in this process: what begin() + end() with
// metrics on add to one request, against an empty loop. Load on a shared
// machine stretches both alike, so this figure is steadier than the ops/s.
if (args.includes("--micro")) {
  const { Metrics } = await import("../src/observe/metrics");
  const { ConnObserver } = await import("../src/observe/observer");
  const u8 = new Uint8Array(64);
  const comm = { u8, view: new DataView(u8.buffer), endpoint: {}, id: 1 };
  const obs = new ConnObserver(1, "lisafs", new Metrics(), null, () => 1);
  const N = 2_000_000;
  const time = (f: (i: number) => void) => {
    for (let i = 0; i < N / 10; i++) f(i);
    const t0 = performance.now();
    for (let i = 0; i < N; i++) f(i);
    return ((performance.now() - t0) * 1e6) / N;
  };
  let sink = 0;
  const samples: number[] = [];
  for (let r = 0; r < 7; r++) {
    const empty = time((i) => {
      sink += i & 1;
    });
    const hook = time((i) => {
      const t0 = obs.begin(comm, 3 + (i & 7), 4, 8);
      obs.end(comm, 3 + (i & 7), 8, (i & 63) === 0 ? -9 : 144, 4, 144, t0);
    });
    samples.push(hook - empty);
  }
  samples.sort((a, b) => a - b);
  console.log(`metrics hook: ${samples[3].toFixed(0)} ns per request (median of 7; range ${samples[0].toFixed(0)}-${samples[6].toFixed(0)})${sink < 0 ? "" : ""}`);
  process.exit(0);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-obs-bench-"));
fs.mkdirSync(path.join(dir, "m"));
fs.writeFileSync(path.join(dir, "m", "f"), Buffer.alloc(4096, 1));

type Config = { name: string; bin: string; flags: string[] };
const configs: Config[] = [
  { name: "off", bin: gofer, flags: [] },
  { name: "metrics", bin: gofer, flags: ["--metrics", `unix:${dir}/metrics.sock`] }, // unlinked before each run
  { name: "trace", bin: gofer, flags: ["--trace"] },
];
if (base) configs.push({ name: "before", bin: base, flags: [] });

/** CPU time of the gofer's main thread (the one that serves), in ns:
 * /proc/PID/schedstat's first field, exact where stat's ticks are 10 ms. */
function cpuNs(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/schedstat`, "latin1").split(" ")[0]);
}

/** One run: ops/s of FStat, Walk+Close and PRead 4 KiB over a channel, and
 * the gofer's CPU µs per request over all of them. */
function run(c: Config): Record<string, number> {
  const pair = libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
  if (typeof pair === "number") throw new Error(`socketpair: errno ${-pair}`);
  fs.rmSync(`${dir}/metrics.sock`, { force: true }); // a killed gofer leaves it
  const devnull = fs.openSync("/dev/null", "w");
  const proc = Bun.spawn([c.bin, "--io-fd", "3", "--mount", path.join(dir, "m"), ...c.flags], { stdio: ["ignore", devnull, devnull, pair[1]] });
  fs.closeSync(devnull);
  libc.close(pair[1]);
  const cl = new Client(pair[0]);
  const m = cl.mount();
  cl.channel();
  const f = cl.walkTo(m.root.id, "f");
  const o = cl.openAt(f.id, 0);
  libc.close(o.hostFd);
  const ops: [string, number, () => void][] = [
    ["FStat", 1, () => cl.fstat(m.root.id)],
    ["Walk+Close", 2, () => cl.close([cl.walkTo(m.root.id, "f").id])],
    ["PRead 4KiB", 1, () => cl.pread(o.id, 0, 4096)],
  ];
  const out: Record<string, number> = {};
  let requests = 0;
  let ns = 0;
  for (const [name, reqs, op] of ops) {
    for (let i = 0; i < 2000; i++) op(); // warm-up
    const t0 = performance.now();
    const c0 = cpuNs(proc.pid);
    for (let i = 0; i < iters; i++) op();
    ns += cpuNs(proc.pid) - c0;
    out[name] = (iters / (performance.now() - t0)) * 1000;
    requests += iters * reqs;
  }
  out["gofer CPU µs/req"] = ns / 1000 / requests;
  cl.disconnect();
  proc.kill(9);
  return out;
}

const results: Record<string, Record<string, number[]>> = {};
for (let r = 0; r < rounds; r++) {
  // Rotate the order each round as well.
  for (let k = 0; k < configs.length; k++) {
    const c = configs[(k + r) % configs.length];
    const res = run(c);
    for (const [m, v] of Object.entries(res)) ((results[c.name] ??= {})[m] ??= []).push(v);
    process.stderr.write(`round ${r + 1}/${rounds} ${c.name}: ${Object.entries(res).map(([m, v]) => `${m} ${v.toFixed(1)}`).join(", ")}\n`);
  }
}
fs.rmSync(dir, { recursive: true, force: true });

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const metricNames = Object.keys(results.off);
const cols = configs.map((c) => c.name);
const lines = [
  `| metric (median of ${rounds} runs, ${iters} iterations each) | ${cols.join(" | ")} | ${cols.filter((c) => c !== "off").map((c) => `${c}/off`).join(" | ")} |`,
  `|---|${cols.map(() => "---:").join("|")}|${cols.filter((c) => c !== "off").map(() => "---:").join("|")}|`,
];
for (const m of metricNames) {
  const med = cols.map((c) => median(results[c][m]));
  const off = med[0];
  const fmt = (v: number) => (m.includes("CPU") ? v.toFixed(2) : Math.round(v).toString());
  lines.push(`| ${m}${m.includes("CPU") ? "" : " ops/s"} | ${med.map(fmt).join(" | ")} | ${med.slice(1).map((v) => (v / off).toFixed(3)).join(" | ")} |`);
}
console.log(lines.join("\n"));
