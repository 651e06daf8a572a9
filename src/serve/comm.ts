// What a handler sees of the transport a request came on (gVisor's
// pkg/lisafs Communicator): the buffer holding the request payload, where
// the reply payload is written in place, and the host FDs to donate with it.
// Both protocols' sockets and flipcall channels are one (sock.ts, channel.ts).

export interface Comm {
  /** Buffer holding the payload at `payloadOff`; re-read after reserve(). */
  u8: Uint8Array;
  view: DataView;
  /** Address of u8[0], for syscalls that read or write the payload directly. */
  addr: number;
  /** Where the payload starts in u8: the size of the transport's header. */
  readonly payloadOff: number;
  /** Makes room for a reply payload of `size` bytes, keeping the request
   * bytes in place. False if the transport cannot carry that much. */
  reserve(size: number): boolean;
  /** The largest reply payload the transport carries now. */
  maxPayload(): number;
  /** Whether FDs can travel at all (not over TCP). */
  readonly canDonate: boolean;
  /** A host FD to send with the reply; the transport closes it after. */
  donate(fd: number): void;
  /** Closes the FDs donated for a reply that will not be sent (an error). */
  discardFds(): void;
  /** The request's tag where the framing has one (9P's socket), else -1:
   * for traces and logs. */
  readonly tag: number;
  /** For logs: "sock N" or "channel N". */
  readonly name: string;
}
