// The event loop. One thread (this one) owns all protocol state and waits for
// two kinds of events together:
//   - a flipcall channel's state word flipping to "server active" (a request
//     in shared memory), and
//   - a connection socket becoming readable/writable.
// See docs/event-loop.md for the choice and the numbers behind it.
//
// Fast path ("waitv", Linux 5.16+): the main thread sleeps in futex_waitv(2)
// on every channel's state word plus one private "wake" word. A channel
// request therefore wakes this thread directly: no helper thread on that path.
// Sockets are polled by one helper Worker, which sets the wake word.
//
// Fallback ("threads", older kernels or forced): the main thread sleeps on the
// wake word only, and one helper Worker per channel sleeps on that channel's
// state word and forwards the wake. Watchers are pooled, not ended with their
// channel: every Worker Bun starts keeps a few FDs for good, so a client
// opening and closing channels must not start new ones.
import { ptr } from "bun:ffi";
import * as C from "../ffi/constants";
import { FutexWaitv, getTimespecMs, Pollfd, setTimespecMs, Timespec } from "../ffi/layout";
import * as libc from "../ffi/libc";
import { entryUrl } from "../entry";
import { nativePollerSupported, startNativePoller } from "./native-poller";
import { Poller, POLLER_WORDS, Watcher, WATCHER_WORDS } from "./shared";

export type LoopMode = "waitv" | "threads";

export interface SocketWatch {
  fd: number;
  events: number;
  onReady(revents: number): void;
}

export interface ChannelWatch {
  /** Address of the channel's futex word (flipcall connection state). */
  stateAddr: number;
  /** Reads the state word: non-zero means the client is waiting on us. */
  pending(): boolean;
  onReady(): void;
}

interface ChannelWatcher {
  worker: Worker;
  words: Int32Array;
}

interface WatchedChannel {
  watch: ChannelWatch;
  helper: ChannelWatcher | null;
}

/** Whether the running kernel has futex_waitv (5.16+). */
export function kernelHasFutexWaitv(): boolean {
  // With no waiters the syscall fails EINVAL where it exists, ENOSYS where not.
  return libc.futexWaitv(0, 0) !== -C.ENOSYS;
}

const timeoutBuf = new Int32Array(libc.pinnedBytes(Timespec.size).buffer);
/** How long the socket poller's thread may take to start. */
const POLLER_START_MS = 10_000;
/** How long a channel watcher's thread may take to start. */
const WORKER_START_MS = 10_000;
/** Without a poller thread, how long the main thread waits on its channels
 * before it looks at the sockets again. */
const DEGRADED_POLL_MS = 10;
/** Channel watcher threads at most (threads mode, or channels beyond what
 * one futex_waitv takes): each keeps ~5 FDs and a thread for the life of the
 * process, so a channel that would need one more is refused with ENOMEM. */
export const MAX_WATCHERS = 64;
/** How long the loop must have been idle before it collects garbage. */
const IDLE_GC_MS = 500;
/** Wakes served between two young-generation collections while busy. Left
 * alone, JSC lets a fresh heap grow to its 32 MiB first-cycle budget before
 * it collects, and every page of that growth is touched for the first time
 * by a request: a page fault each, about one per request here (several KB
 * of garbage per request), expensive under virtualization. Collecting every
 * few hundred wakes keeps the heap's pages the same few hot ones. Pinned, in
 * a freshly started gofer: 9P walk+getattr+clunk 204 → 145 µs, 4 KiB read
 * 44 → 29 µs; lisafs Walk+Close 84–94 → 42–61 µs, FStat 23–26 → 16–17 µs.
 * That was with several KB of garbage per request. Since the replies
 * stopped allocating (tests/alloc.test.ts: a lisafs FStat or PRead leaves
 * at most its decoded request), a collection's fixed cost (0.4–0.6 ms) is
 * nearly all it costs, so it runs 8× less often: every 4096 wakes, server
 * CPU per request 0.91–0.93× and one-goroutine ops/s 1.04–1.06× of every
 * 512 (docs/event-loop.md). */
const WAKES_PER_GC = 4096;
/** How long performance.now() carries a reading of CLOCK_MONOTONIC for the
 * timed waits' deadlines (see deadline()). */
const CLOCK_REREAD_MS = 1000;
// The timed waits' struct timespec (layout.ts Timespec).
const idleTimeout = new Int32Array(libc.pinnedBytes(Timespec.size).buffer);
const idleTimeoutAddr = libc.addr(idleTimeout);
function waitFor(words: Int32Array, i: number, ms: number): boolean {
  const deadline = performance.now() + ms;
  const a = (ptr(words) as number) + i * 4;
  while (Atomics.load(words, i) === 0) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    setTimespecMs(timeoutBuf, left);
    libc.futexWait(a, 0, C.FUTEX_PRIVATE_FLAG, libc.addr(timeoutBuf));
  }
  return true;
}

export class EventLoop {
  readonly mode: LoopMode;
  private sockets = new Map<number, SocketWatch>();
  /** The sockets in pollfd order (direct mode); null after a change. */
  private pollOrder: SocketWatch[] | null = null;
  private channels: WatchedChannel[] = [];
  private idleWatchers: ChannelWatcher[] = [];
  private watcherCount = 0;
  private stopped = false;
  private readonly words = new Int32Array(new SharedArrayBuffer(POLLER_WORDS * 4));
  private readonly wakeAddr = (ptr(this.words) as number) + Poller.wake * 4;
  private readonly armAddr = (ptr(this.words) as number) + Poller.arm * 4;
  /** The socket poller: a machine-code pthread (native-poller.ts) where
   * there is one, else a Worker; null until the first channel. */
  private poller: Worker | "native" | null = null;
  /** The native poller's pollfd array (the thread touches it only while armed). */
  private pollerPollfds: Uint8Array | null = null;
  private kickFd = -1;
  private waitv = libc.pinnedBytes(FutexWaitv.size * C.FUTEX_WAITV_MAX);
  private waitvView = new DataView(this.waitv.buffer);
  private waitvCount = 0;
  private waitvDirty = true;
  /** Number of channels watched in the kernel wait (at most 127). */
  private inKernel = 0;
  /** Counters for tests and logs. */
  readonly stats = { channelWakes: 0, socketWakes: 0, blocks: 0, idleCollections: 0, busyCollections: 0 };
  private workSinceGc = false;
  private wakesSinceGc = 0;
  /** CLOCK_MONOTONIC in ms at the last reading, and performance.now() then. */
  private clockMs = 0;
  private clockReadAt = Number.NEGATIVE_INFINITY;
  private pollerStartedAt = 0;
  private idleTasks: (() => void)[] = [];
  /** Called when the loop's wait was interrupted by a signal (EINTR): a
   * caught signal's work runs here, on this thread (src/observe/signal.ts). */
  onSignal: (() => void) | null = null;
  /** Until the first channel, the main thread polls the sockets itself: no
   * helper thread, no cross-thread hop per request (9P without channels,
   * TCP, lisafs before its channels), and no Worker start before the first
   * reply. */
  private direct = true;
  private pollfds = libc.pinnedBytes(Pollfd.size * 64);
  private pollfdsView = new DataView(this.pollfds.buffer);

  constructor(mode: LoopMode | "auto" = "auto") {
    if (mode === "auto") mode = kernelHasFutexWaitv() ? "waitv" : "threads";
    this.mode = mode;
  }

  // ---- registration ---------------------------------------------------------

  /** Watches a socket; false when the loop already watches as many as it
   * can (Poller.maxFds): the caller refuses that connection. */
  addSocket(w: SocketWatch): boolean {
    if (this.sockets.size >= Poller.maxFds) return false;
    this.sockets.set(w.fd, w);
    this.pollOrder = null;
    return true;
  }

  /** Sockets watched now. */
  get socketCount(): number {
    return this.sockets.size;
  }

  /** Changes the poll events of a socket (e.g. to wait for POLLOUT). */
  setEvents(fd: number, events: number): void {
    const w = this.sockets.get(fd);
    if (w) w.events = events;
  }

  removeSocket(fd: number): void {
    this.sockets.delete(fd);
    this.pollOrder = null;
  }

  /** Watches a channel. Returns 0, or -errno when no helper thread can be
   * had for it (ENOMEM: the thread cap MAX_WATCHERS, or a Worker that did
   * not start; EMFILE and the like from the poller's eventfd): the caller
   * then refuses the channel, and the loop goes on as it was. */
  addChannel(watch: ChannelWatch): number {
    if (this.direct) {
      // From now on sockets are the poller's (see run()).
      const rc = this.startPoller();
      if (rc < 0) return rc;
      this.direct = false;
      this.arm();
    }
    const entry: WatchedChannel = { watch, helper: null };
    if (this.mode === "waitv" && this.inKernel < C.FUTEX_WAITV_MAX - 1) {
      this.inKernel++;
      this.waitvDirty = true;
    } else {
      let helper = this.idleWatchers.pop();
      if (!helper) {
        if (this.watcherCount >= MAX_WATCHERS) return -C.ENOMEM;
        const started = this.startWatcher();
        if (!started) return -C.ENOMEM;
        helper = started;
      }
      entry.helper = helper;
      const w = entry.helper.words;
      w[Watcher.addrLo] = watch.stateAddr % 2 ** 32;
      w[Watcher.addrHi] = Math.floor(watch.stateAddr / 2 ** 32);
      Atomics.store(w, Watcher.assigned, 1);
      libc.futexWake((ptr(w) as number) + Watcher.assigned * 4, 1, C.FUTEX_PRIVATE_FLAG);
    }
    this.channels.push(entry);
    return 0;
  }

  /** Stops watching a channel. Returns once no helper can touch its memory,
   * so the caller may unmap it. The caller shuts the channel down first:
   * its state word is then non-zero, so a watcher about to sleep on it
   * cannot miss the wake. */
  removeChannel(watch: ChannelWatch): void {
    const i = this.channels.findIndex((c) => c.watch === watch);
    if (i < 0) return;
    const [entry] = this.channels.splice(i, 1);
    if (entry.helper) {
      const w = entry.helper.words;
      Atomics.store(w, Watcher.stop, 1);
      // Also through the word the watcher may be about to sleep on: a
      // watcher that saw stop still 0 and then waits for ack with ack 0
      // would sleep through a wake sent before it got there.
      Atomics.store(w, Watcher.ack, 1);
      libc.futexWake((ptr(w) as number) + Watcher.ack * 4, 1, C.FUTEX_PRIVATE_FLAG);
      libc.futexWake(watch.stateAddr, 1, 0);
      if (!waitFor(w, Watcher.released, 5000)) {
        // Cannot happen by the protocol above; if it does, the watcher may
        // still touch the channel's memory, so it is not reused, and the
        // caller unmaps anyway (a stray read of an unmapped page would be
        // the watcher's fault, in its own thread). Not fatal to the others.
        this.watcherCount--;
        return;
      }
      Atomics.store(w, Watcher.released, 0);
      Atomics.store(w, Watcher.stop, 0);
      Atomics.store(w, Watcher.ack, 0);
      this.idleWatchers.push(entry.helper);
    } else {
      this.inKernel--;
      this.waitvDirty = true;
    }
  }

  stop(): void {
    this.stopped = true;
  }

  // ---- helpers ----------------------------------------------------------------

  /** A helper Worker, or null if it cannot be made or did not come up in
   * time (out of FDs, threads or memory). */
  private startWorker(message: Record<string, unknown>, words: Int32Array, readyIndex: number): Worker | null {
    let worker: Worker;
    try {
      worker = new Worker(entryUrl("loop/worker"));
      worker.postMessage(message);
    } catch {
      return null;
    }
    if (!waitFor(words, readyIndex, WORKER_START_MS)) {
      worker.terminate();
      return null;
    }
    return worker;
  }

  private startWatcher(): ChannelWatcher | null {
    const words = new Int32Array(new SharedArrayBuffer(WATCHER_WORDS * 4));
    const worker = this.startWorker({ role: "watcher", words: words.buffer, main: this.words.buffer }, words, Watcher.ready);
    if (!worker) return null;
    this.watcherCount++;
    return { worker, words };
  }

  /** Helper Workers started so far (tests check that watchers are reused). */
  get helperThreads(): number {
    return this.watcherCount + (this.poller ? 1 : 0);
  }

  /** Starts the socket poller without waiting for its thread to come up
   * (~90 ms for a Bun Worker): the loop serves channels meanwhile, and the
   * poller picks up the armed socket set when it is ready. */
  private startPoller(): number {
    const kick = libc.eventfd(0, C.EFD_CLOEXEC | C.EFD_NONBLOCK);
    if (kick < 0) return kick;
    if (nativePollerSupported()) {
      this.pollerPollfds ??= libc.pinnedBytes(Pollfd.size * (Poller.maxFds + 1));
      const at = libc.addr(this.pollerPollfds);
      this.words[Poller.pollfdsLo] = at >>> 0;
      this.words[Poller.pollfdsHi] = Math.floor(at / 2 ** 32);
      this.words[Poller.kickFd] = kick;
      const rc = startNativePoller(ptr(this.words) as number);
      if (rc < 0) {
        libc.close(kick);
        return rc === -C.EAGAIN ? -C.ENOMEM : rc;
      }
      this.kickFd = kick;
      this.poller = "native";
      this.pollerStartedAt = performance.now();
      return 0;
    }
    try {
      this.poller = new Worker(entryUrl("loop/worker"));
    } catch {
      libc.close(kick);
      return -C.ENOMEM;
    }
    this.kickFd = kick;
    this.words[Poller.kickFd] = this.kickFd;
    this.poller.postMessage({ role: "poller", words: this.words.buffer });
    this.pollerStartedAt = performance.now();
    return 0;
  }

  /**
   * Whether the poller thread is up. One that has not come up after
   * POLLER_START_MS (Bun could not start its thread: out of FDs, threads
   * or memory) is given up on, not thrown over: the main thread then polls
   * the sockets itself between short futex waits (`pollerFailed`), slower
   * but serving every connection.
   */
  private pollerReady(): boolean {
    if (this.pollerFailed || Atomics.load(this.words, Poller.ready) !== 0) return true;
    if (performance.now() - this.pollerStartedAt > POLLER_START_MS) {
      this.pollerFailed = true;
      // If it ever starts, it leaves at once.
      Atomics.store(this.words, Poller.stop, 1);
      this.onPollerFailed?.();
      return true;
    }
    return false;
  }

  /** Set by the server to log a poller that never started. */
  onPollerFailed: (() => void) | null = null;
  private pollerFailed = false;

  /** Runs `task` once, the next time the loop has been idle for a while. */
  whenIdle(task: () => void): void {
    this.idleTasks.push(task);
  }

  /** Interrupts a poll in progress (after the socket set changed outside a
   * report, e.g. a new listener). */
  kick(): void {
    if (this.kickFd >= 0) {
      const one = new BigUint64Array([1n]);
      libc.writeFd(this.kickFd, libc.addr(one), 8);
    }
  }

  private arm(): void {
    let i = 0;
    for (const w of this.sockets.values()) {
      this.words[Poller.fds + 2 * i] = w.fd;
      this.words[Poller.fds + 2 * i + 1] = w.events & 0xffff;
      i++;
    }
    this.words[Poller.nfds] = i;
    Atomics.store(this.words, Poller.arm, 1);
    libc.futexWake(this.armAddr, 1, C.FUTEX_PRIVATE_FLAG);
  }

  private buildWaitv(): void {
    let n = 0;
    const v = this.waitvView;
    for (const c of this.channels) {
      if (c.helper) continue;
      const o = n * FutexWaitv.size;
      v.setBigUint64(o + FutexWaitv.val, 0n, true); // sleep while client-active
      v.setBigUint64(o + FutexWaitv.uaddr, BigInt(c.watch.stateAddr), true);
      v.setUint32(o + FutexWaitv.flags, C.FUTEX2_SIZE_U32, true); // shared
      n++;
    }
    const o = n * FutexWaitv.size;
    v.setBigUint64(o + FutexWaitv.val, 0n, true);
    v.setBigUint64(o + FutexWaitv.uaddr, BigInt(this.wakeAddr), true);
    v.setUint32(o + FutexWaitv.flags, C.FUTEX2_SIZE_U32 | C.FUTEX2_PRIVATE, true);
    this.waitvCount = n + 1;
    this.waitvDirty = false;
  }

  // ---- the loop -------------------------------------------------------------

  /** Runs until stop(). Never returns to Bun's own event loop meanwhile. */
  run(): void {
    const waitvAddr = libc.addr(this.waitv);
    while (!this.stopped) {
      if (this.direct) {
        this.pollDirect();
        continue;
      }
      let busy = false;
      if (this.pollerFailed && this.pollSocketsNow()) busy = true;
      if (this.stopped) return;
      // Channels first: they are the fast path.
      for (let i = 0; i < this.channels.length; i++) {
        const c = this.channels[i];
        if (!c.watch.pending()) continue;
        busy = true;
        this.stats.channelWakes++;
        this.countWake();
        c.watch.onReady();
        if (c.helper && this.channels[i] === c) {
          Atomics.store(c.helper.words, Watcher.ack, 1);
          libc.futexWake((ptr(c.helper.words) as number) + Watcher.ack * 4, 1, C.FUTEX_PRIVATE_FLAG);
        }
        if (this.stopped) return;
      }
      if (Atomics.load(this.words, Poller.wake) !== 0) {
        Atomics.store(this.words, Poller.wake, 0);
        // A wake from a channel watcher: rescan the channels before sleeping.
        busy = true;
        if (Atomics.load(this.words, Poller.arm) === 0) {
          this.stats.socketWakes++;
          this.countWake();
          const n = this.words[Poller.nfds];
          for (let i = 0; i < n; i++) {
            const revents = this.words[Poller.fds + 2 * i + 1] >>> 16;
            if (!revents) continue;
            const w = this.sockets.get(this.words[Poller.fds + 2 * i]);
            if (w) w.onReady(revents);
            if (this.stopped) return;
          }
          this.arm();
        }
      }
      if (busy) {
        this.workSinceGc = true;
        continue;
      }
      this.stats.blocks++;
      // After a burst of work, sleep at most IDLE_GC_MS: if nothing comes,
      // collect garbage then, when no request can be waiting on it. Requests
      // leave garbage (decoded messages, dirent views) that would otherwise
      // hold tens of MiB of heap at rest.
      // Also timed until the poller is up, to notice one that never starts.
      const timed = this.workSinceGc || this.idleTasks.length > 0 || !this.pollerReady() || this.pollerFailed;
      // Without a poller, sockets are looked at between short waits.
      const waitMs = this.pollerFailed ? DEGRADED_POLL_MS : IDLE_GC_MS;
      let rc: number;
      if (this.mode === "waitv") {
        if (this.waitvDirty) this.buildWaitv();
        rc = libc.futexWaitv(waitvAddr, this.waitvCount, timed ? this.deadline(waitMs) : 0);
      } else {
        if (timed) {
          setTimespecMs(idleTimeout, waitMs);
        }
        rc = libc.futexWait(this.wakeAddr, 0, C.FUTEX_PRIVATE_FLAG, timed ? idleTimeoutAddr : 0);
      }
      if (timed && rc === -C.ETIMEDOUT && (!this.pollerFailed || this.workSinceGc)) this.idleCollect();
      else if (rc === -C.EINTR && this.onSignal !== null) this.onSignal();
    }
  }

  /** Writes `watches` into the pollfd array (grown as needed), revents 0. */
  private loadPollfds(watches: SocketWatch[]): DataView {
    if (this.pollfds.byteLength < watches.length * Pollfd.size) {
      this.pollfds = libc.pinnedBytes(Pollfd.size * watches.length * 2);
      this.pollfdsView = new DataView(this.pollfds.buffer);
    }
    const v = this.pollfdsView;
    for (let i = 0; i < watches.length; i++) {
      const o = i * Pollfd.size;
      v.setInt32(o + Pollfd.fd, watches[i].fd, true);
      v.setInt16(o + Pollfd.events, watches[i].events, true);
      v.setInt16(o + Pollfd.revents, 0, true);
    }
    return v;
  }

  /** Without a poller thread: one poll(2) of every socket, no waiting, and
   * the ready ones served. True if any was. */
  private pollSocketsNow(): boolean {
    const watches = [...this.sockets.values()];
    const v = this.loadPollfds(watches);
    const rc = libc.poll(libc.addr(this.pollfds), watches.length, 0);
    if (rc <= 0) return false;
    this.stats.socketWakes++;
    for (let i = 0; i < watches.length; i++) {
      const revents = v.getUint16(i * Pollfd.size + Pollfd.revents, true);
      if (!revents || this.sockets.get(watches[i].fd) !== watches[i]) continue;
      watches[i].onReady(revents);
      if (this.stopped) break;
    }
    return true;
  }

  /** One round of the direct mode: poll(2) on every socket, then serve the
   * ready ones. Sleeps without a timeout unless garbage or idle tasks wait. */
  private pollDirect(): void {
    // The same array every round until the socket set changes: one request
    // per round is the common case, and the loop should leave no garbage.
    const watches = (this.pollOrder ??= [...this.sockets.values()]);
    const v = this.loadPollfds(watches);
    this.stats.blocks++;
    const timed = this.workSinceGc || this.idleTasks.length > 0;
    const rc = libc.poll(libc.addr(this.pollfds), watches.length, timed ? IDLE_GC_MS : -1);
    if (rc === 0) {
      this.idleCollect();
      return;
    }
    if (rc < 0) {
      if (rc === -C.EINTR && this.onSignal !== null) this.onSignal();
      return;
    }
    this.stats.socketWakes++;
    this.workSinceGc = true;
    this.countWake();
    for (let i = 0; i < watches.length; i++) {
      const revents = v.getUint16(i * Pollfd.size + Pollfd.revents, true);
      // A handler may have closed (and the kernel reused) a later FD.
      if (!revents || this.sockets.get(watches[i].fd) !== watches[i]) continue;
      watches[i].onReady(revents);
      if (this.stopped || !this.direct) return;
    }
  }

  /** The loop sat idle for IDLE_GC_MS after work: run the idle tasks and one
   * full collection, when no request can be waiting on it. */
  private idleCollect(): void {
    this.workSinceGc = false;
    this.stats.idleCollections++;
    // A signal that went to another thread did not interrupt our wait.
    if (this.onSignal !== null) this.onSignal();
    for (const task of this.idleTasks.splice(0)) task();
    Bun.gc(true);
  }

  /** Asks for a young-generation collection every WAKES_PER_GC wakes
   * (asynchronous: JSC's collector thread does the marking). */
  private countWake(): void {
    if (++this.wakesSinceGc < WAKES_PER_GC) return;
    this.wakesSinceGc = 0;
    this.stats.busyCollections++;
    Bun.gc(false);
  }

  /** An absolute CLOCK_MONOTONIC deadline `ms` from now, for futex_waitv.
   * A timed wait comes before nearly every sleep while requests flow, so
   * the kernel's clock is read at most once a second and performance.now()
   * (Bun's, through the vDSO) carries it in between: libc's clock_gettime
   * would cost a bound trampoline (~0.4 MiB of anonymous memory, ~0.4 ms),
   * the system call ~1 µs a wait. Whatever either clock does, a deadline
   * lies `ms` to `ms` + 1 s after the last reading. */
  private deadline(ms: number): number {
    const now = performance.now();
    let since = now - this.clockReadAt;
    if (!(since >= 0 && since < CLOCK_REREAD_MS)) {
      libc.clockGettime(C.CLOCK_MONOTONIC, idleTimeoutAddr);
      this.clockMs = getTimespecMs(idleTimeout);
      this.clockReadAt = now;
      since = 0;
    }
    setTimespecMs(idleTimeout, this.clockMs + since + ms);
    return idleTimeoutAddr;
  }

  /** Stops the helpers (at exit). */
  shutdown(): void {
    Atomics.store(this.words, Poller.stop, 1);
    Atomics.store(this.words, Poller.arm, 1);
    libc.futexWake(this.armAddr, 1, C.FUTEX_PRIVATE_FLAG);
    this.kick();
    for (const c of [...this.channels]) this.removeChannel(c.watch);
    for (const h of this.idleWatchers) {
      Atomics.store(h.words, Watcher.quit, 1);
      Atomics.store(h.words, Watcher.assigned, 1);
      libc.futexWake((ptr(h.words) as number) + Watcher.assigned * 4, 1, C.FUTEX_PRIVATE_FLAG);
    }
    this.idleWatchers = [];
  }
}
