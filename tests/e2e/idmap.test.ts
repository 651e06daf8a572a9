// An id-mapped bind mount under today's runsc: runsc opens the source with
// the mapping applied (open_tree + mount_setattr) and hands the detached tree
// to its gofer over --rpc-fd (urpc), which moves it into place. Ours must do
// what the reference gofer does: same output in the sandbox, same host state.
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { makeBundle } from "../../scripts/runsc-bundle.ts";
import * as L from "./lib";

const TODAY = L.selectRunscs().filter((rv) => rv.name === "today");
const S = new L.Scratch();
afterAll(() => {
  L.sweep(S.root);
  S.cleanup();
});

describe.each(TODAY.map((rv) => [rv.name, rv] as const))("runsc %s", (_name, rv) => {
  test(
    "an id-mapped bind mount reaches the gofer through runsc's RPC and is served as the reference serves it",
    async () => {
      const runs: Record<L.Which, { r: L.RunResult; host: string }> = {} as never;
      for (const which of ["ref", "test"] as const) {
        const data = S.dir(`idmap-data-${which}`);
        fs.chownSync(data, 1000, 1000);
        fs.writeFileSync(path.join(data, "mine.txt"), "owned by 1000\n");
        fs.chownSync(path.join(data, "mine.txt"), 1000, 1000);
        const dir = S.dir("bundle");
        makeBundle({
          dir,
          args: ["/bin/sh", "-c", "ls -ln /data; cat /data/mine.txt; echo new > /data/made.txt; echo rc=$?; ls -ln /data"],
          mounts: [{ source: data, destination: "/data" }],
        });
        const specPath = path.join(dir, "config.json");
        const spec = JSON.parse(fs.readFileSync(specPath, "utf8"));
        const m = spec.mounts.find((x: { destination: string }) => x.destination === "/data");
        m.options = [...(m.options ?? []), "idmap"];
        m.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
        m.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
        fs.writeFileSync(specPath, JSON.stringify(spec));
        const r = await L.runBundle({ rv, which, bundle: dir, flags: ["--overlay2=none"], stateDir: S.dir("state") });
        runs[which] = { r, host: L.snapshot(data) };
      }
      // The mount is there and mapped: the file reads, and its owner is not
      // the host's 1000 as a plain bind would show it.
      L.check(runs.ref.r.stdout.includes("owned by 1000") && !runs.ref.r.stdout.includes(" 1000 1000 "), "the reference serves the mapped mount", runs.ref.r);
      L.expectSameRun("id-mapped mount", runs.ref.r, runs.test.r);
      L.expectSame("the host directory afterwards", runs.ref.host, runs.test.host);
      expect(runs.test.r.code).toBe(0);
    },
    120_000,
  );
});

test("today's runsc is among the runscs under test (or RUNSC left it out on purpose)", () => {
  if (!process.env.RUNSC) expect(TODAY.length).toBe(1);
});
