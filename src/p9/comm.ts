// What a p9 handler sees of the transport a request came on: the buffer
// holding the request body at `bodyOff`, where the response body is written
// in place, and the host FD (at most one, as in gVisor's p9) to send with it.

export interface P9Comm {
  /** Buffer holding the body at `bodyOff`; re-read after reserve(). */
  u8: Uint8Array;
  view: DataView;
  /** Address of u8[0], for syscalls that read or write the body directly. */
  addr: number;
  readonly bodyOff: number;
  /** Makes room for a response body of `size` bytes, keeping the request in
   * place. False if the transport cannot carry that much (msize). */
  reserve(size: number): boolean;
  /** Largest response body this transport carries. */
  maxBody(): number;
  /** A host FD to send with the response; the transport closes it after. */
  donate(fd: number): void;
  /** Whether FDs can be sent at all (not over TCP). */
  readonly canDonate: boolean;
  readonly name: string;
}
