// Type-level tests of the requests typed from the layout tables, for both
// protocols. Nothing here runs: `tsc --noEmit -p .` checks it (tsconfig
// includes tests/; scripts/test.sh's type-check step). Each
// `@ts-expect-error` marks a line that must not type-check: a misspelled
// request field, a handler registered under another message, a 64-bit field
// read as the wrong type. Should that error go away (a request typed `any`
// again, a handler table that takes any handler), tsc fails on the unused
// directive, and so does the test run.
import type { MessageHandlers as LisafsHandlers, Handler as LisafsHandler } from "../src/lisafs/handlers";
import type { Request as LisafsRequest } from "../src/lisafs/message";
import type { MessageHandlers as P9Handlers, Handler as P9Handler } from "../src/p9/handlers";
import type { Request as P9Request, Response as P9Response } from "../src/p9/message";

// ---- lisafs --------------------------------------------------------------------

export function lisafsFields(pread: LisafsRequest<"PRead">, setStat: LisafsRequest<"SetStat">, walk: LisafsRequest<"Walk">): void {
  const offset: number = pread.offset;
  const fd: number = pread.fd;
  const path: string[] = walk.path;
  const size: bigint = setStat.size;
  // @ts-expect-error: PReadReq has no field "ofset"
  pread.ofset;
  // @ts-expect-error: nor has WalkReq a "dirFD" (it is dirFd)
  walk.dirFD;
  // @ts-expect-error: an offset is a number, never a bigint (no `any` either)
  const asBig: bigint = pread.offset;
  // @ts-expect-error: SetStat's size is a bigint, never a number
  const asNumber: number = setStat.size;
  void [offset, fd, path, size, asBig, asNumber];
}

declare const fstat: LisafsHandler<"FStat">;
declare const pread: LisafsHandler<"PRead">;

export const lisafsTable: LisafsHandlers = {
  FStat: fstat,
  PRead: pread,
  // @ts-expect-error: a PRead handler registered for PWrite
  PWrite: pread,
  // @ts-expect-error: FStatFS's request has FStat's one field, but it is another message
  FStatFS: fstat,
  // @ts-expect-error: a handler reading a field its message lacks
  Close: (_c, _comm, req) => req.fd,
};

// ---- 9P ------------------------------------------------------------------------

export function p9Fields(read: P9Request<"read">, walk: P9Request<"walk">, getattr: P9Response<"getattr">): void {
  const offset: number = read.offset;
  const names: string[] = walk.names;
  const path: bigint = getattr.qid.path;
  // @ts-expect-error: Tread has no field "fd" (it is fid)
  read.fd;
  // @ts-expect-error: nor has Twalk a "newfid" (it is newFid)
  walk.newfid;
  // @ts-expect-error: an offset is a number, never a bigint (no `any` either)
  const asBig: bigint = read.offset;
  void [offset, names, path, asBig];
}

declare const clunk: P9Handler<"clunk">;
declare const read: P9Handler<"read">;

export const p9Table: P9Handlers = {
  clunk,
  read,
  // @ts-expect-error: a Tread handler registered for Twrite
  write: read,
  // @ts-expect-error: Tremove's request has Tclunk's one field, but it is another message
  remove: clunk,
  // @ts-expect-error: a handler reading a field its message lacks
  flush: (_c, _comm, req) => req.fid,
};
