// Wiring of --trace and --metrics into a server (both command-line forms).
import type { ListenAddr } from "../listen";
import type { Logger } from "../log";
import type { Server } from "../server";
import { type MetricsEndpoint, serveMetrics } from "./endpoint";
import { exposition, memory, openFds, snapshot, type Snapshot } from "./exposition";
import { Metrics } from "./metrics";
import type { Observation } from "./observer";
import { catchSignal, SIGUSR1 } from "./signal";
import { Tracer, type TraceFilter } from "./trace";

/** What the server observes; undefined when neither is asked for, so that
 * connections get no observer at all. */
export function observation(trace: TraceFilter | undefined, metrics: boolean, log: Logger, level: "info" | "debug"): Observation | undefined {
  if (!trace && !metrics) return undefined;
  return { metrics: metrics ? new Metrics() : null, tracer: trace ? new Tracer(log, level, trace) : null };
}

/** The metrics of `server` now. */
export function currentSnapshot(server: Server, metrics: Metrics): Snapshot {
  const mem = memory();
  return snapshot(metrics, {
    openFds: openFds(),
    pathNodes: server.pathNodes(),
    channels: metrics.liveChannels(),
    connections: metrics.connections().length,
    memoryAnonymousBytes: mem.anonymous,
    memoryRssBytes: mem.rss,
  });
}

/**
 * Serves the metrics on `addr` and logs them (one record, at info) on
 * SIGUSR1. Returns the endpoint or -errno from listening.
 */
export function startMetrics(server: Server, metrics: Metrics, addr: ListenAddr, log: Logger): MetricsEndpoint | number {
  const ep = serveMetrics(server.loop, addr, () => exposition(currentSnapshot(server, metrics)), log);
  if (typeof ep === "number") return ep;
  const flag = catchSignal(SIGUSR1);
  if (typeof flag === "number") log.warn({ errno: -flag }, "SIGUSR1 not caught: the metrics are served but not logged on a signal");
  else
    server.loop.onSignal = () => {
      if (flag.take()) log.info({ metrics: currentSnapshot(server, metrics) }, "metrics");
    };
  return ep;
}
