// The floor benchmark's driver (bench/floor/README.md): runs the Go flipcall
// client against fresh server processes in alternating rounds (go, bun, c,
// go, bun, c, ...) in each placement, every timed batch under the shared
// benchmark lock, appends one JSON line per round to a results file, and
// prints a markdown report.
//
//   bun bench/floor/run.ts [--placements unpinned,pinned,split[,noisy]]
//       [--servers go,bun,c] [--rounds 12] [--rounds-pinned N] [--rounds-split N] [--rounds-noisy N]
//       [--iters 20000] [--warmup 2000] [--batch 3] [--out FILE.jsonl]
//       [--label TEXT] [--lock /work/wt/bench.lock]
//   bun bench/floor/run.ts report FILE.jsonl... [--base go] [--per-round] [--max-other 20]
//
// Build first: bench/floor/build.sh (bench/floor/run.sh does both).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const B = `${ROOT}/build/floor`;

type ServerDef = { argv: string[]; env?: Record<string, string>; what: string };
const bun = `${B}/bunserver`;
const JIT_OFF = { BUN_JSC_useJIT: "0" };
const CONC_JIT_OFF = { BUN_JSC_useConcurrentJIT: "0" };
const ONE_MARKER = { BUN_JSC_numberOfGCMarkers: "1" };
/** Every server kind the driver knows, by name. */
export const SERVERS: Record<string, ServerDef> = {
  go: { argv: [`${B}/goserver`], what: "Go, gVisor's pkg/flipcall server side (RecvFirst, SendRecv)" },
  "go-1p": { argv: [`${B}/goserver`], env: { GOMAXPROCS: "1" }, what: "the Go server with GOMAXPROCS=1" },
  "go-locked": {
    argv: [`${B}/goserver`, "--lock-thread"],
    what: "the Go server with its serving goroutine locked to one OS thread (runtime.LockOSThread)",
  },
  c: { argv: [`${B}/cserver`], what: "C, FUTEX_WAIT/FUTEX_WAKE" },
  bun: { argv: [bun], what: "bare Bun, FUTEX_WAIT/FUTEX_WAKE through bun:ffi" },
  "bun-waitv": {
    argv: [bun, "--wait", "waitv", "--waitv-timeout-ms", "500"],
    what: "bare Bun, futex_waitv on the state word + a private word, 500 ms deadline (the gofer's wait while busy)",
  },
  "bun-waitv0": {
    argv: [bun, "--wait", "waitv"],
    what: "bare Bun, futex_waitv on the state word + a private word, no deadline",
  },
  "c-tick20": {
    argv: [`${B}/cserver`, "--tick-us", "20"],
    what: "C, with a second thread sleeping 20 µs at a time in a loop (like Go's sysmon while busy)",
  },
  "c-work5-tick20": {
    argv: [`${B}/cserver`, "--work-us", "5", "--tick-us", "20"],
    what: "C, 5 µs spinning per request, with a 20 µs ticker thread",
  },
  "c-waitv": {
    argv: [`${B}/cserver`, "--wait", "waitv", "--waitv-timeout-ms", "500"],
    what: "C, futex_waitv on the state word + a private word, 500 ms deadline",
  },
  "bun-nojit": { argv: [bun], env: JIT_OFF, what: "bare Bun, BUN_JSC_useJIT=0" },
  "bun-noconcjit": { argv: [bun], env: CONC_JIT_OFF, what: "bare Bun, BUN_JSC_useConcurrentJIT=0" },
  "bun-1marker": { argv: [bun], env: ONE_MARKER, what: "bare Bun, BUN_JSC_numberOfGCMarkers=1" },
  "go-work5": { argv: [`${B}/goserver`, "--work-us", "5"], what: "Go server, 5 µs of spinning per request" },
  "go-work5-1p": {
    argv: [`${B}/goserver`, "--work-us", "5"],
    env: { GOMAXPROCS: "1" },
    what: "Go server, 5 µs of spinning per request, GOMAXPROCS=1",
  },
  "go-work5-locked": {
    argv: [`${B}/goserver`, "--work-us", "5", "--lock-thread"],
    what: "Go server, 5 µs of spinning per request, serving goroutine locked to one OS thread",
  },
  "c-work5": { argv: [`${B}/cserver`, "--work-us", "5"], what: "C server, 5 µs of spinning per request" },
  "bun-work5": { argv: [bun, "--work-us", "5"], what: "bare Bun, 5 µs of busy JS per request" },
  "bun-work5-alloc": {
    argv: [bun, "--work-us", "5", "--alloc", "4"],
    what: "bare Bun, 5 µs of busy JS and 4 small objects per request",
  },
  "bun-gofer-like": {
    argv: [bun, "--wait", "waitv", "--waitv-timeout-ms", "500", "--work-us", "5", "--alloc", "1", "--gc-every", "4096"],
    what: "bare Bun shaped like the gofer's loop: futex_waitv with a 500 ms deadline, 5 µs busy JS and 1 object per request, Bun.gc(false) every 4,096",
  },
  "bun-work5-gc": {
    argv: [bun, "--work-us", "5", "--gc-every", "4096"],
    what: "bare Bun, 5 µs busy JS per request, Bun.gc(false) every 4,096",
  },
  "bun-waitv-work5": {
    argv: [bun, "--wait", "waitv", "--waitv-timeout-ms", "500", "--work-us", "5"],
    what: "bare Bun, futex_waitv with a 500 ms deadline, 5 µs busy JS per request",
  },
  "bun-waitv0-work5": {
    argv: [bun, "--wait", "waitv", "--work-us", "5"],
    what: "bare Bun, futex_waitv without a deadline, 5 µs busy JS per request",
  },
  "c-waitv-work5": {
    argv: [`${B}/cserver`, "--wait", "waitv", "--waitv-timeout-ms", "500", "--work-us", "5"],
    what: "C, futex_waitv with a 500 ms deadline, 5 µs spinning per request",
  },
  "bun-work5-quiet": {
    argv: [bun, "--work-us", "5"],
    env: { ...JIT_OFF, ...ONE_MARKER, BUN_JSC_useConcurrentGC: "0" },
    what: "bare Bun, 5 µs busy JS, JIT off, 1 GC marker, no concurrent GC",
  },
  "bun-work5-nojit": { argv: [bun, "--work-us", "5"], env: JIT_OFF, what: "bare Bun, 5 µs busy JS, BUN_JSC_useJIT=0" },
  "bun-work5-noconcjit": {
    argv: [bun, "--work-us", "5"],
    env: CONC_JIT_OFF,
    what: "bare Bun, 5 µs busy JS, BUN_JSC_useConcurrentJIT=0",
  },
  "bun-work5-1marker": {
    argv: [bun, "--work-us", "5"],
    env: ONE_MARKER,
    what: "bare Bun, 5 µs busy JS, BUN_JSC_numberOfGCMarkers=1",
  },
};

type Placement = "unpinned" | "pinned" | "split" | "noisy";
const PLACEMENT: Record<Placement, { clientPrefix: string[]; serverCpu: number; what: string; noise?: string[] }> = {
  unpinned: { clientPrefix: [], serverCpu: -1, what: "nobody pinned" },
  pinned: { clientPrefix: ["taskset", "-c", "0"], serverCpu: -1, what: "client and server on CPU 0" },
  split: { clientPrefix: ["taskset", "-c", "0"], serverCpu: 1, what: "client on CPU 0, server on CPU 1" },
  noisy: {
    clientPrefix: [],
    serverCpu: -1,
    what: "nobody pinned, with build/floor/noise running: a thread that sleeps 0.5-5 ms and spins 20-300 µs, ~6% of a CPU",
    noise: [`${B}/noise`],
  },
};

type Thread = { tid: number; comm: string; vol: number; invol: number; migr: number; runMs: number };
export type Round = {
  label?: string;
  src?: number; // which results file (report)
  placement: Placement;
  server: string;
  round: number;
  seq: number;
  start: string;
  connectMs: number;
  iters: number;
  medianUs: number;
  p10Us: number;
  p90Us: number;
  p99Us: number;
  meanUs: number;
  far: number;
  same: number;
  flips: number;
  tenthsSame: number[];
  wallMs?: number;
  otherMs?: number; // CPU time of every other thread on the machine meanwhile
  stealMs?: number; // the hypervisor's steal time meanwhile (10 ms ticks)
  client: Thread;
  serverThreads: Thread[];
};

function flag(args: string[], name: string, def: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}

async function run(args: string[]): Promise<void> {
  const placements = flag(args, "--placements", "unpinned,pinned,split").split(",") as Placement[];
  const servers = flag(args, "--servers", "go,bun,c").split(",");
  const rounds = Number(flag(args, "--rounds", "12"));
  const roundsFor: Record<Placement, number> = {
    unpinned: rounds,
    pinned: Number(flag(args, "--rounds-pinned", String(rounds))),
    split: Number(flag(args, "--rounds-split", String(rounds))),
    noisy: Number(flag(args, "--rounds-noisy", String(rounds))),
  };
  const iters = Number(flag(args, "--iters", "20000"));
  const warmup = Number(flag(args, "--warmup", "2000"));
  const batch = Number(flag(args, "--batch", "3"));
  const lock = flag(args, "--lock", "/work/wt/bench.lock");
  const label = flag(args, "--label", "");
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const out = resolve(flag(args, "--out", `${ROOT}/bench/floor/results/floor-${stamp}.jsonl`));
  for (const p of placements) if (!(p in PLACEMENT)) throw new Error(`unknown placement ${p}`);
  for (const s of servers) if (!(s in SERVERS)) throw new Error(`unknown server ${s}; known: ${Object.keys(SERVERS)}`);
  for (const f of [`${B}/client`, `${B}/goserver`, `${B}/bunserver`, `${B}/cserver`, `${B}/noise`])
    if (!existsSync(f)) throw new Error(`${f} missing: run bench/floor/build.sh`);
  mkdirSync(dirname(out), { recursive: true });
  const specFile = `${B}/spec-${process.pid}.json`;
  console.error(`results -> ${out}`);
  for (const placement of placements) {
    const pl = PLACEMENT[placement];
    for (let done = 0; done < roundsFor[placement]; ) {
      const n = Math.min(batch, roundsFor[placement] - done);
      const spec = {
        rounds: n,
        iters,
        warmup,
        serverCpu: pl.serverCpu,
        windowLen: 4096,
        farUs: 20,
        label,
        noise: pl.noise,
        servers: servers.map((name) => ({ name, argv: SERVERS[name].argv, env: SERVERS[name].env ?? {} })),
      };
      writeFileSync(specFile, JSON.stringify(spec));
      const cmd = ["flock", lock, ...pl.clientPrefix, `${B}/client`, "--spec", specFile];
      console.error(`== ${placement}, rounds ${done + 1}-${done + n} of ${roundsFor[placement]}: ${cmd.join(" ")}`);
      const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "inherit", cwd: ROOT });
      const text = await new Response(p.stdout).text();
      if ((await p.exited) !== 0) throw new Error(`client failed (exit ${p.exitCode})`);
      for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        const r = JSON.parse(line) as Round;
        r.placement = placement;
        r.round += done;
        appendFileSync(out, `${JSON.stringify(r)}\n`);
      }
      done += n;
    }
  }
  console.log(report(load(out), "go", false));
  console.error(`results: ${out}`);
}

export function load(file: string, src = 0): Round[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => ({ ...JSON.parse(l), src }));
}

/** Rounds of different servers pair up when they ran in the same round of
 * the same invocation (same file, label and round number). */
const key = (r: Round) => `${r.src ?? 0}:${r.label ?? ""}:${r.round}`;

function quantile(v: number[], q: number): number {
  if (v.length === 0) return Number.NaN;
  const s = [...v].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
const med = (v: number[]) => quantile(v, 0.5);
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–");

/** The server's other threads that ran during the timed loop (JSC's and
 * Bun's helpers; for Go, the runtime's other Ms): per thread name, in how
 * many rounds and with how many context switches per such round. The
 * serving thread (most CPU time) is left out. */
function helperWakes(rs: Round[]): string {
  const by = new Map<string, { rounds: number; switches: number }>();
  for (const r of rs) {
    const main = r.serverThreads.reduce((a, t) => (t.runMs > a.runMs ? t : a), r.serverThreads[0]);
    const here = new Map<string, number>();
    for (const t of r.serverThreads) {
      const sw = t.vol + t.invol;
      if (t !== main && sw > 0) here.set(t.comm, (here.get(t.comm) ?? 0) + sw);
    }
    for (const [comm, sw] of here) {
      const e = by.get(comm) ?? { rounds: 0, switches: 0 };
      e.rounds++;
      e.switches += sw;
      by.set(comm, e);
    }
  }
  if (by.size === 0) return "none";
  return [...by.entries()].map(([k, v]) => `${k} ${v.rounds}r/${Math.round(v.switches / v.rounds)}`).join(", ");
}

/** How long a split lasts: round trips with client and server on different
 * CPUs per split (a split starts and ends with a flip of "same"). */
function splitLength(r: Round): number {
  const apart = (1 - r.same) * r.iters;
  return r.flips === 0 ? apart : apart / Math.max(r.flips / 2, 1);
}

/** What the rest of the machine ran during the timed loops: other threads'
 * CPU time as a share of the loop's wall time (of one CPU). */
function others(rs: Round[]): string {
  const v = rs.filter((r) => r.otherMs !== undefined && r.wallMs).map((r) => (100 * r.otherMs!) / r.wallMs!);
  const st = rs.filter((r) => r.stealMs !== undefined && r.wallMs).map((r) => (100 * r.stealMs!) / r.wallMs!);
  const steal = st.length ? `; steal ${Math.round(med(st))}% (${Math.round(Math.max(...st))}%)` : "";
  return v.length ? `${Math.round(med(v))}% (${Math.round(Math.max(...v))}%)${steal}` : "–";
}

/**
 * The report. Rounds during which the rest of the machine took more than
 * `maxOther` % of a CPU are left out (and counted): a neighbour that keeps
 * the other CPU busy holds the pair together, which is not the server's
 * doing. Their results stay in the file.
 */
export function report(everything: Round[], base: string, perRound: boolean, maxOther = 20): string {
  const out: string[] = [];
  const busy = (r: Round) => r.otherMs !== undefined && r.wallMs !== undefined && (100 * r.otherMs) / r.wallMs > maxOther;
  const all = everything.filter((r) => !busy(r));
  const left = everything.length - all.length;
  if (left > 0)
    out.push(
      `(${left} of ${everything.length} rounds left out: the rest of the machine took > ${maxOther}% of a CPU during their timed loop)`,
      "",
    );
  const placements = [...new Set(all.map((r) => r.placement))];
  const servers = [...new Set(all.map((r) => r.server))];
  // A round is slow when its median is over twice the server's "together"
  // latency: its pinned median where it ran pinned, else the median over its
  // rounds of their 10th percentiles (nearly every round has 10% of its
  // round trips together).
  const pinnedMedian = (s: string) => {
    const own = all.filter((r) => r.placement === "pinned" && r.server === s).map((r) => r.medianUs);
    return own.length ? med(own) : med(all.filter((r) => r.server === s && r.placement !== "split").map((r) => r.p10Us));
  };
  for (const placement of placements) {
    const rs = all.filter((r) => r.placement === placement);
    out.push(`### ${placement} (${PLACEMENT[placement].what})`, "");
    out.push(
      `| server | rounds | median of round medians µs | Q1–Q3 | median p99 µs | round trips > 20 µs, median | slow rounds | same CPU, median (min–max) | splits per 1k round trips | round trips per split | ratio to ${base}: median | Q1–Q3 | min–max | others' CPU, % of the loop: median (max) | helper threads that ran (rounds/switches per round) |`,
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    );
    const baseRounds = new Map<string, Round>();
    for (const r of rs) if (r.server === base) baseRounds.set(key(r), r);
    for (const s of servers) {
      const sr = rs.filter((r) => r.server === s);
      if (!sr.length) continue;
      const m = sr.map((r) => r.medianUs);
      const slowAt = 2 * pinnedMedian(s);
      const slow = sr.filter((r) => r.medianUs > slowAt).length;
      const same = sr.map((r) => r.same);
      const ratios = sr.filter((r) => baseRounds.has(key(r))).map((r) => r.medianUs / baseRounds.get(key(r))!.medianUs);
      const cells = [
        s,
        String(sr.length),
        f1(med(m)),
        `${f1(quantile(m, 0.25))}–${f1(quantile(m, 0.75))}`,
        f1(med(sr.map((r) => r.p99Us))),
        `${Math.round(100 * med(sr.map((r) => r.far)))}%`,
        `${slow}/${sr.length} (> ${f1(slowAt)})`,
        `${f2(med(same))} (${f2(Math.min(...same))}–${f2(Math.max(...same))})`,
        f1(med(sr.map((r) => (500 * r.flips) / r.iters))),
        f1(med(sr.map(splitLength))),
        s === base ? "1" : `${f2(med(ratios))}×`,
        s === base ? "" : `${f2(quantile(ratios, 0.25))}–${f2(quantile(ratios, 0.75))}`,
        s === base ? "" : `${f2(Math.min(...ratios))}–${f2(Math.max(...ratios))}`,
        others(sr),
        helperWakes(sr),
      ];
      out.push(`| ${cells.join(" | ")} |`);
    }
    out.push("");
    if (perRound) {
      const present = servers.filter((s) => rs.some((r) => r.server === s));
      out.push(`Per round: median / p99 µs (same-CPU fraction)`, "");
      out.push(`| round | ${present.join(" | ")} |`, `|---|${present.map(() => "---:").join("|")}|`);
      const keys = [...new Set(rs.map(key))];
      keys.forEach((k, i) => {
        const cells = present.map((s) => {
          const r = rs.find((x) => x.server === s && key(x) === k);
          return r ? `${f1(r.medianUs)} / ${f1(r.p99Us)} (${f2(r.same)})` : "";
        });
        out.push(`| ${i + 1} | ${cells.join(" | ")} |`);
      });
      out.push("");
    }
  }
  return out.join("\n");
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args[0] === "report") {
    const files = args.slice(1).filter((a, i, arr) => !a.startsWith("--") && !["--base", "--max-other"].includes(arr[i - 1]));
    const rs = files.flatMap((f, i) => load(f, i));
    console.log(report(rs, flag(args, "--base", "go"), args.includes("--per-round"), Number(flag(args, "--max-other", "20"))));
  } else {
    await run(args);
  }
}
