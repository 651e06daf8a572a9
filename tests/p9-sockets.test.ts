// 9P and host Unix sockets: Tlconnect with --host-uds open, Tbind refused
// without --host-uds create and making a socket file with it.
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { QidType } from "../src/p9/message";
import { big, closeAll, expectAttrOf, hostAccept, hostListen, qidPathOf, readStr, writeStr } from "./lib/assert";
import { resetMount, useFixture } from "./lib/fixture";
import { type P9Client, T } from "./lib/p9client";
import { fid, open9p, scratch, useP9Session } from "./lib/p9session";

const fx = useFixture();
const E = C;

describe("9P2000.L.Google.13 over the socket", () => {
  let c: P9Client;
  let listener = -1;
  useP9Session(fx, (s) => (c = s.c), { flags: ["--host-uds", "open"] });
  afterAll(() => {
    closeAll([listener]);
  });

  test("Tlconnect (--host-uds open) donates a socket connected to the host listener", () => {
    const s = scratch(fx, c);
    listener = hostListen(path.join(s.host, "sock"));
    const f = fid();
    c.walk(s.fid, f, ["sock"]);
    const { reply } = c.rpc(T.lconnect, { fid: f, sockType: 0 });
    expect(reply.fds.length).toBe(1);
    const sock = reply.fds[0];
    let peer = -1;
    expect(
      (() => {
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline && (peer = hostAccept(listener)) < 0) Bun.sleepSync(5);
        return peer;
      })(),
    ).toBeGreaterThanOrEqual(0);
    expect(writeStr(sock, "ping")).toBe(4);
    expect(readStr(peer)).toBe("ping");
    expect(writeStr(peer, "pong")).toBe(4);
    expect(readStr(sock)).toBe("pong");
    closeAll([sock, peer]);
    // A bad socket type, a non-socket.
    expect(c.errno(T.lconnect, { fid: f, sockType: 7 })).toBe(E.ENXIO);
    expect(c.errno(T.lconnect, { fid: s.fid, sockType: 0 })).toBe(E.EINVAL);
    // Only a listening socket of that type answers.
    expect(c.errno(T.lconnect, { fid: f, sockType: 1 })).not.toBe(0);
  });

  test("Tbind without --host-uds create is refused", () => {
    const s = scratch(fx, c);
    expect(c.errno(T.bind, { dirFid: s.fid, sockType: 0, name: "b", uid: 0, gid: 0, newFid: fid() })).toBe(E.EPERM);
    expect(fs.readdirSync(s.host)).toEqual([]);
  });
});

// ---- Tbind ----------------------------------------------------------------------------

describe("Tbind (--host-uds create)", () => {
  test("makes a socket file; the new fid names it; Rbind carries its QID and attributes", async () => {
    resetMount(fx);
    const { g, c } = open9p(fx, { flags: ["--host-uds", "create"] });
    const nf = fid();
    const { r } = c.rpc(T.bind, { dirFid: 1, sockType: 0, name: "bound", uid: 1234, gid: 4321, newFid: nf });
    const p = path.join(fx.mount, "bound");
    const st = fs.lstatSync(p);
    expect(st.isSocket()).toBe(true);
    expect([st.uid, st.gid]).toEqual([1234, 4321]);
    expect(big(r.qid.path)).toBe(qidPathOf(p));
    expect(r.qid.type).toBe(QidType.AppendOnly);
    expect(Number(r.valid)).toBe(0x6ff);
    expectAttrOf(r.attr, p);
    expect(big(c.getattr(nf).qid.path)).toBe(qidPathOf(p));
    expect(c.errno(T.bind, { dirFid: 1, sockType: 0, name: "bound", uid: 0, gid: 0, newFid: fid() })).toBe(98 /* EADDRINUSE */);
    expect(c.errno(T.bind, { dirFid: 1, sockType: 9, name: "b2", uid: 0, gid: 0, newFid: fid() })).toBe(E.ENXIO);
    expect(c.errno(T.bind, { dirFid: 1, sockType: 0, name: "..", uid: 0, gid: 0, newFid: fid() })).toBe(E.EINVAL);
    expect(c.errno(T.bind, { dirFid: nf, sockType: 0, name: "b3", uid: 0, gid: 0, newFid: fid() })).toBe(E.EINVAL);
    expect(fs.readdirSync(fx.mount)).toEqual(["bound"]);
    c.clunk(nf);
    c.close();
    expect(await g.exitCode()).toBe(0);
  });
});
