/*
 * sql_tokenize.c — llm_tokenize and llm_detokenize.
 *
 * The vocabulary lives in the worker (it comes with the model), so both are
 * requests like a generation: the worker tokenizes the UTF-8 text into an
 * int32 array, or turns ids back into text (ids outside the vocabulary are
 * 22023; the text is always valid UTF-8, invalid byte sequences having
 * become U+FFFD).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "llm_pg.h"

PG_FUNCTION_INFO_V1(llm_sql_tokenize);
PG_FUNCTION_INFO_V1(llm_sql_detokenize);

/* llm_tokenize(input text, add_bos boolean): token ids. */
Datum
llm_sql_tokenize(PG_FUNCTION_ARGS)
{
	char	   *input;
	int			len;
	bool		add_bos = PG_GETARG_BOOL(1);
	StringInfoData out;
	int			n;
	int			i;
	Datum	   *elems;
	int32	   *ids;
	LlmRequestId id;

	LlmCheckLoaded();
	input = LlmTextToUtf8(PG_GETARG_TEXT_PP(0), &len);
	id = LlmRequestSubmit(LLM_REQ_TOKENIZE, NULL, add_bos, input, len, NULL, 0);
	initStringInfo(&out);
	LlmRequestCollect(id, &out);

	n = out.len / (int) sizeof(int32);
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT4OID));
	ids = (int32 *) out.data;
	elems = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		elems[i] = Int32GetDatum(ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, INT4OID, sizeof(int32),
										  true, TYPALIGN_INT));
}

/* llm_detokenize(tokens int[]): the text the ids stand for. */
Datum
llm_sql_detokenize(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int32	   *ids;
	StringInfoData out;
	LlmRequestId id;

	LlmCheckLoaded();
	deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	ids = palloc(sizeof(int32) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("token ids must not be null")));
		ids[i] = DatumGetInt32(elems[i]);
	}
	id = LlmRequestSubmit(LLM_REQ_DETOKENIZE, NULL, false, (const char *) ids,
						  sizeof(int32) * n, NULL, 0);
	initStringInfo(&out);
	LlmRequestCollect(id, &out);
	PG_RETURN_TEXT_P(LlmTextFromUtf8(out.data, out.len));
}
