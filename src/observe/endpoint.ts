// --metrics unix:/PATH|tcp:127.0.0.1:PORT: a minimal HTTP/1.1 server for
// Prometheus scrapes, on the gofer's own event loop. The main thread never
// returns to Bun's event loop (docs/event-loop.md), so Bun.serve or node:net
// would never run; instead the listening socket and each scrape's socket
// are watched by the loop like a client's, non-blocking, and a scrape is
// rendered from the counters when its request has arrived, in one go
// (docs/observability.md has what that costs).
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";
import { acceptOne, type ListenAddr, listenOn } from "../listen";
import type { Logger } from "../log";
import type { EventLoop } from "../loop/loop";

/** Scrape connections open at once; one more closes the oldest. */
const MAX_SCRAPERS = 8;
/** A request head larger than this is refused (a scrape's is ~100 bytes). */
const MAX_HEAD = 8192;

interface Scraper {
  fd: number;
  head: string;
  out: Buffer | null;
  sent: number;
}

export interface MetricsEndpoint {
  where: string;
  close(): void;
}

/** Listens on `addr` and answers GET /metrics (or /) with `render()`. */
export function serveMetrics(loop: EventLoop, addr: ListenAddr, render: () => string, log: Logger): MetricsEndpoint | number {
  const l = listenOn(addr);
  if (typeof l === "number") return l;
  const buf = libc.pinnedBytes(4096);
  const scrapers: Scraper[] = [];

  const drop = (s: Scraper) => {
    const i = scrapers.indexOf(s);
    if (i < 0) return;
    scrapers.splice(i, 1);
    loop.removeSocket(s.fd);
    libc.close(s.fd);
  };

  const reply = (s: Scraper, status: string, body: string, type = "text/plain; charset=utf-8") => {
    const b = Buffer.from(body, "utf8");
    const head = `HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nContent-Length: ${b.byteLength}\r\nConnection: close\r\n\r\n`;
    s.out = Buffer.concat([Buffer.from(head, "latin1"), b]);
    s.sent = 0;
    flush(s);
  };

  const flush = (s: Scraper) => {
    const out = s.out!;
    while (s.sent < out.byteLength) {
      const n = libc.send(s.fd, libc.addr(out) + s.sent, out.byteLength - s.sent, C.MSG_DONTWAIT | C.MSG_NOSIGNAL);
      if (n === -C.EAGAIN) {
        loop.setEvents(s.fd, C.POLLOUT);
        return;
      }
      if (n === -C.EINTR) continue;
      if (n <= 0) break;
      s.sent += n;
    }
    drop(s);
  };

  const onReadable = (s: Scraper, revents: number) => {
    if (s.out) {
      if (revents & (C.POLLERR | C.POLLHUP)) return drop(s);
      return flush(s);
    }
    for (;;) {
      const n = libc.recv(s.fd, libc.addr(buf), buf.byteLength, C.MSG_DONTWAIT);
      if (n === -C.EAGAIN) break;
      if (n === -C.EINTR) continue;
      if (n <= 0) return drop(s);
      s.head += Buffer.from(buf.buffer, buf.byteOffset, n).toString("latin1");
      if (s.head.length > MAX_HEAD) return reply(s, "431 Request Header Fields Too Large", "request head too large\n");
      if (s.head.includes("\r\n\r\n") || s.head.includes("\n\n")) break;
    }
    if (!(s.head.includes("\r\n\r\n") || s.head.includes("\n\n"))) {
      if (revents & (C.POLLHUP | C.POLLRDHUP | C.POLLERR)) drop(s);
      return;
    }
    const [method, path] = s.head.split(/[ \r\n]/, 2);
    if (method !== "GET" && method !== "HEAD") return reply(s, "405 Method Not Allowed", "only GET\n");
    const p = (path ?? "").split("?")[0];
    if (p !== "/metrics" && p !== "/") return reply(s, "404 Not Found", "the metrics are at /metrics\n");
    let body: string;
    try {
      body = render();
    } catch (err) {
      log.error({ err }, "rendering the metrics failed");
      return reply(s, "500 Internal Server Error", "rendering the metrics failed; see the gofer's log\n");
    }
    reply(s, "200 OK", method === "HEAD" ? "" : body, "text/plain; version=0.0.4; charset=utf-8");
  };

  loop.addSocket({
    fd: l.fd,
    events: C.POLLIN,
    onReady: () => {
      for (let n = 0; n < MAX_SCRAPERS; n++) {
        const fd = acceptOne(l.fd, addr.kind === "tcp");
        if (fd < 0) return;
        if (scrapers.length >= MAX_SCRAPERS) drop(scrapers[0]);
        const s: Scraper = { fd, head: "", out: null, sent: 0 };
        if (!loop.addSocket({ fd, events: C.POLLIN | C.POLLRDHUP, onReady: (rev) => onReadable(s, rev) })) {
          libc.close(fd);
          continue;
        }
        scrapers.push(s);
      }
    },
  });
  log.info({ metrics: l.where }, "serving metrics");
  return {
    where: l.where,
    close() {
      for (const s of [...scrapers]) drop(s);
      loop.removeSocket(l.fd);
      libc.close(l.fd);
    },
  };
}
