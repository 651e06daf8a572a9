// The commands of `gofer client`: each connects (connect.ts), mounts with the
// chosen protocol (remote-lisafs.ts, remote-p9.ts), does its work through
// the Remote interface and prints in coreutils' formats (format.ts). A
// failure prints `gofer client: PATH: strerror` and the command exits 1.
import * as fs from "node:fs";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { type Connection, type Target, connectTarget, describeTarget, parseTarget } from "./connect";
import { strerror } from "./errno";
import { type LongEntry, Names, benchTable, dfText, isDir, isRegular, isSymlink, longLines, statText, totalLine } from "./format";
import { type Remote, type RemoteStat, errnoOf } from "./remote";
import { LisafsRemote } from "./remote-lisafs";
import { P9Remote } from "./remote-p9";
import { TransportError, waitFd } from "./transport";

export type ProtocolName = "lisafs" | "9p" | "9p-google";

/** The options of `gofer client` itself (before the command's own). */
export interface ClientOptions {
  server?: string;
  spawn?: string;
  protocol?: ProtocolName;
  channels: boolean;
  aname: string;
  msize: number;
  goferFlag: string[];
}

/** A usage mistake commander cannot see (exit 2). */
export class ClientUsageError extends Error {}

/** A failure to report as `gofer client: SUBJECT: MESSAGE` (exit 1). */
class Failure extends Error {
  constructor(
    readonly subject: string,
    message: string,
  ) {
    super(message);
  }
}

// ---- output ------------------------------------------------------------------------

const STDOUT = 1;
const STDERR = 2;

/** Writes all of `bytes` to fd, waiting out a non-blocking pipe. */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.byteLength; ) {
    try {
      off += fs.writeSync(fd, bytes, off, bytes.byteLength - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // The reader went away (`| head`): stop quietly, with the status a
      // shell shows for a process that SIGPIPE ended.
      if (code === "EPIPE") process.exit(128 + 13);
      if (code !== "EAGAIN") throw e;
      waitFd(fd, C.POLLOUT, 60_000);
    }
  }
}
/** Text made of byte strings (names as the server has them): their bytes. */
const out = (text: string) => writeAll(STDOUT, Buffer.from(text, "latin1"));
const complain = (subject: string, message: string) => writeAll(STDERR, Buffer.from(`gofer client: ${subject}: ${message}\n`, "latin1"));

/** Reads stdin in chunks; null at its end. */
function stdinSource(): () => Uint8Array | null {
  const buf = new Uint8Array(256 * 1024);
  return () => {
    for (;;) {
      try {
        const n = fs.readSync(0, buf, 0, buf.byteLength, null);
        return n === 0 ? null : buf.subarray(0, n);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
        waitFd(0, C.POLLIN, 60_000);
      }
    }
  };
}

// ---- paths ---------------------------------------------------------------------------

/** "a/b/c", "/a/b/" or "." to the names below the mount root, as bytes. */
export function splitPath(p: string): string[] {
  return p.split("/").filter((n) => n !== "" && n !== ".");
}

/** ls's way of naming an entry of a listed directory. */
const joinShown = (dir: string, name: string) => (dir.endsWith("/") ? dir + name : `${dir}/${name}`);

/** Runs fn; an errno failure becomes a Failure about `subject`. */
function about<R>(subject: string, fn: () => R): R {
  try {
    return fn();
  } catch (e) {
    const errno = errnoOf(e);
    if (errno !== null) throw new Failure(subject, strerror(errno));
    throw e;
  }
}

const umask = (): number => process.umask();

// ---- the session ---------------------------------------------------------------------

export interface Session {
  remote: Remote;
  target: string;
  aname: string;
}

function open(o: ClientOptions): { s: Session; conn: Connection } {
  if ((o.server === undefined) === (o.spawn === undefined))
    throw new ClientUsageError("give the server to talk to: --server PATH|tcp:HOST:PORT|fd:N, or --spawn DIR to start a gofer serving DIR");
  let target: Target;
  try {
    target = o.spawn !== undefined ? { kind: "spawn", dir: o.spawn } : parseTarget(o.server ?? "");
  } catch (e) {
    throw new ClientUsageError((e as Error).message);
  }
  const name = describeTarget(target);
  const protocol = o.protocol ?? (target.kind === "tcp" ? "9p" : "lisafs");
  const conn = connectTarget(target, o.goferFlag);
  // A --spawn that cannot start is about the directory, as given.
  if (typeof conn === "number") throw new Failure(target.kind === "spawn" ? target.dir : name, strerror(-conn));
  // Channels need FDs passed; TCP cannot.
  const channels = o.channels && conn.unix;
  try {
    const remote =
      protocol === "lisafs"
        ? new LisafsRemote(conn.fd, channels)
        : new P9Remote(conn.fd, { google: protocol === "9p-google", channels, msize: o.msize, aname: o.aname });
    return { s: { remote, target: name, aname: o.aname }, conn };
  } catch (e) {
    libc.close(conn.fd);
    const errno = errnoOf(e);
    if (errno !== null) throw new Failure(name, `${protocol === "lisafs" ? "Mount" : "Tattach"} failed: ${strerror(errno)}`);
    if (e instanceof TransportError) throw new Failure(name, e.message);
    throw e;
  }
}

/**
 * Runs one command against the server `o` names; returns the exit code.
 * Usage mistakes throw ClientUsageError.
 */
export function runClient(o: ClientOptions, command: (s: Session) => number): number {
  let session: { s: Session; conn: Connection } | null = null;
  try {
    session = open(o);
    return command(session.s);
  } catch (e) {
    if (e instanceof Failure) {
      complain(e.subject, e.message);
      return 1;
    }
    // The connection failed, or the server answered something that is not
    // the protocol (the clients throw Error for a malformed reply): one line
    // naming the server, not a stack trace.
    if (e instanceof Error && session !== null) {
      complain(session.s.target, e.message);
      return 1;
    }
    throw e;
  } finally {
    try {
      session?.s.remote.close();
    } catch {}
  }
}

// ---- commands ----------------------------------------------------------------------

export interface LsOptions {
  long: boolean;
  recursive: boolean;
  almostAll: boolean;
}

function entryOf(s: Session, shown: string, path: string[], st: RemoteStat): LongEntry {
  return { name: shown, st, target: isSymlink(st.mode) ? about(shown, () => s.remote.readlink(path)) : undefined };
}

export function ls(s: Session, arg: string, o: LsOptions): number {
  const names = new Names();
  const now = Date.now();
  const path = splitPath(arg);
  const st = about(arg, () => s.remote.stat(path));
  if (!isDir(st.mode)) {
    out(o.long ? `${longLines([entryOf(s, arg, path, st)], names, now)[0]}\n` : `${arg}\n`);
    return 0;
  }
  let status = 0;
  const listDir = (shown: string, dir: string[], first: boolean) => {
    let all: string[];
    try {
      all = about(shown, () => s.remote.list(dir));
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      complain(e.subject, e.message);
      status = 1;
      return;
    }
    // Byte order, as ls in the C locale.
    const shownNames = all.filter((n) => o.almostAll || !n.startsWith(".")).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let text = o.recursive ? `${first ? "" : "\n"}${shown}:\n` : "";
    const entries = o.long || o.recursive ? shownNames.map((n) => entryOf(s, n, [...dir, n], about(joinShown(shown, n), () => s.remote.stat([...dir, n])))) : [];
    if (o.long) {
      text += `${totalLine(entries)}\n`;
      for (const l of longLines(entries, names, now)) text += `${l}\n`;
    } else for (const n of shownNames) text += `${n}\n`;
    out(text);
    if (o.recursive) for (const e of entries) if (isDir(e.st.mode)) listDir(joinShown(shown, e.name), [...dir, e.name], false);
  };
  listDir(arg, path, true);
  return status;
}

export function stat(s: Session, arg: string): number {
  const path = splitPath(arg);
  const st = about(arg, () => s.remote.stat(path));
  const target = isSymlink(st.mode) ? about(arg, () => s.remote.readlink(path)) : undefined;
  out(statText(arg, st, new Names(), target));
  return 0;
}

export function cat(s: Session, arg: string): number {
  about(arg, () => s.remote.read(splitPath(arg), (b) => writeAll(STDOUT, b)));
  return 0;
}

export function put(s: Session, arg: string): number {
  about(arg, () => s.remote.write(splitPath(arg), stdinSource(), 0o666 & ~umask()));
  return 0;
}

export function mkdir(s: Session, arg: string): number {
  about(arg, () => s.remote.mkdir(splitPath(arg), 0o777 & ~umask()));
  return 0;
}

export function rm(s: Session, arg: string): number {
  about(arg, () => s.remote.remove(splitPath(arg)));
  return 0;
}

export function mv(s: Session, from: string, to: string): number {
  // The source's own failures name it; the rename's name the destination.
  about(from, () => s.remote.stat(splitPath(from)));
  about(to, () => s.remote.rename(splitPath(from), splitPath(to)));
  return 0;
}

export function df(s: Session): number {
  const fsStat = about(s.target, () => s.remote.statfs());
  out(dfText(s.target, s.aname === "" ? "/" : s.aname, fsStat));
  return 0;
}

export function xattr(s: Session, arg: string, name?: string, value?: string): number {
  const path = splitPath(arg);
  if (name === undefined) {
    for (const n of about(arg, () => s.remote.xattrList(path))) out(`${n}\n`);
  } else if (value === undefined) {
    writeAll(STDOUT, about(arg, () => s.remote.xattrGet(path, name)));
  } else {
    about(arg, () => s.remote.xattrSet(path, name, Buffer.from(value, "latin1")));
  }
  return 0;
}

const ms = (v: number) => v.toFixed(3);

export function ping(s: Session, count: number): number {
  const times: number[] = [];
  out(`${s.target}: ${s.remote.description}\nmount: ${ms(s.remote.mountMs)} ms\n`);
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    about(s.target, () => s.remote.ping());
    times.push(performance.now() - t0);
    out(`round trip${count > 1 ? ` ${i + 1}` : ""}: ${ms(times[i])} ms\n`);
  }
  if (count > 1) {
    const avg = times.reduce((a, b) => a + b, 0) / count;
    out(`round trips: min/avg/max = ${ms(Math.min(...times))}/${ms(avg)}/${ms(Math.max(...times))} ms\n`);
  }
  return 0;
}

/** A regular file at the root to time against when bench is given none. */
function firstFile(s: Session): string | null {
  for (const n of about(s.target, () => s.remote.list([])).sort()) {
    const st = s.remote.stat([n]);
    if (isRegular(st.mode)) return n;
  }
  return null;
}

const WARMUP = 20;

export function bench(s: Session, arg: string | undefined, n: number): number {
  const file = arg ?? firstFile(s);
  if (file === null) throw new Failure(s.target, "no regular file at the root to time against; name one: bench PATH");
  const path = splitPath(file);
  const st = about(file, () => s.remote.stat(path));
  if (!isRegular(st.mode)) throw new Failure(file, strerror(isDir(st.mode) ? C.EISDIR : C.EINVAL));
  const rows = about(file, () =>
    s.remote.benchOps(path).map((op) => {
      const samples: number[] = [];
      for (let i = 0; i < WARMUP + n; i++) {
        const t0 = performance.now();
        op.run();
        const dt = performance.now() - t0;
        op.after?.();
        if (i >= WARMUP) samples.push(dt * 1000);
      }
      op.done();
      return { op: op.name, samplesUs: samples };
    }),
  );
  out(`${s.target}: ${s.remote.description}; ${n} round trips each on ${file}\n${benchTable(rows)}`);
  return 0;
}
