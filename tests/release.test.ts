// npm run release (scripts/release.ts): every build.ts target, named with
// package.json's version, and SHA256SUMS that sha256sum(1) accepts.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TARGETS } from "../build";
import { REPO } from "./lib/fixture";

setDefaultTimeout(120_000);
const out = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-release-"));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

test("release writes each target with its SHA-256 and the package version", () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string };
  const r = spawnSync(path.join(REPO, "node_modules/.bin/bun"), ["run", "scripts/release.ts", `--out=${out}`], { cwd: REPO, encoding: "utf8" });
  expect(r.status).toBe(0);
  const names = Object.keys(TARGETS).map((t) => `gofer-${version}-${t}`);
  expect(fs.readdirSync(out).sort()).toEqual([...names, "SHA256SUMS", "VERSION"].sort());
  expect(fs.readFileSync(path.join(out, "VERSION"), "utf8")).toBe(`${version}\n`);
  const sums = fs.readFileSync(path.join(out, "SHA256SUMS"), "utf8");
  expect(sums.trim().split("\n").map((l) => l.split("  ")[1]).sort()).toEqual([...names].sort());
  // sha256sum -c recomputes every file's digest and fails on any mismatch.
  const check = spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, encoding: "utf8" });
  expect({ status: check.status, out: check.stdout.trim().split("\n").sort() }).toEqual({ status: 0, out: names.map((n) => `${n}: OK`).sort() });
  for (const n of names) expect(fs.statSync(path.join(out, n)).mode & 0o111).toBe(0o111);
});
