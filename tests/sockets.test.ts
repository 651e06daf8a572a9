// Unix sockets: Connect to host sockets, BindAt/Listen/Accept, and the
// --host-uds policies.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { closeAll, expectStatOf, hostAccept, hostConnect, hostListen, isNonblocking, readStr, writeStr } from "./lib/assert";
import { MID } from "./lib/client";
import { useFixture } from "./lib/fixture";
import { TRANSPORTS, scratch, useSession } from "./lib/session";

const fx = useFixture();

describe.each(TRANSPORTS)("sockets over %s", (transport) => {
  describe("--host-uds none (default)", () => {
    const s = useSession(fx, transport);
    test("Connect and BindAt get EPERM; nothing is created", () => {
      const d = scratch(fx, s);
      const l = hostListen(path.join(d.host, "sock"));
      const sock = s.c.walkTo(d.id, "sock");
      expect(s.c.errno(MID.Connect, { fd: sock.id, sockType: C.SOCK_STREAM })).toBe(C.EPERM);
      expect(hostAccept(l)).toBe(-C.EAGAIN);
      expect(s.c.errno(MID.OpenAt, { fd: sock.id, flags: C.O_RDWR })).toBe(C.EPERM);
      expect(s.c.errno(MID.BindAt, { dirFd: d.id, name: "new", sockType: C.SOCK_STREAM, mode: 0o755 })).toBe(C.EPERM);
      expect(fs.readdirSync(d.host)).toEqual(["sock"]);
      closeAll([l]);
    });
  });

  describe("--host-uds open", () => {
    const s = useSession(fx, transport, { flags: ["--host-uds", "open"] });

    test("Connect donates a connected socket to a listening host socket", () => {
      const d = scratch(fx, s);
      const l = hostListen(path.join(d.host, "sock"));
      const sock = s.c.walkTo(d.id, "sock");
      expectStatOf(sock.stat, path.join(d.host, "sock"));
      const fd = s.c.connect(sock.id, C.SOCK_STREAM);
      expect(isNonblocking(fd)).toBe(true);
      expect(libc.socketType(fd)).toBe(C.SOCK_STREAM);
      const a = hostAccept(l);
      expect(a).toBeGreaterThanOrEqual(0);
      expect(writeStr(fd, "to host")).toBe(7);
      expect(readStr(a)).toBe("to host");
      expect(writeStr(a, "to sandbox")).toBe(10);
      expect(readStr(fd)).toBe("to sandbox");
      closeAll([fd, a, l]);
    });

    test("SOCK_SEQPACKET and SOCK_DGRAM sockets", () => {
      const d = scratch(fx, s);
      const lp = hostListen(path.join(d.host, "seq"), C.SOCK_SEQPACKET);
      const ld = hostListen(path.join(d.host, "dgram"), C.SOCK_DGRAM);
      const seq = s.c.connect(s.c.walkTo(d.id, "seq").id, C.SOCK_SEQPACKET);
      expect(libc.socketType(seq)).toBe(C.SOCK_SEQPACKET);
      const a = hostAccept(lp);
      expect(a).toBeGreaterThanOrEqual(0);
      const dg = s.c.connect(s.c.walkTo(d.id, "dgram").id, C.SOCK_DGRAM);
      expect(libc.socketType(dg)).toBe(C.SOCK_DGRAM);
      expect(writeStr(dg, "datagram")).toBe(8);
      expect(readStr(ld)).toBe("datagram");
      closeAll([seq, a, dg, lp, ld]);
    });

    test("errors: ENOTSOCK, ECONNREFUSED, ENXIO for unsupported types, wrong socket type", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "file"), "x");
      const f = s.c.walkTo(d.id, "file");
      expect(s.c.errno(MID.Connect, { fd: f.id, sockType: C.SOCK_STREAM })).toBe(C.ENOTSOCK);
      expect(s.c.errno(MID.Connect, { fd: d.id, sockType: C.SOCK_STREAM })).toBe(C.ENOTSOCK);
      // A socket file nobody listens on any more.
      const l = hostListen(path.join(d.host, "dead"));
      const dead = s.c.walkTo(d.id, "dead");
      closeAll([l]);
      expect(s.c.errno(MID.Connect, { fd: dead.id, sockType: C.SOCK_STREAM })).toBe(C.ECONNREFUSED);
      const l2 = hostListen(path.join(d.host, "live"));
      const live = s.c.walkTo(d.id, "live");
      for (const t of [0, 3 /* SOCK_RAW */, 4 /* SOCK_RDM */, 10, C.SOCK_STREAM | C.SOCK_NONBLOCK])
        expect(s.c.errno(MID.Connect, { fd: live.id, sockType: t })).toBe(C.ENXIO);
      expect(s.c.errno(MID.Connect, { fd: live.id, sockType: C.SOCK_DGRAM })).toBe(91 /* EPROTOTYPE */);
      expect(hostAccept(l2)).toBe(-C.EAGAIN);
      closeAll([l2]);
    });

    test("a deleted socket file cannot be connected to (EINVAL)", () => {
      const d = scratch(fx, s);
      const l = hostListen(path.join(d.host, "sock"));
      const sock = s.c.walkTo(d.id, "sock");
      s.c.unlinkAt(d.id, "sock");
      expect(s.c.errno(MID.Connect, { fd: sock.id, sockType: C.SOCK_STREAM })).toBe(C.EINVAL);
      expect(hostAccept(l)).toBe(-C.EAGAIN);
      closeAll([l]);
    });

    test("BindAt is still refused (EPERM)", () => {
      const d = scratch(fx, s);
      expect(s.c.errno(MID.BindAt, { dirFd: d.id, name: "new", sockType: C.SOCK_STREAM, mode: 0o755 })).toBe(C.EPERM);
      expect(fs.readdirSync(d.host)).toEqual([]);
    });
  });

  describe("--host-uds create", () => {
    const s = useSession(fx, transport, { flags: ["--host-uds", "create"] });

    test("BindAt makes a socket file with mode and owner; Listen and Accept work", () => {
      const d = scratch(fx, s);
      const b = s.c.bindAt(d.id, "srv", C.SOCK_STREAM, { mode: 0o640, uid: 77, gid: 88 });
      const p = path.join(d.host, "srv");
      const st = fs.lstatSync(p);
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o7777).toBe(0o640);
      expect([st.uid, st.gid]).toEqual([77, 88]);
      expectStatOf(b.child.stat, p);
      expect(libc.socketType(b.hostFd)).toBe(C.SOCK_STREAM);
      expect(isNonblocking(b.hostFd)).toBe(true);
      // Nothing pending: EAGAIN rather than a blocked gofer.
      s.c.listen(b.boundId, 8);
      expect(s.c.errno(MID.Accept, { fd: b.boundId })).toBe(C.EAGAIN);
      const peer = hostConnect(p);
      expect(peer).toBeGreaterThanOrEqual(0);
      const acc = s.c.accept(b.boundId);
      expect(acc.peer).toBe("");
      expect(isNonblocking(acc.hostFd)).toBe(true);
      expect(writeStr(peer, "hello gofer")).toBe(11);
      expect(readStr(acc.hostFd)).toBe("hello gofer");
      // The donated bound socket is the same socket: accept works through it too.
      const peer2 = hostConnect(p);
      const acc2 = libc.accept4(b.hostFd, C.O_NONBLOCK | C.O_CLOEXEC);
      expect(acc2).toBeGreaterThanOrEqual(0);
      closeAll([peer, peer2, acc.hostFd, acc2, b.hostFd]);
    });

    test("Connect is still refused (EPERM); errors: EEXIST, ENOTDIR, EINVAL, ENXIO", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      const l = hostListen(path.join(d.host, "hs"));
      expect(s.c.errno(MID.Connect, { fd: s.c.walkTo(d.id, "hs").id, sockType: C.SOCK_STREAM })).toBe(C.EPERM);
      const bind = (dirFd: number, name: string, sockType = C.SOCK_STREAM) =>
        s.c.errno(MID.BindAt, { dirFd, name, sockType, mode: 0o755 });
      expect(bind(d.id, "f")).toBe(98 /* EADDRINUSE */);
      const f = s.c.walkTo(d.id, "f");
      expect(bind(f.id, "x")).toBe(C.ENOTDIR);
      for (const bad of ["", ".", "..", "a/b", "a\0b"]) expect(bind(d.id, bad)).toBe(C.EINVAL);
      expect(bind(d.id, "raw", 3)).toBe(C.ENXIO);
      expect(bind(d.id, "x".repeat(200))).toBe(C.EINVAL);
      expect(fs.readdirSync(d.host).sort()).toEqual(["f", "hs"]);
      closeAll([l]);
    });

    test("Listen and Accept on a deleted socket get EINVAL", () => {
      const d = scratch(fx, s);
      const b = s.c.bindAt(d.id, "gone", C.SOCK_STREAM);
      closeAll([b.hostFd]);
      s.c.unlinkAt(d.id, "gone");
      expect(s.c.errno(MID.Listen, { fd: b.boundId, backlog: 1 })).toBe(C.EINVAL);
      expect(s.c.errno(MID.Accept, { fd: b.boundId })).toBe(C.EINVAL);
    });
  });

  describe("--host-uds all", () => {
    const s = useSession(fx, transport, { flags: ["--host-uds", "all"] });
    test("a socket bound through the gofer can be connected to through it", () => {
      const d = scratch(fx, s);
      const b = s.c.bindAt(d.id, "loop", C.SOCK_STREAM);
      s.c.listen(b.boundId, 4);
      const conn = s.c.connect(b.child.id, C.SOCK_STREAM);
      const acc = s.c.accept(b.boundId);
      expect(writeStr(conn, "round trip")).toBe(10);
      expect(readStr(acc.hostFd)).toBe("round trip");
      closeAll([conn, acc.hostFd, b.hostFd]);
    });
  });
});
