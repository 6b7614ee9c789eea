/*
 * test_kv.c — unit tests of the paged KV cache (src/core/kv.c): pool
 * geometry, attach, allocation and reference counts, the prefix cache and
 * its LRU eviction, block tables with copy-on-write, and a seeded random
 * stress test that checks every invariant after every operation.
 *
 * test_kv_assert.c includes this file again after kv.c itself, built with
 * LLM_KV_ASSERT (TEST_KV_ASSERT_BUILD is then defined): the same tests run
 * with the pool verifying its own lists inside every mutating call, plus
 * tests that reach the internals (SipHash vectors, corruption detection).
 */
#include "kv.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define T_MODEL		UINT64_C(0x1234abcd5678ef90)

/* A pool of exactly n_pages pages in fresh 64-byte aligned memory. */
static llm_kv_pool *
t_pool(int32_t n_pages, size_t page_bytes, int32_t block_size, void **mem)
{
	size_t		size = llm_kv_pool_mem_size(n_pages, page_bytes);
	llm_kv_pool *pool = NULL;
	llm_error	err;

	*mem = aligned_alloc(64, (size + 63) & ~(size_t) 63);
	if (*mem == NULL)
		return NULL;
	if (llm_kv_pool_init(*mem, size, page_bytes, block_size, &pool, &err) != LLM_OK)
	{
		fprintf(stderr, "pool init: %s\n", err.msg);
		return NULL;
	}
	return pool;
}

/* Token slot of position pos in a block table (slot-major int32 layout). */
static int32_t *
t_slot(llm_kv_pool *pool, const llm_block_table *bt, int32_t pos)
{
	int32_t		bs = llm_kv_block_size(pool);

	return (int32_t *) llm_kv_page_data(pool, bt->pages[pos / bs]) + pos % bs;
}

/* llm_kv_check over up to four tables (NULLs skipped); prints failures. */
static bool
t_check(llm_kv_pool *pool, const llm_block_table *a, const llm_block_table *b,
		const llm_block_table *c, const llm_block_table *d)
{
	const llm_block_table *all[4];
	int			n = 0;
	llm_error	err;

	if (a)
		all[n++] = a;
	if (b)
		all[n++] = b;
	if (c)
		all[n++] = c;
	if (d)
		all[n++] = d;
	if (llm_kv_check(pool, all, n, &err) != LLM_OK)
	{
		fprintf(stderr, "  %s\n", err.msg);
		return false;
	}
	return true;
}

/* Chained prefix key of full page k of tokens. */
static uint64_t
t_chain_hash(const int32_t *tokens, int32_t k, int32_t bs)
{
	uint64_t	h = 0;

	for (int32_t i = 0; i <= k; i++)
		h = llm_kv_block_hash(h, tokens + i * bs, bs, T_MODEL);
	return h;
}

/* Too little memory or bad parameters are refused with the right code. */
static void
test_init_errors(void)
{
	static uint64_t buf[4096];
	llm_kv_pool *pool = (llm_kv_pool *) 1;
	llm_error	err;
	size_t		one = llm_kv_pool_mem_size(1, 1024);

	CHECK(one > 1024 && one < sizeof(buf));
	CHECK(llm_kv_pool_init(buf, 100, 1024, 16, &pool, &err) == LLM_ERR_RANGE);
	CHECK(pool == NULL);
	CHECK(err.code == LLM_ERR_RANGE && strstr(err.msg, "page") != NULL);
	/* mem_size includes 63 bytes of alignment slack: 64 less never fits. */
	CHECK(llm_kv_pool_init(buf, one - 64, 1024, 16, &pool, &err) == LLM_ERR_RANGE);
	CHECK(llm_kv_pool_init(buf, 1024, 1024, 16, &pool, &err) == LLM_ERR_RANGE);
	CHECK(llm_kv_pool_init(buf, 0, 1024, 16, &pool, &err) == LLM_ERR_RANGE);
	CHECK(llm_kv_pool_init(buf, one, 1024, 16, &pool, &err) == LLM_OK);
	CHECK(llm_kv_n_pages(pool) == 1);
	CHECK(llm_kv_pool_init(buf, sizeof(buf), 0, 16, &pool, &err) == LLM_ERR_INVALID_ARG);
	CHECK(llm_kv_pool_init(buf, sizeof(buf), 1024, 0, &pool, &err) == LLM_ERR_INVALID_ARG);
	CHECK(llm_kv_pool_init((char *) buf + 1, sizeof(buf) - 1, 1024, 16, &pool, &err) == LLM_ERR_INVALID_ARG);
	CHECK(llm_kv_pool_init(NULL, sizeof(buf), 1024, 16, &pool, &err) == LLM_ERR_INVALID_ARG);
	/* Sizes that overflow are reported as 0 or refused, never wrapped. */
	CHECK(llm_kv_pool_mem_size(0, 1024) == 0);
	CHECK(llm_kv_pool_mem_size(-1, 1024) == 0);
	CHECK(llm_kv_pool_mem_size(1 << 20, SIZE_MAX / 4) == 0);
	CHECK(llm_kv_pool_init(buf, sizeof(buf), SIZE_MAX / 2, 16, &pool, &err) == LLM_ERR_RANGE);
}

/* The page count is the largest that fits, and the pages really fit. */
static void
test_page_count(void)
{
	static const size_t pbs[] = {16, 100, 4096, 65539};
	static const int32_t ns[] = {1, 2, 7, 100, 1000};

	for (size_t a = 0; a < sizeof(pbs) / sizeof(pbs[0]); a++)
	{
		for (size_t b = 0; b < sizeof(ns) / sizeof(ns[0]); b++)
		{
			size_t		pb = pbs[a];
			int32_t		n = ns[b];
			size_t		size = llm_kv_pool_mem_size(n, pb);
			char	   *mem;
			bool		ok = true;

			if (pb * n > (size_t) 64 << 20)
				continue;
			mem = aligned_alloc(64, (size + 8 + 63) / 64 * 64);
			CHECK(mem != NULL);
			if (mem == NULL)
				return;
			/* Offset 0 and offset 8: both alignments hold exactly n pages. */
			for (int off = 0; off <= 8; off += 8)
			{
				llm_kv_pool *pool = NULL;
				llm_error	err;
				int32_t		m;

				CHECK(llm_kv_pool_init(mem + off, size, pb, 16, &pool, &err) == LLM_OK);
				CHECKF(llm_kv_n_pages(pool) == n, "pb %zu n %d off %d: %d pages", pb, n, off, llm_kv_n_pages(pool));
				CHECK(llm_kv_page_bytes(pool) == pb && llm_kv_block_size(pool) == 16);
				/* Each page 64-aligned, inside the memory, no overlap. */
				for (int32_t i = 0; i < n; i++)
				{
					char	   *d = llm_kv_page_data(pool, i);

					if (((uintptr_t) d & 63) != 0 || d < mem + off ||
						d + pb > mem + off + size ||
						(i > 0 && d < (char *) llm_kv_page_data(pool, i - 1) + pb))
						ok = false;
					memset(d, 0xA5, pb);
				}
				/* Filling every page left the metadata intact. */
				CHECK(t_check(pool, NULL, NULL, NULL, NULL));
				/* Below the n-page need whatever the alignment: n - 1. */
				m = 0;
				if (llm_kv_pool_init(mem + off, size - 64, pb, 16, &pool, &err) == LLM_OK)
					m = llm_kv_n_pages(pool);
				CHECKF(m == n - 1, "pb %zu n %d: %d pages in size - 64", pb, n, m);
			}
			CHECK(ok);
			/* Overhead per page is small: metadata, hash slots, padding. */
			CHECKF(size <= n * (((pb + 63) & ~(size_t) 63) + 160) + 1024,
				   "pb %zu n %d: %zu bytes", pb, n, size);
			free(mem);
		}
	}
}

/* attach finds an initialised pool and refuses anything else. */
static void
test_attach(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(10, 256, 16, &mem);
	llm_kv_stats st;
	uint64_t   *garbage = aligned_alloc(64, 4096);
	uint64_t	x = 88172645463325252ULL;
	int32_t		p;

	CHECK(pool != NULL);
	if (pool == NULL || garbage == NULL)
		return;
	CHECK(llm_kv_pool_attach(mem) == pool);
	p = llm_kv_page_alloc(pool);
	llm_kv_get_stats(llm_kv_pool_attach(mem), &st);
	CHECK(st.pages_total == 10 && st.pages_used == 1 && st.pages_free == 9);
	llm_kv_page_unref(pool, p);

	CHECK(llm_kv_pool_attach(NULL) == NULL);
	memset(garbage, 0, 4096);
	CHECK(llm_kv_pool_attach(garbage) == NULL);
	for (int i = 0; i < 512; i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		garbage[i] = x;
	}
	CHECK(llm_kv_pool_attach(garbage) == NULL);
	/* The same header bytes with a damaged version or geometry. */
	memcpy(garbage, mem, 256);
	CHECK(llm_kv_pool_attach(garbage) != NULL);
	((unsigned char *) garbage)[8] ^= 1;	/* version */
	CHECK(llm_kv_pool_attach(garbage) == NULL);
	memcpy(garbage, mem, 256);
	((unsigned char *) garbage)[40] ^= 0x40;	/* an offset */
	CHECK(llm_kv_pool_attach(garbage) == NULL);
	memcpy(garbage, mem, 256);
	garbage[0] ^= 1;			/* magic */
	CHECK(llm_kv_pool_attach(garbage) == NULL);
	free(garbage);
	free(mem);
}

/* Allocation until exhaustion, then references and release. */
static void
test_alloc_refcount(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(8, 64, 4, &mem);
	llm_block_table bt;
	llm_kv_stats st;
	int32_t		pages[8];
	bool		distinct = true;

	CHECK(pool != NULL);
	if (pool == NULL)
		return;
	llm_bt_init(&bt);
	bt.pages = pages;
	bt.cap = 8;
	for (int i = 0; i < 8; i++)
	{
		pages[i] = llm_kv_page_alloc(pool);
		CHECK(pages[i] >= 0 && pages[i] < 8);
		CHECK(llm_kv_page_refcount(pool, pages[i]) == 1);
		for (int j = 0; j < i; j++)
			distinct &= pages[i] != pages[j];
		bt.n_pages = i + 1;
		CHECK(t_check(pool, &bt, NULL, NULL, NULL));
	}
	CHECK(distinct);
	CHECK(llm_kv_page_alloc(pool) == -1);
	CHECK(llm_kv_page_alloc(pool) == -1);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 8 && st.pages_free == 0 && st.pages_cached == 0);

	/* A second reference: the page survives one unref. */
	llm_kv_page_ref(pool, pages[3]);
	CHECK(llm_kv_page_refcount(pool, pages[3]) == 2);
	/* The check sees that only one table entry names it. */
	CHECK(llm_kv_check(pool, (const llm_block_table *[]) {&bt}, 1, NULL) == LLM_ERR_INTERNAL);
	llm_kv_page_unref(pool, pages[3]);
	CHECK(llm_kv_page_refcount(pool, pages[3]) == 1);
	CHECK(llm_kv_page_alloc(pool) == -1);

	/* Freed (unpublished) pages go back to the free list and are reused. */
	llm_kv_page_unref(pool, pages[3]);
	CHECK(llm_kv_page_refcount(pool, pages[3]) == 0);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 7 && st.pages_free == 1 && st.pages_cached == 0);
	CHECK(llm_kv_page_alloc(pool) == pages[3]);
	CHECK(llm_kv_page_refcount(pool, pages[3]) == 1);
	for (int i = 0; i < 8; i++)
		llm_kv_page_unref(pool, pages[i]);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 0 && st.pages_free == 8 && st.evictions == 0);
	CHECK(t_check(pool, NULL, NULL, NULL, NULL));
	CHECK(llm_kv_page_data(pool, -1) == NULL && llm_kv_page_data(pool, 8) == NULL);
	CHECK(llm_kv_page_refcount(pool, 8) == -1);
	free(mem);
}

#ifndef TEST_KV_ASSERT_BUILD
/* Misuse of the void functions is ignored and leaves the pool valid. */
static void
test_misuse_ignored(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(4, 64, 4, &mem);
	llm_kv_stats st;

	if (pool == NULL)
		return;
	llm_kv_page_unref(pool, 0);	/* free page */
	llm_kv_page_ref(pool, 1);	/* free page */
	llm_kv_publish(pool, 2, 42);	/* free page */
	llm_kv_page_unref(pool, 99);
	llm_kv_page_ref(pool, -1);
	CHECK(t_check(pool, NULL, NULL, NULL, NULL));
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_free == 4);
	CHECK(llm_kv_lookup(pool, 42) == -1);
	free(mem);
}
#endif

/* publish + unref caches a page; lookups hit, miss and are counted. */
static void
test_publish_lookup(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(4, 64, 4, &mem);
	llm_kv_stats st;
	int32_t		a,
				b;

	if (pool == NULL)
		return;
	a = llm_kv_page_alloc(pool);
	b = llm_kv_page_alloc(pool);
	memcpy(llm_kv_page_data(pool, a), "page a", 7);
	llm_kv_publish(pool, a, 1001);
	llm_kv_publish(pool, b, 1001);	/* hash taken: no-op */
	llm_kv_publish(pool, a, 2002);	/* a already published: no-op */
	llm_kv_page_unref(pool, a);
	llm_kv_page_unref(pool, b);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_cached == 1 && st.pages_free == 3 && st.pages_used == 0);
	CHECK(llm_kv_page_refcount(pool, a) == 0);

	CHECK(llm_kv_lookup(pool, 2002) == -1);
	CHECK(llm_kv_lookup(pool, 1001) == a);	/* cached -> used */
	CHECK(llm_kv_page_refcount(pool, a) == 1);
	CHECK(memcmp(llm_kv_page_data(pool, a), "page a", 7) == 0);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_cached == 0 && st.pages_used == 1);
	CHECK(llm_kv_lookup(pool, 1001) == a);	/* used: one more reference */
	CHECK(llm_kv_page_refcount(pool, a) == 2);
	CHECK(llm_kv_lookup(pool, 7) == -1);
	llm_kv_get_stats(pool, &st);
	CHECK(st.prefix_queries == 4 && st.prefix_hits == 2);

	llm_kv_page_unref(pool, a);
	llm_kv_page_unref(pool, a);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_cached == 1 && st.pages_used == 0);
	/* Hash 0 is a valid key like any other. */
	b = llm_kv_page_alloc(pool);
	llm_kv_publish(pool, b, 0);
	CHECK(llm_kv_lookup(pool, 0) == b);
	CHECK(llm_kv_page_refcount(pool, b) == 2);
	/* b's two references are held by no table: the check says so. */
	CHECK(llm_kv_check(pool, NULL, 0, NULL) == LLM_ERR_INTERNAL);
	llm_kv_page_unref(pool, b);
	llm_kv_page_unref(pool, b);
	CHECK(t_check(pool, NULL, NULL, NULL, NULL));
	free(mem);
}

/* The oldest cached page is evicted first; a looked-up page leaves the LRU. */
static void
test_lru_eviction(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(4, 64, 4, &mem);
	llm_kv_stats st;
	int32_t		p[4],
				got[4];

	if (pool == NULL)
		return;
	for (int i = 0; i < 4; i++)
	{
		p[i] = llm_kv_page_alloc(pool);
		llm_kv_publish(pool, p[i], 100 + i);
	}
	for (int i = 0; i < 4; i++)
		llm_kv_page_unref(pool, p[i]);	/* LRU: p0 p1 p2 p3 */
	/* Re-use p1, release it again: now the most recent. */
	CHECK(llm_kv_lookup(pool, 101) == p[1]);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_cached == 3);
	llm_kv_page_unref(pool, p[1]);	/* LRU: p0 p2 p3 p1 */
	for (int i = 0; i < 4; i++)
		got[i] = llm_kv_page_alloc(pool);
	CHECK(got[0] == p[0] && got[1] == p[2] && got[2] == p[3] && got[3] == p[1]);
	llm_kv_get_stats(pool, &st);
	CHECK(st.evictions == 4 && st.pages_cached == 0 && st.pages_used == 4);
	/* Evicted pages lost their keys. */
	for (int i = 0; i < 4; i++)
		CHECK(llm_kv_lookup(pool, 100 + i) == -1);
	CHECK(llm_kv_page_alloc(pool) == -1);
	for (int i = 0; i < 4; i++)
		llm_kv_page_unref(pool, got[i]);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_free == 4);
	free(mem);
}

/* Eviction takes only cached pages, never a used one (published or not). */
static void
test_evict_never_used(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(5, 64, 4, &mem);
	llm_kv_stats st;
	int32_t		p[5],
				q;

	if (pool == NULL)
		return;
	for (int i = 0; i < 5; i++)
	{
		p[i] = llm_kv_page_alloc(pool);
		memset(llm_kv_page_data(pool, p[i]), 'a' + i, 64);
		llm_kv_publish(pool, p[i], 500 + i);
	}
	/* p0 and p3 become cached; p1, p2 (published) and p4 stay used. */
	llm_kv_page_unref(pool, p[3]);
	llm_kv_page_unref(pool, p[0]);
	q = llm_kv_page_alloc(pool);
	CHECK(q == p[3]);
	q = llm_kv_page_alloc(pool);
	CHECK(q == p[0]);
	CHECK(llm_kv_page_alloc(pool) == -1);
	llm_kv_get_stats(pool, &st);
	CHECK(st.evictions == 2 && st.pages_used == 5);
	for (int i = 1; i < 5; i++)
	{
		unsigned char *d = llm_kv_page_data(pool, p[i]);

		if (i == 3)
			continue;
		CHECK(d[0] == 'a' + i && d[63] == 'a' + i);
		CHECK(llm_kv_page_refcount(pool, p[i]) == 1);
	}
	/* The used published pages are still found. */
	CHECK(llm_kv_lookup(pool, 501) == p[1]);
	CHECK(llm_kv_lookup(pool, 502) == p[2]);
	CHECK(llm_kv_lookup(pool, 500) == -1 && llm_kv_lookup(pool, 503) == -1);
	llm_kv_page_unref(pool, p[1]);
	llm_kv_page_unref(pool, p[2]);
	for (int i = 0; i < 5; i++)
		llm_kv_page_unref(pool, p[i]);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 0 && st.pages_cached == 3 && st.pages_free == 2);
	free(mem);
}

/* qsort order of uint64_t. */
static int
t_cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return (x > y) - (x < y);
}

/* Block hash: deterministic, sensitive to every input, well mixed. */
static void
test_block_hash(void)
{
	int32_t		t[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	int32_t		u[8];
	uint64_t	h = llm_kv_block_hash(0, t, 8, T_MODEL);
	uint64_t   *all;
	int			n = 100000,
				dup = 0,
				flips = 0,
				trials = 0;

	CHECK(h == llm_kv_block_hash(0, t, 8, T_MODEL));
	CHECK(h != llm_kv_block_hash(1, t, 8, T_MODEL));
	CHECK(h != llm_kv_block_hash(0, t, 8, T_MODEL + 1));
	CHECK(h != llm_kv_block_hash(0, t, 7, T_MODEL));
	memcpy(u, t, sizeof(t));
	u[7] = 9;
	CHECK(h != llm_kv_block_hash(0, u, 8, T_MODEL));
	/* Swapping parent and model key must not give the same key. */
	CHECK(llm_kv_block_hash(5, t, 8, 6) != llm_kv_block_hash(6, t, 8, 5));

	/* Avalanche: one flipped input bit flips about half the output bits. */
	for (int i = 0; i < 8; i++)
	{
		for (int bit = 0; bit < 32; bit++)
		{
			memcpy(u, t, sizeof(t));
			u[i] ^= (int32_t) (1u << bit);
			flips += __builtin_popcountll(h ^ llm_kv_block_hash(0, u, 8, T_MODEL));
			trials++;
		}
	}
	CHECK_NEAR((double) flips / trials, 32.0, 2.0);

	/*
	 * 100k distinct inputs (i in base 4 over a 4-letter alphabet), half of
	 * them chained, half with parent 0: no two keys collide.
	 */
	all = malloc(n * sizeof(uint64_t));
	if (all == NULL)
		return;
	h = 0;
	for (int i = 0; i < n; i++)
	{
		int32_t		tok[9];

		for (int d = 0; d < 9; d++)
			tok[d] = (i >> (2 * d)) & 3;
		h = llm_kv_block_hash((i & 1) ? h : 0, tok, 9, T_MODEL);
		all[i] = h;
	}
	qsort(all, n, sizeof(uint64_t), t_cmp_u64);
	for (int i = 1; i < n; i++)
		dup += all[i] == all[i - 1];
	CHECK(dup == 0);
	free(all);
}

/* prepare_write allocates across page boundaries and keeps n_tokens. */
static void
test_bt_prepare_write(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(16, 64, 4, &mem);
	llm_block_table bt;
	llm_kv_stats st;
	llm_error	err;
	bool		ok = true;

	if (pool == NULL)
		return;
	llm_bt_init(&bt);
	CHECK(llm_bt_prepare_write(pool, &bt, 0, 0, &err) == LLM_OK && bt.n_pages == 0);
	CHECK(llm_bt_prepare_write(pool, &bt, 0, 10, &err) == LLM_OK);
	CHECK(bt.n_pages == 3 && bt.n_tokens == 0 && bt.cap >= 3);
	for (int32_t p = 0; p < 10; p++)
		*t_slot(pool, &bt, p) = 100 + p;
	bt.n_tokens = 10;			/* the engine commits what it wrote */
	CHECK(t_check(pool, &bt, NULL, NULL, NULL));
	/* Positions 10..16 span the rest of page 2 and pages 3, 4. */
	CHECK(llm_bt_prepare_write(pool, &bt, 10, 7, &err) == LLM_OK);
	CHECK(bt.n_pages == 5 && bt.n_tokens == 10);
	for (int32_t p = 10; p < 17; p++)
		*t_slot(pool, &bt, p) = 100 + p;
	bt.n_tokens = 17;
	for (int32_t p = 0; p < 17; p++)
		ok &= *t_slot(pool, &bt, p) == 100 + p;
	CHECK(ok);
	/* Re-preparing written, private pages changes nothing. */
	CHECK(llm_bt_prepare_write(pool, &bt, 3, 10, &err) == LLM_OK);
	CHECK(bt.n_pages == 5);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 5 && st.cow_copies == 0);
	for (int32_t p = 0; p < 17; p++)
		ok &= *t_slot(pool, &bt, p) == 100 + p;
	CHECK(ok);
	/* A write past a gap allocates every page up to it. */
	CHECK(llm_bt_prepare_write(pool, &bt, 30, 1, &err) == LLM_OK);
	CHECK(bt.n_pages == 8);
	CHECK(t_check(pool, &bt, NULL, NULL, NULL));
	CHECK(llm_bt_prepare_write(pool, &bt, -1, 2, &err) == LLM_ERR_INVALID_ARG);
	CHECK(llm_bt_prepare_write(pool, &bt, 0, -2, &err) == LLM_ERR_INVALID_ARG);
	CHECK(llm_bt_prepare_write(pool, &bt, INT32_MAX - 1, 5, &err) == LLM_ERR_RANGE);
	llm_bt_release(pool, &bt);
	CHECK(bt.pages == NULL && bt.n_pages == 0 && bt.n_tokens == 0);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 0 && st.pages_free == 16);
	free(mem);
}

/* When the pool runs out the table stays consistent and releasable. */
static void
test_bt_full(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(3, 64, 4, &mem);
	llm_block_table a,
				b;
	llm_kv_stats st;
	llm_error	err;
	uint64_t	h;

	if (pool == NULL)
		return;
	llm_bt_init(&a);
	llm_bt_init(&b);
	CHECK(llm_bt_prepare_write(pool, &a, 0, 20, &err) == LLM_ERR_FULL);
	CHECK(err.code == LLM_ERR_FULL && strstr(err.msg, "full") != NULL);
	CHECK(a.n_pages == 3 && a.n_tokens == 0);
	CHECK(t_check(pool, &a, NULL, NULL, NULL));
	/* A shared page cannot be copied: FULL, nothing changes. */
	CHECK(llm_bt_fork(pool, &a, &b, &err) == LLM_OK);
	CHECK(llm_bt_prepare_write(pool, &b, 0, 1, &err) == LLM_ERR_FULL);
	CHECK(b.pages[0] == a.pages[0] && llm_kv_page_refcount(pool, a.pages[0]) == 2);
	CHECK(t_check(pool, &a, &b, NULL, NULL));
	llm_bt_release(pool, &b);

	/*
	 * A published page with one owner and no page for a copy is
	 * unpublished and written in place.
	 */
	for (int32_t p = 0; p < 4; p++)
		*t_slot(pool, &a, p) = p;
	h = llm_kv_block_hash(0, (int32_t[]) {0, 1, 2, 3}, 4, T_MODEL);
	llm_kv_publish(pool, a.pages[0], h);
	a.n_tokens = 4;
	CHECK(llm_bt_prepare_write(pool, &a, 2, 1, &err) == LLM_OK);
	llm_kv_get_stats(pool, &st);
	CHECK(st.cow_copies == 0);
	CHECK(llm_kv_lookup(pool, h) == -1);
	CHECK(t_check(pool, &a, NULL, NULL, NULL));
	llm_bt_release(pool, &a);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_free == 3 && st.pages_cached == 0);
	free(mem);
}

/* truncate rolls back positions and releases the pages past the end. */
static void
test_bt_truncate(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(8, 64, 4, &mem);
	llm_block_table bt;
	llm_kv_stats st;
	llm_error	err;
	int32_t		p2;
	bool		ok = true;

	if (pool == NULL)
		return;
	llm_bt_init(&bt);
	CHECK(llm_bt_prepare_write(pool, &bt, 0, 17, &err) == LLM_OK);
	for (int32_t p = 0; p < 17; p++)
		*t_slot(pool, &bt, p) = 7 * p;
	llm_bt_truncate(pool, &bt, 17);
	CHECK(bt.n_tokens == 17 && bt.n_pages == 5);
	p2 = bt.pages[2];

	llm_bt_truncate(pool, &bt, 13);	/* rollback inside the last page */
	CHECK(bt.n_tokens == 13 && bt.n_pages == 4);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 4 && st.pages_free == 4);
	llm_bt_truncate(pool, &bt, 8);	/* exact page boundary */
	CHECK(bt.n_tokens == 8 && bt.n_pages == 2);
	llm_bt_truncate(pool, &bt, 6);	/* into an earlier page */
	CHECK(bt.n_tokens == 6 && bt.n_pages == 2);
	CHECK(t_check(pool, &bt, NULL, NULL, NULL));
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 2 && st.pages_free == 6);
	CHECK(llm_kv_page_refcount(pool, p2) == 0);
	for (int32_t p = 0; p < 6; p++)
		ok &= *t_slot(pool, &bt, p) == 7 * p;
	CHECK(ok);
	/* Rewrite from position 6 on: the first 6 positions are untouched. */
	CHECK(llm_bt_prepare_write(pool, &bt, 6, 5, &err) == LLM_OK);
	for (int32_t p = 6; p < 11; p++)
		*t_slot(pool, &bt, p) = -p;
	bt.n_tokens = 11;
	for (int32_t p = 0; p < 11; p++)
		ok &= *t_slot(pool, &bt, p) == (p < 6 ? 7 * p : -p);
	CHECK(ok);
	/* Clamped: never more positions than pages, never negative. */
	llm_bt_truncate(pool, &bt, 1000);
	CHECK(bt.n_tokens == 12 && bt.n_pages == 3);
	llm_bt_truncate(pool, &bt, -5);
	CHECK(bt.n_tokens == 0 && bt.n_pages == 0);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 0);
	llm_bt_release(pool, &bt);
	free(mem);
}

/* fork shares pages; a write into a shared page copies it first. */
static void
test_bt_fork_cow(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(8, 64, 4, &mem);
	llm_block_table a,
				b;
	llm_kv_stats st;
	llm_error	err;
	int32_t		a1;

	if (pool == NULL)
		return;
	llm_bt_init(&a);
	CHECK(llm_bt_prepare_write(pool, &a, 0, 6, &err) == LLM_OK);
	for (int32_t p = 0; p < 6; p++)
		*t_slot(pool, &a, p) = 10 + p;
	a.n_tokens = 6;
	a1 = a.pages[1];
	CHECK(llm_bt_fork(pool, &a, &b, &err) == LLM_OK);
	CHECK(b.n_pages == 2 && b.n_tokens == 6 && b.pages != a.pages);
	CHECK(b.pages[0] == a.pages[0] && b.pages[1] == a1);
	CHECK(llm_kv_page_refcount(pool, a1) == 2);
	CHECK(t_check(pool, &a, &b, NULL, NULL));

	/* b appends at 6, inside the shared partial page 1: copied. */
	CHECK(llm_bt_prepare_write(pool, &b, 6, 1, &err) == LLM_OK);
	CHECK(b.pages[1] != a1 && a.pages[1] == a1 && b.pages[0] == a.pages[0]);
	CHECK(llm_kv_page_refcount(pool, a1) == 1 && llm_kv_page_refcount(pool, b.pages[1]) == 1);
	llm_kv_get_stats(pool, &st);
	CHECK(st.cow_copies == 1);
	*t_slot(pool, &b, 6) = 777;
	b.n_tokens = 7;
	CHECK(*t_slot(pool, &b, 4) == 14 && *t_slot(pool, &b, 5) == 15);

	/* a writes its own position 6 in place (now sole owner). */
	CHECK(llm_bt_prepare_write(pool, &a, 6, 1, &err) == LLM_OK);
	CHECK(a.pages[1] == a1);
	*t_slot(pool, &a, 6) = 666;
	a.n_tokens = 7;
	llm_kv_get_stats(pool, &st);
	CHECK(st.cow_copies == 1);
	CHECK(*t_slot(pool, &b, 6) == 777 && *t_slot(pool, &a, 6) == 666);

	/* b overwrites position 1 in the shared full page 0: copied too. */
	CHECK(llm_bt_prepare_write(pool, &b, 1, 1, &err) == LLM_OK);
	CHECK(b.pages[0] != a.pages[0]);
	*t_slot(pool, &b, 1) = -1;
	CHECK(*t_slot(pool, &a, 1) == 11 && *t_slot(pool, &b, 0) == 10 &&
		  *t_slot(pool, &b, 2) == 12 && *t_slot(pool, &b, 3) == 13);
	llm_kv_get_stats(pool, &st);
	CHECK(st.cow_copies == 2 && st.pages_used == 4);
	CHECK(t_check(pool, &a, &b, NULL, NULL));
	CHECK(llm_bt_fork(pool, &a, &a, &err) == LLM_ERR_INVALID_ARG);
	llm_bt_release(pool, &a);
	llm_bt_release(pool, &b);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 0 && st.pages_free == 8);
	free(mem);
}

/* Prefix reuse: published full pages are found again, data and all. */
static void
test_prefix_reuse(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(8, 64, 4, &mem);
	int32_t		tok[10] = {5, 9, 2, 7, 7, 3, 1, 8, 4, 6};
	llm_block_table a,
				b,
				c;
	int32_t		ap[3];
	llm_kv_stats st;
	llm_error	err;
	uint64_t	h[2];
	bool		ok = true;
	int			k;

	if (pool == NULL)
		return;
	llm_bt_init(&a);
	llm_bt_init(&b);
	llm_bt_init(&c);
	CHECK(llm_bt_prepare_write(pool, &a, 0, 10, &err) == LLM_OK);
	for (int32_t p = 0; p < 10; p++)
		*t_slot(pool, &a, p) = tok[p];
	a.n_tokens = 10;
	for (k = 0; k < 2; k++)
	{
		h[k] = t_chain_hash(tok, k, 4);
		llm_kv_publish(pool, a.pages[k], h[k]);
	}
	memcpy(ap, a.pages, sizeof(ap));
	llm_bt_release(pool, &a);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_cached == 2 && st.pages_free == 6);

	/* b has the same prompt: pages 0 and 1 come from the cache. */
	for (k = 0; k < 3; k++)
	{
		int32_t		page;

		if ((k + 1) * 4 > 10)
			break;
		page = llm_kv_lookup(pool, t_chain_hash(tok, k, 4));
		if (page < 0)
			break;
		CHECK(llm_bt_append_page(pool, &b, page, &err) == LLM_OK);
	}
	CHECK(k == 2 && b.n_pages == 2 && b.pages[0] == ap[0] && b.pages[1] == ap[1]);
	llm_bt_truncate(pool, &b, 8);
	CHECK(b.n_tokens == 8);
	for (int32_t p = 0; p < 8; p++)
		ok &= *t_slot(pool, &b, p) == tok[p];
	CHECK(ok);
	CHECK(llm_bt_prepare_write(pool, &b, 8, 2, &err) == LLM_OK);
	CHECK(b.n_pages == 3);
	llm_kv_get_stats(pool, &st);
	CHECK(st.prefix_hits == 2 && st.prefix_queries == 2 && st.pages_cached == 0);
	/* A different first page breaks the chain at once. */
	tok[0] = 6;
	CHECK(llm_kv_lookup(pool, t_chain_hash(tok, 0, 4)) == -1);
	CHECK(llm_kv_lookup(pool, llm_kv_block_hash(0, tok + 4, 4, T_MODEL)) == -1);
	tok[0] = 5;

	/* b rolls back into the published page 1 and writes: copy-on-write. */
	llm_bt_truncate(pool, &b, 6);
	CHECK(llm_bt_prepare_write(pool, &b, 6, 1, &err) == LLM_OK);
	CHECK(b.pages[1] != ap[1] && b.pages[0] == ap[0]);
	*t_slot(pool, &b, 6) = 99;
	b.n_tokens = 7;
	llm_kv_get_stats(pool, &st);
	CHECK(st.cow_copies == 1 && st.pages_cached == 1);
	/* c still finds the original page 1 with the original tokens. */
	CHECK(llm_kv_lookup(pool, h[0]) == ap[0]);
	CHECK(llm_bt_append_page(pool, &c, ap[0], &err) == LLM_OK);
	CHECK(llm_kv_lookup(pool, h[1]) == ap[1]);
	CHECK(llm_bt_append_page(pool, &c, ap[1], &err) == LLM_OK);
	c.n_tokens = 8;
	for (int32_t p = 0; p < 8; p++)
		ok &= *t_slot(pool, &c, p) == tok[p];
	CHECK(ok);
	CHECK(llm_kv_page_refcount(pool, ap[0]) == 2);
	CHECK(t_check(pool, &b, &c, NULL, NULL));
	CHECK(llm_bt_append_page(pool, &c, 99, &err) == LLM_ERR_INVALID_ARG);
	llm_bt_release(pool, &b);
	llm_bt_release(pool, &c);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 0 && st.pages_cached == 2);
	free(mem);
}

/* ---- randomized stress ---- */

#define S_TABLES	20
#define S_BS		4
#define S_MAXTOK	48
#define S_PAGES		72
#define S_PAGE_BYTES (S_BS * 4 + 12)
#ifdef TEST_KV_ASSERT_BUILD
#define S_OPS		60000
#else
#define S_OPS		200000
#endif

typedef struct s_seq
{
	llm_block_table bt;
	int32_t		tok[S_MAXTOK];	/* what positions < n_tokens must hold */
} s_seq;

static uint64_t s_rng;

/* xorshift64*: a random number in [0, n). */
static uint32_t
s_rand(uint32_t n)
{
	s_rng ^= s_rng >> 12;
	s_rng ^= s_rng << 25;
	s_rng ^= s_rng >> 27;
	return (uint32_t) ((s_rng * UINT64_C(2685821657736338717)) >> 33) % n;
}

/* True if every committed position of s holds its token. */
static bool
s_verify(llm_kv_pool *pool, const s_seq *s)
{
	for (int32_t p = 0; p < s->bt.n_tokens; p++)
		if (*t_slot(pool, &s->bt, p) != s->tok[p])
			return false;
	return true;
}

/* Write toks at pos (engine-style: prepare, write, commit). */
static llm_status
s_write(llm_kv_pool *pool, s_seq *s, int32_t pos, const int32_t *toks, int32_t n)
{
	llm_error	err;
	llm_status	st = llm_bt_prepare_write(pool, &s->bt, pos, n, &err);

	if (st != LLM_OK)
		return st;
	for (int32_t i = 0; i < n; i++)
	{
		*t_slot(pool, &s->bt, pos + i) = toks[i];
		s->tok[pos + i] = toks[i];
	}
	if (pos + n > s->bt.n_tokens)
		s->bt.n_tokens = pos + n;
	return LLM_OK;
}

/* Publish every full committed page of s under its chained key. */
static void
s_publish(llm_kv_pool *pool, s_seq *s)
{
	uint64_t	h = 0;

	for (int32_t k = 0; (k + 1) * S_BS <= s->bt.n_tokens; k++)
	{
		h = llm_kv_block_hash(h, s->tok + k * S_BS, S_BS, T_MODEL);
		llm_kv_publish(pool, s->bt.pages[k], h);
	}
}

/* Start s over with prompt: reuse cached pages, then write the rest. */
static bool
s_prefill(llm_kv_pool *pool, s_seq *s, const int32_t *prompt, int32_t n,
		  int *hits)
{
	uint64_t	h = 0;
	int32_t		k;
	llm_error	err;
	bool		ok = true;

	llm_bt_release(pool, &s->bt);
	for (k = 0; (k + 1) * S_BS <= n; k++)
	{
		int32_t		page;

		h = llm_kv_block_hash(h, prompt + k * S_BS, S_BS, T_MODEL);
		page = llm_kv_lookup(pool, h);
		if (page < 0)
			break;
		if (llm_bt_append_page(pool, &s->bt, page, &err) != LLM_OK)
		{
			llm_kv_page_unref(pool, page);
			return false;
		}
		(*hits)++;
	}
	llm_bt_truncate(pool, &s->bt, k * S_BS);
	memcpy(s->tok, prompt, k * S_BS * sizeof(int32_t));
	/* The cached pages hold exactly the prompt's tokens. */
	ok = s_verify(pool, s);
	if (s_write(pool, s, k * S_BS, prompt + k * S_BS, n - k * S_BS) == LLM_OK)
		s_publish(pool, s);
	return ok;
}

/* Random operations over 20 tables; every invariant after each one. */
static void
test_stress(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(S_PAGES, S_PAGE_BYTES, S_BS, &mem);
	s_seq	   *seq = calloc(S_TABLES, sizeof(s_seq));
	const llm_block_table *tabs[S_TABLES];
	llm_kv_stats st;
	llm_error	err;
	int			bad_check = 0,
				bad_data = 0,
				bad_stats = 0,
				n_full = 0,
				hits = 0;
	char		first[LLM_ERROR_MSG_LEN + 64] = "";

	if (pool == NULL || seq == NULL)
		return;
	s_rng = UINT64_C(0x9e3779b97f4a7c15) ^ 20261126;
	for (int i = 0; i < S_TABLES; i++)
	{
		llm_bt_init(&seq[i].bt);
		tabs[i] = &seq[i].bt;
	}
	for (int op = 0; op < S_OPS; op++)
	{
		int			t = s_rand(S_TABLES);
		s_seq	   *s = &seq[t];
		int32_t		toks[S_MAXTOK];
		int32_t		n,
					pos;
		uint32_t	r = s_rand(100);

		for (int i = 0; i < S_MAXTOK; i++)
			toks[i] = s_rand(3);	/* tiny alphabet: many shared prefixes */
		if (r < 30)
		{
			/* decode / append */
			pos = s->bt.n_tokens;
			n = 1 + s_rand(6);
			if (pos + n > S_MAXTOK)
				llm_bt_truncate(pool, &s->bt, s_rand(S_MAXTOK - n));
			pos = s->bt.n_tokens;
			if (s_write(pool, s, pos, toks, n) == LLM_ERR_FULL)
				n_full++;
		}
		else if (r < 40)
		{
			/* speculative rollback and rewrite */
			int32_t		room;

			pos = s_rand(s->bt.n_tokens + 1);
			room = S_MAXTOK - pos;
			n = room > 0 ? 1 + s_rand(room < 8 ? room : 8) : 0;
			if (n > 0)
			{
				llm_bt_truncate(pool, &s->bt, pos);
				if (s_write(pool, s, pos, toks, n) == LLM_ERR_FULL)
					n_full++;
			}
		}
		else if (r < 50)
			llm_bt_truncate(pool, &s->bt, s_rand(s->bt.n_tokens + 1));
		else if (r < 58)
		{
			s_seq	   *src = &seq[s_rand(S_TABLES)];

			if (src != s)
			{
				llm_bt_release(pool, &s->bt);
				if (llm_bt_fork(pool, &src->bt, &s->bt, &err) != LLM_OK)
					bad_check++;
				memcpy(s->tok, src->tok, sizeof(s->tok));
			}
		}
		else if (r < 66)
			llm_bt_release(pool, &s->bt);
		else if (r < 78)
			s_publish(pool, s);
		else if (r < 92)
		{
			/* a new request whose prompt may share a prefix with another */
			s_seq	   *o = &seq[s_rand(S_TABLES)];
			int32_t		keep = s_rand(o->bt.n_tokens + 1);

			n = keep + s_rand(S_MAXTOK - keep + 1);
			memcpy(toks, o->tok, keep * sizeof(int32_t));
			if (!s_prefill(pool, s, toks, n, &hits))
				bad_data++;
		}
		else
		{
			/* a table read: its committed positions */
			if (!s_verify(pool, s))
				bad_data++;
		}

		if (!s_verify(pool, s))
			bad_data++;
		if (llm_kv_check(pool, tabs, S_TABLES, &err) != LLM_OK)
		{
			if (bad_check++ == 0)
				snprintf(first, sizeof(first), "op %d: %s", op, err.msg);
		}
		llm_kv_get_stats(pool, &st);
		if (st.pages_used + st.pages_cached + st.pages_free != S_PAGES)
			bad_stats++;
		if (op % 4096 == 0)
			for (int i = 0; i < S_TABLES; i++)
				bad_data += !s_verify(pool, &seq[i]);
	}
	CHECKF(bad_check == 0, "%d failed checks, first %s", bad_check, first);
	CHECKF(bad_data == 0, "%d data mismatches", bad_data);
	CHECK(bad_stats == 0);

	llm_kv_get_stats(pool, &st);
	/* The run did exercise every path. */
	CHECKF(n_full > 0 && hits > 0 && st.evictions > 0 && st.cow_copies > 0,
		   "full %d hits %d evictions %lld cow %lld", n_full, hits,
		   (long long) st.evictions, (long long) st.cow_copies);
	CHECK(st.prefix_hits == hits);
	for (int i = 0; i < S_TABLES; i++)
		llm_bt_release(pool, &seq[i].bt);
	llm_kv_get_stats(pool, &st);
	CHECK(st.pages_used == 0 && st.pages_cached + st.pages_free == S_PAGES);
	CHECK(llm_kv_check(pool, tabs, S_TABLES, &err) == LLM_OK);
	if (getenv("LLM_TEST_VERBOSE"))
		fprintf(stderr, "stress: %d ops, full %d, hits %d/%lld, evictions %lld, cow %lld, cached at end %lld\n",
				S_OPS, n_full, hits, (long long) st.prefix_queries,
				(long long) st.evictions, (long long) st.cow_copies,
				(long long) st.pages_cached);
	free(seq);
	free(mem);
}

#ifdef TEST_KV_ASSERT_BUILD
/* SipHash-2-4 core against the reference vectors (key 00..0f). */
static void
test_siphash_vectors(void)
{
	uint8_t		msg[15];
	kv_sip		s;

	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t) i;
	kv_sip_init(&s, UINT64_C(0x0706050403020100), UINT64_C(0x0f0e0d0c0b0a0908));
	CHECK(kv_sip_final(&s) == UINT64_C(0x726fdb47dd0e0e31));
	kv_sip_init(&s, UINT64_C(0x0706050403020100), UINT64_C(0x0f0e0d0c0b0a0908));
	kv_sip_bytes(&s, msg, 15);
	CHECK(kv_sip_final(&s) == UINT64_C(0xa129ca6149be45e5));
}

/* The checker notices each kind of corruption, with a precise message. */
static void
test_check_detects(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(8, 64, 4, &mem);
	kv_page_meta *meta;
	kv_slot    *slots;
	llm_block_table bt;
	llm_error	err;
	int32_t		pages[4];
	kv_page_meta saved;
	int32_t		s;

	if (pool == NULL)
		return;
	meta = kv_meta(pool);
	slots = kv_slots(pool);
	llm_bt_init(&bt);
	bt.pages = pages;
	bt.cap = 4;
	for (int i = 0; i < 4; i++)
		pages[i] = llm_kv_page_alloc(pool);
	bt.n_pages = 3;
	llm_kv_publish(pool, pages[0], 11);
	llm_kv_publish(pool, pages[3], 33);
	llm_kv_page_unref(pool, pages[3]);	/* cached */
	CHECK(t_check(pool, &bt, NULL, NULL, NULL));

	/* refcount disagrees with the tables */
	meta[pages[1]].refcount = 2;
	CHECK(llm_kv_check(pool, (const llm_block_table *[]) {&bt}, 1, &err) == LLM_ERR_INTERNAL);
	CHECK(strstr(err.msg, "refcount 2 but 1 table entries") != NULL);
	meta[pages[1]].refcount = 1;

	/* free list cycle */
	s = pool->free_head;
	saved = meta[s];
	meta[s].free_next = s;
	CHECK(llm_kv_check(pool, (const llm_block_table *[]) {&bt}, 1, &err) == LLM_ERR_INTERNAL);
	CHECK(strstr(err.msg, "free list") != NULL);
	meta[s] = saved;

	/* a free page marked published */
	meta[s].published = 1;
	CHECK(llm_kv_check(pool, NULL, 0, &err) == LLM_ERR_INTERNAL);
	CHECK(strstr(err.msg, "free page") != NULL);
	meta[s] = saved;

	/* lru back link */
	meta[pages[3]].lru_prev = 5;
	CHECK(llm_kv_check(pool, (const llm_block_table *[]) {&bt}, 1, &err) == LLM_ERR_INTERNAL);
	CHECK(strstr(err.msg, "lru") != NULL);
	meta[pages[3]].lru_prev = -1;

	/* hash entry naming the wrong page */
	s = kv_hash_find(pool, 11);
	CHECK(s >= 0);
	slots[s].page = pages[1];
	CHECK(llm_kv_check(pool, (const llm_block_table *[]) {&bt}, 1, &err) == LLM_ERR_INTERNAL);
	CHECK(strstr(err.msg, "hash") != NULL);
	slots[s].page = pages[0];

	/* a counter out of step */
	pool->n_used++;
	CHECK(llm_kv_check(pool, NULL, 0, &err) == LLM_ERR_INTERNAL);
	CHECK(strstr(err.msg, "counters") != NULL);
	pool->n_used--;

	/* a table entry out of range */
	pages[2] += 100;
	CHECK(llm_kv_check(pool, (const llm_block_table *[]) {&bt}, 1, &err) == LLM_ERR_INTERNAL);
	CHECK(strstr(err.msg, "out of range") != NULL);
	pages[2] -= 100;
	CHECK(t_check(pool, &bt, NULL, NULL, NULL));
	free(mem);
}

/* Backward-shift deletion keeps colliding keys findable. */
static void
test_hash_backward_shift(void)
{
	void	   *mem;
	llm_kv_pool *pool = t_pool(16, 64, 4, &mem);
	int32_t		p[16];
	uint64_t	key[16];
	int			n = 0;
	bool		ok = true;

	if (pool == NULL)
		return;
	/* Keys sharing one home slot form a single long cluster. */
	for (uint64_t k = 1; n < 12; k++)
		if (kv_home(pool, k) == kv_home(pool, 1))
			key[n++] = k;
	for (int i = 0; i < 12; i++)
	{
		p[i] = llm_kv_page_alloc(pool);
		llm_kv_publish(pool, p[i], key[i]);
	}
	/* Evict from the middle of the cluster, in a scrambled order. */
	for (int i = 0; i < 12; i++)
		llm_kv_page_unref(pool, p[(i * 5) % 12]);
	for (int i = 0; i < 4; i++)
		(void) llm_kv_page_alloc(pool);	/* free pages first */
	for (int i = 0; i < 6; i++)
		(void) llm_kv_page_alloc(pool);	/* evicts 6 of the cluster */
	for (int i = 0; i < 12; i++)
	{
		int32_t		got = llm_kv_lookup(pool, key[i]);
		bool		evicted = false;

		for (int j = 0; j < 6; j++)
			evicted |= (i == (j * 5) % 12);
		ok &= evicted ? got == -1 : got == p[i];
	}
	CHECK(ok);
	CHECK(pool->n_published == 6);
	free(mem);
}
#endif

int
main(void)
{
	RUN(test_init_errors);
	RUN(test_page_count);
	RUN(test_attach);
	RUN(test_alloc_refcount);
#ifndef TEST_KV_ASSERT_BUILD
	RUN(test_misuse_ignored);
#endif
	RUN(test_publish_lookup);
	RUN(test_lru_eviction);
	RUN(test_evict_never_used);
	RUN(test_block_hash);
	RUN(test_bt_prepare_write);
	RUN(test_bt_full);
	RUN(test_bt_truncate);
	RUN(test_bt_fork_cow);
	RUN(test_prefix_reuse);
	RUN(test_stress);
#ifdef TEST_KV_ASSERT_BUILD
	RUN(test_siphash_vectors);
	RUN(test_check_detects);
	RUN(test_hash_backward_shift);
#endif
	return unit_finish();
}
