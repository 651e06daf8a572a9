// 9P file messages against the host (gVisor's 9P2000.L.Google.13,
// pkg/p9/handlers.go rules over gVisor's 2021 p9 fsgofer's semantics,
// seeds/fsgofer.go): Twalk, Twalkgetattr, Tlopen, Tread, Twrite, Tlcreate,
// Tucreate, Tgetattr, Tsetattr, Tsetattrclunk, Tstatfs, Tfsync, Tflushf,
// Tflush, Tallocate, Tmultigetattr, Tclunk, and QIDs across devices.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { AttrMask, OpenFlags, QidType, SetAttrMask } from "../src/p9/message";
import { accessMode, big, bytes, closeAll, expectAttrOf, expectQidOf, hostPread, qidPathOf, text, writeStr } from "./lib/assert";
import { IS_ROOT, snapshot, useFixture } from "./lib/fixture";
import { type P9Client, T } from "./lib/p9client";
import { fid, open9p, RDONLY, RDWR, scratch, useP9Session, WRONLY } from "./lib/p9session";

const fx = useFixture();
const E = C;

describe("9P2000.L.Google.13 over the socket", () => {
  let c: P9Client;
  useP9Session(fx, (s) => (c = s.c));

  // ---- walk -------------------------------------------------------------------------

  test("Twalk returns one QID per name: (device index << 56) | inode, typed", () => {
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
    const f = fid();
    expect(c.walk(s.fid, f, [])).toEqual([]);
    expect(big(c.getattr(f).qid.path)).toBe(qidPathOf(s.host));
    // The clone is independent: clunking it leaves the original.
    c.clunk(f);
    expect(c.errno(T.getattr, { fid: s.fid, mask: 1 })).toBe(0);
  });

  test("Twalk of an opened fid gets EBUSY (also a clone)", () => {
    const s = scratch(fx, c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    const d = fid();
    c.walk(s.fid, d, []);
    c.lopen(d, RDONLY);
    expect(c.errno(T.walk, { fid: d, newFid: fid(), names: ["f"] })).toBe(E.EBUSY);
    expect(c.errno(T.walk, { fid: d, newFid: fid(), names: [] })).toBe(E.EBUSY);
    expect(c.errno(T.walkgetattr, { fid: d, newFid: fid(), names: [] })).toBe(E.EBUSY);
  });

  test("Twalk with a bad name gets EINVAL and binds nothing", () => {
    const s = scratch(fx, c);
    fs.mkdirSync(path.join(s.host, "d"));
    for (const name of ["", ".", "..", "d/..", "a/b", "/"]) {
      const nf = fid();
      expect(c.errno(T.walk, { fid: s.fid, newFid: nf, names: ["d", name] })).toBe(E.EINVAL);
      expect(c.errno(T.getattr, { fid: nf, mask: 1 })).toBe(E.EBADF);
    }
  });

  test("Twalk through a non-directory gets EINVAL; a missing name ENOENT; an unknown fid EBADF", () => {
    const s = scratch(fx, c);
    fs.writeFileSync(path.join(s.host, "f"), "x");
    fs.symlinkSync(fx.decoy, path.join(s.host, "out"));
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["f", "x"] })).toBe(E.EINVAL);
    // A symlink is not followed: walking through it is walking through a non-directory.
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["out", "secret"] })).toBe(E.EINVAL);
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["missing"] })).toBe(E.ENOENT);
    expect(c.errno(T.walk, { fid: 999_999, newFid: fid(), names: [] })).toBe(E.EBADF);
  });

  test("Twalk may name the fid itself as newfid; the fid then names the walked file", () => {
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
    spawnSync("mkfifo", [path.join(s.host, "fifo")]);
    libc.mknodat(-100, path.join(s.host, "null"), C.S_IFCHR | 0o666, (1 << 8) | 3);
    expect(fs.statSync(path.join(s.host, "null")).isCharacterDevice()).toBe(true);
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["fifo"] })).toBe(E.EPERM);
    expect(c.errno(T.walk, { fid: s.fid, newFid: fid(), names: ["null"] })).toBe(E.EPERM);
    expect(c.errno(T.walkgetattr, { fid: s.fid, newFid: fid(), names: ["null"] })).toBe(E.EPERM);
  });

  test("Twalkgetattr returns the QIDs and the last file's attributes", () => {
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
    const d = fid();
    c.walk(s.fid, d, []);
    closeAll([c.ucreate(d, "owned", RDWR, 0o600, 1234, 5678).fd]);
    const st = fs.statSync(path.join(s.host, "owned"));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1234, 5678, 0o600]);
  });

  // ---- attributes ------------------------------------------------------------------------

  test("Tgetattr describes files, directories and symlinks", () => {
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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

  test("Tmultigetattr stats each name along a path, stopping at the first missing one", () => {
    const s = scratch(fx, c);
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
    const { g, c } = open9p(fx);
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
