// Entry point of dist/gofer: picks the command-line form and loads that
// form's entry point (src/entry.ts), so a start makes only its form's code.
// Under runsc the gofer starts twice (it re-executes itself) and starts a
// helper, so what a start evaluates counts.
import { loadEntry as load } from "./entry";
import { isRunscForm } from "./runsc/args";

const argv = process.argv.slice(2);
if (argv[0] === "umount") void load<typeof import("./runsc-form")>("runsc-form").then((m) => m.umounterMain(argv.slice(1)));
else if (argv[0] === "client") void load<typeof import("./client-form")>("client-form").then((m) => m.clientMain(argv.slice(1)));
else if (isRunscForm(argv)) void load<typeof import("./runsc-form")>("runsc-form").then((m) => m.runscMain(argv));
else void load<typeof import("./native")>("native").then((m) => m.nativeMain());
