// Derives the seccomp allow-list's inputs from strace logs (docs/seccomp.md):
// for each log (`strace -f -o LOG gofer ...`, all processes in one file),
// the syscalls each gofer made after it installed its filter, counted over
// all logs, with the arguments of those the filter checks; then what was
// traced but is not allowed (the list is missing it) and what is allowed
// but was not traced.
//
//   bun scripts/seccomp-trace.ts LOG...
import * as fs from "node:fs";
import { allowedSyscalls } from "../src/ffi/seccomp";

/** The arguments (by position as strace prints them) tallied per call. */
const SHOWN: Record<string, number[]> = {
  socket: [0, 1], socketpair: [0, 1], ioctl: [1], prctl: [0, 1], mknodat: [2, 3], tgkill: [2],
  sched_setscheduler: [1], prlimit64: [1, 2], clone: [], mmap: [2, 3], mprotect: [2], fcntl: [1],
};
const LINE = /^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$/;

/** Top-level arguments of a call as strace prints it. */
function args(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if ("([{".includes(ch)) depth++;
    if (")]}".includes(ch)) {
      if (depth === 0) break;
      depth--;
    }
    if (ch === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  out.push(cur.trim().replace(/ <unfinished \.\.\.>$/, ""));
  return out;
}

const calls = new Map<string, { count: number; logs: Set<string> }>();
const shown = new Map<string, Map<string, number>>();
for (const log of process.argv.slice(2)) {
  const tgid = new Map<number, number>();
  const filtered = new Set<number>();
  const started = new Map<number, string>();
  for (const line of fs.readFileSync(log, "latin1").split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const resumed = m[2] !== undefined;
    const name = m[2] ?? m[3];
    const rest = m[4];
    if (!tgid.has(pid)) tgid.set(pid, pid);
    const group = tgid.get(pid) as number;
    if (!resumed) started.set(pid, rest);
    // A new thread joins its creator's group; a new process starts its own.
    if (/^(clone|clone3|fork|vfork)$/.test(name)) {
      const done = /\) = (\d+)/.exec(line);
      if (done) tgid.set(Number(done[1]), `${started.get(pid)}${resumed ? rest : ""}`.includes("CLONE_THREAD") ? group : Number(done[1]));
    }
    if (name === "seccomp" && !resumed && rest.startsWith("SECCOMP_SET_MODE_FILTER")) {
      filtered.add(group);
      continue;
    }
    if (resumed || !filtered.has(group)) continue;
    const c = calls.get(name) ?? { count: 0, logs: new Set() };
    c.count++;
    c.logs.add(log);
    calls.set(name, c);
    const which = SHOWN[name];
    if (which) {
      const a = args(rest);
      const key = name === "clone" ? (a.find((x) => x.startsWith("flags=")) ?? "?") : which.map((i) => a[i] ?? "?").join(", ");
      const t = shown.get(name) ?? new Map<string, number>();
      t.set(key, (t.get(key) ?? 0) + 1);
      shown.set(name, t);
    }
  }
}

const names = [...calls.keys()].sort();
console.log("syscalls after the filter (calls, logs):");
for (const n of names) console.log(`  ${n.padEnd(22)} ${String(calls.get(n)?.count).padStart(9)} ${String(calls.get(n)?.logs.size).padStart(5)}`);
console.log("\narguments of the calls the filter checks:");
for (const [n, t] of [...shown].sort()) {
  console.log(`  ${n}`);
  for (const [k, v] of [...t].sort((a, b) => b[1] - a[1])) console.log(`    ${String(v).padStart(7)}  ${k}`);
}
const allowed = new Set(allowedSyscalls({ pid: 0, logOnly: false }));
console.log(`\ntraced, not allowed: ${names.filter((n) => !allowed.has(n)).join(" ") || "(none)"}`);
console.log(`allowed, not traced: ${[...allowed].filter((n) => !calls.has(n)).sort().join(" ") || "(none)"}`);
