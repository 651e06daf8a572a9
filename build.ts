// Builds dist/gofer: one standalone executable with the event loop's helper
// Worker embedded as a second entry point.
import { $ } from "bun";

await $`mkdir -p dist`;
const result = await Bun.build({
  entrypoints: ["./src/main.ts", "./src/loop/worker.ts"],
  compile: {
    outfile: "./dist/gofer",
    // A gofer runs in whatever directory the runtime picked: it must not pick
    // up .env or bunfig.toml files from there.
    autoloadDotenv: false,
    autoloadBunfig: false,
    // Smaller heap: the gofer keeps little JS state (see docs/benchmarks.md).
    execArgv: ["--smol"],
  },
  minify: false,
  // Not `bytecode: true`: it saved ~20 ms of CPU per start, but a Worker
  // started after runsc's chroot then never comes up (docs/benchmarks-runsc.md).
  sourcemap: "linked",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log("built dist/gofer");
