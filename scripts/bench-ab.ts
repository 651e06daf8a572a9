// Our build against our build: alternating single runs of scripts/bench.sh
// (--only ours) with two gofer executables, then the median and range of the
// per-pair ratios B / A for every row. A change that should not move the
// numbers (a refactor) is checked with this, not with two full runs against
// the reference, which on this machine swing by more than the change.
//
//   bun scripts/bench-ab.ts --a OLD_GOFER --b NEW_GOFER [--pairs 8]
//       [--mode pinned|unpinned|split] [--metrics REGEXP] [--suite lisafs|p9]
//
// --suite p9 runs scripts/bench-p9.sh (gVisor's p9 client) instead; its
// modes are pinned and unpinned.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

function flag(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  if (fallback === undefined) {
    console.error(`bench-ab: --${name} is required (usage: bun scripts/bench-ab.ts --a GOFER --b GOFER [--pairs N] [--mode M] [--metrics RE])`);
    process.exit(2);
  }
  return fallback;
}

const builds = { a: path.resolve(flag("a")), b: path.resolve(flag("b")) };
const pairs = Number(flag("pairs", "8"));
const mode = flag("mode", "pinned");
const metrics = flag("metrics", ".");
const suite = flag("suite", "lisafs");
if (suite !== "lisafs" && suite !== "p9") (console.error(`bench-ab: --suite ${suite}: lisafs or p9`), process.exit(2));
for (const p of Object.values(builds)) if (!fs.existsSync(p)) (console.error(`bench-ab: no gofer at ${p}`), process.exit(2));

const repo = path.resolve(import.meta.dir, "..");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-ab-"));
/** row name -> pair index -> side -> value */
const rows = new Map<string, Map<number, { a?: number; b?: number }>>();

/** A row's value in µs (latency, CPU) or ops/s (concurrency rows). */
function valueOf(cell: string): number | null {
  const m = /^\s*([\d.]+)\s*(µs|ms|ops\/s)/.exec(cell);
  if (!m) return null;
  return m[2] === "ms" ? Number(m[1]) * 1000 : Number(m[1]);
}

for (let i = 0; i < pairs; i++) {
  // Which build goes first alternates, so neither inherits a warmer machine.
  const order: ("a" | "b")[] = i % 2 === 0 ? ["a", "b"] : ["b", "a"];
  for (const side of order) {
    const out = path.join(dir, `${side}-${i}.md`);
    const common = ["--only", "ours", "--gofer", builds[side], "--rounds", "1", "--metrics", metrics, "--out", out];
    const argv =
      suite === "lisafs"
        ? ["scripts/bench.sh", "--modes", mode, "--starts", "0", ...common]
        : ["scripts/bench-p9.sh", ...(mode === "unpinned" ? ["--cpu", "-1"] : []), ...common];
    const r = spawnSync("bash", argv, { cwd: repo, stdio: ["ignore", "ignore", "inherit"] });
    if (r.status !== 0) (console.error(`bench-ab: ${argv[0]} failed (pair ${i + 1}, ${side})`), process.exit(1));
    for (const line of fs.readFileSync(out, "utf8").split("\n")) {
      const cols = line.split("|");
      if (cols.length < 5) continue;
      const name = cols[1].trim();
      if (!/, median$|CPU per iteration$|^concurrent .* x\d+$/.test(name)) continue;
      const v = valueOf(cols[3]);
      if (v === null) continue;
      if (!rows.has(name)) rows.set(name, new Map());
      const byPair = rows.get(name)!;
      byPair.set(i, { ...byPair.get(i), [side]: v });
    }
  }
  console.error(`bench-ab: pair ${i + 1}/${pairs} done`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`A: ${builds.a}\nB: ${builds.b}\n${pairs} pairs, ${suite}, ${mode}\n`);
console.log("| row | A, median | B, median | B / A, median of pairs | range |\n|---|---:|---:|---:|---:|");
for (const [name, byPair] of rows) {
  const both = [...byPair.values()].filter((p): p is { a: number; b: number } => p.a !== undefined && p.b !== undefined);
  if (both.length === 0) continue;
  const ratios = both.map((p) => p.b / p.a).sort((x, y) => x - y);
  const unit = name.startsWith("concurrent") && !name.includes("CPU") ? " (ops/s)" : "";
  console.log(
    `| ${name}${unit} | ${median(both.map((p) => p.a)).toFixed(2)} | ${median(both.map((p) => p.b)).toFixed(2)} | ` +
      `${median(ratios).toFixed(2)}× | ${ratios[0].toFixed(2)}–${ratios[ratios.length - 1].toFixed(2)} |`,
  );
}
fs.rmSync(dir, { recursive: true, force: true });
