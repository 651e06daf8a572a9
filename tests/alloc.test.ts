// What a request leaves for the garbage collector. The busy loop's young
// collections run every WAKES_PER_GC wakes (src/loop/loop.ts), a period
// chosen for replies that allocate next to nothing: a lisafs FStat or PRead
// over a channel, or a 9P Tgetattr or Tread over the socket, may leave its
// decoded request and nothing else (no
// iterator from a for-of, no BigInt from writing a 64-bit field, no
// subarray). Counted by JSC cell type across N requests of a real gofer's
// serving code (tests/lib/alloc-probe.ts) driven by our client.
import { describe, expect, test } from "bun:test";
import * as path from "node:path";
import { useFixture } from "./lib/fixture";

const fx = useFixture();

interface Probe {
  kind: string;
  n: number;
  perRequest: Record<string, number>;
  collectedBetween: boolean;
}

function probe(kind: string, n: number, warmup: number): Probe {
  const r = Bun.spawnSync([process.execPath, path.join(import.meta.dir, "lib/alloc-probe.ts"), fx.mount, kind, String(n), String(warmup)], {
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`alloc-probe ${kind}: exit ${r.exitCode}: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString().trim().split("\n").pop()!) as Probe;
}

const total = (p: Probe) => Object.values(p.perRequest).reduce((a, b) => a + b, 0);

/** Fails for each cell type of `none` the requests left any of. */
function expectNone(p: Probe, none: string[]): void {
  for (const type of none) expect({ type, perRequest: p.perRequest[type] ?? 0 }).toEqual({ type, perRequest: 0 });
}

describe("allocation per request", () => {
  // lisafs over a channel; 9P as plain 9P2000.L over the socket (no
  // channels: the loop's direct mode, a timed poll before each request).
  for (const [kind, via] of [
    ["fstat", "a channel"],
    ["pread", "a channel"],
    ["p9-getattr", "the socket"],
    ["p9-read", "the socket"],
  ]) {
    test(`${kind} over ${via}: its decoded request and nothing else`, () => {
      const p = probe(kind, 1000, 1500);
      expect(p.collectedBetween).toBe(false);
      // One Object per request (the decoded fields); the small remainder is
      // code compiled during the run.
      expect(p.perRequest.Object ?? 0).toBeLessThanOrEqual(1.01);
      expect(total(p)).toBeLessThan(1.05);
      expectNone(p, ["ArrayIterator", "BigInt", "Uint8Array", "DataView", "Function", "String"]);
    });
  }

  test("9P walk + getattr + clunk: the requests' own objects, no closure", () => {
    const p = probe("p9-walkgetattrclunk", 300, 800);
    expect(p.collectedBetween).toBe(false);
    expect(total(p)).toBeLessThan(7);
    expectNone(p, ["ArrayIterator", "BigInt", "Function", "JSLexicalEnvironment"]);
  });

  test("walk + close: the requests' own objects (decoded fields, name and ID arrays, the new file's state)", () => {
    const p = probe("walkclose", 500, 1000);
    expect(p.collectedBetween).toBe(false);
    expect(total(p)).toBeLessThan(8.5);
    expectNone(p, ["ArrayIterator", "BigInt"]);
  });
});
