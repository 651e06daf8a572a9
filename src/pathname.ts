// POSIX path arithmetic on strings, for the spec's paths in runsc's form:
// what node:path's posix functions do for absolute paths, without loading
// node:path (~0.6 MiB of a gofer's memory). Pure string work, no syscalls:
// it works the same on text and on byte strings.

export const isAbsolute = (p: string): boolean => p.startsWith("/");

/** Collapses "//", "." and ".." ("" becomes "."); a trailing "/" is kept. */
export function normalize(p: string): string {
  if (p === "") return ".";
  const abs = isAbsolute(p);
  const out: string[] = [];
  for (const name of p.split("/")) {
    if (name === "" || name === ".") continue;
    if (name === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!abs) out.push("..");
      continue;
    }
    out.push(name);
  }
  let s = (abs ? "/" : "") + out.join("/");
  if (s === "") s = abs ? "/" : ".";
  if (p.endsWith("/") && s !== "/") s += "/";
  return s;
}

/** Joins the non-empty parts with "/" and normalizes. */
export function join(...parts: string[]): string {
  const s = parts.filter((x) => x !== "").join("/");
  return s === "" ? "." : normalize(s);
}

/** Everything before the slash that precedes the last name ("/" for "/x",
 * "." for "x"); as node:path, slashes before that one are left as they are. */
export function dirname(p: string): string {
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--;
  const i = end > 1 ? p.lastIndexOf("/", end - 1) : -1;
  if (i <= 0) return isAbsolute(p) ? "/" : ".";
  if (i === 1 && isAbsolute(p)) return "//";
  return p.slice(0, i);
}

/** The path from absolute `from` to absolute `to`. */
export function relative(from: string, to: string): string {
  const a = normalize(from).split("/").filter((x) => x !== "");
  const b = normalize(to).split("/").filter((x) => x !== "");
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/");
}
