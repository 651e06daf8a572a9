// 9P2000.L and gVisor's extensions (gVisor 20240729, pkg/p9/messages.go and
// version.go), declared once as data. The server's decoders and encoders, the
// test client and the fuzzer all use these tables. Integers are
// little-endian; strings are u16 length + bytes.
import { byteString } from "../ffi/bytestring";

/** Message types (p9.go's MsgType list). T is even, R = T + 1. */
export const T = {
  lerror: 6,
  statfs: 8,
  lopen: 12,
  lcreate: 14,
  symlink: 16,
  mknod: 18,
  rename: 20,
  readlink: 22,
  getattr: 24,
  setattr: 26,
  listxattr: 28,
  xattrwalk: 30,
  xattrcreate: 32,
  getxattr: 34,
  setxattr: 36,
  removexattr: 38,
  readdir: 40,
  fsync: 50,
  link: 70,
  mkdir: 72,
  renameat: 74,
  unlinkat: 76,
  version: 100,
  auth: 102,
  attach: 104,
  flush: 108,
  walk: 110,
  read: 116,
  write: 118,
  clunk: 120,
  remove: 122,
  flushf: 124,
  walkgetattr: 126,
  ucreate: 128,
  umkdir: 130,
  umknod: 132,
  usymlink: 134,
  lconnect: 136,
  allocate: 138,
  setattrclunk: 140,
  multigetattr: 142,
  bind: 144,
  channel: 250,
} as const;
export type TName = keyof typeof T;
export const Rlerror = 7;
export const TYPE_NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(T)) {
  TYPE_NAMES[v] = `T${k}`;
  TYPE_NAMES[v + 1] = `R${k}`;
}

/** Socket framing: size u32 (whole message), type u8, tag u16. */
export const Header = { size: 7, length: 0, type: 4, tag: 5 } as const;
/** Channel framing (transport_flipcall.go): type u8, hasFD u8; no size, no tag. */
export const ChannelHeader = { size: 2, type: 0, hasFd: 1 } as const;

export const NO_TAG = 0xffff;
export const NO_FID = 0xffffffff;
export const NO_UID = 0xffffffff;
/** Largest message either side may send (transport.go maximumLength). */
export const MAX_MESSAGE_SIZE = 1 << 20;
/** The smallest msize we accept: room for a header and a useful Rread. */
export const MIN_MESSAGE_SIZE = 4096;

// ---- versions ---------------------------------------------------------------

export const BASE_VERSION = "9P2000.L";
export const HIGHEST_VERSION = 13;

/** "9P2000.L" is version 0, "9P2000.L.Google.N" is N; null otherwise. */
export function parseVersion(s: string): number | null {
  if (s === BASE_VERSION) return 0;
  const m = /^9P2000\.L\.Google\.(\d+)$/.exec(s);
  if (!m) return null;
  const n = Number(m[1]);
  return n <= 0xffffffff ? n : null;
}
export function versionString(v: number): string {
  return v === 0 ? BASE_VERSION : `9P2000.L.Google.${v}`;
}

/** The first version that allows each extension (version.go); the rest of
 * 9P2000.L is allowed from version 0. gVisor never enables Tbind; we offer it
 * from the highest version. */
export const SINCE: Partial<Record<number, number>> = {
  [T.flushf]: 1,
  [T.walkgetattr]: 2,
  [T.ucreate]: 3,
  [T.umkdir]: 3,
  [T.umknod]: 3,
  [T.usymlink]: 3,
  [T.lconnect]: 4,
  [T.allocate]: 7,
  [T.channel]: 8,
  [T.getxattr]: 10,
  [T.setxattr]: 10,
  [T.listxattr]: 11,
  [T.removexattr]: 11,
  [T.setattrclunk]: 12,
  [T.multigetattr]: 13,
  [T.bind]: 13,
};

// ---- field kinds --------------------------------------------------------------

/** Bytes left in place in the message buffer: [off, off + len). */
export type Span = { readonly off: number; readonly len: number };

/** A QID: type u8, version u32, path u64 (13 bytes). The path is exact: our
 * server puts a device index in its top byte. */
export type Qid = { readonly type: number; readonly version: number; readonly path: bigint };

/**
 * What each field kind decodes to; a 64-bit kind always decodes to one type.
 *  u8/u16/u32: integers.
 *  u64: a bigint, exact (Tallocate's range, QID paths, the attributes):
 *    what goes to the host or is compared whole, off the hot path.
 *  off: a file offset (Tread, Twrite) as a number, exact below 2^53; from
 *    2^53 on, which a double cannot name, -1. The handler then hands the
 *    host the exact offset, read again with farOffset, as gVisor's gofer
 *    hands it int64(offset): EINVAL from 2^63 on, and below whatever the
 *    file system does there (tmpfs, xfs and btrfs take a write at 2^60).
 *  u64n: a number, exact below 2^53 and the nearest double beyond (so it
 *    still compares right against any count): masks, sizes and Treaddir's
 *    offset, which are only compared (an ordinal past 2^53 skips every entry
 *    either way).
 *  str: u16 length + bytes, as a byte string (latin1); strs: u16 count of str.
 *  data: u32 count + bytes, left in place.
 *  qid: a Qid; qids: u16 count of qid.
 *  attr: p9.Attr (132 bytes); setattr: p9.SetAttr (52 bytes); fsstat:
 *    p9.FSStat (60 bytes); stats: u16 count of FullStat (qid, valid, attr).
 */
export type KindTypes = {
  u8: number;
  u16: number;
  u32: number;
  u64: bigint;
  off: number;
  u64n: number;
  str: string;
  strs: string[];
  data: Span;
  qid: Qid;
  qids: Qid[];
  attr: Attr;
  setattr: SetAttr;
  fsstat: FSStat;
  stats: FullStat[];
};
export type Kind = keyof KindTypes;
export type Field = readonly [name: string, kind: Kind];
export type Layout = readonly Field[];

/** The object `L` decodes to: each field as its kind's type. For the wide
 * Layout, a record of any field. */
export type Fields<L extends Layout> = { readonly [F in L[number] as F[0]]: KindTypes[F[1]] };

/** A fixed struct's fields (p9.Attr, p9.SetAttr, p9.FSStat): u32 or u64. */
type StructFields = readonly (readonly [name: string, kind: "u32" | "u64"])[];
type Struct<S extends StructFields> = { readonly [F in S[number] as F[0]]: KindTypes[F[1]] };
type StructInput<S extends StructFields> = { readonly [F in S[number] as F[0]]?: F[1] extends "u32" ? number : number | bigint };

/** What the encoder (test client, fuzzer) takes for each kind. */
type KindInputs = {
  u8: number;
  u16: number;
  u32: number;
  u64: number | bigint;
  off: number | bigint;
  u64n: number | bigint;
  str: string;
  strs: readonly string[];
  data: Uint8Array;
  qid: QidInput;
  qids: readonly QidInput[];
  attr: StructInput<typeof AttrFields>;
  setattr: StructInput<typeof SetAttrFields>;
  fsstat: StructInput<typeof FSStatFields>;
  stats: readonly { qid?: QidInput; valid?: number | bigint; attr?: StructInput<typeof AttrFields> }[];
};
type QidInput = { readonly type?: number; readonly version?: number; readonly path?: number | bigint };

/** Values to encode by `L`: any field may be left out (zero, empty). The
 * wide Layout takes anything: the fuzzer sends what no table allows. */
export type Values<L extends Layout> = Layout extends L
  ? Record<string, unknown>
  : { readonly [F in L[number] as F[0]]?: KindInputs[F[1]] };

export const QID_SIZE = 13;
export const QidType = { Dir: 0x80, AppendOnly: 0x40, Symlink: 0x02, Regular: 0x00 } as const;

/** p9.Attr field order; times and counts are u64. */
export const AttrFields = [
  ["mode", "u32"],
  ["uid", "u32"],
  ["gid", "u32"],
  ["nlink", "u64"],
  ["rdev", "u64"],
  ["size", "u64"],
  ["blksize", "u64"],
  ["blocks", "u64"],
  ["atimeSec", "u64"],
  ["atimeNsec", "u64"],
  ["mtimeSec", "u64"],
  ["mtimeNsec", "u64"],
  ["ctimeSec", "u64"],
  ["ctimeNsec", "u64"],
  ["btimeSec", "u64"],
  ["btimeNsec", "u64"],
  ["gen", "u64"],
  ["dataVersion", "u64"],
] as const;
export const ATTR_SIZE = 12 + 15 * 8;
export type Attr = Struct<typeof AttrFields>;

export const SetAttrFields = [
  ["mode", "u32"],
  ["uid", "u32"],
  ["gid", "u32"],
  ["size", "u64"],
  ["atimeSec", "u64"],
  ["atimeNsec", "u64"],
  ["mtimeSec", "u64"],
  ["mtimeNsec", "u64"],
] as const;
export const SETATTR_SIZE = 12 + 5 * 8;
export type SetAttr = Struct<typeof SetAttrFields>;

export const FSStatFields = [
  ["type", "u32"],
  ["bsize", "u32"],
  ["blocks", "u64"],
  ["bfree", "u64"],
  ["bavail", "u64"],
  ["files", "u64"],
  ["ffree", "u64"],
  ["fsid", "u64"],
  ["namelen", "u32"],
] as const;
export const FSSTAT_SIZE = 8 + 7 * 8 - 4;
export type FSStat = Struct<typeof FSStatFields>;
/** One entry of Rmultigetattr. */
export type FullStat = { readonly qid: Qid; readonly valid: number; readonly attr: Attr };
/** One entry of Rreaddir. */
export type Dirent = { readonly qid: Qid; readonly offset: number; readonly type: number; readonly name: string };

/** Tgetattr's AttrMask bits. */
export const AttrMask = {
  Mode: 0x1,
  NLink: 0x2,
  UID: 0x4,
  GID: 0x8,
  RDev: 0x10,
  ATime: 0x20,
  MTime: 0x40,
  CTime: 0x80,
  INo: 0x100,
  Size: 0x200,
  Blocks: 0x400,
  BTime: 0x800,
  Gen: 0x1000,
  DataVersion: 0x2000,
} as const;

/** Tsetattr's SetAttrMask bits. */
export const SetAttrMask = {
  Mode: 0x1,
  UID: 0x2,
  GID: 0x4,
  Size: 0x8,
  ATime: 0x10,
  MTime: 0x20,
  CTime: 0x40,
  ATimeSet: 0x80,
  MTimeSet: 0x100,
} as const;

/** Tlopen's OpenFlags that gVisor defines: the access mode and O_TRUNC. */
export const OpenFlags = { ModeMask: 3, ReadOnly: 0, WriteOnly: 1, ReadWrite: 2, Truncate: 0o1000 } as const;

// ---- requests ---------------------------------------------------------------

const createCommon = [
  ["fid", "u32"],
  ["name", "str"],
  ["flags", "u32"],
  ["mode", "u32"],
  ["gid", "u32"],
] as const;
const mkdirCommon = [
  ["dirFid", "u32"],
  ["name", "str"],
  ["mode", "u32"],
  ["gid", "u32"],
] as const;
const symlinkCommon = [
  ["dirFid", "u32"],
  ["name", "str"],
  ["target", "str"],
  ["gid", "u32"],
] as const;
const mknodCommon = [
  ["dirFid", "u32"],
  ["name", "str"],
  ["mode", "u32"],
  ["major", "u32"],
  ["minor", "u32"],
  ["gid", "u32"],
] as const;
const fidOnly = [["fid", "u32"]] as const;

const requests = {
  [T.version]: [
    ["msize", "u32"],
    ["version", "str"],
  ],
  [T.auth]: [
    ["afid", "u32"],
    ["uname", "str"],
    ["aname", "str"],
    ["uid", "u32"],
  ],
  [T.attach]: [
    ["fid", "u32"],
    ["afid", "u32"],
    ["uname", "str"],
    ["aname", "str"],
    ["uid", "u32"],
  ],
  [T.flush]: [["oldTag", "u16"]],
  [T.walk]: [
    ["fid", "u32"],
    ["newFid", "u32"],
    ["names", "strs"],
  ],
  [T.walkgetattr]: [
    ["fid", "u32"],
    ["newFid", "u32"],
    ["names", "strs"],
  ],
  [T.read]: [
    ["fid", "u32"],
    ["offset", "off"],
    ["count", "u32"],
  ],
  [T.write]: [
    ["fid", "u32"],
    ["offset", "off"],
    ["data", "data"],
  ],
  [T.clunk]: fidOnly,
  [T.remove]: fidOnly,
  [T.statfs]: fidOnly,
  [T.lopen]: [
    ["fid", "u32"],
    ["flags", "u32"],
  ],
  [T.lcreate]: createCommon,
  [T.ucreate]: [...createCommon, ["uid", "u32"]],
  [T.symlink]: symlinkCommon,
  [T.usymlink]: [...symlinkCommon, ["uid", "u32"]],
  [T.mknod]: mknodCommon,
  [T.umknod]: [...mknodCommon, ["uid", "u32"]],
  [T.mkdir]: mkdirCommon,
  [T.umkdir]: [...mkdirCommon, ["uid", "u32"]],
  [T.rename]: [
    ["fid", "u32"],
    ["dirFid", "u32"],
    ["name", "str"],
  ],
  [T.renameat]: [
    ["oldDirFid", "u32"],
    ["oldName", "str"],
    ["newDirFid", "u32"],
    ["newName", "str"],
  ],
  [T.unlinkat]: [
    ["dirFid", "u32"],
    ["name", "str"],
    ["flags", "u32"],
  ],
  [T.link]: [
    ["dirFid", "u32"],
    ["targetFid", "u32"],
    ["name", "str"],
  ],
  [T.readlink]: fidOnly,
  [T.getattr]: [
    ["fid", "u32"],
    ["mask", "u64n"],
  ],
  [T.setattr]: [
    ["fid", "u32"],
    ["valid", "u32"],
    ["attr", "setattr"],
  ],
  [T.setattrclunk]: [
    ["fid", "u32"],
    ["valid", "u32"],
    ["attr", "setattr"],
  ],
  [T.xattrwalk]: [
    ["fid", "u32"],
    ["newFid", "u32"],
    ["name", "str"],
  ],
  [T.xattrcreate]: [
    ["fid", "u32"],
    ["name", "str"],
    ["size", "u64n"],
    ["flags", "u32"],
  ],
  [T.getxattr]: [
    ["fid", "u32"],
    ["name", "str"],
    ["size", "u64n"],
  ],
  [T.setxattr]: [
    ["fid", "u32"],
    ["name", "str"],
    ["value", "str"],
    ["flags", "u32"],
  ],
  [T.listxattr]: [
    ["fid", "u32"],
    ["size", "u64n"],
  ],
  [T.removexattr]: [
    ["fid", "u32"],
    ["name", "str"],
  ],
  [T.readdir]: [
    ["fid", "u32"],
    ["offset", "u64n"],
    ["count", "u32"],
  ],
  // Linux sends a datasync word after the fid; gVisor's Tfsync has none, and
  // trailing bytes are ignored, so both decode.
  [T.fsync]: fidOnly,
  [T.flushf]: fidOnly,
  [T.lconnect]: [
    ["fid", "u32"],
    ["sockType", "u32"],
  ],
  [T.allocate]: [
    ["fid", "u32"],
    ["mode", "u32"],
    ["offset", "u64"],
    ["length", "u64"],
  ],
  [T.multigetattr]: [
    ["fid", "u32"],
    ["names", "strs"],
  ],
  [T.bind]: [
    ["dirFid", "u32"],
    ["sockType", "u32"],
    ["name", "str"],
    ["uid", "u32"],
    ["gid", "u32"],
    ["newFid", "u32"],
  ],
  [T.channel]: [
    ["id", "u32"],
    ["control", "u32"],
  ],
} as const satisfies Record<number, Layout>;

/** The request layouts by T type, as data (decoder, encoder, fuzzer, trace). */
export const Requests: Readonly<Record<number, Layout>> = requests;

// ---- responses (keyed by the T type; used to decode replies in tests) ----------

const responses = {
  [T.lerror]: [["errno", "u32"]],
  [T.version]: [
    ["msize", "u32"],
    ["version", "str"],
  ],
  [T.auth]: [["qid", "qid"]],
  [T.attach]: [["qid", "qid"]],
  [T.flush]: [],
  [T.walk]: [["qids", "qids"]],
  [T.walkgetattr]: [
    ["valid", "u64n"],
    ["attr", "attr"],
    ["qids", "qids"],
  ],
  [T.read]: [["data", "data"]],
  [T.write]: [["count", "u32"]],
  [T.clunk]: [],
  [T.remove]: [],
  [T.statfs]: [["stat", "fsstat"]],
  [T.lopen]: [
    ["qid", "qid"],
    ["iounit", "u32"],
  ],
  [T.lcreate]: [
    ["qid", "qid"],
    ["iounit", "u32"],
  ],
  [T.ucreate]: [
    ["qid", "qid"],
    ["iounit", "u32"],
  ],
  [T.symlink]: [["qid", "qid"]],
  [T.usymlink]: [["qid", "qid"]],
  [T.mknod]: [["qid", "qid"]],
  [T.umknod]: [["qid", "qid"]],
  [T.mkdir]: [["qid", "qid"]],
  [T.umkdir]: [["qid", "qid"]],
  [T.rename]: [],
  [T.renameat]: [],
  [T.unlinkat]: [],
  [T.link]: [],
  [T.readlink]: [["target", "str"]],
  [T.getattr]: [
    ["valid", "u64n"],
    ["qid", "qid"],
    ["attr", "attr"],
  ],
  [T.setattr]: [],
  [T.setattrclunk]: [],
  [T.xattrwalk]: [["size", "u64n"]],
  [T.xattrcreate]: [],
  [T.getxattr]: [["value", "str"]],
  [T.setxattr]: [],
  [T.listxattr]: [["names", "strs"]],
  [T.removexattr]: [],
  // Rreaddir: count u32, then that many bytes of entries (qid, offset u64,
  // type u8, name str), left in place.
  [T.readdir]: [["entries", "data"]],
  [T.fsync]: [],
  [T.flushf]: [],
  [T.lconnect]: [],
  [T.allocate]: [],
  [T.multigetattr]: [["stats", "stats"]],
  [T.bind]: [
    ["qid", "qid"],
    ["valid", "u64n"],
    ["attr", "attr"],
  ],
  [T.channel]: [
    ["offset", "u64n"],
    ["length", "u64n"],
  ],
} as const satisfies Record<number, Layout>;

/** The reply layouts by T type (Rlerror's under T.lerror), as data. */
export const Responses: Readonly<Record<number, Layout>> = responses;

type RequestLayouts = typeof requests;
type ResponseLayouts = typeof responses;
/** The messages with a request layout (all but Rlerror's T). */
export type RequestName = { [N in TName]: (typeof T)[N] extends keyof RequestLayouts ? N : never }[TName];

/** Marks a decoded request with its message, at the type level only: a
 * handler for one message cannot be registered for another whose request
 * has the same fields. */
declare const message: unique symbol;

/** The decoded request of message `N` (gVisor's T<N>), e.g. Request<"read">
 * for Tread; a union of names gives the union of their requests. */
export type Request<N extends RequestName> = N extends RequestName
  ? Fields<RequestLayouts[(typeof T)[N]]> & { readonly [message]?: N }
  : never;

/** The decoded reply to message `N` (R<N>), e.g. Response<"getattr">. */
export type Response<N extends TName> = Fields<ResponseLayouts[(typeof T)[N]]>;

/** The test client's typed calls, which name a message by its T type: the
 * request values for `Ty` when it is a known literal, anything when it is
 * only known as a number (the fuzzer's). */
export type RequestValuesOf<Ty extends number> = Ty extends keyof RequestLayouts ? Values<RequestLayouts[Ty]> : Record<string, unknown>;
/** The decoded reply to T type `Ty`; any fields when `Ty` is only a number. */
export type ResponseOf<Ty extends number> = Ty extends keyof ResponseLayouts ? Fields<ResponseLayouts[Ty]> : Fields<Layout>;

/** Fixed offsets of the replies the server writes field by field. */
export const R = {
  qidType: 0,
  qidVersion: 1,
  qidPath: 5,
  /** Rgetattr: valid, qid, attr. */
  getattr: { size: 8 + QID_SIZE + ATTR_SIZE, valid: 0, qid: 8, attr: 8 + QID_SIZE },
  /** Rwalkgetattr: valid, attr, then qids. */
  walkgetattr: { valid: 0, attr: 8, qids: 8 + ATTR_SIZE },
  /** Rbind: qid, valid, attr. */
  bind: { size: QID_SIZE + 8 + ATTR_SIZE, qid: 0, valid: QID_SIZE, attr: QID_SIZE + 8 },
  /** Rread/Rreaddir: count, then data. */
  read: { count: 0, data: 4 },
  /** Dirent in Rreaddir: qid, offset u64, type u8, name str. */
  dirent: { qid: 0, offset: QID_SIZE, type: QID_SIZE + 8, name: QID_SIZE + 9 },
  /** FullStat in Rmultigetattr. */
  fullStat: { size: QID_SIZE + 8 + ATTR_SIZE, qid: 0, valid: QID_SIZE, attr: QID_SIZE + 8 },
} as const;

// ---- decoding ---------------------------------------------------------------

const EXACT_HIGH = 0x200000; // a high word below this: the u64 fits a double exactly

/** The u64 at p as the nearest double (h * 2^32 is exact: one rounding). */
function readU64n(view: DataView, p: number): number {
  return view.getUint32(p + 4, true) * 0x100000000 + view.getUint32(p, true);
}

function readStruct<S extends StructFields>(fields: S, view: DataView, p: number): Struct<S> {
  const o: Record<string, number | bigint> = {};
  for (const [name, kind] of fields) {
    if (kind === "u32") {
      o[name] = view.getUint32(p, true);
      p += 4;
    } else {
      o[name] = view.getBigUint64(p, true);
      p += 8;
    }
  }
  return o as Struct<S>;
}

function readQid(u8: Uint8Array, view: DataView, p: number): Qid {
  return { type: u8[p], version: view.getUint32(p + 1, true), path: view.getBigUint64(p + 5, true) };
}

/** The 9P string (u16 length, bytes) at p, or null if it passes `end`. A
 * byte string has a char per byte: it ends at p + 2 + its length. */
function readStr(u8: Uint8Array, view: DataView, p: number, end: number): string | null {
  if (end - p < 2) return null;
  const n = view.getUint16(p, true);
  if (end - p - 2 < n) return null;
  return byteString(u8, p + 2, p + 2 + n);
}

/**
 * Decodes a message body at u8[off, off+len) by `layout`; null if the body is
 * too short for it (trailing bytes are ignored, as gVisor's buffer does).
 * Every read of a message is bounds-checked here and nowhere else.
 */
export function decode<L extends Layout>(layout: L, u8: Uint8Array, view: DataView, off: number, len: number): Fields<L> | null;
export function decode(layout: Layout, u8: Uint8Array, view: DataView, off: number, len: number): Record<string, unknown> | null {
  const end = off + len;
  let p = off;
  const out: Record<string, unknown> = {};
  for (let f = 0; f < layout.length; f++) {
    const name = layout[f][0];
    const kind = layout[f][1];
    switch (kind) {
      case "u8":
        if (end - p < 1) return null;
        out[name] = u8[p++];
        break;
      case "u16":
        if (end - p < 2) return null;
        out[name] = view.getUint16(p, true);
        p += 2;
        break;
      case "u32":
        if (end - p < 4) return null;
        out[name] = view.getUint32(p, true);
        p += 4;
        break;
      case "u64":
        if (end - p < 8) return null;
        out[name] = view.getBigUint64(p, true);
        p += 8;
        break;
      case "u64n":
        if (end - p < 8) return null;
        out[name] = readU64n(view, p);
        p += 8;
        break;
      case "off": {
        if (end - p < 8) return null;
        const h = view.getUint32(p + 4, true);
        out[name] = h < EXACT_HIGH ? h * 0x100000000 + view.getUint32(p, true) : -1;
        p += 8;
        break;
      }
      case "str": {
        const s = readStr(u8, view, p, end);
        if (s === null) return null;
        out[name] = s;
        p += 2 + s.length;
        break;
      }
      case "strs": {
        if (end - p < 2) return null;
        const n = view.getUint16(p, true);
        p += 2;
        const arr = new Array<string>(n);
        for (let i = 0; i < n; i++) {
          const s = readStr(u8, view, p, end);
          if (s === null) return null;
          arr[i] = s;
          p += 2 + s.length;
        }
        out[name] = arr;
        break;
      }
      case "data": {
        if (end - p < 4) return null;
        const n = view.getUint32(p, true);
        p += 4;
        if (end - p < n) return null;
        out[name] = { off: p, len: n };
        p += n;
        break;
      }
      case "qid":
        if (end - p < QID_SIZE) return null;
        out[name] = readQid(u8, view, p);
        p += QID_SIZE;
        break;
      case "qids": {
        if (end - p < 2) return null;
        const n = view.getUint16(p, true);
        p += 2;
        if (end - p < n * QID_SIZE) return null;
        const arr = new Array<Qid>(n);
        for (let i = 0; i < n; i++, p += QID_SIZE) arr[i] = readQid(u8, view, p);
        out[name] = arr;
        break;
      }
      case "attr":
        if (end - p < ATTR_SIZE) return null;
        out[name] = readStruct(AttrFields, view, p);
        p += ATTR_SIZE;
        break;
      case "setattr":
        if (end - p < SETATTR_SIZE) return null;
        out[name] = readStruct(SetAttrFields, view, p);
        p += SETATTR_SIZE;
        break;
      case "fsstat":
        if (end - p < FSSTAT_SIZE) return null;
        out[name] = readStruct(FSStatFields, view, p);
        p += FSSTAT_SIZE;
        break;
      case "stats": {
        if (end - p < 2) return null;
        const n = view.getUint16(p, true);
        p += 2;
        if (end - p < n * R.fullStat.size) return null;
        const arr = new Array<FullStat>(n);
        for (let i = 0; i < n; i++, p += R.fullStat.size)
          arr[i] = {
            qid: readQid(u8, view, p),
            valid: readU64n(view, p + R.fullStat.valid),
            attr: readStruct(AttrFields, view, p + R.fullStat.attr),
          };
        out[name] = arr;
        break;
      }
    }
  }
  return out;
}

/** Bytes each fixed-size kind takes (the others have a length or count). */
const FIXED_SIZE: Partial<Record<Kind, number>> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  off: 8,
  u64n: 8,
  qid: QID_SIZE,
  attr: ATTR_SIZE,
  setattr: SETATTR_SIZE,
  fsstat: FSSTAT_SIZE,
};

/** Where field `name` of `layout` starts in a body; only fixed-size fields
 * may come before it (checked when a handler module loads). */
export function fieldAt(layout: Layout, name: string): number {
  const i = layout.findIndex(([n]) => n === name);
  if (i < 0) throw new Error(`no field ${name}`);
  let at = 0;
  for (const [n, k] of layout.slice(0, i)) {
    const size = FIXED_SIZE[k];
    if (size === undefined) throw new Error(`field ${name} has no fixed place: ${n} comes before it`);
    at += size;
  }
  return at;
}

/** The exact value of an `off` field that decoded to -1 (2^53 or more): its
 * 8 bytes read again at `at` (fieldAt) of a body the decoder accepted, so
 * in bounds. The rare offset past a double, for the host call. */
export function farOffset(view: DataView, payloadOff: number, at: number): bigint {
  return view.getBigUint64(payloadOff + at, true);
}

/** Decodes the entries of an Rreaddir body (tests and tools). */
export function decodeDirents(u8: Uint8Array, view: DataView, off: number, len: number): Dirent[] | null {
  const out: Dirent[] = [];
  const end = off + len;
  let p = off;
  while (p < end) {
    if (end - p < R.dirent.name + 2) return null;
    const n = view.getUint16(p + R.dirent.name, true);
    if (end - p - R.dirent.name - 2 < n) return null;
    out.push({
      qid: readQid(u8, view, p),
      offset: readU64n(view, p + R.dirent.offset),
      type: u8[p + R.dirent.type],
      name: byteString(u8, p + R.dirent.name + 2, p + R.dirent.name + 2 + n),
    });
    p += R.dirent.name + 2 + n;
  }
  return out;
}

// ---- encoding (the test client and the fuzzer; the server writes its hot
// replies in place with the offsets above) --------------------------------------

const strBytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

/** Encodes `values` by `layout` at u8[off]; returns the end offset or -1 if it
 * does not fit. `data` takes a Uint8Array; qid/attr/setattr take objects. */
export function encode<const L extends Layout>(layout: L, values: Values<L>, u8: Uint8Array, view: DataView, off: number): number;
export function encode(layout: Layout, values: Record<string, unknown>, u8: Uint8Array, view: DataView, off: number): number {
  let p = off;
  const fits = (n: number) => p + n <= u8.byteLength;
  const u64 = (v: unknown) => {
    view.setBigUint64(p, BigInt.asUintN(64, BigInt((v as number | bigint) ?? 0)), true);
    p += 8;
  };
  const putStr = (s: string): boolean => {
    const b = strBytes(s);
    // A u16 length: a longer string cannot be said, so the message cannot be built.
    if (b.byteLength > 0xffff || !fits(2 + b.byteLength)) return false;
    view.setUint16(p, b.byteLength, true);
    u8.set(b, p + 2);
    p += 2 + b.byteLength;
    return true;
  };
  // What the caller gave for a struct or a QID (the fuzzer may give anything).
  type Given = Record<string, unknown>;
  const putStruct = (fields: StructFields, o: Given = {}) => {
    for (const [n, k] of fields) {
      if (k === "u32") {
        view.setUint32(p, Number(o[n] ?? 0) >>> 0, true);
        p += 4;
      } else u64(o[n]);
    }
  };
  const putQid = (q: Given = {}) => {
    u8[p] = Number(q.type ?? 0);
    view.setUint32(p + 1, Number(q.version ?? 0) >>> 0, true);
    p += 5;
    u64(q.path);
  };
  for (const [name, kind] of layout) {
    const v = values[name];
    switch (kind) {
      case "u8":
        if (!fits(1)) return -1;
        u8[p++] = Number(v ?? 0);
        break;
      case "u16":
        if (!fits(2)) return -1;
        view.setUint16(p, Number(v ?? 0), true);
        p += 2;
        break;
      case "u32":
        if (!fits(4)) return -1;
        view.setUint32(p, Number(v ?? 0) >>> 0, true);
        p += 4;
        break;
      case "u64":
      case "off":
      case "u64n":
        if (!fits(8)) return -1;
        u64(v);
        break;
      case "str":
        if (!putStr(String(v ?? ""))) return -1;
        break;
      case "strs": {
        const arr = (v ?? []) as string[];
        if (!fits(2)) return -1;
        if (arr.length > 0xffff) return -1;
        view.setUint16(p, arr.length, true);
        p += 2;
        for (const s of arr) if (!putStr(s)) return -1;
        break;
      }
      case "data": {
        const b = (v ?? new Uint8Array(0)) as Uint8Array;
        if (!fits(4 + b.byteLength)) return -1;
        view.setUint32(p, b.byteLength, true);
        u8.set(b, p + 4);
        p += 4 + b.byteLength;
        break;
      }
      case "qid":
        if (!fits(QID_SIZE)) return -1;
        putQid(v as Given);
        break;
      case "qids": {
        const arr = (v ?? []) as Given[];
        if (!fits(2 + arr.length * QID_SIZE)) return -1;
        if (arr.length > 0xffff) return -1;
        view.setUint16(p, arr.length, true);
        p += 2;
        for (const q of arr) putQid(q);
        break;
      }
      case "attr":
        if (!fits(ATTR_SIZE)) return -1;
        putStruct(AttrFields, v as Given);
        break;
      case "setattr":
        if (!fits(SETATTR_SIZE)) return -1;
        putStruct(SetAttrFields, v as Given);
        break;
      case "fsstat":
        if (!fits(FSSTAT_SIZE)) return -1;
        putStruct(FSStatFields, v as Given);
        break;
      case "stats": {
        const arr = (v ?? []) as Given[];
        if (!fits(2 + arr.length * R.fullStat.size)) return -1;
        if (arr.length > 0xffff) return -1;
        view.setUint16(p, arr.length, true);
        p += 2;
        for (const s of arr) {
          putQid(s.qid as Given);
          u64(s.valid);
          putStruct(AttrFields, s.attr as Given);
        }
        break;
      }
    }
  }
  return p;
}
