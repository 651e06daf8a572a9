// cserver: the floor benchmark's flipcall server in C (bench/floor), for
// calibration: what a server costs with no runtime at all.
//
// The protocol is flipcall's (gVisor pkg/flipcall): the packet window's
// first u32 is the connection state (0: client active, 1: server active,
// 2: shut down), the second the datagram length, the datagram starts at
// byte 16. The server sleeps in FUTEX_WAIT (shared futex: the client is
// another process) while the state is 0; the first message is the client's
// connection request, answered with the JSON "{}\n"; every other one is a
// 16-byte request (u64 sequence number) answered with 16 bytes: the
// sequence number, the CPU we reply from (u32), a u32 zero. A reply sets the
// state 1 -> 0 and FUTEX_WAKEs one waiter.
//
// --wait waitv sleeps in futex_waitv(2) instead, on the state word and a
// private word nobody sets (as our gofer's main thread does), with
// --waitv-timeout-ms N an absolute CLOCK_MONOTONIC deadline N ms ahead.
//
// --tick-us N starts a second thread that only sleeps N µs at a time in a
// loop, the way Go's sysmon thread wakes every 20 µs while a goroutine
// keeps entering system calls: a test of whether such wakes are what keeps
// a Go server next to its client.
//
//   cserver --fd 3 --offset 0 --length 4096 [--work-us N] [--tick-us N]
//           [--wait futex|waitv] [--waitv-timeout-ms N]
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
struct waitv { uint64_t val, uaddr; uint32_t flags, reserved; };
#define FUTEX2_SIZE_U32 0x02
#define FUTEX2_PRIVATE 128

static double now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void *ticker(void *arg) {
	long us = (long)arg;
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	for (;;) nanosleep(&ts, NULL);
	return NULL;
}

int main(int argc, char **argv) {
	int fd = 3;
	long long off = 0;
	long len = 4096;
	double work_us = 0;
	int waitv = 0;
	long timeout_ms = 0;
	long tick_us = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--fd")) fd = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--offset")) off = atoll(argv[i + 1]);
		else if (!strcmp(argv[i], "--length")) len = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--work-us")) work_us = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--wait")) waitv = !strcmp(argv[i + 1], "waitv");
		else if (!strcmp(argv[i], "--waitv-timeout-ms")) timeout_ms = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--tick-us")) tick_us = atol(argv[i + 1]);
		else {
			fprintf(stderr, "cserver: unknown flag %s\n", argv[i]);
			return 2;
		}
	}
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (p == MAP_FAILED) {
		perror("cserver: mmap");
		return 1;
	}
	if (tick_us > 0) {
		pthread_t t;
		pthread_create(&t, NULL, ticker, (void *)tick_us);
	}
	uint32_t *state = (uint32_t *)p, *dlen = (uint32_t *)(p + 4);
	unsigned char *data = p + 16;
	int connected = 0;
	static uint32_t wake_word;
	struct waitv wv[2] = {
		{.val = 0, .uaddr = (uintptr_t)state, .flags = FUTEX2_SIZE_U32},
		{.val = 0, .uaddr = (uintptr_t)&wake_word, .flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE},
	};
	struct timespec deadline;
	for (;;) {
		uint32_t s;
		while ((s = __atomic_load_n(state, __ATOMIC_ACQUIRE)) == 0) {
			if (!waitv) {
				syscall(SYS_futex, state, FUTEX_WAIT, 0, NULL, NULL, 0);
				continue;
			}
			struct timespec *dl = NULL;
			if (timeout_ms > 0) {
				clock_gettime(CLOCK_MONOTONIC, &deadline);
				deadline.tv_sec += timeout_ms / 1000;
				deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
				if (deadline.tv_nsec >= 1000000000) {
					deadline.tv_nsec -= 1000000000;
					deadline.tv_sec++;
				}
				dl = &deadline;
			}
			syscall(SYS_futex_waitv, wv, 2, 0, dl, CLOCK_MONOTONIC);
		}
		if (s != 1) return s == 2 ? 0 : 1;
		uint32_t n;
		if (!connected) {
			memcpy(data, "{}\n", 3);
			n = 3;
			connected = 1;
		} else {
			if (__atomic_load_n(dlen, __ATOMIC_RELAXED) != 16) return 1;
			uint64_t seq;
			memcpy(&seq, data, 8);
			if (work_us > 0)
				for (double t0 = now_us(); now_us() - t0 < work_us;)
					;
			uint32_t tail[2] = {(uint32_t)sched_getcpu(), 0};
			memcpy(data, &seq, 8);
			memcpy(data + 8, tail, 8);
			n = 16;
		}
		__atomic_store_n(dlen, n, __ATOMIC_RELAXED);
		uint32_t want = 1;
		if (!__atomic_compare_exchange_n(state, &want, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return want == 2 ? 0 : 1;
		syscall(SYS_futex, state, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
}
