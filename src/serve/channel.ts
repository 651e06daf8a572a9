// A flipcall channel, as both protocols use it (gVisor's pkg/lisafs
// channel.go, pkg/p9 transport_flipcall.go): a packet window in shared
// memory carrying one request and then its reply, and a SOCK_SEQPACKET
// socket on which the FDs a reply donates travel, one per message, before
// the reply is published. The protocol's subclass reads and writes the
// datagram's header (request(), respond()).
//
// The channel is also what the event loop watches (its ChannelWatch): the
// loop reads its state word and calls onReady() to serve it.
import * as libc from "../ffi/libc";
import { closeAll, DonatedFds, sendWithFds } from "../ffi/scm";
import { ConnState, type ServerEndpoint } from "../flipcall/flipcall";
import type { ChannelWatch } from "../loop/loop";
import type { Comm } from "./comm";

/** Channels per connection: as gVisor, between 2 and 4 by CPU count. */
export const MAX_CHANNELS = Math.min(4, Math.max(2, navigator.hardwareConcurrency || 2));

/** Where a channel's window is in the connection's packet-window memfd. */
export interface ChannelWindow {
  offset: number;
  length: number;
}

/** What the serving core made for a channel: its mapped window, the FD
 * socketpair, and its ID (unique in the process: logs, traces). */
export interface ChannelParts {
  endpoint: ServerEndpoint;
  /** Our end of the FD socketpair. */
  fdSock: number;
  /** The client's end. */
  clientSock: number;
  window: ChannelWindow;
  id: number;
}

/** Serves a channel's request when the loop finds one (Connection). */
export interface ChannelServer {
  serveChannel(ch: Channel): void;
}

export abstract class Channel implements Comm, ChannelWatch {
  readonly endpoint: ServerEndpoint;
  /** Our end of the FD socketpair. */
  readonly fdSock: number;
  /** The client's end until it is handed out (takeClientSock). */
  private clientEnd: number;
  readonly window: ChannelWindow;
  readonly id: number;
  readonly name: string;
  readonly u8: Uint8Array;
  readonly view: DataView;
  readonly addr: number;
  /** The channel's futex word (flipcall connection state), for the loop. */
  readonly stateAddr: number;
  readonly canDonate = true;
  /** The request request() read: its message ID. Channels carry no tag. */
  mid = 0;
  readonly tag = -1;
  /** Shut down: the loop no longer serves it. */
  dead = false;
  private readonly donated = new DonatedFds();

  constructor(
    private readonly server: ChannelServer,
    parts: ChannelParts,
    /** The datagram header's size. */
    readonly payloadOff: number,
  ) {
    this.endpoint = parts.endpoint;
    this.fdSock = parts.fdSock;
    this.clientEnd = parts.clientSock;
    this.window = parts.window;
    this.id = parts.id;
    this.u8 = parts.endpoint.data;
    this.view = parts.endpoint.dataView;
    this.addr = parts.endpoint.dataAddr;
    this.stateAddr = parts.endpoint.base;
    this.name = `channel ${parts.id}`;
  }

  /**
   * The request now in the packet: returns its payload length (mid set), or
   * -1 if the datagram is malformed (the channel is then dropped, as gVisor's
   * serving goroutine gives up on it).
   */
  abstract request(): number;

  /** Publishes the reply built in place to request `mid` (an error reply if
   * `failed`), its FDs sent first. False if the client shut the channel down. */
  abstract respond(mid: number, failed: boolean, payloadLen: number): boolean;

  abstract maxPayload(): number;

  /** The state word says the client handed us the packet (or shut down). */
  pending(): boolean {
    return !this.dead && this.endpoint.state() !== ConnState.ClientActive;
  }

  onReady(): void {
    this.server.serveChannel(this);
  }

  reserve(size: number): boolean {
    return size <= this.maxPayload();
  }

  donate(fd: number): void {
    this.donated.add(fd);
  }

  discardFds(): void {
    this.donated.discard();
  }

  /** Sends the donated FDs on the FD socket, one a message, and closes our
   * copies; returns how many went. More than the header can count (`max`):
   * none goes. Our end of the socket never blocks: a client that stops
   * taking FDs loses them. */
  protected sendFds(max: number): number {
    const fds = this.donated.take();
    // Most replies donate nothing: no loop, no iterator (an iterator over
    // the shared frozen empty array is an allocation per reply in JSC).
    if (fds.length === 0) return 0;
    let sent = 0;
    if (fds.length <= max) {
      for (let i = 0; i < fds.length; i++) {
        if (sendWithFds(this.fdSock, 0, 0, [fds[i]]) < 0) break;
        sent++;
      }
    }
    closeAll(fds);
    return sent;
  }

  /** The client's end of the FD socketpair while the channel holds it
   * (9P hands out dups of it), else -1. */
  get clientSock(): number {
    return this.clientEnd;
  }

  /** Hands the client's end over (lisafs donates it): the caller owns it. */
  takeClientSock(): number {
    const fd = this.clientEnd;
    this.clientEnd = -1;
    return fd;
  }

  /** Shuts the channel down; the caller unregisters it from the loop before
   * destroy() unmaps it. */
  shutdown(): void {
    this.dead = true;
    this.endpoint.shutdown();
  }

  destroy(): void {
    this.discardFds();
    libc.close(this.fdSock);
    if (this.clientEnd >= 0) libc.close(this.clientEnd);
    this.clientEnd = -1;
    this.endpoint.unmap();
  }
}
