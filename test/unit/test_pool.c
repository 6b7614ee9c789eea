/*
 * test_pool.c — the thread pool: every chunk of every job runs exactly once,
 * thread indexes are distinct, and the caller finishes a job alone when the
 * workers are late (busy, descheduled or asleep).
 */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "threadpool.h"

#define N_ITEMS 1000

typedef struct count_job
{
	atomic_llong next;
	atomic_int	hits[N_ITEMS];
	atomic_int	in_use[64];		/* per ith: > 1 means two calls shared an ith */
	atomic_int	bad_ith;
	int			chunk;
	int			sleep_us;		/* per chunk, for workers only */
} count_job;

static void
count_worker(void *arg, int ith, int nth)
{
	count_job  *j = arg;
	int64_t		lo,
				hi;

	if (ith < 0 || ith >= nth || ith >= 64 || atomic_fetch_add(&j->in_use[ith], 1) != 0)
		atomic_fetch_add(&j->bad_ith, 1);
	while (llm_pool_take(&j->next, N_ITEMS, j->chunk, &lo, &hi))
	{
		for (int64_t i = lo; i < hi; i++)
			atomic_fetch_add(&j->hits[i], 1);
		if (ith > 0 && j->sleep_us > 0)
		{
			struct timespec ts = {0, j->sleep_us * 1000L};

			nanosleep(&ts, NULL);
		}
	}
	if (ith >= 0 && ith < 64)
		atomic_fetch_sub(&j->in_use[ith], 1);
}

/* Run jobs of several chunk sizes on pools of 1 to 5 threads. */
static void
test_every_chunk_once(void)
{
	static count_job j;

	for (int n = 1; n <= 5; n++)
	{
		llm_pool   *pool;
		llm_error	err;
		int			bad = 0;

		CHECK(llm_pool_new(n, &pool, &err) == LLM_OK);
		for (int rep = 0; rep < 300; rep++)
		{
			memset(&j, 0, sizeof(j));
			atomic_init(&j.next, 0);
			j.chunk = 1 + rep % 70;
			j.sleep_us = rep % 50 == 0 ? 200 : 0;
			llm_pool_run(pool, count_worker, &j);
			for (int i = 0; i < N_ITEMS; i++)
				bad += atomic_load(&j.hits[i]) != 1;
			bad += atomic_load(&j.bad_ith);
		}
		CHECKF(bad == 0, "%d bad items or thread indexes with %d threads", bad, n);
		CHECK(llm_pool_size(pool) == n);
		llm_pool_free(pool);
	}
}

typedef struct busy_arg
{
	atomic_bool stop;
} busy_arg;

static void *
busy_main(void *p)
{
	busy_arg   *b = p;

	while (!atomic_load(&b->stop))
		;
	return NULL;
}

/*
 * More pool threads than CPUs, plus busy threads competing for them: the
 * jobs still complete exactly, in bounded time (no waiting on workers that
 * never got a CPU).
 */
static void
test_oversubscribed(void)
{
	static count_job j;
	busy_arg	b;
	pthread_t	busy[3];
	llm_pool   *pool;
	llm_error	err;
	int			bad = 0;

	atomic_init(&b.stop, false);
	for (int i = 0; i < 3; i++)
		pthread_create(&busy[i], NULL, busy_main, &b);
	CHECK(llm_pool_new(6, &pool, &err) == LLM_OK);
	for (int rep = 0; rep < 2000; rep++)
	{
		memset(&j, 0, sizeof(j));
		atomic_init(&j.next, 0);
		j.chunk = 8;
		llm_pool_run(pool, count_worker, &j);
		for (int i = 0; i < N_ITEMS; i++)
			bad += atomic_load(&j.hits[i]) != 1;
		bad += atomic_load(&j.bad_ith);
	}
	CHECKF(bad == 0, "%d bad items or thread indexes", bad);
	llm_pool_free(pool);
	atomic_store(&b.stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(busy[i], NULL);
}

/* Out-of-range pool sizes are errors. */
static void
test_bad_size(void)
{
	llm_pool   *pool = (llm_pool *) 1;
	llm_error	err;

	CHECK(llm_pool_new(0, &pool, &err) == LLM_ERR_INVALID_ARG);
	CHECK(pool == NULL);
	CHECK(llm_pool_new(100000, &pool, &err) == LLM_ERR_INVALID_ARG);
}

int
main(void)
{
	RUN(test_every_chunk_once);
	RUN(test_oversubscribed);
	RUN(test_bad_size);
	return unit_finish();
}
