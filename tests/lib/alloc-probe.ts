// How many JS objects the serving thread allocates per request (lisafs over
// a channel; kinds p9-*: plain 9P2000.L over the socket), counted by JSC cell type (bun:jsc heapStats) across N requests
// with no collection in between. The server runs in this process (so its
// heap can be counted); the client is a child process
// (tests/lib/alloc-client.ts). Prints one JSON line:
// {"kind", "n", "perRequest": {type: count / n}, "collectedBetween": bool}.
//
//   bun tests/lib/alloc-probe.ts DIR fstat|pread|walkclose|p9-getattr|p9-read|p9-walkgetattrclunk [N [WARMUP]]
import { heapStats } from "bun:jsc";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../../src/ffi/constants";
import * as libc from "../../src/ffi/libc";
import { openProcSelfFd } from "../../src/host/procfd";
import { makeLogger } from "../../src/log";
import { Server } from "../../src/server";

const [dir, kind] = [process.argv[2], process.argv[3]];
const n = Number(process.argv[4] ?? 1000);
// Warm-up and N together must stay below the busy loop's young-collection
// period (WAKES_PER_GC, in wakes: a request each), or a collection falls
// between the two counts; the output says if one did.
const WARMUP = Number(process.argv[5] ?? 1500);
fs.writeFileSync(path.join(dir, "f"), Buffer.alloc(8192, 1));
if (openProcSelfFd() < 0) throw new Error("cannot open /proc/self/fd");
const pair = libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
if (typeof pair === "number") throw new Error(`socketpair: errno ${-pair}`);
const client = Bun.spawn([process.execPath, path.join(import.meta.dir, "alloc-client.ts"), kind, String(WARMUP), String(n)], {
  stdio: ["ignore", "inherit", "inherit", pair[1]],
});
libc.close(pair[1]);

const server = new Server({ protocol: kind.startsWith("p9-") ? "p9" : "lisafs", loopMode: "auto", log: makeLogger("warn", 2), fdsPerConnection: "share" });
server.serve({
  fd: pair[0],
  hostPath: dir,
  policy: { readonly: false, hostUds: "none", hostFifo: "none", xattr: "none", donateMountFd: false },
});
type Counts = Record<string, number>;
const counts: Counts[] = [];
const collections: number[] = [];
const record = () => {
  counts.push({ ...heapStats().objectTypeCounts });
  collections.push(server.loop.stats.busyCollections);
};
// The loop runs idle tasks after IDLE_GC_MS without work, before its own
// full collection: the first count after a full collection of ours (the
// warm-up's garbage gone), the second before any (the N requests' garbage
// all there).
server.loop.whenIdle(() => {
  // Once before counting: the copy's own object shapes are made here, not
  // between the counts.
  void { ...heapStats().objectTypeCounts };
  Bun.gc(true);
  record();
  server.loop.whenIdle(record);
});
server.run();
await client.exited;
if (counts.length !== 2) throw new Error(`took ${counts.length} counts, not 2`);
const [a, b] = counts;
const perRequest: Counts = {};
for (const type of Object.keys(b)) {
  const d = b[type] - (a[type] ?? 0);
  if (d > 0) perRequest[type] = d / n;
}
console.log(JSON.stringify({ kind, n, perRequest, collectedBetween: collections[0] !== collections[1] }));
libc.exitNow(0);
