// Standard 9P conventions on `--listen` (issue 18): the attach name as diod
// reads it (the exported host path), and Tmknod of FIFOs and sockets for
// plain 9P2000.L clients (device nodes only with --allow-device-nodes), while
// gVisor's clients ("9P2000.L.Google.N") keep its gofer's rule: regular files
// only. Real gofers on real sockets, results checked on the host tree.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { OpenFlags, QidType } from "../src/p9/message";
import { big } from "./lib/assert";
import { snapshot, useFixture } from "./lib/fixture";
import { connectTo, NO_FID, type P9Client, startListener, T } from "./lib/p9client";
import { GOOGLE } from "./lib/p9session";

const fx = useFixture();
const PLAIN = "9P2000.L";

type Listener = Awaited<ReturnType<typeof startListener>>;
let seq = 0;

/** A gofer on a fresh Unix socket serving `mount` (default fx.mount). */
function listen(extra: string[] = [], mount = fx.mount): Promise<Listener> {
  return startListener(fx, `unix:${path.join(fx.logs, `conv-${process.pid}-${seq++}.sock`)}`, extra, mount);
}

/** A connected client after Tversion `version`. */
function client(l: Listener, version: string): P9Client {
  const c = connectTo(l.where);
  expect(c.version(65536, version).version).toBe(version);
  return c;
}

function attachErrno(c: P9Client, fid: number, aname: string): number {
  return c.errno(T.attach, { fid, afid: NO_FID, uname: "root", aname, uid: 0 });
}

function mknodErrno(c: P9Client, dirFid: number, name: string, mode: number, major = 0, minor = 0): number {
  return c.errno(T.mknod, { dirFid, name, mode, major, minor, gid: 0 });
}

/** Whether a non-blocking write-only open of the FIFO finds a reader
 * (ENXIO when nobody holds it open for reading). */
function fifoHasReader(p: string): boolean {
  const fd = libc.openat(C.AT_FDCWD, p, C.O_WRONLY | C.O_NONBLOCK | C.O_CLOEXEC);
  if (fd >= 0) libc.close(fd);
  else expect(fd).toBe(-C.ENXIO);
  return fd >= 0;
}

describe("Tattach's aname on --listen", () => {
  let l: Listener;
  let c: P9Client;
  beforeAll(async () => {
    fs.mkdirSync(path.join(fx.mount, "att/sub"), { recursive: true });
    fs.writeFileSync(path.join(fx.mount, "att/sub/f"), "in sub");
    l = await listen();
    c = client(l, PLAIN);
  });
  afterAll(async () => {
    c.close();
    await l.stop();
  });

  test("the exported host path (diod's convention) attaches the export's root", () => {
    for (const [i, aname] of [fx.mount, `${fx.mount}/`, `${fx.mount}//`].entries()) {
      const qid = c.attach(10 + i, aname);
      expect(big(qid.path)).toBe(fs.lstatSync(fx.mount, { bigint: true }).ino);
      expect(qid.type).toBe(QidType.Dir);
      expect(c.walk(10 + i, 20 + i, ["att", "sub", "f"])).toHaveLength(3);
      c.lopen(20 + i, OpenFlags.ReadOnly);
      expect(new TextDecoder().decode(c.read(20 + i, 0, 100))).toBe("in sub");
    }
  });

  test("a path below the exported one attaches that directory, with its own QID", () => {
    const qid = c.attach(30, `${fx.mount}/att/sub`);
    expect(big(qid.path)).toBe(fs.lstatSync(path.join(fx.mount, "att/sub"), { bigint: true }).ino);
    expect(c.walk(30, 31, ["f"])).toHaveLength(1);
  });

  test("names relative to the export keep working: / is the root, /att/sub below it", () => {
    expect(big(c.attach(40, "/").path)).toBe(fs.lstatSync(fx.mount, { bigint: true }).ino);
    expect(big(c.attach(41, "").path)).toBe(fs.lstatSync(fx.mount, { bigint: true }).ino);
    c.attach(42, "/att/sub");
    expect(c.walk(42, 43, ["f"])).toHaveLength(1);
  });

  test("a name outside the export is refused and opens nothing there", () => {
    // The export's parent, a sibling, and a climb out of the export.
    expect(attachErrno(c, 50, path.dirname(fx.mount))).toBe(C.ENOENT);
    expect(attachErrno(c, 51, fx.decoy)).toBe(C.ENOENT);
    expect(attachErrno(c, 52, path.join(fx.decoy, "secret"))).toBe(C.ENOENT);
    expect(attachErrno(c, 53, `${fx.mount}/../decoy`)).toBe(C.EINVAL);
    expect(attachErrno(c, 54, `${fx.mount}/att/../../decoy`)).toBe(C.EINVAL);
    // A name that only shares the export's prefix is not below it.
    expect(attachErrno(c, 55, `${fx.mount}x`)).toBe(C.ENOENT);
    for (const f of [50, 51, 52, 53, 54, 55]) expect(c.errno(T.getattr, { fid: f, mask: 1 })).toBe(C.EBADF);
  });
});

describe("Tmknod from a plain 9P2000.L client and from gVisor's", () => {
  let l: Listener;
  let plain: P9Client;
  let google: P9Client;
  beforeAll(async () => {
    fs.mkdirSync(path.join(fx.mount, "nodes"));
    l = await listen();
    plain = client(l, PLAIN);
    plain.attach(1, fx.mount);
    plain.walk(1, 2, ["nodes"]);
    google = client(l, GOOGLE);
    google.attach(1, "/");
    google.walk(1, 2, ["nodes"]);
  });
  afterAll(async () => {
    plain.close();
    google.close();
    await l.stop();
  });

  test("a plain client makes a FIFO and a socket; it can walk to and stat them", () => {
    const dir = path.join(fx.mount, "nodes");
    const r = plain.ok(T.mknod, { dirFid: 2, name: "fifo", mode: C.S_IFIFO | 0o640, major: 0, minor: 0, gid: 7 });
    const fifo = path.join(dir, "fifo");
    const st = fs.lstatSync(fifo);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o640 & ~process.umask());
    expect(st.gid).toBe(7);
    expect(big(r.qid.path)).toBe(fs.lstatSync(fifo, { bigint: true }).ino);
    plain.ok(T.mknod, { dirFid: 2, name: "sock", mode: C.S_IFSOCK | 0o755, major: 0, minor: 0, gid: 0 });
    expect(fs.lstatSync(path.join(dir, "sock")).isSocket()).toBe(true);
    // The kernel client walks to a new node and stats it.
    for (const [f, name, type] of [[3, "fifo", C.S_IFIFO], [4, "sock", C.S_IFSOCK]] as const) {
      plain.walk(2, f, [name]);
      expect(plain.getattr(f).attr.mode & C.S_IFMT).toBe(type);
    }
    // Held by O_PATH, never opened: a non-blocking writer still finds no reader.
    expect(fifoHasReader(fifo)).toBe(false);
    // Its kernel serves a FIFO itself; opening it here stays behind --host-fifo.
    expect(plain.errno(T.lopen, { fid: 3, flags: OpenFlags.ReadOnly })).toBe(C.EPERM);
    plain.clunk(3);
    plain.clunk(4);
  });

  test("a gVisor client gets EPERM for every type but regular files (gVisor's gofer's rule), and nothing is made", () => {
    const dir = path.join(fx.mount, "nodes");
    const before = snapshot(dir);
    expect(mknodErrno(google, 2, "gfifo", C.S_IFIFO | 0o644)).toBe(C.EPERM);
    expect(mknodErrno(google, 2, "gsock", C.S_IFSOCK | 0o644)).toBe(C.EPERM);
    expect(mknodErrno(google, 2, "gchr", C.S_IFCHR | 0o644, 1, 3)).toBe(C.EPERM);
    expect(mknodErrno(google, 2, "gblk", C.S_IFBLK | 0o644, 7, 0)).toBe(C.EPERM);
    expect(snapshot(dir)).toEqual(before);
    google.ok(T.mknod, { dirFid: 2, name: "greg", mode: C.S_IFREG | 0o600, major: 0, minor: 0, gid: 0 });
    expect(fs.lstatSync(path.join(dir, "greg")).isFile()).toBe(true);
  });

  test("device nodes are refused with EPERM without --allow-device-nodes", () => {
    const dir = path.join(fx.mount, "nodes");
    const before = snapshot(dir);
    expect(mknodErrno(plain, 2, "null", C.S_IFCHR | 0o666, 1, 3)).toBe(C.EPERM);
    expect(mknodErrno(plain, 2, "loop", C.S_IFBLK | 0o600, 7, 0)).toBe(C.EPERM);
    // Not even an overlayfs whiteout (a character device 0/0).
    expect(mknodErrno(plain, 2, "wh", C.S_IFCHR, 0, 0)).toBe(C.EPERM);
    expect(snapshot(dir)).toEqual(before);
  });
});

describe("--allow-device-nodes", () => {
  let l: Listener;
  beforeAll(async () => {
    fs.mkdirSync(path.join(fx.mount, "dev"));
    l = await listen(["--allow-device-nodes"]);
  });
  afterAll(async () => {
    await l.stop();
  });

  test("a plain client creates character and block devices with their numbers; they are never opened", () => {
    const c = client(l, PLAIN);
    try {
      c.attach(1, fx.mount);
      c.walk(1, 2, ["dev"]);
      c.ok(T.mknod, { dirFid: 2, name: "null", mode: C.S_IFCHR | 0o666, major: 1, minor: 3, gid: 0 });
      c.ok(T.mknod, { dirFid: 2, name: "blk", mode: C.S_IFBLK | 0o600, major: 7, minor: 0x12345, gid: 0 });
      const chr = fs.lstatSync(path.join(fx.mount, "dev/null"), { bigint: true });
      expect(chr.isCharacterDevice()).toBe(true);
      // st_rdev as glibc's makedev(1, 3).
      expect(chr.rdev).toBe(0x103n);
      const blk = fs.lstatSync(path.join(fx.mount, "dev/blk"), { bigint: true });
      expect(blk.isBlockDevice()).toBe(true);
      expect(blk.rdev).toBe((0x12345n & 0xffn) | (7n << 8n) | ((0x12345n & ~0xffn) << 12n));
      // Walked to and stat'ed (the kernel client's next steps), Tgetattr
      // giving the device number; opening one is refused.
      for (const [f, name, rdev] of [[3, "null", chr.rdev], [4, "blk", blk.rdev]] as const) {
        c.walk(2, f, [name]);
        expect(big(c.getattr(f).attr.rdev)).toBe(rdev);
        expect(c.errno(T.lopen, { fid: f, flags: OpenFlags.ReadOnly })).toBe(C.EPERM);
      }
      // A major or minor beyond what a dev_t holds is EINVAL.
      expect(mknodErrno(c, 2, "big", C.S_IFCHR | 0o600, 0x1000, 0)).toBe(C.EINVAL);
      expect(fs.readdirSync(path.join(fx.mount, "dev")).sort()).toEqual(["blk", "null"]);
    } finally {
      c.close();
    }
  });

  test("gVisor's clients still get EPERM for device nodes with the flag on", () => {
    const c = client(l, GOOGLE);
    try {
      c.attach(1, "/dev");
      expect(mknodErrno(c, 1, "gnull", C.S_IFCHR | 0o666, 1, 3)).toBe(C.EPERM);
      expect(mknodErrno(c, 1, "gfifo", C.S_IFIFO | 0o666)).toBe(C.EPERM);
      expect(fs.existsSync(path.join(fx.mount, "dev/gnull"))).toBe(false);
    } finally {
      c.close();
    }
  });
});

describe("a read-only --listen export", () => {
  test("Tmknod of every type gets EROFS, flag or not, and nothing is made", async () => {
    fs.mkdirSync(path.join(fx.mount, "ro"));
    const l = await listen(["--allow-device-nodes"], `${fx.mount}:ro`);
    const c = client(l, PLAIN);
    try {
      c.attach(1, fx.mount);
      c.walk(1, 2, ["ro"]);
      expect(mknodErrno(c, 2, "fifo", C.S_IFIFO | 0o644)).toBe(C.EROFS);
      expect(mknodErrno(c, 2, "sock", C.S_IFSOCK | 0o644)).toBe(C.EROFS);
      expect(mknodErrno(c, 2, "null", C.S_IFCHR | 0o666, 1, 3)).toBe(C.EROFS);
      expect(mknodErrno(c, 2, "reg", C.S_IFREG | 0o644)).toBe(C.EROFS);
      expect(fs.readdirSync(path.join(fx.mount, "ro"))).toEqual([]);
    } finally {
      c.close();
      await l.stop();
    }
  });
});

describe("a plain client's user (Tattach's n_uname, as with access=user)", () => {
  test("what it creates through fids of that attach is owned by that user; gVisor's attach uid is ignored", async () => {
    fs.mkdirSync(path.join(fx.mount, "users"));
    const l = await listen();
    const plain = client(l, PLAIN);
    const google = client(l, GOOGLE);
    try {
      plain.ok(T.attach, { fid: 1, afid: NO_FID, uname: "", aname: fx.mount, uid: 4321 });
      plain.walk(1, 2, ["users"]);
      plain.ok(T.mkdir, { dirFid: 2, name: "d", mode: 0o755, gid: 99 });
      plain.ok(T.symlink, { dirFid: 2, name: "l", target: "d", gid: 99 });
      plain.ok(T.mknod, { dirFid: 2, name: "p", mode: C.S_IFIFO | 0o644, major: 0, minor: 0, gid: 99 });
      plain.walk(2, 3, []);
      plain.lcreate(3, "f", OpenFlags.ReadWrite, 0o644, 99);
      for (const n of ["d", "l", "p", "f"]) {
        const st = fs.lstatSync(path.join(fx.mount, "users", n));
        expect([n, st.uid, st.gid]).toEqual([n, 4321, 99]);
      }
      // access=any: no user named (n_uname ~0), the gofer's own.
      plain.ok(T.attach, { fid: 5, afid: NO_FID, uname: "root", aname: fx.mount, uid: 0xffffffff });
      plain.walk(5, 6, ["users"]);
      plain.ok(T.mkdir, { dirFid: 6, name: "any", mode: 0o755, gid: 0 });
      expect(fs.lstatSync(path.join(fx.mount, "users/any")).uid).toBe(process.getuid!());
      google.ok(T.attach, { fid: 1, afid: NO_FID, uname: "", aname: "/users", uid: 4321 });
      google.ok(T.mkdir, { dirFid: 1, name: "g", mode: 0o755, gid: 0 });
      expect(fs.lstatSync(path.join(fx.mount, "users/g")).uid).toBe(process.getuid!());
    } finally {
      plain.close();
      google.close();
      await l.stop();
    }
  });
});
