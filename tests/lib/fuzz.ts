// The fuzzers' knobs. The test command runs them as written (bounded, fixed
// seeds, so a failure replays exactly); bench/fuzz.sh runs them longer and
// with other seeds: FUZZ_SCALE multiplies every fuzzer's message count,
// FUZZ_SEED is mixed into every seed (printed, to replay a failure).
const scale = Number(process.env.FUZZ_SCALE ?? "1");
const seedMix = Number(process.env.FUZZ_SEED ?? "0") >>> 0;
if (!Number.isFinite(scale) || scale <= 0) throw new Error(`FUZZ_SCALE=${process.env.FUZZ_SCALE}: a positive number`);

/** How many messages a fuzzer sends: `n` times FUZZ_SCALE. */
export const fuzzCount = (n: number): number => Math.max(1, Math.round(n * scale));

/** A fuzzer's seed: `seed`, changed by FUZZ_SEED when given. */
export const fuzzSeed = (seed: number): number => (seedMix === 0 ? seed : (seed ^ Math.imul(seedMix, 0x9e3779b1)) >>> 0);
