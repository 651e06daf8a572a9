// Builds bench/floor/server.ts into a standalone executable with the
// options of the gofer's own build (build.ts at the repository root):
// bytecode, execArgv ["--smol"], whitespace+syntax minification, no
// .env/bunfig autoload.
//   bun run bench/floor/build.ts OUTFILE
const outfile = process.argv[2] ?? "build/floor/bunserver";
const result = await Bun.build({
  entrypoints: [`${import.meta.dir}/server.ts`],
  compile: { outfile, autoloadDotenv: false, autoloadBunfig: false, execArgv: ["--smol"] },
  minify: { whitespace: true, syntax: true, identifiers: false },
  bytecode: true,
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile}`);
