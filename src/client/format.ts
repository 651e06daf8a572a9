// Output of `gofer client`, in GNU coreutils' formats (LC_ALL=C) so that an
// operator reads it as ls -l, stat and df, and a test can hold it against
// theirs: pure functions from what the server answered to text. Names are
// byte strings (one char per byte) and stay so; the caller writes the text
// out as latin1, i.e. those bytes.
import { readFileSync } from "node:fs";
import * as C from "../ffi/constants";
import type { RemoteStat, RemoteStatFS, Timestamp } from "./remote";

const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const S_IFSOCK = 0o140000;

const isType = (mode: number, t: number) => (mode & C.S_IFMT) === t;
export const isDir = (mode: number) => isType(mode, C.S_IFDIR);
export const isSymlink = (mode: number) => isType(mode, S_IFLNK);
export const isRegular = (mode: number) => isType(mode, S_IFREG);
const isDevice = (mode: number) => isType(mode, S_IFCHR) || isType(mode, S_IFBLK);

/** ls's ten-character mode: type, then rwx with setuid/setgid/sticky. */
export function modeString(mode: number): string {
  const types: Record<number, string> = {
    [C.S_IFDIR]: "d",
    [S_IFLNK]: "l",
    [S_IFREG]: "-",
    [S_IFCHR]: "c",
    [S_IFBLK]: "b",
    [S_IFIFO]: "p",
    [S_IFSOCK]: "s",
  };
  let s = types[mode & C.S_IFMT] ?? "?";
  const rwx = (bits: number, special: boolean, on: string, off: string) =>
    (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (special ? (bits & 1 ? on : off) : bits & 1 ? "x" : "-");
  s += rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, "s", "S");
  s += rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, "s", "S");
  s += rwx(mode & 7, (mode & 0o1000) !== 0, "t", "T");
  return s;
}

/** stat's %F. */
export function fileType(st: RemoteStat): string {
  switch (st.mode & C.S_IFMT) {
    case S_IFREG:
      return st.size === 0n ? "regular empty file" : "regular file";
    case C.S_IFDIR:
      return "directory";
    case S_IFLNK:
      return "symbolic link";
    case S_IFCHR:
      return "character special file";
    case S_IFBLK:
      return "block special file";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "socket";
    default:
      return "weird file";
  }
}

/** uid/gid to names from this host's /etc/passwd and /etc/group, as ls and
 * stat print them (the gofer serves host files: host names fit). */
export class Names {
  private readonly users = Names.load("/etc/passwd");
  private readonly groups = Names.load("/etc/group");
  private static load(file: string): Map<number, string> {
    const m = new Map<number, string>();
    let text = "";
    try {
      text = readFileSync(file, "latin1");
    } catch {
      return m;
    }
    for (const line of text.split("\n")) {
      const f = line.split(":");
      if (f.length >= 3 && /^\d+$/.test(f[2]) && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]);
    }
    return m;
  }
  user(uid: number): string {
    return this.users.get(uid) ?? String(uid);
  }
  group(gid: number): string {
    return this.groups.get(gid) ?? String(gid);
  }
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const p2 = (n: number) => String(n).padStart(2, "0");
const msOf = (t: Timestamp) => Number(t.sec) * 1000 + Math.floor(t.nsec / 1e6);

/** ls -l's date: "Dec  7 19:53" within six months, else "Dec  7  2025"
 * (local time, as ls). */
export function lsDate(t: Timestamp, nowMs: number): string {
  const ms = msOf(t);
  const d = new Date(ms);
  const head = `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")}`;
  const sixMonthsMs = (365.2425 / 2) * 24 * 3600 * 1000;
  const recent = ms <= nowMs && nowMs - ms < sixMonthsMs;
  return recent ? `${head} ${p2(d.getHours())}:${p2(d.getMinutes())}` : `${head}  ${d.getFullYear()}`;
}

/** stat's full timestamp: "2026-12-07 19:57:54.913362221 +0000" (local time). */
export function statDate(t: Timestamp): string {
  const d = new Date(Number(t.sec) * 1000);
  const off = -d.getTimezoneOffset();
  const tz = `${off < 0 ? "-" : "+"}${p2(Math.floor(Math.abs(off) / 60))}${p2(Math.abs(off) % 60)}`;
  return (
    `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ` +
    `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(t.nsec).padStart(9, "0")} ${tz}`
  );
}

/** One entry of a long listing: its name as shown, its attributes, and a
 * symlink's target. */
export interface LongEntry {
  name: string;
  st: RemoteStat;
  target?: string;
}

/** ls -l's lines for entries (columns aligned across them, as ls). */
export function longLines(entries: LongEntry[], names: Names, nowMs: number): string[] {
  const rows = entries.map((e) => ({
    mode: modeString(e.st.mode),
    nlink: String(e.st.nlink),
    user: names.user(e.st.uid),
    group: names.group(e.st.gid),
    size: isDevice(e.st.mode) ? `${e.st.rdev.major}, ${e.st.rdev.minor}` : String(e.st.size),
    date: lsDate(e.st.mtime, nowMs),
    name: e.target !== undefined ? `${e.name} -> ${e.target}` : e.name,
  }));
  const w = (k: "nlink" | "user" | "group" | "size") => Math.max(0, ...rows.map((r) => r[k].length));
  const [wn, wu, wg, ws] = [w("nlink"), w("user"), w("group"), w("size")];
  return rows.map(
    (r) => `${r.mode} ${r.nlink.padStart(wn)} ${r.user.padEnd(wu)} ${r.group.padEnd(wg)} ${r.size.padStart(ws)} ${r.date} ${r.name}`,
  );
}

/** ls -l's "total": the entries' blocks in KiB (st_blocks counts 512 bytes). */
export function totalLine(entries: LongEntry[]): string {
  const blocks = entries.reduce((n, e) => n + e.st.blocks, 0n);
  return `total ${(blocks + 1n) / 2n}`;
}

/** stat(1)'s default output for one file (a symlink's with its target). */
export function statText(name: string, st: RemoteStat, names: Names, target?: string): string {
  const dev = st.dev ? `${st.dev.major},${st.dev.minor}` : "?";
  const ino = String(st.ino).padEnd(11);
  const links = isDevice(st.mode)
    ? `Links: ${String(st.nlink).padEnd(5)} Device type: ${st.rdev.major},${st.rdev.minor}`
    : `Links: ${st.nlink}`;
  const perm = (st.mode & 0o7777).toString(8).padStart(4, "0");
  const id = (n: number, s: string) => `(${String(n).padStart(5)}/${s.padStart(8)})`;
  return [
    `  File: ${target !== undefined ? `${name} -> ${target}` : name}`,
    `  Size: ${String(st.size).padEnd(10)}\tBlocks: ${String(st.blocks).padEnd(10)} IO Block: ${String(st.blksize).padEnd(6)} ${fileType(st)}`,
    `Device: ${dev}\tInode: ${ino} ${links}`,
    `Access: (${perm}/${modeString(st.mode)})  Uid: ${id(st.uid, names.user(st.uid))}   Gid: ${id(st.gid, names.group(st.gid))}`,
    `Access: ${statDate(st.atime)}`,
    `Modify: ${statDate(st.mtime)}`,
    `Change: ${statDate(st.ctime)}`,
    ` Birth: ${st.btime ? statDate(st.btime) : "-"}`,
    "",
  ].join("\n");
}

/** df(1)'s table (1K blocks) for one served tree. */
export function dfText(source: string, mountedOn: string, s: RemoteStatFS): string {
  const k = (blocks: bigint) => (blocks * s.bsize + 1023n) / 1024n;
  const size = k(s.blocks);
  const used = k(s.blocks - s.bfree);
  const avail = k(s.bavail);
  // Use% as df: used / (used + available), rounded up.
  const denom = used + avail;
  const pct = denom === 0n ? "-" : `${(used * 100n + denom - 1n) / denom}%`;
  const head = ["Filesystem", "1K-blocks", "Used", "Available", "Use%", "Mounted on"];
  const row = [source, String(size), String(used), String(avail), pct, mountedOn];
  const w = head.map((h, i) => Math.max(h.length, row[i].length, i === 0 ? 14 : 0));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(i === r.length - 1 ? 0 : w[i]) : c.padStart(w[i]))).join(" ");
  return `${line(head)}\n${line(row)}\n`;
}

/** Percentile of sorted samples (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface BenchRow {
  op: string;
  samplesUs: number[];
}

/** bench's table: per operation, round trips and their p50, p99 and mean
 * latency in microseconds. */
export function benchTable(rows: BenchRow[]): string {
  const head = ["op", "n", "p50 us", "p99 us", "mean us"];
  const cells = rows.map((r) => {
    const s = [...r.samplesUs].sort((a, b) => a - b);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    return [r.op, String(s.length), percentile(s, 50).toFixed(1), percentile(s, 99).toFixed(1), mean.toFixed(1)];
  });
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join("  ");
  return [line(head), ...cells.map(line), ""].join("\n");
}
