// Extended attributes: FGetXattr always; FSetXattr, FListXattr and
// FRemoveXattr only with --xattr-user, and only in the user.* namespace.
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as C from "../src/ffi/constants";
import { bytes, hostGetXattr, hostListXattr, hostSetXattr, text } from "./lib/assert";
import { MID } from "./lib/client";
import { useFixture } from "./lib/fixture";
import { TRANSPORTS, scratch, useSession } from "./lib/session";

const fx = useFixture();
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

/** A file and a directory carrying a user and a trusted attribute. */
function prepare(dir: string): { file: string; sub: string } {
  const file = path.join(dir, "f");
  const sub = path.join(dir, "sub");
  fs.writeFileSync(file, "x");
  fs.mkdirSync(sub);
  for (const p of [file, sub]) {
    hostSetXattr(p, "user.color", "blue");
    hostSetXattr(p, "trusted.secret", "host only");
  }
  return { file, sub };
}

describe.each(TRANSPORTS)("xattrs over %s", (transport) => {
  describe("default policy", () => {
    const s = useSession(fx, transport);

    test("FGetXattr reads values; ENODATA and ERANGE as the host says", () => {
      const d = scratch(fx, s);
      const { file } = prepare(d.host);
      const f = s.c.walkTo(d.id, "f");
      const dd = s.c.walkTo(d.id, "sub");
      expect(text(s.c.fgetxattr(f.id, "user.color", 100))).toBe("blue");
      expect(text(s.c.fgetxattr(dd.id, "user.color", 4))).toBe("blue");
      expect(s.c.errno(MID.FGetXattr, { fd: f.id, name: "user.missing", bufSize: 100 })).toBe(C.ENODATA);
      expect(s.c.errno(MID.FGetXattr, { fd: f.id, name: "user.color", bufSize: 3 })).toBe(C.ERANGE);
      hostSetXattr(file, "user.big", "v".repeat(3000));
      expect(text(s.c.fgetxattr(f.id, "user.big", 65535))).toBe("v".repeat(3000));
    });

    test("FGetXattr with bufSize 0 (a size query) answers a well-formed reply carrying the size", () => {
      const d = scratch(fx, s);
      for (const len of [1000, 65536]) {
        const p = path.join(d.host, `v${len}`);
        fs.writeFileSync(p, "x");
        hostSetXattr(p, "user.v", "A".repeat(len));
        const id = s.c.walkTo(d.id, `v${len}`).id;
        const r = s.c.call(MID.FGetXattr, { fd: id, name: "user.v", bufSize: 0 });
        if (r.mid === MID.Error) {
          // Refusing is acceptable only with ERANGE (the size does not fit the reply's u16).
          expect([len, r.payload.getUint32(0, true)]).toEqual([len, C.ERANGE]);
          continue;
        }
        expect(r.mid).toBe(MID.FGetXattr);
        const n = r.payload.getUint16(0, true);
        // The SizedString's length is the reply's length, and it is the value's size.
        expect([len, r.bytes.byteLength]).toEqual([len, 2 + n]);
        expect([len, n]).toEqual([len, len]);
      }
    });

    test("FSetXattr, FListXattr and FRemoveXattr get EOPNOTSUPP; host xattrs unchanged", () => {
      const d = scratch(fx, s);
      const { file } = prepare(d.host);
      const f = s.c.walkTo(d.id, "f");
      const before = hostListXattr(file);
      expect(s.c.errno(MID.FSetXattr, { fd: f.id, name: "user.color", value: bytes("red"), flags: 0 })).toBe(C.EOPNOTSUPP);
      expect(s.c.errno(MID.FSetXattr, { fd: f.id, name: "user.new", value: bytes("x"), flags: 0 })).toBe(C.EOPNOTSUPP);
      expect(s.c.errno(MID.FListXattr, { fd: f.id, size: 1000 })).toBe(C.EOPNOTSUPP);
      expect(s.c.errno(MID.FRemoveXattr, { fd: f.id, name: "user.color" })).toBe(C.EOPNOTSUPP);
      expect(hostListXattr(file)).toEqual(before);
      expect(hostGetXattr(file, "user.color")).toBe("blue");
    });
  });

  describe("--xattr-user", () => {
    const s = useSession(fx, transport, { flags: ["--xattr-user"] });

    test("set, replace, list and remove user.* attributes on files and directories", () => {
      const d = scratch(fx, s);
      const { file, sub } = prepare(d.host);
      for (const [name, p] of [["f", file], ["sub", sub]] as const) {
        const id = s.c.walkTo(d.id, name).id;
        s.c.fsetxattr(id, "user.new", bytes("fresh"));
        expect(hostGetXattr(p, "user.new")).toBe("fresh");
        s.c.fsetxattr(id, "user.color", bytes("red"), XATTR_REPLACE);
        expect(hostGetXattr(p, "user.color")).toBe("red");
        expect(s.c.errno(MID.FSetXattr, { fd: id, name: "user.color", value: bytes("x"), flags: XATTR_CREATE })).toBe(C.EEXIST);
        expect(s.c.errno(MID.FSetXattr, { fd: id, name: "user.none", value: bytes("x"), flags: XATTR_REPLACE })).toBe(C.ENODATA);
        s.c.fsetxattr(id, "user.empty", new Uint8Array(0));
        expect(hostGetXattr(p, "user.empty")).toBe("");
        // Only user.* names are listed, never trusted.*.
        expect(s.c.flistxattr(id, 0).sort()).toEqual(["user.color", "user.empty", "user.new"]);
        expect(s.c.flistxattr(id, 1000).sort()).toEqual(["user.color", "user.empty", "user.new"]);
        expect(s.c.errno(MID.FListXattr, { fd: id, size: 5 })).toBe(C.ERANGE);
        s.c.fremovexattr(id, "user.new");
        expect(hostGetXattr(p, "user.new")).toBe(null);
        expect(s.c.errno(MID.FRemoveXattr, { fd: id, name: "user.new" })).toBe(C.ENODATA);
        expect(hostGetXattr(p, "trusted.secret")).toBe("host only");
      }
    });

    test("trusted.*, security.*, system.* and other namespaces get EOPNOTSUPP, malformed names EINVAL; host unchanged", () => {
      const d = scratch(fx, s);
      const { file, sub } = prepare(d.host);
      const before = [hostListXattr(file), hostListXattr(sub)];
      const refused: [string, number][] = [
        ["trusted.secret", C.EOPNOTSUPP],
        ["trusted.new", C.EOPNOTSUPP],
        ["security.selinux", C.EOPNOTSUPP],
        ["security.capability", C.EOPNOTSUPP],
        ["system.posix_acl_access", C.EOPNOTSUPP],
        ["system.posix_acl_default", C.EOPNOTSUPP],
        ["user", C.EOPNOTSUPP],
        ["USER.x", C.EOPNOTSUPP],
        ["other.x", C.EOPNOTSUPP],
        ["user.", C.EINVAL],
        ["", C.EINVAL],
        ["user.a\0trusted.b", C.EINVAL],
      ];
      for (const id of [s.c.walkTo(d.id, "f").id, s.c.walkTo(d.id, "sub").id]) {
        for (const [name, errno] of refused) {
          expect([name, s.c.errno(MID.FSetXattr, { fd: id, name, value: bytes("evil"), flags: 0 })]).toEqual([name, errno]);
          expect([name, s.c.errno(MID.FRemoveXattr, { fd: id, name })]).toEqual([name, errno]);
        }
      }
      expect([hostListXattr(file), hostListXattr(sub)]).toEqual(before);
      expect(hostGetXattr(file, "trusted.secret")).toBe("host only");
    });

    test("symlinks cannot carry user xattrs (EPERM)", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      fs.symlinkSync("f", path.join(d.host, "l"));
      const l = s.c.walkTo(d.id, "l");
      expect(s.c.errno(MID.FSetXattr, { fd: l.id, name: "user.x", value: bytes("v"), flags: 0 })).toBe(C.EPERM);
      expect(s.c.errno(MID.FRemoveXattr, { fd: l.id, name: "user.x" })).toBe(C.EPERM);
      expect(hostListXattr(path.join(d.host, "f"))).toEqual([]);
    });

    test("a deleted file's xattrs cannot be touched (EINVAL)", () => {
      const d = scratch(fx, s);
      fs.writeFileSync(path.join(d.host, "f"), "x");
      const f = s.c.walkTo(d.id, "f");
      s.c.unlinkAt(d.id, "f");
      expect(s.c.errno(MID.FSetXattr, { fd: f.id, name: "user.x", value: bytes("v"), flags: 0 })).toBe(C.EINVAL);
      expect(s.c.errno(MID.FGetXattr, { fd: f.id, name: "user.x", bufSize: 10 })).toBe(C.EINVAL);
      expect(s.c.errno(MID.FListXattr, { fd: f.id, size: 0 })).toBe(C.EINVAL);
      expect(s.c.errno(MID.FRemoveXattr, { fd: f.id, name: "user.x" })).toBe(C.EINVAL);
    });
  });
});
