// Dropping capabilities in place, on every thread of this Bun process.
//
// Capabilities belong to threads, capset(2) and prctl(2) act only on the
// calling thread, and Bun runs threads of its own (JSC's JIT and GC, Bun's
// pools, Workers) before any of our code. runsc's gofer has the same problem
// with goroutines and solves it with Go's AllThreadsSyscall
// (runsc/cmd/sandboxsetup/caps_unsafe.go, ResolvedThreadCaps.Apply); glibc's
// setuid does the same for pthreads (SIGSETXID). So do we: a real-time
// signal whose handler is a few hand-written instructions (no JS ever runs
// on a foreign thread) applies the sets to the thread it interrupts and
// records the result in shared memory, and the calling thread sends it to
// every thread of the process until one listing of /proc/self/task finds
// every thread done. Threads created by a done thread inherit its sets;
// threads created by a not-yet-done one show up in the next listing.
//
// Per thread, in Go's order: drop from the bounding set every capability
// not kept (PR_CAPBSET_DROP needs CAP_SETPCAP, which capset then removes),
// capset(2) effective/permitted/inheritable, clear the ambient set, raise
// each ambient capability (the kernel wants it in both permitted and
// inheritable). The handler is idempotent: a capability already gone from
// the bounding set is not dropped again.
//
// x86-64 and arm64 (the same steps in AArch64, ARMv8.0). Elsewhere
// `inPlaceCapsSupported()` is false and the caller keeps the re-exec path
// (privileges.ts).
import { toArrayBuffer } from "bun:ffi";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { Sigaction } from "../ffi/layout";
import { mapCode } from "../ffi/machinecode";
import { PrivilegeError } from "./privileges";

/** Capability numbers per set, as a runtime spec's LinuxCapabilities. */
export interface CapSets {
  bounding: number[];
  effective: number[];
  permitted: number[];
  inheritable: number[];
  ambient: number[];
}

const CAP_SETPCAP = 8;

/** Whether the in-place drop is built for this architecture. */
export const inPlaceCapsSupported = (): boolean => process.arch in HANDLERS;

/** The sets as 64-bit masks, trimmed as runsc's ResolveThreadCaps does. */
export interface ResolvedCaps {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
  /** Capabilities to drop from the bounding set (none without CAP_SETPCAP). */
  dropBounding: bigint;
  lastCap: number;
}

const mask = (caps: number[]) => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);

/** capget(2) of the calling thread: [effective, permitted, inheritable]. */
function capget(): [bigint, bigint, bigint] {
  const hdr = new Uint32Array([0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0]);
  const data = new Uint32Array(6);
  const rc = libc.syscall(C.SYS_capget, libc.addr(hdr), libc.addr(data));
  void hdr[0], data[0];
  if (rc < 0) throw new PrivilegeError(`capget: errno ${-rc}`);
  const w = (lo: number, hi: number) => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  return [w(data[0], data[3]), w(data[1], data[4]), w(data[2], data[5])];
}

/** Resolves `caps` against this thread's: each set is trimmed to the
 * permitted set (a warning in runsc; silently here), and the bounding set is
 * cut only with CAP_SETPCAP. Needs no /proc (the last capability is probed). */
export function resolveThreadCaps(caps: CapSets): ResolvedCaps {
  const [eff, perm] = capget();
  let lastCap = 0;
  while (lastCap < 63 && libc.prctl(C.PR_CAPBSET_READ, lastCap + 1) >= 0) lastCap++;
  const all = (1n << BigInt(lastCap + 1)) - 1n;
  const bounding = mask(caps.bounding) & perm;
  return {
    bounding,
    effective: mask(caps.effective) & perm,
    permitted: mask(caps.permitted) & perm,
    inheritable: mask(caps.inheritable) & perm,
    ambient: mask(caps.ambient) & perm,
    dropBounding: (eff >> BigInt(CAP_SETPCAP)) & 1n ? all & ~bounding : 0n,
    lastCap,
  };
}

// The signal handler, void handler(int, siginfo_t *, void *), on the thread
// the signal interrupts. It reads its parameters from, and writes its result
// to, the data block one page after its first byte (DATA below). Raw
// syscalls only: errno is untouched, and the kernel restores every register
// at sigreturn. Assembled with GNU as (.intel_syntax), checked with objdump.
const X64: [string, string][] = [
  ["53", "push rbx"],
  ["4154", "push r12"],
  ["4155", "push r13"],
  ["4156", "push r14"],
  ["4157", "push r15"],
  ["488d1df00f0000", "lea rbx,[rip+0xff0]          rbx = DATA (this code + 0x1000)"],
  ["31d2", "xor edx,edx                   syscall args 3-5 stay 0 unless set"],
  ["4531d2", "xor r10d,r10d"],
  ["4531c0", "xor r8d,r8d"],
  // 1. bounding set
  ["41be01000000", "mov r14d,1                    r14 = step (1: bounding)"],
  ["4c8b6b20", "mov r13,[rbx+0x20]            r13 = caps to drop"],
  ["4531e4", "xor r12d,r12d                 r12 = cap"],
  ["4d0fa3e5", "0x25: bt r13,r12"],
  ["732f", "jae 0x5a                      not to drop: next"],
  ["b89d000000", "mov eax,157                   prctl("],
  ["bf17000000", "mov edi,23                      PR_CAPBSET_READ,"],
  ["4c89e6", "mov rsi,r12                     cap)"],
  ["0f05", "syscall"],
  ["4885c0", "test rax,rax"],
  ["7e1b", "jle 0x5a                      already gone (0) or unknown (-EINVAL): next"],
  ["b89d000000", "mov eax,157                   prctl("],
  ["bf18000000", "mov edi,24                      PR_CAPBSET_DROP, cap)"],
  ["0f05", "syscall"],
  ["4883f8ea", "cmp rax,-22                   EINVAL is ignored, as runsc does"],
  ["7409", "je 0x5a"],
  ["4885c0", "test rax,rax"],
  ["0f8889000000", "js 0xe3                       failed: record"],
  ["41ffc4", "0x5a: inc r12d"],
  ["4183fc40", "cmp r12d,64"],
  ["72c2", "jb 0x25"],
  // 2. capset
  ["41be02000000", "mov r14d,2                    step 2: capset"],
  ["4531e4", "xor r12d,r12d"],
  ["b87e000000", "mov eax,126                   capset("],
  ["4889df", "mov rdi,rbx                     DATA+0: header {v3, pid 0 = this thread},"],
  ["488d7308", "lea rsi,[rbx+8]                 DATA+8: data[2] {eff, perm, inh})"],
  ["0f05", "syscall"],
  ["4885c0", "test rax,rax"],
  ["7864", "js 0xe3"],
  // 3. ambient: clear
  ["41be03000000", "mov r14d,3                    step 3: ambient clear"],
  ["b89d000000", "mov eax,157                   prctl("],
  ["bf2f000000", "mov edi,47                      PR_CAP_AMBIENT,"],
  ["be04000000", "mov esi,4                       PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)"],
  ["0f05", "syscall"],
  ["4883f8ea", "cmp rax,-22"],
  ["7405", "je 0xa1"],
  ["4885c0", "test rax,rax"],
  ["7842", "js 0xe3"],
  // 4. ambient: raise
  ["41be04000000", "0xa1: mov r14d,4              step 4: ambient raise"],
  ["4c8b6b28", "mov r13,[rbx+0x28]            r13 = ambient caps (r12 = 0 here)"],
  ["4d0fa3e5", "0xab: bt r13,r12"],
  ["7321", "jae 0xd2"],
  ["b89d000000", "mov eax,157                   prctl("],
  ["bf2f000000", "mov edi,47                      PR_CAP_AMBIENT,"],
  ["be02000000", "mov esi,2                       PR_CAP_AMBIENT_RAISE,"],
  ["4c89e2", "mov rdx,r12                     cap, 0, 0)"],
  ["0f05", "syscall"],
  ["31d2", "xor edx,edx"],
  ["4883f8ea", "cmp rax,-22"],
  ["7405", "je 0xd2"],
  ["4885c0", "test rax,rax"],
  ["7811", "js 0xe3"],
  ["41ffc4", "0xd2: inc r12d"],
  ["4183fc40", "cmp r12d,64"],
  ["72d0", "jb 0xab"],
  ["4531f6", "xor r14d,r14d                 success: step 0, cap 0, result 0"],
  ["4531e4", "xor r12d,r12d"],
  ["31c0", "xor eax,eax"],
  // record {tid, result, step, cap} in the next slot
  ["4989c7", "0xe3: mov r15,rax             r15 = result (0 or -errno)"],
  ["b8ba000000", "mov eax,186                   gettid()"],
  ["0f05", "syscall"],
  ["4889c7", "mov rdi,rax"],
  ["b801000000", "mov eax,1"],
  ["f00fc14330", "lock xadd [rbx+0x30],eax      claim slot DATA+0x30++"],
  ["3b4334", "cmp eax,[rbx+0x34]            capacity"],
  ["7316", "jae 0x115                     full: count only"],
  ["c1e004", "shl eax,4"],
  ["488d440340", "lea rax,[rbx+rax+0x40]        slot = DATA+0x40+16*i"],
  ["44897804", "mov [rax+4],r15d              result"],
  ["44897008", "mov [rax+8],r14d              step"],
  ["4489600c", "mov [rax+12],r12d             cap"],
  ["8938", "mov [rax],edi                 tid, last: a nonzero tid marks a full slot"],
  ["f0ff4338", "0x115: lock inc dword [rbx+0x38]  DATA+0x38: handlers finished"],
  ["b8ca000000", "mov eax,202                   futex("],
  ["488d7b38", "lea rdi,[rbx+0x38]              &finished,"],
  ["be81000000", "mov esi,0x81                    FUTEX_WAKE|FUTEX_PRIVATE_FLAG,"],
  ["baffffff7f", "mov edx,0x7fffffff              all)"],
  ["0f05", "syscall"],
  ["415f", "pop r15"],
  ["415e", "pop r14"],
  ["415d", "pop r13"],
  ["415c", "pop r12"],
  ["5b", "pop rbx"],
  ["c3", "ret                           to glibc's restorer (rt_sigreturn)"],
];

// The same handler in AArch64 (aarch64-linux-gnu-as): caller-saved registers
// only (x9-x15; svc changes only x0), no stack, and x30 untouched for the
// return. The slot claim and the finished count are exclusive load/store
// pairs (ARMv8.0, no LSE atomics needed). [bytes (little-endian), listing]
const ARM64: [string, string][] = [
  ["09000010", "0x0: adr x9, 0  x9 = this code's first byte"],
  ["29054091", "0x4: add x9, x9, #0x1, lsl #12  x9 = DATA (code + 0x1000)"],
  ["020080d2", "0x8: mov x2, #0x0  syscall args 3-5 stay 0 unless set"],
  ["030080d2", "0xc: mov x3, #0x0"],
  ["040080d2", "0x10: mov x4, #0x0"],
  ["2a0080d2", "0x14: mov x10, #0x1  x10 = step (1: bounding)"],
  ["2b1140f9", "0x18: ldr x11, [x9, #32]  x11 = caps to drop"],
  ["0c0080d2", "0x1c: mov x12, #0x0  x12 = cap"],
  ["6e25cc9a", "0x20: lsr x14, x11, x12"],
  ["ce010036", "0x24: tbz w14, #0, 5c  not to drop: next"],
  ["e00280d2", "0x28: mov x0, #0x17"],
  ["e1030caa", "0x2c: mov x1, x12"],
  ["e81480d2", "0x30: mov x8, #0xa7"],
  ["010000d4", "0x34: svc #0x0  prctl(PR_CAPBSET_READ, cap)"],
  ["1f0000f1", "0x38: cmp x0, #0x0"],
  ["0d010054", "0x3c: b.le 5c  already gone (0) or unknown (-EINVAL): next"],
  ["000380d2", "0x40: mov x0, #0x18"],
  ["e1030caa", "0x44: mov x1, x12"],
  ["e81480d2", "0x48: mov x8, #0xa7"],
  ["010000d4", "0x4c: svc #0x0  prctl(PR_CAPBSET_DROP, cap)"],
  ["1f5800b1", "0x50: cmn x0, #0x16  EINVAL is ignored, as runsc does"],
  ["40000054", "0x54: b.eq 5c"],
  ["c004f8b7", "0x58: tbnz x0, #63, f0  failed: record"],
  ["8c050091", "0x5c: add x12, x12, #0x1"],
  ["9f0101f1", "0x60: cmp x12, #0x40"],
  ["e3fdff54", "0x64: b.cc 20"],
  ["4a0080d2", "0x68: mov x10, #0x2  step 2: capset"],
  ["0c0080d2", "0x6c: mov x12, #0x0"],
  ["e00309aa", "0x70: mov x0, x9"],
  ["21210091", "0x74: add x1, x9, #0x8"],
  ["680b80d2", "0x78: mov x8, #0x5b"],
  ["010000d4", "0x7c: svc #0x0  capset(DATA+0: header {v3, pid 0 = this thread}, DATA+8: data[2])"],
  ["8003f8b7", "0x80: tbnz x0, #63, f0"],
  ["6a0080d2", "0x84: mov x10, #0x3  step 3: ambient clear"],
  ["e00580d2", "0x88: mov x0, #0x2f"],
  ["810080d2", "0x8c: mov x1, #0x4"],
  ["e81480d2", "0x90: mov x8, #0xa7"],
  ["010000d4", "0x94: svc #0x0  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)"],
  ["1f5800b1", "0x98: cmn x0, #0x16"],
  ["40000054", "0x9c: b.eq a4"],
  ["8002f8b7", "0xa0: tbnz x0, #63, f0"],
  ["8a0080d2", "0xa4: mov x10, #0x4  step 4: ambient raise"],
  ["2b1540f9", "0xa8: ldr x11, [x9, #40]  x11 = ambient caps (x12 = 0 here)"],
  ["6e25cc9a", "0xac: lsr x14, x11, x12"],
  ["4e010036", "0xb0: tbz w14, #0, d8"],
  ["e00580d2", "0xb4: mov x0, #0x2f"],
  ["410080d2", "0xb8: mov x1, #0x2"],
  ["e2030caa", "0xbc: mov x2, x12"],
  ["e81480d2", "0xc0: mov x8, #0xa7"],
  ["010000d4", "0xc4: svc #0x0  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0)"],
  ["020080d2", "0xc8: mov x2, #0x0"],
  ["1f5800b1", "0xcc: cmn x0, #0x16"],
  ["40000054", "0xd0: b.eq d8"],
  ["e000f8b7", "0xd4: tbnz x0, #63, f0"],
  ["8c050091", "0xd8: add x12, x12, #0x1"],
  ["9f0101f1", "0xdc: cmp x12, #0x40"],
  ["63feff54", "0xe0: b.cc ac"],
  ["0a0080d2", "0xe4: mov x10, #0x0  success: step 0, cap 0, result 0"],
  ["0c0080d2", "0xe8: mov x12, #0x0"],
  ["000080d2", "0xec: mov x0, #0x0"],
  ["ed0300aa", "0xf0: mov x13, x0  record: x13 = result (0 or -errno)"],
  ["481680d2", "0xf4: mov x8, #0xb2"],
  ["010000d4", "0xf8: svc #0x0  gettid()"],
  ["ef0300aa", "0xfc: mov x15, x0"],
  ["2ec10091", "0x100: add x14, x9, #0x30"],
  ["c0fd5f88", "0x104: ldaxr w0, [x14]  claim slot DATA+0x30++ (exclusive load/store pair)"],
  ["01040011", "0x108: add w1, w0, #0x1"],
  ["c1fd0288", "0x10c: stlxr w2, w1, [x14]"],
  ["a2ffff35", "0x110: cbnz w2, 104"],
  ["bf3b03d5", "0x114: dmb ish"],
  ["213540b9", "0x118: ldr w1, [x9, #52]  capacity"],
  ["1f00016b", "0x11c: cmp w0, w1"],
  ["e2000054", "0x120: b.cs 13c  full: count only"],
  ["2e010191", "0x124: add x14, x9, #0x40  slot = DATA+0x40+16*i"],
  ["ce11008b", "0x128: add x14, x14, x0, lsl #4"],
  ["cd0500b9", "0x12c: str w13, [x14, #4]"],
  ["ca0900b9", "0x130: str w10, [x14, #8]"],
  ["cc0d00b9", "0x134: str w12, [x14, #12]"],
  ["cffd9f88", "0x138: stlr w15, [x14]  tid, last (store-release): a nonzero tid marks a full slot"],
  ["2ee10091", "0x13c: add x14, x9, #0x38  DATA+0x38: handlers finished, ++"],
  ["c0fd5f88", "0x140: ldaxr w0, [x14]"],
  ["00040011", "0x144: add w0, w0, #0x1"],
  ["c0fd0288", "0x148: stlxr w2, w0, [x14]"],
  ["a2ffff35", "0x14c: cbnz w2, 140"],
  ["bf3b03d5", "0x150: dmb ish"],
  ["e0030eaa", "0x154: mov x0, x14"],
  ["211080d2", "0x158: mov x1, #0x81"],
  ["e27b40b2", "0x15c: mov x2, #0x7fffffff"],
  ["030080d2", "0x160: mov x3, #0x0"],
  ["480c80d2", "0x164: mov x8, #0x62"],
  ["010000d4", "0x168: svc #0x0  futex(&finished, FUTEX_WAKE_PRIVATE, all)"],
  ["c0035fd6", "0x16c: ret  to the kernel's sigreturn trampoline"],
];

const HANDLERS: Record<string, [string, string][]> = { x64: X64, arm64: ARM64 };

const PAGE = 4096;
const ESRCH = 3;
// DATA layout (offsets into the block one page after the code).
const D_HEADER = 0; // __user_cap_header_struct {version, pid}
const D_CAPDATA = 8; // __user_cap_data_struct[2] {effective, permitted, inheritable}
const D_DROP = 32; // u64 bounding caps to drop
const D_AMBIENT = 40; // u64 ambient caps to raise
const D_CLAIMED = 48; // u32 slots claimed
const D_CAPACITY = 52; // u32 slots available
const D_FINISHED = 56; // u32 handlers finished (futex word)
const D_SLOTS = 64; // {tid, result, step, cap} i32 each
const DATA_SIZE = 16 * PAGE;
const CAPACITY = (DATA_SIZE - D_SLOTS) / 16;

const STEPS = ["", "PR_CAPBSET_DROP", "capset", "PR_CAP_AMBIENT_CLEAR_ALL", "PR_CAP_AMBIENT_RAISE"];

interface Region {
  code: number;
  data: DataView;
  i32: Int32Array;
}
// Mapped once and never unmapped: a thread may still be in the handler's
// last instructions when we return.
let region: Region | null = null;

function mapRegion(): Region {
  if (region) return region;
  // The handler finds its data one page after its first byte.
  const base = mapCode(Buffer.from(HANDLERS[process.arch].map(([hex]) => hex).join(""), "hex"), DATA_SIZE);
  if (base < 0) throw new PrivilegeError(`mapping the capability handler: errno ${-base}`);
  const buf = toArrayBuffer(base + PAGE, 0, DATA_SIZE);
  region = { code: base, data: new DataView(buf), i32: new Int32Array(buf) };
  return region;
}

// struct linux_dirent64 names of the task directory: thread IDs.
const dents = libc.scratchBytes(16384);
const dentsAddr = libc.addr(dents);
function listTasks(taskDirFd: number): number[] {
  const rc = libc.lseek(taskDirFd, 0, 0 /* SEEK_SET */);
  if (rc < 0) throw new PrivilegeError(`rewinding /proc/self/task: errno ${-rc}`);
  const v = new DataView(dents.buffer);
  const tids: number[] = [];
  for (;;) {
    const n = libc.getdents64(taskDirFd, dentsAddr, dents.byteLength);
    if (n < 0) throw new PrivilegeError(`listing /proc/self/task: errno ${-n}`);
    if (n === 0) return tids;
    for (let off = 0; off < n; ) {
      const reclen = v.getUint16(off + 16, true);
      let tid = 0;
      for (let i = off + 19; dents[i] !== 0; i++) tid = dents[i] >= 48 && dents[i] <= 57 ? tid * 10 + dents[i] - 48 : -1e9;
      if (tid > 0) tids.push(tid);
      off += reclen;
    }
  }
}

// /proc may be an outer PID namespace's (runsc starts its gofer in a PID
// namespace of its own, with the host's /proc bound in), where a thread's
// entry is not the ID gettid and tgkill know it by; NSpid's last field is.
const nsTids = new Map<number, number>();
/** Our ID of the thread behind task entry `entry`, or -1 if it has exited. */
function nsTid(taskDirFd: number, entry: number): number {
  const known = nsTids.get(entry);
  if (known !== undefined) return known;
  const s = taskStatus(taskDirFd, entry);
  return s ? learnNsTid(entry, s) : -1;
}
/** Records (and returns) the ID of task entry `entry` from its status. */
function learnNsTid(entry: number, s: Record<string, string>): number {
  const ids = (s.NSpid ?? String(entry)).split(/\s+/);
  const tid = Number(ids[ids.length - 1]);
  nsTids.set(entry, tid);
  return tid;
}

const statusBuf = libc.scratchBytes(16384);
/** Fields of <tid>/status under the task directory, or null if it has exited. */
export function taskStatus(taskDirFd: number, tid: number): Record<string, string> | null {
  const fd = libc.openat(taskDirFd, `${tid}/status`, C.O_RDONLY | C.O_CLOEXEC);
  if (fd === -C.ENOENT || fd === -ESRCH) return null;
  if (fd < 0) throw new PrivilegeError(`opening /proc/self/task/${tid}/status: errno ${-fd}`);
  let len = 0;
  for (;;) {
    const n = libc.readFd(fd, libc.addr(statusBuf) + len, statusBuf.byteLength - len);
    if (n <= 0) break;
    len += n;
  }
  libc.close(fd);
  if (len === 0) return null; // exited between open and read
  const out: Record<string, string> = {};
  for (const line of Buffer.from(statusBuf.buffer, 0, len).toString("latin1").split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

const SA_RESTART = 0x10000000;
const SA_ONSTACK = 0x08000000;
const SA_SIGINFO = 4;
const SIGRTMIN_GLIBC = 34; // 32 and 33 are glibc's own

// How long to wait for a real-time signal no thread blocks, in slices.
const PICK_SIGNAL_MS = 250;
const PICK_SIGNAL_SLICE_MS = 2;

/** The highest real-time signal with the default disposition that no thread
 * blocks or has pending. */
function pickSignal(statuses: Record<string, string>[]): number {
  const blocked = statuses.reduce((m, s) => m | BigInt(`0x${s.SigBlk ?? "0"}`) | BigInt(`0x${s.SigPnd ?? "0"}`) | BigInt(`0x${s.ShdPnd ?? "0"}`), 0n);
  const old = new Uint8Array(Sigaction.size);
  for (let sig = 64; sig > SIGRTMIN_GLIBC; sig--) {
    if ((blocked >> BigInt(sig - 1)) & 1n) continue;
    if (libc.sigaction(sig, 0, libc.addr(old)) < 0) continue;
    if (new DataView(old.buffer).getBigUint64(Sigaction.handler, true) === 0n) return sig; // SIG_DFL
  }
  throw new PrivilegeError(`no free real-time signal to apply capabilities on every thread with (blocked or pending in some thread: ${hex16(blocked)})`);
}

export interface ApplyOptions {
  /** Apply to the calling thread only (a negative control for tests). */
  onlyCallingThread?: boolean;
  /** How long to wait for the threads of one listing (default 2000 ms). */
  timeoutMs?: number;
  /** Check every thread's /proc status afterwards (default true). */
  verify?: boolean;
  /** Use this signal instead of picking one (tests under qemu-user, whose
   * own helper threads block every signal, so none looks free). */
  signal?: number;
}

export interface ApplyReport {
  resolved: ResolvedCaps;
  signal: number;
  /** Distinct threads the handler ran on. */
  threads: number;
  /** Listings of the task directory made. */
  passes: number;
}

const hex16 = (m: bigint) => m.toString(16).padStart(16, "0");

/**
 * Applies `caps` (resolved as runsc does) to every thread of this process,
 * in place. `taskDirFd` is an FD on /proc/self/task opened by the caller
 * (it keeps working once /proc is unmounted). Throws a PrivilegeError if a
 * thread fails, does not answer in time, or ends up with other sets.
 */
export function applyCapsToAllThreads(caps: CapSets, taskDirFd: number, opts: ApplyOptions = {}): ApplyReport {
  if (!inPlaceCapsSupported()) throw new PrivilegeError(`in-place capability drop is not built for ${process.arch}; re-exec instead`);
  const resolved = resolveThreadCaps(caps);
  const r = mapRegion();
  const d = r.data;
  d.setUint32(D_HEADER, 0x20080522, true); // _LINUX_CAPABILITY_VERSION_3
  d.setInt32(D_HEADER + 4, 0, true); // this thread
  const halves: [bigint, number][] = [
    [resolved.effective, 0],
    [resolved.permitted, 4],
    [resolved.inheritable, 8],
  ];
  for (const [m, off] of halves) {
    d.setUint32(D_CAPDATA + off, Number(m & 0xffffffffn), true);
    d.setUint32(D_CAPDATA + 12 + off, Number(m >> 32n), true);
  }
  d.setBigUint64(D_DROP, resolved.dropBounding, true);
  d.setBigUint64(D_AMBIENT, resolved.ambient, true);
  r.i32.fill(0, D_CLAIMED / 4);
  d.setUint32(D_CAPACITY, CAPACITY, true);

  const pid = libc.getpid();
  const self = libc.gettid();
  nsTids.clear();
  let entries = listTasks(taskDirFd);
  const entryOf = new Map<number, number>(); // our tid -> task entry
  // A thread being created runs with every signal blocked until its start
  // routine restores the mask (its creator blocks them all around clone, too),
  // so one listing may find no free signal; that passes within microseconds.
  // Seen under Docker, about one gofer start in twenty. A thread that blocks
  // them all for good still fails, after PICK_SIGNAL_MS.
  let sig = opts.signal ?? 0;
  for (const t0 = performance.now(); sig === 0; Bun.sleepSync(PICK_SIGNAL_SLICE_MS)) {
    // One read of each status serves the pick and, through NSpid, the
    // thread IDs the signalling pass below needs.
    const statuses: Record<string, string>[] = [];
    for (const e of entries) {
      const st = taskStatus(taskDirFd, e);
      if (st === null) continue;
      statuses.push(st);
      learnNsTid(e, st);
    }
    try {
      sig = pickSignal(statuses);
      break;
    } catch (e) {
      if (performance.now() - t0 > PICK_SIGNAL_MS) throw e;
    }
    entries = listTasks(taskDirFd);
  }

  const act = new Uint8Array(Sigaction.size);
  const av = new DataView(act.buffer);
  av.setBigUint64(Sigaction.handler, BigInt(r.code), true);
  act.fill(0xff, Sigaction.mask, Sigaction.mask + Sigaction.maskSize); // block every other signal while the handler runs
  av.setInt32(Sigaction.flags, SA_RESTART | SA_ONSTACK | SA_SIGINFO, true);
  const old = new Uint8Array(Sigaction.size);
  let rc = libc.sigaction(sig, libc.addr(act), libc.addr(old));
  if (rc < 0) throw new PrivilegeError(`sigaction(${sig}): errno ${-rc}`);

  const done = new Map<number, number>(); // tid -> slot
  const collect = () => {
    const claimed = Math.min(r.i32[D_CLAIMED / 4], CAPACITY);
    for (let i = 0; i < claimed; i++) {
      const s = (D_SLOTS >> 2) + 4 * i;
      const tid = r.i32[s];
      if (tid === 0 || done.has(tid)) continue;
      done.set(tid, i);
      const res = r.i32[s + 1];
      if (res < 0) {
        const step = STEPS[r.i32[s + 2]] ?? `step ${r.i32[s + 2]}`;
        throw new PrivilegeError(`applying capabilities on thread ${tid}: ${step}${r.i32[s + 2] === 2 ? "" : ` (cap ${r.i32[s + 3]})`}: errno ${-res}`);
      }
    }
    if (r.i32[D_CLAIMED / 4] > CAPACITY) throw new PrivilegeError(`more than ${CAPACITY} threads`);
  };
  const timespec = new BigInt64Array([0n, 5_000_000n]); // 5 ms slices
  const timeoutMs = opts.timeoutMs ?? 2000;
  let passes = 0;
  try {
    // This thread first, synchronously: the signal is delivered before tgkill returns.
    rc = libc.syscall(C.SYS_tgkill, pid, self, sig);
    if (rc < 0) throw new PrivilegeError(`tgkill(self): errno ${-rc}`);
    collect();
    if (!done.has(self)) throw new PrivilegeError("the capability handler did not run on the calling thread");
    if (opts.onlyCallingThread) return { resolved, signal: sig, threads: done.size, passes };

    for (;;) {
      if (passes > 0) entries = listTasks(taskDirFd);
      passes++;
      const pending: number[] = [];
      for (const e of entries) {
        const t = nsTid(taskDirFd, e);
        if (t < 0 || done.has(t)) continue;
        entryOf.set(t, e);
        pending.push(t);
      }
      if (pending.length === 0) break;
      if (passes > 1000) throw new PrivilegeError("threads keep appearing faster than capabilities can be applied to them");
      const waiting = new Set<number>();
      for (const t of pending) {
        rc = libc.syscall(C.SYS_tgkill, pid, t, sig);
        if (rc === -ESRCH) continue; // exited
        if (rc < 0) throw new PrivilegeError(`tgkill(${t}): errno ${-rc}`);
        waiting.add(t);
      }
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const finished = r.i32[D_FINISHED / 4];
        collect();
        for (const t of waiting) if (done.has(t) || libc.syscall(C.SYS_tgkill, pid, t, 0) === -ESRCH) waiting.delete(t);
        if (waiting.size === 0) break;
        if (performance.now() > deadline) {
          const who = [...waiting].map((t) => {
            const s = taskStatus(taskDirFd, entryOf.get(t) ?? t);
            return s ? `${t} (${s.Name}, SigBlk ${s.SigBlk})` : `${t}`;
          });
          throw new PrivilegeError(`capabilities not applied within ${timeoutMs} ms on thread(s) ${who.join(", ")} (signal ${sig})`);
        }
        libc.futexWait(r.code + PAGE + D_FINISHED, finished, C.FUTEX_PRIVATE_FLAG, libc.addr(timespec));
      }
    }
  } finally {
    // SIG_IGN first discards any signal still pending (a thread that never
    // unblocked it), so restoring the default cannot end the process.
    const ign = new Uint8Array(Sigaction.size);
    new DataView(ign.buffer).setBigUint64(Sigaction.handler, 1n, true);
    libc.sigaction(sig, libc.addr(ign), 0);
    libc.sigaction(sig, libc.addr(old), 0);
    void act[0], timespec[0];
  }

  if (opts.verify ?? true) {
    const want: [string, bigint][] = [
      ["CapInh", resolved.inheritable],
      ["CapPrm", resolved.permitted],
      ["CapEff", resolved.effective],
      ["CapBnd", resolved.dropBounding ? resolved.bounding : -1n],
      ["CapAmb", resolved.ambient],
    ];
    for (const t of listTasks(taskDirFd)) {
      const s = taskStatus(taskDirFd, t);
      if (!s) continue;
      for (const [k, m] of want) {
        if (m < 0n || s[k] === undefined) continue;
        if (BigInt(`0x${s[k]}`) !== m) throw new PrivilegeError(`thread ${t} (${s.Name}) has ${k} ${s[k]}, want ${hex16(m)}`);
      }
    }
  }
  return { resolved, signal: sig, threads: done.size, passes };
}
