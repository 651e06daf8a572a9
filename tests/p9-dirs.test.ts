// 9P directory messages against the host (gVisor's 9P2000.L.Google.13,
// pkg/p9/handlers.go rules over gVisor's 2021 p9 fsgofer's semantics,
// seeds/fsgofer.go): Tmkdir, Tumkdir, Tsymlink, Tusymlink, Treadlink,
// Tmknod, Tumknod, Tlink, Trename, Trenameat, Tunlinkat, Tremove (with
// rename tracking), fids of deleted files, and Treaddir.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import { QidType, SetAttrMask } from "../src/p9/message";
import { big, closeAll, expectAttrOf, expectQidOf, qidPathOf, text } from "./lib/assert";
import { IS_ROOT, useFixture } from "./lib/fixture";
import { type P9Client, T } from "./lib/p9client";
import { fid, RDONLY, RDWR, scratch, useP9Session } from "./lib/p9session";

const fx = useFixture();
const E = C;

describe("9P2000.L.Google.13 over the socket", () => {
  let c: P9Client;
  useP9Session(fx, (s) => (c = s.c));

  // ---- creation --------------------------------------------------------------------------

  test("Tmkdir/Tumkdir make directories (owner for Tumkdir); EEXIST, EINVAL", () => {
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
  test("a fid whose file was deleted: no open, walk, setattr, create, readdir", () => {
    const s = scratch(fx, c);
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
  // ---- readdir ---------------------------------------------------------------------------

  test("Treaddir lists a directory with QIDs and offsets; needs an opened directory", () => {
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
    const s = scratch(fx, c);
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
});
