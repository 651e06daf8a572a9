// Entry point of dist/gofer: picks the command-line form and loads that
// form's entry point (src/entry.ts), so a start makes only its form's code.
// Under runsc the gofer starts twice (it re-executes itself) and starts a
// helper, so what a start evaluates counts.
import { entryUrl } from "./entry";
import { isRunscForm } from "./runsc/args";

/** Loads a form's entry point. Its main then runs in the promise's
 * reaction and never returns to Bun's event loop but to exit, as before. */
const load = <M>(name: string): Promise<M> => import(entryUrl(name)) as Promise<M>;

const argv = process.argv.slice(2);
if (argv[0] === "umount") void load<typeof import("./runsc-form")>("runsc-form").then((m) => m.umounterMain(argv.slice(1)));
else if (argv[0] === "client") void load<typeof import("./client-form")>("client-form").then((m) => m.clientMain(argv.slice(1)));
else if (isRunscForm(argv)) void load<typeof import("./runsc-form")>("runsc-form").then((m) => m.runscMain(argv));
else void load<typeof import("./native")>("native").then((m) => m.nativeMain());
