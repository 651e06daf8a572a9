// The serving stage's seccomp filter: an allow-list. The syscalls the gofer
// and Bun's runtime make while serving (found by tracing the test suite,
// the runsc end-to-end tests, interop and the benchmarks, in both
// command-line forms and every loop mode: docs/seccomp.md) are allowed,
// some only with the arguments we use; anything else fails with EPERM. An
// errno, not a kill, as the deny-list before it: a call we missed costs
// one failed call (and a log line with GOFER_SECCOMP=log), not the
// process with every sandbox it serves.
import * as C from "./constants";
import { NR } from "./constants";
import * as libc from "./libc";

type Syscall = keyof typeof NR;

/**
 * Allowed whatever the arguments. Grouped by who needs them; the hot ones
 * first (a kernel before 5.11, without the filter cache, walks the list).
 */
const ALLOWED: readonly Syscall[] = [
  // Serving: the event loop, the two protocols' sockets, host files by FD.
  "futex", "futex_waitv", "ppoll", "recvmsg", "sendmsg", "recvfrom", "sendto", "read", "write", "readv", "writev",
  "pread64", "pwrite64", "openat", "close", "statx", "fstat", "newfstatat", "getdents64", "lseek", "dup",
  "fstatfs", "fsync", "fdatasync", "fallocate", "ftruncate", "fchmod", "fchmodat", "fchownat", "utimensat",
  "mkdirat", "symlinkat", "linkat", "renameat2", "unlinkat", "readlinkat", "fchdir", "umask",
  "fgetxattr", "fsetxattr", "flistxattr", "fremovexattr", "lgetxattr", "lsetxattr", "llistxattr", "lremovexattr",
  // Connections: --listen's accept, host Unix sockets (connect), flipcall
  // channels (memfd, mmap, an eventfd for the poller's kick).
  "accept4", "bind", "listen", "connect", "shutdown", "getpeername", "getsockname", "getsockopt", "setsockopt",
  "memfd_create", "eventfd2",
  // Memory: Bun's allocators, the GC, the JIT (which maps and protects
  // executable pages while it runs, so mmap and mprotect stay unrestricted).
  "mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "membarrier",
  // Threads: Worker and pool thread start and exit, JSC's thread suspension
  // for the GC (a signal to a thread of our own: tgkill, below), glibc's
  // per-thread setup.
  "set_robust_list", "rseq", "exit", "exit_group", "gettid", "getpid", "sched_yield", "sched_getaffinity",
  "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "rt_sigsuspend", "sigaltstack", "restart_syscall",
  // A Worker's own event loop, and timers.
  "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait",
  "timerfd_create", "timerfd_settime", "timerfd_gettime",
  "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
  // The rest of what the runtime asks at a Worker's start or in its logger.
  "getrandom", "uname", "readlink", "access", "getrusage",
  // Credentials: read, and ConnectWithCreds's brief per-thread switch
  // (host Unix sockets); runsc gives CAP_SETUID only when that is on.
  "getuid", "geteuid", "getgid", "getegid", "setreuid", "setregid",
  // The runsc form's /proc umounter is reaped after the filter (WNOHANG).
  "wait4",
];

/** A condition on one argument: (32-bit word `word` of argument `arg` &
 * `mask`) == `eq`. Word 0 is the low half (what an int argument is). */
interface Cond {
  arg: number;
  word: 0 | 1;
  mask: number;
  eq: number;
}
const is = (arg: number, eq: number, mask = 0xffffffff): Cond => ({ arg, word: 0, mask, eq });
/** A 64-bit argument (a pointer) that is 0. */
const isNull = (arg: number): Cond[] => [
  { arg, word: 0, mask: 0xffffffff, eq: 0 },
  { arg, word: 1, mask: 0xffffffff, eq: 0 },
];

/** CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NEW_FLAGS = 0x7e020000;
const CLONE_THREAD = 0x10000;
/** TCGETS: Bun asks whether stdout and stderr are terminals (same number
 * on x86-64 and arm64). Nothing else: no TIOCSTI, no FIONREAD games. */
const TCGETS = 0x5401;
/** F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC,
 * F_SETPIPE_SZ, F_GETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS. */
const FCNTL_CMDS = [0, 1, 2, 3, 4, 1030, 1031, 1032, 1033, 1034];
const PR_SET_NAME = 15;
const PR_GET_NAME = 16;
const PR_SET_VMA = 0x53564d41;
const PR_SET_VMA_ANON_NAME = 0;
/** sched_setscheduler's SCHED_RESET_ON_FORK bit; SCHED_OTHER is 0. */
const SCHED_RESET_ON_FORK = 0x40000000;

/** What the filter needs to know of this process. */
export interface FilterOptions {
  /** This process's PID: the only thread group tgkill may signal. */
  pid: number;
  /** Let unlisted calls through and have the kernel log each one
   * (SECCOMP_RET_LOG), for diagnosis (GOFER_SECCOMP=log); else EPERM. */
  logOnly: boolean;
  /** --allow-device-nodes: standard 9P clients may make character and block
   * device nodes (off: only today's overlayfs whiteout, a character 0/0). */
  deviceNodes?: boolean;
}

/** Allowed only with these arguments (any one alternative, all its conditions). */
function argumentRules(o: FilterOptions): Partial<Record<Syscall, Cond[][]>> {
  const type = (t: number) => [is(2, t, C.S_IFMT)];
  return {
    // First: made on every open. FD flags, status flags, flipcall's seals,
    // Bun's dups and pipe sizes: no leases, locks, owners or signals.
    fcntl: FCNTL_CMDS.map((cmd) => [is(1, cmd)]),
    // Unix sockets only (host sockets for --host-uds, runsc's RPCs). A TCP
    // --listen's socket exists before the filter, and accept4 makes the rest.
    socket: [[is(0, C.AF_UNIX)]],
    socketpair: [[is(0, C.AF_UNIX)]],
    // Threads only: no new process, no namespace.
    clone: [[is(0, CLONE_THREAD, CLONE_NEW_FLAGS | CLONE_THREAD)]],
    ioctl: [[is(1, TCGETS)]],
    // The Mknod handlers make regular files (type 0 is one too), FIFOs and
    // sockets, and today's overlayfs whiteouts (a character device 0/0).
    // No other device node, unless --allow-device-nodes lets standard 9P
    // clients make them (the handlers still refuse gVisor's clients).
    mknodat: [
      type(0),
      type(C.S_IFREG),
      type(C.S_IFIFO),
      type(C.S_IFSOCK),
      ...(o.deviceNodes ? [type(C.S_IFCHR), type(C.S_IFBLK)] : [[...type(C.S_IFCHR), is(3, 0)]]),
    ],
    // JSC stops a thread for the GC with a signal: to our own threads only.
    tgkill: [[is(0, o.pid)]],
    // Thread names (Bun's threads, the native poller) and names of
    // anonymous mappings (JSC's and bmalloc's heaps).
    prctl: [[is(0, PR_SET_NAME)], [is(0, PR_GET_NAME)], [is(0, PR_SET_VMA), is(1, PR_SET_VMA_ANON_NAME)]],
    // Bun's thread pool starts its threads at the ordinary policy: never a
    // real-time one.
    sched_setscheduler: [[is(1, 0, ~SCHED_RESET_ON_FORK)]],
    // Reading our own limits (pid 0, no new value).
    prlimit64: [[is(0, 0), ...isNull(2)]],
  };
}

const SYS_clone3 = NR.clone3;
const arm64 = process.arch === "arm64";
const AUDIT_ARCH = arm64 ? 0xc00000b7 : 0xc000003e;
/** On x86-64, a number with this bit set selects the x32 syscall table,
 * which the x86-64 numbers below would not match. */
const X32_SYSCALL_BIT = 0x40000000;

// Classic BPF, as seccomp runs it (linux/filter.h, linux/seccomp.h).
const BPF_LD_W_ABS = 0x20;
const BPF_ALU_AND_K = 0x54;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_LOG = 0x7ffc0000;
const SECCOMP_RET_ERRNO = 0x00050000;
/** struct seccomp_data: nr, arch, instruction_pointer, args[6] (u64 each). */
const SeccompData = { nr: 0, arch: 4, args: 16 } as const;
const PR_SET_NO_NEW_PRIVS = 38;
const SECCOMP_SET_MODE_FILTER = 1;
const SECCOMP_FILTER_FLAG_TSYNC = 1;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}
const stmt = (code: number, k: number): Insn => ({ code, jt: 0, jf: 0, k });
const jeq = (k: number, jt: number, jf: number): Insn => ({ code: BPF_JEQ_K, jt, jf, k });
const ret = (k: number): Insn => stmt(BPF_RET_K, k);

/** The syscalls allowed on this architecture, with or without an argument rule. */
export function allowedSyscalls(o: FilterOptions): string[] {
  return [...ALLOWED, ...Object.keys(argumentRules(o))].filter((n) => NR[n as Syscall] >= 0);
}

/** One alternative's conditions, then RET ALLOW; a failed condition jumps
 * past the RET (to the next alternative). */
function alternative(conds: Cond[]): Insn[] {
  const out: Insn[] = [];
  conds.forEach((c, i) => {
    out.push(stmt(BPF_LD_W_ABS, SeccompData.args + 8 * c.arg + 4 * c.word));
    if (c.mask !== 0xffffffff) out.push(stmt(BPF_ALU_AND_K, c.mask));
    // On a miss, skip the rest of this alternative and its RET.
    const rest = conds.slice(i + 1).reduce((n, d) => n + (d.mask !== 0xffffffff ? 3 : 2), 0);
    out.push(jeq(c.eq >>> 0, 0, rest + 1));
  });
  out.push(ret(SECCOMP_RET_ALLOW));
  return out;
}

/** The filter program: 8 bytes an instruction (struct sock_filter). Every
 * jump is short and forward (each verdict is returned where it is decided),
 * so no offset can overflow its 8 bits. */
export function buildFilter(o: FilterOptions): Uint8Array {
  const otherwise = o.logOnly ? SECCOMP_RET_LOG : SECCOMP_RET_ERRNO | C.EPERM;
  const prog: Insn[] = [
    stmt(BPF_LD_W_ABS, SeccompData.arch),
    // Another ABI (i386 through int 0x80, aarch32) numbers syscalls
    // differently: refused in every mode.
    jeq(AUDIT_ARCH, 1, 0),
    ret(SECCOMP_RET_ERRNO | C.EPERM),
    stmt(BPF_LD_W_ABS, SeccompData.nr),
  ];
  if (!arm64) prog.push({ code: BPF_JGE_K, jt: 0, jf: 1, k: X32_SYSCALL_BIT }, ret(SECCOMP_RET_ERRNO | C.EPERM));
  // The argument rules first: since Linux 5.11 the kernel skips the filter
  // for the calls whose verdict depends on the number alone (the list
  // below), so only these run it, and they find their block at once.
  for (const [name, alts] of Object.entries(argumentRules(o)) as [Syscall, Cond[][]][]) {
    const block = [...alts.flatMap(alternative), ret(otherwise)];
    if (block.length > 255) throw new Error(`seccomp filter: the rule for ${name} is too long`);
    // The block returns on every path, so the accumulator it loads needs no restoring.
    prog.push(jeq(NR[name], 0, block.length), ...block);
  }
  // clone3 passes its flags in memory, out of the filter's sight: ENOSYS
  // makes glibc fall back to clone, whose flags it can see.
  prog.push(jeq(SYS_clone3, 0, 1), ret(SECCOMP_RET_ERRNO | C.ENOSYS));
  for (const name of ALLOWED) {
    const nr = NR[name];
    if (nr >= 0) prog.push(jeq(nr, 0, 1), ret(SECCOMP_RET_ALLOW));
  }
  prog.push(ret(otherwise));

  const out = new Uint8Array(prog.length * 8);
  const v = new DataView(out.buffer);
  prog.forEach((insn, i) => {
    v.setUint16(i * 8, insn.code, true);
    v.setUint8(i * 8 + 2, insn.jt);
    v.setUint8(i * 8 + 3, insn.jf);
    v.setUint32(i * 8 + 4, insn.k >>> 0, true);
  });
  return out;
}

/**
 * Installs the filter on every thread of the process (TSYNC: Bun's threads
 * exist already) and on threads started later. Sets no_new_privs first, as
 * an unprivileged filter requires. Irreversible. Returns 0 or -errno (the
 * kernel's refusal, e.g. EINVAL without CONFIG_SECCOMP_FILTER).
 */
export function installFilter(o: FilterOptions): number {
  const rc = libc.syscall(C.SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (rc < 0) return rc;
  const program = buildFilter(o);
  const insns = libc.pinnedBytes(program.byteLength);
  insns.set(program);
  // struct sock_fprog: u16 len, then the pointer at offset 8.
  const fprog = libc.pinnedBytes(16);
  const fv = new DataView(fprog.buffer);
  fv.setUint16(0, insns.byteLength / 8, true);
  fv.setBigUint64(8, BigInt(libc.addr(insns)), true);
  const r = libc.syscall(C.SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, libc.addr(fprog), 0, 0);
  // TSYNC reports a thread it could not synchronise as a positive TID.
  return r > 0 ? -C.EPERM : r;
}
