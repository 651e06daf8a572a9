// Run as its own process by tests/seccomp.test.ts (a filter cannot be
// removed): installs the gofer's seccomp filter, then makes syscalls whose
// errno tells whether the filter stopped them. Each refused call uses
// arguments that, were it let through, fail with a different errno or do
// nothing (a signal 0, a query), so nothing is changed either way.
// Prints one JSON object: probe name -> return value (-errno or result).
//   --no-filter: the same calls unfiltered, to show they would not get EPERM.
//   --log: the filter in GOFER_SECCOMP=log's mode (unlisted calls let through).
import * as C from "../../src/ffi/constants";
import { installFilter } from "../../src/ffi/seccomp";
import * as libc from "../../src/ffi/libc";

const arm64 = process.arch === "arm64";
/** Syscall numbers of the calls refused, [x86-64, arm64]; -1: not there. */
const NUM: Record<string, [number, number]> = {
  execve: [59, 221],
  mount: [165, 40],
  chroot: [161, 51],
  open_by_handle_at: [304, 265],
  ptrace: [101, 117],
  unshare: [272, 97],
  bpf: [321, 280],
  io_uring_setup: [425, 425],
  io_uring_enter: [426, 426],
  io_uring_register: [427, 427],
  pidfd_open: [434, 434],
  pidfd_getfd: [438, 438],
  pidfd_send_signal: [424, 424],
  process_madvise: [440, 440],
  kcmp: [312, 272],
  memfd_secret: [447, 447],
  modify_ldt: [154, -1],
  personality: [135, 92],
  mknod: [133, -1],
  kill: [62, 129],
  setns: [308, 268],
  userfaultfd: [323, 282],
  perf_event_open: [298, 241],
  keyctl: [250, 219],
};
const nr = (name: string) => NUM[name][arm64 ? 1 : 0];
const missing = libc.cstring("/nonexistent-gofer-seccomp-probe");
const missingChild = libc.cstring("/nonexistent-gofer-seccomp-probe/node");
const results: Record<string, number> = {};
const mode = process.argv.includes("--no-filter") ? "none" : process.argv.includes("--log") ? "log" : "enforce";
const pid = libc.getpid();
results.install = mode === "none" ? 0 : installFilter({ pid, logOnly: mode === "log" });
const sys = (name: string, n: number, ...args: number[]) => {
  if (n >= 0) results[name] = libc.syscall(n, ...args);
};
const call = (name: string, ...args: number[]) => sys(name, nr(name), ...args);

// Refused: a let-through call fails with the errno in the comment (or does nothing).
call("execve", libc.addr(missing), 0, 0); // ENOENT
call("mount", 0, libc.addr(missing), 0, 0x20 /* MS_REMOUNT */, 0); // ENOENT
call("chroot", libc.addr(missing)); // ENOENT
call("open_by_handle_at", -1, 0, 0); // EBADF
call("ptrace", 2 /* PTRACE_PEEKDATA */, 0x7ffffff0, 0, 0); // ESRCH
call("unshare", 1 /* a CSIGNAL bit: invalid */); // EINVAL
call("setns", -1, 0); // EBADF
call("bpf", -1, 0, 0); // EINVAL
call("userfaultfd", 0xffff); // EINVAL
call("perf_event_open", 0, 0, -1, -1, 0); // EFAULT
call("keyctl", 0xffff); // EOPNOTSUPP
// The classes the deny-list missed (issue 14).
call("io_uring_setup", 0, 0); // EINVAL (no entries) or EFAULT
call("io_uring_enter", -1, 0, 0, 0, 0, 0); // EBADF
call("io_uring_register", -1, 0, 0, 0); // EBADF
call("pidfd_open", pid, 0xffff); // EINVAL (flags)
call("pidfd_getfd", -1, 0, 0); // EBADF
call("pidfd_send_signal", -1, 0, 0, 0); // EBADF
call("process_madvise", -1, 0, 0, 0, 0); // EBADF
call("kcmp", pid, pid, 99 /* no such type */, 0, 0); // EINVAL
call("memfd_secret", 0xffff); // EINVAL, or ENOSYS where secretmem is off
call("modify_ldt", 99 /* no such func */, 0, 0); // ENOSYS or EINVAL
call("personality", 0xffffffff); // the current persona: a query
call("kill", pid, 0); // 0: signal 0 only checks
call("mknod", libc.addr(missingChild), C.S_IFCHR | 0o600, 0x103); // ENOENT
// mknodat: device nodes refused; what the Mknod handlers make allowed.
sys("mknodat(S_IFCHR 1:3)", C.NR.mknodat, C.AT_FDCWD, libc.addr(missingChild), C.S_IFCHR | 0o600, 0x103); // ENOENT
sys("mknodat(S_IFBLK)", C.NR.mknodat, C.AT_FDCWD, libc.addr(missingChild), C.S_IFBLK | 0o600, 0x800); // ENOENT
sys("mknodat(S_IFREG)", C.NR.mknodat, C.AT_FDCWD, libc.addr(missingChild), C.S_IFREG | 0o600, 0);
sys("mknodat(S_IFIFO)", C.NR.mknodat, C.AT_FDCWD, libc.addr(missingChild), C.S_IFIFO | 0o600, 0);
sys("mknodat(S_IFSOCK)", C.NR.mknodat, C.AT_FDCWD, libc.addr(missingChild), C.S_IFSOCK | 0o600, 0);
sys("mknodat(whiteout 0:0)", C.NR.mknodat, C.AT_FDCWD, libc.addr(missingChild), C.S_IFCHR, 0);
// Sockets: Unix only.
const sock = (name: string, domain: number, type: number) => {
  const fd = libc.syscall(C.NR.socket, domain, type | C.SOCK_CLOEXEC, 0);
  if (fd >= 0) libc.close(fd);
  results[name] = fd < 0 ? fd : 0;
};
sock("socket(AF_INET)", C.AF_INET, C.SOCK_STREAM);
sock("socket(AF_INET6)", 10, C.SOCK_STREAM);
sock("socket(AF_NETLINK)", 16, C.SOCK_DGRAM);
sock("socket(AF_UNIX)", C.AF_UNIX, C.SOCK_STREAM);
sys("socketpair(AF_INET)", C.NR.socketpair, C.AF_INET, C.SOCK_STREAM, 0, 0); // EOPNOTSUPP (or EFAULT)
// ioctl: TCGETS only.
sys("ioctl(TIOCSTI)", C.NR.ioctl, -1, 0x5412, 0); // EBADF
sys("ioctl(FIONREAD)", C.NR.ioctl, -1, 0x541b, 0); // EBADF
sys("ioctl(TCGETS)", C.NR.ioctl, -1, 0x5401, 0); // EBADF, allowed
// fcntl: no leases, locks or signal owners.
sys("fcntl(F_SETLEASE)", C.NR.fcntl, -1, 1024, 0); // EBADF
sys("fcntl(F_SETOWN)", C.NR.fcntl, -1, 8, 0); // EBADF
sys("fcntl(F_GETFL)", C.NR.fcntl, -1, C.F_GETFL); // EBADF, allowed
// clone: threads only, no namespaces; clone3 answered ENOSYS.
// CLONE_NEWUSER | CLONE_FS: copy_process refuses the pair with EINVAL.
sys("clone(CLONE_NEWUSER)", C.NR.clone, 0x10000000 | 0x200, 0, 0, 0, 0);
// CLONE_SIGHAND without CLONE_VM: EINVAL; a process, not a thread.
sys("clone(process)", C.NR.clone, 0x800, 0, 0, 0, 0);
sys("clone3", C.NR.clone3, 0, 0); // EFAULT or EINVAL; the filter answers ENOSYS
// tgkill: our own threads only; signal 0 checks and sends nothing.
sys("tgkill(other)", C.NR.tgkill, 1, 1, 0);
sys("tgkill(self)", C.NR.tgkill, pid, pid, 0);
// prctl: thread names only.
sys("prctl(PR_GET_DUMPABLE)", C.NR.prctl, 3);
sys("prctl(PR_CAPBSET_READ)", C.NR.prctl, C.PR_CAPBSET_READ, 0);
// sched_setscheduler: the ordinary policy only. SCHED_FIFO at priority 0
// is invalid (EINVAL) where let through.
const param = new Int32Array(1);
sys("sched_setscheduler(SCHED_FIFO)", C.NR.sched_setscheduler, 0, 1, libc.addr(param));
sys("sched_setscheduler(SCHED_OTHER)", C.NR.sched_setscheduler, 0, 0x40000000, libc.addr(param));
if (!arm64) sys("x32 getpid", 0x40000000 | 39); // ENOSYS, or a pid with x32 on
// Allowed.
sys("getpid", C.NR.getpid);
sys("prctl(PR_GET_NAME)", C.NR.prctl, 16, libc.addr(new Uint8Array(16)));
const region = libc.mmap(4096, C.PROT_READ | C.PROT_WRITE, 0x22 /* MAP_PRIVATE | MAP_ANONYMOUS */, -1, 0);
const vmaName = libc.cstring("gofer-probe");
// EINVAL where the kernel lacks CONFIG_ANON_VMA_NAME; never EPERM.
sys("prctl(PR_SET_VMA)", C.NR.prctl, 0x53564d41, 0, region, 4096, libc.addr(vmaName));
results.openat = libc.openat(C.AT_FDCWD, "/", C.O_RDONLY | C.O_CLOEXEC);
// A Worker: thread start (clone, after clone3's ENOSYS), its runtime's own
// calls, a message back.
const worker = new Worker(URL.createObjectURL(new Blob(["postMessage(6 * 7)"], { type: "application/javascript" })));
worker.onmessage = (e) => {
  results.worker = e.data as number;
  // Garbage collection with the Worker alive: JSC stops threads with signals.
  Bun.gc(true);
  process.stdout.write(`${JSON.stringify(results)}\n`);
  libc.exitNow(0);
};
