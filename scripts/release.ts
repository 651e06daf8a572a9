// Writes a release: every target of build.ts, built fresh, as
// <out>/gofer-<version>-<target>, with SHA256SUMS (sha256sum -c format) and
// the version from package.json. Default <out>: release/<version>/.
//
//   bun run scripts/release.ts [--out=DIR]
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

const REPO = path.resolve(import.meta.dir, "..");
const { version } = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string };
if (!/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(version)) {
  console.error(`package.json version ${JSON.stringify(version)} is not a semantic version; fix it and run again`);
  process.exit(1);
}
let out = path.join(REPO, "release", version);
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith("--out=")) out = path.resolve(arg.slice("--out=".length));
  else {
    console.error(`unknown argument ${arg}; usage: bun run scripts/release.ts [--out=DIR]`);
    process.exit(2);
  }
}

const { TARGETS, build } = await import("../build.ts");
fs.mkdirSync(out, { recursive: true });
const sums: string[] = [];
for (const target of Object.keys(TARGETS)) {
  const name = `gofer-${version}-${target}`;
  const dest = path.join(out, name);
  fs.rmSync(dest, { force: true });
  // Built fresh, straight into the release directory: a release never ships
  // a stale dist/ file, and never rewrites one a running test executes.
  await build(dest, target as keyof typeof TARGETS);
  const hash = createHash("sha256");
  const fd = fs.openSync(dest, "r");
  const buf = Buffer.alloc(1 << 20);
  for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  fs.closeSync(fd);
  sums.push(`${hash.digest("hex")}  ${name}`);
}
// The linked source maps build() writes beside each executable: not shipped.
for (const f of fs.readdirSync(out)) if (f.endsWith(".js.map")) fs.rmSync(path.join(out, f));
fs.writeFileSync(path.join(out, "SHA256SUMS"), `${sums.join("\n")}\n`);
fs.writeFileSync(path.join(out, "VERSION"), `${version}\n`);
console.log(`release ${version} in ${out}:\n${sums.join("\n")}`);
