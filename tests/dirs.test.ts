// Directory messages against the host: MkdirAt, MknodAt, SymlinkAt, LinkAt,
// ReadLinkAt, UnlinkAt, RenameAt (with rename tracking), Getdents64.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { closeAll, expectStatOf, hostAccept, hostListen, readStr, writeStr } from "./lib/assert";
import { MID, WalkStatus } from "./lib/client";
import { Gofer, devMajor, devMinor, useFixture } from "./lib/fixture";
import { TRANSPORTS, scratch, useSession } from "./lib/session";

const fx = useFixture();
const BAD_NAMES = ["", ".", "..", "a/b", "/", "a\0b"];

describe.each(TRANSPORTS)("directories over %s", (transport) => {
  // --host-uds open for the rename-tracking Connect test.
  const s = useSession(fx, transport, { flags: ["--host-uds", "open"] });

  describe("MkdirAt", () => {
    test("creates a directory with mode and owner; its control FD works", () => {
      const d = scratch(fx, s);
      const ino = s.c.mkdirAt(d.id, "sub", { mode: 0o1750, uid: 321, gid: 654 });
      const p = path.join(d.host, "sub");
      const st = fs.lstatSync(p);
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o7777).toBe(0o1750);
      expect([st.uid, st.gid]).toEqual([321, 654]);
      expectStatOf(ino.stat, p);
      s.c.mkdirAt(ino.id, "nested");
      expect(fs.lstatSync(path.join(p, "nested")).isDirectory()).toBe(true);
    });

    test("EEXIST, ENOTDIR, EINVAL", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      fs.symlinkSync("elsewhere", path.join(d.host, "l"));
      expect(s.c.errno(MID.MkdirAt, { dirFd: d.id, name: "f", mode: 0o755 })).toBe(C.EEXIST);
      expect(s.c.errno(MID.MkdirAt, { dirFd: d.id, name: "l", mode: 0o755 })).toBe(C.EEXIST);
      const f = s.c.walkTo(d.id, "f");
      expect(s.c.errno(MID.MkdirAt, { dirFd: f.id, name: "x", mode: 0o755 })).toBe(C.ENOTDIR);
      for (const bad of BAD_NAMES) expect(s.c.errno(MID.MkdirAt, { dirFd: d.id, name: bad, mode: 0o755 })).toBe(C.EINVAL);
      expect(fs.readdirSync(d.host).sort()).toEqual(["f", "l"]);
      expect(fs.existsSync(path.join(d.host, "elsewhere"))).toBe(false);
    });
  });

  describe("MknodAt", () => {
    test("creates regular files only", () => {
      const d = scratch(fx, s);
      const ino = s.c.mknodAt(d.id, "reg", C.S_IFREG | 0o640, {}, { uid: 5, gid: 6 });
      const p = path.join(d.host, "reg");
      const st = fs.lstatSync(p);
      expect(st.isFile()).toBe(true);
      expect(st.mode & 0o7777).toBe(0o640);
      expect([st.uid, st.gid, st.size]).toEqual([5, 6, 0]);
      expectStatOf(ino.stat, p);
    });

    test("character and block devices, FIFOs and sockets get EPERM; nothing appears on the host", () => {
      const d = scratch(fx, s);
      const cases: [string, number, number, number][] = [
        ["null", C.S_IFCHR | 0o666, 1, 3],
        ["mem", C.S_IFCHR | 0o600, 1, 1],
        ["sda", C.S_IFBLK | 0o660, 8, 0],
        ["fifo", C.S_IFIFO | 0o644, 0, 0],
        ["sock", C.S_IFSOCK | 0o644, 0, 0],
        ["notype", 0o644, 1, 3],
      ];
      for (const [name, mode, major, minor] of cases)
        expect([name, s.c.errno(MID.MknodAt, { dirFd: d.id, name, mode, major, minor })]).toEqual([name, C.EPERM]);
      expect(fs.readdirSync(d.host)).toEqual([]);
    });

    test("EEXIST, ENOTDIR, EINVAL", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "keep");
      expect(s.c.errno(MID.MknodAt, { dirFd: d.id, name: "f", mode: C.S_IFREG | 0o644 })).toBe(C.EEXIST);
      const f = s.c.walkTo(d.id, "f");
      expect(s.c.errno(MID.MknodAt, { dirFd: f.id, name: "x", mode: C.S_IFREG | 0o644 })).toBe(C.ENOTDIR);
      for (const bad of BAD_NAMES)
        expect(s.c.errno(MID.MknodAt, { dirFd: d.id, name: bad, mode: C.S_IFREG | 0o644 })).toBe(C.EINVAL);
      expect(fs.readFileSync(path.join(d.host, "f"), "utf8")).toBe("keep");
      expect(fs.readdirSync(d.host)).toEqual(["f"]);
    });
  });

  describe("SymlinkAt and ReadLinkAt", () => {
    test("stores the target verbatim, owned as asked; ReadLinkAt returns it", () => {
      const d = scratch(fx, s);
      const targets = ["plain", "../../../../etc/passwd", "/absolute/path", "with space/and\nnewline", "x".repeat(4000)];
      targets.forEach((t, i) => {
        const ino = s.c.symlinkAt(d.id, `l${i}`, t, { uid: 11, gid: 12 });
        const p = path.join(d.host, `l${i}`);
        expect(fs.readlinkSync(p)).toBe(t);
        const st = fs.lstatSync(p);
        expect(st.isSymbolicLink()).toBe(true);
        expect([st.uid, st.gid]).toEqual([11, 12]);
        expectStatOf(ino.stat, p);
        expect(s.c.readlinkAt(ino.id)).toBe(t);
      });
      // A link made on the host reads back too.
      fs.symlinkSync("host-made", path.join(d.host, "hl"));
      expect(s.c.readlinkAt(s.c.walkTo(d.id, "hl").id)).toBe("host-made");
    });

    test("errors: EEXIST, ENOTDIR, EINVAL; ReadLinkAt of a non-symlink is EINVAL", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      expect(s.c.errno(MID.SymlinkAt, { dirFd: d.id, name: "f", target: "t" })).toBe(C.EEXIST);
      const f = s.c.walkTo(d.id, "f");
      expect(s.c.errno(MID.SymlinkAt, { dirFd: f.id, name: "x", target: "t" })).toBe(C.ENOTDIR);
      for (const bad of BAD_NAMES) expect(s.c.errno(MID.SymlinkAt, { dirFd: d.id, name: bad, target: "t" })).toBe(C.EINVAL);
      expect(s.c.errno(MID.SymlinkAt, { dirFd: d.id, name: "nul", target: "a\0b" })).toBe(C.EINVAL);
      expect(s.c.errno(MID.SymlinkAt, { dirFd: d.id, name: "empty", target: "" })).toBe(C.ENOENT);
      expect(s.c.errno(MID.ReadLinkAt, { fd: f.id })).toBe(C.EINVAL);
      expect(s.c.errno(MID.ReadLinkAt, { fd: d.id })).toBe(C.EINVAL);
      expect(fs.readdirSync(d.host)).toEqual(["f"]);
    });
  });

  describe("LinkAt", () => {
    test("hard-links files, symlinks and sockets; EPERM for directories", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "linked");
      fs.symlinkSync("f", path.join(d.host, "l"));
      fs.mkdirSync(path.join(d.host, "sub"));
      const f = s.c.walkTo(d.id, "f");
      const sub = s.c.walkTo(d.id, "sub");
      const ino = s.c.linkAt(sub.id, f.id, "hard");
      const p = path.join(d.host, "sub/hard");
      expect(fs.lstatSync(p).ino).toBe(fs.lstatSync(path.join(d.host, "f")).ino);
      expect(fs.lstatSync(p).nlink).toBe(2);
      expectStatOf(ino.stat, p);
      expect(fs.readFileSync(p, "utf8")).toBe("linked");
      // A symlink is linked as itself.
      const l = s.c.walkTo(d.id, "l");
      s.c.linkAt(d.id, l.id, "l2");
      expect(fs.lstatSync(path.join(d.host, "l2")).isSymbolicLink()).toBe(true);
      expect(fs.lstatSync(path.join(d.host, "l2")).ino).toBe(fs.lstatSync(path.join(d.host, "l")).ino);
      expect(s.c.errno(MID.LinkAt, { dirFd: d.id, target: sub.id, name: "dirlink" })).toBe(C.EPERM);
      expect(s.c.errno(MID.LinkAt, { dirFd: d.id, target: f.id, name: "sub" })).toBe(C.EEXIST);
      expect(s.c.errno(MID.LinkAt, { dirFd: f.id, target: f.id, name: "x" })).toBe(C.ENOTDIR);
      for (const bad of BAD_NAMES) expect(s.c.errno(MID.LinkAt, { dirFd: d.id, target: f.id, name: bad })).toBe(C.EINVAL);
      // The mount point itself has no parent inside the mount.
      expect(s.c.errno(MID.LinkAt, { dirFd: d.id, target: s.root.id, name: "root" })).toBe(C.EPERM);
      expect(fs.readdirSync(d.host).sort()).toEqual(["f", "l", "l2", "sub"]);
    });

    test("a deleted file cannot be linked back (EINVAL)", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      const f = s.c.walkTo(d.id, "f");
      s.c.unlinkAt(d.id, "f");
      expect(s.c.errno(MID.LinkAt, { dirFd: d.id, target: f.id, name: "back" })).toBe(C.EINVAL);
      expect(fs.readdirSync(d.host)).toEqual([]);
    });
  });

  describe("UnlinkAt", () => {
    test("files, symlinks, directories with AT_REMOVEDIR", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      fs.symlinkSync("f", path.join(d.host, "l"));
      fs.mkdirSync(path.join(d.host, "sub"));
      fs.mkdirSync(path.join(d.host, "full"));
      fs.writeFileSync(path.join(d.host, "full/x"), "x");
      expect(s.c.errno(MID.UnlinkAt, { dirFd: d.id, name: "sub", flags: 0 })).toBe(C.EISDIR);
      expect(s.c.errno(MID.UnlinkAt, { dirFd: d.id, name: "f", flags: C.AT_REMOVEDIR })).toBe(C.ENOTDIR);
      expect(s.c.errno(MID.UnlinkAt, { dirFd: d.id, name: "full", flags: C.AT_REMOVEDIR })).toBe(C.ENOTEMPTY);
      expect(s.c.errno(MID.UnlinkAt, { dirFd: d.id, name: "missing", flags: 0 })).toBe(C.ENOENT);
      for (const bad of BAD_NAMES) expect(s.c.errno(MID.UnlinkAt, { dirFd: d.id, name: bad, flags: 0 })).toBe(C.EINVAL);
      const f = s.c.walkTo(d.id, "f");
      expect(s.c.errno(MID.UnlinkAt, { dirFd: f.id, name: "x", flags: 0 })).toBe(C.ENOTDIR);
      expect(fs.readdirSync(d.host).sort()).toEqual(["f", "full", "l", "sub"]);
      s.c.unlinkAt(d.id, "l");
      expect(fs.existsSync(path.join(d.host, "f"))).toBe(true);
      s.c.unlinkAt(d.id, "f");
      s.c.unlinkAt(d.id, "sub", C.AT_REMOVEDIR);
      expect(fs.readdirSync(d.host)).toEqual(["full"]);
    });

    test("FDs of a deleted file: stat still works, path-based operations get EINVAL", () => {
      const d = scratch(fx, s);
      fs.mkdirSync(path.join(d.host, "sub"));
      fs.writeFileSync(path.join(d.host, "sub/f"), "x");
      const sub = s.c.walkTo(d.id, "sub");
      const f = s.c.walkTo(sub.id, "f");
      s.c.unlinkAt(sub.id, "f");
      expect(s.c.fstat(f.id).nlink).toBe(0);
      expect(s.c.errno(MID.OpenAt, { fd: f.id, flags: C.O_RDONLY })).toBe(C.EINVAL);
      s.c.unlinkAt(d.id, "sub", C.AT_REMOVEDIR);
      for (const [mid, v] of [
        [MID.MkdirAt, { dirFd: sub.id, name: "x", mode: 0o755 }],
        [MID.OpenCreateAt, { dirFd: sub.id, name: "x", mode: 0o644, flags: 0 }],
        [MID.SymlinkAt, { dirFd: sub.id, name: "x", target: "t" }],
        [MID.UnlinkAt, { dirFd: sub.id, name: "x", flags: 0 }],
      ] as const)
        expect(s.c.errno(mid, v)).toBe(C.EINVAL);
      // Walking from a deleted directory finds nothing.
      expect(s.c.walk(sub.id, ["x"])).toEqual({ status: WalkStatus.ComponentDoesNotExist, inodes: [] });
      expect(fs.readdirSync(d.host)).toEqual([]);
    });
  });

  describe("RenameAt", () => {
    test("within and across directories, replacing a target; no-op to the same name", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "a"), "A");
      fs.writeFileSync(path.join(d.host, "b"), "B");
      fs.mkdirSync(path.join(d.host, "sub"));
      const sub = s.c.walkTo(d.id, "sub");
      s.c.renameAt(d.id, "a", d.id, "a2");
      expect(fs.readdirSync(d.host).sort()).toEqual(["a2", "b", "sub"]);
      s.c.renameAt(d.id, "a2", sub.id, "moved");
      expect(fs.readFileSync(path.join(d.host, "sub/moved"), "utf8")).toBe("A");
      // Replacing: b's walked FD then refers to a deleted file.
      const b = s.c.walkTo(d.id, "b");
      s.c.renameAt(sub.id, "moved", d.id, "b");
      expect(fs.readFileSync(path.join(d.host, "b"), "utf8")).toBe("A");
      expect(s.c.errno(MID.OpenAt, { fd: b.id, flags: C.O_RDONLY })).toBe(C.EINVAL);
      s.c.renameAt(d.id, "b", d.id, "b");
      expect(fs.readdirSync(d.host).sort()).toEqual(["b", "sub"]);
    });

    test("errors: ENOENT, ENOTDIR, EINVAL, and a directory into itself", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      fs.mkdirSync(path.join(d.host, "sub"));
      const f = s.c.walkTo(d.id, "f");
      const sub = s.c.walkTo(d.id, "sub");
      const rn = (oldDir: number, oldName: string, newDir: number, newName: string) =>
        s.c.errno(MID.RenameAt, { oldDir, oldName, newDir, newName });
      expect(rn(d.id, "missing", d.id, "x")).toBe(C.ENOENT);
      expect(rn(f.id, "x", d.id, "y")).toBe(C.ENOTDIR);
      expect(rn(d.id, "f", f.id, "y")).toBe(C.ENOTDIR);
      for (const bad of BAD_NAMES) {
        expect(rn(d.id, bad, d.id, "y")).toBe(C.EINVAL);
        expect(rn(d.id, "f", d.id, bad)).toBe(C.EINVAL);
      }
      expect(rn(d.id, "sub", sub.id, "inside")).toBe(C.EINVAL);
      expect(fs.readdirSync(d.host).sort()).toEqual(["f", "sub"]);
    });

    test("FDs walked below a renamed directory keep working for path-based operations", () => {
      const d = scratch(fx, s);
      const base = path.join(d.host, "old");
      fs.mkdirSync(path.join(base, "deep"), { recursive: true });
      fs.writeFileSync(path.join(base, "deep/file"), "payload");
      fs.symlinkSync("file", path.join(base, "deep/link"));
      const listener = hostListen(path.join(base, "deep/sock"));
      const deep = s.c.walkTo(d.id, "old/deep");
      const file = s.c.walkTo(deep.id, "file");
      const link = s.c.walkTo(deep.id, "link");
      const sock = s.c.walkTo(deep.id, "sock");
      // Rename the directory above them, twice (via two different parents).
      fs.mkdirSync(path.join(d.host, "other"));
      const other = s.c.walkTo(d.id, "other");
      s.c.renameAt(d.id, "old", other.id, "mid");
      s.c.renameAt(other.id, "mid", d.id, "new");
      const now = path.join(d.host, "new/deep");
      expect(fs.readdirSync(now).sort()).toEqual(["file", "link", "sock"]);
      // Something else now sits at the old path: it must not be used.
      fs.mkdirSync(path.join(base, "deep"), { recursive: true });
      fs.writeFileSync(path.join(base, "deep/file"), "impostor");
      fs.symlinkSync("file", path.join(base, "deep/link"));

      // Connect reaches the socket at its new place.
      const conn = s.c.connect(sock.id, C.SOCK_STREAM);
      const accepted = hostAccept(listener);
      expect(accepted).toBeGreaterThanOrEqual(0);
      expect(writeStr(conn, "ping")).toBe(4);
      expect(readStr(accepted)).toBe("ping");
      closeAll([conn, accepted, listener]);

      // SetStat times on the symlink change that symlink, not the impostor.
      const impostorBefore = fs.lstatSync(path.join(base, "deep/link"), { bigint: true }).mtimeNs;
      expect(s.c.setStat(link.id, { mask: C.STATX_MTIME | C.STATX_ATIME, mtime: [4242, 0], atime: [4343, 0] })).toEqual({
        failureMask: 0,
        failureErrno: 0,
      });
      expect(fs.lstatSync(path.join(now, "link"), { bigint: true }).mtimeNs).toBe(4242_000_000_000n);
      expect(fs.lstatSync(path.join(base, "deep/link"), { bigint: true }).mtimeNs).toBe(impostorBefore);

      // LinkAt links the real file, not the impostor.
      s.c.linkAt(d.id, file.id, "hardlink");
      expect(fs.readFileSync(path.join(d.host, "hardlink"), "utf8")).toBe("payload");
      expect(fs.lstatSync(path.join(d.host, "hardlink")).ino).toBe(fs.lstatSync(path.join(now, "file")).ino);
      expect(fs.lstatSync(path.join(base, "deep/file")).nlink).toBe(1);
    });

    test("a renamed file's FDs follow it; the old name is free", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      fs.symlinkSync("f", path.join(d.host, "l"));
      const l = s.c.walkTo(d.id, "l");
      s.c.renameAt(d.id, "l", d.id, "l-renamed");
      expect(s.c.setStat(l.id, { mask: C.STATX_MTIME, mtime: [99, 0] }).failureMask).toBe(0);
      expect(fs.lstatSync(path.join(d.host, "l-renamed"), { bigint: true }).mtimeNs).toBe(99_000_000_000n);
      expect(s.c.readlinkAt(l.id)).toBe("f");
      s.c.symlinkAt(d.id, "l", "again");
      expect(fs.readlinkSync(path.join(d.host, "l"))).toBe("again");
    });
  });

  describe("Getdents64", () => {
    const DT_DIR = 4;
    const DT_REG = 8;
    const DT_LNK = 10;

    /** Reads a directory to the end with `count`-byte batches. */
    function readAll(fd: number, count: number) {
      const all = [];
      for (let i = 0; i < 100_000; i++) {
        const batch = s.c.getdents64(fd, count);
        if (batch.length === 0) return all;
        all.push(...batch);
      }
      throw new Error("directory never ended");
    }

    test("all entries with inode, type and device", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "file"), "x");
      fs.mkdirSync(path.join(d.host, "dir"));
      fs.symlinkSync("file", path.join(d.host, "link"));
      const o = s.c.openAt(d.id, C.O_RDONLY);
      const ents = readAll(o.id, 4096);
      // As gVisor's gofer: never "." or ".." (the sentry synthesizes them).
      expect(ents.map((e) => e.name).sort()).toEqual(["dir", "file", "link"]);
      const dev = fs.lstatSync(path.join(d.host, "file"), { bigint: true }).dev;
      for (const e of ents) {
        const st = fs.lstatSync(path.join(d.host, e.name), { bigint: true });
        expect(e.ino).toBe(st.ino);
        expect(e.type).toBe(st.isDirectory() ? DT_DIR : st.isSymbolicLink() ? DT_LNK : DT_REG);
        expect([e.devMajor, e.devMinor]).toEqual([devMajor(dev), devMinor(dev)]);
      }
    });

    test("a 10,000-entry directory across many calls, with a rewind", () => {
      const d = scratch(fx, s);
      const names = new Set<string>();
      for (let i = 0; i < 10_000; i++) {
        const n = `entry-${i.toString().padStart(5, "0")}`;
        names.add(n);
        fs.writeFileSync(path.join(d.host, n), "");
      }
      const o = s.c.openAt(d.id, C.O_RDONLY);
      let calls = 0;
      const seen: string[] = [];
      for (;;) {
        const b = s.c.getdents64(o.id, 2048);
        calls++;
        if (b.length === 0) break;
        seen.push(...b.map((e) => e.name));
      }
      expect(calls).toBeGreaterThan(50);
      expect(seen.length).toBe(10_000);
      expect(new Set(seen).size).toBe(10_000);
      expect([...seen].sort()).toEqual([...names].sort());
      // At the end: empty. A negative count rewinds first.
      expect(s.c.getdents64(o.id, 2048)).toEqual([]);
      const first = s.c.getdents64(o.id, -0x7fffffff);
      expect(first.length).toBe(10_000);
      expect(first.map((e) => e.name).sort()).toEqual(seen.slice().sort());
      expect(s.c.getdents64(o.id, 100_000)).toEqual([]);
      // A small negative count rewinds and returns the first batch again.
      const batch = s.c.getdents64(o.id, -2048);
      expect(batch.length).toBeGreaterThan(0);
      expect(batch.map((e) => e.name)).toEqual(first.slice(0, batch.length).map((e) => e.name));
    });

    test("a small count still returns at least one entry; count 0 returns none", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "only"), "");
      const o = s.c.openAt(d.id, C.O_RDONLY);
      expect(s.c.getdents64(o.id, 0)).toEqual([]);
      const got: string[] = [];
      for (let i = 0; i < 10; i++) got.push(...s.c.getdents64(o.id, 24).map((e) => e.name));
      expect(got).toEqual(["only"]);
    });

    test("ENOTDIR on a file's open FD; EINVAL on a deleted directory", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      fs.mkdirSync(path.join(d.host, "sub"));
      const f = s.c.walkTo(d.id, "f");
      const of = s.c.openAt(f.id, C.O_RDONLY);
      closeAll([of.hostFd]);
      expect(s.c.errno(MID.Getdents64, { dirFd: of.id, count: 1000 })).toBe(C.ENOTDIR);
      const sub = s.c.walkTo(d.id, "sub");
      const os = s.c.openAt(sub.id, C.O_RDONLY);
      s.c.unlinkAt(d.id, "sub", C.AT_REMOVEDIR);
      expect(s.c.errno(MID.Getdents64, { dirFd: os.id, count: 1000 })).toBe(C.EINVAL);
    });
  });
});

describe("rename tracking across connections", () => {
  test("a rename through one connection is followed by the other connection's FDs", async () => {
    const base = path.join(fx.mount, "xconn");
    fs.mkdirSync(path.join(base, "old/deep"), { recursive: true });
    fs.writeFileSync(path.join(base, "old/deep/file"), "x");
    fs.symlinkSync("file", path.join(base, "old/deep/link"));
    const g = Gofer.start(fx, { mounts: (f) => [f.mount, f.mount] });
    const [a, b] = g.clients;
    const ra = a.mount().root.id;
    const rb = b.mount().root.id;
    const link = b.walkTo(rb, "xconn/old/deep/link");
    const file = b.walkTo(rb, "xconn/old/deep/file");
    const dir = a.walkTo(ra, "xconn");
    a.renameAt(dir.id, "old", dir.id, "new");
    fs.mkdirSync(path.join(base, "old/deep"), { recursive: true });
    fs.symlinkSync("file", path.join(base, "old/deep/link"));
    expect(b.setStat(link.id, { mask: C.STATX_MTIME, mtime: [777, 0] }).failureMask).toBe(0);
    expect(fs.lstatSync(path.join(base, "new/deep/link"), { bigint: true }).mtimeNs).toBe(777_000_000_000n);
    expect(fs.lstatSync(path.join(base, "old/deep/link"), { bigint: true }).mtimeNs).not.toBe(777_000_000_000n);
    b.linkAt(rb, file.id, "xconn-hard");
    expect(fs.lstatSync(path.join(fx.mount, "xconn-hard")).ino).toBe(fs.lstatSync(path.join(base, "new/deep/file")).ino);
    expect(await g.stop()).toBe(0);
  });
});
