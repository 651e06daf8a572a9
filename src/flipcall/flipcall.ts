// The server side of gVisor's flipcall (pkg/flipcall): a shared-memory packet
// window whose first word is a futex-backed connection state. The client
// writes a datagram, flips the state to "server active" and FUTEX_WAKEs; the
// server answers in place, flips it back and wakes the client.
//
// Unlike gVisor's Endpoint this one never blocks: the event loop waits on the
// state words of all channels at once and calls in when one flips.
import { toArrayBuffer } from "bun:ffi";
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";

/** Packet window header: connState u32, dataLen u32, 8 reserved bytes. */
export const PacketHeader = { size: 16, connState: 0, dataLen: 4 } as const;
export const ConnState = { ClientActive: 0, ServerActive: 1, Shutdown: 2 } as const;

const PAGE = 4096;
const roundUpToPage = (n: number) => Math.ceil(n / PAGE) * PAGE;

/** Hands out page-aligned packet windows from one sealed memfd. */
export class PacketWindowAllocator {
  private nextAlloc = 0;
  private fileSize = 0;
  private constructor(readonly fd: number) {}

  static create(): PacketWindowAllocator | number {
    const fd = libc.memfdCreate("flipcall_packet_windows", C.MFD_CLOEXEC | C.MFD_ALLOW_SEALING);
    if (fd < 0) return fd;
    // The client maps the same file: it must never be able to shrink it under us.
    const rc = libc.fcntl(fd, C.F_ADD_SEALS, C.F_SEAL_SHRINK | C.F_SEAL_SEAL);
    if (rc < 0) {
      libc.close(fd);
      return rc;
    }
    return new PacketWindowAllocator(fd);
  }

  allocate(size: number): { offset: number; length: number } | number {
    const length = roundUpToPage(size);
    const end = this.nextAlloc + length;
    if (end > this.fileSize) {
      let newSize = Math.max(this.fileSize * 2, PAGE);
      while (newSize < end) newSize *= 2;
      const rc = libc.ftruncate(this.fd, newSize);
      if (rc < 0) return rc;
      this.fileSize = newSize;
    }
    const offset = this.nextAlloc;
    this.nextAlloc = end;
    return { offset, length };
  }

  destroy(): void {
    libc.close(this.fd);
  }
}

/** One mapped packet window, server side. */
export class ServerEndpoint {
  /** Address of the packet window (its state word is the futex). */
  readonly base: number;
  readonly length: number;
  readonly dataCap: number;
  /** Address of the datagram area. */
  readonly dataAddr: number;
  readonly data: Uint8Array;
  readonly dataView: DataView;
  private readonly words: Int32Array;
  /** The client's connection handshake has been answered. */
  connected = false;
  private mapped = true;

  private constructor(base: number, length: number) {
    this.base = base;
    this.length = length;
    this.dataCap = length - PacketHeader.size;
    this.dataAddr = base + PacketHeader.size;
    const ab = toArrayBuffer(base, 0, length);
    this.words = new Int32Array(ab, 0, 2);
    this.data = new Uint8Array(ab, PacketHeader.size, this.dataCap);
    this.dataView = new DataView(ab, PacketHeader.size, this.dataCap);
  }

  static map(fd: number, offset: number, length: number): ServerEndpoint | number {
    const base = libc.mmap(length, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, fd, offset);
    if (base < 0) return base;
    return new ServerEndpoint(base, length);
  }

  state(): number {
    return Atomics.load(this.words, 0);
  }

  /** Length of the datagram the client sent. */
  dataLen(): number {
    return Atomics.load(this.words, 1) >>> 0;
  }

  /**
   * What a wake of this endpoint brings: true when a request is in the
   * packet; false when there is nothing to serve (the client's connection
   * handshake, answered here); otherwise why the channel must be dropped
   * (the client shut it down, garbage in the state word, a bad handshake).
   */
  takeRequest(): boolean | string {
    const state = this.state();
    if (state !== ConnState.ServerActive) {
      return state === ConnState.Shutdown ? "client shut the channel down" : `bad channel state ${state}`;
    }
    if (this.connected) return true;
    if (this.dataLen() > this.dataCap || !this.acceptConnection()) return "bad connection request";
    return false;
  }

  /** Sends `len` bytes of datagram back and makes the client active. Returns
   * false if the client shut the channel down meanwhile. */
  reply(len: number): boolean {
    Atomics.store(this.words, 1, len);
    const prev = Atomics.compareExchange(this.words, 0, ConnState.ServerActive, ConnState.ClientActive);
    if (prev !== ConnState.ServerActive) return false;
    libc.futexWake(this.base, 1, 0 /* shared: the client is another process */);
    return true;
  }

  /** Answers the client's connection request (a JSON "{}"), as flipcall's
   * ctrlWaitFirst does. */
  acceptConnection(): boolean {
    this.data[0] = 0x7b; // {
    this.data[1] = 0x7d; // }
    this.data[2] = 0x0a;
    this.connected = true;
    return this.reply(3);
  }

  /** Marks the channel dead and wakes a client waiting on it. */
  shutdown(): void {
    if (!this.mapped) return;
    const prev = Atomics.exchange(this.words, 0, ConnState.Shutdown);
    if (prev !== ConnState.Shutdown) libc.futexWake(this.base, 0x7fffffff, 0);
  }

  unmap(): void {
    if (!this.mapped) return;
    this.mapped = false;
    libc.munmap(this.base, this.length);
  }
}
