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
      LEVELS[level] < min ? noop : (a?: unknown, m?: string) => (this.pino ??= this.load())[level](a as object, m);
    this.trace = make("trace");
    this.debug = make("debug");
    this.info = make("info");
    this.warn = make("warn");
    this.error = make("error");
    this.fatal = make("fatal");
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

export function makeLogger(level: LogLevel, fd = 2): Logger {
  return new LazyLogger({ level, fd, pino: null }, null);
}
