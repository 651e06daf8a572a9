// Builds the memory floor (floor.ts) and its variants into dist/floor-mem/,
// each exactly as build.ts builds dist/gofer (compile, bytecode, --smol,
// whitespace+syntax minify, no .env/bunfig autoload, linked source map),
// differing only in the build-time constants:
//
//   floor         Mount only; Channel refused (ENOMEM)
//   floor-chan    + the flipcall channels the client asks for (up to 2, as
//                 ours and the reference grant here), mapped and connected
//   floor-bundle  + our whole gofer (src/main.ts, and src/loop/worker.ts as
//                 a second entry point, as build.ts) in the bundle, never run
//   floor-nojit   floor run with BUN_JSC_useJIT=0 (a shell script that
//                 execs it: same process, same memory)
//   gofer-nojit   for comparison, dist/gofer itself run the same way
//
//   npx bun run bench/floor-mem/build.ts
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";

const root = `${import.meta.dir}/../..`;
const out = `${root}/dist/floor-mem`;

async function build(name: string, define: { channels: number; bundle: boolean }): Promise<void> {
  const entrypoints = [`${import.meta.dir}/floor.ts`];
  if (define.bundle) entrypoints.push(`${root}/src/loop/worker.ts`);
  const result = await Bun.build({
    entrypoints,
    // The floor's bundle and our gofer's keep their usual names (root: the
    // common directory of the entry points).
    compile: { outfile: `${out}/${name}`, autoloadDotenv: false, autoloadBunfig: false, execArgv: ["--smol"] },
    minify: { whitespace: true, syntax: true, identifiers: false },
    bytecode: true,
    sourcemap: "linked",
    define: { FLOOR_CHANNELS: String(define.channels), FLOOR_BUNDLE: String(define.bundle) },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    process.exit(1);
  }
  console.log(`built ${out}/${name}`);
}

mkdirSync(out, { recursive: true });
await build("floor", { channels: 0, bundle: false });
await build("floor-chan", { channels: 2, bundle: false });
await build("floor-bundle", { channels: 0, bundle: true });
for (const [name, target] of [["floor-nojit", "floor"], ["gofer-nojit", "../gofer"]]) {
  writeFileSync(`${out}/${name}`, `#!/bin/sh\nBUN_JSC_useJIT=0 exec "$(dirname "$0")/${target}" "$@"\n`);
  chmodSync(`${out}/${name}`, 0o755);
  console.log(`wrote ${out}/${name}`);
}
