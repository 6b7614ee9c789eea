/*
 * sql_kv.c — the paged KV cache seen from SQL: llm_generate_n (n samples
 * sharing the prompt's pages), llm_kv_cache() and llm_requests().
 *
 * llm_generate_n sends one LLM_REQ_GENERATE_N request: the worker queues n
 * engine sequences with llm_seq_add_n (the first computes the prompt, the
 * others share its pages copy-on-write and sample with seed + i) and
 * streams their text interleaved, each record starting with its int32
 * sample index.  The function collects everything and returns the samples
 * in index order, so with a seed sample i is llm_generate(prompt, ...,
 * seed => seed + i).
 *
 * llm_kv_cache() and llm_requests() read what the worker copied out of the
 * engine after its last step (see shmem.c for the locks); they never wait
 * for the worker.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "llm_pg.h"

PG_FUNCTION_INFO_V1(llm_sql_generate_n);
PG_FUNCTION_INFO_V1(llm_sql_kv_cache);
PG_FUNCTION_INFO_V1(llm_sql_requests);

#define LLM_KV_CACHE_COLS 14
#define LLM_REQUESTS_COLS 9

/*
 * llm_generate_n(prompt, n, max_tokens, temperature, top_p, top_k, min_p,
 * seed): n samples, one row each, in sample order.
 */
Datum
llm_sql_generate_n(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	LlmGenParams gen;
	StringInfoData stops;
	StringInfoData rec;
	StringInfoData *texts;
	LlmRequestId id;
	char	   *prompt;
	int			len;
	int32		n;
	int			k;

	LlmCheckLoaded();
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must not be null")));
	n = PG_GETARG_INT32(1);
	if (n < 1 || n > llm_pg_shared->n_slots)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 1 and %d, not %d",
						llm_pg_shared->n_slots, n),
				 errhint("The engine holds at most llm.max_requests sequences at once.")));

	initStringInfo(&stops);
	LlmGenParamsFromArgsAt(fcinfo, 2, -1, &gen, &stops);
	gen.n_samples = n;
	gen.n_stop = 0;
	prompt = LlmTextToUtf8(PG_GETARG_TEXT_PP(0), &len);
	gen.prompt_len = len;

	texts = palloc(sizeof(StringInfoData) * n);
	for (k = 0; k < n; k++)
		initStringInfo(&texts[k]);
	initStringInfo(&rec);

	id = LlmRequestSubmit(LLM_REQ_GENERATE_N, &gen, true, prompt, len, NULL, 0);
	PG_TRY();
	{
		for (;;)
		{
			int32		sample;

			resetStringInfo(&rec);
			if (!LlmRequestNext(id, &rec))
				break;
			if (rec.len < (int) sizeof(int32))
				elog(ERROR, "llm_generate_n received a malformed record");
			memcpy(&sample, rec.data, sizeof(int32));
			if (sample < 0 || sample >= n)
				elog(ERROR, "llm_generate_n received sample %d of %d", sample, n);
			appendBinaryStringInfo(&texts[sample], rec.data + sizeof(int32),
								   rec.len - sizeof(int32));
		}
	}
	PG_FINALLY();
	{
		LlmRequestCancel(id);
	}
	PG_END_TRY();

	for (k = 0; k < n; k++)
	{
		Datum		value = PointerGetDatum(LlmTextFromUtf8(texts[k].data, texts[k].len));
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}

/* 100 * part / whole, or 0 when whole is 0. */
static double
Percent(double part, double whole)
{
	return whole > 0 ? 100.0 * part / whole : 0.0;
}

/* llm_kv_cache(): one row describing the KV page pool. */
Datum
llm_sql_kv_cache(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	Datum		values[LLM_KV_CACHE_COLS];
	bool		nulls[LLM_KV_CACHE_COLS];
	llm_engine_stats e;

	LlmCheckLoaded();
	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (rsinfo->setDesc->natts != LLM_KV_CACHE_COLS)
		elog(ERROR, "llm_kv_cache() must return %d columns", LLM_KV_CACHE_COLS);

	SpinLockAcquire(&llm_pg_shared->mutex);
	e = llm_pg_shared->stats.engine;
	SpinLockRelease(&llm_pg_shared->mutex);

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum(e.pages_total);
	values[1] = Int64GetDatum(e.pages_used);
	values[2] = Int64GetDatum(e.pages_cached);
	values[3] = Int64GetDatum(e.pages_free);
	values[4] = Int64GetDatum(e.page_bytes);
	values[5] = Int64GetDatum(e.pages_total * e.page_bytes);
	values[6] = Int64GetDatum(e.pages_used * e.page_bytes);
	values[7] = Float8GetDatum(Percent(e.pages_used, e.pages_total));
	/* allocated but unfilled token slots of the pages sequences hold */
	values[8] = Float8GetDatum(Percent(e.slots_allocated - e.slots_filled,
									   e.slots_allocated));
	values[9] = Int64GetDatum(e.prefix_queries);
	values[10] = Int64GetDatum(e.prefix_hits);
	values[11] = Float8GetDatum(e.prefix_queries > 0 ?
								(double) e.prefix_hits / e.prefix_queries : 0.0);
	nulls[11] = (e.prefix_queries == 0);
	values[12] = Int64GetDatum(e.evictions);
	values[13] = Int64GetDatum(e.preemptions);

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* llm_requests(): one row per generation waiting or running. */
Datum
llm_sql_requests(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	int			i;

	LlmCheckLoaded();
	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (rsinfo->setDesc->natts != LLM_REQUESTS_COLS)
		elog(ERROR, "llm_requests() must return %d columns", LLM_REQUESTS_COLS);

	for (i = 0; i < llm_pg_shared->n_slots; i++)
	{
		LlmSlot    *slot = &llm_pg_shared->slots[i];
		Datum		values[LLM_REQUESTS_COLS];
		bool		nulls[LLM_REQUESTS_COLS];
		LlmSlotState state;
		LlmRequestKind kind;
		int			pid;
		Oid			dbid;
		int32		samples;
		TimestampTz at;
		LlmSlotProgress p;

		SpinLockAcquire(&slot->mutex);
		state = slot->state;
		kind = slot->kind;
		pid = slot->backend_pid;
		dbid = slot->database_id;
		samples = slot->gen.n_samples;
		at = slot->submitted_at;
		p = slot->progress;
		SpinLockRelease(&slot->mutex);

		if ((state != LLM_SLOT_SUBMITTED && state != LLM_SLOT_RUNNING) ||
			(kind != LLM_REQ_GENERATE && kind != LLM_REQ_GENERATE_N))
			continue;
		if (state == LLM_SLOT_SUBMITTED)
			memset(&p, 0, sizeof(p));

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(pid);
		values[1] = ObjectIdGetDatum(dbid);
		values[2] = CStringGetTextDatum(p.running ? "running" : "waiting");
		values[3] = Int32GetDatum(kind == LLM_REQ_GENERATE_N ? Max(samples, 1) : 1);
		values[4] = Int32GetDatum(p.prompt_tokens);
		nulls[4] = (state == LLM_SLOT_SUBMITTED);	/* not tokenized yet */
		values[5] = Int32GetDatum(p.generated_tokens);
		values[6] = Int32GetDatum(p.pages);
		values[7] = Int32GetDatum(p.shared_pages);
		values[8] = TimestampTzGetDatum(at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
