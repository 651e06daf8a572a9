// A 9P connection (gVisor pkg/p9/server.go's connState): one client socket,
// its negotiated version and msize, its fid table and its flipcall channels.
// Requests are served in arrival order on the one event-loop thread, so a
// request's reply is always sent before the next request is read: no tag is
// ever live when another arrives, and Tflush finds nothing left to cancel.
import type { Logger } from "../log";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { PacketHeader, PacketWindowAllocator, ServerEndpoint } from "../flipcall/flipcall";
import type { HostFile } from "../host/file";
import type { Mount } from "../host/mount";
import type { OpenFile } from "../host/open-file";
import type { BoundSocket } from "../host/socket";
import { StatBuffer } from "../host/stat";
import type { EventLoop } from "../loop/loop";
import { P9Channel } from "./channel";
import type { P9Comm } from "./comm";
import { handlers } from "./handlers";
import { ChannelHeader, decode, MAX_MESSAGE_SIZE, NO_UID, Requests, Rlerror, SINCE, T, TYPE_NAMES } from "./message";
import { P9Sock } from "./sock";
import type { ConnObserver } from "../observe/observer";

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

/** Channels per connection: as gVisor, between 2 and 4 by CPU count. */
const CHANNELS = Math.min(4, Math.max(2, navigator.hardwareConcurrency || 2));
const CHANNEL_WINDOW = PacketHeader.size + ChannelHeader.size + MAX_MESSAGE_SIZE + 2;

let nextChannelId = 1;

/** Messages that may leave the connection holding more host FDs. */
const OPENS_FDS: boolean[] = [];
for (const t of [
  T.attach, T.walk, T.walkgetattr, T.lopen, T.lcreate, T.xattrwalk, T.xattrcreate, T.symlink, T.mknod, T.mkdir, T.link,
  T.setattr, T.ucreate, T.umkdir, T.umknod, T.usymlink, T.lconnect, T.bind, T.channel,
])
  OPENS_FDS[t] = true;

export class P9Connection {
  readonly sock: P9Sock;
  /** Negotiated version: 0 is plain 9P2000.L; until Tversion, 0 (as gVisor). */
  version = 0;
  private fids = new Map<number, Fid>();
  /** Host device -> the 8-bit index in QID paths (the 2021 fsgofer's makeQID). */
  private devices = new Map<number, number>();
  /** Indexed by channel id; a dropped channel leaves null (ids are the client's). */
  private channels: ({
    comm: P9Channel;
    win: { offset: number; length: number };
    watch: { stateAddr: number; pending(): boolean; onReady(): void };
  } | null)[] = [];
  private alloc: PacketWindowAllocator | null = null;
  /** -errno once setting up the channels failed: they are not tried again. */
  private channelsFailed = 0;
  closed = false;
  /** --trace / --metrics for this connection; null when both are off. */
  observer: ConnObserver | null = null;
  /** Where this connection's host calls leave the stat its reply carries:
   * handlers pass it to each host call that stats, then read it. */
  readonly stat = new StatBuffer();
  /** Where the Treaddir being answered stands in its reply, batch by batch
   * (encodeDirents advances it). */
  readonly direntCursor: DirentCursor = { p: 0, n: 0 };

  constructor(
    readonly mount: Mount,
    sockFd: number,
    /** False for TCP: FDs cannot be donated, channels cannot be set up. */
    canDonate: boolean,
    private readonly loop: EventLoop,
    readonly log: Logger,
    private readonly onClose: (c: P9Connection) => void,
  ) {
    this.sock = new P9Sock(sockFd, canDonate);
    loop.addSocket({
      fd: sockFd,
      events: C.POLLIN | C.POLLRDHUP,
      onReady: (revents) => this.onSocketReady(revents),
    });
  }

  get readonly(): boolean {
    return this.mount.policy.readonly;
  }

  get msize(): number {
    return this.sock.msize;
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
  get fidCount(): number {
    return this.fids.size;
  }
  /** Live flipcall channels (metrics). */
  get channelCount(): number {
    let n = 0;
    for (const c of this.channels) if (c) n++;
    return n;
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
    if (!this.alloc) {
      const a = PacketWindowAllocator.create();
      if (typeof a === "number") return a;
      this.alloc = a;
    }
    while (this.channels.length < CHANNELS) {
      const win = this.alloc.allocate(CHANNEL_WINDOW);
      if (typeof win === "number") return (this.channelsFailed = win);
      const ep = ServerEndpoint.map(this.alloc.fd, win.offset, win.length);
      if (typeof ep === "number") return (this.channelsFailed = ep);
      const pair = libc.socketpair(C.AF_UNIX, C.SOCK_SEQPACKET | C.SOCK_CLOEXEC, 0);
      if (typeof pair === "number") {
        ep.unmap();
        return (this.channelsFailed = pair);
      }
      // Our end never blocks the loop: a client that stops taking FDs loses them.
      libc.fcntl(pair[0], C.F_SETFL, C.O_NONBLOCK);
      const comm = new P9Channel(ep, pair[0], pair[1], nextChannelId++, () => this.msize);
      const watch = { stateAddr: ep.base, pending: () => comm.pending(), onReady: () => this.serveChannel(comm) };
      const rc = this.loop.addChannel(watch);
      if (rc < 0) {
        this.log.warn({ errno: -rc }, "channel refused: no helper thread for it");
        comm.shutdown();
        comm.destroy();
        // For good: a retry would take another window of the memfd each time.
        this.channelsFailed = rc;
        return rc;
      }
      this.channels.push({ comm, win, watch });
    }
    return 0;
  }

  /** Tchannel's answer: the window of channel `id` and the FD to send. */
  channelFor(id: number, control: number): { offset: number; length: number; fd: number } | number {
    const rc = this.initChannels();
    if (rc < 0) return rc;
    const ch = this.channels[id];
    if (!ch) return -C.ENOSYS;
    const win = ch.win;
    let fd: number;
    if (control === 0) fd = libc.dup(this.alloc!.fd);
    else if (control === 1) fd = libc.dup(ch.comm.clientSock);
    else return -C.EINVAL;
    if (fd < 0) return fd;
    return { offset: win.offset, length: win.length, fd };
  }

  private serveChannel(comm: P9Channel): void {
    const taken = comm.endpoint.takeRequest();
    if (taken !== true) {
      if (taken !== false) this.dropChannel(comm, taken);
      return;
    }
    const req = comm.request();
    if (!req) {
      this.dropChannel(comm, `malformed datagram (${comm.endpoint.dataLen()} bytes)`);
      return;
    }
    const obs = this.observer;
    const t0 = obs === null ? 0 : obs.begin(comm, req.type, comm.bodyOff, req.bodyLen);
    const rc = this.handle(comm, req.type, 0, req.bodyLen);
    const len = rc < 0 ? this.errorBody(comm, -rc) : rc;
    if (obs !== null) obs.end(comm, req.type, req.bodyLen, rc, comm.bodyOff, len, t0);
    const ok = comm.respond(rc < 0 ? Rlerror : req.type + 1, len);
    if (!ok) this.dropChannel(comm, "client shut the channel down");
  }

  private dropChannel(comm: P9Channel, why: string): void {
    const i = this.channels.findIndex((c) => c?.comm === comm);
    if (i < 0) return;
    this.log.debug({ channel: comm.name, why }, "channel closed");
    const entry = this.channels[i]!;
    this.channels[i] = null;
    comm.shutdown();
    this.loop.removeChannel(entry.watch);
    comm.destroy();
  }

  // ---- dispatch -------------------------------------------------------------------

  private errorBody(comm: P9Comm, errno: number): number {
    comm.view.setUint32(comm.bodyOff, errno, true);
    return 4;
  }

  /** Runs the handler of one request; returns the response body length or
   * -errno. Never throws: a bug in a handler costs one EREMOTEIO reply. */
  handle(comm: P9Comm, type: number, tag: number, bodyLen: number): number {
    const handler = handlers[type];
    const layout = Requests[type];
    if (!handler || !layout) {
      this.log.warn({ type, tag }, "unknown message type");
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
    let rc: number;
    try {
      const req = decode(layout, comm.u8, comm.view, comm.bodyOff, bodyLen);
      if (!req) {
        this.log.warn({ op: TYPE_NAMES[type], bodyLen }, "malformed request");
        rc = -C.EIO;
      } else {
        rc = handler(this, comm, req, bodyLen);
      }
    } catch (err) {
      this.log.error({ err, op: TYPE_NAMES[type] }, "handler failed");
      rc = -C.EREMOTEIO;
    }
    if (rc < 0) {
      if (this.log.isLevelEnabled("debug")) this.log.debug({ op: TYPE_NAMES[type], errno: -rc, via: comm.name }, "error reply");
      (comm as P9Sock | P9Channel).discardFds();
    }
    return rc;
  }

  private onSocketReady(revents: number): void {
    if (this.closed) return;
    if (this.sock.blocked()) {
      const f = this.sock.flush();
      if (f === "broken") return this.close("send failed");
      if (!f) return;
      this.loop.setEvents(this.sock.fd, C.POLLIN | C.POLLRDHUP);
    }
    if (revents & (C.POLLHUP | C.POLLRDHUP | C.POLLERR)) this.sock.readAgain();
    for (;;) {
      const ev = this.sock.receive();
      if (ev.kind === "wait") break;
      if (ev.kind === "closed") return this.close(ev.reason);
      const obs = this.observer;
      const t0 = obs === null ? 0 : obs.begin(this.sock, ev.type, this.sock.bodyOff, ev.bodyLen, ev.tag);
      const rc = this.handle(this.sock, ev.type, ev.tag, ev.bodyLen);
      const len = rc < 0 ? this.errorBody(this.sock, -rc) : rc;
      if (obs !== null) obs.end(this.sock, ev.type, ev.bodyLen, rc, this.sock.bodyOff, len, t0, ev.tag);
      const ok = this.sock.send(rc < 0 ? Rlerror : ev.type + 1, ev.tag, len);
      if (!ok) return this.close("send failed");
      if (this.sock.blocked()) {
        this.loop.setEvents(this.sock.fd, C.POLLOUT);
        return;
      }
    }
    if (revents & (C.POLLHUP | C.POLLERR | C.POLLNVAL)) this.close("hangup");
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.log.info({ why, fids: this.fids.size, channels: this.channels.filter(Boolean).length }, "connection closed");
    this.loop.removeSocket(this.sock.fd);
    for (const ch of this.channels) {
      if (!ch) continue;
      ch.comm.shutdown();
      this.loop.removeChannel(ch.watch);
      ch.comm.destroy();
    }
    this.channels = [];
    this.alloc?.destroy();
    this.alloc = null;
    this.reset();
    this.sock.close();
    this.onClose(this);
  }
}
