// What every FD handed to the sandbox gets first (docs/fd-donation.md).
import * as C from "../ffi/constants";
import * as libc from "../ffi/libc";

/** Makes `fd` ready to hand to the sandbox and returns it: non-blocking, as
 * gVisor's gofer donates them. Best effort: a failed fcntl leaves it as is. */
export function prepareDonation(fd: number): number {
  const fl = libc.fcntl(fd, C.F_GETFL);
  if (fl >= 0 && (fl & C.O_NONBLOCK) === 0) libc.fcntl(fd, C.F_SETFL, fl | C.O_NONBLOCK);
  return fd;
}
