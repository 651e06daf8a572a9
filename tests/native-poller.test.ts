// The machine-code socket poller (src/loop/native-poller.ts) for x86-64 and
// arm64, driven through the Poller word protocol by tests/lib/native-poller-
// probe.ts: on the host's Bun, and compiled for arm64 and run under
// qemu-aarch64 (which checks the instructions and system calls, not arm64's
// weaker memory ordering: qemu runs it on the host's x86-64 ordering).
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO } from "./lib/fixture";

setDefaultTimeout(120_000);
const BUN = path.join(REPO, "node_modules/.bin/bun");
const PROBE = path.join(REPO, "tests/lib/native-poller-probe.ts");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-poller-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const expected = (arch: string) => ({
  arch,
  supported: true,
  start: 0,
  ready: 1,
  // prctl(PR_SET_NAME) ran: one thread named gofer-poller.
  threadNamed: 1,
  // Data on the first socket: POLLIN for it, nothing for the second.
  data: { woke: true, arm: 0, revents: [1, 0] },
  // The kick eventfd alone wakes the main thread, with no socket revents...
  kick: { woke: true, arm: 0, revents: [0, 0] },
  // ...and the poller drained it.
  kickDrained: true,
  // The second socket's peer closed: POLLIN | POLLHUP.
  hup: { woke: true, arm: 0, revents: [0, 17] },
  // stop set: the thread returned.
  threadAfterStop: 0,
});

function run(cmd: string[]): unknown {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8", timeout: 90_000 });
  if (r.status !== 0) throw new Error(`${cmd.join(" ")}: status ${r.status}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "");
}

test("x86-64 poller on the host", () => {
  expect(process.arch).toBe("x64");
  expect(run([BUN, PROBE])).toEqual(expected("x64"));
});

test("arm64 poller under qemu-aarch64", () => {
  const exe = path.join(dir, "probe-arm64");
  const b = spawnSync(BUN, ["build", "--compile", "--target=bun-linux-arm64", PROBE, "--outfile", exe], { cwd: REPO, encoding: "utf8" });
  if (b.status !== 0) throw new Error(`building the arm64 probe: ${b.stderr}`);
  expect(run(["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", exe])).toEqual(expected("arm64"));
});
