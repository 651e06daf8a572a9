// Entry point of `gofer client ...` (src/main.ts, and a native command line
// that reaches the client past server flags: src/native.ts).
export { clientMain } from "./client/main";
