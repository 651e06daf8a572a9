// Drives the machine-code socket poller (src/loop/native-poller.ts) of the
// architecture it runs on, through the Poller word protocol the event loop
// uses, and prints one JSON object of what it saw. tests/native-poller.test.ts
// runs it with the host's Bun and, built for arm64, under qemu-aarch64.
import { ptr } from "bun:ffi";
import * as fs from "node:fs";
import * as C from "../../src/ffi/constants";
import { Pollfd } from "../../src/ffi/layout";
import * as libc from "../../src/ffi/libc";
import { nativePollerSupported, startNativePoller } from "../../src/loop/native-poller";
import { Poller, POLLER_WORDS } from "../../src/loop/shared";

const WAIT_MS = 30_000;
const words = new Int32Array(new SharedArrayBuffer(POLLER_WORDS * 4));
const pollfds = libc.pinnedBytes(Pollfd.size * 8);
const at = libc.addr(pollfds);
words[Poller.pollfdsLo] = at >>> 0;
words[Poller.pollfdsHi] = Math.floor(at / 2 ** 32);
const kick = libc.eventfd(0, C.EFD_CLOEXEC | C.EFD_NONBLOCK);
words[Poller.kickFd] = kick;
const pair = libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, 0) as [number, number];
const other = libc.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, 0) as [number, number];
// Two watched sockets: pair[0] gets data, other[0] never does.
words[Poller.nfds] = 2;
words[Poller.fds] = pair[0];
words[Poller.fds + 1] = C.POLLIN;
words[Poller.fds + 2] = other[0];
words[Poller.fds + 3] = C.POLLIN;
const byte = libc.pinnedBytes(8);

const pollerThreads = () =>
  fs.readdirSync("/proc/self/task").filter((t) => {
    try {
      return fs.readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim() === "gofer-poller";
    } catch {
      return false;
    }
  }).length;
const armAddr = (ptr(words) as number) + 4 * Poller.arm;
const timeout = new BigInt64Array(libc.pinnedBytes(16).buffer);
/** Waits on a word with futex(2), as the event loop does (Atomics.wait
 * parks on JSC's own lock, which no futex wake reaches): true once the
 * word is 1, false if no wake came within WAIT_MS. */
function waitFor(index: number): boolean {
  const addr = (ptr(words) as number) + 4 * index;
  timeout[0] = BigInt(WAIT_MS / 1000);
  timeout[1] = 0n;
  while (Atomics.load(words, index) === 0) {
    const rc = libc.futexWait(addr, 0, C.FUTEX_PRIVATE_FLAG, libc.addr(new Uint8Array(timeout.buffer)));
    if (rc === -C.ETIMEDOUT) return false;
  }
  return true;
}
/** Arms the poller and waits for its report (wake set to 1). */
function armAndWait(before?: () => void): { woke: boolean; arm: number; revents: number[] } {
  words[Poller.fds + 1] = C.POLLIN;
  words[Poller.fds + 3] = C.POLLIN;
  Atomics.store(words, Poller.wake, 0);
  Atomics.store(words, Poller.arm, 1);
  libc.futexWake(armAddr, 1, C.FUTEX_PRIVATE_FLAG);
  before?.();
  const woke = waitFor(Poller.wake);
  return { woke, arm: Atomics.load(words, Poller.arm), revents: [words[Poller.fds + 1] >>> 16, words[Poller.fds + 3] >>> 16] };
}

const out: Record<string, unknown> = { arch: process.arch, supported: nativePollerSupported() };
out.start = startNativePoller(ptr(words) as number);
out.ready = waitFor(Poller.ready) ? 1 : 0;
out.threadNamed = pollerThreads();
// Data on pair[0]: POLLIN for it, nothing for the other.
byte[0] = 0x61;
out.data = armAndWait(() => libc.writeFd(pair[1], libc.addr(byte), 1));
libc.readFd(pair[0], libc.addr(byte), 8);
// The kick alone: no socket revents, and the poller drained the eventfd.
out.kick = armAndWait(() => {
  const one = new BigUint64Array(libc.pinnedBytes(8).buffer);
  one[0] = 1n;
  libc.writeFd(kick, libc.addr(new Uint8Array(one.buffer)), 8);
});
out.kickDrained = libc.readFd(kick, libc.addr(byte), 8) === -C.EAGAIN;
// A hung-up peer: POLLHUP (with POLLIN) reported.
libc.close(other[1]);
out.hup = armAndWait();
// Stop: the thread leaves.
Atomics.store(words, Poller.stop, 1);
Atomics.store(words, Poller.arm, 1);
libc.futexWake(armAddr, 1, C.FUTEX_PRIVATE_FLAG);
const goneBy = Date.now() + WAIT_MS;
while (pollerThreads() > 0 && Date.now() < goneBy) Bun.sleepSync(20);
out.threadAfterStop = pollerThreads();
console.log(JSON.stringify(out));
