/*
 * shmem.c — llm's shared memory: the control block, the request slots with
 * their buffers, and the KV page pool.
 *
 * Layout (requested in shmem_request_hook, created in shmem_startup_hook
 * under AddinShmemInitLock, initialised only when not found):
 *
 *   "llm"            LlmShared header
 *                    LlmSlot slots[llm.max_requests]
 *                    per slot: input buffer (input_size bytes) and output
 *                    ring (ring_size bytes), at buffers_offset
 *   "llm kv cache"   llm.kv_cache_size bytes handed to llm_engine_open() as
 *                    kv_mem: the engine's page pool (pages, refcounts, block
 *                    data, prefix hash table).  Only the worker's engine
 *                    reads or writes it, without locks; nobody else looks at
 *                    it.  Its figures reach SQL as copies (see below).
 *
 * input_size = max(64 kB, 16 bytes * context tokens), where the context is
 * llm.context_size or, when that is 0, the 4096-token cap.  The ring is a
 * 64 kB byte ring of records: a uint32 length, then that many bytes (one
 * decoded piece, or a chunk of a tokenize/detokenize result).
 *
 * Locking protocol:
 *
 *   LlmShared->mutex (spinlock) protects worker_pid, worker_latch,
 *   worker_generation and stats.  Only the worker writes them (plus its
 *   exit callback); anyone may read a copy taken under the lock.  stats
 *   includes stats.engine, the llm_engine_get_stats() figures behind the
 *   llm_kv_cache view (pages used/cached/free, filled and allocated token
 *   slots, prefix-cache, eviction and preemption counters): the worker
 *   copies them there after every engine step, while idle, and before it
 *   marks a generation's slot DONE, FAILED or FREE, so that the owner, once
 *   woken, already sees that request's pages returned.
 *
 *   LlmShared->lock (LWLock, tranche "llm") protects the model snapshot.
 *   The worker takes it exclusively to publish a (re)loaded model or a load
 *   error; backends take it shared to read.
 *
 *   LlmSlot->mutex (spinlock, one per slot) protects every field of the
 *   slot, including progress (the llm_requests view: tokens, pages and
 *   shared pages of a generation), which the backend zeroes when it claims
 *   the slot and the worker rewrites after every engine step while the
 *   slot is RUNNING; llm_requests() copies each slot's fields under its
 *   mutex.  Ownership follows the state machine:
 *
 *     FREE --backend claims--> FILLING --backend--> SUBMITTED
 *     SUBMITTED --worker--> RUNNING --worker--> DONE | FAILED
 *     DONE | FAILED --backend, after reading--> FREE
 *     SUBMITTED | RUNNING --backend gives up--> CANCELLED --worker--> FREE
 *     FILLING --backend gives up--> FREE
 *
 *   The input buffer belongs to the backend in FILLING and to the worker
 *   from SUBMITTED until the slot is FREE again.  In the ring, only the
 *   worker writes bytes at [ring_read + free) and advances ring_write; only
 *   the backend reads bytes at [ring_read, ring_write) and advances
 *   ring_read.  Positions are read and written under the slot's spinlock,
 *   which also orders the data copies made outside it.  When a record does
 *   not fit, the worker sets worker_wants_space under the same lock hold in
 *   which it saw the ring full; the backend, after advancing ring_read,
 *   sets the worker's latch if the flag was set.  Nobody sleeps or calls
 *   ereport while holding a spinlock.
 *
 *   Whoever makes a slot FREE broadcasts slot_freed, the condition variable
 *   on which backends wait when every slot is taken.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "llm_pg.h"

LlmShared  *llm_pg_shared = NULL;
void	   *llm_pg_kv_area = NULL;
Size		llm_pg_kv_area_size = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#define LLM_KV_ALIGN 4096

/* Bytes of each slot's input buffer. */
static Size
LlmInputSize(void)
{
	int			ctx = llm_guc_context_size > 0 ? llm_guc_context_size : LLM_CONTEXT_CAP;

	return Max((Size) LLM_MIN_INPUT_SIZE,
			   (Size) ctx * LLM_INPUT_BYTES_PER_TOKEN);
}

/* Bytes of the header and the slot array. */
static Size
LlmHeaderSize(void)
{
	return MAXALIGN(add_size(offsetof(LlmShared, slots),
							 mul_size(llm_guc_max_requests, sizeof(LlmSlot))));
}

/* Bytes of the "llm" segment. */
static Size
LlmControlSize(void)
{
	Size		per_slot = add_size(LlmInputSize(), LLM_RING_SIZE);

	return add_size(LlmHeaderSize(), mul_size(llm_guc_max_requests, per_slot));
}

/* Bytes of the "llm kv cache" segment (with room to align it). */
static Size
LlmKvSize(void)
{
	return add_size(mul_size((Size) llm_guc_kv_cache_size_mb, 1024 * 1024),
					LLM_KV_ALIGN);
}

/* shmem_request_hook: reserve both segments and the LWLock. */
static void
LlmShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(LlmControlSize());
	RequestAddinShmemSpace(LlmKvSize());
	RequestNamedLWLockTranche("llm", 1);
}

/* shmem_startup_hook: create or attach to both segments. */
static void
LlmShmemStartup(void)
{
	bool		found;
	bool		kv_found;
	char	   *kv;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	llm_pg_shared = ShmemInitStruct("llm", LlmControlSize(), &found);
	kv = ShmemInitStruct("llm kv cache", LlmKvSize(), &kv_found);
	if (!found)
	{
		int			i;

		memset(llm_pg_shared, 0, LlmHeaderSize());
		SpinLockInit(&llm_pg_shared->mutex);
		llm_pg_shared->lock = &(GetNamedLWLockTranche("llm"))->lock;
		ConditionVariableInit(&llm_pg_shared->slot_freed);
		llm_pg_shared->model.state = LLM_MODEL_NONE;
		llm_pg_shared->n_slots = llm_guc_max_requests;
		llm_pg_shared->input_size = LlmInputSize();
		llm_pg_shared->ring_size = LLM_RING_SIZE;
		llm_pg_shared->buffers_offset = LlmHeaderSize();
		for (i = 0; i < llm_pg_shared->n_slots; i++)
		{
			SpinLockInit(&llm_pg_shared->slots[i].mutex);
			llm_pg_shared->slots[i].state = LLM_SLOT_FREE;
		}
	}
	llm_pg_kv_area = (void *) TYPEALIGN(LLM_KV_ALIGN, kv);
	llm_pg_kv_area_size = (Size) llm_guc_kv_cache_size_mb * 1024 * 1024;
	LWLockRelease(AddinShmemInitLock);
}

/* Install the hooks (only while preloading: otherwise there is no shmem). */
void
LlmShmemInit(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = LlmShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = LlmShmemStartup;
}

/* ERROR 55000 unless llm was loaded by shared_preload_libraries. */
void
LlmCheckLoaded(void)
{
	if (llm_pg_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("llm must be loaded via shared_preload_libraries"),
				 errhint("Add llm to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* Input buffer of slot i. */
char *
LlmSlotInput(int i)
{
	return (char *) llm_pg_shared + llm_pg_shared->buffers_offset +
		(Size) i * (llm_pg_shared->input_size + llm_pg_shared->ring_size);
}

/* Output ring of slot i. */
char *
LlmSlotRing(int i)
{
	return LlmSlotInput(i) + llm_pg_shared->input_size;
}

/* Copy n bytes into the ring at position pos, wrapping around. */
static void
RingWrite(char *ring, Size size, uint64 pos, const char *src, Size n)
{
	Size		off = pos % size;
	Size		first = Min(n, size - off);

	memcpy(ring + off, src, first);
	if (first < n)
		memcpy(ring, src + first, n - first);
}

/* Copy n bytes out of the ring from position pos, wrapping around. */
static void
RingRead(const char *ring, Size size, uint64 pos, char *dst, Size n)
{
	Size		off = pos % size;
	Size		first = Min(n, size - off);

	memcpy(dst, ring + off, first);
	if (first < n)
		memcpy(dst + first, ring, n - first);
}

/* Worker: append one record; false if the ring has no room for it. */
bool
LlmRingPut(int i, const char *data, uint32 len)
{
	LlmSlot    *slot = &llm_pg_shared->slots[i];
	char	   *ring = LlmSlotRing(i);
	Size		size = llm_pg_shared->ring_size;
	uint64		w;
	uint64		r;

	Assert(len <= LLM_RING_MAX_RECORD);
	SpinLockAcquire(&slot->mutex);
	w = slot->ring_write;
	r = slot->ring_read;
	if (size - (w - r) < sizeof(uint32) + len)
	{
		slot->worker_wants_space = true;
		SpinLockRelease(&slot->mutex);
		return false;
	}
	SpinLockRelease(&slot->mutex);

	RingWrite(ring, size, w, (const char *) &len, sizeof(uint32));
	RingWrite(ring, size, w + sizeof(uint32), data, len);

	SpinLockAcquire(&slot->mutex);
	slot->ring_write = w + sizeof(uint32) + len;
	SpinLockRelease(&slot->mutex);
	return true;
}

/* Worker: does slot i's ring hold at least half its size unread? */
bool
LlmRingHalfFull(int i)
{
	LlmSlot    *slot = &llm_pg_shared->slots[i];
	uint64		used;

	SpinLockAcquire(&slot->mutex);
	used = slot->ring_write - slot->ring_read;
	SpinLockRelease(&slot->mutex);
	return used >= llm_pg_shared->ring_size / 2;
}

/* Backend: take the next record into out (appended); false if none. */
bool
LlmRingGet(int i, StringInfo out)
{
	LlmSlot    *slot = &llm_pg_shared->slots[i];
	char	   *ring = LlmSlotRing(i);
	Size		size = llm_pg_shared->ring_size;
	uint64		w;
	uint64		r;
	uint32		len;
	bool		wake;
	Latch	   *worker_latch;

	SpinLockAcquire(&slot->mutex);
	w = slot->ring_write;
	r = slot->ring_read;
	SpinLockRelease(&slot->mutex);
	if (w == r)
		return false;

	RingRead(ring, size, r, (char *) &len, sizeof(uint32));
	if (len > LLM_RING_MAX_RECORD || w - r < sizeof(uint32) + len)
		elog(ERROR, "llm output ring of slot %d is corrupt", i);
	enlargeStringInfo(out, len);
	RingRead(ring, size, r + sizeof(uint32), out->data + out->len, len);
	out->len += len;
	out->data[out->len] = '\0';

	SpinLockAcquire(&slot->mutex);
	slot->ring_read = r + sizeof(uint32) + len;
	wake = slot->worker_wants_space;
	slot->worker_wants_space = false;
	SpinLockRelease(&slot->mutex);

	if (wake)
	{
		SpinLockAcquire(&llm_pg_shared->mutex);
		worker_latch = llm_pg_shared->worker_latch;
		SpinLockRelease(&llm_pg_shared->mutex);
		if (worker_latch)
			SetLatch(worker_latch);
	}
	return true;
}
