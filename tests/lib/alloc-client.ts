// The client half of tests/lib/alloc-probe.ts: on FD 3, mounts, opens a
// channel, warms the gofer up with `kind` requests, goes quiet (the probe
// takes its first count), sends N more and goes quiet again (the second).
import { Client } from "./client";

const [kind, warmup, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const QUIET_MS = 900; // longer than the loop's idle wait (IDLE_GC_MS, 500 ms)
const cl = new Client(3);
const m = cl.mount();
cl.channel();
const file = cl.walk(m.root.id, ["f"]).inodes[0].id;
const open = cl.openAt(file, 0).id;
const ops: Record<string, () => void> = {
  fstat: () => void cl.fstat(m.root.id),
  pread: () => void cl.pread(open, 0, 4096),
  walkclose: () => cl.close([cl.walk(m.root.id, ["f"]).inodes[0].id]),
};
const op = ops[kind];
for (let i = 0; i < warmup; i++) op();
await Bun.sleep(QUIET_MS);
for (let i = 0; i < n; i++) op();
await Bun.sleep(QUIET_MS);
cl.disconnect();
process.exit(0);
