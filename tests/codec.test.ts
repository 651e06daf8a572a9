// Both protocols' decoders and encoders on their own (src/lisafs/message.ts,
// src/p9/message.ts): every layout of the tables round-trips, typical and
// extreme values alike; a truncated message, a length or count that claims
// more bytes than the message has, and random bytes decode to null without
// throwing and without reading past the message; an encoder that runs out
// of room returns -1. A few messages are also held against bytes written by
// hand from gVisor's own encoders (pkg/lisafs/message.go, pkg/p9), which a
// round trip alone cannot catch (the same mistake on both sides).
import { describe, expect, test } from "bun:test";
import * as L from "../src/lisafs/message";
import * as P from "../src/p9/message";

type Values = Record<string, unknown>;
type Field = readonly [string, string];
type AnyLayout = ReadonlyArray<Field>;

/** What one protocol's message.ts offers: its decoders and its encoder. */
interface Codec {
  name: string;
  /** Every layout in the tables, by message name. */
  layouts: [string, AnyLayout][];
  decode(layout: AnyLayout, u8: Uint8Array, view: DataView, off: number, len: number): Values | null;
  encode(layout: AnyLayout, values: Values, u8: Uint8Array, view: DataView, off: number): number;
  /** A value of `kind` for field number `i`, and what decoding gives back
   * (byte fields as number arrays, see normalize). `extreme`: the limits. */
  sample(kind: string, i: number, extreme: boolean): { value: unknown; decoded: unknown } | null;
  /** Kinds left in the buffer as {off, len}. */
  inPlace: ReadonlySet<string>;
  /** Kinds with a length or count prefix, and that prefix's size. */
  prefixed: ReadonlyMap<string, 2 | 4>;
}

const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, j) => (from + j * 7) & 0xff);
const allBytes = String.fromCharCode(...Array.from({ length: 256 }, (_, j) => j));
const U64_MAX = 2n ** 64n - 1n;

/** Samples of the kinds both protocols have, which decode the same way in
 * both; undefined for a kind that is the protocol's own. */
function commonSample(kind: string, i: number, extreme: boolean): { value: unknown; decoded: unknown } | undefined {
  const same = (v: unknown) => ({ value: v, decoded: v });
  switch (kind) {
    case "u8":
      return same(extreme ? 0xff : 0x10 + i);
    case "u16":
      return same(extreme ? 0xffff : 0x1000 + i);
    case "u32":
      return same(extreme ? 0xffffffff : 0x01020300 + i);
    case "u64":
      // Always a bigint.
      return extreme ? same(U64_MAX) : { value: 2 ** 40 + i, decoded: BigInt(2 ** 40 + i) };
    case "off":
      // A file offset past a double's exact range decodes to -1.
      return extreme ? { value: U64_MAX, decoded: -1 } : same(2 ** 40 + i);
    case "u64n":
      // The nearest double.
      return extreme ? { value: U64_MAX, decoded: 2 ** 64 } : same(2 ** 40 + i);
    case "str":
      return same(extreme ? allBytes + allBytes : `name${i}\xff\x80`);
    case "strs":
      return same(extreme ? [] : ["a", "\xfe\x00b", "", allBytes]);
  }
  return undefined;
}

const lisafs: Codec = {
  name: "lisafs",
  layouts: Object.entries(L.Requests).map(([mid, layout]) => [L.MID_NAMES[Number(mid)], layout]),
  decode: (layout, u8, view, off, len) => L.decode(layout as L.Layout, u8, view, off, len),
  encode: (layout, values, u8, view, off) => L.encode(layout as L.Layout, values, u8, view, off),
  inPlace: new Set(["raw16", "raw32"]),
  prefixed: new Map<string, 2 | 4>([["str", 2], ["raw16", 2], ["raw32", 4], ["strs", 2], ["ids", 2]]),
  sample(kind, i, extreme) {
    const common = commonSample(kind, i, extreme);
    if (common !== undefined) return common;
    const same = (v: unknown) => ({ value: v, decoded: v });
    switch (kind) {
      case "i64":
        return extreme ? same(-(2n ** 63n)) : { value: -(2 ** 40 + i), decoded: -BigInt(2 ** 40 + i) };
      case "i32":
        return same(extreme ? -0x80000000 : -(1000 + i));
      case "id":
        // An FD ID no table can hold decodes to -1.
        return extreme ? { value: 2n ** 53n, decoded: -1 } : same(2 ** 33 + i);
      case "pad16":
      case "pad32":
        return null;
      case "raw16":
      case "raw32": {
        const b = extreme ? bytes(3000, i) : bytes(5, i);
        return { value: b, decoded: Array.from(b) };
      }
      case "ids":
        return extreme ? { value: [2 ** 60, 0, 2 ** 53 - 1], decoded: [-1, 0, 2 ** 53 - 1] } : same([1, 2 ** 40 + i, 3]);
    }
    throw new Error(`no sample for lisafs kind ${kind}`);
  },
};

/** A p9 struct's values: its u64 fields decode to bigints. */
function p9Struct(fields: ReadonlyArray<Field>, i: number, extreme: boolean): Values {
  const o: Values = {};
  fields.forEach(([name, kind], j) => {
    if (kind === "u32") o[name] = extreme ? 0xffffffff - j : 0x100 * i + j;
    else o[name] = extreme ? U64_MAX - BigInt(j) : BigInt(2 ** 32 + 0x100 * i + j);
  });
  return o;
}
const qid = (i: number, extreme: boolean) => ({
  type: extreme ? 0xff : P.QidType.Dir,
  version: extreme ? 0xffffffff : 7 + i,
  path: extreme ? U64_MAX : BigInt(2 ** 45 + i),
});

const p9: Codec = {
  name: "9P",
  layouts: [
    ...Object.entries(P.Requests).map(([t, layout]): [string, AnyLayout] => [P.TYPE_NAMES[Number(t)], layout]),
    ...Object.entries(P.Responses).map(([t, layout]): [string, AnyLayout] => [P.TYPE_NAMES[Number(t) + 1], layout]),
  ],
  decode: (layout, u8, view, off, len) => P.decode(layout as P.Layout, u8, view, off, len),
  encode: (layout, values, u8, view, off) => P.encode(layout as P.Layout, values, u8, view, off),
  inPlace: new Set(["data"]),
  prefixed: new Map<string, 2 | 4>([["str", 2], ["strs", 2], ["data", 4], ["qids", 2], ["stats", 2]]),
  sample(kind, i, extreme) {
    const common = commonSample(kind, i, extreme);
    if (common !== undefined) return common;
    const same = (v: unknown) => ({ value: v, decoded: v });
    switch (kind) {
      case "data": {
        const b = extreme ? bytes(5000, i) : bytes(5, i);
        return { value: b, decoded: Array.from(b) };
      }
      case "qid":
        return same(qid(i, extreme));
      case "qids":
        return same(extreme ? [] : [qid(i, false), qid(i + 1, true)]);
      case "attr":
        return same(p9Struct(P.AttrFields, i, extreme));
      case "setattr":
        return same(p9Struct(P.SetAttrFields, i, extreme));
      case "fsstat":
        return same(p9Struct(P.FSStatFields, i, extreme));
      case "stats":
        return same(
          extreme
            ? []
            : [
                { qid: qid(i, false), valid: 0x3fff, attr: p9Struct(P.AttrFields, i, false) },
                { qid: qid(i, true), valid: 2 ** 53 - 1, attr: p9Struct(P.AttrFields, i, true) },
              ],
        );
    }
    throw new Error(`no sample for 9P kind ${kind}`);
  },
};

/** Values for every field of `layout`, and the decoding expected of them. */
function samples(c: Codec, layout: AnyLayout, extreme: boolean): { values: Values; expected: Values } {
  const values: Values = {};
  const expected: Values = {};
  layout.forEach(([name, kind], i) => {
    const s = c.sample(kind, i, extreme);
    if (!s) return;
    values[name] = s.value;
    expected[name] = s.decoded;
  });
  return { values, expected };
}

/** A decoded message with its in-place fields replaced by their bytes. */
function normalize(c: Codec, layout: AnyLayout, d: Values, u8: Uint8Array): Values {
  const out: Values = { ...d };
  for (const [name, kind] of layout) {
    if (!c.inPlace.has(kind)) continue;
    const r = d[name] as { off: number; len: number };
    out[name] = Array.from(u8.subarray(r.off, r.off + r.len));
  }
  return out;
}

const OFF = 16;

/** `msg` at OFF in a buffer whose other bytes are `fill`, so a decoder that
 * read past the length it was given would find them. */
function placed(msg: Uint8Array, fill: number, spare = 64): { u8: Uint8Array; view: DataView } {
  const u8 = new Uint8Array(OFF + msg.byteLength + spare).fill(fill);
  u8.set(msg, OFF);
  return { u8, view: new DataView(u8.buffer) };
}

function encodeToBytes(c: Codec, layout: AnyLayout, values: Values): Uint8Array {
  const u8 = new Uint8Array(1 << 16);
  const end = c.encode(layout, values, u8, new DataView(u8.buffer), 0);
  expect(end).toBeGreaterThanOrEqual(0);
  return u8.slice(0, end);
}

/** mulberry32: a seeded PRNG, so a failure replays exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const c of [lisafs, p9]) {
  describe(`${c.name} codec`, () => {
    test("the tables hold every message, each layout with samples for all its kinds", () => {
      expect(c.layouts.length).toBe(c === lisafs ? 33 : 2 * Object.keys(P.T).length - 1);
      for (const [name, layout] of c.layouts) {
        expect(name).toBeString();
        for (const [, kind] of layout) expect(() => c.sample(kind, 0, false)).not.toThrow();
      }
    });

    for (const extreme of [false, true]) {
      test(`every layout round-trips (${extreme ? "limits: u64 max, -2^63, FD IDs past 2^53, empty lists, long strings" : "typical values"})`, () => {
        for (const [name, layout] of c.layouts) {
          const { values, expected } = samples(c, layout, extreme);
          const msg = encodeToBytes(c, layout, values);
          for (const fill of [0x00, 0xff]) {
            const { u8, view } = placed(msg, fill);
            const d = c.decode(layout, u8, view, OFF, msg.byteLength);
            expect({ name, d: d && normalize(c, layout, d, u8) }).toEqual({ name, d: expected });
            // Trailing bytes are ignored, as gVisor's decoders ignore them.
            const longer = c.decode(layout, u8, view, OFF, msg.byteLength + 7);
            expect({ name, d: longer && normalize(c, layout, longer, u8) }).toEqual({ name, d: expected });
          }
        }
      });
    }

    test("every truncation of every message decodes to null, whatever follows it in the buffer", () => {
      let cuts = 0;
      for (const [name, layout] of c.layouts) {
        const msg = encodeToBytes(c, layout, samples(c, layout, false).values);
        for (const fill of [0x00, 0xff, 0x01]) {
          const { u8, view } = placed(msg, fill);
          for (let n = 0; n < msg.byteLength; n++, cuts++) {
            const d = c.decode(layout, u8, view, OFF, n);
            if (d !== null) throw new Error(`${c.name} ${name}: ${n} of ${msg.byteLength} bytes decoded to ${JSON.stringify(d, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`);
          }
        }
      }
      expect(cuts).toBeGreaterThan(1000);
    });

    test("a length or count beyond the message decodes to null", () => {
      let tried = 0;
      for (const [name, layout] of c.layouts) {
        const { values } = samples(c, layout, false);
        const msg = encodeToBytes(c, layout, values);
        layout.forEach(([, kind], i) => {
          const size = c.prefixed.get(kind);
          if (!size) return;
          // Where field i's prefix sits: the encoded size of the fields before it.
          const at = encodeToBytes(c, layout.slice(0, i), values).byteLength;
          for (const claim of size === 2 ? [0xffff, 0x8000] : [0xffffffff, 0x80000000, msg.byteLength]) {
            const bad = msg.slice();
            const v = new DataView(bad.buffer);
            if (size === 2) v.setUint16(at, claim, true);
            else v.setUint32(at, claim, true);
            const { u8, view } = placed(bad, 0, 1 << 17);
            let d: Values | null = null;
            expect(() => (d = c.decode(layout, u8, view, OFF, bad.byteLength))).not.toThrow();
            expect({ name, field: i, claim, d }).toEqual({ name, field: i, claim, d: null });
            tried++;
          }
        });
      }
      expect(tried).toBeGreaterThan(40);
    });

    test("random bytes never make a decoder throw", () => {
      const r = prng(c === lisafs ? 0x1150f5 : 0x9f9f);
      for (const [name, layout] of c.layouts) {
        for (let k = 0; k < 200; k++) {
          const len = Math.floor(r() * 96);
          const msg = Uint8Array.from({ length: len }, () => (r() < 0.3 ? 0 : Math.floor(r() * 256)));
          const { u8, view } = placed(msg, Math.floor(r() * 256));
          try {
            c.decode(layout, u8, view, OFF, len);
          } catch (err) {
            throw new Error(`${c.name} ${name} threw on ${Buffer.from(msg).toString("hex")}: ${err}`);
          }
        }
      }
    });

    test("the encoder returns -1 when the buffer is too small, at every size short of the message", () => {
      for (const [name, layout] of c.layouts) {
        const { values } = samples(c, layout, false);
        const full = encodeToBytes(c, layout, values).byteLength;
        for (let size = 0; size < full; size++) {
          const u8 = new Uint8Array(size);
          expect({ name, size, end: c.encode(layout, values, u8, new DataView(u8.buffer), 0) }).toEqual({ name, size, end: -1 });
        }
        const u8 = new Uint8Array(full + 3);
        expect(c.encode(layout, values, u8, new DataView(u8.buffer), 3)).toBe(full + 3);
      }
    });
  });
}

// Each 64-bit kind decodes to one type whatever the value (message.ts says
// which kind a field is, and why).
describe("64-bit fields at the edge of a double's exact range", () => {
  const edge = (c: Codec, layout: AnyLayout, values: Values, expected: Values) => {
    const msg = encodeToBytes(c, layout, values);
    const { u8, view } = placed(msg, 0);
    expect(c.decode(layout, u8, view, OFF, msg.byteLength)).toEqual(expected);
  };
  const numbers = { below: 2 ** 53 - 1, at: 2n ** 53n, odd: 2n ** 53n + 1n, top: 2n ** 63n, max: U64_MAX };

  test("lisafs: u64 and i64 are bigints; off and id are numbers up to 2^53 - 1 and -1 beyond; u64n is the nearest number", () => {
    for (const kind of ["u64", "i64", "off", "id", "u64n"] as const) {
      const layout = Object.keys(numbers).map((k) => [k, kind] as const);
      const expected: Values = {};
      for (const [k, v] of Object.entries(numbers)) {
        if (kind === "u64") expected[k] = BigInt(v);
        else if (kind === "i64") expected[k] = BigInt.asIntN(64, BigInt(v));
        else if (kind === "u64n") expected[k] = Number(v);
        else expected[k] = typeof v === "number" ? v : -1;
      }
      edge(lisafs, layout, numbers, expected);
    }
  });

  test("9P: u64 is a bigint (in messages, QIDs and structs); off is a number or -1; u64n the nearest number", () => {
    edge(p9, [["a", "u64"], ["b", "u64"]] as const, { a: 2 ** 53 - 1, b: 2n ** 53n }, { a: 2n ** 53n - 1n, b: 2n ** 53n });
    edge(p9, [["a", "off"], ["b", "off"], ["c", "off"]] as const, { a: 2 ** 53 - 1, b: 2n ** 53n, c: U64_MAX }, { a: 2 ** 53 - 1, b: -1, c: -1 });
    edge(p9, [["a", "u64n"], ["b", "u64n"]] as const, { a: 2 ** 53 - 1, b: 2n ** 53n + 1n }, { a: 2 ** 53 - 1, b: 2 ** 53 });
    const q = { type: 0, version: 0, path: 2n ** 53n };
    edge(p9, [["q", "qid"]] as const, { q }, { q });
  });
});

describe("lisafs: the server's own request decoders", () => {
  test("requestDecoder(mid) decodes as decode(Requests[mid]) does, for every message", () => {
    for (const [mid, layout] of Object.entries(L.Requests)) {
      const { values } = samples(lisafs, layout, false);
      const msg = encodeToBytes(lisafs, layout, values);
      const { u8, view } = placed(msg, 0xee);
      const fromTable = L.decode(layout, u8, view, OFF, msg.byteLength);
      const server = L.requestDecoder(Number(mid))(u8, view, OFF, msg.byteLength);
      expect(server).toEqual(fromTable);
      if (msg.byteLength > 0) expect(L.requestDecoder(Number(mid))(u8, view, OFF, msg.byteLength - 1)).toBeNull();
    }
  });

  test("minSize is the size of a message with empty strings and lists", () => {
    for (const [, layout] of Object.entries(L.Requests)) {
      const empty: Values = {};
      for (const [name, kind] of layout) if (kind === "raw16" || kind === "raw32") empty[name] = new Uint8Array(0);
      expect(encodeToBytes(lisafs, layout, empty).byteLength).toBe(L.minSize(layout));
    }
  });
});

/** Little-endian bytes written field by field, as gVisor's marshalling does. */
class Bytes {
  private out: number[] = [];
  u8(v: number) {
    this.out.push(v & 0xff);
    return this;
  }
  u16(v: number) {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number) {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  u64(v: bigint) {
    return this.u32(Number(v & 0xffffffffn)).u32(Number(v >> 32n));
  }
  str(s: string) {
    this.u16(s.length);
    for (const ch of s) this.u8(ch.charCodeAt(0));
    return this;
  }
  get bytes() {
    return Uint8Array.from(this.out);
  }
}

describe("bytes as gVisor writes them", () => {
  const golden = (c: Codec, layout: AnyLayout, values: Values, wire: Uint8Array) => {
    expect(encodeToBytes(c, layout, values)).toEqual(wire);
    const { u8, view } = placed(wire, 0);
    const d = c.decode(layout, u8, view, OFF, wire.byteLength);
    expect(d && normalize(c, layout, d, u8)).toEqual(values);
  };

  test("lisafs OpenCreateAtReq: createCommon {DirFD, UID, GID, Mode, _ u16, _ u32}, Flags, Name", () => {
    const wire = new Bytes().u64(0x1122334455n).u32(1000).u32(1001).u16(0o100644).u16(0).u32(0).u32(0o1102).str("f\xffile").bytes;
    expect(wire.byteLength).toBe(8 + 4 + 4 + 2 + 2 + 4 + 4 + 2 + 5);
    golden(lisafs, L.Requests[L.MID.OpenCreateAt], { dirFd: 0x1122334455, uid: 1000, gid: 1001, mode: 0o100644, flags: 0o1102, name: "f\xffile" }, wire);
  });

  test("lisafs PReadReq {Offset, FD, Count, _ u32} and WalkReq {DirFD, Path StringArray}", () => {
    golden(lisafs, L.Requests[L.MID.PRead], { offset: 2 ** 40, fd: 3, count: 4096 }, new Bytes().u64(2n ** 40n).u64(3n).u32(4096).u32(0).bytes);
    golden(lisafs, L.Requests[L.MID.Walk], { dirFd: 1, path: ["a", "bc"] }, new Bytes().u64(1n).u16(2).str("a").str("bc").bytes);
  });

  test("lisafs RenameAt2 (today's): RenameAtReq {OldDir, NewDir, OldName, NewName} then Flags", () => {
    golden(lisafs, L.Requests[L.MID.RenameAt2], { oldDir: 5, newDir: 6, oldName: "x", newName: "yy", flags: 2 }, new Bytes().u64(5n).u64(6n).str("x").str("yy").u32(2).bytes);
  });

  test("9P Twalk, Tlcreate and Tsetattr; Rlopen's QID {type u8, version u32, path u64}", () => {
    golden(p9, P.Requests[P.T.walk], { fid: 1, newFid: 2, names: ["usr", "bin"] }, new Bytes().u32(1).u32(2).u16(2).str("usr").str("bin").bytes);
    golden(p9, P.Requests[P.T.lcreate], { fid: 9, name: "n", flags: 0o102, mode: 0o644, gid: 50 }, new Bytes().u32(9).str("n").u32(0o102).u32(0o644).u32(50).bytes);
    const attr = { mode: 0o755, uid: 1, gid: 2, size: 3n, atimeSec: 4n, atimeNsec: 5n, mtimeSec: 6n, mtimeNsec: 7n };
    golden(
      p9,
      P.Requests[P.T.setattr],
      { fid: 4, valid: 0x1ff, attr },
      new Bytes().u32(4).u32(0x1ff).u32(0o755).u32(1).u32(2).u64(3n).u64(4n).u64(5n).u64(6n).u64(7n).bytes,
    );
    golden(
      p9,
      P.Responses[P.T.lopen],
      { qid: { type: 0x80, version: 3, path: 2n ** 63n }, iounit: 0 },
      new Bytes().u8(0x80).u32(3).u64(2n ** 63n).u32(0).bytes,
    );
  });

  test("9P Rreaddir entries {QID, offset u64, type u8, name} decode, and a cut one is null", () => {
    const wire = new Bytes().u8(0).u32(0).u64(42n).u64(1n).u8(8).str("file").u8(0x80).u32(1).u64(43n).u64(2n).u8(4).str("\xffdir").bytes;
    const { u8, view } = placed(wire, 0xff);
    expect(P.decodeDirents(u8, view, OFF, wire.byteLength)).toEqual([
      { qid: { type: 0, version: 0, path: 42n }, offset: 1, type: 8, name: "file" },
      { qid: { type: 0x80, version: 1, path: 43n }, offset: 2, type: 4, name: "\xffdir" },
    ]);
    for (let n = 1; n < wire.byteLength; n++) {
      const d = P.decodeDirents(u8, view, OFF, n);
      // Only the cut after the first entry is a whole list.
      if (n === 13 + 8 + 1 + 2 + 4) expect(d?.length).toBe(1);
      else expect({ n, d }).toEqual({ n, d: null });
    }
  });
});

// A u16 length or count cannot say 65,536: such a message cannot be built,
// and the encoder must say so (-1) rather than write a wrapped length.
describe("lengths and counts past a u16", () => {
  const big = "x".repeat(70_000);
  const many = Array.from({ length: 65_536 }, () => "a");
  const room = () => {
    const u8 = new Uint8Array(1 << 20);
    return { u8, view: new DataView(u8.buffer) };
  };
  test("lisafs: a name or a path too long to say", () => {
    const { u8, view } = room();
    expect(L.encode(L.Requests[L.MID.OpenCreateAt], { dirFd: 1, uid: 0, gid: 0, mode: 0, flags: 0, name: big }, u8, view, 0)).toBe(-1);
    expect(L.encode(L.Requests[L.MID.Walk], { dirFd: 1, path: [big] }, u8, view, 0)).toBe(-1);
    expect(L.encode(L.Requests[L.MID.Walk], { dirFd: 1, path: many }, u8, view, 0)).toBe(-1);
    expect(L.encode(L.Requests[L.MID.Walk], { dirFd: 1, path: many.slice(1) }, u8, view, 0)).toBeGreaterThan(0);
  });
  test("9P: a name or a walk too long to say", () => {
    const { u8, view } = room();
    expect(P.encode(P.Requests[P.T.lcreate], { fid: 9, name: big, flags: 0, mode: 0, gid: 0 }, u8, view, 0)).toBe(-1);
    expect(P.encode(P.Requests[P.T.walk], { fid: 1, newFid: 2, names: many }, u8, view, 0)).toBe(-1);
    expect(P.encode(P.Requests[P.T.walk], { fid: 1, newFid: 2, names: many.slice(1) }, u8, view, 0)).toBeGreaterThan(0);
  });
});
