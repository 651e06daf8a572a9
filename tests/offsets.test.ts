// File offsets of 2^53 and more, which a double cannot name. Both protocols
// decode a read's or write's offset as a number, -1 from 2^53 on (message.ts,
// kind "off"), and the handler hands the host the exact offset read again
// from the request: a client gets what the host answers there, as from
// gVisor's gofer (which passes int64(offset) on). On the fixture's tmpfs a
// write at 2^53 + 1 lands at exactly that byte; from 2^63 the host says
// EINVAL. Each answer is held against the host's own pwrite/pread.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { errnoOf } from "./lib/client";
import { Gofer, useFixture } from "./lib/fixture";
import { p9errno, session, startP9 } from "./lib/p9client";

const fx = useFixture();

const OFFSETS = [2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 60n + 3n, 2n ** 63n - 2n, 2n ** 63n, 2n ** 64n - 1n];
const BYTE = 0x78;
const buf = libc.pinnedBytes(2);
const bufAddr = libc.addr(buf);

/** What the host answers: a 1-byte pwrite at `off` (1 or -errno), then a
 * 2-byte pread at off - 1 (the bytes, or -errno), on its own file. */
function hostAnswer(file: string, off: bigint): { write: number; read: number[] | number } {
  const fd = fs.openSync(file, "r+");
  try {
    buf[0] = BYTE;
    const write = libc.pwrite(fd, bufAddr, 1, off);
    buf.fill(0);
    const n = libc.pread(fd, bufAddr, 2, BigInt.asIntN(64, off - 1n));
    return { write, read: n < 0 ? n : Array.from(buf.subarray(0, n)) };
  } finally {
    fs.closeSync(fd);
  }
}

/** The byte at `off` of the host file, read at exactly that offset. */
function hostByte(file: string, off: bigint): number {
  const fd = fs.openSync(file, "r");
  try {
    buf[0] = 0;
    expect(libc.pread(fd, bufAddr, 1, off)).toBe(1);
    return buf[0];
  } finally {
    fs.closeSync(fd);
  }
}

function freshFiles(name: string): { host: string; served: string } {
  const host = path.join(fx.root, `${name}-host`);
  const served = path.join(fx.mount, name);
  for (const f of [host, served]) fs.writeFileSync(f, "");
  return { host, served };
}

describe("offsets a double cannot name reach the host exactly", () => {
  test("lisafs PWrite and PRead", () => {
    const g = Gofer.start(fx);
    const c = g.client;
    const root = c.mount().root;
    for (const off of OFFSETS) {
      const { host, served } = freshFiles("lisafs-far");
      const want = hostAnswer(host, off);
      const f = c.walkTo(root.id, "lisafs-far");
      const o = c.openAt(f.id, C.O_RDWR);
      if (o.hostFd >= 0) libc.close(o.hostFd);
      let write = 0;
      const werr = errnoOf(() => (write = c.pwrite(o.id, off, Uint8Array.of(BYTE))));
      let read: number[] = [];
      const rerr = errnoOf(() => (read = Array.from(c.pread(o.id, off - 1n, 2))));
      expect({ off, write: werr ? -werr : write, read: rerr ? -rerr : read }).toEqual({ off, ...want });
      if (want.write === 1) expect(hostByte(served, off)).toBe(BYTE);
      c.close([o.id, f.id]);
    }
  });

  test("9P Twrite and Tread", () => {
    const { c } = startP9(fx);
    session(c);
    let fid = 10;
    for (const off of OFFSETS) {
      const { host, served } = freshFiles("p9-far");
      const want = hostAnswer(host, off);
      c.walk(1, ++fid, ["p9-far"]);
      const o = c.lopen(fid, C.O_RDWR);
      if (o.fd >= 0) libc.close(o.fd);
      let write = 0;
      const werr = p9errno(() => (write = c.write(fid, off, Uint8Array.of(BYTE))));
      let read: number[] = [];
      const rerr = p9errno(() => (read = Array.from(c.read(fid, off - 1n, 2))));
      expect({ off, write: werr ? -werr : write, read: rerr ? -rerr : read }).toEqual({ off, ...want });
      if (want.write === 1) expect(hostByte(served, off)).toBe(BYTE);
      c.clunk(fid);
    }
  });
});
