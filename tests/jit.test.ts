// src/jit.ts: the serving code is kept off JSC's FTL tier.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { keepOffFTL } from "../src/jit";
import { Gofer, useFixture } from "./lib/fixture";

const fx = useFixture();

describe("keepOffFTL", () => {
  test("marks each class's methods, accessors and statics up its prototype chain, and the functions given, calling none", () => {
    let called = 0;
    class Base {
      a(): number {
        return 1;
      }
      get g(): number {
        called++;
        throw new Error("a getter was called");
      }
    }
    class Derived extends Base {
      b(): number {
        return 2;
      }
      set s(_v: number) {
        called++;
      }
      static make(): Derived {
        return new Derived();
      }
    }
    const f = (x: number) => x + 1;
    // Derived, make, b, s's setter; Base's a and g's getter; f.
    expect(keepOffFTL([Derived], [f, 42, undefined])).toBe(7);
    expect(called).toBe(0);
    expect(Derived.make().b() + new Derived().a() + f(0)).toBe(4);
  });

  // JSC reports each compilation when asked in the environment (for
  // diagnosis only; the gofer never sets it). The serving path's methods
  // get hot enough for the DFG tier and must never reach FTL.
  test("a gofer's hot methods are compiled by the DFG and never by FTL", async () => {
    fs.writeFileSync(path.join(fx.mount, "f"), Buffer.alloc(8192, 1));
    fs.mkdirSync(path.join(fx.mount, "d"), { recursive: true });
    const g = Gofer.start(fx, { env: { BUN_JSC_reportFTLCompileTimes: "1", BUN_JSC_reportDFGCompileTimes: "1" } });
    const c = g.client;
    const root = c.mount().root;
    const f = c.walkTo(root.id, "f");
    const ro = c.openAt(f.id, C.O_RDONLY);
    c.use(c.channel(false));
    for (let i = 0; i < 20_000; i++) c.fstat(f.id);
    for (let i = 0; i < 20_000; i++) c.pread(ro.id, 0, 4096);
    for (let i = 0; i < 5_000; i++) c.close([c.walkTo(root.id, "d").id]);
    expect(await g.stop()).toBe(0);
    const lines = g.log().split("\n");
    const compiled = (tier: string) =>
      new Set(lines.filter((l) => l.startsWith("Optimized ") && l.includes(`using ${tier}`)).map((l) => l.slice(10, l.indexOf("#"))));
    const hot = ["run", "handle", "serveChannel", "respond", "takeRequest", "reply", "admit", "statFd"];
    // The report works and these did get hot...
    expect(hot.filter((name) => compiled("DFG").has(name)).length).toBeGreaterThanOrEqual(4);
    // ...and FTL compiled none of them.
    expect(hot.filter((name) => compiled("FTL").has(name))).toEqual([]);
  }, 60_000);
});
