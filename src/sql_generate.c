/*
 * sql_generate.c — llm_generate and llm_generate_stream.
 *
 * Both validate their arguments here (22023 naming the parameter), send a
 * GENERATE request to the worker and read its output records: the scalar
 * function concatenates them, the SRF returns one row per record (one
 * decoded piece, as the worker produced it).  The SRF is value-per-call:
 * called in a SELECT list (SELECT llm_generate_stream(...) LIMIT 3) it
 * stops early, and an ExprContext callback cancels the request so the
 * worker frees the sequence.  In FROM, PostgreSQL materializes the whole
 * set first, so LIMIT there does not stop generation early.
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "llm_pg.h"

PG_FUNCTION_INFO_V1(llm_sql_generate);
PG_FUNCTION_INFO_V1(llm_sql_generate_stream);

/* Convert a text argument to NUL-terminated UTF-8 (palloc'd or in place). */
char *
LlmTextToUtf8(text *t, int *len)
{
	int			n = VARSIZE_ANY_EXHDR(t);
	char	   *s = text_to_cstring(t);
	char	   *u = pg_server_to_any(s, n, PG_UTF8);

	*len = (u == s) ? n : (int) strlen(u);
	return u;
}

/* Convert generated UTF-8 bytes to a text datum in the server encoding. */
text *
LlmTextFromUtf8(const char *data, int len)
{
	char	   *s = pg_any_to_server(data, len, PG_UTF8);

	return cstring_to_text_with_len(s, s == data ? len : (int) strlen(s));
}

/* A float8 argument, or its default when NULL. */
static double
ArgFloat(FunctionCallInfo fcinfo, int i, double dflt)
{
	if (PG_NARGS() <= i || PG_ARGISNULL(i))
		return dflt;
	return PG_GETARG_FLOAT8(i);
}

/* An int4 argument, or its default when NULL. */
static int32
ArgInt(FunctionCallInfo fcinfo, int i, int32 dflt)
{
	if (PG_NARGS() <= i || PG_ARGISNULL(i))
		return dflt;
	return PG_GETARG_INT32(i);
}

/* Serialize the stop strings (NUL-terminated UTF-8) into stops. */
static int
StopStrings(ArrayType *arr, StringInfo stops)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int			count = 0;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *s;
		int			len;

		if (nulls[i])
			continue;			/* a NULL stop string stops nothing */
		s = LlmTextToUtf8(DatumGetTextPP(elems[i]), &len);
		if (len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("stop strings must not be empty")));
		if (len > LLM_MAX_STOP_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("stop string is too long: %d bytes, the limit is %d",
							len, LLM_MAX_STOP_LEN)));
		if (++count > LLM_MAX_STOP)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("too many stop strings: the limit is %d", LLM_MAX_STOP)));
		appendBinaryStringInfo(stops, s, len);
		appendStringInfoChar(stops, '\0');
	}
	return count;
}

/* Fill gen and the stop strings from llm_generate/llm_chat arguments. */
void
LlmGenParamsFromArgs(FunctionCallInfo fcinfo, int penalty_arg,
					 LlmGenParams *gen, StringInfo stops)
{
	LlmGenParamsFromArgsAt(fcinfo, 1, penalty_arg, gen, stops);
}

/*
 * Fill gen and the stop strings from arguments starting at first:
 * max_tokens, temperature, top_p, top_k, min_p, seed, stop (the ones past
 * PG_NARGS() take their defaults).
 */
void
LlmGenParamsFromArgsAt(FunctionCallInfo fcinfo, int first, int penalty_arg,
					   LlmGenParams *gen, StringInfo stops)
{
	llm_sampling s = llm_sampling_default();
	llm_error	err = {0};

	memset(gen, 0, sizeof(*gen));
	gen->max_tokens = ArgInt(fcinfo, first, llm_guc_max_new_tokens);
	if (gen->max_tokens < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens must be at least 1, not %d", gen->max_tokens)));

	s.temperature = (float) ArgFloat(fcinfo, first + 1, 0.0);
	s.top_p = (float) ArgFloat(fcinfo, first + 2, 1.0);
	s.top_k = ArgInt(fcinfo, first + 3, 0);
	s.min_p = (float) ArgFloat(fcinfo, first + 4, 0.0);
	s.repeat_penalty = penalty_arg >= 0 ?
		(float) ArgFloat(fcinfo, penalty_arg, 1.0) : 1.0f;
	if (llm_sampling_validate(&s, &err) != LLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err.msg)));

	gen->temperature = s.temperature;
	gen->top_p = s.top_p;
	gen->top_k = s.top_k;
	gen->min_p = s.min_p;
	gen->repeat_penalty = s.repeat_penalty;
	if (PG_NARGS() > first + 5 && !PG_ARGISNULL(first + 5))
		gen->seed = (uint64) PG_GETARG_INT64(first + 5);
	else
		gen->seed = pg_prng_uint64(&pg_global_prng_state);

	gen->n_stop = 0;
	if (PG_NARGS() > first + 6 && !PG_ARGISNULL(first + 6))
		gen->n_stop = StopStrings(PG_GETARG_ARRAYTYPE_P(first + 6), stops);
	gen->n_samples = 1;
	gen->context_overflow = llm_guc_context_overflow;
	gen->stream = false;
}

/* Submit a generation for the prompt argument. */
static LlmRequestId
SubmitGenerate(FunctionCallInfo fcinfo, bool stream)
{
	LlmGenParams gen;
	StringInfoData stops;
	char	   *prompt;
	int			len;

	LlmCheckLoaded();
	initStringInfo(&stops);
	LlmGenParamsFromArgs(fcinfo, 8, &gen, &stops);
	prompt = LlmTextToUtf8(PG_GETARG_TEXT_PP(0), &len);
	gen.prompt_len = len;
	gen.stream = stream;
	return LlmRequestSubmit(LLM_REQ_GENERATE, &gen, true, prompt, len,
							stops.data, stops.len);
}

/* llm_generate(prompt, ...): the generated text. */
Datum
llm_sql_generate(PG_FUNCTION_ARGS)
{
	StringInfoData out;
	LlmRequestId id;

	LlmCheckLoaded();
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	id = SubmitGenerate(fcinfo, false);
	initStringInfo(&out);
	LlmRequestCollect(id, &out);
	PG_RETURN_TEXT_P(LlmTextFromUtf8(out.data, out.len));
}

typedef struct StreamState
{
	LlmRequestId id;
} StreamState;

/*
 * The scan ended (completed or stopped early, e.g. by LIMIT): cancel.  The
 * request id is passed by value: the SRF's memory may be gone by now.
 */
static void
StreamShutdown(Datum arg)
{
	LlmRequestCancel((LlmRequestId) DatumGetInt64(arg));
}

/* llm_generate_stream(prompt, ...): one row per decoded piece. */
Datum
llm_sql_generate_stream(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	StreamState *st;
	StringInfoData piece;

	if (SRF_IS_FIRSTCALL())
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		MemoryContext old;

		LlmCheckLoaded();
		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		st = palloc0(sizeof(StreamState));
		funcctx->user_fctx = st;
		if (!PG_ARGISNULL(0))
		{
			st->id = SubmitGenerate(fcinfo, true);
			if (rsinfo && IsA(rsinfo, ReturnSetInfo) && rsinfo->econtext)
				RegisterExprContextCallback(rsinfo->econtext, StreamShutdown,
											Int64GetDatum((int64) st->id));
		}
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	st = (StreamState *) funcctx->user_fctx;
	if (st->id == 0)
		SRF_RETURN_DONE(funcctx);

	initStringInfo(&piece);
	if (LlmRequestNext(st->id, &piece))
		SRF_RETURN_NEXT(funcctx,
						PointerGetDatum(LlmTextFromUtf8(piece.data, piece.len)));
	st->id = 0;
	SRF_RETURN_DONE(funcctx);
}
