// Read-only mounts (--mount PATH:ro): every mutating message gets EROFS, reads
// work, and the host tree is byte-for-byte unchanged afterwards.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import * as libc from "../src/ffi/libc";
import {
  accessMode,
  bytes,
  closeAll,
  expectStatOf,
  hostAccept,
  hostListXattr,
  hostListen,
  hostSetXattr,
  text,
} from "./lib/assert";
import { MID } from "./lib/client";
import { snapshot, useFixture } from "./lib/fixture";
import { TRANSPORTS, useSession } from "./lib/session";

const fx = useFixture();
let listener = -1;

/** Every file's xattrs, for the before/after comparison. */
function xattrSnapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isFile() || st.isDirectory()) out.push(`${p}: ${hostListXattr(p).join(",")}`);
    if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
  };
  walk(dir);
  return out;
}

beforeAll(() => {
  const m = fx.mount;
  fs.writeFileSync(path.join(m, "file"), "read-only content\n");
  fs.mkdirSync(path.join(m, "dir/sub"), { recursive: true });
  fs.writeFileSync(path.join(m, "dir/sub/deep"), "deep");
  fs.symlinkSync("file", path.join(m, "link"));
  hostSetXattr(path.join(m, "file"), "user.tag", "original");
  listener = hostListen(path.join(m, "sock"));
});
afterAll(() => closeAll([listener]));

describe.each(TRANSPORTS)("read-only mount over %s", (transport) => {
  const s = useSession(fx, transport, {
    mounts: (f) => [`${f.mount}:ro`],
    flags: ["--host-uds", "all", "--host-fifo", "open", "--xattr-user"],
  });

  test("every mutating message gets EROFS and the host tree is unchanged", () => {
    const before = snapshot(fx.mount);
    const xbefore = xattrSnapshot(fx.mount);
    const r = s.root.id;
    const file = s.c.walkTo(r, "file").id;
    const dir = s.c.walkTo(r, "dir").id;
    const link = s.c.walkTo(r, "link").id;
    const ro = s.c.openAt(file, C.O_RDONLY);
    closeAll([ro.hostFd]);
    const create = { mode: 0o644, uid: 0, gid: 0 };
    const cases: [string, number, Record<string, unknown>][] = [
      ["SetStat mode", MID.SetStat, { fd: file, mask: C.STATX_MODE, mode: 0o777 }],
      ["SetStat uid", MID.SetStat, { fd: file, mask: C.STATX_UID, uid: 1 }],
      ["SetStat gid", MID.SetStat, { fd: file, mask: C.STATX_GID, gid: 1 }],
      ["SetStat size", MID.SetStat, { fd: file, mask: C.STATX_SIZE, size: 0 }],
      ["SetStat atime", MID.SetStat, { fd: file, mask: C.STATX_ATIME, atimeSec: 1 }],
      ["SetStat mtime", MID.SetStat, { fd: dir, mask: C.STATX_MTIME, mtimeSec: 1 }],
      ["SetStat link", MID.SetStat, { fd: link, mask: C.STATX_MTIME | C.STATX_UID, mtimeSec: 1 }],
      ["OpenAt wronly", MID.OpenAt, { fd: file, flags: C.O_WRONLY }],
      ["OpenAt rdwr", MID.OpenAt, { fd: file, flags: C.O_RDWR }],
      ["OpenAt trunc", MID.OpenAt, { fd: file, flags: C.O_RDONLY | C.O_TRUNC }],
      ["OpenAt dir wronly", MID.OpenAt, { fd: dir, flags: C.O_WRONLY }],
      ["OpenCreateAt", MID.OpenCreateAt, { dirFd: r, name: "new", flags: C.O_RDWR, ...create }],
      ["OpenCreateAt rdonly", MID.OpenCreateAt, { dirFd: dir, name: "new", flags: C.O_RDONLY, ...create }],
      ["PWrite", MID.PWrite, { fd: ro.id, offset: 0, buf: bytes("overwrite") }],
      ["PWrite unknown fd", MID.PWrite, { fd: 999999, offset: 0, buf: bytes("x") }],
      ["MkdirAt", MID.MkdirAt, { dirFd: r, name: "newdir", ...create, mode: 0o755 }],
      ["MknodAt", MID.MknodAt, { dirFd: r, name: "node", ...create, mode: C.S_IFREG | 0o644 }],
      ["MknodAt chr", MID.MknodAt, { dirFd: r, name: "chr", ...create, mode: C.S_IFCHR | 0o666, major: 1, minor: 3 }],
      ["SymlinkAt", MID.SymlinkAt, { dirFd: r, name: "newlink", target: "file", uid: 0, gid: 0 }],
      ["LinkAt", MID.LinkAt, { dirFd: dir, target: file, name: "hard" }],
      ["FAllocate", MID.FAllocate, { fd: ro.id, mode: 0, offset: 0, length: 4096 }],
      ["UnlinkAt file", MID.UnlinkAt, { dirFd: r, name: "file", flags: 0 }],
      ["UnlinkAt dir", MID.UnlinkAt, { dirFd: dir, name: "sub", flags: C.AT_REMOVEDIR }],
      ["UnlinkAt missing", MID.UnlinkAt, { dirFd: r, name: "missing", flags: 0 }],
      ["RenameAt", MID.RenameAt, { oldDir: r, oldName: "file", newDir: dir, newName: "moved" }],
      ["RenameAt same", MID.RenameAt, { oldDir: r, oldName: "file", newDir: r, newName: "file" }],
      ["FSetXattr", MID.FSetXattr, { fd: file, name: "user.tag", value: bytes("changed"), flags: 0 }],
      ["FSetXattr new", MID.FSetXattr, { fd: dir, name: "user.new", value: bytes("v"), flags: 0 }],
      ["FRemoveXattr", MID.FRemoveXattr, { fd: file, name: "user.tag" }],
      ["BindAt", MID.BindAt, { dirFd: r, name: "newsock", sockType: C.SOCK_STREAM, ...create }],
    ];
    const got = cases.map(([name, mid, v]) => [name, s.c.errno(mid, v)]);
    expect(got).toEqual(cases.map(([name]) => [name, C.EROFS]));
    expect(snapshot(fx.mount)).toEqual(before);
    expect(xattrSnapshot(fx.mount)).toEqual(xbefore);
  });

  test("reads work; donated FDs are read-only", () => {
    const before = snapshot(fx.mount);
    const r = s.root.id;
    const file = s.c.walkTo(r, "file");
    expectStatOf(file.stat, path.join(fx.mount, "file"));
    expect(s.c.walkStat(r, ["dir", "sub", "deep"]).length).toBe(3);
    const o = s.c.openAt(file.id, C.O_RDONLY);
    expect(accessMode(o.hostFd)).toBe(C.O_RDONLY);
    const junk = bytes("junk");
    expect(libc.pwrite(o.hostFd, libc.addr(junk), 4, 0)).toBe(-C.EBADF);
    closeAll([o.hostFd]);
    expect(text(s.c.pread(o.id, 0, 100))).toBe("read-only content\n");
    s.c.fsync([o.id]);
    s.c.flush(o.id);
    const dirOpen = s.c.openAt(r, C.O_RDONLY);
    const names = [];
    for (let b = s.c.getdents64(dirOpen.id, 4096); b.length; b = s.c.getdents64(dirOpen.id, 4096)) names.push(...b.map((e) => e.name));
    expect(names.sort()).toEqual(["dir", "file", "link", "sock"]);
    expect(s.c.readlinkAt(s.c.walkTo(r, "link").id)).toBe("file");
    expect(text(s.c.fgetxattr(file.id, "user.tag", 100))).toBe("original");
    expect(s.c.flistxattr(file.id, 0)).toEqual(["user.tag"]);
    expect(s.c.fstatfs(r).nameLength).toBe(255n);
    // Connecting to a host socket changes nothing on disk.
    const conn = s.c.connect(s.c.walkTo(r, "sock").id, C.SOCK_STREAM);
    const a = hostAccept(listener);
    expect(a).toBeGreaterThanOrEqual(0);
    closeAll([conn, a]);
    expect(snapshot(fx.mount)).toEqual(before);
  });
});
