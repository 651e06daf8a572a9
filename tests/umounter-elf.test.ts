// The small /proc umounter (src/runsc/umounter-elf.ts) for each architecture,
// run for real in a private mount namespace: it waits for FD 3, detaches
// /proc there, and exits 0. The arm64 program runs under qemu-aarch64-static
// (static, no sysroot needed). The namespace's /proc is its own: the host's
// is untouched.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { umounterElf } from "../src/runsc/umounter-elf";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-umounter-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `cmd` with FD 3 from `fd3` in a new mount namespace; reports its
 * status and whether /proc was still mounted there afterwards. */
function inNamespace(cmd: string, fd3: string): { status: number; procAfter: string } {
  const script = `${cmd} 3<${fd3}; s=$?; if [ -e /proc/self/stat ]; then p=mounted; else p=gone; fi; echo "$s $p"`;
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`unshare: ${r.stderr}`);
  const [status, procAfter] = r.stdout.trim().split(" ");
  return { status: Number(status), procAfter };
}

describe("umounter ELF", () => {
  const runners: Record<string, string[]> = { x64: [], arm64: ["qemu-aarch64-static"] };
  for (const arch of ["x64", "arm64"]) {
    test(`${arch}: waits for FD 3, detaches /proc, exits 0`, () => {
      const elf = umounterElf(arch);
      if (!elf) throw new Error(`no umounter for ${arch}`);
      const file = path.join(dir, `umount-proc-${arch}`);
      fs.writeFileSync(file, elf, { mode: 0o755 });
      const cmd = [...runners[arch], file].join(" ");
      // EOF on FD 3 (the gofer's sync pipe closed) is the signal to go.
      expect(inNamespace(cmd, "/dev/null")).toEqual({ status: 0, procAfter: "gone" });
      // Without /proc mounted, umount2 fails: exit 1, as the Bun umounter.
      expect(inNamespace(`umount -l /proc; ${cmd}`, "/dev/null")).toEqual({ status: 1, procAfter: "gone" });
      // With nothing on FD 3 it waits: killed after a while, /proc stays.
      const fifo = path.join(dir, `fifo-${arch}`);
      spawnSync("mkfifo", [fifo]);
      expect(inNamespace(`(sleep 1; exec 4>${fifo}; sleep 3) & timeout -s KILL 1 ${cmd}`, fifo)).toEqual({ status: 137, procAfter: "mounted" });
    });
  }
  test("no program for other architectures", () => {
    expect(umounterElf("riscv64")).toBeNull();
  });
});
