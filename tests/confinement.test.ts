// Confinement: symlinks inside the mount that point at decoy/ (beside the
// mount; absolute and ../ relative) are never followed, host-side swaps of a
// walked path for such a symlink do not redirect anything, and nothing in
// decoy/ ever changes.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import {
  bytes,
  closeAll,
  hostAccept,
  hostGetXattr,
  hostListen,
  hostSetXattr,
  text,
} from "./lib/assert";
import { MID_NAMES } from "../src/lisafs/message";
import { MID, WalkStatus, errnoOf, type Stat } from "./lib/client";
import { snapshot, useFixture } from "./lib/fixture";
import { TRANSPORTS, useSession } from "./lib/session";

const fx = useFixture();
let decoyListener = -1;
let decoySnapshot: string[] = [];
let decoyInodes = new Set<bigint>();

const LINKS = ["abs", "rel", "absfile", "relfile", "sub/up", "sub/upfile", "dangling-abs", "dangling-rel", "abssock"];

beforeAll(() => {
  const m = fx.mount;
  const dec = fx.decoy;
  decoyListener = hostListen(path.join(dec, "sock"));
  fs.symlinkSync("secret", path.join(dec, "lnk"));
  hostSetXattr(path.join(dec, "secret"), "user.decoy", "untouched");
  fs.mkdirSync(path.join(m, "sub"));
  fs.symlinkSync(dec, path.join(m, "abs"));
  fs.symlinkSync("../decoy", path.join(m, "rel"));
  fs.symlinkSync(path.join(dec, "secret"), path.join(m, "absfile"));
  fs.symlinkSync("../decoy/secret", path.join(m, "relfile"));
  fs.symlinkSync("../../decoy", path.join(m, "sub/up"));
  fs.symlinkSync("../../decoy/secret", path.join(m, "sub/upfile"));
  fs.symlinkSync(path.join(dec, "newfile"), path.join(m, "dangling-abs"));
  fs.symlinkSync("../decoy/newdir", path.join(m, "dangling-rel"));
  fs.symlinkSync(path.join(dec, "sock"), path.join(m, "abssock"));
  fs.writeFileSync(path.join(m, "plain"), "plain file");
  decoySnapshot = snapshot(dec);
  const walk = (p: string) => {
    decoyInodes.add(fs.lstatSync(p, { bigint: true }).ino);
    if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dec);
});
afterAll(() => closeAll([decoyListener]));

/** After every test: decoy/ is exactly as it was, and nobody connected to it. */
afterEach(() => {
  expect(snapshot(fx.decoy)).toEqual(decoySnapshot);
  expect(hostGetXattr(path.join(fx.decoy, "secret"), "user.decoy")).toBe("untouched");
  expect(hostAccept(decoyListener)).toBe(-C.EAGAIN);
});

const notDecoy = (st: Stat) => expect(decoyInodes.has(st.ino)).toBe(false);

describe.each(TRANSPORTS)("confinement over %s", (transport) => {
  const s = useSession(fx, transport, { flags: ["--host-uds", "all", "--host-fifo", "open", "--xattr-user"] });
  const T = transport;

  test("Walk and WalkStat stop at every escaping symlink", () => {
    for (const l of LINKS) {
      const parts = l.split("/");
      const w = s.c.walk(s.root.id, [...parts, "secret"]);
      expect([l, w.status]).toEqual([l, WalkStatus.ComponentSymlink]);
      expect(w.inodes.length).toBe(parts.length);
      const last = w.inodes[w.inodes.length - 1].stat;
      expect(last.mode & C.S_IFMT).toBe(C.S_IFLNK);
      w.inodes.forEach((i) => notDecoy(i.stat));
      const st = s.c.walkStat(s.root.id, ["", ...parts, "secret", "x"]);
      expect(st.length).toBe(parts.length + 1);
      st.forEach(notDecoy);
      expect(st[st.length - 1].mode & C.S_IFMT).toBe(C.S_IFLNK);
    }
    expect(s.c.errno(MID.Walk, { dirFd: s.root.id, path: ["..", "decoy"] })).toBe(C.EINVAL);
    expect(s.c.errno(MID.WalkStat, { dirFd: s.root.id, path: ["..", "decoy"] })).toBe(C.EINVAL);
  });

  test("a symlink's control FD is never used as the file or directory it points to", () => {
    for (const l of LINKS) {
      const id = s.c.walkTo(s.root.id, l).id;
      const e = (mid: number, v: Record<string, unknown>) => [l, MID_NAMES[mid], s.c.errno(mid, v)];
      const results = [
        e(MID.OpenAt, { fd: id, flags: C.O_RDONLY }),
        e(MID.OpenAt, { fd: id, flags: C.O_RDWR | C.O_TRUNC }),
        e(MID.Walk, { dirFd: id, path: ["secret"] }),
        e(MID.WalkStat, { dirFd: id, path: ["secret"] }),
        e(MID.OpenCreateAt, { dirFd: id, name: "x", mode: 0o644, flags: C.O_RDWR }),
        e(MID.MkdirAt, { dirFd: id, name: "x", mode: 0o755 }),
        e(MID.MknodAt, { dirFd: id, name: "x", mode: C.S_IFREG | 0o644 }),
        e(MID.SymlinkAt, { dirFd: id, name: "x", target: "y" }),
        e(MID.LinkAt, { dirFd: id, target: id, name: "x" }),
        e(MID.UnlinkAt, { dirFd: id, name: "secret", flags: 0 }),
        e(MID.RenameAt, { oldDir: id, oldName: "secret", newDir: s.root.id, newName: "stolen" }),
        e(MID.RenameAt, { oldDir: s.root.id, oldName: "plain", newDir: id, newName: "planted" }),
        e(MID.BindAt, { dirFd: id, name: "x", sockType: C.SOCK_STREAM, mode: 0o755 }),
        e(MID.Connect, { fd: id, sockType: C.SOCK_STREAM }),
        e(MID.ReadLinkAt, { fd: id }),
      ];
      const expected = [C.EINVAL, C.EINVAL, C.ENOTDIR, C.ENOTDIR, C.ENOTDIR, C.ENOTDIR, C.ENOTDIR, C.ENOTDIR,
        C.ENOTDIR, C.ENOTDIR, C.ENOTDIR, C.ENOTDIR, C.ENOTDIR, C.ENOTSOCK, 0];
      expect(results).toEqual(results.map((r, i) => [r[0], r[1], expected[i]]));
      // Attributes: the link's own, or a failure; never the target's.
      const r = s.c.setStat(id, {
        mask: C.STATX_MODE | C.STATX_SIZE | C.STATX_UID | C.STATX_GID | C.STATX_ATIME | C.STATX_MTIME,
        mode: 0o777, size: 0, uid: 4321, gid: 4321, atime: [1, 0], mtime: [1, 0],
      });
      expect(r.failureMask & (C.STATX_MODE | C.STATX_SIZE)).toBe(C.STATX_MODE | C.STATX_SIZE);
      expect(fs.lstatSync(path.join(fx.mount, l)).uid).toBe(4321);
      const x = s.c.call(MID.FGetXattr, { fd: id, name: "user.decoy", bufSize: 100 });
      expect(x.mid).toBe(MID.Error);
      expect(s.c.errno(MID.FSetXattr, { fd: id, name: "user.decoy", value: bytes("pwned"), flags: 0 })).toBe(C.EPERM);
      expect(s.c.errno(MID.FRemoveXattr, { fd: id, name: "user.decoy" })).toBe(C.EPERM);
      expect(s.c.errno(MID.FListXattr, { fd: id, size: 0 })).not.toBe(0);
      s.c.close([id]);
    }
  });

  test("creating over a dangling symlink does not create its target", () => {
    const r = s.root.id;
    const plain = s.c.walkTo(r, "plain").id;
    for (const name of ["dangling-abs", "dangling-rel", "abs", "relfile"]) {
      expect(s.c.errno(MID.OpenCreateAt, { dirFd: r, name, mode: 0o644, flags: C.O_RDWR })).toBe(C.EEXIST);
      expect(s.c.errno(MID.MkdirAt, { dirFd: r, name, mode: 0o755 })).toBe(C.EEXIST);
      expect(s.c.errno(MID.MknodAt, { dirFd: r, name, mode: C.S_IFREG | 0o644 })).toBe(C.EEXIST);
      expect(s.c.errno(MID.SymlinkAt, { dirFd: r, name, target: "x" })).toBe(C.EEXIST);
      expect(s.c.errno(MID.LinkAt, { dirFd: r, target: plain, name })).toBe(C.EEXIST);
      expect(s.c.errno(MID.BindAt, { dirFd: r, name, sockType: C.SOCK_STREAM, mode: 0o755 })).toBe(98 /* EADDRINUSE */);
    }
    expect(fs.existsSync(path.join(fx.decoy, "newfile"))).toBe(false);
    expect(fs.existsSync(path.join(fx.decoy, "newdir"))).toBe(false);
  });

  test("renaming and unlinking symlinks moves the links, not their targets", () => {
    const r = s.root.id;
    fs.symlinkSync("../decoy/secret", path.join(fx.mount, `tmp-${T}`));
    s.c.renameAt(r, `tmp-${T}`, r, `tmp2-${T}`);
    expect(fs.readlinkSync(path.join(fx.mount, `tmp2-${T}`))).toBe("../decoy/secret");
    // Replacing a symlink replaces the link, not the file it points to.
    fs.writeFileSync(path.join(fx.mount, `victim-${T}`), "replacement");
    s.c.renameAt(r, `victim-${T}`, r, `tmp2-${T}`);
    expect(fs.readFileSync(path.join(fx.mount, `tmp2-${T}`), "utf8")).toBe("replacement");
    fs.symlinkSync(fx.decoy, path.join(fx.mount, `tmp3-${T}`));
    s.c.unlinkAt(r, `tmp3-${T}`);
    expect(errnoOf(() => s.c.unlinkAt(r, `tmp2-${T}`))).toBe(0);
  });

  describe("host-side swaps after a walk", () => {
    test("a walked directory replaced by a symlink: creations land in the real directory", () => {
      const d = path.join(fx.mount, `swapdir-${T}`);
      fs.mkdirSync(d);
      const id = s.c.walkTo(s.root.id, `swapdir-${T}`).id;
      fs.renameSync(d, `${d}.real`);
      fs.symlinkSync(fx.decoy, d);
      s.c.mkdirAt(id, "made-dir");
      const oc = s.c.openCreateAt(id, "made-file", C.O_RDWR);
      closeAll([oc.hostFd]);
      s.c.symlinkAt(id, "made-link", "t");
      expect(fs.readdirSync(`${d}.real`).sort()).toEqual(["made-dir", "made-file", "made-link"]);
      // Walk from the held directory still sees the real one.
      expect(s.c.walk(id, ["secret"]).status).toBe(WalkStatus.ComponentDoesNotExist);
    });

    test("a parent replaced by a symlink: LinkAt and symlink SetStat fail instead of following", () => {
      const d = path.join(fx.mount, `swapparent-${T}`);
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, "secret"), "mine");
      fs.symlinkSync("secret", path.join(d, "lnk"));
      const file = s.c.walkTo(s.root.id, `swapparent-${T}/secret`).id;
      const lnk = s.c.walkTo(s.root.id, `swapparent-${T}/lnk`).id;
      fs.renameSync(d, `${d}.real`);
      fs.symlinkSync(fx.decoy, d);
      expect(errnoOf(() => s.c.linkAt(s.root.id, file, `stolen-${T}`))).not.toBe(0);
      expect(fs.existsSync(path.join(fx.mount, `stolen-${T}`))).toBe(false);
      const r = s.c.setStat(lnk, { mask: C.STATX_MTIME, mtime: [1, 0] });
      expect(r.failureMask).toBe(C.STATX_MTIME);
    });

    test("a walked file replaced by a symlink: OpenAt and SetStat act on the walked file", () => {
      const p = path.join(fx.mount, `swapfile-${T}`);
      fs.writeFileSync(p, "walked");
      const id = s.c.walkTo(s.root.id, `swapfile-${T}`).id;
      fs.renameSync(p, `${p}.real`);
      fs.symlinkSync(path.join(fx.decoy, "secret"), p);
      const o = s.c.openAt(id, C.O_RDWR | C.O_TRUNC);
      closeAll([o.hostFd]);
      s.c.pwrite(o.id, 0, bytes("rewritten"));
      expect(s.c.setStat(id, { mask: C.STATX_SIZE | C.STATX_MODE, size: 4, mode: 0o600 }).failureMask).toBe(0);
      expect(fs.readFileSync(`${p}.real`, "utf8")).toBe("rewr");
      expect(fs.statSync(`${p}.real`).mode & 0o777).toBe(0o600);
      expect(text(s.c.pread(o.id, 0, 100))).toBe("rewr");
    });

    test("a walked socket replaced by a symlink: Connect reaches the walked socket", () => {
      const p = path.join(fx.mount, `swapsock-${T}`);
      const mine = hostListen(p);
      const id = s.c.walkTo(s.root.id, `swapsock-${T}`).id;
      fs.renameSync(p, `${p}.real`);
      fs.symlinkSync(path.join(fx.decoy, "sock"), p);
      const conn = s.c.connect(id, C.SOCK_STREAM);
      const a = hostAccept(mine);
      expect(a).toBeGreaterThanOrEqual(0);
      closeAll([conn, a, mine]);
      // Walking the name afresh finds the symlink, which is not connectable.
      const again = s.c.walkTo(s.root.id, `swapsock-${T}`).id;
      expect(s.c.errno(MID.Connect, { fd: again, sockType: C.SOCK_STREAM })).toBe(C.ENOTSOCK);
    });
  });
});
