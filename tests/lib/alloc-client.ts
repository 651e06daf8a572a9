// The client half of tests/lib/alloc-probe.ts: on FD 3, mounts (lisafs,
// over a channel) or attaches (kinds p9-*: plain 9P2000.L over the socket),
// warms the gofer up with `kind` requests, goes quiet (the probe
// takes its first count), sends N more and goes quiet again (the second).
import { Client } from "./client";
import { P9Client } from "./p9client";

const [kind, warmup, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const QUIET_MS = 900; // longer than the loop's idle wait (IDLE_GC_MS, 500 ms)
function lisafsOps(): { ops: Record<string, () => void>; bye: () => void } {
  const cl = new Client(3);
  const m = cl.mount();
  cl.channel();
  const file = cl.walk(m.root.id, ["f"]).inodes[0].id;
  const open = cl.openAt(file, 0).id;
  return {
    ops: {
      fstat: () => void cl.fstat(m.root.id),
      pread: () => void cl.pread(open, 0, 4096),
      walkclose: () => cl.close([cl.walk(m.root.id, ["f"]).inodes[0].id]),
    },
    bye: () => cl.disconnect(),
  };
}

// Plain 9P2000.L over the socket, as diod's and the kernel's clients speak it.
function p9Ops(): { ops: Record<string, () => void>; bye: () => void } {
  const cl = new P9Client(3);
  cl.version(1 << 20, "9P2000.L");
  cl.attach(1);
  cl.walk(1, 2, ["f"]);
  cl.lopen(2, 0);
  return {
    ops: {
      "p9-getattr": () => void cl.getattr(1),
      "p9-read": () => void cl.read(2, 0, 4096),
      "p9-walkgetattrclunk": () => {
        cl.walk(1, 3, ["f"]);
        cl.getattr(3);
        cl.clunk(3);
      },
    },
    bye: () => cl.close(),
  };
}

const { ops, bye } = kind.startsWith("p9-") ? p9Ops() : lisafsOps();
const op = ops[kind];
for (let i = 0; i < warmup; i++) op();
await Bun.sleep(QUIET_MS);
for (let i = 0; i < n; i++) op();
await Bun.sleep(QUIET_MS);
bye();
process.exit(0);
