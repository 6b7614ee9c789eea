/*
 * worker.c — the "llm worker" background worker: it owns the engine and
 * serves the request slots.
 *
 * Start: the worker connects to no particular database (so it shows in
 * pg_stat_activity as "llm worker" and pg_terminate_backend() restarts it),
 * registers itself in shared memory (pid, latch, a new generation), fails
 * RUNNING slots a predecessor left behind and frees CANCELLED ones, then
 * opens the engine from llm.model.  The engine's
 * thread pool is created with every signal blocked, so PostgreSQL's signal
 * handlers only ever run on this, the main, thread; engine threads never
 * call PostgreSQL.  With no or a bad model the worker stays up, publishes
 * the reason and answers each request with it (no crash loop); a reload
 * (SIGHUP) retries.  A reload that changes llm.model, llm.threads,
 * llm.max_batch_tokens, llm.blas_min_rows or llm.pack_weights fails
 * in-flight requests and reopens the engine.  OpenBLAS, when
 * llm.blas_min_rows asks for it, is loaded here by the engine (dlopen),
 * never in the postmaster.
 *
 * Main loop (never sleeps while the engine is busy):
 *   1. ResetLatch, CHECK_FOR_INTERRUPTS (SIGTERM: die), reload if asked;
 *   2. scan the slots: CANCELLED -> remove the sequences (freeing their KV
 *      pages) and free the slot; RUNNING -> flush pending output into the
 *      ring and mark the slot DONE once everything is out; SUBMITTED ->
 *      admit, oldest first (tokenize, detokenize and info are answered at
 *      once, a generation becomes one engine sequence, an llm_generate_n
 *      request n of them via llm_seq_add_n).  The engine holds at most
 *      llm.max_requests sequences: a generation that does not fit yet stays
 *      SUBMITTED, and later ones wait behind it (first come, first served);
 *   3. if the engine is busy: one llm_engine_step, then for each sequence
 *      take its new tokens, detokenize them (always complete UTF-8), check
 *      stop strings, queue the text (llm_generate_n: records tagged with
 *      the sample index); copy the engine's KV figures and each request's
 *      progress to shared memory (llm_kv_cache, llm_requests); otherwise
 *      WaitLatch(WL_EXIT_ON_PM_DEATH).
 *
 * llm.context_overflow travels with each request: error (54000 for a
 * prompt that does not fit), truncate (keep BOS and the prompt's last
 * tokens so prompt + max_tokens fit), sinks (the engine's attention sinks:
 * the prompt is cut to the context if needed, generation may run past it).
 *
 * Slow readers: the engine cannot pause one sequence, so text that does not
 * fit a slot's ring waits in the worker's own memory (bounded by the
 * context size times the longest token) and the worker never blocks on a
 * reader; the backend sets the worker's latch when it makes room.
 *
 * Stop strings are matched on the decoded text here: text that could be
 * the start of a stop string is held back until it is decided, and the
 * matched stop string is never sent.
 */
#include "postgres.h"

#include <pthread.h>
#include <signal.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "llm_pg.h"
#include "quant.h"
#include "chat.h"

#define LLM_WORKER_RESTART_SECONDS 1
#define LLM_WORKER_IDLE_MS 1000L

/* One engine sequence of a generation (llm_generate_n has several). */
typedef struct WorkerSeq
{
	llm_seq_id	id;
	bool		live;			/* still in the engine */
	llm_detok	detok;
} WorkerSeq;

/* The worker's view of one slot's request. */
typedef struct WorkerReq
{
	bool		active;
	uint64		ticket;
	LlmRequestKind kind;
	Latch	   *latch;			/* the backend's */
	MemoryContext cxt;
	WorkerSeq  *seqs;			/* (n_seq) in cxt */
	int			n_seq;
	int			n_live;			/* seqs still in the engine */
	bool		tagged;			/* records start with the sample index */
	bool		stream;			/* the backend wants every piece at once */
	StringInfoData pending;		/* records not yet in the ring */
	int			pending_off;
	StringInfoData held;		/* text that may start a stop string */
	char	  **stops;
	int			n_stop;
	bool		finished;		/* all output produced */
	int			n_prompt;
	int			n_gen;
	bool		got_first;
	TimestampTz submitted_at;
} WorkerReq;

static WorkerReq *reqs;
static llm_engine *engine = NULL;
static char *loaded_path = NULL;
static int	loaded_threads = 0;
static int	loaded_batch = 0;
static int	loaded_blas = 0;	/* llm.blas_min_rows the engine was opened with */
static bool loaded_pack = true; /* llm.pack_weights the engine was opened with */
static char *piece_buf = NULL;
static size_t piece_cap = 0;
static int32 *take_buf = NULL;

#define TAKE_MAX 256

/* Register the worker (only while preloading). */
void
LlmWorkerRegister(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;
	memset(&worker, 0, sizeof(worker));
	/*
	 * A connection to no particular database (like the logical replication
	 * launcher) puts the worker in pg_stat_activity, with its wait events,
	 * and lets pg_terminate_backend() restart it.  Consistent state is
	 * enough: hot standbys serve requests too.
	 */
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = LLM_WORKER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "llm");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "LlmWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "llm worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "llm worker");
	RegisterBackgroundWorker(&worker);
}

/* Publish the model state (and error) in the snapshot. */
static void
PublishModelState(LlmModelState state, const char *path, int sqlerrcode,
				  const char *error)
{
	LWLockAcquire(llm_pg_shared->lock, LW_EXCLUSIVE);
	llm_pg_shared->model.state = state;
	strlcpy(llm_pg_shared->model.path, path ? path : "", MAXPGPATH);
	llm_pg_shared->model.sqlerrcode = sqlerrcode;
	strlcpy(llm_pg_shared->model.error, error ? error : "", LLM_ERRMSG_LEN);
	if (state != LLM_MODEL_LOADED)
		llm_pg_shared->model.info_json[0] = '\0';
	LWLockRelease(llm_pg_shared->lock);
}

/* Set a slot's state from RUNNING, with an error for FAILED; wake owner. */
static void
FinishSlot(int i, LlmSlotState state, int code, const char *msg,
		   const char *hint)
{
	LlmSlot    *slot = &llm_pg_shared->slots[i];
	Latch	   *latch = NULL;

	SpinLockAcquire(&slot->mutex);
	if (slot->state == LLM_SLOT_RUNNING)
	{
		slot->state = state;
		if (state == LLM_SLOT_FAILED)
		{
			slot->sqlerrcode = code;
			strlcpy(slot->errmsg, msg ? msg : "", LLM_ERRMSG_LEN);
			strlcpy(slot->errhint, hint ? hint : "", LLM_ERRHINT_LEN);
		}
		latch = slot->backend_latch;
	}
	SpinLockRelease(&slot->mutex);
	if (latch)
		SetLatch(latch);
}

/* Forget the worker-side state of slot i (the sequence must be gone). */
static void
ReqReset(WorkerReq *q)
{
	int			k;

	for (k = 0; k < q->n_seq; k++)
		if (q->seqs[k].live && engine)
			llm_seq_remove(engine, q->seqs[k].id);
	if (q->cxt)
	{
		if (CurrentMemoryContext == q->cxt)
			MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextDelete(q->cxt);
	}
	memset(q, 0, sizeof(*q));
}

/*
 * Copy the engine's KV and scheduler figures to shared memory (llm_stats,
 * llm_kv_cache).  Called after every step and before a generation's slot
 * is finished, so that its owner sees its pages returned at once.
 */
static void
PublishEngineStats(void)
{
	llm_engine_stats est;

	if (engine == NULL)
		memset(&est, 0, sizeof(est));
	else
		llm_engine_get_stats(engine, &est);
	SpinLockAcquire(&llm_pg_shared->mutex);
	llm_pg_shared->stats.engine = est;
	llm_pg_shared->stats.requests_running = est.seqs_running;
	llm_pg_shared->stats.requests_waiting = est.seqs_waiting;
	SpinLockRelease(&llm_pg_shared->mutex);
}

/* Fail request i with an error; frees its sequences. */
static void
FailReq(int i, int code, const char *msg, const char *hint)
{
	WorkerReq  *q = &reqs[i];
	bool		had_seqs = q->n_seq > 0;

	ReqReset(q);
	if (had_seqs)
		PublishEngineStats();
	SpinLockAcquire(&llm_pg_shared->mutex);
	llm_pg_shared->stats.errors++;
	SpinLockRelease(&llm_pg_shared->mutex);
	FinishSlot(i, LLM_SLOT_FAILED, code, msg, hint);
}

/* Fail request i with an engine error. */
static void
FailReqStatus(int i, const llm_error *err)
{
	FailReq(i, LlmStatusSqlstate(err->code), err->msg, NULL);
}

/* Fail every active request (reload, engine failure). */
static void
FailAll(int code, const char *msg, const char *hint)
{
	int			i;

	for (i = 0; i < llm_pg_shared->n_slots; i++)
		if (reqs[i].active)
			FailReq(i, code, msg, hint);
}

/* Queue data of sample k as records that start with k (llm_generate_n). */
static void
QueueTagged(WorkerReq *q, int32 k, const char *data, size_t n)
{
	while (n > 0)
	{
		uint32		len = (uint32) Min(n, (size_t) LLM_RING_MAX_RECORD - sizeof(int32));
		uint32		rec = len + sizeof(int32);

		appendBinaryStringInfo(&q->pending, (const char *) &rec, sizeof(uint32));
		appendBinaryStringInfo(&q->pending, (const char *) &k, sizeof(int32));
		appendBinaryStringInfo(&q->pending, data, len);
		data += len;
		n -= len;
	}
}

/* Queue data as ring records (split to the ring's record limit). */
static void
QueueOutput(WorkerReq *q, const char *data, size_t n)
{
	while (n > 0)
	{
		uint32		len = (uint32) Min(n, (size_t) LLM_RING_MAX_RECORD);

		appendBinaryStringInfo(&q->pending, (const char *) &len, sizeof(uint32));
		appendBinaryStringInfo(&q->pending, data, len);
		data += len;
		n -= len;
	}
}

/* Move as many pending records as fit into slot i's ring. */
static void
FlushReq(int i)
{
	WorkerReq  *q = &reqs[i];
	bool		wrote = false;

	while (q->pending_off < q->pending.len)
	{
		uint32		len;

		memcpy(&len, q->pending.data + q->pending_off, sizeof(uint32));
		if (!LlmRingPut(i, q->pending.data + q->pending_off + sizeof(uint32), len))
			break;
		q->pending_off += sizeof(uint32) + len;
		wrote = true;
	}
	if (q->pending_off >= q->pending.len)
	{
		resetStringInfo(&q->pending);
		q->pending_off = 0;
	}
	/*
	 * Wake a streaming reader for every piece; the others only when the
	 * ring fills up (or, in FinishSlot, when the request ends): a wake-up
	 * per token costs the engine threads a context switch each.
	 */
	if (wrote && q->latch &&
		(q->stream || q->pending.len > 0 || LlmRingHalfFull(i)))
		SetLatch(q->latch);
}

/* If request i produced and sent everything, mark it DONE. */
static void
MaybeComplete(int i)
{
	WorkerReq  *q = &reqs[i];
	bool		had_seqs;

	if (!q->active || !q->finished)
		return;
	FlushReq(i);
	if (q->pending.len > 0)
		return;
	had_seqs = q->n_seq > 0;
	ReqReset(q);
	if (had_seqs)
		PublishEngineStats();
	SpinLockAcquire(&llm_pg_shared->mutex);
	llm_pg_shared->stats.requests_served++;
	SpinLockRelease(&llm_pg_shared->mutex);
	FinishSlot(i, LLM_SLOT_DONE, 0, NULL, NULL);
}

/*
 * Pass decoded text through the stop strings; returns true when a stop
 * string matched (the text before it has been queued).
 */
static bool
EmitText(WorkerReq *q, const char *text, size_t n)
{
	int			k;
	int			best = -1;
	int			hold = 0;
	int			s;

	if (q->n_stop == 0)
	{
		QueueOutput(q, text, n);
		return false;
	}
	appendBinaryStringInfo(&q->held, text, n);

	/* earliest complete match of any stop string */
	for (s = 0; s < q->n_stop; s++)
	{
		size_t		slen = strlen(q->stops[s]);
		char	   *hit;

		if (slen == 0 || slen > (size_t) q->held.len)
			continue;
		hit = memmem(q->held.data, q->held.len, q->stops[s], slen);
		if (hit && (best < 0 || hit - q->held.data < best))
			best = hit - q->held.data;
	}
	if (best >= 0)
	{
		QueueOutput(q, q->held.data, best);
		resetStringInfo(&q->held);
		return true;
	}

	/* hold back the longest suffix that is a proper prefix of a stop */
	for (s = 0; s < q->n_stop; s++)
	{
		int			slen = (int) strlen(q->stops[s]);

		for (k = Min(slen - 1, q->held.len); k > hold; k--)
		{
			if (memcmp(q->held.data + q->held.len - k, q->stops[s], k) == 0)
			{
				hold = k;
				break;
			}
		}
	}
	if (q->held.len - hold > 0)
	{
		QueueOutput(q, q->held.data, q->held.len - hold);
		memmove(q->held.data, q->held.data + q->held.len - hold, hold);
		q->held.len = hold;
		q->held.data[hold] = '\0';
	}
	return false;
}

/* Text decoded for sample k: tagged, or through the stop strings. */
static bool
EmitSeqText(WorkerReq *q, int k, const char *text, size_t n)
{
	if (q->tagged)
	{
		QueueTagged(q, k, text, n);
		return false;
	}
	return EmitText(q, text, n);
}

/*
 * Sample k ended: remove its sequence (freeing its pages) and release the
 * detokenizer's tail; after the last one, the held text too, and the
 * request has produced everything.  After a stop string matched (stopped)
 * nothing more is sent.
 */
static void
EndSeq(WorkerReq *q, int k, bool stopped)
{
	WorkerSeq  *ws = &q->seqs[k];
	size_t		n;

	if (!ws->live)
		return;
	llm_seq_remove(engine, ws->id);
	ws->live = false;
	q->n_live--;
	n = llm_detok_flush(&ws->detok, piece_buf, piece_cap);
	if (n > 0 && !stopped)
		(void) EmitSeqText(q, k, piece_buf, n);
	if (q->n_live > 0)
		return;
	if (q->held.len > 0 && !stopped)
		QueueOutput(q, q->held.data, q->held.len);
	resetStringInfo(&q->held);
	q->finished = true;
}

/* Tokenize request i; the result is an int32 array. */
static void
DoTokenize(int i, const char *input, Size len, bool add_bos)
{
	WorkerReq  *q = &reqs[i];
	const llm_vocab *v = llm_engine_vocab(engine);
	llm_error	err = {0};
	int			max = (int) Min(len + 16, (Size) INT_MAX / 8);
	int32	   *toks;
	int			n = 0;
	llm_status	rc;

	toks = palloc(sizeof(int32) * max);
	rc = llm_tokenize(v, input, len, add_bos, false, toks, max, &n, &err);
	if (rc == LLM_ERR_RANGE && n > max)
	{
		max = n;
		toks = repalloc(toks, sizeof(int32) * max);
		rc = llm_tokenize(v, input, len, add_bos, false, toks, max, &n, &err);
	}
	if (rc != LLM_OK)
	{
		FailReqStatus(i, &err);
		return;
	}
	QueueOutput(q, (const char *) toks, sizeof(int32) * n);
	q->finished = true;
}

/* Detokenize request i; ids outside the vocabulary are an error. */
static void
DoDetokenize(int i, const char *input, Size len)
{
	WorkerReq  *q = &reqs[i];
	const llm_vocab *v = llm_engine_vocab(engine);
	int			n = (int) (len / sizeof(int32));
	int32		n_vocab = llm_vocab_n_tokens(v);
	int32	   *toks = palloc(sizeof(int32) * Max(n, 1));
	size_t		cap = (size_t) n * 16 + 64;
	char	   *out;
	size_t		r;
	int			k;

	memcpy(toks, input, sizeof(int32) * n);
	for (k = 0; k < n; k++)
	{
		if (toks[k] < 0 || toks[k] >= n_vocab)
		{
			char		msg[LLM_ERRMSG_LEN];

			snprintf(msg, sizeof(msg),
					 "token id %d is out of range: the vocabulary has %d tokens (0 to %d)",
					 toks[k], n_vocab, n_vocab - 1);
			FailReq(i, ERRCODE_INVALID_PARAMETER_VALUE, msg, NULL);
			return;
		}
	}
	for (;;)
	{
		out = palloc(cap);
		r = llm_detokenize(v, toks, n, out, cap);
		if (r < cap)
			break;
		pfree(out);
		cap = r + 1;
	}
	if (!llm_utf8_valid(out, r))
	{
		FailReq(i, ERRCODE_INTERNAL_ERROR,
				"detokenized text is not valid utf-8", NULL);
		return;
	}
	QueueOutput(q, out, r);
	q->finished = true;
}

/*
 * llm.context_overflow = truncate: keep the first token (BOS) and the last
 * ones, so that the prompt and max_tokens fit the context (at least one
 * token after BOS stays; max_tokens is then cut by the caller).  Returns
 * the new length; toks is edited in place.
 */
static int
TruncatePrompt(int32 *toks, int n, int n_ctx, int max_tokens)
{
	const llm_model_info *info = llm_engine_info(engine);
	int			head = (n > 1 && toks[0] == info->bos) ? 1 : 0;
	int			keep = n_ctx - max_tokens;	/* whole prompt, head included */

	if (n + max_tokens <= n_ctx)
		return n;
	keep = Max(keep, Min(n, head + 1));
	keep = Min(keep, n_ctx - 1);
	memmove(toks + head, toks + n - (keep - head), sizeof(int32) * (keep - head));
	return keep;
}

/* Start generation request i: tokenize the prompt, add its sequence(s). */
static void
StartGenerate(int i, LlmRequestKind kind, const LlmGenParams *gen,
			  const char *input, Size len)
{
	WorkerReq  *q = &reqs[i];
	const llm_vocab *v = llm_engine_vocab(engine);
	int			n_ctx = llm_engine_n_ctx(engine);
	llm_error	err = {0};
	llm_seq_params sp;
	const char *p;
	const char *end = input + len;
	int			max;
	int32	   *toks;
	int			n = 0;
	bool		add_bos = true;
	int			s;
	int			n_seq;
	llm_seq_id *ids;
	llm_status	rc;
	char		msg[LLM_ERRMSG_LEN];

	if (gen->max_tokens < 1 ||
		(gen->max_tokens > n_ctx &&
		 gen->context_overflow != LLM_CONTEXT_OVERFLOW_SINKS))
	{
		snprintf(msg, sizeof(msg),
				 "max_tokens must be between 1 and the context size %d, not %d",
				 n_ctx, gen->max_tokens);
		FailReq(i, ERRCODE_INVALID_PARAMETER_VALUE, msg, NULL);
		return;
	}
	if (gen->prompt_len < 0 || (Size) gen->prompt_len > len)
	{
		FailReq(i, ERRCODE_INTERNAL_ERROR, "malformed llm request", NULL);
		return;
	}

	/* stop strings follow the prompt, each NUL-terminated */
	q->n_stop = 0;
	q->stops = palloc(sizeof(char *) * Max(gen->n_stop, 1));
	p = input + gen->prompt_len;
	for (s = 0; s < gen->n_stop && s < LLM_MAX_STOP; s++)
	{
		const char *nul = memchr(p, '\0', end - p);

		if (nul == NULL)
		{
			FailReq(i, ERRCODE_INTERNAL_ERROR, "malformed llm request", NULL);
			return;
		}
		if (nul > p)
			q->stops[q->n_stop++] = pstrdup(p);
		p = nul + 1;
	}
	initStringInfo(&q->held);

	if (gen->chat)
	{
		const llm_model_info *info = llm_engine_info(engine);
		size_t		blen = 0;
		const char *btext = info->bos >= 0 ?
			llm_vocab_text(v, info->bos, &blen) : NULL;

		add_bos = llm_vocab_add_bos(v);
		if (btext && blen > 0 && (Size) gen->prompt_len >= blen &&
			memcmp(input, btext, blen) == 0)
			add_bos = false;
	}

	max = gen->prompt_len + 16;
	toks = palloc(sizeof(int32) * max);
	rc = llm_tokenize(v, input, gen->prompt_len, add_bos, gen->parse_special,
					  toks, max, &n, &err);
	if (rc == LLM_ERR_RANGE && n > max)
	{
		max = n;
		toks = repalloc(toks, sizeof(int32) * max);
		rc = llm_tokenize(v, input, gen->prompt_len, add_bos,
						  gen->parse_special, toks, max, &n, &err);
	}
	if (rc != LLM_OK)
	{
		FailReqStatus(i, &err);
		return;
	}
	if (n < 1)
	{
		FailReq(i, ERRCODE_INVALID_PARAMETER_VALUE,
				"the prompt has no tokens", "Pass a non-empty prompt, or a model whose vocabulary has a BOS token.");
		return;
	}
	if (gen->context_overflow == LLM_CONTEXT_OVERFLOW_TRUNCATE)
		n = TruncatePrompt(toks, n, n_ctx, gen->max_tokens);
	else if (gen->context_overflow == LLM_CONTEXT_OVERFLOW_SINKS)
		n = TruncatePrompt(toks, n, n_ctx, 1);	/* the prompt must fit */
	else if (n >= n_ctx)
	{
		snprintf(msg, sizeof(msg),
				 "prompt is too long: %d tokens, the context holds %d",
				 n, n_ctx);
		FailReq(i, ERRCODE_PROGRAM_LIMIT_EXCEEDED, msg,
				"Shorten the prompt, raise llm.context_size, or SET llm.context_overflow = truncate to keep the prompt's end.");
		return;
	}

	memset(&sp, 0, sizeof(sp));
	sp.sampling = llm_sampling_default();
	sp.sampling.temperature = gen->temperature;
	sp.sampling.top_k = gen->top_k;
	sp.sampling.top_p = gen->top_p;
	sp.sampling.min_p = gen->min_p;
	sp.sampling.repeat_penalty = gen->repeat_penalty;
	sp.sampling.seed = gen->seed;
	sp.max_new_tokens = Min(gen->max_tokens, n_ctx - n);
	sp.stop_at_eog = true;
	if (gen->context_overflow == LLM_CONTEXT_OVERFLOW_SINKS)
	{
		sp.overflow = LLM_OVERFLOW_SINKS;
		sp.max_new_tokens = gen->max_tokens;
	}

	n_seq = kind == LLM_REQ_GENERATE_N ? gen->n_samples : 1;
	if (n_seq < 1 || n_seq > llm_pg_shared->n_slots)
	{
		FailReq(i, ERRCODE_INTERNAL_ERROR, "malformed llm request", NULL);
		return;
	}
	ids = palloc(sizeof(llm_seq_id) * n_seq);
	if (kind == LLM_REQ_GENERATE_N)
		rc = llm_seq_add_n(engine, toks, n, &sp, n_seq, ids, &err);
	else
		rc = llm_seq_add(engine, toks, n, &sp, &ids[0], &err);
	if (rc != LLM_OK)
	{
		FailReqStatus(i, &err);
		return;
	}
	q->seqs = palloc0(sizeof(WorkerSeq) * n_seq);
	q->n_seq = q->n_live = n_seq;
	q->tagged = (kind == LLM_REQ_GENERATE_N);
	q->stream = gen->stream;
	q->n_prompt = n;
	for (s = 0; s < n_seq; s++)
	{
		q->seqs[s].id = ids[s];
		q->seqs[s].live = true;
		llm_detok_init(&q->seqs[s].detok, v);
		/* only text that starts the sequence loses its leading space */
		if (n > (add_bos ? 1 : 0))
			q->seqs[s].detok.at_start = false;
	}

	SpinLockAcquire(&llm_pg_shared->mutex);
	llm_pg_shared->stats.prompt_tokens += n;
	SpinLockRelease(&llm_pg_shared->mutex);
	SpinLockAcquire(&llm_pg_shared->slots[i].mutex);
	llm_pg_shared->slots[i].progress.prompt_tokens = n;
	SpinLockRelease(&llm_pg_shared->slots[i].mutex);
}

/* A SUBMITTED slot: take it over and start serving it. */
static void
AdmitSlot(int i)
{
	LlmSlot    *slot = &llm_pg_shared->slots[i];
	WorkerReq  *q = &reqs[i];
	LlmGenParams gen;
	LlmRequestKind kind;
	bool		add_bos;
	Size		len;
	const char *input = LlmSlotInput(i);
	LlmModelSnapshot *m = &llm_pg_shared->model;
	MemoryContext old;

	SpinLockAcquire(&slot->mutex);
	if (slot->state != LLM_SLOT_SUBMITTED)
	{
		SpinLockRelease(&slot->mutex);
		return;
	}
	slot->state = LLM_SLOT_RUNNING;
	kind = slot->kind;
	gen = slot->gen;
	add_bos = slot->add_bos;
	len = Min(slot->input_len, llm_pg_shared->input_size);
	q->ticket = slot->ticket;
	q->latch = slot->backend_latch;
	q->submitted_at = slot->submitted_at;
	SpinLockRelease(&slot->mutex);

	q->active = true;
	q->kind = kind;
	q->cxt = AllocSetContextCreate(TopMemoryContext, "llm request",
								   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(q->cxt);
	initStringInfo(&q->pending);

	if (engine == NULL)
	{
		/* the worker is the only writer of the snapshot: no lock needed */
		if (m->state == LLM_MODEL_UNCONFIGURED)
			FailReq(i, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
					"no model is configured",
					"Set llm.model to the absolute path of a GGUF file in postgresql.conf and run SELECT pg_reload_conf().");
		else
			FailReq(i, m->sqlerrcode ? m->sqlerrcode : ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
					m->error[0] ? m->error : "no model is loaded",
					"Check llm.model and the server log, then run SELECT pg_reload_conf().");
		MemoryContextSwitchTo(old);
		return;
	}

	switch (kind)
	{
		case LLM_REQ_TOKENIZE:
			DoTokenize(i, input, len, add_bos);
			break;
		case LLM_REQ_DETOKENIZE:
			DoDetokenize(i, input, len);
			break;
		case LLM_REQ_GENERATE:
		case LLM_REQ_GENERATE_N:
			StartGenerate(i, kind, &gen, input, len);
			break;
		default:
			FailReq(i, ERRCODE_INTERNAL_ERROR, "unknown llm request kind", NULL);
			break;
	}
	MemoryContextSwitchTo(old);
	if (reqs[i].active)
		MaybeComplete(i);
}

/* Engine sequences a SUBMITTED request will need (0: answered at once). */
static int
SeqsNeeded(LlmRequestKind kind, const LlmGenParams *gen)
{
	if (kind == LLM_REQ_GENERATE)
		return 1;
	if (kind == LLM_REQ_GENERATE_N)
		return Max(gen->n_samples, 1);
	return 0;
}

/* Engine sequences held by active requests. */
static int
SeqsInUse(void)
{
	int			i;
	int			n = 0;

	for (i = 0; i < llm_pg_shared->n_slots; i++)
		if (reqs[i].active)
			n += reqs[i].n_live;
	return n;
}

/* A SUBMITTED slot seen by ScanSlots, for first-come first-served order. */
typedef struct Submitted
{
	int			slot;
	TimestampTz at;
	int			need;
} Submitted;

/* qsort comparator: older submissions first. */
static int
SubmittedCmp(const void *a, const void *b)
{
	const Submitted *x = a;
	const Submitted *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->slot - y->slot;
}

/*
 * Walk the slots: cancellations, output, then admissions in submission
 * order.  The engine holds at most llm.max_requests sequences and an
 * llm_generate_n request takes n of them: a request that does not fit yet
 * stays SUBMITTED (shown as waiting), and so do generations submitted after
 * it, so a large n is not starved by a stream of small requests.
 */
static void
ScanSlots(void)
{
	int			i;
	int			n_sub = 0;
	int			in_use;
	bool		blocked = false;
	Submitted  *sub = NULL;

	for (i = 0; i < llm_pg_shared->n_slots; i++)
	{
		LlmSlot    *slot = &llm_pg_shared->slots[i];
		LlmSlotState state;
		uint64		ticket;
		TimestampTz at;
		int			need;

		SpinLockAcquire(&slot->mutex);
		state = slot->state;
		ticket = slot->ticket;
		at = slot->submitted_at;
		need = SeqsNeeded(slot->kind, &slot->gen);
		SpinLockRelease(&slot->mutex);

		switch (state)
		{
			case LLM_SLOT_CANCELLED:
				{
					bool		had_seqs = reqs[i].n_seq > 0;

					ReqReset(&reqs[i]);
					if (had_seqs)
						PublishEngineStats();
				}
				SpinLockAcquire(&llm_pg_shared->mutex);
				llm_pg_shared->stats.cancellations++;
				SpinLockRelease(&llm_pg_shared->mutex);
				SpinLockAcquire(&slot->mutex);
				if (slot->state == LLM_SLOT_CANCELLED)
				{
					slot->state = LLM_SLOT_FREE;
					slot->backend_pid = 0;
					slot->backend_latch = NULL;
				}
				SpinLockRelease(&slot->mutex);
				ConditionVariableBroadcast(&llm_pg_shared->slot_freed);
				break;
			case LLM_SLOT_SUBMITTED:
				if (sub == NULL)
					sub = palloc(sizeof(Submitted) * llm_pg_shared->n_slots);
				sub[n_sub].slot = i;
				sub[n_sub].at = at;
				sub[n_sub].need = need;
				n_sub++;
				break;
			case LLM_SLOT_RUNNING:
				if (!reqs[i].active || reqs[i].ticket != ticket)
				{
					/* cannot happen: be safe rather than hang the owner */
					ReqReset(&reqs[i]);
					FinishSlot(i, LLM_SLOT_FAILED, ERRCODE_INTERNAL_ERROR,
							   "llm request was lost by the worker", NULL);
					break;
				}
				if (reqs[i].finished)
					MaybeComplete(i);
				else if (reqs[i].pending.len > 0)
					FlushReq(i);
				break;
			default:
				break;
		}
	}
	if (n_sub == 0)
		return;

	qsort(sub, n_sub, sizeof(Submitted), SubmittedCmp);
	in_use = SeqsInUse();
	for (i = 0; i < n_sub; i++)
	{
		if (sub[i].need > 0 && engine != NULL)
		{
			if (blocked || in_use + sub[i].need > llm_pg_shared->n_slots)
			{
				blocked = true;
				continue;
			}
		}
		AdmitSlot(sub[i].slot);
		in_use = SeqsInUse();
	}
	pfree(sub);
}

/*
 * Take sample k's new tokens, decode them and queue the text.  Returns
 * true when a stop string matched (the request is then over).
 */
static bool
TakeTokens(WorkerReq *q, int k, int64 *generated, double *ttft_sum,
		   int *ttft_n)
{
	const llm_vocab *v = llm_engine_vocab(engine);
	WorkerSeq  *ws = &q->seqs[k];
	bool		stopped = false;
	int			n;

	while (!stopped && (n = llm_seq_take(engine, ws->id, take_buf, TAKE_MAX)) > 0)
	{
		int			t;

		if (!q->got_first)
		{
			q->got_first = true;
			*ttft_sum += (double) (GetCurrentTimestamp() - q->submitted_at) / 1000.0;
			(*ttft_n)++;
		}
		for (t = 0; t < n && !stopped; t++)
		{
			size_t		len;

			q->n_gen++;
			(*generated)++;
			if (llm_vocab_is_eog(v, take_buf[t]))
				continue;
			len = llm_detok_push(v, &ws->detok, take_buf[t], piece_buf, piece_cap);
			if (len > 0)
				stopped = EmitSeqText(q, k, piece_buf, len);
		}
	}
	return stopped;
}

/*
 * Copy each generation's progress (tokens, pages) to its slot for the
 * llm_requests view.
 */
static void
PublishProgress(void)
{
	int			i;

	for (i = 0; i < llm_pg_shared->n_slots; i++)
	{
		WorkerReq  *q = &reqs[i];
		LlmSlot    *slot = &llm_pg_shared->slots[i];
		LlmSlotProgress p;
		int			k;

		if (!q->active || q->n_seq == 0)
			continue;
		memset(&p, 0, sizeof(p));
		p.prompt_tokens = q->n_prompt;
		p.generated_tokens = q->n_gen;
		p.running = q->finished;	/* output still being delivered */
		for (k = 0; k < q->n_seq; k++)
		{
			llm_seq_info info;

			if (!q->seqs[k].live ||
				!llm_seq_get_info(engine, q->seqs[k].id, &info))
				continue;
			if (info.state == LLM_SEQ_RUNNING)
				p.running = true;
			p.pages += info.pages;
			p.shared_pages += info.shared_pages;
		}
		SpinLockAcquire(&slot->mutex);
		if (slot->state == LLM_SLOT_RUNNING && slot->ticket == q->ticket)
			slot->progress = p;
		SpinLockRelease(&slot->mutex);
	}
}

/* One engine step, then hand every sequence's new tokens to its owner. */
static void
StepEngine(void)
{
	llm_error	err = {0};
	int			n_processed = 0;
	instr_time	start;
	instr_time	elapsed;
	llm_status	rc;
	int64		generated = 0;
	double		ttft_sum = 0;
	int			ttft_n = 0;
	int			i;

	INSTR_TIME_SET_CURRENT(start);
	rc = llm_engine_step(engine, &n_processed, &err);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);

	if (rc != LLM_OK)
	{
		ereport(LOG,
				(errmsg("llm engine step failed: %s", err.msg)));
		for (i = 0; i < llm_pg_shared->n_slots; i++)
			if (reqs[i].active && reqs[i].n_live > 0)
				FailReqStatus(i, &err);
	}

	for (i = 0; i < llm_pg_shared->n_slots; i++)
	{
		WorkerReq  *q = &reqs[i];
		MemoryContext old;
		bool		failed = false;
		int			k;

		if (!q->active || q->n_live == 0)
			continue;
		old = MemoryContextSwitchTo(q->cxt);
		for (k = 0; k < q->n_seq && !failed && !q->finished; k++)
		{
			bool		stopped;
			llm_seq_state st;

			if (!q->seqs[k].live)
				continue;
			stopped = TakeTokens(q, k, &generated, &ttft_sum, &ttft_n);
			st = llm_seq_status(engine, q->seqs[k].id);
			if (stopped)
			{
				for (k = 0; k < q->n_seq; k++)
					EndSeq(q, k, true);
			}
			else if (st == LLM_SEQ_DONE)
				EndSeq(q, k, false);
			else if (st == LLM_SEQ_FAILED)
			{
				const llm_error *se = llm_seq_error(engine, q->seqs[k].id);
				llm_error	copy = *se;

				MemoryContextSwitchTo(old);
				FailReqStatus(i, &copy);
				failed = true;
			}
		}
		/* counters first: the owner may read llm_stats once it is DONE */
		if (generated > 0 || ttft_n > 0)
		{
			SpinLockAcquire(&llm_pg_shared->mutex);
			llm_pg_shared->stats.generated_tokens += generated;
			llm_pg_shared->stats.ttft_ms_sum += ttft_sum;
			llm_pg_shared->stats.ttft_count += ttft_n;
			SpinLockRelease(&llm_pg_shared->mutex);
			generated = 0;
			ttft_sum = 0;
			ttft_n = 0;
		}
		if (failed)
			continue;
		MemoryContextSwitchTo(old);
		if (q->finished)
			MaybeComplete(i);
		else
			FlushReq(i);
	}

	SpinLockAcquire(&llm_pg_shared->mutex);
	llm_pg_shared->stats.generation_seconds += INSTR_TIME_GET_DOUBLE(elapsed);
	llm_pg_shared->stats.engine_steps++;
	llm_pg_shared->stats.batch_rows += n_processed;
	SpinLockRelease(&llm_pg_shared->mutex);
	PublishEngineStats();
	PublishProgress();
}

/* Append a JSON key with a string value (or null). */
static void
JsonStr(StringInfo b, const char *key, const char *val)
{
	appendStringInfo(b, "%s\"%s\": ", b->len > 1 ? ", " : "", key);
	if (val)
		escape_json(b, val);
	else
		appendStringInfoString(b, "null");
}

/* Append a JSON key with an integer value. */
static void
JsonInt(StringInfo b, const char *key, int64 val)
{
	appendStringInfo(b, "%s\"%s\": " INT64_FORMAT, b->len > 1 ? ", " : "",
					 key, val);
}

/* Build llm_model_info()'s JSON for the open engine. */
static void
BuildInfoJson(StringInfo b, const char *path, const char *family,
			  int threads)
{
	const llm_model_info *info = llm_engine_info(engine);
	int			t;
	bool		first = true;
	char		num[64];

	appendStringInfoChar(b, '{');
	JsonStr(b, "path", path);
	JsonStr(b, "name", info->name);
	JsonStr(b, "architecture", info->arch);
	JsonInt(b, "n_vocab", info->n_vocab);
	JsonInt(b, "n_ctx_train", info->n_ctx_train);
	JsonInt(b, "n_ctx", llm_engine_n_ctx(engine));
	JsonInt(b, "n_embd", info->n_embd);
	JsonInt(b, "n_layer", info->n_layer);
	JsonInt(b, "n_head", info->n_head);
	JsonInt(b, "n_head_kv", info->n_head_kv);
	JsonInt(b, "n_ff", info->n_ff);
	snprintf(num, sizeof(num), "%.9g", (double) info->rope_theta);
	appendStringInfo(b, ", \"rope_theta\": %s", num);
	JsonInt(b, "n_params", (int64) info->n_params);
	JsonInt(b, "size_bytes", (int64) info->n_bytes);
	JsonInt(b, "packed_bytes", (int64) info->packed_bytes);
	if (info->file_type == UINT32_MAX)
		appendStringInfoString(b, ", \"file_type\": null");
	else
		JsonInt(b, "file_type", info->file_type);
	appendStringInfoString(b, ", \"tensor_types\": {");
	for (t = 0; t < 32; t++)
	{
		const char *name;

		if (info->n_tensors_by_type[t] <= 0)
			continue;
		name = llm_dtype_name(t);
		if (name == NULL)
		{
			snprintf(num, sizeof(num), "type_%d", t);
			name = num;
		}
		if (!first)
			appendStringInfoString(b, ", ");
		escape_json(b, name);
		appendStringInfo(b, ": %d", info->n_tensors_by_type[t]);
		first = false;
	}
	appendStringInfoChar(b, '}');
	JsonInt(b, "bos", info->bos);
	JsonInt(b, "eos", info->eos);
	JsonStr(b, "chat_template_family", family && family[0] ? family : NULL);
	JsonInt(b, "threads", threads);
	JsonStr(b, "isa", quant_isa_name(quant_active_isa()));
	appendStringInfoChar(b, '}');
}

/* Copy a token's raw text into a fixed buffer ("" if none or too long). */
static void
TokenText(const llm_vocab *v, int32 tok, char *buf, size_t cap)
{
	size_t		len = 0;
	const char *p = tok >= 0 ? llm_vocab_text(v, tok, &len) : NULL;

	buf[0] = '\0';
	if (p && len < cap)
	{
		memcpy(buf, p, len);
		buf[len] = '\0';
	}
}

/* Open the engine with every signal blocked (engine threads inherit it). */
static llm_status
OpenEngine(const llm_engine_config *cfg, llm_engine **out, llm_error *err)
{
	sigset_t	all;
	sigset_t	old;
	llm_status	rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = llm_engine_open(cfg, out, err);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Open the engine from llm.model and publish the result. */
static void
LoadModel(void)
{
	llm_engine_config cfg;
	llm_error	err = {0};
	llm_status	rc;
	const char *path = llm_guc_model_path ? llm_guc_model_path : "";
	int			threads = LlmGucThreads();
	const llm_vocab *v;
	const llm_model_info *info;
	char		family[LLM_FAMILY_LEN] = "";
	StringInfoData json;

	if (loaded_path)
		pfree(loaded_path);
	loaded_path = MemoryContextStrdup(TopMemoryContext, path);
	loaded_threads = threads;
	loaded_batch = llm_guc_max_batch_tokens;
	loaded_blas = llm_guc_blas_min_rows;
	loaded_pack = llm_guc_pack_weights;

	if (path[0] == '\0')
	{
		ereport(LOG,
				(errmsg("llm worker: llm.model is not set; requests will fail until a model is configured")));
		PublishModelState(LLM_MODEL_UNCONFIGURED, path,
						  ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						  "no model is configured");
		return;
	}
	PublishModelState(LLM_MODEL_LOADING, path, 0, NULL);

	cfg = llm_engine_config_default();
	cfg.model_path = path;
	cfg.n_threads = threads;
	cfg.n_ctx = llm_guc_context_size;
	cfg.max_seqs = llm_pg_shared->n_slots;
	cfg.max_batch_tokens = llm_guc_max_batch_tokens;
	cfg.kv_mem = llm_pg_kv_area;
	cfg.kv_mem_size = llm_pg_kv_area_size;
	cfg.kv_block_size = llm_guc_kv_block_size;
	cfg.kv_type = llm_guc_kv_cache_type == LLM_KV_CACHE_F32 ? LLM_F32 : LLM_F16;
	cfg.blas_min_rows = llm_guc_blas_min_rows;
	cfg.pack_weights = llm_guc_pack_weights;

	rc = OpenEngine(&cfg, &engine, &err);
	if (rc == LLM_OK && llm_guc_context_size == 0 &&
		llm_engine_n_ctx(engine) > LLM_CONTEXT_CAP)
	{
		llm_engine_close(engine);
		engine = NULL;
		cfg.n_ctx = LLM_CONTEXT_CAP;
		rc = OpenEngine(&cfg, &engine, &err);
	}
	if (rc != LLM_OK)
	{
		char		msg[LLM_ERRMSG_LEN];

		engine = NULL;
		snprintf(msg, sizeof(msg), "could not load model \"%s\": %s",
				 path, err.msg);
		ereport(LOG, (errmsg("llm worker: %s", msg),
					  errhint("Check llm.model, then run SELECT pg_reload_conf().")));
		PublishModelState(LLM_MODEL_FAILED, path,
						  rc == LLM_ERR_IO ? ERRCODE_UNDEFINED_FILE :
						  ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg);
		return;
	}

	v = llm_engine_vocab(engine);
	info = llm_engine_info(engine);
	piece_cap = 64 + llm_vocab_max_piece(v) + 16;
	if (piece_buf)
		pfree(piece_buf);
	piece_buf = MemoryContextAlloc(TopMemoryContext, piece_cap);

	if (info->chat_template)
	{
		llm_chat_family f = llm_chat_detect(info->chat_template);
		const char *name = llm_chat_family_name(f);

		if (f != LLM_CHAT_UNKNOWN && name)
			strlcpy(family, name, sizeof(family));
	}

	initStringInfo(&json);
	BuildInfoJson(&json, path, family, threads);

	LWLockAcquire(llm_pg_shared->lock, LW_EXCLUSIVE);
	llm_pg_shared->model.state = LLM_MODEL_LOADED;
	strlcpy(llm_pg_shared->model.path, path, MAXPGPATH);
	llm_pg_shared->model.sqlerrcode = 0;
	llm_pg_shared->model.error[0] = '\0';
	llm_pg_shared->model.n_ctx = llm_engine_n_ctx(engine);
	llm_pg_shared->model.n_vocab = info->n_vocab;
	TokenText(v, info->bos, llm_pg_shared->model.bos_text, LLM_TOKEN_TEXT_LEN);
	TokenText(v, info->eos, llm_pg_shared->model.eos_text, LLM_TOKEN_TEXT_LEN);
	strlcpy(llm_pg_shared->model.chat_family, family, LLM_FAMILY_LEN);
	if (json.len < LLM_INFO_JSON_LEN)
		memcpy(llm_pg_shared->model.info_json, json.data, json.len + 1);
	else
		strlcpy(llm_pg_shared->model.info_json, "{}", LLM_INFO_JSON_LEN);
	LWLockRelease(llm_pg_shared->lock);
	pfree(json.data);

	ereport(LOG,
			(errmsg("llm worker loaded model \"%s\": %s (%s), %d layers, n_embd %d, n_vocab %d, context %d tokens, %.1f MB of weights (%.1f MB packed), %d threads, %s kernels",
					path, info->name, info->arch, info->n_layer, info->n_embd,
					info->n_vocab, llm_engine_n_ctx(engine),
					(double) info->n_bytes / (1024.0 * 1024.0),
					(double) info->packed_bytes / (1024.0 * 1024.0), threads,
					quant_isa_name(quant_active_isa()))));
	if (info->pack_skipped_bytes > 0)
		ereport(LOG,
				(errmsg("llm worker did not pack the model's weights: the copies would take %.1f MB, more than half the memory available",
						(double) info->pack_skipped_bytes / (1024.0 * 1024.0)),
				 errhint("Decode runs on the file's rows, somewhat slower; free memory and reload, or set llm.pack_weights = off to skip packing.")));
}

/* Close the engine (after failing what it was running). */
static void
UnloadModel(const char *why)
{
	FailAll(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, why,
			"Retry the query.");
	if (engine)
		llm_engine_close(engine);
	engine = NULL;
}

/* SIGHUP: re-read the configuration; reopen the engine if it changed. */
static void
ReloadConfig(void)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);

	if (engine == NULL ||
		strcmp(llm_guc_model_path ? llm_guc_model_path : "", loaded_path ? loaded_path : "") != 0 ||
		LlmGucThreads() != loaded_threads ||
		llm_guc_max_batch_tokens != loaded_batch ||
		llm_guc_blas_min_rows != loaded_blas ||
		llm_guc_pack_weights != loaded_pack)
	{
		if (engine)
			ereport(LOG,
					(errmsg("llm worker: configuration changed, reopening the model")));
		UnloadModel("the llm model was reloaded while the request was running");
		LoadModel();
	}
}

/* Worker exit: fail what was running, and tell backends we are gone. */
static void
WorkerExit(int code, Datum arg)
{
	int			i;

	SpinLockAcquire(&llm_pg_shared->mutex);
	llm_pg_shared->worker_pid = 0;
	llm_pg_shared->worker_latch = NULL;
	llm_pg_shared->stats.requests_running = 0;
	llm_pg_shared->stats.requests_waiting = 0;
	SpinLockRelease(&llm_pg_shared->mutex);

	for (i = 0; i < llm_pg_shared->n_slots; i++)
		FinishSlot(i, LLM_SLOT_FAILED, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				   "llm worker exited while running the request",
				   "The worker restarts automatically; retry the query.");

	LWLockReleaseAll();
	PublishModelState(LLM_MODEL_NONE, NULL, 0, NULL);
	if (engine)
		llm_engine_close(engine);
	engine = NULL;
}

/* Start-up: claim the worker role, clean up after a predecessor. */
static void
WorkerAttach(void)
{
	int			i;

	SpinLockAcquire(&llm_pg_shared->mutex);
	llm_pg_shared->worker_pid = MyProcPid;
	llm_pg_shared->worker_latch = MyLatch;
	llm_pg_shared->worker_generation++;
	SpinLockRelease(&llm_pg_shared->mutex);

	for (i = 0; i < llm_pg_shared->n_slots; i++)
	{
		LlmSlot    *slot = &llm_pg_shared->slots[i];
		bool		freed = false;

		FinishSlot(i, LLM_SLOT_FAILED, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				   "llm worker restarted while running the request",
				   "Retry the query.");
		SpinLockAcquire(&slot->mutex);
		if (slot->state == LLM_SLOT_CANCELLED)
		{
			slot->state = LLM_SLOT_FREE;
			slot->backend_pid = 0;
			slot->backend_latch = NULL;
			freed = true;
		}
		SpinLockRelease(&slot->mutex);
		if (freed)
			ConditionVariableBroadcast(&llm_pg_shared->slot_freed);
	}
}

/* Entry point of the "llm worker". */
void
LlmWorkerMain(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	if (llm_pg_shared == NULL)
		ereport(ERROR,
				(errmsg("llm worker started without llm shared memory")));

	reqs = MemoryContextAllocZero(TopMemoryContext,
								  sizeof(WorkerReq) * llm_pg_shared->n_slots);
	take_buf = MemoryContextAlloc(TopMemoryContext, sizeof(int32) * TAKE_MAX);

	WorkerAttach();
	before_shmem_exit(WorkerExit, (Datum) 0);
	LoadModel();

	for (;;)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			ReloadConfig();

		ScanSlots();

		if (engine && llm_engine_busy(engine))
		{
			StepEngine();
			continue;
		}
		PublishEngineStats();
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LLM_WORKER_IDLE_MS, PG_WAIT_EXTENSION);
	}
}
