/*
 * threadpool.h — the engine's one pool of compute threads.
 *
 * llm_pool_run(pool, fn, arg) calls fn(arg, ith, nth) on the calling thread
 * (ith = 0) and on every worker that arrives while the job is open, each
 * with a distinct ith < nth, and returns when all of those calls have
 * returned.  Workers that arrive after the caller's own call returned skip
 * the job, so fn must share its work dynamically (take chunks from a counter
 * in arg until none are left): the caller alone may have to do all of it.
 * ith is for per-thread scratch, never for a static share of the work.
 * Worker threads spin briefly between jobs, then sleep on a condition
 * variable, so a decode step's hundreds of small jobs do not each pay a
 * wake-up.  The pool threads never call anything outside the engine core.
 */
#ifndef LLM_CORE_THREADPOOL_H
#define LLM_CORE_THREADPOOL_H

#include "common.h"

#include <stdatomic.h>

typedef struct llm_pool llm_pool;
typedef void (*llm_pool_fn) (void *arg, int ith, int nth);

llm_status	llm_pool_new(int n_threads, llm_pool **out, llm_error *err);
void		llm_pool_free(llm_pool *pool);
int			llm_pool_size(const llm_pool *pool);
void		llm_pool_run(llm_pool *pool, llm_pool_fn fn, void *arg);

/*
 * Take the next chunk of [0, n) in steps of `chunk` from *next: false when
 * none is left.  The usual body of a pool job.
 */
static inline bool
llm_pool_take(atomic_llong *next, int64_t n, int64_t chunk, int64_t *lo, int64_t *hi)
{
	int64_t		c = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);

	if (c >= (n + chunk - 1) / chunk)
		return false;
	*lo = c * chunk;
	*hi = *lo + chunk < n ? *lo + chunk : n;
	return true;
}

/* Pause a spinning thread (the x86 PAUSE hint; nothing elsewhere). */
static inline void
llm_pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

#endif							/* LLM_CORE_THREADPOOL_H */
