// The memory floor of a Bun gofer (issue 13): the least a program in our
// runtime must do to be a lisafs gofer through its Mount reply, and nothing
// more. Launched like dist/gofer's native form (`--io-fd N --mount DIR`), it
// reads requests from the inherited socket and answers:
//   Mount    the root's control FD (1) and its stat (statx of an O_PATH FD
//            of DIR, as 20240729's gofer reports it: mask STATX_BASIC_STATS,
//            no btime), the max message size and our supported list;
//   Channel  with FLOOR_CHANNELS > 0 (a build of its own, build.ts): up to
//            that many flipcall packet windows in a memfd, mapped, each with
//            its FD socketpair and the client's connection handshake
//            answered (gVisor's ctrlWaitFirst); otherwise ENOMEM ("at its
//            channel limit": the client then talks over the socket);
//   anything else: ENOSYS.
// Between requests it sleeps in ppoll(2) on the socket, called through
// bun:ffi: it never returns to Bun's event loop. It exits when the client
// closes the socket.
//
// Everything goes through one libc symbol, syscall(2), bound with bun:ffi's
// dlopen (as src/ffi/libc.ts does). No node: modules, no commander, no pino.
import { dlopen, FFIType, ptr, toArrayBuffer } from "bun:ffi";

// Build-time constants (build.ts `define`); the minifier drops what they turn off.
declare const FLOOR_CHANNELS: number;
declare const FLOOR_BUNDLE: boolean;

// Variant "bundle": our whole gofer in this executable's bundle, never run.
if (FLOOR_BUNDLE && process.env.GOFER_FLOOR_NEVER === "run-the-gofer") require("../../src/main.ts");

const x64 = process.arch === "x64";
// System call numbers (x86-64 | arm64's asm-generic table).
const NR = x64
  ? { close: 3, mmap: 9, dup: 32, recvfrom: 45, sendmsg: 46, socketpair: 53, ftruncate: 77, futex: 202, openat: 257, ppoll: 271, memfd_create: 319, statx: 332 }
  : { close: 57, mmap: 222, dup: 23, recvfrom: 207, sendmsg: 211, socketpair: 199, ftruncate: 46, futex: 98, openat: 56, ppoll: 73, memfd_create: 279, statx: 291 };
const O_PATH = 0x200000, O_CLOEXEC = 0x80000, O_DIRECTORY = x64 ? 0x10000 : 0x4000;
const AT_FDCWD = -100, AT_EMPTY_PATH = 0x1000, STATX_BASIC_STATS = 0x7ff;
const MSG_DONTWAIT = 0x40, POLLIN = 1, POLLERR = 8, POLLHUP = 16, POLLNVAL = 32;
const ENOMEM = 12, ENOSYS = 38;

const i64 = FFIType.i64;
const libc = dlopen("libc.so.6", { syscall: { args: [i64, i64, i64, i64, i64, i64, i64], returns: FFIType.i64_fast } });
/** A system call by number: its result, or -1 (errno is not read: the floor
 * only needs to know that a call failed). */
const sc = (nr: number, a = 0, b = 0, c = 0, d = 0, e = 0, f = 0): number => Number(libc.symbols.syscall(nr, a, b, c, d, e, f));

/** Bytes at a fixed address (their own ArrayBuffer: never moved by the GC). */
const pinned = (n: number) => new Uint8Array(new ArrayBuffer(n));
const setU64 = (v: DataView, off: number, x: number) => {
  v.setUint32(off, x >>> 0, true);
  v.setUint32(off + 4, Math.floor(x / 0x100000000), true);
};

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const sock = Number(flag("--io-fd") ?? 3);
const mountArg = flag("--mount");
if (mountArg === undefined) {
  console.error("floor: --mount DIR is required");
  process.exit(2);
}

// ---- the root ---------------------------------------------------------------

const path = pinned(4096 + 1);
new TextEncoder().encodeInto(mountArg.replace(/:ro$/, ""), path); // NUL: the array's zeros
const rootFd = sc(NR.openat, AT_FDCWD, ptr(path), O_PATH | O_DIRECTORY | O_CLOEXEC);
if (rootFd < 0) {
  console.error(`floor: cannot open ${mountArg}`);
  process.exit(1);
}

// ---- lisafs framing (gVisor pkg/lisafs sock.go, message.go) -----------------

const MAX_MESSAGE_SIZE = 2 * 1024 * 1024 - 4096;
const HDR = 8; // payloadLen u32, message u16, pad u16
const MID_ERROR = 0, MID_MOUNT = 1, MID_CHANNEL = 2;
/** What we advertise on Mount: the same list as src/lisafs/handlers.ts SUPPORTED. */
const SUPPORTED = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25, 26, 29, 30, 31, 32, 33];
const INODE = 8 + 144; // controlFD u64, Statx (the first 144 bytes of struct statx)

const buf = pinned(HDR + INODE + 6 + 2 * SUPPORTED.length + 64);
const view = new DataView(buf.buffer);
const bufAddr = ptr(buf);
const pollfd = pinned(8);
const pollView = new DataView(pollfd.buffer);
pollView.setInt32(0, sock, true);
pollView.setInt16(4, POLLIN, true);
const pollAddr = ptr(pollfd);

/** Sleeps in the kernel until the socket has something; exits on hang-up
 * with nothing left to read. While a FLOOR_CHANNELS build is handing out its
 * channels, it wakes every 2 ms to serve requests on them too (see
 * serveChannels); once it has, it sleeps on the socket alone. */
function waitReadable(): void {
  for (;;) {
    const channelsComing = FLOOR_CHANNELS > 0 && granted > 0 && granted < FLOOR_CHANNELS;
    pollView.setInt16(6, 0, true);
    const n = sc(NR.ppoll, pollAddr, 1, channelsComing ? ptr(twoMs) : 0, 0, 0);
    if (n > 0) {
      const revents = pollView.getInt16(6, true);
      if (revents & (POLLERR | POLLNVAL)) process.exit(0);
      if (revents & (POLLIN | POLLHUP)) return;
    }
    if (channelsComing) serveChannels();
  }
}

/** Reads exactly n bytes into buf at off (a payload past the buffer is read
 * and dropped); exits when the client closes the socket. */
function readFull(off: number, n: number): void {
  let have = 0;
  let failed = 0;
  while (have < n) {
    waitReadable();
    const at = Math.min(off + have, buf.length - 1);
    const got = sc(NR.recvfrom, sock, bufAddr + at, Math.min(n - have, buf.length - at), MSG_DONTWAIT, 0, 0);
    if (got === 0) process.exit(0); // the client is gone
    if (got > 0) (have += got), (failed = 0);
    else if (++failed > 100) process.exit(1); // readable, yet every read fails: not a spurious wake-up
  }
}

const msg = pinned(56); // struct msghdr
const msgView = new DataView(msg.buffer);
const iov = pinned(16);
const iovView = new DataView(iov.buffer);
const ctl = pinned(16 + 8);
const ctlView = new DataView(ctl.buffer);

/** One sendmsg of len bytes at addr on fd, with fds (at most 2) as SCM_RIGHTS. */
function sendWithFds(fd: number, addr: number, len: number, fds: number[]): number {
  msg.fill(0);
  setU64(iovView, 0, addr);
  setU64(iovView, 8, len);
  setU64(msgView, 16, ptr(iov));
  setU64(msgView, 24, 1);
  if (fds.length > 0) {
    ctl.fill(0);
    setU64(ctlView, 0, 16 + 4 * fds.length); // cmsg_len
    ctlView.setInt32(8, 1, true); // SOL_SOCKET
    ctlView.setInt32(12, 1, true); // SCM_RIGHTS
    fds.forEach((f, i) => ctlView.setInt32(16 + 4 * i, f, true));
    setU64(msgView, 32, ptr(ctl));
    setU64(msgView, 40, 16 + ((4 * fds.length + 7) & ~7));
  }
  return sc(NR.sendmsg, fd, ptr(msg), 0);
}

/** Sends buf[0, HDR + payloadLen) as message mid on the socket, with fds as
 * SCM_RIGHTS on its first bytes. */
function reply(mid: number, payloadLen: number, fds: number[] = []): void {
  view.setUint32(0, payloadLen, true);
  view.setUint16(4, mid, true);
  view.setUint16(6, 0, true);
  const len = HDR + payloadLen;
  for (let sent = 0; sent < len; ) {
    const n = sendWithFds(sock, bufAddr + sent, len - sent, sent === 0 ? fds : []);
    if (n < 0) process.exit(1);
    sent += n;
  }
}

function replyError(errno: number): void {
  view.setUint32(HDR, errno, true);
  reply(MID_ERROR, 4);
}

function mount(): void {
  const o = HDR;
  setU64(view, o, 1); // the root's control FD ID
  if (sc(NR.statx, rootFd, ptr(path, 4096) /* "" */, AT_EMPTY_PATH, STATX_BASIC_STATS, bufAddr + o + 8) < 0) return replyError(5);
  view.setUint32(o + 8, STATX_BASIC_STATS, true); // mask, as 20240729's gofer (fstat)
  buf.fill(0, o + 8 + 80, o + 8 + 96); // btime
  view.setUint32(o + INODE, MAX_MESSAGE_SIZE, true);
  view.setUint16(o + INODE + 4, SUPPORTED.length, true);
  SUPPORTED.forEach((m, i) => view.setUint16(o + INODE + 6 + 2 * i, m, true));
  reply(MID_MOUNT, INODE + 6 + 2 * SUPPORTED.length);
}

// ---- channels (only in a FLOOR_CHANNELS build) ------------------------------
//
// gVisor's client asks for its channels (maxChannels(): 2 on this machine)
// from parallel goroutines, and a goroutine may send its Channel request on
// a channel an earlier one just connected: until it has handed out all
// FLOOR_CHANNELS, the floor serves Channel on channels too. Any other
// request on a channel is never answered: this is a floor, not a gofer.

/** A packet window: flipcall's 16-byte header, lisafs's 4-byte channel
 * header and the largest message, rounded up to pages (as src/lisafs). */
const WINDOW = 2 * 1024 * 1024;
const second = new BigInt64Array(new ArrayBuffer(16)); // struct timespec: 1 s
second[0] = 1n;
const twoMs = new BigInt64Array(new ArrayBuffer(16));
twoMs[1] = 2000000n;
const zero = new BigInt64Array(new ArrayBuffer(16));
let memfd = -1;
let granted = 0;
/** The client's end of the newest channel's FD socketpair, until donated. */
let clientSock = -1;

interface Chan {
  base: number;
  offset: number;
  /** flipcall's connection state (0 client active, 1 server active, 2 shut down) and datagram length. */
  words: Int32Array;
  /** The datagram: lisafs's channel header (message u16, numFDs u8, pad u8) and payload. */
  data: DataView;
  /** Our end of the FD socketpair. */
  fdSock: number;
}
const chans: Chan[] = [];

/** Maps the next packet window and makes its FD socketpair; null (ENOMEM
 * to the client) when all FLOOR_CHANNELS are out or a call failed. */
function newChannel(): Chan | null {
  if (granted >= FLOOR_CHANNELS) return null;
  if (memfd < 0) memfd = sc(NR.memfd_create, ptr(pinned(1)) /* "" */, 1 | 2 /* MFD_CLOEXEC | MFD_ALLOW_SEALING */);
  const offset = granted * WINDOW;
  if (memfd < 0 || sc(NR.ftruncate, memfd, offset + WINDOW) < 0) return null;
  const base = sc(NR.mmap, 0, WINDOW, 3 /* PROT_READ|PROT_WRITE */, 1 /* MAP_SHARED */, memfd, offset);
  const sv = pinned(8);
  if (base < 0 || sc(NR.socketpair, 1 /* AF_UNIX */, 5 | O_CLOEXEC /* SOCK_SEQPACKET */, 0, ptr(sv)) < 0) return null;
  const fds = new Int32Array(sv.buffer);
  clientSock = fds[1];
  granted++;
  const ab = toArrayBuffer(base, 0, 4096);
  return { base, offset, words: new Int32Array(ab, 0, 2), data: new DataView(ab, 16), fdSock: fds[0] };
}

/** Answers the client's connection request on ch: it writes "{}\n", makes
 * us active (state 1) and wakes us; we answer "{}\n" and make it active
 * (state 0), as flipcall's ctrlWaitFirst. */
function connect(ch: Chan): void {
  sc(NR.close, clientSock);
  clientSock = -1;
  while (Atomics.load(ch.words, 0) !== 1) {
    if (Atomics.load(ch.words, 0) === 2) return; // shut down
    sc(NR.futex, ch.base, 0 /* FUTEX_WAIT, shared */, 0, ptr(second));
    // A client that hung up instead of connecting: do not wait for ever.
    pollView.setInt16(6, 0, true);
    if (sc(NR.ppoll, pollAddr, 1, ptr(zero), 0, 0) > 0 && pollView.getInt16(6, true) & (POLLHUP | POLLERR | POLLNVAL)) process.exit(0);
  }
  ch.data.setUint32(0, 0x0a7d7b, true); // "{}\n"
  publish(ch, 3);
  chans.push(ch);
}

/** Hands the packet (len bytes of datagram) back to the client. */
function publish(ch: Chan, len: number): void {
  Atomics.store(ch.words, 1, len);
  if (Atomics.compareExchange(ch.words, 0, 1, 0) === 1) sc(NR.futex, ch.base, 1 /* FUTEX_WAKE */, 1);
}

/** Channel, on the socket. */
function channel(): void {
  const ch = newChannel();
  if (!ch) return replyError(ENOMEM);
  setU64(view, HDR, ch.offset);
  setU64(view, HDR + 8, WINDOW);
  reply(MID_CHANNEL, 16, [memfd, clientSock]);
  connect(ch);
}

/** Serves a Channel request waiting on any connected channel (its FDs go
 * first, one a message on the channel's FD socket, as gVisor's fdchannel). */
function serveChannels(): void {
  for (const ch of chans) {
    if (Atomics.load(ch.words, 0) !== 1) continue;
    const mid = ch.data.getUint16(0, true);
    const nc = mid === MID_CHANNEL ? newChannel() : null;
    if (nc) {
      sendWithFds(ch.fdSock, 0, 0, [memfd]);
      sendWithFds(ch.fdSock, 0, 0, [clientSock]);
      ch.data.setUint32(0, MID_CHANNEL | (2 << 16), true); // 2 FDs
      setU64(ch.data, 4, nc.offset);
      setU64(ch.data, 12, WINDOW);
      publish(ch, 20);
      connect(nc);
    } else {
      ch.data.setUint32(0, MID_ERROR, true);
      ch.data.setUint32(4, mid === MID_CHANNEL ? ENOMEM : ENOSYS, true);
      publish(ch, 8);
    }
  }
}

// ---- serving ----------------------------------------------------------------

for (;;) {
  readFull(0, HDR);
  const payloadLen = view.getUint32(0, true);
  const mid = view.getUint16(4, true);
  if (payloadLen > MAX_MESSAGE_SIZE) process.exit(1);
  readFull(HDR, payloadLen);
  if (mid === MID_MOUNT) mount();
  else if (mid === MID_CHANNEL) channel();
  else replyError(ENOSYS);
}
