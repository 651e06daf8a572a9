/** A negative errno. Every host call answers one for a failure, returned,
 * never thrown; 0 or a non-negative result (an FD, a length) otherwise. */
export type Errno = number;
