// A lisafs connection (gVisor pkg/lisafs/connection.go): the serving core
// (src/serve/connection.ts) with lisafs's framing, admission rules and
// handlers, and the connection's FD table, which its channels share. When
// the client goes away every host FD of the connection is closed.
import type { Logger } from "../log";
import * as C from "../ffi/constants";
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
import { ChannelHeader, type Fields, type Layout, MAX_MESSAGE_SIZE, MID, MID_NAMES, requestDecoder, Resp } from "./message";
import { handlers, supportedMessages } from "./handlers";
import { Sock } from "./sock";

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

const CHANNEL_WINDOW = PacketHeader.size + ChannelHeader.size + MAX_MESSAGE_SIZE;

/** Messages that may leave the connection holding more host FDs. */
const OPENS_FDS: boolean[] = [];
for (const m of [
  MID.Mount, MID.Channel, MID.Walk, MID.OpenAt, MID.OpenCreateAt, MID.MkdirAt, MID.MknodAt, MID.SymlinkAt,
  MID.LinkAt, MID.Connect, MID.ConnectWithCreds, MID.BindAt, MID.Accept, MID.SetStat,
])
  OPENS_FDS[m] = true;

export class Connection extends serve.Connection<Sock, Fields<Layout>> {
  protected readonly handlers = handlers;
  protected readonly messageNames = MID_NAMES;
  private fds = new Map<number, AnyFD>();
  private nextId = 1;
  /** Channels made so far, shut-down ones included (the lifetime limit). */
  private channelsCreated = 0;
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

  constructor(mount: Mount, sockFd: number, loop: EventLoop, log: Logger, onClose: () => void) {
    super(mount, new Sock(sockFd, MAX_MESSAGE_SIZE), MAX_MESSAGE_SIZE, loop, log, onClose);
    this.supported = supportedMessages(mount.policy.xattr);
    for (const m of this.supported) this.isSupported[m] = true;
    this.today = mount.policy.lisafs === "today";
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

  protected releaseAll(): void {
    // Open and bound FDs first, so control FDs drop their last reference.
    for (const fd of this.fds.values()) if (fd.kind !== "control") fd.release();
    for (const fd of this.fds.values()) if (fd.kind === "control") fd.decRef();
    this.fds.clear();
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
    const ch = this.openChannel(CHANNEL_WINDOW);
    if (typeof ch === "number") return ch;
    const memfd = this.dupWindows();
    if (memfd < 0) {
      this.dropChannel(ch, `memfd dup: errno ${-memfd}`);
      return memfd;
    }
    return { memfd, clientSock: ch.takeClientSock(), offset: ch.window.offset, length: ch.window.length };
  }

  protected newChannel(parts: ChannelParts): Channel {
    return new Channel(this, parts, ChannelHeader.size);
  }

  // ---- dispatch -------------------------------------------------------------

  protected errorReply(comm: Comm, errno: number): number {
    comm.view.setUint32(comm.payloadOff + Resp.Error.errno, errno, true);
    return Resp.Error.size;
  }

  protected admit(_comm: Comm, mid: number): number {
    if (!handlers[mid]) {
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
    return 0;
  }

  protected decode(comm: Comm, mid: number, payloadLen: number): Fields<Layout> | null {
    return requestDecoder(mid)(comm.u8, comm.view, comm.payloadOff, payloadLen);
  }
}
