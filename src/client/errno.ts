// An errno as the words a person knows: libc's strerror(3), the same text
// ls, cat and stat print for it.
import { dlopen, FFIType } from "bun:ffi";

type Strerror = (errno: number) => unknown;
let bound: Strerror | null = null;

export function strerror(errno: number): string {
  // Bound on first use: a gofer that never reports an error never pays for it.
  bound ??= dlopen("libc.so.6", { strerror: { args: [FFIType.i32], returns: FFIType.cstring } }).symbols.strerror as Strerror;
  return String(bound(errno));
}
