// JSC's top compiler tier, FTL, kept off the gofer's serving code.
//
// A request path is a few short calls into the kernel: JSC's DFG tier
// compiles it well, and FTL added memory and compile time but no speed.
// With FTL off for the whole process (`BUN_JSC_useFTLJIT=0`, which only the
// environment at Bun's start can set), a full pinned run of the lisafs
// benchmark held 14.10 MiB after its workload where the same build with FTL
// held 17.66 (the reference: 6.9), its latency rows within noise; FTL had
// compiled ~35 of our functions, some twice, in 1-50 ms of a compiler
// thread each. A gofer does not choose its environment, but bun:jsc's
// noFTL marks one function never to be compiled by FTL, so we mark the
// serving path: its classes (every method up their prototype chains), the
// handler tables, and the module functions a request runs, named here. A
// module-private helper cannot be named and stays eligible (they are small).
// Enumerating every module's exports and property descriptors instead cost
// 0.45-0.5 MiB at start, where naming costs ~0.2 (docs/benchmarks-runsc.md).
import { noFTL } from "bun:jsc";
import { byteString } from "./ffi/bytestring";
import { setTimespecMs, setU64 } from "./ffi/layout";
import * as libc from "./ffi/libc";
import { closeAll, closeReceivedFds, DonatedFds, Outbox, sendWithFds, setupMsg } from "./ffi/scm";
import { PacketWindowAllocator, ServerEndpoint } from "./flipcall/flipcall";
import { HostFile } from "./host/file";
import { checkName, tryOpenAt } from "./host/lookup";
import { Mount, MountRoot } from "./host/mount";
import { Node } from "./host/node";
import { OpenFile } from "./host/open-file";
import { isSupportedType } from "./host/policy";
import { StatBuffer, statFd } from "./host/stat";
import { Channel as LisafsChannel } from "./lisafs/channel";
import { BoundSocketFD, Connection as LisafsConnection, ControlFD, OpenFD } from "./lisafs/connection";
import { handlers as lisafsHandlers } from "./lisafs/handlers";
import { requestDecoder } from "./lisafs/message";
import { Sock as LisafsSock } from "./lisafs/sock";
import { EventLoop } from "./loop/loop";

type Fn = (...args: never[]) => unknown;
/** A class, whatever its constructor's visibility. */
type Class = { readonly prototype: object };

/**
 * Marks never-FTL the functions in `fns`, and for each class in `classes`
 * its static members and every method and accessor up its prototype chain.
 * Returns how many it marked. It reads no function's own properties but a
 * class's: a plain function's `prototype`, `name` and `length` are made on
 * first access.
 */
export function keepOffFTL(classes: readonly Class[], fns: readonly unknown[]): number {
  let marked = 0;
  const mark = (f: unknown): void => {
    if (typeof f !== "function") return;
    noFTL(f as Fn);
    marked++;
  };
  const methods = (o: object): void => {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === "prototype" || key === "constructor" || key === "length" || key === "name") continue;
      const get = (o as { __lookupGetter__(k: string): unknown }).__lookupGetter__(key);
      const set = (o as { __lookupSetter__(k: string): unknown }).__lookupSetter__(key);
      if (get === undefined && set === undefined) mark((o as Record<string, unknown>)[key]);
      mark(get);
      mark(set);
    }
  };
  const seen = new Set<object>();
  for (const cls of classes) {
    mark(cls);
    methods(cls);
    for (let p: object | null = cls.prototype; p !== null && p !== Object.prototype && !seen.has(p); p = Object.getPrototypeOf(p)) {
      seen.add(p);
      methods(p);
    }
  }
  fns.forEach(mark);
  return marked;
}

let servingMarked = false;
/** keepOffFTL over the serving path (both protocols' shared parts and
 * lisafs), once per process. */
export function keepServingCodeOffFTL(): number {
  if (servingMarked) return 0;
  servingMarked = true;
  const classes: Class[] = [
    EventLoop, LisafsConnection, LisafsChannel, LisafsSock, ControlFD, OpenFD, BoundSocketFD, ServerEndpoint,
    PacketWindowAllocator, HostFile, Node, OpenFile, StatBuffer, Mount, MountRoot, DonatedFds, Outbox,
  ];
  return keepOffFTL(classes, [
    ...lisafsHandlers, libc.cstr, libc.openat, libc.statx, libc.statxAddr, libc.recvmsg, libc.sendmsg, libc.futexWaitv,
    libc.futexWake, libc.close, libc.pread, libc.pwrite, setU64, setTimespecMs, setupMsg, sendWithFds, closeAll,
    closeReceivedFds, statFd, checkName, tryOpenAt, isSupportedType, requestDecoder, byteString,
  ]);
}

/** keepOffFTL over 9P's own classes and handlers (on its first connection). */
export function keepP9OffFTL(): number {
  const p9 = {
    channel: require("./p9/channel") as typeof import("./p9/channel"),
    connection: require("./p9/connection") as typeof import("./p9/connection"),
    handlers: require("./p9/handlers") as typeof import("./p9/handlers"),
    message: require("./p9/message") as typeof import("./p9/message"),
    sock: require("./p9/sock") as typeof import("./p9/sock"),
  };
  const classes: Class[] = [p9.channel.Channel, p9.connection.Connection, p9.connection.Fid, p9.sock.Sock];
  return keepOffFTL(classes, [...p9.handlers.handlers, p9.message.decode]);
}
