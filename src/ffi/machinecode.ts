// Machine code we run on threads JS must not run on (a signal handler on
// every thread, a poller thread): written to an anonymous page while
// writable, then made read+execute, never writable and executable at once.
import { toArrayBuffer } from "bun:ffi";
import * as C from "./constants";
import * as libc from "./libc";

const PAGE = 4096;

/** Maps `code` executable, followed by `dataBytes` of zeroed read/write
 * memory (rounded up to pages). Returns the code's address or -errno. Never
 * unmapped: a thread may still be running it. */
export function mapCode(code: Uint8Array, dataBytes = 0): number {
  const codeLen = Math.ceil(code.length / PAGE) * PAGE;
  const len = codeLen + Math.ceil(dataBytes / PAGE) * PAGE;
  const base = libc.mmap(len, C.PROT_READ | C.PROT_WRITE, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
  if (base < 0) return base;
  new Uint8Array(toArrayBuffer(base, 0, codeLen)).set(code);
  const rc = libc.syscall(C.SYS_mprotect, base, codeLen, C.PROT_READ | 4 /* PROT_EXEC */);
  if (rc < 0) return rc;
  return base;
}
