// The gofer process: serves each inherited socket with the protocol its
// client speaks, all on one event loop, and exits 0 when the last client is
// gone.
import type { Logger } from "./log";
import * as C from "./ffi/constants";
import * as libc from "./ffi/libc";
import { Mount, type Policy } from "./host/file";
import { Node } from "./host/node";
import { Connection } from "./lisafs/connection";
import { EventLoop, type LoopMode } from "./loop/loop";

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

  /** Starts serving one socket. */
  serve(spec: ServeSpec): void {
    const mount = new Mount(spec.hostPath, spec.policy, this.tree);
    const log = this.opts.log.child({ fd: spec.fd, mount: spec.hostPath });
    this.live++;
    if (this.opts.protocol === "lisafs") return this.startLisafs(mount, spec.fd, log);
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
        const proto = detectProtocol(peek);
        if (proto === "p9" && this.opts.protocol !== "p9") {
          log.error("client speaks 9P, which this build does not serve yet; closing (use a lisafs client)");
          libc.close(spec.fd);
          return this.ended();
        }
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
