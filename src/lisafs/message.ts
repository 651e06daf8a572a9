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

/**
 * Field kinds:
 *  u8/u16/u32/i32/u64/i64: integers (u64/i64 decode to a number when exact,
 *    else a bigint; `id` decodes an FDID to a number, or -1 if out of range)
 *  pad16/pad32: skipped bytes
 *  str: SizedString (u16 length + bytes) decoded as a byte string (latin1)
 *  raw16: SizedString left in place: {off, len} into the message buffer
 *  raw32: u32 length + bytes left in place (PWrite's buffer)
 *  strs: StringArray (u16 count of SizedString)
 *  ids: FdArray (u16 count of u64 FDIDs)
 */
export type Kind =
  | "u8"
  | "u16"
  | "u32"
  | "i32"
  | "u64"
  | "i64"
  | "id"
  | "pad16"
  | "pad32"
  | "str"
  | "raw16"
  | "raw32"
  | "strs"
  | "ids";
export type Layout = ReadonlyArray<readonly [string, Kind]>;

const createCommon = [
  ["dirFd", "id"],
  ["uid", "u32"],
  ["gid", "u32"],
  ["mode", "u16"],
  ["_", "pad16"],
  ["_", "pad32"],
] as const;

export const Requests: Record<number, Layout> = {
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
    ["offset", "u64"],
    ["fd", "id"],
    ["buf", "raw32"],
  ],
  [MID.PRead]: [
    ["offset", "u64"],
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
    ["size", "u64"],
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
};

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

export type Decoded = Record<string, any>;

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** A decoder compiled from one layout (see compileDecoder). */
export type Decoder = (u8: Uint8Array, view: DataView, off: number, len: number) => Decoded | null;

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
    case "i64":
      return `${need("8")} let ${v} = view.getBigInt64(p, true);
        ${v} = ${v} <= MAX_EXACT && ${v} >= -MAX_EXACT ? Number(${v}) : ${v}; p += 8;`;
    case "u64":
    case "id": {
      // Exact as a number below 2^53; beyond, a bigint (u64) or -1 (an FD ID
      // no table holds).
      const big = kind === "id" ? "-1" : "view.getBigUint64(p, true)";
      return `${need("8")} const ${v}h = view.getUint32(p + 4, true);
        const ${v} = ${v}h < 0x200000 ? ${v}h * 0x100000000 + view.getUint32(p, true) : ${big}; p += 8;`;
    }
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
export function compileDecoder(layout: Layout): Decoder {
  const body: string[] = ["const end = off + len; let p = off;"];
  const fields: string[] = [];
  layout.forEach(([name, kind], i) => {
    body.push(fieldSource(kind, `v${i}`));
    if (kind !== "pad16" && kind !== "pad32") fields.push(`${JSON.stringify(name)}: v${i}`);
  });
  body.push(`return { ${fields.join(", ")} };`);
  const make = new Function("byteString", "MAX_EXACT", `return function decode(u8, view, off, len) {\n${body.join("\n")}\n};`);
  return make(byteString, MAX_EXACT) as Decoder;
}

const compiled = new WeakMap<Layout, Decoder>();

/** Decodes a payload by `layout` (its compiled decoder, made on first use). */
export function decode(layout: Layout, u8: Uint8Array, view: DataView, off: number, len: number): Decoded | null {
  let d = compiled.get(layout);
  if (!d) compiled.set(layout, (d = compileDecoder(layout)));
  return d(u8, view, off, len);
}

const requestDecoders: (Decoder | undefined)[] = [];

/** The request decoder of message `mid` (an empty layout where there is no
 * request body), compiled on the first request of its kind: compiling all
 * 34 at start cost a gofer ~0.9 MiB of memory, most for messages a sandbox
 * never sends. `mid` must be a known message ID. */
export function requestDecoder(mid: number): Decoder {
  return (requestDecoders[mid] ??= compileDecoder(Requests[mid] ?? []));
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
export function encode(layout: Layout, values: Decoded, u8: Uint8Array, view: DataView, off: number): number {
  let p = off;
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
      case "id":
        if (!need(8)) return -1;
        view.setBigUint64(p, BigInt.asUintN(64, BigInt(v ?? 0)), true);
        p += 8;
        break;
      case "i64":
        if (!need(8)) return -1;
        view.setBigInt64(p, BigInt.asIntN(64, BigInt(v ?? 0)), true);
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
          view.setBigUint64(p, BigInt(id), true);
          p += 8;
        }
        break;
      }
    }
  }
  return p;
}
