/*
 * kv.c — the paged KV cache page pool, block tables and prefix cache.
 *
 * Memory layout.  Everything lives in the caller's block (PostgreSQL shared
 * memory): one process initialises it, others attach to read statistics.
 * Nothing inside holds a pointer; every link is an int32 page index or a
 * byte offset from the header, so the block may be mapped anywhere.
 *
 *   offset 0        struct llm_kv_pool    magic, version, geometry, list
 *                                         heads, counters, statistics
 *   meta_off        kv_page_meta[n_pages] refcount, state, hash, links
 *   hash_off        kv_slot[hash_cap]     open-addressing table hash->page
 *   data_off        page data             n_pages * page_stride bytes
 *
 * meta_off and hash_off are multiples of 64; data_off is chosen at
 * initialisation so that the page data is 64-byte aligned in the
 * initialising process, and page_stride is page_bytes rounded up to 64, so
 * every page starts on a cache line.
 *
 * Page states (see kv.h): free pages are on a singly linked free list
 * (free_next); cached pages are on a doubly linked LRU list (lru_prev,
 * lru_next), head = least recently used, tail = most recently released;
 * used pages are on no list.  A page is "published" when the hash table
 * names it: every cached page is published, a used page may be.  Counters
 * n_free, n_used and n_cached are kept so statistics are O(1).
 *
 * Hash table.  Linear probing over a power-of-two table at most half full
 * (hash_cap >= 2 * n_pages, and at most n_pages pages are published), so
 * a probe always ends at an empty slot.  Deletion uses backward shift, not
 * tombstones: after removing a slot, later entries of the same cluster that
 * may move closer to their home slot are shifted back, so lookups stay
 * O(1) expected however long the pool runs.  The home slot is taken from a
 * re-mixed hash, so even badly distributed caller keys spread well.
 *
 * Block hash.  llm_kv_block_hash is SipHash-2-4 (Aumasson and Bernstein)
 * with a fixed 128-bit key over the little-endian bytes of (parent key,
 * model key, token count, tokens).  It is a strong 64-bit PRF: keys of
 * different prefixes collide with probability about 2^-64 per pair, so
 * with a million cached pages a false prefix hit has probability ~3e-8.
 * The encoding is platform independent.
 *
 * Copy-on-write.  llm_bt_prepare_write copies a page before it is written
 * if it is shared (refcount > 1) or published (refcount 1): a published
 * page's data must keep matching its hash for other sequences, so we copy
 * it rather than unpublish it.  Only when the pool has no page left for
 * the copy is a published page with refcount 1 unpublished and written in
 * place (it loses its prefix entry, nothing breaks).
 *
 * Release order.  Block tables release pages from the last to the first,
 * so in the LRU list a prefix's later pages are older than its earlier
 * ones and are evicted first: the cache never keeps a page whose parent
 * chain has been evicted while evicting the parent.
 *
 * Locking: none here.  One process (the worker) mutates the pool; readers
 * of statistics take whatever lock the caller documents.
 *
 * Assertion build.  Compiled with -DLLM_KV_ASSERT, every mutating function
 * verifies the pool's own lists and hash table after its work, and a
 * misuse (unref of a free page, an index out of range) is reported; both
 * print a message and abort().  That build is for tests only: the normal
 * build never aborts and ignores misuse of the void functions.
 */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

#ifdef LLM_KV_ASSERT
#include <stdio.h>
#endif

#define KV_MAGIC		UINT64_C(0x4c4c4d4b56504f4c)	/* "LOPVKMLL" */
#define KV_VERSION		1
#define KV_ALIGN		64
#define KV_MAX_PAGES	(1 << 28)

enum
{
	KV_FREE = 0,
	KV_USED = 1,
	KV_CACHED = 2
};

/* Per-page metadata (32 bytes). */
typedef struct kv_page_meta
{
	uint64_t	hash;			/* prefix key, valid when published */
	int32_t		refcount;		/* block-table entries naming the page */
	int32_t		lru_prev;		/* cached: older neighbour, -1 at head */
	int32_t		lru_next;		/* cached: newer neighbour, -1 at tail */
	int32_t		free_next;		/* free: next free page, -1 at end */
	uint8_t		state;			/* KV_FREE, KV_USED or KV_CACHED */
	uint8_t		published;		/* the hash table names this page */
	uint8_t		pad[6];
} kv_page_meta;

/* One hash-table slot: page -1 means empty. */
typedef struct kv_slot
{
	uint64_t	hash;
	int32_t		page;
	int32_t		pad;
} kv_slot;

/* The pool header, at offset 0 of the caller's memory. */
struct llm_kv_pool
{
	uint64_t	magic;
	uint32_t	version;
	uint32_t	header_bytes;	/* sizeof(struct llm_kv_pool) */
	uint64_t	mem_size;		/* bytes given to llm_kv_pool_init */
	uint64_t	page_bytes;
	uint64_t	page_stride;	/* page_bytes rounded up to KV_ALIGN */
	uint64_t	meta_off;
	uint64_t	hash_off;
	uint64_t	data_off;
	int32_t		block_size;
	int32_t		n_pages;
	int32_t		hash_cap;		/* power of two, >= 2 * n_pages */
	int32_t		free_head;		/* -1 if no free page */
	int32_t		lru_head;		/* least recently used cached page */
	int32_t		lru_tail;		/* most recently used cached page */
	int32_t		n_free;
	int32_t		n_used;
	int32_t		n_cached;
	int32_t		n_published;
	int64_t		prefix_queries;
	int64_t		prefix_hits;
	int64_t		evictions;
	int64_t		cow_copies;
};

/* Offsets of a pool's regions, relative to the header. */
typedef struct kv_layout
{
	size_t		meta_off;
	size_t		hash_off;
	size_t		data_off;		/* before any address alignment padding */
	size_t		page_stride;
	size_t		need;			/* bytes from the header to the end of data */
	int32_t		hash_cap;
} kv_layout;

static llm_status kv_check_pool(const llm_kv_pool *pool, llm_error *err);

#ifdef LLM_KV_ASSERT
/* Assertion build: report a broken pool or a misuse and abort. */
static void
kv_assert_fail(const char *func, const char *msg)
{
	fprintf(stderr, "llm kv assertion failed in %s: %s\n", func, msg);
	fflush(stderr);
	abort();
}

/* Assertion build: verify the pool's own lists after a mutation. */
static void
kv_assert_pool(const llm_kv_pool *pool, const char *func)
{
	llm_error	e;

	if (kv_check_pool(pool, &e) != LLM_OK)
		kv_assert_fail(func, e.msg);
}

#define KV_VERIFY(pool)		kv_assert_pool((pool), __func__)
#define KV_MISUSE(msg)		kv_assert_fail(__func__, (msg))
#else
#define KV_VERIFY(pool)		((void) 0)
#define KV_MISUSE(msg)		((void) 0)
#endif

/* x rounded up to a multiple of KV_ALIGN; false on overflow. */
static bool
kv_align_up(size_t x, size_t *out)
{
	if (x > SIZE_MAX - (KV_ALIGN - 1))
		return false;
	*out = (x + KV_ALIGN - 1) & ~(size_t) (KV_ALIGN - 1);
	return true;
}

/* Compute the layout of a pool of n_pages pages; false on overflow. */
static bool
kv_compute_layout(int64_t n_pages, uint64_t page_bytes, kv_layout *l)
{
	size_t		cap = 8;
	size_t		meta_end,
				hash_end,
				data_bytes;

	if (n_pages < 1 || n_pages > KV_MAX_PAGES || page_bytes == 0)
		return false;
	if (page_bytes > SIZE_MAX)
		return false;
	while (cap < (size_t) n_pages * 2)
		cap *= 2;
	l->hash_cap = (int32_t) cap;
	if (!kv_align_up(sizeof(struct llm_kv_pool), &l->meta_off) ||
		!llm_mul_size((size_t) n_pages, sizeof(kv_page_meta), &meta_end) ||
		!llm_add_size(meta_end, l->meta_off, &meta_end) ||
		!kv_align_up(meta_end, &l->hash_off) ||
		!llm_mul_size(cap, sizeof(kv_slot), &hash_end) ||
		!llm_add_size(hash_end, l->hash_off, &hash_end) ||
		!kv_align_up(hash_end, &l->data_off) ||
		!kv_align_up(page_bytes, &l->page_stride) ||
		!llm_mul_size((size_t) (n_pages - 1), l->page_stride, &data_bytes) ||
		!llm_add_size(data_bytes, page_bytes, &data_bytes) ||
		!llm_add_size(data_bytes, l->data_off, &l->need))
		return false;
	return true;
}

/* The page metadata array. */
static inline kv_page_meta *
kv_meta(const llm_kv_pool *pool)
{
	return (kv_page_meta *) ((char *) pool + pool->meta_off);
}

/* The hash table. */
static inline kv_slot *
kv_slots(const llm_kv_pool *pool)
{
	return (kv_slot *) ((char *) pool + pool->hash_off);
}

/* True if page is a valid index in pool. */
static inline bool
kv_page_ok(const llm_kv_pool *pool, int32_t page)
{
	return pool != NULL && page >= 0 && page < pool->n_pages;
}

/* Home slot of hash: the key is re-mixed so any key distribution works. */
static inline int32_t
kv_home(const llm_kv_pool *pool, uint64_t hash)
{
	hash ^= hash >> 31;
	hash *= UINT64_C(0x9e3779b97f4a7c15);
	hash ^= hash >> 29;
	return (int32_t) (hash & (uint64_t) (pool->hash_cap - 1));
}

/* Slot holding hash, or -1. */
static int32_t
kv_hash_find(const llm_kv_pool *pool, uint64_t hash)
{
	const kv_slot *slots = kv_slots(pool);
	int32_t		mask = pool->hash_cap - 1;
	int32_t		i = kv_home(pool, hash);

	/* The table is at most half full, so an empty slot ends the probe. */
	while (slots[i].page >= 0)
	{
		if (slots[i].hash == hash)
			return i;
		i = (i + 1) & mask;
	}
	return -1;
}

/* Insert hash -> page; the caller checked that hash is absent. */
static void
kv_hash_insert(llm_kv_pool *pool, uint64_t hash, int32_t page)
{
	kv_slot    *slots = kv_slots(pool);
	int32_t		mask = pool->hash_cap - 1;
	int32_t		i = kv_home(pool, hash);

	while (slots[i].page >= 0)
		i = (i + 1) & mask;
	slots[i].hash = hash;
	slots[i].page = page;
	pool->n_published++;
}

/* Empty slot i, shifting later entries of its cluster back (no tombstone). */
static void
kv_hash_remove_slot(llm_kv_pool *pool, int32_t i)
{
	kv_slot    *slots = kv_slots(pool);
	int32_t		mask = pool->hash_cap - 1;
	int32_t		j = i;

	for (;;)
	{
		int32_t		k;
		bool		stays;

		j = (j + 1) & mask;
		if (slots[j].page < 0)
			break;
		k = kv_home(pool, slots[j].hash);
		/* The entry at j stays if its home lies cyclically in (i, j]. */
		if (i <= j)
			stays = (i < k && k <= j);
		else
			stays = (i < k || k <= j);
		if (stays)
			continue;
		slots[i] = slots[j];
		i = j;
	}
	slots[i].page = -1;
	slots[i].hash = 0;
	pool->n_published--;
}

/* Drop page's hash-table entry, if it has one. */
static void
kv_unpublish(llm_kv_pool *pool, int32_t page)
{
	kv_page_meta *m = &kv_meta(pool)[page];
	int32_t		slot;

	if (!m->published)
		return;
	slot = kv_hash_find(pool, m->hash);
	if (slot >= 0 && kv_slots(pool)[slot].page == page)
		kv_hash_remove_slot(pool, slot);
	m->published = 0;
	m->hash = 0;
}

/* Unlink a cached page from the LRU list. */
static void
kv_lru_remove(llm_kv_pool *pool, int32_t page)
{
	kv_page_meta *meta = kv_meta(pool);
	kv_page_meta *m = &meta[page];

	if (m->lru_prev >= 0)
		meta[m->lru_prev].lru_next = m->lru_next;
	else
		pool->lru_head = m->lru_next;
	if (m->lru_next >= 0)
		meta[m->lru_next].lru_prev = m->lru_prev;
	else
		pool->lru_tail = m->lru_prev;
	m->lru_prev = -1;
	m->lru_next = -1;
	pool->n_cached--;
}

/* Append a page at the most recently used end of the LRU list. */
static void
kv_lru_push_tail(llm_kv_pool *pool, int32_t page)
{
	kv_page_meta *meta = kv_meta(pool);
	kv_page_meta *m = &meta[page];

	m->lru_next = -1;
	m->lru_prev = pool->lru_tail;
	if (pool->lru_tail >= 0)
		meta[pool->lru_tail].lru_next = page;
	else
		pool->lru_head = page;
	pool->lru_tail = page;
	pool->n_cached++;
}

/* Take a page (free list, else evict the LRU head) with refcount 1. */
static int32_t
kv_alloc(llm_kv_pool *pool)
{
	kv_page_meta *meta = kv_meta(pool);
	int32_t		page;

	if (pool->free_head >= 0)
	{
		page = pool->free_head;
		pool->free_head = meta[page].free_next;
		meta[page].free_next = -1;
		pool->n_free--;
	}
	else if (pool->lru_head >= 0)
	{
		page = pool->lru_head;
		kv_lru_remove(pool, page);
		kv_unpublish(pool, page);
		pool->evictions++;
	}
	else
		return -1;
	meta[page].state = KV_USED;
	meta[page].refcount = 1;
	pool->n_used++;
	return page;
}

/* Drop one reference to a used page. */
static void
kv_unref(llm_kv_pool *pool, int32_t page)
{
	kv_page_meta *m = &kv_meta(pool)[page];

	if (--m->refcount > 0)
		return;
	pool->n_used--;
	if (m->published)
	{
		m->state = KV_CACHED;
		kv_lru_push_tail(pool, page);
	}
	else
	{
		m->state = KV_FREE;
		m->free_next = pool->free_head;
		pool->free_head = page;
		pool->n_free++;
	}
}

/* Bytes of caller memory that hold n_pages pages at any alignment. */
size_t
llm_kv_pool_mem_size(int32_t n_pages, size_t page_bytes)
{
	kv_layout	l;
	size_t		total;

	if (!kv_compute_layout(n_pages, page_bytes, &l) ||
		!llm_add_size(l.need, KV_ALIGN - 1, &total))
		return 0;
	return total;
}

/* Initialise a pool in caller memory, as many pages as fit. */
llm_status
llm_kv_pool_init(void *mem, size_t mem_size, size_t page_bytes,
				 int32_t block_size, llm_kv_pool **out, llm_error *err)
{
	llm_kv_pool *pool = (llm_kv_pool *) mem;
	kv_page_meta *meta;
	kv_slot    *slots;
	kv_layout	l;
	uint64_t	pad;
	int64_t		lo,
				hi;

	if (out != NULL)
		*out = NULL;
	if (mem == NULL || out == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv pool: no memory or no output pointer");
	if (((uintptr_t) mem & 7) != 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv pool: memory is not 8-byte aligned");
	if (page_bytes == 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv pool: page size is zero");
	if (block_size <= 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv pool: block size %d is not positive", (int) block_size);

	/*
	 * Every region offset is a multiple of 64, so the padding that aligns
	 * the page data does not depend on the page count: binary-search the
	 * largest count whose layout fits.
	 */
	pad = (uint64_t) (-(uintptr_t) mem) & (KV_ALIGN - 1);
	lo = 0;
	hi = (int64_t) (mem_size / page_bytes);
	if (hi > KV_MAX_PAGES)
		hi = KV_MAX_PAGES;
	while (lo < hi)
	{
		int64_t		mid = lo + (hi - lo + 1) / 2;

		if (kv_compute_layout(mid, page_bytes, &l) && l.need <= mem_size &&
			pad <= mem_size - l.need)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (lo < 1)
		return llm_errorf(err, LLM_ERR_RANGE,
						  "kv pool: %zu bytes do not hold one page of %zu bytes (need %zu)",
						  mem_size, page_bytes, llm_kv_pool_mem_size(1, page_bytes));
	kv_compute_layout(lo, page_bytes, &l);

	memset(pool, 0, sizeof(*pool));
	pool->header_bytes = sizeof(struct llm_kv_pool);
	pool->mem_size = mem_size;
	pool->page_bytes = page_bytes;
	pool->page_stride = l.page_stride;
	pool->meta_off = l.meta_off;
	pool->hash_off = l.hash_off;
	pool->data_off = l.data_off + pad;
	pool->block_size = block_size;
	pool->n_pages = (int32_t) lo;
	pool->hash_cap = l.hash_cap;
	pool->free_head = 0;
	pool->lru_head = -1;
	pool->lru_tail = -1;
	pool->n_free = pool->n_pages;

	meta = kv_meta(pool);
	for (int32_t i = 0; i < pool->n_pages; i++)
	{
		memset(&meta[i], 0, sizeof(meta[i]));
		meta[i].state = KV_FREE;
		meta[i].lru_prev = -1;
		meta[i].lru_next = -1;
		meta[i].free_next = (i + 1 < pool->n_pages) ? i + 1 : -1;
	}
	slots = kv_slots(pool);
	for (int32_t i = 0; i < pool->hash_cap; i++)
	{
		slots[i].hash = 0;
		slots[i].page = -1;
		slots[i].pad = 0;
	}

	/* The magic goes last: a half-built pool never looks valid. */
	pool->version = KV_VERSION;
	__atomic_store_n(&pool->magic, KV_MAGIC, __ATOMIC_RELEASE);
	KV_VERIFY(pool);
	*out = pool;
	return LLM_OK;
}

/* The pool initialised at mem, or NULL if mem does not hold a valid one. */
llm_kv_pool *
llm_kv_pool_attach(void *mem)
{
	llm_kv_pool *pool = (llm_kv_pool *) mem;
	kv_layout	l;

	if (mem == NULL || ((uintptr_t) mem & 7) != 0)
		return NULL;
	if (__atomic_load_n(&pool->magic, __ATOMIC_ACQUIRE) != KV_MAGIC ||
		pool->version != KV_VERSION ||
		pool->header_bytes != sizeof(struct llm_kv_pool) ||
		pool->block_size <= 0 ||
		!kv_compute_layout(pool->n_pages, pool->page_bytes, &l))
		return NULL;
	/* The geometry must be exactly what init computed from it. */
	if (pool->meta_off != l.meta_off || pool->hash_off != l.hash_off ||
		pool->hash_cap != l.hash_cap || pool->page_stride != l.page_stride ||
		pool->data_off < l.data_off || pool->data_off - l.data_off >= KV_ALIGN ||
		pool->data_off - l.data_off + l.need > pool->mem_size)
		return NULL;
	return pool;
}

/* Number of pages in the pool. */
int32_t
llm_kv_n_pages(const llm_kv_pool *pool)
{
	return pool ? pool->n_pages : 0;
}

/* Tokens per page. */
int32_t
llm_kv_block_size(const llm_kv_pool *pool)
{
	return pool ? pool->block_size : 0;
}

/* Bytes of data per page. */
size_t
llm_kv_page_bytes(const llm_kv_pool *pool)
{
	return pool ? (size_t) pool->page_bytes : 0;
}

/* Start of a page's data (64-byte aligned), NULL for a bad index. */
void *
llm_kv_page_data(llm_kv_pool *pool, int32_t page)
{
	if (!kv_page_ok(pool, page))
		return NULL;
	return (char *) pool + pool->data_off + (size_t) page * pool->page_stride;
}

/* A page with refcount 1, or -1 if every page is used. */
int32_t
llm_kv_page_alloc(llm_kv_pool *pool)
{
	int32_t		page;

	if (pool == NULL)
		return -1;
	page = kv_alloc(pool);
	KV_VERIFY(pool);
	return page;
}

/* Add a reference to a used page. */
void
llm_kv_page_ref(llm_kv_pool *pool, int32_t page)
{
	if (!kv_page_ok(pool, page))
	{
		KV_MISUSE("page index out of range");
		return;
	}
	if (kv_meta(pool)[page].state != KV_USED)
	{
		KV_MISUSE("ref of a page that is not used");
		return;
	}
	kv_meta(pool)[page].refcount++;
	KV_VERIFY(pool);
}

/* Drop a reference; at 0 the page becomes cached (published) or free. */
void
llm_kv_page_unref(llm_kv_pool *pool, int32_t page)
{
	if (!kv_page_ok(pool, page))
	{
		KV_MISUSE("page index out of range");
		return;
	}
	if (kv_meta(pool)[page].state != KV_USED)
	{
		KV_MISUSE("unref of a page that is not used");
		return;
	}
	kv_unref(pool, page);
	KV_VERIFY(pool);
}

/* Reference count of a page, -1 for a bad index. */
int32_t
llm_kv_page_refcount(const llm_kv_pool *pool, int32_t page)
{
	if (!kv_page_ok(pool, page))
		return -1;
	return kv_meta(pool)[page].refcount;
}

/* ---- block hash: SipHash-2-4 over a byte stream ---- */

typedef struct kv_sip
{
	uint64_t	v0,
				v1,
				v2,
				v3;
	uint64_t	tail;			/* pending bytes, little-endian */
	uint64_t	len;			/* bytes fed so far */
} kv_sip;

#define KV_ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

/* One SipRound. */
static inline void
kv_sip_round(kv_sip *s)
{
	s->v0 += s->v1;
	s->v1 = KV_ROTL(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = KV_ROTL(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = KV_ROTL(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = KV_ROTL(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = KV_ROTL(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = KV_ROTL(s->v2, 32);
}

/* Start a SipHash with key (k0, k1). */
static void
kv_sip_init(kv_sip *s, uint64_t k0, uint64_t k1)
{
	s->v0 = k0 ^ UINT64_C(0x736f6d6570736575);
	s->v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
	s->v2 = k0 ^ UINT64_C(0x6c7967656e657261);
	s->v3 = k1 ^ UINT64_C(0x7465646279746573);
	s->tail = 0;
	s->len = 0;
}

/* Absorb one 8-byte message word (two compression rounds). */
static inline void
kv_sip_word(kv_sip *s, uint64_t m)
{
	s->v3 ^= m;
	kv_sip_round(s);
	kv_sip_round(s);
	s->v0 ^= m;
}

/* Feed n bytes. */
static void
kv_sip_bytes(kv_sip *s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		s->tail |= (uint64_t) p[i] << (8 * (s->len & 7));
		s->len++;
		if ((s->len & 7) == 0)
		{
			kv_sip_word(s, s->tail);
			s->tail = 0;
		}
	}
}

/* Feed a 32-bit value as 4 little-endian bytes. */
static inline void
kv_sip_u32(kv_sip *s, uint32_t v)
{
	uint8_t		b[4] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16),
	(uint8_t) (v >> 24)};

	kv_sip_bytes(s, b, 4);
}

/* Feed a 64-bit value as 8 little-endian bytes. */
static inline void
kv_sip_u64(kv_sip *s, uint64_t v)
{
	kv_sip_u32(s, (uint32_t) v);
	kv_sip_u32(s, (uint32_t) (v >> 32));
}

/* Finish: length byte, four finalisation rounds. */
static uint64_t
kv_sip_final(kv_sip *s)
{
	kv_sip_word(s, s->tail | (s->len << 56));
	s->v2 ^= 0xff;
	kv_sip_round(s);
	kv_sip_round(s);
	kv_sip_round(s);
	kv_sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* Prefix key of a full page: SipHash-2-4(parent, model, n, tokens). */
uint64_t
llm_kv_block_hash(uint64_t parent, const int32_t *tokens, int32_t n,
				  uint64_t model_key)
{
	kv_sip		s;

	/* Fixed key: "llm kv p" and "refix v1" as little-endian words. */
	kv_sip_init(&s, UINT64_C(0x7020766b206d6c6c), UINT64_C(0x3176207869666572));
	if (tokens == NULL || n < 0)
		n = 0;
	kv_sip_u64(&s, parent);
	kv_sip_u64(&s, model_key);
	kv_sip_u32(&s, (uint32_t) n);
	for (int32_t i = 0; i < n; i++)
		kv_sip_u32(&s, (uint32_t) tokens[i]);
	return kv_sip_final(&s);
}

/* ---- prefix cache ---- */

/* Publish a used page under hash (no-op if hash or page already is). */
void
llm_kv_publish(llm_kv_pool *pool, int32_t page, uint64_t hash)
{
	kv_page_meta *m;

	if (!kv_page_ok(pool, page))
	{
		KV_MISUSE("page index out of range");
		return;
	}
	m = &kv_meta(pool)[page];
	if (m->state != KV_USED)
	{
		KV_MISUSE("publish of a page that is not used");
		return;
	}
	if (m->published || kv_hash_find(pool, hash) >= 0)
		return;
	kv_hash_insert(pool, hash, page);
	m->hash = hash;
	m->published = 1;
	KV_VERIFY(pool);
}

/* The page published under hash with a new reference, or -1. */
int32_t
llm_kv_lookup(llm_kv_pool *pool, uint64_t hash)
{
	kv_page_meta *m;
	int32_t		slot,
				page;

	if (pool == NULL)
		return -1;
	pool->prefix_queries++;
	slot = kv_hash_find(pool, hash);
	if (slot < 0)
	{
		KV_VERIFY(pool);
		return -1;
	}
	pool->prefix_hits++;
	page = kv_slots(pool)[slot].page;
	m = &kv_meta(pool)[page];
	if (m->state == KV_CACHED)
	{
		kv_lru_remove(pool, page);
		m->state = KV_USED;
		m->refcount = 1;
		pool->n_used++;
	}
	else
		m->refcount++;
	KV_VERIFY(pool);
	return page;
}

/* ---- block tables ---- */

/* An empty block table. */
void
llm_bt_init(llm_block_table *bt)
{
	bt->pages = NULL;
	bt->n_pages = 0;
	bt->cap = 0;
	bt->n_tokens = 0;
}

/* Grow bt's page array to hold at least need entries. */
static llm_status
kv_bt_reserve(llm_block_table *bt, int32_t need, llm_error *err)
{
	int32_t		cap;
	int32_t    *pages;

	if (need <= bt->cap)
		return LLM_OK;
	cap = bt->cap < 4 ? 4 : bt->cap;
	while (cap < need)
		cap = (cap > INT32_MAX / 2) ? need : cap * 2;
	pages = realloc(bt->pages, (size_t) cap * sizeof(int32_t));
	if (pages == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "kv block table: cannot grow to %d pages", (int) cap);
	bt->pages = pages;
	bt->cap = cap;
	return LLM_OK;
}

/* Append a page, taking over the caller's reference. */
llm_status
llm_bt_append_page(llm_kv_pool *pool, llm_block_table *bt, int32_t page,
				   llm_error *err)
{
	llm_status	st;

	if (bt == NULL || !kv_page_ok(pool, page))
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv block table: bad table or page %d", (int) page);
	if (kv_meta(pool)[page].state != KV_USED)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv block table: page %d holds no reference", (int) page);
	if (bt->n_pages == INT32_MAX)
		return llm_errorf(err, LLM_ERR_RANGE, "kv block table: too many pages");
	st = kv_bt_reserve(bt, bt->n_pages + 1, err);
	if (st != LLM_OK)
		return st;
	bt->pages[bt->n_pages++] = page;
	KV_VERIFY(pool);
	return LLM_OK;
}

/* Give entry i of bt a page it alone may write (copy-on-write). */
static llm_status
kv_bt_make_private(llm_kv_pool *pool, llm_block_table *bt, int32_t i,
				   llm_error *err)
{
	int32_t		old = bt->pages[i];
	kv_page_meta *m;
	int32_t		page;

	if (!kv_page_ok(pool, old) || kv_meta(pool)[old].state != KV_USED)
		return llm_errorf(err, LLM_ERR_INTERNAL, "kv block table: entry %d names page %d, which is not in use", (int) i, (int) old);
	m = &kv_meta(pool)[old];
	if (m->refcount == 1 && !m->published)
		return LLM_OK;
	page = kv_alloc(pool);
	if (page < 0)
	{
		/* No page for a copy: a sole owner may give up the prefix entry. */
		if (m->refcount == 1)
		{
			kv_unpublish(pool, old);
			return LLM_OK;
		}
		return llm_errorf(err, LLM_ERR_FULL, "kv cache full: no page for a copy-on-write of page %d", (int) old);
	}
	memcpy(llm_kv_page_data(pool, page), llm_kv_page_data(pool, old), pool->page_bytes);
	bt->pages[i] = page;
	kv_unref(pool, old);
	pool->cow_copies++;
	return LLM_OK;
}

/* Make positions [pos, pos + n) writable (allocate, copy-on-write). */
llm_status
llm_bt_prepare_write(llm_kv_pool *pool, llm_block_table *bt, int32_t pos,
					 int32_t n, llm_error *err)
{
	int64_t		end = (int64_t) pos + n;
	int32_t		first,
				last;
	llm_status	st;

	if (pool == NULL || bt == NULL)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv block table: no pool or table");
	if (pos < 0 || n < 0)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv block table: bad write range %d + %d", (int) pos, (int) n);
	if (n == 0)
		return LLM_OK;
	if (end > INT32_MAX)
		return llm_errorf(err, LLM_ERR_RANGE, "kv block table: position %lld out of range", (long long) end - 1);
	first = pos / pool->block_size;
	last = (int32_t) ((end - 1) / pool->block_size);
	st = kv_bt_reserve(bt, last + 1, err);
	if (st != LLM_OK)
		return st;

	/* Existing pages in the range: copy the shared or published ones. */
	for (int32_t i = first; i <= last && i < bt->n_pages; i++)
	{
		st = kv_bt_make_private(pool, bt, i, err);
		if (st != LLM_OK)
		{
			KV_VERIFY(pool);
			return st;
		}
	}
	/* Missing pages, up to the last one written. */
	while (bt->n_pages <= last)
	{
		int32_t		page = kv_alloc(pool);

		if (page < 0)
		{
			KV_VERIFY(pool);
			return llm_errorf(err, LLM_ERR_FULL,
							  "kv cache full: all %d pages are in use", (int) pool->n_pages);
		}
		bt->pages[bt->n_pages++] = page;
	}
	KV_VERIFY(pool);
	return LLM_OK;
}

/*
 * Keep the first n_tokens positions (clamped to [0, pages * block_size])
 * and release the pages past ceil(n_tokens / block_size), last first.
 */
void
llm_bt_truncate(llm_kv_pool *pool, llm_block_table *bt, int32_t n_tokens)
{
	int64_t		n = n_tokens;
	int64_t		keep;

	if (pool == NULL || bt == NULL)
		return;
	if (n < 0)
		n = 0;
	if (n > (int64_t) bt->n_pages * pool->block_size)
		n = (int64_t) bt->n_pages * pool->block_size;
	keep = (n + pool->block_size - 1) / pool->block_size;
	while (bt->n_pages > keep)
	{
		int32_t		page = bt->pages[--bt->n_pages];

		if (kv_page_ok(pool, page) && kv_meta(pool)[page].state == KV_USED)
			kv_unref(pool, page);
		else
			KV_MISUSE("block table names a page that is not used");
	}
	bt->n_tokens = (int32_t) n;
	KV_VERIFY(pool);
}

/* dst (overwritten, not released) shares every page of src. */
llm_status
llm_bt_fork(llm_kv_pool *pool, const llm_block_table *src,
			llm_block_table *dst, llm_error *err)
{
	if (pool == NULL || src == NULL || dst == NULL || src == dst)
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv block table: bad fork arguments");
	llm_bt_init(dst);
	for (int32_t i = 0; i < src->n_pages; i++)
	{
		int32_t		page = src->pages[i];

		if (!kv_page_ok(pool, page) || kv_meta(pool)[page].state != KV_USED)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv block table: fork source entry %d names page %d, which is not in use", (int) i, (int) page);
	}
	if (src->n_pages > 0)
	{
		dst->pages = malloc((size_t) src->n_pages * sizeof(int32_t));
		if (dst->pages == NULL)
			return llm_errorf(err, LLM_ERR_NOMEM, "kv block table: cannot copy %d pages", (int) src->n_pages);
		memcpy(dst->pages, src->pages, (size_t) src->n_pages * sizeof(int32_t));
		dst->cap = src->n_pages;
		dst->n_pages = src->n_pages;
		for (int32_t i = 0; i < src->n_pages; i++)
			kv_meta(pool)[src->pages[i]].refcount++;
	}
	dst->n_tokens = src->n_tokens;
	KV_VERIFY(pool);
	return LLM_OK;
}

/* Drop every page (last first) and free the array. */
void
llm_bt_release(llm_kv_pool *pool, llm_block_table *bt)
{
	if (bt == NULL)
		return;
	if (pool != NULL)
		llm_bt_truncate(pool, bt, 0);
	free(bt->pages);
	llm_bt_init(bt);
}

/* ---- invariants and statistics ---- */

/* Verify the pool's own lists, counters and hash table. */
static llm_status
kv_check_pool(const llm_kv_pool *pool, llm_error *err)
{
	const kv_page_meta *meta = kv_meta(pool);
	const kv_slot *slots = kv_slots(pool);
	int32_t		n = pool->n_pages;
	int32_t		count[3] = {0, 0, 0};
	int32_t		n_pub = 0,
				n_slots = 0,
				len,
				prev,
				p;

	if (pool->magic != KV_MAGIC)
		return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: bad magic");

	/* Per-page fields agree with the state. */
	for (int32_t i = 0; i < n; i++)
	{
		const kv_page_meta *m = &meta[i];

		if (m->state > KV_CACHED)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: page %d has bad state %d", (int) i, (int) m->state);
		if (m->state == KV_USED && m->refcount < 1)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: used page %d has refcount %d", (int) i, (int) m->refcount);
		if (m->state != KV_USED && m->refcount != 0)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: %s page %d has refcount %d",
							  m->state == KV_FREE ? "free" : "cached", (int) i, (int) m->refcount);
		if (m->state == KV_FREE && m->published)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: free page %d is published", (int) i);
		if (m->state == KV_CACHED && !m->published)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: cached page %d is not published", (int) i);
		count[m->state]++;
		n_pub += m->published ? 1 : 0;
	}
	if (count[KV_FREE] != pool->n_free || count[KV_USED] != pool->n_used ||
		count[KV_CACHED] != pool->n_cached)
		return llm_errorf(err, LLM_ERR_INTERNAL,
						  "kv check: counters free %d used %d cached %d, pages say %d %d %d",
						  (int) pool->n_free, (int) pool->n_used, (int) pool->n_cached,
						  (int) count[KV_FREE], (int) count[KV_USED], (int) count[KV_CACHED]);

	/*
	 * Free list: acyclic (bounded walk), only free pages, as long as the
	 * number of free pages, hence exactly the free pages.
	 */
	len = 0;
	for (p = pool->free_head; p != -1; p = meta[p].free_next)
	{
		if (p < 0 || p >= n)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: free list names page %d out of range", (int) p);
		if (meta[p].state != KV_FREE)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: free list holds page %d in state %d", (int) p, (int) meta[p].state);
		if (++len > count[KV_FREE])
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: free list longer than %d free pages (cycle?)", (int) count[KV_FREE]);
	}
	if (len != count[KV_FREE])
		return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: free list has %d pages, %d pages are free", (int) len, (int) count[KV_FREE]);

	/* LRU list: the same, and back links and tail agree. */
	len = 0;
	prev = -1;
	for (p = pool->lru_head; p != -1; p = meta[p].lru_next)
	{
		if (p < 0 || p >= n)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: lru list names page %d out of range", (int) p);
		if (meta[p].state != KV_CACHED)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: lru list holds page %d in state %d", (int) p, (int) meta[p].state);
		if (meta[p].lru_prev != prev)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: lru page %d has prev %d, expected %d", (int) p, (int) meta[p].lru_prev, (int) prev);
		if (++len > count[KV_CACHED])
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: lru list longer than %d cached pages (cycle?)", (int) count[KV_CACHED]);
		prev = p;
	}
	if (len != count[KV_CACHED])
		return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: lru list has %d pages, %d pages are cached", (int) len, (int) count[KV_CACHED]);
	if (pool->lru_tail != prev)
		return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: lru tail is %d, last page is %d", (int) pool->lru_tail, (int) prev);

	/*
	 * Hash table: every entry names a published page under its own hash and
	 * is reachable from its home slot; every published page is found; the
	 * counts agree, so entries and published pages match one to one.
	 */
	for (int32_t i = 0; i < pool->hash_cap; i++)
	{
		int32_t		page = slots[i].page;

		if (page == -1)
			continue;
		n_slots++;
		if (page < 0 || page >= n)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: hash slot %d names page %d out of range", (int) i, (int) page);
		if (!meta[page].published || meta[page].state == KV_FREE)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: hash slot %d names page %d, which is %s", (int) i, (int) page,
							  meta[page].state == KV_FREE ? "free" : "not published");
		if (meta[page].hash != slots[i].hash)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: hash slot %d and page %d disagree on the hash", (int) i, (int) page);
		for (int32_t j = kv_home(pool, slots[i].hash); j != i; j = (j + 1) & (pool->hash_cap - 1))
			if (slots[j].page == -1)
				return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: hash slot %d (page %d) unreachable from its home slot", (int) i, (int) page);
	}
	if (n_slots != n_pub || n_pub != pool->n_published)
		return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: %d hash entries, %d published pages, counter %d",
						  (int) n_slots, (int) n_pub, (int) pool->n_published);
	for (int32_t i = 0; i < n; i++)
	{
		int32_t		slot;

		if (!meta[i].published)
			continue;
		slot = kv_hash_find(pool, meta[i].hash);
		if (slot < 0 || slots[slot].page != i)
			return llm_errorf(err, LLM_ERR_INTERNAL, "kv check: published page %d not found under its hash", (int) i);
	}
	return LLM_OK;
}

/* Check the pool against the complete set of live block tables. */
llm_status
llm_kv_check(const llm_kv_pool *pool, const llm_block_table *const *tables,
			 int n_tables, llm_error *err)
{
	const kv_page_meta *meta;
	int64_t    *refs;
	llm_status	st;

	if (pool == NULL || n_tables < 0 || (n_tables > 0 && tables == NULL))
		return llm_errorf(err, LLM_ERR_INVALID_ARG, "kv check: no pool or bad table list");
	st = kv_check_pool(pool, err);
	if (st != LLM_OK)
		return st;

	meta = kv_meta(pool);
	refs = calloc((size_t) pool->n_pages, sizeof(int64_t));
	if (refs == NULL)
		return llm_errorf(err, LLM_ERR_NOMEM, "kv check: cannot count references");
	for (int t = 0; t < n_tables; t++)
	{
		const llm_block_table *bt = tables[t];

		st = LLM_ERR_INTERNAL;
		if (bt == NULL)
			llm_errorf(err, st, "kv check: table %d is null", t);
		else if (bt->n_pages < 0 || bt->n_pages > bt->cap || (bt->n_pages > 0 && bt->pages == NULL))
			llm_errorf(err, st, "kv check: table %d has %d pages, capacity %d", t, (int) bt->n_pages, (int) bt->cap);
		else if (bt->n_tokens < 0 || (int64_t) bt->n_tokens > (int64_t) bt->n_pages * pool->block_size)
			llm_errorf(err, st, "kv check: table %d holds %d tokens in %d pages", t, (int) bt->n_tokens, (int) bt->n_pages);
		else
			st = LLM_OK;
		for (int32_t i = 0; st == LLM_OK && i < bt->n_pages; i++)
		{
			int32_t		page = bt->pages[i];

			if (page < 0 || page >= pool->n_pages)
				st = llm_errorf(err, LLM_ERR_INTERNAL, "kv check: table %d entry %d names page %d out of range", t, (int) i, (int) page);
			else
				refs[page]++;
		}
		if (st != LLM_OK)
		{
			free(refs);
			return st;
		}
	}
	for (int32_t i = 0; i < pool->n_pages; i++)
	{
		if (refs[i] != meta[i].refcount)
		{
			st = llm_errorf(err, LLM_ERR_INTERNAL, "kv check: page %d (%s) has refcount %d but %lld table entries",
							(int) i, meta[i].state == KV_FREE ? "free" : meta[i].state == KV_USED ? "used" : "cached",
							(int) meta[i].refcount, (long long) refs[i]);
			break;
		}
	}
	free(refs);
	return st;
}

/* Page counts and prefix-cache counters. */
void
llm_kv_get_stats(const llm_kv_pool *pool, llm_kv_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (pool == NULL)
		return;
	st->pages_total = pool->n_pages;
	st->pages_used = pool->n_used;
	st->pages_cached = pool->n_cached;
	st->pages_free = pool->n_free;
	st->prefix_queries = pool->prefix_queries;
	st->prefix_hits = pool->prefix_hits;
	st->evictions = pool->evictions;
	st->cow_copies = pool->cow_copies;
}
