// Logging: pino JSON lines, written synchronously (the main thread never
// returns to Bun's event loop, so an async destination would never flush).
//
// pino is loaded on the first record that is actually written: loading it
// costs 50–140 ms of startup on our machines, paid twice under runsc (the
// gofer re-executes itself), and runsc's gofer logs nothing unless asked.
import type { Logger as Pino } from "pino";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

type Bindings = Record<string, unknown>;
type Emit = (objOrMsg?: unknown, msg?: string) => void;

/** The part of pino's Logger the gofer uses. */
export interface Logger {
  child(bindings: Bindings): Logger;
  isLevelEnabled(level: LogLevel): boolean;
  trace: Emit;
  debug: Emit;
  info: Emit;
  warn: Emit;
  error: Emit;
  fatal: Emit;
}

class LazyLogger implements Logger {
  private pino: Pino | null = null;
  readonly trace: Emit;
  readonly debug: Emit;
  readonly info: Emit;
  readonly warn: Emit;
  readonly error: Emit;
  readonly fatal: Emit;

  constructor(
    private readonly root: { level: LogLevel; fd: number; pino: Pino | null },
    private readonly bindings: Bindings | null,
  ) {
    const min = LEVELS[root.level];
    const make = (level: Exclude<LogLevel, "silent">): Emit =>
      LEVELS[level] < min ? noop : (a?: unknown, m?: string) => this.emit(level, a, m);
    this.trace = make("trace");
    this.debug = make("debug");
    this.info = make("info");
    this.warn = make("warn");
    this.error = make("error");
    this.fatal = make("fatal");
  }

  /**
   * Writes one record. Never throws: logging runs inside every error path,
   * including the one where the process is out of FDs or memory, and a throw
   * here would end the process (issue 14). If pino cannot be loaded or
   * fails, the record is written as a JSON line of our own, straight to the
   * log FD; pino is tried again on the next record.
   */
  private emit(level: Exclude<LogLevel, "silent">, a?: unknown, m?: string): void {
    try {
      (this.pino ??= this.load())[level](a as object, m);
    } catch (err) {
      fallbackWrite(this.root.fd, level, this.bindings, a, m, err);
    }
  }

  private load(): Pino {
    if (!this.root.pino) {
      // Deferred on purpose (see above); Bun's bundler keeps a CommonJS
      // module unevaluated until its require() runs.
      const pino = require("pino") as typeof import("pino");
      this.root.pino = pino({ level: this.root.level, base: { pid: process.pid } }, pino.destination({ fd: this.root.fd, sync: true }));
    }
    return this.bindings ? this.root.pino.child(this.bindings) : this.root.pino;
  }

  child(bindings: Bindings): Logger {
    return new LazyLogger(this.root, { ...this.bindings, ...bindings });
  }

  isLevelEnabled(level: LogLevel): boolean {
    return LEVELS[level] >= LEVELS[this.root.level];
  }
}

const noop: Emit = () => {};

/** One JSON line written with write(2) on `fd`, for when pino cannot be
 * used: no module to load, no FD to open. */
function fallbackWrite(fd: number, level: Exclude<LogLevel, "silent">, bindings: Bindings | null, a: unknown, m: string | undefined, why: unknown): void {
  try {
    const rec: Record<string, unknown> = { level: LEVELS[level], time: Date.now(), pid: process.pid, ...bindings };
    if (typeof a === "string") rec.msg = a;
    else if (a && typeof a === "object") {
      for (const [k, v] of Object.entries(a)) rec[k] = v instanceof Error ? { message: v.message } : v;
    }
    if (m !== undefined) rec.msg = m;
    rec.logger = `fallback (${why instanceof Error ? why.message : String(why)})`;
    const line = Buffer.from(`${JSON.stringify(rec, (_k, v) => (typeof v === "bigint" ? String(v) : v))}\n`);
    // Lazily, so that a gofer that never fails to log does not load libc's
    // write trampoline for it.
    const libc = require("./ffi/libc") as typeof import("./ffi/libc");
    libc.writeFd(fd, libc.addr(line), line.byteLength);
  } catch {
    // Nothing left to report with.
  }
}

export function makeLogger(level: LogLevel, fd = 2): Logger {
  return new LazyLogger({ level, fd, pino: null }, null);
}
