// A fatal error in the runsc form reaches runsc's --log-fd as runsc writes it
// there (util.Errorf: one JSON object {msg, level, time}), since containerd's
// shim (Docker, Kubernetes) parses that file to say why a container failed.
import { expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GOFER } from "./lib/fixture";

test("a fatal error: exit 128, 'gofer: ...' on stderr, runsc's JSON error object on --log-fd", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-fatal-"));
  try {
    const logPath = path.join(dir, "log.json");
    const logFd = fs.openSync(logPath, "a");
    // FD 9 (the spec) is not open: reading it fails after the flags parsed.
    const r = Bun.spawnSync(
      [GOFER, "--log-fd=3", "--log-format=json", "gofer", "--bundle", dir, "--spec-fd=9", "--mounts-fd=8", "--io-fds=7", "--gofer-mount-confs=lisafs:none"],
      { stdio: ["ignore", "pipe", "pipe", logFd] },
    );
    fs.closeSync(logFd);
    expect(r.exitCode).toBe(128);
    const stderr = r.stderr.toString();
    expect(stderr).toMatch(/^gofer: reading the spec from --spec-fd 9: errno \d+\n$/);
    const lines = fs.readFileSync(logPath, "utf8").split("\n").filter((l) => l !== "");
    expect(lines.length).toBe(1);
    const j = JSON.parse(lines[0]) as { msg: string; level: string; time: string };
    expect(Object.keys(j).sort()).toEqual(["level", "msg", "time"]);
    expect(j.level).toBe("error");
    expect(j.msg).toBe(stderr.trimEnd());
    expect(Math.abs(Date.parse(j.time) - Date.now())).toBeLessThan(60_000);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
