// What `gofer client` is, for both command lines that list it: the client's
// own (src/client/cli.ts) and the native gofer's --help (src/cli.ts), which
// does not load the client.
export const CLIENT_ABOUT = "talk to a running gofer (or any 9P2000.L server, e.g. diod) as a client";
