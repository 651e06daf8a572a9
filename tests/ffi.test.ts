// Memory we hand to the kernel by address. A small typed array created with
// `new Uint8Array(n)` lives in JSC's GC heap and moves when its `.buffer` is
// first touched; a kept address then points at freed memory that the next
// small array reuses (seen: a cached address of "" later held a socketpair's
// FDs, and every statx(fd, "", AT_EMPTY_PATH) became a lookup of garbage).
// Buffers whose address outlives one call must come from libc.pinnedBytes.
import { describe, expect, test } from "bun:test";
import { ptr, read } from "bun:ffi";
import * as fs from "node:fs";
import * as path from "node:path";
import * as libc from "../src/ffi/libc";

describe("pinned memory", () => {
  test("a plain small typed array moves when its buffer is touched; pinnedBytes does not", () => {
    const plain = new Uint8Array(16);
    const before = ptr(plain);
    void plain.buffer;
    // The hazard this module guards against, so that the next check means something.
    expect(ptr(plain)).not.toBe(before);

    const pinned = libc.pinnedBytes(16);
    const at = libc.addr(pinned);
    void pinned.buffer;
    new DataView(pinned.buffer).setUint8(3, 0xab);
    for (let i = 0; i < 20_000; i++) new Uint8Array(16).buffer;
    Bun.gc(true);
    expect(libc.addr(pinned)).toBe(at);
    expect(read.u8(at, 3)).toBe(0xab);
  });

  test("the empty name stays a NUL byte through churn of small arrays and socketpairs", () => {
    for (let i = 0; i < 2_000; i++) {
      const pair = libc.socketpair(1 /* AF_UNIX */, 1 /* SOCK_STREAM */ | 0o2000000 /* SOCK_CLOEXEC */, 0);
      if (typeof pair === "number") throw new Error(`socketpair: errno ${-pair}`);
      libc.close(pair[0]);
      libc.close(pair[1]);
      void new Uint8Array(1).buffer;
    }
    Bun.gc(true);
    expect(read.u8(libc.EMPTY, 0)).toBe(0);
  });

  test("every address kept in a module variable is of pinned (or shared, or mapped) memory", () => {
    // Static check over src/: `const xAddr = libc.addr(buf)` (or addr(buf),
    // or a .map of them) must name a buffer made by pinnedBytes, or a view
    // of one, of a SharedArrayBuffer, or of a mapping (toArrayBuffer).
    const root = path.join(import.meta.dir, "..", "src");
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith(".ts")) files.push(p);
      }
    };
    walk(root);
    const bad: string[] = [];
    let kept = 0;
    for (const f of files) {
      const src = fs.readFileSync(f, "utf8");
      for (const m of src.matchAll(/^\s*(?:export )?const \w+ = (?:libc\.)?addr\((\w+)\);|^\s*const \w+ = (\w+)\.map\(\(\w+\) => addr\(\w+\)\);/gm)) {
        const buf = m[1] ?? m[2];
        kept++;
        const decl = src.match(new RegExp(`(?:const|let) ${buf} = ([^;]+);`));
        const made = decl?.[1] ?? "";
        if (!/pinnedBytes\(|SharedArrayBuffer|toArrayBuffer/.test(made)) bad.push(`${path.relative(root, f)}: ${buf} = ${made || "?"}`);
      }
    }
    // The scan found the kept addresses at all (it would pass vacuously otherwise).
    expect(kept).toBeGreaterThanOrEqual(10);
    expect(bad).toEqual([]);
  });
});
