// The gofer process: serves each inherited socket with the protocol its
// client speaks, all on one event loop, and exits 0 when the last client is
// gone.
import type { Logger } from "./log";
import * as C from "./ffi/constants";
import * as libc from "./ffi/libc";
import { Mount, type Policy } from "./host/file";
import { Node } from "./host/node";
import { Connection } from "./lisafs/connection";
import { acceptOne, type ListenAddr, listenOn } from "./listen";
import { EventLoop, type LoopMode } from "./loop/loop";
import { P9Connection } from "./p9/connection";

export type Protocol = "auto" | "lisafs" | "p9";

export interface ServeSpec {
  fd: number;
  hostPath: string;
  policy: Policy;
}

export interface ServerOptions {
  protocol: Protocol;
  loopMode: LoopMode | "auto";
  log: Logger;
}

const P9_TVERSION = 100;

/** Guesses the protocol from a connection's first bytes: a 9P message opens
 * with size[4] type[1] and Tversion is always first; lisafs opens with an
 * 8-byte header whose message ID (Mount = 1) is at byte 4. */
export function detectProtocol(first: Uint8Array): "lisafs" | "p9" {
  return first[4] === P9_TVERSION ? "p9" : "lisafs";
}

export class Server {
  readonly loop: EventLoop;
  private readonly tree = Node.root();
  private live = 0;

  constructor(private readonly opts: ServerOptions) {
    this.loop = new EventLoop(opts.loopMode);
  }

  /** Starts serving one socket. `tcp`: FDs cannot travel on it. */
  serve(spec: ServeSpec, tcp = false): void {
    const mount = new Mount(spec.hostPath, spec.policy, this.tree);
    const log = this.opts.log.child({ fd: spec.fd, mount: spec.hostPath });
    this.live++;
    if (this.opts.protocol === "lisafs") return this.startLisafs(mount, spec.fd, log);
    if (this.opts.protocol === "p9") return this.startP9(mount, spec.fd, !tcp, log);
    // Wait for the first bytes to choose.
    const peek = new Uint8Array(8);
    this.loop.addSocket({
      fd: spec.fd,
      events: C.POLLIN | C.POLLRDHUP,
      onReady: () => {
        const n = libc.recv(spec.fd, libc.addr(peek), 8, 2 /* MSG_PEEK */ | C.MSG_DONTWAIT);
        if (n === -C.EAGAIN || n === -C.EINTR) return;
        this.loop.removeSocket(spec.fd);
        if (n <= 0) {
          log.info("client left before sending anything");
          libc.close(spec.fd);
          return this.ended();
        }
        if (n < 5) {
          // Too little to tell; lisafs reads the rest.
          return this.startLisafs(mount, spec.fd, log);
        }
        if (detectProtocol(peek) === "p9") return this.startP9(mount, spec.fd, !tcp, log);
        this.startLisafs(mount, spec.fd, log);
      },
    });
  }

  private startLisafs(mount: Mount, fd: number, log: Logger): void {
    log.debug("serving lisafs");
    new Connection(mount, fd, this.loop, log, () => {
      mount.close();
      this.ended();
    });
  }

  private startP9(mount: Mount, fd: number, canDonate: boolean, log: Logger): void {
    log.debug("serving 9P");
    new P9Connection(mount, fd, canDonate, this.loop, log, () => {
      mount.close();
      this.ended();
    });
  }

  /**
   * Serves every connection made to `addr` like an inherited --io-fd, with
   * `template`'s mount and policy. The listener keeps the gofer running.
   * Returns the bound address (the port filled in) or -errno.
   */
  listen(addr: ListenAddr, template: Omit<ServeSpec, "fd">): string | number {
    const l = listenOn(addr);
    if (typeof l === "number") return l;
    const tcp = addr.kind === "tcp";
    this.live++;
    this.loop.addSocket({
      fd: l.fd,
      events: C.POLLIN,
      onReady: () => {
        for (;;) {
          const fd = acceptOne(l.fd, tcp);
          if (fd < 0) {
            if (fd !== -C.EAGAIN && fd !== -C.EINTR) this.opts.log.warn({ errno: -fd }, "accept failed");
            return;
          }
          this.opts.log.info({ fd, listen: l.where }, "client connected");
          this.serve({ ...template, fd }, tcp);
        }
      },
    });
    this.opts.log.info({ listen: l.where }, "listening");
    return l.where;
  }

  private ended(): void {
    if (--this.live === 0) this.loop.stop();
  }

  /** Serves until every connection has ended. */
  run(): void {
    this.opts.log.info({ eventLoop: this.loop.mode }, "gofer serving");
    this.loop.run();
    this.loop.shutdown();
  }
}
