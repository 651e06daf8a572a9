// Layout of the SharedArrayBuffer words the main thread and its helper
// Workers use to hand off readiness. Declared once for both sides.

/** Poller block (Int32 indices). */
export const Poller = {
  /** Main thread sleeps on this word; helpers set it to 1 and wake it. */
  wake: 0,
  /** 1 while the poller may poll; the poller clears it when it reports. */
  arm: 1,
  nfds: 2,
  stop: 3,
  ready: 4,
  /** eventfd the main thread writes to interrupt a poll in progress. */
  kickFd: 5,
  /** The native poller's pollfd array (native-poller.ts): its address, low and high halves. */
  pollfdsLo: 6,
  pollfdsHi: 7,
  /** First (fd, events | revents << 16) pair. */
  fds: 16,
  maxFds: 8192,
} as const;
export const POLLER_WORDS = Poller.fds + 2 * Poller.maxFds;

/** Per-watcher block (fallback path without futex_waitv). A watcher outlives
 * the channel it watches: released, it waits for the next one (see loop.ts). */
export const Watcher = {
  ack: 0,
  /** The main thread asks the watcher to let go of its channel. */
  stop: 1,
  ready: 2,
  /** 1 once the watcher no longer touches the channel's memory. */
  released: 3,
  /** 1 while a channel is assigned; the watcher sleeps on it while 0. */
  assigned: 4,
  /** The channel's state word address, as two 32-bit halves. */
  addrLo: 5,
  addrHi: 6,
  /** The process is ending: leave for good. */
  quit: 7,
} as const;
export const WATCHER_WORDS = 8;
