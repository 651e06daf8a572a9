// Makes an OCI bundle for runsc whose root filesystem is a small directory
// (the host's /usr bind-mounted read-only at /usr, so a shell and coreutils
// are there) plus any bind mounts asked for. Used by the e2e tests, the
// runsc benchmarks and the README's demo.
//
//   bun scripts/runsc-bundle.ts BUNDLE_DIR [--mount HOST:DEST[:ro]]... [--rw-root] -- CMD ARGS...
//
// BUNDLE_DIR/rootfs and BUNDLE_DIR/config.json are (re)written. The rootfs
// holds only what the tests need: /etc/{passwd,group,hostname,hosts}, /tmp,
// /root, and symlinks bin, lib, lib64, sbin into usr (Debian's merged /usr).
import { mkdirSync, existsSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface BundleOptions {
  dir: string;
  args: string[];
  mounts?: { source: string; destination: string; readonly?: boolean }[];
  /** root.readonly is false: the sandbox may write the root (with --overlay2=none, through the gofer). */
  rwRoot?: boolean;
  cwd?: string;
  env?: string[];
}

// Enough for a root process to exercise every file operation in the sandbox.
const CAPS = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_MKNOD",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SYS_ADMIN",
  "CAP_AUDIT_WRITE",
  "CAP_NET_BIND_SERVICE",
];

export function makeBundle(o: BundleOptions): string {
  const dir = resolve(o.dir);
  const rootfs = join(dir, "rootfs");
  if (existsSync(rootfs)) rmSync(rootfs, { recursive: true, force: true });
  for (const d of ["usr", "etc", "tmp", "root", "proc", "dev", "sys"]) mkdirSync(join(rootfs, d), { recursive: true });
  for (const l of ["bin", "lib", "lib64", "sbin"]) symlinkSync(`usr/${l}`, join(rootfs, l));
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  writeFileSync(join(rootfs, "etc/hostname"), "gofer-e2e\n");
  writeFileSync(join(rootfs, "etc/hosts"), "127.0.0.1 localhost\n");
  const mounts: object[] = [
    { destination: "/proc", type: "proc", source: "proc" },
    { destination: "/dev", type: "tmpfs", source: "tmpfs" },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    { destination: "/usr", type: "bind", source: "/usr", options: ["rbind", "ro"] },
  ];
  for (const m of o.mounts ?? []) {
    mounts.push({ destination: m.destination, type: "bind", source: resolve(m.source), options: ["rbind", m.readonly ? "ro" : "rw"] });
  }
  const config = {
    ociVersion: "1.0.0",
    process: {
      user: { uid: 0, gid: 0 },
      args: o.args,
      env: o.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C"],
      cwd: o.cwd ?? "/",
      capabilities: { bounding: CAPS, effective: CAPS, inheritable: CAPS, permitted: CAPS },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 4096, soft: 4096 }],
    },
    root: { path: "rootfs", readonly: !o.rwRoot },
    hostname: "gofer-e2e",
    mounts,
    linux: { namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }] },
  };
  writeFileSync(join(dir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  return dir;
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const dash = argv.indexOf("--");
  const opts = dash < 0 ? argv : argv.slice(0, dash);
  const args = dash < 0 ? ["/bin/sh"] : argv.slice(dash + 1);
  const dir = opts.shift();
  if (!dir) {
    process.stderr.write("usage: bun scripts/runsc-bundle.ts BUNDLE_DIR [--mount HOST:DEST[:ro]]... [--rw-root] -- CMD ARGS...\n");
    process.exit(2);
  }
  const mounts: BundleOptions["mounts"] = [];
  let rwRoot = false;
  for (let i = 0; i < opts.length; i++) {
    if (opts[i] === "--rw-root") rwRoot = true;
    else if (opts[i] === "--mount" && opts[i + 1]) {
      const [source, destination, ro] = opts[++i].split(":");
      mounts.push({ source, destination, readonly: ro === "ro" });
    } else {
      process.stderr.write(`runsc-bundle: unknown option ${opts[i]}\n`);
      process.exit(2);
    }
  }
  mkdirSync(dir, { recursive: true });
  process.stdout.write(`${makeBundle({ dir, args, mounts, rwRoot })}\n`);
}
