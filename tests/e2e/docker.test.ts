// Docker end to end: `docker run --runtime=gofer` (today's runsc) and
// `--runtime=gofer-20240729`, both through scripts/docker-runtime.sh, so that
// dist/gofer serves the container's root and its volumes. Real dockerd
// (Debian's docker.io), real runsc, an image imported from a busybox rootfs.
//
// beforeAll runs scripts/docker-setup.sh (installs docker.io and
// busybox-static when missing, writes the two runtimes into
// /etc/docker/daemon.json, starts dockerd when none answers, imports the
// image); afterAll stops dockerd if that run started it. Needs root.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO } from "./lib";

const SETUP = path.join(REPO, "scripts/docker-setup.sh");
const PIDFILE = "/run/gofer-dockerd.pid";
const IMAGE = process.env.GOFER_DOCKER_IMAGE ?? "gofer-busybox:latest";
const GOFER = path.join(REPO, "dist/gofer");
const DOCKER = process.env.DOCKER ?? "docker";

const RUNTIMES = [
  { runsc: "today", runtime: "gofer" },
  { runsc: "20240729", runtime: "gofer-20240729" },
];

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}
function docker(args: string[], timeoutMs = 60_000): Out {
  const r = spawnSync(DOCKER, args, { encoding: "utf8", timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
}
/** docker ARGS, which must succeed; its stdout. */
function dockerOk(args: string[], timeoutMs?: number): string {
  const r = docker(args, timeoutMs);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

// ---- our gofer's processes ---------------------------------------------------
// A process is one of our gofers when /proc/PID/exe is dist/gofer's inode (it
// stays so through the gofer's chroot and namespaces), and belongs to a
// container when its argv names the container ID (today's runsc passes it as
// the positional argument; both pass --log=.../moby/ID/log.json and the
// bundle path .../moby/ID).
interface Proc {
  pid: number;
  argv: string[];
  ours: boolean;
}
function processesOf(containerId: string): Proc[] {
  const g = fs.statSync(GOFER);
  const out: Proc[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    let exe: fs.Stats;
    try {
      argv = fs.readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
      if (!argv.some((a) => a.includes(containerId))) continue;
      exe = fs.statSync(`/proc/${name}/exe`);
    } catch {
      continue; // gone, or a kernel thread
    }
    out.push({ pid: Number(name), argv, ours: exe.dev === g.dev && exe.ino === g.ino });
  }
  return out;
}
/** Our gofers of the container, and any other process running a `gofer` subcommand for it (runsc's own gofer). */
function gofersOf(containerId: string): { ours: Proc[]; foreign: Proc[] } {
  const procs = processesOf(containerId);
  return {
    ours: procs.filter((p) => p.ours),
    foreign: procs.filter((p) => !p.ours && p.argv.includes("gofer") && !p.argv.some((a) => a.endsWith("containerd-shim-runc-v2"))),
  };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(50);
  }
}

// ---- set-up ------------------------------------------------------------------
let startedDockerd = false;
let scratch = "";

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("tests/e2e/docker.test.ts needs root (apt-get, dockerd, runsc)");
  const had = fs.existsSync(PIDFILE);
  const t0 = performance.now();
  const r = spawnSync("bash", [SETUP], { encoding: "utf8", timeout: 600_000 });
  startedDockerd = !had && fs.existsSync(PIDFILE);
  if (r.status !== 0) throw new Error(`${SETUP} exited ${r.status}: ${r.stderr}${r.stdout}`);
  console.log(`docker-setup.sh: ${Math.round(performance.now() - t0)} ms${startedDockerd ? " (started dockerd)" : ""}`);
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-docker-"));
}, 600_000);

afterAll(() => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  if (startedDockerd) {
    const r = spawnSync("bash", [SETUP, "--stop"], { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${SETUP} --stop exited ${r.status}: ${r.stderr}`);
  }
}, 60_000);

let n = 0;
function hostDir(files: Record<string, string>): string {
  const d = path.join(scratch, `vol-${++n}`);
  fs.mkdirSync(d);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(d, name), content);
  return d;
}

/** name -> [type, mode, size, content md5, mtime] of every entry below `dir`. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      const st = fs.lstatSync(path.join(dir, r));
      const md5 = st.isFile() ? createHash("md5").update(fs.readFileSync(path.join(dir, r))).digest("hex") : "";
      out[r] = [st.isDirectory() ? "d" : st.isFile() ? "f" : "o", st.mode.toString(8), st.size, md5, st.mtimeMs].join(" ");
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

for (const { runsc, runtime } of RUNTIMES) {
  describe(`docker --runtime=${runtime} (runsc ${runsc}, dist/gofer)`, () => {
    test("a container lists and reads its root", () => {
      const out = dockerOk(["run", "--rm", `--runtime=${runtime}`, IMAGE, "sh", "-c", "ls -a /; echo ==; cat /etc/gofer-image.txt; md5sum /bin/busybox; ls /bin | wc -l; readlink /bin/ls"]);
      const [listing, rest] = out.split("==\n");
      for (const name of ["bin", "dev", "etc", "proc", "root", "sys", "tmp"]) expect(listing.split("\n")).toContain(name);
      const lines = rest.trim().split("\n");
      expect(lines[0]).toBe("this image is served by the gofer");
      expect(lines[1]).toBe(`${createHash("md5").update(fs.readFileSync("/bin/busybox")).digest("hex")}  /bin/busybox`);
      // Every applet link and busybox itself.
      const applets = spawnSync("/bin/busybox", ["--list"], { encoding: "utf8" }).stdout.trim().split("\n");
      expect(Number(lines[2])).toBe(new Set([...applets, "busybox"]).size);
      expect(lines[3]).toBe("busybox");
    });

    test("a -v host volume: reads host files, and what the container writes is on the host", () => {
      const h = hostDir({ "in.txt": "from the host\n", "gone.txt": "remove me\n" });
      const out = dockerOk([
        "run", "--rm", `--runtime=${runtime}`, "-v", `${h}:/data`, IMAGE, "sh", "-c",
        "cat /data/in.txt; echo 'from the container' > /data/out.txt; mkdir /data/sub; echo deep > /data/sub/f; mv /data/sub/f /data/sub/g; " +
          "rm /data/gone.txt; ln -s in.txt /data/link; chmod 600 /data/out.txt; ls /data",
      ]);
      expect(out).toBe("from the host\nin.txt\nlink\nout.txt\nsub\n");
      expect(fs.readFileSync(path.join(h, "out.txt"), "utf8")).toBe("from the container\n");
      expect(fs.statSync(path.join(h, "out.txt")).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(path.join(h, "sub/g"), "utf8")).toBe("deep\n");
      expect(fs.existsSync(path.join(h, "sub/f"))).toBe(false);
      expect(fs.existsSync(path.join(h, "gone.txt"))).toBe(false);
      expect(fs.readlinkSync(path.join(h, "link"))).toBe("in.txt");
      expect(fs.readFileSync(path.join(h, "in.txt"), "utf8")).toBe("from the host\n");
    });

    test("a :ro volume: reads work, every change is refused with EROFS, the host is unchanged", () => {
      const h = hostDir({ "keep.txt": "read only\n" });
      fs.mkdirSync(path.join(h, "d"));
      const before = snapshot(h);
      const ops = [
        "echo x > /ro/new",
        "echo x >> /ro/keep.txt",
        "rm /ro/keep.txt",
        "mkdir /ro/e",
        "rmdir /ro/d",
        "touch /ro/keep.txt",
        "mv /ro/keep.txt /ro/k2",
        "chmod 600 /ro/keep.txt",
        "ln -s keep.txt /ro/l",
        "truncate -s 0 /ro/keep.txt",
      ];
      const script = `cat /ro/keep.txt; ${ops.map((op) => `if sh -c '${op}' 2>/tmp/err; then echo 'ok: ${op}'; else echo "refused: $(cat /tmp/err)"; fi`).join("; ")}`;
      const out = dockerOk(["run", "--rm", `--runtime=${runtime}`, "-v", `${h}:/ro:ro`, IMAGE, "sh", "-c", script]);
      const lines = out.trim().split("\n");
      expect(lines[0]).toBe("read only");
      expect(lines.slice(1).filter((l) => !l.includes("Read-only file system"))).toEqual([]);
      expect(lines.length).toBe(ops.length + 1);
      expect(snapshot(h)).toEqual(before);
    });

    test("docker run -d, exec, stop, rm: the container's gofer is dist/gofer, and it exits once the container is gone", async () => {
      const h = hostDir({ "in.txt": "seen by exec\n" });
      const id = dockerOk([
        "run", "-d", `--runtime=${runtime}`, "-v", `${h}:/data`, IMAGE, "sh", "-c",
        "trap 'echo stopping > /data/stopping; exit 0' TERM; echo up > /data/started; while :; do sleep 0.1; done",
      ]).trim();
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      let seen: Proc[] = [];
      try {
        await waitFor("the container to write /data/started", () => fs.existsSync(path.join(h, "started")), 20_000);
        const g = gofersOf(id);
        // Served by ours: at least one process of this container runs dist/gofer, none runs runsc's gofer.
        expect(g.ours.length).toBeGreaterThanOrEqual(1);
        expect(g.foreign.map((p) => `${p.pid} ${p.argv.join(" ")}`)).toEqual([]);
        for (const p of g.ours) expect(p.argv).toContain("gofer");
        seen = g.ours;

        const ex = dockerOk(["exec", id, "sh", "-c", "cat /data/in.txt; echo exec > /data/exec.txt; cat /etc/gofer-image.txt"]);
        expect(ex).toBe("seen by exec\nthis image is served by the gofer\n");
        expect(fs.readFileSync(path.join(h, "exec.txt"), "utf8")).toBe("exec\n");
        // A failing command's status comes back too.
        expect(docker(["exec", id, "sh", "-c", "exit 7"]).code).toBe(7);

        const t0 = performance.now();
        dockerOk(["stop", "-t", "10", id]);
        const stopMs = performance.now() - t0;
        // The TERM trap ran (no SIGKILL after the 10 s grace period).
        expect(fs.readFileSync(path.join(h, "stopping"), "utf8")).toBe("stopping\n");
        expect(stopMs).toBeLessThan(9_000);
        expect(dockerOk(["inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", id]).trim()).toBe("false 0");
      } finally {
        const rm = docker(["rm", "-f", id]);
        expect(rm.code).toBe(0);
      }
      expect(dockerOk(["ps", "-a", "-q", "--no-trunc"]).split("\n")).not.toContain(id);
      await waitFor("the container's gofer processes to exit", () => gofersOf(id).ours.length === 0, 5_000);
      for (const p of seen) {
        let stillOurs = false;
        try {
          const exe = fs.statSync(`/proc/${p.pid}/exe`);
          const g = fs.statSync(GOFER);
          stillOurs = exe.dev === g.dev && exe.ino === g.ino;
        } catch {
          // gone
        }
        expect(stillOurs).toBe(false);
      }
    }, 120_000);
  });
}
