// Entry point of dist/gofer: picks the command-line form, then loads only
// the modules that form needs. Under runsc the gofer starts twice (it
// re-executes itself) and starts a helper, so what a start evaluates counts.
import { isRunscForm } from "./runsc/args";

const argv = process.argv.slice(2);
if (argv[0] === "umount") (require("./runsc/privileges") as typeof import("./runsc/privileges")).umounterMain(argv.slice(1));
else if (argv[0] === "client") void (require("./client/main") as typeof import("./client/main")).clientMain(argv.slice(1));
else if (isRunscForm(argv)) (require("./runsc/gofer") as typeof import("./runsc/gofer")).runscMain(argv);
// The native form's paths are bytes, exact from argv to the syscall.
else (require("./native") as typeof import("./native")).nativeMain((require("./argv") as typeof import("./argv")).rawArgs());
