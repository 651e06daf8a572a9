// How 9P reaches the gofer and leaves it: flipcall channels (Tchannel),
// --listen unix: and tcp:, and what a closed connection releases.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { bytes, closeAll, expectQidOf, hostAccept, hostListen, hostPread, text } from "./lib/assert";
import { eventually, resetMount, useFixture } from "./lib/fixture";
import { connectTo, session, startListener, startP9, T } from "./lib/p9client";
import { fid, GOOGLE, open9p, RDONLY, RDWR } from "./lib/p9session";

const fx = useFixture();
const E = C;

// ---- channels --------------------------------------------------------------------------

describe("flipcall channels", () => {
  test("requests over Tchannel channels, with FDs on the channel's socket", async () => {
    resetMount(fx);
    fs.writeFileSync(path.join(fx.mount, "cf"), "over the channel");
    const { g, c } = open9p(fx);
    const ch0 = c.channel(0);
    const ch1 = c.channel(1, false);
    expect(c.channels.length).toBe(2);
    const f = fid();
    const qids = c.walk(1, f, ["cf"]);
    expectQidOf(qids[0], path.join(fx.mount, "cf"));
    const o = c.lopen(f, RDWR);
    expect(o.fd).toBeGreaterThanOrEqual(0);
    expect(text(hostPread(o.fd, 100))).toBe("over the channel");
    closeAll([o.fd]);
    expect(text(c.read(f, 5, 3))).toBe("the");
    expect(c.errno(T.read, { fid: 999_999, offset: 0, count: 1 })).toBe(E.EBADF);
    // The second channel serves the same connection's fids.
    c.active = ch1;
    expect(c.write(f, 0, bytes("OVER"))).toBe(4);
    expect(fs.readFileSync(path.join(fx.mount, "cf"), "utf8")).toBe("OVER the channel");
    // A big read is limited by the window and msize.
    fs.writeFileSync(path.join(fx.mount, "cf"), Buffer.alloc(2 << 20, 1));
    const r = c.read(f, 0, 1 << 20);
    expect(r.byteLength).toBeGreaterThan(0);
    expect(r.byteLength).toBeLessThanOrEqual(1 << 20);
    c.active = ch0;
    const d = fid();
    c.walk(1, d, []);
    c.lopen(d, RDONLY);
    expect(c.readdir(d, 0, 4096).map((e) => e.name)).toEqual(["cf"]);
    // Unknown channel, bad control.
    c.active = null;
    expect(c.errno(T.channel, { id: 99, control: 0 })).toBe(E.ENOSYS);
    expect(c.errno(T.channel, { id: 0, control: 2 })).toBe(E.EINVAL);
    c.close();
    expect(await g.exitCode()).toBe(0);
  });
});

// ---- --listen -----------------------------------------------------------------------------

describe("--listen", () => {
  for (const kind of ["unix", "tcp"] as const) {
    test(`${kind}: connect, attach, read; several clients; the listener outlives them`, async () => {
      resetMount(fx);
      fs.writeFileSync(path.join(fx.mount, "lf"), "listened");
      const addr = kind === "unix" ? `unix:${path.join(fx.logs, `l-${Date.now()}.sock`)}` : "tcp:127.0.0.1:0";
      const lsock = hostListen(path.join(fx.mount, "lsock"));
      const l = await startListener(fx, addr, ["--host-uds", "open"]);
      try {
        if (kind === "tcp") expect(l.where).toMatch(/^tcp:127\.0\.0\.1:[1-9]\d*$/);
        else expect(l.where).toBe(addr);
        for (let round = 0; round < 2; round++) {
          const cs = [connectTo(l.where), connectTo(l.where)];
          for (const [i, c] of cs.entries()) {
            // A standard client and a gVisor one.
            const v = i === 0 ? "9P2000.L" : GOOGLE;
            expect(c.version(65536, v).version).toBe(v);
            c.attach(1);
            c.walk(1, 2, ["lf"]);
            const o = c.lopen(2, RDONLY);
            // TCP cannot carry FDs; a Unix socket does.
            if (kind === "tcp") expect(o.fd).toBe(-1);
            else expect(o.fd).toBeGreaterThanOrEqual(0);
            closeAll([o.fd]);
            expect(text(c.read(2, 0, 100))).toBe("listened");
            const d = fid();
            c.walk(1, d, []);
            c.lopen(d, RDONLY);
            expect(c.readdir(d, 0, 4096).map((e) => e.name).sort()).toEqual(["lf", "lsock"]);
            // Tlconnect's answer is an FD: none over TCP.
            const sf = fid();
            c.walk(1, sf, ["lsock"]);
            if (v !== GOOGLE) expect(c.errno(T.lconnect, { fid: sf, sockType: 0 })).toBe(E.ENOSYS);
            else if (kind === "tcp") expect(c.errno(T.lconnect, { fid: sf, sockType: 0 })).toBe(E.EOPNOTSUPP);
            else {
              const { reply } = c.rpc(T.lconnect, { fid: sf, sockType: 0 });
              expect(reply.fds.length).toBe(1);
              closeAll(reply.fds);
              await eventually(() => {
                const p = hostAccept(lsock);
                if (p >= 0) closeAll([p]);
                return p >= 0;
              });
            }
          }
          for (const c of cs) c.close();
        }
        // No channels over TCP (no FDs).
        if (kind === "tcp") {
          const c = connectTo(l.where);
          c.version();
          expect(c.errno(T.channel, { id: 0, control: 0 })).toBe(E.ENOSYS);
          c.close();
        }
        expect(l.proc.exitCode).toBe(null);
      } finally {
        await l.stop();
        closeAll([lsock]);
      }
    });
  }
});

// ---- connection teardown ------------------------------------------------------------------

describe("closing a connection", () => {
  test("releases every fid, open file and channel; the gofer exits 0 when the last client leaves", async () => {
    resetMount(fx);
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(fx.mount, `f${i}`), "x");
    const { g, clients } = startP9(fx, { mounts: (f) => [f.mount, f.mount] });
    const [a, b] = clients;
    session(a);
    session(b);
    // The event loop sets up its channel machinery on the first channel and
    // keeps it: let b's channel do that before the baseline.
    b.channel(0);
    expect(b.errno(T.getattr, { fid: 1, mask: 1 })).toBe(0);
    b.active = null;
    await g.fdsSettled();
    const base = g.fds().length;
    for (let i = 0; i < 20; i++) {
      a.walk(1, 10 + i, [`f${i}`]);
      closeAll([a.lopen(10 + i, RDWR).fd]);
    }
    a.channel(0);
    a.channel(1);
    expect(g.fdsUnder(fx.mount)).toBeGreaterThanOrEqual(20);
    a.close();
    // Only b's root remains under the mount, with the two mount points'
    // anchors (opened once at start, one per --mount, held for life).
    expect(await eventually(() => g.fdsUnder(fx.mount) <= 3)).toBe(true);
    const after = await g.fdsSettled();
    expect(after.length).toBeLessThanOrEqual(base - 1);
    // b still works.
    expect(b.errno(T.getattr, { fid: 1, mask: 1 })).toBe(0);
    b.close();
    expect(await g.exitCode()).toBe(0);
  });

  test("a client that leaves without a word (no Tversion) ends its connection too", async () => {
    const { g, c } = startP9(fx);
    c.sendRaw(new Uint8Array([0x13, 0, 0, 0, 100])); // part of a Tversion
    c.close();
    expect(await g.exitCode()).toBe(0);
  });
});
