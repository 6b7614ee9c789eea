/*
 * sql_info.c — llm_model_info and llm_stats.
 *
 * Both read what the worker published in shared memory; neither sends a
 * request, so they answer at once even while the engine is busy.
 * llm_model_info waits while the worker is still loading the model;
 * llm_stats never waits (it is what scripts poll for model_loaded).
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "llm_pg.h"

PG_FUNCTION_INFO_V1(llm_sql_model_info);
PG_FUNCTION_INFO_V1(llm_sql_stats);

#define LLM_STATS_COLS 15

/* llm_model_info(): the loaded model's facts as jsonb. */
Datum
llm_sql_model_info(PG_FUNCTION_ARGS)
{
	LlmModelSnapshot *snap = palloc(sizeof(LlmModelSnapshot));

	LlmModelSnapshotGet(snap);
	LlmModelRequireLoaded(snap);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(snap->info_json)));
}

/* llm_stats(): one row of counters (RETURNS TABLE, materialized). */
Datum
llm_sql_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	Datum		values[LLM_STATS_COLS];
	bool		nulls[LLM_STATS_COLS];
	LlmStats	st;
	int			worker_pid;
	bool		loaded;
	char		path[MAXPGPATH];

	LlmCheckLoaded();
	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (rsinfo->setDesc->natts != LLM_STATS_COLS)
		elog(ERROR, "llm_stats() must return %d columns", LLM_STATS_COLS);

	SpinLockAcquire(&llm_pg_shared->mutex);
	st = llm_pg_shared->stats;
	worker_pid = llm_pg_shared->worker_pid;
	SpinLockRelease(&llm_pg_shared->mutex);

	LWLockAcquire(llm_pg_shared->lock, LW_SHARED);
	loaded = llm_pg_shared->model.state == LLM_MODEL_LOADED;
	strlcpy(path, llm_pg_shared->model.path, MAXPGPATH);
	LWLockRelease(llm_pg_shared->lock);

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum(st.requests_served);
	values[1] = Int32GetDatum(st.requests_running);
	values[2] = Int32GetDatum(st.requests_waiting);
	values[3] = Int64GetDatum(st.prompt_tokens);
	values[4] = Int64GetDatum(st.generated_tokens);
	values[5] = Float8GetDatum(st.generation_seconds);
	values[6] = Float8GetDatum(st.generation_seconds > 0 ?
							   st.generated_tokens / st.generation_seconds : 0.0);
	values[7] = Int64GetDatum(st.engine_steps);
	values[8] = Int64GetDatum(st.batch_rows);
	values[9] = Float8GetDatum(st.ttft_count > 0 ?
							   st.ttft_ms_sum / st.ttft_count : 0.0);
	values[10] = Int64GetDatum(st.errors);
	values[11] = Int64GetDatum(st.cancellations);
	values[12] = Int32GetDatum(worker_pid);
	nulls[12] = (worker_pid == 0);
	values[13] = BoolGetDatum(loaded);
	values[14] = CStringGetTextDatum(path);
	nulls[14] = (path[0] == '\0');

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
