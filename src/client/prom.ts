// A small parser of Prometheus's text exposition format (0.0.4): samples
// only (HELP and TYPE lines are skipped), enough for `gofer client top`.
// The tests check the gofer's output with a maintained parser from npm.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(s: string): number {
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  const v = Number(s);
  if (s === "" || Number.isNaN(v)) throw new Error(`bad sample value ${JSON.stringify(s)}`);
  return v;
}

/** Parses the text; throws Error naming the line that is not well formed. */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === "" || line.startsWith("#")) continue;
    const bad = (why: string) => new Error(`line ${n + 1}: ${why}: ${line.slice(0, 80)}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!m) throw bad("no metric name");
    let p = m[1].length;
    const labels: Record<string, string> = {};
    if (line[p] === "{") {
      p++;
      for (;;) {
        while (line[p] === " " || line[p] === ",") p++;
        if (line[p] === "}") {
          p++;
          break;
        }
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(p));
        if (!lm) throw bad("bad label");
        p += lm[0].length;
        let v = "";
        for (;;) {
          const c = line[p++];
          if (c === undefined) throw bad("unterminated label value");
          if (c === '"') break;
          if (c === "\\") {
            const e = line[p++];
            v += e === "n" ? "\n" : e;
          } else v += c;
        }
        labels[lm[1]] = v;
      }
    }
    const rest = line.slice(p).trim().split(/\s+/);
    if (rest.length < 1 || rest.length > 2) throw bad("expected a value and an optional timestamp");
    out.push({ name: m[1], labels, value: parseValue(rest[0]) });
  }
  return out;
}
