// 9P extended attributes: Txattrwalk and Txattrcreate (refused, as gVisor's
// 2021 p9 fsgofer does), and gVisor's Tgetxattr, Tsetxattr, Tlistxattr and
// Tremovexattr: EOPNOTSUPP by default, the user.* namespace with --xattr-user.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { hostGetXattr, hostSetXattr } from "./lib/assert";
import { resetMount, useFixture } from "./lib/fixture";
import { type P9Client, T } from "./lib/p9client";
import { fid, open9p, scratch, useP9Session } from "./lib/p9session";

const fx = useFixture();
const E = C;

describe("9P2000.L.Google.13 over the socket", () => {
  let c: P9Client;
  useP9Session(fx, (s) => (c = s.c));

  test("Txattrwalk gets ENODATA, Txattrcreate ENOSYS; xattr messages EOPNOTSUPP without --xattr-user", () => {
    const s = scratch(fx, c);
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
});

// ---- xattrs ---------------------------------------------------------------------------

describe("xattrs with --xattr-user", () => {
  test("user.* only: set, get, list, remove reach the host", async () => {
    resetMount(fx);
    const p = path.join(fx.mount, "xf");
    fs.writeFileSync(p, "x");
    const { g, c } = open9p(fx, { flags: ["--xattr-user"] });
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
