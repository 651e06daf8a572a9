// Linux ABI constants shared by x86-64 and arm64 (asm-generic values where the
// two differ are noted). Only what the gofer uses.

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_EMPTY_PATH = 0x1000;

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_ACCMODE = 3;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
// O_DIRECTORY and O_NOFOLLOW differ between x86-64 and arm64.
const arm64 = process.arch === "arm64";
export const O_DIRECTORY = arm64 ? 0o40000 : 0o200000;
export const O_NOFOLLOW = arm64 ? 0o100000 : 0o400000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

export const PATH_MAX = 4096;
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o60000;
export const S_IFDIR = 0o40000;
export const S_IFCHR = 0o20000;
export const S_IFIFO = 0o10000;

export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_SETFD = 2;
export const F_ADD_SEALS = 1033;
export const F_SEAL_SEAL = 1;
export const F_SEAL_SHRINK = 2;
export const F_GETFD = 1;

export const MFD_CLOEXEC = 1;
export const MFD_ALLOW_SEALING = 2;

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;

export const AF_UNIX = 1;
export const AF_INET = 2;
export const SO_REUSEADDR = 2;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_TYPE = 3;
export const SCM_RIGHTS = 1;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const MSG_TRUNC = 0x20;
export const MSG_CTRUNC = 0x8;
export const SHUT_RDWR = 2;

export const POLLIN = 0x1;
export const POLLPRI = 0x2;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
export const POLLRDHUP = 0x2000;

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

export const FUTEX_WAIT = 0;
export const FUTEX_WAKE = 1;
export const FUTEX_PRIVATE_FLAG = 128;
export const FUTEX2_SIZE_U32 = 0x02;
export const FUTEX2_PRIVATE = 128;
export const FUTEX_WAITV_MAX = 128;

export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;

export const STATX_TYPE = 0x1;
export const STATX_MODE = 0x2;
export const STATX_NLINK = 0x4;
export const STATX_UID = 0x8;
export const STATX_GID = 0x10;
export const STATX_ATIME = 0x20;
export const STATX_MTIME = 0x40;
export const STATX_CTIME = 0x80;
export const STATX_INO = 0x100;
export const STATX_SIZE = 0x200;
export const STATX_BLOCKS = 0x400;
export const STATX_BASIC_STATS = 0x7ff;

export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

// renameat2(2) flags.
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;
export const STATX_BTIME = 0x800;

// Syscalls called through syscall(2) because glibc has no wrapper.
export const SYS_futex = arm64 ? 98 : 202;
export const SYS_futex_waitv = 449; // same number on both (asm-generic table)
export const SYS_gettid = arm64 ? 178 : 186;
export const SYS_pivot_root = arm64 ? 41 : 155;
export const SYS_prctl = arm64 ? 167 : 157;
export const SYS_prlimit64 = arm64 ? 261 : 302;
export const SYS_seccomp = arm64 ? 277 : 317;
export const SYS_setuid = arm64 ? 146 : 105;
export const SYS_setgid = arm64 ? 144 : 106;
// Per-thread credential changes (raw syscalls: glibc's wrappers would change
// every thread's; ConnectWithCreds changes only the serving thread's, briefly).
export const SYS_setreuid = arm64 ? 145 : 113;
export const SYS_setregid = arm64 ? 143 : 114;
export const SYS_getuid = arm64 ? 174 : 102;
export const SYS_geteuid = arm64 ? 175 : 107;
export const SYS_getgid = arm64 ? 176 : 104;
export const SYS_getegid = arm64 ? 177 : 108;
export const SYS_capget = arm64 ? 90 : 125;
export const SYS_capset = arm64 ? 91 : 126;
export const SYS_tgkill = arm64 ? 131 : 234;
export const SYS_mprotect = arm64 ? 226 : 10;
// The runsc launch path's calls, as raw system calls: each libc symbol bound
// through bun:ffi costs a compiled trampoline (~0.4 ms) on every start,
// syscall(2) is bound already.
export const SYS_mount = arm64 ? 40 : 165;
export const SYS_umount2 = arm64 ? 39 : 166;
export const SYS_chroot = arm64 ? 51 : 161;
export const SYS_chdir = arm64 ? 49 : 80;
export const SYS_faccessat = arm64 ? 48 : 269;
export const SYS_pipe2 = arm64 ? 59 : 293;
export const SYS_wait4 = arm64 ? 260 : 61;
export const SYS_execve = arm64 ? 221 : 59;

// errno values.
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const EMFILE = 24;
export const ENOTTY = 25;
export const EFBIG = 27;
export const ENOSPC = 28;
export const EROFS = 30;
export const EMLINK = 31;
export const EPIPE = 32;
export const ERANGE = 34;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const ENOTEMPTY = 39;
export const ELOOP = 40;
export const ENODATA = 61;
export const EOVERFLOW = 75;
export const ENOTSOCK = 88;
export const EOPNOTSUPP = 95;
export const ECONNRESET = 104;
export const ENOBUFS = 105;
export const ETIMEDOUT = 110;
export const ECONNREFUSED = 111;
export const EREMOTEIO = 121;
export const CLOCK_MONOTONIC = 1;

// mount(2) flags, umount2(2) flags, prctl(2) ops, rlimits (runsc launch path).
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_SYNCHRONOUS = 0x10;
export const MS_REMOUNT = 0x20;
export const MS_MANDLOCK = 0x40;
export const MS_DIRSYNC = 0x80;
export const MS_NOATIME = 0x400;
export const MS_NODIRATIME = 0x800;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_SILENT = 0x8000;
export const MS_POSIXACL = 0x10000;
export const MS_UNBINDABLE = 0x20000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_RELATIME = 0x200000;
export const MS_I_VERSION = 0x800000;
export const MS_STRICTATIME = 0x1000000;
export const MNT_DETACH = 2;
export const R_OK = 4;
export const F_OK = 0;
export const PR_CAPBSET_READ = 23;
export const PR_CAPBSET_DROP = 24;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;
export const PR_SET_PDEATHSIG = 1;
export const RLIMIT_NOFILE = 7;

/**
 * System call numbers of every call the gofer makes through syscall(2)
 * (src/ffi/libc.ts): one bound libc symbol instead of one compiled
 * bun:ffi trampoline per call (each ~0.4 ms of CPU and ~35 KiB of memory
 * per process, docs/benchmarks-runsc.md). x86-64 first, then arm64.
 */
export const NR = {
  openat: arm64 ? 56 : 257,
  close: arm64 ? 57 : 3,
  dup: arm64 ? 23 : 32,
  fcntl: arm64 ? 25 : 72,
  pread64: arm64 ? 67 : 17,
  pwrite64: arm64 ? 68 : 18,
  read: arm64 ? 63 : 0,
  write: arm64 ? 64 : 1,
  ppoll: arm64 ? 73 : 271,
  umask: arm64 ? 166 : 95,
  fchdir: arm64 ? 50 : 81,
  getpid: arm64 ? 172 : 39,
  exit_group: arm64 ? 94 : 231,
  statx: arm64 ? 291 : 332,
  fstatfs: arm64 ? 44 : 138,
  getdents64: arm64 ? 61 : 217,
  lseek: arm64 ? 62 : 8,
  fsync: arm64 ? 82 : 74,
  fallocate: arm64 ? 47 : 285,
  ftruncate: arm64 ? 46 : 77,
  fchmod: arm64 ? 52 : 91,
  fchmodat: arm64 ? 53 : 268,
  fchownat: arm64 ? 54 : 260,
  utimensat: arm64 ? 88 : 280,
  mkdirat: arm64 ? 34 : 258,
  mknodat: arm64 ? 33 : 259,
  symlinkat: arm64 ? 36 : 266,
  linkat: arm64 ? 37 : 265,
  renameat2: arm64 ? 276 : 316,
  unlinkat: arm64 ? 35 : 263,
  readlinkat: arm64 ? 78 : 267,
  fgetxattr: arm64 ? 10 : 193,
  fsetxattr: arm64 ? 7 : 190,
  flistxattr: arm64 ? 13 : 196,
  fremovexattr: arm64 ? 16 : 199,
  lgetxattr: arm64 ? 9 : 192,
  lsetxattr: arm64 ? 6 : 189,
  llistxattr: arm64 ? 12 : 195,
  lremovexattr: arm64 ? 15 : 198,
  socket: arm64 ? 198 : 41,
  socketpair: arm64 ? 199 : 53,
  bind: arm64 ? 200 : 49,
  listen: arm64 ? 201 : 50,
  accept4: arm64 ? 242 : 288,
  connect: arm64 ? 203 : 42,
  shutdown: arm64 ? 210 : 48,
  getpeername: arm64 ? 205 : 52,
  recvfrom: arm64 ? 207 : 45,
  sendto: arm64 ? 206 : 44,
  getsockopt: arm64 ? 209 : 55,
  setsockopt: arm64 ? 208 : 54,
  getsockname: arm64 ? 204 : 51,
  sendmsg: arm64 ? 211 : 46,
  recvmsg: arm64 ? 212 : 47,
  memfd_create: arm64 ? 279 : 319,
  mmap: arm64 ? 222 : 9,
  munmap: arm64 ? 215 : 11,
  eventfd2: arm64 ? 19 : 290,
  // Not called by our code, named here for the seccomp allow-list
  // (src/ffi/seccomp.ts): Bun's runtime, glibc and the runsc launch path
  // make them. -1: not on that architecture (arm64 has only the *at and
  // p* forms of the old calls).
  fstat: arm64 ? 80 : 5,
  newfstatat: arm64 ? 79 : 262,
  readlink: arm64 ? -1 : 89,
  access: arm64 ? -1 : 21,
  fdatasync: arm64 ? 83 : 75,
  readv: arm64 ? 65 : 19,
  writev: arm64 ? 66 : 20,
  brk: arm64 ? 214 : 12,
  mremap: arm64 ? 216 : 25,
  madvise: arm64 ? 233 : 28,
  mprotect: arm64 ? 226 : 10,
  membarrier: arm64 ? 283 : 324,
  futex: arm64 ? 98 : 202,
  futex_waitv: arm64 ? 449 : 449,
  set_robust_list: arm64 ? 99 : 273,
  rseq: arm64 ? 293 : 334,
  clone: arm64 ? 220 : 56,
  clone3: arm64 ? 435 : 435,
  exit: arm64 ? 93 : 60,
  gettid: arm64 ? 178 : 186,
  sched_yield: arm64 ? 124 : 24,
  sched_getaffinity: arm64 ? 123 : 204,
  sched_setscheduler: arm64 ? 119 : 144,
  prctl: arm64 ? 167 : 157,
  tgkill: arm64 ? 131 : 234,
  rt_sigprocmask: arm64 ? 135 : 14,
  rt_sigaction: arm64 ? 134 : 13,
  rt_sigreturn: arm64 ? 139 : 15,
  rt_sigsuspend: arm64 ? 133 : 130,
  sigaltstack: arm64 ? 132 : 131,
  restart_syscall: arm64 ? 128 : 219,
  epoll_create1: arm64 ? 20 : 291,
  epoll_ctl: arm64 ? 21 : 233,
  epoll_pwait: arm64 ? 22 : 281,
  epoll_pwait2: arm64 ? 441 : 441,
  epoll_wait: arm64 ? -1 : 232,
  timerfd_create: arm64 ? 85 : 283,
  timerfd_settime: arm64 ? 86 : 286,
  timerfd_gettime: arm64 ? 87 : 287,
  clock_gettime: arm64 ? 113 : 228,
  clock_getres: arm64 ? 114 : 229,
  clock_nanosleep: arm64 ? 115 : 230,
  nanosleep: arm64 ? 101 : 35,
  gettimeofday: arm64 ? 169 : 96,
  getrandom: arm64 ? 278 : 318,
  uname: arm64 ? 160 : 63,
  wait4: arm64 ? 260 : 61,
  prlimit64: arm64 ? 261 : 302,
  getrusage: arm64 ? 165 : 98,
  getuid: arm64 ? 174 : 102,
  geteuid: arm64 ? 175 : 107,
  getgid: arm64 ? 176 : 104,
  getegid: arm64 ? 177 : 108,
  setreuid: arm64 ? 145 : 113,
  setregid: arm64 ? 143 : 114,
  ioctl: arm64 ? 29 : 16,
} as const;
