// src/pathname.ts against node:path's posix functions, which it stands in
// for in runsc's form: the same answers on every path the table makes.
import { expect, test } from "bun:test";
import * as path from "node:path";
import { dirname, isAbsolute, join, normalize, relative } from "../src/pathname";

const names = ["", ".", "..", "a", "b", "c.d", "...", "\xe4\xb8\x80", " "];
const paths: string[] = ["/", "//", "///a//b", "a/../..", "/a/./b/../../..", "x/", "/x/"];
let seed = 7;
const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
for (let i = 0; i < 600; i++) {
  const parts: string[] = [];
  for (let k = rnd(5); k >= 0; k--) parts.push(names[rnd(names.length)]);
  paths.push((rnd(3) ? "/" : "") + parts.join("/".repeat(1 + rnd(2))) + (rnd(4) ? "" : "/"));
}

test("normalize, isAbsolute and dirname agree with node:path", () => {
  for (const p of paths) {
    expect([p, normalize(p)]).toEqual([p, path.posix.normalize(p)]);
    expect([p, isAbsolute(p)]).toEqual([p, path.posix.isAbsolute(p)]);
    expect([p, dirname(p)]).toEqual([p, path.posix.dirname(p)]);
  }
});

test("join agrees with node:path", () => {
  for (let i = 0; i + 2 < paths.length; i++) {
    const parts = [paths[i], paths[i + 1], names[i % names.length]];
    expect([parts, join(...parts)]).toEqual([parts, path.posix.join(...parts)]);
  }
});

test("relative agrees with node:path for absolute paths", () => {
  const abs = paths.filter((p) => p.startsWith("/"));
  for (let i = 0; i + 1 < abs.length; i++)
    expect([abs[i], abs[i + 1], relative(abs[i], abs[i + 1])]).toEqual([abs[i], abs[i + 1], path.posix.relative(abs[i], abs[i + 1])]);
});
