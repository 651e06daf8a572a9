// Where an entry point of the gofer is. build.ts compiles one entry point per
// command-line form (and the loop's Worker) into the executable, src/ being
// their root; main.ts loads the one its command line asks for. Bun's bundler
// hoists every function of a module it inlines to the bundle's top level,
// where the start makes a function object for each, run or not: a native
// gofer that carried the client's and the runsc form's code held 0.6 MiB
// more after Mount (docs/benchmarks-runsc.md).

/** Loads entry point `name` (see entryUrl). What it runs then runs in the
 * promise's reaction: a serving form never returns to Bun's event loop but
 * to exit. */
export const loadEntry = <M>(name: string): Promise<M> => import(entryUrl(name)) as Promise<M>;

/** The specifier to import() for entry point `name` (a path below src/,
 * without extension: "native", "loop/worker"). */
export function entryUrl(name: string): string {
  // In a `bun build --compile` binary every entry point sits under the one
  // embedded root, beside the main one (Bun.main: /$bunfs/root/<outfile>).
  // import.meta.url there is still the source file's, fixed at build time.
  const main = Bun.main;
  if (main.startsWith("/$bunfs/")) return `${main.slice(0, main.lastIndexOf("/"))}/${name}.js`;
  return new URL(`./${name}.ts`, import.meta.url).href;
}
