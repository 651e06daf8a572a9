// runsc benchmark: a real gVisor sandbox (runsc, ptrace platform, directfs
// off unless --directfs on, so every file operation of the sandboxed program
// goes to the gofer over lisafs) with OUR gofer against the REFERENCE gofer,
// runs alternated in one invocation. See docs/benchmarks-runsc.md.
//
//   bun bench/runsc.ts [--rounds N] [--warmup N] [--gofer PATH] [--only ours|ref|both]
//                      [--out FILE] [--runsc PATH] [--workloads a,b,...]
//                      [--walk-tree DIR] [--tar-tree DIR] [--files N] [--timeout SEC]
//                      [--directfs on|off] [--start-rounds N]
//
// "ref" runs runsc as it is (its own gofer); "ours" runs it with
// RUNSC_GOFER_OVERRIDE=<gofer> (default <repo>/dist/gofer). Passing
// --gofer /opt/gvisor-ref/bin/runsc-stock runs the reference gofer through the
// override path, which validates the harness (ratios should be ~1.0×).
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { makeBundle } from "../scripts/runsc-bundle.ts";

const REPO = resolve(import.meta.dir, "..");

// ---------------------------------------------------------------- options

interface Options {
  rounds: number;
  warmup: number;
  gofer: string;
  /** If set, the ref side also goes through RUNSC_GOFER_OVERRIDE, with this program. */
  refGofer: string;
  only: "ours" | "ref" | "both";
  out: string;
  runsc: string;
  workloads: string[];
  walkTree: string;
  tarTree: string;
  files: number;
  startRounds: number;
  timeoutSec: number;
  /** runsc's --directfs: off sends every file operation to the gofer. */
  directfs: boolean;
}

const USAGE = `usage: bun bench/runsc.ts [options]
  --rounds N        timed runs per side per workload (default 5)
  --warmup N        untimed runs per side per workload first (default 1)
  --gofer PATH      our gofer (default <repo>/dist/gofer)
  --ref-gofer PATH  run the ref side through RUNSC_GOFER_OVERRIDE too (e.g.
                    /opt/gvisor-ref/bin/runsc-stock), so both sides pay the
                    override hook's extra exec of runsc (default: ref = runsc's
                    own gofer, no override)
  --only WHICH      ours | ref | both (default both)
  --out FILE        markdown report (default bench/results/runsc-latest.md)
  --runsc PATH      runsc binary (default $GVISOR_REF_HOME/bin/runsc, GVISOR_REF_HOME=/opt/gvisor-ref)
  --workloads LIST  comma-separated subset of: walk,tar,files,start,start-true
                    (default walk,tar,files,start)
  --directfs on|off runsc's --directfs (default off: every file operation
                    goes to the gofer)
  --walk-tree DIR   tree for the stat walk (default /usr/share/man)
  --tar-tree DIR    tree for the read workload (default /usr/share/doc)
  --files N         files to create and delete (default 5000)
  --start-rounds N  timed runs per side of the (cheap, noisy) start workload (default 20)
  --timeout SEC     kill a run after this long (default 300)
`;

const WORKLOADS = ["walk", "tar", "files", "start", "start-true"];

function parseArgs(argv: string[]): Options {
  const o: Options = {
    rounds: 5,
    warmup: 1,
    gofer: join(REPO, "dist/gofer"),
    refGofer: "",
    only: "both",
    out: join(REPO, "bench/results/runsc-latest.md"),
    runsc: join(process.env.GVISOR_REF_HOME || "/opt/gvisor-ref", "bin/runsc"),
    workloads: ["walk", "tar", "files", "start"],
    walkTree: "/usr/share/man",
    tarTree: "/usr/share/doc",
    files: 5000,
    startRounds: 20,
    timeoutSec: 300,
    directfs: false,
  };
  const fail = (msg: string): never => {
    process.stderr.write(`bench/runsc.ts: ${msg}\n${USAGE}`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v: string | undefined;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const val = (): string => v ?? argv[++i] ?? fail(`${a} needs a value`);
    const int = (min: number): number => {
      const s = val();
      const n = Number(s);
      if (!Number.isInteger(n) || n < min) fail(`${a}: bad number ${s}`);
      return n;
    };
    switch (a) {
      case "--rounds": o.rounds = int(1); break;
      case "--warmup": o.warmup = int(0); break;
      case "--gofer": o.gofer = resolve(val()); break;
      case "--ref-gofer": o.refGofer = resolve(val()); break;
      case "--only": {
        const w = val();
        if (w !== "ours" && w !== "ref" && w !== "both") fail(`--only: ours, ref or both, not ${w}`);
        o.only = w as Options["only"];
        break;
      }
      case "--out": o.out = resolve(val()); break;
      case "--runsc": o.runsc = resolve(val()); break;
      case "--workloads": {
        o.workloads = val().split(",").filter(Boolean);
        for (const w of o.workloads) if (!WORKLOADS.includes(w)) fail(`unknown workload ${w}`);
        break;
      }
      case "--walk-tree": o.walkTree = val(); if (!o.walkTree.startsWith("/")) fail("--walk-tree: absolute path"); break;
      case "--tar-tree": o.tarTree = val(); if (!o.tarTree.startsWith("/")) fail("--tar-tree: absolute path"); break;
      case "--files": o.files = int(1); break;
      case "--start-rounds": o.startRounds = int(1); break;
      case "--directfs": {
        const d = val();
        if (d !== "on" && d !== "off") fail(`--directfs: on or off, not ${d}`);
        o.directfs = d === "on";
        break;
      }
      case "--timeout": o.timeoutSec = int(1); break;
      case "-h":
      case "--help":
        process.stdout.write(USAGE);
        process.exit(0);
      default:
        fail(`unknown option ${a}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------- workloads

type Side = "ref" | "ours";

/** One run's measurements, in milliseconds, keyed by metric id. */
type Sample = Record<string, number>;

interface Metric {
  id: string;
  label: string;
}

interface Workload {
  name: string;
  title: string;
  /** What the sandbox runs (argv). */
  args: string[];
  mounts?: { source: string; destination: string; readonly?: boolean }[];
  metrics: Metric[];
  /** Turns the sandbox's stdout into inside-the-sandbox timings; throws if the output is wrong. */
  parse(stdout: string): Sample;
  /** Timed runs per side, if not --rounds. */
  rounds?: number;
  /** Called before each run (e.g. to empty the writable directory). */
  prepare?(): void;
}

/** Lines "@t NAME NANOSECONDS" printed by the workload scripts. */
function marks(stdout: string): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const line of stdout.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "@t" && f.length === 3) m.set(f[1], BigInt(f[2]));
  }
  return m;
}

function span(m: Map<string, bigint>, a: string, b: string): number {
  const x = m.get(a);
  const y = m.get(b);
  if (x === undefined || y === undefined) throw new Error(`missing time marks ${a}/${b}`);
  return Number(y - x) / 1e6;
}

/** "@v NAME VALUE" lines, for sanity checks (entry counts, byte counts). */
function values(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "@v" && f.length >= 3) m.set(f[1], f.slice(2).join(" "));
  }
  return m;
}

const NOW = "date +%s%N";

function hostCount(cmd: string): string {
  return execFileSync("/bin/sh", ["-c", cmd], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
}

function makeWorkloads(o: Options, writableDir: string): Workload[] {
  const all: Workload[] = [];
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

  if (o.workloads.includes("walk")) {
    const tree = o.walkTree;
    const expect = hostCount(`find ${q(tree)} -printf '%s %m\\n' | wc -l`);
    all.push({
      name: "walk",
      title: `stat-heavy walk: find ${tree} -printf '%s %m\\n' | wc -l (${expect} entries)`,
      args: ["/bin/sh", "-c", `echo "@t a $(${NOW})"; n=$(find ${q(tree)} -printf '%s %m\\n' | wc -l); echo "@t b $(${NOW})"; echo "@v entries $n"`],
      metrics: [{ id: "inside", label: `walk ${tree} (${expect} entries), inside` }],
      parse(out) {
        const v = values(out).get("entries");
        if (v !== expect) throw new Error(`find saw ${v} entries, host sees ${expect}`);
        return { inside: span(marks(out), "a", "b") };
      },
    });
  }

  if (o.workloads.includes("tar")) {
    const tree = o.tarTree;
    // GNU tar does not read file contents when its archive is /dev/null (it
    // compares the archive's inode with /dev/null's), so the archive goes to
    // /dev/zero, which discards it just as cheaply. Not a pipe: pushing the
    // archive through a pipe to wc costs the ptrace sentry ~75 ms per MiB,
    // which would swamp the gofer's share. 1 MiB records (-b 2048) keep the
    // number of read/write syscalls per file low for the same reason.
    // --totals prints the bytes written, checked against the host.
    const rel = tree.replace(/^\/+/, "");
    const cmd = `tar -c -b 2048 --totals -f /dev/zero -C / ${q(rel)}`;
    const totals = (s: string) => /Total bytes written: (\d+)/.exec(s)?.[1];
    const bytes = totals(hostCount(`${cmd} 2>&1`));
    const files = hostCount(`find ${q(tree)} | wc -l`);
    const mb = (Number(bytes) / 1048576).toFixed(0);
    all.push({
      name: "tar",
      title: `read a tree: \`${cmd}\` (${files} entries, ${mb} MiB archive)`,
      args: ["/bin/sh", "-c", `echo "@t a $(${NOW})"; t=$(${cmd} 2>&1); echo "@t b $(${NOW})"; echo "$t"`],
      metrics: [{ id: "inside", label: `tar ${tree} (${files} entries, ${mb} MiB), inside` }],
      parse(out) {
        const v = totals(out);
        if (v !== bytes) throw new Error(`tar wrote ${v} bytes in the sandbox, ${bytes} on the host: ${out.slice(-500)}`);
        return { inside: span(marks(out), "a", "b") };
      },
    });
  }

  if (o.workloads.includes("files")) {
    const n = o.files;
    let args: string[];
    let how: string;
    if (existsSync("/usr/bin/python3")) {
      // One process does all the work, so the time is the gofer's (and the
      // sentry's), not fork/exec of thousands of shell commands.
      how = "python3";
      const py = [
        "import os, time",
        `n = ${n}`,
        "d = '/w/bench'",
        "data = b'x' * 100",
        "print('@t a', time.time_ns(), flush=True)",
        "os.mkdir(d)",
        "for i in range(n):",
        "    fd = os.open(f'{d}/f{i}', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)",
        "    os.write(fd, data)",
        "    os.close(fd)",
        "print('@t b', time.time_ns(), flush=True)",
        "print('@v listed', len(os.listdir(d)), flush=True)",
        "print('@t c', time.time_ns(), flush=True)",
        "for i in range(n):",
        "    os.unlink(f'{d}/f{i}')",
        "os.rmdir(d)",
        "print('@t d', time.time_ns(), flush=True)",
      ].join("\n");
      args = ["/usr/bin/python3", "-S", "-c", py];
    } else {
      how = "sh loop";
      args = [
        "/bin/sh",
        "-c",
        `d=/w/bench; x=$(printf '%0100d' 0); echo "@t a $(${NOW})"; mkdir $d; i=0; while [ $i -lt ${n} ]; do printf %s "$x" > $d/f$i; i=$((i+1)); done; echo "@t b $(${NOW})"; echo "@v listed $(ls $d | wc -l)"; echo "@t c $(${NOW})"; rm -rf $d; echo "@t d $(${NOW})"`,
      ];
    }
    all.push({
      name: "files",
      title: `create and delete ${n} files of 100 bytes on a writable tmpfs bind mount (${how}, --overlay2=none)`,
      args,
      mounts: [{ source: writableDir, destination: "/w", readonly: false }],
      metrics: [
        { id: "create", label: `create ${n} × 100 B files, inside` },
        { id: "delete", label: `delete ${n} files, inside` },
      ],
      prepare() {
        rmSync(join(writableDir, "bench"), { recursive: true, force: true });
      },
      parse(out) {
        const v = values(out).get("listed");
        if (v !== String(n)) throw new Error(`listed ${v} files, expected ${n}`);
        if (existsSync(join(writableDir, "bench"))) throw new Error("the sandbox did not delete /w/bench");
        const m = marks(out);
        return { create: span(m, "a", "b"), delete: span(m, "c", "d") };
      },
    });
  }

  if (o.workloads.includes("start")) {
    all.push({
      name: "start",
      title: `sandbox start: runsc run of /bin/echo hi (${o.startRounds} runs per side)`,
      rounds: o.startRounds,
      args: ["/bin/echo", "hi"],
      metrics: [{ id: "first", label: "spawn → first stdout byte" }],
      parse(out) {
        if (out !== "hi\n") throw new Error(`expected "hi", got ${JSON.stringify(out)}`);
        return {};
      },
    });
  }
  if (o.workloads.includes("start-true")) {
    // Issue 13's other start measure: a sandbox that only starts and exits.
    all.push({
      name: "start-true",
      title: `sandbox start and exit: runsc run of /bin/true (${o.startRounds} runs per side)`,
      rounds: o.startRounds,
      args: ["/bin/true"],
      metrics: [],
      parse(out) {
        if (out !== "") throw new Error(`expected no output, got ${JSON.stringify(out)}`);
        return {};
      },
    });
  }
  return all;
}

// ---------------------------------------------------------------- running

interface Ctx {
  o: Options;
  stateDir: string;
  seq: number;
}

function runscFlags(o: Options): string[] {
  return ["--platform=ptrace", "--network=none", "--rootless=false", `--directfs=${o.directfs}`, "--overlay2=none"];
}

function sideEnv(o: Options, side: Side): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "RUNSC_GOFER_OVERRIDE") env[k] = v;
  if (side === "ours") env.RUNSC_GOFER_OVERRIDE = o.gofer;
  else if (o.refGofer) env.RUNSC_GOFER_OVERRIDE = o.refGofer;
  return env;
}

function forceDelete(ctx: Ctx, id: string): void {
  spawnSync(ctx.o.runsc, [`--root=${ctx.stateDir}`, "delete", "-force", id], { stdio: "ignore" });
}

/** One `runsc run`; returns the inside timings plus "wall" and "first" (ms from spawn). */
async function runOnce(ctx: Ctx, w: Workload, bundle: string, side: Side): Promise<Sample> {
  const id = `gofer-bench-${process.pid}-${++ctx.seq}`;
  w.prepare?.();
  const argv = [ctx.o.runsc, `--root=${ctx.stateDir}`, ...runscFlags(ctx.o), "run", "--bundle", bundle, id];
  const t0 = performance.now();
  const proc = Bun.spawn(argv, { env: sideEnv(ctx.o, side), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, ctx.o.timeoutSec * 1000);
  let first = -1;
  const chunks: Uint8Array[] = [];
  const stderrP = new Response(proc.stderr).text();
  try {
    for await (const c of proc.stdout) {
      if (first < 0) first = performance.now() - t0;
      chunks.push(c);
    }
    const code = await proc.exited;
    const wall = performance.now() - t0;
    const stderr = await stderrP;
    const stdout = Buffer.concat(chunks).toString("utf8");
    if (timedOut) throw new Error(`${side}/${w.name}: killed after ${ctx.o.timeoutSec} s`);
    if (code !== 0) throw new Error(`${side}/${w.name}: runsc exited ${code}\nstdout: ${stdout.slice(-2000)}\nstderr: ${stderr.slice(-4000)}`);
    const s = w.parse(stdout);
    s.wall = wall;
    s.first = first;
    // user+sys of runsc and every descendant it reaped: the sandbox (sentry
    // and its ptrace stubs) and the gofer. Steadier than wall time on a
    // shared machine.
    const ru = proc.resourceUsage();
    s.cpu = ru ? Number(ru.cpuTime.total) / 1000 : NaN;
    return s;
  } finally {
    clearTimeout(timer);
    forceDelete(ctx, id);
  }
}

/**
 * What the RUNSC_GOFER_OVERRIDE hook itself costs: runsc starts as
 * `runsc gofer ...`, runs Go's runtime and package init, and only then execs
 * the override. Measured as `runsc gofer` handing over to /bin/true, minus
 * /bin/true alone. The ref side (runsc's own gofer) does not pay this.
 */
function overrideHookCost(o: Options, n: number): number {
  const time = (env: Record<string, string>, argv: string[]) => {
    const t = performance.now();
    const r = spawnSync(argv[0], argv.slice(1), { env, stdio: "ignore" });
    if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}`);
    return performance.now() - t;
  };
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", RUNSC_GOFER_OVERRIDE: "/bin/true" };
  const hook: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < n; i++) {
    hook.push(time(env, [o.runsc, "gofer"]));
    bare.push(time(env, ["/bin/true"]));
  }
  return median(hook) - median(bare);
}

// ---------------------------------------------------------------- report

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

function spread(xs: number[]): string {
  if (xs.length === 0) return "";
  return `${fmtMs(Math.min(...xs))}–${fmtMs(Math.max(...xs))}`;
}

interface Row {
  workload: string;
  label: string;
  /** Highest ratio ours/ref that meets the target. */
  target: number;
  ref: number[];
  ours: number[];
}

function sh(cmd: string): string {
  try {
    return hostCount(cmd);
  } catch {
    return "?";
  }
}

/** Identifies a binary, so a rebuild during a run is caught. */
function fingerprint(path: string): string {
  try {
    const st = statSync(path);
    const h = new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex").slice(0, 12);
    return `sha256 ${h}…, ${(st.size / 1048576).toFixed(1)} MiB, mtime ${st.mtime.toISOString()}`;
  } catch (e) {
    return `unreadable (${e instanceof Error ? e.message : e})`;
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const sides: Side[] = o.only === "both" ? ["ref", "ours"] : [o.only];
  if (!existsSync(o.runsc)) throw new Error(`runsc not found at ${o.runsc}`);
  if (sides.includes("ours") && !existsSync(o.gofer)) throw new Error(`gofer not found at ${o.gofer} (build it, or pass --gofer PATH)`);
  const validation = basename(o.gofer) === "runsc-stock";
  const work = mkdtempSync("/tmp/gofer-runsc-bench-");

  const stateDir = join(work, "state");
  mkdirSync(stateDir);
  const writableDir = join(work, "rw");
  mkdirSync(writableDir);
  // A fresh tmpfs for the create/delete workload, so it measures the gofer
  // and not the host disk. Fall back to /dev/shm if mounting is not allowed.
  let mounted = false;
  let rwDir = writableDir;
  if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=256m,mode=0755", "gofer-bench", writableDir], { stdio: "ignore" }).status === 0) {
    mounted = true;
  } else {
    rwDir = mkdtempSync("/dev/shm/gofer-runsc-bench-");
  }
  const ctx: Ctx = { o, stateDir, seq: 0 };
  const cleanup = () => {
    if (mounted) spawnSync("umount", ["-l", writableDir], { stdio: "ignore" });
    // runsc-latest leaves its --network=none namespace bound at
    // <root>/null-netns after `delete`: detach whatever is still mounted
    // under the work directory before removing it.
    const left = readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1])
      .filter((m) => m?.startsWith(`${work}/`));
    for (const m of left.reverse()) spawnSync("umount", ["-l", m], { stdio: "ignore" });
    if (rwDir !== writableDir) rmSync(rwDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      // Runs in flight are killed with us (same process group); sweep their state.
      spawnSync(o.runsc, [`--root=${stateDir}`, "list", "-q"], { encoding: "utf8" })
        .stdout?.split("\n")
        .filter(Boolean)
        .forEach((id) => forceDelete(ctx, id));
      cleanup();
      process.exit(130);
    });
  }

  const goferId = sides.includes("ours") ? fingerprint(o.gofer) : "";
  // Run a private copy of our gofer, so a rebuild of dist/gofer while the
  // bench runs (minutes) cannot mix two builds into one set of numbers.
  const goferPath = o.gofer;
  if (sides.includes("ours")) {
    const copy = join(work, "gofer-under-test");
    try {
      copyFileSync(o.gofer, copy);
      chmodSync(copy, 0o755);
    } catch (e) {
      cleanup();
      throw e;
    }
    o.gofer = copy;
  }
  const git = sh(`git -C '${REPO}' rev-parse --short HEAD`);
  const dirty = sh(`git -C '${REPO}' status --porcelain --untracked-files=no | wc -l`);
  const started = new Date();
  const loadStart = sh("cut -d' ' -f1-3 /proc/loadavg");
  const t0 = performance.now();
  const rows: Row[] = [];
  const titles: string[] = [];
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`runsc bench: ${sides.join(" vs ")}; ours = ${goferPath}${validation ? " (reference gofer via override: harness validation)" : ""}`);
  try {
    const workloads = makeWorkloads(o, rwDir);
    for (const w of workloads) {
      titles.push(`**${w.name}**: ${w.title}`);
      const bundle = makeBundle({ dir: join(work, `bundle-${w.name}`), args: w.args, mounts: w.mounts });
      const byMetric = new Map<string, Row>();
      const metrics: Metric[] = [...w.metrics];
      if (w.name === "start") metrics.push({ id: "wall", label: "runsc run /bin/echo hi, whole run" });
      else if (w.name === "start-true") metrics.push({ id: "wall", label: "runsc run /bin/true, whole run" });
      else metrics.push({ id: "wall", label: `${w.name}: whole \`runsc run\`` });
      metrics.push({ id: "cpu", label: `${w.name}: CPU time, runsc + sandbox + gofer` });
      for (const m of metrics) {
        // Issue 13's start targets: wall time 1.10x, CPU 1.25x; else parity.
        const start = w.name === "start" || w.name === "start-true";
        const target = !start ? 1 : m.id === "cpu" ? 1.25 : 1.1;
        const r: Row = { workload: w.name, label: m.label, target, ref: [], ours: [] };
        byMetric.set(m.id, r);
        rows.push(r);
      }
      for (let i = 0; i < o.warmup; i++) {
        for (const side of sides) {
          const s = await runOnce(ctx, w, bundle, side);
          log(`  ${w.name} warm-up ${side}: whole ${fmtMs(s.wall)}`);
        }
      }
      const rounds = w.rounds ?? o.rounds;
      for (let r = 0; r < rounds; r++) {
        // Alternate which side goes first (ref,ours / ours,ref / ...) so drift
        // and cache warmth within a round favour neither.
        const order = r % 2 === 0 ? sides : [...sides].reverse();
        for (const side of order) {
          const s = await runOnce(ctx, w, bundle, side);
          for (const m of metrics) byMetric.get(m.id)![side].push(s[m.id]);
          log(`  ${w.name} round ${r + 1}/${rounds} ${side}: ${metrics.map((m) => `${m.id} ${fmtMs(s[m.id])}`).join(", ")}`);
        }
      }
    }
  } finally {
    cleanup();
  }
  const hookMs = sides.includes("ours") ? overrideHookCost(o, 15) : NaN;
  const elapsed = (performance.now() - t0) / 1000;
  const loadEnd = sh("cut -d' ' -f1-3 /proc/loadavg");

  // ---- markdown
  const cpuModel = cpus()[0]?.model?.trim() ?? "?";
  const lines: string[] = [];
  lines.push(`# runsc benchmark: ${validation ? "reference gofer via override vs reference (harness validation)" : "ours vs reference gofer"}`);
  lines.push("");
  lines.push(`- date: ${started.toISOString()}; whole bench took ${elapsed.toFixed(0)} s`);
  lines.push(`- machine: ${hostname()}, Linux ${sh("uname -r")}, ${cpuModel}, nproc ${sh("nproc")}`);
  lines.push(`- load average (1/5/15 min) at start: ${loadStart}; at end: ${loadEnd} (anything else running shares the CPUs with the sandbox, sentry and gofer)`);
  lines.push(`- invoked as: \`${["bun bench/runsc.ts", ...process.argv.slice(2)].join(" ")}\``);
  lines.push(`- runsc: \`${o.runsc} --root=<tmp> ${runscFlags(o).join(" ")} run --bundle <bundle> <id>\``);
  lines.push(o.refGofer ? `- ref: \`RUNSC_GOFER_OVERRIDE=${o.refGofer}\` (through the override hook, like ours)` : `- ref: runsc's own gofer (no RUNSC_GOFER_OVERRIDE)`);
  lines.push(`- ours: \`RUNSC_GOFER_OVERRIDE=<copy of ${goferPath}>\`${validation ? " — this is the reference gofer binary, so ratios should be ~1.0×" : ""}`);
  if (goferId) lines.push(`  - binary: ${goferId} (copied at the start, so a rebuild during the run does not affect it)`);
  lines.push(`- repo: ${git}${dirty !== "0" ? ` with ${dirty} modified tracked file(s)` : ""}`);
  if (Number.isFinite(hookMs)) {
    lines.push(
      `- the override hook costs ours ~${hookMs.toFixed(0)} ms per sandbox start (median of 15: \`runsc gofer\` exec'ing /bin/true, minus /bin/true alone)` +
        (o.refGofer ? "; the ref side pays it too here" : "; the ref side does not pay it, so it is in ours' start and whole-run times"),
    );
  }
  lines.push(`- ${o.rounds} timed runs per side per workload (start: ${o.startRounds}) after ${o.warmup} warm-up run(s) each; sides alternate, and which goes first alternates each round`);
  lines.push(`- "inside" = measured inside the sandbox (\`date +%s%N\` / \`time.time_ns()\`) around the work; "whole" = spawn of \`runsc run\` to its exit, measured by the harness; "CPU time" = user+sys of \`runsc run\` and the children it reaped (sandbox/sentry, gofer), from wait4's rusage`);
  lines.push("");
  lines.push("Workloads:");
  lines.push("");
  for (const t of titles) lines.push(`- ${t}`);
  lines.push("");
  lines.push("| workload | ref median | ours median | ratio (ours/ref) | target | per-round ratio, median | ref range | ours range |");
  lines.push("| --- | ---: | ---: | ---: | --- | ---: | --- | --- |");
  for (const r of rows) {
    const mr = r.ref.length ? median(r.ref) : NaN;
    const mo = r.ours.length ? median(r.ours) : NaN;
    const ratio = mo / mr;
    const ratioS = Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : "—";
    // Judged on the ratio as printed (2 decimals), so "1.00×" is met.
    const verdict = Math.round(ratio * 100) <= Math.round(r.target * 100) ? "met" : "**missed**";
    const target = !Number.isFinite(ratio) ? "—" : validation ? "n/a (ref vs ref)" : `≤ ${r.target.toFixed(2)}×: ${verdict}`;
    // Each round's ours/ref pair ran back to back, so this ratio is less
    // sensitive to load that drifts over the minutes a workload takes.
    const paired = r.ours.length && r.ours.length === r.ref.length ? median(r.ours.map((x, i) => x / r.ref[i])) : NaN;
    const pairedS = Number.isFinite(paired) ? `${paired.toFixed(2)}×` : "—";
    lines.push(`| ${r.label} | ${fmtMs(mr)} | ${fmtMs(mo)} | ${ratioS} | ${target} | ${pairedS} | ${spread(r.ref)} | ${spread(r.ours)} |`);
  }
  lines.push("");
  const md = lines.join("\n");
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, md);
  process.stdout.write(md);
  log(`wrote ${o.out} (${elapsed.toFixed(0)} s)`);
}

main().catch((e) => {
  process.stderr.write(`bench/runsc.ts: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
