// A seccomp filter for the serving stage: the syscalls a file server never
// needs, and that code which took over the gofer would reach for first
// (another process's memory, namespaces, mounts, exec, kernel modules, file
// handles that bypass the mount root), fail with EPERM.
//
// gVisor's gofer installs an allow-list. Ours is a deny-list because Bun's
// runtime threads (JIT, GC, Workers) make syscalls we do not choose and that
// change between releases; a missing entry in an allow-list kills the
// gofer. A denied call here returns an errno, so a mistake costs one failed
// call, never the process.
import * as C from "./constants";
import * as libc from "./libc";

const arm64 = process.arch === "arm64";

/** Syscall numbers denied, [x86-64, arm64] (-1: not on that architecture). */
const DENIED: Record<string, [number, number]> = {
  // Other processes' memory and execution.
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  execve: [59, 221],
  execveat: [322, 281],
  // Namespaces and mounts: the serving stage is already in its final root.
  unshare: [272, 97],
  setns: [308, 268],
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
  chroot: [161, 51],
  open_tree: [428, 428],
  move_mount: [429, 429],
  fsopen: [430, 430],
  fsconfig: [431, 431],
  fsmount: [432, 432],
  fspick: [433, 433],
  mount_setattr: [442, 442],
  // File handles open any inode of a filesystem, whatever the mount root.
  name_to_handle_at: [303, 264],
  open_by_handle_at: [304, 265],
  // The kernel itself.
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  bpf: [321, 280],
  perf_event_open: [298, 241],
  userfaultfd: [323, 282],
  keyctl: [250, 219],
  add_key: [248, 217],
  request_key: [249, 218],
  syslog: [103, 116],
  reboot: [169, 142],
  swapon: [167, 224],
  swapoff: [168, 225],
  acct: [163, 89],
  quotactl: [179, 60],
  fanotify_init: [300, 262],
  iopl: [172, -1],
  ioperm: [173, -1],
  // The host's clock and names.
  settimeofday: [164, 170],
  clock_settime: [227, 112],
  clock_adjtime: [305, 266],
  adjtimex: [159, 171],
  sethostname: [170, 161],
  setdomainname: [171, 162],
};

const SYS_clone = arm64 ? 220 : 56;
const SYS_clone3 = 435;
const AUDIT_ARCH = arm64 ? 0xc00000b7 : 0xc000003e;
/** On x86-64, a number with this bit set selects the x32 syscall table,
 * which the x86-64 numbers below would not match. */
const X32_SYSCALL_BIT = 0x40000000;
/** CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NEW_FLAGS = 0x7e020000;

// Classic BPF, as seccomp runs it (linux/filter.h, linux/seccomp.h).
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
/** struct seccomp_data: nr, arch, instruction_pointer, args[6]. */
const SeccompData = { nr: 0, arch: 4, arg0: 16 } as const;
const PR_SET_NO_NEW_PRIVS = 38;
const SECCOMP_SET_MODE_FILTER = 1;
const SECCOMP_FILTER_FLAG_TSYNC = 1;

type Insn = { code: number; jt: number | string; jf: number | string; k: number };
const stmt = (code: number, k: number): Insn => ({ code, jt: 0, jf: 0, k });
/** A conditional jump to a label (or 0: the next instruction). */
const jump = (code: number, k: number, jt: number | string, jf: number | string): Insn => ({ code, jt, jf, k });

/** The names of the syscalls the filter denies on this architecture. */
export function deniedSyscalls(): string[] {
  return Object.keys(DENIED).filter((n) => DENIED[n][arm64 ? 1 : 0] >= 0);
}

/** The filter program: 8 bytes an instruction (struct sock_filter). */
export function buildFilter(): Uint8Array {
  const prog: Insn[] = [
    stmt(BPF_LD_W_ABS, SeccompData.arch),
    // Another ABI (i386 through int 0x80) numbers syscalls differently.
    jump(BPF_JEQ_K, AUDIT_ARCH, 0, "deny"),
    stmt(BPF_LD_W_ABS, SeccompData.nr),
  ];
  if (!arm64) prog.push(jump(BPF_JGE_K, X32_SYSCALL_BIT, "deny", 0));
  for (const name of deniedSyscalls()) prog.push(jump(BPF_JEQ_K, DENIED[name][arm64 ? 1 : 0], "deny", 0));
  // clone3 passes its flags in memory, out of the filter's sight: ENOSYS
  // makes glibc fall back to clone, whose flags it can see.
  prog.push(jump(BPF_JEQ_K, SYS_clone3, "nosys", 0));
  prog.push(jump(BPF_JEQ_K, SYS_clone, 0, "allow"));
  // x86-64 and arm64 both pass clone's flags first.
  prog.push(stmt(BPF_LD_W_ABS, SeccompData.arg0));
  prog.push(jump(BPF_JSET_K, CLONE_NEW_FLAGS, "deny", "allow"));
  const labels: Record<string, number> = {};
  labels.allow = prog.length;
  prog.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
  labels.deny = prog.length;
  prog.push(stmt(BPF_RET_K, SECCOMP_RET_ERRNO | C.EPERM));
  labels.nosys = prog.length;
  prog.push(stmt(BPF_RET_K, SECCOMP_RET_ERRNO | C.ENOSYS));

  const out = new Uint8Array(prog.length * 8);
  const v = new DataView(out.buffer);
  prog.forEach((insn, i) => {
    const rel = (t: number | string) => {
      if (typeof t === "number") return t;
      const off = labels[t] - i - 1;
      if (off < 0 || off > 255) throw new Error(`seccomp filter: jump to ${t} out of range`);
      return off;
    };
    v.setUint16(i * 8, insn.code, true);
    v.setUint8(i * 8 + 2, rel(insn.jt));
    v.setUint8(i * 8 + 3, rel(insn.jf));
    v.setUint32(i * 8 + 4, insn.k, true);
  });
  return out;
}

/**
 * Installs the filter on every thread of the process (TSYNC: Bun's threads
 * exist already) and on threads started later. Sets no_new_privs first, as
 * an unprivileged filter requires. Irreversible. Returns 0 or -errno (the
 * kernel's refusal, e.g. EINVAL without CONFIG_SECCOMP_FILTER).
 */
export function installFilter(): number {
  const rc = libc.syscall(C.SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (rc < 0) return rc;
  const program = buildFilter();
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
