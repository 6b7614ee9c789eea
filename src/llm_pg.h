/*
 * llm_pg.h — the PostgreSQL adapter: shared memory layout, GUCs, the request
 * queue between backends and the "llm worker", and the SQL-callable pieces.
 *
 * Files (one concern each):
 *   llm.c            _PG_init: the table of contents
 *   guc.c            the llm.* settings
 *   shmem.c          shared memory (control block, slots, buffers, KV area),
 *                    the output ring of a slot, and the locking protocol
 *   worker.c         the background worker that owns the engine
 *   request.c        backend side of a request: claim, submit, wait, cancel
 *   errors.c         llm_status -> SQLSTATE, raising a slot's error
 *   sql_generate.c   llm_generate, llm_generate_stream
 *   sql_tokenize.c   llm_tokenize, llm_detokenize
 *   sql_chat.c       llm_chat
 *   sql_info.c       llm_model_info, llm_stats
 *   sql_kv.c         llm_generate_n, llm_kv_cache, llm_requests
 *
 * Nothing here is included by src/core: the engine never sees PostgreSQL.
 */
#ifndef LLM_PG_H
#define LLM_PG_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "engine.h"

/* ---- settings (guc.c) ---------------------------------------------------- */

#define LLM_THREADS_DEFAULT			0	/* 0 = number of CPUs */
#define LLM_THREADS_MIN				0
#define LLM_THREADS_MAX				1024
#define LLM_CONTEXT_SIZE_DEFAULT	0	/* 0 = model's, capped at the below */
#define LLM_CONTEXT_SIZE_MIN		0
#define LLM_CONTEXT_SIZE_MAX		131072
#define LLM_CONTEXT_CAP				4096	/* cap when context_size = 0 */
#define LLM_MAX_REQUESTS_DEFAULT	32
#define LLM_MAX_REQUESTS_MIN		1
#define LLM_MAX_REQUESTS_MAX		1024
#define LLM_MAX_NEW_TOKENS_DEFAULT	256
#define LLM_MAX_NEW_TOKENS_MIN		1
#define LLM_MAX_NEW_TOKENS_MAX		LLM_CONTEXT_SIZE_MAX
#define LLM_KV_CACHE_MB_DEFAULT		64
#define LLM_KV_CACHE_MB_MIN			1
#define LLM_KV_CACHE_MB_MAX			(1024 * 1024)
#define LLM_KV_BLOCK_SIZE_DEFAULT	16
#define LLM_KV_BLOCK_SIZE_MIN		1
#define LLM_KV_BLOCK_SIZE_MAX		1024
#define LLM_MAX_BATCH_TOKENS_DEFAULT 512
#define LLM_MAX_BATCH_TOKENS_MIN	1
#define LLM_MAX_BATCH_TOKENS_MAX	65536

/* llm.context_overflow: what an over-long prompt does */
typedef enum LlmContextOverflow
{
	LLM_CONTEXT_OVERFLOW_ERROR = 0,		/* ERROR 54000 */
	LLM_CONTEXT_OVERFLOW_TRUNCATE = 1,	/* keep BOS and the last tokens */
	LLM_CONTEXT_OVERFLOW_SINKS = 2	/* attention sinks: generate past the
									 * context (engine's LLM_OVERFLOW_SINKS) */
} LlmContextOverflow;

typedef enum LlmKvCacheType
{
	LLM_KV_CACHE_F16 = 0,
	LLM_KV_CACHE_F32 = 1
} LlmKvCacheType;

extern char *llm_guc_model_path;
extern int	llm_guc_threads;
extern int	llm_guc_context_size;
extern int	llm_guc_max_requests;
extern int	llm_guc_max_new_tokens;
extern int	llm_guc_kv_cache_size_mb;
extern int	llm_guc_kv_block_size;
extern int	llm_guc_kv_cache_type;
extern int	llm_guc_max_batch_tokens;
extern int	llm_guc_blas_min_rows;
extern bool llm_guc_pack_weights;
extern int	llm_guc_context_overflow;

extern void LlmGucInit(void);

/* Threads the engine should use: llm.threads, or the CPU count when 0. */
extern int	LlmGucThreads(void);

/* ---- shared memory (shmem.c) -------------------------------------------- */

#define LLM_MIN_INPUT_SIZE		(64 * 1024)
#define LLM_INPUT_BYTES_PER_TOKEN 16
#define LLM_RING_SIZE			(64 * 1024)
#define LLM_ERRMSG_LEN			512
#define LLM_ERRHINT_LEN			256
#define LLM_INFO_JSON_LEN		16384
#define LLM_TOKEN_TEXT_LEN		64
#define LLM_FAMILY_LEN			32
#define LLM_MAX_STOP			16	/* stop strings per request */
#define LLM_MAX_STOP_LEN		256 /* bytes per stop string */

/* Life of a request slot; see the protocol at the top of shmem.c. */
typedef enum LlmSlotState
{
	LLM_SLOT_FREE = 0,
	LLM_SLOT_FILLING,			/* claimed by a backend, input being copied */
	LLM_SLOT_SUBMITTED,			/* waiting for the worker */
	LLM_SLOT_RUNNING,			/* owned by the worker */
	LLM_SLOT_DONE,				/* all output is in the ring */
	LLM_SLOT_FAILED,			/* error fields are set */
	LLM_SLOT_CANCELLED			/* backend gave up; worker frees it */
} LlmSlotState;

typedef enum LlmRequestKind
{
	LLM_REQ_GENERATE = 0,		/* input: prompt, then stop strings */
	LLM_REQ_GENERATE_N,			/* n samples of a prompt; each output
								 * record starts with the int32 sample
								 * index */
	LLM_REQ_TOKENIZE,			/* input: text; output: int32 ids */
	LLM_REQ_DETOKENIZE			/* input: int32 ids; output: text */
} LlmRequestKind;

/* What a generation request asks for (validated by the backend). */
typedef struct LlmGenParams
{
	int32		max_tokens;		/* >= 1, checked against n_ctx by worker */
	float		temperature;
	float		top_p;
	float		min_p;
	float		repeat_penalty;
	int32		top_k;
	uint64		seed;
	int32		prompt_len;		/* bytes of prompt at the input's start */
	int32		n_stop;			/* NUL-terminated strings after the prompt */
	bool		parse_special;	/* chat: match control tokens in the text */
	bool		chat;			/* chat: add BOS unless the text starts
								 * with it */
	int32		n_samples;		/* LLM_REQ_GENERATE_N: samples, seeds
								 * seed + i */
	int32		context_overflow;	/* LlmContextOverflow */
	bool		stream;			/* wake the backend for every piece; else
								 * only when the ring is half full or the
								 * request ends */
} LlmGenParams;

/*
 * Progress of a generation, for the llm_requests view: written by the
 * worker after each engine step, reset by the backend when it claims the
 * slot (under the slot's mutex).  Pages are summed over the samples of an
 * llm_generate_n request.
 */
typedef struct LlmSlotProgress
{
	bool		running;		/* a sequence is in the engine's batch */
	int32		prompt_tokens;
	int32		generated_tokens;
	int32		pages;			/* KV pages in its block tables */
	int32		shared_pages;	/* of which shared (refcount > 1) */
} LlmSlotProgress;

typedef struct LlmSlot
{
	slock_t		mutex;			/* protects every field below */
	LlmSlotState state;
	LlmRequestKind kind;
	uint64		ticket;			/* bumped at each claim */
	int			backend_pid;
	Oid			database_id;	/* the backend's database */
	Latch	   *backend_latch;	/* set by the worker on progress */
	LlmGenParams gen;
	bool		add_bos;		/* tokenize */
	Size		input_len;
	TimestampTz submitted_at;
	LlmSlotProgress progress;
	/* output ring: worker advances ring_write, backend ring_read */
	uint64		ring_write;
	uint64		ring_read;
	bool		worker_wants_space; /* backend sets the worker latch on read */
	/* set with LLM_SLOT_FAILED */
	int			sqlerrcode;
	char		errmsg[LLM_ERRMSG_LEN];
	char		errhint[LLM_ERRHINT_LEN];
} LlmSlot;

typedef enum LlmModelState
{
	LLM_MODEL_NONE = 0,			/* worker has not started yet */
	LLM_MODEL_LOADING,
	LLM_MODEL_LOADED,
	LLM_MODEL_UNCONFIGURED,		/* llm.model is empty */
	LLM_MODEL_FAILED			/* model_error explains */
} LlmModelState;

/* Model facts the worker publishes for backends (under LlmShared->lock). */
typedef struct LlmModelSnapshot
{
	LlmModelState state;
	char		path[MAXPGPATH];
	int			sqlerrcode;		/* for LLM_MODEL_FAILED/UNCONFIGURED */
	char		error[LLM_ERRMSG_LEN];
	int32		n_ctx;
	int32		n_vocab;
	char		bos_text[LLM_TOKEN_TEXT_LEN];
	char		eos_text[LLM_TOKEN_TEXT_LEN];
	char		chat_family[LLM_FAMILY_LEN];	/* "" if none detected */
	char		info_json[LLM_INFO_JSON_LEN];	/* llm_model_info() */
} LlmModelSnapshot;

/* Counters behind llm_stats (under LlmShared->mutex, written by worker). */
typedef struct LlmStats
{
	int64		requests_served;
	int64		prompt_tokens;
	int64		generated_tokens;
	double		generation_seconds;
	int64		engine_steps;	/* forward passes run */
	int64		batch_rows;		/* token rows they processed */
	double		ttft_ms_sum;
	int64		ttft_count;
	int64		errors;
	int64		cancellations;
	int32		requests_running;
	int32		requests_waiting;
	llm_engine_stats engine;	/* last llm_engine_get_stats snapshot */
} LlmStats;

typedef struct LlmShared
{
	slock_t		mutex;			/* worker fields and stats */
	int			worker_pid;		/* 0 when no worker runs */
	Latch	   *worker_latch;
	uint64		worker_generation;	/* bumped at each worker start */
	LlmStats	stats;

	LWLock	   *lock;			/* the model snapshot */
	LlmModelSnapshot model;

	ConditionVariable slot_freed;	/* broadcast when a slot becomes FREE */
	int			n_slots;
	Size		input_size;		/* bytes of each slot's input buffer */
	Size		ring_size;		/* bytes of each slot's output ring */
	Size		buffers_offset; /* from the start of LlmShared */
	LlmSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} LlmShared;

extern LlmShared *llm_pg_shared;	/* NULL unless preloaded */
extern void *llm_pg_kv_area;
extern Size llm_pg_kv_area_size;

extern void LlmShmemInit(void);

/* ERROR 55000 unless llm was loaded by shared_preload_libraries. */
extern void LlmCheckLoaded(void);

extern char *LlmSlotInput(int i);
extern char *LlmSlotRing(int i);

/* Worker: append one record; false if the ring has no room for it. */
extern bool LlmRingPut(int i, const char *data, uint32 len);
/* Worker: is at least half of slot i's ring unread? */
extern bool LlmRingHalfFull(int i);

/* Backend: take the next record into out (appended); false if none. */
extern bool LlmRingGet(int i, StringInfo out);

/* Largest record LlmRingPut accepts. */
#define LLM_RING_MAX_RECORD	(LLM_RING_SIZE / 2)

/* ---- worker (worker.c) -------------------------------------------------- */

extern void LlmWorkerRegister(void);
extern PGDLLEXPORT void LlmWorkerMain(Datum main_arg);

/* ---- requests (request.c) ----------------------------------------------- */

typedef uint64 LlmRequestId;

extern LlmRequestId LlmRequestSubmit(LlmRequestKind kind,
									 const LlmGenParams *gen, bool add_bos,
									 const char *input, Size len,
									 const char *extra, Size extra_len);
extern bool LlmRequestNext(LlmRequestId id, StringInfo out);
extern void LlmRequestCollect(LlmRequestId id, StringInfo out);
extern void LlmRequestCancel(LlmRequestId id);

/* Read the model snapshot (waits while the worker is loading the model). */
extern void LlmModelSnapshotGet(LlmModelSnapshot *out);

/* Raise the model's error unless the snapshot says a model is loaded. */
extern void LlmModelRequireLoaded(const LlmModelSnapshot *snap);

/* ---- errors (errors.c) -------------------------------------------------- */

extern int	LlmStatusSqlstate(llm_status code);
extern void LlmRaiseError(int sqlerrcode, const char *msg, const char *hint)
			pg_attribute_noreturn();

/* ---- helpers shared by the SQL functions -------------------------------- */

/*
 * Fill gen and the serialized stop strings from the arguments shared by
 * llm_generate and llm_chat: 1 max_tokens, 2 temperature, 3 top_p,
 * 4 top_k, 5 min_p, 6 seed, 7 stop, and repeat_penalty at argument
 * penalty_arg (-1: none).
 */
extern void LlmGenParamsFromArgs(FunctionCallInfo fcinfo, int penalty_arg,
								 LlmGenParams *gen, StringInfo stops);

/*
 * The same with the arguments shifted: max_tokens at first, temperature at
 * first + 1, ..., seed at first + 5, stop at first + 6 (when present).
 */
extern void LlmGenParamsFromArgsAt(FunctionCallInfo fcinfo, int first,
								   int penalty_arg, LlmGenParams *gen,
								   StringInfo stops);

/* Convert a text argument to NUL-terminated UTF-8 (palloc'd or in place). */
extern char *LlmTextToUtf8(text *t, int *len);

/* Convert generated UTF-8 bytes to a text datum in the server encoding. */
extern text *LlmTextFromUtf8(const char *data, int len);

#endif							/* LLM_PG_H */
