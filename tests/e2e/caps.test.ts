// The serving gofer's confinement under each runsc, read from outside while
// a sandbox runs: every thread's capability sets (the gofer drops them on
// every thread in place, docs/runsc.md) equal the reference gofer's, every
// thread has a seccomp filter, and /proc is gone from the gofer's mount
// namespace. A thread started after the drop (channels start the socket
// poller's Worker) is among those checked.
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as L from "./lib";

const RUNSCS = L.selectRunscs();
const S = new L.Scratch();
afterAll(() => {
  L.sweep(S.root);
  S.cleanup();
});

const CAP_FIELDS = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] as const;

interface ThreadFacts {
  name: string;
  caps: Record<(typeof CAP_FIELDS)[number], string>;
  seccomp: string;
}

function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return -1;
  }
}

function threadsOf(pid: number): ThreadFacts[] {
  const out: ThreadFacts[] = [];
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${pid}/task/${t}/status`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const field = (k: string) => status.match(new RegExp(`^${k}:\\s+(\\S+)`, "m"))?.[1] ?? "?";
    out.push({
      name: field("Name"),
      caps: Object.fromEntries(CAP_FIELDS.map((k) => [k, field(k)])) as ThreadFacts["caps"],
      seccomp: field("Seccomp"),
    });
  }
  return out;
}

/** Runs a sandbox that reads files for a while (channels, a late thread),
 * finds its gofer and returns what its threads and mounts say. */
async function inspect(rv: L.Runsc, which: L.Which, directfs: boolean) {
  const stateDir = S.dir("state");
  const script = "for i in 1 2 3 4 5 6; do ls /usr/bin >/dev/null; cat /etc/hostname >/dev/null; sleep 0.3; done";
  let runscPid = -1;
  const run = L.spawnRunsc(rv, which, [`--root=${stateDir}`, ...L.BASE_FLAGS, `--directfs=${directfs}`, "do", "/bin/sh", "-c", script], {
    timeoutMs: L.RUN_TIMEOUT_MS,
    onStart: (pid) => {
      runscPid = pid;
    },
  });
  let facts: { threads: ThreadFacts[]; pid: number } | null = null;
  const deadline = Date.now() + 15_000;
  while (!facts && Date.now() < deadline) {
    await Bun.sleep(100);
    // This run's gofer: a child of the runsc we started (gofers of earlier
    // runs may still be waiting for their sandboxes to exit).
    const pids = L.goferProcesses(rv, (b) => b.includes("runsc-do"))
      .map((line) => Number(line.split(" ")[1]))
      .filter((pid) => parentOf(pid) === runscPid);
    for (const pid of pids) {
      const threads = threadsOf(pid);
      // Serving: the filter is in place (after the drop, the chroot and /proc's unmount).
      if (threads.length === 0 || threads.some((t) => t.seccomp !== "2")) continue;
      await Bun.sleep(1200); // let the sandbox's reads start whatever threads they start
      facts = { threads: threadsOf(pid), pid };
      break;
    }
  }
  const r = await run;
  return { facts, r };
}

for (const rv of RUNSCS) {
  describe(`runsc ${rv.name}`, () => {
    for (const directfs of [true, false]) {
      test(
        `--directfs=${directfs}: every thread of the serving gofer holds the reference's capabilities and a seccomp filter`,
        async () => {
          const ref = await inspect(rv, "ref", directfs);
          const ours = await inspect(rv, "test", directfs);
          for (const [label, x] of [
            ["reference", ref],
            ["under test", ours],
          ] as const) {
            if (!x.facts) throw new Error(`no serving gofer seen (${label}); runsc said: ${x.r.stderr}`);
            expect(x.r.code).toBe(0);
            for (const t of x.facts.threads) expect({ thread: t.name, seccomp: t.seccomp }).toEqual({ thread: t.name, seccomp: "2" });
          }
          const want = ref.facts!.threads[0].caps;
          // The reference's threads agree among themselves (the check could not pass vacuously).
          for (const t of ref.facts!.threads) expect(t.caps).toEqual(want);
          // The reference dropped something (root's full set would make the comparison weak).
          expect(BigInt(`0x${want.CapBnd}`) & (1n << 21n)).toBe(0n); // no CAP_SYS_ADMIN
          for (const t of ours.facts!.threads) expect({ thread: t.name, ...t.caps }).toEqual({ thread: t.name, ...want });
          // More threads than the main one were checked (JSC's and Bun's own).
          expect(ours.facts!.threads.length).toBeGreaterThan(3);
          // Without directfs the sandbox's requests start the socket poller
          // (a machine-code thread on x86-64, a Worker elsewhere), a thread
          // born after the drop and the chroot.
          if (!directfs) expect(ours.facts!.threads.some((t) => t.name === "gofer-poller" || t.name === "Worker")).toBe(true);
          // A hang bound, not a speed test: the script sleeps 1.8 s; a poller
          // that never comes up holds every socket request for 10 s.
          expect(ours.r.ms).toBeLessThan(8000);
        },
        60_000,
      );
    }
  });
}

test("the e2e scratch root is a directory of ours", () => {
  expect(path.isAbsolute(S.root)).toBe(true);
});
