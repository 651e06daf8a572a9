// noise: light background load for the floor benchmark's "noisy"
// placement (bench/floor/README.md), standing in for what else runs on a
// host: one unpinned thread that sleeps a random 0.5-5 ms, then spins a
// random 20-300 µs, until killed (~6% of one CPU). Seeded, so every run
// makes the same sequence.
//   noise [--seed N]
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) { // xorshift64
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static double now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
	if (argc == 3 && !strcmp(argv[1], "--seed")) state ^= strtoull(argv[2], NULL, 10) * 0x2545f4914f6cdd1dull;
	for (;;) {
		long sleep_us = 500 + next() % 4500;
		struct timespec ts = {0, sleep_us * 1000};
		nanosleep(&ts, NULL);
		double spin = 20 + next() % 280;
		for (double t0 = now_us(); now_us() - t0 < spin;)
			;
	}
}
