// A lisafs connection (gVisor pkg/lisafs/connection.go): one client socket,
// its channels, and its FD table. Channels share the table. When the client
// goes away every host FD of the connection is closed.
import type { Logger } from "../log";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { PacketWindowAllocator, ServerEndpoint, PacketHeader } from "../flipcall/flipcall";
import type { HostFile } from "../host/file";
import type { Mount } from "../host/mount";
import type { OpenFile } from "../host/open-file";
import type { BoundSocket } from "../host/socket";
import { StatBuffer } from "../host/stat";
import type { EventLoop } from "../loop/loop";
import { ChannelComm } from "./channel";
import type { Comm } from "./comm";
import { ChannelHeader, MAX_MESSAGE_SIZE, MID, MID_NAMES, requestDecoder, Resp } from "./message";
import { handlers, supportedMessages } from "./handlers";
import { SockComm } from "./sock";
import type { ConnObserver } from "../observe/observer";

/** gVisor's ControlFD: a walked-to file. Kept alive by its ID and by the open
 * and bound-socket FDs made from it. */
export class ControlFD {
  readonly kind = "control" as const;
  refs = 1;
  constructor(
    readonly id: number,
    readonly file: HostFile,
  ) {}
  decRef(): void {
    if (--this.refs === 0) this.file.close();
  }
}

export class OpenFD {
  readonly kind = "open" as const;
  constructor(
    readonly id: number,
    readonly control: ControlFD,
    readonly file: OpenFile,
  ) {
    control.refs++;
  }
  release(): void {
    this.file.close();
    this.control.decRef();
  }
}

export class BoundSocketFD {
  readonly kind = "bound" as const;
  constructor(
    readonly id: number,
    readonly control: ControlFD,
    readonly socket: BoundSocket,
  ) {
    control.refs++;
  }
  release(): void {
    this.socket.close();
    this.control.decRef();
  }
}

export type AnyFD = ControlFD | OpenFD | BoundSocketFD;

/** Channels per connection: as gVisor, between 2 and 4 by CPU count. */
export const MAX_CHANNELS = Math.min(4, Math.max(2, navigator.hardwareConcurrency || 2));

let nextChannelId = 1;

/** Messages that may leave the connection holding more host FDs. */
const OPENS_FDS: boolean[] = [];
for (const m of [
  MID.Mount, MID.Channel, MID.Walk, MID.OpenAt, MID.OpenCreateAt, MID.MkdirAt, MID.MknodAt, MID.SymlinkAt,
  MID.LinkAt, MID.Connect, MID.ConnectWithCreds, MID.BindAt, MID.Accept, MID.SetStat,
])
  OPENS_FDS[m] = true;

export class Connection {
  readonly sock: SockComm;
  readonly maxMessageSize = MAX_MESSAGE_SIZE;
  private fds = new Map<number, AnyFD>();
  private nextId = 1;
  private channels: { comm: ChannelComm; watch: { stateAddr: number; pending(): boolean; onReady(): void } }[] = [];
  private alloc: PacketWindowAllocator | null = null;
  /** Channels made so far, shut-down ones included (the lifetime limit). */
  private channelsCreated = 0;
  closed = false;
  /** --trace / --metrics for this connection; null when both are off. */
  observer: ConnObserver | null = null;
  /** Where this connection's host calls leave the stat its reply carries:
   * handlers pass it to each host call that stats, then read it. */
  readonly stat = new StatBuffer();
  /** The messages this connection advertises on Mount. */
  readonly supported: number[];
  private readonly isSupported: boolean[] = [];
  /**
   * Whether the client gets today's gVisor semantics where they differ from
   * 20240729's in a way an old client would notice (docs/lisafs-today.md):
   * from the start with the policy's `lisafs: "today"`, else from the first
   * message only today's clients send (ConnectWithCreds, RenameAt2).
   */
  today: boolean;

  constructor(
    readonly mount: Mount,
    sockFd: number,
    private readonly loop: EventLoop,
    readonly log: Logger,
    private readonly onClose: (c: Connection) => void,
  ) {
    this.sock = new SockComm(sockFd, this.maxMessageSize);
    this.supported = supportedMessages(mount.policy.xattr);
    for (const m of this.supported) this.isSupported[m] = true;
    this.today = mount.policy.lisafs === "today";
    loop.addSocket({
      fd: sockFd,
      events: C.POLLIN | C.POLLRDHUP,
      onReady: (revents) => this.onSocketReady(revents),
    });
  }

  get readonly(): boolean {
    return this.mount.policy.readonly;
  }

  // ---- FD table ---------------------------------------------------------------

  insertControl(file: HostFile): ControlFD {
    const fd = new ControlFD(this.nextId++, file);
    this.fds.set(fd.id, fd);
    return fd;
  }
  insertOpen(control: ControlFD, file: OpenFile): OpenFD {
    const fd = new OpenFD(this.nextId++, control, file);
    this.fds.set(fd.id, fd);
    return fd;
  }
  insertBound(control: ControlFD, socket: BoundSocket): BoundSocketFD {
    const fd = new BoundSocketFD(this.nextId++, control, socket);
    this.fds.set(fd.id, fd);
    return fd;
  }
  lookup(id: number): AnyFD | undefined {
    return this.fds.get(id);
  }
  /** The control FD `id`: -EBADF if unknown, -EINVAL if another kind. */
  control(id: number): ControlFD | number {
    const fd = this.fds.get(id);
    if (!fd) return -C.EBADF;
    return fd.kind === "control" ? fd : -C.EINVAL;
  }
  open(id: number): OpenFD | number {
    const fd = this.fds.get(id);
    if (!fd) return -C.EBADF;
    return fd.kind === "open" ? fd : -C.EINVAL;
  }
  bound(id: number): BoundSocketFD | number {
    const fd = this.fds.get(id);
    if (!fd) return -C.EBADF;
    return fd.kind === "bound" ? fd : -C.EINVAL;
  }
  remove(id: number): void {
    const fd = this.fds.get(id);
    if (!fd) return;
    this.fds.delete(id);
    if (fd.kind === "control") fd.decRef();
    else fd.release();
  }
  get fdCount(): number {
    return this.fds.size;
  }
  /** Live flipcall channels (metrics). */
  get channelCount(): number {
    return this.channels.length;
  }

  // ---- channels -------------------------------------------------------------

  /** Creates a channel; returns the FDs to donate (memfd dup, client socket)
   * and the packet window, or -errno. */
  createChannel(): { memfd: number; clientSock: number; offset: number; length: number } | number {
    // As gVisor's createChannel: at most MAX_CHANNELS for the life of the
    // connection, shut-down ones included (their window space is never
    // reused, so counting only live ones let a client grow the shared
    // memory without bound by creating and shutting down in a loop).
    // Attempts count, failed ones too: each takes window space.
    if (this.channelsCreated >= MAX_CHANNELS) return -C.ENOMEM;
    this.channelsCreated++;
    if (!this.alloc) {
      const a = PacketWindowAllocator.create();
      if (typeof a === "number") return a;
      this.alloc = a;
    }
    const win = this.alloc.allocate(PacketHeader.size + ChannelHeader.size + this.maxMessageSize);
    if (typeof win === "number") return win;
    const ep = ServerEndpoint.map(this.alloc.fd, win.offset, win.length);
    if (typeof ep === "number") return ep;
    const pair = libc.socketpair(C.AF_UNIX, C.SOCK_SEQPACKET | C.SOCK_CLOEXEC, 0);
    if (typeof pair === "number") {
      ep.unmap();
      return pair;
    }
    const memfd = libc.dup(this.alloc.fd);
    if (memfd < 0) {
      ep.unmap();
      libc.close(pair[0]);
      libc.close(pair[1]);
      return memfd;
    }
    // Our end never blocks the loop: a client that stops taking FDs loses them.
    libc.fcntl(pair[0], C.F_SETFL, C.O_NONBLOCK);
    const comm = new ChannelComm(ep, pair[0], nextChannelId++);
    const watch = {
      stateAddr: ep.base,
      pending: () => comm.pending(),
      onReady: () => this.serveChannel(comm),
    };
    const rc = this.loop.addChannel(watch);
    if (rc < 0) {
      this.log.warn({ errno: -rc }, "channel refused: no helper thread for it");
      comm.shutdown();
      comm.destroy();
      libc.close(memfd);
      libc.close(pair[1]);
      return rc;
    }
    this.channels.push({ comm, watch });
    return { memfd, clientSock: pair[1], offset: win.offset, length: win.length };
  }

  private serveChannel(comm: ChannelComm): void {
    const taken = comm.endpoint.takeRequest();
    if (taken !== true) {
      if (taken !== false) this.dropChannel(comm, taken);
      return;
    }
    const req = comm.request();
    if (!req) {
      this.dropChannel(comm, `bad datagram length ${comm.endpoint.dataLen()}`);
      return;
    }
    const obs = this.observer;
    const t0 = obs === null ? 0 : obs.begin(comm, req.mid, comm.payloadOff, req.payloadLen);
    const respLen = this.handle(comm, req.mid, req.payloadLen);
    const mid = respLen < 0 ? MID.Error : req.mid;
    const len = respLen < 0 ? this.errorReply(comm, -respLen) : respLen;
    if (obs !== null) obs.end(comm, req.mid, req.payloadLen, respLen, comm.payloadOff, len, t0);
    if (!comm.respond(mid, len)) this.dropChannel(comm, "client shut the channel down");
  }

  private dropChannel(comm: ChannelComm, why: string): void {
    const i = this.channels.findIndex((c) => c.comm === comm);
    if (i < 0) return;
    this.log.debug({ channel: comm.name, why }, "channel closed");
    const [entry] = this.channels.splice(i, 1);
    comm.shutdown();
    this.loop.removeChannel(entry.watch);
    comm.destroy();
  }

  // ---- dispatch -------------------------------------------------------------

  private errorReply(comm: Comm, errno: number): number {
    comm.view.setUint32(comm.payloadOff + Resp.Error.errno, errno, true);
    return Resp.Error.size;
  }

  /** Runs the handler for one request; returns the response payload length or
   * -errno. Never throws: a bug in a handler costs one EREMOTEIO reply. */
  handle(comm: Comm, mid: number, payloadLen: number): number {
    if (payloadLen > this.maxMessageSize) return -C.EIO;
    const handler = handlers[mid];
    if (!handler) {
      this.log.warn({ mid }, "unsupported message");
      return -C.EOPNOTSUPP;
    }
    if (mid === MID.ConnectWithCreds || mid === MID.RenameAt2) this.today = true;
    // The per-connection FD limit (like runsc's --fdlimit, but per client):
    // what would hold another host FD fails with EMFILE; closing, reading
    // and everything else goes on.
    if (OPENS_FDS[mid] && this.mount.atFdLimit()) return -C.EMFILE;
    // Today's server refuses what it did not advertise (Flush, and the xattr
    // messages without the extension); 20240729's ran the handler anyway.
    if (this.today && !this.isSupported[mid]) {
      this.log.warn({ mid }, "message not supported on this connection");
      return -C.EOPNOTSUPP;
    }
    let rc: number;
    try {
      const req = requestDecoder(mid)(comm.u8, comm.view, comm.payloadOff, payloadLen);
      if (!req) {
        this.log.warn({ msg: MID_NAMES[mid], payloadLen }, "malformed request");
        rc = -C.EIO;
      } else {
        rc = handler(this, comm, req);
      }
    } catch (err) {
      this.log.error({ err, msg: MID_NAMES[mid] }, "handler failed");
      rc = -C.EREMOTEIO;
    }
    if (rc > this.maxMessageSize) rc = -C.EIO;
    if (rc < 0) {
      if (this.log.isLevelEnabled("debug")) this.log.debug({ msg: MID_NAMES[mid], errno: -rc, via: comm.name }, "error reply");
      if ("discardFds" in comm) (comm as SockComm | ChannelComm).discardFds();
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
    for (;;) {
      const ev = this.sock.receive();
      if (ev.kind === "wait") break;
      if (ev.kind === "closed") return this.close(ev.reason);
      const obs = this.observer;
      const t0 = obs === null ? 0 : obs.begin(this.sock, ev.mid, this.sock.payloadOff, ev.payloadLen);
      const rc = this.handle(this.sock, ev.mid, ev.payloadLen);
      const len = rc < 0 ? this.errorReply(this.sock, -rc) : rc;
      if (obs !== null) obs.end(this.sock, ev.mid, ev.payloadLen, rc, this.sock.payloadOff, len, t0);
      const ok = this.sock.send(rc < 0 ? MID.Error : ev.mid, len);
      if (!ok) return this.close("send failed");
      if (this.sock.blocked()) {
        // Stop reading until the client takes its response.
        this.loop.setEvents(this.sock.fd, C.POLLOUT);
        return;
      }
    }
    if (revents & (C.POLLHUP | C.POLLERR | C.POLLNVAL)) this.close("hangup");
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.log.info({ why, fds: this.fds.size, channels: this.channels.length }, "connection closed");
    this.loop.removeSocket(this.sock.fd);
    for (const { comm, watch } of this.channels) {
      comm.shutdown();
      this.loop.removeChannel(watch);
      comm.destroy();
    }
    this.channels = [];
    this.alloc?.destroy();
    this.alloc = null;
    // Open and bound FDs first, so control FDs drop their last reference.
    for (const fd of this.fds.values()) if (fd.kind !== "control") fd.release();
    for (const fd of this.fds.values()) if (fd.kind === "control") fd.decRef();
    this.fds.clear();
    this.sock.close();
    this.onClose(this);
  }
}
