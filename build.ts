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
  // Whitespace and syntax only, names kept (stack traces in logs stay
  // readable): a gofer holds its bundle's source text in memory, and this
  // cuts its anonymous memory by ~0.25 MiB (docs/benchmarks-runsc.md).
  minify: { whitespace: true, syntax: true, identifiers: false },
  // JSC bytecode instead of source: a start skips parsing the bundle
  // (start to Mount reply 60 -> 37 ms; runsc do /bin/true -20 ms of CPU,
  // docs/benchmarks-runsc.md). A Worker started after runsc's chroot cannot
  // load from a bytecode build; on x86-64 the loop needs none (its socket
  // poller is machine code, src/loop/native-poller.ts) but in the fallback
  // threads mode for kernels without futex_waitv.
  bytecode: true,
  sourcemap: "linked",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log("built dist/gofer");
