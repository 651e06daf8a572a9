// Run as its own process by tests/seccomp.test.ts (a filter cannot be
// removed): installs the gofer's seccomp filter, then makes syscalls whose
// errno tells whether the filter stopped them. Each denied call uses
// arguments that, were it let through, fail with a different errno (or, for
// execve, a path that does not exist), so nothing is changed either way.
// Prints one JSON object: probe name -> return value (-errno or result).
import * as C from "../../src/ffi/constants";
import { installFilter } from "../../src/ffi/seccomp";
import * as libc from "../../src/ffi/libc";

const arm64 = process.arch === "arm64";
const nr = (x86: number, arm: number) => (arm64 ? arm : x86);
const missing = libc.cstring("/nonexistent-gofer-seccomp-probe");
const results: Record<string, number> = {};
// --no-filter: the same calls unfiltered, to show they would not get EPERM.
results.install = process.argv.includes("--no-filter") ? 0 : installFilter();
const sys = (name: string, n: number, ...args: number[]) => {
  results[name] = libc.syscall(n, ...args);
};
// Denied: a let-through call would fail with the errno in the comment.
sys("execve", nr(59, 221), libc.addr(missing), 0, 0); // ENOENT
sys("mount", nr(165, 40), 0, libc.addr(missing), 0, 0x20 /* MS_REMOUNT */, 0); // ENOENT
sys("chroot", nr(161, 51), libc.addr(missing)); // ENOENT
sys("open_by_handle_at", nr(304, 265), -1, 0, 0); // EBADF
sys("ptrace", nr(101, 117), 2 /* PTRACE_PEEKDATA */, 0x7ffffff0, 0, 0); // ESRCH
sys("unshare", nr(272, 97), 1 /* a CSIGNAL bit: invalid */); // EINVAL
sys("bpf", nr(321, 280), -1, 0, 0); // EINVAL
// CLONE_NEWUSER | CLONE_FS: copy_process refuses the pair with EINVAL.
sys("clone(CLONE_NEWUSER)", nr(56, 220), 0x10000000 | 0x200, 0, 0, 0, 0);
sys("clone3", 435, 0, 0); // EFAULT or EINVAL; the filter answers ENOSYS
if (!arm64) sys("x32 getpid", 0x40000000 | 39); // ENOSYS, or a pid with x32 on
// Allowed.
sys("getpid", nr(39, 172));
results.openat = libc.openat(C.AT_FDCWD, "/", C.O_RDONLY | C.O_CLOEXEC);
const worker = new Worker(URL.createObjectURL(new Blob(["postMessage(6 * 7)"], { type: "application/javascript" })));
worker.onmessage = (e) => {
  results.worker = e.data as number;
  process.stdout.write(`${JSON.stringify(results)}\n`);
  libc.exitNow(0);
};
