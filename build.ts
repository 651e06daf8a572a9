// Builds the gofer: standalone executables holding one entry point per
// command-line form and the event loop's helper Worker (src/entry.ts).
//
//   bun run build.ts            dist/gofer, for this host (what tests run)
//   bun run build.ts --all      also dist/gofer-linux-{x64,arm64}[-musl]
//   bun run build.ts --target=linux-arm64 [--target=…]   just those
//
// Cross targets take Bun's runtime for that platform from the npm registry
// (@oven/bun-linux-aarch64 and friends, cached in ~/.bun/install/cache), so
// a first --all downloads ~90 MiB per target once. See docs/shipping.md.
import { $ } from "bun";

/** Release targets: our name for the file, Bun's compile target. */
export const TARGETS = {
  "linux-x64": "bun-linux-x64",
  "linux-arm64": "bun-linux-arm64",
  "linux-x64-musl": "bun-linux-x64-musl",
  "linux-arm64-musl": "bun-linux-arm64-musl",
} as const;
export type Target = keyof typeof TARGETS;

export async function build(outfile: string, target?: Target): Promise<void> {
  const started = performance.now();
  const result = await Bun.build({
    // main.ts picks a command-line form and loads that form's entry point;
    // the loop's helper Worker is one too (src/entry.ts).
    entrypoints: ["main", "native", "runsc-form", "client-form", "loop/worker"].map((e) => `${import.meta.dir}/src/${e}.ts`),
    compile: {
      ...(target ? { target: TARGETS[target] } : {}),
      outfile,
      // A gofer runs in whatever directory the runtime picked: it must not pick
      // up .env or bunfig.toml files from there.
      autoloadDotenv: false,
      autoloadBunfig: false,
      // Smaller heap: the gofer keeps little JS state (see docs/benchmarks.md).
      execArgv: ["--smol"],
    },
    // Whitespace and syntax only, names kept (stack traces in logs stay
    // readable): a gofer holds its bundle's source text in memory, and this
    // cuts its anonymous memory by ~0.25 MiB (docs/benchmarks-runsc.md).
    minify: { whitespace: true, syntax: true, identifiers: false },
    // JSC bytecode instead of source: a start skips parsing the bundle
    // (start to Mount reply 60 -> 37 ms; runsc do /bin/true -20 ms of CPU,
    // docs/benchmarks-runsc.md). Every entry point gets its own, and is
    // loaded from it only when addressed under the embedded root
    // (src/entry.ts); by its source path Bun reads the source file instead.
    bytecode: true,
    sourcemap: "linked",
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    process.exit(1);
  }
  console.log(`built ${outfile} (${Math.round(performance.now() - started)} ms)`);
}

function chosenTargets(argv: string[]): Target[] {
  const out: Target[] = [];
  for (const arg of argv) {
    if (arg === "--all") out.push(...(Object.keys(TARGETS) as Target[]));
    else if (arg.startsWith("--target=")) {
      const t = arg.slice("--target=".length);
      if (!(t in TARGETS)) {
        console.error(`unknown target ${t}; known: ${Object.keys(TARGETS).join(", ")}`);
        process.exit(2);
      }
      out.push(t as Target);
    } else {
      console.error(`unknown argument ${arg}; usage: bun run build.ts [--all | --target=NAME…]`);
      process.exit(2);
    }
  }
  return [...new Set(out)];
}

if (import.meta.main) {
  const targets = chosenTargets(process.argv.slice(2));
  await $`mkdir -p dist`;
  await build("./dist/gofer");
  // One at a time: each is a ~90 MiB write, and the machine is shared.
  for (const t of targets) await build(`./dist/gofer-${t}`, t);
}
