// `gofer client ...`: routed here by src/main.ts before the native command
// line is parsed, so a client never loads the serving code, and so `top`
// (which waits on fetch) can run under commander's parseAsync.
import { Command, type CommanderError } from "commander";
import { registerClient } from "./cli";
import { topCommand } from "./top";

export async function clientMain(argv: string[]): Promise<void> {
  const program = new Command("gofer").enablePositionalOptions();
  const client = registerClient(program);
  // `top` is made apart from the other commands: give it the client's rules
  // (one line on stderr, usage errors exit 2).
  const top = topCommand()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s.startsWith("error: ") ? `gofer client top: ${s.slice(7)}` : s),
    })
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));
  client.addCommand(top);
  await program.parseAsync(["client", ...argv], { from: "user" });
}
