// 9P on a read-only mount (--mount PATH:ro): every mutating message gets
// EROFS, reads work, and the host tree is unchanged afterwards.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { OpenFlags, SetAttrMask } from "../src/p9/message";
import { bytes, closeAll, hostGetXattr, hostSetXattr, text } from "./lib/assert";
import { resetMount, snapshot, useFixture } from "./lib/fixture";
import { T } from "./lib/p9client";
import { fid, open9p, RDONLY, RDWR, WRONLY } from "./lib/p9session";

const fx = useFixture();
const E = C;

// ---- read-only mounts ---------------------------------------------------------------------

describe("read-only mount", () => {
  test("every mutation gets EROFS and the host is unchanged", async () => {
    resetMount(fx);
    fs.writeFileSync(path.join(fx.mount, "f"), "ro content");
    fs.mkdirSync(path.join(fx.mount, "d"));
    fs.writeFileSync(path.join(fx.mount, "d/g"), "g");
    hostSetXattr(path.join(fx.mount, "f"), "user.a", "b");
    const before = snapshot(fx.mount);
    const { g, c } = open9p(fx, { mounts: (f) => [`${f.mount}:ro`], flags: ["--xattr-user", "--host-uds", "all"] });
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
