// Byte strings: names and paths travel as bytes that need not be UTF-8, so
// they are held as strings of one char per byte (latin1), which round-trip
// exactly. libc.cstr writes one back as bytes.

// Buffer's latin1 decoder works on any Uint8Array: no view per string.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (start: number, end: number) => string }).latin1Slice;

/** Bytes [start, end) of `buf` as a byte string. */
export function byteString(buf: Uint8Array, start: number, end: number): string {
  return latin1Slice.call(buf, start, end);
}
