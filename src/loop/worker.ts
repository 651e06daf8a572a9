// Helper threads of the event loop. They hold no protocol state: each turns
// one kind of kernel readiness into a futex wake of the main thread.
//   poller:  blocks in poll(2) on the connection sockets.
//   watcher: (kernels without futex_waitv) blocks in FUTEX_WAIT on one
//            channel's state word.
import { ptr, read } from "bun:ffi";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { Poller, Watcher } from "./shared";

declare const self: Worker & { close(): void };

function wakeMain(words: Int32Array): void {
  Atomics.store(words, Poller.wake, 1);
  libc.futexWake((ptr(words) as number) + Poller.wake * 4, 1, C.FUTEX_PRIVATE_FLAG);
}

/** Sleeps while words[i] === v. */
function waitWhile(words: Int32Array, i: number, v: number): void {
  const a = (ptr(words) as number) + i * 4;
  while (Atomics.load(words, i) === v) libc.futexWait(a, v, C.FUTEX_PRIVATE_FLAG);
}

function runPoller(words: Int32Array): void {
  const pfds = libc.pinnedBytes(8 * (Poller.maxFds + 1));
  const pv = new DataView(pfds.buffer);
  const pAddr = libc.addr(pfds);
  const kick = Atomics.load(words, Poller.kickFd);
  const drain = new BigUint64Array(1);
  Atomics.store(words, Poller.ready, 1);
  libc.futexWake((ptr(words) as number) + Poller.ready * 4, 1, C.FUTEX_PRIVATE_FLAG);
  for (;;) {
    waitWhile(words, Poller.arm, 0);
    if (Atomics.load(words, Poller.stop)) return;
    const n = Atomics.load(words, Poller.nfds);
    for (let i = 0; i < n; i++) {
      pv.setInt32(i * 8, words[Poller.fds + 2 * i], true);
      pv.setInt16(i * 8 + 4, words[Poller.fds + 2 * i + 1] & 0xffff, true);
      pv.setInt16(i * 8 + 6, 0, true);
    }
    pv.setInt32(n * 8, kick, true);
    pv.setInt16(n * 8 + 4, C.POLLIN, true);
    pv.setInt16(n * 8 + 6, 0, true);
    const rc = libc.poll(pAddr, n + 1, -1);
    if (rc === -C.EINTR) continue;
    for (let i = 0; i < n; i++) {
      const revents = rc < 0 ? C.POLLERR : pv.getUint16(i * 8 + 6, true);
      words[Poller.fds + 2 * i + 1] = (words[Poller.fds + 2 * i + 1] & 0xffff) | (revents << 16);
    }
    if (pv.getUint16(n * 8 + 6, true)) libc.readFd(kick, libc.addr(drain), 8);
    Atomics.store(words, Poller.arm, 0);
    wakeMain(words);
  }
}

function runWatcher(words: Int32Array, main: Int32Array): void {
  const base = ptr(words) as number;
  const ackAddr = base + Watcher.ack * 4;
  Atomics.store(words, Watcher.ready, 1);
  libc.futexWake(base + Watcher.ready * 4, 1, C.FUTEX_PRIVATE_FLAG);
  for (;;) {
    waitWhile(words, Watcher.assigned, 0);
    if (Atomics.load(words, Watcher.quit)) return;
    const stateAddr = (words[Watcher.addrLo] >>> 0) + (words[Watcher.addrHi] >>> 0) * 2 ** 32;
    for (;;) {
      if (Atomics.load(words, Watcher.stop)) break;
      const st = read.u32(stateAddr, 0);
      if (st === 0) {
        // Shared futex: the client (another process) wakes it.
        libc.futexWait(stateAddr, 0, 0);
        continue;
      }
      wakeMain(main);
      while (Atomics.load(words, Watcher.ack) === 0 && !Atomics.load(words, Watcher.stop))
        libc.futexWait(ackAddr, 0, C.FUTEX_PRIVATE_FLAG);
      Atomics.store(words, Watcher.ack, 0);
    }
    Atomics.store(words, Watcher.assigned, 0);
    Atomics.store(words, Watcher.released, 1);
    libc.futexWake(base + Watcher.released * 4, 1, C.FUTEX_PRIVATE_FLAG);
  }
}

self.onmessage = (ev: MessageEvent) => {
  const m = ev.data;
  if (m.role === "poller") runPoller(new Int32Array(m.words));
  else if (m.role === "watcher") runWatcher(new Int32Array(m.words), new Int32Array(m.main));
  self.close();
};
