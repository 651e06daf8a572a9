// What a handler sees of the transport a request came on (gVisor's
// Communicator): the buffer holding the request payload, where the response
// payload is written in place, and the list of FDs to donate with it.

export interface Comm {
  /** Buffer holding the payload at `payloadOff`; re-read after reserve(). */
  u8: Uint8Array;
  view: DataView;
  /** Address of u8[0], for syscalls that read or write the payload directly. */
  addr: number;
  readonly payloadOff: number;
  /** Makes room for a response payload of `size` bytes, keeping the request
   * bytes in place. False if the transport cannot carry that much. */
  reserve(size: number): boolean;
  /** Host FDs to send with the response; the transport closes them after. */
  donate(fd: number): void;
  readonly name: string;
}
