// What `gofer client`'s commands need from a file server, whatever the
// protocol: path-level operations on a mounted tree. lisafs (remote-lisafs.ts)
// and 9P2000.L (remote-p9.ts) implement it on their protocol clients.
//
// A path is a list of names from the mount root, each a byte string (one
// char per byte, src/ffi/bytestring.ts): the bytes the server gets, exactly.
// Failures are RemoteError, LisafsError or P9Error, each carrying an errno.
import { LisafsError } from "./lisafs";
import { P9Error } from "./p9";

export interface Timestamp {
  sec: bigint;
  nsec: number;
}

/** A file's attributes, as ls and stat show them. */
export interface RemoteStat {
  mode: number;
  nlink: bigint;
  uid: number;
  gid: number;
  size: bigint;
  blocks: bigint;
  blksize: number;
  ino: bigint;
  /** The host device, when the protocol tells it (lisafs; 9P does not). */
  dev?: { major: number; minor: number };
  rdev: { major: number; minor: number };
  atime: Timestamp;
  mtime: Timestamp;
  ctime: Timestamp;
  /** Birth time, when the server knows it. */
  btime?: Timestamp;
}

export interface RemoteStatFS {
  type: bigint;
  bsize: bigint;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  namelen: bigint;
}

/** One timed operation of `bench`: `run` is one round trip, timed; `after`
 * (untimed) cleans up after each run, `done` after the last. */
export interface BenchOp {
  name: string;
  run: () => void;
  after?: () => void;
  done: () => void;
}

export interface Remote {
  /** What was negotiated, for ping: e.g. "lisafs over a flipcall channel". */
  readonly description: string;
  /** Milliseconds the Mount (lisafs) or Tversion + Tattach (9P) took. */
  readonly mountMs: number;
  /** One round trip that touches no file (a stat of the root). */
  ping(): void;
  stat(path: string[]): RemoteStat;
  /** Names in a directory, "." and ".." left out, in the server's order. */
  list(path: string[]): string[];
  readlink(path: string[]): string;
  /** Streams a regular file's bytes to `sink`. */
  read(path: string[], sink: (chunk: Uint8Array) => void): void;
  /** Creates or truncates a regular file and writes what `source` gives
   * until it returns null. Returns the bytes written. */
  write(path: string[], source: () => Uint8Array | null, mode: number): bigint;
  mkdir(path: string[], mode: number): void;
  /** Removes a file or an empty directory. */
  remove(path: string[]): void;
  rename(from: string[], to: string[]): void;
  statfs(): RemoteStatFS;
  xattrList(path: string[]): string[];
  xattrGet(path: string[], name: string): Uint8Array;
  xattrSet(path: string[], name: string, value: Uint8Array): void;
  /** The operations `bench` times against the regular file at `path`. */
  benchOps(path: string[]): BenchOp[];
  close(): void;
}

/** A failure the server reported (or one the client found, like a path
 * that does not exist), as an errno. */
export class RemoteError extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

/** The errno carried by an error of either protocol client, or null. */
export function errnoOf(e: unknown): number | null {
  if (e instanceof RemoteError) return e.errno;
  if (e instanceof LisafsError || e instanceof P9Error) return e.errno;
  return null;
}

/** Converts a protocol's u64 field (number or bigint) to a bigint. */
export const big = (v: number | bigint): bigint => (typeof v === "bigint" ? v : BigInt(v));

/** The parent of a path and the last name; a path must name something
 * below the root for this (the root has no parent). */
export function splitLast(path: string[], errno: number): { dir: string[]; name: string } {
  if (path.length === 0) throw new RemoteError(errno);
  return { dir: path.slice(0, -1), name: path[path.length - 1] };
}
