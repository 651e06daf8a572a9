// The 9P server (gVisor's 9P2000.L + 9P2000.L.Google.1-13, pkg/p9/handlers.go
// rules over gVisor's 2021 p9 fsgofer's semantics, seeds/fsgofer.go): every message,
// its error paths, version gating, flipcall channels, read-only mounts,
// --listen unix:/tcp:, and what a closed connection releases. Results are
// checked against the host tree the test made on tmpfs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { AttrMask, OpenFlags, QidType, SetAttrMask } from "../src/p9/message";
import { accessMode, bytes, closeAll, hostAccept, hostListen, hostPread, hostGetXattr, hostSetXattr, readStr, text, writeStr } from "./lib/assert";
import { eventually, Gofer, IS_ROOT, resetMount, snapshot, useFixture } from "./lib/fixture";
import { connectTo, NO_FID, type P9Client, session, startListener, startP9, T } from "./lib/p9client";

const fx = useFixture();
const E = C;
const RDONLY = OpenFlags.ReadOnly;
const WRONLY = OpenFlags.WriteOnly;
const RDWR = OpenFlags.ReadWrite;
const GOOGLE = "9P2000.L.Google.13";

let nextFid = 100;
const fid = () => nextFid++;

/** The QID path the server must give a host file: device index << 56 | ino. */
function qidPathOf(p: string, devIndex = 0): bigint {
  const st = fs.lstatSync(p, { bigint: true });
  return (BigInt(devIndex) << 56n) | st.ino;
}
const big = (x: number | bigint) => BigInt(x);

/** p9.Attr from the server describes the host file at p (not following). */
function expectAttrOf(attr: Record<string, number | bigint>, p: string): void {
  const st = fs.lstatSync(p, { bigint: true });
  expect(big(attr.mode)).toBe(st.mode);
  expect(big(attr.uid)).toBe(st.uid);
  expect(big(attr.gid)).toBe(st.gid);
  expect(big(attr.nlink)).toBe(st.nlink);
  expect(big(attr.size)).toBe(st.size);
  expect(big(attr.blocks)).toBe(st.blocks);
  expect(big(attr.blksize)).toBe(st.blksize);
  expect(big(attr.rdev)).toBe(st.rdev);
  expect(big(attr.mtimeSec) * 1_000_000_000n + big(attr.mtimeNsec)).toBe(st.mtimeNs);
  expect(big(attr.ctimeSec) * 1_000_000_000n + big(attr.ctimeNsec)).toBe(st.ctimeNs);
}

function expectQidOf(qid: Record<string, number | bigint>, p: string, devIndex = 0): void {
  const st = fs.lstatSync(p);
  expect(big(qid.path)).toBe(qidPathOf(p, devIndex));
  expect(qid.type).toBe(st.isDirectory() ? QidType.Dir : st.isSymbolicLink() ? QidType.Symlink : QidType.Regular);
}

/** Opens a fresh 9P connection on its own gofer: Tversion + Tattach of fid 1. */
function open9p(o: Parameters<typeof startP9>[1] = {}, version = GOOGLE): { g: Gofer; c: P9Client } {
  const { g, c } = startP9(fx, o);
  session(c, version);
  return { g, c };
}

let seq = 0;
/** A fresh host directory below mount/ and a fid walked to it. */
function scratch(c: P9Client): { host: string; fid: number; name: string } {
  const name = `s${++seq}`;
  const host = path.join(fx.mount, name);
  fs.mkdirSync(host);
  const f = fid();
  c.walk(1, f, [name]);
  return { host, fid: f, name };
}

// ---- Tversion, Tauth, Tattach ----------------------------------------------------------

describe("Tversion", () => {
  let g: Gofer;
  let c: P9Client;
  beforeAll(() => ({ g, c } = startP9(fx)));
  afterAll(async () => {
    expect(await g.stop()).toBe(0);
  });

  test("9P2000.L.Google.13 is echoed with the client's msize", () => {
    expect(c.version(65536, GOOGLE)).toEqual({ msize: 65536, version: GOOGLE });
  });
  test("plain 9P2000.L is accepted", () => {
    expect(c.version(65536, "9P2000.L")).toEqual({ msize: 65536, version: "9P2000.L" });
  });
  test("a version above the highest gets EAGAIN, and the client may ask again", () => {
    expect(c.errno(T.version, { msize: 65536, version: "9P2000.L.Google.14" })).toBe(E.EAGAIN);
    expect(c.errno(T.version, { msize: 65536, version: "9P2000.L.Google.99999" })).toBe(E.EAGAIN);
    expect(c.version(65536, "9P2000.L.Google.12").version).toBe("9P2000.L.Google.12");
  });
  test("an unknown version string gets Rversion \"unknown\"", () => {
    for (const v of ["9P2000", "9P2000.u", "garbage", "", "9P2000.L.Google.", "9P2000.L.Google.x"])
      expect(c.version(65536, v).version).toBe("unknown");
    // And the connection still negotiates afterwards.
    expect(c.version(65536, GOOGLE).version).toBe(GOOGLE);
  });
  test("msize 0 gets EINVAL; above the maximum, EINVAL for gVisor's versions", () => {
    expect(c.errno(T.version, { msize: 0, version: GOOGLE })).toBe(E.EINVAL);
    expect(c.errno(T.version, { msize: (1 << 20) + 1, version: GOOGLE })).toBe(E.EINVAL);
    // A standard client is offered the maximum instead.
    expect(c.version((1 << 20) + 1, "9P2000.L")).toEqual({ msize: 1 << 20, version: "9P2000.L" });
  });
  test("Tread is answered within the negotiated msize", () => {
    fs.writeFileSync(path.join(fx.mount, "msize-file"), Buffer.alloc(100_000, 3));
    c.version(8192, GOOGLE);
    c.attach(1);
    c.walk(1, 2, ["msize-file"]);
    closeAll([c.lopen(2, RDONLY).fd]);
    const r = c.read(2, 0, 50_000);
    expect(r.byteLength).toBe(8192 - 7 - 4);
    c.version(1 << 20, GOOGLE);
  });
  test("a new Tversion releases every fid of the old session", () => {
    c.version(65536, GOOGLE);
    c.attach(7);
    expect(c.errno(T.getattr, { fid: 7, mask: AttrMask.Mode })).toBe(0);
    c.version(65536, GOOGLE);
    expect(c.errno(T.getattr, { fid: 7, mask: AttrMask.Mode })).toBe(E.EBADF);
  });
});

describe("Tauth and Tattach", () => {
  let g: Gofer;
  let c: P9Client;
  beforeAll(() => {
    fs.mkdirSync(path.join(fx.mount, "att/sub"), { recursive: true });
    fs.writeFileSync(path.join(fx.mount, "att/sub/f"), "in sub");
    ({ g, c } = startP9(fx));
    c.version();
  });
  afterAll(async () => {
    await g.stop();
  });

  test("Tauth gets ENOSYS", () => {
    expect(c.errno(T.auth, { afid: 5, uname: "root", aname: "", uid: 0 })).toBe(E.ENOSYS);
  });
  test("an empty aname attaches the mount's root; the QID is its inode", () => {
    const qid = c.attach(1, "");
    expectQidOf(qid, fx.mount);
    const a = c.getattr(1);
    expectAttrOf(a.attr, fx.mount);
  });
  test("an aname is walked from the root (leading / or not); the reply is the root's QID", () => {
    for (const aname of ["att/sub", "/att/sub"]) {
      const f = fid();
      const qid = c.attach(f, aname);
      expectQidOf(qid, fx.mount);
      expect(big(c.getattr(f).qid.path)).toBe(qidPathOf(path.join(fx.mount, "att/sub")));
      c.walk(f, f + 1000, ["f"]);
      nextFid++;
    }
  });
  test("an aname that does not exist, or climbs out, fails", () => {
    expect(c.errno(T.attach, { fid: fid(), afid: NO_FID, uname: "", aname: "nope", uid: 0 })).toBe(E.ENOENT);
    expect(c.errno(T.attach, { fid: fid(), afid: NO_FID, uname: "", aname: "../decoy", uid: 0 })).toBe(E.EINVAL);
    expect(c.errno(T.attach, { fid: fid(), afid: NO_FID, uname: "", aname: "att/../..", uid: 0 })).toBe(E.EINVAL);
  });
  test("an afid other than NOFID gets EINVAL", () => {
    const f = fid();
    expect(c.errno(T.attach, { fid: f, afid: 0, uname: "", aname: "", uid: 0 })).toBe(E.EINVAL);
    expect(c.errno(T.getattr, { fid: f, mask: 1 })).toBe(E.EBADF);
  });
});

// ---- the main session ------------------------------------------------------------------

describe("9P2000.L.Google.13 over the socket", () => {
  let g: Gofer;
  let c: P9Client;
  let listener = -1;
  beforeAll(() => {
    ({ g, c } = open9p({ flags: ["--host-uds", "open"] }));
  });
  afterAll(async () => {
    closeAll([listener]);
    c.close();
    expect(await g.exitCode()).toBe(0);
  });

  // ---- walk -------------------------------------------------------------------------

  test("Twalk returns one QID per name: (device index << 56) | inode, typed", () => {
    const s = scratch(c);
    fs.mkdirSync(path.join(s.host, "d"));
    fs.writeFileSync(path.join(s.host, "d/f"), "x");
    fs.symlinkSync("f", path.join(s.host, "d/l"));
    const f = fid();
    const qids = c.walk(s.fid, f, ["d", "f"]);
    expect(qids.length).toBe(2);
    expectQidOf(qids[0], path.join(s.host, "d"));
    expectQidOf(qids[1], path.join(s.host, "d/f"));
    const l = c.walk(s.fid, fid(), ["d", "l"]);
    expect(l[1].type).toBe(QidType.Symlink);
    expectQidOf(l[1], path.join(s.host, "d/l"));
    // The new fid names the file.
    expectAttrOf(c.getattr(f).attr, path.join(s.host, "d/f"));
  });

  test("Twalk with no names clones the fid", () => {
    const s = scratch(c);
    const f = fid();
    expect(c.walk(s.fid, f, [])).toEqual([]);
    expect(big(c.getattr(f).qid.path)).toBe(qidPathOf(s.host));
    // The clone is independent: clunking it leaves the original.
    c.clunk(f);
    expect(c.errno(T.getattr, { fid: s.fid, mask: 1 })).toBe(0);
  });

  test("Twalk of an opened fid gets EBUSY (also a clone)", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    const d = fid();
    c.walk(s.fid, d, []);
    c.lopen(d, RDONLY);
    expect(c.errno(T.walk, { fid: d, newFid: fid(), names: ["f"] })).toBe(E.EBUSY);
    expect(c.errno(T.walk, { fid: d, newFid: fid(), names: [] })).toBe(E.EBUSY);
    expect(c.errno(T.walkgetattr, { fid: d, newFid: fid(), names: [] })).toBe(E.EBUSY);
  });

  test("Twalk with a bad name gets EINVAL and binds nothing", () => {
    const s = scratch(c);
    fs.mkdirSync(path.join(s.host, "d"));
    for (const name of ["", ".", "..", "d/..", "a/b", "/"]) {
      const nf = fid();
      expect(c.errno(T.walk, { fid: s.fid, newFid: nf, names: ["d", name] })).toBe(E.EINVAL);
      expect(c.errno(T.getattr, { fid: nf, mask: 1 })).toBe(E.EBADF);
    }
  });

  test("Twalk through a non-directory gets EINVAL; a missing name ENOENT; an unknown fid EBADF", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    fs.symlinkSync(fx.decoy, path.join(s.host, "out"));
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["f", "x"] })).toBe(E.EINVAL);
    // A symlink is not followed: walking through it is walking through a non-directory.
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["out", "secret"] })).toBe(E.EINVAL);
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["missing"] })).toBe(E.ENOENT);
    expect(c.errno(T.walk, { fid: 999_999, newFid: fid(), names: [] })).toBe(E.EBADF);
  });

  test("Twalk may name the fid itself as newfid; the fid then names the walked file", () => {
    const s = scratch(c);
    fs.mkdirSync(path.join(s.host, "d"));
    const f = fid();
    c.walk(s.fid, f, []);
    c.walk(f, f, ["d"]);
    expect(big(c.getattr(f).qid.path)).toBe(qidPathOf(path.join(s.host, "d")));
    // A failed walk leaves it as it was.
    expect(c.errno(T.walk, { fid: f, newFid: f, names: ["missing"] })).toBe(E.ENOENT);
    expect(big(c.getattr(f).qid.path)).toBe(qidPathOf(path.join(s.host, "d")));
  });

  test("Twalk refuses file types the policy does not serve (FIFO without --host-fifo, devices)", () => {
    const s = scratch(c);
    spawnSync("mkfifo", [path.join(s.host, "fifo")]);
    libc.mknodat(-100, path.join(s.host, "null"), C.S_IFCHR | 0o666, (1 << 8) | 3);
    expect(fs.statSync(path.join(s.host, "null")).isCharacterDevice()).toBe(true);
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["fifo"] })).toBe(E.EPERM);
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["null"] })).toBe(E.EPERM);
    expect(c.errno(T.walkgetattr, { fid: s.fid, newFid: fid(), names: ["null"] })).toBe(E.EPERM);
  });

  test("Twalkgetattr returns the QIDs and the last file's attributes", () => {
    const s = scratch(c);
    fs.mkdirSync(path.join(s.host, "d"));
    fs.writeFileSync(path.join(s.host, "d/f"), "twelve bytes");
    const f = fid();
    const r = c.walkgetattr(s.fid, f, ["d", "f"]);
    expect(r.qids.length).toBe(2);
    expectQidOf(r.qids[1], path.join(s.host, "d/f"));
    expect(r.valid & AttrMask.Mode).toBe(AttrMask.Mode);
    expect(r.valid & AttrMask.Size).toBe(AttrMask.Size);
    expectAttrOf(r.attr, path.join(s.host, "d/f"));
    // No names: the attributes of the fid's own file.
    const r0 = c.walkgetattr(s.fid, fid(), []);
    expect(r0.qids).toEqual([]);
    expectAttrOf(r0.attr, s.host);
    expect(c.errno(T.walkgetattr, { fid: s.fid, newFid: fid(), names: [".."] })).toBe(E.EINVAL);
    expect(c.errno(T.walkgetattr, { fid: s.fid, newFid: fid(), names: ["d", "f", "x"] })).toBe(E.EINVAL);
  });

  // ---- open, read, write -----------------------------------------------------------------

  test("Tlopen donates a host FD that really reads the file", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "donated content");
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    const o = c.lopen(f, RDONLY);
    expectQidOf(o.qid, path.join(s.host, "f"));
    expect(o.fd).toBeGreaterThanOrEqual(0);
    expect(accessMode(o.fd)).toBe(C.O_RDONLY);
    expect(text(hostPread(o.fd, 100))).toBe("donated content");
    closeAll([o.fd]);
    expect(text(c.read(f, 0, 100))).toBe("donated content");
    expect(text(c.read(f, 8, 100))).toBe("content");
    expect(c.read(f, 1000, 100).byteLength).toBe(0);
  });

  test("Tlopen: a directory for writing or truncation gets EISDIR; a symlink EINVAL; twice EINVAL", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    fs.symlinkSync("f", path.join(s.host, "l"));
    for (const flags of [WRONLY, RDWR, RDONLY | OpenFlags.Truncate]) {
      const d = fid();
      c.walk(s.fid, d, []);
      expect(c.errno(T.lopen, { fid: d, flags })).toBe(E.EISDIR);
    }
    const l = fid();
    c.walk(s.fid, l, ["l"]);
    expect(c.errno(T.lopen, { fid: l, flags: RDONLY })).toBe(E.EINVAL);
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    expect(c.errno(T.lopen, { fid: f, flags: RDONLY })).toBe(0);
    expect(c.errno(T.lopen, { fid: f, flags: RDONLY })).toBe(E.EINVAL);
    // A directory opened read-only donates no FD (regular files only).
    const d = fid();
    c.walk(s.fid, d, []);
    const o = c.lopen(d, RDONLY);
    expect(o.fd).toBe(-1);
    expect(o.qid.type).toBe(QidType.Dir);
    expect(c.errno(T.lopen, { fid: 999_999, flags: RDONLY })).toBe(E.EBADF);
  });

  test("Tlopen with O_TRUNC truncates; write-only donates a writable FD", () => {
    const s = scratch(c);
    const p = path.join(s.host, "f");
    fs.writeFileSync(p, "old content");
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    const o = c.lopen(f, WRONLY | OpenFlags.Truncate);
    expect(fs.readFileSync(p, "utf8")).toBe("");
    expect(o.fd).toBeGreaterThanOrEqual(0);
    expect(writeStr(o.fd, "via fd")).toBe(6);
    closeAll([o.fd]);
    expect(fs.readFileSync(p, "utf8")).toBe("via fd");
  });

  test("Tread/Twrite: not opened EINVAL; against the open mode EPERM; data lands on the host", () => {
    const s = scratch(c);
    const p = path.join(s.host, "f");
    fs.writeFileSync(p, "0123456789");
    const closed = fid();
    c.walk(s.fid, closed, ["f"]);
    expect(c.errno(T.read, { fid: closed, offset: 0, count: 10 })).toBe(E.EINVAL);
    expect(c.errno(T.write, { fid: closed, offset: 0, data: bytes("x") })).toBe(E.EINVAL);
    const ro = fid();
    c.walk(s.fid, ro, ["f"]);
    closeAll([c.lopen(ro, RDONLY).fd]);
    expect(c.errno(T.write, { fid: ro, offset: 0, data: bytes("x") })).toBe(E.EPERM);
    const wo = fid();
    c.walk(s.fid, wo, ["f"]);
    closeAll([c.lopen(wo, WRONLY).fd]);
    expect(c.errno(T.read, { fid: wo, offset: 0, count: 10 })).toBe(E.EPERM);
    expect(c.write(wo, 3, bytes("abc"))).toBe(3);
    expect(fs.readFileSync(p, "utf8")).toBe("012abc6789");
    const rw = fid();
    c.walk(s.fid, rw, ["f"]);
    closeAll([c.lopen(rw, RDWR).fd]);
    expect(c.write(rw, 10, bytes("!"))).toBe(1);
    expect(text(c.read(rw, 0, 64))).toBe("012abc6789!");
    // A read above the protocol's maximum is refused (gVisor: ENOBUFS).
    expect(c.errno(T.read, { fid: rw, offset: 0, count: (1 << 20) + 1 })).toBe(E.ENOBUFS);
    // A large read is answered within msize.
    fs.writeFileSync(p, Buffer.alloc(3 << 20, 7));
    const big3 = c.read(rw, 0, 1 << 20);
    expect(big3.byteLength).toBeGreaterThan(0);
    expect(big3.byteLength).toBeLessThanOrEqual(1 << 20);
    expect(big3.every((b) => b === 7)).toBe(true);
    expect(c.errno(T.read, { fid: 999_999, offset: 0, count: 1 })).toBe(E.EBADF);
  });

  // ---- creation --------------------------------------------------------------------------

  test("Tlcreate: the fid becomes the new, opened file; its FD is the file", () => {
    const s = scratch(c);
    const d = fid();
    c.walk(s.fid, d, []);
    const o = c.lcreate(d, "new", RDWR, 0o640, 777);
    const p = path.join(s.host, "new");
    expect(fs.statSync(p).mode & 0o7777).toBe(0o640);
    // Tlcreate's gid is the file's group; the owner stays the gofer's.
    expect([fs.statSync(p).uid, fs.statSync(p).gid]).toEqual([process.getuid!(), 777]);
    expectQidOf(o.qid, p);
    expect(o.fd).toBeGreaterThanOrEqual(0);
    expect(writeStr(o.fd, "by fd")).toBe(5);
    closeAll([o.fd]);
    // The fid is the file now, opened read-write.
    expect(big(c.getattr(d).qid.path)).toBe(qidPathOf(p));
    expect(c.write(d, 5, bytes(" and fid"))).toBe(8);
    expect(text(c.read(d, 0, 100))).toBe("by fd and fid");
    expect(fs.readFileSync(p, "utf8")).toBe("by fd and fid");
    // Write-only create: reads are refused at the protocol level.
    const d2 = fid();
    c.walk(s.fid, d2, []);
    closeAll([c.lcreate(d2, "wo", WRONLY).fd]);
    expect(c.errno(T.read, { fid: d2, offset: 0, count: 1 })).toBe(E.EPERM);
  });

  test("Tlcreate errors: existing name, bad name, non-directory, opened directory", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    const mk = () => {
      const d = fid();
      c.walk(s.fid, d, []);
      return d;
    };
    const kept = mk();
    expect(c.errno(T.lcreate, { fid: kept, name: "f", flags: RDWR, mode: 0o644, gid: 0 })).toBe(E.EEXIST);
    // A failed create leaves the fid naming the directory, unopened.
    expect(big(c.getattr(kept).qid.path)).toBe(qidPathOf(s.host));
    expect(c.walk(kept, fid(), ["f"]).length).toBe(1);
    for (const name of ["", ".", "..", "a/b"]) expect(c.errno(T.lcreate, { fid: mk(), name, flags: RDWR, mode: 0o644, gid: 0 })).toBe(E.EINVAL);
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    expect(c.errno(T.lcreate, { fid: f, name: "x", flags: RDWR, mode: 0o644, gid: 0 })).toBe(E.EINVAL);
    const od = mk();
    c.lopen(od, RDONLY);
    expect(c.errno(T.lcreate, { fid: od, name: "x", flags: RDWR, mode: 0o644, gid: 0 })).toBe(E.EINVAL);
    expect(fs.readdirSync(s.host)).toEqual(["f"]);
  });

  test("Tucreate sets the owner", () => {
    if (!IS_ROOT) throw new Error("needs root (chown)");
    const s = scratch(c);
    const d = fid();
    c.walk(s.fid, d, []);
    closeAll([c.ucreate(d, "owned", RDWR, 0o600, 1234, 5678).fd]);
    const st = fs.statSync(path.join(s.host, "owned"));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1234, 5678, 0o600]);
  });

  test("Tmkdir/Tumkdir make directories (owner for Tumkdir); EEXIST, EINVAL", () => {
    const s = scratch(c);
    const r = c.ok(T.mkdir, { dirFid: s.fid, name: "d", mode: 0o750, gid: 0 });
    const p = path.join(s.host, "d");
    expect(fs.statSync(p).isDirectory()).toBe(true);
    expect(fs.statSync(p).mode & 0o777).toBe(0o750);
    expectQidOf(r.qid, p);
    const u = c.ok(T.umkdir, { dirFid: s.fid, name: "u", mode: 0o700, gid: 4321, uid: 1234 });
    const st = fs.statSync(path.join(s.host, "u"));
    expect([st.uid, st.gid]).toEqual([1234, 4321]);
    expectQidOf(u.qid, path.join(s.host, "u"));
    expect(c.errno(T.mkdir, { dirFid: s.fid, name: "d", mode: 0o755, gid: 0 })).toBe(E.EEXIST);
    expect(c.errno(T.mkdir, { dirFid: s.fid, name: "..", mode: 0o755, gid: 0 })).toBe(E.EINVAL);
    expect(c.errno(T.mkdir, { dirFid: 999_999, name: "z", mode: 0o755, gid: 0 })).toBe(E.EBADF);
  });

  test("Tsymlink/Tusymlink make symlinks; Treadlink reads them", () => {
    const s = scratch(c);
    const r = c.ok(T.symlink, { dirFid: s.fid, name: "l", target: "../some/where", gid: 0 });
    const p = path.join(s.host, "l");
    expect(fs.readlinkSync(p)).toBe("../some/where");
    expectQidOf(r.qid, p);
    c.ok(T.usymlink, { dirFid: s.fid, name: "ul", target: "t", gid: 77, uid: 66 });
    const st = fs.lstatSync(path.join(s.host, "ul"));
    expect([st.uid, st.gid]).toEqual([66, 77]);
    const lf = fid();
    c.walk(s.fid, lf, ["l"]);
    expect(c.readlink(lf)).toBe("../some/where");
    expect(c.errno(T.readlink, { fid: s.fid })).toBe(E.EINVAL);
    expect(c.errno(T.symlink, { dirFid: s.fid, name: "l", target: "x", gid: 0 })).toBe(E.EEXIST);
  });

  test("Tmknod makes regular files; a character device or a FIFO gets EPERM and nothing is made", () => {
    const s = scratch(c);
    const r = c.ok(T.mknod, { dirFid: s.fid, name: "reg", mode: C.S_IFREG | 0o640, major: 0, minor: 0, gid: 0 });
    expect(fs.statSync(path.join(s.host, "reg")).isFile()).toBe(true);
    expectQidOf(r.qid, path.join(s.host, "reg"));
    c.ok(T.umknod, { dirFid: s.fid, name: "ureg", mode: C.S_IFREG | 0o600, major: 0, minor: 0, gid: 9, uid: 8 });
    expect(fs.statSync(path.join(s.host, "ureg")).uid).toBe(8);
    expect(c.errno(T.mknod, { dirFid: s.fid, name: "null", mode: C.S_IFCHR | 0o666, major: 1, minor: 3, gid: 0 })).toBe(E.EPERM);
    expect(c.errno(T.mknod, { dirFid: s.fid, name: "fifo", mode: C.S_IFIFO | 0o666, major: 0, minor: 0, gid: 0 })).toBe(E.EPERM);
    expect(c.errno(T.umknod, { dirFid: s.fid, name: "blk", mode: 0o60000 | 0o666, major: 8, minor: 0, gid: 0, uid: 0 })).toBe(E.EPERM);
    // No file type bits is not a regular file either (the 2021 fsgofer's FileType() != ModeRegular).
    expect(c.errno(T.mknod, { dirFid: s.fid, name: "untyped", mode: 0o644, major: 0, minor: 0, gid: 0 })).toBe(E.EPERM);
    expect(fs.readdirSync(s.host).sort()).toEqual(["reg", "ureg"]);
  });

  test("Tlink makes a hard link", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    c.ok(T.link, { dirFid: s.fid, targetFid: f, name: "hard" });
    expect(fs.statSync(path.join(s.host, "hard")).ino).toBe(fs.statSync(path.join(s.host, "f")).ino);
    expect(fs.statSync(path.join(s.host, "f")).nlink).toBe(2);
    expect(c.errno(T.link, { dirFid: s.fid, targetFid: f, name: "hard" })).toBe(E.EEXIST);
    expect(c.errno(T.link, { dirFid: f, targetFid: f, name: "x" })).toBe(E.EINVAL);
    expect(c.errno(T.link, { dirFid: s.fid, targetFid: f, name: "a/b" })).toBe(E.EINVAL);
    expect(c.errno(T.link, { dirFid: s.fid, targetFid: 999_999, name: "y" })).toBe(E.EBADF);
    // Directories cannot be hard-linked.
    fs.mkdirSync(path.join(s.host, "d"));
    const d = fid();
    c.walk(s.fid, d, ["d"]);
    expect(c.errno(T.link, { dirFid: s.fid, targetFid: d, name: "dlink" })).toBe(E.EPERM);
  });

  // ---- rename, unlink, remove ---------------------------------------------------------

  test("Trename moves the fid's file; fids below a renamed directory still work", () => {
    const s = scratch(c);
    fs.mkdirSync(path.join(s.host, "dir/sub"), { recursive: true });
    fs.writeFileSync(path.join(s.host, "dir/sub/file"), "deep");
    const dir = fid();
    const sub = fid();
    const file = fid();
    c.walk(s.fid, dir, ["dir"]);
    c.walk(dir, sub, ["sub"]);
    c.walk(sub, file, ["file"]);
    fs.mkdirSync(path.join(s.host, "other"));
    const other = fid();
    c.walk(s.fid, other, ["other"]);
    c.ok(T.rename, { fid: dir, dirFid: other, name: "moved" });
    expect(fs.existsSync(path.join(s.host, "dir"))).toBe(false);
    expect(fs.readFileSync(path.join(s.host, "other/moved/sub/file"), "utf8")).toBe("deep");
    // Fids below follow the move.
    closeAll([c.lopen(file, RDONLY).fd]);
    expect(text(c.read(file, 0, 10))).toBe("deep");
    c.ok(T.mkdir, { dirFid: sub, name: "made", mode: 0o755, gid: 0 });
    expect(fs.statSync(path.join(s.host, "other/moved/sub/made")).isDirectory()).toBe(true);
    const again = fid();
    c.walk(sub, again, ["file"]);
    expectAttrOf(c.getattr(again).attr, path.join(s.host, "other/moved/sub/file"));
    // The root cannot be renamed; bad names are refused.
    expect(c.errno(T.rename, { fid: 1, dirFid: other, name: "root" })).toBe(E.EINVAL);
    expect(c.errno(T.rename, { fid: file, dirFid: other, name: ".." })).toBe(E.EINVAL);
    expect(c.errno(T.rename, { fid: file, dirFid: file, name: "x" })).toBe(E.EINVAL);
  });

  test("Trenameat renames by name; fids of the renamed file follow", () => {
    const s = scratch(c);
    fs.mkdirSync(path.join(s.host, "a"));
    fs.mkdirSync(path.join(s.host, "b"));
    fs.writeFileSync(path.join(s.host, "a/f"), "ren");
    const a = fid();
    const b = fid();
    const f = fid();
    c.walk(s.fid, a, ["a"]);
    c.walk(s.fid, b, ["b"]);
    c.walk(a, f, ["f"]);
    c.ok(T.renameat, { oldDirFid: a, oldName: "f", newDirFid: b, newName: "g" });
    expect(fs.readdirSync(path.join(s.host, "a"))).toEqual([]);
    expect(fs.readFileSync(path.join(s.host, "b/g"), "utf8")).toBe("ren");
    closeAll([c.lopen(f, RDONLY).fd]);
    expect(text(c.read(f, 0, 10))).toBe("ren");
    // Renaming over a file: fids of the replaced file see it deleted.
    fs.writeFileSync(path.join(s.host, "b/victim"), "v");
    const victim = fid();
    c.walk(b, victim, ["victim"]);
    c.ok(T.renameat, { oldDirFid: b, oldName: "g", newDirFid: b, newName: "victim" });
    expect(c.errno(T.lopen, { fid: victim, flags: RDONLY })).toBe(E.EINVAL);
    expect(fs.readFileSync(path.join(s.host, "b/victim"), "utf8")).toBe("ren");
    c.ok(T.renameat, { oldDirFid: b, oldName: "victim", newDirFid: b, newName: "g" });
    expect(c.errno(T.renameat, { oldDirFid: a, oldName: "missing", newDirFid: b, newName: "x" })).toBe(E.ENOENT);
    expect(c.errno(T.renameat, { oldDirFid: b, oldName: "g", newDirFid: a, newName: "." })).toBe(E.EINVAL);
    expect(c.errno(T.renameat, { oldDirFid: b, oldName: "g/", newDirFid: a, newName: "x" })).toBe(E.EINVAL);
    expect(c.errno(T.renameat, { oldDirFid: f, oldName: "g", newDirFid: a, newName: "x" })).toBe(E.EINVAL);
  });

  test("Tunlinkat removes files and (with AT_REMOVEDIR) directories", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    fs.mkdirSync(path.join(s.host, "d"));
    fs.mkdirSync(path.join(s.host, "full"));
    fs.writeFileSync(path.join(s.host, "full/x"), "x");
    expect(c.errno(T.unlinkat, { dirFid: s.fid, name: "d", flags: 0 })).toBe(E.EISDIR);
    expect(c.errno(T.unlinkat, { dirFid: s.fid, name: "full", flags: C.AT_REMOVEDIR })).toBe(E.ENOTEMPTY);
    expect(c.errno(T.unlinkat, { dirFid: s.fid, name: "..", flags: C.AT_REMOVEDIR })).toBe(E.EINVAL);
    expect(c.errno(T.unlinkat, { dirFid: s.fid, name: "missing", flags: 0 })).toBe(E.ENOENT);
    c.ok(T.unlinkat, { dirFid: s.fid, name: "f", flags: 0 });
    c.ok(T.unlinkat, { dirFid: s.fid, name: "d", flags: C.AT_REMOVEDIR });
    expect(fs.readdirSync(s.host)).toEqual(["full"]);
  });

  test("Tremove removes the fid's file and clunks the fid; the root is refused", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    fs.mkdirSync(path.join(s.host, "d"));
    const f = fid();
    const d = fid();
    c.walk(s.fid, f, ["f"]);
    c.walk(s.fid, d, ["d"]);
    fs.mkdirSync(path.join(s.host, "full"));
    fs.writeFileSync(path.join(s.host, "full/x"), "x");
    const full = fid();
    c.walk(s.fid, full, ["full"]);
    expect(c.errno(T.remove, { fid: full })).toBe(E.ENOTEMPTY);
    expect(c.errno(T.getattr, { fid: full, mask: 1 })).toBe(E.EBADF);
    fs.rmSync(path.join(s.host, "full"), { recursive: true });
    c.ok(T.remove, { fid: f });
    c.ok(T.remove, { fid: d });
    expect(fs.readdirSync(s.host)).toEqual([]);
    expect(c.errno(T.getattr, { fid: f, mask: 1 })).toBe(E.EBADF);
    expect(c.errno(T.remove, { fid: f })).toBe(E.EBADF);
    const root = fid();
    c.walk(1, root, []);
    expect(c.errno(T.remove, { fid: root })).toBe(E.EINVAL);
    // The fid is released even then (gVisor's Tremove always clunks).
    expect(c.errno(T.getattr, { fid: root, mask: 1 })).toBe(E.EBADF);
    expect(fs.existsSync(fx.mount)).toBe(true);
  });

  test("Tremove finds the parent after it moved: through a fid held on it, and by walking when none is", () => {
    const s = scratch(c);
    fs.mkdirSync(path.join(s.host, "dir/sub"), { recursive: true });
    for (const n of ["a", "b", "c", "d"]) fs.writeFileSync(path.join(s.host, "dir/sub", n), n);
    fs.mkdirSync(path.join(s.host, "other"));
    const dir = fid();
    const other = fid();
    c.walk(s.fid, dir, ["dir"]);
    c.walk(s.fid, other, ["other"]);
    // No fid on sub: a is reached by walking from the mount point.
    const a = fid();
    c.walk(dir, a, ["sub", "a"]);
    c.ok(T.rename, { fid: dir, dirFid: other, name: "moved" });
    c.ok(T.remove, { fid: a });
    const moved = path.join(s.host, "other/moved/sub");
    expect(fs.readdirSync(moved).sort()).toEqual(["b", "c", "d"]);
    // Two fids on sub: the first one's FD serves as the parent...
    const sub1 = fid();
    const sub2 = fid();
    c.walk(other, sub1, ["moved", "sub"]);
    c.walk(sub1, sub2, []);
    const b = fid();
    const cc = fid();
    const d = fid();
    c.walk(sub1, b, ["b"]);
    c.walk(sub1, cc, ["c"]);
    c.walk(sub2, d, ["d"]);
    c.ok(T.rename, { fid: other, dirFid: s.fid, name: "other2" });
    c.ok(T.remove, { fid: b });
    const moved2 = path.join(s.host, "other2/moved/sub");
    expect(fs.readdirSync(moved2).sort()).toEqual(["c", "d"]);
    // ...and once it is clunked (its FD number then reused by an open file),
    // the parent is found again without it.
    c.ok(T.clunk, { fid: sub1 });
    fs.writeFileSync(path.join(s.host, "r"), "r");
    const r = fid();
    c.walk(s.fid, r, ["r"]);
    closeAll([c.lopen(r, RDONLY).fd]);
    c.ok(T.remove, { fid: cc });
    c.ok(T.clunk, { fid: sub2 });
    c.ok(T.remove, { fid: d });
    expect(fs.readdirSync(moved2)).toEqual([]);
    expect(fs.readFileSync(path.join(s.host, "r"), "utf8")).toBe("r");
  });

  // ---- readdir ---------------------------------------------------------------------------

  test("Treaddir lists a directory with QIDs and offsets; needs an opened directory", () => {
    const s = scratch(c);
    for (const n of ["a", "b", "c"]) fs.writeFileSync(path.join(s.host, n), n);
    fs.mkdirSync(path.join(s.host, "d"));
    const d = fid();
    c.walk(s.fid, d, []);
    expect(c.errno(T.readdir, { fid: d, offset: 0, count: 4096 })).toBe(E.EINVAL);
    c.lopen(d, RDONLY);
    const ents = c.readdir(d, 0, 4096);
    expect(ents.map((e) => e.name).sort()).toEqual(["a", "b", "c", "d"]);
    ents.forEach((e, i) => {
      expect(Number(e.offset)).toBe(i + 1);
      expectQidOf(e.qid, path.join(s.host, e.name));
      // gVisor's clients get the QID type in the type field.
      expect(e.type).toBe(e.qid.type);
    });
    // Reading a directory as a file is the host's EISDIR.
    expect(c.errno(T.read, { fid: d, offset: 0, count: 100 })).toBe(E.EISDIR);
    // At the end: nothing more.
    expect(c.readdir(d, ents.length, 4096)).toEqual([]);
    // A file fid is not a directory.
    const f = fid();
    c.walk(s.fid, f, ["a"]);
    c.lopen(f, RDONLY);
    expect(c.errno(T.readdir, { fid: f, offset: 0, count: 4096 })).toBe(E.EINVAL);
  });

  test("Treaddir QIDs of mount points follow mounts and unmounts made while serving", () => {
    if (!IS_ROOT) throw new Error("needs root (mount)");
    const s = scratch(c);
    const mnt = path.join(s.host, "mnt");
    fs.mkdirSync(mnt);
    fs.writeFileSync(path.join(s.host, "f"), "");
    const d = fid();
    c.walk(s.fid, d, []);
    c.lopen(d, RDONLY);
    const qidOf = (name: string) => c.readdir(d, 0, 4096).find((e) => e.name === name)!.qid;
    // Not a mount point yet: the directory's own inode, device index 0.
    expect(big(qidOf("mnt").path)).toBe(qidPathOf(mnt));
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
    expect(mounted.status).toBe(0);
    try {
      // The mounted root's inode on a second device (index 1), as a walk says;
      // the dirent alone would still give the covered directory's inode.
      const q = qidOf("mnt");
      expect(big(q.path)).toBe(qidPathOf(mnt, 1));
      const w = fid();
      expect(big(c.walk(s.fid, w, ["mnt"])[0].path)).toBe(big(q.path));
      c.clunk(w);
      expect(big(qidOf("f").path)).toBe(qidPathOf(path.join(s.host, "f")));
    } finally {
      spawnSync("umount", [mnt]);
    }
    expect(big(qidOf("mnt").path)).toBe(qidPathOf(mnt));
  });

  test("Treaddir offsets: the same offset again gives the same entries; offset 0 rewinds", () => {
    const s = scratch(c);
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(s.host, `e${String(i).padStart(2, "0")}`), "");
    const d = fid();
    c.walk(s.fid, d, []);
    c.lopen(d, RDONLY);
    const all = c.readdir(d, 0, 1 << 16).map((e) => e.name);
    expect(all.length).toBe(20);
    const small = 3 * 30; // a few entries per call
    const first = c.readdir(d, 0, small);
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThan(20);
    const at = Number(first[first.length - 1].offset);
    const second = c.readdir(d, at, small);
    const secondAgain = c.readdir(d, at, small);
    expect(secondAgain.map((e) => e.name)).toEqual(second.map((e) => e.name));
    expect(second.map((e) => e.name)).toEqual(all.slice(at, at + second.length));
    // A jump forward skips; a jump back rewinds.
    expect(c.readdir(d, 10, small)[0].name).toBe(all[10]);
    expect(c.readdir(d, 2, small)[0].name).toBe(all[2]);
    // Offset 0 sees entries made since.
    fs.writeFileSync(path.join(s.host, "late"), "");
    const again = c.readdir(d, 0, 1 << 16).map((e) => e.name);
    expect(again.length).toBe(21);
    expect(again).toContain("late");
    // Entries of types a walk refuses are still listed (as the 2021 fsgofer's Readdir).
    spawnSync("mkfifo", [path.join(s.host, "zfifo")]);
    libc.mknodat(-100, path.join(s.host, "zchr"), C.S_IFCHR | 0o600, (1 << 8) | 3);
    const withSpecial = c.readdir(d, 0, 1 << 16);
    expect(withSpecial.map((e) => e.name)).toContain("zfifo");
    expect(withSpecial.map((e) => e.name)).toContain("zchr");
    for (const e of withSpecial.filter((x) => x.name.startsWith("z"))) expect(e.type).toBe(QidType.AppendOnly);
    // A count too small for any entry gives none.
    expect(c.readdir(d, 0, 10)).toEqual([]);
  });

  test("Treaddir of a 3000-entry directory with a small count lists every entry exactly once", () => {
    const s = scratch(c);
    const names = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const n = `entry-${i}`;
      names.add(n);
      fs.writeFileSync(path.join(s.host, n), "");
    }
    const d = fid();
    c.walk(s.fid, d, []);
    c.lopen(d, RDONLY);
    const seen: string[] = [];
    let off = 0;
    for (let calls = 0; calls < 10_000; calls++) {
      const ents = c.readdir(d, off, 256);
      if (ents.length === 0) break;
      for (const e of ents) seen.push(e.name);
      off = Number(ents[ents.length - 1].offset);
    }
    expect(seen.length).toBe(3000);
    expect(new Set(seen)).toEqual(names);
  });

  // ---- attributes ------------------------------------------------------------------------

  test("Tgetattr describes files, directories and symlinks", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "attr");
    fs.symlinkSync("f", path.join(s.host, "l"));
    for (const n of ["f", "l", ""]) {
      const f = fid();
      c.walk(s.fid, f, n ? [n] : []);
      const a = c.getattr(f, 0x3fff);
      const p = n ? path.join(s.host, n) : s.host;
      expectAttrOf(a.attr, p);
      expectQidOf(a.qid, p);
      // The 2021 fsgofer's GetAttr: the basic stats but the inode number.
      expect(a.valid).toBe(0x6ff);
    }
    expect(c.errno(T.getattr, { fid: 999_999, mask: 1 })).toBe(E.EBADF);
  });

  test("Tsetattr changes mode, owner, size and times; CTime is EPERM at Google versions", () => {
    const s = scratch(c);
    const p = path.join(s.host, "f");
    fs.writeFileSync(p, "0123456789");
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    c.setattr(f, SetAttrMask.Mode, { mode: 0o604 });
    expect(fs.statSync(p).mode & 0o7777).toBe(0o604);
    c.setattr(f, SetAttrMask.UID | SetAttrMask.GID, { uid: 1111, gid: 2222 });
    expect([fs.statSync(p).uid, fs.statSync(p).gid]).toEqual([1111, 2222]);
    c.setattr(f, SetAttrMask.Size, { size: 4 });
    expect(fs.readFileSync(p, "utf8")).toBe("0123");
    c.setattr(f, SetAttrMask.ATime | SetAttrMask.ATimeSet | SetAttrMask.MTime | SetAttrMask.MTimeSet, {
      atimeSec: 1_000_000,
      atimeNsec: 5,
      mtimeSec: 2_000_000,
      mtimeNsec: 7,
    });
    const st = fs.statSync(p, { bigint: true });
    expect(st.atimeNs).toBe(1_000_000_000_000_005n);
    expect(st.mtimeNs).toBe(2_000_000_000_000_007n);
    // MTime without MTimeSet: now.
    c.setattr(f, SetAttrMask.MTime, {});
    expect(Number(fs.statSync(p).mtimeMs)).toBeGreaterThan(Date.now() - 60_000);
    const before = snapshot(s.host);
    expect(c.errno(T.setattr, { fid: f, valid: SetAttrMask.CTime, attr: {} })).toBe(E.EPERM);
    expect(c.errno(T.setattr, { fid: f, valid: SetAttrMask.CTime | SetAttrMask.Mode, attr: { mode: 0o777 } })).toBe(E.EPERM);
    expect(snapshot(s.host)).toEqual(before);
    expect(c.errno(T.setattr, { fid: 999_999, valid: SetAttrMask.Mode, attr: {} })).toBe(E.EBADF);
  });

  test("Tsetattrclunk applies the change and releases the fid, even when it fails", () => {
    const s = scratch(c);
    const p = path.join(s.host, "f");
    fs.writeFileSync(p, "x");
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    c.ok(T.setattrclunk, { fid: f, valid: SetAttrMask.Mode, attr: { mode: 0o611 } });
    expect(fs.statSync(p).mode & 0o7777).toBe(0o611);
    expect(c.errno(T.getattr, { fid: f, mask: 1 })).toBe(E.EBADF);
    const g2 = fid();
    c.walk(s.fid, g2, ["f"]);
    expect(c.errno(T.setattrclunk, { fid: g2, valid: SetAttrMask.CTime, attr: {} })).toBe(E.EPERM);
    expect(c.errno(T.getattr, { fid: g2, mask: 1 })).toBe(E.EBADF);
  });

  test("Tstatfs matches the host's statfs", () => {
    const a = c.ok(T.statfs, { fid: 1 }).stat;
    const h = fs.statfsSync(fx.mount, { bigint: true });
    expect(big(a.type)).toBe(h.type);
    expect(big(a.bsize)).toBe(h.bsize);
    expect(big(a.blocks)).toBe(h.blocks);
    expect(big(a.files)).toBe(h.files);
    expect(Number(a.namelen)).toBe(255);
    expect(c.errno(T.statfs, { fid: 999_999 })).toBe(E.EBADF);
  });

  test("Tfsync needs an opened fid; Tflushf needs a fid; Tflush answers", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    expect(c.errno(T.fsync, { fid: f })).toBe(E.EINVAL);
    closeAll([c.lopen(f, RDWR).fd]);
    expect(c.errno(T.fsync, { fid: f })).toBe(0);
    expect(c.errno(T.fsync, { fid: 999_999 })).toBe(E.EBADF);
    expect(c.errno(T.flushf, { fid: f })).toBe(0);
    expect(c.errno(T.flushf, { fid: 999_999 })).toBe(E.EBADF);
    expect(c.errno(T.flush, { oldTag: 1 })).toBe(0);
    expect(c.errno(T.flush, { oldTag: 0xffff })).toBe(0);
  });

  test("Tallocate extends the file; needs an opened, writable fid", () => {
    const s = scratch(c);
    const p = path.join(s.host, "f");
    fs.writeFileSync(p, "");
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    expect(c.errno(T.allocate, { fid: f, mode: 0, offset: 0, length: 8192 })).toBe(E.EINVAL);
    const ro = fid();
    c.walk(s.fid, ro, ["f"]);
    closeAll([c.lopen(ro, RDONLY).fd]);
    expect(c.errno(T.allocate, { fid: ro, mode: 0, offset: 0, length: 8192 })).toBe(E.EBADF);
    closeAll([c.lopen(f, RDWR).fd]);
    c.ok(T.allocate, { fid: f, mode: 0, offset: 0, length: 8192 });
    expect(fs.statSync(p).size).toBe(8192);
    // FALLOC_FL_KEEP_SIZE (1): blocks, not size.
    c.ok(T.allocate, { fid: f, mode: 1, offset: 8192, length: 8192 });
    expect(fs.statSync(p).size).toBe(8192);
  });

  test("Txattrwalk gets ENODATA, Txattrcreate ENOSYS; xattr messages EOPNOTSUPP without --xattr-user", () => {
    const s = scratch(c);
    const p = path.join(s.host, "f");
    fs.writeFileSync(p, "x");
    hostSetXattr(p, "user.tag", "v");
    const f = fid();
    c.walk(s.fid, f, ["f"]);
    expect(c.errno(T.xattrwalk, { fid: f, newFid: fid(), name: "user.tag" })).toBe(E.ENODATA);
    expect(c.errno(T.xattrcreate, { fid: f, name: "user.tag", size: 1, flags: 0 })).toBe(E.ENOSYS);
    expect(c.errno(T.getxattr, { fid: f, name: "user.tag", size: 100 })).toBe(E.EOPNOTSUPP);
    expect(c.errno(T.setxattr, { fid: f, name: "user.tag", value: "w", flags: 0 })).toBe(E.EOPNOTSUPP);
    expect(c.errno(T.listxattr, { fid: f, size: 100 })).toBe(E.EOPNOTSUPP);
    expect(c.errno(T.removexattr, { fid: f, name: "user.tag" })).toBe(E.EOPNOTSUPP);
    expect(hostGetXattr(p, "user.tag")).toBe("v");
  });

  test("Tmultigetattr stats each name along a path, stopping at the first missing one", () => {
    const s = scratch(c);
    fs.mkdirSync(path.join(s.host, "d/e"), { recursive: true });
    fs.writeFileSync(path.join(s.host, "d/e/f"), "x");
    const r = c.ok(T.multigetattr, { fid: s.fid, names: ["d", "e", "f"] }).stats;
    expect(r.length).toBe(3);
    const ps = ["d", "d/e", "d/e/f"].map((x) => path.join(s.host, x));
    r.forEach((st: Record<string, any>, i: number) => {
      expectQidOf(st.qid, ps[i]);
      expectAttrOf(st.attr, ps[i]);
    });
    // An empty first name stands for the fid's own file.
    const self = c.ok(T.multigetattr, { fid: s.fid, names: ["", "d"] }).stats;
    expect(self.length).toBe(2);
    expectQidOf(self[0].qid, s.host);
    expectQidOf(self[1].qid, ps[0]);
    expect(c.errno(T.multigetattr, { fid: s.fid, names: ["d", ""] })).toBe(E.EINVAL);
    const partial = c.ok(T.multigetattr, { fid: s.fid, names: ["d", "missing", "x"] }).stats;
    expect(partial.length).toBe(1);
    expect(c.errno(T.multigetattr, { fid: s.fid, names: ["d", ".."] })).toBe(E.EINVAL);
    expect(c.errno(T.multigetattr, { fid: 999_999, names: ["d"] })).toBe(E.EBADF);
  });

  test("Tlconnect (--host-uds open) donates a socket connected to the host listener", () => {
    const s = scratch(c);
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
    const s = scratch(c);
    expect(c.errno(T.bind, { dirFid: s.fid, sockType: 0, name: "b", uid: 0, gid: 0, newFid: fid() })).toBe(E.EPERM);
    expect(fs.readdirSync(s.host)).toEqual([]);
  });

  test("a fid whose file was deleted: no open, walk, setattr, create, readdir", () => {
    const s = scratch(c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    fs.mkdirSync(path.join(s.host, "d"));
    const f = fid();
    const d = fid();
    const dOpen = fid();
    c.walk(s.fid, f, ["f"]);
    c.walk(s.fid, d, ["d"]);
    c.walk(s.fid, dOpen, ["d"]);
    c.lopen(dOpen, RDONLY);
    c.ok(T.unlinkat, { dirFid: s.fid, name: "f", flags: 0 });
    c.ok(T.unlinkat, { dirFid: s.fid, name: "d", flags: C.AT_REMOVEDIR });
    expect(c.errno(T.lopen, { fid: f, flags: RDONLY })).toBe(E.EINVAL);
    expect(c.errno(T.setattr, { fid: f, valid: SetAttrMask.Mode, attr: { mode: 0o600 } })).toBe(E.EINVAL);
    expect(c.errno(T.mkdir, { dirFid: d, name: "x", mode: 0o755, gid: 0 })).toBe(E.EINVAL);
    expect(c.errno(T.lcreate, { fid: d, name: "x", flags: RDWR, mode: 0o644, gid: 0 })).toBe(E.EINVAL);
    expect(c.errno(T.walk, { fid: d, newFid: fid(), names: ["x"] })).toBe(E.ENOENT);
    expect(c.errno(T.readdir, { fid: dOpen, offset: 0, count: 4096 })).toBe(E.EINVAL);
    expect(c.errno(T.remove, { fid: f })).toBe(E.EINVAL);
    // Stat still answers (gVisor's Tgetattr has no deleted check).
    expect(c.errno(T.getattr, { fid: d, mask: 1 })).toBe(0);
    expect(fs.readdirSync(s.host)).toEqual([]);
  });

  test("Tclunk releases a fid once", () => {
    const f = fid();
    c.walk(1, f, []);
    c.clunk(f);
    expect(c.errno(T.clunk, { fid: f })).toBe(E.EBADF);
  });
});

// ---- devices in QIDs --------------------------------------------------------------------

describe("QIDs across devices", () => {
  const inner = () => path.join(fx.mount, "otherdev");
  let mounted = false;
  beforeAll(() => {
    fs.mkdirSync(inner());
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "gofer-test-inner", inner()], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mount: ${r.stderr}`);
    mounted = true;
    fs.writeFileSync(path.join(inner(), "f"), "on another device");
  });
  afterAll(() => {
    if (mounted) spawnSync("umount", ["-l", inner()]);
    fs.rmSync(inner(), { recursive: true, force: true });
  });

  test("a second device gets index 1 in the top byte of the QID path", async () => {
    const { g, c } = open9p();
    const qids = c.walk(1, 2, ["otherdev", "f"]);
    expectQidOf(qids[0], inner(), 1);
    expectQidOf(qids[1], path.join(inner(), "f"), 1);
    expect(big(qids[1].path) >> 56n).toBe(1n);
    // The mount's own device stays index 0.
    expect(big(c.getattr(1).qid.path) >> 56n).toBe(0n);
    c.close();
    expect(await g.exitCode()).toBe(0);
  });
});

// ---- version gating --------------------------------------------------------------------

describe("version gating", () => {
  test("plain 9P2000.L: gVisor's extensions get ENOSYS; Treaddir's type is d_type", async () => {
    fs.mkdirSync(path.join(fx.mount, "gate/sub"), { recursive: true });
    fs.writeFileSync(path.join(fx.mount, "gate/f"), "x");
    fs.symlinkSync("f", path.join(fx.mount, "gate/l"));
    const { g, c } = open9p({}, "9P2000.L");
    const dir = fid();
    c.walk(1, dir, ["gate"]);
    const ext: [number, Record<string, unknown>][] = [
      [T.walkgetattr, { fid: 1, newFid: fid(), names: [] }],
      [T.flushf, { fid: 1 }],
      [T.ucreate, { fid: dir, name: "u", flags: 2, mode: 0o644, gid: 0, uid: 0 }],
      [T.umkdir, { dirFid: dir, name: "u", mode: 0o755, gid: 0, uid: 0 }],
      [T.umknod, { dirFid: dir, name: "u", mode: C.S_IFREG, major: 0, minor: 0, gid: 0, uid: 0 }],
      [T.usymlink, { dirFid: dir, name: "u", target: "t", gid: 0, uid: 0 }],
      [T.lconnect, { fid: 1, sockType: 0 }],
      [T.allocate, { fid: 1, mode: 0, offset: 0, length: 1 }],
      [T.channel, { id: 0, control: 0 }],
      [T.getxattr, { fid: 1, name: "user.x", size: 10 }],
      [T.setxattr, { fid: 1, name: "user.x", value: "v", flags: 0 }],
      [T.listxattr, { fid: 1, size: 10 }],
      [T.removexattr, { fid: 1, name: "user.x" }],
      [T.setattrclunk, { fid: 1, valid: 0, attr: {} }],
      [T.multigetattr, { fid: 1, names: ["gate"] }],
      [T.bind, { dirFid: dir, sockType: 0, name: "b", uid: 0, gid: 0, newFid: fid() }],
    ];
    for (const [type, values] of ext) expect([type, c.errno(type, values)]).toEqual([type, E.ENOSYS]);
    expect(fs.readdirSync(path.join(fx.mount, "gate")).sort()).toEqual(["f", "l", "sub"]);
    // The root fid survived Tsetattrclunk's refusal.
    expect(c.errno(T.getattr, { fid: 1, mask: 1 })).toBe(0);
    // A standard client's kernel sets CTime with every change: ignored here.
    const f = fid();
    c.walk(dir, f, ["f"]);
    c.setattr(f, SetAttrMask.Mode | SetAttrMask.CTime, { mode: 0o600 });
    expect(fs.statSync(path.join(fx.mount, "gate/f")).mode & 0o7777).toBe(0o600);
    // Readdir's type field is the d_type a Linux client hands to readdir(3).
    c.lopen(dir, RDONLY);
    const ents = c.readdir(dir, 0, 4096);
    expect(ents.map((e) => [e.name, e.type]).sort()).toEqual([
      ["f", 8 /* DT_REG */],
      ["l", 10 /* DT_LNK */],
      ["sub", 4 /* DT_DIR */],
    ]);
    c.close();
    expect(await g.exitCode()).toBe(0);
  });

  test("9P2000.L.Google.1: Tflushf works, Twalkgetattr (from 2) does not", async () => {
    const { g, c } = open9p({}, "9P2000.L.Google.1");
    expect(c.errno(T.flushf, { fid: 1 })).toBe(0);
    expect(c.errno(T.walkgetattr, { fid: 1, newFid: fid(), names: [] })).toBe(E.ENOSYS);
    expect(c.errno(T.ucreate, { fid: 1, name: "x", flags: 2, mode: 0o644, gid: 0, uid: 0 })).toBe(E.ENOSYS);
    c.close();
    expect(await g.exitCode()).toBe(0);
  });
});

// ---- xattrs ---------------------------------------------------------------------------

describe("xattrs with --xattr-user", () => {
  test("user.* only: set, get, list, remove reach the host", async () => {
    resetMount(fx);
    const p = path.join(fx.mount, "xf");
    fs.writeFileSync(p, "x");
    const { g, c } = open9p({ flags: ["--xattr-user"] });
    const f = fid();
    c.walk(1, f, ["xf"]);
    c.ok(T.setxattr, { fid: f, name: "user.one", value: "first", flags: 0 });
    expect(hostGetXattr(p, "user.one")).toBe("first");
    expect(c.ok(T.getxattr, { fid: f, name: "user.one", size: 100 }).value).toBe("first");
    hostSetXattr(p, "user.two", "second");
    expect(c.ok(T.listxattr, { fid: f, size: 1000 }).names.sort()).toEqual(["user.one", "user.two"]);
    c.ok(T.removexattr, { fid: f, name: "user.one" });
    expect(hostGetXattr(p, "user.one")).toBe(null);
    expect(c.errno(T.getxattr, { fid: f, name: "user.one", size: 100 })).toBe(E.ENODATA);
    expect(c.errno(T.getxattr, { fid: f, name: "user.two", size: 2 })).toBe(E.ERANGE);
    // XATTR_CREATE on an existing name.
    expect(c.errno(T.setxattr, { fid: f, name: "user.two", value: "x", flags: 1 })).toBe(E.EEXIST);
    for (const name of ["trusted.x", "security.x", "system.posix_acl_access", "user"]) {
      expect(c.errno(T.setxattr, { fid: f, name, value: "v", flags: 0 })).toBe(E.EOPNOTSUPP);
      expect(c.errno(T.getxattr, { fid: f, name, size: 10 })).toBe(E.EOPNOTSUPP);
      expect(c.errno(T.removexattr, { fid: f, name })).toBe(E.EOPNOTSUPP);
    }
    expect(hostGetXattr(p, "user.two")).toBe("second");
    c.close();
    expect(await g.exitCode()).toBe(0);
  });
});

// ---- Tbind ----------------------------------------------------------------------------

describe("Tbind (--host-uds create)", () => {
  test("makes a socket file; the new fid names it; Rbind carries its QID and attributes", async () => {
    resetMount(fx);
    const { g, c } = open9p({ flags: ["--host-uds", "create"] });
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

// ---- channels --------------------------------------------------------------------------

describe("flipcall channels", () => {
  test("requests over Tchannel channels, with FDs on the channel's socket", async () => {
    resetMount(fx);
    fs.writeFileSync(path.join(fx.mount, "cf"), "over the channel");
    const { g, c } = open9p();
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

// ---- read-only mounts ---------------------------------------------------------------------

describe("read-only mount", () => {
  test("every mutation gets EROFS and the host is unchanged", async () => {
    resetMount(fx);
    fs.writeFileSync(path.join(fx.mount, "f"), "ro content");
    fs.mkdirSync(path.join(fx.mount, "d"));
    fs.writeFileSync(path.join(fx.mount, "d/g"), "g");
    hostSetXattr(path.join(fx.mount, "f"), "user.a", "b");
    const before = snapshot(fx.mount);
    const { g, c } = open9p({ mounts: (f) => [`${f.mount}:ro`], flags: ["--xattr-user", "--host-uds", "all"] });
    const w = (names: string[]) => {
      const f = fid();
      c.walk(1, f, names);
      return f;
    };
    const file = w(["f"]);
    const dir = w(["d"]);
    const muts: [number, Record<string, unknown>][] = [
      [T.lcreate, { fid: w(["d"]), name: "n", flags: RDWR, mode: 0o644, gid: 0 }],
      [T.ucreate, { fid: w(["d"]), name: "n", flags: RDWR, mode: 0o644, gid: 0, uid: 0 }],
      [T.mkdir, { dirFid: dir, name: "n", mode: 0o755, gid: 0 }],
      [T.umkdir, { dirFid: dir, name: "n", mode: 0o755, gid: 0, uid: 0 }],
      [T.symlink, { dirFid: dir, name: "n", target: "t", gid: 0 }],
      [T.usymlink, { dirFid: dir, name: "n", target: "t", gid: 0, uid: 0 }],
      [T.mknod, { dirFid: dir, name: "n", mode: C.S_IFREG | 0o644, major: 0, minor: 0, gid: 0 }],
      [T.umknod, { dirFid: dir, name: "n", mode: C.S_IFREG | 0o644, major: 0, minor: 0, gid: 0, uid: 0 }],
      [T.link, { dirFid: dir, targetFid: file, name: "n" }],
      [T.rename, { fid: w(["d", "g"]), dirFid: 1, name: "n" }],
      [T.renameat, { oldDirFid: dir, oldName: "g", newDirFid: 1, newName: "n" }],
      [T.unlinkat, { dirFid: dir, name: "g", flags: 0 }],
      [T.unlinkat, { dirFid: 1, name: "d", flags: C.AT_REMOVEDIR }],
      [T.remove, { fid: w(["d", "g"]) }],
      [T.setattr, { fid: file, valid: SetAttrMask.Mode, attr: { mode: 0o777 } }],
      [T.setattr, { fid: file, valid: SetAttrMask.Size, attr: { size: 0 } }],
      [T.setattrclunk, { fid: w(["f"]), valid: SetAttrMask.Mode, attr: { mode: 0o777 } }],
      // The 2021 fsgofer refuses before looking at the mask.
      [T.setattr, { fid: file, valid: 0, attr: {} }],
      [T.lopen, { fid: w(["f"]), flags: WRONLY }],
      [T.lopen, { fid: w(["f"]), flags: RDWR }],
      [T.lopen, { fid: w(["f"]), flags: RDONLY | OpenFlags.Truncate }],
      [T.setxattr, { fid: file, name: "user.a", value: "c", flags: 0 }],
      [T.removexattr, { fid: file, name: "user.a" }],
      [T.bind, { dirFid: dir, sockType: 0, name: "n", uid: 0, gid: 0, newFid: fid() }],
    ];
    for (const [type, values] of muts) expect([type, c.errno(type, values)]).toEqual([type, E.EROFS]);
    // Reads work.
    const r = w(["f"]);
    const o = c.lopen(r, RDONLY);
    closeAll([o.fd]);
    expect(text(c.read(r, 0, 100))).toBe("ro content");
    expect(c.ok(T.getxattr, { fid: file, name: "user.a", size: 10 }).value).toBe("b");
    expect(c.errno(T.write, { fid: r, offset: 0, data: bytes("x") })).toBe(E.EPERM);
    expect(c.errno(T.fsync, { fid: r })).toBe(0);
    const d = w(["d"]);
    c.lopen(d, RDONLY);
    expect(c.readdir(d, 0, 4096).map((e) => e.name)).toEqual(["g"]);
    expect(snapshot(fx.mount)).toEqual(before);
    expect(hostGetXattr(path.join(fx.mount, "f"), "user.a")).toBe("b");
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
