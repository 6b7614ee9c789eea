/*
 * kv.h — the paged KV cache: a pool of fixed-size pages, block tables,
 * reference counts, copy-on-write and a prefix cache with LRU eviction.
 *
 * A page holds K and V of block_size consecutive positions for every layer
 * (the engine decides the layout inside a page; the pool only sees
 * page_bytes).  A sequence's block table lists its pages in position order,
 * so position p lives in page pages[p / block_size], slot p % block_size.
 *
 * Page states:
 *   free     refcount 0, on the free list
 *   used     refcount >= 1 (held by that many block tables)
 *   cached   refcount 0 but published in the prefix cache: kept on an LRU
 *            list and reused by llm_kv_lookup, or evicted (oldest first)
 *            when llm_kv_page_alloc finds the free list empty.
 * A used page is never evicted, so eviction never breaks a running sequence.
 *
 * The pool lives entirely inside caller memory (PostgreSQL shared memory):
 * header, per-page metadata, hash table and page data, addressed by
 * indexes, never pointers, so other processes can attach and read stats.
 * The pool does no locking: one thread (the worker) writes; readers take
 * whatever lock the caller documents.
 */
#ifndef LLM_CORE_KV_H
#define LLM_CORE_KV_H

#include "common.h"

typedef struct llm_kv_pool llm_kv_pool;

/*
 * Initialise a pool in mem[0 .. mem_size): as many pages of page_bytes as
 * fit after the metadata (page data aligned to 64 bytes).  LLM_ERR_RANGE
 * if not even one page fits.
 */
llm_status	llm_kv_pool_init(void *mem, size_t mem_size, size_t page_bytes,
							 int32_t block_size, llm_kv_pool **out,
							 llm_error *err);

/* An already initialised pool at mem (NULL if mem holds none). */
llm_kv_pool *llm_kv_pool_attach(void *mem);

/*
 * Bytes of caller memory that always hold a pool of n_pages pages of
 * page_bytes, whatever the alignment of mem (0 on overflow).
 */
size_t		llm_kv_pool_mem_size(int32_t n_pages, size_t page_bytes);

int32_t		llm_kv_n_pages(const llm_kv_pool *pool);
int32_t		llm_kv_block_size(const llm_kv_pool *pool);
size_t		llm_kv_page_bytes(const llm_kv_pool *pool);
void	   *llm_kv_page_data(llm_kv_pool *pool, int32_t page);

/* A page with refcount 1 (free list first, then LRU eviction); -1 if none. */
int32_t		llm_kv_page_alloc(llm_kv_pool *pool);
void		llm_kv_page_ref(llm_kv_pool *pool, int32_t page);
/* At refcount 0 a published page becomes cached, others become free. */
void		llm_kv_page_unref(llm_kv_pool *pool, int32_t page);
int32_t		llm_kv_page_refcount(const llm_kv_pool *pool, int32_t page);

/* ---- prefix cache ---- */

/* Key of a full page: hash of (parent key, its block_size tokens, model). */
uint64_t	llm_kv_block_hash(uint64_t parent, const int32_t *tokens,
							  int32_t n, uint64_t model_key);
/* Register a full page under hash (no-op if the hash is already present). */
void		llm_kv_publish(llm_kv_pool *pool, int32_t page, uint64_t hash);
/* The page published under hash, with a new reference; -1 if none. */
int32_t		llm_kv_lookup(llm_kv_pool *pool, uint64_t hash);

/* ---- block tables ---- */

typedef struct llm_block_table
{
	int32_t    *pages;			/* heap array, cap entries */
	int32_t		n_pages;
	int32_t		cap;
	int32_t		n_tokens;		/* positions holding K/V */
} llm_block_table;

void		llm_bt_init(llm_block_table *bt);

/*
 * Append page at the end of the table (after a prefix-cache hit), taking
 * over the caller's reference (e.g. the one llm_kv_lookup returned).  On
 * LLM_ERR_NOMEM the table is unchanged and the caller keeps its reference.
 * The caller then sets n_tokens (llm_bt_truncate or directly).
 */
llm_status	llm_bt_append_page(llm_kv_pool *pool, llm_block_table *bt,
							   int32_t page, llm_error *err);

/*
 * Make positions [pos, pos + n) writable: allocate missing pages; copy a
 * page that is shared (refcount > 1) or published before it is written
 * (copy-on-write).  On LLM_ERR_FULL the table stays consistent (pages
 * already added remain and are released by llm_bt_release).
 */
llm_status	llm_bt_prepare_write(llm_kv_pool *pool, llm_block_table *bt,
								 int32_t pos, int32_t n, llm_error *err);

/* Keep only the first n_tokens positions; drop pages no longer needed. */
void		llm_bt_truncate(llm_kv_pool *pool, llm_block_table *bt,
							int32_t n_tokens);

/* dst shares every page of src (refcounts incremented). */
llm_status	llm_bt_fork(llm_kv_pool *pool, const llm_block_table *src,
						llm_block_table *dst, llm_error *err);

/* Drop every page and free the array. */
void		llm_bt_release(llm_kv_pool *pool, llm_block_table *bt);

/*
 * Check the pool invariants against the complete set of live block tables:
 * each page's refcount equals the number of table entries naming it; the
 * free list, LRU list and used pages are disjoint and cover the pool; the
 * hash table names only cached or used pages.
 */
llm_status	llm_kv_check(const llm_kv_pool *pool,
						 const llm_block_table *const *tables, int n_tables,
						 llm_error *err);

typedef struct llm_kv_stats
{
	int64_t		pages_total;
	int64_t		pages_used;
	int64_t		pages_cached;
	int64_t		pages_free;
	int64_t		prefix_queries;	/* llm_kv_lookup calls */
	int64_t		prefix_hits;	/* lookups that found a page */
	int64_t		evictions;
	int64_t		cow_copies;
} llm_kv_stats;

void		llm_kv_get_stats(const llm_kv_pool *pool, llm_kv_stats *st);

#endif							/* LLM_CORE_KV_H */
