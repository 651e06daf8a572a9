// The gofer process: serves each inherited socket with the protocol its
// client speaks, all on one event loop, and exits 0 when the last client is
// gone.
import type { Logger } from "./log";
import * as C from "./ffi/constants";
import * as libc from "./ffi/libc";
import { Mount, MountRoot } from "./host/mount";
import type { Policy } from "./host/policy";
import { Node } from "./host/node";
import { Connection as LisafsConnection } from "./lisafs/connection";
import { acceptOne, type ListenAddr, listenOn } from "./listen";
import { EventLoop, type LoopMode } from "./loop/loop";
import { Poller } from "./loop/shared";
import type { Connection as P9Connection } from "./p9/connection";
import { ConnObserver, type Observation } from "./observe/observer";
import { keepP9OffFTL, keepServingCodeOffFTL } from "./jit";

// 9P is loaded on its first connection: a sandbox's gofer (lisafs) never
// evaluates it (a few ms of every start, docs/benchmarks-runsc.md).
let p9: typeof P9Connection | null = null;
const loadP9 = () => {
  if (p9 === null) {
    p9 = (require("./p9/connection") as typeof import("./p9/connection")).Connection;
    keepP9OffFTL();
  }
  return p9;
};

export type Protocol = "auto" | "lisafs" | "p9";

export interface ServeSpec {
  fd: number;
  /** Absolute host path, a byte string (one char per byte). */
  hostPath: string;
  policy: Policy;
  /** The mount point opened already (shared by --listen's connections);
   * without it serve() opens it, once. */
  root?: MountRoot;
}

export interface ServerOptions {
  protocol: Protocol;
  loopMode: LoopMode | "auto";
  log: Logger;
  /** Connections served at once; more are accepted and closed at once. */
  maxConnections?: number;
  /** Host FDs one connection may hold: a number; "share", half of what
   * the FD ceiling leaves (the native form's default: its connections may
   * be different clients); absent, no per-connection limit, only the
   * process-wide ceiling (runsc's form: every connection is the one
   * sandbox's, and gVisor's gofer has only the process limit). */
  fdsPerConnection?: number | "share";
  /** --trace and --metrics (src/observe/); absent when both are off. */
  observe?: Observation;
}

/** FD numbers kept free for the process itself (libc.setFdCeiling): Bun's
 * Workers (5 each), the logger, accepting and refusing a connection. */
export const FD_RESERVE = 64;
/** Default bound on connections served at once (--listen). */
export const MAX_CONNECTIONS = 1024;

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
    // Before any request makes them hot (src/jit.ts).
    keepServingCodeOffFTL();
  }

  /** Connections being served now. */
  private connections = 0;
  private fdsPerConnection = 0;

  /**
   * Sets the process-wide FD ceiling (RLIMIT_NOFILE less FD_RESERVE) and the
   * per-connection share: by default half of what is left above the FDs
   * the process holds now, so that one client at its limit leaves as much
   * again for the others. Re-read at each serve(): runsc's form sets the
   * limit (--fdlimit) after the server is made.
   */
  private fdBudget(): number {
    let lim = libc.nofileLimit();
    // As Go programs (gVisor's gofer among them) do at start: the soft limit
    // up to the hard one (runsc's --fdlimit sets both).
    if (typeof lim !== "number" && lim.soft < lim.hard && libc.setNofileSoft(lim.hard) === 0) lim = libc.nofileLimit();
    const want = this.opts.fdsPerConnection;
    const unlimited = Number.MAX_SAFE_INTEGER;
    if (typeof lim === "number" || lim.soft > 1 << 30) return typeof want === "number" ? want : unlimited;
    const ceiling = Math.max(lim.soft - FD_RESERVE, 32);
    libc.setFdCeiling(ceiling);
    if (typeof want === "number") return want;
    if (want === undefined) return unlimited;
    // The lowest free FD number: what the process holds before any client.
    const probe = libc.eventfd(0, C.EFD_CLOEXEC);
    if (probe >= 0) libc.close(probe);
    const lowestFree = probe >= 0 ? Math.min(probe, ceiling) : 0;
    return Math.max(16, Math.floor((ceiling - lowestFree) / 2));
  }

  /** Starts serving one socket. `tcp`: FDs cannot travel on it. */
  serve(spec: ServeSpec, tcp = false): void {
    if (this.fdsPerConnection === 0 || !spec.root) this.fdsPerConnection = this.fdBudget();
    const root = spec.root ?? MountRoot.open(spec.hostPath);
    if (root.fd < 0) this.opts.log.warn({ mount: spec.hostPath, errno: -root.fd }, "cannot open the mount point; its clients get this errno");
    const mount = new Mount(root, spec.policy, this.tree);
    mount.fdLimit = this.fdsPerConnection;
    const log = this.opts.log.child({ fd: spec.fd, mount: spec.hostPath });
    this.live++;
    this.connections++;
    if (this.opts.protocol === "lisafs") return this.startLisafs(mount, spec.fd, log);
    if (this.opts.protocol === "p9") return this.startP9(mount, spec.fd, !tcp, log);
    // Wait for the first bytes to choose.
    const peek = new Uint8Array(8);
    this.addSocketOrEnd(spec.fd, log, {
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

  /** Watches a socket, or ends that connection if the loop is full (the
   * connection limit keeps it from being so). */
  private addSocketOrEnd(fd: number, log: Logger, w: Parameters<EventLoop["addSocket"]>[0]): void {
    if (this.loop.addSocket(w)) return;
    log.warn("event loop full; connection closed");
    libc.close(fd);
    this.ended();
  }

  private startLisafs(mount: Mount, fd: number, log: Logger): void {
    log.debug("serving lisafs");
    const c = new LisafsConnection(mount, fd, this.loop, log, () => this.connectionEnded(c, mount));
    this.observe(c, "lisafs");
  }

  private startP9(mount: Mount, fd: number, canDonate: boolean, log: Logger): void {
    log.debug("serving 9P");
    const c = new (loadP9())(mount, fd, canDonate, this.loop, log, () => this.connectionEnded(c, mount));
    this.observe(c, "p9");
  }

  private connectionEnded(c: LisafsConnection | P9Connection, mount: Mount): void {
    c.observer?.retire();
    mount.close();
    this.ended();
  }

  private nextConnectionId = 1;

  /** --trace / --metrics for a new connection, when either is on. */
  private observe(c: LisafsConnection | P9Connection, protocol: "lisafs" | "p9"): void {
    const o = this.opts.observe;
    if (o) c.observer = new ConnObserver(this.nextConnectionId++, protocol, o.metrics, o.tracer, () => c.channelCount);
  }

  /** Nodes in the path tree now (docs/path-tracking.md), for --metrics. */
  pathNodes(): number {
    let n = 0;
    const stack = [this.tree];
    while (stack.length > 0) {
      const node = stack.pop()!;
      n++;
      if (node.children) for (const child of node.children.values()) stack.push(child);
    }
    return n;
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
    // The mount point, once: every connection is served from this FD.
    const root = template.root ?? MountRoot.open(template.hostPath);
    this.fdsPerConnection = this.fdBudget();
    const max = Math.min(this.opts.maxConnections ?? MAX_CONNECTIONS, Poller.maxFds - 64);
    let refused = 0;
    this.live++;
    this.loop.addSocket({
      fd: l.fd,
      events: C.POLLIN,
      onReady: () => {
        // At most a backlog's worth per wake: other connections' requests
        // wait for no more than that.
        for (let n = 0; n < 128; n++) {
          const fd = acceptOne(l.fd, tcp);
          if (fd < 0) {
            if (fd === -C.EAGAIN || fd === -C.EINTR) return;
            // EMFILE from our FD ceiling means the connection was taken off
            // the backlog and closed; anything else may leave it there, and
            // the loop comes back at its next wake.
            if (fd !== -C.EMFILE) {
              this.opts.log.warn({ errno: -fd }, "accept failed");
              return;
            }
            if (refused++ % 1000 === 0) this.opts.log.warn({ refused }, "connection refused: out of FDs");
            continue;
          }
          if (this.connections >= max) {
            // Accepted and closed at once: the client sees EOF rather than
            // waiting in the backlog, and the backlog cannot fill for good.
            libc.close(fd);
            if (refused++ % 1000 === 0) this.opts.log.warn({ max, refused }, "connection refused: connection limit reached");
            continue;
          }
          this.opts.log.info({ fd, listen: l.where }, "client connected");
          this.serve({ ...template, fd, root }, tcp);
        }
      },
    });
    this.opts.log.info({ listen: l.where }, "listening");
    return l.where;
  }

  private ended(): void {
    this.connections--;
    if (--this.live === 0) this.loop.stop();
  }

  /** Serves until every connection has ended. */
  run(): void {
    this.opts.log.info({ eventLoop: this.loop.mode }, "gofer serving");
    this.loop.run();
    this.loop.shutdown();
  }
}
