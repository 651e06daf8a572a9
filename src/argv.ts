// The command line as bytes. Linux hands a process its arguments as byte
// strings; process.argv has them decoded as UTF-8, so a path that is not
// valid UTF-8 has already lost bytes there (each bad byte becomes U+FFFD).
// /proc/self/cmdline has the bytes themselves. Paths stay byte strings (one
// char per byte, src/ffi/bytestring.ts) from here to the syscall.
import { byteString } from "./ffi/bytestring";
import { readFile } from "./host/hostpath";

/** Text (UTF-16) to the byte string of its UTF-8 encoding. */
export function utf8ToBytes(s: string): string {
  return Buffer.from(s, "utf8").toString("latin1");
}

/** A byte string as text, for messages (bytes that are not UTF-8 show as U+FFFD). */
export function bytesToText(s: string): string {
  return Buffer.from(s, "latin1").toString("utf8");
}

/**
 * The arguments after the program (process.argv.slice(2)) as byte strings.
 * They are the last entries of /proc/self/cmdline (Bun may have put its own
 * before them); each must decode to the process.argv entry it stands for,
 * or the whole list falls back to process.argv's, UTF-8 encoded.
 */
export function rawArgs(): string[] {
  const decoded = process.argv.slice(2);
  const fallback = () => decoded.map(utf8ToBytes);
  // Through libc, not node:fs: loading node:fs costs a gofer ~1.6 MiB
  // (docs/benchmarks-runsc.md).
  const raw = readFile("/proc/self/cmdline");
  if (typeof raw === "number") return fallback();
  const all: string[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0) {
      all.push(byteString(raw, start, i));
      start = i + 1;
    }
  }
  if (start < raw.length) all.push(byteString(raw, start, raw.length));
  if (all.length < decoded.length) return fallback();
  const args = all.slice(all.length - decoded.length);
  for (let i = 0; i < args.length; i++) if (bytesToText(args[i]) !== decoded[i]) return fallback();
  return args;
}
