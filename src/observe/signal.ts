// SIGUSR1 -> one log record of the metrics. JS cannot run in a signal
// handler, and the main thread never returns to Bun's event loop (where a
// process.on("SIGUSR1") listener would run), so the handler is four
// instructions that set a flag word; the signal also interrupts the loop's
// wait (no SA_RESTART: poll and futex_waitv return EINTR), and the loop's
// onSignal hook reads the flag and writes the record on the main thread.
import { toArrayBuffer } from "bun:ffi";
import { mapCode } from "../ffi/machinecode";
import * as libc from "../ffi/libc";
import { Sigaction } from "../ffi/layout";

export const SIGUSR1 = 10;

// void handler(int): store 1 in the word one page after the code's start.
const HANDLER: Partial<Record<string, Uint8Array>> = {
  // mov dword [rip + 4086], 1 (4096 from the code's start less this
  // 10-byte instruction); ret
  x64: Uint8Array.from([0xc7, 0x05, 0xf6, 0x0f, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xc3]),
  // adr x1, #4096; movz w2, #1; str w2, [x1]; ret (not run on arm64 here yet)
  arm64: Uint8Array.from([0x01, 0x80, 0x00, 0x10, 0x22, 0x00, 0x80, 0x52, 0x22, 0x00, 0x00, 0xb9, 0xc0, 0x03, 0x5f, 0xd6]),
};

/** A flag set by the signal's handler: take() reads and clears it. */
export interface SignalFlag {
  take(): boolean;
}

/** Installs the flag-setting handler for `sig`; -errno if it cannot. */
export function catchSignal(sig: number): SignalFlag | number {
  const code = HANDLER[process.arch];
  if (!code) return -38; // ENOSYS: no handler for this architecture
  const base = mapCode(code, 4096);
  if (base < 0) return base;
  const word = new Int32Array(toArrayBuffer(base + 4096, 0, 4));
  const act = libc.pinnedBytes(Sigaction.size);
  new DataView(act.buffer, act.byteOffset).setBigUint64(Sigaction.handler, BigInt(base), true);
  // sa_mask empty, sa_flags 0: no SA_RESTART, so the loop's wait returns EINTR.
  const rc = libc.sigaction(sig, libc.addr(act), 0);
  if (rc < 0) return rc;
  return {
    take() {
      if (Atomics.load(word, 0) === 0) return false;
      Atomics.store(word, 0, 0);
      return true;
    },
  };
}
