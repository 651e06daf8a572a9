// `gofer client ...`: the command line of the client, as a commander
// subcommand of a `gofer` program of its own (src/client/main.ts calls
// registerClient; a gofer's own command line only hands `client ...` over,
// src/cli.ts). The commands' code (commands.ts and what it uses) is loaded
// only when one runs.
import { Command, type CommanderError, InvalidArgumentError, Option } from "commander";
import { CLIENT_ABOUT } from "./about";
import type { ClientOptions, Session } from "./commands";

type Commands = typeof import("./commands");
const commands = (): Commands => require("./commands") as Commands;

const collect = (v: string, prev: string[]) => [...prev, v];

function positiveInt(flag: string): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${flag} ${JSON.stringify(v)} is not a positive integer`);
    return Number(v);
  };
}

/** Exits with the command's status; a usage mistake found past commander's
 * checks exits 2 like commander's own. */
function run(client: Command, fn: (s: Session) => number): void {
  const c = commands();
  const o = client.opts() as ClientOptions;
  let code: number;
  try {
    code = c.runClient(o, fn);
  } catch (e) {
    if (!(e instanceof c.ClientUsageError)) throw e;
    process.stderr.write(Buffer.from(`gofer client: ${e.message}\n`, "latin1"));
    code = 2;
  }
  process.exit(code);
}

/** Adds `client` and its commands to gofer's program; returns the `client`
 * command (more commands may be added to it). */
export function registerClient(program: Command): Command {
  const client = new Command("client")
    .description(CLIENT_ABOUT)
    .option("-s, --server <target>", "the server: a Unix socket path, tcp:HOST:PORT or fd:N (an inherited connected socket)")
    .option("--spawn <dir>", "start a gofer of our own serving DIR on a socketpair, and talk to it")
    .addOption(
      new Option("--protocol <name>", "protocol to speak (default: lisafs, or 9p for tcp:)").choices(["lisafs", "9p", "9p-google"]),
    )
    .option("--no-channels", "send every call on the socket, no flipcall channel (lisafs, 9p-google)")
    .option("--aname <name>", "9P attach name (diod: the exported directory)", "")
    .option("--msize <bytes>", "9P message size to ask for", positiveInt("--msize"), 1 << 20)
    .option("--gofer-flag <flag>", "with --spawn: a flag for the gofer, e.g. --gofer-flag=--xattr-user (repeatable)", collect, [])
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
    })
    // Usage errors exit 2 (commander's default is 1); --help exits 0.
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2))
    .showHelpAfterError("(see gofer client --help)")
    .allowExcessArguments(false);

  client
    .command("ls")
    .description("list a directory (or show a file), like ls")
    .argument("[path]", "path below the served root", ".")
    .option("-l", "long listing: mode, links, owner, group, size, mtime")
    .option("-R", "recurse into subdirectories")
    .option("-A", "show names starting with '.' (not . and ..)")
    .action((path: string, o: { l?: boolean; R?: boolean; A?: boolean }) =>
      run(client, (s) => commands().ls(s, path, { long: Boolean(o.l), recursive: Boolean(o.R), almostAll: Boolean(o.A) })),
    );
  client
    .command("stat")
    .description("show a file's attributes, like stat")
    .argument("<path>")
    .action((path: string) => run(client, (s) => commands().stat(s, path)));
  client
    .command("cat")
    .description("write a file's bytes to stdout")
    .argument("<path>")
    .action((path: string) => run(client, (s) => commands().cat(s, path)));
  client
    .command("put")
    .description("write stdin to a file (created, or truncated)")
    .argument("<path>")
    .action((path: string) => run(client, (s) => commands().put(s, path)));
  client
    .command("mkdir")
    .description("make a directory")
    .argument("<path>")
    .action((path: string) => run(client, (s) => commands().mkdir(s, path)));
  client
    .command("rm")
    .description("remove a file or an empty directory")
    .argument("<path>")
    .action((path: string) => run(client, (s) => commands().rm(s, path)));
  client
    .command("mv")
    .description("rename (move) a file or directory")
    .argument("<from>")
    .argument("<to>")
    .action((from: string, to: string) => run(client, (s) => commands().mv(s, from, to)));
  client
    .command("df")
    .description("show the served file system's size and use, like df")
    .action(() => run(client, (s) => commands().df(s)));
  client
    .command("xattr")
    .description("list a file's xattrs, print one's value, or set it")
    .argument("<path>")
    .argument("[name]")
    .argument("[value]")
    .action((path: string, name: string | undefined, value: string | undefined) => run(client, (s) => commands().xattr(s, path, name, value)));
  client
    .command("ping")
    .description("mount (or attach), then time a round trip")
    .option("-c, --count <n>", "round trips to time", positiveInt("--count"), 1)
    .action((o: { count: number }) => run(client, (s) => commands().ping(s, o.count)));
  client
    .command("bench")
    .description("a short latency table: fstat, pread and walk round trips (p50, p99)")
    .argument("[path]", "a regular file (default: the first one at the root)")
    .option("-n <count>", "round trips per operation", positiveInt("-n"), 1000)
    .action((path: string | undefined, o: { n: number }) => run(client, (s) => commands().bench(s, path, o.n)));

  program.addCommand(client);
  return client;
}
