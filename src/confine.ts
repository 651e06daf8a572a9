// The serving stage's last step before its first request: from here on the
// process needs no exec, mount, namespace or kernel-admin syscall, so the
// seccomp filter denies them (docs/seccomp.md).
import { deniedSyscalls, installFilter } from "./ffi/seccomp";
import type { Logger } from "./log";

export function confine(log: Logger): void {
  const rc = installFilter();
  if (rc < 0) {
    // A kernel without seccomp filters: serve anyway, as before the filter.
    log.warn({ errno: -rc }, "seccomp filter not installed; the gofer runs without a syscall filter");
    return;
  }
  log.info({ denied: deniedSyscalls().length }, "seccomp filter installed");
}
