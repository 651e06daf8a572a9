// File messages against the host: FStat, SetStat, Walk, WalkStat, OpenAt,
// OpenCreateAt, Close, FSync, PWrite, PRead, FAllocate, Flush, FStatFS.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { MAX_MESSAGE_SIZE } from "../src/lisafs/message";
import {
  accessMode,
  bytes,
  closeAll,
  expectErrno,
  expectSameFile,
  expectStatOf,
  hostPread,
  isNonblocking,
  text,
} from "./lib/assert";
import { MID, WalkStatus } from "./lib/client";
import { eventually, useFixture } from "./lib/fixture";
import { TRANSPORTS, scratch, useSession } from "./lib/session";

const fx = useFixture();

describe.each(TRANSPORTS)("files over %s", (transport) => {
  const s = useSession(fx, transport);

  describe("FStat", () => {
    test("control and open FDs of every file type match lstat", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "0123456789");
      fs.mkdirSync(path.join(d.host, "sub"));
      fs.symlinkSync("f", path.join(d.host, "l"));
      Bun.spawnSync(["mkfifo", path.join(d.host, "p")]);
      expect(fs.lstatSync(path.join(d.host, "p")).isFIFO()).toBe(true);
      for (const name of ["f", "sub", "l", "p"]) {
        const ino = s.c.walkTo(d.id, name);
        expectStatOf(ino.stat, path.join(d.host, name));
        expectStatOf(s.c.fstat(ino.id), path.join(d.host, name));
      }
      const f = s.c.walkTo(d.id, "f");
      const o = s.c.openAt(f.id, C.O_RDONLY);
      closeAll([o.hostFd]);
      expectStatOf(s.c.fstat(o.id), path.join(d.host, "f"));
      // A change on the host shows up.
      fs.appendFileSync(path.join(d.host, "f"), "more");
      expect(s.c.fstat(f.id).size).toBe(14n);
      expect(s.c.fstat(o.id).size).toBe(14n);
    });
  });

  describe("SetStat", () => {
    test("mode", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      fs.mkdirSync(path.join(d.host, "sub"));
      const f = s.c.walkTo(d.id, "f");
      const sub = s.c.walkTo(d.id, "sub");
      // File type bits in the request are ignored; setuid etc. are applied.
      expect(s.c.setStat(f.id, { mask: C.STATX_MODE, mode: C.S_IFDIR | 0o4751 })).toEqual({ failureMask: 0, failureErrno: 0 });
      expect(fs.lstatSync(path.join(d.host, "f")).mode).toBe(C.S_IFREG | 0o4751);
      expect(s.c.setStat(sub.id, { mask: C.STATX_MODE, mode: 0o700 })).toEqual({ failureMask: 0, failureErrno: 0 });
      expect(fs.lstatSync(path.join(d.host, "sub")).mode).toBe(C.S_IFDIR | 0o700);
      expectStatOf(s.c.fstat(f.id), path.join(d.host, "f"));
    });

    test("uid and gid, separately and together", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "x");
      const f = s.c.walkTo(d.id, "f");
      expect(s.c.setStat(f.id, { mask: C.STATX_UID, uid: 1234, gid: 999 }).failureMask).toBe(0);
      expect([fs.lstatSync(p).uid, fs.lstatSync(p).gid]).toEqual([1234, 0]);
      expect(s.c.setStat(f.id, { mask: C.STATX_GID, uid: 999, gid: 5678 }).failureMask).toBe(0);
      expect([fs.lstatSync(p).uid, fs.lstatSync(p).gid]).toEqual([1234, 5678]);
      expect(s.c.setStat(f.id, { mask: C.STATX_UID | C.STATX_GID, uid: 42, gid: 43 }).failureMask).toBe(0);
      expect([fs.lstatSync(p).uid, fs.lstatSync(p).gid]).toEqual([42, 43]);
    });

    test("size grows and shrinks the file", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "0123456789");
      const f = s.c.walkTo(d.id, "f");
      expect(s.c.setStat(f.id, { mask: C.STATX_SIZE, size: 4 }).failureMask).toBe(0);
      expect(fs.readFileSync(p, "utf8")).toBe("0123");
      expect(s.c.setStat(f.id, { mask: C.STATX_SIZE, size: 100_000 }).failureMask).toBe(0);
      expect(fs.statSync(p).size).toBe(100_000);
      expect(s.c.fstat(f.id).size).toBe(100_000n);
    });

    test("atime and mtime, each alone and together; a symlink's own times", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "x");
      fs.symlinkSync("f", path.join(d.host, "l"));
      const f = s.c.walkTo(d.id, "f");
      const before = fs.lstatSync(p, { bigint: true });
      expect(s.c.setStat(f.id, { mask: C.STATX_MTIME, mtime: [1_000_000_000, 123_456_789] }).failureMask).toBe(0);
      let st = fs.lstatSync(p, { bigint: true });
      expect(st.mtimeNs).toBe(1_000_000_000_123_456_789n);
      expect(st.atimeNs).toBe(before.atimeNs);
      expect(s.c.setStat(f.id, { mask: C.STATX_ATIME, atime: [1_100_000_000, 5] }).failureMask).toBe(0);
      st = fs.lstatSync(p, { bigint: true });
      expect(st.atimeNs).toBe(1_100_000_000_000_000_005n);
      expect(st.mtimeNs).toBe(1_000_000_000_123_456_789n);
      expect(
        s.c.setStat(f.id, { mask: C.STATX_ATIME | C.STATX_MTIME, atime: [7, 0], mtime: [8, 999_999_999] }).failureMask,
      ).toBe(0);
      st = fs.lstatSync(p, { bigint: true });
      expect([st.atimeNs, st.mtimeNs]).toEqual([7_000_000_000n, 8_999_999_999n]);
      // On a symlink: the link's times change, the target's do not.
      const l = s.c.walkTo(d.id, "l");
      expect(s.c.setStat(l.id, { mask: C.STATX_MTIME, mtime: [123, 0] }).failureMask).toBe(0);
      expect(fs.lstatSync(path.join(d.host, "l"), { bigint: true }).mtimeNs).toBe(123_000_000_000n);
      expect(fs.lstatSync(p, { bigint: true }).mtimeNs).toBe(8_999_999_999n);
    });

    test("every supported bit at once", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "abcdef");
      const f = s.c.walkTo(d.id, "f");
      const all = C.STATX_MODE | C.STATX_UID | C.STATX_GID | C.STATX_SIZE | C.STATX_ATIME | C.STATX_MTIME;
      const r = s.c.setStat(f.id, { mask: all, mode: 0o600, uid: 7, gid: 8, size: 2, atime: [11, 0], mtime: [12, 0] });
      expect(r).toEqual({ failureMask: 0, failureErrno: 0 });
      const st = fs.lstatSync(p, { bigint: true });
      expect(Number(st.mode)).toBe(C.S_IFREG | 0o600);
      expect([st.uid, st.gid, st.size, st.atimeNs, st.mtimeNs]).toEqual([7n, 8n, 2n, 11_000_000_000n, 12_000_000_000n]);
    });

    test("failures are reported per attribute with an errno; the rest is applied", () => {
      const d = scratch(fx, s);
      fs.mkdirSync(path.join(d.host, "sub"));
      const sub = s.c.walkTo(d.id, "sub");
      // A directory has no size: ftruncate fails, the mode is still set.
      const r = s.c.setStat(sub.id, { mask: C.STATX_SIZE | C.STATX_MODE, size: 0, mode: 0o711 });
      expect(r.failureMask).toBe(C.STATX_SIZE);
      expect(r.failureErrno).toBe(C.EISDIR);
      expect(fs.lstatSync(path.join(d.host, "sub")).mode).toBe(C.S_IFDIR | 0o711);
      // A symlink's mode cannot be set (as gVisor: fchmod on an O_PATH FD).
      fs.symlinkSync("sub", path.join(d.host, "l"));
      const l = s.c.walkTo(d.id, "l");
      const r2 = s.c.setStat(l.id, { mask: C.STATX_MODE | C.STATX_UID, mode: 0o600, uid: 77 });
      expect(r2.failureMask).toBe(C.STATX_MODE);
      expect(r2.failureErrno).not.toBe(0);
      expect(fs.lstatSync(path.join(d.host, "l")).uid).toBe(77);
      expect(fs.lstatSync(path.join(d.host, "sub")).mode).toBe(C.S_IFDIR | 0o711);
    });

    test("unsupported mask bits get EPERM and change nothing", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "x");
      const f = s.c.walkTo(d.id, "f");
      const snap = fs.lstatSync(p, { bigint: true });
      for (const bit of [C.STATX_TYPE, C.STATX_NLINK, C.STATX_CTIME, C.STATX_INO, C.STATX_BLOCKS, 0x800, 0x80000000]) {
        expect(s.c.errno(MID.SetStat, { fd: f.id, mask: bit | C.STATX_MODE, mode: 0o600 })).toBe(C.EPERM);
      }
      const now = fs.lstatSync(p, { bigint: true });
      expect([now.mode, now.ctimeNs]).toEqual([snap.mode, snap.ctimeNs]);
    });
  });

  describe("Walk", () => {
    test("success, missing component, and symlink statuses with host inode stats", () => {
      const d = scratch(fx, s);
      fs.mkdirSync(path.join(d.host, "a/b/c"), { recursive: true });
      fs.writeFileSync(path.join(d.host, "a/b/c/f"), "deep");
      fs.symlinkSync("b", path.join(d.host, "a/l"));
      let w = s.c.walk(d.id, ["a", "b", "c", "f"]);
      expect(w.status).toBe(WalkStatus.Success);
      expect(w.inodes.length).toBe(4);
      ["a", "a/b", "a/b/c", "a/b/c/f"].forEach((rel, i) => expectStatOf(w.inodes[i].stat, path.join(d.host, rel)));
      // Each inode carries a distinct, working control FD.
      expect(new Set(w.inodes.map((i) => i.id)).size).toBe(4);
      expectStatOf(s.c.fstat(w.inodes[3].id), path.join(d.host, "a/b/c/f"));

      w = s.c.walk(d.id, ["a", "nope", "c"]);
      expect(w.status).toBe(WalkStatus.ComponentDoesNotExist);
      expect(w.inodes.length).toBe(1);
      expectStatOf(w.inodes[0].stat, path.join(d.host, "a"));

      w = s.c.walk(d.id, ["a", "l", "c"]);
      expect(w.status).toBe(WalkStatus.ComponentSymlink);
      expect(w.inodes.length).toBe(2);
      expectStatOf(w.inodes[1].stat, path.join(d.host, "a/l"));
      expect(w.inodes[1].stat.mode & C.S_IFMT).toBe(C.S_IFLNK);

      // A final symlink is returned as itself with Success.
      w = s.c.walk(d.id, ["a", "l"]);
      expect(w.status).toBe(WalkStatus.Success);
      expect(w.inodes[1].stat.mode & C.S_IFMT).toBe(C.S_IFLNK);

      // An empty path walks nowhere.
      w = s.c.walk(d.id, []);
      expect(w).toEqual({ status: WalkStatus.Success, inodes: [] });
    });

    test("bad names get EINVAL and leave no FDs behind", () => {
      const d = scratch(fx, s);
      fs.mkdirSync(path.join(d.host, "a"));
      const before = s.g.fdsUnder(path.join(d.host, "a"));
      for (const bad of ["", ".", "..", "a/b", "/", "a\0b", "\0"]) {
        expect(s.c.errno(MID.Walk, { dirFd: d.id, path: [bad] })).toBe(C.EINVAL);
        // After a good component too: the FDs made so far are dropped.
        expect(s.c.errno(MID.Walk, { dirFd: d.id, path: ["a", bad] })).toBe(C.EINVAL);
      }
      expect(before).toBe(0);
      expect(s.g.fdsUnder(path.join(d.host, "a"))).toBe(0);
    });

    test("ENOTDIR from a non-directory; ENOTDIR below a file", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      const f = s.c.walkTo(d.id, "f");
      expect(s.c.errno(MID.Walk, { dirFd: f.id, path: ["x"] })).toBe(C.ENOTDIR);
      expect(s.c.errno(MID.Walk, { dirFd: d.id, path: ["f", "x"] })).toBe(C.ENOTDIR);
    });
  });

  describe("WalkStat", () => {
    test("stats each component; a leading empty name stats the start itself", () => {
      const d = scratch(fx, s);
      fs.mkdirSync(path.join(d.host, "a/b"), { recursive: true });
      fs.writeFileSync(path.join(d.host, "a/b/f"), "x");
      fs.symlinkSync("b", path.join(d.host, "a/l"));
      let st = s.c.walkStat(d.id, ["a", "b", "f"]);
      expect(st.length).toBe(3);
      ["a", "a/b", "a/b/f"].forEach((rel, i) => expectStatOf(st[i], path.join(d.host, rel)));

      st = s.c.walkStat(d.id, ["", "a", "b"]);
      expect(st.length).toBe(3);
      expectStatOf(st[0], d.host);
      expectStatOf(st[2], path.join(d.host, "a/b"));

      // Stops quietly at a missing component, and after a symlink.
      expect(s.c.walkStat(d.id, ["a", "missing", "x"]).length).toBe(1);
      st = s.c.walkStat(d.id, ["a", "l", "f"]);
      expect(st.length).toBe(2);
      expectStatOf(st[1], path.join(d.host, "a/l"));

      // On a non-directory only [""] is allowed.
      const f = s.c.walkTo(d.id, "a/b/f");
      st = s.c.walkStat(f.id, [""]);
      expect(st.length).toBe(1);
      expectStatOf(st[0], path.join(d.host, "a/b/f"));
      expect(s.c.errno(MID.WalkStat, { dirFd: f.id, path: ["x"] })).toBe(C.ENOTDIR);
      expect(s.c.errno(MID.WalkStat, { dirFd: f.id, path: ["", "x"] })).toBe(C.ENOTDIR);
    });

    test("bad names get EINVAL (an empty name only first)", () => {
      const d = scratch(fx, s);
      fs.mkdirSync(path.join(d.host, "a"));
      for (const bad of [".", "..", "a/b", "a\0b"]) expect(s.c.errno(MID.WalkStat, { dirFd: d.id, path: [bad] })).toBe(C.EINVAL);
      expect(s.c.errno(MID.WalkStat, { dirFd: d.id, path: ["a", ""] })).toBe(C.EINVAL);
      expect(s.c.errno(MID.WalkStat, { dirFd: d.id, path: ["", ""] })).toBe(C.EINVAL);
    });
  });

  describe("OpenAt", () => {
    test("donates a non-blocking FD with the requested access mode that reads the file", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "file content");
      const f = s.c.walkTo(d.id, "f");
      for (const acc of [C.O_RDONLY, C.O_WRONLY, C.O_RDWR]) {
        const o = s.c.openAt(f.id, acc);
        expect(o.hostFd).toBeGreaterThanOrEqual(0);
        expectSameFile(o.hostFd, p);
        expect(isNonblocking(o.hostFd)).toBe(true);
        expect(accessMode(o.hostFd)).toBe(acc);
        if (acc !== C.O_WRONLY) expect(text(hostPread(o.hostFd, 100))).toBe("file content");
        closeAll([o.hostFd]);
      }
      // Directories: an open FD, but nothing donated (not the mount point).
      const o = s.c.openAt(d.id, C.O_RDONLY);
      expect(o.hostFd).toBe(-1);
    });

    test("only the access mode and O_TRUNC are honoured", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "abcdef");
      const f = s.c.walkTo(d.id, "f");
      // O_APPEND is dropped: a pwrite at 0 overwrites instead of appending.
      const o = s.c.openAt(f.id, C.O_WRONLY | C.O_APPEND | C.O_CREAT | C.O_EXCL | C.O_NOCTTY);
      expect(libc.fcntl(o.hostFd, C.F_GETFL) & C.O_APPEND).toBe(0);
      closeAll([o.hostFd]);
      expect(s.c.pwrite(o.id, 0, bytes("XY"))).toBe(2);
      expect(fs.readFileSync(p, "utf8")).toBe("XYcdef");
      // O_DIRECTORY and O_PATH are dropped: a regular file opens and reads.
      const o2 = s.c.openAt(f.id, C.O_RDONLY | C.O_DIRECTORY | C.O_PATH | C.O_NOFOLLOW);
      closeAll([o2.hostFd]);
      expect(text(s.c.pread(o2.id, 0, 10))).toBe("XYcdef");
      // O_TRUNC truncates.
      const o3 = s.c.openAt(f.id, C.O_WRONLY | C.O_TRUNC);
      closeAll([o3.hostFd]);
      expect(fs.statSync(p).size).toBe(0);
    });

    test("EISDIR for writing or truncating a directory; EINVAL for a symlink", () => {
      const d = scratch(fx, s);
      fs.symlinkSync("target", path.join(d.host, "l"));
      for (const fl of [C.O_WRONLY, C.O_RDWR, C.O_RDONLY | C.O_TRUNC]) expect(s.c.errno(MID.OpenAt, { fd: d.id, flags: fl })).toBe(C.EISDIR);
      const l = s.c.walkTo(d.id, "l");
      expect(s.c.errno(MID.OpenAt, { fd: l.id, flags: C.O_RDONLY })).toBe(C.EINVAL);
    });

    test("FIFOs and sockets are refused by default (EPERM)", () => {
      const d = scratch(fx, s);
      Bun.spawnSync(["mkfifo", path.join(d.host, "p")]);
      const p = s.c.walkTo(d.id, "p");
      expect(s.c.errno(MID.OpenAt, { fd: p.id, flags: C.O_RDONLY })).toBe(C.EPERM);
    });
  });

  describe("OpenCreateAt", () => {
    test("creates a regular file with mode and owner and donates a writable FD", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "new");
      const r = s.c.openCreateAt(d.id, "new", C.O_RDWR, { mode: 0o640, uid: 1001, gid: 1002 });
      const st = fs.lstatSync(p);
      expect(st.isFile()).toBe(true);
      expect(st.mode & 0o7777).toBe(0o640);
      expect([st.uid, st.gid]).toEqual([1001, 1002]);
      expectStatOf(r.child.stat, p);
      expect(r.hostFd).toBeGreaterThanOrEqual(0);
      expectSameFile(r.hostFd, p);
      expect(isNonblocking(r.hostFd)).toBe(true);
      expect(accessMode(r.hostFd)).toBe(C.O_RDWR);
      closeAll([r.hostFd]);
      // The open FD and the child's control FD both work.
      expect(s.c.pwrite(r.id, 0, bytes("created"))).toBe(7);
      expect(fs.readFileSync(p, "utf8")).toBe("created");
      expectStatOf(s.c.fstat(r.child.id), p);
      // Access mode of the open FD is the requested one.
      const ro = s.c.openCreateAt(d.id, "ro", C.O_RDONLY | C.O_APPEND, { mode: 0o600 });
      closeAll([ro.hostFd]);
      expect(s.c.errno(MID.PWrite, { fd: ro.id, offset: 0, buf: bytes("x") })).toBe(C.EBADF);
    });

    test("EEXIST for existing names, ENOTDIR for a non-directory, EINVAL for bad names", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "keep");
      fs.symlinkSync("nowhere", path.join(d.host, "dangling"));
      expect(s.c.errno(MID.OpenCreateAt, { dirFd: d.id, name: "f", mode: 0o644, flags: C.O_RDWR })).toBe(C.EEXIST);
      expect(s.c.errno(MID.OpenCreateAt, { dirFd: d.id, name: "dangling", mode: 0o644, flags: C.O_RDWR })).toBe(C.EEXIST);
      expect(fs.existsSync(path.join(d.host, "nowhere"))).toBe(false);
      const f = s.c.walkTo(d.id, "f");
      expect(s.c.errno(MID.OpenCreateAt, { dirFd: f.id, name: "x", mode: 0o644, flags: 0 })).toBe(C.ENOTDIR);
      for (const bad of ["", ".", "..", "a/b", "a\0b"])
        expect(s.c.errno(MID.OpenCreateAt, { dirFd: d.id, name: bad, mode: 0o644, flags: 0 })).toBe(C.EINVAL);
      expect(fs.readFileSync(path.join(d.host, "f"), "utf8")).toBe("keep");
      expect(fs.readdirSync(d.host).sort()).toEqual(["dangling", "f"]);
    });
  });

  describe("Close", () => {
    test("closed IDs are gone; an open FD outlives its closed control FD", async () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "still readable");
      const f = s.c.walkTo(d.id, "f");
      const o = s.c.openAt(f.id, C.O_RDONLY);
      closeAll([o.hostFd]);
      // The gofer closes its copy of the donated FD after the reply is sent:
      // wait for that, then the control FD and the open FD remain.
      expect(await eventually(() => s.g.fdsUnder(p) <= 2)).toBe(true);
      expect(s.g.fdsUnder(p)).toBe(2);
      s.c.close([f.id]);
      expect(s.c.errno(MID.FStat, { fd: f.id })).toBe(C.EBADF);
      expect(text(s.c.pread(o.id, 0, 100))).toBe("still readable");
      s.c.close([o.id]);
      expect(s.c.errno(MID.PRead, { fd: o.id, offset: 0, count: 1 })).toBe(C.EBADF);
      // Both host FDs are released.
      expect(s.g.fdsUnder(p)).toBe(0);
      // Several at once, with duplicates and unknown IDs.
      const a = s.c.walkTo(d.id, "f");
      const b = s.c.walkTo(d.id, "f");
      expect(s.g.fdsUnder(p)).toBe(2);
      s.c.close([a.id, b.id, a.id, 999999]);
      expect(s.c.errno(MID.FStat, { fd: a.id })).toBe(C.EBADF);
      expect(s.c.errno(MID.FStat, { fd: b.id })).toBe(C.EBADF);
      expect(s.g.fdsUnder(p)).toBe(0);
    });
  });

  describe("FSync and Flush", () => {
    test("succeed on open FDs; EBADF once closed", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      const f = s.c.walkTo(d.id, "f");
      const a = s.c.openAt(f.id, C.O_RDWR);
      const b = s.c.openAt(f.id, C.O_RDONLY);
      closeAll([a.hostFd, b.hostFd]);
      s.c.pwrite(a.id, 1, bytes("synced"));
      s.c.fsync([a.id, b.id]);
      s.c.flush(a.id);
      expect(fs.readFileSync(path.join(d.host, "f"), "utf8")).toBe("xsynced");
      s.c.close([b.id]);
      expect(s.c.errno(MID.FSync, { fds: [a.id, b.id] })).toBe(C.EBADF);
      expect(s.c.errno(MID.Flush, { fd: b.id })).toBe(C.EBADF);
    });
  });

  describe("PWrite and PRead", () => {
    test("offsets, short reads at EOF, holes", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "hello world");
      const f = s.c.walkTo(d.id, "f");
      const o = s.c.openAt(f.id, C.O_RDWR);
      closeAll([o.hostFd]);
      expect(text(s.c.pread(o.id, 6, 100))).toBe("world");
      expect(s.c.pread(o.id, 11, 100).byteLength).toBe(0);
      expect(s.c.pread(o.id, 1000, 10).byteLength).toBe(0);
      expect(s.c.pread(o.id, 0, 0).byteLength).toBe(0);
      expect(s.c.pwrite(o.id, 6, bytes("WORLD!"))).toBe(6);
      expect(fs.readFileSync(p, "utf8")).toBe("hello WORLD!");
      expect(s.c.pwrite(o.id, 20, bytes("z"))).toBe(1);
      const host = fs.readFileSync(p);
      expect(host.byteLength).toBe(21);
      expect([...host.subarray(12, 20)]).toEqual(new Array(8).fill(0));
      expect(s.c.pwrite(o.id, 0, new Uint8Array(0))).toBe(0);
      // Large offsets (above 2^32) work.
      expect(s.c.pwrite(o.id, 2 ** 33, bytes("far"))).toBe(3);
      expect(text(s.c.pread(o.id, 2 ** 33, 10))).toBe("far");
      expect(fs.statSync(p).size).toBe(2 ** 33 + 3);
      s.c.setStat(f.id, { mask: C.STATX_SIZE, size: 0 });
    });

    test("reads and writes up to the max message size; ENOBUFS beyond", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "big");
      const maxData = MAX_MESSAGE_SIZE - 20; // PWrite: offset 8 + fd 8 + len 4
      const data = new Uint8Array(maxData);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
      const r = s.c.openCreateAt(d.id, "big", C.O_RDWR);
      closeAll([r.hostFd]);
      expect(s.c.pwrite(r.id, 0, data)).toBe(maxData);
      expect(Buffer.compare(fs.readFileSync(p), Buffer.from(data))).toBe(0);
      fs.appendFileSync(p, Buffer.alloc(100, 1));
      const maxRead = MAX_MESSAGE_SIZE - 8; // PRead reply: numBytes 8 + data
      const got = s.c.pread(r.id, 0, maxRead);
      expect(got.byteLength).toBe(maxRead);
      expect(Buffer.compare(Buffer.from(got), fs.readFileSync(p).subarray(0, maxRead))).toBe(0);
      for (const count of [maxRead + 1, MAX_MESSAGE_SIZE, 0xffffffff])
        expect(s.c.errno(MID.PRead, { fd: r.id, offset: 0, count })).toBe(C.ENOBUFS);
      // The connection is fine afterwards.
      expect(text(s.c.pread(r.id, maxData, 3))).toBe("\x01\x01\x01");
    });

    test("EBADF for the wrong access mode", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "unchanged");
      const f = s.c.walkTo(d.id, "f");
      const ro = s.c.openAt(f.id, C.O_RDONLY);
      const wo = s.c.openAt(f.id, C.O_WRONLY);
      closeAll([ro.hostFd, wo.hostFd]);
      expect(s.c.errno(MID.PWrite, { fd: ro.id, offset: 0, buf: bytes("x") })).toBe(C.EBADF);
      expect(s.c.errno(MID.PRead, { fd: wo.id, offset: 0, count: 4 })).toBe(C.EBADF);
      expect(s.c.errno(MID.FAllocate, { fd: ro.id, mode: 0, offset: 0, length: 100 })).toBe(C.EBADF);
      expect(fs.readFileSync(p, "utf8")).toBe("unchanged");
    });

    test("directories: PRead fails with EISDIR", () => {
      const d = scratch(fx, s);
      const o = s.c.openAt(d.id, C.O_RDONLY);
      expect(s.c.errno(MID.PRead, { fd: o.id, offset: 0, count: 10 })).toBe(C.EISDIR);
    });
  });

  describe("FAllocate", () => {
    test("allocates space; KEEP_SIZE keeps the size", () => {
      const d = scratch(fx, s);
      const p = path.join(d.host, "f");
      fs.writeFileSync(p, "");
      const f = s.c.walkTo(d.id, "f");
      const o = s.c.openAt(f.id, C.O_RDWR);
      closeAll([o.hostFd]);
      s.c.fallocate(o.id, 0, 0, 65536);
      let st = fs.statSync(p);
      expect(st.size).toBe(65536);
      expect(st.blocks * 512).toBeGreaterThanOrEqual(65536);
      const FALLOC_FL_KEEP_SIZE = 1;
      s.c.fallocate(o.id, FALLOC_FL_KEEP_SIZE, 65536, 65536);
      st = fs.statSync(p);
      expect(st.size).toBe(65536);
      expect(st.blocks * 512).toBeGreaterThanOrEqual(131072);
      expect(s.c.errno(MID.FAllocate, { fd: o.id, mode: 0, offset: 0, length: 0 })).toBe(C.EINVAL);
    });
  });

  describe("FStatFS", () => {
    test("matches statfs of the host filesystem", () => {
      const d = scratch(fx, s);
      const sf = s.c.fstatfs(d.id);
      const h = fs.statfsSync(d.host, { bigint: true });
      expect(sf.type).toBe(h.type);
      expect(sf.blockSize).toBe(h.bsize);
      expect(sf.blocks).toBe(h.blocks);
      expect(sf.files).toBe(h.files);
      expect(sf.blocksAvailable).toBeLessThanOrEqual(sf.blocks);
      expect(sf.blocksFree).toBeLessThanOrEqual(sf.blocks);
      expect(sf.filesFree).toBeLessThanOrEqual(sf.files);
      expect(sf.nameLength).toBe(255n);
      if (fx.tmpfs) expect(sf.type).toBe(0x01021994n); // TMPFS_MAGIC
    });
  });
});
