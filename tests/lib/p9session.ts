// The 9P side of session.ts: an attached connection on a gofer of its own,
// fids for the tests to bind, and per-test scratch directories inside the
// served tree.
import { afterAll, beforeAll, expect } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { OpenFlags } from "../../src/p9/message";
import type { Fixture, Gofer, GoferOptions } from "./fixture";
import { type P9Client, session, startP9 } from "./p9client";

export const GOOGLE = "9P2000.L.Google.13";
export const RDONLY = OpenFlags.ReadOnly;
export const WRONLY = OpenFlags.WriteOnly;
export const RDWR = OpenFlags.ReadWrite;

let nextFid = 100;
/** A fid no earlier call returned (fid 1 is the attached root). */
export const fid = () => nextFid++;

/** Opens a fresh 9P connection on its own gofer: Tversion + Tattach of fid 1. */
export function open9p(fx: Fixture, o: GoferOptions = {}, version = GOOGLE): { g: Gofer; c: P9Client } {
  const { g, c } = startP9(fx, o);
  session(c, version);
  return { g, c };
}

/** beforeAll/afterAll around one open9p connection: `opened` receives it
 * before the first test; after the last, the client leaves and the gofer
 * must exit 0. */
export function useP9Session(fx: Fixture, opened: (s: { g: Gofer; c: P9Client }) => void, o: GoferOptions = {}): void {
  let s: { g: Gofer; c: P9Client } | undefined;
  beforeAll(() => {
    s = open9p(fx, o);
    opened(s);
  });
  afterAll(async () => {
    if (!s) return;
    s.c.close();
    expect(await s.g.exitCode()).toBe(0);
  });
}

let seq = 0;
/** A fresh host directory below mount/ and a fid walked to it. */
export function scratch(fx: Fixture, c: P9Client): { host: string; fid: number; name: string } {
  const name = `s${++seq}`;
  const host = path.join(fx.mount, name);
  fs.mkdirSync(host);
  const f = fid();
  c.walk(1, f, [name]);
  return { host, fid: f, name };
}
