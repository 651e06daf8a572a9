// Soak: one gofer (dist/gofer, native form) serving 8 lisafs clients that
// run mixed operations (walks, creates, writes, reads, listings, renames,
// unlinks, mkdir/rmdir, stats; half of them over a flipcall channel) for a
// long time. The gofer's RSS, anonymous memory and open FD count after the
// first minute are compared with the end: a leak shows as growth.
//
//   node_modules/.bin/bun bench/soak.ts [--minutes 30] [--clients 8]
//
// Prints one line per minute and a verdict: within 5% at the end, or not.
// Needs root for its tmpfs (else a temp dir). Talks only to its own gofer.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { Client } from "../tests/lib/client";

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const minutes = opt("--minutes", 30);
const nClients = opt("--clients", 8);
const gofer = path.resolve(import.meta.dir, "../dist/gofer");
if (!fs.existsSync(gofer)) throw new Error("dist/gofer missing: node_modules/.bin/bun run build.ts");

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gofer-soak-"));
const root = process.getuid?.() === 0;
if (root) spawnSync("mount", ["-t", "tmpfs", "-o", "size=256m", "gofer-soak", dir]);
const pairs = Array.from({ length: nClients }, () => libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0) as [number, number]);
const argv = [gofer];
pairs.forEach((_, i) => argv.push("--io-fd", String(3 + i), "--mount", dir));
const proc = Bun.spawn(argv, { stdio: ["ignore", "inherit", "inherit", ...pairs.map((p) => p[1])] });
for (const p of pairs) libc.close(p[1]);

function usage(): { rssKiB: number; anonKiB: number; fds: number } {
  const roll = fs.readFileSync(`/proc/${proc.pid}/smaps_rollup`, "utf8");
  const kib = (k: string) => Number(roll.match(new RegExp(`^${k}:\\s+(\\d+)`, "m"))?.[1] ?? NaN);
  return { rssKiB: kib("Rss"), anonKiB: kib("Anonymous"), fds: fs.readdirSync(`/proc/${proc.pid}/fd`).length };
}

const clients = pairs.map((p, i) => {
  const c = new Client(p[0]);
  const m = c.mount();
  for (const f of m.fds) libc.close(f);
  if (i % 2 === 1) c.use(c.channel());
  const mine = c.mkdirAt(m.root.id, `c${i}`).id;
  return { c, root: m.root.id, mine, n: 0 };
});

const data = new Uint8Array(4096).fill(0x61);
function step(k: (typeof clients)[number]): void {
  const { c, mine } = k;
  const name = `f${k.n++}`;
  const made = c.openCreateAt(mine, name, C.O_RDWR);
  c.pwrite(made.id, 0, data);
  c.pread(made.id, 0, 4096);
  libc.close(made.hostFd);
  c.close([made.id, made.child.id]);
  const w = c.walkTo(mine, name);
  c.fstat(w.id);
  c.close([w.id]);
  if (k.n % 7 === 0) {
    c.renameAt(mine, name, mine, `${name}.r`);
    c.unlinkAt(mine, `${name}.r`);
  } else c.unlinkAt(mine, name);
  if (k.n % 11 === 0) {
    const d = c.mkdirAt(mine, `d${k.n}`);
    c.close([d.id]);
    c.unlinkAt(mine, `d${k.n}`, C.AT_REMOVEDIR);
  }
  if (k.n % 13 === 0) {
    const o = c.openAt(mine, C.O_RDONLY);
    c.getdents64(o.id, 65536);
    if (o.hostFd >= 0) libc.close(o.hostFd);
    c.close([o.id]);
  }
}

const start = performance.now();
let base: ReturnType<typeof usage> | null = null;
let ops = 0;
let nextReport = 60_000;
while (performance.now() - start < minutes * 60_000) {
  for (const k of clients) step(k);
  ops += clients.length;
  const t = performance.now() - start;
  if (t >= nextReport) {
    const u = usage();
    if (!base) base = u;
    console.log(`${(t / 60_000).toFixed(0)} min: ${ops} rounds, RSS ${(u.rssKiB / 1024).toFixed(1)} MiB, anonymous ${(u.anonKiB / 1024).toFixed(1)} MiB, ${u.fds} FDs`);
    nextReport += 60_000;
  }
}
const end = usage();
for (const k of clients) k.c.disconnect();
const code = await proc.exited;
if (root) spawnSync("umount", [dir]);
fs.rmSync(dir, { recursive: true, force: true });
const b = base ?? end;
const within = (a: number, x: number) => x <= a * 1.05;
const ok = within(b.rssKiB, end.rssKiB) && within(b.anonKiB, end.anonKiB) && within(b.fds, end.fds) && code === 0;
console.log(
  `soak ${minutes} min, ${nClients} clients: RSS ${(b.rssKiB / 1024).toFixed(1)} -> ${(end.rssKiB / 1024).toFixed(1)} MiB, ` +
    `anonymous ${(b.anonKiB / 1024).toFixed(1)} -> ${(end.anonKiB / 1024).toFixed(1)} MiB, FDs ${b.fds} -> ${end.fds}, exit ${code}: ` +
    (ok ? "within 5%" : "GREW (or the gofer failed)"),
);
process.exit(ok ? 0 : 1);
