// The serving stage's last step before its first request: from here on the
// process may make only the syscalls serving needs, and the seccomp filter
// answers every other with EPERM (docs/seccomp.md).
import { allowedSyscalls, installFilter } from "./ffi/seccomp";
import * as libc from "./ffi/libc";
import type { Logger } from "./log";

/** GOFER_SECCOMP: unset or "enforce" (the default), or, for diagnosis
 * only, "log" (unlisted calls go through, each logged by the kernel) or
 * "off". An environment variable because runsc's form takes runsc's argv. */
export type SeccompMode = "enforce" | "log" | "off";

export function seccompMode(env: Record<string, string | undefined>): SeccompMode | null {
  const v = env.GOFER_SECCOMP ?? "";
  if (v === "" || v === "enforce") return "enforce";
  return v === "log" || v === "off" ? v : null;
}

/** Installs the syscall filter on every thread; `deviceNodes`: some mount
 * serves with --allow-device-nodes. */
export function confine(log: Logger, deviceNodes = false, env: Record<string, string | undefined> = process.env): void {
  const mode = seccompMode(env);
  if (mode === null) {
    log.error({ GOFER_SECCOMP: env.GOFER_SECCOMP }, "GOFER_SECCOMP must be enforce (the default), log or off");
    process.stderr.write(`gofer: GOFER_SECCOMP=${env.GOFER_SECCOMP}: not a mode; unset it (enforce), or use log or off to diagnose\n`);
    libc.exitNow(2);
  }
  if (mode === "off") {
    log.warn("GOFER_SECCOMP=off: serving without a syscall filter (for diagnosis only)");
    return;
  }
  const opts = { pid: libc.getpid(), logOnly: mode === "log", deviceNodes };
  const rc = installFilter(opts);
  if (rc < 0) {
    // A kernel without seccomp filters: serve anyway, as before the filter.
    log.warn({ errno: -rc }, "seccomp filter not installed; the gofer runs without a syscall filter");
    return;
  }
  if (mode === "log") log.warn("GOFER_SECCOMP=log: syscalls outside the allow-list are let through and logged by the kernel (for diagnosis only)");
  log.info({ allowed: allowedSyscalls(opts).length, mode }, "seccomp filter installed");
}
