// `gofer client ...`: tools that talk to a running gofer. Only `top` is
// registered on this branch; the other subcommands (ls, stat, cat, put, ...)
// add themselves here with program.addCommand() the same way.
import { Command, CommanderError } from "commander";
import { topCommand } from "./top";

export async function clientMain(argv: string[]): Promise<void> {
  const out = { writeErr: (s: string) => process.stderr.write(s.startsWith("error: ") ? `gofer client: ${s.slice(7)}` : s) };
  const program = new Command("gofer client").description("talk to a running gofer").addCommand(topCommand());
  // Usage errors of the program and of every subcommand: one line, exit 2.
  for (const c of [program, ...program.commands]) c.exitOverride().configureOutput(out);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    throw err;
  }
}
