// Today's gVisor lisafs (docs/lisafs-today.md): RenameAt2 and
// ConnectWithCreds, and the semantics a connection gets once it is known to
// speak to today's client (--lisafs today, or after its first message 32/33),
// while a 20240729 client keeps 20240729's.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { closeAll, expectErrno, expectStatOf, hostAccept, hostListen, readStr, writeStr } from "./lib/assert";
import { MID } from "./lib/client";
import { useFixture } from "./lib/fixture";
import { TRANSPORTS, scratch, useSession } from "./lib/session";

const fx = useFixture();
const { RENAME_NOREPLACE: NOREPLACE, RENAME_EXCHANGE: EXCHANGE, RENAME_WHITEOUT: WHITEOUT } = C;

const ino = (p: string) => fs.lstatSync(p, { bigint: true }).ino;

/** The uid and gid lines (real, effective, saved, fs) of a thread's status. */
function threadIds(pid: number): string[] {
  const st = fs.readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
  return st.split("\n").filter((l) => l.startsWith("Uid:") || l.startsWith("Gid:"));
}

describe.each(TRANSPORTS)("RenameAt2 over %s", (transport) => {
  const s = useSession(fx, transport);

  test("is advertised on Mount with ConnectWithCreds", () => {
    expect(s.mounted.supported).toContain(MID.RenameAt2);
    expect(s.mounted.supported).toContain(MID.ConnectWithCreds);
    expect(s.mounted.supported).not.toContain(MID.Flush);
  });

  test("flags 0 is RenameAt", () => {
    const d = scratch(fx, s);
    fs.writeFileSync(path.join(d.host, "a"), "A");
    fs.writeFileSync(path.join(d.host, "b"), "B");
    s.c.renameAt2(d.id, "a", d.id, "b", 0);
    expect(fs.readdirSync(d.host)).toEqual(["b"]);
    expect(fs.readFileSync(path.join(d.host, "b"), "utf8")).toBe("A");
  });

  test("RENAME_NOREPLACE: EEXIST over an existing name, a move otherwise", () => {
    const d = scratch(fx, s);
    fs.writeFileSync(path.join(d.host, "a"), "A");
    fs.writeFileSync(path.join(d.host, "b"), "B");
    expectErrno(() => s.c.renameAt2(d.id, "a", d.id, "b", NOREPLACE), C.EEXIST);
    expect(fs.readFileSync(path.join(d.host, "a"), "utf8")).toBe("A");
    expect(fs.readFileSync(path.join(d.host, "b"), "utf8")).toBe("B");
    s.c.renameAt2(d.id, "a", d.id, "c", NOREPLACE);
    expect(fs.readdirSync(d.host).sort()).toEqual(["b", "c"]);
    expect(fs.readFileSync(path.join(d.host, "c"), "utf8")).toBe("A");
  });

  test("RENAME_EXCHANGE swaps two entries (ENOENT if one is missing)", () => {
    const d = scratch(fx, s);
    fs.writeFileSync(path.join(d.host, "a"), "A");
    fs.mkdirSync(path.join(d.host, "b"));
    const ia = ino(path.join(d.host, "a"));
    const ib = ino(path.join(d.host, "b"));
    s.c.renameAt2(d.id, "a", d.id, "b", EXCHANGE);
    expect(ino(path.join(d.host, "a"))).toBe(ib);
    expect(ino(path.join(d.host, "b"))).toBe(ia);
    expectErrno(() => s.c.renameAt2(d.id, "a", d.id, "missing", EXCHANGE), C.ENOENT);
    expect(fs.readdirSync(d.host).sort()).toEqual(["a", "b"]);
  });

  test("RENAME_EXCHANGE of two directories keeps FDs walked below them on the right files", () => {
    // LinkAt and a symlink's SetStat times reach a file through its parent's
    // node: after the exchange each node must have the other's place.
    const d = scratch(fx, s);
    const x = path.join(d.host, "x");
    const y = path.join(d.host, "y");
    fs.mkdirSync(x);
    fs.mkdirSync(y);
    fs.writeFileSync(path.join(x, "f"), "in x");
    fs.writeFileSync(path.join(y, "g"), "in y");
    fs.symlinkSync("t", path.join(x, "l"));
    const f = s.c.walkTo(d.id, "x/f");
    const g = s.c.walkTo(d.id, "y/g");
    const l = s.c.walkTo(d.id, "x/l");
    s.c.renameAt2(d.id, "x", d.id, "y", EXCHANGE);
    expect(fs.readdirSync(x)).toEqual(["g"]);
    expect(fs.readdirSync(y).sort()).toEqual(["f", "l"]);
    s.c.linkAt(d.id, f.id, "f-link");
    s.c.linkAt(d.id, g.id, "g-link");
    expect(ino(path.join(d.host, "f-link"))).toBe(ino(path.join(y, "f")));
    expect(ino(path.join(d.host, "g-link"))).toBe(ino(path.join(x, "g")));
    const r = s.c.setStat(l.id, { mask: C.STATX_MTIME, mtime: [1_000_000, 0] });
    expect(r.failureMask).toBe(0);
    expect(fs.lstatSync(path.join(y, "l")).mtimeMs).toBe(1_000_000_000);
    // And exchanged back across directories.
    s.c.renameAt2(d.id, "y", d.id, "x", EXCHANGE);
    s.c.linkAt(d.id, f.id, "f-link2");
    expect(ino(path.join(d.host, "f-link2"))).toBe(ino(path.join(x, "f")));
  });

  test("RENAME_EXCHANGE across directories", () => {
    const d = scratch(fx, s);
    fs.mkdirSync(path.join(d.host, "p"));
    fs.mkdirSync(path.join(d.host, "q"));
    fs.writeFileSync(path.join(d.host, "p/a"), "A");
    fs.writeFileSync(path.join(d.host, "q/b"), "B");
    const p = s.c.walkTo(d.id, "p");
    const q = s.c.walkTo(d.id, "q");
    const a = s.c.walkTo(p.id, "a");
    s.c.renameAt2(p.id, "a", q.id, "b", EXCHANGE);
    expect(fs.readFileSync(path.join(d.host, "p/a"), "utf8")).toBe("B");
    expect(fs.readFileSync(path.join(d.host, "q/b"), "utf8")).toBe("A");
    s.c.linkAt(d.id, a.id, "a-link");
    expect(fs.readFileSync(path.join(d.host, "a-link"), "utf8")).toBe("A");
  });

  test("RENAME_WHITEOUT leaves a whiteout (character device 0/0) behind", () => {
    const d = scratch(fx, s);
    fs.writeFileSync(path.join(d.host, "a"), "A");
    s.c.renameAt2(d.id, "a", d.id, "b", WHITEOUT);
    expect(fs.readFileSync(path.join(d.host, "b"), "utf8")).toBe("A");
    const w = fs.lstatSync(path.join(d.host, "a"));
    expect(w.isCharacterDevice()).toBe(true);
    expect(w.rdev).toBe(0);
  });

  test("flags the host refuses: EINVAL, nothing changes", () => {
    const d = scratch(fx, s);
    fs.writeFileSync(path.join(d.host, "a"), "A");
    fs.writeFileSync(path.join(d.host, "b"), "B");
    for (const flags of [NOREPLACE | EXCHANGE, WHITEOUT | EXCHANGE, 8, 0x80000000]) {
      expectErrno(() => s.c.renameAt2(d.id, "a", d.id, "b", flags), C.EINVAL);
    }
    expect(fs.readFileSync(path.join(d.host, "a"), "utf8")).toBe("A");
    expect(fs.readFileSync(path.join(d.host, "b"), "utf8")).toBe("B");
    // Onto itself: success without a host call, whatever the flags (as gVisor).
    s.c.renameAt2(d.id, "a", d.id, "a", NOREPLACE);
    s.c.renameAt2(d.id, "a", d.id, "a", 8);
  });

  test("bad names, bad FDs, non-directories", () => {
    const d = scratch(fx, s);
    fs.writeFileSync(path.join(d.host, "a"), "A");
    const f = s.c.walkTo(d.id, "a");
    expect(s.c.errno(MID.RenameAt2, { oldDir: d.id, oldName: "..", newDir: d.id, newName: "x", flags: NOREPLACE })).toBe(C.EINVAL);
    expect(s.c.errno(MID.RenameAt2, { oldDir: d.id, oldName: "a", newDir: d.id, newName: "x/y", flags: NOREPLACE })).toBe(C.EINVAL);
    expect(s.c.errno(MID.RenameAt2, { oldDir: 999999, oldName: "a", newDir: d.id, newName: "x", flags: NOREPLACE })).toBe(C.EBADF);
    expect(s.c.errno(MID.RenameAt2, { oldDir: f.id, oldName: "a", newDir: d.id, newName: "x", flags: NOREPLACE })).toBe(C.ENOTDIR);
    // A short request (no flags): EIO.
    const short = s.c.raw(MID.RenameAt2, new Uint8Array(4));
    expect(short.mid).toBe(MID.Error);
    expect(short.payload.getUint32(0, true)).toBe(C.EIO);
    expect(fs.readdirSync(d.host)).toEqual(["a"]);
  });
});

describe("RenameAt2 on a read-only mount", () => {
  const s = useSession(fx, "socket", { mounts: (f) => [`${f.mount}:ro`] });
  test("EROFS, as every change", () => {
    expect(s.c.errno(MID.RenameAt2, { oldDir: s.root.id, oldName: "a", newDir: s.root.id, newName: "b", flags: NOREPLACE })).toBe(C.EROFS);
    expect(s.c.errno(MID.RenameAt2, { oldDir: s.root.id, oldName: "a", newDir: s.root.id, newName: "b", flags: 0 })).toBe(C.EROFS);
  });
});

describe.each(TRANSPORTS)("ConnectWithCreds over %s", (transport) => {
  const s = useSession(fx, transport, { flags: ["--host-uds", "open"] });

  test("connects with the given effective uid/gid, then the gofer is itself again", () => {
    const d = scratch(fx, s);
    const p = path.join(d.host, "sock");
    const l = hostListen(p);
    fs.chmodSync(p, 0o777);
    const before = threadIds(s.g.proc.pid);
    const sock = s.c.connectWithCreds(s.c.walkTo(d.id, "sock").id, C.SOCK_STREAM, 1234, 5678);
    const a = hostAccept(l);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(libc.peerCred(a)).toMatchObject({ uid: 1234, gid: 5678 });
    expect(writeStr(sock, "hi")).toBe(2);
    expect(readStr(a)).toBe("hi");
    expect(threadIds(s.g.proc.pid)).toEqual(before);
    // Our own ids: no switch at all.
    const sock2 = s.c.connectWithCreds(s.c.walkTo(d.id, "sock").id, C.SOCK_STREAM, process.getuid!(), process.getgid!());
    const a2 = hostAccept(l);
    expect(libc.peerCred(a2)).toMatchObject({ uid: process.getuid!(), gid: process.getgid!() });
    closeAll([sock, a, sock2, a2, l]);
  });

  test("the host checks the socket's permissions against those ids", () => {
    const d = scratch(fx, s);
    const p = path.join(d.host, "sock");
    const l = hostListen(p);
    fs.chmodSync(p, 0o700);
    const id = s.c.walkTo(d.id, "sock").id;
    expect(s.c.errno(MID.ConnectWithCreds, { fd: id, sockType: C.SOCK_STREAM, uid: 1234, gid: 5678 })).toBe(C.EACCES);
    expect(hostAccept(l)).toBe(-C.EAGAIN);
    // Still root for the next request.
    const sock = s.c.connect(id, C.SOCK_STREAM);
    const a = hostAccept(l);
    expect(libc.peerCred(a)).toMatchObject({ uid: 0, gid: 0 });
    closeAll([sock, a, l]);
  });

  test("a non-socket: ENOTSOCK; a wrong socket type: as Connect", () => {
    const d = scratch(fx, s);
    fs.writeFileSync(path.join(d.host, "f"), "");
    const l = hostListen(path.join(d.host, "sock"));
    const f = s.c.walkTo(d.id, "f").id;
    const sk = s.c.walkTo(d.id, "sock").id;
    expect(s.c.errno(MID.ConnectWithCreds, { fd: f, sockType: C.SOCK_STREAM, uid: 1, gid: 1 })).toBe(C.ENOTSOCK);
    const SOCK_RAW = 3;
    const EPROTOTYPE = 91;
    expect(s.c.errno(MID.ConnectWithCreds, { fd: sk, sockType: SOCK_RAW, uid: 1, gid: 1 })).toBe(C.ENXIO);
    expect(s.c.errno(MID.Connect, { fd: sk, sockType: SOCK_RAW })).toBe(C.ENXIO);
    // The socket file is not writable by uid 1 (EACCES); as ourselves, the
    // wrong type is the kernel's EPROTOTYPE.
    expect(s.c.errno(MID.ConnectWithCreds, { fd: sk, sockType: C.SOCK_DGRAM, uid: 1, gid: 1 })).toBe(C.EACCES);
    expect(s.c.errno(MID.ConnectWithCreds, { fd: sk, sockType: C.SOCK_DGRAM, uid: 0, gid: 0 })).toBe(EPROTOTYPE);
    closeAll([l]);
  });
});

describe("ConnectWithCreds with --host-uds none", () => {
  const s = useSession(fx, "socket");
  test("EPERM, as Connect", () => {
    const d = scratch(fx, s);
    const l = hostListen(path.join(d.host, "sock"));
    const id = s.c.walkTo(d.id, "sock").id;
    expect(s.c.errno(MID.ConnectWithCreds, { fd: id, sockType: C.SOCK_STREAM, uid: 1, gid: 1 })).toBe(C.EPERM);
    expect(hostAccept(l)).toBe(-C.EAGAIN);
    closeAll([l]);
  });
});

/** Host setup for the semantics checks: a deleted-but-walked file, a symlink. */
function semanticsDir(s: ReturnType<typeof useSession>) {
  const d = scratch(fx, s);
  fs.writeFileSync(path.join(d.host, "gone"), "still here");
  fs.symlinkSync("t", path.join(d.host, "link"));
  const gone = s.c.walkTo(d.id, "gone");
  s.c.unlinkAt(d.id, "gone");
  return { d, gone, link: s.c.walkTo(d.id, "link") };
}

describe("--lisafs today: today's semantics from the first message", () => {
  const s = useSession(fx, "socket", { flags: ["--lisafs", "today"] });

  test("stats are statx's: the kernel's mask and the birth time", () => {
    expectStatOf(s.root.stat, fx.mount, "today");
    const d = scratch(fx, s);
    fs.writeFileSync(path.join(d.host, "f"), "x");
    expectStatOf(s.c.walkTo(d.id, "f").stat, path.join(d.host, "f"), "today");
    expectStatOf(s.c.walkStat(d.id, ["f"])[0], path.join(d.host, "f"), "today");
  });

  test("OpenAt of a deleted file opens it (OpenOnDeleted)", () => {
    const { gone } = semanticsDir(s);
    const o = s.c.openAt(gone.id, C.O_RDONLY);
    expect(new TextDecoder().decode(s.c.pread(o.id, 0, 100))).toBe("still here");
    closeAll([o.hostFd]);
  });

  test("MknodAt makes whiteouts (character device 0/0), still no other devices", () => {
    const d = scratch(fx, s);
    const w = s.c.mknodAt(d.id, "wh", C.S_IFCHR | 0o600, { major: 0, minor: 0 });
    expectStatOf(w.stat, path.join(d.host, "wh"), "today");
    expect(fs.lstatSync(path.join(d.host, "wh")).isCharacterDevice()).toBe(true);
    expectErrno(() => s.c.mknodAt(d.id, "null", C.S_IFCHR | 0o600, { major: 1, minor: 3 }), C.EPERM);
    expectErrno(() => s.c.mknodAt(d.id, "fifo", C.S_IFIFO | 0o600), C.EPERM);
    expect(fs.readdirSync(d.host)).toEqual(["wh"]);
  });

  test("SetStat of a symlink's mode: EOPNOTSUPP; Flush (not advertised): EOPNOTSUPP", () => {
    const { link, gone } = semanticsDir(s);
    expect(s.c.setStat(link.id, { mask: C.STATX_MODE, mode: 0o600 })).toEqual({ failureMask: C.STATX_MODE, failureErrno: C.EOPNOTSUPP });
    const o = s.c.openAt(gone.id, C.O_RDONLY);
    expect(s.c.errno(MID.Flush, { fd: o.id })).toBe(C.EOPNOTSUPP);
    closeAll([o.hostFd]);
  });
});

describe("auto (default): 20240729's semantics until the client sends RenameAt2 or ConnectWithCreds", () => {
  const s = useSession(fx, "socket");

  test("switches on the first RenameAt2", () => {
    expectStatOf(s.root.stat, fx.mount, "20240729");
    const { d, gone, link } = semanticsDir(s);
    expect(s.c.errno(MID.OpenAt, { fd: gone.id, flags: C.O_RDONLY })).toBe(C.EINVAL);
    expectErrno(() => s.c.mknodAt(d.id, "wh", C.S_IFCHR | 0o600), C.EPERM);
    expect(s.c.setStat(link.id, { mask: C.STATX_MODE, mode: 0o600 }).failureErrno).toBe(C.EBADF);
    expectStatOf(s.c.fstat(d.id), d.host, "20240729");

    fs.writeFileSync(path.join(d.host, "a"), "A");
    s.c.renameAt2(d.id, "a", d.id, "b", NOREPLACE);

    const o = s.c.openAt(gone.id, C.O_RDONLY);
    closeAll([o.hostFd]);
    s.c.mknodAt(d.id, "wh", C.S_IFCHR | 0o600);
    expect(s.c.setStat(link.id, { mask: C.STATX_MODE, mode: 0o600 }).failureErrno).toBe(C.EOPNOTSUPP);
    expectStatOf(s.c.fstat(d.id), d.host, "today");
  });
});
