// 9P version negotiation and attach (gVisor's 9P2000.L + 9P2000.L.Google.1-13,
// pkg/p9/handlers.go rules over gVisor's 2021 p9 fsgofer's semantics,
// seeds/fsgofer.go): Tversion's versions and msize, Tauth, Tattach's anames
// and afid, and which messages each version may send. Results are checked
// against the host tree the test made on tmpfs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { AttrMask, SetAttrMask } from "../src/p9/message";
import { big, closeAll, expectAttrOf, expectQidOf, qidPathOf } from "./lib/assert";
import { Gofer, useFixture } from "./lib/fixture";
import { NO_FID, type P9Client, startP9, T } from "./lib/p9client";
import { fid, GOOGLE, open9p, RDONLY } from "./lib/p9session";

const fx = useFixture();
const E = C;

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
      fid();
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

// ---- version gating --------------------------------------------------------------------

describe("version gating", () => {
  test("plain 9P2000.L: gVisor's extensions get ENOSYS; Treaddir's type is d_type", async () => {
    fs.mkdirSync(path.join(fx.mount, "gate/sub"), { recursive: true });
    fs.writeFileSync(path.join(fx.mount, "gate/f"), "x");
    fs.symlinkSync("f", path.join(fx.mount, "gate/l"));
    const { g, c } = open9p(fx, {}, "9P2000.L");
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
    const { g, c } = open9p(fx, {}, "9P2000.L.Google.1");
    expect(c.errno(T.flushf, { fid: 1 })).toBe(0);
    expect(c.errno(T.walkgetattr, { fid: 1, newFid: fid(), names: [] })).toBe(E.ENOSYS);
    expect(c.errno(T.ucreate, { fid: 1, name: "x", flags: 2, mode: 0o644, gid: 0, uid: 0 })).toBe(E.ENOSYS);
    c.close();
    expect(await g.exitCode()).toBe(0);
  });
});
