// A mounted connection over a chosen transport, and per-test scratch
// directories inside the served tree.
import { afterAll, beforeAll } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Client, Inode, MountReply } from "./client";
import { Gofer, type Fixture, type GoferOptions } from "./fixture";

export type TransportName = "socket" | "channel";
export const TRANSPORTS: TransportName[] = ["socket", "channel"];

export interface Session {
  g: Gofer;
  c: Client;
  root: Inode;
  mounted: MountReply;
  transport: TransportName;
}

/** Starts a gofer, mounts, and (for "channel") routes calls over a channel. */
export function openSession(fx: Fixture, transport: TransportName, o: GoferOptions = {}): Session {
  const g = Gofer.start(fx, o);
  const c = g.client;
  let mounted: MountReply;
  try {
    mounted = c.mount();
  } catch (e) {
    throw new Error(`Mount failed (${e}); gofer log:\n${g.log()}`);
  }
  if (transport === "channel") c.channel();
  return { g, c, root: mounted.root, mounted, transport };
}

/** beforeAll/afterAll around one session; the returned object is filled in
 * when the tests run. */
export function useSession(fx: Fixture, transport: TransportName, o: GoferOptions = {}): Session {
  const s = {} as Session;
  beforeAll(() => {
    Object.assign(s, openSession(fx, transport, o));
  });
  afterAll(async () => {
    if (s.g) await s.g.stop();
  });
  return s;
}

let scratchSeq = 0;

/** A fresh host directory below mount/ (made by the test, on the host), and
 * its control FD walked from the session root. */
export function scratch(fx: Fixture, s: Session, name?: string): { host: string; id: number; rel: string } {
  const rel = name ?? `t${++scratchSeq}-${s.transport}`;
  const host = path.join(fx.mount, rel);
  fs.mkdirSync(host, { recursive: true });
  const id = s.c.walkTo(s.root.id, rel).id;
  return { host, id, rel };
}
