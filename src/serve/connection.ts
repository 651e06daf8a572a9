// The serving core of a connection, for both protocols (gVisor's
// pkg/lisafs Connection and its one handleMsg for socket and channel): one
// client socket on the event loop, the flipcall channels made for it, and
// the dispatch of each request to the protocol's handler table. A protocol
// subclasses it with its framing (its Sock and Channel), its admission
// rules, its decoder, its error reply and its handler table; its FD (or fid)
// table is its own.
//
// Requests are served in arrival order on the one event-loop thread: a
// request's reply is built in place over it and sent before the next
// request on that socket or channel is read.
import type { Logger } from "../log";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { PacketWindowAllocator, ServerEndpoint } from "../flipcall/flipcall";
import type { Mount } from "../host/mount";
import type { EventLoop } from "../loop/loop";
import type { ConnObserver } from "../observe/observer";
import type { Channel, ChannelParts, ChannelServer } from "./channel";
import type { Comm } from "./comm";
import { CLOSED, type Sock, WAIT } from "./sock";

/** Runs one decoded request: writes the reply payload in place at
 * comm.payloadOff and returns its length, or returns -errno. */
export type Handler<Conn, Req> = (c: Conn, comm: Comm, req: Req) => number;
/** A protocol's handlers, indexed by message ID: `handlers[ID] = handler`. */
export type HandlerTable<Conn, Req> = (Handler<Conn, Req> | undefined)[];

/** Channel IDs, unique in the process (logs, traces). */
let nextChannelId = 1;

export abstract class Connection<S extends Sock, Req> implements ChannelServer {
  closed = false;
  /** --trace / --metrics for this connection; null when both are off. */
  observer: ConnObserver | null = null;
  /** Channels in the order made; a dropped one leaves null (9P's channel
   * IDs index this). */
  protected channels: (Channel | null)[] = [];
  /** The packet-window memfd the channels' windows are cut from. */
  private alloc: PacketWindowAllocator | null = null;

  /** The protocol's handlers. */
  protected abstract readonly handlers: HandlerTable<this, Req>;
  /** Message names by ID, for logs. */
  protected abstract readonly messageNames: Readonly<Record<number, string>>;

  constructor(
    readonly mount: Mount,
    readonly sock: S,
    /** Bound on a request's and a reply's payload. */
    readonly maxMessageSize: number,
    private readonly loop: EventLoop,
    readonly log: Logger,
    private readonly onClose: () => void,
  ) {
    loop.addSocket({
      fd: sock.fd,
      events: C.POLLIN | C.POLLRDHUP,
      onReady: (revents) => this.onSocketReady(revents),
    });
  }

  get readonly(): boolean {
    return this.mount.policy.readonly;
  }

  // ---- what the protocol supplies ------------------------------------------------

  /** Whether message `mid` may run now: 0, or the -errno to reply (an
   * unknown message, the per-connection FD limit, a message the session
   * does not have). Logs what it refuses that a client should not send. */
  protected abstract admit(comm: Comm, mid: number): number;
  /** The request's fields, or null if the payload is malformed. */
  protected abstract decode(comm: Comm, mid: number, payloadLen: number): Req | null;
  /** Writes the error reply's payload for `errno`; returns its length. */
  protected abstract errorReply(comm: Comm, errno: number): number;
  /** A channel of the protocol's framing over what openChannel made. */
  protected abstract newChannel(parts: ChannelParts): Channel;
  /** Closes every host FD the client's IDs hold (the connection is over). */
  protected abstract releaseAll(): void;
  /** IDs the client holds now (logs, metrics). */
  abstract get fdCount(): number;

  // ---- dispatch -------------------------------------------------------------------

  /** Runs the handler for one request; returns the reply payload length or
   * -errno. Never throws: a bug in a handler costs one EREMOTEIO reply. An
   * error reply carries no FDs: what the handler donated is closed. */
  handle(comm: Comm, mid: number, payloadLen: number): number {
    let rc = payloadLen > this.maxMessageSize ? -C.EIO : this.admit(comm, mid);
    if (rc === 0) {
      try {
        const req = this.decode(comm, mid, payloadLen);
        if (req === null) {
          this.log.warn({ msg: this.messageNames[mid], payloadLen }, "malformed request");
          rc = -C.EIO;
        } else {
          rc = this.handlers[mid]!(this, comm, req);
        }
      } catch (err) {
        this.log.error({ err, msg: this.messageNames[mid] }, "handler failed");
        rc = -C.EREMOTEIO;
      }
      if (rc > this.maxMessageSize) rc = -C.EIO;
    }
    if (rc < 0) {
      if (this.log.isLevelEnabled("debug"))
        this.log.debug({ msg: this.messageNames[mid], errno: -rc, via: comm.name }, "error reply");
      comm.discardFds();
    }
    return rc;
  }

  private onSocketReady(revents: number): void {
    if (this.closed) return;
    const sock = this.sock;
    if (sock.blocked()) {
      const f = sock.flush();
      if (f === "broken") return this.close("send failed");
      if (!f) return;
      this.loop.setEvents(sock.fd, C.POLLIN | C.POLLRDHUP);
    }
    if (revents & (C.POLLHUP | C.POLLRDHUP | C.POLLERR)) sock.readAgain();
    for (;;) {
      const len = sock.receive();
      if (len === WAIT) break;
      if (len === CLOSED) return this.close(sock.closeReason);
      const mid = sock.mid;
      const obs = this.observer;
      const t0 = obs === null ? 0 : obs.begin(sock, mid, sock.payloadOff, len, sock.tag);
      const rc = this.handle(sock, mid, len);
      const replyLen = rc < 0 ? this.errorReply(sock, -rc) : rc;
      if (obs !== null) obs.end(sock, mid, len, rc, sock.payloadOff, replyLen, t0, sock.tag);
      if (!sock.send(mid, rc < 0, replyLen)) return this.close("send failed");
      if (sock.blocked()) {
        // Stop reading until the client takes its reply.
        this.loop.setEvents(sock.fd, C.POLLOUT);
        return;
      }
    }
    if (revents & (C.POLLHUP | C.POLLERR | C.POLLNVAL)) this.close("hangup");
  }

  serveChannel(ch: Channel): void {
    const taken = ch.endpoint.takeRequest();
    if (taken !== true) {
      if (taken !== false) this.dropChannel(ch, taken);
      return;
    }
    const len = ch.request();
    if (len < 0) {
      this.dropChannel(ch, `malformed datagram (${ch.endpoint.dataLen()} bytes)`);
      return;
    }
    const mid = ch.mid;
    const obs = this.observer;
    const t0 = obs === null ? 0 : obs.begin(ch, mid, ch.payloadOff, len);
    const rc = this.handle(ch, mid, len);
    const replyLen = rc < 0 ? this.errorReply(ch, -rc) : rc;
    if (obs !== null) obs.end(ch, mid, len, rc, ch.payloadOff, replyLen, t0);
    if (!ch.respond(mid, rc < 0, replyLen)) this.dropChannel(ch, "client shut the channel down");
  }

  // ---- channels -------------------------------------------------------------------

  /**
   * Makes a channel with a window of `windowSize` bytes and puts it on the
   * loop: the window cut from the connection's packet-window memfd (made
   * with the first), an FD socketpair. Returns it, or -errno with nothing
   * left open (the window's space stays taken: it is never reused).
   */
  protected openChannel(windowSize: number): Channel | number {
    if (!this.alloc) {
      const a = PacketWindowAllocator.create();
      if (typeof a === "number") return a;
      this.alloc = a;
    }
    const win = this.alloc.allocate(windowSize);
    if (typeof win === "number") return win;
    const ep = ServerEndpoint.map(this.alloc.fd, win.offset, win.length);
    if (typeof ep === "number") return ep;
    const pair = libc.socketpair(C.AF_UNIX, C.SOCK_SEQPACKET | C.SOCK_CLOEXEC, 0);
    if (typeof pair === "number") {
      ep.unmap();
      return pair;
    }
    // Our end never blocks the loop: a client that stops taking FDs loses them.
    libc.fcntl(pair[0], C.F_SETFL, C.O_NONBLOCK);
    const ch = this.newChannel({ endpoint: ep, fdSock: pair[0], clientSock: pair[1], window: win, id: nextChannelId++ });
    const rc = this.loop.addChannel(ch);
    if (rc < 0) {
      this.log.warn({ errno: -rc }, "channel refused: no helper thread for it");
      ch.shutdown();
      ch.destroy();
      return rc;
    }
    this.channels.push(ch);
    return ch;
  }

  /** Whether the packet-window memfd exists (a channel was tried). */
  protected get hasWindows(): boolean {
    return this.alloc !== null;
  }

  /** A dup of the packet-window memfd, for the client to map, or -errno. */
  protected dupWindows(): number {
    return this.alloc === null ? -C.EBADF : libc.dup(this.alloc.fd);
  }

  protected dropChannel(ch: Channel, why: string): void {
    const i = this.channels.indexOf(ch);
    if (i < 0) return;
    this.log.debug({ channel: ch.name, why }, "channel closed");
    this.channels[i] = null;
    ch.shutdown();
    this.loop.removeChannel(ch);
    ch.destroy();
  }

  /** Live flipcall channels (metrics). */
  get channelCount(): number {
    let n = 0;
    for (const ch of this.channels) if (ch !== null) n++;
    return n;
  }

  // ---- the end ----------------------------------------------------------------------

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.log.info({ why, fds: this.fdCount, channels: this.channelCount }, "connection closed");
    this.loop.removeSocket(this.sock.fd);
    for (const ch of this.channels) {
      if (ch === null) continue;
      ch.shutdown();
      this.loop.removeChannel(ch);
      ch.destroy();
    }
    this.channels = [];
    this.alloc?.destroy();
    this.alloc = null;
    this.releaseAll();
    this.sock.close();
    this.onClose();
  }
}
