/*
 * clock.h — seconds on a POSIX clock, for the programs around the core
 * that time things (llm-cli, the tools, benchmarks, speed tests); the core
 * itself keeps no time.
 *   llm_seconds(CLOCK_MONOTONIC)           wall clock
 *   llm_seconds(CLOCK_THREAD_CPUTIME_ID)   CPU time of the calling thread
 *                                          (other processes do not count)
 */
#ifndef LLM_CORE_CLOCK_H
#define LLM_CORE_CLOCK_H

#include <time.h>

static inline double
llm_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#endif							/* LLM_CORE_CLOCK_H */
