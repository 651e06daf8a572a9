// Logging: pino JSON lines, written synchronously (the main thread never
// returns to Bun's event loop, so an async destination would never flush).
import pino, { type Logger } from "pino";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

export function makeLogger(level: LogLevel, fd = 2): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ fd, sync: true }));
}
