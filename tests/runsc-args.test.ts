// Argument parsing of runsc's gofer command line (src/runsc/args.ts) on its
// own: the argv each runsc really passes (captured from runsc 20240729 and
// today's by a RUNSC_GOFER_OVERRIDE script that wrote its argv and exited),
// Go's flag rules, flags a newer runsc may add, the mount configurations
// `lower:upper[:size=N]`, and the global flags the gofer acts on. Starting
// a gofer in this form is tested in tests/runsc.test.ts and tests/e2e.
import { describe, expect, test } from "bun:test";
import { isRunscForm, parseGoBool, parseRunscArgs, runscConfig, RunscUsageError, usesLisafs, usesOverlay } from "../src/runsc/args";

const words = (s: string) => s.split(" ");

// runsc 20240729: `runsc --directfs=false --host-uds=all --host-fifo=open --fdlimit=4096 --debug --debug-log=DIR/ do /bin/true`.
const OLD_DO = words(
  "--root=/tmp/runsc-do2263963855 --debug-log=/tmp/arch-cap/logs/ --host-uds=all --host-fifo=open --platform=ptrace --rootless=false --fdlimit=4096 --debug=true --overlay2=all:memory --network=none --directfs=false --debug-log-fd=3 gofer --bundle /tmp/runsc-do2263963855 --gofer-mount-confs=lisafs:memory --spec-fd=4 --mounts-fd=5 --io-fds=6",
);
// runsc 20240729: `runsc --overlay2=root:memory run --bundle B ID`, B with two bind mounts.
const OLD_RUN = words(
  "--root=/tmp/arch-cap/state --overlay2=root:memory --network=none --platform=ptrace gofer --bundle /tmp/arch-cap/bundle --gofer-mount-confs=lisafs:memory,lisafs:none,lisafs:none --spec-fd=3 --mounts-fd=4 --io-fds=5 --io-fds=6 --io-fds=7",
);
// Today's runsc, the same `do` as OLD_DO.
const NEW_DO = words(
  "--directfs=false --debug-log=/tmp/arch-cap/logs/ --overlay2=all:memory --host-uds=all --platform=ptrace --fdlimit=4096 --root=/tmp/runsc-do966318194 --debug=true --host-fifo=open --network=none --rootless=false --debug-log-fd=3 gofer --bundle /tmp/runsc-do966318194 --gofer-mount-confs=lisafs:memory --spec-fd=4 --mounts-fd=5 --rpc-fd=6 --pin-ring-fd=7 --sync-sentry-exit-fd=8 --io-fds=9 --sync-chroot-fd=10 runsc-398072",
);
// Today's runsc: `runsc --overlay2=all:memory,size=64m run --bundle B ID`, the same bundle as OLD_RUN.
const NEW_RUN = words(
  "--root=/tmp/arch-cap/state --overlay2=all:memory,size=64m --network=none --platform=ptrace gofer --bundle /tmp/arch-cap/bundle --gofer-mount-confs=lisafs:memory:size=64m,lisafs:memory:size=64m,lisafs:none --spec-fd=3 --mounts-fd=4 --rpc-fd=5 --pin-ring-fd=6 --sync-sentry-exit-fd=7 --io-fds=8 --io-fds=9 --io-fds=10 --sync-chroot-fd=11 arch-cap-13653",
);

/** The smallest valid gofer command line, with `extra` gofer flags before the rest. */
const minimal = (...extra: string[]) => ["gofer", ...extra, "--bundle=/b", "--io-fds=5", "--spec-fd=3", "--gofer-mount-confs=lisafs:none"];

describe("the argv each runsc passes", () => {
  test("20240729's `do`: no container ID, none of today's FDs, its global flags", () => {
    expect(isRunscForm(OLD_DO)).toBe(true);
    const a = parseRunscArgs(OLD_DO);
    expect(a).toMatchObject({
      bundle: "/tmp/runsc-do2263963855",
      ioFds: [6],
      mountConfs: [{ lower: "lisafs", upper: "memory" }],
      specFd: 4,
      mountsFd: 5,
      devIoFd: -1,
      applyCaps: true,
      setupRoot: true,
      rpcFd: -1,
      pinRingFd: -1,
      sentryExitSyncFd: -1,
      syncChrootFd: -1,
      uid: 0,
      gid: 0,
      containerId: undefined,
      unknownFlags: [],
      profileFds: [],
    });
    expect(a.argv).toBe(OLD_DO);
    expect(a.global.get("root")).toBe("/tmp/runsc-do2263963855");
    expect(a.global.get("debug-log")).toBe("/tmp/arch-cap/logs/");
    expect(runscConfig(a.global)).toEqual({
      directfs: false,
      hostUds: "all",
      hostFifo: "open",
      fdLimit: 4096,
      debug: true,
      logFd: -1,
      debugLogFd: 3,
      unsafeNonroot: false,
      charDevicePassthrough: false,
    });
  });

  test("20240729's `run` with two bind mounts: one socket and one conf per mount, root first", () => {
    const a = parseRunscArgs(OLD_RUN);
    expect(a.ioFds).toEqual([5, 6, 7]);
    expect(a.mountConfs).toEqual([
      { lower: "lisafs", upper: "memory" },
      { lower: "lisafs", upper: "none" },
      { lower: "lisafs", upper: "none" },
    ]);
    expect(a.mountConfs.map(usesOverlay)).toEqual([true, false, false]);
    expect(a.containerId).toBeUndefined();
    expect(runscConfig(a.global)).toMatchObject({ directfs: true, hostUds: "none", hostFifo: "none", fdLimit: -1, debug: false });
  });

  test("today's `do`: the container ID and the sync, RPC and pin-ring FDs", () => {
    expect(isRunscForm(NEW_DO)).toBe(true);
    const a = parseRunscArgs(NEW_DO);
    expect(a).toMatchObject({
      bundle: "/tmp/runsc-do966318194",
      ioFds: [9],
      specFd: 4,
      mountsFd: 5,
      rpcFd: 6,
      pinRingFd: 7,
      sentryExitSyncFd: 8,
      syncChrootFd: 10,
      containerId: "runsc-398072",
      unknownFlags: [],
    });
    expect(runscConfig(a.global)).toEqual(runscConfig(parseRunscArgs(OLD_DO).global));
  });

  test("today's `run` with a sized overlay: a comma inside a global value, :size= on the confs, --io-fds repeated", () => {
    const a = parseRunscArgs(NEW_RUN);
    expect(a.global.get("overlay2")).toBe("all:memory,size=64m");
    expect(a.ioFds).toEqual([8, 9, 10]);
    expect(a.mountConfs).toEqual([
      { lower: "lisafs", upper: "memory", size: "64m" },
      { lower: "lisafs", upper: "memory", size: "64m" },
      { lower: "lisafs", upper: "none" },
    ]);
    expect(a.containerId).toBe("arch-cap-13653");
    expect([a.specFd, a.mountsFd, a.rpcFd, a.pinRingFd, a.sentryExitSyncFd, a.syncChrootFd]).toEqual([3, 4, 5, 6, 7, 11]);
  });

  test("other command lines are not runsc's gofer", () => {
    expect(isRunscForm(["--io-fd", "3", "--mount", "/srv"])).toBe(false);
    expect(isRunscForm(["client", "--spawn", "/srv", "ls"])).toBe(false);
    expect(isRunscForm(["--root=/r", "boot", "gofer"])).toBe(false);
    expect(isRunscForm(["--debug"])).toBe(false);
    // A global value flag written with a space takes the next word, even "gofer".
    expect(isRunscForm(["--root", "gofer"])).toBe(false);
    expect(isRunscForm(["--root", "gofer", "gofer"])).toBe(true);
    expect(() => parseRunscArgs(["--root=/r", "boot"])).toThrow(RunscUsageError);
  });
});

describe("Go's flag rules", () => {
  test("one or two dashes, `=value` or the next word, the last occurrence wins", () => {
    const a = parseRunscArgs([
      "-root", "/r1", "--root=/r2", "-debug=false", "--debug", "gofer",
      "-bundle", "/b1", "--bundle=/b2", "-io-fds=5", "--spec-fd", "3", "-spec-fd=4", "-gofer-mount-confs", "lisafs:none",
      "--uid", "1000", "-gid=0",
    ]);
    expect(a.global.get("root")).toBe("/r2");
    expect(a.global.get("debug")).toBe("true");
    expect(a.bundle).toBe("/b2");
    expect(a.specFd).toBe(4);
    expect([a.uid, a.gid]).toEqual([1000, 0]);
  });

  test("lists accumulate across occurrences and commas", () => {
    const a = parseRunscArgs(["gofer", "--bundle=/b", "--spec-fd=3", "--io-fds=5,6", "--io-fds", "7", "--gofer-mount-confs=lisafs:none", "--gofer-mount-confs=none:memory,lisafs:self"]);
    expect(a.ioFds).toEqual([5, 6, 7]);
    expect(a.mountConfs.map((c) => `${c.lower}:${c.upper}`)).toEqual(["lisafs:none", "none:memory", "lisafs:self"]);
  });

  test("booleans: bare, or each of Go's spellings; nothing else", () => {
    for (const v of ["1", "t", "T", "true", "TRUE", "True"]) expect(parseGoBool("x", v)).toBe(true);
    for (const v of ["0", "f", "F", "false", "FALSE", "False"]) expect(parseGoBool("x", v)).toBe(false);
    for (const v of ["", "yes", "on", "tRuE", "2"]) expect(() => parseGoBool("x", v)).toThrow(/invalid boolean value/);
    expect(parseRunscArgs(minimal("--apply-caps=F", "--setup-root=0"))).toMatchObject({ applyCaps: false, setupRoot: false });
    expect(parseRunscArgs(minimal("--apply-caps=false", "--apply-caps"))).toMatchObject({ applyCaps: true });
    // A bare boolean never takes the next word.
    expect(parseRunscArgs(["gofer", "--apply-caps", "--bundle=/b", "--io-fds=5", "--spec-fd=3", "--gofer-mount-confs=lisafs:none"]).bundle).toBe("/b");
    expect(runscConfig(new Map([["directfs", "0"], ["debug", "T"]]))).toMatchObject({ directfs: false, debug: true });
    expect(() => runscConfig(new Map([["directfs", "maybe"]]))).toThrow(RunscUsageError);
  });

  test("the first word that is not a flag ends the flags; `--` ends them too", () => {
    expect(parseRunscArgs([...minimal(), "cid"]).containerId).toBe("cid");
    expect(parseRunscArgs([...minimal(), "--", "-cid"]).containerId).toBe("-cid");
    // A flag after the container ID is a second argument.
    expect(() => parseRunscArgs([...minimal(), "cid", "--uid=1"])).toThrow(/at most one argument/);
    expect(() => parseRunscArgs([...minimal(), "a", "b"])).toThrow(/at most one argument/);
    // `--` before the subcommand ends the global flags.
    const a = parseRunscArgs(["--debug", "--", ...minimal()]);
    expect(a.global.get("debug")).toBe("true");
    expect(a.bundle).toBe("/b");
  });

  test("integers: decimal, -1 allowed, nothing below; a missing value is an error", () => {
    expect(parseRunscArgs(minimal("--dev-io-fd=-1")).devIoFd).toBe(-1);
    expect(parseRunscArgs(minimal("--proc-mount-sync-fd=0")).procMountSyncFd).toBe(0);
    for (const bad of ["--uid=abc", "--dev-io-fd=0x10", "--spec-fd=", "--io-fds=5,", "--io-fds=1.5"])
      expect(() => parseRunscArgs(minimal(bad))).toThrow(/not an integer/);
    expect(() => parseRunscArgs(minimal("--mounts-fd=-2"))).toThrow(/must be >= -1/);
    expect(() => parseRunscArgs(["gofer", "--bundle=/b", "--io-fds=5", "--gofer-mount-confs=lisafs:none", "--spec-fd"])).toThrow(/flag needs an argument: -spec-fd/);
    // -1, runsc's "none", does not count as a spec FD.
    expect(() => parseRunscArgs(["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=-1", "--gofer-mount-confs=lisafs:none"])).toThrow(/--spec-fd/);
  });

  test("profiling FDs are kept to hold open, -1 ones are not", () => {
    const a = parseRunscArgs(minimal("--profile-cpu-fd=12", "--profile-heap-fd=-1", "--trace-fd=13", "--profile-mutex-fd", "14"));
    expect(a.profileFds.sort()).toEqual([12, 13, 14]);
  });
});

describe("flags a newer runsc may add", () => {
  test("unknown global flags are kept, bare ones as booleans", () => {
    const a = parseRunscArgs(["--future-bool", "--future-value=x", "-single-dash=1", ...minimal()]);
    expect(a.global.get("future-bool")).toBe("true");
    expect(a.global.get("future-value")).toBe("x");
    expect(a.global.get("single-dash")).toBe("1");
    expect(a.bundle).toBe("/b");
  });

  test("an unknown global flag written with a space is taken for a boolean, so its value reads as the subcommand", () => {
    // runsc always writes `--name=value`; the gofer form is then not recognised, rather than misparsed.
    expect(isRunscForm(["--future", "value", ...minimal()])).toBe(false);
    expect(isRunscForm(["--future=value", ...minimal()])).toBe(true);
  });

  test("unknown gofer flags are collected for the log and never take the next word", () => {
    const a = parseRunscArgs(minimal("--future-fd=9", "--future-bool", "-x"));
    expect(a.unknownFlags).toEqual(["--future-fd=9", "--future-bool", "-x"]);
    expect(a.bundle).toBe("/b");
    expect(a.containerId).toBeUndefined();
  });
});

describe("mount configurations lower:upper[:size=N]", () => {
  const confs = (v: string) => parseRunscArgs(["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=3", `--gofer-mount-confs=${v}`]).mountConfs;

  test("every lower and upper layer runsc knows", () => {
    const lowers = ["none", "lisafs", "erofs"] as const;
    const uppers = ["none", "memory", "self", "anon"] as const;
    for (const lower of lowers)
      for (const upper of uppers) {
        const v = `${lower}:${upper}`;
        if (v === "none:none") expect(() => confs(v)).toThrow(/invalid gofer mount config/);
        else {
          const [c] = confs(v);
          expect(c).toEqual({ lower, upper });
          expect(usesLisafs(c)).toBe(lower === "lisafs");
          expect(usesOverlay(c)).toBe(lower !== "none" && upper !== "none");
        }
      }
  });

  test("size= is carried as written, on any conf", () => {
    expect(confs("lisafs:self:size=1g,none:memory:size=512k,lisafs:none")).toEqual([
      { lower: "lisafs", upper: "self", size: "1g" },
      { lower: "none", upper: "memory", size: "512k" },
      { lower: "lisafs", upper: "none" },
    ]);
  });

  test("malformed confs name what is wrong", () => {
    const bad: [string, RegExp][] = [
      ["lisafs", /invalid gofer mount config format/],
      ["", /invalid gofer mount config format/],
      ["lisafs:none,", /invalid gofer mount config format/],
      ["lisafs:self:64m", /invalid gofer mount config format/],
      ["lisafs:self:size=1g:x", /invalid gofer mount config format/],
      ["9p:none", /lower layer type: 9p/],
      ["lisafs:disk", /upper layer type: disk/],
      ["LISAFS:none", /lower layer type/],
      ["none:none", /invalid gofer mount config/],
    ];
    for (const [v, re] of bad) expect(() => confs(v)).toThrow(re);
  });

  test("the conf list is required", () => {
    expect(() => parseRunscArgs(["gofer", "--bundle=/b", "--io-fds=5", "--spec-fd=3"])).toThrow(/--gofer-mount-confs/);
  });
});

describe("the global flags the gofer acts on", () => {
  test("defaults are runsc's", () => {
    expect(runscConfig(new Map())).toEqual({
      directfs: true,
      hostUds: "none",
      hostFifo: "none",
      fdLimit: -1,
      debug: false,
      logFd: -1,
      debugLogFd: -1,
      unsafeNonroot: false,
      charDevicePassthrough: false,
    });
  });

  test("each accepted value, and the character-device policy", () => {
    for (const v of ["none", "open", "create", "all"] as const) expect(runscConfig(new Map([["host-uds", v]])).hostUds).toBe(v);
    for (const v of ["none", "open"] as const) expect(runscConfig(new Map([["host-fifo", v]])).hostFifo).toBe(v);
    const passthrough = (v: string) => runscConfig(new Map([["character-device-policy", v]])).charDevicePassthrough;
    expect([passthrough("emulated-only"), passthrough("prefer-emulated"), passthrough("passthrough")]).toEqual([false, true, true]);
    expect(runscConfig(new Map([["log-fd", "7"], ["TESTONLY-unsafe-nonroot", "true"]]))).toMatchObject({ logFd: 7, unsafeNonroot: true });
  });

  test("values runsc would refuse are refused", () => {
    for (const [k, v] of [["host-uds", "everything"], ["host-fifo", "create"], ["character-device-policy", "any"], ["fdlimit", "lots"], ["fdlimit", "-5"]])
      expect(() => runscConfig(new Map([[k, v]]))).toThrow(RunscUsageError);
  });
});
