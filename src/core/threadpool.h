/*
 * threadpool.h — the engine's one pool of compute threads.
 *
 * llm_pool_run(pool, fn, arg) calls fn(arg, ith, nth) on every thread of the
 * pool (the caller runs ith = 0) and returns when all have finished.  Worker
 * threads spin briefly between jobs, then sleep on a condition variable, so a
 * decode step's hundreds of small jobs do not each pay a wake-up.  The pool
 * threads never call anything outside the engine core.
 */
#ifndef LLM_CORE_THREADPOOL_H
#define LLM_CORE_THREADPOOL_H

#include "common.h"

typedef struct llm_pool llm_pool;
typedef void (*llm_pool_fn) (void *arg, int ith, int nth);

llm_status	llm_pool_new(int n_threads, llm_pool **out, llm_error *err);
void		llm_pool_free(llm_pool *pool);
int			llm_pool_size(const llm_pool *pool);
void		llm_pool_run(llm_pool *pool, llm_pool_fn fn, void *arg);

/* Split [0, n) into nth nearly equal parts (multiples of align); part ith. */
static inline void
llm_pool_split(int64_t n, int64_t align, int ith, int nth, int64_t *lo, int64_t *hi)
{
	int64_t		blocks = (n + align - 1) / align;
	int64_t		per = blocks / nth,
				rem = blocks % nth;
	int64_t		b0 = ith * per + (ith < rem ? ith : rem);
	int64_t		b1 = b0 + per + (ith < rem ? 1 : 0);

	*lo = b0 * align < n ? b0 * align : n;
	*hi = b1 * align < n ? b1 * align : n;
}

#endif							/* LLM_CORE_THREADPOOL_H */
