// Every system call number in src/ffi/constants.ts, for both architectures,
// against the kernel's own tables: asm-generic/unistd.h (arm64's) and
// x86_64's unistd_64.h (Debian's linux-libc-dev). The module picks one side
// by process.arch, so both sides are read from its source: `name: arm64 ?
// A : X` in NR and `SYS_name = arm64 ? A : X`.
import { expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO } from "./lib/fixture";

function table(file: string, re: RegExp): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of fs.readFileSync(file, "utf8").matchAll(re)) m.set(x[1], Number(x[2]));
  return m;
}
// arm64 uses the generic table; a few entries are __NR3264_name there.
const ARM64 = table("/usr/include/asm-generic/unistd.h", /#define __NR(?:3264)?_(\w+)\s+(\d+)\b/g);
// ... and a 64-bit build's names for those (`__NR_newfstatat __NR3264_fstatat`).
for (const m of fs.readFileSync("/usr/include/asm-generic/unistd.h", "utf8").matchAll(/#define __NR_(\w+)\s+__NR3264_(\w+)/g)) {
  const n = ARM64.get(m[2]);
  if (n !== undefined && !ARM64.has(m[1])) ARM64.set(m[1], n);
}
const X64 = table("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", /#define __NR_(\w+)\s+(\d+)\b/g);

test("NR and SYS_* numbers match the kernel's tables on arm64 and x86-64 (an x86-only call such as open or stat has no arm64 entry and fails here)", () => {
  const src = fs.readFileSync(path.join(REPO, "src/ffi/constants.ts"), "utf8");
  // -1: the call does not exist on that architecture (the seccomp
  // allow-list names a few x86-64-only calls Bun makes there).
  const ours = [...src.matchAll(/(?:^\s+(\w+): arm64 \? (-?\d+) : (-?\d+),)|(?:^export const SYS_(\w+) = arm64 \? (-?\d+) : (-?\d+);)/gm)].map((m) => ({
    name: m[1] ?? m[4],
    arm64: Number(m[2] ?? m[5]),
    x64: Number(m[3] ?? m[6]),
  }));
  expect(ours.length).toBeGreaterThanOrEqual(80);
  const wrong = ours.filter((s) => (ARM64.get(s.name) ?? -1) !== s.arm64 || (X64.get(s.name) ?? -1) !== s.x64);
  expect(wrong.map((s) => `${s.name}: ours ${s.arm64}/${s.x64}, kernel ${ARM64.get(s.name)}/${X64.get(s.name)}`)).toEqual([]);
});

test("the numbers shared by both architectures", () => {
  const src = fs.readFileSync(path.join(REPO, "src/ffi/constants.ts"), "utf8");
  const nr = Number(/SYS_futex_waitv = (\d+);/.exec(src)?.[1]);
  expect([nr, ARM64.get("futex_waitv"), X64.get("futex_waitv")]).toEqual([449, 449, 449]);
  for (const [name, n] of [["open_tree", 428], ["mount_setattr", 442], ["clone3", 435]] as const) expect([ARM64.get(name), X64.get(name)]).toEqual([n, n]);
});
