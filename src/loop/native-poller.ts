// The socket poller thread in machine code (x86-64): the same loop as the
// poller Worker of worker.ts (wait to be armed, poll(2) the connection
// sockets and the kick eventfd, hand back the revents, wake the main
// thread), run on a plain pthread. A Bun Worker is a second JS VM: ~6 MiB
// of anonymous memory and a start of ~90 ms in every gofer whose client
// opens channels; this thread is a few pages of stack. Assembled with GNU
// as from the listing beside each line; layout: Poller in shared.ts.
// Elsewhere (arm64) the Worker remains.
import { dlopen, FFIType as T } from "bun:ffi";
import * as libc from "../ffi/libc";
import { mapCode } from "../ffi/machinecode";

// [bytes, offset: instruction  why]
const CODE: [string, string][] = [
  ["53", "0x0: push rbx"],
  ["4154", "0x1: push r12"],
  ["4155", "0x3: push r13"],
  ["4156", "0x5: push r14"],
  ["4157", "0x7: push r15"],
  ["4883ec10", "0x9: sub rsp,0x10"],
  ["4989fc", "0xd: mov r12,rdi  r12 = words (the thread's argument)"],
  ["bf0f000000", "0x10: mov edi,0xf"],
  ["488d3551010000", "0x15: lea rsi,[rip+0x151]"],
  ["b89d000000", "0x1c: mov eax,0x9d"],
  ["0f05", "0x21: syscall  prctl(PR_SET_NAME, \"gofer-poller\")"],
  ["418b442418", "0x23: mov eax,DWORD PTR [r12+0x18]"],
  ["418b54241c", "0x28: mov edx,DWORD PTR [r12+0x1c]"],
  ["48c1e220", "0x2d: shl rdx,0x20"],
  ["4809d0", "0x31: or rax,rdx"],
  ["4989c5", "0x34: mov r13,rax"],
  ["b801000000", "0x37: mov eax,0x1"],
  ["4187442410", "0x3c: xchg DWORD PTR [r12+0x10],eax  ready = 1 (xchg: a full barrier)"],
  ["498d7c2410", "0x41: lea rdi,[r12+0x10]"],
  ["be81000000", "0x46: mov esi,0x81"],
  ["ba01000000", "0x4b: mov edx,0x1"],
  ["4531d2", "0x50: xor r10d,r10d"],
  ["b8ca000000", "0x53: mov eax,0xca"],
  ["0f05", "0x58: syscall  futex(&ready, FUTEX_WAKE_PRIVATE, 1)"],
  ["418b442404", "0x5a: mov eax,DWORD PTR [r12+0x4]  loop: while arm == 0"],
  ["85c0", "0x5f: test eax,eax"],
  ["7518", "0x61: jne 7b <poller+0x7b>"],
  ["498d7c2404", "0x63: lea rdi,[r12+0x4]"],
  ["be80000000", "0x68: mov esi,0x80"],
  ["31d2", "0x6d: xor edx,edx"],
  ["4531d2", "0x6f: xor r10d,r10d"],
  ["b8ca000000", "0x72: mov eax,0xca"],
  ["0f05", "0x77: syscall  futex(&arm, FUTEX_WAIT_PRIVATE, 0, NULL)"],
  ["ebdf", "0x79: jmp 5a <poller+0x5a>"],
  ["418b44240c", "0x7b: mov eax,DWORD PTR [r12+0xc]  armed: stop set? then leave"],
  ["85c0", "0x80: test eax,eax"],
  ["0f85d5000000", "0x82: jne 15d <poller+0x15d>"],
  ["458b742408", "0x88: mov r14d,DWORD PTR [r12+0x8]  r14 = nfds"],
  ["31c9", "0x8d: xor ecx,ecx"],
  ["4439f1", "0x8f: cmp ecx,r14d  copy each (fd, events) into a pollfd, revents 0"],
  ["7321", "0x92: jae b5 <poller+0xb5>"],
  ["418b44cc40", "0x94: mov eax,DWORD PTR [r12+rcx*8+0x40]"],
  ["418944cd00", "0x99: mov DWORD PTR [r13+rcx*8+0x0],eax"],
  ["418b44cc44", "0x9e: mov eax,DWORD PTR [r12+rcx*8+0x44]"],
  ["66418944cd04", "0xa3: mov WORD PTR [r13+rcx*8+0x4],ax"],
  ["6641c744cd060000", "0xa9: mov WORD PTR [r13+rcx*8+0x6],0x0"],
  ["ffc1", "0xb1: inc ecx"],
  ["ebda", "0xb3: jmp 8f <poller+0x8f>"],
  ["418b442414", "0xb5: mov eax,DWORD PTR [r12+0x14]  the kick eventfd last, POLLIN"],
  ["438944f500", "0xba: mov DWORD PTR [r13+r14*8+0x0],eax"],
  ["43c744f50401000000", "0xbf: mov DWORD PTR [r13+r14*8+0x4],0x1"],
  ["4c89ef", "0xc8: mov rdi,r13"],
  ["418d7601", "0xcb: lea esi,[r14+0x1]"],
  ["31d2", "0xcf: xor edx,edx"],
  ["4531d2", "0xd1: xor r10d,r10d"],
  ["4531c0", "0xd4: xor r8d,r8d"],
  ["b80f010000", "0xd7: mov eax,0x10f"],
  ["0f05", "0xdc: syscall  ppoll(pollfds, nfds + 1, NULL, NULL, 0)"],
  ["4883f8fc", "0xde: cmp rax,0xfffffffffffffffc  EINTR: poll again"],
  ["0f8472ffffff", "0xe2: je 5a <poller+0x5a>"],
  ["4989c7", "0xe8: mov r15,rax"],
  ["31c9", "0xeb: xor ecx,ecx"],
  ["4439f1", "0xed: cmp ecx,r14d  store revents << 16 beside each events (POLLERR for all if ppoll failed)"],
  ["7324", "0xf0: jae 116 <poller+0x116>"],
  ["b808000000", "0xf2: mov eax,0x8"],
  ["4d85ff", "0xf7: test r15,r15"],
  ["7806", "0xfa: js 102 <poller+0x102>"],
  ["410fb744cd06", "0xfc: movzx eax,WORD PTR [r13+rcx*8+0x6]"],
  ["c1e010", "0x102: shl eax,0x10"],
  ["410fb754cc44", "0x105: movzx edx,WORD PTR [r12+rcx*8+0x44]"],
  ["09d0", "0x10b: or eax,edx"],
  ["418944cc44", "0x10d: mov DWORD PTR [r12+rcx*8+0x44],eax"],
  ["ffc1", "0x112: inc ecx"],
  ["ebd7", "0x114: jmp ed <poller+0xed>"],
  ["430fb744f506", "0x116: movzx eax,WORD PTR [r13+r14*8+0x6]  the kick fired: read(kickFd, stack, 8) drains it"],
  ["85c0", "0x11c: test eax,eax"],
  ["7411", "0x11e: je 131 <poller+0x131>"],
  ["418b7c2414", "0x120: mov edi,DWORD PTR [r12+0x14]"],
  ["4889e6", "0x125: mov rsi,rsp"],
  ["ba08000000", "0x128: mov edx,0x8"],
  ["31c0", "0x12d: xor eax,eax"],
  ["0f05", "0x12f: syscall"],
  ["31c0", "0x131: xor eax,eax  arm = 0"],
  ["4187442404", "0x133: xchg DWORD PTR [r12+0x4],eax"],
  ["b801000000", "0x138: mov eax,0x1  wake = 1"],
  ["41870424", "0x13d: xchg DWORD PTR [r12],eax"],
  ["4c89e7", "0x141: mov rdi,r12"],
  ["be81000000", "0x144: mov esi,0x81"],
  ["ba01000000", "0x149: mov edx,0x1"],
  ["4531d2", "0x14e: xor r10d,r10d"],
  ["b8ca000000", "0x151: mov eax,0xca"],
  ["0f05", "0x156: syscall  futex(&wake, FUTEX_WAKE_PRIVATE, 1): the main thread goes on"],
  ["e9fdfeffff", "0x158: jmp 5a <poller+0x5a>"],
  ["4883c410", "0x15d: add rsp,0x10  exit: the thread returns (pthread ends it)"],
  ["415f", "0x161: pop r15"],
  ["415e", "0x163: pop r14"],
  ["415d", "0x165: pop r13"],
  ["415c", "0x167: pop r12"],
  ["5b", "0x169: pop rbx"],
  ["31c0", "0x16a: xor eax,eax"],
  ["c3", "0x16c: ret"],
  ["676f6665722d706f6c6c657200", "0x16d: the thread name, NUL-terminated"],
];

/** GOFER_NATIVE_POLLER=0 selects the Worker poller on x86-64 too: the
 * path arm64 takes, for tests (and a trace of its syscalls) on this machine. */
export const nativePollerSupported = (): boolean => process.arch === "x64" && process.env.GOFER_NATIVE_POLLER !== "0";

let entry = 0;
let pthreadCreate: ((tid: number, attr: number, fn: number, arg: number) => number) | null = null;
const tid = libc.pinnedBytes(8);

/** Starts the poller on `wordsAddr` (the Poller block, with the pollfd
 * array's address in words 6/7). Returns 0 or -errno; the thread sets
 * `ready` once running. */
export function startNativePoller(wordsAddr: number): number {
  if (!nativePollerSupported()) return -95; // EOPNOTSUPP
  if (entry === 0) {
    const code = mapCode(Buffer.from(CODE.map(([hex]) => hex).join(""), "hex"));
    if (code < 0) return code;
    entry = code;
  }
  pthreadCreate ??= dlopen("libc.so.6", { pthread_create: { args: [T.ptr, T.ptr, T.ptr, T.ptr], returns: T.i32 } }).symbols
    .pthread_create as unknown as (tid: number, attr: number, fn: number, arg: number) => number;
  // pthread_create returns the error number itself.
  const rc = pthreadCreate(libc.addr(tid), 0, entry, wordsAddr);
  return rc === 0 ? 0 : -rc;
}
