// Builds dist/gofer: one standalone executable with the event loop's helper
// Worker embedded as a second entry point.
import { $ } from "bun";

await $`mkdir -p dist`;
const result = await Bun.build({
  entrypoints: ["./src/main.ts", "./src/loop/worker.ts"],
  compile: { outfile: "./dist/gofer" },
  minify: false,
  sourcemap: "linked",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log("built dist/gofer");
