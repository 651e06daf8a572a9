// lisafs message layouts (gVisor 20240729, pkg/lisafs/message.go, and
// today's additions: ConnectWithCreds and RenameAt2), declared once as data. The server's decoders and encoders, the test client and the
// fuzzer all use these tables. All integers are little-endian; structs are
// packed.
import { byteString } from "../ffi/bytestring";
import { Statx as LinuxStatx } from "../ffi/layout";

/** Message IDs. */
export const MID = {
  Error: 0,
  Mount: 1,
  Channel: 2,
  FStat: 3,
  SetStat: 4,
  Walk: 5,
  WalkStat: 6,
  OpenAt: 7,
  OpenCreateAt: 8,
  Close: 9,
  FSync: 10,
  PWrite: 11,
  PRead: 12,
  MkdirAt: 13,
  MknodAt: 14,
  SymlinkAt: 15,
  LinkAt: 16,
  FStatFS: 17,
  FAllocate: 18,
  ReadLinkAt: 19,
  Flush: 20,
  Connect: 21,
  UnlinkAt: 22,
  RenameAt: 23,
  Getdents64: 24,
  FGetXattr: 25,
  FSetXattr: 26,
  FListXattr: 27,
  FRemoveXattr: 28,
  BindAt: 29,
  Listen: 30,
  Accept: 31,
  // Today's gVisor (not in 20240729).
  ConnectWithCreds: 32,
  RenameAt2: 33,
} as const;
export type MIDName = keyof typeof MID;
export const MID_NAMES: string[] = Object.keys(MID);

/** Socket transport header: payloadLen u32, message u16, pad u16. */
export const SockHeader = { size: 8, payloadLen: 0, message: 4 } as const;
/** Channel header at the start of a flipcall datagram: message u16, numFDs u8, pad u8. */
export const ChannelHeader = { size: 4, message: 0, numFDs: 2 } as const;

/** lisafs's Statx is the first 144 bytes of Linux's struct statx. */
export const Statx = { size: LinuxStatx.basicSize } as const;
export const Inode = { size: 8 + Statx.size, controlFd: 0, stat: 8 } as const;

/** Largest payload either side may send: a huge page minus a page, as gVisor. */
export const MAX_MESSAGE_SIZE = 2 * 1024 * 1024 - 4096;
export const NO_UID = 0xffffffff;

// ---- request layouts --------------------------------------------------------

/** Bytes left in place in the message buffer: [off, off + len). */
export type Span = { readonly off: number; readonly len: number };

/**
 * What each field kind decodes to; a 64-bit kind always decodes to one type.
 *  u8/u16/u32/i32: integers.
 *  u64/i64: a bigint, exact (SetStat's size and times, FAllocate's fields):
 *    what goes to the host as it came, off the hot path.
 *  off: a file offset (PRead, PWrite) as a number, exact below 2^53; from
 *    2^53 on, which a double cannot name, -1. The handler then hands the
 *    host the exact offset, read again with farOffset, as gVisor's gofer
 *    hands it int64(offset): EINVAL from 2^63 on, and below whatever the
 *    file system does there (tmpfs, xfs and btrfs take a write at 2^60).
 *  u64n: a number, exact below 2^53 and the nearest double beyond (so it
 *    still compares right against any count): for sizes only compared.
 *  id: an FD ID as a number; from 2^53 on -1, which no table holds (EBADF).
 *  pad16/pad32: skipped bytes (no field).
 *  str: SizedString (u16 length + bytes) as a byte string (latin1).
 *  raw16: SizedString left in place; raw32: u32 length + bytes left in
 *    place (PWrite's buffer).
 *  strs: StringArray (u16 count of SizedString); ids: FdArray (u16 count of
 *    u64 FD IDs, each as `id`).
 */
export type KindTypes = {
  u8: number;
  u16: number;
  u32: number;
  i32: number;
  u64: bigint;
  i64: bigint;
  off: number;
  u64n: number;
  id: number;
  pad16: never;
  pad32: never;
  str: string;
  raw16: Span;
  raw32: Span;
  strs: string[];
  ids: number[];
};
export type Kind = keyof KindTypes;
type Pad = "pad16" | "pad32";
export type Field = readonly [name: string, kind: Kind];
export type Layout = readonly Field[];

/** The object `L` decodes to: each named field as its kind's type (pads
 * left out). For the wide Layout, a record of any field. */
export type Fields<L extends Layout> = {
  readonly [F in L[number] as F[1] extends Pad ? never : F[0]]: KindTypes[F[1]];
};

/** What the encoder (test client, fuzzer) takes for each kind. */
type KindInputs = {
  u8: number;
  u16: number;
  u32: number;
  i32: number;
  u64: number | bigint;
  i64: number | bigint;
  off: number | bigint;
  u64n: number | bigint;
  id: number | bigint;
  pad16: never;
  pad32: never;
  str: string;
  raw16: Uint8Array;
  raw32: Uint8Array;
  strs: readonly string[];
  ids: readonly (number | bigint)[];
};

/** Values to encode by `L`: any field may be left out (zero, empty). The
 * wide Layout takes anything: the fuzzer sends what no table allows. */
export type Values<L extends Layout> = Layout extends L
  ? Record<string, unknown>
  : { readonly [F in L[number] as F[1] extends Pad ? never : F[0]]?: KindInputs[F[1]] };

const createCommon = [
  ["dirFd", "id"],
  ["uid", "u32"],
  ["gid", "u32"],
  ["mode", "u16"],
  ["_", "pad16"],
  ["_", "pad32"],
] as const;

const requests = {
  [MID.Mount]: [],
  [MID.Channel]: [],
  [MID.FStat]: [["fd", "id"]],
  [MID.SetStat]: [
    ["fd", "id"],
    ["mask", "u32"],
    ["mode", "u32"],
    ["uid", "u32"],
    ["gid", "u32"],
    ["size", "u64"],
    ["atimeSec", "i64"],
    ["atimeNsec", "i64"],
    ["mtimeSec", "i64"],
    ["mtimeNsec", "i64"],
  ],
  [MID.Walk]: [
    ["dirFd", "id"],
    ["path", "strs"],
  ],
  [MID.WalkStat]: [
    ["dirFd", "id"],
    ["path", "strs"],
  ],
  [MID.OpenAt]: [
    ["fd", "id"],
    ["flags", "u32"],
    ["_", "pad32"],
  ],
  [MID.OpenCreateAt]: [...createCommon, ["flags", "u32"], ["name", "str"]],
  [MID.Close]: [["fds", "ids"]],
  [MID.FSync]: [["fds", "ids"]],
  [MID.PWrite]: [
    ["offset", "off"],
    ["fd", "id"],
    ["buf", "raw32"],
  ],
  [MID.PRead]: [
    ["offset", "off"],
    ["fd", "id"],
    ["count", "u32"],
    ["_", "pad32"],
  ],
  [MID.MkdirAt]: [...createCommon, ["name", "str"]],
  [MID.MknodAt]: [...createCommon, ["minor", "u32"], ["major", "u32"], ["name", "str"]],
  [MID.SymlinkAt]: [
    ["dirFd", "id"],
    ["uid", "u32"],
    ["gid", "u32"],
    ["name", "str"],
    ["target", "str"],
  ],
  [MID.LinkAt]: [
    ["dirFd", "id"],
    ["target", "id"],
    ["name", "str"],
  ],
  [MID.FStatFS]: [["fd", "id"]],
  [MID.FAllocate]: [
    ["fd", "id"],
    ["mode", "u64"],
    ["offset", "u64"],
    ["length", "u64"],
  ],
  [MID.ReadLinkAt]: [["fd", "id"]],
  [MID.Flush]: [["fd", "id"]],
  [MID.Connect]: [
    ["fd", "id"],
    ["sockType", "u32"],
    ["_", "pad32"],
  ],
  [MID.UnlinkAt]: [
    ["dirFd", "id"],
    ["flags", "u32"],
    ["name", "str"],
  ],
  [MID.RenameAt]: [
    ["oldDir", "id"],
    ["newDir", "id"],
    ["oldName", "str"],
    ["newName", "str"],
  ],
  [MID.Getdents64]: [
    ["dirFd", "id"],
    ["count", "i32"],
    ["_", "pad32"],
  ],
  [MID.FGetXattr]: [
    ["fd", "id"],
    ["bufSize", "u32"],
    ["name", "str"],
  ],
  [MID.FSetXattr]: [
    ["fd", "id"],
    ["flags", "u32"],
    ["name", "str"],
    ["value", "raw16"],
  ],
  [MID.FListXattr]: [
    ["fd", "id"],
    ["size", "u64n"],
  ],
  [MID.FRemoveXattr]: [
    ["fd", "id"],
    ["name", "str"],
  ],
  [MID.BindAt]: [...createCommon, ["sockType", "u32"], ["name", "str"]],
  [MID.Listen]: [
    ["fd", "id"],
    ["backlog", "i32"],
    ["_", "pad32"],
  ],
  [MID.Accept]: [["fd", "id"]],
  // ConnectReq followed by the effective uid and gid to connect with.
  [MID.ConnectWithCreds]: [
    ["fd", "id"],
    ["sockType", "u32"],
    ["_", "pad32"],
    ["uid", "u32"],
    ["gid", "u32"],
  ],
  // RenameAtReq followed by renameat2(2) flags.
  [MID.RenameAt2]: [
    ["oldDir", "id"],
    ["newDir", "id"],
    ["oldName", "str"],
    ["newName", "str"],
    ["flags", "u32"],
  ],
} as const satisfies Record<number, Layout>;

/** The request layouts by message ID, as data (decoders, encoders, fuzzer,
 * trace). Error has none: its request decodes as an empty layout. */
export const Requests: Readonly<Record<number, Layout>> = requests;

type RequestLayouts = typeof requests;
/** The layout message `N` is decoded by (empty where there is none). */
type RequestLayout<N extends MIDName> = (typeof MID)[N] extends keyof RequestLayouts ? RequestLayouts[(typeof MID)[N]] : readonly [];

/** Marks a decoded request with its message, at the type level only: a
 * handler for one message cannot be registered for another whose request
 * has the same fields. */
declare const message: unique symbol;

/** The decoded request of message `N` (gVisor's <N>Req), e.g. Request<"PRead">;
 * a union of names gives the union of their requests. */
export type Request<N extends MIDName> = N extends MIDName ? Fields<RequestLayout<N>> & { readonly [message]?: N } : never;

// ---- response layouts (fixed parts; offsets into the payload) ---------------

export const Resp = {
  Error: { size: 4, errno: 0 },
  Mount: { root: 0, maxMessageSize: Inode.size, numSupported: Inode.size + 4, supported: Inode.size + 6 },
  Channel: { size: 16, dataOffset: 0, dataLength: 8 },
  SetStat: { size: 8, failureMask: 0, failureErrno: 4 },
  Walk: { status: 0, numInodes: 1, inodes: 3 },
  WalkStat: { numStats: 0, stats: 2 },
  OpenAt: { size: 8, openFd: 0 },
  OpenCreateAt: { size: Inode.size + 8, child: 0, newFd: Inode.size },
  PWrite: { size: 8, count: 0 },
  PRead: { numBytes: 0, data: 8 },
  StatFS: {
    size: 64,
    type: 0,
    blockSize: 8,
    blocks: 16,
    blocksFree: 24,
    blocksAvailable: 32,
    files: 40,
    filesFree: 48,
    nameLength: 56,
  },
  BindAt: { size: Inode.size + 8, child: 0, boundSocketFd: Inode.size },
  /** Dirent64 fixed part; the name (SizedString) follows at `name`. */
  Dirent: { ino: 0, devMinor: 8, devMajor: 12, off: 16, type: 24, name: 25 },
} as const;

export const WalkStatus = { Success: 0, ComponentDoesNotExist: 1, ComponentSymlink: 2 } as const;

// ---- decoding ---------------------------------------------------------------

/** A decoder compiled from one layout (see compileDecoder): the fields, or
 * null if the payload is too short. */
export type Decoder<R = Fields<Layout>> = (u8: Uint8Array, view: DataView, off: number, len: number) => R | null;

// The source of the bounds-checked read of one field into local `v<i>`.
// Generated once per layout, so a request is decoded by straight-line code
// into an object of one fixed shape: no per-field dispatch on the hot path,
// and still no second description of any message.
function fieldSource(kind: Kind, v: string): string {
  const need = (n: string) => `if (${n} > end - p) return null;`;
  switch (kind) {
    case "u8":
      return `${need("1")} const ${v} = u8[p]; p += 1;`;
    case "u16":
      return `${need("2")} const ${v} = view.getUint16(p, true); p += 2;`;
    case "pad16":
      return `${need("2")} p += 2;`;
    case "u32":
      return `${need("4")} const ${v} = view.getUint32(p, true); p += 4;`;
    case "i32":
      return `${need("4")} const ${v} = view.getInt32(p, true); p += 4;`;
    case "pad32":
      return `${need("4")} p += 4;`;
    case "u64":
      return `${need("8")} const ${v} = view.getBigUint64(p, true); p += 8;`;
    case "i64":
      return `${need("8")} const ${v} = view.getBigInt64(p, true); p += 8;`;
    case "u64n":
      // h * 2^32 is exact, so the sum is rounded once: the nearest double.
      return `${need("8")} const ${v} = view.getUint32(p + 4, true) * 0x100000000 + view.getUint32(p, true); p += 8;`;
    case "off":
    case "id":
      // Exact as a number below 2^53 (the high word below 2^21); beyond, -1.
      return `${need("8")} const ${v}h = view.getUint32(p + 4, true);
        const ${v} = ${v}h < 0x200000 ? ${v}h * 0x100000000 + view.getUint32(p, true) : -1; p += 8;`;
    case "str":
      return `${need("2")} const ${v}n = view.getUint16(p, true); p += 2; ${need(`${v}n`)}
        const ${v} = byteString(u8, p, p + ${v}n); p += ${v}n;`;
    case "raw16":
      return `${need("2")} const ${v}n = view.getUint16(p, true); p += 2; ${need(`${v}n`)}
        const ${v} = { off: p, len: ${v}n }; p += ${v}n;`;
    case "raw32":
      return `${need("4")} const ${v}n = view.getUint32(p, true); p += 4; ${need(`${v}n`)}
        const ${v} = { off: p, len: ${v}n }; p += ${v}n;`;
    case "strs":
      return `${need("2")} const ${v}c = view.getUint16(p, true); p += 2;
        const ${v} = new Array(${v}c);
        for (let j = 0; j < ${v}c; j++) {
          ${need("2")} const n = view.getUint16(p, true); p += 2; ${need("n")}
          ${v}[j] = byteString(u8, p, p + n); p += n;
        }`;
    case "ids":
      return `${need("2")} const ${v}c = view.getUint16(p, true); p += 2; ${need(`${v}c * 8`)}
        const ${v} = new Array(${v}c);
        for (let j = 0; j < ${v}c; j++, p += 8) {
          const h = view.getUint32(p + 4, true);
          ${v}[j] = h < 0x200000 ? h * 0x100000000 + view.getUint32(p, true) : -1;
        }`;
  }
}

/**
 * Compiles the decoder of `layout`: it decodes a payload at u8[off, off+len)
 * and returns null if the payload is too short for it (the caller answers
 * EIO, as gVisor). Every read is bounds-checked here and nowhere else.
 */
export function compileDecoder<L extends Layout>(layout: L): Decoder<Fields<L>> {
  const body: string[] = ["const end = off + len; let p = off;"];
  const fields: string[] = [];
  layout.forEach(([name, kind], i) => {
    body.push(fieldSource(kind, `v${i}`));
    if (kind !== "pad16" && kind !== "pad32") fields.push(`${JSON.stringify(name)}: v${i}`);
  });
  body.push(`return { ${fields.join(", ")} };`);
  const make = new Function("byteString", `return function decode(u8, view, off, len) {\n${body.join("\n")}\n};`);
  return make(byteString);
}

const compiled = new WeakMap<Layout, Decoder>();

/** Decodes a payload by `layout` (its compiled decoder, made on first use). */
export function decode<L extends Layout>(layout: L, u8: Uint8Array, view: DataView, off: number, len: number): Fields<L> | null {
  let d = compiled.get(layout);
  if (!d) compiled.set(layout, (d = compileDecoder(layout)));
  return d(u8, view, off, len) as Fields<L> | null;
}

const requestDecoders: (Decoder | undefined)[] = [];

/** The request decoder of message `mid` (an empty layout where there is no
 * request body), compiled on the first request of its kind: compiling all
 * 34 at start cost a gofer ~0.9 MiB of memory, most for messages a sandbox
 * never sends. `mid` must be a known message ID. What it decodes is the
 * Request of that message (the handler table says which, see handlers.ts). */
export function requestDecoder(mid: number): Decoder {
  return (requestDecoders[mid] ??= compileDecoder(Requests[mid] ?? []));
}
/** Where field `name` of `layout` starts in a payload; only fixed-size
 * fields may come before it (checked when a handler module loads). */
export function fieldAt(layout: Layout, name: string): number {
  const i = layout.findIndex(([n]) => n === name);
  const before = layout.slice(0, i);
  const variable = (k: Kind) => k === "str" || k === "raw16" || k === "raw32" || k === "strs" || k === "ids";
  if (i < 0 || before.some(([, k]) => variable(k))) throw new Error(`field ${name} has no fixed place`);
  return minSize(before);
}

/** The exact value of an `off` field that decoded to -1 (2^53 or more): its
 * 8 bytes read again at `at` (fieldAt) of a payload its decoder accepted,
 * so in bounds. The rare offset past a double, for the host call. */
export function farOffset(view: DataView, payloadOff: number, at: number): bigint {
  return view.getBigUint64(payloadOff + at, true);
}

/** Size a layout's fixed fields take (strings and arrays counted empty). */
export function minSize(layout: Layout): number {
  let n = 0;
  for (const [, kind] of layout) {
    if (kind === "u8") n += 1;
    else if (kind === "u16" || kind === "pad16" || kind === "str" || kind === "raw16" || kind === "strs" || kind === "ids")
      n += 2;
    else if (kind === "u32" || kind === "i32" || kind === "pad32" || kind === "raw32") n += 4;
    else n += 8;
  }
  return n;
}

// ---- encoding (used by the test client and the fuzzer) ----------------------

/** Encodes `values` by `layout` into u8 at off; returns the end offset, or -1
 * if it does not fit. raw16/raw32 take a Uint8Array. */
export function encode<const L extends Layout>(layout: L, values: Values<L>, u8: Uint8Array, view: DataView, off: number): number;
export function encode(layout: Layout, values: Record<string, unknown>, u8: Uint8Array, view: DataView, off: number): number {
  let p = off;
  const u64 = (v: unknown) => BigInt((v as number | bigint | undefined) ?? 0);
  const need = (n: number) => p + n <= u8.byteLength;
  const putBytes = (b: Uint8Array) => {
    u8.set(b, p);
    p += b.byteLength;
  };
  const strBytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
  for (const [name, kind] of layout) {
    const v = values[name];
    switch (kind) {
      case "u8":
        if (!need(1)) return -1;
        u8[p++] = Number(v ?? 0);
        break;
      case "u16":
      case "pad16":
        if (!need(2)) return -1;
        view.setUint16(p, kind === "u16" ? Number(v ?? 0) : 0, true);
        p += 2;
        break;
      case "u32":
      case "i32":
      case "pad32":
        if (!need(4)) return -1;
        if (kind === "i32") view.setInt32(p, Number(v ?? 0), true);
        else view.setUint32(p, kind === "u32" ? Number(v ?? 0) >>> 0 : 0, true);
        p += 4;
        break;
      case "u64":
      case "off":
      case "u64n":
      case "id":
        if (!need(8)) return -1;
        view.setBigUint64(p, BigInt.asUintN(64, u64(v)), true);
        p += 8;
        break;
      case "i64":
        if (!need(8)) return -1;
        view.setBigInt64(p, BigInt.asIntN(64, u64(v)), true);
        p += 8;
        break;
      case "str":
      case "raw16": {
        const b = kind === "str" ? strBytes(String(v ?? "")) : (v as Uint8Array);
        // u16 lengths and counts: what does not fit cannot be encoded.
        if (b.byteLength > 0xffff || !need(2 + b.byteLength)) return -1;
        view.setUint16(p, b.byteLength, true);
        p += 2;
        putBytes(b);
        break;
      }
      case "raw32": {
        const b = v as Uint8Array;
        if (!need(4 + b.byteLength)) return -1;
        view.setUint32(p, b.byteLength, true);
        p += 4;
        putBytes(b);
        break;
      }
      case "strs": {
        const arr = (v ?? []) as string[];
        if (!need(2)) return -1;
        if (arr.length > 0xffff) return -1;
        view.setUint16(p, arr.length, true);
        p += 2;
        for (const s of arr) {
          const b = strBytes(s);
          if (b.byteLength > 0xffff || !need(2 + b.byteLength)) return -1;
          view.setUint16(p, b.byteLength, true);
          p += 2;
          putBytes(b);
        }
        break;
      }
      case "ids": {
        const arr = (v ?? []) as number[];
        if (!need(2 + arr.length * 8)) return -1;
        if (arr.length > 0xffff) return -1;
        view.setUint16(p, arr.length, true);
        p += 2;
        for (const id of arr) {
          view.setBigUint64(p, u64(id), true);
          p += 8;
        }
        break;
      }
    }
  }
  return p;
}
