// Mount, Channel, and the dispatcher: supported messages, FD donation on
// Mount, channel FDs and limits, unknown message IDs, MID 0, FD-ID lookups.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { MAX_MESSAGE_SIZE, Requests, minSize } from "../src/lisafs/message";
import { expectSameFile, expectStatOf, isNonblocking, closeAll } from "./lib/assert";
import { ChannelTransport, MID, TransportError, encodeRequest, errnoOf } from "./lib/client";
import { Gofer, useFixture } from "./lib/fixture";
import { TRANSPORTS, openSession, useSession } from "./lib/session";

const fx = useFixture();

// runsc/fsgofer/lisafs.go SupportedMessages (gVisor 20240729), by name,
// plus today's ConnectWithCreds and RenameAt2 (which a 20240729 client
// ignores; today's gofer also lists FListXattr and FRemoveXattr: ours only
// with --xattr-user, docs/lisafs-today.md).
const GVISOR_SUPPORTED = [
  "Mount", "Channel", "FStat", "SetStat", "Walk", "WalkStat", "OpenAt", "OpenCreateAt", "Close",
  "FSync", "PWrite", "PRead", "MkdirAt", "MknodAt", "SymlinkAt", "LinkAt", "FStatFS", "FAllocate",
  "ReadLinkAt", "Connect", "UnlinkAt", "RenameAt", "Getdents64", "FGetXattr", "FSetXattr", "BindAt",
  "Listen", "Accept", "ConnectWithCreds", "RenameAt2",
] as const;
const midsOf = (names: readonly string[]) => names.map((n) => MID[n as keyof typeof MID]);

describe.each(TRANSPORTS)("Mount over %s", (transport) => {
  test("root inode matches the host mount point; limits and supported messages as gVisor", async () => {
    const s = openSession(fx, transport);
    // Over a channel, Mount again: it must answer the same way.
    const m = transport === "channel" ? s.c.mount() : s.mounted;
    expectStatOf(m.root.stat, fx.mount);
    expect(m.root.id).toBeGreaterThan(0);
    expect(m.maxMessageSize).toBe(2093056);
    expect(m.supported).toEqual(midsOf(GVISOR_SUPPORTED));
    expect(m.fds).toEqual([]);
    // The root control FD works.
    expectStatOf(s.c.fstat(m.root.id), fx.mount);
    expect(await s.g.stop()).toBe(0);
  });

  test("--xattr-user adds exactly FListXattr and FRemoveXattr", async () => {
    const s = openSession(fx, transport, { flags: ["--xattr-user"] });
    const m = transport === "channel" ? s.c.mount() : s.mounted;
    expect(m.supported).toEqual([...midsOf(GVISOR_SUPPORTED), MID.FListXattr, MID.FRemoveXattr]);
    expect(await s.g.stop()).toBe(0);
  });

  test("--donate-mount-fd donates the mount point's directory FD, non-blocking", async () => {
    const s = openSession(fx, transport, { flags: ["--donate-mount-fd"] });
    const m = transport === "channel" ? s.c.mount() : s.mounted;
    expect(m.fds.length).toBe(1);
    const fd = m.fds[0];
    expect(fs.fstatSync(fd).isDirectory()).toBe(true);
    expectSameFile(fd, fx.mount);
    expect(isNonblocking(fd)).toBe(true);
    // It really is usable as the directory: list it through the FD.
    fs.writeFileSync(path.join(fx.mount, "seen-through-fd"), "x");
    expect(fs.readdirSync(`/proc/self/fd/${fd}`)).toContain("seen-through-fd");
    fs.rmSync(path.join(fx.mount, "seen-through-fd"));
    closeAll(m.fds);
    if (transport === "channel") closeAll(s.mounted.fds);
    // OpenAt of the mount point also donates with the flag.
    const o = s.c.openAt(m.root.id, C.O_RDONLY);
    expect(o.hostFd).toBeGreaterThanOrEqual(0);
    expectSameFile(o.hostFd, fx.mount);
    closeAll([o.hostFd]);
    expect(await s.g.stop()).toBe(0);
  });
});

describe("Channel", () => {
  test("donates a sealed memfd and a SOCK_SEQPACKET socket; the window carries a maximal message", async () => {
    const g = Gofer.start(fx);
    const c = g.client;
    c.mount();
    const ch = c.channel();
    expect(fs.readlinkSync(`/proc/self/fd/${ch.memfd}`)).toStartWith("/memfd:");
    expect(libc.socketType(ch.fdSock)).toBe(C.SOCK_SEQPACKET);
    expect(ch.offset % 4096).toBe(0);
    expect(ch.length % 4096).toBe(0);
    // packet header (16) + channel header (4) + the largest payload.
    expect(ch.length).toBeGreaterThanOrEqual(16 + 4 + MAX_MESSAGE_SIZE);
    // The client cannot shrink the file under the server's mapping.
    expect(libc.ftruncate(ch.memfd, 0)).toBe(-C.EPERM);
    expect(await g.stop()).toBe(0);
  });

  test("between 2 and 4 channels per connection, then ENOMEM; all of them work", async () => {
    const g = Gofer.start(fx);
    const c = g.client;
    const m = c.mount();
    const expected = Math.min(4, Math.max(2, navigator.hardwareConcurrency || 2));
    const chans = [];
    for (let i = 0; i < expected; i++) chans.push(c.channel(false));
    expect(errnoOf(() => c.channel(false))).toBe(C.ENOMEM);
    expect(errnoOf(() => c.channel(false))).toBe(C.ENOMEM);
    expect(chans.length).toBeGreaterThanOrEqual(2);
    expect(chans.length).toBeLessThanOrEqual(4);
    for (const ch of chans) {
      c.use(ch);
      expectStatOf(c.fstat(m.root.id), fx.mount);
    }
    expect(await g.stop()).toBe(0);
  });

  test("a Channel request sent over a channel gets its FDs through the channel's FD socket", async () => {
    const g = Gofer.start(fx);
    const c = g.client;
    const m = c.mount();
    const first = c.channel();
    const r = first.roundTrip(MID.Channel, new Uint8Array(0));
    expect(r.mid).toBe(MID.Channel);
    expect(r.fds.length).toBe(2);
    expect(fs.readlinkSync(`/proc/self/fd/${r.fds[0]}`)).toStartWith("/memfd:");
    expect(libc.socketType(r.fds[1])).toBe(C.SOCK_SEQPACKET);
    // And the new channel works.
    const second = new ChannelTransport(r.fds[0], r.fds[1], Number(r.payload.getBigUint64(0, true)), Number(r.payload.getBigUint64(8, true)));
    c.channels.push(second);
    c.use(second);
    expectStatOf(c.fstat(m.root.id), fx.mount);
    expect(await g.stop()).toBe(0);
  });

  test("channels and the socket share one FD table", async () => {
    fs.writeFileSync(path.join(fx.mount, "shared"), "shared table");
    const g = Gofer.start(fx);
    const c = g.client;
    const m = c.mount();
    const ch = c.channel();
    const f = c.walkTo(m.root.id, "shared"); // via the channel
    c.use("socket");
    const o = c.openAt(f.id, C.O_RDONLY);
    closeAll([o.hostFd]);
    c.use(ch);
    expect(new TextDecoder().decode(c.pread(o.id, 0, 100))).toBe("shared table");
    expect(await g.stop()).toBe(0);
  });

  test("a datagram longer than the window shuts that channel down only", async () => {
    const g = Gofer.start(fx);
    const c = g.client;
    const m = c.mount();
    const bad = c.channel();
    const good = c.channel(false);
    expect(() => bad.roundTripRaw(MID.FStat, encodeRequest(MID.FStat, { fd: m.root.id }), bad.dataCap + 1)).toThrow(
      TransportError,
    );
    expect(Atomics.load(bad.words, 0)).toBe(2); // flipcall "shutdown"
    c.use(good);
    expectStatOf(c.fstat(m.root.id), fx.mount);
    c.use("socket");
    expectStatOf(c.fstat(m.root.id), fx.mount);
    expect(await g.stop()).toBe(0);
  });

  test("a payload above the max message size but inside the window gets EIO", async () => {
    const g = Gofer.start(fx);
    const c = g.client;
    const m = c.mount();
    const ch = c.channel();
    const payload = new Uint8Array(MAX_MESSAGE_SIZE + 1);
    new DataView(payload.buffer).setBigUint64(0, BigInt(m.root.id), true);
    expect(ch.dataCap).toBeGreaterThanOrEqual(4 + payload.byteLength);
    const r = ch.roundTripRaw(MID.FStat, payload);
    expect(r.mid).toBe(MID.Error);
    expect(r.payload.getUint32(0, true)).toBe(C.EIO);
    // Exactly the max is fine (trailing bytes are ignored, as gVisor).
    const r2 = ch.roundTripRaw(MID.FStat, payload.subarray(0, MAX_MESSAGE_SIZE));
    expect(r2.mid).toBe(MID.FStat);
    expect(await g.stop()).toBe(0);
  });
});

describe.each(TRANSPORTS)("dispatch over %s", (transport) => {
  const s = useSession(fx, transport, { flags: ["--host-uds", "all", "--xattr-user"] });
  const UNKNOWN = 987654;

  test("unknown message IDs get EOPNOTSUPP", () => {
    for (const mid of [34, 64, 100, 1000, 65535]) {
      const r = s.c.raw(mid, new Uint8Array(16));
      expect(r.mid).toBe(MID.Error);
      expect(r.bytes.byteLength).toBe(4);
      expect(r.payload.getUint32(0, true)).toBe(C.EOPNOTSUPP);
    }
    expectStatOf(s.c.fstat(s.root.id), fx.mount);
  });

  test("MID 0 (Error) from a client gets EINVAL", () => {
    for (const payload of [new Uint8Array(0), new Uint8Array(4), new Uint8Array(100)]) {
      const r = s.c.raw(MID.Error, payload);
      expect(r.mid).toBe(MID.Error);
      expect(r.payload.getUint32(0, true)).toBe(C.EINVAL);
    }
  });

  test("a payload too short for its message gets EIO", () => {
    for (let mid = 3; mid <= 31; mid++) {
      const min = minSize(Requests[mid]);
      expect(min).toBeGreaterThan(0);
      const r = s.c.raw(mid, new Uint8Array(min - 1));
      expect(r.mid).toBe(MID.Error);
      expect(r.payload.getUint32(0, true)).toBe(C.EIO);
    }
  });

  test("unknown FD IDs get EBADF", () => {
    const u = UNKNOWN;
    const cases: [number, Record<string, unknown>][] = [
      [MID.FStat, { fd: u }],
      [MID.SetStat, { fd: u, mask: C.STATX_MODE, mode: 0o644 }],
      [MID.Walk, { dirFd: u, path: ["x"] }],
      [MID.WalkStat, { dirFd: u, path: ["x"] }],
      [MID.OpenAt, { fd: u, flags: 0 }],
      [MID.OpenCreateAt, { dirFd: u, name: "x", mode: 0o644, flags: 0 }],
      [MID.FSync, { fds: [u] }],
      [MID.PWrite, { fd: u, offset: 0, buf: new Uint8Array(1) }],
      [MID.PRead, { fd: u, offset: 0, count: 1 }],
      [MID.MkdirAt, { dirFd: u, name: "x", mode: 0o755 }],
      [MID.MknodAt, { dirFd: u, name: "x", mode: C.S_IFREG | 0o644 }],
      [MID.SymlinkAt, { dirFd: u, name: "x", target: "y" }],
      [MID.LinkAt, { dirFd: u, target: u, name: "x" }],
      [MID.LinkAt, { dirFd: s.root.id, target: u, name: "x" }],
      [MID.FStatFS, { fd: u }],
      [MID.FAllocate, { fd: u, mode: 0, offset: 0, length: 1 }],
      [MID.ReadLinkAt, { fd: u }],
      [MID.Flush, { fd: u }],
      [MID.Connect, { fd: u, sockType: C.SOCK_STREAM }],
      [MID.UnlinkAt, { dirFd: u, name: "x", flags: 0 }],
      [MID.RenameAt, { oldDir: u, newDir: u, oldName: "x", newName: "y" }],
      [MID.RenameAt, { oldDir: s.root.id, newDir: u, oldName: "x", newName: "y" }],
      [MID.Getdents64, { dirFd: u, count: 1000 }],
      [MID.FGetXattr, { fd: u, bufSize: 100, name: "user.x" }],
      [MID.FSetXattr, { fd: u, name: "user.x", value: new Uint8Array(1), flags: 0 }],
      [MID.FListXattr, { fd: u, size: 100 }],
      [MID.FRemoveXattr, { fd: u, name: "user.x" }],
      [MID.BindAt, { dirFd: u, name: "x", sockType: C.SOCK_STREAM, mode: 0o755 }],
      [MID.Listen, { fd: u, backlog: 1 }],
      [MID.Accept, { fd: u }],
      [MID.FStat, { fd: 0 }],
      [MID.FStat, { fd: 2n ** 64n - 1n }],
    ];
    const got = cases.map(([mid, v]) => [mid, s.c.errno(mid, v)]);
    expect(got).toEqual(cases.map(([mid]) => [mid, C.EBADF]));
    // Close of unknown IDs is not an error (as gVisor); nothing was created.
    expect(s.c.errno(MID.Close, { fds: [u, u + 1] })).toBe(0);
    expect(fs.existsSync(path.join(fx.mount, "x"))).toBe(false);
  });

  test("FD IDs of the wrong kind get EINVAL", () => {
    const dir = `kinds-${transport}`;
    fs.mkdirSync(path.join(fx.mount, dir));
    fs.writeFileSync(path.join(fx.mount, dir, "f"), "data");
    const d = s.c.walkTo(s.root.id, dir);
    const f = s.c.walkTo(d.id, "f");
    const od = s.c.openAt(d.id, C.O_RDONLY); // open FD of a directory
    const of = s.c.openAt(f.id, C.O_RDWR); // open FD of a file
    closeAll([od.hostFd, of.hostFd]);
    const b = s.c.bindAt(d.id, "sock", C.SOCK_STREAM);
    closeAll([b.hostFd]);
    const ctl = d.id;
    const cases: [string, number, Record<string, unknown>][] = [
      // Control FD expected, open FD given.
      ["SetStat", MID.SetStat, { fd: of.id, mask: C.STATX_MODE, mode: 0o600 }],
      ["Walk", MID.Walk, { dirFd: od.id, path: ["f"] }],
      ["WalkStat", MID.WalkStat, { dirFd: od.id, path: ["f"] }],
      ["OpenAt", MID.OpenAt, { fd: of.id, flags: 0 }],
      ["OpenCreateAt", MID.OpenCreateAt, { dirFd: od.id, name: "n1", mode: 0o644, flags: 0 }],
      ["MkdirAt", MID.MkdirAt, { dirFd: od.id, name: "n2", mode: 0o755 }],
      ["MknodAt", MID.MknodAt, { dirFd: od.id, name: "n3", mode: C.S_IFREG | 0o644 }],
      ["SymlinkAt", MID.SymlinkAt, { dirFd: od.id, name: "n4", target: "t" }],
      ["LinkAt dir", MID.LinkAt, { dirFd: od.id, target: f.id, name: "n5" }],
      ["LinkAt target", MID.LinkAt, { dirFd: d.id, target: of.id, name: "n6" }],
      ["FStatFS", MID.FStatFS, { fd: of.id }],
      ["ReadLinkAt", MID.ReadLinkAt, { fd: of.id }],
      ["Connect", MID.Connect, { fd: b.boundId, sockType: C.SOCK_STREAM }],
      ["UnlinkAt", MID.UnlinkAt, { dirFd: od.id, name: "f", flags: 0 }],
      ["RenameAt", MID.RenameAt, { oldDir: od.id, newDir: d.id, oldName: "f", newName: "g" }],
      ["FGetXattr", MID.FGetXattr, { fd: of.id, bufSize: 10, name: "user.x" }],
      ["FSetXattr", MID.FSetXattr, { fd: of.id, name: "user.x", value: new Uint8Array(1), flags: 0 }],
      ["FListXattr", MID.FListXattr, { fd: of.id, size: 100 }],
      ["FRemoveXattr", MID.FRemoveXattr, { fd: of.id, name: "user.x" }],
      ["BindAt", MID.BindAt, { dirFd: od.id, name: "n7", sockType: C.SOCK_STREAM, mode: 0o755 }],
      // Open FD expected, control FD given.
      ["FSync", MID.FSync, { fds: [f.id] }],
      ["PWrite", MID.PWrite, { fd: f.id, offset: 0, buf: new Uint8Array(1) }],
      ["PRead", MID.PRead, { fd: f.id, offset: 0, count: 1 }],
      ["FAllocate", MID.FAllocate, { fd: f.id, mode: 0, offset: 0, length: 1 }],
      ["Flush", MID.Flush, { fd: f.id }],
      ["Getdents64", MID.Getdents64, { dirFd: ctl, count: 1000 }],
      // Bound socket FD expected.
      ["Listen ctl", MID.Listen, { fd: ctl, backlog: 1 }],
      ["Listen open", MID.Listen, { fd: of.id, backlog: 1 }],
      ["Accept ctl", MID.Accept, { fd: b.child.id }],
      ["Accept open", MID.Accept, { fd: of.id }],
      // FStat takes control and open FDs, not bound sockets.
      ["FStat bound", MID.FStat, { fd: b.boundId }],
    ];
    const got = cases.map(([name, mid, v]) => [name, s.c.errno(mid, v)]);
    expect(got).toEqual(cases.map(([name]) => [name, C.EINVAL]));
    // None of the rejected creations happened, and f is untouched.
    expect(fs.readdirSync(path.join(fx.mount, dir)).sort()).toEqual(["f", "sock"]);
    expect(fs.readFileSync(path.join(fx.mount, dir, "f"), "utf8")).toBe("data");
    expect(fs.statSync(path.join(fx.mount, dir, "f")).mode & 0o777).toBe(0o644);
  });
});
