// A 9P connection (gVisor pkg/p9/server.go's connState): the serving core
// (src/serve/connection.ts) with 9P's framing, version gating and handlers,
// and the connection's negotiated version, its fid table and its device
// indexes. Requests are served in arrival order on the one event-loop
// thread, so a request's reply is always sent before the next request is
// read: no tag is ever live when another arrives, and Tflush finds nothing
// left to cancel.
import type { Logger } from "../log";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { PacketHeader } from "../flipcall/flipcall";
import type { HostFile } from "../host/file";
import type { Mount } from "../host/mount";
import type { OpenFile } from "../host/open-file";
import type { BoundSocket } from "../host/socket";
import { StatBuffer } from "../host/stat";
import type { EventLoop } from "../loop/loop";
import { type ChannelParts, MAX_CHANNELS } from "../serve/channel";
import type { Comm } from "../serve/comm";
import * as serve from "../serve/connection";
import { Channel } from "./channel";
import { handlers } from "./handlers";
import { ChannelHeader, decode, type Fields, type Layout, MAX_MESSAGE_SIZE, NO_UID, Requests, SINCE, T, TYPE_NAMES } from "./message";
import { Sock } from "./sock";

/** A Treaddir reply being built: the next byte to write and the entries
 * written so far. */
export interface DirentCursor {
  p: number;
  n: number;
}

/** A fid: a file the client walked to, and how it opened it. */
export class Fid {
  /** Set by Tlopen/Tlcreate; a fid opens once. */
  open: OpenFile | null = null;
  /** The p9 access mode it was opened with (OpenFlags & 3). */
  mode = 0;
  /** Readdir: the offset the directory position stands at (the 2021 fsgofer's
   * lastDirentOffset); any other offset rewinds and skips. */
  lastDirentOffset = 0;
  /** Readdir: the device index of the opened directory (-1: not yet known). */
  direntDev = -1;
  /** Made by Tbind: the bound socket the fid's file is. */
  bound: BoundSocket | null = null;
  constructor(
    public file: HostFile,
    /** A standard client's user (Tattach's n_uname, inherited by walks):
     * what it creates is owned by this user, as diod does by acting as
     * them. NO_UID (gVisor's clients, or access=any): the gofer's own. */
    readonly uid = NO_UID,
  ) {}
  get deleted(): boolean {
    return this.file.node.deleted;
  }
  close(): void {
    this.open?.close();
    this.bound?.close();
    this.file.close();
  }
}

const CHANNEL_WINDOW = PacketHeader.size + ChannelHeader.size + MAX_MESSAGE_SIZE + 2;

/** Messages that may leave the connection holding more host FDs. */
const OPENS_FDS: boolean[] = [];
for (const t of [
  T.attach, T.walk, T.walkgetattr, T.lopen, T.lcreate, T.xattrwalk, T.xattrcreate, T.symlink, T.mknod, T.mkdir, T.link,
  T.setattr, T.ucreate, T.umkdir, T.umknod, T.usymlink, T.lconnect, T.bind, T.channel,
])
  OPENS_FDS[t] = true;

export class Connection extends serve.Connection<Sock, Fields<Layout>> {
  protected readonly handlers = handlers;
  protected readonly messageNames = TYPE_NAMES;
  /** Negotiated version: 0 is plain 9P2000.L; until Tversion, 0 (as gVisor). */
  version = 0;
  private fids = new Map<number, Fid>();
  /** Host device -> the 8-bit index in QID paths (the 2021 fsgofer's makeQID). */
  private devices = new Map<number, number>();
  /** -errno once setting up the channels failed: they are not tried again. */
  private channelsFailed = 0;
  /** Where this connection's host calls leave the stat its reply carries:
   * handlers pass it to each host call that stats, then read it. */
  readonly stat = new StatBuffer();
  /** Where the Treaddir being answered stands in its reply, batch by batch
   * (encodeDirents advances it). */
  readonly direntCursor: DirentCursor = { p: 0, n: 0 };

  constructor(
    mount: Mount,
    sockFd: number,
    /** False for TCP: FDs cannot be donated, channels cannot be set up. */
    canDonate: boolean,
    loop: EventLoop,
    log: Logger,
    onClose: () => void,
  ) {
    super(mount, new Sock(sockFd, canDonate), MAX_MESSAGE_SIZE, loop, log, onClose);
  }

  // ---- fids -------------------------------------------------------------------

  lookup(fid: number): Fid | undefined {
    return this.fids.get(fid);
  }
  /** Binds `fid` to `f`, releasing whatever it named before (as gVisor's
   * InsertFID). */
  insert(fid: number, f: Fid): void {
    const old = this.fids.get(fid);
    this.fids.set(fid, f);
    if (old && old !== f) old.close();
  }
  /** Releases `fid`; false if it was not in use. */
  clunk(fid: number): boolean {
    const f = this.fids.get(fid);
    if (!f) return false;
    this.fids.delete(fid);
    f.close();
    return true;
  }
  /** Tversion starts a new session: every fid of the old one is released. */
  reset(): void {
    for (const f of this.fids.values()) f.close();
    this.fids.clear();
  }
  get fdCount(): number {
    return this.fids.size;
  }

  protected releaseAll(): void {
    this.reset();
  }

  /** The 8-bit index of host device devMajor:devMinor in QID paths
   * (device index << 56 | inode); EOVERFLOW past 256 devices. */
  deviceIndex(devMajor: number, devMinor: number): number {
    const key = devMajor * 0x100000 + devMinor;
    let i = this.devices.get(key);
    if (i === undefined) {
      i = this.devices.size;
      if (i > 0xff) return -C.EOVERFLOW;
      this.devices.set(key, i);
    }
    return i;
  }

  // ---- channels -----------------------------------------------------------------

  /** Creates the connection's channels on the first Tchannel (as gVisor's
   * initializeChannels). */
  initChannels(): number {
    if (!this.sock.canDonate) return -C.ENOSYS;
    if (this.channelsFailed < 0) return this.channelsFailed;
    while (this.channels.length < MAX_CHANNELS) {
      const ch = this.openChannel(CHANNEL_WINDOW);
      // For good once the memfd exists: a retry would take another window
      // of it each time.
      if (typeof ch === "number") return this.hasWindows ? (this.channelsFailed = ch) : ch;
    }
    return 0;
  }

  /** Tchannel's answer: the window of channel `id` and the FD to send. */
  channelFor(id: number, control: number): { offset: number; length: number; fd: number } | number {
    const rc = this.initChannels();
    if (rc < 0) return rc;
    const ch = this.channels[id];
    if (!ch) return -C.ENOSYS;
    let fd: number;
    if (control === 0) fd = this.dupWindows();
    else if (control === 1) fd = libc.dup(ch.clientSock);
    else return -C.EINVAL;
    if (fd < 0) return fd;
    return { offset: ch.window.offset, length: ch.window.length, fd };
  }

  protected newChannel(parts: ChannelParts): Channel {
    return new Channel(this, parts, this.sock);
  }

  // ---- dispatch -------------------------------------------------------------------

  protected errorReply(comm: Comm, errno: number): number {
    comm.view.setUint32(comm.payloadOff, errno, true);
    return 4;
  }

  protected admit(comm: Comm, type: number): number {
    if (!handlers[type] || !Requests[type]) {
      this.log.warn({ type, tag: comm.tag }, "unknown message type");
      return -C.EIO;
    }
    // The per-connection FD limit: what would hold another host FD fails
    // with EMFILE; clunks, reads and everything else go on.
    if (OPENS_FDS[type] && this.mount.atFdLimit()) return -C.EMFILE;
    const since = SINCE[type];
    if (since !== undefined && this.version < since) {
      this.log.debug({ op: TYPE_NAMES[type], version: this.version }, "message not in the negotiated version");
      return -C.ENOSYS;
    }
    return 0;
  }

  protected decode(comm: Comm, type: number, bodyLen: number): Fields<Layout> | null {
    return decode(Requests[type], comm.u8, comm.view, comm.payloadOff, bodyLen);
  }
}
