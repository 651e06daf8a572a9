// Entry point of runsc's command-line forms (src/main.ts): the gofer
// runsc starts, and the /proc umounter it may start.
export { runscMain } from "./runsc/gofer";
export { umounterMain } from "./runsc/privileges";
